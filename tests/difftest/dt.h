/* Differential test harness for the emulated x86-64 CPU (issue 3, Tests).
 *
 * A test vector is an initial architectural state (GPRs, RFLAGS arithmetic
 * bits and DF, x87/MXCSR/XMM in FXSAVE64 layout), a few instruction bytes
 * placed in a code page at a fixed address and ended by INT3, and the
 * contents of a data region at a fixed address that memory operands point
 * into. The same vector runs natively (native.c: a forked child maps the pages
 * at the fixed addresses and enters the code through sigreturn with exactly
 * that state) and on the emulated CPU (emu.c); compare.c diffs the results.
 *
 * Layout: the code page and the two data pages are each surrounded by
 * unmapped pages, so page-crossing accesses off their ends fault the same way
 * natively and under emulation. */
#ifndef VIREO_TESTS_DIFFTEST_DT_H
#define VIREO_TESTS_DIFFTEST_DT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define DT_CODE_BASE 0x10000000ULL
#define DT_CODE_SIZE 0x1000ULL
#define DT_DATA_BASE 0x10010000ULL
#define DT_DATA_SIZE 0x2000ULL
#define DT_MAX_CODE 96

/* GPR indices in encoding order. */
enum { R_AX, R_CX, R_DX, R_BX, R_SP, R_BP, R_SI, R_DI, R_8, R_9, R_10, R_11, R_12, R_13, R_14, R_15 };

/* RFLAGS bits (Intel SDM Vol. 1 §3.4.3). */
#define F_CF 0x001ULL
#define F_PF 0x004ULL
#define F_AF 0x010ULL
#define F_ZF 0x040ULL
#define F_SF 0x080ULL
#define F_TF 0x100ULL
#define F_IF 0x200ULL
#define F_DF 0x400ULL
#define F_OF 0x800ULL
#define F_ID 0x200000ULL
#define F_ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)
/* What a vector may set and what is compared by default. */
#define F_SETTABLE (F_ARITH | F_DF)

/* FXSAVE64 offsets (Intel SDM Vol. 1 §10.5.1, table 10-2). */
#define FX_FCW 0
#define FX_FSW 2
#define FX_FTW 4
#define FX_MXCSR 24
#define FX_ST(i) (32 + 16 * (i))
#define FX_XMM(i) (160 + 16 * (i))
#define FX_USED 416 /* bytes 416..511 are reserved / software-available */

struct dt_state {
	uint64_t gpr[16];
	uint64_t rip, rflags;
	uint8_t fxsave[512] __attribute__((aligned(16)));
};

/* Per-vector comparison switches. */
enum {
	DT_CMP_X87 = 1 << 0,  /* compare FCW/FSW/FTW and valid ST registers */
	DT_CMP_XMM = 1 << 1,  /* compare XMM0-15 */
	DT_CMP_MXCSR = 1 << 2,
	/* After a faulting CALL, Intel CPUs have already written the return
	 * address below RSP (the #GP for a non-canonical target comes after
	 * the push): memory below the restored RSP is not architectural. */
	DT_CMP_SP_JUNK = 1 << 3,
	/* Not a comparison switch: the code page is writable for this vector
	 * (self-modifying code tests). */
	DT_CODE_WRITABLE = 1 << 4,
	/* Multi-part accesses (FXSAVE, FNSAVE...): the order in which the CPU
	 * touches the bytes, hence CR2 of a #PF, is implementation-specific;
	 * only the faulting page is compared. */
	DT_CMP_PF_PAGE = 1 << 5,
};
#define DT_CMP_ALL (DT_CMP_X87 | DT_CMP_XMM | DT_CMP_MXCSR)

struct dt_vector {
	uint32_t group;
	uint32_t index;    /* case number within its group */
	uint64_t seed;     /* regenerates exactly this case (dt_gen_one) */
	char name[40];     /* template name of the (first) instruction */
	uint16_t code_off; /* offset of the first instruction in the code page */
	uint16_t code_len; /* bytes, including the final INT3 */
	uint8_t code[DT_MAX_CODE];
	uint8_t nins;         /* instructions before the final INT3 */
	uint8_t ins_off[16];  /* their offsets from code_off; ins_off[nins] = INT3 */
	struct dt_state init; /* init.rip is set from code_off */
	uint64_t gs_base;     /* for GS-prefixed operands */
	uint64_t flags_cmp;   /* RFLAGS bits compared (defined ones) */
	uint64_t gpr_cmp[16]; /* per-register compared bits */
	uint16_t fsw_cmp;     /* x87 status word bits compared */
	uint32_t cmp;         /* DT_CMP_* */
	/* data bytes not compared (e.g. FPU instruction/data pointers stored
	 * by FNSTENV: implementation-specific); len 0 = none */
	uint16_t skip_off, skip_len;
	uint8_t data[DT_DATA_SIZE];
};

