/* The emulated-CPU accelerator, vCPU half: one software CPU per vCPU thread,
 * its board callbacks (RAM through gm_hva, MMIO and port I/O through
 * io_dispatch, the LAPIC page and MSRs to this vCPU's LAPIC, the TSC from
 * CLOCK_MONOTONIC, CPUID from cpuid_emu.c), and the run loop: slices of
 * cpu_run with the LAPIC timer checked in between, HLT and wait-for-SIPI
 * sleeping on a condition variable until something can wake the CPU. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accel/emu/emu_internal.h"
#include "core/event.h"
#include "core/log.h"
#include "cpu/cpu.h"
#include "hw/bus/io.h"
#include "hw/intc/apic.h"
#include "hw/x86/layout.h"
#include "vm/vm.h"

#define EMU_LAPIC_PAGE 0x1000ULL
#define EMU_RFLAGS_IF (1ULL << 9)
/* LAPIC registers that move the timer's deadline (SDM Vol. 3A, Table 11-1). */
#define LAPIC_REG_LVT_TIMER 0x320
#define LAPIC_REG_TIMER_INIT 0x380
#define LAPIC_REG_TIMER_DIV 0x3e0

#define MSR_IA32_PLATFORM_ID 0x17
#define MSR_IA32_APIC_BASE 0x1b
#define MSR_IA32_FEATURE_CONTROL 0x3a
#define MSR_IA32_TSC_ADJUST 0x3b
#define MSR_IA32_BIOS_SIGN_ID 0x8b
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_IA32_TSC_DEADLINE 0x6e0
#define MISC_ENABLE_FAST_STRING (1ULL << 0)

/* Fires a due LAPIC timer and keeps the host timer armed for the next
 * deadline, so a running CPU is stopped on time however long its slice.
 * Returns the next deadline (0: none). */
static uint64_t emu_timer_check(struct emu_vcpu *ev)
{
	uint64_t now = apic_now_ns();
	uint64_t next = lapic_timer_check(ev->lapic, now);

	/* A timer that fired put a vector in the IRR without waking anyone. */
	atomic_store(&ev->lapic->wake, true);
	if (next != ev->armed_ns) {
		ev->armed_ns = next;
		if (!next)
			event_timer_disarm(ev->timer);
		else
			event_timer_arm(ev->timer, next > now ? next - now : 1, 0);
	}
	return next;
}

/* The I/O thread's timer for this vCPU's LAPIC deadline. */
static void emu_timer_fired(void *opaque)
{
	emu_vcpu_wake_one(opaque);
}

/* --- Board callbacks of the CPU --- */

static void *emu_ram(void *opaque, uint64_t gpa, uint64_t len)
{
	struct emu_vcpu *ev = opaque;
	struct emu_accel *ea = ev->ea;
	void *p = gm_hva(&ev->vcpu->vm->mem, gpa, len);

	if (p)
		return p;
	if (ea->rom_hva && gpa >= ea->rom_gpa && gpa - ea->rom_gpa < ea->rom_size &&
	    len <= ea->rom_size - (gpa - ea->rom_gpa))
		return ea->rom_hva + (gpa - ea->rom_gpa);
	return NULL;
}

static bool emu_is_lapic(uint64_t gpa)
{
	return gpa - LAYOUT_LAPIC_BASE < EMU_LAPIC_PAGE;
}

/* LAPIC registers are 32 bits wide on 16-byte boundaries (SDM Vol. 3A
 * §11.4.1); narrower reads see part of the register. */
static uint64_t emu_mmio_read(void *opaque, uint64_t gpa, unsigned size)
{
	struct emu_vcpu *ev = opaque;

	if (emu_is_lapic(gpa)) {
		uint64_t off = gpa - LAYOUT_LAPIC_BASE;
		uint64_t v = lapic_mmio_read(ev->lapic, off & ~3ULL) >> ((off & 3) * 8);

		return size >= 8 ? v : v & ((1ULL << (size * 8)) - 1);
	}
	return io_read(ev->vcpu->vm->mmio, gpa, size);
}

