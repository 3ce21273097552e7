/* Integer ALU: the eight classic operations in all their encodings, INC/DEC,
 * NOT/NEG, TEST, MOV forms, LEA, XCHG, MOVZX/MOVSX/MOVSXD, CBW/CWD, CMOVcc,
 * SETcc, BSWAP, CMPXCHG, CMPXCHG8B/16B and XADD (Intel SDM Vol. 2). Flags are
 * left lazy (flags.c). */
#include "cpu/cpu_int.h"

/* ALU operation number = bits 5:3 of the opcode / ModRM.reg of group 1. */
enum { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP };

static inline uint64_t alu(struct cpu *c, unsigned op, int size, uint64_t a, uint64_t b)
{
	uint64_t m = size_mask(size), r, cf;

	a &= m, b &= m;
	switch (op) {
	case ALU_ADD:
		r = (a + b) & m;
		cc_set(c, CC_ADD, size, a, b, r);
		return r;
	case ALU_OR:
		r = a | b;
		cc_set(c, CC_LOGIC, size, a, b, r);
		return r;
	case ALU_ADC:
		cf = cpu_get_flags(c) & FL_CF;
		r = (a + b + cf) & m;
		cc_set(c, CC_ADD, size, a, b, r);
		return r;
	case ALU_SBB:
		cf = cpu_get_flags(c) & FL_CF;
		r = (a - b - cf) & m;
		cc_set(c, CC_SUB, size, a, b, r);
		return r;
	case ALU_AND:
		r = a & b;
		cc_set(c, CC_LOGIC, size, a, b, r);
		return r;
	case ALU_XOR:
		r = a ^ b;
		cc_set(c, CC_LOGIC, size, a, b, r);
		return r;
	default: /* SUB, CMP */
		r = (a - b) & m;
		cc_set(c, CC_SUB, size, a, b, r);
		return r;
	}
}

/* 00/08/.../38 and 01/09/...: r/m op= reg. */
static void h_alu_rm_r(struct cpu *c, const struct insn *i)
{
	unsigned op = (i->op >> 3) & 7;
	uint64_t b = reg_read(c, i->reg, i->osz, i->flags), a, r;

	if (op == ALU_CMP) {
		alu(c, op, i->osz, rm_read(c, i, i->osz), b);
		return;
	}
	a = cpu_rmw_read(c, i, i->osz);
	r = alu(c, op, i->osz, a, b);
	cpu_rmw_write(c, i, i->osz, r);
}

/* 02/0A/... and 03/0B/...: reg op= r/m. */
static void h_alu_r_rm(struct cpu *c, const struct insn *i)
{
	unsigned op = (i->op >> 3) & 7;
	uint64_t b = rm_read(c, i, i->osz);
	uint64_t r = alu(c, op, i->osz, reg_read(c, i->reg, i->osz, i->flags), b);

	if (op != ALU_CMP)
		reg_write(c, i->reg, i->osz, i->flags, r);
}

/* 04/0C/... and 05/0D/...: AL/eAX op= imm. */
static void h_alu_a_imm(struct cpu *c, const struct insn *i)
{
	unsigned op = (i->op >> 3) & 7;
	uint64_t r = alu(c, op, i->osz, reg_read(c, 0, i->osz, 0), i->imm);

	if (op != ALU_CMP)
		reg_write(c, 0, i->osz, 0, r);
}

/* 80/81/83: group 1, r/m op= imm. */
static void h_grp1(struct cpu *c, const struct insn *i)
{
	uint64_t a, r;

	if (i->sub == ALU_CMP) {
		alu(c, ALU_CMP, i->osz, rm_read(c, i, i->osz), i->imm);
		return;
	}
	a = cpu_rmw_read(c, i, i->osz);
	r = alu(c, i->sub, i->osz, a, i->imm);
	cpu_rmw_write(c, i, i->osz, r);
}

static void h_test_rm_r(struct cpu *c, const struct insn *i)
{
	uint64_t r = rm_read(c, i, i->osz) & reg_read(c, i->reg, i->osz, i->flags);

	cc_set(c, CC_LOGIC, i->osz, 0, 0, r);
}

