/* x87 FPU (Intel SDM Vol. 1 chapter 8, Vol. 2): loads, stores, integer
 * conversions, arithmetic, compares (FCOM/FUCOM/FCOMI/FUCOMI), FXCH,
 * FCMOVcc, constants, transcendental instructions, control/status/
 * environment instructions. Registers are the host's 80-bit long double;
 * every computation runs on the host FPU under the guest's control word
 * (precision and rounding control, all exceptions masked), and the status
 * flags the host raises are merged into the guest FSW. An exception the
 * guest left unmasked sets ES/B and is reported as #MF by the next waiting
 * x87 instruction (Vol. 1 §8.6). */
#include <math.h>

#include "cpu/cpu_int.h"

#define SW_IE 0x0001
#define SW_SF 0x0040
#define SW_ES 0x0080
#define SW_C0 0x0100
#define SW_C1 0x0200
#define SW_C2 0x0400
#define SW_C3 0x4000
#define SW_B 0x8000
#define SW_CC (SW_C0 | SW_C1 | SW_C2 | SW_C3)

static bool pre_abort(struct cpu *c, uint16_t sw);
static void x87_pop(struct cpu *c);

static inline unsigned x87_top(const struct cpu *c)
{
	return (c->fsw >> 11) & 7;
}

static inline void x87_set_top(struct cpu *c, unsigned top)
{
	c->fsw = (uint16_t)((c->fsw & ~0x3800) | ((top & 7) << 11));
}

static inline unsigned phys(const struct cpu *c, unsigned i)
{
	return (x87_top(c) + i) & 7;
}

static long double indefinite(void)
{
	long double v = 0;
	uint64_t mant = 0xc000000000000000ULL;
	uint16_t se = 0xffff;

	memcpy(&v, &mant, 8);
	memcpy((uint8_t *)&v + 8, &se, 2);
	return v;
}

static void check_exc(struct cpu *c)
{
	if (c->fsw & ~c->fcw & 0x3f)
		c->fsw |= SW_ES | SW_B;
	else
		c->fsw &= (uint16_t)~(SW_ES | SW_B);
}

static void stack_fault(struct cpu *c, bool overflow)
{
	c->fsw |= SW_IE | SW_SF;
	c->fsw = (uint16_t)((c->fsw & ~SW_C1) | (overflow ? SW_C1 : 0));
	check_exc(c);
}

static long double st_get(struct cpu *c, unsigned i)
{
	unsigned p = phys(c, i);

	if (c->ftw_empty & (1u << p)) {
		stack_fault(c, false);
		return indefinite();
	}
	return c->st[p];
}

static void st_set(struct cpu *c, unsigned i, long double v)
{
	unsigned p = phys(c, i);

	c->st[p] = v;
	c->ftw_empty &= (uint16_t)~(1u << p);
}

static inline bool st_empty(const struct cpu *c, unsigned i)
{
	return c->ftw_empty & (1u << phys(c, i));
}

/* Stack underflow on a source (Vol. 1 §8.5.1.1): IE|SF, C1 = 0; with IE
 * masked the destination gets the real indefinite (and a popping form
 * still pops), otherwise nothing changes. Returns true if it happened. */
static bool underflow(struct cpu *c, unsigned a, unsigned b, int dst, bool pop)
{
	if (!st_empty(c, a) && !st_empty(c, b))
		return false;
	stack_fault(c, false);
	if ((c->fcw & 1) && dst >= 0) {
		st_set(c, (unsigned)dst, indefinite());
		if (pop)
			x87_pop(c);
	}
	return true;
}

/* FPTAN/FXTRACT/FSINCOS of an empty ST0 with IE unmasked: only the
 * flags change (with IE masked both results are the indefinite). */
static bool unmasked_underflow0(struct cpu *c)
{
	if (!st_empty(c, 0) || (c->fcw & 1))
		return false;
	stack_fault(c, false);
	return true;
}

/* FPTAN/FXTRACT/FSINCOS replace ST0 and push: with no free register the
 * stack overflows, and with IE masked both ST1 and ST0 end up holding the
 * indefinite (as the differential tests show on hardware). */
static void x87_push(struct cpu *c, long double v);
static bool grow_overflow(struct cpu *c)
{
	if (c->ftw_empty & (1u << ((x87_top(c) - 1) & 7)))
		return false;
	if (underflow(c, 0, 0, 0, false))
		return true;
	if (c->fcw & 1) {
		st_set(c, 0, indefinite());
		x87_push(c, indefinite());
	} else {
		stack_fault(c, true);
	}
	return true;
}

/* Memory stores probe their destination first so a #PF leaves the FPU
 * state untouched (precise exceptions). */
static void probe_store(struct cpu *c, uint64_t addr, unsigned len)
{
	uint64_t last = addr + len - 1;

	mem_read_w(c, addr, 1);
	if ((last & CPU_PAGE_MASK) != (addr & CPU_PAGE_MASK))
		mem_read_w(c, last & CPU_PAGE_MASK, 1); /* #PF reports the page start */
}

/* A push onto a full register is a stack overflow (Vol. 1 §8.5.1.1):
 * IE|SF|C1; with IE masked the indefinite is pushed, otherwise TOP and
 * the registers stay unchanged. */
static void x87_push(struct cpu *c, long double v)
{
	unsigned top = (x87_top(c) - 1) & 7;

	if (!(c->ftw_empty & (1u << top))) {
		stack_fault(c, true);
		if (!(c->fcw & 1))
			return;
		v = indefinite();
	} else {
		c->fsw &= (uint16_t)~SW_C1;
	}
	x87_set_top(c, top);
	c->st[top] = v;
	c->ftw_empty &= (uint16_t)~(1u << top);
}

static void x87_pop(struct cpu *c)
{
	unsigned top = x87_top(c);

	c->ftw_empty |= (uint16_t)(1u << top);
	x87_set_top(c, top + 1);
}

/* Run host FPU work under the guest control word. The asm statements
 * clobber memory, so the loads and stores of c->st[] between them stay
 * between them. */
static inline uint16_t x87_begin(struct cpu *c)
{
	uint16_t host, cw = c->fcw | 0x3f;

	__asm__ volatile("fnstcw %0\n\tfnclex\n\tfldcw %1" : "=m"(host) : "m"(cw) : "memory");
	return host;
}

/* Returns true if an unmasked pre-computation exception aborts the
 * instruction (see pre_abort). */
static inline bool x87_end(struct cpu *c, uint16_t host)
{
	uint16_t sw;

	__asm__ volatile("fnstsw %0\n\tfnclex\n\tfldcw %1" : "=m"(sw) : "m"(host) : "memory");
	if (pre_abort(c, sw))
		return true;
	c->fsw = (uint16_t)((c->fsw & ~SW_C1) | (sw & (0x3f | SW_C1)));
	check_exc(c);
	return false;
}

/* Waiting instructions report a pending unmasked exception first. */
static inline void x87_wait(struct cpu *c)
{
	if (c->fsw & SW_ES)
		cpu_raise(c, CPU_VEC_MF, 0);
}

static void note_insn(struct cpu *c, const struct insn *i)
{
	c->fop = (uint16_t)((((i->op - OP_X87) >> 3) & 7) << 8 | i->modrm);
	c->fip = c->cur_rip;
	if (i->flags & IF_MEM)
		c->fdp = insn_ea(c, i);
}

