/* Real mode and 16/32-bit protected mode (Intel SDM Vol. 3 chapters 3, 9
 * and 20): what the Linux AP trampoline and verify_cpu need to get from the
 * SIPI vector to 64-bit code (real mode -> protected mode without paging ->
 * long mode). Blocks decoded in these modes get the handlers below for the
 * stack and control transfers (segment bases, 16/32-bit SP and operand
 * sizes); everything else runs the ordinary handlers, whose memory operands
 * get the default segment's base through insn_ea. 64-bit code never sees
 * these handlers (block.c picks them by code size). */
#include "cpu/sys.h"

/* Recomputes the code size and the cached segment bases after CS, a
 * segment register, CR0.PE or EFER.LMA changed. A code-size change drops
 * the decoded blocks (they are keyed by RIP only). */
void sys_update_mode(struct cpu *c)
{
	struct cpu_sys *s = c->sys;
	uint8_t cs;

	if (!(c->cr0 & CR0_PE))
		cs = 2;
	else if ((c->efer & EFER_LMA) && (s->seg[SEG_CS].attr & SA_L))
		cs = 0;
	else
		cs = (s->seg[SEG_CS].attr & SA_DB) ? 4 : 2;
	if (cs == 0) {
		memset(c->seg_base, 0, sizeof(c->seg_base));
	} else {
		c->seg_base[0] = s->seg[SEG_ES].base;
		c->seg_base[1] = s->seg[SEG_CS].base;
		c->seg_base[2] = s->seg[SEG_SS].base;
		c->seg_base[3] = s->seg[SEG_DS].base;
	}
	if (cs != c->code_size) {
		c->code_size = cs;
		cpu_blocks_flush(c);
	}
}

static bool stack32(struct cpu *c)
{
	return c->sys->seg[SEG_SS].attr & SA_DB;
}

static void lpush(struct cpu *c, int sz, uint64_t v)
{
	uint64_t sp = c->gpr[4] - (uint64_t)sz;

	if (stack32(c)) {
		sp = (uint32_t)sp;
		mem_write(c, (uint32_t)(c->seg_base[2] + sp), sz, v);
		c->gpr[4] = sp;
	} else {
		sp &= 0xffff;
		mem_write(c, (uint32_t)(c->seg_base[2] + sp), sz, v);
		c->gpr[4] = (c->gpr[4] & ~0xffffULL) | sp;
	}
}

static uint64_t lpeek(struct cpu *c, int sz, unsigned off)
{
	uint64_t sp = c->gpr[4] + off;

	sp = stack32(c) ? (uint32_t)sp : (sp & 0xffff);
	return mem_read(c, (uint32_t)(c->seg_base[2] + sp), sz);
}

static void ladjust(struct cpu *c, uint64_t n)
{
	if (stack32(c))
		c->gpr[4] = (uint32_t)(c->gpr[4] + n);
	else
		c->gpr[4] = (c->gpr[4] & ~0xffffULL) | ((c->gpr[4] + n) & 0xffff);
}

static uint64_t lpop(struct cpu *c, int sz)
{
	uint64_t v = lpeek(c, sz, 0);

	ladjust(c, (uint64_t)sz);
	return v;
}

static uint64_t ip_mask(const struct insn *i)
{
	return i->osz == 2 ? 0xffff : 0xffffffffULL;
}

static void l_push_r(struct cpu *c, const struct insn *i)
{
	lpush(c, i->osz, reg_read(c, i->reg, i->osz, i->flags));
}

static void l_pop_r(struct cpu *c, const struct insn *i)
{
	uint64_t v = lpop(c, i->osz);

	reg_write(c, i->reg, i->osz, i->flags, v);
}

/* 40-4F outside 64-bit mode: INC/DEC r16/r32 (REX prefixes only in
 * 64-bit mode). CF survives, as for FE/FF /0 and /1. */
static void l_incdec_r(struct cpu *c, const struct insn *i)
{
	bool dec = (i->op & 8) != 0;
	uint64_t a = reg_read(c, i->reg, i->osz, i->flags), m = size_mask(i->osz);
	uint64_t r = (dec ? a - 1 : a + 1) & m;

	reg_write(c, i->reg, i->osz, i->flags, r);
	cpu_keep_cf(c);
	cc_set(c, dec ? CC_DEC : CC_INC, i->osz, a, 1, r);
}

