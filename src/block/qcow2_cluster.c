/* qcow2 data path (qcow2.txt "Cluster mapping"): guest offset -> L1 -> L2 ->
 * host cluster; reads through holes, zero and compressed clusters and the
 * backing file; allocating writes with copy-on-write; zeroing and discard. */
#include "block/qcow2_int.h"

#include <errno.h>
#include <stdlib.h>

#define QCOW2_MAX_RUN 256 /* clusters handled by one allocating step */

enum qcow2_ctype qcow2_entry_type(struct qcow2 *q, uint64_t e)
{
	if (e & QCOW2_OFLAG_COMPRESSED)
		return QCOW2_C_COMPRESSED;
	if (q->version >= 3 && (e & QCOW2_OFLAG_ZERO))
		return QCOW2_C_ZERO;
	if (e & QCOW2_L2E_OFFSET_MASK)
		return QCOW2_C_NORMAL;
	return QCOW2_C_UNALLOC;
}

/* Compressed entry: bits 0..x-1 host byte offset, x..61 the number of extra
 * 512-byte sectors, x = 62 - (cluster_bits - 8). */
void qcow2_compressed_range(struct qcow2 *q, uint64_t e, uint64_t *off, uint64_t *len)
{
	unsigned x = 62 - (q->cluster_bits - 8);
	uint64_t nsect = (e >> x) & ((1ULL << (q->cluster_bits - 8)) - 1);

	*off = e & ((1ULL << x) - 1);
	*len = (nsect + 1) * 512 - (*off & 511);
}

static uint64_t qcow2_make_compressed(struct qcow2 *q, uint64_t off, uint64_t len)
{
	unsigned x = 62 - (q->cluster_bits - 8);
	uint64_t nsect = ((off + len - 1) >> 9) - (off >> 9);

	return QCOW2_OFLAG_COMPRESSED | (nsect << x) | off;
}

int qcow2_check_host_range(struct qcow2 *q, uint64_t off, uint64_t len, const char *what,
			   struct err *err)
{
	if (off & (q->cluster_size - 1) || off < q->cluster_size || off >= (1ULL << 56))
		return err_errno(err, EIO,
				 "corrupt image: %s at %llu is misaligned or in the header", what,
				 (unsigned long long)off);
	if (off + len > qcow2_align_up(q, q->file_end))
		return err_errno(err, EIO,
				 "corrupt image: %s at %llu is beyond the end of the file", what,
				 (unsigned long long)off);
	return 0;
}

/* The L2 table for l1_idx, or *l2 NULL when there is none. */
static int qcow2_get_l2(struct qcow2 *q, uint64_t l1_idx, uint8_t **l2, uint64_t *l2_off,
			struct err *err)
{
	uint64_t off;
	int ret;

	*l2 = NULL;
	if (l1_idx >= q->l1_size)
		return 0;
	off = q->l1[l1_idx] & QCOW2_L1E_OFFSET_MASK;
	if (l2_off)
		*l2_off = off;
	if (!off)
		return 0;
	ret = qcow2_check_host_range(q, off, q->cluster_size, "L2 table", err);
	if (ret < 0)
		return ret;
	if (qcow2_overlaps_metadata(q, off, q->cluster_size))
		return err_errno(err, EIO, "corrupt image: L2 table at %llu overlaps metadata",
				 (unsigned long long)off);
	return qcow2_cache_get(q, &q->l2c, off, false, l2, err);
}

/* Entry of the guest cluster containing off and the number of following
 * clusters (within the same L2 table, at most max_clusters) with the same
 * type whose host clusters are contiguous. */
