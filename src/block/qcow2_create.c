/* qcow2 image creation, resizing and backing-file changes. */
#include "block/qcow2_int.h"

#include <errno.h>
#include <stdlib.h>

int qcow2_create(struct block_file *f, const struct block_create_opts *o, struct err *err)
{
	struct qcow2 q = { 0 };
	uint64_t cs = o->cluster_size ? o->cluster_size : 65536;
	int rbits = o->refcount_bits ? o->refcount_bits : 16;
	int ret;

	if (cs < 512 || cs > (2u << 20) || (cs & (cs - 1)))
		return err_set(err, "cluster size must be a power of two between 512 and 2M");
	q.version = o->version ? (uint32_t)o->version : 3;
	if (q.version != 2 && q.version != 3)
		return err_set(err, "unsupported qcow2 version %d", o->version);
	if (rbits < 1 || rbits > 64 || (rbits & (rbits - 1)))
		return err_set(err, "refcount bits must be a power of two up to 64");
	if (q.version == 2 && (rbits != 16 || o->lazy_refcounts))
		return err_set(err, "compat=0.10 supports neither refcount_bits other than 16 nor "
				    "lazy refcounts");
	if (o->compression && strcmp(o->compression, "zlib") && strcmp(o->compression, "zstd"))
		return err_set(err, "unknown compression type '%s'", o->compression);
	bool zstd = o->compression && !strcmp(o->compression, "zstd");

	if (zstd && q.version == 2)
		return err_set(err, "compression_type=zstd needs compat=1.1");
	if (o->backing && strlen(o->backing) > QCOW2_MAX_BACKING_NAME)
		return err_set(err, "backing file name too long");
	q.file = f;
	q.cluster_bits = (uint32_t)__builtin_ctzll(cs);
	q.cluster_size = cs;
	q.l2_bits = q.cluster_bits - 3;
	q.refcount_order = (uint32_t)__builtin_ctz((unsigned)rbits);
	q.rb_bits = q.cluster_bits + 3 - q.refcount_order;
	q.size = o->size;
	if (q.size > (1ULL << 62))
		return err_set(err, "image size too large");
	uint64_t cover = cs << q.l2_bits;

	q.l1_size = (uint32_t)((q.size + cover - 1) / cover);
	if ((uint64_t)q.l1_size * 8 > (32u << 20))
		return err_set(err, "image size too large for cluster size %llu",
			       (unsigned long long)cs);
	if (!q.l1_size)
		q.l1_size = 1;
	uint64_t l1_clusters = ((uint64_t)q.l1_size * 8 + cs - 1) / cs, meta = 3 + l1_clusters;

	if (meta > (1ULL << q.rb_bits))
		return err_set(err, "image size too large for cluster size %llu",
			       (unsigned long long)cs);
	q.reftable_offset = cs;
	q.reftable_clusters = 1;
	q.l1_offset = 3 * cs;
	q.compat = o->lazy_refcounts ? QCOW2_COMPAT_LAZY_REFCOUNTS : 0;
	q.compression_type = zstd ? QCOW2_COMPRESSION_ZSTD : QCOW2_COMPRESSION_ZLIB;
	q.incompat = zstd ? QCOW2_INCOMPAT_COMPRESSION : 0;
	q.backing_name = (char *)o->backing;
	q.backing_fmt = (char *)o->backing_fmt;
	ret = f->ops->truncate(f, 0);
	if (ret >= 0)
		ret = qcow2_write_header(&q, err);
	else
		err_errno(err, ret, "'%s'", f->name);
	if (ret < 0)
		return ret;
	uint8_t *buf = calloc(2, cs);

	if (!buf)
		return err_errno(err, ENOMEM, "create");
	put_be64(buf, 2 * cs);
	for (uint64_t i = 0; i < meta; i++) {
		uint64_t bits = (uint64_t)rbits * i;
		uint8_t *rb = buf + cs;

		/* refcount 1 in an entry of rbits bits (LSB first below a byte) */
		if (rbits < 8)
			rb[bits / 8] |= (uint8_t)(1u << (bits % 8));
		else
			rb[bits / 8 + (uint64_t)rbits / 8 - 1] = 1;
	}
	ret = block_file_pwrite(f, cs, buf, 2 * cs);
	free(buf);
	if (ret >= 0)
		ret = f->ops->truncate(f, (3 + l1_clusters) * cs);
	return ret < 0 ? err_errno(err, ret, "'%s': write", f->name) : 0;
}

int qcow2_truncate(struct block_dev *b, uint64_t size, struct err *err)
{
	struct qcow2 *q = b->opaque;
	uint64_t old = q->size, cover = q->cluster_size << q->l2_bits;
	uint8_t v[8];
	int ret;

	if (size == old)
		return 0;
	if (size < old && q->nb_snapshots)
		return err_set(err, "'%s': cannot shrink an image with internal snapshots",
			       b->filename);
	if (size > (1ULL << 62))
		return err_set(err, "image size too large");
	if (size < old) {
		uint64_t a = qcow2_align_up(q, size);

		ret = a < old ? qcow2_zero_clusters(q, a, qcow2_align_up(q, old) - a,
						    QCOW2_DEALLOCATE, err)
			      : 0;
		if (ret < 0)
			return ret;
	} else {
		ret = qcow2_grow_l1(q, (size + cover - 1) / cover, err);
		if (ret < 0)
			return ret;
	}
	ret = qcow2_flush_all(q, err);
	if (ret >= 0)
		ret = qcow2_barrier(q, err);
	if (ret < 0)
		return ret;
	put_be64(v, size);
	ret = qcow2_header_write_field(q, 24, v, 8, err);
	if (ret < 0)
		return ret;
	q->size = b->length = size;
	/* The part of the old last cluster past the old end must read as zeros. */
	if (size > old && (old & (q->cluster_size - 1))) {
		uint64_t e = qcow2_align_up(q, old);

		ret = qcow2_write_zeroes(b, old, (e < size ? e : size) - old, 0, err);
	}
	if (ret >= 0)
		ret = qcow2_flush_all(q, err);
	return ret;
}

int qcow2_set_backing(struct block_dev *b, const char *name, const char *fmt, struct err *err)
{
	struct qcow2 *q = b->opaque;
	char *n = name && name[0] ? strdup(name) : NULL;
	char *f = fmt && fmt[0] ? strdup(fmt) : NULL;
	int ret;

	if ((name && name[0] && !n) || (fmt && fmt[0] && !f)) {
		free(n);
		free(f);
		return err_errno(err, ENOMEM, "rebase");
	}
	if (n && strlen(n) > QCOW2_MAX_BACKING_NAME) {
		free(n);
		free(f);
		return err_set(err, "backing file name too long");
	}
	ret = qcow2_flush_all(q, err);
	if (ret >= 0)
		ret = qcow2_barrier(q, err);
	if (ret < 0) {
		free(n);
		free(f);
		return ret;
	}
	free(q->backing_name);
	free(q->backing_fmt);
	q->backing_name = n;
	q->backing_fmt = f;
	ret = qcow2_write_header(q, err);
	if (ret >= 0)
		ret = qcow2_barrier(q, err);
	return ret;
}
