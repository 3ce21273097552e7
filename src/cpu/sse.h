/* Shared helpers of the SSE executors (exec_sse.c, exec_ssefp.c). */
#ifndef VIREO_CPU_SSE_H
#define VIREO_CPU_SSE_H

#include <emmintrin.h>

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
bool sse_int_op(unsigned op, unsigned p, __m128i a, __m128i b, __m128i *out);
bool sse_fp_op(struct cpu *c, unsigned op, unsigned p, union xmm *dst, const union xmm *src);

/* exec_mmx.c: the MMX forms of the shared 0F opcodes, and 0F 77 EMMS. */
void cpu_mmx_exec(struct cpu *c, const struct insn *i);
void cpu_exec_init_mmx(void);

#endif
