/* The block protocol layer: a byte-addressed file under the image formats.
 * Two implementations: a host file (pread/pwrite, optional O_DIRECT) and an
 * in-memory file for unit tests and the fuzzer. Every operation is
 * synchronous and thread-safe as far as the host file is (the in-memory file
 * takes its own lock). */
#ifndef VIREO_BLOCK_FILE_H
#define VIREO_BLOCK_FILE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/err.h"

struct block_file;

struct block_file_ops {
	int (*preadv)(struct block_file *f, uint64_t off, const struct iovec *iov, int iovcnt);
	int (*pwritev)(struct block_file *f, uint64_t off, const struct iovec *iov, int iovcnt);
	int (*flush)(struct block_file *f);
	int (*discard)(struct block_file *f, uint64_t off, uint64_t len);
	int (*write_zeroes)(struct block_file *f, uint64_t off, uint64_t len);
	int64_t (*length)(struct block_file *f);
	int (*truncate)(struct block_file *f, uint64_t len);
	int64_t (*allocated)(struct block_file *f); /* bytes used on the host, or -errno */
	void (*close)(struct block_file *f);
	/* Sets *data for the run at off and its length *pnum (<= len); NULL:
	 * everything is data. */
	int (*status)(struct block_file *f, uint64_t off, uint64_t len, bool *data, uint64_t *pnum);
};

struct block_file {
	const struct block_file_ops *ops;
	char *name; /* as given; used to resolve relative backing names */
	bool readonly;
	uint64_t id[2]; /* identity (st_dev, st_ino) for backing-loop detection */
};

enum block_cache_mode { BLOCK_CACHE_WRITEBACK, BLOCK_CACHE_NONE, BLOCK_CACHE_UNSAFE };

/* Open (or with create, create/truncate) a host file. */
struct block_file *block_file_open(const char *path, bool readonly, enum block_cache_mode cache,
				   bool create, struct err *err);
/* An in-memory file with a private copy of data[0..len) (data may be NULL). */
struct block_file *block_file_mem_create(const char *name, const void *data, uint64_t len,
					 bool readonly);
/* The in-memory file's bytes and length (for tests). */
const uint8_t *block_file_mem_data(struct block_file *f, uint64_t *len);
/* Cap the in-memory file's growth (tests; writes beyond fail with -ENOSPC). */
void block_file_mem_set_max(struct block_file *f, uint64_t max);

/* For asynchronous engines (block/aio.h): the host descriptor that can take
 * a vectored read or write of iov at off as it is (a host file, aligned for
 * O_DIRECT if it is open so, at most IOV_MAX segments), or -1: use preadv /
 * pwritev, which bounce and retry as needed. */
int block_file_async_fd(struct block_file *f, uint64_t off, const struct iovec *iov, int iovcnt,
			bool write);

/* Full-length helpers: 0 or -errno; short reads past the end read zeros. */
int block_file_pread(struct block_file *f, uint64_t off, void *buf, uint64_t len);
int block_file_pwrite(struct block_file *f, uint64_t off, const void *buf, uint64_t len);

static inline int64_t block_file_length(struct block_file *f)
{
	return f->ops->length(f);
}

static inline int block_file_flush(struct block_file *f)
{
	return f->ops->flush(f);
}

static inline void block_file_close(struct block_file *f)
{
	if (f)
		f->ops->close(f);
}

/* iovec helpers shared by the formats. */
uint64_t iov_size(const struct iovec *iov, int iovcnt);
/* Fill dst with the part [off, off+len) of iov; returns the entry count (<= iovcnt). */
int iov_slice(const struct iovec *iov, int iovcnt, uint64_t off, uint64_t len, struct iovec *dst);
void iov_to_buf(const struct iovec *iov, int iovcnt, uint64_t off, void *buf, uint64_t len);
void iov_from_buf(const struct iovec *iov, int iovcnt, uint64_t off, const void *buf, uint64_t len);
void iov_memset(const struct iovec *iov, int iovcnt, uint64_t off, int c, uint64_t len);
bool buf_is_zero(const void *buf, uint64_t len);

#endif
