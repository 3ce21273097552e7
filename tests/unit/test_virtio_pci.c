/* The virtio PCI transport driven the way Linux's virtio_pci_modern driver
 * drives it: enumerate capabilities, map BARs, negotiate features, set up a
 * queue, enable MSI-X, kick, and wait for the used ring. virtio-rng is the
 * device under test; a broken chain must end in DEVICE_NEEDS_RESET. */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/event.h"
#include "fake_vm.h"
#include "hw/bus/io.h"
#include "hw/bus/pci.h"
#include "hw/x86/layout.h"
#include "testlib.h"
#include "virtio/rng.h"
#include "virtio/virtio.h"

#define BAR4_GPA 0xc0000000ULL
#define BAR1_GPA 0xc1000000ULL
#define DESC 0x10000ULL
#define AVAIL 0x11000ULL
#define USED 0x12000ULL
#define BUF 0x20000ULL

static struct vm vm;
static struct pci_host *host;
static unsigned devfn;
static uint64_t common, notify, isr;
static uint32_t notify_mult;
static unsigned msix_cap;

static uint32_t cfg_read(unsigned reg, unsigned size)
{
	return pci_host_config_read(host, 0, devfn, reg, size);
}

static void cfg_write(unsigned reg, uint32_t val, unsigned size)
{
	pci_host_config_write(host, 0, devfn, reg, val, size);
}

static uint64_t rd(uint64_t a, unsigned size)
{
	return io_read(vm.mmio, a, size);
}

static void wr(uint64_t a, uint64_t v, unsigned size)
{
	io_write(vm.mmio, a, v, size);
}

static void find_caps(void)
{
	uint64_t bar_base[6] = { 0, BAR1_GPA, 0, 0, BAR4_GPA, 0 };

	for (unsigned c = cfg_read(0x34, 1); c; c = cfg_read(c + 1, 1)) {
		unsigned id = cfg_read(c, 1);

		if (id == 0x11)
			msix_cap = c;
		if (id != 0x09)
			continue;
		unsigned type = cfg_read(c + 3, 1), bar = cfg_read(c + 4, 1);
		uint64_t addr = bar < 6 ? bar_base[bar] + cfg_read(c + 8, 4) : 0;

		if (type == 1)
			common = addr;
		else if (type == 2) {
			notify = addr;
			notify_mult = cfg_read(c + 16, 4);
		} else if (type == 3)
			isr = addr;
	}
}

static bool wait_used(uint16_t idx)
{
	volatile uint16_t *used_idx = gm_hva(&vm.mem, USED + 2, 2);

	for (int i = 0; i < 2000; i++) {
		if (*used_idx == idx)
			return true;
		usleep(1000);
	}
	return false;
}

static void setup_queue_and_go(bool msix)
{
	wr(common + 0x14, 0, 1); /* reset */
	wr(common + 0x14, 1, 1); /* ACKNOWLEDGE */
	wr(common + 0x14, 3, 1); /* DRIVER */
	wr(common + 0x08, 1, 4);
	wr(common + 0x0c, 1, 4); /* VERSION_1 */
	wr(common + 0x08, 0, 4);
	wr(common + 0x0c, 1u << 29, 4); /* EVENT_IDX */
	wr(common + 0x14, 0xb, 1);
	CHECK(rd(common + 0x14, 1) & 8); /* FEATURES_OK accepted */
	wr(common + 0x16, 0, 2);
	CHECK_EQ(rd(common + 0x18, 2), 64);
	wr(common + 0x18, 8, 2);
	wr(common + 0x20, DESC, 4);
	wr(common + 0x24, 0, 4);
	wr(common + 0x28, AVAIL, 4);
	wr(common + 0x2c, 0, 4);
	wr(common + 0x30, USED, 4);
	wr(common + 0x34, 0, 4);
	if (msix) {
		wr(common + 0x10, 0, 2); /* config vector 0 */
		wr(common + 0x1a, 1, 2); /* queue vector 1 */
		CHECK_EQ(rd(common + 0x1a, 2), 1);
		cfg_write(msix_cap + 2, 0x8000, 2); /* MSI-X enable */
		wr(BAR1_GPA + 16 + 0, 0xfee00000, 4);
		wr(BAR1_GPA + 16 + 8, 0x41, 4);
		wr(BAR1_GPA + 16 + 12, 0, 4); /* unmask */
		wr(BAR1_GPA + 0 + 0, 0xfee00000, 4);
		wr(BAR1_GPA + 0 + 8, 0x42, 4);
		wr(BAR1_GPA + 0 + 12, 0, 4);
	}
	wr(common + 0x1c, 1, 2); /* enable */
	wr(common + 0x14, 0xf, 1); /* DRIVER_OK */
}

