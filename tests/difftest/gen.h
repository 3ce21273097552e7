/* Vector generation: an x86-64 encoder driven by per-group instruction
 * templates, with random operands biased towards edge values. */
#ifndef VIREO_TESTS_DIFFTEST_GEN_H
#define VIREO_TESTS_DIFFTEST_GEN_H

#include "dt.h"

/* Operand size classes. */
enum {
	OS_B = 1,   /* byte operation */
	OS_V,       /* 16/32/64 by 66 / REX.W */
	OS_V64,     /* 16/64, default 64 (push/pop) */
	OS_DQ,      /* 32/64 by REX.W, no 66 (SSE forms with a GPR) */
	OS_N,       /* no operand size (SSE/x87); REX.W random where ignored */
	OS_NW,      /* no operand size, REX.W never set (W changes meaning) */
	OS_W,       /* 16-bit fixed (66 prefix not used, e.g. pextrw) */
	OS_Q,       /* 64-bit by REX.W always (cmpxchg16b) */
};

/* Operand forms. */
enum {
	FM_RM = 1, /* ModRM, r/m register or memory */
	FM_M,      /* ModRM, memory only */
	FM_R,      /* ModRM, register only */
	FM_NONE,   /* no ModRM */
	FM_OPREG,  /* register in the low 3 opcode bits (+REX.B) */
};

/* Immediate kinds. */
enum { IM_NONE, IM_B, IM_W, IM_Z, IM_V };

/* Register kinds of the ModRM reg and rm fields. */
enum {
	RK_GPR,      /* both GPRs */
	RK_XMM,      /* both XMM */
	RK_XMM_GPR,  /* reg XMM, rm GPR */
	RK_GPR_XMM,  /* reg GPR, rm XMM */
	RK_X87,      /* rm is st(i), no REX */
};

/* Lane types for filling XMM registers and memory with FP values. */
enum { LN_INT, LN_PS, LN_PD, LN_X80, LN_I16, LN_I32, LN_I64 };

/* Special value setup and masks. */
enum {
	HK_NONE,
	HK_SHIFT,    /* C0/C1/D0-D3: count-dependent flag masks */
	HK_SHXD,     /* SHLD/SHRD */
	HK_DIV,      /* DIV/IDIV: divisors, mostly in range */
	HK_BTMEM,    /* BT* with a register bit offset on memory */
	HK_BSF,      /* BSF/BSR: zero sources; dest masks */
	HK_BSWAP,    /* 16-bit BSWAP result undefined */
	HK_CMPXCHG,  /* RAX equal to the destination half the time */
	HK_CX8,      /* CMPXCHG8B/16B */
	HK_STACK,    /* RSP into the data region */
	HK_POPF,     /* POPF value at [RSP] */
	HK_RET,      /* return address at [RSP] */
	HK_ENTER,    /* ENTER/LEAVE: RSP and RBP into the data region */
	HK_LDMXCSR,  /* mostly valid MXCSR in memory */
	HK_FXRSTOR,  /* a valid FXSAVE image in memory */
	HK_CNT,      /* LZCNT/TZCNT/POPCNT: zero sources */
	HK_MASKMOV,  /* MASKMOVDQU: RDI into the data region */
	HK_CALLIND,  /* CALL/JMP r/m: target after emission */
	HK_IMM3,     /* CMPPS & co: predicate 0-7 */
	HK_FLDCW,    /* a sensible control word in memory */
};

struct dt_tmpl {
	const char *name;
	uint8_t pfx;  /* mandatory prefix: 0, 0x66, 0xf2, 0xf3 */
	uint8_t map;  /* 0 one-byte, 1 0F, 2 0F38, 3 0F3A */
	uint8_t op;
	int8_t ext;   /* ModRM.reg fixed (/digit), or -1 */
	uint8_t form;
	uint8_t imm;
	uint8_t osz;
	uint8_t regk;
	uint16_t msz; /* memory operand bytes, 0: operand size */
	uint8_t align;
	uint8_t lane;
	uint8_t hook;
	uint8_t lockable;
	uint16_t implicit; /* GPRs used implicitly */
	uint64_t undef;    /* RFLAGS bits undefined */
	int8_t rm_fix1;    /* FM_R with a fixed rm (0F AE E8 lfence): rm + 1; 0: none */
	uint16_t fsw_undef; /* x87 status word bits undefined (C0-C3) */
};

#define FSW_C0 0x0100
#define FSW_C1 0x0200
#define FSW_C2 0x0400
#define FSW_C3 0x4000

struct dt_gen;

/* A group of vectors: either a template table or a custom generator. */
struct dt_group {
	const char *name;
	const struct dt_tmpl *tmpl;
	const unsigned *ntmpl;
	void (*gen)(struct dt_gen *g);
	uint32_t need;  /* DT_NEED_* CPUID features */
	unsigned weight; /* relative share of the case budget */
	bool approx;     /* only counted, not failed (implementation-specific results) */
	unsigned min_cases; /* directed groups: cases per CI run (times 20 when long) */
};

enum {
	DT_NEED_SSE3 = 1 << 0,
	DT_NEED_SSSE3 = 1 << 1,
	DT_NEED_SSE41 = 1 << 2,
	DT_NEED_SSE42 = 1 << 3,
	DT_NEED_POPCNT = 1 << 4,
	DT_NEED_LZCNT = 1 << 5,
	DT_NEED_BMI1 = 1 << 6,
	DT_NEED_CX16 = 1 << 7,
	DT_NEED_LAHF = 1 << 8,
	DT_NEED_MOVBE = 1 << 9,
	DT_NEED_MMX = 1 << 10,
};

struct dt_gen {
	struct dt_rng rng;
	struct dt_vector *v;
	const struct dt_group *grp;
	unsigned pos;        /* code bytes emitted */
	uint16_t addr_regs;  /* registers holding addresses (not to be reused) */
	uint16_t used_regs;  /* explicit operands chosen so far in this vector */
	int fixed_base;      /* multi-instruction vectors: shared base, or -1 */
	bool allow_cross;    /* code may run off the code page */
};

extern const struct dt_group dt_groups[];
extern const unsigned dt_ngroups;

/* Generates case `index` of group `grp` from `seed` into v. */
void dt_gen_one(const struct dt_group *grp, uint64_t seed, uint32_t index, struct dt_vector *v);

/* Helpers shared with the directed and custom generators. */
void dt_gen_begin(struct dt_gen *g, struct dt_vector *v, uint64_t seed);
void dt_gen_emit(struct dt_gen *g, const uint8_t *bytes, unsigned n);
void dt_gen_end(struct dt_gen *g);
void dt_gen_tmpl(struct dt_gen *g, const struct dt_tmpl *t);
uint64_t dt_gen_value(struct dt_gen *g);
void dt_gen_fp_fill(struct dt_gen *g, uint8_t *p, unsigned n, int lane);
void dt_gen_random_mxcsr(struct dt_gen *g);
void dt_gen_x87_stack(struct dt_gen *g);
void dt_gen_x87_value(struct dt_gen *g, uint8_t out[10]);

#endif
