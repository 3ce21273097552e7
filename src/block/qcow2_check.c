/* Consistency check and repair (what `qemu-img check` does): count every
 * reference the metadata makes to each host cluster, compare with the
 * stored refcounts, and verify the COPIED flags of the active tables.
 * Messages match qemu-img's wording so scripts can grep them. */
#include "block/qcow2_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

struct check {
	struct qcow2 *q;
	uint32_t *refs;
	uint64_t n;
	struct qcow2_check_result *res;
	uint64_t last_data; /* fragmentation: previous data cluster host offset */
};

static void check_inc(struct check *c, uint64_t off, uint64_t len, const char *what)
{
	struct qcow2 *q = c->q;

	if (!len)
		return;
	for (uint64_t k = off >> q->cluster_bits; k <= (off + len - 1) >> q->cluster_bits; k++) {
		if (k >= c->n) {
			fprintf(stderr,
				"ERROR %s at offset 0x%llx is beyond the end of the image\n", what,
				(unsigned long long)(k << q->cluster_bits));
			c->res->corruptions++;
			return;
		}
		if (c->refs[k] != UINT32_MAX)
			c->refs[k]++;
	}
}

static int check_tree(struct check *c, const uint64_t *l1, uint32_t l1_size, bool active,
		      struct err *err)
{
	struct qcow2 *q = c->q;
	uint8_t *l2 = malloc(q->cluster_size);
	int ret;

	if (!l2)
		return err_errno(err, ENOMEM, "check");
	for (uint32_t i = 0; i < l1_size; i++) {
		uint64_t l2off = l1[i] & QCOW2_L1E_OFFSET_MASK;

		if (!l2off)
			continue;
		if (l2off & (q->cluster_size - 1)) {
			fprintf(stderr,
				"ERROR l2_offset=%llx: Table is not cluster aligned; L1 "
				"entry corrupted\n",
				(unsigned long long)l2off);
			c->res->corruptions++;
			continue;
		}
		if ((l2off >> q->cluster_bits) >= c->n) {
			check_inc(c, l2off, q->cluster_size, "L2 table");
			continue;
		}
		check_inc(c, l2off, q->cluster_size, "L2 table");
		ret = block_file_pread(q->file, l2off, l2, q->cluster_size);
		if (ret < 0) {
			free(l2);
			return err_errno(err, ret, "L2 table read");
		}
		for (uint64_t j = 0; j < (1ULL << q->l2_bits); j++) {
			uint64_t e = be64_at(l2 + j * 8), off, len;

			switch (qcow2_entry_type(q, e)) {
			case QCOW2_C_COMPRESSED:
				if (e & QCOW2_OFLAG_COPIED) {
					fprintf(stderr,
						"ERROR: coffset=0x%llx: Compressed cluster "
						"has the COPIED flag set\n",
						(unsigned long long)e);
					c->res->corruptions++;
				}
				qcow2_compressed_range(q, e, &off, &len);
				check_inc(c, off, len, "compressed cluster");
				if (active) {
					c->res->allocated_clusters++;
					c->res->compressed_clusters++;
				}
				break;
			case QCOW2_C_NORMAL:
			case QCOW2_C_ZERO:
				off = e & QCOW2_L2E_OFFSET_MASK;
				if (!off)
					break;
				if (off & (q->cluster_size - 1)) {
					fprintf(stderr,
						"ERROR offset=%llx: Cluster is not properly "
						"aligned; L2 entry corrupted.\n",
						(unsigned long long)off);
					c->res->corruptions++;
					break;
				}
				check_inc(c, off, q->cluster_size, "data cluster");
				if (active) {
					c->res->allocated_clusters++;
					if (c->last_data && off != c->last_data + q->cluster_size)
						c->res->fragmented_clusters++;
					c->last_data = off;
				}
				break;
			default:
				break;
			}
		}
	}
	free(l2);
	return 0;
}