/* An unmasked invalid-operation, denormal or divide-by-zero exception
 * leaves the destination and the stack untouched (Vol. 1 §8.5): record
 * the flags and tell the caller to abort. */
static bool pre_abort(struct cpu *c, uint16_t sw)
{
	if (!(sw & ~c->fcw & 0x7))
		return false;
	c->fsw &= (uint16_t)~SW_C1; /* hardware clears C1 (differential tests) */
	c->fsw |= sw & 0x7;         /* post-computation flags are not reached */
	check_exc(c);
	return true;
}

/* With underflow unmasked a tiny result signals UE even when exact (Vol. 1
 * §4.9.1.5), but the host, run with UE masked, flags only tiny results
 * that are also inexact. An exact tiny result is delivered as it is, a
 * non-zero denormal: add UE to the host status word for it. */
static uint16_t exact_tiny(const struct cpu *c, uint16_t sw, long double r)
{
	uint16_t se;
	uint64_t m;

	if ((c->fcw & 0x10) || (sw & 0x10))
		return sw;
	memcpy(&m, &r, 8);
	memcpy(&se, (const uint8_t *)&r + 8, 2);
	return (se & 0x7fff) == 0 && m ? (uint16_t)(sw | 0x10) : sw;
}

/* Arithmetic by ModRM.reg: 0 ADD, 1 MUL, 4 SUB, 5 SUBR, 6 DIV, 7 DIVR.
 * The host instruction runs with ST0 = a, ST1 = b, and the status word is
 * taken right after it (a later store would reset C1, the round-up bit).
 * The popping forms are spelled as bytes: AT&T mnemonics for the reversed
 * forms are notoriously swapped. */
#define ARITH_ASM(bytes)                                                                           \
	__asm__ volatile("fnstcw %[h]\n\tfnclex\n\tfldcw %[cw]\n\tfldt %[b]\n\tfldt %[a]\n\t"      \
			 ".byte " bytes "\n\tfnstsw %[sw]\n\tfstpt %[r]\n\tfnclex\n\tfldcw %[h]"       \
			 : [h] "=m"(host), [r] "=m"(r), [sw] "=m"(sw)                              \
			 : [cw] "m"(cw), [a] "m"(a), [b] "m"(b))

/* Unmasked overflow/underflow on arithmetic (Vol. 1 §8.5.4, §8.5.5): the
 * destination receives the result with its exponent biased by -/+24576.
 * Recomputed on the host (all exceptions masked) with the operands
 * scaled by exact powers of two into a safe range: for MUL/DIV each
 * operand near 1, for ADD/SUB both by the same power (an operand far
 * below the other only contributes a sticky bit). The significand is
 * rounded as the guest's would be, with unbounded exponent, and the
 * final scaling is exact. Returns true if *out was produced. */
static long double near_one(long double x, int e, int shift)
{
	if (x != 0 && shift - e > 150)
		return copysignl(0x1p-200L, x);
	return scalbnl(x, -shift);
}

static bool scaled_result(struct cpu *c, unsigned op, long double a, long double b, uint16_t sw,
			  long double *out)
{
	uint16_t cw = c->fcw | 0x3f, host, orig = sw;
	int k, ea, eb, e;
	long double r;

	if (!(orig & ~c->fcw & 0x18) || !isfinite(a) || !isfinite(b))
		return false;
	k = (orig & ~c->fcw & 0x8) ? -24576 : 24576;
	(void)frexpl(a, &ea);
	(void)frexpl(b, &eb);
	switch (op) {
	case 1: case 6: case 7: /* MUL, a / b, b / a */
		a = near_one(a, ea, ea), b = near_one(b, eb, eb);
		k += op == 1 ? ea + eb : op == 6 ? ea - eb : eb - ea;
		break;
	default: /* ADD, SUB, SUBR */
		e = a == 0 ? eb : b == 0 ? ea : ea > eb ? ea : eb;
		a = near_one(a, ea, e), b = near_one(b, eb, e);
		k += e;
		break;
	}
	switch (op) {
	case 0: ARITH_ASM("0xde, 0xc1"); break;
	case 1: ARITH_ASM("0xde, 0xc9"); break;
	case 4: ARITH_ASM("0xde, 0xe1"); break;
	case 5: ARITH_ASM("0xde, 0xe9"); break;
	case 6: ARITH_ASM("0xde, 0xf1"); break;
	default: ARITH_ASM("0xde, 0xf9"); break;
	}
	*out = scalbnl(r, k);
	/* The masked operand flags (DE) of the original operation, OE or UE
	 * (the unmasked one), PE and C1 from the scaled operation. */
	c->fsw = (uint16_t)((c->fsw & ~SW_C1) | (orig & 0x07) | (orig & 0x18 & ~c->fcw) |
			    (sw & (0x20 | SW_C1)));
	check_exc(c);
	return true;
}

static bool arith(struct cpu *c, unsigned op, unsigned dst, long double a, long double b)
{
	uint16_t cw = c->fcw | 0x3f, host, sw;
	unsigned p = phys(c, dst);
	long double r;

	switch (op) {
	case 0: ARITH_ASM("0xde, 0xc1"); break; /* FADDP: ST1 = ST1 + ST0 */
	case 1: ARITH_ASM("0xde, 0xc9"); break; /* FMULP */
	case 4: ARITH_ASM("0xde, 0xe1"); break; /* FSUBRP: ST1 = ST0 - ST1 = a - b */
	case 5: ARITH_ASM("0xde, 0xe9"); break; /* FSUBP: ST1 = ST1 - ST0 = b - a */
	case 6: ARITH_ASM("0xde, 0xf1"); break; /* FDIVRP: ST1 = ST0 / ST1 = a / b */
	default: ARITH_ASM("0xde, 0xf9"); break; /* FDIVP: ST1 = ST1 / ST0 = b / a */
	}
	if (pre_abort(c, sw))
		return false;
	sw = exact_tiny(c, sw, r);
	if (scaled_result(c, op, a, b, sw, &r)) {
		c->st[p] = r;
		c->ftw_empty &= (uint16_t)~(1u << p);
		return true;
	}
	c->st[p] = r;
	c->fsw = (uint16_t)((c->fsw & ~SW_C1) | (sw & (0x3f | SW_C1)));
	check_exc(c);
	c->ftw_empty &= (uint16_t)~(1u << p);
	return true;
}

/* FCOM/FUCOM: C3 C2 C0 = 000 (>), 001 (<), 100 (=), 111 (unordered).
 * Returns the same pattern as ZF PF CF for FCOMI. */
/* Bit 63 of a compare result: an unmasked exception occurred. The
 * condition codes / EFLAGS are still set (hardware does), but a popping
 * form does not pop. */
#define CMP_ABORT (1ULL << 63)

/* Compare on the host (FCOMI/FUCOMI) so IE and DE come out exactly.
 * Returns the ZF/PF/CF pattern, or CMP_ABORT if an unmasked exception
 * stops the instruction. */
