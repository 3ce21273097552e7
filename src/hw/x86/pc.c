/* The board, assembled in one readable order. Every device is created here
 * and nowhere else; there are no constructor lists or priorities. */
#include "hw/x86/pc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "hw/acpi/acpi.h"
#include "hw/bus/io.h"
#include "hw/bus/pci.h"
#include "hw/char/serial.h"
#include "hw/misc/pc_misc.h"
#include "hw/rtc/cmos.h"
#include "hw/x86/boot.h"
#include "hw/x86/layout.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/rng.h"
#include "vm/vm.h"

/* KVM memory slots. */
enum { PC_SLOT_LOW_RAM, PC_SLOT_HIGH_RAM, PC_SLOT_FIRMWARE };

struct pc {
	bool accel_ready;
	void *firmware;
	size_t firmware_size;
	struct pci_host *pci;
	struct pc_misc *misc;
	struct cmos *cmos;
	struct serial *com1;
	struct virtio_blk *disk[VM_MAX_DISKS];
	struct virtio_rng *rng;
	struct virtio_console *console;
};

/* RAM the host cannot back would be killed by the OOM killer the moment the
 * guest touches it; refuse it up front. */
static int pc_check_host_ram(uint64_t size, struct err *err)
{
	struct sysinfo si;
	uint64_t host;

	if (sysinfo(&si) < 0)
		return 0;
	host = ((uint64_t)si.totalram + si.totalswap) * si.mem_unit;
	if (size > host)
		return err_set(err,
			       "--memory %llu MiB is more than this host's %llu MiB of RAM and swap",
			       (unsigned long long)(size >> 20), (unsigned long long)(host >> 20));
	return 0;
}

static int pc_map_ram(struct vm *vm, struct err *err)
{
	for (unsigned i = 0; i < vm->mem.nregions; i++) {
		const struct guest_mem_region *r = &vm->mem.region[i];
		int ret = vm->accel->map_ram(vm, PC_SLOT_LOW_RAM + i, r->gpa, r->size, r->hva, err);

		if (ret)
			return ret;
	}
	return 0;
}

/* The image ends at 4 GiB, where the CPU's reset vector (4 GiB - 16) is;
 * its last 64 KiB also appear below 1 MiB, as the chipset aliases the BIOS
 * there (the real-mode F000 segment). */
static int pc_load_firmware(struct vm *vm, struct pc *pc, struct err *err)
{
	const struct accel_ops *a = vm->accel;
	uint8_t *image;
	int r;

	r = firmware_load(vm->cfg->firmware, &pc->firmware, &pc->firmware_size,
			  &vm->boot_state, err);
	if (r)
		return r;
	image = pc->firmware;
	r = (a->map_rom ? a->map_rom : a->map_ram)(vm, PC_SLOT_FIRMWARE,
						   LAYOUT_FIRMWARE_TOP - pc->firmware_size,
						   pc->firmware_size, image, err);
	if (r)
		return r;
	if (!gm_write(&vm->mem, LAYOUT_BIOS_ALIAS,
		      image + pc->firmware_size - LAYOUT_BIOS_ALIAS_SIZE, LAYOUT_BIOS_ALIAS_SIZE))
		return err_set(err, "firmware: the BIOS area below 1 MiB is not RAM");
	return 0;
}

/* CMOS bytes from 0x0e on are battery-backed RAM on a PC (0x00-0x0d are the
 * clock and its control registers): a reset keeps them, so a guest can count
 * boots there and the 0x0f shutdown-status byte means what firmware expects. */
#define PC_CMOS_NVRAM_FIRST 0x0e

static void pc_save_nvram(struct vm *vm, struct pc *pc)
{
	if (!pc->cmos)
		return;
	for (unsigned i = PC_CMOS_NVRAM_FIRST; i < sizeof(vm->nvram.cmos); i++)
		vm->nvram.cmos[i] = cmos_get(pc->cmos, (uint8_t)i);
	vm->nvram.valid = true;
}

static void pc_restore_nvram(struct vm *vm, struct pc *pc)
{
	if (!vm->nvram.valid)
		return;
	for (unsigned i = PC_CMOS_NVRAM_FIRST; i < sizeof(vm->nvram.cmos); i++)
		cmos_set(pc->cmos, (uint8_t)i, vm->nvram.cmos[i]);
}

