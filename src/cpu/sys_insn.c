/* System-mode instructions (Intel SDM Vol. 2 and Vol. 3): port I/O, CLI/STI,
 * HLT, IRET, far RET, INT n, SYSCALL/SYSRET, SWAPGS, segment loads, the
 * descriptor-table instructions, MOV CR/DR, RDMSR/WRMSR, CPUID and RDTSC
 * through the board. Each handler wraps the user-mode one: a USER64 CPU
 * keeps the user-mode behaviour (see cpu_exec_init_sys). */
#include "cpu/sys.h"

static cpu_handler user_h[OP_COUNT];

#define SYS_OR_USER(c, i)                                                                          \
	do {                                                                                       \
		if (!(c)->sys) {                                                                   \
			user_h[(i)->op]((c), (i));                                                 \
			return;                                                                    \
		}                                                                                  \
	} while (0)

static unsigned iopl(struct cpu *c)
{
	return (unsigned)(c->rflags >> 12) & 3;
}

static void need_cpl0(struct cpu *c)
{
	if (c->cpl != 0)
		cpu_gp0(c);
}

static void set_flags(struct cpu *c, uint64_t f)
{
	c->rflags = (f & ~(uint64_t)0xffc08028ULL) | 2; /* reserved bits: 1 = 1, 3/5/15/22+ = 0 */
	c->cc_op = CC_EAGER;
}

static bool canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

/* ---- Port I/O (Vol. 1 §19.5: CPL > IOPL is #GP; the TSS I/O bitmap is
 * treated as denying everything) ---- */

static void io_check(struct cpu *c)
{
	if (c->cpl > iopl(c))
		cpu_gp0(c);
}

static uint32_t pio_in(struct cpu *c, uint16_t port, unsigned sz)
{
	return c->sys->ops->pio_read(c->sys->opaque, port, sz);
}

static void pio_out(struct cpu *c, uint16_t port, uint32_t v, unsigned sz)
{
	c->sys->ops->pio_write(c->sys->opaque, port, v, sz);
}

static void h_inout(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz > 4 ? 4 : i->osz;
	uint16_t port;

	SYS_OR_USER(c, i);
	io_check(c);
	switch (i->op) {
	case 0xe4: case 0xe5: case 0xe6: case 0xe7:
		port = (uint8_t)i->imm;
		break;
	default:
		port = (uint16_t)c->gpr[2];
		break;
	}
	if (i->op == 0xe4 || i->op == 0xe5 || i->op == 0xec || i->op == 0xed)
		reg_write(c, 0, (int)sz, 0, pio_in(c, port, sz) & (uint32_t)size_mask((int)sz));
	else
		pio_out(c, port, (uint32_t)(c->gpr[0] & size_mask((int)sz)), sz);
}

static uint64_t amask(const struct insn *i)
{
	return size_mask(i->asz);
}

/* 6C/6D INS, 6E/6F OUTS (REP forms: one element per iteration; devices are
 * slow anyway). */
static void h_insouts(struct cpu *c, const struct insn *i)
{
	unsigned sz = i->osz > 4 ? 4 : i->osz;
	bool rep = i->flags & (IF_REP | IF_REPNE), in = i->op <= 0x6d;
	uint64_t m = amask(i);
	int64_t d = (c->rflags & FL_DF) ? -(int64_t)sz : (int64_t)sz;
	uint16_t port = (uint16_t)c->gpr[2];

	SYS_OR_USER(c, i);
	io_check(c);
	while (!rep || (c->gpr[1] & m)) {
		if (in) {
			uint64_t a = (c->gpr[7] & m) + c->seg_base[0]; /* ES */
			uint32_t v;

			/* Probe the destination before reading the port. */
			(void)mem_read_w(c, a, (int)sz);
			v = pio_in(c, port, sz);
			mem_write(c, a, (int)sz, v);
			c->gpr[7] = (c->gpr[7] & ~m) | ((c->gpr[7] + (uint64_t)d) & m);
		} else {
			uint64_t a = c->gpr[6] & m;

			if (i->seg == 5)
				a += c->fs_base;
			else if (i->seg == 6)
				a += c->gs_base;
			else if (i->seg)
				a = (uint32_t)(a + c->seg_base[i->seg - 1]);
			pio_out(c, port, (uint32_t)mem_read(c, a, (int)sz), sz);
			c->gpr[6] = (c->gpr[6] & ~m) | ((c->gpr[6] + (uint64_t)d) & m);
		}
		if (!rep)
			break;
		c->gpr[1] = (c->gpr[1] & ~m) | ((c->gpr[1] - 1) & m);
		if (i->asz == 4)
			c->gpr[1] &= 0xffffffffULL, c->gpr[6] &= 0xffffffffULL, c->gpr[7] &= 0xffffffffULL;
	}
}

/* ---- Interrupt flag, HLT ---- */

static void h_cli(struct cpu *c, const struct insn *i)
{
	SYS_OR_USER(c, i);
	if (c->cpl > iopl(c))
		cpu_gp0(c);
	c->rflags &= ~(uint64_t)FL_IF;
}

