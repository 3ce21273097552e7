/* Documented behaviour where AMD CPUs differ from the Intel CPU Vireo models.
 *
 * On an AMD host the native side of a case can legitimately disagree with
 * the emulator. Each rule below names one such difference and excuses only
 * the named field, for the named instructions and conditions: the emulated
 * result is patched with the native value of exactly that field, or (for an
 * outcome difference) the case must match the rule's shape exactly, and the
 * patched result must then compare equal. Anything else still fails. */
#include <cpuid.h>
#include <stdlib.h>
#include <string.h>

#include "dt.h"

const char *const dt_amd_rule_name[DT_AMD_NRULES] = {
	[DT_AMD_MXCSR_MASK] = "fxsave-mxcsr-mask",
	[DT_AMD_MXCSR_MM] = "mxcsr-mm-load",
	[DT_AMD_PE] = "pe-unmasked-oe-ue",
	[DT_AMD_MMX_TOP] = "mmx-store-top",
	[DT_AMD_REP_RCX] = "a32-rep-rcx",
	[DT_AMD_MOVSXD16] = "movsxd16-read",
	[DT_AMD_REP_CMPS_FLAGS] = "rep-cmps-scas-fault-flags",
};

bool dt_host_is_amd(void)
{
	static int amd = -1;
	if (amd < 0) {
		unsigned a, b, c, d;
		char v[13] = "";
		if (__get_cpuid(0, &a, &b, &c, &d)) {
			memcpy(v, &b, 4);
			memcpy(v + 4, &d, 4);
			memcpy(v + 8, &c, 4);
		}
		amd = !strcmp(v, "AuthenticAMD");
	}
	return amd;
}

/* One instruction of the vector, prefixes decoded. */
struct dt_insn {
	uint64_t rip;
	bool osz, asz;     /* 66, 67 */
	uint8_t rep;       /* the last F2/F3, or 0 */
	uint8_t rex;       /* REX right before the opcode, or 0 */
	const uint8_t *op; /* opcode */
	unsigned left;     /* bytes from op to the end of the instruction */
};

static bool dt_insn_get(const struct dt_vector *v, unsigned i, struct dt_insn *d)
{
	unsigned off = v->ins_off[i], end = v->ins_off[i + 1];
	memset(d, 0, sizeof(*d));
	d->rip = DT_CODE_BASE + v->code_off + off;
	for (; off < end; off++) {
		uint8_t b = v->code[off];
		if (b == 0x66)
			d->osz = true;
		else if (b == 0x67)
			d->asz = true;
		else if (b == 0xf2 || b == 0xf3)
			d->rep = b;
		else if (b == 0xf0 || b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e ||
			 b == 0x64 || b == 0x65)
			;
		else if ((b & 0xf0) == 0x40) {
			d->rex = b;
			continue; /* a REX counts only right before the opcode */
		} else
			break;
		d->rex = 0;
	}
	d->op = v->code + off;
	d->left = end > off ? end - off : 0;
	return d->left > 0;
}

/* ModRM of a two-byte (0F xx) opcode: mod and reg, false without one. */
static bool dt_modrm0f(const struct dt_insn *d, unsigned *mod, unsigned *reg)
{
	if (d->left < 3 || d->op[0] != 0x0f)
		return false;
	*mod = d->op[2] >> 6;
	*reg = (d->op[2] >> 3) & 7;
	return true;
}

/* An FXSAVE (0F AE /0, memory) anywhere in the code: directed sequences
 * record several instructions as one, so the bytes are searched. */
static bool dt_has_fxsave(const struct dt_vector *v)
{
	for (unsigned i = 0; i + 2 < v->code_len; i++)
		if (v->code[i] == 0x0f && v->code[i + 1] == 0xae && (v->code[i + 2] >> 6) != 3 &&
		    ((v->code[i + 2] >> 3) & 7) == 0)
			return true;
	return false;
}

/* FXRSTOR (0F AE /1) or LDMXCSR (0F AE /2), memory. */
static bool dt_is_mxcsr_load(const struct dt_insn *d)
{
	unsigned mod, reg;
	return dt_modrm0f(d, &mod, &reg) && d->op[1] == 0xae && mod != 3 && (reg == 1 || reg == 2);
}

/* MMX stores: MOVNTQ m64, mm (0F E7); MOVD/MOVQ r/m, mm (0F 7E); MOVQ m64, mm
 * (0F 7F). Not with 66/F3, which make them SSE instructions. */
static bool dt_is_mmx_store(const struct dt_insn *d)
{
	unsigned mod, reg;
	if (d->osz || d->rep || !dt_modrm0f(d, &mod, &reg))
		return false;
	return (d->op[1] == 0xe7 && mod != 3) || d->op[1] == 0x7e ||
	       (d->op[1] == 0x7f && mod != 3);
}

