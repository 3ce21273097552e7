/* Directed groups: systematic edge cases chosen by the case index (not by
 * chance), so every combination below is covered in each run:
 *  - shifts/rotates: every operation and width, counts 0, 1, w-1, w, w+1,
 *    31, 32, 63, 64, both CF values;
 *  - DIV/IDIV: divisor x dividend edge pairs (by zero, quotient overflow,
 *    INT_MIN / -1);
 *  - ADC/SBB/ADD/SUB/NEG/CMP: operand pairs at the signed/unsigned limits
 *    with CF in and out;
 *  - SSE scalar arithmetic, compares and conversions: special operand pairs
 *    (zeros, denormals, infinities, QNaN/SNaN, limits, integer-overflow
 *    boundaries) under all four rounding modes with DAZ/FTZ;
 *  - x87 arithmetic and integer stores on special operands under all
 *    rounding modes;
 *  - every MMX integer operation on lane-edge patterns, shifts by immediate
 *    counts around the lane widths, and MMX/x87 interplay (TOP and tags
 *    after MMX and EMMS, MM values seen by x87 code, FXSAVE/FNSAVE images,
 *    #MF for a pending x87 exception). */
#include <stdio.h>
#include <string.h>

#include "directed.h"

static const uint64_t dt_int_edge[] = {
	0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
	0x7fffffffffffffffULL, 0x8000000000000000ULL, ~0ULL, 0xfffffffffffffffeULL,
};
#define N_INT_EDGE (sizeof(dt_int_edge) / sizeof(dt_int_edge[0]))

/* Picks digit i of a mixed-radix decomposition of x. */
static unsigned dt_digit(uint64_t *x, unsigned radix)
{
	unsigned d = (unsigned)(*x % radix);
	*x /= radix;
	return d;
}

static void dt_name(struct dt_gen *g, const char *fmt, const char *a, unsigned b)
{
	snprintf(g->v->name, sizeof(g->v->name), fmt, a, b);
}

static unsigned dt_size_prefix(uint8_t *buf, unsigned os, bool rex_b)
{
	unsigned n = 0;
	if (os == 2)
		buf[n++] = 0x66;
	if (os == 8 || rex_b)
		buf[n++] = (uint8_t)(0x40 | (os == 8 ? 8 : 0) | (rex_b ? 1 : 0));
	return n;
}

void dt_gen_dir_shift(struct dt_gen *g)
{
	static const char *const names[] = { "rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar" };
	static const unsigned exts[] = { 0, 1, 2, 3, 4, 5, 7 };
	struct dt_vector *v = g->v;
	uint64_t x = v->index;
	unsigned ext = exts[dt_digit(&x, 7)];
	unsigned os = 1u << dt_digit(&x, 4);
	unsigned w = os * 8;
	const unsigned counts[] = { 0, 1, w - 1, w, w + 1, 31, 32, 63, 64, 2 };
	unsigned count = counts[dt_digit(&x, 10)];
	unsigned cf = dt_digit(&x, 2);
	unsigned form = dt_digit(&x, 2); /* imm8 or CL */
	uint8_t buf[8];
	unsigned n = dt_size_prefix(buf, os, false);
	if (form == 0) {
		buf[n++] = os == 1 ? 0xc0 : 0xc1;
		buf[n++] = (uint8_t)(0xc0 | ext << 3 | R_BX);
		buf[n++] = (uint8_t)count;
	} else {
		buf[n++] = os == 1 ? 0xd2 : 0xd3;
		buf[n++] = (uint8_t)(0xc0 | ext << 3 | R_BX);
		v->init.gpr[R_CX] = (v->init.gpr[R_CX] & ~0xffULL) | count;
	}
	v->init.gpr[R_BX] = dt_rng_chance(&g->rng, 70) ? dt_int_edge[dt_rng_below(&g->rng, N_INT_EDGE)]
						      : dt_gen_value(g);
	v->init.rflags = (v->init.rflags & ~F_CF) | (cf ? F_CF : 0);
	unsigned m = count & (os == 8 ? 63 : 31);
	if (m) {
		if (m != 1)
			v->flags_cmp &= ~F_OF;
		if (ext >= 4) {
			v->flags_cmp &= ~F_AF;
			if (ext != 7 && m >= w)
				v->flags_cmp &= ~F_CF;
		}
	}
	dt_gen_emit(g, buf, n);
	dt_name(g, "%s by %u", names[ext], count);
}

