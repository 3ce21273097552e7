/* qcow2 driver: opening (header, extensions, tables), closing, flushing and
 * the pieces of metadata every other part uses (qcow2.txt "Header"). */
#include "block/qcow2_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"

#define QCOW2_MAX_L1_BYTES (32u << 20)	   /* as QEMU: a 32 MiB L1 table at most */
#define QCOW2_MAX_REFTABLE_BYTES (8u << 20) /* and an 8 MiB refcount table */
#define QCOW2_L2_CACHE_BYTES (32u << 20)

int qcow2_barrier(struct qcow2 *q, struct err *err)
{
	int ret;

	if (!q->barriers)
		return 0;
	ret = block_file_flush(q->file);
	return ret < 0 ? err_errno(err, ret, "flush") : 0;
}

int qcow2_header_write_field(struct qcow2 *q, uint64_t off, const void *val, uint32_t len,
			     struct err *err)
{
	int ret = block_file_pwrite(q->file, off, val, len);

	return ret < 0 ? err_errno(err, ret, "header update") : 0;
}

/* The dirty bit (qcow2.txt incompatible bit 0) says refcounts may be stale;
 * we set it before the first write of an image with lazy_refcounts and clear
 * it on a clean close. Our own refcounts are always exact, so the bit is only
 * there for other readers. */
int qcow2_mark_dirty(struct qcow2 *q, struct err *err)
{
	uint8_t v[8];
	int ret;

	if (q->dirty_marked || q->version < 3 || !(q->compat & QCOW2_COMPAT_LAZY_REFCOUNTS))
		return 0;
	put_be64(v, q->incompat | QCOW2_INCOMPAT_DIRTY);
	ret = qcow2_header_write_field(q, 72, v, 8, err);
	if (ret < 0)
		return ret;
	q->incompat |= QCOW2_INCOMPAT_DIRTY;
	q->dirty_marked = true;
	return qcow2_barrier(q, err);
}

static int qcow2_clear_dirty(struct qcow2 *q, struct err *err)
{
	uint8_t v[8];
	int ret;

	put_be64(v, q->incompat & ~QCOW2_INCOMPAT_DIRTY);
	ret = qcow2_header_write_field(q, 72, v, 8, err);
	if (ret < 0)
		return ret;
	q->incompat &= ~QCOW2_INCOMPAT_DIRTY;
	q->dirty_marked = false;
	return 0;
}

static bool range_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

/* Fixed metadata that no data or table allocation may land on, whatever the
 * refcounts claim (a hostile image may say the header is free). */
bool qcow2_overlaps_metadata(struct qcow2 *q, uint64_t off, uint64_t len)
{
	if (range_overlap(off, len, 0, q->cluster_size) ||
	    range_overlap(off, len, q->l1_offset, (uint64_t)q->l1_size * 8) ||
	    range_overlap(off, len, q->reftable_offset,
			  (uint64_t)q->reftable_clusters * q->cluster_size) ||
	    range_overlap(off, len, q->snapshots_offset, q->snapshots_size))
		return true;
	for (uint32_t i = 0; i < q->nb_snapshots && q->snaps; i++)
		if (range_overlap(off, len, q->snaps[i].l1_offset,
				  (uint64_t)q->snaps[i].l1_size * 8))
			return true;
	return false;
}

int qcow2_write_l1_entry(struct qcow2 *q, uint32_t idx, struct err *err)
{
	uint8_t v[8];
	int ret;

	put_be64(v, q->l1[idx]);
	ret = block_file_pwrite(q->file, q->l1_offset + (uint64_t)idx * 8, v, 8);
	return ret < 0 ? err_errno(err, ret, "L1 update") : 0;
}

static int qcow2_write_table(struct qcow2 *q, uint64_t off, const uint64_t *t, uint64_t n,
			     uint64_t bytes, struct err *err)
{
	uint8_t *buf = calloc(1, bytes ? bytes : 1);
	int ret;

	if (!buf)
		return err_errno(err, ENOMEM, "table");
	for (uint64_t i = 0; i < n; i++)
		put_be64(buf + i * 8, t[i]);
	ret = block_file_pwrite(q->file, off, buf, bytes);
	free(buf);
	return ret < 0 ? err_errno(err, ret, "table write") : 0;
}