int pc_create(struct vm *vm, struct err *err)
{
	const struct vm_config *cfg = vm->cfg;
	struct pc *pc = calloc(1, sizeof(*pc));
	unsigned max;
	int r;

	if (!pc)
		return err_errno(err, ENOMEM, "board");
	vm->board = pc;

	/* 1. RAM, split around the PCI hole. */
	if ((r = pc_check_host_ram(cfg->mem_size, err)) ||
	    (r = gm_init(&vm->mem, cfg->mem_size, err)))
		return r;

	/* 2. Address spaces for port I/O and MMIO. */
	vm->pio = io_space_create("pio");
	vm->mmio = io_space_create("mmio");
	if (!vm->pio || !vm->mmio)
		return err_errno(err, ENOMEM, "address spaces");

	/* 3. The accelerator's VM, with RAM and the firmware ROM (at the top of
	 *    the 32-bit address space) mapped into it. */
	if ((r = vm->accel->vm_init(vm, err)))
		return r;
	pc->accel_ready = true;
	max = vm->accel->max_vcpus(vm);
	if (vm->ncpus > max)
		return err_set(err, "--cpus %u: %s supports at most %u vCPUs on this host",
			       vm->ncpus, vm->accel->name, max);
	if ((r = pc_map_ram(vm, err)))
		return r;
	if (cfg->firmware && (r = pc_load_firmware(vm, pc, err)))
		return r;

	/* 4. Interrupt controllers (PIC, IOAPIC, LAPICs) and the PIT. */
	if (vm->accel->irqchip_init && (r = vm->accel->irqchip_init(vm, err)))
		return r;

	/* 5. The PCI host bridge (0xCF8/0xCFC, reset control 0xCF9, ECAM). */
	pc->pci = pci_host_create(vm, err);
	if (!pc->pci)
		return -EINVAL;

	/* 6. Legacy devices: isa-debug-exit, i8042 reset, ACPI PM block;
	 *    RTC/CMOS; COM1. */
	pc->misc = pc_misc_create(vm, err);
	if (!pc->misc)
		return -EINVAL;
	pc->cmos = cmos_create(vm, err);
	if (!pc->cmos)
		return -EINVAL;
	pc_restore_nvram(vm, pc);
	pc->com1 = serial_create(vm, LAYOUT_PORT_COM1, LAYOUT_GSI_COM1,
				 cfg->console == CONSOLE_SERIAL ? vm->chardev : NULL, err);
	if (!pc->com1)
		return -EINVAL;

	/* 7. virtio devices on PCI, in a fixed order: disks (vda, vdb, ... in
	 *    command-line order), then rng, then the console. */
	for (unsigned i = 0; i < cfg->ndisks; i++) {
		pc->disk[i] = virtio_blk_create(vm, pc->pci, &cfg->disks[i], vm->ncpus, err);
		if (!pc->disk[i])
			return -EINVAL;
	}
	if (cfg->rng && !(pc->rng = virtio_rng_create(vm, pc->pci, err)))
		return -EINVAL;
	if (cfg->console == CONSOLE_VIRTIO &&
	    !(pc->console = virtio_console_create(vm, pc->pci, vm->chardev, err)))
		return -EINVAL;

	/* 8. ACPI tables (MADT with every vCPU, FADT with the PM block, DSDT). */
	if ((r = acpi_build(vm, err)))
		return r;

	/* 9. The boot loader: the kernel's entry state for the BSP. */
	if (cfg->kernel && (r = boot_load_kernel(vm, &vm->boot_state, err)))
		return r;
	return 0;
}

void pc_destroy(struct vm *vm)
{
	struct pc *pc = vm->board;

	if (pc) {
		virtio_console_destroy(pc->console);
		virtio_rng_destroy(pc->rng);
		for (unsigned i = 0; i < VM_MAX_DISKS; i++)
			virtio_blk_destroy(pc->disk[i]);
		serial_destroy(pc->com1);
		pc_save_nvram(vm, pc);
		cmos_destroy(pc->cmos);
		pc_misc_destroy(pc->misc);
		pci_host_destroy(pc->pci);
		if (pc->accel_ready)
			vm->accel->vm_destroy(vm);
		firmware_free(pc->firmware, pc->firmware_size);
		free(pc);
		vm->board = NULL;
	}
	if (vm->pio)
		io_space_destroy(vm->pio);
	if (vm->mmio)
		io_space_destroy(vm->mmio);
	vm->pio = vm->mmio = NULL;
	gm_fini(&vm->mem);
}
