/* Sorted array of guest-owned ranges; see user_map.h. A process has tens
 * to a few thousand ranges, so binary search plus memmove is plenty; the
 * CPU's software TLB keeps lookups off the hot path. */
#include "user/user_map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void user_map_init(struct user_map *map)
{
	memset(map, 0, sizeof(*map));
}

void user_map_fini(struct user_map *map)
{
	free(map->r);
	memset(map, 0, sizeof(*map));
}

/* Index of the first range whose end is above ADDR (may be n). */
static size_t user_map_lower(const struct user_map *map, uint64_t addr)
{
	size_t lo = 0, hi = map->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (map->r[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int user_map_reserve(struct user_map *map, size_t extra)
{
	struct user_map_range *r;
	size_t cap;

	if (map->n + extra <= map->cap)
		return 0;
	cap = map->cap ? map->cap * 2 : 32;
	while (cap < map->n + extra)
		cap *= 2;
	r = realloc(map->r, cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	map->r = r;
	map->cap = cap;
	return 0;
}

static bool user_map_range_ok(uint64_t start, uint64_t len)
{
	return len && start + len > start;
}

int user_map_remove(struct user_map *map, uint64_t start, uint64_t len)
{
	uint64_t end = start + len;
	size_t i;

	if (!user_map_range_ok(start, len))
		return 0;
	/* One range may split in two: make room first so failure changes nothing. */
	if (user_map_reserve(map, 1))
		return -ENOMEM;
	i = user_map_lower(map, start);
	while (i < map->n && map->r[i].start < end) {
		struct user_map_range *c = &map->r[i];

		if (c->start < start && c->end > end) {
			/* Split: [c->start, start) and [end, c->end). */
			memmove(c + 2, c + 1, (map->n - i - 1) * sizeof(*c));
			c[1] = (struct user_map_range){ end, c->end, c->prot };
			c->end = start;
			map->n++;
			break;
		}
		if (c->start < start) {
			c->end = start;
			i++;
		} else if (c->end > end) {
			c->start = end;
			break;
		} else {
			memmove(c, c + 1, (map->n - i - 1) * sizeof(*c));
			map->n--;
		}
	}
	map->hint = 0;
	return 0;
}

int user_map_add(struct user_map *map, uint64_t start, uint64_t len, int prot)
{
	size_t i;

	if (!user_map_range_ok(start, len))
		return -EINVAL;
	if (user_map_reserve(map, 2))
		return -ENOMEM;
	user_map_remove(map, start, len); /* cannot fail: room reserved */
	i = user_map_lower(map, start);
	memmove(map->r + i + 1, map->r + i, (map->n - i) * sizeof(*map->r));
	map->r[i] = (struct user_map_range){ start, start + len, prot };
	map->n++;
	return 0;
}

/* Is [start, end) covered without holes? */
static bool user_map_covered(const struct user_map *map, uint64_t start, uint64_t end)
{
	size_t i = user_map_lower(map, start);
	uint64_t at = start;

	for (; i < map->n && at < end; i++) {
		if (map->r[i].start > at)
			return false;
		at = map->r[i].end;
	}
	return at >= end;
}

int user_map_protect(struct user_map *map, uint64_t start, uint64_t len, int prot)
{
	if (!user_map_range_ok(start, len))
		return len ? -ENOMEM : 0;
	if (!user_map_covered(map, start, start + len))
		return -ENOMEM;
	return user_map_add(map, start, len, prot);
}

static bool user_map_allows(int prot, int access)
{
	if (access & PROT_WRITE && !(prot & PROT_WRITE))
		return false;
	if (access & PROT_EXEC && !(prot & PROT_EXEC))
		return false;
	if (access & PROT_READ && !(prot & (PROT_READ | PROT_WRITE | PROT_EXEC)))
		return false;
	return true;
}

bool user_map_check(struct user_map *map, uint64_t addr, uint64_t len, int access)
{
	uint64_t end = addr + len, at = addr;
	size_t i;

	if (!len)
		return true;
	if (end < addr)
		return false;
	i = map->hint;
	if (i >= map->n || map->r[i].start > addr || map->r[i].end <= addr)
		i = user_map_lower(map, addr);
	for (; i < map->n && at < end; i++) {
		if (map->r[i].start > at || !user_map_allows(map->r[i].prot, access))
			return false;
		if (at == addr)
			map->hint = i;
		at = map->r[i].end;
	}
	return at >= end;
}

bool user_map_overlaps(const struct user_map *map, uint64_t addr, uint64_t len)
{
	size_t i;

	if (!len)
		return false;
	i = user_map_lower(map, addr);
	return i < map->n && map->r[i].start < addr + len;
}

bool user_map_any_prot(const struct user_map *map, uint64_t addr, uint64_t len, int prot)
{
	size_t i;

	if (!len)
		return false;
	for (i = user_map_lower(map, addr); i < map->n && map->r[i].start < addr + len; i++)
		if (map->r[i].prot & prot)
			return true;
	return false;
}

const struct user_map_range *user_map_find(struct user_map *map, uint64_t addr)
{
	size_t i = user_map_lower(map, addr);

	if (i < map->n && map->r[i].start <= addr)
		return &map->r[i];
	return NULL;
}

uint64_t user_map_top(const struct user_map *map)
{
	return map->n ? map->r[map->n - 1].end : 0;
}

int user_map_for_each_gap(const struct user_map *map, uint64_t start, uint64_t len,
			  int (*fn)(void *opaque, uint64_t gap, uint64_t gap_len), void *opaque)
{
	uint64_t end = start + len, at = start;
	size_t i = user_map_lower(map, start);
	int rc;

	for (; at < end; i++) {
		uint64_t next = i < map->n && map->r[i].start < end ? map->r[i].start : end;

		if (next > at) {
			rc = fn(opaque, at, next - at);
			if (rc)
				return rc;
		}
		if (i >= map->n || map->r[i].start >= end)
			break;
		at = map->r[i].end;
	}
	return 0;
}