/* Move the active L1 table to a larger place (resize, snapshot revert). The
 * new table is complete on disk before the header points to it. */
int qcow2_grow_l1(struct qcow2 *q, uint64_t min_size, struct err *err)
{
	uint64_t new_size = min_size, bytes;
	int64_t off;
	uint64_t *nl1;
	uint8_t hv[12];
	int ret;

	if (new_size <= q->l1_size)
		return 0;
	if (new_size * 8 > QCOW2_MAX_L1_BYTES)
		return err_set(err, "L1 table would exceed %u bytes", QCOW2_MAX_L1_BYTES);
	bytes = qcow2_align_up(q, new_size * 8);
	nl1 = calloc(new_size, 8);
	if (!nl1)
		return err_errno(err, ENOMEM, "L1 table");
	memcpy(nl1, q->l1, (uint64_t)q->l1_size * 8);
	ret = qcow2_flush_l2_cache(q, err);
	if (ret < 0)
		goto fail;
	off = qcow2_alloc_clusters(q, bytes / q->cluster_size, err);
	if (off < 0) {
		ret = (int)off;
		goto fail;
	}
	ret = qcow2_cache_write_back(q, &q->rbc, err);
	if (ret >= 0)
		ret = qcow2_write_table(q, (uint64_t)off, nl1, new_size, bytes, err);
	if (ret >= 0)
		ret = qcow2_barrier(q, err);
	if (ret < 0) {
		qcow2_update_refcount(q, (uint64_t)off, bytes / q->cluster_size, -1, err);
		goto fail;
	}
	put_be32(hv, (uint32_t)new_size);
	put_be64(hv + 4, (uint64_t)off);
	ret = qcow2_header_write_field(q, 36, hv, 12, err);
	if (ret >= 0)
		ret = qcow2_barrier(q, err);
	if (ret < 0)
		goto fail;
	uint64_t old_off = q->l1_offset, old_bytes = qcow2_align_up(q, (uint64_t)q->l1_size * 8);

	free(q->l1);
	q->l1 = nl1;
	q->l1_size = (uint32_t)new_size;
	q->l1_offset = (uint64_t)off;
	if (old_bytes && old_off)
		return qcow2_update_refcount(q, old_off, old_bytes / q->cluster_size, -1, err);
	return 0;
fail:
	free(nl1);
	return ret;
}

int qcow2_flush_all(struct qcow2 *q, struct err *err)
{
	int ret = qcow2_flush_l2_cache(q, err);

	if (ret >= 0 && q->nfrees) {
		ret = qcow2_barrier(q, err);
		if (ret >= 0)
			ret = qcow2_apply_frees(q, err);
	}
	if (ret >= 0)
		ret = qcow2_cache_write_back(q, &q->rbc, err);
	return ret;
}

static int qcow2_flush(struct block_dev *b, struct err *err)
{
	struct qcow2 *q = b->opaque;
	int ret = qcow2_flush_all(q, err);

	if (ret >= 0) {
		ret = block_file_flush(q->file);
		if (ret < 0)
			err_errno(err, ret, "'%s': flush", b->filename);
	}
	return ret;
}

/* Serialise the whole header, its extensions and the backing name into the
 * first cluster (create, rebase). */
