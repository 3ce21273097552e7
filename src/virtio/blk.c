#include "virtio/blk.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "block/aio.h"
#include "block/block.h"
#include "core/log.h"
#include "core/workpool.h"
#include "virtio/blk_req.h"
#include "virtio/virtio.h"
#include "vm/vm.h"

/* Feature bits (§5.2.3). */
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_WZ_UNMAP 1u

#define SECTOR VIRTIO_BLK_SECTOR
#define BLK_QUEUE_SIZE 256
#define BLK_SEG_MAX (BLK_QUEUE_SIZE - 2) /* header and status take two */
#define BLK_MAX_QUEUES 64
#define BLK_WORKERS 4
#define BLK_MAX_RANGES 32              /* discard / write-zeroes segments per request */
#define BLK_MAX_RANGE_SECTORS 0x3fffffu

/* Device config (§5.2.4), little-endian; up to write_zeroes_may_unmap. */
struct virtio_blk_config {
	uint64_t capacity;
	uint32_t size_max, seg_max;
	uint16_t cylinders;
	uint8_t heads, sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp, alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback, unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors, max_discard_seg, discard_sector_alignment;
	uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap, unused1[3];
} __attribute__((packed));

struct blk_req {
	struct work work;
	struct aio_req aio;
	struct virtio_blk *blk;
	struct virtio_queue *q;
	struct blk_req *next_free;
	uint16_t head;
	uint32_t type;
	uint64_t sector;
	uint8_t *status;
	uint32_t written; /* bytes the device wrote into the chain (incl. status) */
	uint64_t data_len;
	int niov;
	struct iovec iov[BLK_QUEUE_SIZE]; /* data segments */
	struct iovec elem_iov[BLK_QUEUE_SIZE];
};

struct virtio_blk {
	struct virtio_dev *vdev;
	struct block_dev *bdev;
	struct workpool *pool;
	struct aio_ctx *aio; /* NULL: every request goes to the pool */
	bool readonly;
	uint64_t capacity; /* sectors */
	char serial[VIRTIO_BLK_ID_BYTES];
	pthread_mutex_t lock; /* free list and in-flight count */
	pthread_cond_t idle;
	struct blk_req *free;
	unsigned inflight;
	uint64_t guest_errors, host_errors;
};

/* --- option parsing --- */

static int blk_parse_bool(const char *v, bool *out, const char *key, struct err *err)
{
	if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no"))
		*out = false;
	else
		return err_set(err, "--disk: %s=%s: expected on or off", key, v);
	return 0;
}

static int blk_parse_option(struct virtio_blk_opts *o, char *kv, struct err *err)
{
	char *v = strchr(kv, '=');

	if (!v)
		return err_set(err, "--disk: option '%s' needs a value (key=value)", kv);
	*v++ = 0;
	if (!strcmp(kv, "readonly") || !strcmp(kv, "ro"))
		return blk_parse_bool(v, &o->readonly, kv, err);
	if (!strcmp(kv, "cache")) {
		if (!strcmp(v, "none"))
			o->cache = BLOCK_CACHE_NONE;
		else if (!strcmp(v, "writeback"))
			o->cache = BLOCK_CACHE_WRITEBACK;
		else if (!strcmp(v, "unsafe"))
			o->cache = BLOCK_CACHE_UNSAFE;
		else
			return err_set(err, "--disk: cache=%s: expected none, writeback or unsafe", v);
		return 0;
	}
	if (!strcmp(kv, "serial")) {
		if (strlen(v) > VIRTIO_BLK_ID_BYTES)
			return err_set(err, "--disk: serial '%s' is longer than %d bytes", v,
				       VIRTIO_BLK_ID_BYTES);
		strcpy(o->serial, v);
		return 0;
	}
	if (!strcmp(kv, "format")) {
		if (!strcmp(v, "raw"))
			o->format = "raw";
		else if (!strcmp(v, "qcow2"))
			o->format = "qcow2";
		else
			return err_set(err, "--disk: format=%s: expected raw or qcow2", v);
		return 0;
	}
	if (!strcmp(kv, "aio")) {
		if (!strcmp(v, "io_uring"))
			o->aio = VIRTIO_BLK_AIO_IO_URING;
		else if (!strcmp(v, "threads"))
			o->aio = VIRTIO_BLK_AIO_THREADS;
		else
			return err_set(err, "--disk: aio=%s: expected io_uring or threads", v);
		return 0;
	}
	if (!strcmp(kv, "queues")) {
		char *end;
		unsigned long n = strtoul(v, &end, 10);

		if (*v == 0 || *end || n == 0 || n > BLK_MAX_QUEUES)
			return err_set(err, "--disk: queues=%s: expected 1 to %d", v, BLK_MAX_QUEUES);
		o->num_queues = (unsigned)n;
		return 0;
	}
	return err_set(err, "--disk: unknown option '%s'", kv);
}

