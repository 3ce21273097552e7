/* Refcounts (qcow2.txt "Host cluster management"): a two-level table of
 * refcount blocks, entries 1 << refcount_order bits wide; allocation of
 * clusters and bytes; growth of the refcount table; deferred frees. */
#include "block/qcow2_int.h"

#include <errno.h>
#include <stdlib.h>

#define QCOW2_MAX_HOST_OFFSET (1ULL << 55) /* L2 entries hold offsets up to bit 55 */

uint64_t qcow2_refcount_max(struct qcow2 *q)
{
	return q->refcount_order == 6 ? UINT64_MAX : (1ULL << (1u << q->refcount_order)) - 1;
}

static uint64_t rb_get(struct qcow2 *q, const uint8_t *rb, uint64_t i)
{
	switch (q->refcount_order) {
	case 0:
		return (rb[i / 8] >> (i % 8)) & 1;
	case 1:
		return (rb[i / 4] >> (2 * (i % 4))) & 3;
	case 2:
		return (rb[i / 2] >> (4 * (i % 2))) & 15;
	case 3:
		return rb[i];
	case 4:
		return be16_at(rb + i * 2);
	case 5:
		return be32_at(rb + i * 4);
	default:
		return be64_at(rb + i * 8);
	}
}

static void rb_set(struct qcow2 *q, uint8_t *rb, uint64_t i, uint64_t v)
{
	unsigned sh;

	switch (q->refcount_order) {
	case 0:
		sh = (unsigned)(i % 8);
		rb[i / 8] = (uint8_t)((rb[i / 8] & ~(1u << sh)) | (v << sh));
		break;
	case 1:
		sh = 2 * (unsigned)(i % 4);
		rb[i / 4] = (uint8_t)((rb[i / 4] & ~(3u << sh)) | (v << sh));
		break;
	case 2:
		sh = 4 * (unsigned)(i % 2);
		rb[i / 2] = (uint8_t)((rb[i / 2] & ~(15u << sh)) | (v << sh));
		break;
	case 3:
		rb[i] = (uint8_t)v;
		break;
	case 4:
		put_be16(rb + i * 2, (uint16_t)v);
		break;
	case 5:
		put_be32(rb + i * 4, (uint32_t)v);
		break;
	default:
		put_be64(rb + i * 8, v);
	}
}

static uint64_t rb_offset(struct qcow2 *q, uint64_t rt_idx)
{
	if (rt_idx >= q->reftable_size)
		return 0;
	return q->reftable[rt_idx] & QCOW2_REFT_OFFSET_MASK;
}

int qcow2_get_refcount(struct qcow2 *q, uint64_t cluster, uint64_t *rc, struct err *err)
{
	uint64_t rbo = rb_offset(q, cluster >> q->rb_bits);
	uint8_t *rb;
	int ret;

	*rc = 0;
	if (!rbo)
		return 0;
	ret = qcow2_cache_get(q, &q->rbc, rbo, false, &rb, err);
	if (ret < 0)
		return ret;
	*rc = rb_get(q, rb, cluster & ((1ULL << q->rb_bits) - 1));
	return 0;
}

static bool qcow2_cluster_reserved(struct qcow2 *q, uint64_t c)
{
	if (q->check_refs && c < q->check_nclusters && q->check_refs[c])
		return true;
	return qcow2_overlaps_metadata(q, c << q->cluster_bits, q->cluster_size);
}

static void qcow2_note_end(struct qcow2 *q, uint64_t end)
{
	if (end > q->file_end)
		q->file_end = end;
}

/* Move the refcount table to the end of the file with room for at least
 * min_entries entries. The new table and the refcount blocks describing its
 * own clusters are written completely before the header switches to it. */
