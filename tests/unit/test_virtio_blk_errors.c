/* Host I/O errors under virtio-blk (issue 5 point 6): a disk whose file
 * fails with EIO (a test block_file wrapping an in-memory one, as no
 * dm-error target exists here) answers VIRTIO_BLK_S_IOERR for the requests
 * that hit the failing range, and only those; the device stays usable
 * (no NEEDS_RESET), recovers when the file does, and a second disk on a
 * host file keeps working throughout. ENOSPC on a real full file system is
 * tests/integration/blk_host_errors.sh. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"
#include "core/event.h"
#include "fake_vm.h"
#include "hw/bus/pci.h"
#include "testlib.h"
#include "virtio/blk.h"
#include "virtio_driver.h"

#define RINGS_A 0x10000ULL
#define RINGS_B 0x30000ULL
#define HDR 0x60000ULL
#define DATA 0x61000ULL
#define STATUS 0x70000ULL
#define DISK_SIZE (1ULL << 20)
#define BAD_FIRST (256 * 512ULL) /* the failing byte range of disk A */
#define BAD_END (264 * 512ULL)

/* A block_file that forwards to an in-memory file, except that reads and
 * writes touching [BAD_FIRST, BAD_END) fail with -EIO while fail is set. */
struct fault_file {
	struct block_file f;
	struct block_file *inner;
	_Atomic bool fail;
	_Atomic unsigned failed;
};

static struct fault_file *fault;

static bool fault_hit(struct block_file *f, uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct fault_file *ff = (struct fault_file *)f;
	uint64_t end = off + iov_size(iov, iovcnt);

	if (!atomic_load(&ff->fail) || end <= BAD_FIRST || off >= BAD_END)
		return false;
	atomic_fetch_add(&ff->failed, 1);
	return true;
}

static int fault_preadv(struct block_file *f, uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct fault_file *ff = (struct fault_file *)f;

	return fault_hit(f, off, iov, iovcnt) ? -EIO : ff->inner->ops->preadv(ff->inner, off, iov,
									      iovcnt);
}

static int fault_pwritev(struct block_file *f, uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct fault_file *ff = (struct fault_file *)f;

	return fault_hit(f, off, iov, iovcnt) ? -EIO : ff->inner->ops->pwritev(ff->inner, off, iov,
									       iovcnt);
}

static int fault_flush(struct block_file *f)
{
	struct fault_file *ff = (struct fault_file *)f;

	return atomic_load(&ff->fail) ? -EIO : ff->inner->ops->flush(ff->inner);
}

static int fault_discard(struct block_file *f, uint64_t off, uint64_t len)
{
	return ((struct fault_file *)f)->inner->ops->discard(((struct fault_file *)f)->inner, off,
							    len);
}

static int fault_write_zeroes(struct block_file *f, uint64_t off, uint64_t len)
{
	return ((struct fault_file *)f)->inner->ops->write_zeroes(((struct fault_file *)f)->inner,
								 off, len);
}

static int64_t fault_length(struct block_file *f)
{
	return block_file_length(((struct fault_file *)f)->inner);
}

static int fault_truncate(struct block_file *f, uint64_t len)
{
	return ((struct fault_file *)f)->inner->ops->truncate(((struct fault_file *)f)->inner, len);
}

static int64_t fault_allocated(struct block_file *f)
{
	return ((struct fault_file *)f)->inner->ops->allocated(((struct fault_file *)f)->inner);
}

static void fault_close(struct block_file *f)
{
	struct fault_file *ff = (struct fault_file *)f;

	block_file_close(ff->inner);
	free(ff);
}

static const struct block_file_ops fault_ops = {
	.preadv = fault_preadv,
	.pwritev = fault_pwritev,
	.flush = fault_flush,
	.discard = fault_discard,
	.write_zeroes = fault_write_zeroes,
	.length = fault_length,
	.truncate = fault_truncate,
	.allocated = fault_allocated,
	.close = fault_close,
};

static struct block_file *fault_open(void *opaque, const char *path, bool readonly,
				     struct err *err)
{
	struct fault_file *ff = calloc(1, sizeof(*ff));

	if (!ff || !(ff->inner = block_file_mem_create(path, NULL, DISK_SIZE, readonly))) {
		free(ff);
		err_errno(err, ENOMEM, "%s", path);
		return NULL;
	}
	ff->f = (struct block_file){ .ops = &fault_ops, .name = ff->inner->name,
				     .readonly = readonly };
	fault = ff;
	return &ff->f;
}

static struct vm vm;
static uint16_t used_idx[2];

/* One request of len bytes at sector on queue 0 of d; its status byte, or
 * 0xee if it never completed. */
static uint8_t request(struct vdrv *d, unsigned disk, uint32_t type, uint64_t sector,
		       uint32_t len)
{
	uint8_t *h = gm_hva(&vm.mem, HDR, 16);
	uint64_t addr[3] = { HDR, DATA, STATUS };
	uint32_t lens[3] = { 16, len, 1 };
	uint16_t flags[3] = { 0, type == 0 ? VIRTQ_DESC_F_WRITE : 0, VIRTQ_DESC_F_WRITE };

	memset(h, 0, 16);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	*(uint8_t *)gm_hva(&vm.mem, STATUS, 1) = 0xee;
	if (len) {
		vdrv_post(d, 0, 3, addr, lens, flags);
	} else {
		addr[1] = STATUS, lens[1] = 1, flags[1] = VIRTQ_DESC_F_WRITE;
		vdrv_post(d, 0, 2, addr, lens, flags);
	}
	if (!vdrv_wait_used(d, 0, ++used_idx[disk]))
		return 0xee;
	return *(uint8_t *)gm_hva(&vm.mem, STATUS, 1);
}