static void h_test_a_imm(struct cpu *c, const struct insn *i)
{
	cc_set(c, CC_LOGIC, i->osz, 0, 0, reg_read(c, 0, i->osz, 0) & i->imm & size_mask(i->osz));
}

/* INC/DEC keep CF (Vol. 2 "INC"): park the current CF in rflags first. */

void cpu_incdec(struct cpu *c, const struct insn *i, bool dec);
void cpu_incdec(struct cpu *c, const struct insn *i, bool dec)
{
	uint64_t a = cpu_rmw_read(c, i, i->osz), m = size_mask(i->osz);
	uint64_t r = (dec ? a - 1 : a + 1) & m;

	cpu_rmw_write(c, i, i->osz, r);
	cpu_keep_cf(c);
	cc_set(c, dec ? CC_DEC : CC_INC, i->osz, a, 1, r);
}

/* F6/F7 group 3. */
void cpu_muldiv(struct cpu *c, const struct insn *i); /* exec_muldiv.c */
static void h_grp3(struct cpu *c, const struct insn *i)
{
	uint64_t a, m = size_mask(i->osz);

	switch (i->sub) {
	case 0:
	case 1:
		cc_set(c, CC_LOGIC, i->osz, 0, 0, rm_read(c, i, i->osz) & i->imm & m);
		return;
	case 2:
		a = cpu_rmw_read(c, i, i->osz);
		cpu_rmw_write(c, i, i->osz, ~a & m);
		return;
	case 3:
		a = cpu_rmw_read(c, i, i->osz) & m;
		cpu_rmw_write(c, i, i->osz, (0 - a) & m);
		cc_set(c, CC_SUB, i->osz, 0, a, (0 - a) & m);
		return;
	default:
		cpu_muldiv(c, i);
		return;
	}
}

static void h_mov_rm_r(struct cpu *c, const struct insn *i)
{
	rm_write(c, i, i->osz, reg_read(c, i->reg, i->osz, i->flags));
}

static void h_mov_r_rm(struct cpu *c, const struct insn *i)
{
	reg_write(c, i->reg, i->osz, i->flags, rm_read(c, i, i->osz));
}

static void h_mov_rm_imm(struct cpu *c, const struct insn *i)
{
	if (i->sub != 0)
		cpu_ud(c);
	rm_write(c, i, i->osz, i->imm);
}

static void h_mov_r_imm(struct cpu *c, const struct insn *i)
{
	reg_write(c, i->reg, i->osz, i->flags, i->imm);
}

/* A0-A3: MOV with a direct memory offset (moffs). */
static void h_mov_moffs(struct cpu *c, const struct insn *i)
{
	uint64_t addr = i->imm;

	if (i->seg == 5)
		addr += c->fs_base;
	else if (i->seg == 6)
		addr += c->gs_base;
	if (i->op & 2)
		mem_write(c, addr, i->osz, reg_read(c, 0, i->osz, 0));
	else
		reg_write(c, 0, i->osz, 0, mem_read(c, addr, i->osz));
}

/* 8C: MOV r/m16, Sreg. */
static void h_mov_from_sreg(struct cpu *c, const struct insn *i)
{
	if (i->sub > 5)
		cpu_ud(c);
	if (i->flags & IF_MEM)
		mem_write(c, insn_ea(c, i), 2, c->sel[i->sub]);
	else
		reg_write(c, i->rm, i->osz == 1 ? 2 : i->osz, i->flags, c->sel[i->sub]);
}

/* 8E: MOV Sreg, r/m16. User mode: only reloading the current selector (or
 * a null data selector) is accepted; anything else is #GP like a bad GDT
 * entry would be. */
static void h_mov_to_sreg(struct cpu *c, const struct insn *i)
{
	uint64_t v;

	if (i->sub == 1 || i->sub > 5)
		cpu_ud(c);
	v = rm_read(c, i, 2);
	if (v != c->sel[i->sub] && !(v <= 3 && i->sub != 2))
		cpu_raise(c, CPU_VEC_GP, (uint32_t)(v & 0xfffc));
	c->sel[i->sub] = (uint16_t)v;
}

