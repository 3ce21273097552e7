/* The virtio PCI transport driven the way Linux's virtio_pci_modern driver
 * drives it (tests/unit/virtio_driver.c), with virtio-rng as the device:
 * enumeration, MSI-X and INTx interrupts, a broken chain ending in
 * DEVICE_NEEDS_RESET, and reset. */
#include <string.h>
#include <unistd.h>

#include "core/event.h"
#include "fake_vm.h"
#include "hw/bus/pci.h"
#include "testlib.h"
#include "virtio/rng.h"
#include "virtio_driver.h"

#define RINGS 0x10000ULL
#define BUF 0x20000ULL

int main(void)
{
	static const uint16_t W = VIRTQ_DESC_F_WRITE;
	struct err err = { { 0 } };
	struct virtio_rng *rng;
	struct pci_host *host;
	struct vdrv d;
	struct vm vm;
	uint64_t addr = BUF;
	uint32_t len = 64;
	bool nonzero = false;

	if (fake_vm_init(&vm, 16 << 20) < 0 || !(vm.loop = event_loop_create(&err)) ||
	    event_loop_start(vm.loop, &err) < 0 || !(host = pci_host_create(&vm, &err)) ||
	    !(rng = virtio_rng_create(&vm, host, &err))) {
		printf("not ok virtio_setup: %s\n", err.msg);
		return 0;
	}

	TEST_BEGIN("virtio_pci_enumeration");
	CHECK(vdrv_probe(&d, &vm, host, 0x1044, 0));
	CHECK_EQ(vdrv_cfg_read(&d, 0x08, 1), 1);  /* revision 1: modern */
	CHECK(vdrv_cfg_read(&d, 0x06, 2) & 0x10); /* capability list */
	CHECK_EQ(d.notify_mult, 4);
	CHECK(d.msix_cap != 0);
	CHECK_EQ(vdrv_cfg_read(&d, d.msix_cap + 2, 2) & 0x7ff, 1); /* 2 vectors */
	CHECK_EQ(vdrv_rd(&d, d.common + 0x12, 2), 1);              /* num_queues */
	vdrv_wr(&d, d.common + 0x00, 1, 4);
	CHECK(vdrv_rd(&d, d.common + 0x04, 4) & 1); /* VERSION_1 offered */
	TEST_END();

	TEST_BEGIN("virtio_refuses_unoffered_features");
	CHECK(!vdrv_start(&d, 1, RINGS, 1ULL << 40, true));
	TEST_END();

	TEST_BEGIN("virtio_rng_request_with_msix");
	CHECK(vdrv_start(&d, 1, RINGS, 0, true));
	CHECK_EQ(vdrv_status(&d), 0xf);
	vdrv_post(&d, 0, 1, &addr, &len, &W);
	CHECK(vdrv_wait_used(&d, 0, 1));
	CHECK_EQ(vdrv_used_len(&d, 0, 0), 64);
	for (int i = 0; i < 64; i++)
		nonzero |= ((uint8_t *)gm_hva(&vm.mem, BUF, 64))[i] != 0;
	CHECK(nonzero);
	for (int i = 0; i < 200 && atomic_load(&fake_vm_msis) == 0; i++)
		usleep(1000);
	CHECK(atomic_load(&fake_vm_msis) >= 1);
	TEST_END();

	TEST_BEGIN("virtio_broken_chain_needs_reset");
	addr = 0xff000000ULL; /* outside RAM */
	vdrv_post(&d, 0, 1, &addr, &len, &W);
	for (int i = 0; i < 2000 && !(vdrv_status(&d) & 0x40); i++)
		usleep(1000);
	CHECK(vdrv_status(&d) & 0x40);
	vdrv_wr(&d, d.common + 0x14, 0, 1);
	CHECK_EQ(vdrv_status(&d), 0);
	CHECK_EQ(vdrv_rd(&d, d.common + 0x18, 2), 64); /* queue registers back to defaults */
	TEST_END();

	TEST_BEGIN("virtio_rng_request_with_intx");
	fake_vm_reset();
	addr = BUF;
	CHECK(vdrv_start(&d, 1, RINGS, 0, false));
	vdrv_post(&d, 0, 1, &addr, &len, &W);
	CHECK(vdrv_wait_used(&d, 0, 1));
	{
		unsigned gsi = pci_intx_gsi(d.devfn >> 3, 1);

		for (int i = 0; i < 200 && !atomic_load(&fake_vm_irq_level[gsi]); i++)
			usleep(1000);
		CHECK(atomic_load(&fake_vm_irq_level[gsi]));
		CHECK_EQ(vdrv_rd(&d, d.isr, 1), 1);
		CHECK(!atomic_load(&fake_vm_irq_level[gsi])); /* ISR read de-asserts */
		CHECK_EQ(vdrv_rd(&d, d.isr, 1), 0);
	}
	TEST_END();

	virtio_rng_destroy(rng);
	pci_host_destroy(host);
	event_loop_destroy(vm.loop);
	fake_vm_fini(&vm);
	return 0;
}
