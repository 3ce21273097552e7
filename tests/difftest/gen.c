/* Vector generation core: PRNG, edge-biased values, the encoder (prefixes,
 * REX, ModRM/SIB with every addressing form including RIP-relative and
 * 32-bit addressing), memory operands placed in the data region (aligned,
 * misaligned, page-crossing and off-the-end) and the per-template hooks that
 * pick interesting operands and mask architecturally undefined results. */
#include <stdio.h>
#include <string.h>

#include "gen.h"

/* ---- PRNG: splitmix64 seeding xoshiro256** ---- */

static uint64_t dt_splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void dt_rng_seed(struct dt_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = dt_splitmix(&seed);
}

static uint64_t dt_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t dt_rng_next(struct dt_rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = dt_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = dt_rotl(s[3], 45);
	return res;
}

uint64_t dt_hash(uint64_t a, uint64_t b)
{
	uint64_t x = a ^ dt_rotl(b, 32) ^ 0x5851f42d4c957f2dULL;
	dt_splitmix(&x);
	return dt_splitmix(&x) ^ b;
}

/* ---- values ---- */

uint64_t dt_gen_value(struct dt_gen *g)
{
	static const uint64_t edge[] = {
		0, 1, 2, 3, ~0ULL, ~1ULL, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000,
		0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ULL, 0x7fffffffffffffffULL,
		0x8000000000000000ULL, 0xffffffff80000000ULL, 0xffffffffffff8000ULL,
		0xffffffffffffff80ULL, 0x5555555555555555ULL, 0xaaaaaaaaaaaaaaaaULL,
	};
	struct dt_rng *r = &g->rng;
	switch (dt_rng_below(r, 8)) {
	case 0:
	case 1:
		return edge[dt_rng_below(r, sizeof(edge) / sizeof(edge[0]))];
	case 2:
		return dt_rng_below(r, 34);
	case 3:
		return 1ULL << dt_rng_below(r, 64);
	case 4: { /* sign-extended small width */
		int bits = 1 + (int)dt_rng_below(r, 63);
		uint64_t v = dt_rng_next(r) & ((1ULL << bits) - 1);
		if (dt_rng_chance(r, 50))
			v |= ~((1ULL << bits) - 1);
		return v;
	}
	case 5: /* random low 32, upper random or zero */
		return dt_rng_chance(r, 50) ? (uint32_t)dt_rng_next(r) : dt_rng_next(r);
	default:
		return dt_rng_next(r);
	}
}

static uint32_t dt_fp32(struct dt_gen *g)
{
	static const uint32_t sp[] = {
		0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000,
		0x7fa00000, 0x7f800001, 0xff812345, 0x00000001, 0x807fffff, 0x00400000,
		0x00800000, 0x80800000, 0x7f7fffff, 0xff7fffff, 0x3f800000, 0xbf800000,
		0x3f000000, 0x4f000000, 0xcf000000, 0x4effffff, 0xcf000001, 0x5f000000,
		0xdf000000, 0x3fc00000, 0x40400000, 0x33800000, 0x34000000, 0x3eaaaaab,
	};
	struct dt_rng *r = &g->rng;
	switch (dt_rng_below(r, 6)) {
	case 0:
	case 1:
		return sp[dt_rng_below(r, sizeof(sp) / sizeof(sp[0]))];
	case 2: { /* small integers and halves: exact results, ties in rounding */
		int32_t n = (int32_t)dt_rng_below(r, 2001) - 1000;
		float f = (float)n / (dt_rng_chance(r, 30) ? 2.0f : 1.0f);
		uint32_t u;
		memcpy(&u, &f, 4);
		return u;
	}
	case 3: /* denormal */
		return (uint32_t)(dt_rng_next(r) & 0x807fffff);
	case 4: /* near 1 with random mantissa */
		return (uint32_t)((dt_rng_next(r) & 0x807fffff) | ((uint32_t)(120 + dt_rng_below(r, 16)) << 23));
	default:
		return (uint32_t)dt_rng_next(r);
	}
}

static uint64_t dt_fp64(struct dt_gen *g)
{
	static const uint64_t sp[] = {
		0, 0x8000000000000000ULL, 0x7ff0000000000000ULL, 0xfff0000000000000ULL,
		0x7ff8000000000000ULL, 0xfff8000000000000ULL, 0x7ff4000000000000ULL,
		0x7ff0000000000001ULL, 0x0000000000000001ULL, 0x800fffffffffffffULL,
		0x0010000000000000ULL, 0x7fefffffffffffffULL, 0x3ff0000000000000ULL,
		0xbff0000000000000ULL, 0x3fe0000000000000ULL, 0x41e0000000000000ULL,
		0xc1e0000000000000ULL, 0x41dfffffffc00000ULL, 0xc1e0000000200000ULL,
		0x43e0000000000000ULL, 0xc3e0000000000000ULL, 0x47efffffe0000000ULL,
		0x36a0000000000000ULL, 0x3810000000000000ULL, 0x3ff8000000000000ULL,
	};
	struct dt_rng *r = &g->rng;
	switch (dt_rng_below(r, 6)) {
	case 0:
	case 1:
		return sp[dt_rng_below(r, sizeof(sp) / sizeof(sp[0]))];
	case 2: {
		int64_t n = (int64_t)dt_rng_below(r, 2001) - 1000;
		double d = (double)n / (dt_rng_chance(r, 30) ? 2.0 : 1.0);
		uint64_t u;
		memcpy(&u, &d, 8);
		return u;
	}
	case 3:
		return dt_rng_next(r) & 0x800fffffffffffffULL;
	case 4:
		return (dt_rng_next(r) & 0x800fffffffffffffULL) |
		       ((uint64_t)(1016 + dt_rng_below(r, 16)) << 52);
	default:
		return dt_rng_next(r);
	}
}

