/* A template JIT: each decoded block also gets a host-code routine.
 *
 * The hot integer instructions of 64-bit code (MOV, the ALU operations,
 * TEST, LEA, shifts and rotates by an immediate, INC/DEC/NOT/NEG, MOVZX/
 * MOVSX/MOVSXD, PUSH/POP, IMUL, CMOVcc/SETcc, Jcc/JMP/CALL rel, RET)
 * become host instructions working on the guest registers in struct cpu,
 * with the soft-TLB lookup of cpu_mem_ptr inlined for their memory
 * operands. Everything else, and every native instruction whose TLB lookup
 * misses or whose access crosses a page, calls the instruction's handler
 * exactly as the run loops would (cur_rip, rip and, in user mode, cur_insn
 * stored first), so the handlers stay the one reference for semantics,
 * faults and self-modifying code.
 *
 * Lazy flags: a native flag-setting instruction stores the same (op, size,
 * a, b, r) as its handler. A backward pass over the block finds where the
 * flags are dead (overwritten by a later native instruction before
 * anything can read them: a handler call or a possibly faulting access
 * counts as a read), and there the stores are skipped and shifts, rotates
 * and INC/DEC run as bare host instructions. A Jcc, CMOVcc or SETcc right
 * after a native flag setter (register moves in between) reads the host's
 * flags.
 *
 * Between blocks: an exit to a known address jumps straight into the
 * successor's routine once the run loop has linked it (cpu_jit_chain); RET
 * and indirect branches look their successor up in the jump cache. Both
 * repeat the run loop's checks (stop, the instruction limit, a chain
 * budget after which the loop polls for events, and in system mode the
 * code page's mapping).
 *
 * Only values derived from the decoded instructions (offsets, immediates,
 * RIPs, register numbers) reach the generated code, never guest bytes
 * verbatim. x86-64 hosts only; elsewhere, or when the buffer cannot be
 * mapped, or with VIREO_NO_JIT=1, the run loops interpret. VIREO_JIT_CALLS=1
 * keeps the routines but makes every instruction a handler call (to bisect
 * a JIT bug). */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu/cpu_int.h"
#include "cpu/sys.h"

#define JIT_BUF_SIZE (32u << 20)
/* Upper bound of one instruction's code plus its out-of-line stubs. */
#define JIT_INSN_MAX 320
/* The routine's prologue (gen_prologue); chained code enters past it. */
#define JIT_PROLOGUE_LEN 17
/* Upper bound of a block's exits (two chain exits and a dispatch). */
#define JIT_END_MAX 512

_Static_assert(offsetof(struct cpu, gpr) == 0, "guest registers at [rbx + 8 * r]");
_Static_assert(offsetof(struct cpu, cc_size) == offsetof(struct cpu, cc_op) + 1,
	       "cc_op and cc_size stored as one word");
_Static_assert(sizeof(struct tlb_entry) == 32, "TLB index scaled by 32");
_Static_assert(sizeof(struct jcache_entry) == 32, "jump cache index scaled by 32");
_Static_assert(offsetof(struct cpu_sys, poll_now) == offsetof(struct cpu_sys, shadow) + 1,
	       "shadow and poll_now tested as one word");
_Static_assert((TLB_SIZE & (TLB_SIZE - 1)) == 0 && TLB_SIZE <= (1u << 20),
	       "TLB index is an and-mask of the page number");

static bool env_on(const char *name)
{
	const char *e = getenv(name);

	return e && *e && strcmp(e, "0") != 0;
}