static void h_sti(struct cpu *c, const struct insn *i)
{
	SYS_OR_USER(c, i);
	if (c->cpl > iopl(c))
		cpu_gp0(c);
	/* Interrupts stay blocked for one more instruction (Vol. 2 "STI"). */
	if (!(c->rflags & FL_IF))
		c->sys->shadow = true;
	c->rflags |= FL_IF;
}

static void h_hlt(struct cpu *c, const struct insn *i)
{
	SYS_OR_USER(c, i);
	need_cpl0(c);
	c->sys->shadow = false; /* the interrupt that wakes HLT is taken after it */
	c->exit->reason = CPU_EXIT_HLT;
	cpu_stop(c);
}

/* 9D POPF (Vol. 2 "POPF"): IOPL only at CPL0, IF only at CPL <= IOPL. */
static void h_popf(struct cpu *c, const struct insn *i)
{
	uint64_t writable = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_AC | FL_ID, v, f;
	int sz;

	SYS_OR_USER(c, i);
	sz = i->osz == 2 ? 2 : 8;
	v = mem_read(c, c->gpr[4], sz);
	if (c->cpl == 0)
		writable |= FL_IF | FL_IOPL;
	else if (c->cpl <= iopl(c))
		writable |= FL_IF;
	if (sz == 2)
		writable &= 0xffff;
	c->gpr[4] += (uint64_t)sz;
	f = cpu_get_flags(c);
	set_flags(c, ((v & writable) | (f & ~writable)) & ~(uint64_t)(FL_RF | FL_VM));
	/* Only IF rising makes a pending interrupt deliverable now (Linux's
	 * local_irq_restore with IF already set is the common POPF). */
	if (!(f & FL_IF) && (c->rflags & FL_IF))
		c->sys->poll_now = true;
}

/* ---- Segments ---- */

/* Loads a data/stack segment register in 64-bit mode (Vol. 2 "MOV",
 * Vol. 3 §5.10). */
void sys_load_seg(struct cpu *c, unsigned r, uint16_t sel)
{
	struct cpu_sys *s = c->sys;
	struct sys_seg d;
	uint8_t raw[8];
	unsigned rpl = sel & 3, dpl;

	if (!(sel & 0xfffc)) {
		/* Null: allowed for SS only in 64-bit mode at CPL < 3 with
		 * RPL = CPL. FS/GS bases are cleared (Intel behaviour). */
		if (r == SEG_SS && (c->cpl == 3 || rpl != c->cpl))
			cpu_gp0(c);
		s->seg[r].sel = sel;
		s->seg[r].attr = r == SEG_SS ? (uint16_t)(c->cpl << 5) : 0;
		s->seg[r].base = 0;

		c->sel[r] = sel;
		if (r == SEG_FS)
			c->fs_base = 0;
		else if (r == SEG_GS)
			c->gs_base = 0;
		if (c->code_size)
			sys_update_mode(c);
		return;
	}
	sys_read_desc(c, sel, raw, 0);
	sys_desc_parse(raw, &d, sel);
	dpl = SA_DPL(d.attr);
	if (!(d.attr & SA_S))
		sys_raise_ec(c, CPU_VEC_GP, sel & 0xfffc);
	if (r == SEG_SS) {
		/* Writable data, RPL = DPL = CPL. */
		if ((d.attr & 0xa) != 0x2 || rpl != c->cpl || dpl != c->cpl)
			sys_raise_ec(c, CPU_VEC_GP, sel & 0xfffc);
		if (!(d.attr & SA_P))
			sys_raise_ec(c, CPU_VEC_SS, sel & 0xfffc);
		c->sys->shadow = true; /* MOV SS shadow */
	} else {
		/* Data or readable code; non-conforming needs max(CPL,RPL) <= DPL. */
		if ((d.attr & 0xa) == 0x8)
			sys_raise_ec(c, CPU_VEC_GP, sel & 0xfffc);
		if ((d.attr & 0xc) != 0xc && (rpl > dpl || c->cpl > dpl))
			sys_raise_ec(c, CPU_VEC_GP, sel & 0xfffc);
		if (!(d.attr & SA_P))
			sys_raise_ec(c, CPU_VEC_NP, sel & 0xfffc);
	}
	/* The accessed bit: Linux's descriptors have it set already (its GDT
	 * is mapped read-only); set it otherwise. */
	if (!(raw[5] & 1)) {
		uint64_t base = (sel & 4) ? s->ldt.base : s->gdt_base;

		raw[5] |= 1;
		sys_lin_write(c, base + (sel & ~7u) + 5, &raw[5], 1);
		d.attr |= 1;
	}
	s->seg[r] = d;
	c->sel[r] = sel;
	if (r == SEG_FS)
		c->fs_base = d.base;
	else if (r == SEG_GS)
		c->gs_base = d.base;
	if (c->code_size)
		sys_update_mode(c);
}

static void h_mov_to_sreg(struct cpu *c, const struct insn *i)
{
	SYS_OR_USER(c, i);
	if (i->sub == SEG_CS || i->sub > 5)
		cpu_ud(c);
	sys_load_seg(c, i->sub, (uint16_t)rm_read(c, i, 2));
}

