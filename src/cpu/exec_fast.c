/* Specialised handlers for the hottest integer forms (what compilers emit
 * in inner loops): 32/64-bit MOV, the ALU operations, TEST, group-1
 * immediates, INC/DEC, MOVZX, MOVSXD and LEA, with the operand size and
 * register-versus-memory form fixed at block-build time so the generic
 * size switches fold away. The generic handlers remain the reference: each
 * specialisation computes exactly the same result and lazy-flag state. */
#include "cpu/cpu_int.h"

enum { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP };

#define AI static inline __attribute__((always_inline))

/* Register access with the size fixed; 8/16-bit forms keep the generic
 * merge and AH..BH rules (reg_read/reg_write). */
AI uint64_t fread_reg(struct cpu *c, const struct insn *i, unsigned r, int sz)
{
	if (sz < 4)
		return reg_read(c, r, sz, i->flags);
	return sz == 8 ? c->gpr[r] : (uint32_t)c->gpr[r];
}

AI void fwrite_reg(struct cpu *c, const struct insn *i, unsigned r, int sz, uint64_t v)
{
	if (sz < 4)
		reg_write(c, r, sz, i->flags, v);
	else
		c->gpr[r] = sz == 8 ? v : (uint32_t)v;
}

AI uint64_t fread_rm(struct cpu *c, const struct insn *i, int sz, bool mem)
{
	if (mem)
		return mem_read(c, insn_ea(c, i), sz);
	return fread_reg(c, i, i->rm, sz);
}

AI void fwrite_rm(struct cpu *c, const struct insn *i, int sz, bool mem, uint64_t v)
{
	if (mem)
		mem_write(c, insn_ea(c, i), sz, v);
	else
		fwrite_reg(c, i, i->rm, sz, v);
}

AI uint64_t falu(struct cpu *c, unsigned op, int sz, uint64_t a, uint64_t b)
{
	uint64_t m = size_mask(sz), r, cf;

	b &= m;
	switch (op) {
	case ALU_ADD: r = (a + b) & m; cc_set(c, CC_ADD, sz, a, b, r); return r;
	case ALU_OR: r = a | b; cc_set(c, CC_LOGIC, sz, a, b, r); return r;
	case ALU_ADC:
		cf = cpu_get_flags(c) & FL_CF;
		r = (a + b + cf) & m;
		cc_set(c, CC_ADD, sz, a, b, r);
		return r;
	case ALU_SBB:
		cf = cpu_get_flags(c) & FL_CF;
		r = (a - b - cf) & m;
		cc_set(c, CC_SUB, sz, a, b, r);
		return r;
	case ALU_AND: r = a & b; cc_set(c, CC_LOGIC, sz, a, b, r); return r;
	case ALU_XOR: r = a ^ b; cc_set(c, CC_LOGIC, sz, a, b, r); return r;
	default: r = (a - b) & m; cc_set(c, CC_SUB, sz, a, b, r); return r;
	}
}

/* r/m op= reg */
#define F_ALU_RM_R(OP, SZ, MEM)                                                                    \
	static void f_alu_rm_r_##OP##_##SZ##_##MEM(struct cpu *c, const struct insn *i)            \
	{                                                                                          \
		uint64_t b = fread_reg(c, i, i->reg, SZ);                                             \
		if (OP == ALU_CMP) {                                                               \
			falu(c, OP, SZ, fread_rm(c, i, SZ, MEM), b);                               \
			return;                                                                    \
		}                                                                                  \
		if (MEM) {                                                                         \
			uint64_t addr = insn_ea(c, i);                                             \
			uint64_t r = falu(c, OP, SZ, mem_read_w(c, addr, SZ), b);                    \
			mem_write(c, addr, SZ, r);                                                 \
		} else {                                                                           \
			fwrite_reg(c, i, i->rm, SZ, falu(c, OP, SZ, fread_reg(c, i, i->rm, SZ), b));      \
		}                                                                                  \
	}
/* reg op= r/m */
#define F_ALU_R_RM(OP, SZ, MEM)                                                                    \
	static void f_alu_r_rm_##OP##_##SZ##_##MEM(struct cpu *c, const struct insn *i)            \
	{                                                                                          \
		uint64_t b = fread_rm(c, i, SZ, MEM);                                              \
		uint64_t r = falu(c, OP, SZ, fread_reg(c, i, i->reg, SZ), b);                         \
		if (OP != ALU_CMP)                                                                 \
			fwrite_reg(c, i, i->reg, SZ, r);                                              \
	}