void dt_gen_x87_value(struct dt_gen *g, uint8_t out[10])
{
	struct dt_rng *r = &g->rng;
	uint64_t m = dt_rng_next(r);
	uint16_t se;
	switch (dt_rng_below(r, 12)) {
	case 0: /* zero */
		m = 0;
		se = 0;
		break;
	case 1: /* infinity */
		m = 1ULL << 63;
		se = 0x7fff;
		break;
	case 2: /* QNaN or SNaN */
		m = (1ULL << 63) | (dt_rng_chance(r, 50) ? (1ULL << 62) : 0) | (m & 0xffff) | 1;
		se = 0x7fff;
		break;
	case 3: /* denormal */
		m &= ~(1ULL << 63);
		se = 0;
		break;
	case 4: { /* small integer */
		double d = (double)((int64_t)dt_rng_below(r, 2001) - 1000);
		if (d == 0)
			d = 7;
		int e = 0;
		uint64_t a = (uint64_t)(d < 0 ? -d : d);
		while (!(a & (1ULL << 63))) {
			a <<= 1;
			e++;
		}
		m = a;
		se = (uint16_t)(0x3fff + 63 - e);
		break;
	}
	case 5: /* huge or tiny exponents */
		m |= 1ULL << 63;
		se = (uint16_t)(dt_rng_chance(r, 50) ? 0x7ffe - dt_rng_below(r, 4) : 1 + dt_rng_below(r, 4));
		break;
	case 6: /* exponents around 2^63, for integer conversions */
		m |= 1ULL << 63;
		se = (uint16_t)(0x3fff + 60 + dt_rng_below(r, 6));
		break;
	case 7:
		if (dt_rng_chance(r, 30)) { /* unnormal / pseudo-denormal: invalid operands */
			m &= ~(1ULL << 63);
			se = (uint16_t)(dt_rng_chance(r, 50) ? 0x3fff : 0);
			if (se == 0)
				m |= 1ULL << 63;
			break;
		}
		/* fall through */
	default:
		m |= 1ULL << 63;
		se = (uint16_t)(0x3fff - 40 + dt_rng_below(r, 80));
		break;
	}
	if (dt_rng_chance(r, 50))
		se |= 0x8000;
	memcpy(out, &m, 8);
	memcpy(out + 8, &se, 2);
}

void dt_gen_fp_fill(struct dt_gen *g, uint8_t *p, unsigned n, int lane)
{
	unsigned i = 0;
	while (i < n) {
		uint64_t v;
		unsigned w;
		switch (lane) {
		case LN_PS:
			v = dt_fp32(g);
			w = 4;
			break;
		case LN_PD:
			v = dt_fp64(g);
			w = 8;
			break;
		case LN_X80: {
			uint8_t x[10];
			dt_gen_x87_value(g, x);
			for (unsigned k = 0; k < 10 && i + k < n; k++)
				p[i + k] = x[k];
			i += 10;
			continue;
		}
		case LN_I16:
			v = dt_gen_value(g);
			w = 2;
			break;
		case LN_I32:
			v = dt_gen_value(g);
			w = 4;
			break;
		default:
			v = dt_gen_value(g);
			w = 8;
			break;
		}
		for (unsigned k = 0; k < w && i + k < n; k++)
			p[i + k] = (uint8_t)(v >> (8 * k));
		i += w;
	}
}

void dt_gen_random_mxcsr(struct dt_gen *g)
{
	struct dt_rng *r = &g->rng;
	uint32_t m = 0x1f80;
	m = (m & ~0x6000U) | (uint32_t)dt_rng_below(r, 4) << 13;
	if (dt_rng_chance(r, 25))
		m |= 0x40; /* DAZ */
	if (dt_rng_chance(r, 25))
		m |= 0x8000; /* FTZ */
	if (dt_rng_chance(r, 15))
		m = (m & ~0x1f80U) | ((uint32_t)dt_rng_below(r, 64) << 7);
	if (dt_rng_chance(r, 30))
		m |= (uint32_t)dt_rng_below(r, 64);
	memcpy(g->v->init.fxsave + FX_MXCSR, &m, 4);
}

void dt_gen_x87_stack(struct dt_gen *g)
{
	struct dt_rng *r = &g->rng;
	uint8_t *fx = g->v->init.fxsave;
	unsigned pc = (unsigned[]){ 0, 2, 3, 3 }[dt_rng_below(r, 4)];
	uint16_t fcw = (uint16_t)(0x40 | 0x3f | pc << 8 | (unsigned)dt_rng_below(r, 4) << 10);
	if (dt_rng_chance(r, 10))
		fcw = (uint16_t)((fcw & ~0x3f) | dt_rng_below(r, 64));
	unsigned top = (unsigned)dt_rng_below(r, 8);
	unsigned depth = (unsigned)dt_rng_below(r, 9);
	uint16_t fsw = (uint16_t)(top << 11);
	if (dt_rng_chance(r, 15))
		fsw |= (uint16_t)(dt_rng_below(r, 64) & fcw & 0x3f); /* masked sticky flags */
	if (dt_rng_chance(r, 30))
		fsw |= (uint16_t)(dt_rng_below(r, 16) & 0x7) << 8 | (dt_rng_chance(r, 50) ? FSW_C3 : 0);
	uint8_t ftw = 0;
	memset(fx + FX_ST(0), 0, 8 * 16);
	for (unsigned i = 0; i < depth; i++) {
		ftw |= (uint8_t)(1u << ((top + i) & 7));
		dt_gen_x87_value(g, fx + FX_ST(i));
	}
	memcpy(fx + FX_FCW, &fcw, 2);
	memcpy(fx + FX_FSW, &fsw, 2);
	fx[FX_FTW] = ftw;
}

/* ---- vector skeleton ---- */

