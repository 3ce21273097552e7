/* Control transfer and the stack: Jcc, JMP, CALL, RET, LOOPcc, JrCXZ,
 * PUSH/POP (all forms), PUSHF/POPF, ENTER/LEAVE, INC/DEC/CALL/JMP/PUSH of
 * group 4/5, software interrupts and SYSCALL (Intel SDM Vol. 2). Near
 * branches use 64-bit operand size in 64-bit mode (Intel ignores 66). */
#include "cpu/cpu_int.h"

void cpu_incdec(struct cpu *c, const struct insn *i, bool dec); /* exec_alu.c */

/* A branch to a non-canonical address faults at the branch (Vol. 3 §6.15 #GP). */
static inline void jump(struct cpu *c, uint64_t target)
{
	if ((uint64_t)((int64_t)(target << 16) >> 16) != target)
		cpu_gp0(c);
	c->rip = target;
}

static void h_jcc(struct cpu *c, const struct insn *i)
{
	if (cpu_cond(c, i->op & 15))
		jump(c, c->rip + i->imm);
}

#define JCC(n)                                                                                     \
	static void h_jcc_##n(struct cpu *c, const struct insn *i)                                 \
	{                                                                                          \
		if (cpu_cond_inline(c, n))                                                         \
			jump(c, c->rip + i->imm);                                                  \
	}
JCC(0) JCC(1) JCC(2) JCC(3) JCC(4) JCC(5) JCC(6) JCC(7)
JCC(8) JCC(9) JCC(10) JCC(11) JCC(12) JCC(13) JCC(14) JCC(15)
const cpu_handler cpu_jcc_handlers[16] = {
	h_jcc_0, h_jcc_1, h_jcc_2, h_jcc_3, h_jcc_4, h_jcc_5, h_jcc_6, h_jcc_7,
	h_jcc_8, h_jcc_9, h_jcc_10, h_jcc_11, h_jcc_12, h_jcc_13, h_jcc_14, h_jcc_15,
};

static void h_jmp_rel(struct cpu *c, const struct insn *i)
{
	jump(c, c->rip + i->imm);
}

static void h_call_rel(struct cpu *c, const struct insn *i)
{
	uint64_t target = c->rip + i->imm;

	/* Hardware stores the return address before checking the target:
	 * a #GP leaves the slot below RSP written but RSP unchanged. */
	mem_write(c, c->gpr[4] - 8, 8, c->rip);
	if ((uint64_t)((int64_t)(target << 16) >> 16) != target)
		cpu_gp0(c);
	c->gpr[4] -= 8;
	c->rip = target;
}

static void h_ret(struct cpu *c, const struct insn *i)
{
	uint64_t target = mem_read(c, c->gpr[4], 8);

	jump(c, target);
	c->gpr[4] += 8 + (i->op == 0xc2 ? i->imm : 0);
}

/* E0-E3: LOOPNE, LOOPE, LOOP, JrCXZ; the address size picks RCX or ECX. */
static void h_loop(struct cpu *c, const struct insn *i)
{
	uint64_t m = size_mask(i->asz), cx = c->gpr[1] & m;
	bool take;

	if (i->op == 0xe3) {
		take = cx == 0;
	} else {
		cx = (cx - 1) & m;
		if (i->asz == 8)
			c->gpr[1] = cx;
		else if (i->asz == 4)
			c->gpr[1] = cx;
		else
			c->gpr[1] = (c->gpr[1] & ~0xffffULL) | cx;
		take = cx != 0;
		if (i->op == 0xe0)
			take = take && !(cpu_get_flags(c) & FL_ZF);
		else if (i->op == 0xe1)
			take = take && (cpu_get_flags(c) & FL_ZF);
	}
	if (take)
		jump(c, c->rip + i->imm);
}

static void push_sz(struct cpu *c, int sz, uint64_t v)
{
	mem_write(c, c->gpr[4] - (uint64_t)sz, sz, v);
	c->gpr[4] -= (uint64_t)sz;
}

static void h_push_r(struct cpu *c, const struct insn *i)
{
	push_sz(c, i->osz, reg_read(c, i->reg, i->osz, i->flags));
}

static void h_pop_r(struct cpu *c, const struct insn *i)
{
	uint64_t v = mem_read(c, c->gpr[4], i->osz);

	c->gpr[4] += (uint64_t)i->osz;
	reg_write(c, i->reg, i->osz, i->flags, v);
}