static void h_lea(struct cpu *c, const struct insn *i)
{
	uint64_t ea = (uint64_t)(int64_t)i->disp;

	if (!(i->flags & IF_MEM))
		cpu_ud(c);
	if (i->flags & IF_RIPREL)
		ea += c->rip;
	else if (i->base != REG_NONE)
		ea += c->gpr[i->base];
	if (i->index != REG_NONE)
		ea += c->gpr[i->index] << i->scale;
	if (i->asz == 4)
		ea = (uint32_t)ea;
	else if (i->asz == 2)
		ea = (uint16_t)ea;
	reg_write(c, i->reg, i->osz, i->flags, ea);
}

/* XCHG with memory is always locked (Vol. 2 "XCHG"). */
static void h_xchg_rm_r(struct cpu *c, const struct insn *i)
{
	uint64_t r = reg_read(c, i->reg, i->osz, i->flags), old;

	if (i->flags & IF_MEM) {
		uint64_t addr = insn_ea(c, i);
		void *p = cpu_mem_ptr(c, addr, (unsigned)i->osz, CPU_ACC_WRITE);

		if (p && !((uintptr_t)p & (i->osz - 1))) {
			switch (i->osz) {
			case 1: old = __atomic_exchange_n((uint8_t *)p, (uint8_t)r, __ATOMIC_SEQ_CST); break;
			case 2: old = __atomic_exchange_n((uint16_t *)p, (uint16_t)r, __ATOMIC_SEQ_CST); break;
			case 4: old = __atomic_exchange_n((uint32_t *)p, (uint32_t)r, __ATOMIC_SEQ_CST); break;
			default: old = __atomic_exchange_n((uint64_t *)p, r, __ATOMIC_SEQ_CST); break;
			}
		} else {
			old = mem_read_w(c, addr, i->osz);
			mem_write(c, addr, i->osz, r);
		}
	} else {
		old = reg_read(c, i->rm, i->osz, i->flags);
		reg_write(c, i->rm, i->osz, i->flags, r);
	}
	reg_write(c, i->reg, i->osz, i->flags, old);
}

/* 90+r: XCHG rAX, r (90 alone is NOP, F3 90 is PAUSE). */
static void h_xchg_a_r(struct cpu *c, const struct insn *i)
{
	uint64_t a, b;

	if (i->reg == 0)
		return;
	a = reg_read(c, 0, i->osz, 0);
	b = reg_read(c, i->reg, i->osz, i->flags);
	reg_write(c, 0, i->osz, 0, b);
	reg_write(c, i->reg, i->osz, i->flags, a);
}

/* 63: MOVSXD (sign-extends with REX.W, a plain move otherwise). */
static void h_movsxd(struct cpu *c, const struct insn *i)
{
	if (i->osz == 8)
		reg_write(c, i->reg, 8, i->flags, (uint64_t)(int64_t)(int32_t)rm_read(c, i, 4));
	else
		reg_write(c, i->reg, i->osz, i->flags, rm_read(c, i, i->osz));
}

/* 0F B6/B7/BE/BF: MOVZX/MOVSX. */
static void h_movx(struct cpu *c, const struct insn *i)
{
	int ssz = (i->op & 1) ? 2 : 1;
	uint64_t v = rm_read(c, i, ssz);

	if (i->op & 8)
		v = (uint64_t)sext(v, ssz);
	reg_write(c, i->reg, i->osz, i->flags, v);
}

static void h_cbw(struct cpu *c, const struct insn *i)
{
	int half = i->osz / 2;

	reg_write(c, 0, i->osz, 0, (uint64_t)sext(c->gpr[0], half));
}

static void h_cwd(struct cpu *c, const struct insn *i)
{
	int64_t v = sext(c->gpr[0], i->osz);

	reg_write(c, 2, i->osz, 0, v < 0 ? ~0ULL : 0);
}

