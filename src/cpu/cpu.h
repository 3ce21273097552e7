/* Vireo's software x86-64 CPU: a pre-decoding interpreter (see DESIGN.md's
 * "blink" row). Instructions are decoded once into compact descriptors,
 * cached by guest address and dispatched through a flat handler table; flags
 * are evaluated lazily; memory goes through a software TLB over one
 * translate callback, so paging (system mode) slots in behind it later.
 *
 * CPU_MODE_USER64 runs flat 64-bit CPL3 code: no segmentation or paging, the
 * translate callback maps guest-virtual addresses; SYSCALL exits to the
 * caller; privileged instructions (IN/OUT/HLT/CLI/...) raise #GP(0). */
#ifndef VIREO_CPU_CPU_H
#define VIREO_CPU_CPU_H

#include <stdint.h>

#include "core/err.h"

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
	CPU_EXIT_HLT,
	CPU_EXIT_LIMIT,     /* max_insns retired */
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
 * negative errno on an internal failure. */
int cpu_run(struct cpu *cpu, uint64_t max_insns, struct cpu_exit *exit);

/* After the runner changes mappings (munmap/mprotect/mremap). */
void cpu_tlb_flush(struct cpu *cpu);
/* Code in [gva, gva+len) was written behind the CPU's back. */
void cpu_invalidate_code(struct cpu *cpu, uint64_t gva, uint64_t len);
/* Retired instructions, for ips numbers. */
uint64_t cpu_insn_count(struct cpu *cpu);
/* CPUID as the emulated CPU reports it: exactly what is implemented. */
void cpu_cpuid(struct cpu *cpu, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

#endif
