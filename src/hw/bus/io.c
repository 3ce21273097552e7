#include "hw/bus/io.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct io_range {
	uint64_t base, last; /* inclusive last byte, so a range may end at 2^64-1 */
	const struct io_ops *ops;
	void *opaque;
	const char *name;
};

struct io_map_array {
	size_t n;
	struct io_map_array *retired_next; /* chain of superseded arrays, freed at destroy */
	struct io_range r[];
};

struct io_space {
	char name[32];
	_Atomic(struct io_map_array *) map;
	pthread_mutex_t writer;
	struct io_map_array *retired;
	atomic_uint_fast64_t unmapped_reads, unmapped_writes;
};

struct io_space *io_space_create(const char *name)
{
	struct io_space *s = calloc(1, sizeof(*s));
	struct io_map_array *m = calloc(1, sizeof(*m));

	if (!s || !m) {
		free(s);
		free(m);
		return NULL;
	}
	strncpy(s->name, name, sizeof(s->name) - 1);
	pthread_mutex_init(&s->writer, NULL);
	atomic_store(&s->map, m);
	return s;
}

void io_space_destroy(struct io_space *space)
{
	struct io_map_array *m, *next;

	if (!space)
		return;
	free(atomic_load(&space->map));
	for (m = space->retired; m; m = next) {
		next = m->retired_next;
		free(m);
	}
	pthread_mutex_destroy(&space->writer);
	free(space);
}

/* Publishes a new map; the old one stays readable by in-flight lookups. */
static void io_publish(struct io_space *s, struct io_map_array *m)
{
	struct io_map_array *old = atomic_exchange(&s->map, m);

	old->retired_next = s->retired;
	s->retired = old;
}

int io_map(struct io_space *space, uint64_t base, uint64_t len, const struct io_ops *ops,
	   void *opaque, const char *name, struct err *err)
{
	struct io_map_array *old, *m;
	uint64_t last;
	size_t i, pos;

	if (len == 0 || base + (len - 1) < base)
		return err_set(err, "%s: bad range 0x%llx+0x%llx for %s", space->name,
			       (unsigned long long)base, (unsigned long long)len, name);
	last = base + (len - 1);
	pthread_mutex_lock(&space->writer);
	old = atomic_load(&space->map);
	for (i = 0; i < old->n; i++) {
		if (base <= old->r[i].last && old->r[i].base <= last) {
			pthread_mutex_unlock(&space->writer);
			err_set(err, "%s: %s at 0x%llx overlaps %s at 0x%llx", space->name, name,
				(unsigned long long)base, old->r[i].name,
				(unsigned long long)old->r[i].base);
			return -EBUSY;
		}
	}
	m = malloc(sizeof(*m) + (old->n + 1) * sizeof(m->r[0]));
	if (!m) {
		pthread_mutex_unlock(&space->writer);
		return err_errno(err, ENOMEM, "%s: mapping %s", space->name, name);
	}
	for (pos = 0; pos < old->n && old->r[pos].base < base; pos++)
		;
	memcpy(m->r, old->r, pos * sizeof(m->r[0]));
	m->r[pos] = (struct io_range){ base, last, ops, opaque, name };
	memcpy(m->r + pos + 1, old->r + pos, (old->n - pos) * sizeof(m->r[0]));
	m->n = old->n + 1;
	m->retired_next = NULL;
	io_publish(space, m);
	pthread_mutex_unlock(&space->writer);
	return 0;
}