static int qcow2_lookup(struct qcow2 *q, uint64_t off, uint64_t max_clusters, uint64_t *entry,
			uint64_t *run, struct err *err)
{
	uint64_t l2_n = 1ULL << q->l2_bits;
	uint64_t l1_idx = off >> (q->cluster_bits + q->l2_bits);
	uint64_t l2_idx = (off >> q->cluster_bits) & (l2_n - 1);
	uint8_t *l2;
	int ret;

	if (max_clusters > l2_n - l2_idx)
		max_clusters = l2_n - l2_idx;
	ret = qcow2_get_l2(q, l1_idx, &l2, NULL, err);
	if (ret < 0)
		return ret;
	if (!l2) {
		*entry = 0;
		*run = max_clusters;
		return 0;
	}
	uint64_t e = be64_at(l2 + l2_idx * 8), n = 1;
	enum qcow2_ctype t = qcow2_entry_type(q, e);

	if (t != QCOW2_C_COMPRESSED) {
		for (; n < max_clusters; n++) {
			uint64_t e2 = be64_at(l2 + (l2_idx + n) * 8);

			if (qcow2_entry_type(q, e2) != t)
				break;
			if (t == QCOW2_C_NORMAL &&
			    ((e2 & ~QCOW2_L2E_OFFSET_MASK) != (e & ~QCOW2_L2E_OFFSET_MASK) ||
			     (e2 & QCOW2_L2E_OFFSET_MASK) !=
				 (e & QCOW2_L2E_OFFSET_MASK) + (n << q->cluster_bits)))
				break;
		}
	}
	*entry = e;
	*run = n;
	return 0;
}

static int qcow2_read_compressed(struct qcow2 *q, uint64_t e, struct err *err)
{
	uint64_t off, len;
	int ret;

	qcow2_compressed_range(q, e, &off, &len);
	if (off == q->dbuf_off)
		return 0;
	if (off < q->cluster_size || off >= q->file_end)
		return err_errno(err, EIO,
				 "corrupt image: compressed cluster at %llu is outside "
				 "the file",
				 (unsigned long long)off);
	if (len > q->file_end - off)
		len = q->file_end - off; /* the last sector may be cut short */
	ret = block_file_pread(q->file, off, q->cbuf, len);
	if (ret < 0)
		return err_errno(err, ret, "read of compressed cluster");
	q->dbuf_off = ~0ULL;
	if (qcow2_decompress(q, q->cbuf, len, q->dbuf, q->cluster_size) < 0)
		return err_errno(err, EIO,
				 "corrupt image: compressed cluster at %llu does not "
				 "decompress",
				 (unsigned long long)off);
	q->dbuf_off = off;
	return 0;
}

static int qcow2_read_backing(struct qcow2 *q, uint64_t off, const struct iovec *iov, int iovcnt,
			      uint64_t iov_off, uint64_t len, struct err *err)
{
	struct block_dev *bk = q->b->backing;
	uint64_t blen = bk ? block_length(bk) : 0, n = 0;

	if (off < blen) {
		n = blen - off < len ? blen - off : len;
		struct iovec *v = malloc(sizeof(*v) * (size_t)iovcnt);

		if (!v)
			return err_errno(err, ENOMEM, "read");
		int cnt = iov_slice(iov, iovcnt, iov_off, n, v);
		int ret = block_read(bk, off, v, cnt, err);

		free(v);
		if (ret < 0) {
			err_prefix(err, "backing file");
			return ret;
		}
	}
	if (n < len)
		iov_memset(iov, iovcnt, iov_off + n, 0, len - n);
	return 0;
}

int qcow2_read(struct block_dev *b, uint64_t off, const struct iovec *iov, int iovcnt, uint64_t len,
	       struct err *err)
{
	struct qcow2 *q = b->opaque;
	uint64_t done = 0;
	int ret = 0;
	struct iovec *v = malloc(sizeof(*v) * (size_t)iovcnt);

