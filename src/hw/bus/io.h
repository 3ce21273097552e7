/* Address spaces: the port-I/O space and the MMIO space of a VM are two
 * instances of this one type. Devices map a range with an ops table; handlers
 * see the offset within their range, never the absolute address.
 *
 * Lookup is lock-free: the map is an immutable sorted array published through
 * an atomic pointer; io_map/io_unmap (rare: board setup, PCI BAR moves) build a
 * new array under a writer mutex and retire the old one until destroy.
 * Unmapped reads return all-ones and unmapped writes are dropped; both are counted. */
#ifndef VIREO_HW_BUS_IO_H
#define VIREO_HW_BUS_IO_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

struct io_ops {
	/* size is 1, 2, 4 or 8 and within [min_size, max_size]; off is aligned
	 * only if the device's accesses naturally are. */
	uint64_t (*read)(void *opaque, uint64_t off, unsigned size);
	void (*write)(void *opaque, uint64_t off, uint64_t val, unsigned size);
	/* Allowed access sizes; 0 means 1 and 8 respectively. Wider accesses are
	 * split into max_size pieces, narrower ones widened (read-modify-write). */
	unsigned min_size, max_size;
};

struct io_space;

struct io_stats {
	uint64_t unmapped_reads, unmapped_writes;
};

struct io_space *io_space_create(const char *name);
void io_space_destroy(struct io_space *space);

/* Refuses ranges that overlap an existing mapping or wrap. */
int io_map(struct io_space *space, uint64_t base, uint64_t len, const struct io_ops *ops,
	   void *opaque, const char *name, struct err *err);
/* Removes the mapping that starts at base with this opaque; -ENOENT if none. */
int io_unmap(struct io_space *space, uint64_t base, void *opaque);

/* Performs an access of len bytes (1..8 are common; larger is split) at addr.
 * data is little-endian guest bytes. Returns true if a device claimed addr. */
bool io_dispatch(struct io_space *space, uint64_t addr, void *data, unsigned len, bool is_write);

/* Convenience wrappers for integer accesses of 1, 2, 4 or 8 bytes. */
uint64_t io_read(struct io_space *space, uint64_t addr, unsigned size);
void io_write(struct io_space *space, uint64_t addr, uint64_t val, unsigned size);

struct io_stats io_space_stats(struct io_space *space);

#endif