int qcow2_write_header(struct qcow2 *q, struct err *err)
{
	uint8_t *h = calloc(1, q->cluster_size);
	uint32_t hl = q->version >= 3 ? 112 : 72, p;
	int ret;

	if (!h)
		return err_errno(err, ENOMEM, "header");
	put_be32(h, QCOW2_MAGIC);
	put_be32(h + 4, q->version);
	put_be32(h + 20, q->cluster_bits);
	put_be64(h + 24, q->size);
	put_be32(h + 36, q->l1_size);
	put_be64(h + 40, q->l1_offset);
	put_be64(h + 48, q->reftable_offset);
	put_be32(h + 56, q->reftable_clusters);
	put_be32(h + 60, q->nb_snapshots);
	put_be64(h + 64, q->snapshots_offset);
	if (q->version >= 3) {
		put_be64(h + 72, q->incompat);
		put_be64(h + 80, q->compat);
		put_be64(h + 88, q->autoclear);
		put_be32(h + 96, q->refcount_order);
		put_be32(h + 100, hl);
		h[104] = q->compression_type;
	}
	p = hl;
	if (q->backing_fmt && q->backing_fmt[0]) {
		uint32_t n = (uint32_t)strlen(q->backing_fmt);

		if (p + 8 + n + 8 > q->cluster_size)
			goto toobig;
		put_be32(h + p, QCOW2_EXT_BACKING_FMT);
		put_be32(h + p + 4, n);
		memcpy(h + p + 8, q->backing_fmt, n);
		p += 8 + ((n + 7) & ~7u);
	}
	if (q->version >= 3) {
		static const struct {
			uint8_t type, bit;
			const char *name;
		} ft[] = { { 0, 0, "dirty bit" },	    { 0, 1, "corrupt bit" },
			   { 0, 2, "external data file" }, { 0, 3, "compression type" },
			   { 0, 4, "extended L2 entries" }, { 1, 0, "lazy refcounts" },
			   { 2, 0, "bitmaps" },		    { 2, 1, "raw external data" } };
		uint32_t n = sizeof(ft) / sizeof(ft[0]) * 48;

		if (p + 8 + n > q->cluster_size)
			goto toobig;
		put_be32(h + p, QCOW2_EXT_FEATURE_TABLE);
		put_be32(h + p + 4, n);
		for (size_t i = 0; i < sizeof(ft) / sizeof(ft[0]); i++) {
			h[p + 8 + i * 48] = ft[i].type;
			h[p + 9 + i * 48] = ft[i].bit;
			strncpy((char *)h + p + 10 + i * 48, ft[i].name, 46);
		}
		p += 8 + n;
	}
	if (q->other_exts_len) {
		if (p + q->other_exts_len > q->cluster_size)
			goto toobig;
		memcpy(h + p, q->other_exts, q->other_exts_len);
		p += q->other_exts_len;
	}
	p += 8; /* end-of-extensions marker (zeros) */
	if (q->backing_name && q->backing_name[0]) {
		uint32_t n = (uint32_t)strlen(q->backing_name);

		if (p + n > q->cluster_size)
			goto toobig;
		put_be64(h + 8, p);
		put_be32(h + 16, n);
		memcpy(h + p, q->backing_name, n);
		p += n;
	}
	ret = block_file_pwrite(q->file, 0, h, p);
	free(h);
	return ret < 0 ? err_errno(err, ret, "header write") : 0;
toobig:
	free(h);
	return err_set(err, "header does not fit in one cluster");
}

static const char *qcow2_feature_name(const uint8_t *table, uint32_t n, int type, int bit)
{
	static char name[47];

	for (uint32_t i = 0; table && i + 48 <= n; i += 48) {
		if (table[i] == type && table[i + 1] == bit) {
			memcpy(name, table + i + 2, 46);
			name[46] = 0;
			return name;
		}
	}
	return NULL;
}

static int qcow2_read_extensions(struct qcow2 *q, const uint8_t *h, uint64_t start, uint64_t end,
				 struct err *err)
{
	const uint8_t *ftable = NULL;
	uint32_t ftable_len = 0;
	uint64_t p = start;

