/* qcow2 driver on in-memory files: allocation, holes, zero clusters,
 * discard, backing files, snapshots, refcount growth, compression and the
 * probed-raw guard. Hostile images are in test_qcow2_hostile.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "block/qcow2.h"
#include "testlib.h"

#define MB (1024ULL * 1024)

/* Named in-memory files standing in for a directory (backing files). */
struct memdir {
	const char *name[8];
	struct block_file *f[8];
	int n;
};

static struct block_file *memdir_open(void *opaque, const char *path, bool readonly,
				      struct err *err)
{
	struct memdir *d = opaque;

	for (int i = 0; i < d->n; i++) {
		if (strcmp(d->name[i], path))
			continue;
		uint64_t len;
		const uint8_t *data = block_file_mem_data(d->f[i], &len);
		struct block_file *f = block_file_mem_create(path, data, len, readonly);

		if (f) /* same identity as the original: loop detection works */
			memcpy(f->id, d->f[i]->id, sizeof(f->id));
		return f;
	}
	err_errno(err, ENOENT, "'%s'", path);
	return NULL;
}

static struct block_file *mk(struct memdir *d, const char *name, uint64_t size, uint32_t cs,
			     const char *backing, int rbits)
{
	struct block_create_opts co = {0};
	struct err err = {{0}};
	struct block_file *f = block_file_mem_create(name, NULL, 0, false);

	co.format = "qcow2";
	co.size = size;
	co.cluster_size = cs;
	co.backing = backing;
	co.backing_fmt = backing ? "qcow2" : NULL;
	co.refcount_bits = rbits;
	if (block_create_file(f, &co, &err) < 0) {
		fprintf(stderr, "# create: %s\n", err.msg);
		block_file_close(f);
		return NULL;
	}
	if (d) {
		d->name[d->n] = name;
		d->f[d->n++] = f;
	}
	return f;
}

/* Open a copy of the named file writable (the memdir keeps the original). */
static struct block_dev *open_copy(struct block_file *f, struct memdir *d, bool ro, struct err *err)
{
	uint64_t len;
	const uint8_t *data = block_file_mem_data(f, &len);
	struct block_file *c = block_file_mem_create(f->name, data, len, ro);
	struct block_open_opts o = {0};

	memcpy(c->id, f->id, sizeof(c->id));
	o.readonly = ro;
	o.open_file = memdir_open;
	o.open_file_opaque = d;
	return block_open_file(c, &o, err);
}

/* Save b's file bytes back into f (so a later open sees the writes). */
static void save(struct block_dev *b, struct block_file *f)
{
	uint64_t len;
	struct err err = {{0}};

	block_flush(b, &err);
	const uint8_t *data = block_file_mem_data(block_get_file(b), &len);

	f->ops->truncate(f, 0);
	block_file_pwrite(f, 0, data, len);
}

static bool check_clean(struct block_dev *b)
{
	struct qcow2_check_result r;
	struct err err = {{0}};

	if (qcow2_check(b, 0, &r, &err) < 0) {
		printf("# check: %s\n", err.msg);
		return false;
	}
	if (r.corruptions || r.leaks)
		printf("# check: %llu corruptions, %llu leaks\n", (unsigned long long)r.corruptions,
		       (unsigned long long)r.leaks);
	return !r.corruptions && !r.leaks;
}

