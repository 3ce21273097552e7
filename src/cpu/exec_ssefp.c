/* SSE/SSE2 floating point: arithmetic, MIN/MAX, SQRT, RCP/RSQRT, compares,
 * COMIS/UCOMIS and conversions (Intel SDM Vol. 1 chapters 10-11, Vol. 2).
 *
 * Vireo runs on x86-64 hosts only, so each operation executes the host's
 * own SSE instruction under the guest's MXCSR (rounding, FTZ, DAZ) with all
 * exceptions masked, inside one asm statement so the compiler cannot move
 * floating-point work across the MXCSR switch. The exception flags it
 * raises are merged into the guest MXCSR; an exception the guest unmasked
 * raises #XM without writing the destination (Vol. 1 §11.5.1). This makes
 * results, NaN propagation and flags bit-exact by construction. */
#include <emmintrin.h>
#include <math.h>

#include "cpu/cpu_int.h"
#include "cpu/sse.h"

#define ID(op, w, p) (((op) << 3) | ((w) << 2) | (p))

/* One host instruction under the guest MXCSR. a: destination xmm (in/out),
 * b: source xmm, g: general register (in/out). */
#define FP(text)                                                                                   \
	__asm__ volatile("testl %[fast], %[fast]\n\tjnz 1f\n\tldmxcsr %[mxin]\n1:\n\t" text       \
			 "\n\ttestl %[fast], %[fast]\n\tjnz 2f\n\tstmxcsr %[mxout]\n\t"                \
			 "ldmxcsr %[mxhost]\n2:"                                                    \
			 : [a] "+x"(a), [g] "+r"(g), [mxout] "+m"(mxout)                           \
			 : [b] "x"(b), [mxin] "m"(mxin), [mxhost] "m"(mxhost), [fast] "r"(fast)    \
			 : "cc")

#define CMP8(insn, p)                                                                              \
	case 0x1000 + (p) * 8 + 0: FP(insn " $0, %[b], %[a]"); break;                             \
	case 0x1000 + (p) * 8 + 1: FP(insn " $1, %[b], %[a]"); break;                             \
	case 0x1000 + (p) * 8 + 2: FP(insn " $2, %[b], %[a]"); break;                             \
	case 0x1000 + (p) * 8 + 3: FP(insn " $3, %[b], %[a]"); break;                             \
	case 0x1000 + (p) * 8 + 4: FP(insn " $4, %[b], %[a]"); break;                             \
	case 0x1000 + (p) * 8 + 5: FP(insn " $5, %[b], %[a]"); break;                             \
	case 0x1000 + (p) * 8 + 6: FP(insn " $6, %[b], %[a]"); break;                             \
	case 0x1000 + (p) * 8 + 7: FP(insn " $7, %[b], %[a]"); break

/* ADD/SUB/MUL/DIV with underflow unmasked: a tiny result is signalled
 * even when exact (Vol. 1 §4.9.1.5, §11.5.2.4), but the host, run with UE
 * masked, flags only tiny and inexact ones. An exact tiny result is
 * delivered as it is, a non-zero denormal: look for one in the lanes the
 * instruction computed. */
static bool exact_tiny(unsigned id, __m128d a)
{
	unsigned op = id >> 3, p = id & 3;
	uint32_t f[4];
	uint64_t d[2];

	if (id & 4 || (op != 0x58 && op != 0x59 && op != 0x5c && op != 0x5e))
		return false;
	memcpy(f, &a, 16);
	memcpy(d, &a, 16);
	for (unsigned k = 0; k < (p == 0 ? 4u : p == 1 ? 2u : 1u); k++) {
		if (p & 1 ? !(d[k] & 0x7ff0000000000000ULL) && (d[k] & 0x000fffffffffffffULL)
			  : !(f[k] & 0x7f800000u) && (f[k] & 0x007fffffu))
			return true;
	}
	return false;
}

