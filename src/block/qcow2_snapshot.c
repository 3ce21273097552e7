/* Internal snapshots (qcow2.txt "Snapshots"): the snapshot table, and
 * create/apply/delete by refcount updates over whole L1/L2 trees.
 *
 * A cluster's refcount counts the L1 trees (active and each snapshot) that
 * reach it, so sharing an L2 table shares its data clusters' counts too.
 * Increments reach the disk before the table that needs them; a snapshot is
 * removed from the table before its clusters are released. */
#include "block/qcow2_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define QCOW2_MAX_SNAPSHOT_EXTRA 1024
#define QCOW2_MAX_SNAPSHOT_TABLE (64u << 20)

void qcow2_free_snapshots(struct qcow2 *q)
{
	for (uint32_t i = 0; q->snaps && i < q->nb_snapshots; i++) {
		free(q->snaps[i].id);
		free(q->snaps[i].name);
		free(q->snaps[i].extra);
	}
	free(q->snaps);
	q->snaps = NULL;
}

int qcow2_read_snapshots(struct qcow2 *q, struct err *err)
{
	uint64_t p = q->snapshots_offset, flen = q->file_end;
	int ret;

	q->snapshots_size = 0;
	if (!q->nb_snapshots)
		return 0;
	/* Each entry takes at least 40 bytes of the file: bounded by its size. */
	if ((uint64_t)q->nb_snapshots * 40 > flen - q->snapshots_offset)
		return err_set(err, "snapshot table (%u entries) does not fit in the file",
			       q->nb_snapshots);
	q->snaps = calloc(q->nb_snapshots, sizeof(*q->snaps));
	if (!q->snaps)
		return err_errno(err, ENOMEM, "snapshot table");
	for (uint32_t i = 0; i < q->nb_snapshots; i++) {
		struct qcow2_snapshot *s = &q->snaps[i];
		uint8_t h[40];

		if (p + 40 > flen || p - q->snapshots_offset > QCOW2_MAX_SNAPSHOT_TABLE)
			goto bad;
		ret = block_file_pread(q->file, p, h, 40);
		if (ret < 0)
			return err_errno(err, ret, "snapshot table read");
		s->l1_offset = be64_at(h);
		s->l1_size = be32_at(h + 8);
		uint16_t idl = be16_at(h + 12), nml = be16_at(h + 14);

		s->date_sec = be32_at(h + 16);
		s->date_nsec = be32_at(h + 20);
		s->vm_clock_nsec = be64_at(h + 24);
		s->vm_state_size = be32_at(h + 32);
		s->extra_size = be32_at(h + 36);
		if (s->extra_size > QCOW2_MAX_SNAPSHOT_EXTRA)
			return err_set(err, "snapshot %u: extra data too large", i);
		uint64_t need = 40ULL + s->extra_size + idl + nml;

		if (p + need > flen)
			goto bad;
		s->extra = malloc(s->extra_size + 1);
		s->id = calloc(1, idl + 1u);
		s->name = calloc(1, nml + 1u);
		if (!s->extra || !s->id || !s->name)
			return err_errno(err, ENOMEM, "snapshot table");
		if (block_file_pread(q->file, p + 40, s->extra, s->extra_size) < 0 ||
		    block_file_pread(q->file, p + 40 + s->extra_size, s->id, idl) < 0 ||
		    block_file_pread(q->file, p + 40 + s->extra_size + idl, s->name, nml) < 0)
			return err_errno(err, EIO, "snapshot table read");
		s->disk_size = q->size;
		if (s->extra_size >= 8)
			s->vm_state_size = be64_at(s->extra);
		if (s->extra_size >= 16)
			s->disk_size = be64_at(s->extra + 8);
		if (s->extra_size >= 24)
			s->icount = be64_at(s->extra + 16);
		if ((uint64_t)s->l1_size * 8 > (32u << 20) || s->l1_offset % q->cluster_size ||
		    (s->l1_size && (s->l1_offset == 0 || s->l1_offset > flen ||
				    (uint64_t)s->l1_size * 8 > flen - s->l1_offset)))
			return err_set(err,
				       "snapshot '%s': L1 table is outside the file or too "
				       "large",
				       s->name);
		p += (need + 7) & ~7ULL;
	}
	q->snapshots_size = p - q->snapshots_offset;
	return 0;
bad:
	return err_set(err, "snapshot table is truncated");
}