/* REP/REPE/REPNE MOVS, CMPS, STOS, LODS, SCAS with a 67 prefix (ECX count). */
static bool dt_is_a32_rep_string(const struct dt_insn *d)
{
	uint8_t o = d->op[0];
	return d->asz && d->rep && ((o >= 0xa4 && o <= 0xa7) || (o >= 0xaa && o <= 0xaf));
}

/* REPE/REPNE CMPS or SCAS, any address size. */
static bool dt_is_rep_cmps_scas(const struct dt_insn *d)
{
	uint8_t o = d->op[0];
	return d->rep && (o == 0xa6 || o == 0xa7 || o == 0xae || o == 0xaf);
}

/* The same, MOVS only (writes RSI and RDI) and MOVS or STOS (writes RDI). */
static bool dt_is_a32_rep_movs(const struct dt_insn *d)
{
	return dt_is_a32_rep_string(d) && (d->op[0] == 0xa4 || d->op[0] == 0xa5);
}

static bool dt_is_a32_rep_movs_stos(const struct dt_insn *d)
{
	return dt_is_a32_rep_movs(d) ||
	       (dt_is_a32_rep_string(d) && (d->op[0] == 0xaa || d->op[0] == 0xab));
}

/* MOVSXD r16, m32: 66 63 /r without REX.W, memory operand. */
static bool dt_is_movsxd16(const struct dt_insn *d)
{
	return d->osz && !(d->rex & 8) && d->op[0] == 0x63 && d->left >= 2 && (d->op[1] >> 6) != 3;
}

/* FST/FSTP m32/m64 (D9 /2 /3, DD /2 /3, memory). */
static bool dt_is_fst_mem(const struct dt_insn *d)
{
	if (d->left < 2 || (d->op[0] != 0xd9 && d->op[0] != 0xdd) || (d->op[1] >> 6) == 3)
		return false;
	unsigned reg = (d->op[1] >> 3) & 7;
	return reg == 2 || reg == 3;
}

static bool dt_any(const struct dt_vector *v, bool (*pred)(const struct dt_insn *))
{
	struct dt_insn d;
	for (unsigned i = 0; i < v->nins; i++)
		if (dt_insn_get(v, i, &d) && pred(&d))
			return true;
	return false;
}

/* The instruction at rip satisfies pred. */
static bool dt_at(const struct dt_vector *v, uint64_t rip, bool (*pred)(const struct dt_insn *))
{
	struct dt_insn d;
	for (unsigned i = 0; i < v->nins; i++)
		if (dt_insn_get(v, i, &d) && d.rip == rip)
			return pred(&d);
	return false;
}

static void dt_put16(uint8_t *p, uint16_t x)
{
	memcpy(p, &x, 2);
}

/* Register r: the native value kept its initial upper half where the
 * emulator zero-extended the same low half? Then t takes the native value. */
static bool dt_amd_upper_kept(const struct dt_vector *v, const struct dt_result *a,
			      struct dt_result *t, int r)
{
	uint64_t x = a->st.gpr[r], y = t->st.gpr[r];
	if (x == y || (uint32_t)x != (uint32_t)y || (y >> 32) || (x >> 32) != (v->init.gpr[r] >> 32))
		return false;
	t->st.gpr[r] = x;
	return true;
}

/* Rules that explain a different outcome as a whole. */
static unsigned dt_amd_outcome(const struct dt_vector *v, const struct dt_result *a,
			       const struct dt_result *b)
{
	/* AMD's MXCSR_MASK includes MM (bit 17, misaligned SSE mode): FXRSTOR
	 * and LDMXCSR accept a value with it set, where Intel raises #GP(0). */
	if (b->status == DT_EXC && b->vector == 13 && b->error_code == 0 &&
	    (dt_ld32(a->st.fxsave + FX_MXCSR) & 0x20000) &&
	    !(a->status == DT_EXC && a->st.rip == b->st.rip) &&
	    dt_at(v, b->st.rip, dt_is_mxcsr_load))
		return 1u << DT_AMD_MXCSR_MM;
	/* AMD reads all 4 source bytes of MOVSXD r16, m32 (Intel reads 2): a
	 * read #PF on the page boundary after the first 2 where the emulator
	 * completes the instruction. */
	if (a->status == DT_EXC && a->vector == 14 && (a->error_code & 0x12) == 0 &&
	    (a->fault_addr & 0xfff) == 0 && !(b->status == DT_EXC && b->st.rip == a->st.rip) &&
	    dt_at(v, a->st.rip, dt_is_movsxd16))
		return 1u << DT_AMD_MOVSXD16;
	return 0;
}

