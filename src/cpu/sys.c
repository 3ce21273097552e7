/* System mode of the software CPU (issue 4): construction, reset and INIT-SIPI
 * state, state transfer, the run loop with interrupt polling, and event
 * delivery through the 64-bit IDT with #DF / triple-fault escalation (Intel
 * SDM Vol. 3 chapters 6 and 10). Instructions are in sys_insn.c, paging and
 * MMIO in sys_mmu.c. */
#include <errno.h>
#include <stdlib.h>
#include <x86intrin.h>

#include "accel/accel.h"
#include "cpu/sys.h"

void sys_set_cpl(struct cpu *c, unsigned cpl)
{
	/* TLB entries are tagged with the privilege class that filled them
	 * (cpu->tlb_tag): a CPL change needs no flush. */
	c->cpl = (uint8_t)cpl;
	c->tlb_tag = cpl != 3;
	c->xkey = (c->xkey & ~1ULL) | c->tlb_tag;
	c->xkey_g = (c->xkey_g & ~1ULL) | c->tlb_tag;
}

void sys_raise_ec(struct cpu *c, unsigned vector, uint32_t ec)
{
	cpu_raise(c, (uint8_t)vector, ec);
}

static void seg_set(struct sys_seg *s, uint16_t sel, uint64_t base, uint32_t limit, uint16_t attr)
{
	s->sel = sel, s->base = base, s->limit = limit, s->attr = attr;
}

void cpu_reset(struct cpu *c)
{
	struct cpu_sys *s = c->sys;

	if (!s)
		return;
	/* Vol. 3 §10.1.1, Table 10-1. */
	memset(c->gpr, 0, sizeof(c->gpr));
	c->gpr[2] = 0x600; /* EDX: family 6 */
	c->rip = 0xfff0;
	c->rflags = 2;
	c->cc_op = CC_EAGER;
	c->cr0 = 0x60000010;
	c->cr2 = c->cr3 = c->cr4 = c->cr8 = 0;
	sys_fp_update(c);
	c->efer = 0;
	c->fs_base = c->gs_base = c->kernel_gs_base = 0;
	c->star = c->lstar = c->cstar = c->fmask = c->tsc_aux = 0;
	sys_set_cpl(c, 0);
	for (unsigned k = 0; k < 6; k++)
		seg_set(&s->seg[k], 0, 0, 0xffff, 0x93);
	seg_set(&s->seg[SEG_CS], 0xf000, 0xffff0000ULL, 0xffff, 0x9b);
	for (unsigned k = 0; k < 6; k++)
		c->sel[k] = s->seg[k].sel;
	seg_set(&s->ldt, 0, 0, 0xffff, 0x82);
	seg_set(&s->tr, 0, 0, 0xffff, 0x8b);
	s->gdt_base = s->idt_base = 0;
	s->gdt_limit = s->idt_limit = 0xffff;
	memset(s->dr, 0, sizeof(s->dr));
	s->dr[6] = 0xffff0ff0;
	s->dr[7] = 0x400;
	s->sysenter_cs = s->sysenter_esp = s->sysenter_eip = 0;
	s->pat = 0x0007040600070406ULL;
	/* No firmware runs before a direct kernel boot, so the MTRRs start as
	 * firmware leaves them: enabled, default type write-back. */
	s->mtrr_def = 0x806;
	memset(s->mtrr_fixed, 0, sizeof(s->mtrr_fixed));
	memset(s->mtrr_var, 0, sizeof(s->mtrr_var));
	s->misc_enable = 1; /* fast strings */
	s->nmi = 0;
	s->nmi_blocked = false;
	s->shadow = false;
	s->delivering = -1;
	s->shutdown = false;
	/* x87/SSE power-up state (Vol. 1 §8.1.5 / Table 10-1: FCW 0x40 at
	 * power-up; FINIT sets 0x37f, which every OS does first). */
	c->fcw = 0x37f;
	c->fsw = 0;
	c->ftw_empty = 0xff;
	c->mxcsr = 0x1f80;
	c->mx_synced = false;
	memset(c->xmm, 0, sizeof(c->xmm));
	sys_tlb_flush_all(c);
	cpu_blocks_flush(c);
	sys_update_mode(c);
}

