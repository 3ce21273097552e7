/* Hostile qcow2 images: broken headers, tables outside the file or over
 * metadata, absurd sizes, garbage entries. Each must fail with a clear error
 * (or, for data-path damage, an I/O error on the affected request), never
 * crash, never write outside the image's own clusters. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "block/qcow2.h"
#include "testlib.h"

#define CS 65536ULL

static uint8_t *golden;
static uint64_t golden_len;

/* A small valid image: header, reftable, refblock, L1 in clusters 0..3,
 * then two data clusters and an L2 table. */
static void make_golden(void)
{
	struct block_create_opts co = {0};
	struct err err = {{0}};
	struct block_file *f = block_file_mem_create("g", NULL, 0, false);

	co.format = "qcow2";
	co.size = 8 << 20;
	block_create_file(f, &co, &err);
	struct block_dev *b = block_open_file(f, NULL, &err);
	uint8_t buf[2 * CS];

	memset(buf, 0x3c, sizeof(buf));
	block_pwrite(b, 0, buf, sizeof(buf), &err);
	block_flush(b, &err);
	const uint8_t *d = block_file_mem_data(block_get_file(b), &golden_len);

	golden = malloc(golden_len);
	memcpy(golden, d, golden_len);
	block_close(b);
}

static void put(uint8_t *p, int width, uint64_t v)
{
	for (int i = width - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

struct mutation {
	const char *name;
	uint64_t off;
	int width;
	uint64_t val;
	uint64_t truncate;  /* 0: keep the length */
	const char *expect; /* part of the open error, or NULL: opens */
};

static const struct mutation muts[] = {
    {"truncated_header", 0, 0, 0, 50, "too short"},
    {"version_1", 4, 4, 1, 0, "version"},
    {"version_4", 4, 4, 4, 0, "version"},
    {"cluster_bits_8", 20, 4, 8, 0, "cluster size"},
    {"cluster_bits_22", 20, 4, 22, 0, "cluster size"},
    {"cluster_bits_huge", 20, 4, 0xffffffff, 0, "cluster size"},
    {"encrypted", 32, 4, 1, 0, "encrypted"},
    {"l1_size_huge", 36, 4, 0xffffffff, 0, "L1"},
    {"l1_too_small", 36, 4, 0, 0, "L1 table too small"},
    {"l1_outside_file", 40, 8, 1ULL << 40, 0, "L1"},
    {"l1_in_header", 40, 8, 0, 0, "L1"},
    {"l1_unaligned", 40, 8, 3 * CS + 8, 0, "L1"},
    {"reftable_outside_file", 48, 8, 1ULL << 50, 0, "refcount table"},
    {"reftable_unaligned", 48, 8, CS + 512, 0, "refcount table"},
    {"reftable_clusters_huge", 56, 4, 0xffffffff, 0, "refcount table size"},
    {"reftable_clusters_zero", 56, 4, 0, 0, "refcount table size"},
    {"nb_snapshots_huge", 60, 4, 0xffffffff, 0, "too many snapshots"},
    {"nb_snapshots_beyond_file", 60, 4, 60000, 0, "snapshot table"},
    {"unknown_incompatible_bit", 72, 8, 1ULL << 10, 0, "unsupported qcow2 feature"},
    {"external_data_file", 72, 8, 1ULL << 2, 0, "external data file"},
    {"extended_l2", 72, 8, 1ULL << 4, 0, "extended L2"},
    {"compression_bit_without_type", 72, 8, 1ULL << 3, 0, "compression type"},
    {"refcount_order_7", 96, 4, 7, 0, "refcount order"},
    {"header_length_small", 100, 4, 8, 0, "header length"},
    {"header_length_huge", 100, 4, 0xfffffff8, 0, "header length"},
    {"backing_name_outside", 8, 8, 1ULL << 40, 0, "backing file name"},
    {"refblock_outside_file", CS, 8, 1ULL << 40, 0, "refcount block"},
    {"refblock_unaligned", CS, 8, 2 * CS + 4096, 0, "refcount block"},
    {"extension_overruns", 112, 8, 0x1234567800fffff0ULL, 0, "overruns"},
};

static struct block_dev *open_bytes(const uint8_t *d, uint64_t len, bool ro, struct err *err)
{
	struct block_file *f = block_file_mem_create("h", d, len, ro);
	struct block_open_opts o = {0};

	o.readonly = ro;
	/* Never let a hostile image grow the file without bound. */
	block_file_mem_set_max(f, len + (64ULL << 20));
	return block_open_file(f, &o, err);
}

static void test_mutations(void)
{
	for (size_t i = 0; i < sizeof(muts) / sizeof(muts[0]); i++) {
		const struct mutation *m = &muts[i];
		char name[96];
		struct err err = {{0}};

		if (!m->expect)
			continue;
		uint8_t *d = malloc(golden_len);

		memcpy(d, golden, golden_len);
		if (m->width)
			put(d + m->off, m->width, m->val);
		snprintf(name, sizeof(name), "qcow2_hostile_%s", m->name);
		TEST_BEGIN(name);
		struct block_dev *b =
		    open_bytes(d, m->truncate ? m->truncate : golden_len, true, &err);

		CHECK(b == NULL);
		if (b || !strstr(err.msg, m->expect))
			printf("# %s: got '%s'\n", m->name, err.msg);
		CHECK(strstr(err.msg, m->expect) != NULL);
		CHECK(strchr(err.msg, '\n') == NULL);
		TEST_END();
		block_close(b);
		free(d);
	}
}

/* Damage that opening cannot see: the request touching it fails. */
static void test_data_path(void)
{
	struct err err = {{0}};
	uint8_t *d = malloc(golden_len), buf[4096];
	uint64_t l1 = 3 * CS, l2 = 0;

	for (int i = 0; i < 8; i++)
		l2 = l2 << 8 | golden[l1 + i];
	l2 &= 0x00fffffffffffe00ULL;
	uint64_t data = 0;

	for (int i = 0; i < 8; i++)
		data = data << 8 | golden[l2 + i];
	data &= 0x00fffffffffffe00ULL;

	TEST_BEGIN("qcow2_hostile_l1_entry_beyond_file");
	memcpy(d, golden, golden_len);
	put(d + l1, 8, (1ULL << 63) | (1ULL << 40));
	struct block_dev *b = open_bytes(d, golden_len, false, &err);

	CHECK(b != NULL);
	CHECK(block_pread(b, 0, buf, 4096, &err) == -EIO);
	CHECK(block_pwrite(b, 0, buf, 4096, &err) == -EIO);
	TEST_END();
	block_close(b);

	TEST_BEGIN("qcow2_hostile_l2_table_in_header");
	memcpy(d, golden, golden_len);
	put(d + l1, 8, (1ULL << 63) | 0);
	put(d + l1, 8, (1ULL << 63) | 512);
	b = open_bytes(d, golden_len, false, &err);
	CHECK(b != NULL);
	CHECK(block_pread(b, 0, buf, 4096, &err) == -EIO);
	CHECK(block_pwrite(b, 0, buf, 4096, &err) == -EIO);
	TEST_END();
	block_close(b);

	TEST_BEGIN("qcow2_hostile_l2_table_over_refcount_table");
	memcpy(d, golden, golden_len);
	put(d + l1, 8, (1ULL << 63) | CS);
	b = open_bytes(d, golden_len, false, &err);
	CHECK(b != NULL);
	CHECK(block_pwrite(b, 0, buf, 4096, &err) == -EIO);
	TEST_END();
	block_close(b);

	TEST_BEGIN("qcow2_hostile_data_cluster_over_l1_is_not_written");
	memcpy(d, golden, golden_len);
	put(d + l2, 8, (1ULL << 63) | l1);
	b = open_bytes(d, golden_len, false, &err);
	CHECK(b != NULL);
	memset(buf, 0xee, sizeof(buf));
	CHECK(block_pwrite(b, 0, buf, 4096, &err) == -EIO);
	uint64_t len;
	const uint8_t *now = block_file_mem_data(block_get_file(b), &len);

	CHECK(!memcmp(now + l1, golden + l1, CS)); /* the L1 table is intact */
	TEST_END();
	block_close(b);

	TEST_BEGIN("qcow2_hostile_data_cluster_beyond_file");
	memcpy(d, golden, golden_len);
	put(d + l2, 8, (1ULL << 63) | (1ULL << 50));
	b = open_bytes(d, golden_len, false, &err);
	CHECK(block_pread(b, 0, buf, 4096, &err) == -EIO);
	CHECK(block_pwrite(b, 0, buf, 4096, &err) == -EIO);
	now = block_file_mem_data(block_get_file(b), &len);
	CHECK_EQ(len, golden_len);
	TEST_END();
	block_close(b);

	TEST_BEGIN("qcow2_hostile_compressed_garbage");
	memcpy(d, golden, golden_len);
	put(d + l2, 8, (1ULL << 62) | (data + 100));
	memset(d + data, 0xff, 1024);
	b = open_bytes(d, golden_len, true, &err);
	CHECK(block_pread(b, 0, buf, 4096, &err) == -EIO);
	CHECK(block_pread(b, CS, buf, 4096, &err) == 0); /* the next cluster is fine */
	TEST_END();
	block_close(b);

	TEST_BEGIN("qcow2_hostile_header_refcount_zero_not_reused");
	memcpy(d, golden, golden_len);
	memset(d + 2 * CS, 0, CS); /* the refcount block says all is free */
	b = open_bytes(d, golden_len, false, &err);
	CHECK(b != NULL);
	memset(buf, 0xdd, sizeof(buf));
	for (int i = 0; b && i < 16; i++)
		block_pwrite(b, (uint64_t)(i + 2) * CS, buf, sizeof(buf), &err);
	block_flush(b, &err);
	now = block_file_mem_data(block_get_file(b), &len);
	CHECK(!memcmp(now, golden, 512));		   /* header */
	CHECK(!memcmp(now + CS, golden + CS, 8));	   /* refcount table */
	CHECK(!memcmp(now + l1 + 8, golden + l1 + 8, 64)); /* L1 beyond entry 0 */
	TEST_END();
	block_close(b);

	TEST_BEGIN("qcow2_hostile_corrupt_bit_read_only");
	memcpy(d, golden, golden_len);
	put(d + 72, 8, 2);
	b = open_bytes(d, golden_len, false, &err);
	CHECK(b == NULL && strstr(err.msg, "corrupt"));
	b = open_bytes(d, golden_len, true, &err);
	CHECK(b != NULL);
	TEST_END();
	block_close(b);

	TEST_BEGIN("qcow2_hostile_truncated_data");
	b = open_bytes(golden, data + 100, true, &err); /* data cluster cut short */
	CHECK(b != NULL);
	if (b)
		CHECK(block_pread(b, CS, buf, 4096, &err) < 0 ||
		      block_pread(b, CS, buf, 4096, &err) == 0);
	TEST_END();
	block_close(b);
	free(d);
}

/* A snapshot table whose entries claim more than the file holds. */
static void test_snapshot_table(void)
{
	struct err err = {{0}};
	uint8_t *d = malloc(golden_len);

	TEST_BEGIN("qcow2_hostile_snapshot_entry_lengths");
	memcpy(d, golden, golden_len);
	put(d + 60, 4, 3);
	put(d + 64, 8, golden_len - CS);
	/* entry: id/name sizes of 65535 and extra data of 1000 at the file end */
	put(d + golden_len - CS + 12, 2, 65535);
	put(d + golden_len - CS + 14, 2, 65535);
	put(d + golden_len - CS + 36, 4, 1000);
	struct block_dev *b = open_bytes(d, golden_len, true, &err);

	CHECK(b == NULL);
	CHECK(strstr(err.msg, "snapshot") != NULL);
	put(d + golden_len - CS + 36, 4, 1 << 30);
	b = open_bytes(d, golden_len, true, &err);
	CHECK(b == NULL && strstr(err.msg, "extra data"));
	TEST_END();
	free(d);
}

int main(void)
{
	make_golden();
	test_mutations();
	test_data_path();
	test_snapshot_table();
	free(golden);
	return 0;
}