static void h_push_imm(struct cpu *c, const struct insn *i)
{
	push_sz(c, i->osz, i->imm);
}

/* 8F /0: POP r/m. A memory address using RSP is computed after the
 * increment (Vol. 2 "POP"); RSP is committed only after the store. */
static void h_pop_rm(struct cpu *c, const struct insn *i)
{
	uint64_t v, old = c->gpr[4], addr;

	v = mem_read(c, old, i->osz);
	if (!(i->flags & IF_MEM)) {
		c->gpr[4] += (uint64_t)i->osz;
		reg_write(c, i->rm, i->osz, i->flags, v);
		return;
	}
	c->gpr[4] = old + (uint64_t)i->osz;
	addr = insn_ea(c, i);
	c->gpr[4] = old;
	mem_write(c, addr, i->osz, v);
	c->gpr[4] = old + (uint64_t)i->osz;
}

static void h_pushf(struct cpu *c, const struct insn *i)
{
	push_sz(c, i->osz, (cpu_get_flags(c) | 2) & ~(uint64_t)(FL_VM | FL_RF));
}

/* POPF at CPL3 with IOPL 0: IF, IOPL, VIF, VIP and VM keep their values;
 * RF is cleared (Vol. 2 "POPF"). */
static void h_popf(struct cpu *c, const struct insn *i)
{
	uint64_t v = mem_read(c, c->gpr[4], i->osz), keep, f;
	uint64_t writable = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_AC | FL_ID;

	if (i->osz == 2)
		writable &= 0xffff;
	c->gpr[4] += (uint64_t)i->osz;
	f = cpu_get_flags(c);
	keep = f & ~writable;
	c->rflags = ((v & writable) | keep | 2) & ~(uint64_t)FL_RF;
	c->cc_op = CC_EAGER;
}

/* C8: ENTER imm16, imm8 (64-bit operand size). */
static void h_enter(struct cpu *c, const struct insn *i)
{
	unsigned level = i->imm2 & 31;
	uint64_t rsp = c->gpr[4], rbp = c->gpr[5], frame;


	mem_write(c, rsp - 8, 8, rbp);
	rsp -= 8;
	frame = rsp;
	if (level > 0) {
		for (unsigned k = 1; k < level; k++) {
			rbp -= 8;
			mem_write(c, rsp - 8, 8, mem_read(c, rbp, 8));
			rsp -= 8;
		}
		mem_write(c, rsp - 8, 8, frame);
		rsp -= 8;
	}
	rsp -= i->imm;
	/* The final stack pointer must be writable too (Vol. 2 "ENTER": #PF
	 * if the new RSP is not); checked after the pushes, as hardware does. */
	if (i->imm)
		mem_read_w(c, rsp, 1);
	c->gpr[5] = frame;
	c->gpr[4] = rsp;
}

static void h_leave(struct cpu *c, const struct insn *i)
{
	uint64_t v = mem_read(c, c->gpr[5], i->osz == 2 ? 2 : 8);

	c->gpr[4] = c->gpr[5] + (i->osz == 2 ? 2 : 8);
	reg_write(c, 5, i->osz == 2 ? 2 : 8, 0, v);
}

/* FE: INC/DEC r/m8. */
static void h_grp4(struct cpu *c, const struct insn *i)
{
	if (i->sub > 1)
		cpu_ud(c);
	cpu_incdec(c, i, i->sub == 1);
}

/* FF: INC, DEC, CALL near, CALL far, JMP near, JMP far, PUSH. */
static void h_grp5(struct cpu *c, const struct insn *i)
{
	uint64_t t;

	switch (i->sub) {
	case 0:
	case 1:
		cpu_incdec(c, i, i->sub == 1);
		return;
	case 2:
		t = rm_read(c, i, 8);
		mem_write(c, c->gpr[4] - 8, 8, c->rip); /* before the check, as in h_call_rel */
		if ((uint64_t)((int64_t)(t << 16) >> 16) != t)
			cpu_gp0(c);
		c->gpr[4] -= 8;
		c->rip = t;
		return;
	case 4:
		jump(c, rm_read(c, i, 8));
		return;
	case 6: {
		int sz = i->osz == 2 ? 2 : 8;

		push_sz(c, sz, rm_read(c, i, sz));
		return;
	}
	case 3:
	case 5:
		if (!(i->flags & IF_MEM))
			cpu_ud(c);
		cpu_gp0(c); /* far transfers need descriptor tables: system mode */
	default:
		cpu_ud(c);
	}
}

