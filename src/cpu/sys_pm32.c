/* Interrupts and IRET in legacy protected mode (CR0.PE=1, EFER.LMA=0): the
 * 8-byte IDT gates, the inter-privilege stack switch through a 16- or 32-bit
 * TSS, and the matching IRET (Intel SDM Vol. 3 §6.11-§6.12, Vol. 2 "IRET").
 * Task gates, task returns (NT) and virtual-8086 mode are not implemented:
 * a task gate is a triple fault, the others #GP. Segment limits of the
 * stacks are not checked (paging still is), as for the other legacy paths. */
#include "cpu/cpu_int.h"
#include "cpu/sys.h"

enum { GATE_TASK = 5, GATE_INT16 = 6, GATE_TRAP16 = 7, GATE_INT32 = 0xe, GATE_TRAP32 = 0xf };

/* SS:ESP for privilege level cpl from the current TSS (Vol. 3 §7.2.1,
 * Figures 7-2 and 7-11); ext is the EXT bit for error codes. */
static void tss_stack(struct cpu *c, unsigned cpl, uint32_t ext, uint16_t *ss, uint32_t *esp)
{
	struct cpu_sys *s = c->sys;
	bool tss32 = (s->tr.attr & 0x8) != 0; /* types 9/11 vs 1/3 */
	unsigned off = tss32 ? 4 + 8 * cpl : 2 + 4 * cpl;
	uint8_t b[8];

	if (off + (tss32 ? 6u : 4u) - 1 > s->tr.limit)
		sys_raise_ec(c, CPU_VEC_TS, (s->tr.sel & 0xfffc) | ext);
	sys_lin_read(c, s->tr.base + off, b, tss32 ? 6 : 4);
	if (tss32) {
		*esp = (uint32_t)(b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24);
		*ss = (uint16_t)(b[4] | b[5] << 8);
	} else {
		*esp = (uint32_t)(b[0] | b[1] << 8);
		*ss = (uint16_t)(b[2] | b[3] << 8);
	}
}

/* The stack segment for level cpl, checked as an interrupt's SS (§6.12.1.1). */
static void load_ss(struct cpu *c, uint16_t sel, unsigned cpl, unsigned vec, uint32_t ext,
		    struct sys_seg *ss)
{
	uint8_t raw[8];

	if (!(sel & 0xfffc))
		sys_raise_ec(c, vec, ext);
	sys_read_desc(c, sel, raw, ext);
	sys_desc_parse(raw, ss, sel);
	if ((sel & 3) != cpl || SA_DPL(ss->attr) != cpl || !(ss->attr & SA_S) ||
	    (ss->attr & 0xa) != 0x2)
		sys_raise_ec(c, vec, (sel & 0xfffc) | ext);
	if (!(ss->attr & SA_P))
		sys_raise_ec(c, CPU_VEC_SS, (sel & 0xfffc) | ext);
}

static uint64_t stack_mask(const struct sys_seg *ss)
{
	return (ss->attr & SA_DB) ? 0xffffffffULL : 0xffffULL;
}

