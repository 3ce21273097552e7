/* PCI host: mechanism #1 and ECAM reads of the host bridge, absent devices,
 * the 0xCF9 reset register, and a registered device's BAR sizing, mapping,
 * moving and unmapping, INTx and capabilities. */
#include <string.h>

#include "fake_vm.h"
#include "hw/bus/pci.h"
#include "hw/x86/layout.h"
#include "testlib.h"

static struct vm vm;

static uint64_t in(unsigned port, unsigned size)
{
	return io_read(vm.pio, port, size);
}

static void out(unsigned port, uint64_t v, unsigned size)
{
	io_write(vm.pio, port, v, size);
}

static uint32_t cfg1_read(unsigned devfn, unsigned reg, unsigned size)
{
	out(0xcf8, 0x80000000u | devfn << 8 | (reg & 0xfc), 4);
	return (uint32_t)in(0xcfc + (reg & 3), size);
}

static void cfg1_write(unsigned devfn, unsigned reg, uint32_t v, unsigned size)
{
	out(0xcf8, 0x80000000u | devfn << 8 | (reg & 0xfc), 4);
	out(0xcfc + (reg & 3), v, size);
}

static uint64_t ecam(unsigned bus, unsigned devfn)
{
	return LAYOUT_PCIE_ECAM_BASE + ((uint64_t)bus << 20) + ((uint64_t)devfn << 12);
}

struct fake_dev {
	struct pci_device pci;
	uint32_t regs[64];
	unsigned cfg_writes;
};

static uint64_t fake_read(void *opaque, uint64_t off, unsigned size)
{
	struct fake_dev *f = opaque;

	return off / 4 < 64 ? f->regs[off / 4] : 0;
}

static void fake_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct fake_dev *f = opaque;

	if (off / 4 < 64)
		f->regs[off / 4] = (uint32_t)val;
}

static void fake_cfg_write(void *opaque, struct pci_device *d, unsigned reg, uint32_t val,
			   unsigned size)
{
	((struct fake_dev *)opaque)->cfg_writes++;
}

static const struct io_ops fake_ops = { fake_read, fake_write, 4, 4 };
static const struct pci_device_ops fake_pci_ops = { NULL, fake_cfg_write };