	while (p + 8 <= end) {
		uint32_t type = be32_at(h + p), len = be32_at(h + p + 4);
		uint64_t padded = ((uint64_t)len + 7) & ~7ULL;

		if (type == QCOW2_EXT_END)
			break;
		if (padded > end - p - 8)
			return err_set(err, "header extension 0x%x overruns the header", type);
		if (type == QCOW2_EXT_BACKING_FMT) {
			if (len > 63)
				return err_set(err, "backing format name too long");
			free(q->backing_fmt);
			q->backing_fmt = strndup((const char *)h + p + 8, len);
			if (!q->backing_fmt)
				return err_errno(err, ENOMEM, "header");
		} else if (type == QCOW2_EXT_FEATURE_TABLE) {
			ftable = h + p + 8, ftable_len = len;
		} else {
			uint8_t *n = realloc(q->other_exts, q->other_exts_len + 8 + padded);

			if (!n)
				return err_errno(err, ENOMEM, "header");
			memcpy(n + q->other_exts_len, h + p, 8 + padded);
			q->other_exts = n;
			q->other_exts_len += (uint32_t)(8 + padded);
		}
		p += 8 + padded;
	}
	uint64_t unknown = q->incompat & ~QCOW2_INCOMPAT_KNOWN;

	if (unknown) {
		char list[256] = "";

		for (int bit = 0; bit < 64; bit++) {
			if (!(unknown & (1ULL << bit)))
				continue;
			const char *nm = qcow2_feature_name(ftable, ftable_len, 0, bit);
			size_t l = strlen(list);

			snprintf(list + l, sizeof(list) - l, "%s%s", l ? ", " : "",
				 nm ? nm : "unknown");
			if (!nm) {
				l = strlen(list);
				snprintf(list + l, sizeof(list) - l, " bit %d", bit);
			}
		}
		return err_set(err, "unsupported qcow2 feature(s): %s", list);
	}
	return 0;
}

static int qcow2_read_table(struct qcow2 *q, uint64_t off, uint64_t n, uint64_t **out,
			    struct err *err)
{
	uint8_t *buf = malloc(n ? n * 8 : 1);
	uint64_t *t = calloc(n ? n : 1, 8);
	int ret;

	if (!buf || !t) {
		free(buf);
		free(t);
		return err_errno(err, ENOMEM, "table");
	}
	ret = block_file_pread(q->file, off, buf, n * 8);
	if (ret < 0) {
		free(buf);
		free(t);
		return err_errno(err, ret, "table read");
	}
	for (uint64_t i = 0; i < n; i++)
		t[i] = be64_at(buf + i * 8);
	free(buf);
	*out = t;
	return 0;
}

static void qcow2_free_state(struct qcow2 *q)
{
	qcow2_cache_fini(&q->l2c);
	qcow2_cache_fini(&q->rbc);
	qcow2_free_snapshots(q);
	free(q->l1);
	free(q->reftable);
	free(q->backing_name);
	free(q->backing_fmt);
	free(q->other_exts);
	free(q->frees);
	free(q->cbuf);
	free(q->dbuf);
	free(q);
}

static int qcow2_parse_header(struct qcow2 *q, const struct block_open_opts *o, uint64_t flen,
			      struct err *err)
{
	uint8_t h0[112] = { 0 };
	int ret;