void dt_gen_begin(struct dt_gen *g, struct dt_vector *v, uint64_t seed)
{
	memset(v, 0, sizeof(*v));
	memset(g, 0, sizeof(*g));
	g->v = v;
	g->fixed_base = -1;
	v->seed = seed;
	dt_rng_seed(&g->rng, seed);
	struct dt_rng *r = &g->rng;
	for (int i = 0; i < 16; i++) {
		v->init.gpr[i] = dt_gen_value(g);
		v->gpr_cmp[i] = ~0ULL;
	}
	v->init.rflags = dt_rng_next(r) & F_ARITH;
	if (dt_rng_chance(r, 25))
		v->init.rflags |= F_DF;
	uint8_t *fx = v->init.fxsave;
	uint16_t fcw = 0x37f;
	memcpy(fx + FX_FCW, &fcw, 2);
	uint32_t mxcsr = 0x1f80;
	memcpy(fx + FX_MXCSR, &mxcsr, 4);
	for (int i = 0; i < 16; i++)
		dt_gen_fp_fill(g, fx + FX_XMM(i), 16, dt_rng_chance(r, 50) ? LN_INT : LN_I16);
	for (size_t i = 0; i < DT_DATA_SIZE; i += 8) {
		uint64_t x = dt_rng_chance(r, 70) ? dt_rng_next(r) : dt_gen_value(g);
		memcpy(v->data + i, &x, 8);
	}
	v->flags_cmp = F_SETTABLE;
	v->fsw_cmp = 0xffff;
	v->cmp = DT_CMP_ALL;
	v->code_off = dt_rng_chance(r, 10) ? (uint16_t)dt_rng_below(r, 0x800) : 0;
}

void dt_gen_emit(struct dt_gen *g, const uint8_t *bytes, unsigned n)
{
	struct dt_vector *v = g->v;
	if (g->pos + n + 1 > DT_MAX_CODE || (size_t)v->nins + 1 >= sizeof(v->ins_off))
		return;
	v->ins_off[v->nins++] = (uint8_t)g->pos;
	memcpy(v->code + g->pos, bytes, n);
	g->pos += n;
}

void dt_gen_end(struct dt_gen *g)
{
	struct dt_vector *v = g->v;
	v->code[g->pos] = 0xcc;
	v->ins_off[v->nins] = (uint8_t)g->pos;
	v->code_len = (uint16_t)(g->pos + 1);
	if (v->code_off + v->code_len > DT_CODE_SIZE && !g->allow_cross)
		v->code_off = (uint16_t)(DT_CODE_SIZE - v->code_len);
	v->init.rip = DT_CODE_BASE + v->code_off;
}

/* ---- encoder ---- */

struct dt_enc {
	uint8_t pfx[8];
	unsigned npfx;
	uint8_t rex; /* 0: none */
	bool modrm, sib, riprel;
	uint8_t mod, reg, rm, ss, idx, base;
	unsigned dsz, isz;
	int32_t disp;
	uint64_t imm;
	uint64_t target; /* RIP-relative target */
	bool addr32;
};

/* Chosen operands, for the hooks. */
struct dt_opnd {
	unsigned os;      /* operand size in bytes */
	int reg;          /* ModRM.reg register (GPR/XMM/st number) or -1 */
	int rm;           /* r/m register, or -1 for memory */
	bool mem;
	uint64_t ea;
	unsigned msz;
	bool rex;         /* a REX prefix is present (byte registers) */
};

static unsigned dt_enc_emit(const struct dt_enc *e, const struct dt_tmpl *t, uint8_t opreg,
			    uint64_t rip, uint8_t *out)
{
	unsigned n = 0;
	for (unsigned i = 0; i < e->npfx; i++)
		out[n++] = e->pfx[i];
	if (e->rex)
		out[n++] = e->rex;
	if (t->map >= 1)
		out[n++] = 0x0f;
	if (t->map == 2)
		out[n++] = 0x38;
	if (t->map == 3)
		out[n++] = 0x3a;
	out[n++] = (uint8_t)(t->op | (t->form == FM_OPREG ? (opreg & 7) : 0));
	if (e->modrm) {
		out[n++] = (uint8_t)(e->mod << 6 | (e->reg & 7) << 3 | (e->rm & 7));
		if (e->sib)
			out[n++] = (uint8_t)(e->ss << 6 | (e->idx & 7) << 3 | (e->base & 7));
	}
	unsigned disp_at = n;
	for (unsigned i = 0; i < e->dsz; i++)
		out[n++] = (uint8_t)((uint32_t)e->disp >> (8 * i));
	for (unsigned i = 0; i < e->isz; i++)
		out[n++] = (uint8_t)(e->imm >> (8 * i));
	if (e->riprel) {
		uint64_t next = rip + n;
		int32_t d = (int32_t)(e->target - next);
		for (unsigned i = 0; i < 4; i++)
			out[disp_at + i] = (uint8_t)((uint32_t)d >> (8 * i));
	}
	return n;
}

static bool dt_reg_free(struct dt_gen *g, int r, uint16_t excl, bool byte_norex)
{
	uint16_t bad = g->addr_regs | excl;
	if (bad & (1u << r))
		return false;
	if (byte_norex && r >= 4 && r < 8 && (bad & (1u << (r - 4))))
		return false; /* AH..BH alias RAX..RBX */
	return true;
}

static int dt_pick_gpr(struct dt_gen *g, uint16_t excl, bool byte_norex)
{
	for (int tries = 0; tries < 64; tries++) {
		int r = (int)dt_rng_below(&g->rng, 16);
		if (dt_reg_free(g, r, excl, byte_norex))
			return r;
	}
	for (int r = 0; r < 16; r++)
		if (dt_reg_free(g, r, excl, byte_norex))
			return r;
	return 0;
}