/* COPIED must be set exactly on active entries whose cluster has refcount 1. */
static int check_copied(struct check *c, unsigned fix, struct err *err)
{
	struct qcow2 *q = c->q;
	uint8_t *l2 = malloc(q->cluster_size);
	uint64_t bad = 0;
	int ret = 0;

	if (!l2)
		return err_errno(err, ENOMEM, "check");
	for (uint32_t i = 0; i < q->l1_size; i++) {
		uint64_t l2off = q->l1[i] & QCOW2_L1E_OFFSET_MASK, rc;

		if (!l2off || l2off & (q->cluster_size - 1) || (l2off >> q->cluster_bits) >= c->n)
			continue;
		ret = qcow2_get_refcount(q, l2off >> q->cluster_bits, &rc, err);
		if (ret < 0)
			break;
		if ((rc == 1) != !!(q->l1[i] & QCOW2_OFLAG_COPIED)) {
			fprintf(stderr,
				"%s OFLAG_COPIED L2 cluster: l1_index=%u l1_entry=%llx "
				"refcount=%llu\n",
				fix & QCOW2_FIX_ERRORS ? "Repairing" : "ERROR", i,
				(unsigned long long)q->l1[i], (unsigned long long)rc);
			bad++;
		}
		ret = block_file_pread(q->file, l2off, l2, q->cluster_size);
		if (ret < 0) {
			ret = err_errno(err, ret, "L2 table read");
			break;
		}
		for (uint64_t j = 0; j < (1ULL << q->l2_bits); j++) {
			uint64_t e = be64_at(l2 + j * 8), off = e & QCOW2_L2E_OFFSET_MASK;
			enum qcow2_ctype t = qcow2_entry_type(q, e);

			if ((t != QCOW2_C_NORMAL && t != QCOW2_C_ZERO) || !off ||
			    off & (q->cluster_size - 1) || (off >> q->cluster_bits) >= c->n)
				continue;
			ret = qcow2_get_refcount(q, off >> q->cluster_bits, &rc, err);
			if (ret < 0)
				goto out;
			if ((rc == 1) != !!(e & QCOW2_OFLAG_COPIED)) {
				fprintf(stderr,
					"%s OFLAG_COPIED data cluster: l2_entry=%llx "
					"refcount=%llu\n",
					fix & QCOW2_FIX_ERRORS ? "Repairing" : "ERROR",
					(unsigned long long)e, (unsigned long long)rc);
				bad++;
			}
		}
	}
	c->res->corruptions += bad;
	if (ret >= 0 && bad && (fix & QCOW2_FIX_ERRORS)) {
		ret = qcow2_update_tree_refcount(q, q->l1, q->l1_size, 0, true, err);
		for (uint32_t i = 0; ret >= 0 && i < q->l1_size; i++)
			ret = qcow2_write_l1_entry(q, i, err);
		if (ret >= 0) {
			c->res->corruptions -= bad;
			c->res->corruptions_fixed += bad;
		}
	}
out:
	free(l2);
	return ret;
}