void cpu_start_sipi(struct cpu *c, uint8_t vector)
{
	if (!c->sys)
		return;
	cpu_reset(c);
	/* Vol. 3 §10.4.4.1 / §11.4.4: the AP starts at vector:0000. */
	seg_set(&c->sys->seg[SEG_CS], (uint16_t)(vector << 8), (uint64_t)vector << 12, 0xffff, 0x9b);
	c->sel[SEG_CS] = (uint16_t)(vector << 8);
	c->rip = 0;
	sys_update_mode(c);
}

struct cpu *cpu_create_system(const struct cpu_sys_ops *ops, void *opaque, struct err *err)
{
	static const struct cpu_mem_ops none = { 0 };
	struct cpu *c;
	struct cpu_sys *s;

	if (!ops || !ops->ram || !ops->mmio_read || !ops->mmio_write || !ops->pio_read ||
	    !ops->pio_write || !ops->intr_pending || !ops->intr_ack) {
		err_set(err, "cpu: system mode needs ram/mmio/pio/interrupt callbacks");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		err_errno(err, ENOMEM, "cpu");
		return NULL;
	}
	c = cpu_create(CPU_MODE_USER64, &none, NULL, err);
	if (!c) {
		free(s);
		return NULL;
	}
	s->ops = ops, s->opaque = opaque;
	c->mode = CPU_MODE_SYSTEM;
	c->sys = s;
	cpu_reset(c);
	return c;
}

void cpu_sys_destroy(struct cpu *c)
{
	if (c->sys) {
		sys_debug_free(c);
		free(c->sys);
		c->sys = NULL;
	}
}

void cpu_request_exit(struct cpu *c)
{
	if (c->sys)
		__atomic_store_n(&c->sys->kick, 1, __ATOMIC_RELEASE);
}

void cpu_inject_nmi(struct cpu *c)
{
	if (c->sys)
		__atomic_store_n(&c->sys->nmi, 1, __ATOMIC_RELEASE);
}

/* ---- State transfer ---- */

static void seg_to_x86(const struct sys_seg *s, struct x86_segment *x)
{
	x->base = s->base;
	x->limit = s->limit;
	x->selector = s->sel;
	x->type = s->attr & 0xf;
	x->s = (s->attr >> 4) & 1;
	x->dpl = (s->attr >> 5) & 3;
	x->present = (s->attr >> 7) & 1;
	x->avl = (s->attr >> 12) & 1;
	x->l = (s->attr >> 13) & 1;
	x->db = (s->attr >> 14) & 1;
	x->g = (s->attr >> 15) & 1;
	x->unusable = !x->present;
}

static void seg_from_x86(struct sys_seg *s, const struct x86_segment *x)
{
	s->base = x->base;
	s->limit = x->limit;
	s->sel = x->selector;
	s->attr = (uint16_t)((x->type & 0xf) | (x->s & 1) << 4 | (x->dpl & 3) << 5 |
			     (x->present && !x->unusable) << 7 | (x->avl & 1) << 12 |
			     (x->l & 1) << 13 | (x->db & 1) << 14 | (x->g & 1) << 15);
}