static void h_pop_sreg(struct cpu *c, const struct insn *i)
{
	int sz = i->osz == 2 ? 2 : 8;
	uint16_t v;

	SYS_OR_USER(c, i);
	v = (uint16_t)mem_read(c, c->gpr[4], sz);
	sys_load_seg(c, (i->op & 0xff) == 0xa1 ? SEG_FS : SEG_GS, v);
	c->gpr[4] += (uint64_t)sz;
}

/* Loads CS for a far return / IRET to 64-bit code (Vol. 2 "RET", "IRET"). */
static void load_cs_ret(struct cpu *c, uint16_t sel, struct sys_seg *out)
{
	uint8_t raw[8];
	unsigned rpl = sel & 3;

	if (!(sel & 0xfffc))
		cpu_gp0(c);
	sys_read_desc(c, sel, raw, 0);
	sys_desc_parse(raw, out, sel);
	if ((out->attr & (SA_S | 0x8)) != (SA_S | 0x8) || rpl < c->cpl ||
	    ((out->attr & 0x4) ? SA_DPL(out->attr) > rpl : SA_DPL(out->attr) != rpl))
		sys_raise_ec(c, CPU_VEC_GP, sel & 0xfffc);
	if (!(out->attr & SA_P))
		sys_raise_ec(c, CPU_VEC_NP, sel & 0xfffc);
}

/* SS for a return to an outer level, or the same level in 64-bit mode
 * (null allowed when the new CPL < 3). */
static void check_ss_ret(struct cpu *c, uint16_t sel, unsigned new_cpl, struct sys_seg *out)
{
	uint8_t raw[8];

	if (!(sel & 0xfffc)) {
		if (new_cpl == 3 || (sel & 3) != new_cpl)
			cpu_gp0(c);
		memset(out, 0, sizeof(*out));
		out->sel = sel;
		out->attr = (uint16_t)(new_cpl << 5);
		return;
	}
	sys_read_desc(c, sel, raw, 0);
	sys_desc_parse(raw, out, sel);
	if ((sel & 3) != new_cpl || SA_DPL(out->attr) != new_cpl || !(out->attr & SA_S) ||
	    (out->attr & 0xa) != 0x2)
		sys_raise_ec(c, CPU_VEC_GP, sel & 0xfffc);
	if (!(out->attr & SA_P))
		sys_raise_ec(c, CPU_VEC_SS, sel & 0xfffc);
}

static void commit_cs_ss(struct cpu *c, struct sys_seg *cs, struct sys_seg *ss, unsigned new_cpl)
{
	struct cpu_sys *s = c->sys;

	s->seg[SEG_CS] = *cs;
	c->sel[SEG_CS] = cs->sel;
	if (ss) {
		s->seg[SEG_SS] = *ss;
		c->sel[SEG_SS] = ss->sel;
	}
	sys_set_cpl(c, new_cpl);
	sys_update_mode(c);
}

/* CF IRET/IRETD/IRETQ in IA-32e mode (Vol. 2 "IRET"): always pops SS:RSP. */
static void h_iret(struct cpu *c, const struct insn *i)
{
	struct sys_seg cs, ss;
	int sz = i->osz;
	uint64_t rsp = c->gpr[4], rip, fl, nrsp, writable, f;
	uint16_t csel, ssel;
	unsigned new_cpl;

	SYS_OR_USER(c, i);
	if (c->rflags & FL_NT)
		cpu_gp0(c); /* task return: not in IA-32e mode */
	rip = mem_read(c, rsp, sz);
	csel = (uint16_t)mem_read(c, rsp + (uint64_t)sz, sz);
	fl = mem_read(c, rsp + 2 * (uint64_t)sz, sz);
	nrsp = mem_read(c, rsp + 3 * (uint64_t)sz, sz);
	ssel = (uint16_t)mem_read(c, rsp + 4 * (uint64_t)sz, sz);
	load_cs_ret(c, csel, &cs);
	new_cpl = csel & 3;
	check_ss_ret(c, ssel, new_cpl, &ss);
	if ((cs.attr & SA_L) && !canonical(rip))
		cpu_gp0(c);
	writable = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_AC | FL_ID | FL_RF;
	if (c->cpl == 0)
		writable |= FL_IF | FL_IOPL | FL_VIF | FL_VIP;
	else if (c->cpl <= iopl(c))
		writable |= FL_IF;
	if (sz == 2)
		writable &= 0xffff;
	f = cpu_get_flags(c);
	set_flags(c, (fl & writable) | (f & ~writable));
	c->rip = (cs.attr & SA_L) ? rip : (uint32_t)rip;
	c->gpr[4] = nrsp;
	commit_cs_ss(c, &cs, &ss, new_cpl);
	c->sys->nmi_blocked = false;
	c->sys->poll_now = true;
}

/* CA/CB far RET (Vol. 2 "RET"): same level, or to an outer level with
 * SS:RSP popped. Default operand size 32 in 64-bit mode. */