static void emu_mmio_write(void *opaque, uint64_t gpa, uint64_t val, unsigned size)
{
	struct emu_vcpu *ev = opaque;

	if (emu_is_lapic(gpa)) {
		uint64_t off = gpa - LAYOUT_LAPIC_BASE;

		/* Other widths are undefined (§11.4.1); drop them. */
		if (size == 4 && !(off & 3)) {
			lapic_mmio_write(ev->lapic, off, (uint32_t)val);
			if (off == LAPIC_REG_LVT_TIMER || off == LAPIC_REG_TIMER_INIT ||
			    off == LAPIC_REG_TIMER_DIV)
				emu_timer_check(ev);
		} else
			log_guest("LAPIC: %u-byte write at offset 0x%" PRIx64 " dropped", size,
				  off);
		return;
	}
	io_write(ev->vcpu->vm->mmio, gpa, val, size);
}

static uint32_t emu_pio_read(void *opaque, uint16_t port, unsigned size)
{
	struct emu_vcpu *ev = opaque;

	return (uint32_t)io_read(ev->vcpu->vm->pio, port, size);
}

static void emu_pio_write(void *opaque, uint16_t port, uint32_t val, unsigned size)
{
	struct emu_vcpu *ev = opaque;

	io_write(ev->vcpu->vm->pio, port, val, size);
	/* A new PIT count or mode moves channel 0's next IRQ 0 edge. */
	if (port >= LAYOUT_PORT_PIT && port < LAYOUT_PORT_PIT + 4)
		emu_pit_rearm(ev->ea);
}

/* MSRs the CPU core leaves to the board: the LAPIC's, and the identification
 * and configuration MSRs Linux reads unconditionally on Intel (the microcode
 * loader's PLATFORM_ID and BIOS_SIGN_ID, MISC_ENABLE, FEATURE_CONTROL). */
static bool emu_rdmsr(void *opaque, uint32_t msr, uint64_t *val)
{
	struct emu_vcpu *ev = opaque;

	switch (msr) {
	case MSR_IA32_APIC_BASE:
		*val = lapic_get_base(ev->lapic);
		return true;
	case MSR_IA32_TSC_DEADLINE: {
		uint64_t d = lapic_get_tsc_deadline(ev->lapic);

		*val = d ? d + ev->tsc_adjust : 0;
		return true;
	}
	case MSR_IA32_PLATFORM_ID:
	case MSR_IA32_BIOS_SIGN_ID: /* no microcode update loaded */
		*val = 0;
		return true;
	case MSR_IA32_FEATURE_CONTROL:
		*val = 1; /* locked, VMX and SMX off (SDM Vol. 4, Table 2-2) */
		return true;
	case MSR_IA32_MISC_ENABLE:
		*val = ev->misc_enable;
		return true;
	case MSR_IA32_TSC_ADJUST:
		*val = ev->tsc_adjust;
		return true;
	default:
		/* Linux probes some MSRs with rdmsr_safe; not a guest error. */
		log_debug("vCPU %u: RDMSR 0x%x: not implemented, #GP", ev->vcpu->index, msr);
		return false;
	}
}

static bool emu_wrmsr(void *opaque, uint32_t msr, uint64_t val)
{
	struct emu_vcpu *ev = opaque;

	switch (msr) {
	case MSR_IA32_APIC_BASE:
		lapic_set_base(ev->lapic, val);
		return true;
	case MSR_IA32_TSC_DEADLINE:
		/* The LAPIC counts in unadjusted TSC units (emu_tsc_raw). */
		lapic_set_tsc_deadline(ev->lapic, val - ev->tsc_adjust, apic_now_ns());
		emu_timer_check(ev);
		return true;
	case MSR_IA32_BIOS_SIGN_ID: /* writing 0 before CPUID(1) latches the revision */
		return true;
	case MSR_IA32_MISC_ENABLE:
		ev->misc_enable = val;
		return true;
	case MSR_IA32_TSC_ADJUST:
		ev->tsc_adjust = val;
		return true;
	default:
		log_debug("vCPU %u: WRMSR 0x%x <- 0x%" PRIx64 ": not implemented, #GP",
			  ev->vcpu->index, msr, val);
		return false;
	}
}

