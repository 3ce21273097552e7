/* Internal state and helpers of the software CPU, shared by the decoder, the
 * executors (exec_*.c), the flags code and the TLB. Not a public header. */
#ifndef VIREO_CPU_CPU_INT_H
#define VIREO_CPU_CPU_INT_H

#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cpu/cpu.h"

#define CPU_PAGE_SIZE 4096ULL
#define CPU_PAGE_MASK (~(CPU_PAGE_SIZE - 1))

/* RFLAGS bits (Intel SDM Vol. 1 §3.4.3). */
#define FL_CF 0x0001u
#define FL_PF 0x0004u
#define FL_AF 0x0010u
#define FL_ZF 0x0040u
#define FL_SF 0x0080u
#define FL_TF 0x0100u
#define FL_IF 0x0200u
#define FL_DF 0x0400u
#define FL_OF 0x0800u
#define FL_IOPL 0x3000u
#define FL_NT 0x4000u
#define FL_RF 0x10000u
#define FL_VM 0x20000u
#define FL_AC 0x40000u
#define FL_VIF 0x80000u
#define FL_VIP 0x100000u
#define FL_ID 0x200000u
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

/* Lazy flag operations: the flags of the last flag-setting instruction are
 * computed from (op, size, a, b, result) only when something reads them. */
enum cc_op {
	CC_EAGER, /* arithmetic flags are in cpu->rflags */
	CC_ADD,   /* r = a + b (+ carry): ADD, ADC, XADD */
	CC_SUB,   /* r = a - b (- borrow): SUB, SBB, CMP, NEG (a = 0), CMPXCHG, SCAS, CMPS */
	CC_LOGIC, /* CF = OF = 0, AF = 0 (undefined; hardware clears it) */
	CC_INC,   /* r = a + 1, CF kept in cpu->rflags */
	CC_DEC,   /* r = a - 1, CF kept in cpu->rflags */
};

/* Decoded-instruction flags. */
#define IF_MEM 0x01    /* ModRM names memory */
#define IF_LOCK 0x02
#define IF_REP 0x04    /* F3 */
#define IF_REPNE 0x08  /* F2 */
#define IF_REX 0x10    /* any REX prefix: byte registers 4-7 are SPL..DIL */
#define IF_OPSZ 0x20   /* 66 */
#define IF_RIPREL 0x40
#define IF_REXW 0x80

#define REG_NONE 0xff

/* One pre-decoded instruction: everything the handler needs, so nothing is
 * decoded twice (DESIGN.md, "blink"). */
struct cpu;
struct insn;
typedef void (*cpu_handler)(struct cpu *c, const struct insn *i);

struct insn {
	cpu_handler fn; /* cpu_handlers[op], resolved when the block is built */
	uint16_t op;    /* handler index: 0x000-0x0ff one-byte map, 0x100-0x1ff 0F map, more below */
	uint8_t len;
	uint8_t osz;    /* operand size in bytes: 1, 2, 4, 8 */
	uint8_t asz;    /* address size in bytes: 2, 4, 8 */
	uint8_t flags;  /* IF_* */
	uint8_t reg;    /* ModRM.reg | REX.R << 3 (or opcode-embedded register) */
	uint8_t rm;     /* ModRM.rm | REX.B << 3 for register operands */
	uint8_t base;   /* memory: base register or REG_NONE */
	uint8_t index;  /* memory: index register or REG_NONE */
	uint8_t scale;  /* log2 */
	uint8_t seg;    /* segment override: 0 none, else 1 + ES/CS/SS/DS/FS/GS (0..5) */
	uint8_t sub;    /* ModRM.reg (group selector) / condition code / SSE prefix selector */
	uint8_t modrm;
	uint8_t ea_simple; /* set by block.c: base + disp (+ index), 64-bit, no segment, no RIP */
	int32_t disp;
	uint64_t imm;
	uint16_t imm2;  /* ENTER's second immediate */
	uint64_t rip;   /* its own RIP, set by block.c: the run loops need no RIP chain */
};

struct tlb_entry {
	uint64_t tag_r, tag_w, tag_x; /* page address, or ~0 when not valid for the access */
	uintptr_t addend;             /* host address of the page - its address (mod 2^64) */
};

#define TLB_SIZE 8192

