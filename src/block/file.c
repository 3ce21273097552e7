/* Block protocol layer: host files and in-memory files (see file.h). */
#include "block/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIRECT_ALIGN 4096

/* ---- iovec helpers ---- */

uint64_t iov_size(const struct iovec *iov, int iovcnt)
{
	uint64_t n = 0;

	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n;
}

int iov_slice(const struct iovec *iov, int iovcnt, uint64_t off, uint64_t len, struct iovec *dst)
{
	int n = 0;

	for (int i = 0; i < iovcnt && len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		uint64_t chunk = iov[i].iov_len - off;

		if (chunk > len)
			chunk = len;
		dst[n].iov_base = (uint8_t *)iov[i].iov_base + off;
		dst[n].iov_len = chunk;
		n++;
		len -= chunk;
		off = 0;
	}
	return n;
}

static void iov_copy(const struct iovec *iov, int iovcnt, uint64_t off, void *buf, uint64_t len,
		     int dir)
{
	uint8_t *p = buf;

	for (int i = 0; i < iovcnt && len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		uint64_t chunk = iov[i].iov_len - off;

		if (chunk > len)
			chunk = len;
		uint8_t *base = (uint8_t *)iov[i].iov_base + off;

		if (dir == 0)
			memcpy(p, base, chunk);
		else if (dir == 1)
			memcpy(base, p, chunk);
		else
			memset(base, *(const int *)buf, chunk);
		if (dir != 2)
			p += chunk;
		len -= chunk;
		off = 0;
	}
}

void iov_to_buf(const struct iovec *iov, int iovcnt, uint64_t off, void *buf, uint64_t len)
{
	iov_copy(iov, iovcnt, off, buf, len, 0);
}

void iov_from_buf(const struct iovec *iov, int iovcnt, uint64_t off, const void *buf, uint64_t len)
{
	iov_copy(iov, iovcnt, off, (void *)buf, len, 1);
}

void iov_memset(const struct iovec *iov, int iovcnt, uint64_t off, int c, uint64_t len)
{
	iov_copy(iov, iovcnt, off, &c, len, 2);
}

bool buf_is_zero(const void *buf, uint64_t len)
{
	const uint8_t *p = buf;
	uint64_t i = 0;

	for (; i < len && ((uintptr_t)(p + i) & 7); i++)
		if (p[i])
			return false;
	for (; i + 32 <= len; i += 32) {
		const uint64_t *q = (const uint64_t *)(p + i);

		if (q[0] | q[1] | q[2] | q[3])
			return false;
	}
	for (; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* ---- host files ---- */

struct posix_file {
	struct block_file f;
	int fd;
	bool direct, unsafe;
};

static bool iov_aligned(uint64_t off, const struct iovec *iov, int iovcnt)
{
	if (off % DIRECT_ALIGN)
		return false;
	for (int i = 0; i < iovcnt; i++)
		if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) % DIRECT_ALIGN)
			return false;
	return true;
}