/* Offset in the data region for an access of n bytes. */
static int64_t dt_pick_off(struct dt_gen *g, unsigned n, unsigned align)
{
	struct dt_rng *r = &g->rng;
	unsigned a = align ? align : (n <= 16 && !(n & (n - 1)) ? n : 1);
	unsigned k = (unsigned)dt_rng_below(r, 100);
	int64_t size = (int64_t)DT_DATA_SIZE;
	if (n < 2)
		k = k < 80 ? k : 0;
	if (k < (align ? 88u : 65u))
		return (int64_t)(dt_rng_below(r, (uint64_t)(size - n) / a + 1) * a);
	if (k < 78)
		return (int64_t)dt_rng_below(r, (uint64_t)(size - n) + 1); /* misaligned */
	if (k < 90)
		return 0x1000 - 1 - (int64_t)dt_rng_below(r, n - 1); /* crosses pages 0/1 */
	if (k < 96)
		return size - 1 - (int64_t)dt_rng_below(r, n - 1); /* runs off the end */
	return -1 - (int64_t)dt_rng_below(r, n); /* starts below the region */
}

/* Fills e's ModRM/SIB/disp for a memory operand at a random address in the
 * data region and sets the address registers' values. excl: registers that
 * must not serve as base/index. Returns the effective address. */
static uint64_t dt_gen_mem(struct dt_gen *g, struct dt_enc *e, unsigned n, unsigned align,
			   uint16_t excl, int64_t force_off, bool locked)
{
	struct dt_rng *r = &g->rng;
	struct dt_vector *v = g->v;
	int64_t off = force_off != INT64_MIN ? force_off : dt_pick_off(g, n, align);
	/* A locked access split across cache lines is a bus lock: Linux then
	 * throttles the task (split_lock_mitigate, bus-lock rate limit shared
	 * by the whole machine) for 10 ms to many seconds, even when the access
	 * then faults. Never generate one. */
	for (int i = 0; locked && i < 32 && (off & 63) + n > 64; i++)
		off = dt_pick_off(g, n, align);
	if (locked && (off & 63) + n > 64)
		off &= ~63LL;
	uint64_t lin = DT_DATA_BASE + (uint64_t)off;
	uint64_t ea = lin; /* offset before the segment base is added */
	e->modrm = true;
	unsigned form = (unsigned)dt_rng_below(r, 100);
	if (g->fixed_base >= 0)
		form = 10 + form % 40; /* base (+disp) only */
	/* GS override: the segment base is added after the (possibly 32-bit)
	 * offset computation (Intel SDM Vol. 1 3.3.7). One base per vector. */
	bool gs = g->fixed_base < 0 && !v->nins && dt_rng_chance(r, 8);
	bool a32 = g->fixed_base < 0 && form >= 12 && dt_rng_chance(r, 12);
	if (gs) {
		uint64_t gsb;
		if (form < 12)
			gsb = dt_rng_below(r, 0x20000); /* disp32 must still reach */
		else if (a32 || dt_rng_chance(r, 50))
			gsb = lin - dt_rng_below(r, lin + 1);
		else /* Linux only accepts user-space bases (below TASK_SIZE) */
			gsb = dt_rng_below(r, 0x7fff00000000ULL);
		v->gs_base = gsb;
		ea = lin - gsb;
		memmove(e->pfx + 1, e->pfx, e->npfx);
		e->pfx[0] = 0x65;
		e->npfx++;
	}
	if (form < 8) { /* RIP-relative */
		e->mod = 0;
		e->rm = 5;
		e->dsz = 4;
		e->riprel = true;
		e->target = ea;
		return lin;
	}
	if (form < 12) { /* absolute disp32 through SIB */
		e->mod = 0;
		e->rm = 4;
		e->sib = true;
		e->idx = 4;
		e->base = 5;
		e->ss = (uint8_t)dt_rng_below(r, 4);
		e->dsz = 4;
		e->disp = (int32_t)ea;
		return lin;
	}
	/* Now and then a non-canonical address: #GP, or #SS when the base is
	 * RSP or RBP (stack segment; Intel SDM Vol. 3 §6.15, #SS). */
	if (g->fixed_base < 0 && !a32 && !gs && dt_rng_chance(r, 3)) {
		lin += dt_rng_chance(r, 50) ? 1ULL << 47 : 0xfff0000000000000ULL;
		ea = lin;
	}
	int base = g->fixed_base >= 0 ? g->fixed_base : dt_pick_gpr(g, excl, false);
	bool use_idx = g->fixed_base < 0 && form >= 60;
	int idx = -1;
	uint64_t idxval = 0;
	unsigned ss = 0;
	if (use_idx) {
		idx = dt_pick_gpr(g, (uint16_t)(excl | 1u << base | 1u << R_SP), false);
		ss = (unsigned)dt_rng_below(r, 4);
		idxval = dt_rng_chance(r, 60) ? (uint64_t)((int64_t)dt_rng_below(r, 129) - 64)
					      : dt_gen_value(g);
		v->init.gpr[idx] = idxval;
	}
	unsigned dk = (unsigned)dt_rng_below(r, 3);
	int32_t disp = 0;
	if (dk == 1)
		disp = (int32_t)dt_rng_below(r, 256) - 128;
	else if (dk == 2)
		disp = dt_rng_chance(r, 50) ? (int32_t)dt_rng_below(r, 0x20000) - 0x10000
					    : (int32_t)dt_rng_next(r);
	/* [index*s + disp32]; not with a GS base, which may be too far from
	 * the data for a disp32 to make up */
	bool no_base = use_idx && !gs && dt_rng_chance(r, 10);
	if (no_base) {
		/* disp32 = ea - index*scale must fit: pick a small index */
		idxval = dt_rng_below(r, 0x10000);
		v->init.gpr[idx] = idxval;
		disp = (int32_t)(int64_t)(ea - (idxval << ss));
		dk = 2;
	}
	if ((base & 7) == 5 && dk == 0 && !no_base)
		dk = 1; /* mod=00 rm=101 would be RIP-relative */
	e->mod = no_base ? 0 : (uint8_t)dk;
	e->dsz = dk == 0 ? 0 : dk == 1 ? 1 : 4;
	e->disp = disp;
	if (use_idx || (base & 7) == 4) {
		e->rm = 4;
		e->sib = true;
		e->ss = (uint8_t)ss;
		e->idx = use_idx ? (uint8_t)idx : 4;
		e->base = no_base ? 5 : (uint8_t)base;
		if (use_idx && idx >= 8)
			e->rex |= 0x42;
	} else {
		e->rm = (uint8_t)base;
	}
	if (!no_base && base >= 8)
		e->rex |= 0x41;
	if (!no_base) {
		if (g->fixed_base >= 0) {
			/* base fixed: adjust disp instead */
			int64_t d = (int64_t)(ea - v->init.gpr[base]);
			e->disp = (int32_t)d;
			e->dsz = 4;
			e->mod = 2;
		} else {
			uint64_t bv = ea - (uint64_t)(int64_t)disp - (idxval << ss);
			if (a32) {
				bv = (uint32_t)bv;
				if (dt_rng_chance(r, 70))
					bv |= dt_rng_next(r) << 32; /* ignored upper half */
				if (use_idx && dt_rng_chance(r, 50))
					v->init.gpr[idx] |= dt_rng_next(r) << 32;
			}
			v->init.gpr[base] = bv;
		}
		g->addr_regs |= (uint16_t)(1u << base);
	}
	if (use_idx)
		g->addr_regs |= (uint16_t)(1u << idx);
	if (a32 && e->npfx < sizeof(e->pfx))
		e->pfx[e->npfx++] = 0x67;
	e->addr32 = a32;
	return lin;
}