static int check_run(struct check *c, unsigned fix, struct err *err)
{
	struct qcow2 *q = c->q;
	uint64_t rb_n = 1ULL << q->rb_bits;
	int ret;

	check_inc(c, 0, q->cluster_size, "header");
	check_inc(c, q->l1_offset, (uint64_t)q->l1_size * 8, "L1 table");
	ret = check_tree(c, q->l1, q->l1_size, true, err);
	if (ret < 0)
		return ret;
	check_inc(c, q->reftable_offset, (uint64_t)q->reftable_clusters * q->cluster_size,
		  "refcount table");
	for (uint64_t i = 0; i < q->reftable_size; i++) {
		uint64_t rb = q->reftable[i] & QCOW2_REFT_OFFSET_MASK;

		if (rb)
			check_inc(c, rb, q->cluster_size, "refcount block");
	}
	check_inc(c, q->snapshots_offset, q->snapshots_size, "snapshot table");
	for (uint32_t s = 0; s < q->nb_snapshots; s++) {
		struct qcow2_snapshot *sn = &q->snaps[s];
		uint8_t *buf = malloc((uint64_t)sn->l1_size * 8 + 1);
		uint64_t *l1 = calloc(sn->l1_size + 1, 8);

		if (!buf || !l1) {
			free(buf);
			free(l1);
			return err_errno(err, ENOMEM, "check");
		}
		check_inc(c, sn->l1_offset, (uint64_t)sn->l1_size * 8, "snapshot L1 table");
		ret = block_file_pread(q->file, sn->l1_offset, buf, (uint64_t)sn->l1_size * 8);
		for (uint32_t i = 0; ret >= 0 && i < sn->l1_size; i++)
			l1[i] = be64_at(buf + i * 8);
		if (ret >= 0)
			ret = check_tree(c, l1, sn->l1_size, false, err);
		else
			ret = err_errno(err, ret, "snapshot L1 read");
		free(buf);
		free(l1);
		if (ret < 0)
			return ret;
	}
	/* Compare: clusters the refcount structures cover, and the file's. */
	uint64_t limit = c->n;

	for (uint64_t i = 0; i < q->reftable_size; i++)
		if (q->reftable[i] & QCOW2_REFT_OFFSET_MASK)
			limit = (i + 1) * rb_n > limit ? (i + 1) * rb_n : limit;
	/* Pass 1 only lowers refcounts (no allocation); pass 2 raises them. */
	for (int pass = 1; pass <= 2; pass++) {
		for (uint64_t k = 0; k < limit; k++) {
			uint64_t rc, want = k < c->n ? c->refs[k] : 0;

			ret = qcow2_get_refcount(q, k, &rc, err);
			if (ret < 0)
				return ret;
			if (rc == want || (pass == 1) != (rc > want))
				continue;
			bool leak = rc > want;
			bool repair = (fix & (leak ? QCOW2_FIX_LEAKS : QCOW2_FIX_ERRORS)) != 0;

			if (want > qcow2_refcount_max(q)) {
				fprintf(stderr,
					"ERROR cluster %llu refcount overflow (reference=%llu)"
					"\n",
					(unsigned long long)k, (unsigned long long)want);
				c->res->corruptions++;
				continue;
			}
			fprintf(stderr, "%s cluster %llu refcount=%llu reference=%llu\n",
				repair ? "Repairing"
				: leak ? "Leaked"
				       : "ERROR",
				(unsigned long long)k, (unsigned long long)rc,
				(unsigned long long)want);
			if (repair) {
				ret = qcow2_update_refcount(q, k << q->cluster_bits, 1,
							    (int64_t)(want - rc), err);
				if (ret < 0)
					return ret;
				if (leak)
					c->res->leaks_fixed++;
				else
					c->res->corruptions_fixed++;
			} else if (leak) {
				c->res->leaks++;
			} else {
				c->res->corruptions++;
			}
		}
	}
	ret = check_copied(c, fix, err);
	if (ret < 0)
		return ret;
	for (uint64_t k = c->n; k > 0; k--) {
		if (c->refs[k - 1]) {
			c->res->image_end_offset = k << q->cluster_bits;
			break;
		}
	}
	return 0;
}

int qcow2_check(struct block_dev *b, unsigned fix, struct qcow2_check_result *res, struct err *err)
{
	struct qcow2 *q = b->opaque;
	struct check c = {.q = q, .res = res};
	int ret;

	memset(res, 0, sizeof(*res));
	if (!qcow2_is(b))
		return err_errno(err, ENOTSUP, "'%s': only qcow2 images can be checked",
				 b->filename);
	if (fix && b->readonly)
		return err_errno(err, EROFS, "'%s': repair needs a writable image", b->filename);
	pthread_rwlock_wrlock(&b->lock);
	res->total_clusters = (q->size + q->cluster_size - 1) >> q->cluster_bits;
	if (!b->readonly) {
		ret = qcow2_flush_all(q, err);
		if (ret < 0)
			goto out;
	}
	int64_t flen = block_file_length(q->file);

	if (flen < 0) {
		ret = err_errno(err, (int)flen, "check");
		goto out;
	}
	c.n = qcow2_align_up(q, (uint64_t)flen) >> q->cluster_bits;
	c.refs = calloc(c.n + 1, sizeof(*c.refs));
	if (!c.refs) {
		ret = err_errno(err, ENOMEM, "check: %llu clusters", (unsigned long long)c.n);
		goto out;
	}
	if (fix) {
		q->check_refs = c.refs;
		q->check_nclusters = c.n;
	}
	ret = check_run(&c, fix, err);
	q->check_refs = NULL;
	if (ret >= 0 && fix) {
		ret = qcow2_flush_all(q, err);
		if (ret >= 0)
			ret = qcow2_barrier(q, err);
		if (ret >= 0 && !res->corruptions && (q->incompat & QCOW2_INCOMPAT_CORRUPT)) {
			uint8_t v[8];

			q->incompat &= ~QCOW2_INCOMPAT_CORRUPT;
			put_be64(v, q->incompat);
			ret = qcow2_header_write_field(q, 72, v, 8, err);
		}
	}
out:
	free(c.refs);
	pthread_rwlock_unlock(&b->lock);
	return ret;
}