static uint64_t compare(struct cpu *c, long double a, long double b, bool unordered_ok)
{
	uint16_t cw = c->fcw | 0x3f, host, sw;
	bool z, p, cf;
	uint64_t f;

	if (unordered_ok)
		__asm__ volatile("fnstcw %[h]\n\tfnclex\n\tfldcw %[cw]\n\tfldt %[b]\n\tfldt %[a]\n\t"
				 "fucomip %%st(1), %%st\n\tfstp %%st(0)\n\tfnstsw %[sw]\n\tfnclex\n\t"
				 "fldcw %[h]"
				 : [h] "=m"(host), [sw] "=m"(sw), "=@ccz"(z), "=@ccp"(p), "=@ccc"(cf)
				 : [cw] "m"(cw), [a] "m"(a), [b] "m"(b));
	else
		__asm__ volatile("fnstcw %[h]\n\tfnclex\n\tfldcw %[cw]\n\tfldt %[b]\n\tfldt %[a]\n\t"
				 "fcomip %%st(1), %%st\n\tfstp %%st(0)\n\tfnstsw %[sw]\n\tfnclex\n\t"
				 "fldcw %[h]"
				 : [h] "=m"(host), [sw] "=m"(sw), "=@ccz"(z), "=@ccp"(p), "=@ccc"(cf)
				 : [cw] "m"(cw), [a] "m"(a), [b] "m"(b));
	f = (z ? FL_ZF : 0) | (p ? FL_PF : 0) | (cf ? FL_CF : 0);
	if (pre_abort(c, sw))
		return f | CMP_ABORT;
	c->fsw |= sw & 0x3f;
	check_exc(c);
	return f;
}

/* Compare ST(a) with ST(b) with stack-underflow handling. */
static uint64_t compare_regs(struct cpu *c, unsigned a, unsigned b, bool unordered_ok)
{
	if (st_empty(c, a) || st_empty(c, b)) {
		stack_fault(c, false);
		return (FL_ZF | FL_PF | FL_CF) | ((c->fcw & 1) ? 0 : CMP_ABORT);
	}
	return compare(c, c->st[phys(c, a)], c->st[phys(c, b)], unordered_ok);
}

static void set_cc_from(struct cpu *c, uint64_t f)
{
	c->fsw = (uint16_t)((c->fsw & ~SW_CC) | ((f & FL_CF) ? SW_C0 : 0) |
			    ((f & FL_PF) ? SW_C2 : 0) | ((f & FL_ZF) ? SW_C3 : 0));
}

/* Load a memory operand as an 80-bit value. Floating-point forms go
 * through the host FLD so denormal (DE) and SNaN (IE) operands flag as
 * they do in the memory forms of the arithmetic instructions. Returns
 * false if an unmasked exception aborts the instruction. */
static bool load_mem(struct cpu *c, uint64_t addr, unsigned kind, long double *out)
{
	uint16_t cw = c->fcw | 0x3f, host, sw = 0;
	long double v = 0;

	switch (kind) {
	case 0: {
		uint32_t u = (uint32_t)mem_read(c, addr, 4);

		__asm__ volatile("fnstcw %[h]\n\tfnclex\n\tfldcw %[cw]\n\tflds %[m]\n\tfnstsw %[sw]\n\t"
				 "fstpt %[r]\n\tfnclex\n\tfldcw %[h]"
				 : [h] "=m"(host), [r] "=m"(v), [sw] "=m"(sw)
				 : [cw] "m"(cw), [m] "m"(u));
		break;
	}
	case 1: {
		uint64_t u = mem_read(c, addr, 8);

		__asm__ volatile("fnstcw %[h]\n\tfnclex\n\tfldcw %[cw]\n\tfldl %[m]\n\tfnstsw %[sw]\n\t"
				 "fstpt %[r]\n\tfnclex\n\tfldcw %[h]"
				 : [h] "=m"(host), [r] "=m"(v), [sw] "=m"(sw)
				 : [cw] "m"(cw), [m] "m"(u));
		break;
	}
	case 2: v = (long double)(int32_t)mem_read(c, addr, 4); break;
	case 3: v = (long double)(int16_t)mem_read(c, addr, 2); break;
	case 4: v = (long double)(int64_t)mem_read(c, addr, 8); break;
	default: mem_read_buf(c, addr, &v, 10); break;
	}
	/* An unmasked DE (denormal m32/m64) still pushes the value (SDM Vol. 2
	 * FLD); only an unmasked IE (SNaN) stops the load. */
	if ((sw & ~c->fcw & SW_IE) && pre_abort(c, sw))
		return false;
	c->fsw |= sw & 0x3f;
	check_exc(c);
	*out = v;
	return true;
}

/* FIST/FISTP under the guest rounding mode: the host instruction gives the
 * exact result, including the integer indefinite and IE on overflow. */
static bool fist(struct cpu *c, long double v, int size, uint64_t *out)
{
	uint16_t cw = c->fcw | 0x3f, host, sw;
	int16_t r16 = 0;
	int32_t r32 = 0;
	int64_t r64 = 0;

	switch (size) {
	case 2:
		__asm__ volatile("fnstcw %[h]\n\tfnclex\n\tfldcw %[cw]\n\tfldt %[v]\n\tfistps %[r]\n\t"
				 "fnstsw %[sw]\n\tfnclex\n\tfldcw %[h]"
				 : [h] "=m"(host), [r] "=m"(r16), [sw] "=m"(sw)
				 : [cw] "m"(cw), [v] "m"(v));
		break;
	case 4:
		__asm__ volatile("fnstcw %[h]\n\tfnclex\n\tfldcw %[cw]\n\tfldt %[v]\n\tfistpl %[r]\n\t"
				 "fnstsw %[sw]\n\tfnclex\n\tfldcw %[h]"
				 : [h] "=m"(host), [r] "=m"(r32), [sw] "=m"(sw)
				 : [cw] "m"(cw), [v] "m"(v));
		break;
	default:
		__asm__ volatile("fnstcw %[h]\n\tfnclex\n\tfldcw %[cw]\n\tfldt %[v]\n\tfistpll %[r]\n\t"
				 "fnstsw %[sw]\n\tfnclex\n\tfldcw %[h]"
				 : [h] "=m"(host), [r] "=m"(r64), [sw] "=m"(sw)
				 : [cw] "m"(cw), [v] "m"(v));
		break;
	}
	if (pre_abort(c, sw))
		return false; /* unmasked IE: nothing stored, nothing popped */
	c->fsw = (uint16_t)((c->fsw & ~SW_C1) | (sw & (0x3f | SW_C1)));
	check_exc(c);
	*out = size == 2 ? (uint16_t)r16 : size == 4 ? (uint32_t)r32 : (uint64_t)r64;
	return true;
}

/* Full tag word for FNSTENV/FNSAVE: 00 valid, 01 zero, 10 special, 11 empty. */
static uint16_t full_tags(struct cpu *c)
{
	uint16_t tw = 0;

	for (unsigned p = 0; p < 8; p++) {
		unsigned t;

		if (c->ftw_empty & (1u << p)) {
			t = 3;
		} else {
			uint16_t se;
			uint64_t m;

			memcpy(&m, &c->st[p], 8);
			memcpy(&se, (uint8_t *)&c->st[p] + 8, 2);
			if ((se & 0x7fff) == 0 && m == 0)
				t = 1;
			else if ((se & 0x7fff) == 0x7fff || (se & 0x7fff) == 0 || !(m >> 63))
				t = 2;
			else
				t = 0;
		}
		tw |= (uint16_t)(t << (2 * p));
	}
	return tw;
}