static int qcow2_grow_reftable(struct qcow2 *q, uint64_t min_entries, struct err *err)
{
	uint64_t per_cluster = q->cluster_size / 8;
	uint64_t entries = min_entries + min_entries / 2 + 1;
	uint64_t t = (entries + per_cluster - 1) / per_cluster;
	uint64_t e = qcow2_align_up(q, q->file_end) >> q->cluster_bits;
	uint64_t k = 0, nk, rb_n = 1ULL << q->rb_bits;
	int ret;

	if (t * q->cluster_size > (8u << 20))
		return err_set(err, "refcount table would exceed 8 MiB");
	entries = t * per_cluster;
	/* Refcount blocks for regions [e, e+t+k) that have none, placed after the
	 * table; iterate because they may themselves start a new region. */
	for (;;) {
		nk = 0;
		for (uint64_t r = e >> q->rb_bits; r <= (e + t + k - 1) >> q->rb_bits; r++)
			if (!rb_offset(q, r))
				nk++;
		if (nk == k)
			break;
		k = nk;
	}
	uint64_t *nt = calloc(entries, 8);
	uint8_t *blocks = k ? calloc(k, q->cluster_size) : NULL;

	if (!nt || (k && !blocks)) {
		free(nt);
		free(blocks);
		return err_errno(err, ENOMEM, "refcount table");
	}
	memcpy(nt, q->reftable, q->reftable_size * 8);
	uint64_t bi = 0;

	for (uint64_t r = e >> q->rb_bits; r <= (e + t + k - 1) >> q->rb_bits; r++) {
		if (rb_offset(q, r))
			continue;
		nt[r] = (e + t + bi) << q->cluster_bits;
		bi++;
	}
	/* New clusters in regions with new blocks are counted in those blocks;
	 * the others go through the normal (cached) path. */
	for (uint64_t c = e; c < e + t + k; c++) {
		uint64_t r = c >> q->rb_bits;

		if (rb_offset(q, r)) {
			ret = qcow2_update_refcount(q, c << q->cluster_bits, 1, 1, err);
			if (ret < 0)
				goto out;
			continue;
		}
		uint64_t blk = (nt[r] >> q->cluster_bits) - (e + t);

		rb_set(q, blocks + blk * q->cluster_size, c & (rb_n - 1), 1);
	}
	ret = qcow2_cache_write_back(q, &q->rbc, err);
	if (ret < 0)
		goto out;
	if (k) {
		ret = block_file_pwrite(q->file, (e + t) << q->cluster_bits, blocks,
					k * q->cluster_size);
		if (ret < 0) {
			ret = err_errno(err, ret, "refcount block write");
			goto out;
		}
	}
	uint8_t *tb = calloc(t, q->cluster_size);

	if (!tb) {
		ret = err_errno(err, ENOMEM, "refcount table");
		goto out;
	}
	for (uint64_t i = 0; i < entries; i++)
		put_be64(tb + i * 8, nt[i]);
	ret = block_file_pwrite(q->file, e << q->cluster_bits, tb, t * q->cluster_size);
	free(tb);
	if (ret < 0) {
		ret = err_errno(err, ret, "refcount table write");
		goto out;
	}
	qcow2_note_end(q, (e + t + k) << q->cluster_bits);
	ret = qcow2_barrier(q, err);
	if (ret < 0)
		goto out;
	uint8_t hv[12];

	put_be64(hv, e << q->cluster_bits);
	put_be32(hv + 8, (uint32_t)t);
	ret = qcow2_header_write_field(q, 48, hv, 12, err);
	if (ret >= 0)
		ret = qcow2_barrier(q, err);
	if (ret < 0)
		goto out;
	uint64_t old_off = q->reftable_offset, old_n = q->reftable_clusters;

	free(q->reftable);
	q->reftable = nt;
	nt = NULL;
	q->reftable_size = entries;
	q->reftable_offset = e << q->cluster_bits;
	q->reftable_clusters = (uint32_t)t;
	ret = qcow2_update_refcount(q, old_off, old_n, -1, err);
out:
	free(nt);
	free(blocks);
	return ret;
}

