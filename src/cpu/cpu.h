/* Vireo's software x86-64 CPU: a pre-decoding interpreter (see DESIGN.md's
 * "blink" row). Instructions are decoded once into compact descriptors,
 * cached by guest address and dispatched through a flat handler table; flags
 * are evaluated lazily; memory goes through a software TLB over one
 * translate callback, so paging (system mode) slots in behind it later.
 *
 * CPU_MODE_USER64 runs flat 64-bit CPL3 code: no segmentation or paging, the
 * translate callback maps guest-virtual addresses; SYSCALL exits to the
 * caller; privileged instructions (IN/OUT/HLT/CLI/...) raise #GP(0).
 *
 * System mode (cpu_create_system, src/cpu/sys*.c) runs an operating system:
 * 64-bit long mode with 4-level paging (4K/2M/1G pages, NX, U/S, R/W with
 * CR0.WP, accessed/dirty bits), CPL0/CPL3, the 64-bit IDT with IST stacks
 * and the TSS, #DF and triple fault, SYSCALL/SYSRET/SWAPGS, IRETQ, MSRs,
 * port I/O and MMIO through the board; real mode and 16/32-bit protected
 * mode without paging, enough for the path from a SIPI (or reset) to long
 * mode that Linux's AP trampoline takes. Not implemented: 32-bit/PAE paging
 * without long mode, event delivery in 32-bit protected mode, compatibility
 * mode (32-bit code under a 64-bit OS), task switches, segment limit
 * checks, SMEP/SMAP/PCID/XSAVE (none advertised, see cpu_sys_features). */
#ifndef VIREO_CPU_CPU_H
#define VIREO_CPU_CPU_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

struct x86_cpu_state; /* accel/accel.h */

struct cpu; /* opaque */

enum cpu_mode { CPU_MODE_USER64, CPU_MODE_SYSTEM };

enum cpu_access { CPU_ACC_READ = 1, CPU_ACC_WRITE = 2, CPU_ACC_EXEC = 4 };

struct cpu_mem_ops {
	/* Host pointer for guest-virtual [gva, gva+len) (len <= 4096, never
	 * crossing a 4 KiB page boundary: the CPU splits accesses) with access
	 * CPU_ACC_READ/WRITE/EXEC, or NULL -> #PF. The CPU caches results per
	 * page in a software TLB until cpu_tlb_flush(), so the pointer must stay
	 * valid (and the whole 4 KiB page host-contiguous) until then. */
	void *(*translate)(void *opaque, uint64_t gva, uint64_t len, int access);
};

/* Architectural state, for get/set (difftest, syscalls, gdb). */
struct cpu_state {
	uint64_t gpr[16]; /* RAX..R15 in encoding order */
	uint64_t rip, rflags;
	uint64_t fs_base, gs_base;
	/* x87 + MXCSR + XMM0-15 in the exact FXSAVE64 layout (Intel SDM Vol. 1
	 * §10.5.1): FCW@0, FSW@2, abridged FTW@4, FOP@6, MXCSR@24,
	 * MXCSR_MASK@28, ST0-7@32 (16 bytes each), XMM0-15@160. */
	uint8_t fxsave[512] __attribute__((aligned(16)));
};

enum cpu_exit_reason {
	CPU_EXIT_SYSCALL,   /* USER64: SYSCALL executed, RIP past it */
	CPU_EXIT_EXCEPTION, /* vector/error_code/fault_addr valid, RIP at the insn */
	CPU_EXIT_HLT,       /* SYSTEM: HLT executed, RIP past it (see cpu_run) */
	CPU_EXIT_LIMIT,     /* max_insns retired */
	CPU_EXIT_SHUTDOWN,  /* SYSTEM: triple fault (Vol. 3 §6.15, "Interrupt 8"): reset the CPU */
	CPU_EXIT_KICK,      /* SYSTEM: cpu_request_exit() was called */
	CPU_EXIT_DEBUG,     /* SYSTEM: a debug event (cpu_debug_take says which) */
};

struct cpu_exit {
	enum cpu_exit_reason reason;
	uint8_t vector;      /* CPU_EXIT_EXCEPTION: 0 #DE, 6 #UD, 13 #GP, 14 #PF, ... */
	uint32_t error_code;
	uint64_t fault_addr; /* #PF: the faulting linear address (CR2) */
};