/* 28-byte protected-mode environment (Vol. 1 §8.1.10, Figure 8-9). */
static void store_env(struct cpu *c, uint64_t addr)
{
	uint32_t env[7] = { c->fcw | 0xffff0000u, c->fsw | 0xffff0000u, full_tags(c) | 0xffff0000u,
			    (uint32_t)c->fip, (uint32_t)c->fop << 16, (uint32_t)c->fdp, 0xffff0000u };

	mem_write_buf(c, addr, env, sizeof(env));
}

/* The control word as loaded: reserved bits 7 and 13-15 read as 0, bit 6
 * as 1 (FNINIT's 0x037f); bit 12, the obsolete infinity control, is
 * kept. */
static uint16_t fcw_value(uint16_t v)
{
	return (uint16_t)((v & ~0xe0c0) | 0x40);
}

static void load_env(struct cpu *c, uint64_t addr)
{
	uint32_t env[7];

	mem_read_buf(c, addr, env, sizeof(env));
	c->fcw = fcw_value((uint16_t)env[0]);
	c->fsw = (uint16_t)env[1];
	c->ftw_empty = 0;
	for (unsigned p = 0; p < 8; p++)
		if (((env[2] >> (2 * p)) & 3) == 3)
			c->ftw_empty |= (uint16_t)(1u << p);
	c->fip = env[3];
	c->fop = (uint16_t)((env[4] >> 16) & 0x7ff);
	c->fdp = env[5];
	check_exc(c);
}

static void fninit(struct cpu *c)
{
	c->fcw = 0x37f;
	c->fsw = 0;
	c->ftw_empty = 0xff;
	c->fip = c->fdp = 0;
	c->fop = 0;
}

/* Arithmetic (reg 0,1,4-7) or compare (reg 2,3) of ST0 with a memory
 * operand, as one host instruction so operand flags (DE, IE) follow the
 * hardware rules exactly. kind: 0 m32fp, 1 m64fp, 2 m32int, 3 m16int. */
#define MEMOP(insn, m)                                                                             \
	__asm__ volatile("fnstcw %[h]\n\tfnclex\n\tfldcw %[cw]\n\tfldt %[a]\n\t" insn " %[mm]\n\t"  \
			 "fnstsw %[sw]\n\tfstpt %[r]\n\tfnclex\n\tfldcw %[h]"                      \
			 : [h] "=m"(host), [r] "=m"(r), [sw] "=m"(sw)                              \
			 : [cw] "m"(cw), [a] "m"(a), [mm] "m"(m))
#define MEMOPS(k, m, s32)                                                                          \
	case k * 8 + 0: MEMOP("fadd" s32, m); break;                                               \
	case k * 8 + 1: MEMOP("fmul" s32, m); break;                                               \
	case k * 8 + 2: case k * 8 + 3: MEMOP("fcom" s32, m); break;                               \
	case k * 8 + 4: MEMOP("fsub" s32, m); break;                                               \
	case k * 8 + 5: MEMOP("fsubr" s32, m); break;                                              \
	case k * 8 + 6: MEMOP("fdiv" s32, m); break;                                               \
	case k * 8 + 7: MEMOP("fdivr" s32, m); break
#define MEMOPI(k, m, s32)                                                                          \
	case k * 8 + 0: MEMOP("fiadd" s32, m); break;                                              \
	case k * 8 + 1: MEMOP("fimul" s32, m); break;                                              \
	case k * 8 + 2: case k * 8 + 3: MEMOP("ficom" s32, m); break;                              \
	case k * 8 + 4: MEMOP("fisub" s32, m); break;                                              \
	case k * 8 + 5: MEMOP("fisubr" s32, m); break;                                             \
	case k * 8 + 6: MEMOP("fidiv" s32, m); break;                                              \
	case k * 8 + 7: MEMOP("fidivr" s32, m); break

static void arith_mem(struct cpu *c, unsigned reg, unsigned kind, uint64_t addr)
{
	static const uint8_t size[4] = { 4, 8, 4, 2 };
	uint64_t raw = mem_read(c, addr, size[kind]);
	uint32_t m32 = (uint32_t)raw;
	uint16_t m16 = (uint16_t)raw;
	uint16_t cw = c->fcw | 0x3f, host, sw;
	long double a, r;

	if (st_empty(c, 0)) {
		/* Compares set "unordered" even with IE unmasked, as the
		 * register forms (compare_regs) do. */
		stack_fault(c, false);
		if (reg == 2 || reg == 3)
			set_cc_from(c, FL_ZF | FL_PF | FL_CF);
		if (!(c->fcw & 1))
			return;
		if (reg == 3)
			x87_pop(c);
		else if (reg != 2)
			st_set(c, 0, indefinite());
		return;
	}
	a = c->st[phys(c, 0)];
	switch (kind * 8 + reg) {
	MEMOPS(0, m32, "s");
	MEMOPS(1, raw, "l");
	MEMOPI(2, m32, "l");
	MEMOPI(3, m16, "s");
	default: return;
	}
	if (reg == 2 || reg == 3) {
		/* Condition codes are set even when an unmasked exception
		 * stops the pop. */
		c->fsw = (uint16_t)((c->fsw & ~SW_CC) | (sw & (SW_C0 | SW_C2 | SW_C3)));
		if (pre_abort(c, sw))
			return;
		c->fsw |= sw & 0x3f;
		check_exc(c);
		if (reg == 3)
			x87_pop(c);
		return;
	}
	if (pre_abort(c, sw))
		return;
	sw = exact_tiny(c, sw, r);
	if (sw & ~c->fcw & 0x18) {
		long double b;

		switch (kind) {
		case 0: { float f; memcpy(&f, &m32, 4); b = f; break; }
		case 1: { double d; memcpy(&d, &raw, 8); b = d; break; }
		case 2: b = (int32_t)m32; break;
		default: b = (int16_t)m16; break;
		}
		if (scaled_result(c, reg, a, b, sw, &r)) {
			c->st[phys(c, 0)] = r;
			return;
		}
	}
	c->st[phys(c, 0)] = r;
	c->fsw = (uint16_t)((c->fsw & ~SW_C1) | (sw & (0x3f | SW_C1)));
	check_exc(c);
}

/* A push onto a full register: IE|SF|C1; with IE masked the indefinite is
 * pushed, otherwise nothing changes. The operand is not even read. */
static bool push_overflow(struct cpu *c)
{
	unsigned top = (x87_top(c) - 1) & 7;

	if (c->ftw_empty & (1u << top))
		return false;
	if (c->fcw & 1)
		x87_push(c, indefinite()); /* records the overflow itself */
	else
		stack_fault(c, true);
	return true;
}

/* Loads: the operand is fetched (and may fault) before the stack is
 * checked for overflow. */
static bool load_overflow(struct cpu *c, uint64_t addr, const struct insn *i)
{
	unsigned slot = i->op - OP_X87, opc = slot >> 3, reg = slot & 7;
	unsigned len = opc == 1 ? 4 : opc == 5 ? 8 : opc == 3 ? (reg == 5 ? 10 : 4) : (reg == 5 ? 8 : 2);
	uint64_t last = addr + len - 1;

	mem_read(c, addr, 1);
	if ((last & CPU_PAGE_MASK) != (addr & CPU_PAGE_MASK))
		mem_read(c, last & CPU_PAGE_MASK, 1);
	return push_overflow(c);
}