static void l_push_imm(struct cpu *c, const struct insn *i)
{
	lpush(c, i->osz, i->imm);
}

static void l_pop_rm(struct cpu *c, const struct insn *i)
{
	uint64_t v = lpeek(c, i->osz, 0);

	ladjust(c, (uint64_t)i->osz);
	rm_write(c, i, i->osz, v);
}

static void l_pusha(struct cpu *c, const struct insn *i)
{
	uint64_t sp = c->gpr[4];

	for (unsigned r = 0; r < 8; r++)
		lpush(c, i->osz, r == 4 ? sp : c->gpr[r]);
}

static void l_popa(struct cpu *c, const struct insn *i)
{
	for (int r = 7; r >= 0; r--) {
		uint64_t v = lpop(c, i->osz);

		if (r != 4)
			reg_write(c, (unsigned)r, i->osz, 0, v);
	}
}

static void l_pushf(struct cpu *c, const struct insn *i)
{
	lpush(c, i->osz, (cpu_get_flags(c) | 2) & ~(uint64_t)(FL_VM | FL_RF));
}

static void l_popf(struct cpu *c, const struct insn *i)
{
	uint64_t writable = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_AC | FL_ID, v, f;

	v = lpop(c, i->osz);
	if (c->cpl == 0)
		writable |= FL_IF | FL_IOPL;
	else if (c->cpl <= ((c->rflags >> 12) & 3))
		writable |= FL_IF;
	if (i->osz == 2)
		writable &= 0xffff;
	f = cpu_get_flags(c);
	c->rflags = (((v & writable) | (f & ~writable)) & ~(uint64_t)(FL_RF | FL_VM)) | 2;
	c->cc_op = CC_EAGER;
	c->sys->poll_now = true;
}

static void l_call_rel(struct cpu *c, const struct insn *i)
{
	lpush(c, i->osz, c->rip & ip_mask(i));
	c->rip = (c->rip + i->imm) & ip_mask(i);
}

static void l_jmp_rel(struct cpu *c, const struct insn *i)
{
	c->rip = (c->rip + i->imm) & ip_mask(i);
}

static void l_ret(struct cpu *c, const struct insn *i)
{
	uint64_t t = lpop(c, i->osz);

	if (i->op == 0xc2)
		ladjust(c, i->imm);
	c->rip = t & ip_mask(i);
}

static void l_leave(struct cpu *c, const struct insn *i)
{
	if (stack32(c))
		c->gpr[4] = (uint32_t)c->gpr[5];
	else
		c->gpr[4] = (c->gpr[4] & ~0xffffULL) | (c->gpr[5] & 0xffff);
	reg_write(c, 5, i->osz, 0, lpop(c, i->osz));
}

/* Loads a segment register in real mode (base = selector * 16) or through
 * a descriptor in protected mode. */
static void l_load_seg(struct cpu *c, unsigned r, uint16_t sel)
{
	struct cpu_sys *s = c->sys;

	if (!(c->cr0 & CR0_PE)) {
		s->seg[r].sel = sel;
		s->seg[r].base = (uint64_t)sel << 4;
		c->sel[r] = sel;
		if (r == SEG_FS)
			c->fs_base = s->seg[r].base;
		else if (r == SEG_GS)
			c->gs_base = s->seg[r].base;
		if (r == SEG_SS)
			s->shadow = true;
	} else {
		if (!(sel & 0xfffc) && r == SEG_SS)
			cpu_gp0(c);
		sys_load_seg(c, r, sel);
	}
	sys_update_mode(c);
}

static void l_mov_to_sreg(struct cpu *c, const struct insn *i)
{
	if (i->sub == SEG_CS || i->sub > 5)
		cpu_ud(c);
	l_load_seg(c, i->sub, (uint16_t)rm_read(c, i, 2));
}

static unsigned sreg_of(unsigned op)
{
	switch (op) {
	case 0x06: case 0x07: return SEG_ES;
	case 0x0e: return SEG_CS;
	case 0x16: case 0x17: return SEG_SS;
	case 0x1e: case 0x1f: return SEG_DS;
	case OP_0F + 0xa0: case OP_0F + 0xa1: return SEG_FS;
	default: return SEG_GS;
	}
}

static void l_push_sreg(struct cpu *c, const struct insn *i)
{
	lpush(c, i->osz, c->sel[sreg_of(i->op)]);
}