int virtio_blk_parse(const char *spec, struct virtio_blk_opts *o, struct err *err)
{
	size_t n = strlen(spec);
	char *buf = malloc(n + 1), *opts = NULL;
	size_t j = 0;
	int r = 0;

	memset(o, 0, sizeof(*o));
	if (!buf)
		return err_errno(err, ENOMEM, "--disk");
	/* PATH ends at the first single comma; ",," is a literal comma. */
	for (size_t i = 0; i < n; i++) {
		if (spec[i] == ',' && spec[i + 1] == ',') {
			buf[j++] = ',';
			i++;
		} else if (spec[i] == ',') {
			opts = strdup(spec + i + 1);
			if (!opts) {
				free(buf);
				return err_errno(err, ENOMEM, "--disk");
			}
			break;
		} else {
			buf[j++] = spec[i];
		}
	}
	buf[j] = 0;
	o->path = buf;
	if (!*buf)
		r = err_set(err, "--disk: no file name in '%s'", spec);
	for (char *save = NULL, *kv = opts ? strtok_r(opts, ",", &save) : NULL; kv && r == 0;
	     kv = strtok_r(NULL, ",", &save))
		r = blk_parse_option(o, kv, err);
	free(opts);
	if (r < 0)
		virtio_blk_opts_fini(o);
	return r;
}

void virtio_blk_opts_fini(struct virtio_blk_opts *o)
{
	free(o->path);
	o->path = NULL;
}

/* --- requests --- */

static struct blk_req *blk_req_get(struct virtio_blk *blk)
{
	struct blk_req *r;

	pthread_mutex_lock(&blk->lock);
	r = blk->free;
	if (r)
		blk->free = r->next_free;
	blk->inflight++;
	pthread_mutex_unlock(&blk->lock);
	if (!r)
		r = malloc(sizeof(*r));
	if (!r) {
		pthread_mutex_lock(&blk->lock);
		blk->inflight--;
		pthread_mutex_unlock(&blk->lock);
	}
	return r;
}

static void blk_req_put(struct virtio_blk *blk, struct blk_req *r)
{
	pthread_mutex_lock(&blk->lock);
	r->next_free = blk->free;
	blk->free = r;
	if (--blk->inflight == 0)
		pthread_cond_broadcast(&blk->idle);
	pthread_mutex_unlock(&blk->lock);
}

/* A read landed in guest RAM behind the emulated CPU's back. */
static void blk_read_done(struct blk_req *r)
{
	r->written += (uint32_t)r->data_len;
	for (int k = 0; k < r->niov; k++)
		gm_dma_written(r->q->vq.mem, r->iov[k].iov_base, r->iov[k].iov_len);
}

/* The status byte, then the used ring; the interrupt now (a worker) or
 * after the batch (io_uring, blk_aio_batch_done). */
static void blk_complete(struct blk_req *r, uint8_t status, bool interrupt)
{
	*r->status = status;
	virtio_queue_lock(r->q);
	if (interrupt)
		virtio_queue_complete(r->q, r->head, r->written);
	else
		vq_push(&r->q->vq, r->head, r->written);
	virtio_queue_unlock(r->q);
	blk_req_put(r->blk, r);
}