/* Store of an empty ST0: with IE masked the format's indefinite is stored
 * (and a popping form pops); otherwise nothing happens. */
static bool store_underflow(struct cpu *c, uint64_t addr, unsigned len, uint64_t indef, bool pop)
{
	if (!st_empty(c, 0))
		return false;
	stack_fault(c, false);
	if (!(c->fcw & 1))
		return true;
	if (len == 10) {
		long double v = indefinite();

		mem_write_buf(c, addr, &v, 10);
	} else {
		mem_write(c, addr, (int)len, indef);
	}
	if (pop)
		x87_pop(c);
	return true;
}

/* FST to a narrower format with underflow unmasked: a tiny non-zero
 * value (below min_normal, detected before rounding) raises UE and the
 * store does not happen; PE only if the value does not fit exactly
 * (Vol. 1 §8.5.5). With UE masked the host conversion handles it. */
static bool store_tiny(struct cpu *c, long double v, long double min_normal)
{
	long double av = fabsl(v), m;
	int e;

	if ((c->fcw & 0x10) || av == 0 || av >= min_normal || isnan(v))
		return false;
	/* PE reflects the unbounded-exponent result: does the significand fit
	 * in 24 (single) or 53 (double) bits? */
	m = frexpl(v, &e) * (min_normal < 0x1p-1000L ? 0x1p53L : 0x1p24L);
	c->fsw = (uint16_t)((c->fsw & ~SW_C1) | 0x10 | (m != truncl(m) ? 0x20 : 0));
	check_exc(c);
	return true;
}

/* FST/FSTP m32/m64: the host conversion under the guest control word.
 * With overflow unmasked nothing is stored and nothing popped (Vol. 1
 * §8.5.4): OE, and PE if the significand does not fit the format (as for
 * underflow in store_tiny); C1 = 0, no rounded result is delivered.
 * Returns false if the store does not happen. */
static bool store_fp(struct cpu *c, long double v, bool dbl, uint64_t *out)
{
	uint16_t cw = c->fcw | 0x3f, host, sw;
	uint32_t r32 = 0;
	uint64_t r64 = 0;

	if (dbl)
		__asm__ volatile("fnstcw %[h]\n\tfnclex\n\tfldcw %[cw]\n\tfldt %[v]\n\tfstpl %[r]\n\t"
				 "fnstsw %[sw]\n\tfnclex\n\tfldcw %[h]"
				 : [h] "=m"(host), [r] "=m"(r64), [sw] "=m"(sw)
				 : [cw] "m"(cw), [v] "m"(v));
	else
		__asm__ volatile("fnstcw %[h]\n\tfnclex\n\tfldcw %[cw]\n\tfldt %[v]\n\tfstps %[r]\n\t"
				 "fnstsw %[sw]\n\tfnclex\n\tfldcw %[h]"
				 : [h] "=m"(host), [r] "=m"(r32), [sw] "=m"(sw)
				 : [cw] "m"(cw), [v] "m"(v));
	if (pre_abort(c, sw))
		return false;
	if (sw & ~c->fcw & 0x08) {
		int e;
		long double m = frexpl(v, &e) * (dbl ? 0x1p53L : 0x1p24L);

		c->fsw = (uint16_t)((c->fsw & ~SW_C1) | 0x08 | (m != truncl(m) ? 0x20 : 0));
		check_exc(c);
		return false;
	}
	c->fsw = (uint16_t)((c->fsw & ~SW_C1) | (sw & (0x3f | SW_C1)));
	check_exc(c);
	*out = dbl ? r64 : r32;
	return true;
}

static void h_x87_mem(struct cpu *c, const struct insn *i)
{
	unsigned slot = i->op - OP_X87, opc = slot >> 3, reg = slot & 7;
	uint64_t addr, iv;
	long double v;

	fp_check(c, FPT_X87); /* #NM before any #MF, no-wait forms too */
	addr = insn_ea(c, i);

	/* Control instructions. Only the FN- forms do not wait (Vol. 1
	 * §8.3.11): FLDENV, FLDCW and FRSTOR report a pending unmasked
	 * exception first. */
	if (opc == 1 && reg >= 4) { /* D9 /4 FLDENV /5 FLDCW /6 FNSTENV /7 FNSTCW */
		switch (reg) {
		case 4: x87_wait(c); load_env(c, addr); return;
		case 5:
			x87_wait(c);
			c->fcw = fcw_value((uint16_t)mem_read(c, addr, 2));
			check_exc(c);
			return;
		case 6: probe_store(c, addr, 28); store_env(c, addr); c->fcw |= 0x3f; return;
		default: mem_write(c, addr, 2, c->fcw); return;
		}
	}
	if (opc == 5 && reg == 7) { /* DD /7 FNSTSW m16 */
		mem_write(c, addr, 2, c->fsw);
		return;
	}
	if (opc == 5 && reg == 6) { /* FNSAVE: env + 8 registers, then FNINIT */
		uint8_t regs[80];

		probe_store(c, addr, 108);
		for (unsigned k = 0; k < 8; k++)
			memcpy(regs + 10 * k, &c->st[phys(c, k)], 10);
		mem_write_buf(c, addr + 28, regs, 80);
		store_env(c, addr);
		fninit(c);
		return;
	}
	if (opc == 5 && reg == 4) { /* FRSTOR */
		uint8_t regs[80];

		x87_wait(c);
		mem_read_buf(c, addr + 28, regs, 80);
		load_env(c, addr);
		for (unsigned k = 0; k < 8; k++) {
			long double t = 0;

			memcpy(&t, regs + 10 * k, 10);
			c->st[phys(c, k)] = t;
		}
		return;
	}
	x87_wait(c);
	{
		/* D9 /2 /3, DB /2 /3 /7, DD /2 /3, DF /2 /3 /7 store. */
		static const uint8_t st_len[8][8] = {
			[1] = { [2] = 4, [3] = 4 }, [3] = { [2] = 4, [3] = 4, [7] = 10 },
			[5] = { [2] = 8, [3] = 8 }, [7] = { [2] = 2, [3] = 2, [7] = 8 },
		};

		if (st_len[opc][reg])
			probe_store(c, addr, st_len[opc][reg]);
	}
	note_insn(c, i);
	switch (opc) {
	case 0: case 2: case 4: case 6: { /* arithmetic with m32fp, m32int, m64fp, m16int */
		static const unsigned kind[8] = { 0, 0, 2, 0, 1, 0, 3, 0 };

		arith_mem(c, reg, kind[opc], addr);
		return;
	}
	case 1: /* D9: FLD m32, FST m32, FSTP m32 */
		if (reg == 0) {
			if (!load_overflow(c, addr, i) && load_mem(c, addr, 0, &v))
				x87_push(c, v);
			return;
		}
		if (reg == 2 || reg == 3) {
			long double s;

			if (store_underflow(c, addr, 4, 0xffc00000u, reg == 3))
				return;
			s = c->st[phys(c, 0)];
			if (store_tiny(c, s, 0x1p-126L) || !store_fp(c, s, false, &iv))
				return;
			mem_write(c, addr, 4, iv);
			if (reg == 3)
				x87_pop(c);
			return;
		}
		break;
	case 3: /* DB: FILD m32, FIST(P) m32, FLD m80, FSTP m80 */
		switch (reg) {
		case 0:
		case 5:
			if (!load_overflow(c, addr, i) && load_mem(c, addr, reg == 0 ? 2 : 5, &v))
				x87_push(c, v);
			return;
		case 2: case 3:
			if (store_underflow(c, addr, 4, 0x80000000u, reg == 3) ||
			    !fist(c, c->st[phys(c, 0)], 4, &iv))
				return;
			mem_write(c, addr, 4, iv);
			if (reg == 3)
				x87_pop(c);
			return;
		case 7:
			if (store_underflow(c, addr, 10, 0, true))
				return;
			v = c->st[phys(c, 0)];
			mem_write_buf(c, addr, &v, 10);
			c->fsw &= (uint16_t)~SW_C1;
			x87_pop(c);
			return;
		default: break;
		}
		break;
	case 5: /* DD: FLD m64, FST m64, FSTP m64 */
		if (reg == 0) {
			if (!load_overflow(c, addr, i) && load_mem(c, addr, 1, &v))
				x87_push(c, v);
			return;
		}
		if (reg == 2 || reg == 3) {
			long double s;

			if (store_underflow(c, addr, 8, 0xfff8000000000000ULL, reg == 3))
				return;
			s = c->st[phys(c, 0)];
			if (store_tiny(c, s, 0x1p-1022L) || !store_fp(c, s, true, &iv))
				return;
			mem_write(c, addr, 8, iv);
			if (reg == 3)
				x87_pop(c);
			return;
		}
		break;
	case 7: /* DF: FILD m16, FIST(P) m16, FILD m64, FISTP m64 */
		switch (reg) {
		case 0:
		case 5:
			if (!load_overflow(c, addr, i) && load_mem(c, addr, reg == 0 ? 3 : 4, &v))
				x87_push(c, v);
			return;
		case 2: case 3:
			if (store_underflow(c, addr, 2, 0x8000u, reg == 3) ||
			    !fist(c, c->st[phys(c, 0)], 2, &iv))
				return;
			mem_write(c, addr, 2, iv);
			if (reg == 3)
				x87_pop(c);
			return;
		case 7:
			if (store_underflow(c, addr, 8, 0x8000000000000000ULL, true) ||
			    !fist(c, c->st[phys(c, 0)], 8, &iv))
				return;
			mem_write(c, addr, 8, iv);
			x87_pop(c);
			return;
		default: break;
		}
		break;
	default:
		break;
	}
	cpu_ud(c); /* FISTTP (SSE3), FBLD/FBSTP: not implemented, not advertised */
}