int cpu_get_x86_state(struct cpu *c, struct x86_cpu_state *st)
{
	struct cpu_sys *s = c->sys;

	if (!s)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	memcpy(st->gpr, c->gpr, sizeof(st->gpr));
	st->rip = c->rip;
	st->rflags = cpu_get_flags(c) | 2;
	s->seg[SEG_FS].base = c->fs_base;
	s->seg[SEG_GS].base = c->gs_base;
	seg_to_x86(&s->seg[SEG_CS], &st->cs);
	seg_to_x86(&s->seg[SEG_DS], &st->ds);
	seg_to_x86(&s->seg[SEG_ES], &st->es);
	seg_to_x86(&s->seg[SEG_FS], &st->fs);
	seg_to_x86(&s->seg[SEG_GS], &st->gs);
	seg_to_x86(&s->seg[SEG_SS], &st->ss);
	seg_to_x86(&s->tr, &st->tr);
	seg_to_x86(&s->ldt, &st->ldt);
	st->gdt.base = s->gdt_base, st->gdt.limit = s->gdt_limit;
	st->idt.base = s->idt_base, st->idt.limit = s->idt_limit;
	st->cr0 = c->cr0, st->cr2 = c->cr2, st->cr3 = c->cr3, st->cr4 = c->cr4, st->cr8 = c->cr8;
	st->efer = c->efer;
	return 0;
}

int cpu_set_x86_state(struct cpu *c, const struct x86_cpu_state *st)
{
	struct cpu_sys *s = c->sys;

	if (!s)
		return -EINVAL;
	memcpy(c->gpr, st->gpr, sizeof(c->gpr));
	c->rip = st->rip;
	c->rflags = (st->rflags & 0x3f7fd7) | 2;
	c->cc_op = CC_EAGER;
	seg_from_x86(&s->seg[SEG_CS], &st->cs);
	seg_from_x86(&s->seg[SEG_DS], &st->ds);
	seg_from_x86(&s->seg[SEG_ES], &st->es);
	seg_from_x86(&s->seg[SEG_FS], &st->fs);
	seg_from_x86(&s->seg[SEG_GS], &st->gs);
	seg_from_x86(&s->seg[SEG_SS], &st->ss);
	seg_from_x86(&s->tr, &st->tr);
	seg_from_x86(&s->ldt, &st->ldt);
	for (unsigned k = 0; k < 6; k++)
		c->sel[k] = s->seg[k].sel;
	c->fs_base = st->fs.base, c->gs_base = st->gs.base;
	s->gdt_base = st->gdt.base, s->gdt_limit = st->gdt.limit;
	s->idt_base = st->idt.base, s->idt_limit = st->idt.limit;
	c->cr0 = st->cr0, c->cr2 = st->cr2, c->cr3 = st->cr3, c->cr4 = st->cr4;
	c->cr8 = st->cr8 & 15;
	sys_fp_update(c);
	c->efer = st->efer;
	/* CPL is the DPL of SS in protected mode (Vol. 3 §5.5); 0 in real mode. */
	sys_set_cpl(c, (c->cr0 & CR0_PE) ? SA_DPL(s->seg[SEG_SS].attr) : 0);
	sys_tlb_flush_all(c);
	cpu_blocks_flush(c);
	sys_update_mode(c);
	return 0;
}

/* Feature bits system mode implements (see cpu.h). */
void cpu_sys_features(uint32_t out[7])
{
	/* Leaf 1 ECX: CX16 (13), POPCNT (23). */
	out[0] = (1u << 13) | (1u << 23);
	/* Leaf 1 EDX: FPU 0, DE 2? no; TSC 4, MSR 5, PAE 6, CX8 8, APIC 9 (the
	 * board's LAPIC), PGE 13, MTRR 12, CMOV 15, PAT 16, CLFSH 19, MMX 23,
	 * FXSR 24, SSE 25, SSE2 26. */
	out[1] = (1u << 0) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) | (1u << 9) |
		 (1u << 12) | (1u << 13) | (1u << 15) | (1u << 16) | (1u << 19) | (1u << 23) |
		 (1u << 24) | (1u << 25) | (1u << 26);
	/* Leaf 7.0: nothing in EBX/ECX; EDX ARCH_CAPABILITIES (29): MSR 0x10a
	 * says the CPU is not affected by Meltdown/MDS/TAA, so Linux keeps
	 * PTI off (which would write CR3 on every kernel entry). */
	out[2] = 0;
	out[3] = 0;
	out[4] = 1u << 29;
	/* 0x80000001 ECX: LAHF-SAHF (0), ABM/LZCNT (5); EDX: SYSCALL 11, NX 20,
	 * RDTSCP 27, LM 29. */
	out[5] = (1u << 0) | (1u << 5);
	out[6] = (1u << 11) | (1u << 20) | (1u << 27) | (1u << 29);
}