void dt_gen_dir_div(struct dt_gen *g)
{
	static const uint64_t divisors[] = { 0, 1, ~0ULL, 2, 0xfffffffffffffffeULL, 3, 0x7f, 0x80,
					     0x7fff, 0x8000, 0x7fffffff, 0x80000000,
					     0x7fffffffffffffffULL, 0x8000000000000000ULL };
	struct dt_vector *v = g->v;
	uint64_t x = v->index;
	unsigned sign = dt_digit(&x, 2); /* div / idiv */
	unsigned os = 1u << dt_digit(&x, 4);
	uint64_t d = divisors[dt_digit(&x, sizeof(divisors) / sizeof(divisors[0]))];
	uint64_t lo = dt_int_edge[dt_rng_below(&g->rng, N_INT_EDGE)];
	unsigned hk = (unsigned)dt_rng_below(&g->rng, 4);
	uint64_t mask = os == 8 ? ~0ULL : (1ULL << (8 * os)) - 1;
	uint64_t hi = hk == 0 ? 0 : hk == 1 ? mask : hk == 2 ? ((lo >> (8 * os - 1)) & 1 ? mask : 0) : 1;
	uint8_t buf[8];
	unsigned n = dt_size_prefix(buf, os, false);
	buf[n++] = os == 1 ? 0xf6 : 0xf7;
	buf[n++] = (uint8_t)(0xc0 | (6 + sign) << 3 | R_BX);
	v->init.gpr[R_BX] = (v->init.gpr[R_BX] & ~mask) | (d & mask);
	if (os == 1) {
		v->init.gpr[R_AX] = (v->init.gpr[R_AX] & ~0xffffULL) | (hi & 0xff) << 8 | (lo & 0xff);
	} else {
		v->init.gpr[R_AX] = (v->init.gpr[R_AX] & ~mask) | (lo & mask);
		v->init.gpr[R_DX] = (v->init.gpr[R_DX] & ~mask) | (hi & mask);
	}
	v->flags_cmp &= ~F_ARITH;
	dt_gen_emit(g, buf, n);
	dt_name(g, "%s%u", sign ? "idiv" : "div", os * 8);
}

void dt_gen_dir_arith(struct dt_gen *g)
{
	/* add, adc, sub, sbb, cmp (r/m, r forms: 01 11 29 19 39), neg (f7 /3), imul (0f af) */
	static const uint8_t ops[] = { 0x01, 0x11, 0x29, 0x19, 0x39, 0xf7, 0xaf };
	static const char *const names[] = { "add", "adc", "sub", "sbb", "cmp", "neg", "imul" };
	struct dt_vector *v = g->v;
	uint64_t x = v->index;
	unsigned oi = dt_digit(&x, 7);
	unsigned os = 1u << dt_digit(&x, 4);
	unsigned cf = dt_digit(&x, 2);
	uint64_t a = dt_int_edge[dt_rng_below(&g->rng, N_INT_EDGE)];
	uint64_t b = dt_int_edge[dt_rng_below(&g->rng, N_INT_EDGE)];
	if (ops[oi] == 0xaf && os == 1)
		os = 2;
	uint8_t buf[8];
	unsigned n = dt_size_prefix(buf, os, false);
	if (ops[oi] == 0xaf) {
		buf[n++] = 0x0f;
		buf[n++] = 0xaf;
		buf[n++] = 0xc0 | R_BX << 3 | R_SI; /* imul ebx, esi */
		v->flags_cmp &= ~(F_SF | F_ZF | F_AF | F_PF);
	} else if (ops[oi] == 0xf7) {
		buf[n++] = os == 1 ? 0xf6 : 0xf7;
		buf[n++] = 0xc0 | 3 << 3 | R_BX;
	} else {
		buf[n++] = (uint8_t)(ops[oi] - (os == 1 ? 1 : 0));
		buf[n++] = 0xc0 | R_SI << 3 | R_BX; /* op ebx, esi */
	}
	v->init.gpr[R_BX] = a;
	v->init.gpr[R_SI] = b;
	v->init.rflags = (v->init.rflags & ~F_CF) | (cf ? F_CF : 0);
	dt_gen_emit(g, buf, n);
	dt_name(g, "%s%u edge", names[oi], os * 8);
}