void cpu_jit_init(struct cpu *c)
{
#if defined(__x86_64__)
	void *p, *hint;

	if (env_on("VIREO_NO_JIT"))
		return;
	/* Near the handlers if the kernel allows, so calls are rel32. */
	hint = (void *)(((uintptr_t)&cpu_jit_init & ~(uintptr_t)0xfffff) - (512u << 20));
	p = mmap(hint, JIT_BUF_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return;
	c->jit_buf = p;
	c->jit_used = 0;
	cpu_jcache_clear(c);
	c->jit_calls_only = env_on("VIREO_JIT_CALLS");
#else
	(void)c;
#endif
}

void cpu_jit_destroy(struct cpu *c)
{
	if (c->jit_buf)
		munmap(c->jit_buf, JIT_BUF_SIZE);
	c->jit_buf = NULL;
}

bool cpu_jit_full(const struct cpu *c)
{
	return c->jit_buf && c->jit_used + BLOCK_MAX_INSNS * JIT_INSN_MAX + JIT_END_MAX > JIT_BUF_SIZE;
}

/* ---- Encoding ---------------------------------------------------------- */

enum { RAX = 0, RCX = 1, RDX = 2, RSI = 6, RDI = 7 };

struct emit {
	uint8_t *p;
};

static void b1(struct emit *e, unsigned v)
{
	*e->p++ = (uint8_t)v;
}

static void b4(struct emit *e, uint32_t v)
{
	memcpy(e->p, &v, 4);
	e->p += 4;
}

static void b8(struct emit *e, uint64_t v)
{
	memcpy(e->p, &v, 8);
	e->p += 8;
}

static bool fits_s32(uint64_t v)
{
	return (uint64_t)(int64_t)(int32_t)v == v;
}

/* ModRM (and displacement) for [rbx + off] with host register h. */
static void m_rbx(struct emit *e, unsigned h, size_t off)
{
	if (off < 128) {
		b1(e, 0x40 | h << 3 | 3);
		b1(e, (unsigned)off);
	} else {
		b1(e, 0x80 | h << 3 | 3);
		b4(e, (uint32_t)off);
	}
}

/* opc h, [rbx + off] (or [rbx + off], h): one-byte opcode, REX.W if w. */
static void op_rbx(struct emit *e, bool w, unsigned opc, unsigned h, size_t off)
{
	if (w)
		b1(e, 0x48);
	b1(e, opc);
	m_rbx(e, h, off);
}

#define GPR(r) ((size_t)(r) * 8)

/* Where guest register r of size sz lives: byte registers 4-7 without REX
 * are AH..BH, the second byte of RAX..RBX. */
static size_t reg_off(unsigned r, int sz, uint8_t flags)
{
	if (sz == 1 && r >= 4 && r < 8 && !(flags & IF_REX))
		return GPR(r - 4) + 1;
	return GPR(r);
}

/* h = guest register r of size sz, zero-extended. */
static void ld_reg(struct emit *e, unsigned h, unsigned r, int sz, uint8_t flags)
{
	if (sz < 4) {
		b1(e, 0x0f), b1(e, sz == 1 ? 0xb6 : 0xb7); /* movzx h, byte/word [..] */
		m_rbx(e, h, reg_off(r, sz, flags));
	} else {
		op_rbx(e, sz == 8, 0x8b, h, GPR(r));
	}
}

/* Guest register r of size sz = h. 8/16-bit writes merge (a byte or word
 * store into the register file does exactly that); 32-bit ones store all
 * of h, which 32-bit host operations have zero-extended, as the guest's
 * are. */
static void st_reg(struct emit *e, unsigned h, unsigned r, int sz, uint8_t flags)
{
	if (sz == 2)
		b1(e, 0x66);
	op_rbx(e, sz >= 4, sz == 1 ? 0x88 : 0x89, h, reg_off(r, sz, flags));
}

/* opc dst, src between host registers ("r/m, reg" encodings: 01 09 21 29
 * 31 39 85 89), at operand size sz (8-bit opcodes are opc - 1). */
static void op_rr(struct emit *e, int sz, unsigned opc, unsigned dst, unsigned src)
{
	if (sz == 2)
		b1(e, 0x66);
	if (sz == 8)
		b1(e, 0x48);
	b1(e, sz == 1 ? opc - 1 : opc);
	b1(e, 0xc0 | src << 3 | dst);
}

/* mov h, imm (sign- or zero-extended as the value needs). */
static void mov_imm(struct emit *e, unsigned h, uint64_t v)
{
	if (v <= 0xffffffffu) {
		b1(e, 0xb8 + h), b4(e, (uint32_t)v); /* mov r32, imm32: zero-extends */
	} else if (fits_s32(v)) {
		b1(e, 0x48), b1(e, 0xc7), b1(e, 0xc0 | h), b4(e, (uint32_t)v);
	} else {
		b1(e, 0x48), b1(e, 0xb8 + h), b8(e, v);
	}
}

/* mov qword [rbx + off], imm */
static void store_imm(struct emit *e, size_t off, uint64_t v)
{
	if (fits_s32(v)) {
		op_rbx(e, true, 0xc7, 0, off);
		b4(e, (uint32_t)v);
	} else {
		mov_imm(e, RAX, v);
		op_rbx(e, true, 0x89, RAX, off);
	}
}

static void call(struct emit *e, const void *fn)
{
	int64_t rel = (int64_t)((uintptr_t)fn - ((uintptr_t)e->p + 5));

	if (rel == (int32_t)rel) {
		b1(e, 0xe8), b4(e, (uint32_t)(int32_t)rel);
	} else {
		mov_imm(e, RAX, (uint64_t)(uintptr_t)fn);
		b1(e, 0xff), b1(e, 0xd0); /* call rax */
	}
}

/* jcc rel32 (cc = host condition code; 16 = jmp) with a 0 displacement;
 * returns where to patch. */
static uint8_t *jump_fwd(struct emit *e, unsigned cc)
{
	if (cc == 16)
		b1(e, 0xe9);
	else
		b1(e, 0x0f), b1(e, 0x80 + cc);
	b4(e, 0);
	return e->p - 4;
}

static void patch(uint8_t *at, const uint8_t *target)
{
	int32_t rel = (int32_t)(target - (at + 4));

	memcpy(at, &rel, 4);
}

enum { CC_J_A = 7, CC_J_NE = 5, CC_J_S = 8, JMP = 16 };

/* ---- Classification ---------------------------------------------------- */

enum nat {
	N_CALL,
	N_MOV_ST,   /* mov r/m, reg (88, 89) */
	N_MOV_LD,   /* mov reg, r/m (8A, 8B) */
	N_MOV_IMM,  /* mov r/m, imm (C6/C7 /0), mov reg, imm (B0-BF) */
	N_ALU,      /* ADD OR AND SUB XOR CMP TEST, every form */
	N_LEA,
	N_SHIFT,    /* C1/D1/D3 /0 /1 /4 /5 /7 on a 32/64-bit register */
	N_INCDEC,   /* FE/FF /0 /1 */
	N_NOT,      /* F6/F7 /2 on a register */
	N_NEG,      /* F6/F7 /3 on a register */
	N_MOVX,     /* MOVZX/MOVSX/MOVSXD */
	N_PUSH,
	N_POP,
	N_IMUL,     /* 0F AF, 69, 6B; flags dead */
	N_NOP,      /* 90, 0F 0D, 0F 18-1F: hints and NOPs (no access) */
	N_CMPXCHG,  /* [LOCK] CMPXCHG m32/64, r: the host's own, as atomic */
	N_BT,       /* BT/BTS/BTR/BTC r32/64 (offset in a register or imm8), m32/64 (imm8) */
	N_CMOV,     /* CMOVcc r32/64, r/m */
	N_SETCC,    /* SETcc r/m8 */
	N_JCC,      /* Jcc: on the host flags right after a native flag setter */
	N_JMP,      /* JMP rel */
	N_CALLREL,  /* CALL rel */
	N_RET,      /* RET, RET imm16 */
	N_CALLIND,  /* FF /2: CALL r/m64 */
	N_JMPIND,   /* FF /4: JMP r/m64 */
};

/* ALU kinds as in the opcode (ADD 0, OR 1, ADC 2, SBB 3, AND 4, SUB 5,
 * XOR 6, CMP 7) plus TEST. */
enum { K_ADD, K_OR, K_ADC, K_SBB, K_AND, K_SUB, K_XOR, K_CMP, K_TEST };

#define SHIFT_CL 0xff

/* What the generated code of one instruction needs. */
struct plan {
	enum nat nat;
	uint8_t kind;    /* ALU kind / shift sub / condition */
	uint8_t sz;      /* operand size */
	uint8_t count;   /* shift count (SHIFT_CL: by CL) */
	uint8_t rm;      /* ALU: the r/m operand's register (rAX for the A forms) */
	bool mem;        /* has a memory operand (can fault: a flag barrier) */
	bool imm;        /* ALU: b is i->imm */
	bool rm_dst;     /* ALU: r/m is a (and the destination) */
	bool full_flags; /* writes all six status flags */
	bool host_flags; /* leaves the guest's status flags in the host's */
	bool host_cf;    /* leaves the guest's CF (alone) in the host's */
	/* PUSH/POP runs (plan_stack_runs): the first of a run of `run`
	 * pushes or pops makes one access for all of them; the others
	 * (follow) generate nothing. */
	uint8_t run;
	bool follow;
};

static bool canonical(uint64_t v)
{
	return (uint64_t)((int64_t)(v << 16) >> 16) == v;
}

static bool mem_ok(const struct insn *i)
{
	if (!(i->flags & IF_MEM))
		return true;
	if (i->asz != 8 || (i->flags & IF_LOCK))
		return false;
	return i->seg == 0 || i->seg == 5 || i->seg == 6;
}

static bool alu(struct plan *p, unsigned kind, bool rm_dst, bool imm)
{
	p->nat = N_ALU, p->kind = (uint8_t)kind, p->rm_dst = rm_dst, p->imm = imm;
	p->full_flags = true;
	return kind != K_ADC && kind != K_SBB;
}

static bool plan_insn(const struct insn *i, struct plan *p)
{
	unsigned op = i->op;
	bool wide = i->osz == 4 || i->osz == 8;
	bool mem = (i->flags & IF_MEM) != 0;

	memset(p, 0, sizeof(*p));
	p->sz = i->osz;
	p->mem = mem;
	p->rm = i->rm;
	if (op == OP_0F + 0xb1 && mem && wide && !(i->flags & (IF_REP | IF_REPNE))) {
		/* LOCK allowed: the host's LOCK CMPXCHG on the host address. */
		p->nat = N_CMPXCHG, p->full_flags = true;
		return i->asz == 8 && (i->seg == 0 || i->seg == 5 || i->seg == 6);
	}
	if (op == OP_0F + 0xba && mem && wide && i->sub > 4 && !(i->flags & (IF_REP | IF_REPNE))) {
		/* LOCK allowed: the host's LOCK BTS/BTR/BTC on the host address */
		p->nat = N_BT, p->kind = (uint8_t)(i->sub - 4), p->imm = true;
		return i->asz == 8 && (i->seg == 0 || i->seg == 5 || i->seg == 6);
	}
	if (!mem_ok(i) || (i->flags & (IF_REP | IF_REPNE)))
		return false;
	if (op < 0x40 && (op & 7) < 6) {
		switch (op & 7) {
		case 0: case 1: return alu(p, op >> 3, true, false);
		case 2: case 3: return alu(p, op >> 3, false, false);
		default: /* AL/eAX, imm */
			p->rm = 0;
			return alu(p, op >> 3, true, true);
		}
	}
	switch (op) {
	case 0x80: case 0x81: case 0x83:
		return fits_s32(i->imm) && alu(p, i->sub, true, true);
	case 0x84: case 0x85:
		return alu(p, K_TEST, true, false);
	case 0xa8: case 0xa9:
		p->rm = 0;
		return fits_s32(i->imm) && alu(p, K_TEST, true, true);
	case 0xf6: case 0xf7:
		if (i->sub == 0)
			return fits_s32(i->imm) && alu(p, K_TEST, true, true);
		if (mem)
			return false;
		if (i->sub == 2)
			return p->nat = N_NOT, true;
		if (i->sub == 3)
			return p->nat = N_NEG, p->full_flags = true, true;
		return false;
	case 0x88: case 0x89:
		p->nat = N_MOV_ST;
		return true;
	case 0x8a: case 0x8b:
		p->nat = N_MOV_LD;
		return true;
	case 0xc6: case 0xc7:
		p->nat = N_MOV_IMM;
		return i->sub == 0;
	case 0xb0 ... 0xbf:
		p->nat = N_MOV_IMM;
		return true;
	case 0x8d: /* no access (cannot fault) and no segment base */
		p->nat = N_LEA, p->mem = false;
		return wide && mem && i->seg == 0;
	case 0xc1: case 0xd1:
		if (mem || !wide)
			return false;
		if (i->sub != 0 && i->sub != 1 && i->sub != 4 && i->sub != 5 && i->sub != 7)
			return false;
		p->nat = N_SHIFT, p->kind = i->sub;
		p->count = (uint8_t)((op == 0xd1 ? 1 : i->imm) & (i->osz == 8 ? 0x3f : 0x1f));
		/* SHL/SHR/SAR by a non-zero count set every status flag (the
		 * host's own values where they are undefined) */
		p->full_flags = p->count && i->sub >= 4;
		return true;
	case 0xd3: /* by CL: flags dead only (a count of 0 leaves them) */
		if (mem || !wide)
			return false;
		if (i->sub != 0 && i->sub != 1 && i->sub != 4 && i->sub != 5 && i->sub != 7)
			return false;
		p->nat = N_SHIFT, p->kind = i->sub, p->count = SHIFT_CL;
		return true;
	case 0xff:
		if (i->sub == 2 || i->sub == 4) {
			p->nat = i->sub == 2 ? N_CALLIND : N_JMPIND;
			p->mem = mem || i->sub == 2; /* a CALL pushes */
			return true;
		}
		/* fall through */
	case 0xfe:
		p->nat = N_INCDEC, p->kind = i->sub;
		return i->sub <= 1;
	case 0x63:
		p->nat = N_MOVX;
		return wide;
	case OP_0F + 0xb6: case OP_0F + 0xb7: case OP_0F + 0xbe: case OP_0F + 0xbf:
		p->nat = N_MOVX;
		return wide;
	case 0x50 ... 0x57:
		p->nat = N_PUSH, p->mem = true;
		return i->osz == 8;
	case 0x58 ... 0x5f:
		p->nat = N_POP, p->mem = true;
		return i->osz == 8;
	case OP_0F + 0xaf:
		p->nat = N_IMUL, p->full_flags = true;
		return wide;
	case 0x69: case 0x6b:
		p->nat = N_IMUL, p->full_flags = true, p->imm = true;
		return wide && fits_s32(i->imm);
	case 0x90: /* with REX.B: XCHG r8, rAX; F3 90 (PAUSE) is a REP form */
		p->nat = N_NOP;
		return i->reg == 0 && !(i->flags & IF_LOCK);
	case OP_0F + 0x0d: case OP_0F + 0x18 ... OP_0F + 0x1f:
		p->nat = N_NOP, p->mem = false;
		return !(i->flags & IF_LOCK);
	case OP_0F + 0x40 ... OP_0F + 0x4f:
		p->nat = N_CMOV, p->kind = op & 15;
		return wide;
	case OP_0F + 0xa3: case OP_0F + 0xab: case OP_0F + 0xb3: case OP_0F + 0xbb:
		/* a memory operand with the offset in a register addresses a
		 * bit string: the handler's */
		p->nat = N_BT, p->kind = (uint8_t)(((op & 0xff) - 0xa3) / 8);
		return wide && !mem;
	case OP_0F + 0xba:
		p->nat = N_BT, p->kind = (uint8_t)(i->sub - 4), p->imm = true;
		return wide && i->sub >= 4;
	case OP_0F + 0x90 ... OP_0F + 0x9f:
		p->nat = N_SETCC, p->kind = op & 15;
		return true;
	case 0x70 ... 0x7f: case OP_0F + 0x80 ... OP_0F + 0x8f:
		p->nat = N_JCC, p->kind = op & 15;
		return canonical(i->rip + i->len + i->imm); /* else jump() raises #GP */
	case 0xe9: case 0xeb:
		p->nat = N_JMP;
		return canonical(i->rip + i->len + i->imm);
	case 0xe8:
		p->nat = N_CALLREL, p->mem = true;
		return i->osz == 8 && canonical(i->rip + i->len + i->imm);
	case 0xc2: case 0xc3:
		p->nat = N_RET, p->mem = true;
		return i->osz == 8;
	default:
		return false;
	}
}

/* ---- Generation -------------------------------------------------------- */

struct gen {
	struct emit e;
	bool user;
	uint64_t page; /* the block's code page (64-bit code: CS base 0) */
	/* Out-of-line slow paths: the jumps to patch, and per instruction
	 * where its code resumes. */
	uint8_t *slow_at[BLOCK_MAX_INSNS][3];
	unsigned slow_n[BLOCK_MAX_INSNS];
	uint8_t *resume[BLOCK_MAX_INSNS];
	uint8_t *dyn_exit; /* leave with rip as a handler left it */
	bool host_flags_after[BLOCK_MAX_INSNS];
	const bool *native;
	const struct plan *plan;
	bool native_ok; /* 64-bit code */
	uint8_t *exit_at[BLOCK_MAX_INSNS * 2];
	unsigned exit_k[BLOCK_MAX_INSNS * 2];
	unsigned exits;
	/* Where each instruction's code and each part of the exits start,
	 * for VIREO_PERF_MAP. */
	struct gen_mark {
		uint8_t *at;
		const char *what; /* NULL: instruction k */
		unsigned k;
	} mark[BLOCK_MAX_INSNS + 16];
	unsigned nmarks;
};

static void gen_mark(struct gen *g, const char *what)
{
	if (g->nmarks < sizeof(g->mark) / sizeof(g->mark[0]))
		g->mark[g->nmarks++] = (struct gen_mark){ g->e.p, what, 0 };
}

static void gen_mark_insn(struct gen *g, unsigned k)
{
	if (g->nmarks < sizeof(g->mark) / sizeof(g->mark[0]))
		g->mark[g->nmarks++] = (struct gen_mark){ g->e.p, NULL, k };
}

/* h = the linear address of i's memory operand (insn_ea for asz 8;
 * LEA passes with_seg false). Clobbers rdi. */
static void gen_ea(struct gen *g, const struct insn *i, unsigned h)
{
	struct emit *e = &g->e;

	if (i->flags & IF_RIPREL) {
		mov_imm(e, h, i->rip + i->len + (uint64_t)(int64_t)i->disp);
	} else {
		int32_t disp = i->disp;

		if (i->base != REG_NONE) {
			ld_reg(e, h, i->base, 8, 0);
		} else {
			mov_imm(e, h, (uint64_t)(int64_t)disp);
			disp = 0;
		}
		if (i->index != REG_NONE) {
			/* lea h, [h + rdi * 2^scale + disp32] */
			ld_reg(e, RDI, i->index, 8, 0);
			b1(e, 0x48), b1(e, 0x8d), b1(e, 0x84 | h << 3);
			b1(e, (unsigned)i->scale << 6 | RDI << 3 | h), b4(e, (uint32_t)disp);
		} else if (disp) {
			b1(e, 0x48), b1(e, 0x8d), b1(e, 0x80 | h << 3 | h), b4(e, (uint32_t)disp);
		}
	}
	if (i->seg == 5)
		op_rbx(e, true, 0x03, h, offsetof(struct cpu, fs_base));
	else if (i->seg == 6)
		op_rbx(e, true, 0x03, h, offsetof(struct cpu, gs_base));
}

/* The inlined fast path of cpu_mem_ptr for the access of sz bytes at rsi:
 * on a hit rdx + rsi is the host address (rdx the entry's addend); on a
 * miss, or an access that crosses a page, it jumps to the instruction's
 * slow path (the handler). Clobbers rax and the host flags. */
_Static_assert(TLB_SIZE > 1 && TLB_SIZE <= (1u << 20), "index from bits 12-31 of the address");
static void gen_tlb(struct gen *g, unsigned k, unsigned sz, bool write)
{
	struct emit *e = &g->e;
	size_t tlb = offsetof(struct cpu, tlb);
	size_t tag = write ? offsetof(struct tlb_entry, tag_w) : offsetof(struct tlb_entry, tag_r);

	/* eax = TLB index * 32 */
	b1(e, 0x89), b1(e, 0xf0);                          /* mov eax, esi */
	b1(e, 0xc1), b1(e, 0xe8), b1(e, 12 - 5);           /* shr eax, 7 */
	b1(e, 0x25), b4(e, (TLB_SIZE - 1) << 5);           /* and eax, imm32 */
	/* rdx = the page of the access's last byte: an access that crosses
	 * into the next page compares that page with the entry of its first
	 * page's index, which never holds it, and misses. */
	if (sz > 1)
		b1(e, 0x48), b1(e, 0x8d), b1(e, 0x56), b1(e, sz - 1); /* lea rdx, [rsi + sz - 1] */
	else
		b1(e, 0x48), b1(e, 0x89), b1(e, 0xf2);          /* mov rdx, rsi */
	b1(e, 0x48), b1(e, 0x81), b1(e, 0xe2), b4(e, 0xfffff000); /* and rdx, ~0xfff */
	if (!g->user)
		op_rbx(e, true, 0x0b, RDX, offsetof(struct cpu, tlb_tag)); /* or rdx, [tlb_tag] */
	/* cmp rdx, [rbx + rax + tlb + tag] */
	b1(e, 0x48), b1(e, 0x3b), b1(e, 0x94), b1(e, 0x03), b4(e, (uint32_t)(tlb + tag));
	g->slow_at[k][g->slow_n[k]++] = jump_fwd(e, CC_J_NE);
	/* mov rdx, [rbx + rax + tlb + addend] */
	b1(e, 0x48), b1(e, 0x8b), b1(e, 0x94), b1(e, 0x03),
		b4(e, (uint32_t)(tlb + offsetof(struct tlb_entry, addend)));
}

/* rdx + rsi = the host address of i's memory operand of sz bytes. */
static void gen_mem(struct gen *g, unsigned k, const struct insn *i, int sz, bool write)
{
	gen_ea(g, i, RSI);
	gen_tlb(g, k, (unsigned)sz, write);
}

/* Load sz bytes (zero-extended) from [rdx + rsi] into h. */
static void ld_mem(struct emit *e, unsigned h, int sz)
{
	switch (sz) {
	case 1: b1(e, 0x0f), b1(e, 0xb6); break;
	case 2: b1(e, 0x0f), b1(e, 0xb7); break;
	case 4: b1(e, 0x8b); break;
	default: b1(e, 0x48), b1(e, 0x8b); break;
	}
	b1(e, 0x04 | h << 3), b1(e, 0x32); /* [rdx + rsi] */
}

/* Store the low sz bytes of h to [rdx + rsi]. */
static void st_mem(struct emit *e, unsigned h, int sz)
{
	switch (sz) {
	case 1: b1(e, 0x88); break;
	case 2: b1(e, 0x66), b1(e, 0x89); break;
	case 4: b1(e, 0x89); break;
	default: b1(e, 0x48), b1(e, 0x89); break;
	}
	b1(e, 0x04 | h << 3), b1(e, 0x32);
}

/* movzx eax, al / ax: an 8/16-bit result as the handlers keep it (host
 * flags untouched). */
static void zext_rax(struct emit *e, int sz)
{
	if (sz < 4)
		b1(e, 0x0f), b1(e, sz == 1 ? 0xb6 : 0xb7), b1(e, 0xc0);
}

/* The lazy-flag state of a flag-setting instruction (cc_set). */
static void gen_cc(struct emit *e, unsigned op, unsigned sz)
{
	b1(e, 0x66); /* mov word [rbx + cc_op], op | sz << 8 */
	op_rbx(e, false, 0xc7, 0, offsetof(struct cpu, cc_op));
	b1(e, op), b1(e, sz);
}

/* ALU: a in rax, b in rcx, both zero-extended; the result in rax, the
 * guest's flags in the host's. */
static void gen_alu_op(struct gen *g, const struct plan *p, bool live)
{
	struct emit *e = &g->e;
	static const uint8_t host_op[] = { 0x01, 0x09, 0, 0, 0x21, 0x29, 0x31, 0x29, 0x21 };
	unsigned cc = p->kind == K_ADD ? CC_ADD
		      : p->kind == K_SUB || p->kind == K_CMP ? CC_SUB : CC_LOGIC;

	/* CC_LOGIC flags follow from the result alone (nothing reads cc_a
	 * and cc_b under it) */
	if (live && cc != CC_LOGIC) {
		op_rbx(e, true, 0x89, RAX, offsetof(struct cpu, cc_a));
		op_rbx(e, true, 0x89, RCX, offsetof(struct cpu, cc_b));
	}
	op_rr(e, p->sz, host_op[p->kind], RAX, RCX);
	zext_rax(e, p->sz);
	if (live) {
		op_rbx(e, true, 0x89, RAX, offsetof(struct cpu, cc_r));
		gen_cc(e, cc, p->sz);
	}
}

/* rflags.CF = eax (0 or 1). Clobbers rdx and the host flags. */
static void gen_rflags_cf(struct emit *e)
{
	op_rbx(e, true, 0x8b, RDX, offsetof(struct cpu, rflags));
	b1(e, 0x48), b1(e, 0x83), b1(e, 0xe2), b1(e, 0xfe); /* and rdx, ~1 */
	op_rr(e, 8, 0x09, RDX, RAX);                        /* or rdx, rax */
	op_rbx(e, true, 0x89, RDX, offsetof(struct cpu, rflags));
}

/* rflags.CF = the host's CF. Clobbers rax, rdx and the host flags. */
static void gen_rflags_cf_from_host(struct emit *e)
{
	b1(e, 0x0f), b1(e, 0x92), b1(e, 0xc0);  /* setc al */
	b1(e, 0x0f), b1(e, 0xb6), b1(e, 0xc0);  /* movzx eax, al */
	gen_rflags_cf(e);
}

/* Before an INC/DEC whose flags are live: rflags.CF = the guest's CF (what
 * cpu_keep_cf does), and with set_host the host's CF too, which the host
 * INC/DEC keep. */
static void gen_guest_cf(struct gen *g, unsigned k, bool set_host)
{
	struct emit *e = &g->e;

	if (k > 0 && g->host_flags_after[k - 1]) {
		/* The host's flags are the guest's */
		gen_rflags_cf_from_host(e);
	} else {
		/* cpu_keep_cf_slow inline: with cc_op EAGER, INC or DEC
		 * rflags.CF is current; else CF is the carry (ADD) or borrow
		 * (SUB) formula's top bit, 0 after LOGIC. */
		uint8_t *to_logic, *to_sub, *to_done, *to_top, *to_merge;

		b1(e, 0x0f), b1(e, 0xb6);
		m_rbx(e, RAX, offsetof(struct cpu, cc_op));      /* movzx eax, byte [cc_op] */
		b1(e, 0x3c), b1(e, CC_LOGIC);                     /* cmp al, imm8 */
		to_logic = jump_fwd(e, 4);
		b1(e, 0x3c), b1(e, CC_SUB);
		to_sub = jump_fwd(e, 4);
		b1(e, 0x3c), b1(e, CC_ADD);
		to_done = jump_fwd(e, CC_J_NE);
		/* ADD: (a & b) | ((a | b) & ~r) */
		op_rbx(e, true, 0x8b, RAX, offsetof(struct cpu, cc_a));
		op_rbx(e, true, 0x8b, RCX, offsetof(struct cpu, cc_b));
		b1(e, 0x48), b1(e, 0x89), b1(e, 0xc2);             /* mov rdx, rax */
		op_rr(e, 8, 0x21, RDX, RCX);                       /* and rdx, rcx */
		op_rr(e, 8, 0x09, RAX, RCX);                       /* or rax, rcx */
		op_rbx(e, true, 0x8b, RCX, offsetof(struct cpu, cc_r));
		b1(e, 0x48), b1(e, 0xf7), b1(e, 0xd1);             /* not rcx */
		op_rr(e, 8, 0x21, RAX, RCX);                       /* and rax, rcx */
		op_rr(e, 8, 0x09, RAX, RDX);                       /* or rax, rdx */
		to_top = jump_fwd(e, JMP);
		/* SUB: (~a & b) | (~(a ^ b) & r) */
		patch(to_sub, e->p);
		op_rbx(e, true, 0x8b, RAX, offsetof(struct cpu, cc_a));
		op_rbx(e, true, 0x8b, RCX, offsetof(struct cpu, cc_b));
		b1(e, 0x48), b1(e, 0x89), b1(e, 0xc2);             /* mov rdx, rax */
		b1(e, 0x48), b1(e, 0xf7), b1(e, 0xd2);             /* not rdx */
		op_rr(e, 8, 0x21, RDX, RCX);                       /* and rdx, rcx */
		op_rr(e, 8, 0x31, RAX, RCX);                       /* xor rax, rcx */
		b1(e, 0x48), b1(e, 0xf7), b1(e, 0xd0);             /* not rax */
		op_rbx(e, true, 0x23, RAX, offsetof(struct cpu, cc_r)); /* and rax, [cc_r] */
		op_rr(e, 8, 0x09, RAX, RDX);                       /* or rax, rdx */
		/* CF = bit cc_size * 8 - 1 */
		patch(to_top, e->p);
		b1(e, 0x0f), b1(e, 0xb6);
		m_rbx(e, RCX, offsetof(struct cpu, cc_size));     /* movzx ecx, byte [cc_size] */
		b1(e, 0xc1), b1(e, 0xe1), b1(e, 3);               /* shl ecx, 3 */
		b1(e, 0xff), b1(e, 0xc9);                         /* dec ecx */
		b1(e, 0x48), b1(e, 0xd3), b1(e, 0xe8);            /* shr rax, cl */
		b1(e, 0x83), b1(e, 0xe0), b1(e, 1);               /* and eax, 1 */
		to_merge = jump_fwd(e, JMP);
		patch(to_logic, e->p);
		b1(e, 0x31), b1(e, 0xc0);                         /* xor eax, eax */
		patch(to_merge, e->p);
		gen_rflags_cf(e);
		patch(to_done, e->p);
	}
	if (!set_host)
		return;
	b1(e, 0x48), b1(e, 0x0f), b1(e, 0xba);                /* bt qword [rflags], 0 */
	m_rbx(e, 4, offsetof(struct cpu, rflags));
	b1(e, 0);
}

/* rflags = the host's arithmetic flags, cc_op EAGER. Clobbers rcx, rdx. */
static void gen_host_flags_eager(struct emit *e)
{
	b1(e, 0x9c);                               /* pushfq */
	b1(e, 0x5a);                               /* pop rdx */
	b1(e, 0x81), b1(e, 0xe2), b4(e, FL_ARITH); /* and edx, ARITH */
	op_rbx(e, true, 0x8b, RCX, offsetof(struct cpu, rflags));
	b1(e, 0x48), b1(e, 0x81), b1(e, 0xe1), b4(e, (uint32_t)~FL_ARITH);
	op_rr(e, 8, 0x09, RCX, RDX);               /* or rcx, rdx */
	op_rbx(e, true, 0x89, RCX, offsetof(struct cpu, rflags));
	op_rbx(e, false, 0xc6, 0, offsetof(struct cpu, cc_op));
	b1(e, CC_EAGER);
}

/* Before insns[k] keeps some of the guest's flags (BT*): rflags = all of
 * them, cc_op EAGER; from the host's when they are the guest's, else
 * cpu_flags_eager unless they are eager already. */
static void gen_flags_eager(struct gen *g, unsigned k)
{
	struct emit *e = &g->e;
	uint8_t *eager;

	if (k > 0 && g->host_flags_after[k - 1]) {
		gen_host_flags_eager(e);
		return;
	}
	op_rbx(e, false, 0x80, 7, offsetof(struct cpu, cc_op)); /* cmp byte [cc_op], EAGER */
	b1(e, CC_EAGER);
	eager = jump_fwd(e, 4 /* je */);
	b1(e, 0x48), b1(e, 0x89), b1(e, 0xdf); /* mov rdi, rbx */
	call(e, (const void *)cpu_flags_eager);
	patch(eager, e->p);
}

/* mem_write(rsp - 8, v); rsp -= 8, v the return address of a CALL or the
 * register of a PUSH. */
static void gen_push(struct gen *g, unsigned k, const struct insn *i, bool ret_addr)
{
	struct emit *e = &g->e;

	ld_reg(e, RSI, 4, 8, 0);
	b1(e, 0x48), b1(e, 0x83), b1(e, 0xee), b1(e, 8); /* sub rsi, 8 */
	gen_tlb(g, k, 8, true);
	if (ret_addr)
		mov_imm(e, RCX, i->rip + i->len);
	else
		ld_reg(e, RCX, i->reg, 8, 0);
	st_mem(e, RCX, 8);
	op_rbx(e, true, 0x83, 5, GPR(4)); /* sub qword [rbx + 32], 8 */
	b1(e, 8);
}

/* The m PUSHes at insns[k..k+m-1] as one access: the m * 8 bytes below
 * rsp checked once (a miss or a page crossing takes the run's slow path,
 * all m handlers), stored, rsp lowered once. */
static void gen_push_run(struct gen *g, unsigned k, const struct insn *i, unsigned m)
{
	struct emit *e = &g->e;
	unsigned j;

	ld_reg(e, RSI, 4, 8, 0);
	b1(e, 0x48), b1(e, 0x83), b1(e, 0xee), b1(e, (uint8_t)(8 * m)); /* sub rsi, 8m */
	gen_tlb(g, k, 8 * m, true);
	for (j = 0; j < m; j++) {
		ld_reg(e, RCX, i[j].reg, 8, 0);
		/* mov [rdx + rsi + 8 (m - 1 - j)], rcx */
		b1(e, 0x48), b1(e, 0x89), b1(e, 0x4c), b1(e, 0x32), b1(e, (uint8_t)(8 * (m - 1 - j)));
	}
	op_rbx(e, true, 0x83, 5, GPR(4)); /* sub qword [rbx + 32], 8m */
	b1(e, (uint8_t)(8 * m));
}

/* The m POPs at insns[k..k+m-1] (none into rsp) as one access. */
static void gen_pop_run(struct gen *g, unsigned k, const struct insn *i, unsigned m)
{
	struct emit *e = &g->e;
	unsigned j;

	ld_reg(e, RSI, 4, 8, 0);
	gen_tlb(g, k, 8 * m, false);
	for (j = 0; j < m; j++) {
		/* mov rcx, [rdx + rsi + 8j] */
		b1(e, 0x48), b1(e, 0x8b), b1(e, 0x4c), b1(e, 0x32), b1(e, (uint8_t)(8 * j));
		st_reg(e, RCX, i[j].reg, 8, 0);
	}
	op_rbx(e, true, 0x83, 0, GPR(4)); /* add qword [rbx + 32], 8m */
	b1(e, (uint8_t)(8 * m));
}

/* Native code for insns[k] (plan_insn accepted it). */
static void gen_native(struct gen *g, unsigned k, const struct insn *i, struct plan *p, bool live)
{
	struct emit *e = &g->e;
	int sz = p->sz;
	bool w = sz == 8;

	switch (p->nat) {
	case N_MOV_ST:
		if (!p->mem) {
			ld_reg(e, RCX, i->reg, sz, i->flags);
			st_reg(e, RCX, i->rm, sz, i->flags);
			break;
		}
		gen_mem(g, k, i, sz, true);
		ld_reg(e, RCX, i->reg, sz, i->flags);
		st_mem(e, RCX, sz);
		break;
	case N_MOV_LD:
		if (!p->mem) {
			ld_reg(e, RCX, i->rm, sz, i->flags);
		} else {
			gen_mem(g, k, i, sz, false);
			ld_mem(e, RCX, sz);
		}
		st_reg(e, RCX, i->reg, sz, i->flags);
		break;
	case N_MOV_IMM:
		mov_imm(e, RCX, i->imm & size_mask(sz));
		if (i->op >= 0xb0 && i->op <= 0xbf) {
			st_reg(e, RCX, i->reg, sz, i->flags);
		} else if (!p->mem) {
			st_reg(e, RCX, i->rm, sz, i->flags);
		} else {
			gen_mem(g, k, i, sz, true);
			st_mem(e, RCX, sz);
		}
		break;
	case N_ALU: {
		/* a: the r/m operand (or rAX) when rm_dst, else the reg operand. */
		bool write = p->kind != K_CMP && p->kind != K_TEST;

		if (p->mem) {
			gen_mem(g, k, i, sz, p->rm_dst && write);
			ld_mem(e, p->rm_dst ? RAX : RCX, sz);
		} else {
			ld_reg(e, p->rm_dst ? RAX : RCX, p->rm, sz, i->flags);
		}
		if (p->imm)
			mov_imm(e, RCX, i->imm & size_mask(sz));
		else
			ld_reg(e, p->rm_dst ? RCX : RAX, i->reg, sz, i->flags);
		if (!write && !live)
			break; /* a CMP or TEST whose flags nobody reads: the access alone */
		gen_alu_op(g, p, live);
		p->host_flags = true;
		if (!write)
			break;
		if (p->rm_dst && p->mem)
			st_mem(e, RAX, sz);
		else
			st_reg(e, RAX, p->rm_dst ? p->rm : i->reg, sz, i->flags);
		break;
	}
	case N_LEA:
		gen_ea(g, i, RSI);
		if (sz == 4)
			b1(e, 0x89), b1(e, 0xf6); /* mov esi, esi: the 32-bit result */
		st_reg(e, RSI, i->reg, 8, 0);
		break;
	case N_SHIFT: {
		/* C1 /sub eax, count (D1 with a count of 1 is the same) */
		ld_reg(e, RAX, i->rm, sz, 0);
		if (p->count == SHIFT_CL) {
			/* D3 /sub eax, cl; flags dead (needs_dead_flags) */
			ld_reg(e, RCX, 1, 1, 0);
			if (w)
				b1(e, 0x48);
			b1(e, 0xd3), b1(e, 0xc0 | p->kind << 3);
		} else if (p->count) {
			if (w)
				b1(e, 0x48);
			b1(e, 0xc1), b1(e, 0xc0 | p->kind << 3), b1(e, p->count);
			/* SHL/SHR/SAR (ROL/ROR are native only with dead
			 * flags): take the host's flags eagerly (cc_eager). */
			if (live)
				gen_host_flags_eager(e);
		}
		st_reg(e, RAX, i->rm, 8, 0);
		break;
	}
	case N_INCDEC:
		/* The guest's CF into rflags first: gen_mem's TLB lookup
		 * clobbers the host flags it may come from. */
		if (live)
			gen_guest_cf(g, k, !p->mem);
		if (p->mem) {
			gen_mem(g, k, i, sz, true);
			if (live) { /* bt qword [rflags], 0 */
				b1(e, 0x48), b1(e, 0x0f), b1(e, 0xba);
				m_rbx(e, 4, offsetof(struct cpu, rflags));
				b1(e, 0);
			}
			ld_mem(e, RAX, sz);
		} else {
			ld_reg(e, RAX, i->rm, sz, i->flags);
		}
		if (live)
			op_rbx(e, true, 0x89, RAX, offsetof(struct cpu, cc_a));
		/* inc/dec al/ax/eax/rax: the host's flags at the guest's size,
		 * host CF kept */
		if (sz == 2)
			b1(e, 0x66);
		if (w)
			b1(e, 0x48);
		b1(e, sz == 1 ? 0xfe : 0xff), b1(e, 0xc0 | p->kind << 3);
		zext_rax(e, sz);
		if (live) {
			/* cc_set(CC_INC/DEC, sz, a, 1, r), CF in rflags */
			op_rbx(e, true, 0x89, RAX, offsetof(struct cpu, cc_r));
			store_imm(e, offsetof(struct cpu, cc_b), 1);
			gen_cc(e, p->kind ? CC_DEC : CC_INC, (unsigned)sz);
			p->host_flags = true;
		}
		if (p->mem)
			st_mem(e, RAX, sz);
		else
			st_reg(e, RAX, i->rm, sz, i->flags);
		break;
	case N_CALLREL:
		/* push the return address; on to the target (gen_end) */
		gen_push(g, k, i, true);
		break;
	case N_RET:
		/* rip = pop (canonical, else the handler raises #GP) */
		ld_reg(e, RSI, 4, 8, 0);
		gen_tlb(g, k, 8, false);
		ld_mem(e, RCX, 8);
		b1(e, 0x48), b1(e, 0x89), b1(e, 0xc8);             /* mov rax, rcx */
		b1(e, 0x48), b1(e, 0xc1), b1(e, 0xe0), b1(e, 16);  /* shl rax, 16 */
		b1(e, 0x48), b1(e, 0xc1), b1(e, 0xf8), b1(e, 16);  /* sar rax, 16 */
		b1(e, 0x48), b1(e, 0x39), b1(e, 0xc8);             /* cmp rax, rcx */
		g->slow_at[k][g->slow_n[k]++] = jump_fwd(e, CC_J_NE);
		op_rbx(e, true, 0x81, 0, GPR(4)); /* add qword [rbx + 32], 8 + imm16 */
		b4(e, 8 + (uint32_t)(i->op == 0xc2 ? i->imm : 0));
		op_rbx(e, true, 0x89, RCX, offsetof(struct cpu, rip));
		break;
	case N_NOT:
		ld_reg(e, RAX, i->rm, sz, i->flags);
		if (w)
			b1(e, 0x48);
		b1(e, 0xf7), b1(e, 0xd0); /* not eax (a narrower store keeps sz bytes) */
		st_reg(e, RAX, i->rm, sz, i->flags);
		break;
	case N_NEG: {
		/* cc_set(CC_SUB, sz, 0, a, -a) */
		struct plan q = *p;

		ld_reg(e, RCX, i->rm, sz, i->flags);
		b1(e, 0x31), b1(e, 0xc0); /* xor eax, eax */
		q.kind = K_SUB;
		gen_alu_op(g, &q, live);
		p->host_flags = true;
		st_reg(e, RAX, i->rm, sz, i->flags);
		break;
	}
	case N_MOVX: {
		/* source size and signedness */
		int ssz = i->op == 0x63 ? (sz == 8 ? 4 : sz) : (i->op & 1) ? 2 : 1;
		bool sx = i->op == 0x63 ? sz == 8 : (i->op & 8) != 0;

		if (p->mem)
			gen_mem(g, k, i, ssz, false);
		if (sx) {
			b1(e, 0x48);
			if (ssz == 4)
				b1(e, 0x63);
			else
				b1(e, 0x0f), b1(e, ssz == 1 ? 0xbe : 0xbf);
		} else if (ssz == 4) {
			b1(e, 0x8b);
		} else {
			b1(e, 0x0f), b1(e, ssz == 1 ? 0xb6 : 0xb7);
		}
		if (p->mem)
			b1(e, 0x04 | RCX << 3), b1(e, 0x32); /* [rdx + rsi] */
		else
			m_rbx(e, RCX, reg_off(i->rm, ssz, i->flags));
		if (sz == 4)
			b1(e, 0x89), b1(e, 0xc9); /* mov ecx, ecx: a 32-bit destination */
		st_reg(e, RCX, i->reg, 8, 0);
		break;
	}
	case N_PUSH:
		if (p->run > 1) {
			gen_push_run(g, k, i, p->run);
			break;
		}
		gen_push(g, k, i, false);
		break;
	case N_POP:
		if (p->run > 1) {
			gen_pop_run(g, k, i, p->run);
			break;
		}
		/* v = mem_read(rsp); rsp += 8; reg = v */
		ld_reg(e, RSI, 4, 8, 0);
		gen_tlb(g, k, 8, false);
		ld_mem(e, RCX, 8);
		op_rbx(e, true, 0x83, 0, GPR(4)); /* add qword [rbx + 32], 8 */
		b1(e, 8);
		st_reg(e, RCX, i->reg, 8, 0);
		break;
	case N_IMUL: /* flags dead */
		if (p->mem) {
			gen_mem(g, k, i, sz, false);
			ld_mem(e, RCX, sz);
		} else {
			ld_reg(e, RCX, i->rm, sz, 0);
		}
		if (p->imm) {
			if (w)
				b1(e, 0x48);
			b1(e, 0x69), b1(e, 0xc1), b4(e, (uint32_t)i->imm); /* imul eax, ecx, imm32 */
		} else {
			ld_reg(e, RAX, i->reg, sz, 0);
			if (w)
				b1(e, 0x48);
			b1(e, 0x0f), b1(e, 0xaf), b1(e, 0xc1); /* imul eax, ecx */
		}
		st_reg(e, RAX, i->reg, 8, 0);
		break;
	case N_NOP:
		break;
	case N_CMPXCHG:
		/* rdx + rsi: the operand, naturally aligned (else the handler:
		 * a split locked access) */
		gen_mem(g, k, i, sz, true);
		b1(e, 0xf7), b1(e, 0xc6), b4(e, (uint32_t)sz - 1);  /* test esi, sz - 1 */
		g->slow_at[k][g->slow_n[k]++] = jump_fwd(e, CC_J_NE);
		ld_reg(e, RAX, 0, sz, 0);
		b1(e, 0x49), b1(e, 0x89), b1(e, 0xc0);             /* mov r8, rax: the accumulator */
		ld_reg(e, RCX, i->reg, sz, i->flags);
		if (i->flags & IF_LOCK)
			b1(e, 0xf0);
		if (w)
			b1(e, 0x48);
		b1(e, 0x0f), b1(e, 0xb1), b1(e, 0x0c), b1(e, 0x32); /* cmpxchg [rdx + rsi], ecx */
		{
			/* Failed: rAX = the old value (zero-extended at 32 bits,
			 * as the handler's reg_write). Nothing below touches the
			 * host's flags: they are CMP rAX, old. */
			uint8_t *ok = jump_fwd(e, 4 /* je */);

			st_reg(e, RAX, 0, 8, 0);
			patch(ok, e->p);
		}
		if (live) {
			/* cc_set(CC_SUB, sz, acc, old, acc - old); rax = old */
			b1(e, 0x4c), b1(e, 0x89), b1(e, 0x83);     /* mov [rbx + cc_a], r8 */
			b4(e, (uint32_t)offsetof(struct cpu, cc_a));
			op_rbx(e, true, 0x89, RAX, offsetof(struct cpu, cc_b));
			b1(e, 0x49), b1(e, 0x89), b1(e, 0xc1);     /* mov r9, rax */
			b1(e, 0x49), b1(e, 0xf7), b1(e, 0xd1);     /* not r9 */
			b1(e, 0x4f), b1(e, 0x8d), b1(e, 0x4c), b1(e, 0x08), b1(e, 1); /* lea r9, [r8 + r9 + 1] */
			if (!w)
				b1(e, 0x45), b1(e, 0x89), b1(e, 0xc9); /* mov r9d, r9d */
			b1(e, 0x4c), b1(e, 0x89), b1(e, 0x8b);     /* mov [rbx + cc_r], r9 */
			b4(e, (uint32_t)offsetof(struct cpu, cc_r));
			gen_cc(e, CC_SUB, (unsigned)sz);
		}
		p->host_flags = true;
		break;
	case N_BT: {
		/* 0F BA /4-7 ib, 0F A3/AB/B3/BB /r: CF = the bit (then set,
		 * cleared or flipped), ZF and the undefined ones kept as the
		 * handler keeps them: the guest's flags made eager first. */
		unsigned ext = 4u + p->kind;

		if (live)
			gen_flags_eager(g, k);
		if (p->mem) {
			gen_mem(g, k, i, sz, p->kind != 0);
			if (i->flags & IF_LOCK) { /* a split locked access: the handler's */
				b1(e, 0xf7), b1(e, 0xc6), b4(e, (uint32_t)sz - 1); /* test esi, sz - 1 */
				g->slow_at[k][g->slow_n[k]++] = jump_fwd(e, CC_J_NE);
				b1(e, 0xf0);
			}
			if (w)
				b1(e, 0x48);
			/* bt* [rdx + rsi], imm8 */
			b1(e, 0x0f), b1(e, 0xba), b1(e, 0x04 | ext << 3), b1(e, 0x32), b1(e, (uint8_t)i->imm);
		} else {
			ld_reg(e, RAX, i->rm, sz, 0);
			if (p->imm) {
				if (w)
					b1(e, 0x48);
				b1(e, 0x0f), b1(e, 0xba), b1(e, 0xc0 | ext << 3), b1(e, (uint8_t)i->imm);
			} else {
				static const uint8_t reg_op[] = { 0xa3, 0xab, 0xb3, 0xbb };

				ld_reg(e, RCX, i->reg, sz, 0);
				if (w)
					b1(e, 0x48);
				b1(e, 0x0f), b1(e, reg_op[p->kind]), b1(e, 0xc0 | RCX << 3 | RAX); /* bt* eax, ecx */
			}
			if (p->kind) /* (a 32-bit result zero-extended; mov keeps CF) */
				st_reg(e, RAX, i->rm, 8, 0);
		}
		if (live) {
			gen_rflags_cf_from_host(e);
			b1(e, 0x0f), b1(e, 0xba), b1(e, 0xe0), b1(e, 0); /* bt eax, 0: host CF again */
		}
		p->host_cf = true;
		break;
	}
	case N_CMOV:
	case N_SETCC: {
		/* On the host's flags when they are the guest's, else on
		 * cpu_cond's answer (test al, al: "ne" means true). */
		unsigned cc = p->kind;

		if (p->nat == N_SETCC && p->mem && k > 0 && g->host_flags_after[k - 1]) {
			/* the condition before gen_mem clobbers the host flags */
			b1(e, 0x41), b1(e, 0x0f), b1(e, 0x90 + cc), b1(e, 0xc0); /* setcc r8b */
			gen_mem(g, k, i, 1, true);
			b1(e, 0x44), b1(e, 0x88), b1(e, 0x04), b1(e, 0x32);     /* mov [rdx + rsi], r8b */
			break;
		}
		if (p->mem) /* clobbers the host flags */
			gen_mem(g, k, i, p->nat == N_SETCC ? 1 : sz, p->nat == N_SETCC);
		if (p->mem || !(k > 0 && g->host_flags_after[k - 1])) {
			b1(e, 0x56), b1(e, 0x52);              /* push rsi; push rdx: the host address */
			b1(e, 0x48), b1(e, 0x89), b1(e, 0xdf); /* mov rdi, rbx */
			b1(e, 0xbe), b4(e, p->kind);           /* mov esi, cc */
			call(e, (const void *)cpu_cond);
			b1(e, 0x5a), b1(e, 0x5e);              /* pop rdx; pop rsi */
			b1(e, 0x84), b1(e, 0xc0);              /* test al, al */
			cc = CC_J_NE;
		} else {
			p->host_flags = true; /* CMOV and SETcc leave the flags alone */
		}
		if (p->nat == N_SETCC) {
			b1(e, 0x0f), b1(e, 0x90 + cc), b1(e, 0xc1); /* setcc cl */
			if (p->mem)
				st_mem(e, RCX, 1);
			else
				st_reg(e, RCX, i->rm, 1, i->flags);
			break;
		}
		if (p->mem)
			ld_mem(e, RCX, sz); /* mov leaves the flags alone */
		else
			ld_reg(e, RCX, i->rm, sz, 0);
		ld_reg(e, RAX, i->reg, sz, 0);
		if (w)
			b1(e, 0x48);
		b1(e, 0x0f), b1(e, 0x40 + cc), b1(e, 0xc1); /* cmovcc eax, ecx */
		st_reg(e, RAX, i->reg, 8, 0);
		break;
	}
	case N_JCC:
		if (k > 0 && g->host_flags_after[k - 1]) {
			p->count = 1;
			break;
		}
		/* A slow path before a Jcc ends in the Jcc's handler, never
		 * here (cpu_jit_block), so its own flags are what count. */
		if (k > 0 && g->native[k - 1] && g->plan[k - 1].host_flags) {
			p->count = 1; /* fused: gen_end branches on the host flags */
			break;
		}
		if (k > 0 && g->native[k - 1] && g->plan[k - 1].host_cf && (p->kind == 2 || p->kind == 3)) {
			p->count = 1; /* JB/JAE right after BT*: on the host's CF */
			break;
		}
		/* cpu_cond(c, cc) in al */
		b1(e, 0x48), b1(e, 0x89), b1(e, 0xdf); /* mov rdi, rbx */
		b1(e, 0xbe), b4(e, p->kind);           /* mov esi, cc */
		call(e, (const void *)cpu_cond);
		b1(e, 0x84), b1(e, 0xc0);              /* test al, al */
		break;
	case N_CALLIND:
	case N_JMPIND:
		/* r8 = the target, canonical (else the handler raises #GP) */
		if (p->mem && (i->flags & IF_MEM)) {
			gen_mem(g, k, i, 8, false);
			ld_mem(e, RCX, 8);
		} else {
			ld_reg(e, RCX, i->rm, 8, 0);
		}
		b1(e, 0x48), b1(e, 0x89), b1(e, 0xc8);             /* mov rax, rcx */
		b1(e, 0x48), b1(e, 0xc1), b1(e, 0xe0), b1(e, 16);  /* shl rax, 16 */
		b1(e, 0x48), b1(e, 0xc1), b1(e, 0xf8), b1(e, 16);  /* sar rax, 16 */
		b1(e, 0x48), b1(e, 0x39), b1(e, 0xc8);             /* cmp rax, rcx */
		g->slow_at[k][g->slow_n[k]++] = jump_fwd(e, CC_J_NE);
		b1(e, 0x49), b1(e, 0x89), b1(e, 0xc8);             /* mov r8, rcx */
		if (p->nat == N_CALLIND)
			gen_push(g, k, i, true);
		b1(e, 0x4c), b1(e, 0x89), b1(e, 0x83);             /* mov [rbx + rip], r8 */
		b4(e, (uint32_t)offsetof(struct cpu, rip));
		break;
	case N_JMP: /* the block's end (gen_end) */
	case N_CALL:
		break;
	}
}

/* The call of insns[k]'s handler, with the run loops' bookkeeping. */
static void gen_budget_store(struct emit *e);
static void gen_budget_load(struct emit *e);

static void gen_call(struct gen *g, const struct insn *i)
{
	struct emit *e = &g->e;

	gen_budget_store(e); /* the handler may cpu_stop or raise */
	store_imm(e, offsetof(struct cpu, cur_rip), i->rip);
	store_imm(e, offsetof(struct cpu, rip), i->rip + i->len);
	b1(e, 0x48), b1(e, 0x89), b1(e, 0xdf);               /* mov rdi, rbx */
	b1(e, 0x48), b1(e, 0xbe), b8(e, (uint64_t)(uintptr_t)i); /* mov rsi, i */
	if (g->user)
		op_rbx(e, true, 0x89, RSI, offsetof(struct cpu, cur_insn));
	call(e, (const void *)i->fn);
	gen_budget_load(e);
}

/* After a call: leave with k + 1 done if the block cache was flushed. */
static void gen_flush_check(struct gen *g, unsigned k)
{
	struct emit *e = &g->e;

	op_rbx(e, false, 0x80, 7, offsetof(struct cpu, flushed)); /* cmp byte [flushed], 0 */
	b1(e, 0);
	g->exit_at[g->exits] = jump_fwd(e, CC_J_NE);
	g->exit_k[g->exits++] = k + 1;
}

/* Routines keep chain_budget in r15d (callee-saved, so handlers keep it
 * too): the prologue loads it, every way out and every handler call stores
 * it back (cpu_stop and the longjmp paths work on the memory copy), and a
 * handler call reloads it. Entered from C, a routine saves rbx and r15 and
 * keeps rsp 16-byte aligned for its calls. */
static void gen_prologue(struct emit *e)
{
	uint8_t *start = e->p;

	b1(e, 0x53);                            /* push rbx */
	b1(e, 0x41), b1(e, 0x57);               /* push r15 */
	b1(e, 0x48), b1(e, 0x89), b1(e, 0xfb);  /* mov rbx, rdi */
	b1(e, 0x44), b1(e, 0x8b), b1(e, 0xbb);  /* mov r15d, [rbx + chain_budget] */
	b4(e, (uint32_t)offsetof(struct cpu, chain_budget));
	b1(e, 0x48), b1(e, 0x83), b1(e, 0xec), b1(e, 8); /* sub rsp, 8 */
	if (e->p - start != JIT_PROLOGUE_LEN)
		abort();
}

static void gen_budget_store(struct emit *e)
{
	b1(e, 0x44), b1(e, 0x89), b1(e, 0xbb);  /* mov [rbx + chain_budget], r15d */
	b4(e, (uint32_t)offsetof(struct cpu, chain_budget));
}

static void gen_budget_load(struct emit *e)
{
	b1(e, 0x44), b1(e, 0x8b), b1(e, 0xbb);  /* mov r15d, [rbx + chain_budget] */
	b4(e, (uint32_t)offsetof(struct cpu, chain_budget));
}

/* sub r15d, n: n instructions ran (the host's SF: the budget is used up) */
static void gen_budget_sub(struct emit *e, unsigned n)
{
	b1(e, 0x41), b1(e, 0x81), b1(e, 0xef), b4(e, n);
}

/* Back to the run loop, the budget stored. */
static void gen_leave(struct emit *e)
{
	gen_budget_store(e);
	b1(e, 0x48), b1(e, 0x83), b1(e, 0xc4), b1(e, 8); /* add rsp, 8 */
	b1(e, 0x41), b1(e, 0x5f);                        /* pop r15 */
	b1(e, 0x5b), b1(e, 0xc3);                        /* pop rbx; ret */
}

/* Leave the routine having run k instructions (counted off the budget:
 * cpu_jit_run adds what it used to icount). */
static void gen_ret(struct emit *e, unsigned k)
{
	gen_budget_sub(e, k);
	gen_leave(e);
}

/* The start of every exit that may go on into another routine: count the
 * block's n instructions off the budget, then leave (the jumps to patch,
 * stored in out, returned how many) unless stop is clear, the chain budget
 * lasts, and the next block fits under the instruction limit. */
static unsigned gen_exit_checks(struct emit *e, unsigned n, uint8_t **out)
{
	unsigned nout = 0;

	/* sub r15d, n; js out: the budget (cpu_jit_run) also holds the
	 * limit, and cpu_stop makes it negative. */
	gen_budget_sub(e, n);
	out[nout++] = jump_fwd(e, CC_J_S);
	return nout;
}

/* An exit of the block (n instructions) to the known address t: straight
 * into t's routine once the run loop has linked it (cpu_jit_chain), while
 * chain_budget allows; rip = t only on the way out. */
static void gen_chain_exit(struct gen *g, uint64_t t, unsigned n)
{
	struct emit *e = &g->e;
	uint8_t *out[4], *relink[2], *rel, *imm = NULL;
	unsigned k, nout, nrelink = 0;

	gen_mark(g, "chain");
	nout = gen_exit_checks(e, n, out);
	gen_mark(g, "chain-page");
	if (!g->user && (t & CPU_PAGE_MASK) != g->page) {
		/* Another code page must still map where it did when the run
		 * loop linked this exit (sys_loop's check of t's TLB entry,
		 * with the hash slot and block link folded in): no TLB flush
		 * or INVLPG since, and the same privilege class (cpu->xkey).
		 * If not, the run loop (re)links it: it checks t's page and
		 * patches in the xkey of then. Within the block's own page the
		 * check made on entering it stands: only instructions that end
		 * a block (MOV CR3, INVLPG, ...) change mappings, and they
		 * leave through the dispatch. */
		b1(e, 0x48), b1(e, 0xb8);
		imm = e->p;
		b8(e, ~0ULL); /* the key, patched by cpu_jit_chain (never this) */
		/* cmp rax, [rbx + key_at], key_at patched by cpu_jit_chain too */
		b1(e, 0x48), b1(e, 0x3b), b1(e, 0x83), b4(e, (uint32_t)offsetof(struct cpu, xkey));
		relink[nrelink++] = jump_fwd(e, CC_J_NE);
	}
	rel = jump_fwd(e, JMP);
	/* Not linked yet: tell the run loop where to patch. */
	patch(rel, e->p);
	gen_mark(g, "chain-unlinked");
	for (k = 0; k < nrelink; k++)
		patch(relink[k], e->p);
	b1(e, 0x48), b1(e, 0x8d), b1(e, 0x05);          /* lea rax, [rip + rel - next] */
	b4(e, (uint32_t)(int32_t)(rel - (e->p + 4)));
	op_rbx(e, true, 0x89, RAX, offsetof(struct cpu, jit_link));
	if (imm) {
		b1(e, 0x48), b1(e, 0x8d), b1(e, 0x05);  /* lea rax, [rip + imm - next] */
		b4(e, (uint32_t)(int32_t)(imm - (e->p + 4)));
		op_rbx(e, true, 0x89, RAX, offsetof(struct cpu, jit_link_key));
	} else {
		store_imm(e, offsetof(struct cpu, jit_link_key), 0);
	}
	store_imm(e, offsetof(struct cpu, jit_link_rip), t);
	for (k = 0; k < nout; k++)
		patch(out[k], e->p);
	store_imm(e, offsetof(struct cpu, rip), t);
	gen_leave(e);
}

/* An exit to the address in rip (RET, or after a handler): on into the
 * routine the jump cache has for it, with the run loop's checks; after a
 * handler also the one for an interrupt shadow or IF perhaps just set. */
static void gen_dispatch(struct gen *g, unsigned n, bool after_handler)
{
	struct emit *e = &g->e;
	size_t jc = offsetof(struct cpu, jcache);
	uint8_t *out[8];
	unsigned k, nout;

	gen_mark(g, "dispatch");
	nout = gen_exit_checks(e, n, out);
	gen_mark(g, "dispatch-lookup");
	if (!g->user && after_handler) {
		/* An interrupt shadow, or IF perhaps just set: sys_loop's turn */
		op_rbx(e, true, 0x8b, RCX, offsetof(struct cpu, sys));
		b1(e, 0x66), b1(e, 0x83), b1(e, 0xb9);         /* cmp word [rcx + disp32], 0 */
		b4(e, (uint32_t)offsetof(struct cpu_sys, shadow)), b1(e, 0);
		out[nout++] = jump_fwd(e, CC_J_NE);
	}
	/* rdx = jcache index * 32 (cpu_jcache_index) */
	op_rbx(e, true, 0x8b, RAX, offsetof(struct cpu, rip));
	b1(e, 0x48), b1(e, 0x89), b1(e, 0xc2);             /* mov rdx, rax */
	b1(e, 0x48), b1(e, 0xc1), b1(e, 0xea), b1(e, 12);  /* shr rdx, 12 */
	op_rr(e, 8, 0x31, RDX, RAX);                       /* xor rdx, rax */
	b1(e, 0x81), b1(e, 0xe2), b4(e, JCACHE_SIZE - 1);  /* and edx, imm32 */
	b1(e, 0xc1), b1(e, 0xe2), b1(e, 5);                /* shl edx, 5 */
	/* cmp rax, [rbx + rdx + jc + rip] */
	b1(e, 0x48), b1(e, 0x3b), b1(e, 0x84), b1(e, 0x13),
		b4(e, (uint32_t)(jc + offsetof(struct jcache_entry, rip)));
	out[nout++] = jump_fwd(e, CC_J_NE); /* (cpu_jcache_clear empties it on flushes) */
	if (!g->user) {
		/* sys_loop's check: rip's code page mapped (executable, this
		 * privilege class) to the host page the entry was made for */
		size_t tlb = offsetof(struct cpu, tlb);

		b1(e, 0x48), b1(e, 0x89), b1(e, 0xc6);             /* mov rsi, rax */
		b1(e, 0x48), b1(e, 0x81), b1(e, 0xe6), b4(e, 0xfffff000); /* and rsi, ~0xfff */
		op_rbx(e, true, 0x0b, RSI, offsetof(struct cpu, tlb_tag)); /* or rsi, [tlb_tag] */
		b1(e, 0x48), b1(e, 0xc1), b1(e, 0xe8), b1(e, 12);  /* shr rax, 12 */
		b1(e, 0x25), b4(e, TLB_SIZE - 1);                  /* and eax, TLB_SIZE - 1 */
		b1(e, 0xc1), b1(e, 0xe0), b1(e, 5);                /* shl eax, 5 */
		/* cmp rsi, [rbx + rax + tlb + tag_x] */
		b1(e, 0x48), b1(e, 0x3b), b1(e, 0xb4), b1(e, 0x03),
			b4(e, (uint32_t)(tlb + offsetof(struct tlb_entry, tag_x)));
		out[nout++] = jump_fwd(e, CC_J_NE);
		/* mov rsi, [rbx + rax + tlb + addend]; cmp rsi, [rbx + rdx + jc + addend] */
		b1(e, 0x48), b1(e, 0x8b), b1(e, 0xb4), b1(e, 0x03),
			b4(e, (uint32_t)(tlb + offsetof(struct tlb_entry, addend)));
		b1(e, 0x48), b1(e, 0x3b), b1(e, 0xb4), b1(e, 0x13),
			b4(e, (uint32_t)(jc + offsetof(struct jcache_entry, addend)));
		out[nout++] = jump_fwd(e, CC_J_NE);
	}
	gen_mark(g, "dispatch-jump");
	/* mov rax, [rbx + rdx + jc + code]; add rax, PROLOGUE_LEN; jmp rax */
	b1(e, 0x48), b1(e, 0x8b), b1(e, 0x84), b1(e, 0x13),
		b4(e, (uint32_t)(jc + offsetof(struct jcache_entry, code)));
	b1(e, 0x48), b1(e, 0x83), b1(e, 0xc0), b1(e, JIT_PROLOGUE_LEN);
	b1(e, 0xff), b1(e, 0xe0);
	gen_mark(g, "dispatch-out");
	for (k = 0; k < nout; k++)
		patch(out[k], e->p);
	gen_leave(e);
}

/* The end of the block: its last instruction's native branch (a Jcc on
 * the host flags its ALU instruction left, or a JMP), or the fall-through
 * after a native last instruction, leave through chain exits; after a
 * handler rip is dynamic. */
static void gen_end(struct gen *g, const struct insn *last, const struct plan *p, unsigned n)
{
	struct emit *e = &g->e;
	uint64_t next = last->rip + last->len;

	if (p && p->nat == N_JCC) {
		uint8_t *taken = jump_fwd(e, p->count ? p->kind : CC_J_NE);

		gen_chain_exit(g, next, n);
		patch(taken, e->p);
		gen_chain_exit(g, next + last->imm, n);
	} else if (p && (p->nat == N_JMP || p->nat == N_CALLREL)) {
		gen_chain_exit(g, next + last->imm, n);
	} else if (p && p->nat != N_RET && p->nat != N_CALLIND && p->nat != N_JMPIND) {
		gen_chain_exit(g, next, n);
	}
	g->dyn_exit = e->p;
	/* After a handler, rip is whatever it left (a flush, a new mode or
	 * mapping, a CPL change, STI or POPF show in the dispatch's checks) */
	if ((p && (p->nat == N_RET || p->nat == N_JCC || p->nat == N_CALLIND ||
		   p->nat == N_JMPIND)) ||
	    (!p && g->native_ok))
		gen_dispatch(g, n, !p);
	else
		gen_ret(e, n);
}

/* live_after[k]: can anything read the flags insns[k] leaves? The next
 * block can, and so can a handler or the exception a possibly faulting
 * access raises, and CMOVcc/SETcc; a native full writer ends their life;
 * the others (MOV, LEA, ROL/ROR, INC/DEC) pass them through. */
static void flag_liveness(const struct plan *p, const bool *native, unsigned n, bool *live_after)
{
	bool live = true;
	unsigned k;

	for (k = n; k-- > 0;) {
		live_after[k] = live;
		if (!native[k] || p[k].mem || p[k].nat == N_JCC || p[k].nat == N_CMOV ||
		    p[k].nat == N_SETCC || p[k].nat == N_BT)
			live = true; /* read or possibly faulting */
		else if (p[k].full_flags)
			live = false;
	}
}

/* Runs of native PUSH (or POP) of registers other than rsp, at most
 * STACK_RUN_MAX: the first gets run = m, the others follow. */
#define STACK_RUN_MAX 8
static void plan_stack_runs(const struct cpu *c, uint32_t first, struct plan *p, const bool *native,
			    unsigned n)
{
	unsigned k, m;

	for (k = 0; k < n; k += m) {
		enum nat nat = p[k].nat;

		m = 1;
		if (!native[k] || (nat != N_PUSH && nat != N_POP) || c->insns[first + k].reg == 4)
			continue;
		while (k + m < n && m < STACK_RUN_MAX && native[k + m] && p[k + m].nat == nat &&
		       c->insns[first + k + m].reg != 4)
			m++;
		if (m < 2)
			continue;
		p[k].run = (uint8_t)m;
		for (unsigned j = 1; j < m; j++)
			p[k + j].follow = true;
	}
}

/* Native only where its flags are dead: the handler has their logic. */
static bool needs_dead_flags(const struct plan *p)
{
	return (p->nat == N_SHIFT && p->count && (p->kind <= 1 || p->count == SHIFT_CL)) ||
	       p->nat == N_IMUL;
}

/* Register moves: their code leaves the host's flags alone. */
static bool keeps_host_flags(const struct plan *p)
{
	if (p->mem)
		return false;
	switch (p->nat) {
	case N_MOV_ST: case N_MOV_LD: case N_MOV_IMM: case N_MOVX: case N_NOT: case N_NOP:
		return true;
	case N_LEA: /* gen_ea's lea and mov: no segment base here */
		return true;
	default:
		return false;
	}
}

/* ---- perf map (VIREO_PERF_MAP=1) ---------------------------------------- */

/* perf's symbol file for JIT code (/tmp/perf-PID.map, "START SIZE NAME"):
 * per routine its prologue, each instruction's code ("RIP:native-KIND" or
 * "RIP:call-OPCODE"), the parts of its exits and its slow paths. A flush
 * reuses the buffer from its start, so later lines describe the same
 * addresses again: scripts/jit-profile reads the last generation. */
static FILE *perf_map;
static pthread_once_t perf_map_once = PTHREAD_ONCE_INIT;

static void perf_map_open(void)
{
	char name[64];

	if (!env_on("VIREO_PERF_MAP"))
		return;
	snprintf(name, sizeof(name), "/tmp/perf-%d.map", (int)getpid());
	perf_map = fopen(name, "w");
}

static bool jit_perf_map(void)
{
	pthread_once(&perf_map_once, perf_map_open);
	return perf_map != NULL;
}

static const char *const nat_name[] = {
	[N_CALL] = "call", [N_MOV_ST] = "mov-store", [N_MOV_LD] = "mov-load",
	[N_MOV_IMM] = "mov-imm", [N_ALU] = "alu", [N_LEA] = "lea", [N_SHIFT] = "shift",
	[N_INCDEC] = "incdec", [N_NOT] = "not", [N_NEG] = "neg", [N_MOVX] = "movx",
	[N_PUSH] = "push", [N_POP] = "pop", [N_IMUL] = "imul", [N_NOP] = "nop",
	[N_BT] = "bt", [N_CMOV] = "cmov", [N_SETCC] = "setcc", [N_JCC] = "jcc", [N_JMP] = "jmp",
	[N_CALLREL] = "call-rel", [N_RET] = "ret", [N_CALLIND] = "call-ind",
	[N_JMPIND] = "jmp-ind", [N_CMPXCHG] = "cmpxchg",
};

static void perf_map_block(const struct cpu *c, const struct gen *g, uint32_t first,
			   const uint8_t *start)
{
	uint64_t rip = c->insns[first].rip;
	const uint8_t *from = start;
	const char *what = "prologue";
	char buf[48];

	flockfile(perf_map);
	for (unsigned m = 0; m <= g->nmarks; m++) {
		const uint8_t *to = m < g->nmarks ? g->mark[m].at : g->e.p;

		if (to > from)
			fprintf(perf_map, "%lx %lx %llx:%s\n", (unsigned long)(uintptr_t)from,
				(unsigned long)(to - from), (unsigned long long)rip, what);
		if (m == g->nmarks)
			break;
		from = to;
		what = g->mark[m].what;
		if (!what) {
			const struct insn *i = &c->insns[first + g->mark[m].k];

			rip = i->rip;
			if (g->native[g->mark[m].k])
				snprintf(buf, sizeof(buf), "native-%s%s",
					 nat_name[g->plan[g->mark[m].k].nat],
					 g->plan[g->mark[m].k].mem ? "-mem" : "");
			else
				snprintf(buf, sizeof(buf), "call-%x", i->op);
			what = buf;
		}
	}
	funlockfile(perf_map);
	fflush(perf_map);
}

/* Generate the routine for the n decoded instructions at c->insns[first]:
 * void routine(struct cpu *c) runs them as the run loops would, adding to
 * icount the ones that ran (fewer when one flushed the block cache). */
cpu_block_code cpu_jit_block(struct cpu *c, uint32_t first, unsigned n)
{
	struct gen g = { .nmarks = 0 }; /* (all of it defined, for the analysers) */
	struct emit *e = &g.e;
	struct plan plan[BLOCK_MAX_INSNS];
	bool native[BLOCK_MAX_INSNS], live[BLOCK_MAX_INSNS];
	uint8_t *start;
	unsigned k, s;
	bool changed, native_ok = c->code_size == 0 && !c->jit_calls_only;

	if (!c->jit_buf || n == 0 || n > BLOCK_MAX_INSNS || cpu_jit_full(c))
		return NULL;
	memset(plan, 0, sizeof(plan[0]) * n); /* read only where native[k], but defined */
	for (k = 0; k < n; k++)
		native[k] = native_ok && plan_insn(&c->insns[first + k], &plan[k]);
	/* Branches end blocks (block.c); anything else would be a bug. */
	for (k = 0; k + 1 < n; k++)
		if (native[k] && plan[k].nat >= N_JCC)
			native[k] = false;
	/* A call makes the flags before it live, which can turn more
	 * instructions into calls: iterate to the fixed point. */
	do {
		changed = false;
		flag_liveness(plan, native, n, live);
		for (k = 0; k < n; k++) {
			if (native[k] && live[k] && needs_dead_flags(&plan[k])) {
				native[k] = false;
				changed = true;
			}
		}
	} while (changed);

	plan_stack_runs(c, first, plan, native, n);
	memset(g.slow_n, 0, sizeof(g.slow_n));
	g.exits = 0;
	g.nmarks = 0;
	g.native = native, g.plan = plan;
	g.native_ok = c->code_size == 0;
	g.user = c->sys == NULL;
	g.page = c->insns[first].rip & CPU_PAGE_MASK;
	start = e->p = c->jit_buf + c->jit_used;
	gen_prologue(e);
	if (g.user)
		store_imm(e, offsetof(struct cpu, cur_insn), 0);
	for (k = 0; k < n; k++) {
		const struct insn *i = &c->insns[first + k];

		gen_mark_insn(&g, k);
		if (native[k] && plan[k].follow) {
			/* done by the run's first */
		} else if (native[k]) {
			gen_native(&g, k, i, &plan[k], live[k]);
		} else {
			gen_call(&g, i);
			if (k + 1 < n)
				gen_flush_check(&g, k);
		}
		g.resume[k] = e->p;
		/* Are the guest's flags in the host's now? Not after a slow
		 * path, which resumes with the handler's; moves without a
		 * memory operand keep them. */
		g.host_flags_after[k] = native[k] && !g.slow_n[k] &&
					(plan[k].host_flags ||
					 (k > 0 && g.host_flags_after[k - 1] && keeps_host_flags(&plan[k])));
	}
	gen_end(&g, &c->insns[first + n - 1], native[n - 1] ? &plan[n - 1] : NULL, n);
	gen_mark(&g, "slow");
	/* Slow paths: the whole instruction through its handler (and a fused
	 * Jcc after it through its own, since the host flags are lost). */
	for (k = 0; k < n; k++) {
		unsigned last = native[k] && plan[k].run > 1 ? k + plan[k].run - 1 : k, j;

		if (!g.slow_n[k])
			continue;
		for (s = 0; s < g.slow_n[k]; s++)
			patch(g.slow_at[k][s], e->p);
		for (j = k; j <= last; j++) {
			gen_call(&g, &c->insns[first + j]);
			if (j + 1 < n)
				gen_flush_check(&g, j);
		}
		if (last + 1 < n && native[last + 1] && plan[last + 1].nat == N_JCC) {
			gen_call(&g, &c->insns[first + last + 1]);
			patch(jump_fwd(e, JMP), g.dyn_exit);
		} else {
			patch(jump_fwd(e, JMP), g.resume[last]);
		}
	}
	for (s = 0; s < g.exits; s++) {
		patch(g.exit_at[s], e->p);
		gen_ret(e, g.exit_k[s]);
	}
	if ((size_t)(e->p - start) > n * JIT_INSN_MAX + JIT_END_MAX)
		abort(); /* cpu_jit_full's reserve assumes this bound */
	c->jit_used = (size_t)(e->p - c->jit_buf + 15) & ~(size_t)15;
	if (jit_perf_map())
		perf_map_block(c, &g, first, start);
	return (cpu_block_code)(void *)start;
}

void cpu_jit_chain(struct cpu *c, uint64_t rip, size_t key_at, cpu_block_code code)
{
	uint8_t *at = c->jit_link;

	c->jit_link = NULL;
	if (!at || c->jit_link_rip != rip)
		return; /* an event moved rip since that exit */
	if (c->jit_link_key) {
		/* sys_loop checked rip's page: that holds while the key does */
		uint64_t key;
		uint32_t disp = (uint32_t)key_at;

		memcpy(&key, (const uint8_t *)c + key_at, sizeof(key));
		memcpy(c->jit_link_key, &key, sizeof(key));
		memcpy(c->jit_link_key + 8 + 3, &disp, sizeof(disp)); /* cmp's disp32 */
	}
	/* past the prologue */
	patch(at, (const uint8_t *)(void *)code + JIT_PROLOGUE_LEN);
}
