/* The block-driver interface: one API over the image formats (raw, qcow2),
 * used by virtio-blk and by vireo-img.
 *
 * Format probing rule: with o->format NULL the first bytes decide (qcow2
 * magic -> qcow2, anything else -> raw). A raw image that was *probed* (not
 * named with format "raw") and is opened writable refuses any write that would
 * put a known format magic into its first sector (-EPERM), as QEMU does, so a
 * guest cannot turn its disk into a qcow2 that a later probe would follow to a
 * host file. With format "raw" the content is never inspected.
 *
 * All calls are synchronous and thread-safe: each image has its own mutex. */
#ifndef VIREO_BLOCK_BLOCK_H
#define VIREO_BLOCK_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block/file.h"
#include "core/err.h"

struct block_dev;

/* Opens a named file; lets tests supply in-memory backing files. */
typedef struct block_file *(*block_file_opener)(void *opaque, const char *path, bool readonly,
						struct err *err);

struct block_open_opts {
	const char *format; /* "raw", "qcow2" or NULL to probe */
	bool readonly;
	enum block_cache_mode cache;
	bool no_backing;	     /* do not open the backing chain */
	bool allow_corrupt_write;    /* vireo-img check -r: open a corrupt-flagged image rw */
	bool no_dirty_repair;	     /* vireo-img check: leave a dirty image as it is */
	block_file_opener open_file; /* NULL: host files */
	void *open_file_opaque;
};

#define BLOCK_MAX_CHAIN 256 /* deepest backing chain we follow */

/* block_write_zeroes flags */
#define BLOCK_ZERO_MAY_UNMAP 1u

struct block_dev *block_open(const char *path, const struct block_open_opts *o, struct err *err);
/* Open over an already-open file (takes ownership of f, also on failure). */
struct block_dev *block_open_file(struct block_file *f, const struct block_open_opts *o,
				  struct err *err);
void block_close(struct block_dev *b);

int block_read(struct block_dev *b, uint64_t off, const struct iovec *iov, int iovcnt,
	       struct err *err);
int block_write(struct block_dev *b, uint64_t off, const struct iovec *iov, int iovcnt,
		struct err *err);
/* For asynchronous engines: the host descriptor a read or write of iov at off
 * may go to directly (file offset = off), or -1 if this request must take
 * block_read/block_write: not a raw image, outside the disk, the probed-raw
 * guard's first sector, or a file layer that would bounce it. Direct requests
 * skip the image lock: the raw format keeps no state, and what takes the lock
 * exclusively (unaligned writes' read-modify-write) only ever overlaps a
 * direct request the guest issued concurrently on the same sectors. */
int block_async_fd(struct block_dev *b, uint64_t off, const struct iovec *iov, int iovcnt,
		   bool write);
int block_pread(struct block_dev *b, uint64_t off, void *buf, uint64_t len, struct err *err);
int block_pwrite(struct block_dev *b, uint64_t off, const void *buf, uint64_t len, struct err *err);
int block_flush(struct block_dev *b, struct err *err);
int block_discard(struct block_dev *b, uint64_t off, uint64_t len, struct err *err);
int block_write_zeroes(struct block_dev *b, uint64_t off, uint64_t len, unsigned flags,
		       struct err *err);
uint64_t block_length(struct block_dev *b);

/* Where the data of [off, off+len) comes from: sets *pnum to the length of the
 * leading run with one status. depth: 0 this image, n: n-th backing file. */
struct block_status {
	bool data;    /* stored somewhere (not a hole/zero) */
	bool zero;    /* reads as zeros */
	bool present; /* defined by this image or a backing file */
	bool compressed;
	int depth;
	uint64_t host_off; /* valid when has_offset */
	bool has_offset;
	const char *file; /* the image holding it */
};
int block_get_status(struct block_dev *b, uint64_t off, uint64_t len, uint64_t *pnum,
		     struct block_status *st, struct err *err);

/* name resolved relative to the directory of base (backing-file rule);
 * malloc'ed. */
char *block_resolve_name(const char *base, const char *name);
const char *block_format(const struct block_dev *b);
const char *block_filename(const struct block_dev *b);
struct block_dev *block_backing(struct block_dev *b);
struct block_file *block_get_file(struct block_dev *b);
bool block_readonly(const struct block_dev *b);
uint32_t block_cluster_size(struct block_dev *b); /* 0 for raw */

/* Resize (grow or shrink) the virtual disk. */
int block_truncate(struct block_dev *b, uint64_t size, struct err *err);
/* qcow2: write one whole cluster compressed (len == cluster size, or the
 * image's tail); -ENOTSUP for formats without compression. Threads may call
 * it concurrently: the compression itself runs outside the image lock. */
int block_write_compressed(struct block_dev *b, uint64_t off, const void *buf, uint64_t len,
			   struct err *err);
/* Drop every cluster of this image so it shows its backing file again
 * (commit); -ENOTSUP for formats without backing files. */
int block_make_empty(struct block_dev *b, struct err *err);
/* Replace the backing file name/format in the header (rebase -u). */
int block_set_backing(struct block_dev *b, const char *name, const char *fmt, struct err *err);

/* ---- image creation ---- */
struct block_create_opts {
	const char *format; /* "raw" or "qcow2" */
	uint64_t size;
	const char *backing; /* name stored in the header */
	const char *backing_fmt;
	uint32_t cluster_size;	 /* 0: 64 KiB */
	int version;		 /* 0/3: v3 ("1.1"), 2: v2 ("0.10") */
	const char *compression; /* NULL/"zlib" or "zstd" */
	bool lazy_refcounts;
	int refcount_bits; /* 0: 16 */
	bool no_flush;	   /* block_create: skip the final fdatasync (convert, cache=unsafe) */
};
int block_create(const char *path, const struct block_create_opts *o, struct err *err);
int block_create_file(struct block_file *f, const struct block_create_opts *o, struct err *err);

#endif