	if (!v)
		return err_errno(err, ENOMEM, "read");
	while (done < len) {
		uint64_t cur = off + done, in = cur & (q->cluster_size - 1);
		uint64_t want = (in + (len - done) + q->cluster_size - 1) >> q->cluster_bits, e,
			 run;

		ret = qcow2_lookup(q, cur, want, &e, &run, err);
		if (ret < 0)
			break;
		uint64_t bytes = (run << q->cluster_bits) - in;

		if (bytes > len - done)
			bytes = len - done;
		switch (qcow2_entry_type(q, e)) {
		case QCOW2_C_UNALLOC:
			ret = qcow2_read_backing(q, cur, iov, iovcnt, done, bytes, err);
			break;
		case QCOW2_C_ZERO:
			iov_memset(iov, iovcnt, done, 0, bytes);
			break;
		case QCOW2_C_NORMAL: {
			uint64_t host = e & QCOW2_L2E_OFFSET_MASK;

			ret = qcow2_check_host_range(q, host, run << q->cluster_bits,
						     "data cluster", err);
			if (ret < 0)
				break;
			int cnt = iov_slice(iov, iovcnt, done, bytes, v);

			ret = q->file->ops->preadv(q->file, host + in, v, cnt);
			if (ret < 0)
				err_errno(err, ret, "read");
			break;
		}
		case QCOW2_C_COMPRESSED:
			ret = qcow2_read_compressed(q, e, err);
			if (ret >= 0)
				iov_from_buf(iov, iovcnt, done, q->dbuf + in, bytes);
			break;
		}
		if (ret < 0)
			break;
		done += bytes;
	}
	free(v);
	return ret;
}

/* Old content of [from, from+len) of guest cluster at gcl as described by
 * entry e (for the untouched part of a copy-on-write). */
static int qcow2_read_old(struct qcow2 *q, uint64_t gcl, uint64_t e, uint64_t from, uint64_t len,
			  uint8_t *buf, struct err *err)
{
	struct iovec v = {buf, len};

	switch (qcow2_entry_type(q, e)) {
	case QCOW2_C_UNALLOC:
		return qcow2_read_backing(q, gcl + from, &v, 1, 0, len, err);
	case QCOW2_C_ZERO:
		memset(buf, 0, len);
		return 0;
	case QCOW2_C_NORMAL: {
		uint64_t host = e & QCOW2_L2E_OFFSET_MASK;
		int ret = qcow2_check_host_range(q, host, q->cluster_size, "data cluster", err);

		if (ret < 0)
			return ret;
		ret = block_file_pread(q->file, host + from, buf, len);
		return ret < 0 ? err_errno(err, ret, "read") : 0;
	}
	default: {
		int ret = qcow2_read_compressed(q, e, err);

		if (ret >= 0)
			memcpy(buf, q->dbuf + from, len);
		return ret;
	}
	}
}

/* An L2 table for l1_idx that belongs to the active image alone (COPIED),
 * allocating or copying one if needed. The new table is on disk, with its
 * refcount, before the L1 entry points to it. */
static int qcow2_l2_for_write(struct qcow2 *q, uint64_t l1_idx, uint64_t *l2_off, struct err *err)
{
	uint64_t e = q->l1[l1_idx], old = e & QCOW2_L1E_OFFSET_MASK;
	uint8_t *tmp = NULL, *l2;
	int64_t nw;
	int ret;

	if (old && (e & QCOW2_OFLAG_COPIED)) {
		ret = qcow2_check_host_range(q, old, q->cluster_size, "L2 table", err);
		if (ret >= 0 && qcow2_overlaps_metadata(q, old, q->cluster_size))
			ret = err_errno(err, EIO,
					"corrupt image: L2 table at %llu overlaps "
					"metadata",
					(unsigned long long)old);
		*l2_off = old;
		return ret;
	}
	if (old) {
		tmp = malloc(q->cluster_size);
		if (!tmp)
			return err_errno(err, ENOMEM, "L2 table");
		ret = qcow2_get_l2(q, l1_idx, &l2, NULL, err);
		if (ret < 0) {
			free(tmp);
			return ret;
		}
		memcpy(tmp, l2, q->cluster_size);
	}
	nw = qcow2_alloc_clusters(q, 1, err);
	if (nw < 0) {
		free(tmp);
		return (int)nw;
	}
	ret = qcow2_cache_get(q, &q->l2c, (uint64_t)nw, true, &l2, err);
	if (ret >= 0 && tmp)
		memcpy(l2, tmp, q->cluster_size);
	free(tmp);
	if (ret >= 0)
		ret = qcow2_cache_write_back(q, &q->rbc, err);
	if (ret >= 0)
		ret = qcow2_barrier(q, err);
	if (ret >= 0) {
		ret = block_file_pwrite(q->file, (uint64_t)nw, l2, q->cluster_size);
		if (ret < 0)
			err_errno(err, ret, "L2 table write");
	}
	if (ret >= 0)
		ret = qcow2_barrier(q, err);
	if (ret < 0)
		return ret;
	q->l1[l1_idx] = (uint64_t)nw | QCOW2_OFLAG_COPIED;
	ret = qcow2_write_l1_entry(q, (uint32_t)l1_idx, err);
	if (ret < 0)
		return ret;
	if (old)
		ret = qcow2_defer_free(q, old, 1, err);
	*l2_off = (uint64_t)nw;
	return ret;
}

