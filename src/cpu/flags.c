/* Lazy arithmetic flags (Intel SDM Vol. 1 §3.4.3.1, Appendix A "EFLAGS
 * cross-reference"). The last flag-setting instruction leaves (op, size, a,
 * b, r); the six status flags are computed only when read. Carry and
 * overflow use the bitwise formulas that also hold with a carry/borrow in,
 * so ADC and SBB need no extra state. */
#include "cpu/cpu_int.h"

#define P4(x) ((0x6996 >> ((x) & 15)) & 1)
#define PB(x) ((P4(x) ^ P4((x) >> 4)) ? 0 : FL_PF)
#define P16(b) PB(b), PB(b + 1), PB(b + 2), PB(b + 3), PB(b + 4), PB(b + 5), PB(b + 6), PB(b + 7), \
	PB(b + 8), PB(b + 9), PB(b + 10), PB(b + 11), PB(b + 12), PB(b + 13), PB(b + 14), PB(b + 15)
const uint8_t cpu_parity[256] = {
	P16(0), P16(16), P16(32), P16(48), P16(64), P16(80), P16(96), P16(112),
	P16(128), P16(144), P16(160), P16(176), P16(192), P16(208), P16(224), P16(240),
};

static uint64_t lazy_arith(struct cpu *c)
{
	uint64_t a = c->cc_a, b = c->cc_b, r = c->cc_r, f;
	unsigned top = (unsigned)c->cc_size * 8 - 1;

	f = szp_flags(r, c->cc_size);
	switch (c->cc_op) {
	case CC_ADD:
		f |= (((a & b) | ((a | b) & ~r)) >> top) & 1 ? FL_CF : 0;
		f |= (((a ^ r) & (b ^ r)) >> top) & 1 ? FL_OF : 0;
		f |= (a ^ b ^ r) & FL_AF;
		break;
	case CC_SUB:
		f |= (((~a & b) | (~(a ^ b) & r)) >> top) & 1 ? FL_CF : 0;
		f |= (((a ^ b) & (a ^ r)) >> top) & 1 ? FL_OF : 0;
		f |= (a ^ b ^ r) & FL_AF;
		break;
	case CC_LOGIC:
		break;
	case CC_INC:
		f |= c->rflags & FL_CF;
		f |= (((a ^ r) & (1 ^ r)) >> top) & 1 ? FL_OF : 0;
		f |= (a ^ 1 ^ r) & FL_AF;
		break;
	case CC_DEC:
		f |= c->rflags & FL_CF;
		f |= (((a ^ 1) & (a ^ r)) >> top) & 1 ? FL_OF : 0;
		f |= (a ^ 1 ^ r) & FL_AF;
		break;
	default:
		return c->rflags & FL_ARITH;
	}
	return f;
}

uint64_t cpu_get_flags(struct cpu *c)
{
	if (c->cc_op == CC_EAGER)
		return c->rflags;
	return (c->rflags & ~(uint64_t)FL_ARITH) | lazy_arith(c);
}

void cpu_set_flags_arith(struct cpu *c, uint64_t f)
{
	c->cc_op = CC_EAGER;
	c->rflags = (c->rflags & ~(uint64_t)FL_ARITH) | (f & FL_ARITH);
}

void cpu_flags_eager(struct cpu *c)
{
	c->rflags = cpu_get_flags(c);
	c->cc_op = CC_EAGER;
}

bool cpu_cond(struct cpu *c, unsigned cc)
{
	return cpu_cond_inline(c, cc);
}

/* CF alone, for INC/DEC which must preserve it. */
void cpu_keep_cf_slow(struct cpu *c)
{
	uint64_t a = c->cc_a, b = c->cc_b, r = c->cc_r, cf = 0;
	unsigned top = (unsigned)c->cc_size * 8 - 1;

	if (c->cc_op == CC_ADD)
		cf = (((a & b) | ((a | b) & ~r)) >> top) & 1;
	else if (c->cc_op == CC_SUB)
		cf = (((~a & b) | (~(a ^ b) & r)) >> top) & 1;
	c->rflags = (c->rflags & ~(uint64_t)FL_CF) | cf;
}