static void h_lret(struct cpu *c, const struct insn *i)
{
	struct sys_seg cs, ss;
	int sz = i->osz;
	uint64_t rsp = c->gpr[4], rip, imm = i->op == 0xca ? i->imm : 0;
	uint16_t csel;
	unsigned new_cpl;

	SYS_OR_USER(c, i);
	rip = mem_read(c, rsp, sz);
	csel = (uint16_t)mem_read(c, rsp + (uint64_t)sz, sz);
	load_cs_ret(c, csel, &cs);
	new_cpl = csel & 3;
	if ((cs.attr & SA_L) && !canonical(rip))
		cpu_gp0(c);
	rsp += 2 * (uint64_t)sz + imm;
	if (new_cpl != c->cpl) {
		uint64_t nrsp = mem_read(c, rsp, sz);
		uint16_t ssel = (uint16_t)mem_read(c, rsp + (uint64_t)sz, sz);

		check_ss_ret(c, ssel, new_cpl, &ss);
		c->gpr[4] = nrsp + imm;
		c->rip = rip;
		commit_cs_ss(c, &cs, &ss, new_cpl);
		return;
	}
	c->gpr[4] = rsp;
	c->rip = (cs.attr & SA_L) ? rip : (uint32_t)rip;
	commit_cs_ss(c, &cs, NULL, new_cpl);
}

/* ---- Software interrupts ---- */

static void h_int(struct cpu *c, const struct insn *i)
{
	SYS_OR_USER(c, i);
	sys_soft_int(c, (uint8_t)i->imm);
}

static void h_int3(struct cpu *c, const struct insn *i)
{
	SYS_OR_USER(c, i);
	if (__builtin_expect(c->sys->dbg != NULL, 0) && sys_debug_int3(c))
		return;
	sys_soft_int(c, CPU_VEC_BP);
}

/* ---- SYSCALL / SYSRET / SWAPGS (Vol. 2) ---- */

static void h_syscall(struct cpu *c, const struct insn *i)
{
	struct cpu_sys *s;
	uint16_t sel;

	SYS_OR_USER(c, i);
	s = c->sys;
	if (!(c->efer & EFER_SCE))
		cpu_ud(c);
	sel = (uint16_t)((c->star >> 32) & 0xfffc);
	c->gpr[1] = c->rip;
	c->gpr[11] = (cpu_get_flags(c) | 2) & ~(uint64_t)FL_RF;
	set_flags(c, cpu_get_flags(c) & ~(c->fmask | FL_RF));
	s->seg[SEG_CS] = (struct sys_seg){ 0, 0xffffffff, sel, 0xa09b };
	s->seg[SEG_SS] = (struct sys_seg){ 0, 0xffffffff, (uint16_t)(sel + 8), 0xc093 };
	c->sel[SEG_CS] = sel, c->sel[SEG_SS] = (uint16_t)(sel + 8);
	c->rip = c->lstar;
	sys_set_cpl(c, 0);
	sys_update_mode(c);
}

static void h_sysret(struct cpu *c, const struct insn *i)
{
	struct cpu_sys *s;
	uint16_t sel;

	SYS_OR_USER(c, i);
	s = c->sys;
	if (!(c->efer & EFER_SCE))
		cpu_ud(c);
	need_cpl0(c);
	sel = (uint16_t)(c->star >> 48);
	if (i->flags & IF_REXW) {
		if (!canonical(c->gpr[1]))
			cpu_gp0(c);
		s->seg[SEG_CS] = (struct sys_seg){ 0, 0xffffffff, (uint16_t)((sel + 16) | 3), 0xa0fb };
		c->rip = c->gpr[1];
	} else {
		s->seg[SEG_CS] = (struct sys_seg){ 0, 0xffffffff, (uint16_t)(sel | 3), 0xc0fb };
		c->rip = (uint32_t)c->gpr[1];
	}
	s->seg[SEG_SS] = (struct sys_seg){ 0, 0xffffffff, (uint16_t)((sel + 8) | 3), 0xc0f3 };
	c->sel[SEG_CS] = s->seg[SEG_CS].sel, c->sel[SEG_SS] = s->seg[SEG_SS].sel;
	set_flags(c, (c->gpr[11] & 0x3c7fd7) | 2);
	s->poll_now = true;
	sys_set_cpl(c, 3);
	sys_update_mode(c);
}

/* ---- Descriptor tables, CR0 low word, INVLPG (0F 00 / 0F 01) ---- */