/* The TSC counts CLOCK_MONOTONIC at EMU_TSC_HZ, from the same origin as the
 * LAPIC's TSC-deadline conversion (apic_now_ns), so the two always agree and
 * every vCPU reads the same TSC; IA32_TSC_ADJUST is added on top (SDM Vol. 3B
 * §18.17.3), and the CPU adds its own offset for WRMSR to the TSC. */
static uint64_t emu_tsc(void *opaque)
{
	struct emu_vcpu *ev = opaque;

	return (uint64_t)((unsigned __int128)apic_now_ns() * EMU_TSC_HZ / 1000000000ULL) +
	       ev->tsc_adjust;
}

/* lapic_has_interrupt() clears the wake hint before it looks; put it back
 * when the answer is yes, so the CPU's next poll still sees it. */
static bool emu_lapic_pending(struct lapic *l)
{
	if (!lapic_has_interrupt(l))
		return false;
	atomic_store(&l->wake, true);
	return true;
}

static bool emu_intr_pending(void *opaque)
{
	struct emu_vcpu *ev = opaque;

	if (!atomic_load_explicit(&ev->lapic->wake, memory_order_acquire))
		return false;
	return emu_lapic_pending(ev->lapic);
}

static int emu_intr_ack(void *opaque)
{
	struct emu_vcpu *ev = opaque;
	int v = lapic_ack_interrupt(ev->lapic);

	/* Another request may be queued behind this one (in the IRR or the
	 * PIC): look again at the next poll. */
	atomic_store(&ev->lapic->wake, true);
	return v;
}

static void emu_cpuid(void *opaque, uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	struct emu_vcpu *ev = opaque;

	cpuid_lookup(&ev->cpuid, leaf, sub, out);
}

static const struct cpu_sys_ops emu_sys_ops = {
	.ram = emu_ram,
	.mmio_read = emu_mmio_read,
	.mmio_write = emu_mmio_write,
	.pio_read = emu_pio_read,
	.pio_write = emu_pio_write,
	.rdmsr = emu_rdmsr,
	.wrmsr = emu_wrmsr,
	.tsc = emu_tsc,
	.intr_pending = emu_intr_pending,
	.intr_ack = emu_intr_ack,
	.cpuid = emu_cpuid,
};

/* --- Creation --- */

/* The "virtual wire" mode firmware leaves the LAPICs in, as on the KVM
 * backend: the BSP's LINT0 is ExtINT (the PIC's way in), every LINT1 is NMI
 * (MultiProcessor Spec 1.4, 3.6.2.2 and 5.1). */
static void emu_lapic_virtual_wire(struct lapic *l, bool bsp)
{
	if (bsp)
		lapic_mmio_write(l, 0x350, APIC_DM_EXTINT << 8);
	lapic_mmio_write(l, 0x360, APIC_DM_NMI << 8);
}

int emu_vcpu_init(struct vcpu *vcpu, struct err *err)
{
	struct emu_accel *ea = vcpu->vm->accel_state;
	struct emu_vcpu *ev;
	pthread_condattr_t ca;
	uint32_t features[7];
	int r;

	if (vcpu->index >= EMU_MAX_VCPUS || vcpu->index >= ea->apic->ncpus)
		return err_set(err, "vCPU %u: beyond the emulator's %u vCPUs", vcpu->index,
			       EMU_MAX_VCPUS);
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return err_errno(err, ENOMEM, "vCPU %u", vcpu->index);
	ev->vcpu = vcpu;
	ev->ea = ea;
	ev->lapic = &ea->apic->lapic[vcpu->index];
	ev->misc_enable = MISC_ENABLE_FAST_STRING; /* as every BIOS leaves it */
	pthread_mutex_init(&ev->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ev->cond, &ca);
	pthread_condattr_destroy(&ca);
	vcpu->accel = ev;

	cpu_sys_features(features);
	ev->cpuid = (struct cpuid_table){ ev->cpuid_entry, 0,
					  sizeof(ev->cpuid_entry) / sizeof(ev->cpuid_entry[0]) };
	r = cpuid_emu_build(&ev->cpuid, vcpu->apic_id, vcpu->vm->ncpus, features, EMU_CRYSTAL_HZ,
			    EMU_TSC_RATIO);
	if (r) {
		err_errno(err, r, "vCPU %u: CPUID table", vcpu->index);
		goto fail;
	}
	ev->timer = event_timer_create(vcpu->vm->loop, emu_timer_fired, ev, err);
	if (!ev->timer) {
		r = -ENOMEM;
		goto fail;
	}
	ev->cpu = cpu_create_system(&emu_sys_ops, ev, err);
	if (!ev->cpu) {
		r = -EINVAL;
		err_prefix(err, "vCPU %u", vcpu->index);
		goto fail;
	}
	/* vCPU 0 runs the boot state; the others wait for INIT/SIPI. */
	ev->wait_sipi = vcpu->index != 0;
	emu_lapic_virtual_wire(ev->lapic, vcpu->index == 0);
	atomic_store(&ea->vcpu[vcpu->index], ev);
	return 0;
fail:
	emu_vcpu_destroy(vcpu);
	return r;
}