/* CC: INT3 is a trap: report it with RIP past the instruction. */
static void h_int3(struct cpu *c, const struct insn *i)
{
	c->exit->reason = CPU_EXIT_EXCEPTION;
	c->exit->vector = CPU_VEC_BP;
	longjmp(c->jb, 1);
}

/* CD: INT n. At CPL3 only gates with DPL 3 can be used; Linux makes 3, 4
 * and 0x80 such gates. Others #GP with the IDT error code (Vol. 3 §6.13). */
static void h_int(struct cpu *c, const struct insn *i)
{
	uint8_t n = (uint8_t)i->imm;

	if (n != 3 && n != 4 && n != 0x80)
		cpu_raise(c, CPU_VEC_GP, (uint32_t)n * 8 + 2);
	c->exit->reason = CPU_EXIT_EXCEPTION;
	c->exit->vector = n;
	longjmp(c->jb, 1);
}

/* 0F 05: SYSCALL. RCX gets the return address and R11 RFLAGS (Vol. 2
 * "SYSCALL"); in USER64 the runner plays the kernel and we return to it. */
static void h_syscall(struct cpu *c, const struct insn *i)
{
	c->gpr[1] = c->rip;
	c->gpr[11] = (cpu_get_flags(c) | 2) & ~(uint64_t)FL_RF;
	c->exit->reason = CPU_EXIT_SYSCALL;
	cpu_stop(c);
}

/* Privileged at CPL3: HLT, CLI, STI, IN, OUT, INS, OUTS, far returns,
 * IRET, CLTS, MOV CR/DR, WRMSR/RDMSR, INVD/WBINVD, SYSRET (issue 4 gives
 * them their system-mode meaning). */
static void h_priv(struct cpu *c, const struct insn *i)
{
	unsigned op = i->op;

	/* MOV to/from CR1, CR5-7, CR9-15 is #UD whatever the CPL (Vol. 2
	 * "MOV—Move to/from Control Registers"). */
	if ((op == OP_0F + 0x20 || op == OP_0F + 0x22) && i->reg != 0 && i->reg != 2 &&
	    i->reg != 3 && i->reg != 4 && i->reg != 8)
		cpu_ud(c);
	cpu_gp0(c);
}

void cpu_exec_init_ctl(void)
{
	for (unsigned cc = 0; cc < 16; cc++) {
		cpu_handlers[0x70 + cc] = h_jcc;
		cpu_handlers[OP_0F + 0x80 + cc] = h_jcc;
	}
	cpu_handlers[0xe9] = cpu_handlers[0xeb] = h_jmp_rel;
	cpu_handlers[0xe8] = h_call_rel;
	cpu_handlers[0xc3] = cpu_handlers[0xc2] = h_ret;
	for (unsigned k = 0xe0; k <= 0xe3; k++)
		cpu_handlers[k] = h_loop;
	for (unsigned r = 0; r < 8; r++) {
		cpu_handlers[0x50 + r] = h_push_r;
		cpu_handlers[0x58 + r] = h_pop_r;
	}
	cpu_handlers[0x68] = cpu_handlers[0x6a] = h_push_imm;
	cpu_handlers[0x8f] = h_pop_rm;
	cpu_handlers[0x9c] = h_pushf;
	cpu_handlers[0x9d] = h_popf;
	cpu_handlers[0xc8] = h_enter;
	cpu_handlers[0xc9] = h_leave;
	cpu_handlers[0xfe] = h_grp4;
	cpu_handlers[0xff] = h_grp5;
	cpu_handlers[0xcc] = h_int3;
	cpu_handlers[0xcd] = h_int;
	cpu_handlers[OP_0F + 0x05] = h_syscall;
	static const uint16_t priv[] = {
		0x6c, 0x6d, 0x6e, 0x6f, 0xca, 0xcb, 0xcf, 0xe4, 0xe5, 0xe6, 0xe7, 0xec, 0xed,
		0xee, 0xef, 0xf4, 0xfa, 0xfb, OP_0F + 0x06, OP_0F + 0x07, OP_0F + 0x08,
		OP_0F + 0x09, OP_0F + 0x20, OP_0F + 0x21, OP_0F + 0x22, OP_0F + 0x23,
		OP_0F + 0x30, OP_0F + 0x32, OP_0F + 0x33, OP_0F + 0x34, OP_0F + 0x35,
	};
	for (unsigned k = 0; k < sizeof(priv) / sizeof(priv[0]); k++)
		cpu_handlers[priv[k]] = h_priv;
}