/* vdrv_probe takes the first device with an ID; the second disk is the next
 * function with it, mapped at other addresses with the same layout. */
static bool probe_second(struct vdrv *b, const struct vdrv *a)
{
	*b = *a;
	for (b->devfn = a->devfn + 8; b->devfn < 256; b->devfn += 8)
		if (vdrv_cfg_read(b, 0, 4) == 0x10421af4)
			break;
	if (b->devfn >= 256)
		return false;
	b->bar1 = a->bar1 + 0x100000;
	b->bar4 = a->bar4 + 0x100000;
	vdrv_cfg_write(b, 0x14, (uint32_t)b->bar1, 4);
	vdrv_cfg_write(b, 0x20, (uint32_t)b->bar4 | 0xc, 4);
	vdrv_cfg_write(b, 0x24, 0, 4);
	vdrv_cfg_write(b, 0x04, 0x6, 2);
	b->common += 0x100000;
	b->notify += 0x100000;
	b->isr += 0x100000;
	b->device_cfg += 0x100000;
	return true;
}

int main(void)
{
	struct virtio_blk_opts oa = { .path = "faulty.img", .format = "raw",
				      .open_file = fault_open, .num_queues = 1 };
	struct virtio_blk_opts ob = { .format = "raw", .num_queues = 1 };
	char path[] = "/tmp/vireo-blk-errors.XXXXXX";
	struct virtio_blk *a = NULL, *b = NULL;
	struct err err = { { 0 } };
	struct pci_host *host;
	struct vdrv da, db;
	int fd = mkstemp(path);
	uint8_t *data;

	if (fd < 0 || ftruncate(fd, DISK_SIZE) < 0 || fake_vm_init(&vm, 16 << 20) < 0 ||
	    !(vm.loop = event_loop_create(&err)) || event_loop_start(vm.loop, &err) < 0 ||
	    !(host = pci_host_create(&vm, &err))) {
		printf("not ok virtio_blk_errors_setup: %s\n", err.msg);
		return 0;
	}
	close(fd);
	ob.path = path;
	a = virtio_blk_create(&vm, host, &oa, 1, &err);
	if (a)
		b = virtio_blk_create(&vm, host, &ob, 1, &err);
	if (!a || !b || !vdrv_probe(&da, &vm, host, 0x1042, 0) || !probe_second(&db, &da) ||
	    !vdrv_start(&da, 1, RINGS_A, 0, true) || !vdrv_start(&db, 1, RINGS_B, 0, true)) {
		printf("not ok virtio_blk_errors_setup: %s\n", err.msg[0] ? err.msg : "probe");
		return 0;
	}
	data = gm_hva(&vm.mem, DATA, 4096);

	TEST_BEGIN("virtio_blk_eio_write_is_ioerr");
	atomic_store(&fault->fail, true);
	memset(data, 0x5a, 4096);
	CHECK_EQ(request(&da, 0, 1, 0, 4096), 0);   /* before the bad range */
	CHECK_EQ(request(&da, 0, 1, 256, 4096), 1); /* in it: VIRTIO_BLK_S_IOERR */
	CHECK_EQ(request(&da, 0, 1, 252, 4096), 1); /* overlapping it */
	CHECK_EQ(request(&da, 0, 1, 264, 4096), 0); /* right after it */
	CHECK(atomic_load(&fault->failed) >= 2);
	TEST_END();

	TEST_BEGIN("virtio_blk_eio_read_and_flush_are_ioerr");
	CHECK_EQ(request(&da, 0, 0, 256, 4096), 1);
	CHECK_EQ(request(&da, 0, 4, 0, 0), 1); /* FLUSH */
	memset(data, 0, 4096);
	CHECK_EQ(request(&da, 0, 0, 0, 4096), 0);
	CHECK_EQ(data[0], 0x5a);
	CHECK_EQ(data[4095], 0x5a);
	TEST_END();

	TEST_BEGIN("virtio_blk_other_disk_unaffected");
	memset(data, 0xc3, 4096);
	CHECK_EQ(request(&db, 1, 1, 256, 4096), 0);
	CHECK_EQ(request(&db, 1, 4, 0, 0), 0);
	memset(data, 0, 4096);
	CHECK_EQ(request(&db, 1, 0, 256, 4096), 0);
	CHECK_EQ(data[17], 0xc3);
	CHECK(!(vdrv_status(&db) & 0x40));
	TEST_END();

	TEST_BEGIN("virtio_blk_recovers_after_eio");
	CHECK(!(vdrv_status(&da) & 0x40)); /* a host error is no reason to reset */
	atomic_store(&fault->fail, false);
	memset(data, 0x77, 4096);
	CHECK_EQ(request(&da, 0, 1, 256, 4096), 0);
	memset(data, 0, 4096);
	CHECK_EQ(request(&da, 0, 0, 256, 4096), 0);
	CHECK_EQ(data[100], 0x77);
	CHECK_EQ(request(&da, 0, 4, 0, 0), 0);
	TEST_END();

	virtio_blk_destroy(a);
	virtio_blk_destroy(b);
	pci_host_destroy(host);
	event_loop_destroy(vm.loop);
	fake_vm_fini(&vm);
	unlink(path);
	return 0;
}