static void h_0f00(struct cpu *c, const struct insn *i)
{
	struct cpu_sys *s;
	uint16_t sel;

	SYS_OR_USER(c, i);
	s = c->sys;
	switch (i->sub) {
	case 0: /* SLDT */
		rm_write(c, i, (i->flags & IF_MEM) ? 2 : i->osz, s->ldt.sel);
		return;
	case 1: /* STR */
		rm_write(c, i, (i->flags & IF_MEM) ? 2 : i->osz, s->tr.sel);
		return;
	case 2: case 3: {
		/* LLDT / LTR: 16-byte system descriptors in IA-32e mode. */
		uint8_t raw[16];
		struct sys_seg d;
		unsigned want = i->sub == 2 ? 0x2 : 0x9;

		need_cpl0(c);
		sel = (uint16_t)rm_read(c, i, 2);
		if (!(sel & 0xfffc)) {
			if (i->sub == 3)
				cpu_gp0(c);
			memset(&s->ldt, 0, sizeof(s->ldt));
			s->ldt.sel = sel;
			return;
		}
		if (sel & 4)
			sys_raise_ec(c, CPU_VEC_GP, sel & 0xfffc);
		if ((uint32_t)(sel & ~7u) + 15 > s->gdt_limit)
			sys_raise_ec(c, CPU_VEC_GP, sel & 0xfffc);
		sys_lin_read(c, s->gdt_base + (sel & ~7u), raw, 16);
		sys_desc_parse(raw, &d, sel);
		if ((d.attr & 0x1f) != want)
			sys_raise_ec(c, CPU_VEC_GP, sel & 0xfffc);
		if (!(d.attr & SA_P))
			sys_raise_ec(c, CPU_VEC_NP, sel & 0xfffc);
		d.base |= (uint64_t)(raw[8] | raw[9] << 8 | raw[10] << 16 | (uint32_t)raw[11] << 24)
			  << 32;
		if (i->sub == 3) {
			raw[5] |= 2; /* busy */
			sys_lin_write(c, s->gdt_base + (sel & ~7u) + 5, &raw[5], 1);
			d.attr |= 2;
			s->tr = d;
		} else {
			s->ldt = d;
		}
		return;
	}
	case 4: case 5: { /* VERR / VERW */
		uint8_t raw[8];
		struct sys_seg d;
		bool ok = false;
		uint64_t f;

		sel = (uint16_t)rm_read(c, i, 2);
		if ((sel & 0xfffc) && (uint32_t)(sel & ~7u) + 7 <=
		    ((sel & 4) ? s->ldt.limit : s->gdt_limit)) {
			sys_read_desc(c, sel, raw, 0);
			sys_desc_parse(raw, &d, sel);
			if ((d.attr & SA_S) && ((d.attr & 0xc) == 0xc ||
						(SA_DPL(d.attr) >= c->cpl && SA_DPL(d.attr) >= (sel & 3u))))
				ok = i->sub == 4 ? (!(d.attr & 8) || (d.attr & 2))
						 : (!(d.attr & 8) && (d.attr & 2));
		}
		f = cpu_get_flags(c) & ~(uint64_t)FL_ZF;
		cc_eager(c, ok ? f | FL_ZF : f);
		return;
	}
	default:
		cpu_ud(c);
	}
}

static void h_0f01(struct cpu *c, const struct insn *i)
{
	struct cpu_sys *s;
	uint64_t a;

	SYS_OR_USER(c, i);
	s = c->sys;
	if (!(i->flags & IF_MEM)) {
		switch (i->modrm) {
		case 0xf8: /* SWAPGS */
			need_cpl0(c);
			a = c->gs_base;
			c->gs_base = c->kernel_gs_base;
			c->kernel_gs_base = a;
			return;
		case 0xf9: /* RDTSCP */
			user_h[OP_0F + 0x31](c, i);
			c->gpr[1] = (uint32_t)c->tsc_aux;
			return;
		default:
			break;
		}
		if (i->sub == 4) { /* SMSW r */
			reg_write(c, i->rm, i->osz, i->flags, c->cr0 & size_mask(i->osz));
			return;
		}
		if (i->sub == 6) {
			a = rm_read(c, i, 2);
			goto lmsw;
		}
		cpu_ud(c);
	}
	switch (i->sub) {
	case 0: case 1: { /* SGDT / SIDT: 10 bytes in 64-bit mode, else 6 */
		uint8_t b[10];
		uint16_t lim = i->sub ? s->idt_limit : s->gdt_limit;
		uint64_t base = i->sub ? s->idt_base : s->gdt_base;

		memcpy(b, &lim, 2);
		memcpy(b + 2, &base, 8);
		mem_write_buf(c, insn_ea(c, i), b, c->code_size ? 6 : 10);
		return;
	}
	case 2: case 3: { /* LGDT / LIDT */
		uint8_t b[10];
		uint16_t lim;
		uint64_t base;

		need_cpl0(c);
		memset(b, 0, sizeof(b));
		mem_read_buf(c, insn_ea(c, i), b, c->code_size ? 6 : 10);
		memcpy(&lim, b, 2);
		memcpy(&base, b + 2, 8);
		if (c->code_size) /* 24-bit base with a 16-bit operand size */
			base &= i->osz == 2 ? 0xffffff : 0xffffffff;
		if (!canonical(base))
			cpu_gp0(c);
		if (i->sub == 2)
			s->gdt_base = base, s->gdt_limit = lim;
		else
			s->idt_base = base, s->idt_limit = lim;
		return;
	}
	case 4: /* SMSW m16 */
		mem_write(c, insn_ea(c, i), 2, c->cr0 & 0xffff);
		return;
	case 6:
		a = mem_read(c, insn_ea(c, i), 2);
	lmsw:
		/* LMSW loads PE MP EM TS and cannot clear PE (Vol. 2 "LMSW"). */
		need_cpl0(c);
		c->cr0 = (c->cr0 & ~0xeULL) | (a & 0xf) | (c->cr0 & CR0_PE);
		sys_fp_update(c);
		return;
	case 7: /* INVLPG */
		need_cpl0(c);
		sys_invlpg(c, insn_ea(c, i));
		return;
	default:
		cpu_ud(c);
	}
}