static void post(uint16_t n, uint64_t addr, uint32_t len, uint16_t flags)
{
	struct virtq_desc *d = gm_hva(&vm.mem, DESC, 16 * 8);
	uint16_t *ring = gm_hva(&vm.mem, AVAIL + 4, 16);
	uint16_t *idx = gm_hva(&vm.mem, AVAIL + 2, 2);

	d[n % 8] = (struct virtq_desc){ addr, len, flags, 0 };
	ring[*idx % 8] = n % 8;
	__atomic_store_n(idx, (uint16_t)(*idx + 1), __ATOMIC_RELEASE);
	wr(notify + 0 * notify_mult, 0, 2); /* kick queue 0 */
}

int main(void)
{
	struct err err = { { 0 } };
	struct virtio_rng *rng;
	uint8_t *buf;
	bool nonzero = false;

	if (fake_vm_init(&vm, 16 << 20) < 0 || !(vm.loop = event_loop_create(&err)) ||
	    event_loop_start(vm.loop, &err) < 0 || !(host = pci_host_create(&vm, &err))) {
		printf("not ok virtio_setup: %s\n", err.msg);
		return 0;
	}
	rng = virtio_rng_create(&vm, host, &err);

	TEST_BEGIN("virtio_pci_enumeration");
	CHECK(rng != NULL);
	for (devfn = 8; devfn < 256; devfn += 8)
		if (cfg_read(0, 2) == 0x1af4)
			break;
	CHECK_EQ(cfg_read(0, 4), 0x10441af4); /* modern virtio-rng */
	CHECK_EQ(cfg_read(0x08, 1), 1);       /* revision 1 */
	CHECK(cfg_read(0x06, 2) & 0x10);      /* capability list */
	cfg_write(0x14, BAR1_GPA, 4);
	cfg_write(0x20, (uint32_t)BAR4_GPA | 0xc, 4);
	cfg_write(0x24, 0, 4);
	cfg_write(0x04, 0x6, 2); /* memory + bus master */
	find_caps();
	CHECK(common == BAR4_GPA);
	CHECK(notify != 0 && notify_mult == 4);
	CHECK(isr != 0);
	CHECK(msix_cap != 0);
	CHECK_EQ(cfg_read(msix_cap + 2, 2) & 0x7ff, 1); /* 2 vectors */
	CHECK_EQ(rd(common + 0x12, 2), 1);               /* num_queues */
	wr(common + 0x00, 1, 4);
	CHECK(rd(common + 0x04, 4) & 1); /* VERSION_1 offered */
	TEST_END();

	TEST_BEGIN("virtio_rng_request_with_msix");
	setup_queue_and_go(true);
	CHECK_EQ(rd(common + 0x14, 1), 0xf);
	post(0, BUF, 64, VIRTQ_DESC_F_WRITE);
	CHECK(wait_used(1));
	CHECK_EQ(((struct virtq_used_elem *)gm_hva(&vm.mem, USED + 4, 8))->len, 64);
	buf = gm_hva(&vm.mem, BUF, 64);
	for (int i = 0; i < 64; i++)
		nonzero |= buf[i] != 0;
	CHECK(nonzero);
	for (int i = 0; i < 200 && atomic_load(&fake_vm_msis) == 0; i++)
		usleep(1000);
	CHECK(atomic_load(&fake_vm_msis) >= 1);
	TEST_END();

	TEST_BEGIN("virtio_broken_chain_needs_reset");
	post(1, 0xff000000ULL, 64, VIRTQ_DESC_F_WRITE); /* outside RAM */
	for (int i = 0; i < 2000 && !(rd(common + 0x14, 1) & 0x40); i++)
		usleep(1000);
	CHECK(rd(common + 0x14, 1) & 0x40);
	wr(common + 0x14, 0, 1);
	CHECK_EQ(rd(common + 0x14, 1), 0);
	CHECK_EQ(rd(common + 0x18, 2), 64); /* queue registers back to defaults */
	TEST_END();

	TEST_BEGIN("virtio_rng_request_with_intx");
	memset(gm_hva(&vm.mem, AVAIL, 0x3000), 0, 0x3000);
	cfg_write(msix_cap + 2, 0, 2); /* MSI-X off: INTx + ISR */
	fake_vm_reset();
	setup_queue_and_go(false);
	post(0, BUF, 16, VIRTQ_DESC_F_WRITE);
	CHECK(wait_used(1));
	for (int i = 0; i < 200 && !atomic_load(&fake_vm_irq_raises[LAYOUT_GSI_PCI_INTX_BASE + 1 % 4]); i++)
		usleep(1000);
	{
		unsigned gsi = pci_intx_gsi(devfn >> 3, 1);

		CHECK(atomic_load(&fake_vm_irq_level[gsi]));
		CHECK_EQ(rd(isr, 1), 1);
		CHECK(!atomic_load(&fake_vm_irq_level[gsi])); /* ISR read de-asserts */
		CHECK_EQ(rd(isr, 1), 0);
	}
	TEST_END();

	virtio_rng_destroy(rng);
	pci_host_destroy(host);
	event_loop_destroy(vm.loop);
	fake_vm_fini(&vm);
	return 0;
}