static const uint32_t dt_sp32[] = {
	0x00000000, 0x80000000, 0x00000001, 0x807fffff, 0x00800000, 0x3f800000, 0xbf800000,
	0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001, 0x7f800001,
	0xff9abcde, 0x4f000000, 0xcf000000, 0x4effffff, 0x5f000000, 0xdf000001, 0x3f000000,
	0x3fc00000, 0x40200000, 0x33800001,
};
static const uint64_t dt_sp64[] = {
	0, 0x8000000000000000ULL, 1, 0x800fffffffffffffULL, 0x0010000000000000ULL,
	0x3ff0000000000000ULL, 0xbff0000000000000ULL, 0x7fefffffffffffffULL,
	0xffefffffffffffffULL, 0x7ff0000000000000ULL, 0xfff0000000000000ULL,
	0x7ff8000000000000ULL, 0xfff8000000000001ULL, 0x7ff0000000000001ULL,
	0xfff4567812345678ULL, 0x41e0000000000000ULL, 0xc1e0000000200000ULL,
	0x43e0000000000000ULL, 0xc3e0000000000000ULL, 0x3fe0000000000000ULL,
	0x3ff8000000000000ULL, 0x4004000000000000ULL, 0x36a0000000000001ULL,
	0x3810000000000000ULL,
};
#define N_SP (sizeof(dt_sp32) / sizeof(dt_sp32[0]))

void dt_gen_dir_sse(struct dt_gen *g)
{
	/* opcode after F3/F2 0F (or 0F / 66 0F for comis) and name */
	static const struct { uint8_t op; bool gpr_dst; bool cmp; const char *name; } ops[] = {
		{ 0x58, false, false, "add" }, { 0x5c, false, false, "sub" },
		{ 0x59, false, false, "mul" }, { 0x5e, false, false, "div" },
		{ 0x51, false, false, "sqrt" }, { 0x5d, false, false, "min" },
		{ 0x5f, false, false, "max" }, { 0x5a, false, false, "cvt" },
		{ 0x2d, true, false, "cvt2si" }, { 0x2c, true, false, "cvtt2si" },
		{ 0x2f, false, true, "comis" }, { 0x2e, false, true, "ucomis" },
		{ 0xc2, false, false, "cmp" },
	};
	struct dt_vector *v = g->v;
	uint64_t x = v->index;
	unsigned oi = dt_digit(&x, sizeof(ops) / sizeof(ops[0]));
	unsigned dbl = dt_digit(&x, 2);
	unsigned rc = dt_digit(&x, 4), dazftz = dt_digit(&x, 4);
	unsigned ia = (unsigned)dt_rng_below(&g->rng, N_SP), ib = (unsigned)dt_rng_below(&g->rng, N_SP);
	bool masked = !dt_rng_chance(&g->rng, 20); /* sometimes all exceptions unmasked */
	uint32_t mxcsr = (masked ? 0x1f80 : 0) | rc << 13 | (dazftz & 1 ? 0x40 : 0) |
			 (dazftz & 2 ? 0x8000 : 0);
	memcpy(v->init.fxsave + FX_MXCSR, &mxcsr, 4);
	uint8_t *a = v->init.fxsave + FX_XMM(1), *b = v->init.fxsave + FX_XMM(2);
	if (dbl) {
		memcpy(a, &dt_sp64[ia], 8);
		memcpy(b, &dt_sp64[ib], 8);
	} else {
		memcpy(a, &dt_sp32[ia], 4);
		memcpy(b, &dt_sp32[ib], 4);
	}
	uint8_t buf[8];
	unsigned n = 0;
	if (ops[oi].cmp) {
		if (dbl)
			buf[n++] = 0x66;
	} else {
		buf[n++] = dbl ? 0xf2 : 0xf3;
	}
	if (ops[oi].gpr_dst && dt_rng_chance(&g->rng, 50))
		buf[n++] = 0x48; /* 64-bit integer result */
	buf[n++] = 0x0f;
	buf[n++] = ops[oi].op;
	/* xmm1 op= xmm2, or eax <- xmm2 */
	buf[n++] = (uint8_t)(0xc0 | (ops[oi].gpr_dst ? R_AX : 1) << 3 | 2);
	if (ops[oi].op == 0xc2)
		buf[n++] = (uint8_t)dt_rng_below(&g->rng, 8);
	dt_gen_emit(g, buf, n);
	snprintf(v->name, sizeof(v->name), "%s%s", ops[oi].name, dbl ? "sd" : "ss");
}