/* A successor seen after a block: which decoded instructions ran next at
 * rip (and, in system mode, host code page hva). It lets the run loop skip
 * the hash lookup. Valid only while the owning block's link_gen equals
 * cpu->block_gen (every cpu_blocks_flush bumps it) and count != 0; the
 * decoded pool is append-only between flushes, so a link can never point at
 * stale instructions. */
struct block;
/* jit.c: host code for decoded blocks. A routine runs its block, adds
 * the instructions it ran to icount and, while chain_budget allows, goes on
 * into the routines of its successors. */
typedef void (*cpu_block_code)(struct cpu *c);
struct block_link {
	uint64_t rip;
	uintptr_t hva;
	struct block *to; /* the hash slot of rip, to chain on from */
	cpu_block_code code; /* the block's routine, or NULL */
	uint32_t first;
	uint16_t count;
};

struct block {
	uint64_t rip;
	uint32_t first; /* index into cpu->insns */
	uint16_t count;
	uint32_t valid; /* live iff == cpu->block_epoch + 1 (block_live) */
	uintptr_t hva; /* system mode: host page of rip when decoded (sys.c) */
	cpu_block_code code; /* its routine (jit.c), or NULL */
	uint64_t link_gen;
	struct block_link link[2];
	uint8_t link_next; /* the slot the next new successor replaces */
};

/* The routine last run for a RIP (and host code page): RET and indirect
 * branches find their successor here without the run loop (jit.c).
 * Emptied with the routines (cpu_jcache_clear): an empty entry's rip is
 * JCACHE_EMPTY, which no RIP equals (non-canonical, above 4 GiB). */
struct jcache_entry {
	uint64_t rip;
	uintptr_t addend; /* of rip's host code page (tlb_entry), when made */
	cpu_block_code code;
	uint64_t pad; /* 32 bytes: the index scales by a shift */
};

#define JCACHE_SIZE 4096
#define JCACHE_EMPTY (1ULL << 63)
void cpu_jcache_clear(struct cpu *c);

static inline __attribute__((always_inline)) unsigned cpu_jcache_index(uint64_t rip)
{
	return (unsigned)((rip ^ (rip >> 12)) & (JCACHE_SIZE - 1));
}

#define BLOCK_HASH_BITS 15
#define BLOCK_HASH (1u << BLOCK_HASH_BITS)
#define INSN_POOL 262144
#define BLOCK_MAX_INSNS 48
#define CODE_PAGES 4096

union xmm {
	uint8_t b[16];
	uint16_t w[8];
	uint32_t d[4];
	uint64_t q[2];
	int8_t sb[16];
	int16_t sw[8];
	int32_t sd[4];
	int64_t sq[2];
	float f[4];
	double df[2];
};

struct cpu {
	/* Hot state first. */
	uint64_t gpr[16];
	uint64_t rip;     /* during execution: the next instruction's address */
	uint64_t cur_rip; /* the executing instruction's address */
	const struct insn *cur_insn; /* the executing instruction, NULL while fetching */
	uint64_t rflags;  /* non-arithmetic bits always; arithmetic bits when cc_op == CC_EAGER */
	uint64_t cc_a, cc_b, cc_r;
	uint8_t cc_op, cc_size;
	uint64_t fs_base, gs_base;

	union xmm xmm[16] __attribute__((aligned(16)));
	uint32_t mxcsr;
	bool mx_synced;       /* host MXCSR == guest MXCSR (exec_ssefp.c fast path) */
	bool host_mx_default; /* host MXCSR control bits are the default 0x1f80 */

	/* x87 (Intel SDM Vol. 1 §8.1): st[] indexed physically, top in fsw. */
	long double st[8];
	uint16_t fcw, fsw, ftw_empty; /* ftw_empty: bit i set = physical register i empty */
	uint16_t fop;
	uint64_t fip, fdp;

	/* System state, kept for system mode (issue 4). */
	enum cpu_mode mode;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer;
	uint16_t sel[6]; /* ES CS SS DS FS GS */
	uint64_t kernel_gs_base, star, lstar, cstar, fmask, tsc_aux;
	uint8_t cpl;
	struct cpu_sys *sys; /* CPU_MODE_SYSTEM only (sys.h) */
	/* System mode outside 64-bit code (sys_legacy.c): the code size (2 or
	 * 4; 0 = 64-bit), ES/CS/SS/DS bases; RIP holds EIP/IP and fetches add
	 * seg_base[1]. All zero in 64-bit mode. */
	uint8_t code_size;
	uint64_t seg_base[4];