/* ---- register value helpers for hooks ---- */

static void dt_set_gpr_part(struct dt_gen *g, int r, unsigned os, bool rex, uint64_t val)
{
	uint64_t *p = &g->v->init.gpr[r];
	if (os == 1 && !rex && r >= 4 && r < 8) {
		p = &g->v->init.gpr[r - 4];
		*p = (*p & ~0xff00ULL) | (val & 0xff) << 8;
		return;
	}
	uint64_t m = os == 8 ? ~0ULL : (1ULL << (8 * os)) - 1;
	*p = (*p & ~m) | (val & m);
}

static uint64_t dt_get_gpr_part(struct dt_gen *g, int r, unsigned os, bool rex)
{
	uint64_t v = g->v->init.gpr[r];
	if (os == 1 && !rex && r >= 4 && r < 8)
		return (g->v->init.gpr[r - 4] >> 8) & 0xff;
	return os == 8 ? v : v & ((1ULL << (8 * os)) - 1);
}

static bool dt_in_data(uint64_t ea, unsigned n)
{
	return ea >= DT_DATA_BASE && ea + n <= DT_DATA_BASE + DT_DATA_SIZE && ea + n > ea;
}

static void dt_set_mem(struct dt_gen *g, uint64_t ea, unsigned n, uint64_t val)
{
	for (unsigned i = 0; i < n && i < 8; i++)
		if (dt_in_data(ea + i, 1))
			g->v->data[ea + i - DT_DATA_BASE] = (uint8_t)(val >> (8 * i));
}

static uint64_t dt_get_mem(struct dt_gen *g, uint64_t ea, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n && i < 8; i++)
		if (dt_in_data(ea + i, 1))
			v |= (uint64_t)g->v->data[ea + i - DT_DATA_BASE] << (8 * i);
	return v;
}

static uint64_t dt_get_rm(struct dt_gen *g, const struct dt_opnd *o)
{
	return o->mem ? dt_get_mem(g, o->ea, o->os) : dt_get_gpr_part(g, o->rm, o->os, o->rex);
}

static void dt_set_rm(struct dt_gen *g, const struct dt_opnd *o, uint64_t val)
{
	if (o->mem)
		dt_set_mem(g, o->ea, o->os, val);
	else
		dt_set_gpr_part(g, o->rm, o->os, o->rex, val);
}

static uint64_t dt_edge_count(struct dt_gen *g, unsigned os)
{
	unsigned w = os * 8;
	const uint64_t c[] = { 0, 1, 2, w - 1, w, w + 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65 };
	if (dt_rng_chance(&g->rng, 75))
		return c[dt_rng_below(&g->rng, sizeof(c) / sizeof(c[0]))];
	return dt_rng_below(&g->rng, 256);
}

/* Stack pointer in the data region: mostly aligned, sometimes at the edges. */
static uint64_t dt_stack_ptr(struct dt_gen *g)
{
	struct dt_rng *r = &g->rng;
	unsigned k = (unsigned)dt_rng_below(r, 100);
	if (k < 80)
		return DT_DATA_BASE + 0x40 + (dt_rng_below(r, (DT_DATA_SIZE - 0x80) / 8) * 8);
	if (k < 88)
		return DT_DATA_BASE + 0x40 + dt_rng_below(r, DT_DATA_SIZE - 0x80);
	if (k < 94)
		return DT_DATA_BASE + dt_rng_below(r, 16); /* pushes fault */
	return DT_DATA_BASE + DT_DATA_SIZE - dt_rng_below(r, 16); /* pops fault */
}