/* ---- Control and debug registers (Vol. 2 "MOV—Move to/from Control
 * Registers", Vol. 3 §2.5) ---- */

#define CR4_OK (0x1ULL | 0x2ULL | 0x4ULL | 0x8ULL | CR4_PSE | CR4_PAE | 0x40ULL | CR4_PGE | \
		0x100ULL | 0x200ULL | 0x400ULL)

static void write_cr(struct cpu *c, unsigned n, uint64_t v)
{
	uint64_t old;

	switch (n) {
	case 0:
		old = c->cr0;
		if ((v >> 32) || ((v & CR0_PG) && !(v & CR0_PE)) || ((v & CR0_NW) && !(v & CR0_CD)))
			cpu_gp0(c);
		if ((v & CR0_PG) && !(old & CR0_PG) && (c->efer & EFER_LME)) {
			if (!(c->cr4 & CR4_PAE))
				cpu_gp0(c);
			c->efer |= EFER_LMA; /* IA-32e activation (Vol. 3 §10.8.5) */
		}
		if (!(v & CR0_PG) && (old & CR0_PG)) {
			if (c->sys->seg[SEG_CS].attr & SA_L)
				cpu_gp0(c); /* leaving long mode needs compatibility mode */
			c->efer &= ~EFER_LMA;
		}
		c->cr0 = v | CR0_ET;
		sys_fp_update(c);
		if ((old ^ v) & (CR0_PG | CR0_WP | CR0_PE))
			sys_tlb_flush_all(c);
		sys_update_mode(c);
		return;
	case 2:
		c->cr2 = v;
		return;
	case 3:
		if (v & 0xfff0000000000000ULL)
			cpu_gp0(c);
		c->cr3 = v;
		sys_tlb_flush_nonglobal(c);
		return;
	case 4:
		if (v & ~CR4_OK)
			cpu_gp0(c);
		if ((c->efer & EFER_LMA) && !(v & CR4_PAE))
			cpu_gp0(c);
		old = c->cr4;
		c->cr4 = v;
		sys_fp_update(c);
		if ((old ^ v) & (CR4_PGE | CR4_PAE | CR4_PSE))
			sys_tlb_flush_all(c);
		return;
	case 8:
		if (v >> 4)
			cpu_gp0(c);
		c->cr8 = v;
		return;
	default:
		cpu_ud(c);
	}
}

static uint64_t read_cr(struct cpu *c, unsigned n)
{
	switch (n) {
	case 0: return c->cr0;
	case 2: return c->cr2;
	case 3: return c->cr3;
	case 4: return c->cr4;
	case 8: return c->cr8;
	default: cpu_ud(c);
	}
}

static void h_movcr(struct cpu *c, const struct insn *i)
{
	unsigned gpr = (i->flags & IF_MEM) ? 0xff : i->rm;

	SYS_OR_USER(c, i);
	if (i->reg != 0 && i->reg != 2 && i->reg != 3 && i->reg != 4 && i->reg != 8)
		cpu_ud(c);
	need_cpl0(c);
	if (gpr == 0xff)
		cpu_ud(c); /* mod != 3 is only reachable by odd encodings we do not model */
	if (i->op == OP_0F + 0x22)
		write_cr(c, i->reg, c->gpr[gpr]);
	else
		c->gpr[gpr] = read_cr(c, i->reg);
}

static void h_movdr(struct cpu *c, const struct insn *i)
{
	unsigned n = i->reg;

	SYS_OR_USER(c, i);
	if (n > 7 || (i->flags & IF_MEM))
		cpu_ud(c);
	need_cpl0(c);
	if (n == 4 || n == 5)
		n += 2; /* aliases of DR6/DR7 while CR4.DE = 0 */
	if (i->op == OP_0F + 0x23) {
		uint64_t v = c->gpr[i->rm];

		if (n == 6)
			v = (v & 0xe00f) | 0xffff0ff0;
		else if (n == 7)
			v = (v & 0xffffffffULL & ~0xd000ULL) | 0x400;
		c->sys->dr[n] = v;
	} else {
		c->gpr[i->rm] = c->sys->dr[n];
	}
}

static void h_clts(struct cpu *c, const struct insn *i)
{
	SYS_OR_USER(c, i);
	need_cpl0(c);
	c->cr0 &= ~CR0_TS;
	sys_fp_update(c);
}

static void h_wbinvd(struct cpu *c, const struct insn *i)
{
	SYS_OR_USER(c, i);
	need_cpl0(c);
}

/* ---- MSRs ---- */

static uint64_t tsc_now(struct cpu *c)
{
	struct cpu_sys *s = c->sys;

	if (s->ops->tsc)
		return s->ops->tsc(s->opaque) + (uint64_t)s->tsc_offset;
	return __builtin_ia32_rdtsc() + (uint64_t)s->tsc_offset;
}

static bool mtrr_fixed_index(uint32_t msr, unsigned *k)
{
	if (msr == 0x250)
		*k = 0;
	else if (msr == 0x258 || msr == 0x259)
		*k = msr - 0x258 + 1;
	else if (msr >= 0x268 && msr <= 0x26f)
		*k = msr - 0x268 + 3;
	else
		return false;
	return true;
}