static void h_cmov(struct cpu *c, const struct insn *i)
{
	uint64_t v = rm_read(c, i, i->osz);

	if (cpu_cond(c, i->op & 15))
		reg_write(c, i->reg, i->osz, i->flags, v);
	else if (i->osz == 4)
		c->gpr[i->reg] = (uint32_t)c->gpr[i->reg]; /* still zero-extends (Vol. 2 "CMOVcc") */
}

static void h_setcc(struct cpu *c, const struct insn *i)
{
	rm_write(c, i, 1, cpu_cond(c, i->op & 15));
}

static void h_bswap(struct cpu *c, const struct insn *i)
{
	uint64_t v = c->gpr[i->reg];

	if (i->osz == 8)
		c->gpr[i->reg] = __builtin_bswap64(v);
	else if (i->osz == 4)
		c->gpr[i->reg] = __builtin_bswap32((uint32_t)v);
	else
		c->gpr[i->reg] &= ~0xffffULL; /* undefined; hardware yields 0 */
}

/* 0F B0/B1: CMPXCHG. The destination is always written (with its own value
 * on mismatch), Vol. 2 "CMPXCHG". */
static void h_cmpxchg(struct cpu *c, const struct insn *i)
{
	uint64_t m = size_mask(i->osz);
	uint64_t acc = reg_read(c, 0, i->osz, 0);
	uint64_t d = cpu_rmw_read(c, i, i->osz) & m;

	if (d == acc) {
		cpu_rmw_write(c, i, i->osz, reg_read(c, i->reg, i->osz, i->flags));
	} else {
		/* Memory is always written back; a register destination is
		 * left alone (no zero-extension), as on hardware. */
		if (i->flags & IF_MEM)
			cpu_rmw_write(c, i, i->osz, d);
		reg_write(c, 0, i->osz, 0, d);
	}
	cc_set(c, CC_SUB, i->osz, acc, d, (acc - d) & m);
}

/* 0F C0/C1: XADD. */
static void h_xadd(struct cpu *c, const struct insn *i)
{
	uint64_t m = size_mask(i->osz);
	uint64_t s = reg_read(c, i->reg, i->osz, i->flags);
	uint64_t d = cpu_rmw_read(c, i, i->osz) & m;
	uint64_t r = (d + s) & m;

	if (i->flags & IF_MEM) {
		cpu_rmw_write(c, i, i->osz, r);
		reg_write(c, i->reg, i->osz, i->flags, d);
	} else {
		reg_write(c, i->reg, i->osz, i->flags, d);
		reg_write(c, i->rm, i->osz, i->flags, r);
	}
	cc_set(c, CC_ADD, i->osz, d, s, r);
}

/* 0F C7 /1: CMPXCHG8B / CMPXCHG16B (REX.W, 16-byte aligned or #GP). */
static void h_cmpxchg8b(struct cpu *c, const struct insn *i)
{
	uint64_t addr;
	bool eq;

	if (!(i->flags & IF_MEM) || i->sub != 1)
		cpu_ud(c);
	addr = insn_ea(c, i);
	if (i->flags & IF_REXW) {
		uint64_t cur[2], *p;

		if (addr & 15)
			cpu_gp0(c);
		p = cpu_mem_ptr(c, addr, 16, CPU_ACC_WRITE);
		if (!p) { /* cannot happen for an aligned 16-byte access */
			cpu_gp0(c);
		}
		{
			uint64_t lo = c->gpr[0], hi = c->gpr[2];
			uint8_t z;

			__asm__ volatile("lock cmpxchg16b %1\n\tsetz %0"
					 : "=q"(z), "+m"(*(volatile unsigned __int128 *)p), "+a"(lo),
					   "+d"(hi)
					 : "b"(c->gpr[3]), "c"(c->gpr[1])
					 : "memory", "cc");
			eq = z;
			cur[0] = lo, cur[1] = hi;
		}
		if (!eq)
			c->gpr[0] = cur[0], c->gpr[2] = cur[1];
	} else {
		uint64_t *p = cpu_mem_ptr(c, addr, 8, CPU_ACC_WRITE);
		uint64_t expect = (uint32_t)c->gpr[0] | (c->gpr[2] << 32);
		uint64_t want = (uint32_t)c->gpr[3] | (c->gpr[1] << 32);
		uint64_t cur;

		if (p && !((uintptr_t)p & 7)) {
			cur = expect;
			eq = __atomic_compare_exchange_n(p, &cur, want, false, __ATOMIC_SEQ_CST,
							 __ATOMIC_SEQ_CST);
		} else {
			cur = mem_read_w(c, addr, 8);
			eq = cur == expect;
			mem_write(c, addr, 8, eq ? want : cur);
		}
		if (!eq)
			c->gpr[0] = (uint32_t)cur, c->gpr[2] = cur >> 32;
	}
	cc_eager(c, (cpu_get_flags(c) & ~(uint64_t)FL_ZF) | (eq ? FL_ZF : 0));
}

