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

/* Condition codes tttn (Vol. 1 Appendix B). Common compare-and-branch
 * pairs are answered straight from the operands. */
bool cpu_cond(struct cpu *c, unsigned cc)
{
	uint64_t f;
	bool r;

	if (c->cc_op == CC_SUB) {
		uint64_t m = size_mask(c->cc_size);
		uint64_t a = c->cc_a & m, b = c->cc_b & m;

		if ((c->cc_r & m) == ((a - b) & m)) { /* no borrow in */
			switch (cc) {
			case 2: return a < b;
			case 3: return a >= b;
			case 6: return a <= b;
			case 7: return a > b;
			case 0xc: return (int64_t)(a << (64 - c->cc_size * 8)) <
					 (int64_t)(b << (64 - c->cc_size * 8));
			case 0xd: return (int64_t)(a << (64 - c->cc_size * 8)) >=
					 (int64_t)(b << (64 - c->cc_size * 8));
			case 0xe: return (int64_t)(a << (64 - c->cc_size * 8)) <=
					 (int64_t)(b << (64 - c->cc_size * 8));
			case 0xf: return (int64_t)(a << (64 - c->cc_size * 8)) >
					 (int64_t)(b << (64 - c->cc_size * 8));
			default: break;
			}
		}
		switch (cc) {
		case 4: return (c->cc_r & m) == 0;
		case 5: return (c->cc_r & m) != 0;
		default: break;
		}
	} else if (c->cc_op == CC_LOGIC) {
		/* CF = OF = 0: every condition follows from the result. */
		uint64_t m = size_mask(c->cc_size), rr = c->cc_r & m;
		bool zf = rr == 0, sf = (rr >> (c->cc_size * 8 - 1)) & 1;

		switch (cc) {
		case 0: case 2: return false;
		case 1: case 3: return true;
		case 4: case 6: return zf;
		case 5: case 7: return !zf;
		case 8: case 0xc: return sf;
		case 9: case 0xd: return !sf;
		case 0xe: return zf || sf;
		case 0xf: return !zf && !sf;
		default: break; /* parity */
		}
	} else if (c->cc_op != CC_EAGER) {
		uint64_t m = size_mask(c->cc_size), rr = c->cc_r & m;

		switch (cc) {
		case 4: return rr == 0;
		case 5: return rr != 0;
		case 8: return (rr >> (c->cc_size * 8 - 1)) & 1;
		case 9: return !((rr >> (c->cc_size * 8 - 1)) & 1);
		default: break;
		}
	}
	f = cpu_get_flags(c);
	switch (cc >> 1) {
	case 0: r = f & FL_OF; break;
	case 1: r = f & FL_CF; break;
	case 2: r = f & FL_ZF; break;
	case 3: r = f & (FL_CF | FL_ZF); break;
	case 4: r = f & FL_SF; break;
	case 5: r = f & FL_PF; break;
	case 6: r = !(f & FL_SF) != !(f & FL_OF); break;
	default: r = (f & FL_ZF) || (!(f & FL_SF) != !(f & FL_OF)); break;
	}
	return (cc & 1) ? !r : r;
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