static int qcow2_write_snapshots(struct qcow2 *q, struct qcow2_snapshot *snaps, uint32_t n,
				 struct err *err)
{
	uint64_t size = 0, p = 0;
	int64_t off = 0;
	int ret;

	for (uint32_t i = 0; i < n; i++)
		size +=
		    (40 + snaps[i].extra_size + strlen(snaps[i].id) + strlen(snaps[i].name) + 7) &
		    ~7ULL;
	uint8_t *buf = calloc(1, size ? size : 1);

	if (!buf)
		return err_errno(err, ENOMEM, "snapshot table");
	for (uint32_t i = 0; i < n; i++) {
		struct qcow2_snapshot *s = &snaps[i];
		size_t idl = strlen(s->id), nml = strlen(s->name);

		put_be64(buf + p, s->l1_offset);
		put_be32(buf + p + 8, s->l1_size);
		put_be16(buf + p + 12, (uint16_t)idl);
		put_be16(buf + p + 14, (uint16_t)nml);
		put_be32(buf + p + 16, s->date_sec);
		put_be32(buf + p + 20, s->date_nsec);
		put_be64(buf + p + 24, s->vm_clock_nsec);
		put_be32(buf + p + 32,
			 s->vm_state_size > UINT32_MAX ? 0 : (uint32_t)s->vm_state_size);
		put_be32(buf + p + 36, s->extra_size);
		memcpy(buf + p + 40, s->extra, s->extra_size);
		if (s->extra_size >= 16) {
			put_be64(buf + p + 40, s->vm_state_size);
			put_be64(buf + p + 48, s->disk_size);
		}
		memcpy(buf + p + 40 + s->extra_size, s->id, idl);
		memcpy(buf + p + 40 + s->extra_size + idl, s->name, nml);
		p += (40 + s->extra_size + idl + nml + 7) & ~7ULL;
	}
	if (size) {
		off = qcow2_alloc_clusters(q, qcow2_align_up(q, size) >> q->cluster_bits, err);
		if (off < 0) {
			free(buf);
			return (int)off;
		}
		ret = block_file_pwrite(q->file, (uint64_t)off, buf, size);
		if (ret < 0) {
			free(buf);
			return err_errno(err, ret, "snapshot table write");
		}
	}
	free(buf);
	ret = qcow2_flush_all(q, err);
	if (ret >= 0)
		ret = qcow2_barrier(q, err);
	if (ret < 0)
		return ret;
	uint8_t hv[12];

	put_be32(hv, n);
	put_be64(hv + 4, (uint64_t)off);
	ret = qcow2_header_write_field(q, 60, hv, 12, err);
	if (ret >= 0)
		ret = qcow2_barrier(q, err);
	if (ret < 0)
		return ret;
	uint64_t old_off = q->snapshots_offset, old_size = q->snapshots_size;

	q->snapshots_offset = (uint64_t)off;
	q->snapshots_size = size;
	free(q->snaps);
	q->snaps = snaps; /* ours now */
	q->nb_snapshots = n;
	if (old_size)
		return qcow2_update_refcount(
		    q, old_off, qcow2_align_up(q, old_size) >> q->cluster_bits, -1, err);
	return 0;
}

