/* Software CPU: construction, state transfer, exceptions and the run loop. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <x86intrin.h>

#include "cpu/cpu_int.h"
#include "cpu/sys.h"

cpu_handler cpu_handlers[OP_COUNT];

static void h_ud(struct cpu *c, const struct insn *i)
{
	cpu_ud(c);
}

static void handlers_init(void)
{
	cpu_exec_init_alu();
	cpu_exec_init_ctl();
	cpu_exec_init_misc();
	cpu_exec_init_string();
	cpu_exec_init_sse();
	cpu_exec_init_x87();
	cpu_handlers[OP_UD] = h_ud;
	cpu_exec_init_sys(); /* last: wraps the user-mode handlers */
}

static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;

struct cpu *cpu_create(enum cpu_mode mode, const struct cpu_mem_ops *ops, void *opaque,
		       struct err *err)
{
	struct cpu *c;

	if (mode != CPU_MODE_USER64) {
		err_set(err, "cpu: system mode is not implemented yet");
		return NULL;
	}
	pthread_once(&handlers_once, handlers_init);
	c = calloc(1, sizeof(*c));
	if (!c) {
		err_errno(err, ENOMEM, "cpu");
		return NULL;
	}
	c->insns = calloc(INSN_POOL, sizeof(*c->insns));
	if (!c->insns) {
		free(c);
		err_errno(err, ENOMEM, "cpu: decoded-instruction pool");
		return NULL;
	}
	cpu_jit_init(c);
	c->mode = mode, c->ops = ops, c->opaque = opaque;
	/* Power-on/ABI state: x87 default control word, MXCSR default
	 * (Vol. 1 §8.1.5, §10.2.3.1); flat CPL3 64-bit code. */
	c->rflags = 0x202;
	c->cc_op = CC_EAGER;
	c->fcw = 0x37f;
	c->ftw_empty = 0xff;
	c->mxcsr = 0x1f80;
	c->cpl = 3;
	c->cr0 = 0x80050033; /* PG PE MP ET NE WP AM: what a 64-bit user sees */
	c->cr4 = 0x620;      /* PAE OSFXSR OSXMMEXCPT */
	c->efer = 0xd01;     /* SCE LME LMA NXE */
	c->sel[1] = 0x33, c->sel[2] = 0x2b;
	cpu_tlb_flush(c);
	return c;
}

void cpu_destroy(struct cpu *cpu)
{
	if (!cpu)
		return;
	cpu_sys_destroy(cpu);
	cpu_jit_destroy(cpu);
	free(cpu->insns);
	free(cpu);
}

void cpu_get_state(struct cpu *c, struct cpu_state *st)
{
	memcpy(st->gpr, c->gpr, sizeof(st->gpr));
	st->rip = c->rip;
	st->rflags = cpu_get_flags(c) | 2;
	st->fs_base = c->fs_base;
	st->gs_base = c->gs_base;
	cpu_fx_save(c, st->fxsave);
}

/* Bits a CPL3 program can hold in RFLAGS (ID, AC, OF, DF, TF, SF, ZF, AF,
 * PF, CF; IF stays set in user mode). */
#define FL_USER_STATE (FL_ARITH | FL_TF | FL_DF | FL_AC | FL_ID | FL_NT | FL_RF)

void cpu_set_state(struct cpu *c, const struct cpu_state *st)
{
	memcpy(c->gpr, st->gpr, sizeof(c->gpr));
	c->rip = st->rip;
	c->rflags = (st->rflags & FL_USER_STATE) | FL_IF | 2;
	c->cc_op = CC_EAGER;
	c->fs_base = st->fs_base;
	c->gs_base = st->gs_base;
	cpu_fx_restore(c, st->fxsave, false);
	c->mx_synced = false;
}

void cpu_raise(struct cpu *c, uint8_t vector, uint32_t error_code)
{
	c->rip = c->cur_rip;
	c->exit->reason = CPU_EXIT_EXCEPTION;
	c->exit->vector = vector;
	c->exit->error_code = error_code;
	longjmp(c->jb, 1);
}

