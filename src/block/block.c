/* Block layer front end: format probing, the backing chain, argument checks,
 * the per-image lock, and the raw format. */
#include "block/block_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* file.c's O_DIRECT alignment: a write aligned to it needs no bounce. */
#define CONCURRENT_ALIGN 4096

static const struct block_driver *block_drivers[] = {&block_raw_driver, &block_qcow2_driver};

static const struct block_driver *block_find_driver(const char *name)
{
	for (size_t i = 0; i < sizeof(block_drivers) / sizeof(block_drivers[0]); i++)
		if (!strcmp(block_drivers[i]->name, name))
			return block_drivers[i];
	return NULL;
}

char *block_resolve_name(const char *base, const char *name)
{
	const char *slash = strrchr(base, '/');
	char *out;

	if (name[0] == '/' || !slash)
		return strdup(name);
	size_t dl = (size_t)(slash - base) + 1;

	out = malloc(dl + strlen(name) + 1);
	if (out) {
		memcpy(out, base, dl);
		strcpy(out + dl, name);
	}
	return out;
}

static struct block_file *block_default_open(void *opaque, const char *path, bool readonly,
					     struct err *err)
{
	const struct block_open_opts *o = opaque;

	return block_file_open(path, readonly, o ? o->cache : BLOCK_CACHE_WRITEBACK, false, err);
}

struct block_dev *block_open_depth(struct block_file *f, const struct block_open_opts *o, int depth,
				   struct block_dev *parent, struct err *err)
{
	const struct block_driver *drv;
	struct block_dev *b;
	bool probed = false;
	int ret;

	if (o->format) {
		drv = block_find_driver(o->format);
		if (!drv) {
			err_set(err, "'%s': unknown image format '%s'", f->name, o->format);
			block_file_close(f);
			return NULL;
		}
	} else {
		uint8_t magic[4] = {0};

		ret = block_file_pread(f, 0, magic, 4);
		if (ret < 0) {
			err_errno(err, ret, "'%s': cannot read header", f->name);
			block_file_close(f);
			return NULL;
		}
		drv = !memcmp(magic, "QFI\xfb", 4) ? &block_qcow2_driver : &block_raw_driver;
		probed = true;
	}
	b = calloc(1, sizeof(*b));
	if (!b || !(b->filename = strdup(f->name))) {
		free(b);
		block_file_close(f);
		err_errno(err, ENOMEM, "open");
		return NULL;
	}
	b->drv = drv;
	b->file = f;
	b->readonly = o->readonly || f->readonly;
	b->probed = probed;
	b->opts = *o;
	b->parent = parent;
	pthread_rwlock_init(&b->lock, NULL);
	ret = drv->open(b, o, depth, err);
	if (ret < 0) {
		pthread_rwlock_destroy(&b->lock);
		block_file_close(b->file);
		free(b->filename);
		free(b);
		return NULL;
	}
	b->parent = NULL;
	return b;
}

struct block_dev *block_open_file(struct block_file *f, const struct block_open_opts *o,
				  struct err *err)
{
	struct block_open_opts def = {0};

	return block_open_depth(f, o ? o : &def, 0, NULL, err);
}

struct block_dev *block_open(const char *path, const struct block_open_opts *o, struct err *err)
{
	struct block_open_opts def = {0};
	struct block_file *f;

	if (!o)
		o = &def;
	f = o->open_file ? o->open_file(o->open_file_opaque, path, o->readonly, err)
			 : block_file_open(path, o->readonly, o->cache, false, err);
	if (!f)
		return NULL;
	return block_open_depth(f, o, 0, NULL, err);
}

