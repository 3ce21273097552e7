/* virtio-blk against host I/O errors (issue 5 point 6), through the minimal
 * virtio-pci driver (vpci.c); run by tests/integration/blk_host_errors.sh with
 * vda on a raw file larger than the size-limited tmpfs it lives on and vdb
 * on a normal filesystem. The guest writes vda in 64 KiB requests until the
 * host runs out of space, and expects VIRTIO_BLK_S_IOERR for that request
 * (virtio 1.2 §5.2.6), not a hang or a dead device; then reads back what
 * vda did store, and writes, flushes and reads back vdb. */
#include "guest.h"
#include "multiboot.h"
#include "vpci.h"

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define S_OK 0
#define S_IOERR 1
#define CHUNK (64 * 1024)
#define CHUNK_SECTORS (CHUNK / 512)
#define STATUS_PENDING 0xee

struct blk_hdr {
	uint32_t type, reserved;
	uint64_t sector;
};

static struct vpci_dev dev[2];
static struct vpci_queue queue[2] __attribute__((aligned(4096)));
static struct blk_hdr hdr __attribute__((aligned(16)));
/* Each buffer is filled once: on this host's kvm_pvm this 32-bit guest was
 * seen to slow down to microseconds per instruction after a few hundred KiB
 * of stores in a loop (also before any device or interrupt was set up), so
 * the guest keeps its loops short. */
static uint8_t data_a[CHUNK] __attribute__((aligned(4096))); /* vda's writes */
static uint8_t data_b[CHUNK] __attribute__((aligned(4096))); /* vdb's write */
static uint8_t data_in[CHUNK] __attribute__((aligned(4096))); /* reads */
static volatile uint8_t status;

static void fill(uint8_t *buf, uint32_t seed)
{
	for (unsigned i = 0; i < CHUNK; i += 4) {
		uint32_t v = seed ^ (i * 2654435761u);

		guest_memcpy(&buf[i], &v, 4);
	}
}

static int matches(const uint8_t *buf, uint32_t seed)
{
	for (unsigned i = 0; i < CHUNK; i += 4) {
		uint32_t v = seed ^ (i * 2654435761u);

		if (guest_memcmp(&buf[i], &v, 4))
			return 0;
	}
	return 1;
}

/* One request; the status byte, or STATUS_PENDING if it never completed. */
static uint8_t request(int disk, uint32_t type, uint64_t sector, uint8_t *buf)
{
	struct vpci_dev *d = &dev[disk];
	uint64_t addr[3] = { (uintptr_t)&hdr, (uintptr_t)buf, (uintptr_t)&status };
	uint32_t len[3] = { sizeof(hdr), CHUNK, 1 };
	uint16_t flags[3] = { 0, type == T_IN ? VPCI_DESC_WRITE : 0, VPCI_DESC_WRITE };
	uint32_t before = d->irqs;

	hdr.type = type;
	hdr.reserved = 0;
	hdr.sector = sector;
	status = STATUS_PENDING;
	vpci_select(d);
	if (type == T_FLUSH) {
		addr[1] = addr[2], len[1] = 1, flags[1] = VPCI_DESC_WRITE;
		vpci_post(d, &queue[disk], 2, addr, len, flags);
	} else {
		vpci_post(d, &queue[disk], 3, addr, len, flags);
	}
	if (!vpci_wait(d, &queue[disk], before))
		return STATUS_PENDING;
	return status;
}

static int start(int disk, unsigned slot)
{
	const char *why = "";

	if (vpci_map(&dev[disk], slot, 0xc0000000u + 0x1000u * (unsigned)disk,
		     0xc0010000u + 0x10000u * (unsigned)disk) < 0)
		return 0;
	if (vpci_start(&dev[disk], &queue[disk], 1, 0, &why) < 0) {
		guest_puts("virtio-blk: ");
		guest_puts(why);
		guest_puts("\n");
		return 0;
	}
	vpci_idle(2); /* the interrupt for the device's own kick at DRIVER_OK */
	return 1;
}

void guest_main(uint32_t magic, struct mb_info *info)
{
	int slot0 = vpci_find(0x1042, 0), slot1 = vpci_find(0x1042, 1);
	uint64_t cap, sector;
	unsigned written = 0;
	uint8_t st = S_OK;

	guest_serial_init();
	guest_set_prefix("virtio-blk");
	guest_check("two disks found", slot0 >= 0 && slot1 >= 0);
	if (slot0 < 0 || slot1 < 0)
		guest_finish();
	vpci_irq_init();
	guest_check("vda started", start(0, (unsigned)slot0));
	guest_check("vdb started", start(1, (unsigned)slot1));
	if (guest_failures())
		guest_finish();
	cap = (uint64_t)vpci_rd32(dev[0].device_cfg + 4) << 32 | vpci_rd32(dev[0].device_cfg);
	guest_puts("virtio-blk: vda has ");
	guest_put_dec(cap);
	guest_puts(" sectors\n");

	fill(data_a, 0);
	fill(data_b, 0x5eed);
	/* Fill vda until the host's filesystem is full. */
	for (sector = 0; sector + CHUNK_SECTORS <= cap; sector += CHUNK_SECTORS) {
		st = request(0, T_OUT, sector, data_a);
		if (st != S_OK)
			break;
		written++;
	}
	guest_puts("virtio-blk: vda took ");
	guest_put_dec(written);
	guest_puts(" writes of 64 KiB, then status ");
	guest_put_dec(st);
	guest_puts("\n");
	guest_check("a write failed with VIRTIO_BLK_S_IOERR before the end of vda", st == S_IOERR);
	guest_check("some writes succeeded first", written > 0);
	guest_check("vda still answers: read of sector 0 ok", request(0, T_IN, 0, data_in) == S_OK);
	guest_check("vda kept the data written before the error", matches(data_in, 0));
	guest_check("vda not marked NEEDS_RESET", !(vpci_status(&dev[0]) & 0x40));

	/* The other disk is unaffected. */
	guest_check("vdb: write ok", request(1, T_OUT, 8, data_b) == S_OK);
	guest_check("vdb: flush ok", request(1, T_FLUSH, 0, data_b) == S_OK);
	guest_check("vdb: read ok", request(1, T_IN, 8, data_in) == S_OK);
	guest_check("vdb: data read back", matches(data_in, 0x5eed));
	guest_finish();
}