/* Make sure refcount block rt_idx exists; a new block describes itself. */
static int qcow2_ensure_refblock(struct qcow2 *q, uint64_t rt_idx, struct err *err)
{
	uint64_t rb_n = 1ULL << q->rb_bits, s, c;
	uint8_t *rb;
	int ret;

	if (rb_offset(q, rt_idx))
		return 0;
	if (rt_idx >= q->reftable_size) {
		ret = qcow2_grow_reftable(q, rt_idx + 1, err);
		if (ret < 0 || rb_offset(q, rt_idx))
			return ret;
	}
	/* A region without a block has no used cluster: take its first one that
	 * is not fixed metadata. */
	s = rt_idx << q->rb_bits;
	for (c = s; c < s + rb_n && qcow2_cluster_reserved(q, c); c++)
		;
	if (c == s + rb_n)
		return err_set(err, "no room for a refcount block");
	ret = qcow2_cache_get(q, &q->rbc, c << q->cluster_bits, true, &rb, err);
	if (ret < 0)
		return ret;
	rb_set(q, rb, c - s, 1);
	if (q->check_refs && c < q->check_nclusters)
		q->check_refs[c]++;
	ret = block_file_pwrite(q->file, c << q->cluster_bits, rb, q->cluster_size);
	if (ret < 0)
		return err_errno(err, ret, "refcount block write");
	qcow2_note_end(q, (c + 1) << q->cluster_bits);
	ret = qcow2_barrier(q, err);
	if (ret < 0)
		return ret;
	q->reftable[rt_idx] = c << q->cluster_bits;
	uint8_t v[8];

	put_be64(v, q->reftable[rt_idx]);
	ret = block_file_pwrite(q->file, q->reftable_offset + rt_idx * 8, v, 8);
	return ret < 0 ? err_errno(err, ret, "refcount table update") : 0;
}

int qcow2_update_refcount(struct qcow2 *q, uint64_t off, uint64_t n, int64_t addend,
			  struct err *err)
{
	uint64_t first = off >> q->cluster_bits;

	for (uint64_t c = first; c < first + n; c++) {
		uint64_t rt_idx = c >> q->rb_bits, rbo;
		uint8_t *rb;
		int ret;

		if (addend > 0) {
			ret = qcow2_ensure_refblock(q, rt_idx, err);
			if (ret < 0)
				return ret;
		}
		rbo = rb_offset(q, rt_idx);
		if (!rbo)
			return err_set(err, "refcount of cluster %llu would drop below zero",
				       (unsigned long long)c);
		ret = qcow2_cache_get(q, &q->rbc, rbo, false, &rb, err);
		if (ret < 0)
			return ret;
		uint64_t i = c & ((1ULL << q->rb_bits) - 1), v = rb_get(q, rb, i), nv;

		if (addend < 0 && v < (uint64_t)-addend)
			return err_set(err, "refcount of cluster %llu would drop below zero",
				       (unsigned long long)c);
		if (addend > 0 && qcow2_refcount_max(q) - v < (uint64_t)addend)
			return err_errno(err, ERANGE, "refcount overflow on cluster %llu",
					 (unsigned long long)c);
		nv = v + (uint64_t)addend;
		rb_set(q, rb, i, nv);
		qcow2_cache_dirty(&q->rbc, rbo);
		if (nv == 0) {
			if (c < q->free_hint)
				q->free_hint = c;
			qcow2_cache_forget(&q->l2c, c << q->cluster_bits);
			if (q->dbuf_off >> q->cluster_bits == c)
				q->dbuf_off = ~0ULL;
			if (q->comp_off && q->comp_off >> q->cluster_bits == c)
				q->comp_off = 0;
			if ((c << q->cluster_bits) != rbo)
				qcow2_cache_forget(&q->rbc, c << q->cluster_bits);
		}
	}
	return 0;
}

