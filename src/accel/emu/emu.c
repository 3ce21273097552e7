/* The emulated-CPU accelerator (--accel emu), VM half: Vireo's software x86
 * CPU (src/cpu/) with the interrupt controllers and the PIT in userspace
 * (src/hw/intc/, src/hw/timer/): the 8259 pair, one local APIC per vCPU and
 * the IOAPIC on an "APIC bus", and the 8254 driven by a timer on the I/O
 * thread. Interrupt lines are wired as on the KVM backend: ISA IRQs reach the
 * PIC and the IOAPIC, IRQ 0 (the PIT) on IOAPIC pin 2 as the MADT's interrupt
 * source override says (ACPI 6.5 §5.2.12.5). The vCPU half is emu_vcpu.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "accel/emu/emu_internal.h"
#include "core/event.h"
#include "core/log.h"
#include "cpu/cpu.h"
#include "hw/intc/apic.h"
#include "hw/intc/pic.h"
#include "hw/timer/pit.h"
#include "hw/x86/layout.h"
#include "vm/vm.h"

static unsigned emu_max_vcpus(struct vm *vm)
{
	return EMU_MAX_VCPUS;
}

static void emu_vm_destroy(struct vm *vm)
{
	struct emu_accel *ea = vm->accel_state;

	if (!ea)
		return;
	if (ea->pit_timer)
		event_timer_destroy(ea->pit_timer);
	pit_destroy(ea->pit);
	apic_bus_destroy(ea->apic);
	pic_destroy(ea->pic);
	if (ea->trace)
		fclose(ea->trace);
	pthread_mutex_destroy(&ea->pit_lock);
	free(ea);
	vm->accel_state = NULL;
}

static int emu_vm_init(struct vm *vm, struct err *err)
{
	struct emu_accel *ea = calloc(1, sizeof(*ea));
	const char *trace = getenv("VIREO_EMU_TRACE");

	if (!ea)
		return err_errno(err, ENOMEM, "emulated CPU");
	/* Code read from a disk into pages that held decoded code. */
	vm->mem.dma_written = cpu_dma_written;
	pthread_mutex_init(&ea->pit_lock, NULL);
	vm->accel_state = ea;
	if (trace && *trace) {
		ea->trace = fopen(trace, "w");
		if (!ea->trace) {
			int e = errno;

			emu_vm_destroy(vm);
			return err_errno(err, e, "VIREO_EMU_TRACE '%s'", trace);
		}
	}
	return 0;
}

/* RAM is reached through gm_hva() on vm->mem by the CPU's ram() callback;
 * there is nothing to map. */
static int emu_map_ram(struct vm *vm, unsigned slot, uint64_t gpa, uint64_t size, void *hva,
		       struct err *err)
{
	return 0;
}

/* The firmware image: the CPU fetches and reads it like RAM. Guest writes
 * reach the host copy instead of being dropped; the image is rebuilt from
 * the file at every reset, so they last until then at most. */
static int emu_map_rom(struct vm *vm, unsigned slot, uint64_t gpa, uint64_t size, void *hva,
		       struct err *err)
{
	struct emu_accel *ea = vm->accel_state;

	if (gpa + size < gpa)
		return err_set(err, "firmware mapping wraps");
	ea->rom_gpa = gpa;
	ea->rom_size = size;
	ea->rom_hva = hva;
	return 0;
}

void emu_vcpu_wake(struct emu_accel *ea, unsigned index)
{
	struct emu_vcpu *ev;

	if (index >= EMU_MAX_VCPUS)
		return;
	ev = atomic_load(&ea->vcpu[index]);
	if (ev)
		emu_vcpu_wake_one(ev);
}

/* The APIC bus wakes a vCPU whose LAPIC got something to look at. */
static void emu_apic_kick(void *opaque, unsigned index)
{
	emu_vcpu_wake(opaque, index);
}

/* The PIC's INTR reaches the BSP (through LINT0 in ExtINT mode, or directly
 * while its APIC is disabled): make its next interrupt poll look. */
static void emu_pic_intr(void *opaque, bool level)
{
	struct emu_accel *ea = opaque;

	if (!level || !ea->apic)
		return;
	atomic_store(&ea->apic->lapic[0].wake, true);
	emu_vcpu_wake(ea, 0);
}

static int emu_set_irq(struct vm *vm, unsigned gsi, bool level)
{
	struct emu_accel *ea = vm->accel_state;

	if (gsi >= LAYOUT_IOAPIC_PINS)
		return -EINVAL;
	/* Pin 2 of the IOAPIC is ISA IRQ 0; the PIC's IRQ 2 is the cascade. */
	if (gsi < 16 && gsi != 2)
		pic_set_irq(ea->pic, gsi, level);
	if (gsi == 0)
		ioapic_set_irq(ea->apic, 2, level);
	else if (gsi != 2)
		ioapic_set_irq(ea->apic, gsi, level);
	return 0;
}

static int emu_send_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	struct emu_accel *ea = vm->accel_state;

	apic_bus_msi(ea->apic, addr, data);
	return 0;
}

static void emu_pit_irq0(void *opaque, bool level)
{
	struct vm *vm = opaque;

	emu_set_irq(vm, LAYOUT_GSI_PIT, level);
}

/* Delivers the PIT's due IRQ 0 edges and arms the timer for the next one. */
void emu_pit_rearm(struct emu_accel *ea)
{
	uint64_t now, next;

	pthread_mutex_lock(&ea->pit_lock);
	now = apic_now_ns();
	next = pit_check(ea->pit, now);
	if (!next)
		event_timer_disarm(ea->pit_timer);
	else
		event_timer_arm(ea->pit_timer, next > now ? next - now : 1, 0);
	pthread_mutex_unlock(&ea->pit_lock);
}

static void emu_pit_timer(void *opaque)
{
	emu_pit_rearm(opaque);
}

static int emu_irqchip_init(struct vm *vm, struct err *err)
{
	struct emu_accel *ea = vm->accel_state;

	ea->pic = pic_create(vm->pio, emu_pic_intr, ea, err);
	if (!ea->pic)
		return -EINVAL;
	ea->apic = apic_bus_create(vm->ncpus, vm->mmio, LAYOUT_IOAPIC_BASE, ea->pic,
				   EMU_CRYSTAL_HZ, EMU_TSC_HZ, emu_apic_kick, ea, err);
	if (!ea->apic)
		return -EINVAL;
	ea->pit = pit_create(vm->pio, emu_pit_irq0, vm, err);
	if (!ea->pit)
		return -EINVAL;
	ea->pit_timer = event_timer_create(vm->loop, emu_pit_timer, ea, err);
	if (!ea->pit_timer)
		return -EINVAL;
	return 0;
}

const struct accel_ops accel_emu_ops = {
	.name = "emu",
	.max_vcpus = emu_max_vcpus,
	.vm_init = emu_vm_init,
	.vm_destroy = emu_vm_destroy,
	.irqchip_init = emu_irqchip_init,
	.map_ram = emu_map_ram,
	.map_rom = emu_map_rom,
	.vcpu_init = emu_vcpu_init,
	.vcpu_destroy = emu_vcpu_destroy,
	.vcpu_run = emu_vcpu_run,
	.vcpu_kick = emu_vcpu_kick,
	.get_state = emu_get_state,
	.set_state = emu_set_state,
	.set_irq = emu_set_irq,
	.send_msi = emu_send_msi,
	.set_guest_debug = emu_set_guest_debug,
};