static void fill(uint8_t *p, uint64_t n, unsigned seed)
{
	for (uint64_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static void test_alloc_rw(uint32_t cs)
{
	char name[64];
	struct err err = {{0}};
	struct block_file *f = mk(NULL, "a", 16 * MB, cs, NULL, 0);
	struct block_dev *b = block_open_file(f, NULL, &err);
	uint8_t *model = calloc(1, 16 * MB), *buf = malloc(4 * MB);
	static const uint64_t offs[] = {0,	     1000,	   65536 - 10,
					3 * MB + 17, 8 * MB - 512, 16 * MB - 70000};

	snprintf(name, sizeof(name), "qcow2_alloc_read_write_cs%u", cs);
	TEST_BEGIN(name);
	CHECK(b != NULL);
	if (!b)
		goto out;
	CHECK_EQ(block_length(b), 16 * MB);
	CHECK_EQ(block_pread(b, 5 * MB, buf, MB, &err), 0);
	CHECK(buf_is_zero(buf, MB));
	for (unsigned k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
		uint64_t n = 70000 + k * 4096;

		if (n > 16 * MB - offs[k])
			n = 16 * MB - offs[k];

		fill(buf, n, k);
		memcpy(model + offs[k], buf, n);
		CHECK_EQ(block_pwrite(b, offs[k], buf, n, &err), 0);
	}
	/* A vectored write across clusters. */
	struct iovec v[3] = {{buf, 100}, {buf + 1000, 5000}, {buf + 9000, 60436}};

	fill(buf, 70000, 99);
	CHECK_EQ(block_write(b, 10 * MB - 3000, v, 3, &err), 0);
	memcpy(model + 10 * MB - 3000, buf, 100);
	memcpy(model + 10 * MB - 3000 + 100, buf + 1000, 5000);
	memcpy(model + 10 * MB - 3000 + 5100, buf + 9000, 60436);
	CHECK_EQ(block_flush(b, &err), 0);
	CHECK(check_clean(b));
	for (uint64_t off = 0; off < 16 * MB; off += 4 * MB) {
		CHECK_EQ(block_pread(b, off, buf, 4 * MB, &err), 0);
		CHECK(!memcmp(buf, model + off, 4 * MB));
	}
	CHECK(block_pread(b, 16 * MB - 10, buf, 20, &err) < 0); /* beyond the end */
	/* Reopen from the bytes and read again. */
	struct block_file *f2 = block_file_mem_create("a", NULL, 0, false);

	save(b, f2);
	block_close(b);
	b = block_open_file(f2, NULL, &err);
	CHECK(b != NULL);
	for (uint64_t off = 0; b && off < 16 * MB; off += 4 * MB) {
		CHECK_EQ(block_pread(b, off, buf, 4 * MB, &err), 0);
		CHECK(!memcmp(buf, model + off, 4 * MB));
	}
	if (b)
		CHECK(check_clean(b));
out:
	TEST_END();
	block_close(b);
	free(model);
	free(buf);
}

static void test_zero_discard(void)
{
	struct err err = {{0}};
	struct memdir d = {0};
	struct block_file *base = mk(&d, "zbase", 4 * MB, 65536, NULL, 0);
	struct block_dev *bb = open_copy(base, &d, false, &err);
	uint8_t *buf = malloc(MB);

	TEST_BEGIN("qcow2_zero_clusters_and_discard");
	memset(buf, 0xab, MB);
	CHECK_EQ(block_pwrite(bb, 0, buf, MB, &err), 0);
	save(bb, base);
	block_close(bb);
	mk(&d, "zt", 4 * MB, 65536, "zbase", 0);
	struct block_dev *b = open_copy(d.f[1], &d, false, &err);

	CHECK(b != NULL);
	if (!b)
		goto out;
	/* The overlay shows the base until it zeroes/discards. */
	CHECK_EQ(block_pread(b, 0, buf, MB, &err), 0);
	CHECK(buf[0] == 0xab && buf[MB - 1] == 0xab);
	CHECK_EQ(block_write_zeroes(b, 65536, 3 * 65536 + 100, 0, &err), 0);
	CHECK_EQ(block_discard(b, 5 * 65536, 2 * 65536, &err), 0);
	CHECK_EQ(block_pread(b, 0, buf, MB, &err), 0);
	CHECK(buf[65535] == 0xab && buf[65536] == 0 && buf[4 * 65536 + 99] == 0);
	CHECK(buf[4 * 65536 + 100] == 0xab);
	CHECK(buf_is_zero(buf + 5 * 65536, 2 * 65536)); /* discard over a backing: zeros */
	uint64_t pnum;
	struct block_status st;

	CHECK_EQ(block_get_status(b, 65536, 65536, &pnum, &st, &err), 0);
	CHECK(st.zero && !st.data && st.depth == 0);
	CHECK_EQ(block_get_status(b, 2 * MB, 65536, &pnum, &st, &err), 0);
	CHECK(!st.present && st.depth == 1);
	/* Overwrite zeroed clusters, then discard allocated ones: no leaks. */
	memset(buf, 0x5c, 200000);
	CHECK_EQ(block_pwrite(b, 65536 + 5, buf, 200000, &err), 0);
	CHECK_EQ(block_discard(b, 0, 4 * MB, &err), 0);
	CHECK_EQ(block_flush(b, &err), 0);
	CHECK(check_clean(b));
	CHECK_EQ(block_pread(b, 0, buf, MB, &err), 0);
	CHECK(buf_is_zero(buf, MB));
out:
	TEST_END();
	block_close(b);
	block_file_close(d.f[0]);
	block_file_close(d.f[1]);
	free(buf);
}

static void test_backing_chain(void)
{
	struct err err = {{0}};
	struct memdir d = {0};
	uint8_t *buf = malloc(MB), *exp = malloc(MB);
	struct block_file *b0 = mk(&d, "c0", 2 * MB, 4096, NULL, 0);
	struct block_dev *b = open_copy(b0, &d, false, &err);

	TEST_BEGIN("qcow2_backing_chain_reads_and_cow");
	fill(exp, MB, 1);
	CHECK_EQ(block_pwrite(b, 0, exp, MB, &err), 0);
	save(b, b0);
	block_close(b);
	mk(&d, "c1", 2 * MB, 65536, "c0", 0);
	b = open_copy(d.f[1], &d, false, &err);
	CHECK(b != NULL);
	if (!b)
		goto out;
	memset(exp + 70000, 0x77, 10);
	CHECK_EQ(block_pwrite(b, 70000, exp + 70000, 10, &err), 0);
	save(b, d.f[1]);
	block_close(b);
	mk(&d, "c2", 3 * MB, 512, "c1", 0);
	b = open_copy(d.f[2], &d, false, &err);
	CHECK(b != NULL);
	if (!b)
		goto out;
	CHECK_EQ(block_length(b), 3 * MB);
	memset(exp + 300, 0x99, 1);
	CHECK_EQ(block_pwrite(b, 300, exp + 300, 1, &err), 0);
	CHECK_EQ(block_pread(b, 0, buf, MB, &err), 0);
	CHECK(!memcmp(buf, exp, MB));
	CHECK_EQ(block_pread(b, 2 * MB, buf, MB, &err), 0); /* past the backing's end */
	CHECK(buf_is_zero(buf, MB));
	CHECK(check_clean(b));
out:
	TEST_END();
	block_close(b);
	for (int i = 0; i < d.n; i++)
		block_file_close(d.f[i]);
	free(buf);
	free(exp);
}

static void test_backing_loops(void)
{
	struct err err = {{0}};
	struct memdir d = {0};

	TEST_BEGIN("qcow2_backing_loop_refused");
	mk(&d, "self", MB, 65536, "self", 0);
	struct block_dev *b = open_copy(d.f[0], &d, true, &err);

	CHECK(b == NULL);
	CHECK(strstr(err.msg, "loops") != NULL);
	mk(&d, "x", MB, 65536, "y", 0);
	mk(&d, "y", MB, 65536, "x", 0);
	err_clear(&err);
	b = open_copy(d.f[1], &d, true, &err);
	CHECK(b == NULL);
	CHECK(strstr(err.msg, "loops") != NULL);
	err_clear(&err);
	mk(&d, "m", MB, 65536, "missing", 0);
	b = open_copy(d.f[3], &d, true, &err);
	CHECK(b == NULL && strstr(err.msg, "missing") != NULL);
	TEST_END();
	for (int i = 0; i < d.n; i++)
		block_file_close(d.f[i]);
}

static void test_snapshots(void)
{
	struct err err = {{0}};
	struct block_file *f = mk(NULL, "s", 4 * MB, 65536, NULL, 0);
	struct block_dev *b = block_open_file(f, NULL, &err);
	uint8_t *a = malloc(MB), *c = malloc(MB), *buf = malloc(MB);
	struct qcow2_snapshot_info *list = NULL;

	TEST_BEGIN("qcow2_snapshots_create_apply_delete");
	fill(a, MB, 3);
	fill(c, MB, 4);
	CHECK_EQ(block_pwrite(b, 0, a, MB, &err), 0);
	CHECK_EQ(qcow2_snapshot_create(b, "one", &err), 0);
	CHECK(qcow2_snapshot_create(b, "one", &err) < 0); /* duplicate name */
	CHECK_EQ(block_pwrite(b, 4096, c, MB - 8192, &err), 0);
	CHECK(check_clean(b));
	CHECK_EQ(qcow2_snapshot_create(b, "two", &err), 0);
	CHECK_EQ(qcow2_snapshot_list(b, &list, &err), 2);
	CHECK(list && !strcmp(list[1].name, "two") && !strcmp(list[0].id, "1"));
	free(list);
	CHECK_EQ(qcow2_snapshot_apply(b, "one", &err), 0);
	CHECK_EQ(block_pread(b, 0, buf, MB, &err), 0);
	CHECK(!memcmp(buf, a, MB));
	CHECK(check_clean(b));
	CHECK_EQ(qcow2_snapshot_delete(b, "one", &err), 0);
	CHECK(qcow2_snapshot_apply(b, "one", &err) < 0);
	CHECK_EQ(qcow2_snapshot_apply(b, "2", &err), 0); /* by id */
	CHECK_EQ(block_pread(b, 4096, buf, MB - 8192, &err), 0);
	CHECK(!memcmp(buf, c, MB - 8192));
	CHECK_EQ(qcow2_snapshot_delete(b, "two", &err), 0);
	CHECK(check_clean(b));
	TEST_END();
	block_close(b);
	free(a);
	free(c);
	free(buf);
}

static void test_refcount_growth(uint32_t cs, int rbits, uint64_t bytes, const char *name)
{
	struct err err = {{0}};
	struct block_file *f = mk(NULL, "g", bytes, cs, NULL, rbits);
	struct block_dev *b = block_open_file(f, NULL, &err);
	uint8_t *buf = malloc(bytes), hdr[64];

	TEST_BEGIN(name);
	fill(buf, bytes, 5);
	/* Backwards in small pieces: many allocations, many refcount blocks. */
	for (uint64_t off = bytes; off > 0;) {
		uint64_t n = off < 3 * cs ? off : 3 * cs;

		off -= n;
		CHECK_EQ(block_pwrite(b, off, buf + off, n, &err), 0);
	}
	CHECK_EQ(block_flush(b, &err), 0);
	CHECK(check_clean(b));
	block_file_pread(block_get_file(b), 0, hdr, sizeof(hdr));
	CHECK(((uint32_t)hdr[56] << 24 | hdr[57] << 16 | hdr[58] << 8 | hdr[59]) > 1 || cs > 512);
	uint8_t *rd = malloc(bytes);

	CHECK_EQ(block_pread(b, 0, rd, bytes, &err), 0);
	CHECK(!memcmp(rd, buf, bytes));
	TEST_END();
	block_close(b);
	free(buf);
	free(rd);
}

static void test_compressed(const char *ct)
{
	struct block_create_opts co = {0};
	struct err err = {{0}};
	struct block_file *f = block_file_mem_create("c", NULL, 0, false);
	char name[64];
	uint8_t *buf = malloc(3 * 65536), *rd = malloc(3 * 65536);

	snprintf(name, sizeof(name), "qcow2_compressed_write_read_%s", ct);
	TEST_BEGIN(name);
	co.format = "qcow2";
	co.size = MB + 1000;
	co.compression = ct;
	CHECK_EQ(block_create_file(f, &co, &err), 0);
	struct block_dev *b = block_open_file(f, NULL, &err);

	memset(buf, 'q', 65536);
	fill(buf + 65536, 65536, 7);
	for (int i = 0; i < 65536; i++)
		buf[2 * 65536 + i] = (uint8_t)(i / 100);
	CHECK_EQ(block_write_compressed(b, 0, buf, 65536, &err), 0);
	CHECK_EQ(block_write_compressed(b, 65536, buf + 65536, 65536, &err), 0);
	CHECK_EQ(block_write_compressed(b, 2 * 65536, buf + 2 * 65536, 65536, &err), 0);
	CHECK_EQ(block_write_compressed(b, 16 * 65536, buf, 1000, &err), 0); /* the tail */
	CHECK(block_write_compressed(b, 100, buf, 65536, &err) < 0);
	CHECK_EQ(block_pread(b, 0, rd, 3 * 65536, &err), 0);
	CHECK(!memcmp(rd, buf, 3 * 65536));
	CHECK_EQ(block_pread(b, 16 * 65536, rd, 1000, &err), 0);
	CHECK(!memcmp(rd, buf, 1000));
	uint64_t pnum;
	struct block_status st;

	CHECK_EQ(block_get_status(b, 0, 65536, &pnum, &st, &err), 0);
	CHECK(st.compressed);
	/* Partly overwrite a compressed cluster: copy-on-write decompresses. */
	CHECK_EQ(block_pwrite(b, 100, "xyz", 3, &err), 0);
	memcpy(buf + 100, "xyz", 3);
	CHECK_EQ(block_pread(b, 0, rd, 3 * 65536, &err), 0);
	CHECK(!memcmp(rd, buf, 3 * 65536));
	CHECK_EQ(block_flush(b, &err), 0);
	CHECK(check_clean(b));
	TEST_END();
	block_close(b);
	free(buf);
	free(rd);
}

static void test_refcount_overflow(void)
{
	struct err err = {{0}};
	struct block_file *f = mk(NULL, "o", MB, 65536, NULL, 1);
	struct block_dev *b = block_open_file(f, NULL, &err);

	TEST_BEGIN("qcow2_refcount_overflow_is_an_error");
	CHECK_EQ(block_pwrite(b, 0, "data", 4, &err), 0);
	CHECK(qcow2_snapshot_create(b, "s", &err) < 0); /* 1-bit refcounts cannot share */
	CHECK(strstr(err.msg, "overflow") != NULL);
	TEST_END();
	block_close(b);
}

static void test_probed_raw_guard(void)
{
	struct err err = {{0}};
	struct block_open_opts o = {0};
	struct block_file *f = block_file_mem_create("raw", NULL, MB, false);
	struct block_dev *b = block_open_file(f, &o, &err);

	TEST_BEGIN("block_probed_raw_refuses_format_magic");
	CHECK(b && !strcmp(block_format(b), "raw"));
	CHECK(block_pwrite(b, 0, "QFI\xfb", 4, &err) == -EPERM);
	CHECK(block_pwrite(b, 2, "I\xfb", 2, &err) == 0);   /* alone it is no magic */
	CHECK(block_pwrite(b, 0, "QF", 2, &err) == -EPERM); /* completes one */
	CHECK(block_pwrite(b, 512, "QFI\xfb", 4, &err) == 0);
	block_close(b);
	o.format = "raw";
	f = block_file_mem_create("raw", NULL, MB, false);
	b = block_open_file(f, &o, &err);
	CHECK(block_pwrite(b, 0, "QFI\xfb", 4, &err) == 0); /* named raw: allowed */
	TEST_END();
	block_close(b);
}

int main(void)
{
	test_alloc_rw(512);
	test_alloc_rw(4096);
	test_alloc_rw(65536);
	test_alloc_rw(2 * 1024 * 1024);
	test_zero_discard();
	test_backing_chain();
	test_backing_loops();
	test_snapshots();
	test_refcount_growth(512, 64, 3 * MB, "qcow2_refcount_table_growth_512b");
	test_refcount_growth(4096, 64, 5 * MB, "qcow2_refcount_blocks_4k_clusters");
	test_compressed("zlib");
	test_compressed("zstd");
	test_refcount_overflow();
	test_probed_raw_guard();
	return 0;
}