void dt_gen_dir_x87(struct dt_gen *g)
{
	/* st0 = a, st1 = b; then one operation */
	static const struct { uint8_t b0, b1; const char *name; } ops[] = {
		{ 0xd8, 0xc1, "fadd st,st1" }, { 0xd8, 0xe1, "fsub st,st1" },
		{ 0xd8, 0xc9, "fmul st,st1" }, { 0xd8, 0xf1, "fdiv st,st1" },
		{ 0xd9, 0xfa, "fsqrt" }, { 0xd9, 0xfc, "frndint" }, { 0xd8, 0xd1, "fcom st1" },
		{ 0xdd, 0xe1, "fucom st1" }, { 0xdb, 0xf1, "fcomi st1" }, { 0xd9, 0xe5, "fxam" },
		{ 0xd9, 0xf8, "fprem" }, { 0xd9, 0xfd, "fscale" }, { 0xd9, 0xe0, "fchs" },
		{ 0xdb, 0x13, "fist m32 [rbx]" }, { 0xdf, 0x3b, "fistp m64 [rbx]" },
		{ 0xdd, 0x13, "fst m64 [rbx]" }, { 0xd9, 0x13, "fst m32 [rbx]" },
	};
	struct dt_vector *v = g->v;
	uint64_t x = v->index;
	unsigned oi = dt_digit(&x, sizeof(ops) / sizeof(ops[0]));
	unsigned rc = dt_digit(&x, 4), pc = (unsigned[]){ 3, 2, 0 }[dt_digit(&x, 3)];
	unsigned ia = (unsigned)dt_rng_below(&g->rng, N_SP), ib = (unsigned)dt_rng_below(&g->rng, N_SP);
	bool masked = !dt_rng_chance(&g->rng, 20);
	uint8_t *fx = v->init.fxsave;
	/* 80-bit images of the double specials */
	for (int i = 0; i < 2; i++) {
		uint64_t d = dt_sp64[i ? ib : ia];
		uint16_t se = (uint16_t)((d >> 63) << 15);
		uint64_t e = (d >> 52) & 0x7ff, f = d & 0xfffffffffffffULL, m;
		if (e == 0x7ff) {
			se |= 0x7fff;
			m = 1ULL << 63 | f << 11;
		} else if (e == 0 && f == 0) {
			m = 0;
		} else if (e == 0) { /* double denormal: normalize into extended */
			int sh = 0;
			while (!(f & (1ULL << 52))) {
				f <<= 1;
				sh++;
			}
			se |= (uint16_t)(0x3fff - 1022 - sh);
			m = f << 11;
		} else {
			se |= (uint16_t)(e - 1023 + 0x3fff);
			m = 1ULL << 63 | f << 11;
		}
		memset(fx + FX_ST(i), 0, 16);
		memcpy(fx + FX_ST(i), &m, 8);
		memcpy(fx + FX_ST(i) + 8, &se, 2);
	}
	uint16_t fcw = (uint16_t)(0x40 | (masked ? 0x3f : 0) | pc << 8 | rc << 10);
	uint16_t fsw = 6 << 11; /* TOP = 6: st0 = R6, st1 = R7 */
	memcpy(fx + FX_FCW, &fcw, 2);
	memcpy(fx + FX_FSW, &fsw, 2);
	fx[FX_FTW] = 0xc0;
	v->init.gpr[R_BX] = DT_DATA_BASE + 0x800;
	uint8_t buf[2] = { ops[oi].b0, ops[oi].b1 };
	dt_gen_emit(g, buf, 2);
	/* C0/C2/C3 are undefined after arithmetic (Intel SDM Vol. 1 §8.1.3.1) */
	if (oi < 6 || oi >= 11)
		v->fsw_cmp &= (uint16_t)~(FSW_C0 | FSW_C2 | FSW_C3);
	snprintf(v->name, sizeof(v->name), "%s", ops[oi].name);
}