/* One-operand host instructions on ST(0). */
#define UNARY(insn)                                                                                \
	do {                                                                                       \
		long double x;                                                                     \
		if (underflow(c, 0, 0, 0, false))                                                  \
			break;                                                                     \
		x = c->st[phys(c, 0)];                                                             \
		uint16_t cw_ = c->fcw | 0x3f, h_, sw_;                                             \
		__asm__ volatile("fnstcw %[h]\n\tfnclex\n\tfldcw %[cw]\n\t" insn "\n\t"           \
				 "fnstsw %[sw]\n\tfnclex\n\tfldcw %[h]"                              \
				 : "+t"(x), [h] "=m"(h_), [sw] "=m"(sw_) : [cw] "m"(cw_));               \
		if (pre_abort(c, sw_))                                                             \
			break;                                                                     \
		c->st[phys(c, 0)] = x;                                                             \
		c->fsw = (uint16_t)((c->fsw & ~SW_C1) | (sw_ & (0x3f | SW_C1)));                  \
		check_exc(c);                                                                      \
	} while (0)

static void fxam(struct cpu *c)
{
	unsigned p = phys(c, 0);
	long double v = c->st[p];
	uint16_t se, cc;
	uint64_t m;

	memcpy(&m, &v, 8);
	memcpy(&se, (uint8_t *)&v + 8, 2);
	if (c->ftw_empty & (1u << p))
		cc = SW_C3 | SW_C0;
	else if ((se & 0x7fff) == 0x7fff)
		cc = (m << 1) ? SW_C0 : (m >> 63) ? SW_C2 | SW_C0 : 0;
	else if ((se & 0x7fff) == 0)
		cc = m == 0 ? SW_C3 : SW_C3 | SW_C2;
	else
		cc = (m >> 63) ? SW_C2 : 0;
	if (se & 0x8000)
		cc |= SW_C1;
	c->fsw = (uint16_t)((c->fsw & ~SW_CC) | cc);
}

/* FPREM/FPREM1 condition codes: C1 and C2 are always cleared; a computed
 * remainder sets the quotient bits and C2 from the host. A NaN result (a
 * NaN operand, or the indefinite of an invalid operation) leaves C0 and C3
 * alone, and the host does not write them either: taking them from the
 * host would leak its earlier state (non-deterministic). An unmasked
 * exception (pre_abort) also clears C1 and C2 only. */
static void fprem_cc(struct cpu *c, uint16_t sw, long double res)
{
	c->fsw &= (uint16_t)~(SW_C1 | SW_C2);
	if (!(sw & SW_IE) && !isnan(res))
		c->fsw = (uint16_t)((c->fsw & ~SW_CC) | (sw & SW_CC));
}

/* The remainder is exact; a tiny one with underflow unmasked signals UE
 * and is stored with its exponent biased by +24576 (Vol. 1 §8.5.5). */
static void fprem_result(struct cpu *c, uint16_t sw, long double res)
{
	if (exact_tiny(c, sw, res) != sw) {
		res = scalbnl(res, 24576);
		c->fsw |= 0x10;
		check_exc(c);
	}
	c->st[phys(c, 0)] = res;
	fprem_cc(c, sw, res);
}

/* FSCALE on the host under the guest control word, all exceptions masked. */
static long double fscale_host(struct cpu *c, long double x, long double y, uint16_t *sw)
{
	uint16_t h = x87_begin(c), s;
	long double res;

	__asm__ volatile("fscale\n\tfnstsw %%ax" : "=t"(res), "=a"(s) : "0"(x), "u"(y));
	__asm__ volatile("fnclex\n\tfldcw %0" : : "m"(h) : "memory");
	*sw = s;
	return res;
}

/* FSCALE: ST0 = ST0 * 2^trunc(ST1). With overflow/underflow unmasked the
 * result's exponent is biased by -/+24576 (Vol. 1 §8.5.4, §8.5.5, as
 * in scaled_result); if even the biased result overflows/underflows
 * ("massive" overflow/underflow) a signed infinity (C1 = 1: rounded up)
 * or a signed zero (C1 = 0) is stored, with PE. */