void sys_pm32_deliver(struct cpu *c, unsigned vector, int kind, bool has_ec, uint32_t ec,
		      uint64_t ret_ip)
{
	struct cpu_sys *s = c->sys;
	uint32_t ext = kind == SYS_EV_SOFT ? 0 : 1;
	uint32_t idt_ec = vector * 8 + 2 + ext;
	uint8_t gate[8], raw[8], frame[40];
	struct sys_seg cs, ss = s->seg[SEG_SS];
	unsigned type, dpl, new_cpl, sz, n = 0;
	uint64_t esp = c->gpr[4], flags, vals[6];
	uint16_t sel;
	uint32_t target;

	if (vector * 8 + 7 > s->idt_limit)
		sys_raise_ec(c, CPU_VEC_GP, idt_ec);
	sys_lin_read(c, s->idt_base + vector * 8, gate, 8);
	type = gate[5] & 0x1f;
	dpl = (gate[5] >> 5) & 3;
	if (type == GATE_TASK) {
		/* Task switches are not implemented: stop the machine. */
		s->shutdown = true;
		c->exit->reason = CPU_EXIT_SHUTDOWN;
		cpu_stop(c);
		longjmp(c->jb, 3);
	}
	if (type != GATE_INT16 && type != GATE_TRAP16 && type != GATE_INT32 && type != GATE_TRAP32)
		sys_raise_ec(c, CPU_VEC_GP, idt_ec);
	if (kind == SYS_EV_SOFT && dpl < c->cpl)
		sys_raise_ec(c, CPU_VEC_GP, idt_ec);
	if (!(gate[5] & 0x80))
		sys_raise_ec(c, CPU_VEC_NP, idt_ec);
	if (c->rflags & FL_VM)
		sys_raise_ec(c, CPU_VEC_GP, idt_ec); /* virtual-8086 mode: not implemented */
	sz = (type & 8) ? 4 : 2;
	sel = (uint16_t)(gate[2] | gate[3] << 8);
	target = (uint32_t)(gate[0] | gate[1] << 8 | gate[6] << 16 | (uint32_t)gate[7] << 24);
	if (sz == 2)
		target &= 0xffff;
	if (!(sel & 0xfffc))
		sys_raise_ec(c, CPU_VEC_GP, ext);
	sys_read_desc(c, sel, raw, ext);
	sys_desc_parse(raw, &cs, sel);
	if ((cs.attr & (SA_S | 0x8)) != (SA_S | 0x8) || SA_DPL(cs.attr) > c->cpl)
		sys_raise_ec(c, CPU_VEC_GP, (sel & 0xfffc) | ext);
	if (!(cs.attr & SA_P))
		sys_raise_ec(c, CPU_VEC_NP, (sel & 0xfffc) | ext);
	new_cpl = (cs.attr & 0x4) ? c->cpl : SA_DPL(cs.attr); /* conforming keeps CPL */
	flags = cpu_get_flags(c) | 2;
	if (new_cpl < c->cpl) {
		uint16_t nss;
		uint32_t nesp;

		tss_stack(c, new_cpl, ext, &nss, &nesp);
		load_ss(c, nss, new_cpl, CPU_VEC_TS, ext, &ss);
		vals[n++] = c->sel[SEG_SS];
		vals[n++] = c->gpr[4] & stack_mask(&s->seg[SEG_SS]);
		esp = nesp;
	}
	vals[n++] = flags;
	vals[n++] = c->sel[SEG_CS];
	vals[n++] = ret_ip;
	if (has_ec)
		vals[n++] = ec;
	/* vals[] is in push order; frame[] is memory order (lowest first). */
	for (unsigned k = 0; k < n; k++) {
		uint32_t v = (uint32_t)vals[n - 1 - k];

		memcpy(frame + k * sz, &v, sz);
	}
	esp = (esp - n * sz) & stack_mask(&ss);
	sys_lin_write(c, (uint32_t)(ss.base + esp), frame, n * sz);
	/* Committed: nothing below can fault. */
	if (new_cpl < c->cpl) {
		s->seg[SEG_SS] = ss;
		c->sel[SEG_SS] = ss.sel;
	}
	c->gpr[4] = (c->gpr[4] & ~stack_mask(&ss)) | esp;
	sys_enter_handler(c, &cs, sel, new_cpl, flags, !(type & 1), target, kind);
}

/* Data segment registers that the outer level may not use become null
 * on a return to it (Vol. 2 "IRET", RETURN-TO-OUTER-PRIVILEGE-LEVEL). */
static void drop_inner_segs(struct cpu *c, unsigned cpl)
{
	static const unsigned regs[] = { SEG_ES, SEG_DS, SEG_FS, SEG_GS };
	struct cpu_sys *s = c->sys;

	for (unsigned k = 0; k < 4; k++) {
		struct sys_seg *g = &s->seg[regs[k]];
		bool conforming_code = (g->attr & 0xc) == 0xc;

		if ((c->sel[regs[k]] & 0xfffc) && !conforming_code && SA_DPL(g->attr) < cpl) {
			g->sel = 0, g->attr = 0, g->base = 0;
			c->sel[regs[k]] = 0;
			if (regs[k] == SEG_FS)
				c->fs_base = 0;
			else if (regs[k] == SEG_GS)
				c->gs_base = 0;
		}
	}
}