static int posix_rw(int fd, uint64_t off, const struct iovec *iov, int iovcnt, bool write)
{
	struct iovec local[64];
	struct iovec *v = iovcnt <= 64 ? local : malloc(sizeof(*v) * iovcnt);
	uint64_t left = iov_size(iov, iovcnt);
	int n = iovcnt, ret = 0;

	if (!v)
		return -ENOMEM;
	memcpy(v, iov, sizeof(*v) * iovcnt);
	struct iovec *cur = v;

	while (left) {
		ssize_t r = write ? pwritev(fd, cur, n > IOV_MAX ? IOV_MAX : n, (off_t)off)
				  : preadv(fd, cur, n > IOV_MAX ? IOV_MAX : n, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (r == 0) {
			if (write) {
				ret = -EIO;
				break;
			}
			/* Past the end of the file reads as zeros. */
			for (int i = 0; i < n; i++)
				memset(cur[i].iov_base, 0, cur[i].iov_len);
			break;
		}
		off += (uint64_t)r, left -= (uint64_t)r;
		while (r > 0 && n > 0) {
			if ((size_t)r >= cur->iov_len) {
				r -= (ssize_t)cur->iov_len;
				cur++, n--;
			} else {
				cur->iov_base = (uint8_t *)cur->iov_base + r;
				cur->iov_len -= (size_t)r;
				r = 0;
			}
		}
	}
	if (v != local)
		free(v);
	return ret;
}

/* O_DIRECT needs aligned buffers, offsets and lengths: unaligned requests
 * (metadata entry updates) go through an aligned bounce buffer. The formats
 * serialize metadata updates under their image lock, so the read-modify-write
 * does not race with itself. */
static int posix_bounce(struct posix_file *p, uint64_t off, const struct iovec *iov, int iovcnt,
			bool write)
{
	uint64_t len = iov_size(iov, iovcnt);
	uint64_t a = off & ~(uint64_t)(DIRECT_ALIGN - 1);
	uint64_t e = (off + len + DIRECT_ALIGN - 1) & ~(uint64_t)(DIRECT_ALIGN - 1);
	void *buf;
	int ret;

	if (posix_memalign(&buf, DIRECT_ALIGN, e - a))
		return -ENOMEM;
	struct iovec b = {buf, e - a};

	if (!write || off != a || off + len != e) {
		ret = posix_rw(p->fd, a, &b, 1, false);
		if (ret < 0)
			goto out;
	}
	if (write) {
		iov_to_buf(iov, iovcnt, 0, (uint8_t *)buf + (off - a), len);
		int64_t flen = p->f.ops->length(&p->f);

		ret = posix_rw(p->fd, a, &b, 1, true);
		/* Do not let the alignment padding grow the file. */
		if (!ret && flen >= 0 && (uint64_t)flen < e && off + len > (uint64_t)flen &&
		    ftruncate(p->fd, (off_t)(off + len)) < 0)
			ret = -errno;
	} else {
		iov_from_buf(iov, iovcnt, 0, (uint8_t *)buf + (off - a), len);
		ret = 0;
	}
out:
	free(buf);
	return ret;
}

static int posix_preadv(struct block_file *f, uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct posix_file *p = (struct posix_file *)f;

	if (p->direct && !iov_aligned(off, iov, iovcnt))
		return posix_bounce(p, off, iov, iovcnt, false);
	return posix_rw(p->fd, off, iov, iovcnt, false);
}

static int posix_pwritev(struct block_file *f, uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct posix_file *p = (struct posix_file *)f;

	if (f->readonly)
		return -EROFS;
	if (p->direct && !iov_aligned(off, iov, iovcnt))
		return posix_bounce(p, off, iov, iovcnt, true);
	return posix_rw(p->fd, off, iov, iovcnt, true);
}

static int posix_flush(struct block_file *f)
{
	struct posix_file *p = (struct posix_file *)f;

	if (f->readonly || p->unsafe)
		return 0; /* cache=unsafe: flushes are ignored, as in QEMU */
	return fdatasync(p->fd) < 0 ? -errno : 0;
}

static int posix_discard(struct block_file *f, uint64_t off, uint64_t len)
{
	struct posix_file *p = (struct posix_file *)f;

	if (f->readonly)
		return -EROFS;
	if (fallocate(p->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) <
	    0)
		return errno == EOPNOTSUPP ? 0 : -errno; /* discard is advisory */
	return 0;
}

static int posix_write_zeroes(struct block_file *f, uint64_t off, uint64_t len)
{
	struct posix_file *p = (struct posix_file *)f;
	static const uint8_t zero[65536] __attribute__((aligned(4096)));

	if (f->readonly)
		return -EROFS;
	int64_t flen = f->ops->length(f);

	if (flen >= 0 && off >= (uint64_t)flen)
		return ftruncate(p->fd, (off_t)(off + len)) < 0 ? -errno : 0;
	if (fallocate(p->fd, FALLOC_FL_ZERO_RANGE, (off_t)off, (off_t)len) == 0)
		return 0;
	while (len) {
		uint64_t n = len < sizeof(zero) ? len : sizeof(zero);
		struct iovec v = {(void *)zero, n};
		int ret = posix_pwritev(f, off, &v, 1);

		if (ret < 0)
			return ret;
		off += n, len -= n;
	}
	return 0;
}

static int64_t posix_length(struct block_file *f)
{
	struct posix_file *p = (struct posix_file *)f;
	off_t end = lseek(p->fd, 0, SEEK_END);

	return end < 0 ? -errno : (int64_t)end;
}

static int posix_truncate(struct block_file *f, uint64_t len)
{
	struct posix_file *p = (struct posix_file *)f;

	if (f->readonly)
		return -EROFS;
	return ftruncate(p->fd, (off_t)len) < 0 ? -errno : 0;
}

static int64_t posix_allocated(struct block_file *f)
{
	struct posix_file *p = (struct posix_file *)f;
	struct stat st;

	if (fstat(p->fd, &st) < 0)
		return -errno;
	return (int64_t)st.st_blocks * 512;
}

static void posix_close(struct block_file *f)
{
	struct posix_file *p = (struct posix_file *)f;

	close(p->fd);
	free(f->name);
	free(p);
}

/* Holes of a sparse host file (SEEK_DATA/SEEK_HOLE) read as zeros: convert
 * and map skip them without reading. */
static int posix_status(struct block_file *f, uint64_t off, uint64_t len, bool *data,
			uint64_t *pnum)
{
	struct posix_file *p = (struct posix_file *)f;
	off_t d = lseek(p->fd, (off_t)off, SEEK_DATA);

	*data = true, *pnum = len;
	if (d < 0 && errno == ENXIO) { /* a hole up to the end */
		*data = false;
		return 0;
	}
	if (d < 0)
		return 0; /* no SEEK_DATA here: call it all data */
	if ((uint64_t)d > off) {
		*data = false;
		if ((uint64_t)d - off < len)
			*pnum = (uint64_t)d - off;
		return 0;
	}
	off_t h = lseek(p->fd, (off_t)off, SEEK_HOLE);

	if (h > (off_t)off && (uint64_t)h - off < len)
		*pnum = (uint64_t)h - off;
	return 0;
}

static const struct block_file_ops posix_ops = {
    posix_preadv, posix_pwritev,  posix_flush,	   posix_discard, posix_write_zeroes,
    posix_length, posix_truncate, posix_allocated, posix_close,	  posix_status,
};

struct block_file *block_file_open(const char *path, bool readonly, enum block_cache_mode cache,
				   bool create, struct err *err)
{
	int flags = readonly ? O_RDONLY : O_RDWR;
	struct stat st;

	if (create)
		flags |= O_CREAT | O_TRUNC;
	if (cache == BLOCK_CACHE_NONE)
		flags |= O_DIRECT;
	int fd = open(path, flags | O_CLOEXEC, 0644);

	if (fd < 0 && errno == EINVAL && (flags & O_DIRECT)) {
		err_set(err, "'%s': the host filesystem does not support cache=none (O_DIRECT)",
			path);
		return NULL;
	}
	if (fd < 0) {
		err_errno(err, errno, "'%s'", path);
		return NULL;
	}
	if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode)) {
		err_set(err, "'%s': not a regular file or block device", path);
		close(fd);
		return NULL;
	}
	struct posix_file *p = calloc(1, sizeof(*p));

	if (!p || !(p->f.name = strdup(path))) {
		free(p);
		close(fd);
		err_errno(err, ENOMEM, "'%s'", path);
		return NULL;
	}
	p->f.ops = &posix_ops;
	p->f.readonly = readonly;
	p->f.id[0] = st.st_dev, p->f.id[1] = st.st_ino;
	p->fd = fd;
	p->direct = cache == BLOCK_CACHE_NONE;
	p->unsafe = cache == BLOCK_CACHE_UNSAFE;
	return &p->f;
}