int main(void)
{
	struct err err = { { 0 } };
	struct pci_host *h;
	struct fake_dev f;
	const unsigned slot = 3, devfn = 3 << 3;

	if (fake_vm_init(&vm, 0) < 0) {
		printf("not ok pci_setup: fake vm\n");
		return 1;
	}
	h = pci_host_create(&vm, &err);

	TEST_BEGIN("pci_host_bridge_via_cf8");
	CHECK(h != NULL);
	/* Linux's pci_check_type1 */
	out(0xcfb, 0x01, 1);
	out(0xcf8, 0x80000000, 4);
	CHECK_EQ(in(0xcf8, 4), 0x80000000);
	CHECK_EQ(cfg1_read(0, 0, 4), 0x00081b36);
	CHECK_EQ(cfg1_read(0, 2, 2), 0x0008);
	CHECK_EQ(cfg1_read(0, 8, 4), 0x06000000); /* class 0600, rev 0 */
	CHECK_EQ(cfg1_read(0, 0x0b, 1), 0x06);
	CHECK_EQ(cfg1_read(0, 0x0e, 1), 0x00); /* type 0, single function */
	CHECK_EQ(cfg1_read(0, 0x10, 4), 0);   /* no BARs */
	/* enable bit clear: nothing answers */
	out(0xcf8, 0x00000000, 4);
	CHECK_EQ(in(0xcfc, 4), 0xffffffff);
	/* command register is writable, the IDs are not */
	cfg1_write(0, 4, 0x0006, 2);
	CHECK_EQ(cfg1_read(0, 4, 2), 0x0006);
	cfg1_write(0, 0, 0x12345678, 4);
	CHECK_EQ(cfg1_read(0, 0, 4), 0x00081b36);
	TEST_END();

	TEST_BEGIN("pci_absent_functions_read_ones");
	CHECK_EQ(cfg1_read(1 << 3, 0, 2), 0xffff);
	CHECK_EQ(cfg1_read(31 << 3 | 7, 0, 4), 0xffffffff);
	out(0xcf8, 0x80010000, 4); /* bus 1 */
	CHECK_EQ(in(0xcfc, 4), 0xffffffff);
	CHECK_EQ(io_read(vm.mmio, ecam(0, 1 << 3), 2), 0xffff);
	CHECK_EQ(io_read(vm.mmio, ecam(5, 0), 4), 0xffffffff);
	TEST_END();

	TEST_BEGIN("pci_host_bridge_via_ecam");
	CHECK_EQ(io_read(vm.mmio, ecam(0, 0), 4), 0x00081b36);
	CHECK_EQ(io_read(vm.mmio, ecam(0, 0) + 0x0a, 2), 0x0600);
	/* an 8-byte read is split into two dwords: IDs, then command/status */
	CHECK_EQ(io_read(vm.mmio, ecam(0, 0), 8), 0x00081b36ULL | (uint64_t)cfg1_read(0, 4, 4) << 32);
	CHECK_EQ(io_read(vm.mmio, ecam(0, 0) + 0x100, 4), 0); /* no extended caps */
	CHECK_EQ(io_read(vm.mmio, ecam(0, 0) + 1, 2), 0x081b); /* unaligned: bytewise */
	TEST_END();

	TEST_BEGIN("pci_reset_register_cf9");
	fake_vm_reset();
	out(0xcf8, 0x80000400, 4); /* dword write whose byte 1 has bit 2 set: not a reset */
	CHECK_EQ(fake_vm_last_request, VM_REQ_NONE);
	out(0xcf9, 0x02, 1); /* SYS_RST alone only selects the reset type */
	CHECK_EQ(fake_vm_last_request, VM_REQ_NONE);
	CHECK_EQ(in(0xcf9, 1), 0x02);
	out(LAYOUT_PORT_RESET, LAYOUT_RESET_VALUE, 1);
	CHECK_EQ(fake_vm_last_request, VM_REQ_RESET);
	CHECK_EQ(in(0xcf8, 4), 0x80000400); /* the latch is untouched */
	TEST_END();

	TEST_BEGIN("pci_device_bar_sizing_and_mapping");
	memset(&f, 0, sizeof(f));
	pci_device_init(&f.pci, "fake", 0x1af4, 0x1041, 0x020000, 1, &fake_pci_ops, &f);
	CHECK(pci_device_set_bar(&f.pci, 0, PCI_BAR_MEM32, 4096, false, &fake_ops, &f, &err) == 0);
	CHECK(pci_device_set_bar(&f.pci, 1, PCI_BAR_IO, 32, false, &fake_ops, &f, &err) == 0);
	CHECK(pci_device_set_bar(&f.pci, 2, PCI_BAR_MEM64, 1 * MiB, true, &fake_ops, &f, &err) ==
	      0);
	CHECK(pci_device_set_bar(&f.pci, 5, PCI_BAR_MEM64, 4096, false, &fake_ops, &f, &err) < 0);
	CHECK(pci_device_set_bar(&f.pci, 4, PCI_BAR_MEM32, 100, false, &fake_ops, &f, &err) < 0);
	pci_device_set_intx_pin(&f.pci, 1);
	CHECK(pci_register_device(h, &f.pci, devfn, &err) == 0);
	CHECK(pci_register_device(h, &f.pci, devfn, &err) < 0);
	CHECK_EQ(pci_host_free_slot(h), 1);
	CHECK_EQ(cfg1_read(devfn, 0, 4), 0x10411af4);
	CHECK_EQ(cfg1_read(devfn, 0x3d, 1), 1);
	/* sizing: write all-ones, read the mask back with the type bits */
	cfg1_write(devfn, 0x10, 0xffffffff, 4);
	CHECK_EQ(cfg1_read(devfn, 0x10, 4), 0xfffff000);
	cfg1_write(devfn, 0x14, 0xffffffff, 4);
	CHECK_EQ(cfg1_read(devfn, 0x14, 4), 0xffffffe1);
	cfg1_write(devfn, 0x18, 0xffffffff, 4);
	cfg1_write(devfn, 0x1c, 0xffffffff, 4);
	CHECK_EQ(cfg1_read(devfn, 0x18, 4), 0xfff0000c);
	CHECK_EQ(cfg1_read(devfn, 0x1c, 4), 0xffffffff);
	CHECK_EQ(cfg1_read(devfn, 0x20, 4), 0); /* unused BARs read 0 */
	/* program, then enable decoding */
	cfg1_write(devfn, 0x10, 0xc0001000, 4);
	cfg1_write(devfn, 0x14, 0xc040, 4);
	cfg1_write(devfn, 0x18, 0x00000000, 4);
	cfg1_write(devfn, 0x1c, 0x00000008, 4); /* 0x8_0000_0000 */
	CHECK_EQ(io_read(vm.mmio, 0xc0001000, 4), 0xffffffff); /* not decoded yet */
	cfg1_write(devfn, 4, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
	io_write(vm.mmio, 0xc0001010, 0xabcd1234, 4);
	CHECK_EQ(f.regs[4], 0xabcd1234);
	CHECK_EQ(io_read(vm.mmio, 0xc0001010, 4), 0xabcd1234);
	io_write(vm.pio, 0xc044, 0x55, 4);
	CHECK_EQ(f.regs[1], 0x55);
	io_write(vm.mmio, 0x800000008ULL, 0x77, 4);
	CHECK_EQ(f.regs[2], 0x77);
	/* move BAR0 while decoding */
	cfg1_write(devfn, 0x10, 0xc0100000, 4);
	CHECK_EQ(io_read(vm.mmio, 0xc0001010, 4), 0xffffffff);
	CHECK_EQ(io_read(vm.mmio, 0xc0100010, 4), 0xabcd1234);
	/* sizing while decoding does not map the all-ones pattern */
	cfg1_write(devfn, 0x10, 0xffffffff, 4);
	CHECK_EQ(io_read(vm.mmio, 0xfffff010, 4), 0xffffffff);
	CHECK_EQ(f.regs[4], 0xabcd1234);
	cfg1_write(devfn, 0x10, 0xc0001000, 4);
	/* disable memory decoding: memory BARs go, the I/O BAR stays */
	cfg1_write(devfn, 4, PCI_COMMAND_IO, 2);
	CHECK_EQ(io_read(vm.mmio, 0xc0001010, 4), 0xffffffff);
	CHECK_EQ(io_read(vm.mmio, 0x800000008ULL, 4), 0xffffffff);
	CHECK_EQ(io_read(vm.pio, 0xc044, 4), 0x55);
	/* an overlapping BAR is refused by the bus, not a crash */
	cfg1_write(devfn, 0x10, LAYOUT_PCIE_ECAM_BASE, 4);
	cfg1_write(devfn, 4, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
	CHECK(!f.pci.bar[0].mapped);
	CHECK(f.cfg_writes > 0);
	/* the same through ECAM */
	CHECK_EQ(io_read(vm.mmio, ecam(0, devfn) + 0x14, 4), 0xc041);
	TEST_END();

	TEST_BEGIN("pci_intx_and_capabilities");
	fake_vm_reset();
	CHECK_EQ(pci_intx_gsi(slot, 1), 19);
	pthread_mutex_lock(f.pci.lock);
	pci_device_set_intx(&f.pci, true);
	pthread_mutex_unlock(f.pci.lock);
	CHECK_EQ(fake_vm_irq_level[19], 1);
	CHECK(cfg1_read(devfn, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	cfg1_write(devfn, 4, PCI_COMMAND_INTX_DISABLE, 2);
	CHECK_EQ(fake_vm_irq_level[19], 0);
	cfg1_write(devfn, 4, 0, 2);
	CHECK_EQ(fake_vm_irq_level[19], 1);
	pthread_mutex_lock(f.pci.lock);
	pci_device_set_intx(&f.pci, false);
	pthread_mutex_unlock(f.pci.lock);
	CHECK_EQ(fake_vm_irq_level[19], 0);
	CHECK_EQ(pci_device_add_capability(&f.pci, 0x11, 12, &err), 0x40);
	CHECK_EQ(pci_device_add_capability(&f.pci, 0x09, 6, &err), 0x4c);
	CHECK(cfg1_read(devfn, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	CHECK_EQ(cfg1_read(devfn, PCI_CAPABILITY_LIST, 1), 0x40);
	CHECK_EQ(cfg1_read(devfn, 0x41, 1), 0x4c);
	CHECK_EQ(cfg1_read(devfn, 0x4c, 2), 0x0009);
	CHECK(pci_device_add_capability(&f.pci, 0x09, 200, &err) < 0);
	TEST_END();

	TEST_BEGIN("pci_reset_and_unregister");
	cfg1_write(devfn, 0x10, 0xc0001000, 4);
	cfg1_write(devfn, 4, PCI_COMMAND_IO | PCI_COMMAND_MEMORY, 2);
	CHECK_EQ(io_read(vm.mmio, 0xc0001010, 4), 0xabcd1234);
	pci_host_reset(h);
	CHECK_EQ(io_read(vm.mmio, 0xc0001010, 4), 0xffffffff);
	CHECK_EQ(cfg1_read(devfn, 0x10, 4), 0);
	CHECK_EQ(cfg1_read(devfn, 0x18, 4), 0xc);
	cfg1_write(devfn, 0x10, 0xc0001000, 4);
	cfg1_write(devfn, 4, PCI_COMMAND_MEMORY, 2);
	pci_unregister_device(h, &f.pci);
	CHECK_EQ(io_read(vm.mmio, 0xc0001010, 4), 0xffffffff);
	CHECK_EQ(cfg1_read(devfn, 0, 2), 0xffff);
	pci_device_fini(&f.pci);
	TEST_END();

	pci_host_destroy(h);
	TEST_BEGIN("pci_host_destroy_unmaps");
	CHECK_EQ(io_read(vm.mmio, ecam(0, 0), 4), 0xffffffff);
	CHECK_EQ(in(0xcf8, 4), 0xffffffff);
	TEST_END();
	fake_vm_fini(&vm);
	return 0;
}