/* Discard / write-zeroes (§5.2.6.2): an array of
 * {le64 sector, le32 num_sectors, le32 flags}. */
static uint8_t blk_ranges(struct blk_req *r, struct err *err)
{
	struct virtio_blk *blk = r->blk;
	uint64_t n = r->data_len / 16;

	if (r->data_len % 16 || n == 0 || n > BLK_MAX_RANGES)
		return VIRTIO_BLK_S_UNSUPP;
	for (uint64_t i = 0; i < n; i++) {
		uint8_t seg[16];
		uint64_t sector;
		uint32_t count, flags;
		int rc;

		iov_to_buf(r->iov, r->niov, i * 16, seg, sizeof(seg));
		memcpy(&sector, seg, 8);
		memcpy(&count, seg + 8, 4);
		memcpy(&flags, seg + 12, 4);
		if (count > BLK_MAX_RANGE_SECTORS || sector > blk->capacity ||
		    count > blk->capacity - sector)
			return VIRTIO_BLK_S_IOERR;
		if (r->type == VIRTIO_BLK_T_DISCARD) {
			/* The unmap flag is for write zeroes only. */
			if (flags)
				return VIRTIO_BLK_S_UNSUPP;
			rc = block_discard(blk->bdev, sector * SECTOR, count * SECTOR, err);
		} else {
			if (flags & ~VIRTIO_BLK_WZ_UNMAP)
				return VIRTIO_BLK_S_UNSUPP;
			rc = block_write_zeroes(blk->bdev, sector * SECTOR, count * SECTOR,
						(flags & VIRTIO_BLK_WZ_UNMAP) ? BLOCK_ZERO_MAY_UNMAP : 0,
						err);
		}
		if (rc < 0)
			return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

/* Runs on a worker thread. */
static void blk_execute(struct work *w)
{
	struct blk_req *r = (struct blk_req *)w;
	struct virtio_blk *blk = r->blk;
	struct err err = { { 0 } };
	uint8_t status = VIRTIO_BLK_S_OK;
	int rc = 0;

	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		rc = block_read(blk->bdev, r->sector * SECTOR, r->iov, r->niov, &err);
		if (rc == 0)
			blk_read_done(r);
		break;
	case VIRTIO_BLK_T_OUT:
		rc = block_write(blk->bdev, r->sector * SECTOR, r->iov, r->niov, &err);
		break;
	case VIRTIO_BLK_T_FLUSH:
		rc = block_flush(blk->bdev, &err);
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		status = blk_ranges(r, &err);
		break;
	}
	if (rc < 0)
		status = VIRTIO_BLK_S_IOERR;
	if (status == VIRTIO_BLK_S_IOERR && err_is_set(&err)) {
		__atomic_fetch_add(&blk->host_errors, 1, __ATOMIC_RELAXED);
		log_guest("virtio-blk %s: %s", block_filename(blk->bdev), err.msg);
	}
	blk_complete(r, status, true);
}

/* An io_uring request finished (on the I/O thread). A short or failed transfer
 * is done again by a worker through the block layer, which finishes short
 * transfers, zero-fills past the end of the file and reports errors. */
static void blk_aio_done(struct aio_req *a, int res)
{
	struct blk_req *r = (struct blk_req *)((char *)a - offsetof(struct blk_req, aio));

	if (res < 0 || (uint64_t)res != r->data_len) {
		workpool_submit(r->blk->pool, &r->work);
		return;
	}
	if (r->type == VIRTIO_BLK_T_IN)
		blk_read_done(r);
	blk_complete(r, VIRTIO_BLK_S_OK, false);
}

/* After a batch of io_uring completions: one interrupt per queue at most. */
static void blk_aio_batch_done(void *opaque)
{
	struct virtio_blk *blk = opaque;

	for (unsigned i = 0; i < blk->vdev->nqueues; i++) {
		struct virtio_queue *q = &blk->vdev->queues[i];

		virtio_queue_lock(q);
		virtio_queue_interrupt(q);
		virtio_queue_unlock(q);
	}
}

/* Queues a read or write on io_uring if it maps straight onto the host file. */
static bool blk_try_aio(struct virtio_blk *blk, struct blk_req *r)
{
	bool write = r->type == VIRTIO_BLK_T_OUT;
	int fd;

	if (!blk->aio || (r->type != VIRTIO_BLK_T_IN && !write))
		return false;
	fd = block_async_fd(blk->bdev, r->sector * SECTOR, r->iov, r->niov, write);
	if (fd < 0)
		return false;
	r->aio.done = blk_aio_done;
	return (write ? aio_writev : aio_readv)(blk->aio, fd, r->sector * SECTOR, r->iov, r->niov,
						&r->aio) == 0;
}

/* Parses and checks one chain; completes it at once or hands it to a worker.
 * Runs on the I/O thread with the queue lock held. */
static void blk_handle(struct virtio_blk *blk, struct virtio_queue *q, struct blk_req *r,
		       const struct vq_elem *elem)
{
	struct blk_req_parsed p;
	enum blk_req_verdict v = blk_req_parse(elem, blk->capacity, blk->readonly, blk->serial,
					       r->iov, &p);

	if (p.guest_error) {
		__atomic_fetch_add(&blk->guest_errors, 1, __ATOMIC_RELAXED);
		log_guest("virtio-blk: request without header or status byte");
	}
	r->blk = blk;
	r->q = q;
	r->head = elem->head;
	r->type = p.type;
	r->sector = p.sector;
	r->status = p.status;
	r->written = p.written;
	r->data_len = p.data_len;
	r->niov = p.niov;
	if (v == BLK_REQ_SUBMIT) {
		r->work.fn = blk_execute;
		if (!blk_try_aio(blk, r))
			workpool_submit(blk->pool, &r->work);
		return;
	}
	vq_push(&q->vq, r->head, v == BLK_REQ_DROP ? 0 : r->written);
	blk_req_put(blk, r);
}

static void blk_queue_notify(void *opaque, struct virtio_dev *vdev, unsigned qi)
{
	struct virtio_blk *blk = opaque;
	struct virtio_queue *q = &vdev->queues[qi];
	int rc = 0;

	virtio_queue_lock(q);
	do {
		vq_disable_notify(&q->vq);
		for (;;) {
			struct blk_req *r = blk_req_get(blk);
			struct vq_elem elem;

			if (!r) {
				log_warn("virtio-blk: out of memory; retrying on the next kick");
				break;
			}
			elem = (struct vq_elem){ .iov = r->elem_iov, .iov_cap = BLK_QUEUE_SIZE };
			rc = vq_pop(&q->vq, &elem);
			if (rc <= 0) {
				blk_req_put(blk, r);
				break;
			}
			blk_handle(blk, q, r, &elem);
		}
	} while (rc == 0 && vq_enable_notify(&q->vq));
	if (blk->aio)
		aio_submit(blk->aio);
	if (rc < 0)
		virtio_dev_needs_reset(vdev);
	virtio_queue_interrupt(q);
	virtio_queue_unlock(q);
}

/* Waits until no request is in flight (driver reset, destroy). */
static void blk_reset(void *opaque)
{
	struct virtio_blk *blk = opaque;

	/* io_uring requests complete here, on this thread: it may be the I/O
	 * thread, which would otherwise run their completions. */
	if (blk->aio)
		aio_drain(blk->aio);
	pthread_mutex_lock(&blk->lock);
	while (blk->inflight)
		pthread_cond_wait(&blk->idle, &blk->lock);
	pthread_mutex_unlock(&blk->lock);
}

static void blk_config_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
	struct virtio_blk *blk = opaque;
	struct virtio_blk_config cfg = {
		.capacity = blk->capacity,
		.seg_max = BLK_SEG_MAX,
		.blk_size = SECTOR,
		.num_queues = (uint16_t)blk->vdev->nqueues,
		.max_discard_sectors = BLK_MAX_RANGE_SECTORS,
		.max_discard_seg = BLK_MAX_RANGES,
		.discard_sector_alignment = 8, /* 4 KiB: what a sparse host file can punch */
		.max_write_zeroes_sectors = BLK_MAX_RANGE_SECTORS,
		.max_write_zeroes_seg = BLK_MAX_RANGES,
		.write_zeroes_may_unmap = 1,
	};

	if (off < sizeof(cfg))
		memcpy(buf, (uint8_t *)&cfg + off,
		       len < sizeof(cfg) - off ? len : sizeof(cfg) - off);
}