/* Lane-edge patterns for MMX operands, each replicated over the register. */
static const uint64_t dt_mmx_pat[] = {
	0, ~0ULL, 0x7f7f7f7f7f7f7f7fULL, 0x8080808080808080ULL, 0x7fff80007fff8000ULL,
	0x800000017fffffffULL, 0x00ff00ff00ff00ffULL, 0x0001fffe7ffe8001ULL,
	0x8000000000000000ULL, 0x0123456789abcdefULL,
};
#define N_MMX_PAT (sizeof(dt_mmx_pat) / sizeof(dt_mmx_pat[0]))

static void dt_set_mm(struct dt_vector *v, unsigned i, uint64_t val)
{
	uint16_t se = 0xffff;
	memcpy(v->init.fxsave + FX_ST(i), &val, 8); /* TOP = 0: ST(i) is MMi */
	memcpy(v->init.fxsave + FX_ST(i) + 8, &se, 2);
}

void dt_gen_dir_mmx(struct dt_gen *g)
{
	static const uint8_t bin[] = {
		0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x74, 0x75,
		0x76, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
		0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef,
		0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe,
		0x6f, 0x70,
	};
	/* 0F 71/72/73 /2 /4 /6 */
	static const uint8_t shi[][2] = { { 0x71, 2 }, { 0x71, 4 }, { 0x71, 6 }, { 0x72, 2 },
					  { 0x72, 4 }, { 0x72, 6 }, { 0x73, 2 }, { 0x73, 6 } };
	static const uint8_t counts[] = { 0, 1, 7, 8, 15, 16, 17, 31, 32, 63, 64, 255 };
	/* MMX/x87 interplay sequences; [rbx] is in the data region */
	static const struct { uint8_t len; uint8_t b[14]; const char *name; } seq[] = {
		{ 7, { 0x0f, 0x6f, 0xc1, 0x0f, 0x77, 0xd9, 0xe8 }, "movq; emms; fld1" },
		{ 5, { 0xd9, 0xeb, 0x0f, 0x6f, 0xd0 }, "fldpi; movq mm2, mm0" },
		{ 5, { 0x0f, 0xef, 0xdb, 0xdd, 0xd8 }, "pxor mm3; fstp st0" },
		{ 6, { 0x0f, 0x6f, 0xc1, 0x0f, 0xae, 0x03 }, "movq; fxsave [rbx]" },
		{ 6, { 0x0f, 0x6f, 0x03, 0xdb, 0x7b, 0x10 }, "movq mm0, [rbx]; fstp m80" },
		{ 5, { 0x0f, 0x74, 0xc0, 0xdd, 0x33 }, "pcmpeqb; fnsave [rbx]" },
		{ 5, { 0x0f, 0xfc, 0xc1, 0xd9, 0x33 }, "paddb; fnstenv [rbx]" },
		{ 5, { 0xd9, 0xee, 0x0f, 0x7e, 0xc0 }, "fldz; movd eax, mm0" },
		{ 3, { 0x0f, 0xd4, 0xca }, "paddq, x87 exception pending" },
		{ 4, { 0x0f, 0x77, 0xdd, 0x03 }, "emms, x87 exception pending; fld" },
		{ 2, { 0x0f, 0x77 }, "emms, TOP != 0" },
	};
	struct dt_vector *v = g->v;
	struct dt_rng *r = &g->rng;
	uint64_t x = v->index % DT_DIR_MMX_N;
	uint8_t buf[16];
	unsigned n = 0;
	uint8_t *fx = v->init.fxsave;
	/* a random x87 stack under the MMX values: TOP and tags must change */
	dt_gen_x87_stack(g);
	uint16_t fsw;
	memcpy(&fsw, fx + FX_FSW, 2);
	fsw &= (uint16_t)~0x3800; /* ST(i) = R(i), so the image holds MMi at ST(i) */
	memcpy(fx + FX_FSW, &fsw, 2);
	for (unsigned i = 0; i < 8; i++)
		dt_set_mm(v, i, dt_mmx_pat[dt_rng_below(r, N_MMX_PAT)]);
	v->init.gpr[R_BX] = DT_DATA_BASE + 0x800;
	if (x < 57 * 10) {
		unsigned oi = dt_digit(&x, 57), pa = dt_digit(&x, 10);
		dt_set_mm(v, 0, dt_mmx_pat[pa]);
		buf[n++] = 0x0f;
		buf[n++] = bin[oi];
		buf[n++] = 0xc1; /* mm0, mm1 */
		if (bin[oi] == 0x70)
			buf[n++] = (uint8_t)dt_rng_next(r);
		snprintf(v->name, sizeof(v->name), "0f %02x mm0 edge", bin[oi]);
	} else if ((x -= 57 * 10) < 8 * 12) {
		unsigned si = dt_digit(&x, 8), ci = dt_digit(&x, 12);
		buf[n++] = 0x0f;
		buf[n++] = shi[si][0];
		buf[n++] = (uint8_t)(0xc0 | shi[si][1] << 3 | 2); /* mm2 */
		buf[n++] = counts[ci];
		snprintf(v->name, sizeof(v->name), "0f %02x /%u mm2, %u", shi[si][0], shi[si][1],
			 counts[ci]);
	} else {
		unsigned k = (unsigned)(x - 8 * 12);
		memcpy(buf, seq[k].b, seq[k].len);
		n = seq[k].len;
		if (k == 3 || k == 5 || k == 6) {
			/* FIP/FDP/FOP (and selectors) are implementation-specific */
			v->skip_off = (uint16_t)(0x800 + (k == 3 ? 6 : 12));
			v->skip_len = k == 3 ? 18 : 16;
		}
		if (k >= 8) { /* a pending unmasked invalid-operation exception */
			uint16_t fcw;
			memcpy(&fcw, fx + FX_FCW, 2);
			fcw &= (uint16_t)~1;
			fsw |= 0x8081;
			memcpy(fx + FX_FCW, &fcw, 2);
			memcpy(fx + FX_FSW, &fsw, 2);
		}
		if (k == 10) { /* EMMS sets TOP to 0 too (on Intel hardware) */
			fsw = (uint16_t)(fsw | (1 + dt_rng_below(r, 7)) << 11);
			memcpy(fx + FX_FSW, &fsw, 2);
		}
		if (k == 1 || k == 7) {
			/* x87 code after the stack is cleared (FTW empty): a push to R7 */
			fx[FX_FTW] = 0;
		}
		snprintf(v->name, sizeof(v->name), "%s", seq[k].name);
	}
	dt_gen_emit(g, buf, n);
}