enum dt_status {
	DT_END,       /* reached the final INT3 */
	DT_EXC,       /* stopped by an exception (vector, error_code, fault_addr) */
	DT_LIMIT,     /* emulator: instruction limit (runaway) */
	DT_HARNESS,   /* the harness could not run the case (msg) */
};

struct dt_result {
	int status;
	int vector;
	uint64_t error_code;
	uint64_t fault_addr;
	struct dt_state st;
	uint8_t data[DT_DATA_SIZE];
	char msg[96];
};

/* native.c: runs vec[0..n) in a forked child; fills res[0..n). Returns 0 or
 * a negative errno (results of cases that could not run say DT_HARNESS). */
int dt_native_run(const struct dt_vector *vec, struct dt_result *res, size_t n);

/* emu.c: runs one vector on the emulated CPU. */
struct dt_emu;
struct dt_emu *dt_emu_create(char *msg, size_t msglen);
void dt_emu_destroy(struct dt_emu *emu);
void dt_emu_run(struct dt_emu *emu, const struct dt_vector *vec, struct dt_result *res);
/* CPUID of the emulated CPU (false when there is none). */
bool dt_emu_cpuid(struct dt_emu *emu, uint32_t leaf, uint32_t sub, uint32_t out[4]);

/* compare.c */
enum dt_verdict {
	DT_SAME,
	DT_DIFF,
	DT_EMU_LACKS, /* emulator #UD where the native CPU executed the insn */
	DT_BROKEN,    /* native side failed: harness problem */
};
/* Compares native result a with emulated result b under vec's masks;
 * writes the first differing field into why. */
enum dt_verdict dt_compare(const struct dt_vector *vec, const struct dt_result *a,
			   const struct dt_result *b, char *why, size_t whylen);
/* "bytes  insn" disassembly of the instruction at code offset off (objdump). */
void dt_disasm(const struct dt_vector *vec, unsigned off, char *out, size_t outlen);
/* Length in bytes of the instruction at offset off from code_off (from the
 * generator's record of instruction starts). */
unsigned dt_insn_len_at(const struct dt_vector *vec, unsigned off);

/* amd.c: documented AMD/Intel differences (README "AMD hosts"). */
enum {
	DT_AMD_MXCSR_MASK, /* FXSAVE image MXCSR_MASK has MM (bit 17) */
	DT_AMD_MXCSR_MM,   /* FXRSTOR/LDMXCSR accept MM where Intel #GPs */
	DT_AMD_PE,         /* no PE with an unmasked OE/UE */
	DT_AMD_MMX_TOP,    /* MMX stores leave TOP */
	DT_AMD_REP_RCX,    /* A32 REP strings keep RCX[63:32] */
	DT_AMD_MOVSXD16,   /* MOVSXD r16, m32 reads 4 bytes */
	DT_AMD_REP_CMPS_FLAGS, /* a fault in REPE/REPNE CMPS/SCAS keeps the flags */
	DT_AMD_NRULES
};
extern const char *const dt_amd_rule_name[DT_AMD_NRULES];
/* CPUID vendor of the host is AuthenticAMD. */
bool dt_host_is_amd(void);
/* Is emulated result b different from native result a only by documented
 * AMD behaviour? Returns the set of rules (1 << DT_AMD_*) that explain the
 * difference, 0 if something else differs. Call only on AMD hosts. */
unsigned dt_amd_only(const struct dt_vector *v, const struct dt_result *a,
		     const struct dt_result *b);

/* prng.c: splitmix64-seeded xoshiro256**. */
struct dt_rng {
	uint64_t s[4];
};
void dt_rng_seed(struct dt_rng *r, uint64_t seed);
uint64_t dt_rng_next(struct dt_rng *r);
static inline uint64_t dt_rng_below(struct dt_rng *r, uint64_t n)
{
	return n ? dt_rng_next(r) % n : 0;
}
static inline bool dt_rng_chance(struct dt_rng *r, unsigned percent)
{
	return dt_rng_below(r, 100) < percent;
}
uint64_t dt_hash(uint64_t a, uint64_t b);

/* Unaligned loads from state images and memory dumps. */
static inline uint16_t dt_ld16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}
static inline uint32_t dt_ld32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}
static inline uint64_t dt_ld64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

#endif