int io_unmap(struct io_space *space, uint64_t base, void *opaque)
{
	struct io_map_array *old, *m;
	size_t i;

	pthread_mutex_lock(&space->writer);
	old = atomic_load(&space->map);
	for (i = 0; i < old->n; i++)
		if (old->r[i].base == base && old->r[i].opaque == opaque)
			break;
	if (i == old->n) {
		pthread_mutex_unlock(&space->writer);
		return -ENOENT;
	}
	m = malloc(sizeof(*m) + old->n * sizeof(m->r[0]));
	if (!m) {
		pthread_mutex_unlock(&space->writer);
		return -ENOMEM;
	}
	memcpy(m->r, old->r, i * sizeof(m->r[0]));
	memcpy(m->r + i, old->r + i + 1, (old->n - i - 1) * sizeof(m->r[0]));
	m->n = old->n - 1;
	m->retired_next = NULL;
	io_publish(space, m);
	pthread_mutex_unlock(&space->writer);
	return 0;
}

static const struct io_range *io_lookup(const struct io_map_array *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < m->r[mid].base)
			hi = mid;
		else if (addr > m->r[mid].last)
			lo = mid + 1;
		else
			return &m->r[mid];
	}
	return NULL;
}

static uint64_t le_load(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void le_store(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* One access entirely inside r, of a size the device accepts or narrower. */
static void io_access(const struct io_range *r, uint64_t off, uint8_t *data, unsigned len,
		      bool is_write)
{
	unsigned min = r->ops->min_size ? r->ops->min_size : 1;

	if (len >= min) {
		if (is_write) {
			if (r->ops->write)
				r->ops->write(r->opaque, off, le_load(data, len), len);
		} else {
			le_store(data, r->ops->read ? r->ops->read(r->opaque, off, len) : ~0ULL,
				 len);
		}
		return;
	}
	/* Narrower than the device allows: widen to an aligned min-size access. */
	uint64_t aoff = off & ~(uint64_t)(min - 1);
	unsigned shift = (unsigned)(off - aoff) * 8;
	uint64_t mask = (len == 8) ? ~0ULL : ((1ULL << (len * 8)) - 1);
	uint64_t wide = r->ops->read ? r->ops->read(r->opaque, aoff, min) : ~0ULL;

	if (is_write) {
		wide = (wide & ~(mask << shift)) | ((le_load(data, len) & mask) << shift);
		if (r->ops->write)
			r->ops->write(r->opaque, aoff, wide, min);
	} else {
		le_store(data, wide >> shift, len);
	}
}

bool io_dispatch(struct io_space *space, uint64_t addr, void *data, unsigned len, bool is_write)
{
	const struct io_map_array *m = atomic_load_explicit(&space->map, memory_order_acquire);
	uint8_t *p = data;
	bool claimed = false;

	while (len) {
		const struct io_range *r = io_lookup(m, addr);
		unsigned max, chunk;

		if (!r) {
			if (is_write)
				atomic_fetch_add(&space->unmapped_writes, 1);
			else {
				atomic_fetch_add(&space->unmapped_reads, 1);
				memset(p, 0xff, 1);
			}
			p++, addr++, len--;
			continue;
		}
		claimed = true;
		max = r->ops->max_size ? r->ops->max_size : 8;
		chunk = len < max ? len : max;
		/* Never run past the end of the range; keep chunks power-of-two sized. */
		if ((uint64_t)chunk - 1 > r->last - addr)
			chunk = (unsigned)(r->last - addr + 1);
		while (chunk & (chunk - 1))
			chunk &= chunk - 1;
		io_access(r, addr - r->base, p, chunk, is_write);
		p += chunk, addr += chunk, len -= chunk;
	}
	return claimed;
}

uint64_t io_read(struct io_space *space, uint64_t addr, unsigned size)
{
	uint8_t buf[8];

	io_dispatch(space, addr, buf, size, false);
	return le_load(buf, size);
}

void io_write(struct io_space *space, uint64_t addr, uint64_t val, unsigned size)
{
	uint8_t buf[8];

	le_store(buf, val, size);
	io_dispatch(space, addr, buf, size, true);
}

struct io_stats io_space_stats(struct io_space *space)
{
	return (struct io_stats){ atomic_load(&space->unmapped_reads),
				  atomic_load(&space->unmapped_writes) };
}