static int qcow2_entry_refcount(struct qcow2 *q, uint64_t e, int addend, struct err *err)
{
	uint64_t off, len;

	switch (qcow2_entry_type(q, e)) {
	case QCOW2_C_COMPRESSED: {
		qcow2_compressed_range(q, e, &off, &len);
		uint64_t first = off >> q->cluster_bits, last = (off + len - 1) >> q->cluster_bits;

		return qcow2_update_refcount(q, first << q->cluster_bits, last - first + 1, addend,
					     err);
	}
	case QCOW2_C_NORMAL:
	case QCOW2_C_ZERO:
		off = e & QCOW2_L2E_OFFSET_MASK;
		return off ? qcow2_update_refcount(q, off, 1, addend, err) : 0;
	default:
		return 0;
	}
}

/* Add addend to the refcount of every cluster an L1 tree reaches; for the
 * active tree (active) then set the COPIED flags to match (refcount == 1). */
int qcow2_update_tree_refcount(struct qcow2 *q, uint64_t *l1, uint32_t l1_size, int addend,
			       bool active, struct err *err)
{
	uint8_t *tmp = malloc(q->cluster_size), *l2;
	int ret = 0;

	if (!tmp)
		return err_errno(err, ENOMEM, "snapshot");
	for (uint32_t i = 0; i < l1_size && ret >= 0; i++) {
		uint64_t l2off = l1[i] & QCOW2_L1E_OFFSET_MASK, rc;

		if (!l2off)
			continue;
		ret = qcow2_check_host_range(q, l2off, q->cluster_size, "L2 table", err);
		if (ret < 0)
			break;
		if (addend) {
			ret = qcow2_cache_get(q, &q->l2c, l2off, false, &l2, err);
			if (ret < 0)
				break;
			memcpy(tmp, l2, q->cluster_size);
			for (uint64_t j = 0; j < (1ULL << q->l2_bits) && ret >= 0; j++)
				ret = qcow2_entry_refcount(q, be64_at(tmp + j * 8), addend, err);
			if (ret >= 0)
				ret = qcow2_update_refcount(q, l2off, 1, addend, err);
			if (ret < 0)
				break;
		}
		ret = qcow2_get_refcount(q, l2off >> q->cluster_bits, &rc, err);
		if (ret < 0 || rc == 0)
			continue;
		l1[i] = l2off | (rc == 1 ? QCOW2_OFLAG_COPIED : 0);
		if (!active)
			continue;
		ret = qcow2_cache_get(q, &q->l2c, l2off, false, &l2, err);
		if (ret < 0)
			break;
		memcpy(tmp, l2, q->cluster_size);
		bool changed = false;

		for (uint64_t j = 0; j < (1ULL << q->l2_bits) && ret >= 0; j++) {
			uint64_t e = be64_at(tmp + j * 8), d = e & QCOW2_L2E_OFFSET_MASK, drc;
			enum qcow2_ctype t = qcow2_entry_type(q, e);

			if ((t != QCOW2_C_NORMAL && t != QCOW2_C_ZERO) || !d)
				continue;
			ret = qcow2_get_refcount(q, d >> q->cluster_bits, &drc, err);
			uint64_t ne = drc == 1 ? e | QCOW2_OFLAG_COPIED : e & ~QCOW2_OFLAG_COPIED;

			if (ne != e) {
				put_be64(tmp + j * 8, ne);
				changed = true;
			}
		}
		if (ret >= 0 && changed) {
			ret = qcow2_cache_get(q, &q->l2c, l2off, false, &l2, err);
			if (ret >= 0) {
				memcpy(l2, tmp, q->cluster_size);
				qcow2_cache_dirty(&q->l2c, l2off);
			}
		}
	}
	free(tmp);
	return ret;
}

static int qcow2_write_active_l1(struct qcow2 *q, struct err *err)
{
	uint8_t *buf = malloc((uint64_t)q->l1_size * 8 + 1);
	int ret;

	if (!buf)
		return err_errno(err, ENOMEM, "L1");
	for (uint32_t i = 0; i < q->l1_size; i++)
		put_be64(buf + i * 8, q->l1[i]);
	ret = block_file_pwrite(q->file, q->l1_offset, buf, (uint64_t)q->l1_size * 8);
	free(buf);
	return ret < 0 ? err_errno(err, ret, "L1 write") : 0;
}