	if (flen < 72)
		return err_set(err, "file too short for a qcow2 header (%llu bytes)",
			       (unsigned long long)flen);
	ret = block_file_pread(q->file, 0, h0, sizeof(h0));
	if (ret < 0)
		return err_errno(err, ret, "header read");
	if (be32_at(h0) != QCOW2_MAGIC)
		return err_set(err, "not a qcow2 image (bad magic)");
	q->version = be32_at(h0 + 4);
	if (q->version != 2 && q->version != 3)
		return err_set(err, "unsupported qcow2 version %u", q->version);
	q->cluster_bits = be32_at(h0 + 20);
	if (q->cluster_bits < QCOW2_MIN_CLUSTER_BITS || q->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return err_set(err, "unsupported cluster size 2^%u (must be 512 B..2 MiB)",
			       q->cluster_bits);
	q->cluster_size = 1ULL << q->cluster_bits;
	q->l2_bits = q->cluster_bits - 3;
	q->size = be64_at(h0 + 24);
	if (be32_at(h0 + 32))
		return err_set(err, "encrypted qcow2 images are not supported");
	q->l1_size = be32_at(h0 + 36);
	q->l1_offset = be64_at(h0 + 40);
	q->reftable_offset = be64_at(h0 + 48);
	q->reftable_clusters = be32_at(h0 + 56);
	q->nb_snapshots = be32_at(h0 + 60);
	q->snapshots_offset = be64_at(h0 + 64);
	q->refcount_order = 4;
	q->header_length = 72;
	if (q->version >= 3) {
		if (flen < 104)
			return err_set(err, "file too short for a version 3 header");
		q->incompat = be64_at(h0 + 72);
		q->compat = be64_at(h0 + 80);
		q->autoclear = be64_at(h0 + 88);
		q->refcount_order = be32_at(h0 + 96);
		q->header_length = be32_at(h0 + 100);
		if (q->header_length < 104 || q->header_length % 8 ||
		    q->header_length > q->cluster_size)
			return err_set(err, "invalid header length %u", q->header_length);
		if (q->header_length > 104)
			q->compression_type = h0[104];
	}
	if (q->refcount_order > 6)
		return err_set(err, "invalid refcount order %u", q->refcount_order);
	q->rb_bits = q->cluster_bits + 3 - q->refcount_order;
	if (q->incompat & QCOW2_INCOMPAT_DATA_FILE)
		return err_set(err, "qcow2 images with an external data file are not supported");
	if (q->incompat & QCOW2_INCOMPAT_EXTL2)
		return err_set(err, "qcow2 images with extended L2 entries (subclusters) are not "
				    "supported");
	if (!!(q->incompat & QCOW2_INCOMPAT_COMPRESSION) != (q->compression_type != 0) ||
	    q->compression_type > QCOW2_COMPRESSION_ZSTD)
		return err_set(err, "invalid or unsupported compression type %u",
			       q->compression_type);
	/* Autoclear bits we do not maintain (bitmaps) must be cleared by a
	 * writer; we simply never write them back set. */

	/* Extensions and the backing file name live in the first cluster. */
	uint64_t hdr_bytes = q->cluster_size < flen ? q->cluster_size : flen;
	uint8_t *h = calloc(1, q->cluster_size);

	if (!h)
		return err_errno(err, ENOMEM, "header");
	ret = block_file_pread(q->file, 0, h, hdr_bytes);
	if (ret < 0) {
		free(h);
		return err_errno(err, ret, "header read");
	}
	uint64_t bfo = be64_at(h0 + 8);
	uint32_t bfs = be32_at(h0 + 16);
	uint64_t ext_end = bfo && bfo < hdr_bytes ? bfo : hdr_bytes;

	if (bfo) {
		if (bfs > QCOW2_MAX_BACKING_NAME || bfs == 0 || bfo > q->cluster_size ||
		    bfo + bfs > q->cluster_size || bfo + bfs > flen) {
			free(h);
			return err_set(err, "invalid backing file name (offset %llu, length %u)",
				       (unsigned long long)bfo, bfs);
		}
		q->backing_name = strndup((const char *)h + bfo, bfs);
		if (!q->backing_name) {
			free(h);
			return err_errno(err, ENOMEM, "header");
		}
	}
	ret = qcow2_read_extensions(q, h, q->header_length, ext_end, err);
	free(h);
	if (ret < 0)
		return ret;

	/* Tables: every size is bounded by the file size, so a hostile header
	 * cannot make us allocate more than the file could describe. */
	uint64_t l2_cover = q->cluster_size << q->l2_bits;
	uint64_t l1_need = q->size / l2_cover + (q->size % l2_cover != 0);

	if (q->size > (1ULL << 62) || l1_need > q->l1_size)
		return err_set(err, "L1 table too small (%u entries) for disk size %llu",
			       q->l1_size, (unsigned long long)q->size);
	if ((uint64_t)q->l1_size * 8 > QCOW2_MAX_L1_BYTES)
		return err_set(err, "L1 table too large (%u entries)", q->l1_size);
	if (q->l1_size && (q->l1_offset % q->cluster_size || q->l1_offset == 0 ||
			   q->l1_offset > flen || (uint64_t)q->l1_size * 8 > flen - q->l1_offset))
		return err_set(err, "L1 table at %llu is outside the file or misaligned",
			       (unsigned long long)q->l1_offset);
	if (q->reftable_clusters == 0 ||
	    (uint64_t)q->reftable_clusters * q->cluster_size > QCOW2_MAX_REFTABLE_BYTES)
		return err_set(err, "invalid refcount table size (%u clusters)",
			       q->reftable_clusters);
	q->reftable_size = (uint64_t)q->reftable_clusters * q->cluster_size / 8;
	if (q->reftable_offset % q->cluster_size || q->reftable_offset == 0 ||
	    q->reftable_offset > flen ||
	    (uint64_t)q->reftable_clusters * q->cluster_size > flen - q->reftable_offset + q->cluster_size)
		return err_set(err, "refcount table at %llu is outside the file or misaligned",
			       (unsigned long long)q->reftable_offset);
	if (q->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
		return err_set(err, "too many snapshots (%u)", q->nb_snapshots);
	if (q->nb_snapshots && (q->snapshots_offset % q->cluster_size || q->snapshots_offset == 0 ||
				q->snapshots_offset >= flen))
		return err_set(err, "snapshot table at %llu is outside the file or misaligned",
			       (unsigned long long)q->snapshots_offset);
	if (q->l1_size) {
		ret = qcow2_read_table(q, q->l1_offset, q->l1_size, &q->l1, err);
		if (ret < 0)
			return ret;
	}
	ret = qcow2_read_table(q, q->reftable_offset, q->reftable_size, &q->reftable, err);
	if (ret < 0)
		return ret;
	for (uint64_t i = 0; i < q->reftable_size; i++) {
		uint64_t rb = q->reftable[i] & QCOW2_REFT_OFFSET_MASK;

		if (rb && (rb % q->cluster_size || rb >= flen))
			return err_set(err, "refcount block %llu at %llu is outside the file or "
					    "misaligned", (unsigned long long)i,
				       (unsigned long long)rb);
	}
	return qcow2_read_snapshots(q, err);
}

static int qcow2_open(struct block_dev *b, const struct block_open_opts *o, int depth,
		      struct err *err)
{
	struct qcow2 *q = calloc(1, sizeof(*q));
	int64_t flen = block_file_length(b->file);
	int ret;

	if (!q)
		return err_errno(err, ENOMEM, "'%s'", b->filename);
	if (flen < 0) {
		free(q);
		return err_errno(err, (int)flen, "'%s'", b->filename);
	}
	q->b = b;
	q->file = b->file;
	q->file_end = (uint64_t)flen;
	q->dbuf_off = ~0ULL;
	q->barriers = o->cache != BLOCK_CACHE_UNSAFE;
	b->opaque = q;
	ret = qcow2_parse_header(q, o, (uint64_t)flen, err);
	if (ret < 0)
		goto fail;
	b->length = q->size;
	if ((q->incompat & QCOW2_INCOMPAT_CORRUPT) && !b->readonly && !o->allow_corrupt_write) {
		ret = err_set(err, "image is marked corrupt; open it read-only or repair it "
				   "with 'vireo-img check -r all'");
		goto fail;
	}
	uint64_t l2_cover = q->cluster_size << q->l2_bits;
	uint64_t want = q->size / l2_cover + 1, cap = QCOW2_L2_CACHE_BYTES / q->cluster_size;

	if (want > cap)
		want = cap;
	if (want < 16)
		want = 16;
	q->cbuf = malloc(q->cluster_size * 2 + 1024);
	q->dbuf = malloc(q->cluster_size);
	if (!q->cbuf || !q->dbuf || qcow2_cache_init(&q->l2c, (int)want) < 0 ||
	    qcow2_cache_init(&q->rbc, want / 4 > 16 ? (int)(want / 4) : 16) < 0) {
		ret = err_errno(err, ENOMEM, "'%s': caches", b->filename);
		goto fail;
	}
	if ((q->incompat & QCOW2_INCOMPAT_DIRTY) && !b->readonly && !o->no_dirty_repair) {
		/* Refcounts of a dirty lazy-refcounts image may be stale: rebuild them
		 * before allocating anything (as QEMU does on open). */
		struct qcow2_check_result r;

		log_info("'%s': image is dirty; repairing refcounts", b->filename);
		ret = qcow2_check(b, QCOW2_FIX_LEAKS | QCOW2_FIX_ERRORS, &r, err);
		if (ret >= 0)
			ret = qcow2_clear_dirty(q, err);
		if (ret >= 0)
			ret = block_file_flush(q->file);
		if (ret < 0)
			goto fail;
	}
	if (q->backing_name && !o->no_backing) {
		b->backing = block_open_backing(b, q->backing_name, q->backing_fmt, depth, err);
		if (!b->backing) {
			err_prefix(err, "backing file '%s'", q->backing_name);
			ret = -ENOENT;
			goto fail;
		}
	}
	/* Writers always clear autoclear bits they do not maintain (qcow2.txt). */
	if (!b->readonly && q->version >= 3 && q->autoclear) {
		uint8_t v[8] = { 0 };

		ret = qcow2_header_write_field(q, 88, v, 8, err);
		if (ret < 0)
			goto fail;
		q->autoclear = 0;
	}
	return 0;
fail:
	err_prefix(err, "'%s'", b->filename);
	if (b->backing) {
		block_close(b->backing);
		b->backing = NULL;
	}
	qcow2_free_state(q);
	b->opaque = NULL;
	return ret < 0 ? ret : -EINVAL;
}

static void qcow2_close(struct block_dev *b)
{
	struct qcow2 *q = b->opaque;
	struct err err = { { 0 } };

	if (!q)
		return;
	if (!b->readonly) {
		int ret = qcow2_flush_all(q, &err);

		if (ret >= 0)
			ret = qcow2_barrier(q, &err);
		if (ret >= 0 && q->dirty_marked)
			ret = qcow2_clear_dirty(q, &err);
		if (ret >= 0)
			ret = block_file_flush(q->file);
		if (ret < 0)
			log_error("'%s': closing: %s", b->filename,
				  err_is_set(&err) ? err.msg : "flush failed");
	}
	qcow2_free_state(q);
	b->opaque = NULL;
}

bool qcow2_is(struct block_dev *b)
{
	return b->drv == &block_qcow2_driver;
}

int qcow2_get_info(struct block_dev *b, struct qcow2_info *info)
{
	struct qcow2 *q = b->opaque;

	if (!qcow2_is(b))
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	info->version = (int)q->version;
	info->refcount_bits = 1 << q->refcount_order;
	info->lazy_refcounts = q->compat & QCOW2_COMPAT_LAZY_REFCOUNTS;
	info->dirty = q->incompat & QCOW2_INCOMPAT_DIRTY;
	info->corrupt = q->incompat & QCOW2_INCOMPAT_CORRUPT;
	info->compression = q->compression_type == QCOW2_COMPRESSION_ZSTD ? "zstd" : "zlib";
	info->backing_name = q->backing_name;
	info->backing_fmt = q->backing_fmt;
	return 0;
}

uint32_t block_cluster_size(struct block_dev *b)
{
	return qcow2_is(b) ? (uint32_t)((struct qcow2 *)b->opaque)->cluster_size : 0;
}

const struct block_driver block_qcow2_driver = {
	.name = "qcow2",
	.open = qcow2_open,
	.close = qcow2_close,
	.read = qcow2_read,
	.write = qcow2_write,
	.flush = qcow2_flush,
	.discard = qcow2_discard,
	.write_zeroes = qcow2_write_zeroes,
	.get_status = qcow2_get_status,
	.truncate = qcow2_truncate,
	.write_compressed = qcow2_write_compressed,
	.set_backing = qcow2_set_backing,
	.create = qcow2_create,
};