void cpu_exec_init_alu(void)
{
	for (unsigned op = 0; op < 8; op++) {
		cpu_handlers[op * 8 + 0] = h_alu_rm_r;
		cpu_handlers[op * 8 + 1] = h_alu_rm_r;
		cpu_handlers[op * 8 + 2] = h_alu_r_rm;
		cpu_handlers[op * 8 + 3] = h_alu_r_rm;
		cpu_handlers[op * 8 + 4] = h_alu_a_imm;
		cpu_handlers[op * 8 + 5] = h_alu_a_imm;
	}
	cpu_handlers[0x80] = cpu_handlers[0x81] = cpu_handlers[0x83] = h_grp1;
	cpu_handlers[0x84] = cpu_handlers[0x85] = h_test_rm_r;
	cpu_handlers[0xa8] = cpu_handlers[0xa9] = h_test_a_imm;
	cpu_handlers[0x86] = cpu_handlers[0x87] = h_xchg_rm_r;
	for (unsigned r = 0; r < 8; r++) {
		cpu_handlers[0x90 + r] = h_xchg_a_r;
		cpu_handlers[0xb0 + r] = cpu_handlers[0xb8 + r] = h_mov_r_imm;
		cpu_handlers[OP_0F + 0xc8 + r] = h_bswap;
	}
	cpu_handlers[0x88] = cpu_handlers[0x89] = h_mov_rm_r;
	cpu_handlers[0x8a] = cpu_handlers[0x8b] = h_mov_r_rm;
	cpu_handlers[0x8c] = h_mov_from_sreg;
	cpu_handlers[0x8e] = h_mov_to_sreg;
	cpu_handlers[0x8d] = h_lea;
	cpu_handlers[0xc6] = cpu_handlers[0xc7] = h_mov_rm_imm;
	for (unsigned k = 0xa0; k <= 0xa3; k++)
		cpu_handlers[k] = h_mov_moffs;
	cpu_handlers[0xf6] = cpu_handlers[0xf7] = h_grp3;
	cpu_handlers[0x63] = h_movsxd;
	cpu_handlers[0x98] = h_cbw;
	cpu_handlers[0x99] = h_cwd;
	cpu_handlers[OP_0F + 0xb6] = cpu_handlers[OP_0F + 0xb7] = h_movx;
	cpu_handlers[OP_0F + 0xbe] = cpu_handlers[OP_0F + 0xbf] = h_movx;
	for (unsigned cc = 0; cc < 16; cc++) {
		cpu_handlers[OP_0F + 0x40 + cc] = h_cmov;
		cpu_handlers[OP_0F + 0x90 + cc] = h_setcc;
	}
	cpu_handlers[OP_0F + 0xb0] = cpu_handlers[OP_0F + 0xb1] = h_cmpxchg;
	cpu_handlers[OP_0F + 0xc0] = cpu_handlers[OP_0F + 0xc1] = h_xadd;
	cpu_handlers[OP_0F + 0xc7] = h_cmpxchg8b;
}
