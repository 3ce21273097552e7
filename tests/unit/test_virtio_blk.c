/* virtio-blk driven like Linux's virtio_blk driver, on a raw temp file:
 * config, every request type, bounds and read-only checks, discard, and the
 * --disk option parser. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/event.h"
#include "fake_vm.h"
#include "hw/bus/pci.h"
#include "testlib.h"
#include "virtio/blk.h"
#include "virtio_driver.h"

#define RINGS 0x10000ULL
#define HDR 0x40000ULL
#define DATA 0x41000ULL
#define STATUS 0x50000ULL
#define DISK_SIZE (4ULL << 20)

static struct vdrv d;
static struct vm vm;
static uint16_t used_idx[4];

/* Submits one request on queue qi; returns its status byte (or 0xee on timeout). */
static uint8_t request(unsigned qi, uint32_t type, uint64_t sector, uint32_t len, bool write_data)
{
	uint8_t *h = gm_hva(&vm.mem, HDR, 16);
	uint64_t addr[3] = { HDR, DATA, STATUS };
	uint32_t lens[3] = { 16, len, 1 };
	uint16_t flags[3] = { 0, write_data ? 0 : VIRTQ_DESC_F_WRITE, VIRTQ_DESC_F_WRITE };

	memset(h, 0, 16);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	*(uint8_t *)gm_hva(&vm.mem, STATUS, 1) = 0xee;
	if (len) {
		vdrv_post(&d, qi, 3, addr, lens, flags);
	} else {
		addr[1] = STATUS, lens[1] = 1, flags[1] = VIRTQ_DESC_F_WRITE;
		vdrv_post(&d, qi, 2, addr, lens, flags);
	}
	if (!vdrv_wait_used(&d, qi, ++used_idx[qi]))
		return 0xee;
	return *(uint8_t *)gm_hva(&vm.mem, STATUS, 1);
}

static void test_parser(void)
{
	struct virtio_blk_opts o;
	struct err err = { { 0 } };

	TEST_BEGIN("virtio_blk_parse_options");
	CHECK(virtio_blk_parse("a,,b.img,readonly=on,cache=none,serial=XYZ,format=raw,queues=3",
			       &o, &err) == 0);
	CHECK(!strcmp(o.path, "a,b.img"));
	CHECK(o.readonly);
	CHECK(o.cache == BLOCK_CACHE_NONE);
	CHECK(!strcmp(o.serial, "XYZ"));
	CHECK(o.format && !strcmp(o.format, "raw"));
	CHECK_EQ(o.num_queues, 3);
	virtio_blk_opts_fini(&o);
	CHECK(virtio_blk_parse("disk.img", &o, &err) == 0 && !o.readonly && !o.format);
	virtio_blk_opts_fini(&o);
	CHECK(virtio_blk_parse("disk.img,cache=maybe", &o, &err) < 0);
	CHECK(strstr(err.msg, "cache=maybe") != NULL);
	CHECK(virtio_blk_parse("disk.img,bogus=1", &o, &err) < 0);
	CHECK(virtio_blk_parse("disk.img,serial=123456789012345678901", &o, &err) < 0);
	CHECK(virtio_blk_parse(",readonly=on", &o, &err) < 0);
	CHECK(virtio_blk_parse("disk.img,readonly", &o, &err) < 0);
	CHECK(virtio_blk_parse("disk.img,queues=0", &o, &err) < 0);
	TEST_END();
}

