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
	VCPU_EXIT_DEBUG,    /* a debug event set_guest_debug asked for; vcpu->debug_exit says which */
};

/* x87 and SSE state in the FXSAVE layout (SDM Vol. 1, 10.5.1): st[i] is
 * ST(i), relative to the stack top; ftw is the abridged tag byte (bit i set:
 * physical register i is not empty). */
struct x86_fpu_state {
	uint8_t st[8][10];
	uint16_t fcw, fsw, fop;
	uint8_t ftw;
	uint64_t fip, fdp;
	uint8_t xmm[16][16];
	uint32_t mxcsr;
};

/* Debugging, for the GDB stub. Hardware breakpoints and watchpoints are the
 * four debug address registers DR0-DR3 (SDM Vol. 3B, 18.2). */
#define ACCEL_NUM_HWBP 4
enum accel_hwbp_type { ACCEL_HWBP_EXEC, ACCEL_HWBP_WRITE, ACCEL_HWBP_ACCESS };

struct accel_guest_debug {
	bool single_step;  /* stop after one instruction, the guest not seeing TF */
	bool intercept_bp; /* INT3 (#BP) stops the vCPU instead of reaching the guest */
	bool reinject_bp;  /* the #BP that stopped the vCPU was the guest's own: deliver it */
	unsigned nhw;
	struct {
		uint64_t addr; /* linear address */
		uint8_t type;  /* enum accel_hwbp_type */
		uint8_t len;   /* 1, 2, 4 or 8; 1 for EXEC */
	} hw[ACCEL_NUM_HWBP];
};

enum accel_debug_reason {
	ACCEL_DEBUG_STEP,  /* single step completed */
	ACCEL_DEBUG_SWBP,  /* INT3 at addr (RIP still points at it) */
	ACCEL_DEBUG_HWBP,  /* execution breakpoint hw[index] (RIP at addr) */
	ACCEL_DEBUG_WATCH, /* data watchpoint hw[index] on addr (RIP after the access) */
};

struct accel_debug_exit {
	enum accel_debug_reason reason;
	unsigned index;
	uint64_t addr; /* linear */
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
	/* Called on the vCPU's own thread. Returns VCPU_EXIT_KICKED soon after a
	 * vcpu_kick, and whenever vm_vcpu_must_return() (vm/vm.h: a request is
	 * pending or the VM is pausing) holds after an exit handled inside. */
	enum vcpu_exit (*vcpu_run)(struct vcpu *vcpu);
	/* Thread-safe: makes a running or about-to-run vcpu_run return VCPU_EXIT_KICKED soon. */
	void (*vcpu_kick)(struct vcpu *vcpu);
	int (*get_state)(struct vcpu *vcpu, struct x86_cpu_state *st);
	int (*set_state)(struct vcpu *vcpu, const struct x86_cpu_state *st);
	/* Drive an interrupt line (a GSI of the IOAPIC; 0-15 also reach the PIC). */
	int (*set_irq)(struct vm *vm, unsigned gsi, bool level);
	int (*send_msi)(struct vm *vm, uint64_t addr, uint32_t data);
	/* Optional fast paths (NULL if absent). ioeventfd: a guest write of len
	 * bytes of datamatch (or any value if !match) at addr signals fd without
	 * leaving the kernel; del takes the same arguments as add. */
	int (*add_ioeventfd)(struct vm *vm, uint64_t addr, unsigned len, bool pio, bool match,
			     uint64_t datamatch, int fd, struct err *err);
	int (*del_ioeventfd)(struct vm *vm, uint64_t addr, unsigned len, bool pio, bool match,
			     uint64_t datamatch, int fd);
	/* irqfd: a write to fd sends the MSI (addr, data). add returns a handle
	 * (>= 0) for update (the guest reprogrammed the message) and del. */
	int (*add_irqfd_msi)(struct vm *vm, uint64_t addr, uint32_t data, int fd, struct err *err);
	int (*update_irqfd_msi)(struct vm *vm, int handle, uint64_t addr, uint32_t data,
				struct err *err);
	void (*del_irqfd_msi)(struct vm *vm, int handle, int fd);
	/* Optional, for the debugger (NULL if absent). Called on any thread, but
	 * only while the vCPU is parked (vm_pause). set_guest_debug(vcpu, NULL)
	 * turns debugging off; with it on, vcpu_run returns VCPU_EXIT_DEBUG
	 * with vcpu->debug_exit filled in for each event asked for. */
	int (*set_guest_debug)(struct vcpu *vcpu, const struct accel_guest_debug *dbg);
	int (*get_fpu)(struct vcpu *vcpu, struct x86_fpu_state *fpu);
	int (*set_fpu)(struct vcpu *vcpu, const struct x86_fpu_state *fpu);
};

extern const struct accel_ops accel_kvm_ops;
extern const struct accel_ops accel_emu_ops; /* the software CPU, src/accel/emu/ */

/* Chooses the accelerator for --accel KIND. For ACCEL_AUTO, *why says in a
 * few words why that one was chosen. NULL (err set) if it cannot be used. */
const struct accel_ops *accel_select(enum accel_kind kind, const char **why, struct err *err);

#endif