/* group 1: r/m op= imm */
#define F_GRP1(OP, SZ, MEM)                                                                        \
	static void f_grp1_##OP##_##SZ##_##MEM(struct cpu *c, const struct insn *i)                \
	{                                                                                          \
		if (OP == ALU_CMP) {                                                               \
			falu(c, OP, SZ, fread_rm(c, i, SZ, MEM), i->imm);                          \
			return;                                                                    \
		}                                                                                  \
		if (MEM) {                                                                         \
			uint64_t addr = insn_ea(c, i);                                             \
			uint64_t r = falu(c, OP, SZ, mem_read_w(c, addr, SZ), i->imm);               \
			mem_write(c, addr, SZ, r);                                                 \
		} else {                                                                           \
			fwrite_reg(c, i, i->rm, SZ, falu(c, OP, SZ, fread_reg(c, i, i->rm, SZ), i->imm)); \
		}                                                                                  \
	}

#define F_ALL(M, SZ, MEM)                                                                          \
	M(0, SZ, MEM) M(1, SZ, MEM) M(2, SZ, MEM) M(3, SZ, MEM) M(4, SZ, MEM) M(5, SZ, MEM)        \
	M(6, SZ, MEM) M(7, SZ, MEM)
#define F_FORMS(M) F_ALL(M, 1, 0) F_ALL(M, 1, 1) F_ALL(M, 2, 0) F_ALL(M, 2, 1) \
	F_ALL(M, 4, 0) F_ALL(M, 4, 1) F_ALL(M, 8, 0) F_ALL(M, 8, 1)
F_FORMS(F_ALU_RM_R)
F_FORMS(F_ALU_R_RM)
F_FORMS(F_GRP1)