/* Point n guest clusters starting at guest offset gcl at new entries,
 * releasing what they pointed to once the new entries are on disk. */
static int qcow2_set_entries(struct qcow2 *q, uint64_t gcl, uint64_t n, const uint64_t *nent,
			     struct err *err)
{
	uint64_t l1_idx = gcl >> (q->cluster_bits + q->l2_bits);
	uint64_t l2_idx = (gcl >> q->cluster_bits) & ((1ULL << q->l2_bits) - 1);
	uint64_t l2_off = 0, old[QCOW2_MAX_RUN];
	uint8_t *l2;
	int ret = qcow2_l2_for_write(q, l1_idx, &l2_off, err);

	if (ret < 0)
		return ret;
	ret = qcow2_cache_get(q, &q->l2c, l2_off, false, &l2, err);
	if (ret < 0)
		return ret;
	for (uint64_t i = 0; i < n; i++) {
		old[i] = be64_at(l2 + (l2_idx + i) * 8);
		put_be64(l2 + (l2_idx + i) * 8, nent[i]);
	}
	qcow2_cache_dirty(&q->l2c, l2_off);
	for (uint64_t i = 0; i < n; i++) {
		if (old[i] == nent[i])
			continue;
		ret = qcow2_free_l2_entry(q, old[i], true, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* Write [off, off+len) (< one L2 table's worth) into newly allocated
 * clusters, completing partial first/last clusters from the old content. */
static int qcow2_write_alloc(struct qcow2 *q, uint64_t off, const struct iovec *iov, int iovcnt,
			     uint64_t iov_off, uint64_t len, uint64_t n, const uint64_t *oldent,
			     struct err *err)
{
	uint64_t gcl = off & ~(q->cluster_size - 1), in = off - gcl;
	uint64_t end_in = (in + len) & (q->cluster_size - 1);
	uint64_t nent[QCOW2_MAX_RUN];
	uint8_t *head = NULL, *tail = NULL;
	int64_t host;
	int ret, cnt;
	struct iovec *v = malloc(sizeof(*v) * (size_t)(iovcnt + 2));

	if (!v)
		return err_errno(err, ENOMEM, "write");
	uint64_t old_end = q->file_end;

	host = qcow2_alloc_clusters(q, n, err);
	if (host < 0) {
		free(v);
		return (int)host;
	}
	/* Clusters past the old end of the file read as zeros already. */
	bool fresh = (uint64_t)host >= qcow2_align_up(q, old_end);

	if (in) {
		head = malloc(in);
		ret = head ? qcow2_read_old(q, gcl, oldent[0], 0, in, head, err)
			   : err_errno(err, ENOMEM, "write");
		if (ret < 0)
			goto out;
		if (fresh && buf_is_zero(head, in)) {
			free(head);
			head = NULL;
		}
	}
	if (end_in) {
		uint64_t lcl = gcl + ((n - 1) << q->cluster_bits);

		tail = malloc(q->cluster_size - end_in);
		ret = tail ? qcow2_read_old(q, lcl, oldent[n - 1], end_in, q->cluster_size - end_in,
					    tail, err)
			   : err_errno(err, ENOMEM, "write");
		if (ret < 0)
			goto out;
		if (fresh && buf_is_zero(tail, q->cluster_size - end_in)) {
			free(tail);
			tail = NULL;
		}
	}
	cnt = 0;
	if (head)
		v[cnt].iov_base = head, v[cnt++].iov_len = in;
	cnt += iov_slice(iov, iovcnt, iov_off, len, v + cnt);
	if (tail)
		v[cnt].iov_base = tail, v[cnt++].iov_len = q->cluster_size - end_in;
	ret = q->file->ops->pwritev(q->file, (uint64_t)host + (head ? 0 : in), v, cnt);
	if (ret < 0) {
		err_errno(err, ret, "write");
		goto out;
	}
	if (fresh && !tail && end_in) {
		/* Keep the whole cluster inside the file. */
		uint64_t e = (uint64_t)host + (n << q->cluster_bits);
		int64_t flen = block_file_length(q->file);

		if (flen >= 0 && (uint64_t)flen < e) {
			ret = q->file->ops->truncate(q->file, e);
			if (ret < 0) {
				err_errno(err, ret, "write");
				goto out;
			}
		}
	}
	for (uint64_t i = 0; i < n; i++)
		nent[i] = ((uint64_t)host + (i << q->cluster_bits)) | QCOW2_OFLAG_COPIED;
	ret = qcow2_set_entries(q, gcl, n, nent, err);
out:
	if (ret < 0 && host >= 0 && !q->file->readonly) {
		struct err e2 = {{0}};

		qcow2_update_refcount(q, (uint64_t)host, n, -1, &e2);
	}
	free(head);
	free(tail);
	free(v);
	return ret;
}

int qcow2_write(struct block_dev *b, uint64_t off, const struct iovec *iov, int iovcnt,
		uint64_t len, struct err *err)
{
	struct qcow2 *q = b->opaque;
	uint64_t done = 0;
	int ret = qcow2_mark_dirty(q, err);
	struct iovec *v = malloc(sizeof(*v) * (size_t)iovcnt);

	if (!v)
		return err_errno(err, ENOMEM, "write");
	while (ret >= 0 && done < len) {
		uint64_t cur = off + done, in = cur & (q->cluster_size - 1);
		uint64_t want = (in + (len - done) + q->cluster_size - 1) >> q->cluster_bits, e,
			 run;

		if (want > QCOW2_MAX_RUN)
			want = QCOW2_MAX_RUN;
		ret = qcow2_lookup(q, cur, want, &e, &run, err);
		if (ret < 0)
			break;
		uint64_t bytes = (run << q->cluster_bits) - in;

		if (bytes > len - done)
			bytes = len - done;
		if (qcow2_entry_type(q, e) == QCOW2_C_NORMAL && (e & QCOW2_OFLAG_COPIED)) {
			uint64_t host = e & QCOW2_L2E_OFFSET_MASK;

			ret = qcow2_check_host_range(q, host, run << q->cluster_bits,
						     "data cluster", err);
			if (ret >= 0 && qcow2_overlaps_metadata(q, host, run << q->cluster_bits))
				ret = err_errno(err, EIO,
						"corrupt image: data cluster at %llu "
						"overlaps metadata",
						(unsigned long long)host);
			if (ret < 0)
				break;
			int cnt = iov_slice(iov, iovcnt, done, bytes, v);

			ret = q->file->ops->pwritev(q->file, host + in, v, cnt);
			if (ret < 0)
				err_errno(err, ret, "write");
		} else {
			/* Gather the following clusters that also need allocating. */
			uint64_t old[QCOW2_MAX_RUN], n = 0;

			while (n < want) {
				uint64_t e2, r2;
				uint64_t g =
				    (cur & ~(q->cluster_size - 1)) + (n << q->cluster_bits);

				if (n && !(g & ((q->cluster_size << q->l2_bits) - 1)))
					break; /* next L2 table */
				ret = qcow2_lookup(q, g, 1, &e2, &r2, err);
				if (ret < 0)
					break;
				if (qcow2_entry_type(q, e2) == QCOW2_C_NORMAL &&
				    (e2 & QCOW2_OFLAG_COPIED))
					break;
				old[n++] = e2;
			}
			if (ret < 0)
				break;
			bytes = (n << q->cluster_bits) - in;
			if (bytes > len - done)
				bytes = len - done;
			ret = qcow2_write_alloc(q, cur, iov, iovcnt, done, bytes, n, old, err);
		}
		done += bytes;
	}
	free(v);
	return ret;
}

/* Make whole clusters read as zeros (zero) or as the backing file/zeros
 * (discard), releasing their storage. */
int qcow2_zero_clusters(struct qcow2 *q, uint64_t off, uint64_t len, int mode, struct err *err)
{
	bool has_backing = q->b->backing != NULL, discard = mode == QCOW2_DISCARD;
	uint64_t want_e;
	int ret = qcow2_mark_dirty(q, err);

	if (mode == QCOW2_DEALLOCATE)
		has_backing = false;
	if (discard)
		want_e = has_backing ? QCOW2_OFLAG_ZERO : 0;
	else
		want_e = (q->version >= 3 && has_backing) ? QCOW2_OFLAG_ZERO : 0;
	if (discard && has_backing && q->version < 3)
		return 0; /* nothing we may do: discard is advisory */
	while (ret >= 0 && len) {
		uint64_t e, run, nent[QCOW2_MAX_RUN];
		uint64_t want = len >> q->cluster_bits;

		if (want > QCOW2_MAX_RUN)
			want = QCOW2_MAX_RUN;
		ret = qcow2_lookup(q, off, want, &e, &run, err);
		if (ret < 0)
			break;
		enum qcow2_ctype t = qcow2_entry_type(q, e);
		bool same = (t == QCOW2_C_UNALLOC && !has_backing) ||
			    (t == QCOW2_C_ZERO && !(e & QCOW2_L2E_OFFSET_MASK) && want_e);

		if (t == QCOW2_C_COMPRESSED)
			run = 1;
		if (!same) {
			for (uint64_t i = 0; i < run; i++)
				nent[i] = want_e;
			ret = qcow2_set_entries(q, off, run, nent, err);
		}
		off += run << q->cluster_bits;
		len -= run << q->cluster_bits;
	}
	return ret;
}

int qcow2_discard(struct block_dev *b, uint64_t off, uint64_t len, struct err *err)
{
	struct qcow2 *q = b->opaque;
	uint64_t a = qcow2_align_up(q, off), e = (off + len) & ~(q->cluster_size - 1);

	if (off + len == q->size)
		e = qcow2_align_up(q, off + len);
	if (e <= a)
		return 0;
	return qcow2_zero_clusters(q, a, e - a, QCOW2_DISCARD, err);
}

static int qcow2_write_zero_buf(struct block_dev *b, uint64_t off, uint64_t len, struct err *err)
{
	struct qcow2 *q = b->opaque;
	uint8_t *z = calloc(1, q->cluster_size);
	int ret = 0;

	if (!z)
		return err_errno(err, ENOMEM, "write zeroes");
	while (len && ret >= 0) {
		uint64_t n = len < q->cluster_size ? len : q->cluster_size;
		struct iovec v = {z, n};

		ret = qcow2_write(b, off, &v, 1, n, err);
		off += n, len -= n;
	}
	free(z);
	return ret;
}

int qcow2_write_zeroes(struct block_dev *b, uint64_t off, uint64_t len, unsigned flags,
		       struct err *err)
{
	struct qcow2 *q = b->opaque;
	uint64_t a = qcow2_align_up(q, off), e = (off + len) & ~(q->cluster_size - 1);
	int ret;

	if (off + len == q->size)
		e = qcow2_align_up(q, off + len); /* the tail cluster past the disk end */
	/* v2 cannot express zeros over a backing file: write them. */
	if (e <= a || (q->version < 3 && b->backing))
		return qcow2_write_zero_buf(b, off, len, err);
	if (a > off) {
		ret = qcow2_write_zero_buf(b, off, a - off, err);
		if (ret < 0)
			return ret;
	}
	ret = qcow2_zero_clusters(q, a, e - a, QCOW2_ZERO, err);
	if (ret >= 0 && off + len > e && e < q->size)
		ret = qcow2_write_zero_buf(b, e, off + len - e, err);
	return ret;
}

int qcow2_get_status(struct block_dev *b, uint64_t off, uint64_t len, uint64_t *pnum,
		     struct block_status *st, struct err *err)
{
	struct qcow2 *q = b->opaque;
	uint64_t in = off & (q->cluster_size - 1), e, run;
	uint64_t want = (in + len + q->cluster_size - 1) >> q->cluster_bits;
	int ret = qcow2_lookup(q, off, want, &e, &run, err);

	if (ret < 0)
		return ret;
	*pnum = (run << q->cluster_bits) - in;
	if (*pnum > len)
		*pnum = len;
	st->file = b->filename;
	switch (qcow2_entry_type(q, e)) {
	case QCOW2_C_UNALLOC:
		if (b->backing && off < block_length(b->backing)) {
			uint64_t n = *pnum, bl = block_length(b->backing) - off;

			ret = block_get_status(b->backing, off, n < bl ? n : bl, pnum, st, err);
			st->depth++;
			return ret;
		}
		st->zero = true;
		st->depth = b->backing ? 1 : 0;
		break;
	case QCOW2_C_ZERO:
		st->zero = st->present = true;
		break;
	case QCOW2_C_NORMAL:
		st->data = st->present = true;
		st->has_offset = true;
		st->host_off = (e & QCOW2_L2E_OFFSET_MASK) + in;
		break;
	case QCOW2_C_COMPRESSED:
		st->data = st->present = st->compressed = true;
		break;
	}
	return 0;
}

int qcow2_write_compressed(struct block_dev *b, uint64_t off, const void *buf, uint64_t len,
			   struct err *err)
{
	struct qcow2 *q = b->opaque;
	uint8_t *src = (uint8_t *)buf, *pad = NULL;
	int64_t clen, host;
	int ret;

	if (off & (q->cluster_size - 1) || len > q->cluster_size ||
	    (len < q->cluster_size && off + len != q->size))
		return err_errno(err, EINVAL, "compressed writes take whole clusters");
	if (len < q->cluster_size) {
		pad = calloc(1, q->cluster_size);
		if (!pad)
			return err_errno(err, ENOMEM, "compress");
		memcpy(pad, buf, len);
		src = pad;
	}
	uint8_t *out = malloc(q->cluster_size);

	clen = out ? qcow2_compress(q, src, q->cluster_size, out, q->cluster_size - 512) : -ENOMEM;
	if (clen < 0) {
		ret = err_errno(err, (int)clen, "compress");
		goto done;
	}
	pthread_rwlock_wrlock(&b->lock);
	ret = qcow2_mark_dirty(q, err);
	if (ret < 0)
		goto unlock;
	if (clen == 0) { /* incompressible: store it plainly */
		struct iovec v = {(void *)buf, len};

		ret = qcow2_write(b, off, &v, 1, len, err);
		goto unlock;
	}
	host = qcow2_alloc_bytes(q, (uint64_t)clen, err);
	if (host < 0) {
		ret = (int)host;
		goto unlock;
	}
	ret = block_file_pwrite(q->file, (uint64_t)host, out, (uint64_t)clen);
	if (ret < 0) {
		ret = err_errno(err, ret, "write");
		goto unlock;
	}
	uint64_t ent = qcow2_make_compressed(q, (uint64_t)host, (uint64_t)clen);

	ret = qcow2_set_entries(q, off, 1, &ent, err);
unlock:
	pthread_rwlock_unlock(&b->lock);
done:
	free(out);
	free(pad);
	return ret;
}