	/* Memory. */
	const struct cpu_mem_ops *ops;
	void *opaque;
	struct tlb_entry tlb[TLB_SIZE];
	/* Or'ed into the TLB tags: 1 at CPL0-2 in system mode, else 0. An
	 * entry serves only the privilege class whose access filled it, so
	 * neither CPL change drops any. */
	uint64_t tlb_tag;
	/* What a JIT chain exit into another page checks instead of that
	 * page's TLB entry: tlb_tag | 2 * (how often translations may have
	 * changed). A link made while the page mapped to the host page of
	 * the routine holds while the key stays the same: every TLB flush and
	 * INVLPG bumps xkey, all but MOV CR3 xkey_g, the key of pages mapped
	 * global (cpu_xkey_bump); a change of privilege class changes their
	 * low bit. */
	uint64_t xkey, xkey_g;
	unsigned miss_len; /* length of the access that last missed the TLB */

	/* Exit path: handlers raise exceptions by longjmp to cpu_run. */
	jmp_buf jb;
	struct cpu_exit *exit;
	bool stop;    /* a handler asks the loop to return (SYSCALL, HLT): cpu_stop */
	bool flushed; /* the block cache was flushed: leave the current block */
	uint64_t icount;
	uint64_t limit; /* icount at which cpu_run stops */

	/* LOCK: the read half of a locked read-modify-write remembers where it read. */
	void *lock_ptr;
	uint64_t lock_old;

	/* Pre-decoded block cache. */
	uint64_t block_gen; /* bumped by every flush: invalidates block links */
	/* A flush only bumps the epoch, so it costs nothing per cached block:
	 * guests that keep data next to their code flush on every such store. */
	uint32_t block_epoch;
	uint8_t block_victim; /* which way of a full set the next decode replaces */
	struct block blocks[BLOCK_HASH];
	uint32_t insn_used;
	uint64_t code_pages[CODE_PAGES]; /* open-addressed set of page addresses | 1 */
	uint32_t code_page_count;
	uint16_t code_slots[CODE_PAGES / 2]; /* the code_pages slots in use, to clear */
	struct insn *insns;
	/* Host code for blocks (jit.c): jit_buf NULL when interpreting only. */
	uint8_t *jit_buf;
	size_t jit_used;
	bool jit_calls_only; /* VIREO_JIT_CALLS: no native instructions */
	/* Block chaining: the jump a routine's exit left to be patched to
	 * the routine of the block at jit_link_rip (and where its host page
	 * goes, or NULL for an exit within its own page), and how many more
	 * instructions may run chained before the run loop gets control back
	 * (negative: return at the next block end; see cpu_stop). */
	uint8_t *jit_link, *jit_link_key; /* jit_link_key: imm64 key, then disp32 key_at */
	uint64_t jit_link_rip;
	int32_t chain_budget;
	/* Routines count what they run off chain_budget: budget_base -
	 * chain_budget instructions ran since icount last took them
	 * (cpu_jit_settle; cpu_stop moves both). */
	int64_t budget_base;
	struct jcache_entry jcache[JCACHE_SIZE];
	/* FPT_* bits: which x87/SSE instructions trap, precomputed from CR0
	 * and CR4 by sys_fp_update (always 0 in user mode). Last, so that no
	 * offset the JIT uses moves. */
	uint8_t fp_trap;
};

/* Device-not-available and friends (Vol. 3 §2.5, §13.1 Table 13-1),
 * checked with one test of c->fp_trap per instruction. */
#define FPT_X87 0x1    /* CR0.EM or TS: x87, FXSAVE/FXRSTOR -> #NM */
#define FPT_WAIT 0x2   /* CR0.MP and TS: WAIT/FWAIT -> #NM */
#define FPT_SSE 0x4    /* CR0.EM, TS or !CR4.OSFXSR: SSE -> #UD or #NM */
#define FPT_SSE_UD 0x8 /* CR0.EM or !CR4.OSFXSR: the SSE trap is #UD */