/* Exception vectors (Intel SDM Vol. 3 §6.3.1). */
enum {
	CPU_VEC_DE = 0, CPU_VEC_DB = 1, CPU_VEC_BP = 3, CPU_VEC_OF = 4, CPU_VEC_BR = 5,
	CPU_VEC_UD = 6, CPU_VEC_NM = 7, CPU_VEC_DF = 8, CPU_VEC_TS = 10, CPU_VEC_NP = 11,
	CPU_VEC_SS = 12, CPU_VEC_GP = 13, CPU_VEC_PF = 14, CPU_VEC_MF = 16, CPU_VEC_AC = 17,
	CPU_VEC_XM = 19,
};

struct cpu *cpu_create(enum cpu_mode mode, const struct cpu_mem_ops *ops, void *opaque,
		       struct err *err);
void cpu_destroy(struct cpu *cpu);

void cpu_get_state(struct cpu *cpu, struct cpu_state *st);
void cpu_set_state(struct cpu *cpu, const struct cpu_state *st);

/* Runs until an exit, at most max_insns instructions (then CPU_EXIT_LIMIT).
 * SYSCALL in USER64 exits with RIP already past the instruction and, as the
 * instruction architecturally does, RCX = that RIP and R11 = RFLAGS (the
 * runner sets RAX and calls cpu_run again). INT3, INT 4 and INT 0x80 are
 * traps: they exit with vector 3/4/0x80 and RIP past the instruction; other
 * INT n raise #GP(n*8+2) as at CPL3 under Linux. Exceptions exit with RIP at the faulting
 * instruction, the vector, error code, and fault_addr (CR2) for #PF; state is
 * precise (no partial writes from the faulting instruction, except completed
 * iterations of a REP string instruction, as on hardware). Returns 0, or a
 * negative errno on an internal failure.
 *
 * System mode: exceptions and interrupts go to the guest's IDT and never
 * exit; cpu_run returns CPU_EXIT_HLT (RIP past the HLT: the runner sleeps
 * until an interrupt or NMI may be pending, then calls cpu_run again, which
 * delivers it), CPU_EXIT_SHUTDOWN (triple fault; call cpu_reset before
 * running again), CPU_EXIT_KICK or CPU_EXIT_LIMIT. */
int cpu_run(struct cpu *cpu, uint64_t max_insns, struct cpu_exit *exit);

/* ---- System mode (issue 4) ----
 *
 * cpu_create_system() makes a CPU that runs everything the guest's OS does:
 * real, protected and long mode, paging, privilege levels, interrupts and
 * exceptions delivered through the guest's IVT/IDT. Memory and devices are
 * reached through these board callbacks (opaque first). All callbacks are
 * called on the thread running cpu_run(), except where noted. */
struct cpu_sys_ops {
	/* Guest-physical RAM: a host pointer for [gpa, gpa+len) (within one
	 * 4 KiB page), or NULL if that is not RAM (then MMIO is used). The
	 * pointer for a page must stay valid for the CPU's lifetime (RAM is
	 * never unmapped under a running CPU). */
	void *(*ram)(void *opaque, uint64_t gpa, uint64_t len);
	uint64_t (*mmio_read)(void *opaque, uint64_t gpa, unsigned size);
	void (*mmio_write)(void *opaque, uint64_t gpa, uint64_t val, unsigned size);
	uint32_t (*pio_read)(void *opaque, uint16_t port, unsigned size);
	void (*pio_write)(void *opaque, uint16_t port, uint32_t val, unsigned size);
	/* MSRs the CPU core does not own (IA32_APIC_BASE 0x1b, TSC_DEADLINE
	 * 0x6e0, ...): return false to raise #GP(0). */
	bool (*rdmsr)(void *opaque, uint32_t msr, uint64_t *val);
	bool (*wrmsr)(void *opaque, uint32_t msr, uint64_t val);
	/* The current TSC (RDTSC, RDTSCP, MSR 0x10 reads). A WRMSR to 0x10 is
	 * kept by the CPU as an offset added to this value. */
	uint64_t (*tsc)(void *opaque);
	/* Maskable interrupts: polled at block boundaries when RFLAGS.IF=1 and
	 * no STI/MOV SS shadow is active; intr_pending must be cheap (an
	 * atomic flag). intr_ack returns the vector, or -1 if it went away. */
	bool (*intr_pending)(void *opaque);
	int (*intr_ack)(void *opaque);
	/* The board's CPUID (must advertise only what cpu_cpuid_sys_features
	 * lists as implemented). */
	void (*cpuid)(void *opaque, uint32_t leaf, uint32_t sub, uint32_t out[4]);
};

/* A system-mode CPU in the power-on state (cpu_reset). Stores through any
 * mapping to a page holding decoded code invalidate that code (Linux patches
 * its own text). */
struct cpu *cpu_create_system(const struct cpu_sys_ops *ops, void *opaque, struct err *err);
/* Any thread: a running (or the next) cpu_run returns CPU_EXIT_KICK soon
 * (at the next block boundary). */