/* Returns false for an MSR neither the core nor the board knows (#GP). */
static bool rdmsr(struct cpu *c, uint32_t msr, uint64_t *v)
{
	struct cpu_sys *s = c->sys;
	unsigned k;

	switch (msr) {
	case 0x10: *v = tsc_now(c); return true;
	case 0x8b: *v = 0; return true; /* BIOS_SIGN_ID: no microcode update loaded */
	case 0x10a: /* ARCH_CAPABILITIES: RDCL_NO, SKIP_L1DFL, MDS_NO, PSCHANGE_MC_NO, TAA_NO */
		*v = (1u << 0) | (1u << 3) | (1u << 5) | (1u << 6) | (1u << 8);
		return true;
	case 0x174: *v = s->sysenter_cs; return true;
	case 0x175: *v = s->sysenter_esp; return true;
	case 0x176: *v = s->sysenter_eip; return true;
	case 0xfe: *v = SYS_MTRR_VAR | (1u << 8) | (1u << 10); return true; /* MTRRcap: VCNT FIX WC */
	case 0x1a0: *v = s->misc_enable; return true;
	case 0x277: *v = s->pat; return true;
	case 0x2ff: *v = s->mtrr_def; return true;
	case 0xc0000080: *v = c->efer; return true;
	case 0xc0000081: *v = c->star; return true;
	case 0xc0000082: *v = c->lstar; return true;
	case 0xc0000083: *v = c->cstar; return true;
	case 0xc0000084: *v = c->fmask; return true;
	case 0xc0000100: *v = c->fs_base; return true;
	case 0xc0000101: *v = c->gs_base; return true;
	case 0xc0000102: *v = c->kernel_gs_base; return true;
	case 0xc0000103: *v = c->tsc_aux; return true;
	default:
		break;
	}
	if (msr >= 0x200 && msr < 0x200 + 2 * SYS_MTRR_VAR) {
		*v = s->mtrr_var[msr - 0x200];
		return true;
	}
	if (mtrr_fixed_index(msr, &k)) {
		*v = s->mtrr_fixed[k];
		return true;
	}
	return s->ops->rdmsr && s->ops->rdmsr(s->opaque, msr, v);
}

static bool wrmsr(struct cpu *c, uint32_t msr, uint64_t v)
{
	struct cpu_sys *s = c->sys;
	unsigned k;

	switch (msr) {
	case 0x10:
		s->tsc_offset = 0;
		s->tsc_offset = (int64_t)(v - tsc_now(c));
		return true;
	case 0x8b: return true; /* BIOS_SIGN_ID: Linux writes 0 before CPUID, then reads */
	case 0x174: s->sysenter_cs = v & 0xffff; return true;
	case 0x175: if (!canonical(v)) return false; s->sysenter_esp = v; return true;
	case 0x176: if (!canonical(v)) return false; s->sysenter_eip = v; return true;
	case 0x1a0: s->misc_enable = v; return true;
	case 0x277:
		for (k = 0; k < 8; k++) {
			unsigned t = (v >> (8 * k)) & 0xff;

			if (t == 2 || t == 3 || t > 7)
				return false;
		}
		s->pat = v;
		return true;
	case 0x2ff: if (v & ~0xcffULL) return false; s->mtrr_def = v; return true;
	case 0xc0000080: {
		uint64_t nv = (v & (EFER_SCE | EFER_LME | EFER_NXE)) | (c->efer & EFER_LMA);

		if (v & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE))
			return false;
		if ((c->cr0 & CR0_PG) && ((nv ^ c->efer) & EFER_LME))
			return false;
		if ((nv ^ c->efer) & EFER_NXE)
			sys_tlb_flush_all(c);
		c->efer = nv;
		return true;
	}
	case 0xc0000081: c->star = v; return true;
	case 0xc0000082: if (!canonical(v)) return false; c->lstar = v; return true;
	case 0xc0000083: if (!canonical(v)) return false; c->cstar = v; return true;
	case 0xc0000084: c->fmask = (uint32_t)v; return true;
	case 0xc0000100: if (!canonical(v)) return false; c->fs_base = v; return true;
	case 0xc0000101: if (!canonical(v)) return false; c->gs_base = v; return true;
	case 0xc0000102: if (!canonical(v)) return false; c->kernel_gs_base = v; return true;
	case 0xc0000103: c->tsc_aux = (uint32_t)v; return true;
	default:
		break;
	}
	if (msr >= 0x200 && msr < 0x200 + 2 * SYS_MTRR_VAR) {
		s->mtrr_var[msr - 0x200] = v;
		return true;
	}
	if (mtrr_fixed_index(msr, &k)) {
		s->mtrr_fixed[k] = v;
		return true;
	}
	return s->ops->wrmsr && s->ops->wrmsr(s->opaque, msr, v);
}

static void h_rdmsr(struct cpu *c, const struct insn *i)
{
	uint64_t v = 0;

	SYS_OR_USER(c, i);
	need_cpl0(c);
	if (!rdmsr(c, (uint32_t)c->gpr[1], &v))
		cpu_gp0(c);
	c->gpr[0] = (uint32_t)v, c->gpr[2] = v >> 32;
}

