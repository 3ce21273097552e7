/* State shared by the emulated-CPU accelerator's VM half (emu.c: interrupt
 * controllers, PIT, interrupt lines) and vCPU half (emu_vcpu.c: the software
 * CPU, its board callbacks and the run loop). Nothing outside src/accel/emu/
 * includes this. */
#ifndef VIREO_ACCEL_EMU_INTERNAL_H
#define VIREO_ACCEL_EMU_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "accel/accel.h"
#include "hw/x86/cpuid.h"

#define EMU_MAX_VCPUS 64
/* The TSC's crystal, which is also the APIC timer's input clock (CPUID 0x15
 * ECX), and the TSC/crystal ratio: a 2.0 GHz TSC. Any values work as long
 * as CPUID, RDTSC and the LAPIC agree; these are round and typical. */
#define EMU_CRYSTAL_HZ 25000000ULL
#define EMU_TSC_RATIO 80u
#define EMU_TSC_HZ (EMU_CRYSTAL_HZ * EMU_TSC_RATIO)
/* Instructions per cpu_run slice. Timers do not depend on it (a host timer
 * stops the CPU at the LAPIC deadline); it only bounds how long a vCPU runs
 * without looking at its LAPIC's INIT/SIPI/NMI in the worst case. */
#define EMU_SLICE_INSNS 1000000

struct pic;
struct pit;
struct apic_bus;
struct event_timer;
struct cpu;
struct cpu_exit;
struct lapic;

struct emu_accel {
	struct pic *pic;
	struct apic_bus *apic;
	struct pit *pit;
	struct event_timer *pit_timer;
	/* Serialises pit_check + timer arming between the I/O thread's timer
	 * callback and vCPUs reprogramming the PIT. */
	pthread_mutex_t pit_lock;
	/* vCPU states by index, set once each is fully created (for kicks from
	 * the APIC bus and the PIC). */
	struct emu_vcpu *_Atomic vcpu[EMU_MAX_VCPUS];
	uint64_t rom_gpa, rom_size; /* the --firmware image */
	uint8_t *rom_hva;
	FILE *trace; /* VIREO_EMU_TRACE: one line per instruction, for diffs with QEMU */
};

struct emu_vcpu {
	struct vcpu *vcpu;
	struct emu_accel *ea;
	struct cpu *cpu;
	struct lapic *lapic;
	struct cpuid_table cpuid;
	struct cpuid_entry cpuid_entry[40];
	/* Sleeping in HLT or wait-for-SIPI: kicks set `kicked` under the lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool kicked;
	bool wait_sipi;         /* an AP before its SIPI, or after an INIT */
	struct event_timer *timer; /* stops cpu_run at the LAPIC timer's deadline */
	uint64_t armed_ns;      /* what the timer is armed for, 0: disarmed */
	uint64_t misc_enable;   /* IA32_MISC_ENABLE, if the core leaves it to us */
	uint64_t tsc_adjust;    /* IA32_TSC_ADJUST */
	/* Guest debugging (emu_debug.c): set_guest_debug stores the request
	 * while the vCPU is parked; the vCPU thread applies it (dbg_dirty). */
	bool dbg_on, dbg_dirty, dbg_reinject;
	struct accel_guest_debug dbg;
	unsigned dbg_nexec;             /* execution breakpoints among dbg.hw */
	unsigned dbg_watch_hw[ACCEL_NUM_HWBP]; /* the CPU's watch index -> dbg.hw index */
	bool dbg_skip;                  /* like RFLAGS.RF: no execution breakpoint */
	uint64_t dbg_skip_pc;           /* ...at this address, once */
};

/* emu.c */
void emu_pit_rearm(struct emu_accel *ea);
/* Wakes vCPU index from HLT / wait-for-SIPI and out of cpu_run. */
void emu_vcpu_wake(struct emu_accel *ea, unsigned index);

/* emu_vcpu.c */
int emu_vcpu_init(struct vcpu *vcpu, struct err *err);
void emu_vcpu_destroy(struct vcpu *vcpu);
enum vcpu_exit emu_vcpu_run(struct vcpu *vcpu);
void emu_vcpu_kick(struct vcpu *vcpu);
int emu_get_state(struct vcpu *vcpu, struct x86_cpu_state *st);
int emu_set_state(struct vcpu *vcpu, const struct x86_cpu_state *st);
void emu_vcpu_wake_one(struct emu_vcpu *ev);

/* emu_debug.c */
int emu_set_guest_debug(struct vcpu *vcpu, const struct accel_guest_debug *dbg);
/* Hands a new set_guest_debug request to the CPU. 0 or -errno. */
int emu_debug_apply(struct emu_vcpu *ev);
/* One slice of the run loop while debugging: 1 if vcpu->debug_exit was
 * filled (return VCPU_EXIT_DEBUG), 0 if *ex is for the normal handling,
 * or -errno. */
int emu_debug_run(struct emu_vcpu *ev, struct cpu_exit *ex);
/* A single step ended at HLT (after the halt): 1, debug_exit filled. */
int emu_debug_step_done(struct emu_vcpu *ev);

#endif
