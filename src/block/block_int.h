/* Internals shared by the block layer and its format drivers. */
#ifndef VIREO_BLOCK_BLOCK_INT_H
#define VIREO_BLOCK_BLOCK_INT_H

#include <pthread.h>

#include "block/block.h"

struct block_driver {
	const char *name;
	/* read and write keep no state of their own (raw): they may run in
	 * parallel, the worker threads' I/O overlapping. */
	bool concurrent_rw;
	int (*open)(struct block_dev *b, const struct block_open_opts *o, int depth,
		    struct err *err);
	void (*close)(struct block_dev *b);
	int (*read)(struct block_dev *b, uint64_t off, const struct iovec *iov, int iovcnt,
		    uint64_t len, struct err *err);
	int (*write)(struct block_dev *b, uint64_t off, const struct iovec *iov, int iovcnt,
		     uint64_t len, struct err *err);
	int (*flush)(struct block_dev *b, struct err *err);
	int (*discard)(struct block_dev *b, uint64_t off, uint64_t len, struct err *err);
	int (*write_zeroes)(struct block_dev *b, uint64_t off, uint64_t len, unsigned flags,
			    struct err *err);
	int (*get_status)(struct block_dev *b, uint64_t off, uint64_t len, uint64_t *pnum,
			  struct block_status *st, struct err *err);
	int (*truncate)(struct block_dev *b, uint64_t size, struct err *err);
	int (*write_compressed)(struct block_dev *b, uint64_t off, const void *buf, uint64_t len,
				struct err *err);
	int (*make_empty)(struct block_dev *b, struct err *err);
	int (*set_backing)(struct block_dev *b, const char *name, const char *fmt, struct err *err);
	int (*create)(struct block_file *f, const struct block_create_opts *o, struct err *err);
};

struct block_dev {
	const struct block_driver *drv;
	struct block_file *file;
	void *opaque; /* driver state */
	char *filename;
	bool readonly;
	bool probed; /* format was guessed (raw write guard applies) */
	uint64_t length;
	struct block_dev *backing;
	struct block_dev *parent; /* the image this one backs, while opening */
	/* Exclusive for everything but a concurrent_rw driver's reads and
	 * aligned writes, which share it. */
	pthread_rwlock_t lock;
	struct block_open_opts opts; /* for opening backing files */
};

extern const struct block_driver block_raw_driver;
extern const struct block_driver block_qcow2_driver;

/* Open a backing file named name (relative to the image's directory unless
 * absolute) read-only, checking depth and loops. */
struct block_dev *block_open_backing(struct block_dev *b, const char *name, const char *fmt,
				     int depth, struct err *err);
/* Open a path with the chain depth tracked (backing files). */
struct block_dev *block_open_depth(struct block_file *f, const struct block_open_opts *o, int depth,
				   struct block_dev *parent, struct err *err);

#endif