/* ---- Event delivery (Vol. 3 §6.14, 64-bit IDT) ---- */

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* Reads the 8-byte descriptor for sel from the GDT/LDT; #GP(sel) beyond the
 * limit (raised with ext folded into the error code). */
void sys_read_desc(struct cpu *c, uint16_t sel, uint8_t d[8], uint32_t ext)
{
	struct cpu_sys *s = c->sys;
	uint64_t base = (sel & 4) ? s->ldt.base : s->gdt_base;
	uint32_t limit = (sel & 4) ? s->ldt.limit : s->gdt_limit;

	if ((sel & 4) && !(s->ldt.attr & SA_P))
		sys_raise_ec(c, CPU_VEC_GP, (sel & 0xfffc) | ext);
	if ((uint32_t)(sel & ~7u) + 7 > limit)
		sys_raise_ec(c, CPU_VEC_GP, (sel & 0xfffc) | ext);
	sys_lin_read(c, base + (sel & ~7u), d, 8);
}

void sys_desc_parse(const uint8_t d[8], struct sys_seg *out, uint16_t sel)
{
	uint32_t limit = d[0] | d[1] << 8 | (d[6] & 0xf) << 16;

	out->base = (uint64_t)d[2] | (uint64_t)d[3] << 8 | (uint64_t)d[4] << 16 |
		    (uint64_t)d[7] << 24;
	out->attr = (uint16_t)(d[5] | (d[6] & 0xf0) << 8);
	if (out->attr & SA_G)
		limit = limit << 12 | 0xfff;
	out->limit = limit;
	out->sel = sel;
}

void sys_enter_handler(struct cpu *c, struct sys_seg *cs, uint16_t sel, unsigned new_cpl,
		       uint64_t flags, bool interrupt_gate, uint64_t target, int kind)
{
	cs->sel = (uint16_t)((sel & 0xfffc) | new_cpl);
	c->sys->seg[SEG_CS] = *cs;
	c->sel[SEG_CS] = cs->sel;
	flags &= ~(uint64_t)(FL_TF | FL_NT | FL_RF | FL_VM);
	if (interrupt_gate)
		flags &= ~(uint64_t)FL_IF;
	c->rflags = flags;
	c->cc_op = CC_EAGER;
	c->rip = target;
	sys_set_cpl(c, new_cpl);
	sys_update_mode(c);
	if (kind == SYS_EV_NMI)
		c->sys->nmi_blocked = true;
}

static bool has_error_code(unsigned v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
}