/* Exceptions: never return. */
void cpu_raise(struct cpu *c, uint8_t vector, uint32_t error_code) __attribute__((noreturn));
void cpu_raise_pf(struct cpu *c, uint64_t addr, int access) __attribute__((noreturn));
#define cpu_ud(c) cpu_raise((c), CPU_VEC_UD, 0)
#define cpu_gp0(c) cpu_raise((c), CPU_VEC_GP, 0)

/* x87 (bit FPT_X87 or FPT_WAIT): #NM. */
static inline void fp_check(struct cpu *c, unsigned bit)
{
	if (__builtin_expect(c->fp_trap & bit, 0))
		cpu_raise(c, CPU_VEC_NM, 0);
}

/* SSE/SSE2, LDMXCSR/STMXCSR: #UD before #NM (Table 13-1). */
static inline void sse_check(struct cpu *c)
{
	if (__builtin_expect(c->fp_trap & FPT_SSE, 0))
		cpu_raise(c, (c->fp_trap & FPT_SSE_UD) ? CPU_VEC_UD : CPU_VEC_NM, 0);
}

/* flags.c */
uint64_t cpu_get_flags(struct cpu *c);              /* full RFLAGS */
void cpu_set_flags_arith(struct cpu *c, uint64_t f); /* arithmetic bits from f, eager */
bool cpu_cond(struct cpu *c, unsigned cc);
/* rflags = cpu_get_flags(), cc_op = CC_EAGER (for JIT code keeping flags) */
void cpu_flags_eager(struct cpu *c);
extern const uint8_t cpu_parity[256];

static inline __attribute__((always_inline)) void cc_set(struct cpu *c, int op, int size, uint64_t a, uint64_t b, uint64_t r)
{
	c->cc_op = (uint8_t)op, c->cc_size = (uint8_t)size, c->cc_a = a, c->cc_b = b, c->cc_r = r;
}

/* Take all six arithmetic flags as computed eagerly (callers that keep
 * some of them read cpu_get_flags first). rflags always holds the other
 * bits, so the lazy state need not be materialised. */
static inline __attribute__((always_inline)) void cc_eager(struct cpu *c, uint64_t arith)
{
	c->cc_op = CC_EAGER;
	c->rflags = (c->rflags & ~(uint64_t)FL_ARITH) | (arith & FL_ARITH);
}

static inline __attribute__((always_inline)) uint64_t szp_flags(uint64_t r, int size)
{
	uint64_t m = size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
	uint64_t f = cpu_parity[r & 0xff];

	if (!(r & m))
		f |= FL_ZF;
	if ((r >> (size * 8 - 1)) & 1)
		f |= FL_SF;
	return f;
}