void emu_vcpu_destroy(struct vcpu *vcpu)
{
	struct emu_vcpu *ev = vcpu->accel;
	struct emu_accel *ea = vcpu->vm->accel_state;

	if (!ev)
		return;
	if (ea && vcpu->index < EMU_MAX_VCPUS)
		atomic_store(&ea->vcpu[vcpu->index], NULL);
	if (ev->timer)
		event_timer_destroy(ev->timer);
	if (ev->cpu)
		cpu_destroy(ev->cpu);
	pthread_cond_destroy(&ev->cond);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
	vcpu->accel = NULL;
}

/* --- Running --- */

void emu_vcpu_wake_one(struct emu_vcpu *ev)
{
	pthread_mutex_lock(&ev->lock);
	ev->kicked = true;
	pthread_cond_signal(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
	if (ev->cpu)
		cpu_request_exit(ev->cpu);
}

void emu_vcpu_kick(struct vcpu *vcpu)
{
	struct emu_vcpu *ev = vcpu->accel;

	if (ev)
		emu_vcpu_wake_one(ev);
}

/* A VM request, or a pause (the debugger stopping every vCPU). */
static bool emu_request_pending(struct emu_vcpu *ev)
{
	return vm_vcpu_must_return(ev->vcpu->vm);
}

/* Sleeps until a kick or, if deadline_ns, that CLOCK_MONOTONIC time. */
static void emu_sleep(struct emu_vcpu *ev, uint64_t deadline_ns)
{
	struct timespec ts = { .tv_sec = (time_t)(deadline_ns / 1000000000ULL),
			       .tv_nsec = (long)(deadline_ns % 1000000000ULL) };

	pthread_mutex_lock(&ev->lock);
	while (!ev->kicked) {
		if (!deadline_ns)
			pthread_cond_wait(&ev->cond, &ev->lock);
		else if (pthread_cond_timedwait(&ev->cond, &ev->lock, &ts) == ETIMEDOUT)
			break;
	}
	ev->kicked = false;
	pthread_mutex_unlock(&ev->lock);
}

/* INIT, SIPI and NMI from the APIC bus (SDM Vol. 3A §10.4.4 for the startup
 * protocol). Returns true if one of them changed what the CPU does next. */
static bool emu_take_events(struct emu_vcpu *ev)
{
	bool bsp = ev->vcpu->index == 0, acted = false;
	int vector;

	vector = -1;
	if (lapic_take_init(ev->lapic)) {
		/* INIT resets the CPU and its LAPIC (keeping the APIC ID); an AP
		 * then waits for a SIPI, the BSP restarts at the reset vector.
		 * Linux sends INIT and the SIPIs back to back, so on a busy host
		 * they are all pending by the time this thread looks: keep a SIPI
		 * across the LAPIC reset, which clears it. */
		vector = lapic_take_sipi(ev->lapic);
		lapic_reset(ev->lapic, bsp);
		cpu_reset(ev->cpu);
		ev->wait_sipi = !bsp;
		acted = true;
	}
	if (vector < 0)
		vector = lapic_take_sipi(ev->lapic);
	if (vector >= 0 && ev->wait_sipi) { /* a SIPI outside wait-for-SIPI is ignored */
		cpu_start_sipi(ev->cpu, (uint8_t)vector);
		ev->wait_sipi = false;
		acted = true;
	}
	if (lapic_take_nmi(ev->lapic) && !ev->wait_sipi) {
		cpu_inject_nmi(ev->cpu);
		acted = true;
	}
	return acted;
}

/* HLT: sleep until an interrupt the CPU would take (IF=1), an NMI, INIT or
 * SIPI, or a VM request; the LAPIC timer's deadline bounds the sleep. With
 * IF=0 only NMI, INIT and requests end the halt (SDM Vol. 2A, HLT). */
static void emu_halt(struct emu_vcpu *ev)
{
	struct x86_cpu_state st;
	bool if_set;

	cpu_get_x86_state(ev->cpu, &st);
	if_set = st.rflags & EMU_RFLAGS_IF;
	for (;;) {
		uint64_t next;

		if (emu_request_pending(ev) || emu_take_events(ev))
			return;
		next = emu_timer_check(ev);
		if (if_set && emu_lapic_pending(ev->lapic))
			return;
		emu_sleep(ev, next);
	}
}

static void emu_trace(struct emu_vcpu *ev)
{
	struct x86_cpu_state st;

	cpu_get_x86_state(ev->cpu, &st);
	fprintf(ev->ea->trace, "%u %016" PRIx64 "\n", ev->vcpu->index, st.cs.base + st.rip);
}

enum vcpu_exit emu_vcpu_run(struct vcpu *vcpu)
{
	struct emu_vcpu *ev = vcpu->accel;
	bool tracing = ev->ea->trace != NULL;

	for (;;) {
		struct cpu_exit ex;
		int r;

		if (emu_request_pending(ev))
			return VCPU_EXIT_KICKED;
		emu_take_events(ev);
		if (ev->wait_sipi) {
			emu_sleep(ev, 0);
			continue;
		}
		emu_timer_check(ev);
		if (tracing)
			emu_trace(ev);
		if (__builtin_expect(ev->dbg_dirty, 0) && (r = emu_debug_apply(ev)) < 0) {
			err_errno(&vcpu->err, r, "emulated CPU: guest debugging");
			return VCPU_EXIT_ERROR;
		}
		if (__builtin_expect(ev->dbg_on, 0))
			r = emu_debug_run(ev, &ex);
		else
			r = cpu_run(ev->cpu, tracing ? 1 : EMU_SLICE_INSNS, &ex);
		if (r < 0) {
			err_errno(&vcpu->err, r, "emulated CPU");
			return VCPU_EXIT_ERROR;
		}
		if (r > 0)
			return VCPU_EXIT_DEBUG;
		switch (ex.reason) {
		case CPU_EXIT_HLT:
			emu_halt(ev);
			/* A step over HLT ends when the CPU wakes up. */
			if (ev->dbg_on && ev->dbg.single_step && emu_debug_step_done(ev))
				return VCPU_EXIT_DEBUG;
			break;
		case CPU_EXIT_SHUTDOWN:
			return VCPU_EXIT_SHUTDOWN;
		case CPU_EXIT_KICK:
		case CPU_EXIT_LIMIT:
			break;
		default:
			err_set(&vcpu->err, "emulated CPU: unexpected exit %d (vector %u)", ex.reason,
				ex.vector);
			return VCPU_EXIT_ERROR;
		}
	}
}

/* --- State --- */

int emu_get_state(struct vcpu *vcpu, struct x86_cpu_state *st)
{
	struct emu_vcpu *ev = vcpu->accel;
	int r = cpu_get_x86_state(ev->cpu, st);

	if (!r)
		st->apic_base = lapic_get_base(ev->lapic);
	return r;
}

int emu_set_state(struct vcpu *vcpu, const struct x86_cpu_state *st)
{
	struct emu_vcpu *ev = vcpu->accel;
	int r = cpu_set_x86_state(ev->cpu, st);

	if (!r && st->apic_base)
		lapic_set_base(ev->lapic, st->apic_base);
	return r;
}