/* Returns false for an encoding that does not exist. */
static bool fp_run(struct cpu *c, unsigned id, union xmm *dst, const union xmm *src, uint64_t *gp)
{
	__m128d a = _mm_loadu_pd(dst->df), b = _mm_loadu_pd(src->df);
	uint64_t g = *gp;
	uint32_t mxhost = 0, mxin = (c->mxcsr & ~0x3fu) | 0x1f80u, mxout = mxin & ~0x3fu, raised;
	/* LDMXCSR is slow (serialising) on many hosts. When the guest runs
	 * with the default control bits and everything masked (nearly always)
	 * and so does the host, the host MXCSR is synchronised with the guest's
	 * once per cpu_run and used directly: flags only accumulate there and
	 * are collected when the guest reads MXCSR (cpu_mx_collect) and when
	 * cpu_run returns; no exception can trap. Otherwise every operation
	 * swaps MXCSR. */
	uint32_t fast = (c->mxcsr & 0xffc0) == 0x1f80 && c->host_mx_default;

	if (fast && !c->mx_synced) {
		_mm_setcsr(c->mxcsr);
		c->mx_synced = true;
	}
	if (!fast)
		mxhost = _mm_getcsr();
	/* FTZ applies only with underflow masked (Vol. 1 §10.2.3.3). */
	if (!(c->mxcsr & 0x800))
		mxin &= ~0x8000u;

	switch (id) {
	case ID(0x2a, 0, 2): FP("cvtsi2ssl %k[g], %[a]"); break;
	case ID(0x2a, 1, 2): FP("cvtsi2ssq %q[g], %[a]"); break;
	case ID(0x2a, 0, 3): FP("cvtsi2sdl %k[g], %[a]"); break;
	case ID(0x2a, 1, 3): FP("cvtsi2sdq %q[g], %[a]"); break;
	case ID(0x2c, 0, 2): FP("cvttss2si %[b], %k[g]"); break;
	case ID(0x2c, 1, 2): FP("cvttss2si %[b], %q[g]"); break;
	case ID(0x2c, 0, 3): FP("cvttsd2si %[b], %k[g]"); break;
	case ID(0x2c, 1, 3): FP("cvttsd2si %[b], %q[g]"); break;
	case ID(0x2d, 0, 2): FP("cvtss2si %[b], %k[g]"); break;
	case ID(0x2d, 1, 2): FP("cvtss2si %[b], %q[g]"); break;
	case ID(0x2d, 0, 3): FP("cvtsd2si %[b], %k[g]"); break;
	case ID(0x2d, 1, 3): FP("cvtsd2si %[b], %q[g]"); break;
	case ID(0x2e, 0, 0): FP("ucomiss %[b], %[a]\n\tlea -128(%%rsp), %%rsp\n\tpushfq\n\tpopq %q[g]\n\tlea 128(%%rsp), %%rsp"); break;
	case ID(0x2e, 0, 1): FP("ucomisd %[b], %[a]\n\tlea -128(%%rsp), %%rsp\n\tpushfq\n\tpopq %q[g]\n\tlea 128(%%rsp), %%rsp"); break;
	case ID(0x2f, 0, 0): FP("comiss %[b], %[a]\n\tlea -128(%%rsp), %%rsp\n\tpushfq\n\tpopq %q[g]\n\tlea 128(%%rsp), %%rsp"); break;
	case ID(0x2f, 0, 1): FP("comisd %[b], %[a]\n\tlea -128(%%rsp), %%rsp\n\tpushfq\n\tpopq %q[g]\n\tlea 128(%%rsp), %%rsp"); break;
	case ID(0x51, 0, 0): FP("sqrtps %[b], %[a]"); break;
	case ID(0x51, 0, 1): FP("sqrtpd %[b], %[a]"); break;
	case ID(0x51, 0, 2): FP("sqrtss %[b], %[a]"); break;
	case ID(0x51, 0, 3): FP("sqrtsd %[b], %[a]"); break;
	case ID(0x52, 0, 0): FP("rsqrtps %[b], %[a]"); break;
	case ID(0x52, 0, 2): FP("rsqrtss %[b], %[a]"); break;
	case ID(0x53, 0, 0): FP("rcpps %[b], %[a]"); break;
	case ID(0x53, 0, 2): FP("rcpss %[b], %[a]"); break;
	case ID(0x58, 0, 0): FP("addps %[b], %[a]"); break;
	case ID(0x58, 0, 1): FP("addpd %[b], %[a]"); break;
	case ID(0x58, 0, 2): FP("addss %[b], %[a]"); break;
	case ID(0x58, 0, 3): FP("addsd %[b], %[a]"); break;
	case ID(0x59, 0, 0): FP("mulps %[b], %[a]"); break;
	case ID(0x59, 0, 1): FP("mulpd %[b], %[a]"); break;
	case ID(0x59, 0, 2): FP("mulss %[b], %[a]"); break;
	case ID(0x59, 0, 3): FP("mulsd %[b], %[a]"); break;
	case ID(0x5a, 0, 0): FP("cvtps2pd %[b], %[a]"); break;
	case ID(0x5a, 0, 1): FP("cvtpd2ps %[b], %[a]"); break;
	case ID(0x5a, 0, 2): FP("cvtss2sd %[b], %[a]"); break;
	case ID(0x5a, 0, 3): FP("cvtsd2ss %[b], %[a]"); break;
	case ID(0x5b, 0, 0): FP("cvtdq2ps %[b], %[a]"); break;
	case ID(0x5b, 0, 1): FP("cvtps2dq %[b], %[a]"); break;
	case ID(0x5b, 0, 2): FP("cvttps2dq %[b], %[a]"); break;
	case ID(0x5c, 0, 0): FP("subps %[b], %[a]"); break;
	case ID(0x5c, 0, 1): FP("subpd %[b], %[a]"); break;
	case ID(0x5c, 0, 2): FP("subss %[b], %[a]"); break;
	case ID(0x5c, 0, 3): FP("subsd %[b], %[a]"); break;
	case ID(0x5d, 0, 0): FP("minps %[b], %[a]"); break;
	case ID(0x5d, 0, 1): FP("minpd %[b], %[a]"); break;
	case ID(0x5d, 0, 2): FP("minss %[b], %[a]"); break;
	case ID(0x5d, 0, 3): FP("minsd %[b], %[a]"); break;
	case ID(0x5e, 0, 0): FP("divps %[b], %[a]"); break;
	case ID(0x5e, 0, 1): FP("divpd %[b], %[a]"); break;
	case ID(0x5e, 0, 2): FP("divss %[b], %[a]"); break;
	case ID(0x5e, 0, 3): FP("divsd %[b], %[a]"); break;
	case ID(0x5f, 0, 0): FP("maxps %[b], %[a]"); break;
	case ID(0x5f, 0, 1): FP("maxpd %[b], %[a]"); break;
	case ID(0x5f, 0, 2): FP("maxss %[b], %[a]"); break;
	case ID(0x5f, 0, 3): FP("maxsd %[b], %[a]"); break;
	case ID(0xe6, 0, 1): FP("cvttpd2dq %[b], %[a]"); break;
	case ID(0xe6, 0, 2): FP("cvtdq2pd %[b], %[a]"); break;
	case ID(0xe6, 0, 3): FP("cvtpd2dq %[b], %[a]"); break;
	CMP8("cmpps", 0);
	CMP8("cmppd", 1);
	CMP8("cmpss", 2);
	CMP8("cmpsd", 3);
	default:
		return false;
	}
	raised = mxout & 0x3f;
	if (!fast && !(c->mxcsr & 0x800) && !(raised & 0x10) && exact_tiny(id, a))
		raised |= 0x10;
	if (!fast && (raised & ~(c->mxcsr >> 7) & 0x3f)) {
		/* An unmasked pre-computation exception (IE, DE, ZE) stops the
		 * instruction before post-computation exceptions (OE, UE, PE)
		 * are even detected (Vol. 1 §11.5.1). */
		if (raised & ~(c->mxcsr >> 7) & 0x7)
			raised &= 0x7;
		c->mxcsr |= raised;
		/* Unmasked SIMD exception: #XM with CR4.OSXMMEXCPT (Vol. 3 §6.15). */
		cpu_raise(c, (c->cr4 & 0x400) ? CPU_VEC_XM : CPU_VEC_UD, 0);
	}
	c->mxcsr |= raised;
	_mm_storeu_pd(dst->df, a);
	*gp = g;
	return true;
}