static const struct virtio_dev_ops blk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.pci_class = 0x010000,
	.config_read = blk_config_read,
	.reset = blk_reset,
	.queue_notify = blk_queue_notify,
};

/* io_uring for the disk: one ring, room for every queue's requests. Only raw
 * images use it; without io_uring on the host the pool does all the I/O
 * unless io_uring was asked for. */
static bool blk_aio_start(struct virtio_blk *blk, struct vm *vm, unsigned nq,
			  enum virtio_blk_aio mode, struct err *err)
{
	unsigned entries = 64;

	if (strcmp(block_format(blk->bdev), "raw"))
		return true;
	while (entries < nq * BLK_QUEUE_SIZE && entries < 4096)
		entries *= 2;
	blk->aio = aio_create(vm->loop, entries, blk_aio_batch_done, blk, err);
	if (blk->aio)
		return true;
	if (mode == VIRTIO_BLK_AIO_IO_URING)
		return false;
	log_info("virtio-blk %s: %s; using worker threads", block_filename(blk->bdev), err->msg);
	err_clear(err);
	return true;
}

struct virtio_blk *virtio_blk_create(struct vm *vm, struct pci_host *host,
				     const struct virtio_blk_opts *o, unsigned ncpus,
				     struct err *err)
{
	struct block_open_opts bo = { .format = o->format, .readonly = o->readonly,
				      .cache = o->cache, .open_file = o->open_file,
				      .open_file_opaque = o->open_file_opaque };
	struct virtio_blk *blk = calloc(1, sizeof(*blk));
	unsigned nq = o->num_queues ? o->num_queues : ncpus;
	uint64_t features;