static void dt_hook(struct dt_gen *g, const struct dt_tmpl *t, struct dt_enc *e,
		    const struct dt_opnd *o)
{
	struct dt_vector *v = g->v;
	struct dt_rng *r = &g->rng;
	unsigned w = o->os * 8;

	switch (t->hook) {
	case HK_SHIFT: {
		uint64_t count;
		if (t->op == 0xd0 || t->op == 0xd1) {
			count = 1;
		} else if (t->op == 0xd2 || t->op == 0xd3) {
			count = dt_edge_count(g, o->os);
			v->init.gpr[R_CX] = (v->init.gpr[R_CX] & ~0xffULL) | count;
		} else {
			count = dt_edge_count(g, o->os) & 0xff;
			e->imm = count;
		}
		unsigned m = (unsigned)(count & (o->os == 8 ? 63 : 31));
		int ext = t->ext;
		if (m == 0)
			break;
		if (m != 1)
			v->flags_cmp &= ~F_OF;
		if (ext >= 4) {
			v->flags_cmp &= ~F_AF;
			if (ext != 7 && m >= w)
				v->flags_cmp &= ~F_CF;
		}
		break;
	}
	case HK_SHXD: {
		uint64_t count = dt_edge_count(g, o->os) & 0xff;
		unsigned m = (unsigned)(count & (o->os == 8 ? 63 : 31));
		if (o->os == 2 && m > 16) {
			count = dt_rng_below(r, 17);
			m = (unsigned)count;
		}
		if (t->op == 0xa5 || t->op == 0xad)
			v->init.gpr[R_CX] = (v->init.gpr[R_CX] & ~0xffULL) | count;
		else
			e->imm = count;
		if (m == 0)
			break;
		v->flags_cmp &= ~F_AF;
		if (m != 1)
			v->flags_cmp &= ~F_OF;
		break;
	}
	case HK_DIV: {
		unsigned k = (unsigned)dt_rng_below(r, 100);
		uint64_t mask = o->os == 8 ? ~0ULL : (1ULL << w) - 1;
		uint64_t d = dt_gen_value(g) & mask;
		if (k < 10)
			d = 0;
		else if (!d)
			d = 3;
		dt_set_rm(g, o, d);
		if (k >= 10 && k < 85) {
			uint64_t lo = dt_gen_value(g) & mask, hi;
			if (t->ext == 6)
				hi = d ? dt_rng_next(r) % d : 0;
			else
				hi = (lo >> (w - 1)) & 1 ? mask : 0;
			if (o->os == 1) {
				v->init.gpr[R_AX] = (v->init.gpr[R_AX] & ~0xffffULL) | (hi & 0xff) << 8 |
						    (lo & 0xff);
			} else {
				dt_set_gpr_part(g, R_AX, o->os, true, lo);
				dt_set_gpr_part(g, R_DX, o->os, true, hi);
			}
		}
		/* re-read: r/m may alias AH etc. */
		if (!dt_get_rm(g, o) && k >= 10)
			dt_set_rm(g, o, 1);
		break;
	}
	case HK_BTMEM: {
		if (!o->mem)
			break;
		int64_t lo = -(int64_t)(o->ea - DT_DATA_BASE) / o->os;
		int64_t hi = (int64_t)(DT_DATA_BASE + DT_DATA_SIZE - o->os - o->ea) / o->os;
		if (o->os == 2) {
			lo = lo < -2048 ? -2048 : lo;
			hi = hi > 2047 ? 2047 : hi;
		}
		if (hi < lo)
			break;
		int64_t k = lo + (int64_t)dt_rng_below(r, (uint64_t)(hi - lo + 1));
		int64_t bit = k * (int64_t)w + (int64_t)dt_rng_below(r, w);
		dt_set_gpr_part(g, o->reg, o->os, true, (uint64_t)bit);
		break;
	}
	case HK_BSF:
	case HK_CNT:
		if (dt_rng_chance(r, 25))
			dt_set_rm(g, o, 0);
		if (t->hook == HK_BSF && dt_get_rm(g, o) == 0) {
			/* Intel SDM: destination undefined; hardware keeps it (and a
			 * 32-bit form zero-extends, as Linux's ffs/fls rely on). */
			if (o->os == 4)
				v->gpr_cmp[o->reg] = 0xffffffffULL;
		}
		break;
	case HK_BSWAP:
		if (o->os == 2)
			v->gpr_cmp[o->reg] = ~0xffffULL; /* result undefined (SDM BSWAP) */
		break;
	case HK_CMPXCHG:
		if (dt_rng_chance(r, 50))
			dt_set_gpr_part(g, R_AX, o->os, true, dt_get_rm(g, o));
		break;
	case HK_CX8:
		if (o->mem && dt_rng_chance(r, 50)) {
			unsigned h = o->msz == 16 ? 8 : 4;
			dt_set_gpr_part(g, R_AX, h, true, dt_get_mem(g, o->ea, h));
			dt_set_gpr_part(g, R_DX, h, true, dt_get_mem(g, o->ea + h, h));
		}
		break;
	case HK_STACK:
	case HK_CALLIND:
		v->init.gpr[R_SP] = dt_stack_ptr(g);
		break;
	case HK_POPF: {
		v->init.gpr[R_SP] = dt_stack_ptr(g);
		uint64_t f = (dt_rng_next(r) & (F_ARITH | F_DF | F_ID | 0x4000 | 0x3000 | F_IF)) | 2;
		dt_set_mem(g, v->init.gpr[R_SP], o->os == 2 ? 2 : 8, f);
		v->flags_cmp |= F_ID | F_IF | 0x7000;
		break;
	}
	case HK_ENTER: {
		v->init.gpr[R_SP] = dt_stack_ptr(g);
		v->init.gpr[R_BP] = DT_DATA_BASE + 0x100 + dt_rng_below(r, DT_DATA_SIZE - 0x200);
		unsigned level = dt_rng_chance(r, 70) ? 0 : (unsigned)dt_rng_below(r, 4);
		if (dt_rng_chance(r, 5))
			level = 32 + (unsigned)dt_rng_below(r, 3); /* masked to 5 bits */
		e->imm = (dt_rng_below(r, 64) & ~7ULL) | (uint64_t)level << 16;
		break;
	}
	case HK_LDMXCSR: {
		uint32_t m;
		if (dt_rng_chance(r, 85))
			m = (uint32_t)dt_rng_below(r, 0x10000);
		else
			m = (uint32_t)dt_rng_next(r);
		if (o->mem)
			dt_set_mem(g, o->ea, 4, m);
		break;
	}
	case HK_FXRSTOR: {
		if (!o->mem || !dt_in_data(o->ea, 512))
			break;
		uint8_t *img = v->data + (o->ea - DT_DATA_BASE);
		uint8_t *save = v->init.fxsave;
		uint8_t keep[512];
		memcpy(keep, save, 512);
		dt_gen_x87_stack(g);
		dt_gen_random_mxcsr(g);
		memcpy(img, save, FX_USED);
		memcpy(save, keep, 512);
		if (dt_rng_chance(r, 10))
			img[FX_MXCSR + 2] = (uint8_t)(1 + dt_rng_below(r, 255)); /* reserved: #GP */
		break;
	}
	case HK_IMM3:
		if (dt_rng_chance(r, 90))
			e->imm &= 7;
		break;
	case HK_FLDCW:
		if (o->mem)
			dt_set_mem(g, o->ea, 2,
				   0x40 | (dt_rng_chance(r, 80) ? 0x3f : dt_rng_below(r, 64)) |
					   (uint64_t)(unsigned[]){ 0, 2, 3, 3 }[dt_rng_below(r, 4)] << 8 |
					   dt_rng_below(r, 4) << 10);
		break;
	case HK_MASKMOV:
		v->init.gpr[R_DI] = DT_DATA_BASE + dt_rng_below(r, DT_DATA_SIZE - 16);
		break;
	default:
		break;
	}
}