/* The packed operation 0F op with prefix p (no GPR operand) on dst, src
 * under the guest MXCSR; false if there is none. For exec_mmx.c. */
bool sse_fp_op(struct cpu *c, unsigned op, unsigned p, union xmm *dst, const union xmm *src)
{
	uint64_t g = 0;

	return fp_run(c, ID(op, 0, p), dst, src, &g);
}

/* Memory operand size of each form: 16 (aligned), or the scalar size. */
static int src_size(unsigned op, unsigned p)
{
	switch (op) {
	case 0x2c: case 0x2d:
		return p == 2 ? 4 : 8;
	case 0x2e: case 0x2f:
		return p == 0 ? 4 : 8;
	case 0x5a:
		return p == 0 ? 8 : p == 1 ? 16 : p == 2 ? 4 : 8;
	case 0x5b:
		return 16;
	case 0xe6:
		return p == 2 ? 8 : 16;
	default:
		return p == 2 ? 4 : p == 3 ? 8 : 16;
	}
}

/* CVTSD2SS/CVTPD2PS with underflow unmasked: the host (run with UE
 * masked) only flags tiny results that are also inexact after
 * denormalisation, but hardware signals UE for any tiny result (detected
 * before rounding) and PE only if the unbounded-exponent result is
 * inexact (Vol. 1 §4.9.1.5, §11.5.2). Raises #XM if an element is tiny. */