static inline __attribute__((always_inline)) uint64_t size_mask(int size)
{
	return size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

static inline __attribute__((always_inline)) int64_t sext(uint64_t v, int size)
{
	switch (size) {
	case 1: return (int8_t)v;
	case 2: return (int16_t)v;
	case 4: return (int32_t)v;
	default: return (int64_t)v;
	}
}

/* Condition codes tttn (Vol. 1 Appendix B). Common compare-and-branch
 * pairs are answered straight from the operands. */
static inline __attribute__((always_inline)) bool cpu_cond_inline(struct cpu *c, unsigned cc)
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

/* Registers. Byte registers 4-7 without REX are AH, CH, DH, BH. */
static inline __attribute__((always_inline)) uint64_t reg_read(struct cpu *c, unsigned r, int size, uint8_t flags)
{
	if (size == 1) {
		if (r >= 4 && r < 8 && !(flags & IF_REX))
			return (c->gpr[r - 4] >> 8) & 0xff;
		return c->gpr[r] & 0xff;
	}
	return c->gpr[r] & size_mask(size);
}

/* Writes follow the SDM: 32-bit results zero-extend to 64 bits, 8/16-bit
 * results merge (Vol. 1 §3.4.1.1). */
static inline __attribute__((always_inline)) void reg_write(struct cpu *c, unsigned r, int size, uint8_t flags, uint64_t v)
{
	switch (size) {
	case 1:
		if (r >= 4 && r < 8 && !(flags & IF_REX))
			c->gpr[r - 4] = (c->gpr[r - 4] & ~0xff00ULL) | ((v & 0xff) << 8);
		else
			c->gpr[r] = (c->gpr[r] & ~0xffULL) | (v & 0xff);
		break;
	case 2: c->gpr[r] = (c->gpr[r] & ~0xffffULL) | (v & 0xffff); break;
	case 4: c->gpr[r] = (uint32_t)v; break;
	default: c->gpr[r] = v; break;
	}
}

/* tlb.c: memory access. Addresses are linear (segment bases applied). */
void *cpu_tlb_slow(struct cpu *c, uint64_t addr, int access);
void cpu_mem_read_slow(struct cpu *c, uint64_t addr, void *buf, unsigned len);
/* Read for a read-modify-write: faults as a write (Vol. 3 §4.7). */
void cpu_mem_read_slow_w(struct cpu *c, uint64_t addr, void *buf, unsigned len);
void cpu_mem_write_slow(struct cpu *c, uint64_t addr, const void *buf, unsigned len);
/* The slow path of mem_read/mem_read_w, returning the value (w: fault as a write). */
uint64_t cpu_mem_read_slow_v(struct cpu *c, uint64_t addr, unsigned len, bool w);
/* Host pointer valid for len bytes at addr for access, or NULL if the range
 * crosses a page (caller must use the slow byte path). Raises #PF. */
static inline __attribute__((always_inline)) void *cpu_mem_ptr(struct cpu *c, uint64_t addr, unsigned len, int access)
{
	uint64_t page = addr & CPU_PAGE_MASK;
	struct tlb_entry *e;
	uint64_t tag;

	if (((addr + len - 1) & CPU_PAGE_MASK) != page)
		return NULL;
	e = &c->tlb[(page >> 12) & (TLB_SIZE - 1)];
	tag = access == CPU_ACC_WRITE ? e->tag_w : access == CPU_ACC_READ ? e->tag_r : e->tag_x;
	if (__builtin_expect(tag == (page | c->tlb_tag), 1))
		return (void *)(e->addend + (uintptr_t)addr);
	{
		/* NULL only in system mode, for MMIO pages. */
		char *p;

		c->miss_len = len; /* for data watchpoints (debug.c) */
		p = cpu_tlb_slow(c, addr, access);

		return __builtin_expect(p != NULL, 1) ? p + (addr & ~CPU_PAGE_MASK) : NULL;
	}
}

static inline __attribute__((always_inline)) uint64_t mem_read(struct cpu *c, uint64_t addr, int size)
{
	void *p = cpu_mem_ptr(c, addr, (unsigned)size, CPU_ACC_READ);

	if (__builtin_expect(p != NULL, 1)) {
		/* Typed temporaries: a shared v whose address the slow path
		 * takes would send every fast load through the stack. */
		uint16_t w;
		uint32_t d;
		uint64_t q;

		switch (size) {
		case 1: return *(uint8_t *)p;
		case 2: memcpy(&w, p, 2); return w;
		case 4: memcpy(&d, p, 4); return d;
		default: memcpy(&q, p, 8); return q;
		}
	}
	return cpu_mem_read_slow_v(c, addr, (unsigned)size, false);
}

static inline __attribute__((always_inline)) uint64_t mem_read_w(struct cpu *c, uint64_t addr, int size)
{
	void *p = cpu_mem_ptr(c, addr, (unsigned)size, CPU_ACC_WRITE);

	if (__builtin_expect(p != NULL, 1)) {
		/* Typed temporaries: a shared v whose address the slow path
		 * takes would send every fast load through the stack. */
		uint16_t w;
		uint32_t d;
		uint64_t q;

		switch (size) {
		case 1: return *(uint8_t *)p;
		case 2: memcpy(&w, p, 2); return w;
		case 4: memcpy(&d, p, 4); return d;
		default: memcpy(&q, p, 8); return q;
		}
	}
	return cpu_mem_read_slow_v(c, addr, (unsigned)size, true);
}

static inline __attribute__((always_inline)) void mem_write(struct cpu *c, uint64_t addr, int size, uint64_t v)
{
	void *p = cpu_mem_ptr(c, addr, (unsigned)size, CPU_ACC_WRITE);

	if (__builtin_expect(p != NULL, 1)) {
		/* A switch, not memcpy(p, &v, size): with a run-time size the
		 * compiler would call the library memcpy. */
		switch (size) {
		case 1: *(uint8_t *)p = (uint8_t)v; return;
		case 2: { uint16_t t = (uint16_t)v; memcpy(p, &t, 2); return; }
		case 4: { uint32_t t = (uint32_t)v; memcpy(p, &t, 4); return; }
		default: memcpy(p, &v, 8); return;
		}
	}
	cpu_mem_write_slow(c, addr, &v, (unsigned)size);
}

static inline __attribute__((always_inline)) void mem_read_buf(struct cpu *c, uint64_t addr, void *buf, unsigned len)
{
	void *p = cpu_mem_ptr(c, addr, len, CPU_ACC_READ);

	if (p)
		memcpy(buf, p, len);
	else
		cpu_mem_read_slow(c, addr, buf, len);
}

static inline __attribute__((always_inline)) void mem_write_buf(struct cpu *c, uint64_t addr, const void *buf, unsigned len)
{
	void *p = cpu_mem_ptr(c, addr, len, CPU_ACC_WRITE);

	if (p)
		memcpy(p, buf, len);
	else
		cpu_mem_write_slow(c, addr, buf, len);
}

/* Effective address of a memory operand (Intel SDM Vol. 2 §2.1.5, §2.2.1.6). */
static inline __attribute__((always_inline)) uint64_t insn_ea(struct cpu *c, const struct insn *i)
{
	uint64_t ea = (uint64_t)(int64_t)i->disp;

	if (__builtin_expect(i->ea_simple, 1)) {
		ea += c->gpr[i->base];
		if (i->index != REG_NONE)
			ea += c->gpr[i->index] << i->scale;
		return ea;
	}

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
	/* 64-bit mode: only FS and GS have bases (Vol. 3 §3.4.4). */
	if (i->seg == 5)
		ea += c->fs_base;
	else if (i->seg == 6)
		ea += c->gs_base;
	else if (__builtin_expect(i->seg != 0, 0)) /* legacy modes only (block.c) */
		ea = (uint32_t)(ea + c->seg_base[i->seg - 1]);
	return ea;
}

/* r/m operand access. */
static inline __attribute__((always_inline)) uint64_t rm_read(struct cpu *c, const struct insn *i, int size)
{
	if (!(i->flags & IF_MEM))
		return reg_read(c, i->rm, size, i->flags);
	return mem_read(c, insn_ea(c, i), size);
}

static inline __attribute__((always_inline)) void rm_write(struct cpu *c, const struct insn *i, int size, uint64_t v)
{
	if (!(i->flags & IF_MEM))
		reg_write(c, i->rm, size, i->flags, v);
	else
		mem_write(c, insn_ea(c, i), size, v);
}

/* Locked read-modify-write (Vol. 3 §9.1.2): the read remembers the host
 * location and old value; the write is a compare-and-swap, and the whole
 * instruction restarts if another CPU changed the value in between. */
uint64_t cpu_rmw_read_locked(struct cpu *c, const struct insn *i, int size);
void cpu_rmw_write_locked(struct cpu *c, const struct insn *i, int size, uint64_t v);

static inline __attribute__((always_inline)) uint64_t cpu_rmw_read(struct cpu *c,
								    const struct insn *i, int size)
{
	if (!(i->flags & IF_MEM))
		return reg_read(c, i->rm, size, i->flags);
	if (__builtin_expect(!(i->flags & IF_LOCK), 1))
		return mem_read_w(c, insn_ea(c, i), size);
	return cpu_rmw_read_locked(c, i, size);
}

static inline __attribute__((always_inline)) void cpu_rmw_write(struct cpu *c,
								 const struct insn *i, int size,
								 uint64_t v)
{
	if (!(i->flags & IF_MEM))
		reg_write(c, i->rm, size, i->flags, v);
	else if (__builtin_expect(!(i->flags & IF_LOCK), 1))
		mem_write(c, insn_ea(c, i), size, v);
	else
		cpu_rmw_write_locked(c, i, size, v);
}

static inline __attribute__((always_inline)) void push64(struct cpu *c, uint64_t v)
{
	mem_write(c, c->gpr[4] - 8, 8, v);
	c->gpr[4] -= 8;
}

static inline __attribute__((always_inline)) uint64_t pop64(struct cpu *c)
{
	uint64_t v = mem_read(c, c->gpr[4], 8);

	c->gpr[4] += 8;
	return v;
}

/* decode.c: decode one instruction from buf (avail valid bytes, at most 15
 * used). cs_size is the code size: 8 (64-bit mode), 4 or 2. Returns 0, or
 * -1 if the instruction needs more bytes than avail (the caller raises the
 * fetch fault), or -2 if it is longer than 15 bytes (#GP(0)). Invalid or
 * unimplemented encodings decode to OP_UD. */
int cpu_decode(const uint8_t *buf, unsigned avail, int cs_size, struct insn *out);

/* Handler table (exec_*.c fill their parts). */
#define OP_0F 0x100
#define OP_0F38 0x200
#define OP_0F3A 0x300
#define OP_X87 0x400 /* D8-DF: 0x400 + (opcode - 0xd8) * 8 + reg, register forms + 0x40 */
#define OP_UD 0x4ff
#define OP_COUNT 0x500
extern cpu_handler cpu_handlers[OP_COUNT];
void cpu_exec_init_alu(void);
void cpu_exec_init_ctl(void);
void cpu_exec_init_misc(void);
void cpu_exec_init_string(void);
void cpu_exec_init_sse(void);
void cpu_exec_init_x87(void);
void cpu_exec_init_sys(void);
/* sys_legacy.c: the handler for an instruction in 16/32-bit code. */
cpu_handler cpu_legacy_handler(struct insn *i);

/* Block cache (block.c). */
void cpu_blocks_flush(struct cpu *c);
bool cpu_is_code_page(struct cpu *c, uint64_t page);
/* Decode the block at rip (host code page hva, 0 in user mode) into a
 * slot of its set (*slot). */
const struct insn *cpu_block_lookup(struct cpu *c, uint64_t rip, uintptr_t hva, unsigned *count,
				    struct block **slot);
static inline __attribute__((always_inline)) bool cpu_block_live(const struct cpu *c,
								 const struct block *b)
{
	return b->valid == c->block_epoch + 1;
}

static inline __attribute__((always_inline)) unsigned cpu_block_hash(uint64_t rip)
{
	return (unsigned)((rip * 0x9E3779B97F4A7C15ULL) >> (64 - BLOCK_HASH_BITS));
}

/* The live block for rip (host code page hva; 0 in user mode). The hash
 * is two-way set associative (slots h and h ^ 1): a conflict costs a
 * decode and the block's host code, so conflicts must stay rare. */
static inline __attribute__((always_inline)) struct block *cpu_block_find(struct cpu *c,
									  uint64_t rip,
									  uintptr_t hva)
{
	unsigned h = cpu_block_hash(rip);
	struct block *b = &c->blocks[h];

	if (cpu_block_live(c, b) && b->rip == rip && b->hva == hva)
		return b;
	b = &c->blocks[h ^ 1];
	if (cpu_block_live(c, b) && b->rip == rip && b->hva == hva)
		return b;
	return NULL;
}

/* Block chaining (block links above). */
static inline __attribute__((always_inline)) const struct block_link *
cpu_block_link_find(const struct cpu *c, const struct block *from, uint64_t rip, uintptr_t hva)
{
	const struct block_link *l = from->link;

	if (from->link_gen != c->block_gen)
		return NULL;
	if (l[0].rip == rip && l[0].hva == hva && l[0].count)
		return &l[0];
	if (l[1].rip == rip && l[1].hva == hva && l[1].count)
		return &l[1];
	return NULL;
}

static inline void cpu_block_link_add(const struct cpu *c, struct block *from, uint64_t rip,
				      uintptr_t hva, struct block *to, uint32_t first,
				      unsigned count, cpu_block_code code)
{
	struct block_link *l;

	if (from->link_gen != c->block_gen) {
		from->link_gen = c->block_gen;
		from->link[0].count = from->link[1].count = 0;
		from->link_next = 0;
	}
	l = &from->link[from->link_next];
	from->link_next ^= 1;
	l->rip = rip, l->hva = hva, l->to = to, l->first = first, l->count = (uint16_t)count;
	l->code = code;
}

/* jit.c (cpu_block_code above). */
void cpu_jit_init(struct cpu *c);
void cpu_jit_destroy(struct cpu *c);
bool cpu_jit_full(const struct cpu *c);
/* The routine for the n decoded instructions at insns[first], or NULL. */
cpu_block_code cpu_jit_block(struct cpu *c, uint32_t first, unsigned n);
/* The run loop is about to run code for the block at rip (host code page
 * hva in system mode): chain the exit that led here to it. */
void cpu_jit_chain(struct cpu *c, uint64_t rip, size_t key_at, cpu_block_code code);

/* icount += what routines ran since the last call: after a routine
 * returns, and when an exception left one by longjmp. */
static inline void cpu_jit_settle(struct cpu *c)
{
	c->icount += (uint64_t)(c->budget_base - c->chain_budget);
	c->budget_base = c->chain_budget;
}

/* The run loops' way into routines: link the exit that led here, remember
 * the routine in the jump cache, run it with a budget of chained
 * instructions. A routine chains on while its budget, less its own count,
 * stays >= 0; with the budget capped at limit - icount - BLOCK_MAX_INSNS
 * the next block always fits under the limit. */
static inline __attribute__((always_inline)) void cpu_jit_run(struct cpu *c, uint64_t rip,
							      uintptr_t hva, bool global,
							      cpu_block_code code, int32_t budget)
{
	struct jcache_entry *j = &c->jcache[cpu_jcache_index(rip)];
	uint64_t left = c->limit - c->icount;

	if (c->jit_link)
		cpu_jit_chain(c, rip, global ? offsetof(struct cpu, xkey_g) : offsetof(struct cpu, xkey),
			      code);
	j->rip = rip, j->addend = hva - (uintptr_t)(rip & CPU_PAGE_MASK), j->code = code;
	if (left < (uint64_t)budget + BLOCK_MAX_INSNS)
		budget = left < BLOCK_MAX_INSNS ? -1 : (int32_t)(left - BLOCK_MAX_INSNS);
	c->chain_budget = budget;
	c->budget_base = budget;
	code(c);
	cpu_jit_settle(c);
}

/* Translations may have changed (cpu->xkey): global ones too unless
 * nonglobal_only. */
static inline void cpu_xkey_bump(struct cpu *c, bool nonglobal_only)
{
	c->xkey += 2;
	if (!nonglobal_only)
		c->xkey_g += 2;
}

/* A handler asks the run loop to return: the routine it runs in stops
 * chaining at its block's end. */
static inline void cpu_stop(struct cpu *c)
{
	c->stop = true;
	c->budget_base += (int64_t)(INT32_MIN / 2) - c->chain_budget; /* what ran stays counted */
	c->chain_budget = INT32_MIN / 2;
}

/* exec_ctl.c: Jcc specialised per condition. */
extern const cpu_handler cpu_jcc_handlers[16];
/* exec_ssefp.c: specialised scalar SSE arithmetic, or NULL. */
cpu_handler cpu_ssefp_fast_handler(const struct insn *i);
/* Fold SSE flags accumulated in the host MXCSR into the guest's. */
static inline void cpu_mx_collect(struct cpu *c)
{
	if (c->mx_synced) {
		uint32_t host;

		__asm__ volatile("stmxcsr %0" : "=m"(host));
		c->mxcsr |= host & 0x3f;
	}
}
/* exec_fast.c: a specialised handler for the insn, or NULL. */
cpu_handler cpu_fast_handler(const struct insn *i);
/* flags.c: move the current CF into rflags (INC/DEC keep it). */
void cpu_keep_cf_slow(struct cpu *c);
static inline __attribute__((always_inline)) void cpu_keep_cf(struct cpu *c)
{
	if (c->cc_op != CC_INC && c->cc_op != CC_DEC && c->cc_op != CC_EAGER)
		cpu_keep_cf_slow(c);
}

/* Misc shared. */
void cpu_do_cpuid(struct cpu *c, uint32_t leaf, uint32_t sub, uint32_t out[4]);
void cpu_fx_save(struct cpu *c, uint8_t *buf);
void cpu_fx_restore(struct cpu *c, const uint8_t *buf, bool check);

#endif
