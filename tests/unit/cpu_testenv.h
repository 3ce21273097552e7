/* Shared scaffolding for the CPU unit tests: a flat guest memory of
 * CPUENV_SIZE bytes at CPUENV_BASE, code copied in from snippets assembled
 * into this test binary (so the encodings come from the real assembler),
 * and a runner that stops at INT3. */
#ifndef VIREO_TESTS_CPU_TESTENV_H
#define VIREO_TESTS_CPU_TESTENV_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"

#define CPUENV_BASE 0x400000ULL
#define CPUENV_SIZE (1024 * 1024)
#define CPUENV_STACK (CPUENV_BASE + CPUENV_SIZE - 4096)
#define CPUENV_DATA (CPUENV_BASE + 0x80000)
#define CPUENV_RO (CPUENV_BASE + 0x70000) /* one read-only page */

struct cpuenv {
	uint8_t *mem;
	struct cpu *cpu;
	struct cpu_state st;
	struct cpu_exit ex;
};

static void *cpuenv_translate(void *opaque, uint64_t gva, uint64_t len, int access)
{
	struct cpuenv *e = opaque;

	if (gva < CPUENV_BASE || gva + len > CPUENV_BASE + CPUENV_SIZE || gva + len < gva)
		return NULL;
	if (access == 2 /* CPU_ACC_WRITE */ && gva >= CPUENV_RO && gva < CPUENV_RO + 4096)
		return NULL;
	return e->mem + (gva - CPUENV_BASE);
}

static const struct cpu_mem_ops cpuenv_ops = { cpuenv_translate };

static inline int cpuenv_init(struct cpuenv *e)
{
	struct err err = { { 0 } };

	e->mem = aligned_alloc(4096, CPUENV_SIZE);
	if (!e->mem)
		return -1;
	memset(e->mem, 0xcc, CPUENV_SIZE);
	e->cpu = cpu_create(CPU_MODE_USER64, &cpuenv_ops, e, &err);
	return e->cpu ? 0 : -1;
}

static inline void cpuenv_fini(struct cpuenv *e)
{
	cpu_destroy(e->cpu);
	free(e->mem);
}

static inline uint8_t *cpuenv_ptr(struct cpuenv *e, uint64_t gva)
{
	return e->mem + (gva - CPUENV_BASE);
}

/* Load code at CPUENV_BASE, reset registers to st's current values with
 * RIP/RSP set, run at most max instructions. */
static inline void cpuenv_load(struct cpuenv *e, const uint8_t *code, const uint8_t *end)
{
	memset(e->mem, 0xcc, 65536);
	memcpy(e->mem, code, (size_t)(end - code));
	cpu_invalidate_code(e->cpu, CPUENV_BASE, 65536);
	cpu_get_state(e->cpu, &e->st);
	memset(e->st.gpr, 0, sizeof(e->st.gpr));
	e->st.gpr[4] = CPUENV_STACK;
	e->st.rip = CPUENV_BASE;
	e->st.rflags = 0x202;
}

static inline void cpuenv_run(struct cpuenv *e, uint64_t max)
{
	cpu_set_state(e->cpu, &e->st);
	cpu_run(e->cpu, max, &e->ex);
	cpu_get_state(e->cpu, &e->st);
}

#define CPUENV_SNIPPET(name, text)                                                                 \
	__asm__(".pushsection .rodata\n.globl " #name "\n" #name ":\n" text "\n" #name              \
		"_end:\n.globl " #name "_end\n.popsection");                                        \
	extern const uint8_t name[], name##_end[]

#endif