static void cvt_to_single_unmasked_ue(struct cpu *c, const union xmm *src, unsigned n)
{
	bool tiny = false, inexact = false, denormal = false, overflow = false, invalid = false;
	uint32_t fl;

	for (unsigned k = 0; k < n; k++) {
		double x = src->df[k], ax = fabs(x);

		if (isnan(x) && !(src->q[k] & (1ULL << 51)))
			invalid = true; /* SNaN */
		if (isnan(x) || isinf(x) || x == 0)
			continue;
		if (ax < 0x1p-1022) {
			if (c->mxcsr & 0x40)
				continue; /* DAZ: the operand is a zero */
			denormal = true;
		}
		if (ax < 0x1p-126) {
			int e;
			double m = frexp(x, &e) * 0x1p24;

			tiny = true;
			if (m != trunc(m))
				inexact = true;
		} else if (isinf((float)x)) {
			overflow = inexact = true; /* OM masked here or OE would have trapped first */
		} else if ((double)(float)x != x) {
			inexact = true;
		}
	}
	/* An unmasked IE (SNaN lane) is a pre-computation exception: the
	 * host instruction reports it, with DE. */
	if (!tiny || (invalid && !(c->mxcsr & 0x80)))
		return;
	fl = 0x10 | (inexact ? 0x20 : 0) | (denormal ? 0x2 : 0) | (overflow ? 0x8 : 0) |
	     (invalid ? 0x1 : 0);
	if (denormal && !(c->mxcsr & 0x100))
		fl = 0x2 | (invalid ? 0x1 : 0); /* unmasked DE is a pre-computation exception */
	cpu_mx_collect(c);
	c->mxcsr |= fl;
	cpu_raise(c, (c->cr4 & 0x400) ? CPU_VEC_XM : CPU_VEC_UD, 0);
}

static void h_ssefp(struct cpu *c, const struct insn *i)
{
	unsigned op = i->op & 0xff, p = sse_pfx(i), id;
	bool w = (i->flags & IF_REXW) != 0;
	union xmm *d = &c->xmm[i->reg], s, res = *d;
	uint64_t g = 0;

	if ((op == 0x2a || op == 0x2c || op == 0x2d) && p < 2) {
		cpu_mmx_exec(c, i); /* CVTPI2PS/PD, CVT(T)PS2PI/PD2PI */
		return;
	}
	sse_check(c);
	if (op == 0x2a) {
		g = rm_read(c, i, w ? 8 : 4);
		memset(&s, 0, sizeof(s));
		id = ID(op, w, p);
	} else if (op == 0xc2) {
		int sz = src_size(0x58, p);

		if (sz == 16)
			sse_src128(c, i, &s, true);
		else
			sse_src_scalar(c, i, &s, sz);
		id = 0x1000 + p * 8 + ((unsigned)i->imm & 7);
	} else {
		int sz = src_size(op, p);

		if (sz == 16)
			sse_src128(c, i, &s, true);
		else
			sse_src_scalar(c, i, &s, sz);
		id = ID(op, (op == 0x2c || op == 0x2d) ? w : 0, p);
	}
	if (op == 0x5a && (p == 1 || p == 3) && !(c->mxcsr & 0x800))
		cvt_to_single_unmasked_ue(c, &s, p == 3 ? 1 : 2);
	if (!fp_run(c, id, &res, &s, &g))
		cpu_ud(c);
	switch (op) {
	case 0x2c:
	case 0x2d:
		reg_write(c, i->reg, w ? 8 : 4, i->flags, g);
		return;
	case 0x2e:
	case 0x2f:
		/* ZF PF CF from the compare; OF SF AF cleared (Vol. 2 "COMISS"). */
		cpu_set_flags_arith(c, g & (FL_ZF | FL_PF | FL_CF));
		return;
	default:
		*d = res;
		return;
	}
}