static unsigned dt_pick_os(struct dt_gen *g, const struct dt_tmpl *t)
{
	struct dt_rng *r = &g->rng;
	switch (t->osz) {
	case OS_B:
		return 1;
	case OS_V: {
		unsigned k = (unsigned)dt_rng_below(r, 10);
		return k < 2 ? 2 : k < 6 ? 4 : 8;
	}
	case OS_V64:
		return dt_rng_chance(r, 20) ? 2 : 8;
	case OS_DQ:
		return dt_rng_chance(r, 50) ? 4 : 8;
	case OS_W:
		return 2;
	case OS_Q:
		return 8;
	default:
		return 4;
	}
}

void dt_gen_tmpl(struct dt_gen *g, const struct dt_tmpl *t)
{
	struct dt_rng *r = &g->rng;
	struct dt_vector *v = g->v;
	struct dt_enc e;
	struct dt_opnd o;
	memset(&e, 0, sizeof(e));
	memset(&o, 0, sizeof(o));
	o.reg = -1;
	o.rm = -1;

	unsigned os = dt_pick_os(g, t);
	o.os = os;
	bool w = os == 8 && (t->osz == OS_V || t->osz == OS_DQ || t->osz == OS_Q);
	if (t->osz == OS_N && t->regk != RK_X87 && dt_rng_chance(r, 10))
		w = true; /* REX.W is ignored here */
	bool want_mem = t->form == FM_M || (t->form == FM_RM && dt_rng_chance(r, 50));
	bool locked = t->map == 0 && (t->op == 0x86 || t->op == 0x87); /* XCHG locks implicitly */
	if (want_mem && t->lockable && dt_rng_chance(r, 20)) {
		e.pfx[e.npfx++] = 0xf0;
		locked = true;
	}
	if (dt_rng_chance(r, 4))
		e.pfx[e.npfx++] = (uint8_t[]){ 0x2e, 0x3e, 0x26, 0x36 }[dt_rng_below(r, 4)];
	/* F2/F3 on one-byte-map integer instructions is ignored (or an HLE
	 * hint with LOCK): the decoder must not change meaning. */
	if (t->map == 0 && t->regk == RK_GPR && !t->pfx && t->hook != HK_RET &&
	    dt_rng_chance(r, 4))
		e.pfx[e.npfx++] = dt_rng_chance(r, 50) ? 0xf2 : 0xf3;
	if (os == 2 && (t->osz == OS_V || t->osz == OS_V64))
		e.pfx[e.npfx++] = 0x66;
	if (t->pfx)
		e.pfx[e.npfx++] = t->pfx;
	if (w)
		e.rex |= 0x48;
	/* A REX prefix followed by a legacy prefix is ignored (Intel SDM Vol. 2
	 * §2.2.1): put a stale one in front now and then. */
	if (e.npfx && e.npfx < sizeof(e.pfx) && dt_rng_chance(r, 4)) {
		memmove(e.pfx + 1, e.pfx, e.npfx);
		e.pfx[0] = (uint8_t)(0x40 | dt_rng_below(r, 16));
		e.npfx++;
	}
	bool byte = t->osz == OS_B;
	bool extra_rex = t->regk != RK_X87 && dt_rng_chance(r, 15);
	if (extra_rex)
		e.rex |= 0x40;

	bool reg_is_gpr = t->regk == RK_GPR || t->regk == RK_GPR_XMM;
	bool rm_is_gpr = t->regk == RK_GPR || t->regk == RK_XMM_GPR;
	uint16_t excl = t->implicit;
	uint8_t opreg = 0;

	if (t->form == FM_OPREG) {
		int rr = dt_pick_gpr(g, excl, byte && !e.rex);
		if (byte && rr >= 4 && rr < 8 && !e.rex && dt_rng_chance(r, 50))
			e.rex |= 0x40;
		opreg = (uint8_t)rr;
		if (rr >= 8)
			e.rex |= 0x41;
		o.reg = rr;
		o.rm = rr;
		g->used_regs |= (uint16_t)(1u << rr);
	} else if (t->form != FM_NONE) {
		e.modrm = true;
		if (t->ext >= 0) {
			e.reg = (uint8_t)t->ext;
		} else if (reg_is_gpr) {
			int rr = dt_pick_gpr(g, excl, byte && !e.rex);
			e.reg = (uint8_t)rr;
			o.reg = rr;
			excl |= (uint16_t)(1u << rr);
			if (byte && !e.rex && rr >= 4 && rr < 8)
				excl |= (uint16_t)(1u << (rr - 4));
		} else {
			int rr = t->regk == RK_X87 ? (int)dt_rng_below(r, 8) : (int)dt_rng_below(r, 16);
			e.reg = (uint8_t)rr;
			o.reg = rr;
		}
		if (e.reg >= 8)
			e.rex |= 0x44;
		if (want_mem) {
			unsigned msz = t->msz ? t->msz : os;
			o.mem = true;
			o.msz = msz;
			o.ea = dt_gen_mem(g, &e, msz, t->align, excl, INT64_MIN, locked);
			if (msz > 16)
				v->cmp |= DT_CMP_PF_PAGE;
		} else {
			int rr;
			if (t->rm_fix1)
				rr = t->rm_fix1 - 1;
			else if (t->regk == RK_X87)
				rr = (int)dt_rng_below(r, 8);
			else if (rm_is_gpr)
				rr = dt_pick_gpr(g, excl, byte && !e.rex);
			else
				rr = (int)dt_rng_below(r, 16);
			e.mod = 3;
			e.rm = (uint8_t)rr;
			o.rm = rr;
			if (rr >= 8)
				e.rex |= 0x41;
		}
	}
	/* Byte operations on AH..BH cannot have a REX prefix: if one appeared
	 * (REX.R/B for r8-r15) the registers 4-7 mean SPL..DIL, which is what
	 * the encoding says, so values stay consistent; only record it. */
	o.rex = e.rex != 0;

	switch (t->imm) {
	case IM_B:
		e.isz = 1;
		e.imm = dt_gen_value(g) & 0xff;
		break;
	case IM_W:
		e.isz = 2;
		e.imm = dt_gen_value(g) & 0xffff;
		break;
	case IM_Z:
		e.isz = os == 2 ? 2 : 4;
		e.imm = dt_gen_value(g);
		break;
	case IM_V:
		e.isz = os == 8 ? 8 : os == 2 ? 2 : 4;
		e.imm = dt_gen_value(g);
		break;
	default:
		break;
	}
	if (t->op == 0xc8 && t->map == 0) /* ENTER iw, ib */
		e.isz = 3;

	/* FP operands: interesting values in the registers and memory read. */
	if (t->lane != LN_INT) {
		if (t->regk == RK_XMM || t->regk == RK_XMM_GPR) {
			if (o.reg >= 0)
				dt_gen_fp_fill(g, v->init.fxsave + FX_XMM(o.reg), 16, t->lane);
		}
		if ((t->regk == RK_XMM || t->regk == RK_GPR_XMM) && o.rm >= 0)
			dt_gen_fp_fill(g, v->init.fxsave + FX_XMM(o.rm), 16, t->lane);
		if (o.mem && dt_in_data(o.ea, o.msz))
			dt_gen_fp_fill(g, v->data + (o.ea - DT_DATA_BASE), o.msz, t->lane);
		else if (o.mem) {
			uint8_t tmp[16];
			dt_gen_fp_fill(g, tmp, sizeof(tmp), t->lane);
			for (unsigned i = 0; i < 16 && i < o.msz; i++)
				if (dt_in_data(o.ea + i, 1))
					v->data[o.ea + i - DT_DATA_BASE] = tmp[i];
		}
		if (t->regk != RK_X87)
			dt_gen_random_mxcsr(g);
	}

	dt_hook(g, t, &e, &o);
	if (t->undef)
		v->flags_cmp &= ~t->undef;
	if (t->fsw_undef)
		v->fsw_cmp &= (uint16_t)~t->fsw_undef;

	uint8_t buf[32];
	unsigned n = dt_enc_emit(&e, t, opreg, DT_CODE_BASE + v->code_off + g->pos, buf);
	if (!v->nins)
		snprintf(v->name, sizeof(v->name), "%s", t->name);
	dt_gen_emit(g, buf, n);

	if (t->hook == HK_RET) {
		/* The return address: the end INT3, other code, unmapped or
		 * non-canonical (#GP at the RET on Intel). */
		uint64_t sp = v->init.gpr[R_SP] = dt_stack_ptr(g);
		uint64_t ra;
		unsigned k = (unsigned)dt_rng_below(r, 100);
		if (k < 60)
			ra = DT_CODE_BASE + v->code_off + g->pos;
		else if (k < 80)
			ra = DT_CODE_BASE + dt_rng_below(r, DT_CODE_SIZE);
		else if (k < 90)
			ra = 0x0000123456789000ULL + dt_rng_below(r, 4096);
		else
			ra = 0x8000000000000000ULL | dt_rng_next(r);
		dt_set_mem(g, sp, 8, ra);
	}
	if (t->hook == HK_CALLIND) {
		uint64_t ta;
		unsigned k = (unsigned)dt_rng_below(r, 100);
		if (k < 60)
			ta = DT_CODE_BASE + v->code_off + g->pos;
		else if (k < 75)
			ta = DT_CODE_BASE + dt_rng_below(r, DT_CODE_SIZE);
		else if (k < 85)
			ta = DT_DATA_BASE + dt_rng_below(r, DT_DATA_SIZE); /* NX: #PF */
		else if (k < 92)
			ta = 0x0000123456789000ULL + dt_rng_below(r, 4096);
		else
			ta = 0x8000000000000000ULL | dt_rng_next(r);
		o.os = 8;
		dt_set_rm(g, &o, ta);
	}
}

void dt_gen_one(const struct dt_group *grp, uint64_t seed, uint32_t index, struct dt_vector *v)
{
	struct dt_gen g;
	dt_gen_begin(&g, v, seed);
	g.grp = grp;
	v->index = index;
	if (grp->gen) {
		grp->gen(&g);
	} else {
		const struct dt_tmpl *t = &grp->tmpl[dt_rng_below(&g.rng, *grp->ntmpl)];
		dt_gen_tmpl(&g, t);
	}
	dt_gen_end(&g);
}