static int qcow2_find_snapshot(struct qcow2 *q, const char *name)
{
	for (uint32_t i = 0; i < q->nb_snapshots; i++)
		if (!strcmp(q->snaps[i].id, name))
			return (int)i;
	for (uint32_t i = 0; i < q->nb_snapshots; i++)
		if (!strcmp(q->snaps[i].name, name))
			return (int)i;
	return -1;
}

static int qcow2_snap_lock(struct block_dev *b, struct qcow2 **qp, bool write, struct err *err)
{
	if (!qcow2_is(b))
		return err_errno(err, ENOTSUP, "'%s': internal snapshots need a qcow2 image",
				 b->filename);
	if (write && b->readonly)
		return err_errno(err, EROFS, "'%s'", b->filename);
	*qp = b->opaque;
	pthread_rwlock_wrlock(&b->lock);
	return 0;
}

int qcow2_snapshot_list(struct block_dev *b, struct qcow2_snapshot_info **out, struct err *err)
{
	struct qcow2 *q;
	int ret = qcow2_snap_lock(b, &q, false, err);

	if (ret < 0)
		return ret;
	*out = calloc(q->nb_snapshots + 1, sizeof(**out));
	if (!*out) {
		pthread_rwlock_unlock(&b->lock);
		return err_errno(err, ENOMEM, "snapshots");
	}
	for (uint32_t i = 0; i < q->nb_snapshots; i++) {
		struct qcow2_snapshot *s = &q->snaps[i];
		struct qcow2_snapshot_info *o = &(*out)[i];

		snprintf(o->id, sizeof(o->id), "%s", s->id);
		snprintf(o->name, sizeof(o->name), "%s", s->name);
		o->date_sec = s->date_sec, o->date_nsec = s->date_nsec;
		o->vm_clock_nsec = s->vm_clock_nsec, o->vm_state_size = s->vm_state_size;
		o->icount = s->icount, o->disk_size = s->disk_size;
	}
	ret = (int)q->nb_snapshots;
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

int qcow2_snapshot_create(struct block_dev *b, const char *name, struct err *err)
{
	struct qcow2 *q;
	int ret = qcow2_snap_lock(b, &q, true, err);
	struct qcow2_snapshot *ns = NULL, s = {0};
	uint64_t *copy = NULL;
	int64_t l1off = 0;

	if (ret < 0)
		return ret;
	if (!name[0] || strlen(name) > 255 || qcow2_find_snapshot(q, name) >= 0) {
		ret = err_set(err, "snapshot name '%s' is empty, too long or already exists", name);
		goto out;
	}
	if (q->nb_snapshots >= QCOW2_MAX_SNAPSHOTS) {
		ret = err_set(err, "too many snapshots");
		goto out;
	}
	ret = qcow2_flush_all(q, err);
	if (ret < 0)
		goto out;
	uint64_t l1_bytes = qcow2_align_up(q, (uint64_t)q->l1_size * 8);

	if (l1_bytes) {
		l1off = qcow2_alloc_clusters(q, l1_bytes >> q->cluster_bits, err);
		if (l1off < 0) {
			ret = (int)l1off;
			goto out;
		}
	}
	/* The increments are on disk before any table drops its COPIED flag. */
	ret = qcow2_update_tree_refcount(q, q->l1, q->l1_size, 1, true, err);
	if (ret >= 0)
		ret = qcow2_flush_all(q, err);
	if (ret >= 0)
		ret = qcow2_barrier(q, err);
	if (ret >= 0)
		ret = qcow2_write_active_l1(q, err);
	if (ret < 0)
		goto out;
	copy = calloc(q->l1_size + 1, 8);
	if (!copy) {
		ret = err_errno(err, ENOMEM, "snapshot");
		goto out;
	}
	uint8_t *buf = calloc(1, l1_bytes + 1);

	if (!buf) {
		ret = err_errno(err, ENOMEM, "snapshot");
		goto out;
	}
	for (uint32_t i = 0; i < q->l1_size; i++)
		put_be64(buf + i * 8, q->l1[i] & ~QCOW2_OFLAG_COPIED);
	ret = l1_bytes ? block_file_pwrite(q->file, (uint64_t)l1off, buf, l1_bytes) : 0;
	free(buf);
	if (ret < 0) {
		ret = err_errno(err, ret, "snapshot L1 write");
		goto out;
	}
	/* The new table entry. */
	unsigned max_id = 0;

	for (uint32_t i = 0; i < q->nb_snapshots; i++) {
		unsigned v = (unsigned)strtoul(q->snaps[i].id, NULL, 10);

		if (v > max_id)
			max_id = v;
	}
	char idbuf[16];
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(idbuf, sizeof(idbuf), "%u", max_id + 1);
	s.l1_offset = (uint64_t)l1off;
	s.l1_size = q->l1_size;
	s.id = strdup(idbuf);
	s.name = strdup(name);
	s.date_sec = (uint32_t)ts.tv_sec;
	s.date_nsec = (uint32_t)ts.tv_nsec;
	s.disk_size = q->size;
	s.extra_size = 16;
	s.extra = calloc(1, 16);
	ns = calloc(q->nb_snapshots + 1, sizeof(*ns));
	if (!s.id || !s.name || !s.extra || !ns) {
		ret = err_errno(err, ENOMEM, "snapshot");
		goto out;
	}
	if (q->nb_snapshots)
		memcpy(ns, q->snaps, sizeof(*ns) * q->nb_snapshots);
	ns[q->nb_snapshots] = s;
	ret = qcow2_write_snapshots(q, ns, q->nb_snapshots + 1, err);
	if (ret < 0)
		goto out;
	ns = NULL;
	memset(&s, 0, sizeof(s));
	ret = qcow2_flush_all(q, err);
out:
	free(ns);
	free(s.id);
	free(s.name);
	free(s.extra);
	free(copy);
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

static int qcow2_read_l1_copy(struct qcow2 *q, struct qcow2_snapshot *s, uint32_t size,
			      uint64_t **out, struct err *err)
{
	uint64_t *t = calloc(size + 1, 8);
	uint8_t *buf = malloc((uint64_t)s->l1_size * 8 + 1);
	int ret;

	if (!t || !buf) {
		free(t);
		free(buf);
		return err_errno(err, ENOMEM, "snapshot L1");
	}
	ret = block_file_pread(q->file, s->l1_offset, buf, (uint64_t)s->l1_size * 8);
	for (uint32_t i = 0; ret >= 0 && i < s->l1_size && i < size; i++)
		t[i] = be64_at(buf + i * 8);
	free(buf);
	if (ret < 0) {
		free(t);
		return err_errno(err, ret, "snapshot L1 read");
	}
	*out = t;
	return 0;
}

int qcow2_snapshot_apply(struct block_dev *b, const char *name, struct err *err)
{
	struct qcow2 *q;
	int ret = qcow2_snap_lock(b, &q, true, err), i;
	uint64_t *sl1 = NULL, *old = NULL;

	if (ret < 0)
		return ret;
	i = qcow2_find_snapshot(q, name);
	if (i < 0) {
		ret = err_set(err, "snapshot '%s' not found", name);
		goto out;
	}
	struct qcow2_snapshot *s = &q->snaps[i];

	ret = qcow2_flush_all(q, err);
	if (ret >= 0 && s->l1_size > q->l1_size)
		ret = qcow2_grow_l1(q, s->l1_size, err);
	if (ret >= 0)
		ret = qcow2_read_l1_copy(q, s, q->l1_size, &sl1, err);
	if (ret >= 0)
		ret = qcow2_update_tree_refcount(q, sl1, s->l1_size, 1, false, err);
	if (ret >= 0)
		ret = qcow2_flush_all(q, err);
	if (ret >= 0)
		ret = qcow2_barrier(q, err);
	if (ret < 0)
		goto out;
	old = q->l1;
	for (uint32_t k = 0; k < q->l1_size; k++)
		sl1[k] &= ~QCOW2_OFLAG_COPIED;
	q->l1 = sl1;
	sl1 = NULL;
	ret = qcow2_write_active_l1(q, err);
	if (ret >= 0)
		ret = qcow2_barrier(q, err);
	if (ret >= 0)
		ret = qcow2_update_tree_refcount(q, old, q->l1_size, -1, false, err);
	/* Decrements are on disk before any COPIED flag is set again. */
	if (ret >= 0)
		ret = qcow2_flush_all(q, err);
	if (ret >= 0)
		ret = qcow2_barrier(q, err);
	if (ret >= 0)
		ret = qcow2_update_tree_refcount(q, q->l1, q->l1_size, 0, true, err);
	if (ret >= 0)
		ret = qcow2_write_active_l1(q, err);
	if (ret >= 0 && s->disk_size != q->size) {
		uint8_t v[8];

		put_be64(v, s->disk_size);
		ret = qcow2_header_write_field(q, 24, v, 8, err);
		q->size = b->length = s->disk_size;
	}
	if (ret >= 0)
		ret = qcow2_flush_all(q, err);
	q->dbuf_off = ~0ULL;
out:
	free(sl1);
	free(old);
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

int qcow2_snapshot_delete(struct block_dev *b, const char *name, struct err *err)
{
	struct qcow2 *q;
	int ret = qcow2_snap_lock(b, &q, true, err), i;
	uint64_t *sl1 = NULL;

	if (ret < 0)
		return ret;
	i = qcow2_find_snapshot(q, name);
	if (i < 0) {
		ret = err_set(err, "snapshot '%s' not found", name);
		goto out;
	}
	struct qcow2_snapshot s = q->snaps[i];

	ret = qcow2_flush_all(q, err);
	if (ret >= 0)
		ret = qcow2_read_l1_copy(q, &s, s.l1_size, &sl1, err);
	if (ret < 0)
		goto out;
	struct qcow2_snapshot *ns = calloc(q->nb_snapshots + 1, sizeof(*ns));

	if (!ns) {
		ret = err_errno(err, ENOMEM, "snapshot");
		goto out;
	}
	memcpy(ns, q->snaps, sizeof(*ns) * (size_t)i);
	memcpy(ns + i, q->snaps + i + 1, sizeof(*ns) * (q->nb_snapshots - (uint32_t)i - 1));
	ret = qcow2_write_snapshots(q, ns, q->nb_snapshots - 1, err);
	if (ret < 0) {
		free(ns);
		goto out;
	}
	ret = qcow2_update_tree_refcount(q, sl1, s.l1_size, -1, false, err);
	if (ret >= 0 && s.l1_size)
		ret = qcow2_update_refcount(
		    q, s.l1_offset, qcow2_align_up(q, (uint64_t)s.l1_size * 8) >> q->cluster_bits,
		    -1, err);
	if (ret >= 0)
		ret = qcow2_flush_all(q, err);
	if (ret >= 0)
		ret = qcow2_barrier(q, err);
	if (ret >= 0)
		ret = qcow2_update_tree_refcount(q, q->l1, q->l1_size, 0, true, err);
	if (ret >= 0)
		ret = qcow2_write_active_l1(q, err);
	if (ret >= 0)
		ret = qcow2_flush_all(q, err);
	free(s.id);
	free(s.name);
	free(s.extra);
out:
	free(sl1);
	pthread_rwlock_unlock(&b->lock);
	return ret;
}
