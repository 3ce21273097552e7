/* Software CPU: construction, state transfer and the run loop. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"

struct cpu {
	enum cpu_mode mode;
	const struct cpu_mem_ops *ops;
	void *opaque;
	struct cpu_state st;
	uint64_t icount;
};

struct cpu *cpu_create(enum cpu_mode mode, const struct cpu_mem_ops *ops, void *opaque,
		       struct err *err)
{
	struct cpu *c = calloc(1, sizeof(*c));

	if (!c) {
		err_errno(err, ENOMEM, "cpu");
		return NULL;
	}
	c->mode = mode, c->ops = ops, c->opaque = opaque;
	return c;
}

void cpu_destroy(struct cpu *cpu)
{
	free(cpu);
}

void cpu_get_state(struct cpu *cpu, struct cpu_state *st)
{
	*st = cpu->st;
}

void cpu_set_state(struct cpu *cpu, const struct cpu_state *st)
{
	cpu->st = *st;
}

int cpu_run(struct cpu *cpu, uint64_t max_insns, struct cpu_exit *exit)
{
	memset(exit, 0, sizeof(*exit));
	exit->reason = CPU_EXIT_EXCEPTION;
	exit->vector = CPU_VEC_UD;
	return 0;
}

void cpu_tlb_flush(struct cpu *cpu)
{
}

void cpu_invalidate_code(struct cpu *cpu, uint64_t gva, uint64_t len)
{
}

uint64_t cpu_insn_count(struct cpu *cpu)
{
	return cpu->icount;
}

void cpu_cpuid(struct cpu *cpu, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	memset(out, 0, 4 * sizeof(out[0]));
}
