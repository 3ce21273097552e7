/* The accelerator seam: how a CPU backend (KVM today, the software emulator
 * next) plugs into the VM without devices knowing which one runs. Devices
 * never call an accelerator directly; they raise interrupts through vm_set_irq /
 * vm_send_msi, and the accelerator calls io_dispatch() on vm->pio / vm->mmio
 * for every port or MMIO access the guest makes. */
#ifndef VIREO_ACCEL_ACCEL_H
#define VIREO_ACCEL_ACCEL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "vm/config.h"

struct vm;
struct vcpu;

/* Accelerator-neutral x86 CPU state (what loaders set and dumps print). */
struct x86_segment {
	uint64_t base;
	uint32_t limit; /* byte granular (already scaled if G=1) */
	uint16_t selector;
	uint8_t type;   /* 4-bit type field */
	uint8_t s, dpl, present, avl, l, db, g, unusable;
};

struct x86_dtable {
	uint64_t base;
	uint16_t limit;
};

enum x86_reg { X86_RAX, X86_RCX, X86_RDX, X86_RBX, X86_RSP, X86_RBP, X86_RSI, X86_RDI,
	       X86_R8, X86_R9, X86_R10, X86_R11, X86_R12, X86_R13, X86_R14, X86_R15 };

struct x86_cpu_state {
	uint64_t gpr[16];
	uint64_t rip, rflags;
	struct x86_segment cs, ds, es, fs, gs, ss, tr, ldt;
	struct x86_dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8;
	uint64_t efer;
	uint64_t apic_base;
};

/* Why vcpu_run returned to the generic vCPU loop. Everything else (port and
 * MMIO accesses, in-kernel HLT) is handled inside the accelerator. */
enum vcpu_exit {
	VCPU_EXIT_KICKED,   /* vcpu_kick or a signal interrupted the run: check vm requests */
	VCPU_EXIT_SHUTDOWN, /* triple fault */
	VCPU_EXIT_RESET,    /* the platform asked for a reset (e.g. KVM system event) */
	VCPU_EXIT_POWEROFF, /* the platform asked for power-off */
	VCPU_EXIT_ERROR,    /* unhandled exit or accelerator failure; vcpu->err says why */
};

struct accel_ops {
	const char *name;
	/* Highest vCPU count this accelerator supports on this host; vm may be
	 * NULL (before vm_init). 0 if the accelerator cannot be used at all. */
	unsigned (*max_vcpus)(struct vm *vm);
	int (*vm_init)(struct vm *vm, struct err *err);
	/* Creates the interrupt controllers (PIC, IOAPIC, LAPICs) and the PIT,
	 * after RAM and firmware are mapped and before any device or vCPU
	 * exists. NULL if vm_init already did. */
	int (*irqchip_init)(struct vm *vm, struct err *err);
	void (*vm_destroy)(struct vm *vm);
	/* Map host memory hva at guest-physical [gpa, gpa+size). */
	int (*map_ram)(struct vm *vm, unsigned slot, uint64_t gpa, uint64_t size, void *hva,
		       struct err *err);
	/* Like map_ram, but guest writes are dropped (firmware ROM); NULL: use map_ram. */
	int (*map_rom)(struct vm *vm, unsigned slot, uint64_t gpa, uint64_t size, void *hva,
		       struct err *err);
	int (*vcpu_init)(struct vcpu *vcpu, struct err *err);
	void (*vcpu_destroy)(struct vcpu *vcpu);
	/* Called on the vCPU's own thread. */
	enum vcpu_exit (*vcpu_run)(struct vcpu *vcpu);
	/* Thread-safe: makes a running or about-to-run vcpu_run return VCPU_EXIT_KICKED soon. */
	void (*vcpu_kick)(struct vcpu *vcpu);
	int (*get_state)(struct vcpu *vcpu, struct x86_cpu_state *st);
	int (*set_state)(struct vcpu *vcpu, const struct x86_cpu_state *st);
	/* Drive an interrupt line (a GSI of the IOAPIC; 0-15 also reach the PIC). */
	int (*set_irq)(struct vm *vm, unsigned gsi, bool level);
	int (*send_msi)(struct vm *vm, uint64_t addr, uint32_t data);
	/* Optional fast paths (NULL if absent): a write of datamatch (or any value
	 * if !match) at addr signals fd; a write to fd raises the MSI/GSI. */
	int (*add_ioeventfd)(struct vm *vm, uint64_t addr, unsigned len, bool pio, bool match,
			     uint64_t datamatch, int fd, struct err *err);
	int (*add_irqfd_msi)(struct vm *vm, uint64_t addr, uint32_t data, int fd, struct err *err);
};

extern const struct accel_ops accel_kvm_ops;
extern const struct accel_ops accel_emu_ops; /* the software CPU, src/accel/emu/ */

/* Chooses the accelerator for --accel KIND. For ACCEL_AUTO, *why says in a
 * few words why that one was chosen. NULL (err set) if it cannot be used. */
const struct accel_ops *accel_select(enum accel_kind kind, const char **why, struct err *err);

#endif