void cpu_request_exit(struct cpu *cpu);
/* Any thread: deliver an NMI (vector 2) at the next instruction boundary;
 * further NMIs are blocked until the next IRET (Vol. 3 §6.7.1). */
void cpu_inject_nmi(struct cpu *cpu);
/* Power-on / INIT state (Vol. 3 §10.1.1, Table 10-1): real mode,
 * CS=F000 base FFFF0000, IP=FFF0, EDX=0x600 + stepping. */
void cpu_reset(struct cpu *cpu);
/* INIT-SIPI (Vol. 3 §10.4.4): reset, then real mode at CS = vector << 8
 * (base vector << 12), IP = 0. */
void cpu_start_sipi(struct cpu *cpu, uint8_t vector);
/* Whole architectural system state (segments with their hidden parts,
 * descriptor tables, CRs, EFER; apic_base is left to the board). Return 0. */
int cpu_get_x86_state(struct cpu *cpu, struct x86_cpu_state *st);
int cpu_set_x86_state(struct cpu *cpu, const struct x86_cpu_state *st);
/* Guest-physical [gpa, gpa+len) was written by someone else (DMA, another
 * vCPU thread): drop decoded code from it. Thread: the CPU's own. */
void cpu_invalidate_phys(struct cpu *cpu, uint64_t gpa, uint64_t len);
/* The same for a device's write (DMA) from any thread: every vCPU drops the
 * code decoded from those pages at its next block boundary. */
void cpu_dma_written(uint64_t gpa, uint64_t len);
/* The CPUID feature bits system mode implements, as a mask per register
 * (leaf 1 ECX/EDX, leaf 7.0 EBX/ECX/EDX, 0x80000001 ECX/EDX): the board's
 * cpuid callback must not advertise more. out[] = {1.ecx, 1.edx, 7.ebx,
 * 7.ecx, 7.edx, 80000001.ecx, 80000001.edx}. */
void cpu_sys_features(uint32_t out[7]);

/* ---- Debugging (system mode, for a debugger through accel/emu) ----
 *
 * Off by default, and then no cost: the hooks sit on slow paths only (INT3,
 * event delivery, soft-TLB misses). Watched pages are kept out of the TLB for
 * the watched access type, so every such access takes the slow path, where
 * it is compared with the watch ranges (implicit accesses of event delivery
 * and descriptor tables are not watched). Stepping
 * and execution breakpoints are the runner's: cpu_run(cpu, 1, ...) with
 * stop_after_event runs exactly one instruction or one event delivery. */
#define CPU_DEBUG_WATCHES 4
enum cpu_watch_kind { CPU_WATCH_WRITE, CPU_WATCH_ACCESS };
struct cpu_debug {
	bool int3;             /* INT3 (0xCC) stops cpu_run (RIP at it), no #BP */
	bool int3_deliver_once; /* ...except the next one at the current RIP: the guest's own */
	bool stop_after_event;  /* cpu_run returns once an exception or interrupt is delivered
				 * (RIP at the handler's first instruction) */
	unsigned nwatch;
	struct {
		uint64_t addr; /* linear */
		uint64_t len;  /* bytes, >= 1 */
		enum cpu_watch_kind kind;
	} watch[CPU_DEBUG_WATCHES];
};
enum cpu_debug_event { CPU_DEBUG_NONE, CPU_DEBUG_INT3, CPU_DEBUG_WATCH };
/* Sets (d != NULL) or clears debugging; flushes the TLB when watches change,
 * and always the decoded code, which the debugger may have written to.
 * Call between cpu_run calls on the CPU's thread. 0 or -errno. */
int cpu_debug_set(struct cpu *cpu, const struct cpu_debug *d);
/* The debug event that stopped the last cpu_run (or happened during it),
 * and clears it; *watch is the watch[] index for CPU_DEBUG_WATCH. */
enum cpu_debug_event cpu_debug_take(struct cpu *cpu, unsigned *watch);
/* Linear address of the next instruction (CS base + RIP). */
uint64_t cpu_debug_pc(struct cpu *cpu);

/* After the runner changes mappings (munmap/mprotect/mremap). */
void cpu_tlb_flush(struct cpu *cpu);
/* Code in [gva, gva+len) was written behind the CPU's back. */
void cpu_invalidate_code(struct cpu *cpu, uint64_t gva, uint64_t len);
/* Retired instructions, for ips numbers. */
uint64_t cpu_insn_count(struct cpu *cpu);
/* CPUID as the emulated CPU reports it: exactly what is implemented. */
void cpu_cpuid(struct cpu *cpu, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

#endif