/* Scalar add/sub/mul/div, the bulk of compiled double arithmetic: with
 * the MXCSR fast path available they run as one host instruction. */
#define SCALAR(name, INSN, sz)                                                        \
	static void name(struct cpu *c, const struct insn *i)                                      \
	{                                                                                          \
		union xmm *d = &c->xmm[i->reg];                                                    \
		__m128d a, b;                                                                      \
		uint64_t bits;                                                                     \
		if (__builtin_expect((c->mxcsr & 0xffc0) != 0x1f80 || !c->host_mx_default, 0)) {  \
			h_ssefp(c, i);                                                             \
			return;                                                                    \
		}                                                                                  \
		bits = (i->flags & IF_MEM) ? mem_read(c, insn_ea(c, i), sz) : c->xmm[i->rm].q[0];  \
		if (!c->mx_synced) {                                                               \
			_mm_setcsr(c->mxcsr);                                                      \
			c->mx_synced = true;                                                       \
		}                                                                                  \
		a = _mm_castsi128_pd(_mm_cvtsi64_si128((long long)d->q[0]));                       \
		b = _mm_castsi128_pd(_mm_cvtsi64_si128((long long)bits));                          \
		__asm__ volatile(INSN " %[b], %[a]" : [a] "+x"(a) : [b] "x"(b));                   \
		if (sz == 8)                                                                       \
			d->q[0] = (uint64_t)_mm_cvtsi128_si64(_mm_castpd_si128(a));                \
		else                                                                               \
			d->d[0] = (uint32_t)_mm_cvtsi128_si32(_mm_castpd_si128(a));                \
	}
SCALAR(f_addsd, "addsd", 8)
SCALAR(f_subsd, "subsd", 8)
SCALAR(f_mulsd, "mulsd", 8)
SCALAR(f_divsd, "divsd", 8)
SCALAR(f_addss, "addss", 4)
SCALAR(f_subss, "subss", 4)
SCALAR(f_mulss, "mulss", 4)
SCALAR(f_divss, "divss", 4)

cpu_handler cpu_ssefp_fast_handler(const struct insn *i)
{
	unsigned p = sse_pfx(i);

	if (p == 3) {
		switch (i->op) {
		case OP_0F + 0x58: return f_addsd;
		case OP_0F + 0x5c: return f_subsd;
		case OP_0F + 0x59: return f_mulsd;
		case OP_0F + 0x5e: return f_divsd;
		default: return NULL;
		}
	}
	if (p == 2) {
		switch (i->op) {
		case OP_0F + 0x58: return f_addss;
		case OP_0F + 0x5c: return f_subss;
		case OP_0F + 0x59: return f_mulss;
		case OP_0F + 0x5e: return f_divss;
		default: return NULL;
		}
	}
	return NULL;
}

void cpu_exec_init_ssefp(void)
{
	static const uint8_t ops[] = { 0x2a, 0x2c, 0x2d, 0x2e, 0x2f, 0x51, 0x52, 0x53, 0x58,
				       0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f, 0xc2, 0xe6 };

	for (unsigned k = 0; k < sizeof(ops); k++)
		cpu_handlers[OP_0F + ops[k]] = h_ssefp;
}