struct block_dev *block_open_backing(struct block_dev *b, const char *name, const char *fmt,
				     int depth, struct err *err)
{
	struct block_open_opts o = b->opts;
	struct block_file *f;
	char *path;

	if (depth + 1 >= BLOCK_MAX_CHAIN) {
		err_set(err, "backing chain deeper than %d images", BLOCK_MAX_CHAIN);
		return NULL;
	}
	path = block_resolve_name(b->filename, name);
	if (!path) {
		err_errno(err, ENOMEM, "backing file");
		return NULL;
	}
	o.readonly = true;
	o.format = fmt && fmt[0] ? fmt : NULL;
	o.allow_corrupt_write = false;
	o.no_dirty_repair = true;
	f = o.open_file ? o.open_file(o.open_file_opaque, path, true, err)
			: block_default_open(&o, path, true, err);
	if (!f) {
		free(path);
		return NULL;
	}
	/* A chain that comes back to an image already in it would recurse forever. */
	for (struct block_dev *p = b; p; p = p->parent) {
		if (p->file->id[0] == f->id[0] && p->file->id[1] == f->id[1]) {
			err_set(err, "backing file '%s' loops back to '%s'", path, p->filename);
			free(path);
			block_file_close(f);
			return NULL;
		}
	}
	free(path);
	return block_open_depth(f, &o, depth + 1, b, err);
}

void block_close(struct block_dev *b)
{
	if (!b)
		return;
	b->drv->close(b);
	block_close(b->backing);
	block_file_close(b->file);
	pthread_rwlock_destroy(&b->lock);
	free(b->filename);
	free(b);
}

static int block_check_range(struct block_dev *b, uint64_t off, uint64_t len, struct err *err)
{
	if (off > b->length || len > b->length - off)
		return err_errno(err, EINVAL,
				 "'%s': request [%llu, +%llu) beyond the disk end %llu",
				 b->filename, (unsigned long long)off, (unsigned long long)len,
				 (unsigned long long)b->length);
	return 0;
}

static int block_check_write(struct block_dev *b, uint64_t off, uint64_t len, struct err *err)
{
	if (b->readonly)
		return err_errno(err, EROFS, "'%s'", b->filename);
	return block_check_range(b, off, len, err);
}

int block_read(struct block_dev *b, uint64_t off, const struct iovec *iov, int iovcnt,
	       struct err *err)
{
	uint64_t len = iov_size(iov, iovcnt);
	int ret = block_check_range(b, off, len, err);

	if (ret < 0 || !len)
		return ret;
	if (b->drv->concurrent_rw)
		pthread_rwlock_rdlock(&b->lock);
	else
		pthread_rwlock_wrlock(&b->lock);
	ret = b->drv->read(b, off, iov, iovcnt, len, err);
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

/* The probed-raw guard (see block.h). */
static bool block_raw_write_forbidden(struct block_dev *b, uint64_t off, const struct iovec *iov,
				      int iovcnt)
{
	uint8_t head[4] = {0};

	if (!b->probed || b->drv != &block_raw_driver || off >= 4)
		return false;
	if (block_file_pread(b->file, 0, head, 4) < 0)
		return true;
	uint64_t n = iov_size(iov, iovcnt);

	iov_to_buf(iov, iovcnt, 0, head + off, n < 4 - off ? n : 4 - off);
	return !memcmp(head, "QFI\xfb", 4);
}

int block_write(struct block_dev *b, uint64_t off, const struct iovec *iov, int iovcnt,
		struct err *err)
{
	uint64_t len = iov_size(iov, iovcnt);
	int ret = block_check_write(b, off, len, err);