void sys_deliver(struct cpu *c, unsigned vector, int kind, bool has_ec, uint32_t ec,
		 uint64_t ret_rip)
{
	struct cpu_sys *s = c->sys;
	uint32_t ext = kind == SYS_EV_SOFT ? 0 : 1;
	uint32_t idt_ec = vector * 8 + 2 + ext;
	uint8_t gate[16], d[8];
	struct sys_seg cs;
	unsigned type, dpl, ist, new_cpl;
	uint64_t target, rsp, frame[6], flags;
	uint16_t sel;
	int n = 0;

	if (!(c->cr0 & CR0_PE)) {
		sys_real_deliver(c, vector, ret_rip);
		if (__builtin_expect(s->dbg != NULL, 0))
			sys_debug_delivered(c);
		return;
	}
	if (!(c->efer & EFER_LMA)) {
		sys_pm32_deliver(c, vector, kind, has_ec, ec, ret_rip);
		if (__builtin_expect(s->dbg != NULL, 0))
			sys_debug_delivered(c);
		return;
	}
	if (vector * 16 + 15 > s->idt_limit)
		sys_raise_ec(c, CPU_VEC_GP, idt_ec);
	sys_lin_read(c, s->idt_base + vector * 16, gate, 16);
	type = gate[5] & 0x1f;
	dpl = (gate[5] >> 5) & 3;
	if (type != 0xe && type != 0xf)
		sys_raise_ec(c, CPU_VEC_GP, idt_ec);
	if (kind == SYS_EV_SOFT && dpl < c->cpl)
		sys_raise_ec(c, CPU_VEC_GP, idt_ec);
	if (!(gate[5] & 0x80))
		sys_raise_ec(c, CPU_VEC_NP, idt_ec);
	sel = (uint16_t)(gate[2] | gate[3] << 8);
	ist = gate[4] & 7;
	target = (uint64_t)gate[0] | (uint64_t)gate[1] << 8 | (uint64_t)gate[6] << 16 |
		 (uint64_t)gate[7] << 24 | (rd64(gate + 8) & 0xffffffffULL) << 32;
	if (!(sel & 0xfffc))
		sys_raise_ec(c, CPU_VEC_GP, ext);
	sys_read_desc(c, sel, d, ext);
	sys_desc_parse(d, &cs, sel);
	if ((cs.attr & (SA_S | 0x8)) != (SA_S | 0x8) || !(cs.attr & SA_L) || (cs.attr & SA_DB) ||
	    SA_DPL(cs.attr) > c->cpl)
		sys_raise_ec(c, CPU_VEC_GP, (sel & 0xfffc) | ext);
	if (!(cs.attr & SA_P))
		sys_raise_ec(c, CPU_VEC_NP, (sel & 0xfffc) | ext);
	new_cpl = (cs.attr & 0x4) ? c->cpl : SA_DPL(cs.attr); /* conforming keeps CPL */
	rsp = c->gpr[4];
	if (ist || new_cpl < c->cpl) {
		/* Stack from the 64-bit TSS (Vol. 3 §7.7, Figure 7-11). */
		uint64_t off = ist ? 0x24 + 8 * (ist - 1) : 4 + 8 * new_cpl;
		uint8_t b[8];

		if (off + 7 > s->tr.limit)
			sys_raise_ec(c, CPU_VEC_TS, (s->tr.sel & 0xfffc) | ext);
		sys_lin_read(c, s->tr.base + off, b, 8);
		rsp = rd64(b);
	}
	rsp &= ~15ULL; /* Vol. 3 §6.14.2 */
	flags = cpu_get_flags(c) | 2;
	if (has_ec)
		frame[n++] = ec;
	frame[n++] = ret_rip;
	frame[n++] = c->sel[SEG_CS];
	frame[n++] = flags;
	frame[n++] = c->gpr[4];
	frame[n++] = c->sel[SEG_SS];
	/* frame[] holds the lowest address first. */
	if ((uint64_t)((int64_t)((rsp - 8 * (uint64_t)n) << 16) >> 16) != rsp - 8 * (uint64_t)n)
		sys_raise_ec(c, CPU_VEC_SS, ext);
	sys_lin_write(c, rsp - 8 * (uint64_t)n, frame, 8 * (unsigned)n);
	/* Committed: nothing below can fault. */
	c->gpr[4] = rsp - 8 * (uint64_t)n;
	if (new_cpl != c->cpl) {
		/* SS becomes a null selector with RPL = new CPL (§6.14.4). */
		seg_set(&s->seg[SEG_SS], (uint16_t)new_cpl, 0, 0, 0);
		c->sel[SEG_SS] = (uint16_t)new_cpl;
	}
	sys_enter_handler(c, &cs, sel, new_cpl, flags, type == 0xe, target, kind);
	if (__builtin_expect(s->dbg != NULL, 0))
		sys_debug_delivered(c);
}

