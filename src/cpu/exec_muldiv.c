/* MUL, IMUL (one-, two- and three-operand forms), DIV and IDIV (Intel SDM
 * Vol. 2). Division by zero or a quotient that does not fit raises #DE
 * before anything is written. MUL/IMUL define only CF and OF; the other
 * status flags are undefined: like the Intel cores the differential tests
 * ran on, SF is the sign of the low half, PF its low byte's parity, ZF and
 * AF are cleared (undefined flags leak into later CMOVcc/Jcc). */
#include "cpu/cpu_int.h"

static void mul_flags(struct cpu *c, int size, uint64_t lo, bool over)
{
	uint64_t f = cpu_parity[lo & 0xff] | (((lo >> (size * 8 - 1)) & 1) ? FL_SF : 0);

	if (over)
		f |= FL_CF | FL_OF;
	cc_eager(c, f);
}

typedef unsigned __int128 u128;
typedef __int128 s128;

void cpu_muldiv(struct cpu *c, const struct insn *i);
void cpu_muldiv(struct cpu *c, const struct insn *i)
{
	int sz = i->osz;
	uint64_t m = size_mask(sz), src = rm_read(c, i, sz) & m;
	unsigned bits = (unsigned)sz * 8;

	switch (i->sub) {
	case 4: { /* MUL */
		u128 p = (u128)(c->gpr[0] & m) * src;
		uint64_t lo = (uint64_t)p & m, hi = (uint64_t)(p >> bits) & m;

		if (sz == 1) {
			reg_write(c, 0, 2, 0, (uint64_t)p & 0xffff);
		} else {
			reg_write(c, 0, sz, 0, lo);
			reg_write(c, 2, sz, 0, hi);
		}
		mul_flags(c, sz, lo, hi != 0);
		return;
	}
	case 5: { /* IMUL one-operand */
		s128 p = (s128)sext(c->gpr[0], sz) * (s128)sext(src, sz);
		uint64_t lo = (uint64_t)p & m, hi = (uint64_t)(p >> bits) & m;

		if (sz == 1) {
			reg_write(c, 0, 2, 0, (uint64_t)p & 0xffff);
		} else {
			reg_write(c, 0, sz, 0, lo);
			reg_write(c, 2, sz, 0, hi);
		}
		mul_flags(c, sz, lo, p != (s128)sext(lo, sz));
		return;
	}
	case 6: { /* DIV */
		u128 n;
		u128 q;

		if (src == 0)
			cpu_raise(c, CPU_VEC_DE, 0);
		if (sz == 1)
			n = c->gpr[0] & 0xffff;
		else
			n = ((u128)(c->gpr[2] & m) << bits) | (c->gpr[0] & m);
		q = n / src;
		if (q > m)
			cpu_raise(c, CPU_VEC_DE, 0);
		if (sz == 1) {
			reg_write(c, 0, 2, 0, ((uint64_t)(n % src) << 8) | (uint64_t)q);
		} else {
			reg_write(c, 0, sz, 0, (uint64_t)q);
			reg_write(c, 2, sz, 0, (uint64_t)(n % src));
		}
		return;
	}
	default: { /* IDIV */
		s128 n, q, r, d = sext(src, sz);
		s128 qmax = (s128)(m >> 1), qmin = -qmax - 1;

		if (d == 0)
			cpu_raise(c, CPU_VEC_DE, 0);
		if (sz == 1)
			n = (int16_t)c->gpr[0];
		else
			n = (s128)((((u128)(c->gpr[2] & m) << bits) | (c->gpr[0] & m))
				   << (128 - 2 * bits)) >> (128 - 2 * bits);
		if (sz == 8 && d == -1 && n == (s128)((u128)1 << 127))
			cpu_raise(c, CPU_VEC_DE, 0); /* the one quotient C cannot form */
		q = n / d;
		r = n % d;
		if (q > qmax || q < qmin)
			cpu_raise(c, CPU_VEC_DE, 0);
		if (sz == 1) {
			reg_write(c, 0, 2, 0, (((uint64_t)r & 0xff) << 8) | ((uint64_t)q & 0xff));
		} else {
			reg_write(c, 0, sz, 0, (uint64_t)q);
			reg_write(c, 2, sz, 0, (uint64_t)r);
		}
		return;
	}
	}
}

/* 0F AF, 69, 6B: IMUL r, r/m (, imm). */
static void h_imul_r(struct cpu *c, const struct insn *i)
{
	int sz = i->osz;
	int64_t a = sext(rm_read(c, i, sz), sz);
	int64_t b = i->op == OP_0F + 0xaf ? sext(c->gpr[i->reg], sz) : sext(i->imm, sz);
	s128 p = (s128)a * b;
	uint64_t lo = (uint64_t)p & size_mask(sz);

	reg_write(c, i->reg, sz, i->flags, lo);
	mul_flags(c, sz, lo, p != (s128)sext(lo, sz));
}

void cpu_exec_init_muldiv(void);
void cpu_exec_init_muldiv(void)
{
	cpu_handlers[OP_0F + 0xaf] = h_imul_r;
	cpu_handlers[0x69] = cpu_handlers[0x6b] = h_imul_r;
}