static void fscale(struct cpu *c, long double x, long double y)
{
	uint16_t sw, sw2, unm;
	long double res = fscale_host(c, x, y, &sw), r2;
	bool ov;

	if (pre_abort(c, sw))
		return;
	sw = exact_tiny(c, sw, res);
	unm = sw & ~c->fcw & 0x18;
	if (!unm) {
		c->st[phys(c, 0)] = res;
		c->fsw = (uint16_t)((c->fsw & ~SW_C1) | (sw & (0x3f | SW_C1)));
		check_exc(c);
		return;
	}
	ov = unm & 0x08;
	r2 = fscale_host(c, x, truncl(y) + (ov ? -24576.0L : 24576.0L), &sw2);
	if (ov ? (sw2 & 0x08) || isinf(r2) : (sw2 & 0x10) || fabsl(r2) < 0x1p-16382L) {
		res = ov ? copysignl(INFINITY, x) : copysignl(0.0L, x);
		sw2 = (uint16_t)(0x20 | (ov ? SW_C1 : 0));
	} else {
		res = r2;
	}
	c->st[phys(c, 0)] = res;
	c->fsw = (uint16_t)((c->fsw & ~SW_C1) | (sw & 0x07) | unm | (sw2 & (0x20 | SW_C1)));
	check_exc(c);
}