#define F_TAB(NAME, SZ, MEM)                                                                       \
	{ NAME##_0_##SZ##_##MEM, NAME##_1_##SZ##_##MEM, NAME##_2_##SZ##_##MEM,                     \
	  NAME##_3_##SZ##_##MEM, NAME##_4_##SZ##_##MEM, NAME##_5_##SZ##_##MEM,                     \
	  NAME##_6_##SZ##_##MEM, NAME##_7_##SZ##_##MEM }
/* [size 1/2/4/8][reg/mem][op] */
static const cpu_handler tab_rm_r[4][2][8] = {
	{ F_TAB(f_alu_rm_r, 1, 0), F_TAB(f_alu_rm_r, 1, 1) },
	{ F_TAB(f_alu_rm_r, 2, 0), F_TAB(f_alu_rm_r, 2, 1) },
	{ F_TAB(f_alu_rm_r, 4, 0), F_TAB(f_alu_rm_r, 4, 1) },
	{ F_TAB(f_alu_rm_r, 8, 0), F_TAB(f_alu_rm_r, 8, 1) },
};
static const cpu_handler tab_r_rm[4][2][8] = {
	{ F_TAB(f_alu_r_rm, 1, 0), F_TAB(f_alu_r_rm, 1, 1) },
	{ F_TAB(f_alu_r_rm, 2, 0), F_TAB(f_alu_r_rm, 2, 1) },
	{ F_TAB(f_alu_r_rm, 4, 0), F_TAB(f_alu_r_rm, 4, 1) },
	{ F_TAB(f_alu_r_rm, 8, 0), F_TAB(f_alu_r_rm, 8, 1) },
};
static const cpu_handler tab_grp1[4][2][8] = {
	{ F_TAB(f_grp1, 1, 0), F_TAB(f_grp1, 1, 1) },
	{ F_TAB(f_grp1, 2, 0), F_TAB(f_grp1, 2, 1) },
	{ F_TAB(f_grp1, 4, 0), F_TAB(f_grp1, 4, 1) },
	{ F_TAB(f_grp1, 8, 0), F_TAB(f_grp1, 8, 1) },
};

#define F_SIMPLE1(NAME, SZ_, MEM_)                                                                 \
	static void NAME##_##SZ_##_##MEM_(struct cpu *c, const struct insn *i)                     \
	{                                                                                          \
		const int SZ = SZ_;                                                                \
		const bool MEM = MEM_;                                                             \
		NAME##_body(c, i, SZ, MEM);                                                        \
	}
#define F_SIMPLE(NAME, BODY)                                                                       \
	AI void NAME##_body(struct cpu *c, const struct insn *i, const int SZ, const bool MEM)      \
	{                                                                                          \
		BODY                                                                               \
	}                                                                                          \
	F_SIMPLE1(NAME, 1, 0) F_SIMPLE1(NAME, 1, 1) F_SIMPLE1(NAME, 2, 0) F_SIMPLE1(NAME, 2, 1)    \
	F_SIMPLE1(NAME, 4, 0) F_SIMPLE1(NAME, 4, 1) F_SIMPLE1(NAME, 8, 0) F_SIMPLE1(NAME, 8, 1)    \
	/* [size 1/2/4/8][reg/mem] */                                                              \
	static const cpu_handler NAME##_tab[4][2] = {                                              \
		{ NAME##_1_0, NAME##_1_1 }, { NAME##_2_0, NAME##_2_1 },                            \
		{ NAME##_4_0, NAME##_4_1 }, { NAME##_8_0, NAME##_8_1 } };

F_SIMPLE(f_mov_rm_r, fwrite_rm(c, i, SZ, MEM, fread_reg(c, i, i->reg, SZ));)
F_SIMPLE(f_mov_r_rm, fwrite_reg(c, i, i->reg, SZ, fread_rm(c, i, SZ, MEM));)
F_SIMPLE(f_test, cc_set(c, CC_LOGIC, SZ, 0, 0, fread_rm(c, i, SZ, MEM) & fread_reg(c, i, i->reg, SZ));)
F_SIMPLE(f_mov_rm_imm, fwrite_rm(c, i, SZ, MEM, i->imm & size_mask(SZ));)

/* INC/DEC: CF survives, so park it in rflags first (flags.c). */
#define F_INCDEC(NAME, DEC)                                                                        \
	F_SIMPLE(NAME, uint64_t a = MEM ? mem_read_w(c, insn_ea(c, i), SZ) : fread_rm(c, i, SZ, MEM);                                        \
		 uint64_t r = (DEC ? a - 1 : a + 1) & size_mask(SZ);                                \
		 fwrite_rm(c, i, SZ, MEM, r);                                                       \
		 cpu_keep_cf(c);                                                                    \
		 cc_set(c, DEC ? CC_DEC : CC_INC, SZ, a, 1, r);)
F_INCDEC(f_inc, false)
F_INCDEC(f_dec, true)

/* Shifts and rotates of a 32/64-bit register by an immediate (C1 /0 /1 /4
 * /5 /7), same flag rules as exec_shift.c: a masked count of 0 changes no
 * flags but still zero-extends a 32-bit destination. */
#define F_SHIFT(NAME, SZ, BODY)                                                                    \
	static void NAME(struct cpu *c, const struct insn *i)                                      \
	{                                                                                          \
		const int sz_ = SZ;                                                                \
		const unsigned bits = SZ * 8, top __attribute__((unused)) = bits - 1;             \
		unsigned cnt = (unsigned)i->imm & (SZ == 8 ? 0x3f : 0x1f);                          \
		uint64_t a = fread_reg(c, i, i->rm, SZ), r, f, cf;                                     \
		if (cnt == 0) {                                                                    \
			fwrite_reg(c, i, i->rm, SZ, a);                                               \
			return;                                                                    \
		}                                                                                  \
		BODY                                                                               \
		fwrite_reg(c, i, i->rm, SZ, r);                                                       \
		cc_eager(c, f);                                                                    \
	}
#define ROL_BODY                                                                                   \
	r = ((a << cnt) | (a >> ((bits - cnt) & top))) & size_mask(sz_);                            \
	cf = r & 1;                                                                                \
	f = (cpu_get_flags(c) & ~(uint64_t)(FL_CF | FL_OF)) | cf | ((((r >> top) ^ cf) & 1) ? FL_OF : 0);
#define ROR_BODY                                                                                   \
	r = ((a >> cnt) | (a << ((bits - cnt) & top))) & size_mask(sz_);                            \
	cf = (r >> top) & 1;                                                                       \
	f = (cpu_get_flags(c) & ~(uint64_t)(FL_CF | FL_OF)) | cf |                                 \
	    ((((r >> top) ^ (r >> (top - 1))) & 1) ? FL_OF : 0);
#define SHL_BODY                                                                                   \
	r = (a << cnt) & size_mask(sz_);                                                            \
	cf = (a >> (bits - cnt)) & 1;                                                              \
	f = szp_flags(r, sz_) | cf | ((((r >> top) ^ cf) & 1) ? FL_OF : 0);
#define SHR_BODY                                                                                   \
	r = a >> cnt;                                                                              \
	cf = (a >> (cnt - 1)) & 1;                                                                 \
	f = szp_flags(r, sz_) | cf | ((cnt == 1 && ((a >> top) & 1)) ? FL_OF : 0);
#define SAR_BODY                                                                                   \
	r = (uint64_t)(sext(a, sz_) >> cnt) & size_mask(sz_);                                        \
	cf = ((uint64_t)(sext(a, sz_) >> (cnt - 1))) & 1;                                           \
	f = szp_flags(r, sz_) | cf;
F_SHIFT(f_rol4, 4, ROL_BODY) F_SHIFT(f_rol8, 8, ROL_BODY)
F_SHIFT(f_ror4, 4, ROR_BODY) F_SHIFT(f_ror8, 8, ROR_BODY)
F_SHIFT(f_shl4, 4, SHL_BODY) F_SHIFT(f_shl8, 8, SHL_BODY)
F_SHIFT(f_shr4, 4, SHR_BODY) F_SHIFT(f_shr8, 8, SHR_BODY)
F_SHIFT(f_sar4, 4, SAR_BODY) F_SHIFT(f_sar8, 8, SAR_BODY)
static const cpu_handler shift_tab[8][2] = {
	{ f_rol4, f_rol8 }, { f_ror4, f_ror8 }, { NULL, NULL }, { NULL, NULL },
	{ f_shl4, f_shl8 }, { f_shr4, f_shr8 }, { f_shl4, f_shl8 }, { f_sar4, f_sar8 },
};

static void f_push64(struct cpu *c, const struct insn *i)
{
	push64(c, c->gpr[i->reg]);
}

static void f_pop64(struct cpu *c, const struct insn *i)
{
	uint64_t v = mem_read(c, c->gpr[4], 8);

	c->gpr[4] += 8;
	c->gpr[i->reg] = v; /* POP RSP loads the popped value (Vol. 2 "POP") */
}

static void f_movzb(struct cpu *c, const struct insn *i)
{
	c->gpr[i->reg] = (i->flags & IF_MEM) ? mem_read(c, insn_ea(c, i), 1)
					      : reg_read(c, i->rm, 1, i->flags);
}

static void f_movzw(struct cpu *c, const struct insn *i)
{
	c->gpr[i->reg] = (i->flags & IF_MEM) ? mem_read(c, insn_ea(c, i), 2)
					      : (uint16_t)c->gpr[i->rm];
}

static void f_movsxd(struct cpu *c, const struct insn *i)
{
	uint32_t v = (i->flags & IF_MEM) ? (uint32_t)mem_read(c, insn_ea(c, i), 4)
					 : (uint32_t)c->gpr[i->rm];

	c->gpr[i->reg] = (uint64_t)(int64_t)(int32_t)v;
}

/* LEA with a 64-bit address and operand size, no RIP. */
static void f_lea64(struct cpu *c, const struct insn *i)
{
	uint64_t ea = (uint64_t)(int64_t)i->disp;

	if (i->base != REG_NONE)
		ea += c->gpr[i->base];
	if (i->index != REG_NONE)
		ea += c->gpr[i->index] << i->scale;
	c->gpr[i->reg] = ea;
}

static void f_lea64_rip(struct cpu *c, const struct insn *i)
{
	c->gpr[i->reg] = c->rip + (uint64_t)(int64_t)i->disp;
}

cpu_handler cpu_fast_handler(const struct insn *i)
{
	unsigned op = i->op, s, z, m = (i->flags & IF_MEM) ? 1 : 0;

	if (i->op == OP_UD || (i->flags & IF_LOCK))
		return NULL;
	if ((op >= 0x70 && op <= 0x7f) || (op >= OP_0F + 0x80 && op <= OP_0F + 0x8f))
		return cpu_jcc_handlers[op & 15];
	if (op >= OP_0F + 0x58 && op <= OP_0F + 0x5e)
		return cpu_ssefp_fast_handler(i);
	/* z: size index for the [1/2/4/8] tables; s: 64-bit operand size. */
	switch (i->osz) {
	case 1: z = 0; break;
	case 2: z = 1; break;
	case 4: z = 2; break;
	case 8: z = 3; break;
	default: return NULL;
	}
	s = i->osz == 8;
	if (op < 0x40 && (op & 7) <= 1)
		return tab_rm_r[z][m][op >> 3];
	if (op < 0x40 && (op & 7) <= 3)
		return tab_r_rm[z][m][op >> 3];
	switch (op) {
	case 0x80:
	case 0x81:
	case 0x83:
		return tab_grp1[z][m][i->sub];
	case 0x84: case 0x85: return f_test_tab[z][m];
	case 0x88: case 0x89: return f_mov_rm_r_tab[z][m];
	case 0x8a: case 0x8b: return f_mov_r_rm_tab[z][m];
	case 0xc6: case 0xc7: return i->sub == 0 ? f_mov_rm_imm_tab[z][m] : NULL;
	case 0xfe:
	case 0xff:
		if (i->sub == 0)
			return f_inc_tab[z][m];
		if (i->sub == 1)
			return f_dec_tab[z][m];
		return NULL;
	default:
		break;
	}
	if (i->osz != 4 && i->osz != 8)
		return NULL;
	if (op >= 0x50 && op <= 0x5f)
		return s ? (op < 0x58 ? f_push64 : f_pop64) : NULL;
	switch (op) {
	case 0xc1: return m ? NULL : shift_tab[i->sub][s];
	case OP_0F + 0xb6: return f_movzb;
	case OP_0F + 0xb7: return f_movzw;
	case 0x63: return s ? f_movsxd : NULL;
	case 0x8d:
		if (!s || i->asz != 8 || !m || i->seg)
			return NULL;
		if (i->flags & IF_RIPREL)
			return i->index == REG_NONE ? f_lea64_rip : NULL;
		return f_lea64;
	default:
		return NULL;
	}
}