unsigned dt_amd_only(const struct dt_vector *v, const struct dt_result *a,
		     const struct dt_result *b)
{
	char why[400];
	unsigned rules = dt_amd_outcome(v, a, b);
	if (rules)
		return rules;
	struct dt_result *t = malloc(sizeof(*t));
	if (!t)
		return 0;
	*t = *b;

	/* FXSAVE images: AMD's MXCSR_MASK (bytes 28-31) has MM, bit 17. An
	 * image is 16-byte aligned, so the field is at 12 mod 16. */
	if (dt_has_fxsave(v)) {
		for (size_t o = 12; o + 4 <= DT_DATA_SIZE; o += 16) {
			if (dt_ld32(a->data + o) == 0x0002ffff && dt_ld32(t->data + o) == 0x0000ffff) {
				memcpy(t->data + o, a->data + o, 4);
				rules |= 1u << DT_AMD_MXCSR_MASK;
			}
		}
	}

	/* With overflow or underflow unmasked, AMD does not set PE for the
	 * inexact result where Intel does: MXCSR.PE, and FSW.PE of FST/FSTP to
	 * memory (AMD APM Vol. 1, table 6-22: "with unmasked overflow or
	 * underflow for memory destination: do not set PE flag"). */
	uint32_t ma = dt_ld32(a->st.fxsave + FX_MXCSR), mb = dt_ld32(t->st.fxsave + FX_MXCSR);
	if ((ma ^ mb) == 0x20 && (mb & 0x20) &&
	    (((ma & 0x08) && !(ma & 0x400)) || ((ma & 0x10) && !(ma & 0x800)))) {
		memcpy(t->st.fxsave + FX_MXCSR, &ma, 4);
		rules |= 1u << DT_AMD_PE;
	}
	uint16_t fcw = dt_ld16(a->st.fxsave + FX_FCW);
	uint16_t sa = dt_ld16(a->st.fxsave + FX_FSW), sb = dt_ld16(t->st.fxsave + FX_FSW);
	if (((sa ^ sb) & 0x20) && (sb & 0x20) &&
	    (((sa & 0x08) && !(fcw & 0x08)) || ((sa & 0x10) && !(fcw & 0x10))) &&
	    dt_any(v, dt_is_fst_mem)) {
		sb &= (uint16_t)~0x20;
		dt_put16(t->st.fxsave + FX_FSW, sb);
		rules |= 1u << DT_AMD_PE;
	}

	/* MMX stores leave TOP alone on AMD; Intel sets it to 0 like every
	 * other MMX instruction. The FXSAVE ST slots are relative to TOP, so
	 * the emulator's are rotated with it. */
	unsigned ta = (sa >> 11) & 7, tb = (sb >> 11) & 7;
	if (tb == 0 && ta != 0 && dt_any(v, dt_is_mmx_store)) {
		uint8_t st[8][16];
		for (unsigned i = 0; i < 8; i++)
			memcpy(st[i], t->st.fxsave + FX_ST((ta + i - tb) & 7), 16);
		memcpy(t->st.fxsave + FX_ST(0), st, sizeof(st));
		sb = (uint16_t)((sb & ~0x3800) | (ta << 11));
		dt_put16(t->st.fxsave + FX_FSW, sb);
		rules |= 1u << DT_AMD_MMX_TOP;
	}

	/* A32 REP string instructions count in ECX; AMD leaves RCX[63:32]
	 * unchanged, Intel zero-extends the 32-bit result. With a zero count
	 * Intel also zero-extends RSI/RDI of REP MOVS and RDI of REP STOS (no
	 * iteration writes them); AMD leaves them alone. */
	if (dt_amd_upper_kept(v, a, t, R_CX) && dt_any(v, dt_is_a32_rep_string))
		rules |= 1u << DT_AMD_REP_RCX;
	if ((uint32_t)v->init.gpr[R_CX] == 0) {
		if (dt_amd_upper_kept(v, a, t, R_SI) && dt_any(v, dt_is_a32_rep_movs))
			rules |= 1u << DT_AMD_REP_RCX;
		if (dt_amd_upper_kept(v, a, t, R_DI) && dt_any(v, dt_is_a32_rep_movs_stos))
			rules |= 1u << DT_AMD_REP_RCX;
	}

	/* A fault part-way through REPE/REPNE CMPS/SCAS: Intel restores the
	 * flags of before the instruction (SDM Vol. 2, REP), AMD keeps those of
	 * the last completed iteration. Only as the first instruction, whose
	 * "before" is the initial state. */
	if (a->status == DT_EXC && b->status == DT_EXC && a->st.rip == b->st.rip &&
	    a->st.rip == DT_CODE_BASE + v->code_off + v->ins_off[0] && v->nins &&
	    ((t->st.rflags ^ v->init.rflags) & F_ARITH) == 0 &&
	    ((t->st.rflags ^ a->st.rflags) & F_ARITH) && dt_at(v, a->st.rip, dt_is_rep_cmps_scas)) {
		t->st.rflags = (t->st.rflags & ~F_ARITH) | (a->st.rflags & F_ARITH);
		rules |= 1u << DT_AMD_REP_CMPS_FLAGS;
	}

	if (!rules || dt_compare(v, a, t, why, sizeof(why)) != DT_SAME)
		rules = 0;
	free(t);
	return rules;
}
