/* Shared helpers of the SSE executors (exec_sse.c, exec_ssefp.c). */
#ifndef VIREO_CPU_SSE_H
#define VIREO_CPU_SSE_H

#include "cpu/cpu_int.h"

/* Mandatory prefix: 0 none, 1 66, 2 F3, 3 F2 (the last of F2/F3 wins,
 * and either overrides 66). */
static inline unsigned sse_pfx(const struct insn *i)
{
	if (i->flags & IF_REPNE)
		return 3;
	if (i->flags & IF_REP)
		return 2;
	return (i->flags & IF_OPSZ) ? 1 : 0;
}

void sse_src128(struct cpu *c, const struct insn *i, union xmm *out, bool aligned);
void sse_src_scalar(struct cpu *c, const struct insn *i, union xmm *out, int size);
void cpu_exec_init_ssefp(void);

#endif