	if (ret < 0 || !len)
		return ret;
	/* A write not aligned to the file layer's O_DIRECT granularity is a
	 * read-modify-write of its edges (file.c, posix_bounce): alone. */
	if (b->drv->concurrent_rw && !((off | len) & (CONCURRENT_ALIGN - 1)))
		pthread_rwlock_rdlock(&b->lock);
	else
		pthread_rwlock_wrlock(&b->lock);
	if (block_raw_write_forbidden(b, off, iov, iovcnt))
		ret = err_errno(err, EPERM,
				"'%s': refusing to write a format header into a probed raw image "
				"(open it with format=raw)",
				b->filename);
	else
		ret = b->drv->write(b, off, iov, iovcnt, len, err);
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

int block_async_fd(struct block_dev *b, uint64_t off, const struct iovec *iov, int iovcnt,
		   bool write)
{
	uint64_t len = iov_size(iov, iovcnt);

	if (b->drv != &block_raw_driver || !len || off > b->length || len > b->length - off ||
	    (write && (b->readonly || (b->probed && off < 4))))
		return -1;
	return block_file_async_fd(b->file, off, iov, iovcnt, write);
}

int block_pread(struct block_dev *b, uint64_t off, void *buf, uint64_t len, struct err *err)
{
	struct iovec v = {buf, len};

	return block_read(b, off, &v, 1, err);
}

int block_pwrite(struct block_dev *b, uint64_t off, const void *buf, uint64_t len, struct err *err)
{
	struct iovec v = {(void *)buf, len};

	return block_write(b, off, &v, 1, err);
}

int block_flush(struct block_dev *b, struct err *err)
{
	int ret;

	if (b->readonly)
		return 0;
	pthread_rwlock_wrlock(&b->lock);
	ret = b->drv->flush(b, err);
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

int block_discard(struct block_dev *b, uint64_t off, uint64_t len, struct err *err)
{
	int ret = block_check_write(b, off, len, err);

	if (ret < 0 || !len)
		return ret;
	pthread_rwlock_wrlock(&b->lock);
	ret = b->drv->discard(b, off, len, err);
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

int block_write_zeroes(struct block_dev *b, uint64_t off, uint64_t len, unsigned flags,
		       struct err *err)
{
	int ret = block_check_write(b, off, len, err);

	if (ret < 0 || !len)
		return ret;
	pthread_rwlock_wrlock(&b->lock);
	ret = b->drv->write_zeroes(b, off, len, flags, err);
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

uint64_t block_length(struct block_dev *b)
{
	return b->length;
}

int block_get_status(struct block_dev *b, uint64_t off, uint64_t len, uint64_t *pnum,
		     struct block_status *st, struct err *err)
{
	int ret = block_check_range(b, off, len, err);

	if (ret < 0)
		return ret;
	memset(st, 0, sizeof(*st));
	if (!len) {
		*pnum = 0;
		return 0;
	}
	pthread_rwlock_wrlock(&b->lock);
	ret = b->drv->get_status(b, off, len, pnum, st, err);
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

const char *block_format(const struct block_dev *b)
{
	return b->drv->name;
}

const char *block_filename(const struct block_dev *b)
{
	return b->filename;
}

struct block_dev *block_backing(struct block_dev *b)
{
	return b->backing;
}

struct block_file *block_get_file(struct block_dev *b)
{
	return b->file;
}

bool block_readonly(const struct block_dev *b)
{
	return b->readonly;
}

int block_truncate(struct block_dev *b, uint64_t size, struct err *err)
{
	int ret;

	if (b->readonly)
		return err_errno(err, EROFS, "'%s'", b->filename);
	pthread_rwlock_wrlock(&b->lock);
	ret = b->drv->truncate(b, size, err);
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

int block_write_compressed(struct block_dev *b, uint64_t off, const void *buf, uint64_t len,
			   struct err *err)
{
	int ret = block_check_write(b, off, len, err);

	if (ret < 0)
		return ret;
	if (!b->drv->write_compressed)
		return err_errno(err, ENOTSUP, "'%s': format %s has no compression", b->filename,
				 b->drv->name);
	/* The driver takes the lock itself: compression runs outside it, so
	 * several threads can compress at once (convert -c). */
	return b->drv->write_compressed(b, off, buf, len, err);
}

int block_make_empty(struct block_dev *b, struct err *err)
{
	int ret;

	if (b->readonly)
		return err_errno(err, EROFS, "'%s'", b->filename);
	if (!b->drv->make_empty)
		return err_errno(err, ENOTSUP, "'%s': format %s cannot be emptied", b->filename,
				 b->drv->name);
	pthread_rwlock_wrlock(&b->lock);
	ret = b->drv->make_empty(b, err);
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

int block_set_backing(struct block_dev *b, const char *name, const char *fmt, struct err *err)
{
	int ret;

	if (b->readonly)
		return err_errno(err, EROFS, "'%s'", b->filename);
	if (!b->drv->set_backing)
		return err_errno(err, ENOTSUP, "'%s': format %s has no backing file", b->filename,
				 b->drv->name);
	pthread_rwlock_wrlock(&b->lock);
	ret = b->drv->set_backing(b, name, fmt, err);
	pthread_rwlock_unlock(&b->lock);
	return ret;
}

int block_create_file(struct block_file *f, const struct block_create_opts *o, struct err *err)
{
	const struct block_driver *drv = block_find_driver(o->format ? o->format : "raw");

	if (!drv || !drv->create)
		return err_set(err, "unknown image format '%s'", o->format);
	return drv->create(f, o, err);
}

int block_create(const char *path, const struct block_create_opts *o, struct err *err)
{
	struct block_file *f = block_file_open(path, false, BLOCK_CACHE_WRITEBACK, true, err);
	int ret;

	if (!f)
		return -EIO;
	ret = block_create_file(f, o, err);
	if (ret >= 0 && !o->no_flush) {
		ret = block_file_flush(f);
		if (ret < 0)
			err_errno(err, ret, "'%s': flush", path);
	}
	block_file_close(f);
	return ret;
}

/* ---- raw ---- */

static int raw_open(struct block_dev *b, const struct block_open_opts *o, int depth,
		    struct err *err)
{
	int64_t len = block_file_length(b->file);

	if (len < 0)
		return err_errno(err, (int)len, "'%s'", b->filename);
	b->length = (uint64_t)len;
	return 0;
}

static void raw_close(struct block_dev *b)
{
}

static int raw_read(struct block_dev *b, uint64_t off, const struct iovec *iov, int iovcnt,
		    uint64_t len, struct err *err)
{
	int ret = b->file->ops->preadv(b->file, off, iov, iovcnt);

	return ret < 0 ? err_errno(err, ret, "'%s': read", b->filename) : 0;
}

static int raw_write(struct block_dev *b, uint64_t off, const struct iovec *iov, int iovcnt,
		     uint64_t len, struct err *err)
{
	int ret = b->file->ops->pwritev(b->file, off, iov, iovcnt);

	return ret < 0 ? err_errno(err, ret, "'%s': write", b->filename) : 0;
}

static int raw_flush(struct block_dev *b, struct err *err)
{
	int ret = block_file_flush(b->file);

	return ret < 0 ? err_errno(err, ret, "'%s': flush", b->filename) : 0;
}

static int raw_discard(struct block_dev *b, uint64_t off, uint64_t len, struct err *err)
{
	int ret = b->file->ops->discard(b->file, off, len);

	return ret < 0 ? err_errno(err, ret, "'%s': discard", b->filename) : 0;
}

static int raw_write_zeroes(struct block_dev *b, uint64_t off, uint64_t len, unsigned flags,
			    struct err *err)
{
	int ret;

	ret = b->file->ops->write_zeroes(b->file, off, len);
	return ret < 0 ? err_errno(err, ret, "'%s': write zeroes", b->filename) : 0;
}

static int raw_get_status(struct block_dev *b, uint64_t off, uint64_t len, uint64_t *pnum,
			  struct block_status *st, struct err *err)
{
	bool data = true;

	*pnum = len;
	if (b->file->ops->status && b->file->ops->status(b->file, off, len, &data, pnum) < 0)
		data = true, *pnum = len;
	if (!*pnum)
		*pnum = len;
	st->data = data;
	st->zero = !data;
	st->present = true;
	st->has_offset = true;
	st->host_off = off;
	st->file = b->filename;
	return 0;
}

static int raw_truncate(struct block_dev *b, uint64_t size, struct err *err)
{
	int ret = b->file->ops->truncate(b->file, size);

	if (ret < 0)
		return err_errno(err, ret, "'%s': resize", b->filename);
	b->length = size;
	return 0;
}

static int raw_create(struct block_file *f, const struct block_create_opts *o, struct err *err)
{
	int ret;

	if (o->backing)
		return err_set(err, "raw images cannot have a backing file");
	ret = f->ops->truncate(f, o->size);
	return ret < 0 ? err_errno(err, ret, "'%s'", f->name) : 0;
}

const struct block_driver block_raw_driver = {
    .name = "raw",
    .concurrent_rw = true,
    .open = raw_open,
    .close = raw_close,
    .read = raw_read,
    .write = raw_write,
    .flush = raw_flush,
    .discard = raw_discard,
    .write_zeroes = raw_write_zeroes,
    .get_status = raw_get_status,
    .truncate = raw_truncate,
    .create = raw_create,
};