static void l_pop_sreg(struct cpu *c, const struct insn *i)
{
	uint16_t v = (uint16_t)lpeek(c, i->osz, 0);

	l_load_seg(c, sreg_of(i->op), v);
	ladjust(c, (uint64_t)i->osz);
}

/* Far transfers: real mode takes the selector as a paragraph; protected
 * mode loads a code descriptor at the same privilege (ring 0 here). */
static void far_cs(struct cpu *c, uint16_t sel, uint64_t off)
{
	struct cpu_sys *s = c->sys;

	if (!(c->cr0 & CR0_PE)) {
		s->seg[SEG_CS].sel = sel;
		s->seg[SEG_CS].base = (uint64_t)sel << 4;
		c->sel[SEG_CS] = sel;
	} else {
		uint8_t raw[8];
		struct sys_seg d;

		if (!(sel & 0xfffc))
			cpu_gp0(c);
		sys_read_desc(c, sel, raw, 0);
		sys_desc_parse(raw, &d, sel);
		if ((d.attr & (SA_S | 0x8)) != (SA_S | 0x8) ||
		    ((d.attr & 0x4) ? SA_DPL(d.attr) > c->cpl : SA_DPL(d.attr) != c->cpl))
			sys_raise_ec(c, CPU_VEC_GP, sel & 0xfffc);
		if (!(d.attr & SA_P))
			sys_raise_ec(c, CPU_VEC_NP, sel & 0xfffc);
		d.sel = (uint16_t)((sel & 0xfffc) | c->cpl);
		s->seg[SEG_CS] = d;
		c->sel[SEG_CS] = d.sel;
	}
	c->rip = off;
	sys_update_mode(c);
}

static void l_jmp_far(struct cpu *c, const struct insn *i)
{
	far_cs(c, i->imm2, i->imm);
}

static void l_call_far(struct cpu *c, const struct insn *i)
{
	uint16_t cs = c->sel[SEG_CS];
	uint64_t ip = c->rip;

	lpush(c, i->osz, cs);
	lpush(c, i->osz, ip);
	far_cs(c, i->imm2, i->imm);
}

static void l_ret_far(struct cpu *c, const struct insn *i)
{
	uint64_t ip = lpeek(c, i->osz, 0);
	uint16_t cs = (uint16_t)lpeek(c, i->osz, (unsigned)i->osz);

	far_cs(c, cs, ip & ip_mask(i));
	ladjust(c, 2 * (uint64_t)i->osz + (i->op == 0xca ? i->imm : 0));
}

static void l_grp5(struct cpu *c, const struct insn *i)
{
	uint64_t t;

	switch (i->sub) {
	case 2:
		t = rm_read(c, i, i->osz);
		lpush(c, i->osz, c->rip & ip_mask(i));
		c->rip = t & ip_mask(i);
		return;
	case 4:
		c->rip = rm_read(c, i, i->osz) & ip_mask(i);
		return;
	case 3: case 5: {
		uint64_t a, off;
		uint16_t sel;

		if (!(i->flags & IF_MEM))
			cpu_ud(c);
		a = insn_ea(c, i);
		off = mem_read(c, a, i->osz);
		sel = (uint16_t)mem_read(c, a + (uint64_t)i->osz, 2);
		if (i->sub == 3) {
			lpush(c, i->osz, c->sel[SEG_CS]);
			lpush(c, i->osz, c->rip);
		}
		far_cs(c, sel, off);
		return;
	}
	case 6:
		lpush(c, i->osz, rm_read(c, i, i->osz));
		return;
	default:
		cpu_handlers[0xff](c, i);
	}
}

static void l_mov_moffs(struct cpu *c, const struct insn *i)
{
	uint64_t addr = i->imm;
	unsigned seg = i->seg ? i->seg : 4u; /* DS */

	if (seg == 5)
		addr += c->fs_base;
	else if (seg == 6)
		addr += c->gs_base;
	else
		addr += c->seg_base[seg - 1];
	addr = (uint32_t)addr;
	if (i->op & 2)
		mem_write(c, addr, i->osz, reg_read(c, 0, i->osz, 0));
	else
		reg_write(c, 0, i->osz, 0, mem_read(c, addr, i->osz));
}