static bool contributory(int v)
{
	return v == 0 || (v >= 10 && v <= 13);
}

/* An exception left an instruction (or a delivery) through longjmp: send it
 * to the guest, escalating to #DF or a triple fault (Vol. 3 §6.15, Table
 * 6-5). */
static void sys_exception(struct cpu *c)
{
	struct cpu_sys *s = c->sys;
	unsigned v = c->exit->vector;
	uint32_t ec = c->exit->error_code;
	int prev = s->delivering;

	c->exit->reason = CPU_EXIT_LIMIT;
	c->icount++; /* progress, so max_insns bounds a fault loop */
	if (prev >= 0) {
		if (prev == CPU_VEC_DF) {
			s->delivering = -1;
			s->shutdown = true;
			c->exit->reason = CPU_EXIT_SHUTDOWN;
			cpu_stop(c);
			return;
		}
		if ((contributory(prev) && contributory((int)v)) ||
		    (prev == CPU_VEC_PF && (contributory((int)v) || v == CPU_VEC_PF)))
			v = CPU_VEC_DF, ec = 0;
	}
	s->delivering = (int)v;
	c->cur_rip = c->rip;
	sys_deliver(c, v, SYS_EV_EXC, has_error_code(v), ec, c->rip);
	s->delivering = -1;
}

/* Software-interrupt and trap delivery from an instruction handler. */
void sys_soft_int(struct cpu *c, unsigned vector)
{
	c->sys->delivering = (int)vector;
	sys_deliver(c, vector, SYS_EV_SOFT, false, 0, c->rip);
	c->sys->delivering = -1;
}

/* The interpreter loop of system mode: cpu.c's run_blocks plus event polling
 * at block boundaries and block validation by host page (blocks are cached
 * by virtual RIP, so a remapped RIP must not run stale code). */