static void h_x87_reg(struct cpu *c, const struct insn *i)
{
	unsigned slot = i->op - OP_X87 - 0x40, opc = slot >> 3, reg = slot & 7, r = i->modrm & 7;
	long double a, b;

	fp_check(c, FPT_X87);
	/* Non-waiting control forms. */
	if (opc == 3 && reg == 4) {
		if (r == 2) { /* FNCLEX */
			c->fsw &= 0x7f00;
			return;
		}
		if (r == 3) { /* FNINIT */
			fninit(c);
			return;
		}
		cpu_ud(c);
	}
	if (opc == 7 && reg == 4 && r == 0) { /* FNSTSW AX */
		c->gpr[0] = (c->gpr[0] & ~0xffffULL) | c->fsw;
		return;
	}
	x87_wait(c);
	note_insn(c, i);
	switch (opc) {
	case 0: /* D8: ST(0) op= ST(i); FCOM/FCOMP */
		if (reg == 2 || reg == 3) {
			uint64_t f = compare_regs(c, 0, r, false);

			set_cc_from(c, f);
			if (reg == 3 && !(f & CMP_ABORT))
				x87_pop(c);
			return;
		}
		if (underflow(c, 0, r, 0, false))
			return;
		arith(c, reg, 0, st_get(c, 0), st_get(c, r));
		return;
	case 4: /* DC: ST(i) op= ST(0), with SUB/SUBR and DIV/DIVR swapped */
	case 6: /* DE: same, then pop; DE D9 is FCOMPP */
		if (reg == 2 || reg == 3) {
			if (opc == 6 && !(reg == 3 && r == 1))
				cpu_ud(c);
			uint64_t f = compare_regs(c, 0, r, false);

			set_cc_from(c, f);
			if ((f & CMP_ABORT))
				return;
			if (reg == 3)
				x87_pop(c); /* FCOMP (DC D8+i alias), FCOMPP pops twice */
			if (opc == 6)
				x87_pop(c);
			return;
		}
		if (underflow(c, 0, r, (int)r, opc == 6))
			return;
		if (arith(c, reg >= 4 ? reg ^ 1 : reg, r, st_get(c, r), st_get(c, 0)) && opc == 6)
			x87_pop(c);
		return;
	case 1: /* D9 */
		switch (reg) {
		case 0: /* FLD ST(i): an unmasked underflow pushes nothing */
			if (st_empty(c, r)) {
				stack_fault(c, false);
				if (!(c->fcw & 1))
					return;
			}
			x87_push(c, st_get(c, r));
			return;
		case 1: /* FXCH: empty operands become the indefinite (IE masked) */
			if (st_empty(c, 0) || st_empty(c, r)) {
				stack_fault(c, false);
				if (!(c->fcw & 1))
					return;
				if (st_empty(c, 0))
					st_set(c, 0, indefinite());
				if (st_empty(c, r))
					st_set(c, r, indefinite());
			} else {
				c->fsw &= (uint16_t)~SW_C1;
			}
			a = c->st[phys(c, 0)], b = c->st[phys(c, r)];
			st_set(c, 0, b), st_set(c, r, a);
			return;
		case 2:
			if (r == 0)
				return; /* FNOP */
			break;
		case 4:
			switch (r) {
			case 0: case 1: { /* FCHS, FABS: sign-bit operations, C1 = 0 */
				uint8_t *bytes;

				if (underflow(c, 0, 0, 0, false))
					return;
				bytes = (uint8_t *)&c->st[phys(c, 0)];
				bytes[9] = r == 0 ? (uint8_t)(bytes[9] ^ 0x80) : (uint8_t)(bytes[9] & 0x7f);
				c->fsw &= (uint16_t)~SW_C1;
				return;
			}
			case 4: /* FTST */
				if (st_empty(c, 0)) { /* "unordered", IE masked or not */
					stack_fault(c, false);
					set_cc_from(c, FL_ZF | FL_PF | FL_CF);
					return;
				}
				set_cc_from(c, compare(c, c->st[phys(c, 0)], 0.0L, false));
				return;
			case 5: fxam(c); return;
			default: break;
			}
			break;
		case 5: {
			long double k = 0;
			uint16_t h;

			if (r == 7)
				break;
			h = x87_begin(c);
			switch (r) {
			case 0: __asm__ volatile("fld1" : "=t"(k)); break;
			case 1: __asm__ volatile("fldl2t" : "=t"(k)); break;
			case 2: __asm__ volatile("fldl2e" : "=t"(k)); break;
			case 3: __asm__ volatile("fldpi" : "=t"(k)); break;
			case 4: __asm__ volatile("fldlg2" : "=t"(k)); break;
			case 5: __asm__ volatile("fldln2" : "=t"(k)); break;
			default: __asm__ volatile("fldz" : "=t"(k)); break;
			}
			(void)x87_end(c, h);
			x87_push(c, k);
			return;
		}
		case 6:
			switch (r) {
			case 0: UNARY("f2xm1"); return;
			case 1: case 3: case 5: { /* FYL2X, FPATAN, FPREM1 style binaries */
				long double x, y, res;

				if (r == 5 && st_empty(c, 0) + st_empty(c, 1))
					c->fsw &= (uint16_t)~SW_C2;
				if (underflow(c, 0, 1, r == 5 ? 0 : 1, r != 5))
					return;
				x = st_get(c, 0), y = st_get(c, 1);
				uint16_t h = x87_begin(c), sw = 0;

				if (r == 1) {
					__asm__ volatile("fyl2x" : "=t"(res) : "0"(x), "u"(y) : "st(1)");
				} else if (r == 3) {
					__asm__ volatile("fpatan" : "=t"(res) : "0"(x), "u"(y) : "st(1)");
				} else {
					__asm__ volatile("fprem1\n\tfnstsw %%ax" : "=t"(res), "=a"(sw)
							 : "0"(x), "u"(y));
					if (x87_end(c, h)) {
						c->fsw &= (uint16_t)~SW_C2;
						return;
					}
					fprem_result(c, sw, res);
					return;
				}
				if (x87_end(c, h))
					return;
				x87_pop(c);
				st_set(c, 0, res);
				return;
			}
			case 2: /* FPTAN: ST0 = tan, push 1 */
				if (grow_overflow(c))
					return;
				/* fall through */
			case 0x102: {
				if (unmasked_underflow0(c))
					return;
				long double x = st_get(c, 0), one, t;
				uint16_t h = x87_begin(c), sw;

				if (isfinite(x) && fabsl(x) >= 0x1p63L) {
					/* Out of range: C2 = 1, operand unchanged, no
					 * flags (checked here: the host instruction would
					 * leave one value where the asm expects two). */
					(void)x87_end(c, h);
					c->fsw |= SW_C2;
					return;
				}
				__asm__ volatile("fptan\n\tfnstsw %%ax" : "=t"(one), "=u"(t), "=a"(sw) : "0"(x));
				if (x87_end(c, h))
					return;
				c->fsw = (uint16_t)((c->fsw & ~SW_C2) | (sw & SW_C2));
				if (sw & SW_C2)
					return; /* out of range: unchanged */
				st_set(c, 0, t);
				x87_push(c, one);
				return;
			}
			case 4: /* FXTRACT */
				if (grow_overflow(c))
					return;
				/* fall through */
			case 0x104: {
				if (unmasked_underflow0(c))
					return;
				long double x = st_get(c, 0), sig, ex;
				uint16_t h = x87_begin(c);

				__asm__ volatile("fxtract" : "=t"(sig), "=u"(ex) : "0"(x));
				if (x87_end(c, h))
					return;
				st_set(c, 0, ex);
				x87_push(c, sig);
				return;
			}
			case 6: /* FDECSTP */
				x87_set_top(c, x87_top(c) - 1);
				c->fsw &= (uint16_t)~SW_C1;
				return;
			default: /* FINCSTP */
				x87_set_top(c, x87_top(c) + 1);
				c->fsw &= (uint16_t)~SW_C1;
				return;
			}
		default: /* reg 7 */
			switch (r) {
			case 0: case 5: { /* FPREM, FSCALE (ST1 unchanged) */
				long double x, y, res;

				if (r == 0 && st_empty(c, 0) + st_empty(c, 1))
					c->fsw &= (uint16_t)~SW_C2;
				if (underflow(c, 0, 1, 0, false))
					return;
				x = st_get(c, 0), y = st_get(c, 1);
				if (r == 5) {
					fscale(c, x, y);
					return;
				}
				uint16_t h = x87_begin(c), sw = 0;

				__asm__ volatile("fprem\n\tfnstsw %%ax" : "=t"(res), "=a"(sw) : "0"(x), "u"(y));
				if (x87_end(c, h)) {
					if (r == 0)
						c->fsw &= (uint16_t)~SW_C2;
					return;
				}
				fprem_result(c, sw, res);
				return;
			}
			case 1: { /* FYL2XP1 */
				long double x, y, res;

				if (underflow(c, 0, 1, 1, true))
					return;
				x = st_get(c, 0), y = st_get(c, 1);
				uint16_t h = x87_begin(c);

				__asm__ volatile("fyl2xp1" : "=t"(res) : "0"(x), "u"(y) : "st(1)");
				if (x87_end(c, h))
					return;
				x87_pop(c);
				st_set(c, 0, res);
				return;
			}
			case 2: UNARY("fsqrt"); return;
			case 3: /* FSINCOS */
				if (grow_overflow(c))
					return;
				/* fall through */
			case 0x103: {
				if (unmasked_underflow0(c))
					return;
				long double x = st_get(c, 0), s, co;
				uint16_t h = x87_begin(c), sw;

				if (isfinite(x) && fabsl(x) >= 0x1p63L) {
					/* Out of range: C2 = 1, operand unchanged, no
					 * flags (checked here: the host instruction would
					 * leave one value where the asm expects two). */
					(void)x87_end(c, h);
					c->fsw |= SW_C2;
					return;
				}
				__asm__ volatile("fsincos\n\tfnstsw %%ax" : "=t"(co), "=u"(s), "=a"(sw) : "0"(x));
				if (x87_end(c, h))
					return;
				c->fsw = (uint16_t)((c->fsw & ~SW_C2) | (sw & SW_C2));
				if (sw & SW_C2)
					return;
				st_set(c, 0, s);
				x87_push(c, co);
				return;
			}
			case 4: UNARY("frndint"); return;
			case 6: UNARY("fsin"); return;
			default: UNARY("fcos"); return;
			}
		}
		break;
	case 2: /* DA: FCMOVB/E/BE/U; FUCOMPP */
	case 3: { /* DB: FCMOVNB/NE/NBE/NU; FUCOMI; FCOMI */
		static const uint8_t cc[4] = { 2, 4, 6, 0xa }; /* B, E, BE, P */

		if (reg < 4) {
			bool t = cpu_cond(c, cc[reg] ^ (opc == 3));

			if (st_empty(c, 0) || st_empty(c, r)) {
				stack_fault(c, false);
				if (c->fcw & 1) /* even when the condition is false */
					st_set(c, 0, indefinite());
				return;
			}
			if (t)
				st_set(c, 0, st_get(c, r));
			return;
		}
		if (opc == 2 && reg == 5 && r == 1) { /* FUCOMPP */
			uint64_t f = compare_regs(c, 0, 1, true);

			set_cc_from(c, f);
			if ((f & CMP_ABORT))
				return;
			x87_pop(c);
			x87_pop(c);
			return;
		}
		if (opc == 3 && (reg == 5 || reg == 6)) {
			uint64_t f = compare_regs(c, 0, r, reg == 5);

			cpu_set_flags_arith(c, f & ~CMP_ABORT);
			return;
		}
		break;
	}
	case 5: /* DD: FFREE, FST, FSTP, FUCOM, FUCOMP */
		switch (reg) {
		case 0: c->ftw_empty |= (uint16_t)(1u << phys(c, r)); return;
		case 2: case 3: /* FST/FSTP ST(i): C1 = 0 unless the stack underflows */
			if (underflow(c, 0, 0, (int)r, reg == 3))
				return;
			c->fsw &= (uint16_t)~SW_C1;
			st_set(c, r, c->st[phys(c, 0)]);
			if (reg == 3)
				x87_pop(c);
			return;
		case 4: case 5: {
			uint64_t f = compare_regs(c, 0, r, true);

			set_cc_from(c, f);
			if (reg == 5 && !(f & CMP_ABORT))
				x87_pop(c);
			return;
		}
		default: break;
		}
		break;
	default: /* DF: FUCOMIP, FCOMIP */
		if (reg == 5 || reg == 6) {
			uint64_t f = compare_regs(c, 0, r, reg == 5);

			cpu_set_flags_arith(c, f & ~CMP_ABORT);
			if (!(f & CMP_ABORT))
				x87_pop(c);
			return;
		}
		break;
	}
	cpu_ud(c);
}

/* 9B: FWAIT. */
static void h_fwait(struct cpu *c, const struct insn *i)
{
	fp_check(c, FPT_WAIT); /* only with CR0.MP and TS both set */
	x87_wait(c);
}

void cpu_exec_init_x87(void)
{
	for (unsigned k = 0; k < 0x40; k++) {
		cpu_handlers[OP_X87 + k] = h_x87_mem;
		cpu_handlers[OP_X87 + 0x40 + k] = h_x87_reg;
	}
	cpu_handlers[0x9b] = h_fwait;
}