int64_t qcow2_alloc_clusters(struct qcow2 *q, uint64_t n, struct err *err)
{
	uint64_t i = q->free_hint, limit = QCOW2_MAX_HOST_OFFSET >> q->cluster_bits;
	int ret;

restart:
	for (uint64_t j = i; j < i + n; j++) {
		uint64_t rc;

		if (j >= limit)
			return err_errno(err, ENOSPC, "image file full");
		ret = qcow2_ensure_refblock(q, j >> q->rb_bits, err);
		if (ret < 0)
			return ret;
		ret = qcow2_get_refcount(q, j, &rc, err);
		if (ret < 0)
			return ret;
		if (rc || qcow2_cluster_reserved(q, j)) {
			if (j == q->free_hint)
				q->free_hint = j + 1;
			i = j + 1;
			goto restart;
		}
	}
	ret = qcow2_update_refcount(q, i << q->cluster_bits, n, 1, err);
	if (ret < 0)
		return ret;
	if (q->free_hint == i)
		q->free_hint = i + n;
	if (q->check_refs)
		for (uint64_t j = i; j < i + n && j < q->check_nclusters; j++)
			q->check_refs[j]++;
	qcow2_note_end(q, (i + n) << q->cluster_bits);
	return (int64_t)(i << q->cluster_bits);
}

/* Space for compressed data: several compressed clusters share a host
 * cluster, whose refcount counts them (qcow2.txt "Compressed Clusters"). */
int64_t qcow2_alloc_bytes(struct qcow2 *q, uint64_t size, struct err *err)
{
	uint64_t in = q->comp_off & (q->cluster_size - 1);
	int64_t off;
	int ret;

	if (q->comp_off && in && in + size <= q->cluster_size) {
		off = (int64_t)q->comp_off;
		ret = qcow2_update_refcount(q, q->comp_off, 1, 1, err);
		if (ret < 0)
			return ret;
	} else {
		off = qcow2_alloc_clusters(q, 1, err);
		if (off < 0)
			return off;
	}
	q->comp_off = (uint64_t)off + size;
	if (!(q->comp_off & (q->cluster_size - 1)))
		q->comp_off = 0;
	return off;
}

int qcow2_apply_frees(struct qcow2 *q, struct err *err)
{
	int ret = 0;

	for (int i = 0; i < q->nfrees; i++) {
		int r = qcow2_update_refcount(q, q->frees[i].off, q->frees[i].n, -1, err);

		if (r < 0 && !ret)
			ret = r; /* keep going: a bad entry must not block the others */
	}
	q->nfrees = 0;
	return ret;
}

/* Decrements must not reach the disk before the metadata that stopped
 * referencing the cluster, or a crash could leave a reference with a zero
 * refcount: they wait here until the next L2 write-back. */
int qcow2_defer_free(struct qcow2 *q, uint64_t off, uint64_t n, struct err *err)
{
	if (q->nfrees == q->frees_cap) {
		if (q->nfrees >= 4096) {
			int ret = qcow2_flush_all(q, err);

			if (ret < 0)
				return ret;
		} else {
			int cap = q->frees_cap ? q->frees_cap * 2 : 64;
			struct qcow2_free *f = realloc(q->frees, sizeof(*f) * (size_t)cap);

			if (!f)
				return err_errno(err, ENOMEM, "free list");
			q->frees = f, q->frees_cap = cap;
		}
	}
	q->frees[q->nfrees].off = off;
	q->frees[q->nfrees].n = n;
	q->nfrees++;
	return 0;
}

int qcow2_free_l2_entry(struct qcow2 *q, uint64_t entry, bool defer, struct err *err)
{
	uint64_t off, n;

	switch (qcow2_entry_type(q, entry)) {
	case QCOW2_C_COMPRESSED: {
		uint64_t len;

		qcow2_compressed_range(q, entry, &off, &len);
		uint64_t first = off >> q->cluster_bits, last = (off + len - 1) >> q->cluster_bits;

		off = first << q->cluster_bits;
		n = last - first + 1;
		break;
	}
	case QCOW2_C_NORMAL:
	case QCOW2_C_ZERO:
		off = entry & QCOW2_L2E_OFFSET_MASK;
		n = 1;
		if (!off)
			return 0;
		break;
	default:
		return 0;
	}
	if (defer)
		return qcow2_defer_free(q, off, n, err);
	return qcow2_update_refcount(q, off, n, -1, err);
}