int main(void)
{
	char path[] = "/tmp/vireo-blk-XXXXXX";
	struct err err = { { 0 } };
	struct virtio_blk_opts o;
	struct virtio_blk *blk;
	struct pci_host *host;
	uint8_t *buf, sector_buf[512];
	struct stat st;
	int fd = mkstemp(path);

	test_parser();
	buf = malloc(DISK_SIZE);
	for (uint64_t i = 0; i < DISK_SIZE; i++)
		buf[i] = (uint8_t)(i * 7 + (i >> 9));
	if (fd < 0 || write(fd, buf, DISK_SIZE) != (ssize_t)DISK_SIZE || fake_vm_init(&vm, 16 << 20) < 0 ||
	    !(vm.loop = event_loop_create(&err)) || event_loop_start(vm.loop, &err) < 0 ||
	    !(host = pci_host_create(&vm, &err)) ||
	    virtio_blk_parse(path, &o, &err) < 0) {
		printf("not ok virtio_blk_setup: %s\n", err.msg);
		return 0;
	}
	strcpy(o.serial, "vireo-serial-0001");
	blk = virtio_blk_create(&vm, host, &o, 2, &err);

	TEST_BEGIN("virtio_blk_config");
	CHECK(blk != NULL);
	CHECK(vdrv_probe(&d, &vm, host, 0x1042, 0));
	CHECK_EQ(vdrv_rd(&d, d.device_cfg + 0, 4), DISK_SIZE / 512);  /* capacity */
	CHECK_EQ(vdrv_rd(&d, d.device_cfg + 12, 4), 254);            /* seg_max */
	CHECK_EQ(vdrv_rd(&d, d.device_cfg + 34, 2), 2);              /* num_queues */
	CHECK(vdrv_start(&d, 2, RINGS, (1ULL << 9) | (1ULL << 12) | (1ULL << 13) | (1ULL << 14), true));
	TEST_END();

	TEST_BEGIN("virtio_blk_get_id");
	CHECK_EQ(request(0, 8, 0, 20, false), 0);
	CHECK(!memcmp(gm_hva(&vm.mem, DATA, 17), "vireo-serial-0001", 17));
	TEST_END();

	TEST_BEGIN("virtio_blk_read");
	CHECK_EQ(request(0, 0, 3, 1024, false), 0);
	CHECK(!memcmp(gm_hva(&vm.mem, DATA, 1024), buf + 3 * 512, 1024));
	CHECK_EQ(vdrv_used_len(&d, 0, used_idx[0] - 1), 1025);
	TEST_END();

	TEST_BEGIN("virtio_blk_write_and_flush_on_second_queue");
	memset(gm_hva(&vm.mem, DATA, 512), 0xab, 512);
	CHECK_EQ(request(1, 1, 5, 512, true), 0);
	CHECK_EQ(request(1, 4, 0, 0, false), 0);
	CHECK(pread(fd, sector_buf, 512, 5 * 512) == 512);
	CHECK(sector_buf[0] == 0xab && sector_buf[511] == 0xab);
	TEST_END();

	TEST_BEGIN("virtio_blk_rejects_bad_requests");
	CHECK_EQ(request(0, 0, DISK_SIZE / 512, 512, false), 1);     /* beyond the end */
	CHECK_EQ(request(0, 0, DISK_SIZE / 512 - 1, 1024, false), 1); /* crosses the end */
	CHECK_EQ(request(0, 0, ~0ULL, 512, false), 1);                /* overflow */
	CHECK_EQ(request(0, 0, 0, 100, false), 1);                    /* not a sector multiple */
	CHECK_EQ(request(0, 77, 0, 512, false), 2);                   /* unknown type */
	CHECK(!(vdrv_status(&d) & 0x40));                             /* device still fine */
	TEST_END();

	TEST_BEGIN("virtio_blk_discard_and_write_zeroes");
	{
		uint8_t *seg = gm_hva(&vm.mem, DATA, 16);
		uint64_t sector = 1024;
		uint32_t count = 2048, flags = 0;
		blkcnt_t before;

		fstat(fd, &st);
		before = st.st_blocks;
		memcpy(seg, &sector, 8);
		memcpy(seg + 8, &count, 4);
		memcpy(seg + 12, &flags, 4);
		CHECK_EQ(request(0, 11, 0, 16, true), 0);
		fstat(fd, &st);
		CHECK(st.st_blocks < before); /* 1 MiB punched */
		CHECK(pread(fd, sector_buf, 512, 1024 * 512) == 512);
		CHECK(buf_is_zero(sector_buf, 512));
		flags = 1;
		memcpy(seg + 12, &flags, 4);
		CHECK_EQ(request(0, 11, 0, 16, true), 2); /* unmap flag: discard rejects it */
		sector = 10;
		count = 1;
		memcpy(seg, &sector, 8);
		memcpy(seg + 8, &count, 4);
		CHECK_EQ(request(0, 13, 0, 16, true), 0); /* write zeroes, may unmap */
		CHECK(pread(fd, sector_buf, 512, 10 * 512) == 512);
		CHECK(buf_is_zero(sector_buf, 512));
	}
	TEST_END();

	virtio_blk_destroy(blk);
	virtio_blk_opts_fini(&o);

	TEST_BEGIN("virtio_blk_readonly");
	CHECK(virtio_blk_parse(path, &o, &err) == 0);
	o.readonly = true;
	blk = virtio_blk_create(&vm, host, &o, 1, &err);
	CHECK(blk != NULL);
	CHECK(vdrv_probe(&d, &vm, host, 0x1042, 1));
	CHECK(!vdrv_start(&d, 1, RINGS, 1ULL << 13, true)); /* DISCARD is not offered */
	CHECK(vdrv_start(&d, 1, RINGS, 1ULL << 5, true));   /* RO is */
	memset(used_idx, 0, sizeof(used_idx));
	CHECK_EQ(request(0, 1, 5, 512, true), 1);
	CHECK_EQ(request(0, 0, 5, 512, false), 0);
	virtio_blk_destroy(blk);
	virtio_blk_opts_fini(&o);
	TEST_END();

	TEST_BEGIN("virtio_blk_missing_file");
	CHECK(virtio_blk_parse("/nonexistent/disk.img", &o, &err) == 0);
	CHECK(virtio_blk_create(&vm, host, &o, 1, &err) == NULL);
	CHECK(strstr(err.msg, "/nonexistent/disk.img") != NULL);
	virtio_blk_opts_fini(&o);
	TEST_END();

	close(fd);
	unlink(path);
	free(buf);
	pci_host_destroy(host);
	event_loop_destroy(vm.loop);
	fake_vm_fini(&vm);
	return 0;
}