/* ---- in-memory files ---- */

struct mem_file {
	struct block_file f;
	pthread_mutex_t lock;
	uint8_t *data;
	uint64_t len, cap, max;
};

static int mem_grow(struct mem_file *m, uint64_t end)
{
	if (end > m->max)
		return -ENOSPC;
	if (end > m->cap) {
		uint64_t cap = m->cap ? m->cap : 65536;

		while (cap < end)
			cap *= 2;
		uint8_t *d = realloc(m->data, cap);

		if (!d)
			return -ENOMEM;
		memset(d + m->cap, 0, cap - m->cap);
		m->data = d, m->cap = cap;
	}
	if (end > m->len)
		m->len = end;
	return 0;
}

static int mem_preadv(struct block_file *f, uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct mem_file *m = (struct mem_file *)f;
	uint64_t len = iov_size(iov, iovcnt);

	pthread_mutex_lock(&m->lock);
	iov_memset(iov, iovcnt, 0, 0, len);
	if (off < m->len)
		iov_from_buf(iov, iovcnt, 0, m->data + off,
			     len < m->len - off ? len : m->len - off);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static int mem_pwritev(struct block_file *f, uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct mem_file *m = (struct mem_file *)f;
	uint64_t len = iov_size(iov, iovcnt);
	int ret;

	if (f->readonly)
		return -EROFS;
	if (off + len < off)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	ret = mem_grow(m, off + len);
	if (!ret)
		iov_to_buf(iov, iovcnt, 0, m->data + off, len);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static int mem_flush(struct block_file *f)
{
	return 0;
}

static int mem_write_zeroes(struct block_file *f, uint64_t off, uint64_t len)
{
	struct mem_file *m = (struct mem_file *)f;
	int ret;

	if (f->readonly)
		return -EROFS;
	if (off + len < off)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	ret = mem_grow(m, off + len);
	if (!ret)
		memset(m->data + off, 0, len);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static int mem_discard(struct block_file *f, uint64_t off, uint64_t len)
{
	struct mem_file *m = (struct mem_file *)f;

	if (f->readonly)
		return -EROFS;
	pthread_mutex_lock(&m->lock);
	if (off < m->len) {
		if (len > m->len - off)
			len = m->len - off;
		memset(m->data + off, 0, len);
	}
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static int64_t mem_length(struct block_file *f)
{
	struct mem_file *m = (struct mem_file *)f;
	int64_t n;

	pthread_mutex_lock(&m->lock);
	n = (int64_t)m->len;
	pthread_mutex_unlock(&m->lock);
	return n;
}

static int mem_truncate(struct block_file *f, uint64_t len)
{
	struct mem_file *m = (struct mem_file *)f;
	int ret = 0;

	if (f->readonly)
		return -EROFS;
	pthread_mutex_lock(&m->lock);
	if (len > m->len) {
		ret = mem_grow(m, len);
	} else if (len < m->len) {
		memset(m->data + len, 0, m->len - len);
		m->len = len;
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static void mem_close(struct block_file *f)
{
	struct mem_file *m = (struct mem_file *)f;

	pthread_mutex_destroy(&m->lock);
	free(m->data);
	free(f->name);
	free(m);
}

int block_file_async_fd(struct block_file *f, uint64_t off, const struct iovec *iov, int iovcnt,
			bool write)
{
	struct posix_file *p = (struct posix_file *)f;

	if (f->ops != &posix_ops || (write && f->readonly) || iovcnt <= 0 || iovcnt > IOV_MAX ||
	    (p->direct && !iov_aligned(off, iov, iovcnt)))
		return -1;
	return p->fd;
}

static const struct block_file_ops mem_ops = {
    mem_preadv, mem_pwritev,  mem_flush,  mem_discard, mem_write_zeroes,
    mem_length, mem_truncate, mem_length, mem_close,   NULL,
};

struct block_file *block_file_mem_create(const char *name, const void *data, uint64_t len,
					 bool readonly)
{
	static atomic_ulong next_id;
	struct mem_file *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->f.ops = &mem_ops;
	m->f.readonly = readonly;
	m->f.name = strdup(name ? name : "mem");
	m->f.id[0] = ~0ULL, m->f.id[1] = atomic_fetch_add(&next_id, 1);
	m->max = UINT64_MAX / 2;
	pthread_mutex_init(&m->lock, NULL);
	if (!m->f.name || (len && mem_grow(m, len) < 0)) {
		mem_close(&m->f);
		return NULL;
	}
	if (len && data)
		memcpy(m->data, data, len);
	return &m->f;
}

const uint8_t *block_file_mem_data(struct block_file *f, uint64_t *len)
{
	struct mem_file *m = (struct mem_file *)f;

	*len = m->len;
	return m->data;
}

void block_file_mem_set_max(struct block_file *f, uint64_t max)
{
	((struct mem_file *)f)->max = max;
}

int block_file_pread(struct block_file *f, uint64_t off, void *buf, uint64_t len)
{
	struct iovec v = {buf, len};

	return f->ops->preadv(f, off, &v, 1);
}

int block_file_pwrite(struct block_file *f, uint64_t off, const void *buf, uint64_t len)
{
	struct iovec v = {(void *)buf, len};

	return f->ops->pwritev(f, off, &v, 1);
}