/* Real-mode INT n: the IVT at the IDTR base (Vol. 3 §20.1.4). */
void sys_real_deliver(struct cpu *c, unsigned vector, uint64_t ret_ip)
{
	uint8_t e[4];

	if (vector * 4 + 3 > c->sys->idt_limit)
		sys_raise_ec(c, CPU_VEC_GP, 0);
	sys_lin_read(c, c->sys->idt_base + vector * 4, e, 4);
	lpush(c, 2, cpu_get_flags(c) | 2);
	lpush(c, 2, c->sel[SEG_CS]);
	lpush(c, 2, ret_ip & 0xffff);
	c->rflags &= ~(uint64_t)(FL_IF | FL_TF | FL_AC);
	far_cs(c, (uint16_t)(e[2] | e[3] << 8), (uint16_t)(e[0] | e[1] << 8));
}

static void l_int(struct cpu *c, const struct insn *i)
{
	if (c->cr0 & CR0_PE) {
		sys_soft_int(c, (uint8_t)i->imm);
		return;
	}
	sys_real_deliver(c, (uint8_t)i->imm, c->rip);
}

static void l_iret(struct cpu *c, const struct insn *i)
{
	uint64_t ip, fl, f, writable = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_AC | FL_ID | FL_IF |
				       FL_IOPL | FL_RF;
	uint16_t cs;

	if (c->cr0 & CR0_PE) {
		if (c->efer & EFER_LMA)
			cpu_gp0(c); /* compatibility mode: not implemented */
		sys_pm32_iret(c, i->osz);
		return;
	}
	ip = lpeek(c, i->osz, 0);
	cs = (uint16_t)lpeek(c, i->osz, (unsigned)i->osz);
	fl = lpeek(c, i->osz, 2 * (unsigned)i->osz);
	if (i->osz == 2)
		writable &= 0xffff;
	f = cpu_get_flags(c);
	c->rflags = ((fl & writable) | (f & ~writable)) | 2;
	c->cc_op = CC_EAGER;
	ladjust(c, 3 * (uint64_t)i->osz);
	far_cs(c, cs, ip & ip_mask(i));
	c->sys->nmi_blocked = false;
	c->sys->poll_now = true;
}

static cpu_handler legacy[OP_COUNT];

cpu_handler cpu_legacy_handler(struct insn *i)
{
	/* Default segments (Vol. 1 §3.7.4): SS for rBP/rSP bases, else DS. */
	if ((i->flags & IF_MEM) && !i->seg)
		i->seg = (i->base == 4 || i->base == 5) ? 3 : 4;
	/* String sources default to DS (exec_string.c adds ES for the
	 * destination itself). */
	if (!i->seg && ((i->op >= 0xa4 && i->op <= 0xa7) || i->op == 0xac || i->op == 0xad ||
			i->op == 0x6e || i->op == 0x6f))
		i->seg = 4;
	return legacy[i->op];
}

void cpu_exec_init_legacy(void)
{
	for (unsigned r = 0; r < 8; r++) {
		legacy[0x40 + r] = legacy[0x48 + r] = l_incdec_r;
		legacy[0x50 + r] = l_push_r;
		legacy[0x58 + r] = l_pop_r;
	}
	legacy[0x68] = legacy[0x6a] = l_push_imm;
	legacy[0x8f] = l_pop_rm;
	legacy[0x60] = l_pusha;
	legacy[0x61] = l_popa;
	legacy[0x9c] = l_pushf;
	legacy[0x9d] = l_popf;
	legacy[0xe8] = l_call_rel;
	legacy[0xe9] = legacy[0xeb] = l_jmp_rel;
	legacy[0xc3] = legacy[0xc2] = l_ret;
	legacy[0xc9] = l_leave;
	legacy[0x8e] = l_mov_to_sreg;
	legacy[0x06] = legacy[0x0e] = legacy[0x16] = legacy[0x1e] = l_push_sreg;
	legacy[0x07] = legacy[0x17] = legacy[0x1f] = l_pop_sreg;
	legacy[OP_0F + 0xa0] = legacy[OP_0F + 0xa8] = l_push_sreg;
	legacy[OP_0F + 0xa1] = legacy[OP_0F + 0xa9] = l_pop_sreg;
	legacy[0xea] = l_jmp_far;
	legacy[0x9a] = l_call_far;
	legacy[0xca] = legacy[0xcb] = l_ret_far;
	legacy[0xff] = l_grp5;
	for (unsigned k = 0xa0; k <= 0xa3; k++)
		legacy[k] = l_mov_moffs;
	legacy[0xcd] = l_int;
	legacy[0xcf] = l_iret;
}