static __attribute__((noinline)) void sys_loop(struct cpu *c)
{
	struct cpu_sys *s = c->sys;
	struct block *prev = NULL;

	while (c->icount < c->limit) {
		const struct block_link *l;
		const struct insn *blk;
		uint64_t left = c->limit - c->icount, rip, page;
		cpu_block_code code;
		unsigned n, k;
		struct block *b;
		struct tlb_entry *e;
		uintptr_t hva;
		bool shadow;

		/* Events are polled every 4 iterations, after a routine used
		 * up its budget (so an interrupt waits for at most a few
		 * thousand instructions), and right after anything that may
		 * have set IF (poll_now). The STI / MOV SS shadow lets exactly
		 * one instruction run first. */
		shadow = s->shadow;
		if (__builtin_expect(shadow, 0)) {
			s->shadow = false;
			s->poll_now = true;
		} else if (__builtin_expect(s->poll_now || !(++s->poll_ctr & 3), 0)) {
			s->poll_now = false;
			if (__builtin_expect(__atomic_load_n(&s->kick, __ATOMIC_RELAXED), 0)) {
				__atomic_store_n(&s->kick, 0, __ATOMIC_RELAXED);
				c->exit->reason = CPU_EXIT_KICK;
				cpu_stop(c);
				return;
			}
			if (__atomic_load_n(&sys_code_gen, __ATOMIC_RELAXED) != s->seen_code_gen ||
			    __atomic_load_n(&sys_mark_gen, __ATOMIC_RELAXED) != s->seen_mark_gen)
				sys_code_sync(c);
			c->cur_rip = c->rip;
			if (__builtin_expect(__atomic_load_n(&s->nmi, __ATOMIC_RELAXED), 0) &&
			    !s->nmi_blocked) {
				__atomic_store_n(&s->nmi, 0, __ATOMIC_RELAXED);
				s->delivering = 2;
				sys_deliver(c, 2, SYS_EV_NMI, false, 0, c->rip);
				s->delivering = -1;
			} else if ((c->rflags & FL_IF) && s->ops->intr_pending(s->opaque)) {
				int v = s->ops->intr_ack(s->opaque);

				if (v >= 0 && v < 256) {
					s->delivering = v;
					sys_deliver(c, (unsigned)v, SYS_EV_EXT, false, 0, c->rip);
					s->delivering = -1;
				}
			}
		}
		rip = c->rip;
		page = (rip + c->seg_base[1]) & CPU_PAGE_MASK; /* CS base: legacy modes */
		c->cur_rip = rip;
		e = &c->tlb[(page >> 12) & (TLB_SIZE - 1)];
		if (__builtin_expect(e->tag_x == (page | c->tlb_tag), 1))
			hva = e->addend + (uintptr_t)page;
		else
			hva = (uintptr_t)cpu_tlb_slow(c, rip + c->seg_base[1], CPU_ACC_EXEC);
		/* Block links (cpu_int.h) are checked like the hash slot:
		 * same RIP and host code page, and no flush since. */
		l = prev ? cpu_block_link_find(c, prev, rip, hva) : NULL;
		if (__builtin_expect(l != NULL, 1)) {
			blk = &c->insns[l->first];
			n = l->count;
			code = l->code;
			prev = l->to;
		} else {
			b = cpu_block_find(c, rip, hva);
			if (__builtin_expect(b != NULL, 1)) {
				blk = &c->insns[b->first];
				n = b->count;
			} else {
				blk = cpu_block_lookup(c, rip, hva, &n, &b);
			}
			code = b->code;
			if (prev)
				cpu_block_link_add(c, prev, rip, hva, b, (uint32_t)(blk - c->insns), n,
						   code);
			prev = b;
		}
		c->flushed = false;
		if (__builtin_expect(code != NULL && n <= left && !shadow, 1)) {
			/* (the entry holds rip's page unless a watchpoint kept it out) */
			cpu_jit_run(c, rip, hva,
				    e->tag_x == (page | c->tlb_tag) && s->tlb_global[e - c->tlb], code,
				    2048);
			if (c->stop)
				return;
			if (c->chain_budget < 0)
				s->poll_now = true; /* 2048 instructions since the last poll, about */
			continue;
		}
		c->jit_link = NULL;
		if (n > left)
			n = (unsigned)left;
		if (shadow && n > 1)
			n = 1;
		for (k = 0; k < n;) {
			const struct insn *i = &blk[k++];

			c->cur_rip = i->rip;
			c->rip = i->rip + i->len;
			i->fn(c, i);
			if (__builtin_expect(c->flushed, 0))
				break;
		}
		c->icount += k;
		if (c->stop)
			return;
	}
}

int cpu_sys_run(struct cpu *c, uint64_t max_insns, struct cpu_exit *exit)
{
	struct cpu_sys *s = c->sys;
	int r;

	memset(exit, 0, sizeof(*exit));
	c->exit = exit;
	c->stop = false;
	c->limit = c->icount + max_insns;
	c->host_mx_default = (_mm_getcsr() & 0xffc0) == 0x1f80;
	c->mx_synced = false;
	if (s->shutdown) {
		exit->reason = CPU_EXIT_SHUTDOWN;
		return 0;
	}
	s->poll_now = true;
	r = setjmp(c->jb);
	cpu_jit_settle(c); /* after a longjmp out of a routine */
	if (r == 1) {
		c->lock_ptr = NULL;
		if (exit->reason == CPU_EXIT_EXCEPTION)
			sys_exception(c);
	}
	if (r != 3 && !c->stop)
		sys_loop(c);
	cpu_mx_collect(c);
	if (!c->stop)
		exit->reason = CPU_EXIT_LIMIT;
	return 0;
}