	if (!blk) {
		err_errno(err, ENOMEM, "disk '%s'", o->path);
		return NULL;
	}
	if (nq == 0)
		nq = 1;
	if (nq > BLK_MAX_QUEUES)
		nq = BLK_MAX_QUEUES;
	pthread_mutex_init(&blk->lock, NULL);
	pthread_cond_init(&blk->idle, NULL);
	blk->readonly = o->readonly;
	memcpy(blk->serial, o->serial, strnlen(o->serial, VIRTIO_BLK_ID_BYTES));
	blk->bdev = block_open(o->path, &bo, err);
	if (!blk->bdev)
		goto fail;
	blk->capacity = block_length(blk->bdev) / SECTOR;
	blk->pool = workpool_create("virtio-blk", BLK_WORKERS, err);
	if (!blk->pool)
		goto fail;
	if (o->aio != VIRTIO_BLK_AIO_THREADS && !blk_aio_start(blk, vm, nq, o->aio, err))
		goto fail;
	features = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
		   (1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_MQ);
	if (o->readonly)
		features |= 1ULL << VIRTIO_BLK_F_RO;
	else
		features |= (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
	blk->vdev = virtio_pci_create(vm, host, &blk_ops, blk, features, nq, BLK_QUEUE_SIZE,
				      sizeof(struct virtio_blk_config), err);
	if (!blk->vdev)
		goto fail;
	return blk;
fail:
	err_prefix(err, "disk '%s'", o->path);
	virtio_blk_destroy(blk);
	return NULL;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	if (!blk)
		return;
	virtio_pci_destroy(blk->vdev); /* resets: waits for in-flight requests */
	aio_destroy(blk->aio);
	workpool_destroy(blk->pool);
	if (blk->bdev)
		block_close(blk->bdev);
	while (blk->free) {
		struct blk_req *r = blk->free;

		blk->free = r->next_free;
		free(r);
	}
	pthread_cond_destroy(&blk->idle);
	pthread_mutex_destroy(&blk->lock);
	free(blk);
}