void sys_pm32_iret(struct cpu *c, int sz)
{
	struct cpu_sys *s = c->sys;
	struct sys_seg cs, ss = s->seg[SEG_SS];
	uint64_t mask = stack_mask(&s->seg[SEG_SS]), sp = c->gpr[4] & mask;
	uint64_t writable = FL_ARITH | FL_TF | FL_DF | FL_NT | FL_AC | FL_ID | FL_RF, f;
	uint32_t v[5] = { 0 };
	uint8_t buf[20], raw[8];
	unsigned new_cpl, n;
	uint16_t csel;

	if (c->rflags & FL_NT)
		cpu_gp0(c); /* a task return: task switches are not implemented */
	sys_lin_read(c, (uint32_t)(ss.base + sp), buf, 3 * (unsigned)sz);
	for (unsigned k = 0; k < 3; k++)
		memcpy(&v[k], buf + k * (unsigned)sz, (size_t)sz);
	csel = (uint16_t)v[1];
	if (sz == 4 && (v[2] & FL_VM) && c->cpl == 0)
		cpu_gp0(c); /* a return to virtual-8086 mode: not implemented */
	if (!(csel & 0xfffc))
		cpu_gp0(c);
	sys_read_desc(c, csel, raw, 0);
	sys_desc_parse(raw, &cs, csel);
	new_cpl = csel & 3;
	if ((cs.attr & (SA_S | 0x8)) != (SA_S | 0x8) || new_cpl < c->cpl ||
	    ((cs.attr & 0x4) ? SA_DPL(cs.attr) > new_cpl : SA_DPL(cs.attr) != new_cpl))
		sys_raise_ec(c, CPU_VEC_GP, csel & 0xfffc);
	if (!(cs.attr & SA_P))
		sys_raise_ec(c, CPU_VEC_NP, csel & 0xfffc);
	n = 3;
	if (new_cpl > c->cpl) {
		sys_lin_read(c, (uint32_t)(ss.base + ((sp + 3 * (unsigned)sz) & mask)), buf,
			     2 * (unsigned)sz);
		memcpy(&v[3], buf, (size_t)sz);
		memcpy(&v[4], buf + sz, (size_t)sz);
		load_ss(c, (uint16_t)v[4], new_cpl, CPU_VEC_GP, 0, &ss);
		n = 5;
	}
	if (c->cpl == 0)
		writable |= FL_IF | FL_IOPL | FL_VIF | FL_VIP;
	else if (c->cpl <= ((c->rflags >> 12) & 3))
		writable |= FL_IF;
	if (sz == 2)
		writable &= 0xffff;
	f = cpu_get_flags(c);
	c->rflags = (((v[2] & writable) | (f & ~writable)) & ~(uint64_t)0xffc08028ULL) | 2;
	c->cc_op = CC_EAGER;
	c->rip = sz == 2 ? (v[0] & 0xffff) : v[0];
	cs.sel = csel;
	s->seg[SEG_CS] = cs;
	c->sel[SEG_CS] = csel;
	if (n == 5) {
		s->seg[SEG_SS] = ss;
		c->sel[SEG_SS] = ss.sel;
		mask = stack_mask(&ss);
		c->gpr[4] = (c->gpr[4] & ~mask) | (v[3] & mask);
		sys_set_cpl(c, new_cpl);
		drop_inner_segs(c, new_cpl);
	} else {
		c->gpr[4] = (c->gpr[4] & ~mask) | ((sp + 3 * (unsigned)sz) & mask);
	}
	sys_update_mode(c);
	s->nmi_blocked = false;
	s->poll_now = true;
}
