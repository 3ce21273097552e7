/* Write-back caches of L2 tables and refcount blocks, one cluster per entry,
 * hashed by host offset, LRU eviction.
 *
 * Ordering (crash safety): an L2 table is written only after every dirty
 * refcount block and the guest data it points to (a barrier in between), so
 * on disk an L2 entry never points at a cluster whose refcount is not yet
 * recorded. Refcount blocks may be written at any time: they only ever run
 * ahead of the L2 tables (decrements wait in the deferred-free list). */
#include "block/qcow2_int.h"

#include <errno.h>
#include <stdlib.h>

int qcow2_cache_init(struct qcow2_cache *c, int n)
{
	memset(c, 0, sizeof(*c));
	c->n = n;
	c->nbuckets = 1;
	while (c->nbuckets < n * 2)
		c->nbuckets *= 2;
	c->e = calloc((size_t)n, sizeof(*c->e));
	c->bucket = malloc(sizeof(int) * (size_t)c->nbuckets);
	if (!c->e || !c->bucket)
		return -ENOMEM;
	for (int i = 0; i < c->nbuckets; i++)
		c->bucket[i] = -1;
	return 0;
}

void qcow2_cache_fini(struct qcow2_cache *c)
{
	for (int i = 0; c->e && i < c->n; i++)
		free(c->e[i].buf);
	free(c->e);
	free(c->bucket);
	memset(c, 0, sizeof(*c));
}

static unsigned cache_hash(struct qcow2_cache *c, uint64_t off)
{
	uint64_t h = (off >> 9) * 0x9e3779b97f4a7c15ULL;

	return (unsigned)(h >> 40) & (unsigned)(c->nbuckets - 1);
}

static int cache_find(struct qcow2_cache *c, uint64_t off)
{
	for (int i = c->bucket[cache_hash(c, off)]; i >= 0; i = c->e[i].next)
		if (c->e[i].off == off)
			return i;
	return -1;
}

static void cache_unlink(struct qcow2_cache *c, int i)
{
	int *pp = &c->bucket[cache_hash(c, c->e[i].off)];

	while (*pp >= 0 && *pp != i)
		pp = &c->e[*pp].next;
	if (*pp == i)
		*pp = c->e[i].next;
	c->e[i].off = 0;
}

static int cache_write_entry(struct qcow2 *q, struct qcow2_cache *c, int i, struct err *err)
{
	int ret;

	if (!c->e[i].dirty)
		return 0;
	if (c == &q->l2c && q->rbc.ndirty) {
		ret = qcow2_cache_write_back(q, &q->rbc, err);
		if (ret < 0)
			return ret;
	}
	ret = block_file_pwrite(q->file, c->e[i].off, c->e[i].buf, q->cluster_size);
	if (ret < 0)
		return err_errno(err, ret, "metadata write at %llu",
				 (unsigned long long)c->e[i].off);
	c->e[i].dirty = false;
	c->ndirty--;
	return 0;
}

int qcow2_cache_write_back(struct qcow2 *q, struct qcow2_cache *c, struct err *err)
{
	for (int i = 0; i < c->n && c->ndirty; i++) {
		int ret = cache_write_entry(q, c, i, err);

		if (ret < 0)
			return ret;
	}
	return 0;
}

int qcow2_flush_l2_cache(struct qcow2 *q, struct err *err)
{
	int ret;

	if (!q->l2c.ndirty)
		return qcow2_cache_write_back(q, &q->rbc, err);
	ret = qcow2_cache_write_back(q, &q->rbc, err);
	if (ret >= 0)
		ret = qcow2_barrier(q, err); /* refcounts and data before L2 entries */
	if (ret >= 0)
		ret = qcow2_cache_write_back(q, &q->l2c, err);
	return ret;
}

/* Returns the cluster at host offset off in *buf (valid until the next get on
 * this cache). fresh: the cluster is newly allocated, start from zeros. */
int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t off, bool fresh,
		    uint8_t **buf, struct err *err)
{
	int i = cache_find(c, off), victim = -1;
	int ret;

	if (i >= 0) {
		c->e[i].lru = ++c->tick;
		if (fresh)
			memset(c->e[i].buf, 0, q->cluster_size);
		*buf = c->e[i].buf;
		return 0;
	}
	for (int j = 0; j < c->n; j++) {
		if (!c->e[j].off) {
			victim = j;
			break;
		}
		if (victim < 0 || c->e[j].lru < c->e[victim].lru)
			victim = j;
	}
	struct qcow2_cache_entry *e = &c->e[victim];

	if (e->off) {
		if (e->dirty && c == &q->l2c) {
			/* One barrier for all: write every dirty L2 at once. */
			ret = qcow2_flush_l2_cache(q, err);
			if (ret < 0)
				return ret;
		}
		ret = cache_write_entry(q, c, victim, err);
		if (ret < 0)
			return ret;
		cache_unlink(c, victim);
	}
	if (!e->buf) {
		e->buf = malloc(q->cluster_size);
		if (!e->buf)
			return err_errno(err, ENOMEM, "metadata cache");
	}
	if (fresh) {
		memset(e->buf, 0, q->cluster_size);
	} else {
		ret = block_file_pread(q->file, off, e->buf, q->cluster_size);
		if (ret < 0)
			return err_errno(err, ret, "metadata read at %llu", (unsigned long long)off);
	}
	e->off = off;
	e->dirty = false;
	e->lru = ++c->tick;
	unsigned h = cache_hash(c, off);

	e->next = c->bucket[h];
	c->bucket[h] = victim;
	*buf = e->buf;
	return 0;
}

void qcow2_cache_dirty(struct qcow2_cache *c, uint64_t off)
{
	int i = cache_find(c, off);

	if (i >= 0 && !c->e[i].dirty) {
		c->e[i].dirty = true;
		c->ndirty++;
	}
}

/* The cluster was freed: drop it without writing it. */
void qcow2_cache_forget(struct qcow2_cache *c, uint64_t off)
{
	int i = cache_find(c, off);

	if (i < 0)
		return;
	if (c->e[i].dirty)
		c->ndirty--;
	c->e[i].dirty = false;
	cache_unlink(c, i);
	c->e[i].lru = 0;
}