/* The interpreter loop, outside the setjmp frame so the compiler keeps its
 * state in registers. A block runs to its end unless a store flushed the
 * block cache (self-modifying code). Each block remembers its last two
 * successors (block links), so most blocks start without a hash lookup. */
static __attribute__((noinline)) void run_blocks(struct cpu *c)
{
	struct block *prev = NULL;

	while (c->icount < c->limit) {
		const struct insn *blk;
		uint64_t left = c->limit - c->icount, rip = c->rip;
		cpu_block_code code;
		unsigned n, k;
		const struct block_link *l = prev ? cpu_block_link_find(c, prev, rip, 0) : NULL;

		c->cur_rip = rip;
		c->cur_insn = NULL;
		if (__builtin_expect(l != NULL, 1)) {
			blk = &c->insns[l->first];
			n = l->count;
			code = l->code;
			prev = l->to;
		} else {
			struct block *b = cpu_block_find(c, rip, 0);

			if (__builtin_expect(b != NULL, 1)) {
				blk = &c->insns[b->first];
				n = b->count;
			} else {
				blk = cpu_block_lookup(c, rip, 0, &n, &b);
			}
			code = b->code;
			if (prev)
				cpu_block_link_add(c, prev, rip, 0, b, (uint32_t)(blk - c->insns), n,
						   code);
			prev = b;
		}
		c->flushed = false;
		if (__builtin_expect(code != NULL && n <= left, 1)) {
			cpu_jit_run(c, rip, 0, false, code, 8192); /* instructions */
			if (c->stop)
				return;
			continue;
		}
		c->jit_link = NULL;
		if (n > left)
			n = (unsigned)left;
		/* Only a block's last instruction can transfer control
		 * (block.c ends blocks there), so the others just advance. */
		for (k = 0; k < n;) {
			const struct insn *i = &blk[k++];

			/* From the insn, not c->rip: no store-to-load chain
			 * through c->rip from one instruction to the next. */
			c->cur_rip = i->rip;
			c->cur_insn = i;
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

int cpu_run(struct cpu *c, uint64_t max_insns, struct cpu_exit *exit)
{
	int r;

	if (c->sys)
		return cpu_sys_run(c, max_insns, exit);
	memset(exit, 0, sizeof(*exit));
	c->exit = exit;
	c->stop = false;
	c->limit = c->icount + max_insns;
	c->host_mx_default = (_mm_getcsr() & 0xffc0) == 0x1f80;
	c->mx_synced = false;
	r = setjmp(c->jb);
	cpu_jit_settle(c); /* after a longjmp out of a routine */
	if (r == 1) {
		/* An exception: the faulting instruction did not retire. */
		c->lock_ptr = NULL;
		cpu_mx_collect(c);
		return 0;
	}
	run_blocks(c);
	cpu_mx_collect(c);
	if (!c->stop)
		exit->reason = CPU_EXIT_LIMIT;
	return 0;
}

void cpu_invalidate_code(struct cpu *c, uint64_t gva, uint64_t len)
{
	uint64_t p, end = gva + len;

	if (len == 0)
		return;
	if (len > (64ULL << 20) || end < gva) {
		/* Huge ranges (munmap of a large area): cheaper to drop all. */
		if (c->code_page_count)
			cpu_blocks_flush(c);
		return;
	}
	for (p = gva & CPU_PAGE_MASK; p < end && p >= (gva & CPU_PAGE_MASK); p += CPU_PAGE_SIZE) {
		if (cpu_is_code_page(c, p)) {
			cpu_blocks_flush(c);
			return;
		}
		if (p + CPU_PAGE_SIZE < p)
			break;
	}
}

uint64_t cpu_insn_count(struct cpu *c)
{
	return c->icount;
}

void cpu_cpuid(struct cpu *c, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
	cpu_do_cpuid(c, leaf, subleaf, out);
}

/* CPUID (Vol. 2 "CPUID"): advertise exactly what this CPU implements. */
void cpu_do_cpuid(struct cpu *c, uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	static const char brand[48] = "Vireo software x86-64 CPU";
	uint32_t a = 0, b = 0, cc = 0, d = 0;

	switch (leaf) {
	case 0:
		/* GenuineIntel, as system mode (hw/x86/cpuid_emu.c): glibc reads
		 * leaf 1 (its x86-64 ISA-level check) only for vendors it knows. */
		a = 7;
		memcpy(&b, "Genu", 4), memcpy(&d, "ineI", 4), memcpy(&cc, "ntel", 4);
		break;
	case 1:
		a = 0x000306f0; /* family 6 model 0x3f-ish; stepping 0 */
		b = 0x00000800; /* CLFLUSH line size 8*8 = 64 */
		/* ECX: CX16 (13), POPCNT (23). */
		cc = (1u << 13) | (1u << 23);
		/* EDX: FPU TSC CX8 CMOV CLFSH MMX FXSR SSE SSE2. */
		d = (1u << 0) | (1u << 4) | (1u << 8) | (1u << 15) | (1u << 19) | (1u << 23) | (1u << 24) |
		    (1u << 25) | (1u << 26);
		break;
	case 0x80000000:
		a = 0x80000008;
		break;
	case 0x80000001:
		cc = (1u << 0) | (1u << 5);                       /* LAHF-SAHF, ABM (LZCNT) */
		d = (1u << 11) | (1u << 20) | (1u << 27) | (1u << 29); /* SYSCALL NX RDTSCP LM */
		break;
	case 0x80000002: case 0x80000003: case 0x80000004:
		memcpy(&a, brand + (leaf - 0x80000002) * 16, 4);
		memcpy(&b, brand + (leaf - 0x80000002) * 16 + 4, 4);
		memcpy(&cc, brand + (leaf - 0x80000002) * 16 + 8, 4);
		memcpy(&d, brand + (leaf - 0x80000002) * 16 + 12, 4);
		break;
	case 0x80000008:
		a = 0x3028; /* 40-bit physical, 48-bit linear */
		break;
	default:
		break;
	}
	out[0] = a, out[1] = b, out[2] = cc, out[3] = d;
}

/* FXSAVE64 image (Vol. 1 §10.5.1, Table 10-2). ST(i) are stored in stack
 * order; the abridged tag word has one bit per physical register. */
void cpu_fx_save(struct cpu *c, uint8_t *buf)
{
	unsigned top = (c->fsw >> 11) & 7;
	uint16_t ftw = (uint16_t)(~c->ftw_empty & 0xff);
	uint32_t mask = 0xffff;

	cpu_mx_collect(c);
	memset(buf, 0, 512);
	memcpy(buf + 0, &c->fcw, 2);
	memcpy(buf + 2, &c->fsw, 2);
	buf[4] = (uint8_t)ftw;
	memcpy(buf + 6, &c->fop, 2);
	memcpy(buf + 8, &c->fip, 8);
	memcpy(buf + 16, &c->fdp, 8);
	memcpy(buf + 24, &c->mxcsr, 4);
	memcpy(buf + 28, &mask, 4);
	for (unsigned k = 0; k < 8; k++)
		memcpy(buf + 32 + 16 * k, &c->st[(top + k) & 7], 10);
	memcpy(buf + 160, c->xmm, 256);
}

void cpu_fx_restore(struct cpu *c, const uint8_t *buf, bool check)
{
	unsigned top;
	uint32_t mx;

	memcpy(&mx, buf + 24, 4);
	if (check && (mx & ~0xffffu))
		cpu_gp0(c);
	c->mxcsr = mx & 0xffff;
	c->mx_synced = false;
	memcpy(&c->fcw, buf + 0, 2);
	memcpy(&c->fsw, buf + 2, 2);
	c->ftw_empty = (uint16_t)(~buf[4] & 0xff);
	memcpy(&c->fop, buf + 6, 2);
	memcpy(&c->fip, buf + 8, 8);
	memcpy(&c->fdp, buf + 16, 8);
	top = (c->fsw >> 11) & 7;
	for (unsigned k = 0; k < 8; k++) {
		long double v = 0;

		memcpy(&v, buf + 32 + 16 * k, 10);
		c->st[(top + k) & 7] = v;
	}
	memcpy(c->xmm, buf + 160, 256);
}