static void h_wrmsr(struct cpu *c, const struct insn *i)
{
	SYS_OR_USER(c, i);
	need_cpl0(c);
	if (!wrmsr(c, (uint32_t)c->gpr[1], (uint32_t)c->gpr[0] | (c->gpr[2] << 32)))
		cpu_gp0(c);
}

static void h_rdtsc(struct cpu *c, const struct insn *i)
{
	uint64_t t;

	SYS_OR_USER(c, i);
	if ((c->cr4 & 0x4) && c->cpl != 0) /* CR4.TSD */
		cpu_gp0(c);
	t = tsc_now(c);
	c->gpr[0] = (uint32_t)t, c->gpr[2] = t >> 32;
}

static void h_rdtscp(struct cpu *c, const struct insn *i)
{
	h_rdtsc(c, i);
	c->gpr[1] = (uint32_t)c->tsc_aux;
}

static void h_cpuid(struct cpu *c, const struct insn *i)
{
	uint32_t out[4];
	struct cpu_sys *s;

	SYS_OR_USER(c, i);
	s = c->sys;
	if (s->ops->cpuid)
		s->ops->cpuid(s->opaque, (uint32_t)c->gpr[0], (uint32_t)c->gpr[1], out);
	else
		cpu_do_cpuid(c, (uint32_t)c->gpr[0], (uint32_t)c->gpr[1], out);
	c->gpr[0] = out[0], c->gpr[3] = out[1], c->gpr[1] = out[2], c->gpr[2] = out[3];
}

static void h_sys_ud(struct cpu *c, const struct insn *i)
{
	SYS_OR_USER(c, i);
	cpu_ud(c);
}

static void h_0f01_rdtscp_wrap(struct cpu *c, const struct insn *i)
{
	if (c->sys && !(i->flags & IF_MEM) && i->modrm == 0xf9) {
		h_rdtscp(c, i);
		return;
	}
	h_0f01(c, i);
}

static void h_legacy_only(struct cpu *c, const struct insn *i)
{
	cpu_ud(c); /* 64-bit and user mode: invalid (decode.c marks them so anyway) */
}

/* System mode takes over op; user mode keeps what it had, and an op that had
 * no user-mode handler stays #UD there (it used to crash on a NULL handler). */
static void wrap(unsigned op, cpu_handler h)
{
	user_h[op] = cpu_handlers[op] ? cpu_handlers[op] : h_legacy_only;
	cpu_handlers[op] = h;
}

void cpu_exec_init_sys(void)
{
	static const uint16_t legacy_only[] = { 0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x60,
						0x61, 0x9a, 0xea };

	for (unsigned k = 0; k < sizeof(legacy_only) / sizeof(legacy_only[0]); k++)
		if (!cpu_handlers[legacy_only[k]])
			cpu_handlers[legacy_only[k]] = h_legacy_only;
	/* 40-4F: INC/DEC r16/r32 outside 64-bit mode (REX prefixes inside it). */
	for (unsigned k = 0x40; k <= 0x4f; k++)
		if (!cpu_handlers[k])
			cpu_handlers[k] = h_legacy_only;
	cpu_exec_init_legacy();
	static const uint16_t inout[] = { 0xe4, 0xe5, 0xe6, 0xe7, 0xec, 0xed, 0xee, 0xef };

	for (unsigned k = 0; k < sizeof(inout) / sizeof(inout[0]); k++)
		wrap(inout[k], h_inout);
	for (unsigned k = 0x6c; k <= 0x6f; k++)
		wrap(k, h_insouts);
	wrap(0xfa, h_cli);
	wrap(0xfb, h_sti);
	wrap(0xf4, h_hlt);
	wrap(0x9d, h_popf);
	wrap(0x8e, h_mov_to_sreg);
	wrap(OP_0F + 0xa1, h_pop_sreg);
	wrap(OP_0F + 0xa9, h_pop_sreg);
	wrap(0xcf, h_iret);
	wrap(0xca, h_lret);
	wrap(0xcb, h_lret);
	wrap(0xcd, h_int);
	wrap(0xcc, h_int3);
	wrap(OP_0F + 0x05, h_syscall);
	wrap(OP_0F + 0x07, h_sysret);
	wrap(OP_0F + 0x00, h_0f00);
	wrap(OP_0F + 0x01, h_0f01_rdtscp_wrap);
	wrap(OP_0F + 0x20, h_movcr);
	wrap(OP_0F + 0x22, h_movcr);
	wrap(OP_0F + 0x21, h_movdr);
	wrap(OP_0F + 0x23, h_movdr);
	wrap(OP_0F + 0x06, h_clts);
	wrap(OP_0F + 0x08, h_wbinvd);
	wrap(OP_0F + 0x09, h_wbinvd);
	wrap(OP_0F + 0x30, h_wrmsr);
	wrap(OP_0F + 0x32, h_rdmsr);
	wrap(OP_0F + 0x31, h_rdtsc);
	wrap(OP_0F + 0xa2, h_cpuid);
	wrap(OP_0F + 0x34, h_sys_ud); /* SYSENTER/SYSEXIT: SEP not advertised */
	wrap(OP_0F + 0x35, h_sys_ud);
}
