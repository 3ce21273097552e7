/* Decoder unit tests: lengths and operands of a table of encodings,
 * prefix combinations, RIP-relative and 16/32-bit addressing, truncated and
 * over-long instructions, and encodings that must decode to #UD (Intel SDM
 * Vol. 2 chapter 2, appendix A). */
#include <stdio.h>
#include <string.h>

#include "cpu/cpu_int.h"
#include "testlib.h"

struct dcase {
	const char *name;
	const char *hex;
	int cs;        /* code size: 8, 4, 2 */
	int len;       /* expected length, or -1 (truncated) / -2 (too long) */
	int op;        /* expected handler slot, or -1 don't care */
	int osz, asz;  /* 0 = don't care */
	int mem;       /* 1 = memory operand expected, 0 = register, -1 don't care */
	int base, index, scale;
	long long disp;
	int reg;       /* -1 don't care */
	unsigned long long imm;
	int check_imm;
	int riprel;
};

#define N -1
static const struct dcase cases[] = {
	{ "nop", "90", 8, 1, 0x90, 4, 8, 0, N, N, 0, 0, N, 0, 0, 0 },
	{ "add_rm_r", "01d8", 8, 2, 0x01, 4, 8, 0, N, N, 0, 0, 3, 0, 0, 0 },
	{ "rex_w_add", "4801d8", 8, 3, 0x01, 8, 8, 0, N, N, 0, 0, 3, 0, 0, 0 },
	{ "rex_rb", "4d01c8", 8, 3, 0x01, 8, 8, 0, N, N, 0, 0, 9, 0, 0, 0 },
	{ "opsize_add", "6601d8", 8, 3, 0x01, 2, 8, 0, N, N, 0, 0, 3, 0, 0, 0 },
	{ "rexw_beats_66", "664801d8", 8, 4, 0x01, 8, 8, 0, N, N, 0, 0, 3, 0, 0, 0 },
	{ "rex_then_legacy_ignored", "486601d8", 8, 4, 0x01, 2, 8, 0, N, N, 0, 0, 3, 0, 0, 0 },
	{ "sib_disp8", "8b442408", 8, 4, 0x8b, 4, 8, 1, 4, REG_NONE, 0, 8, 0, 0, 0, 0 },
	{ "sib_index_scale", "8b04c8", 8, 3, 0x8b, 4, 8, 1, 0, 1, 3, 0, 0, 0, 0, 0 },
	{ "sib_no_base", "8b04cd78563412", 8, 7, 0x8b, 4, 8, 1, REG_NONE, 1, 3, 0x12345678, 0, 0, 0, 0 },
	{ "sib_rex_x_r12", "4a8b0424", 8, 4, 0x8b, 8, 8, 1, 4, 12, 0, 0, 0, 0, 0, 0 },
	{ "rbp_needs_disp", "8b4500", 8, 3, 0x8b, 4, 8, 1, 5, REG_NONE, 0, 0, 0, 0, 0, 0 },
	{ "r13_needs_disp", "418b4500", 8, 4, 0x8b, 4, 8, 1, 13, REG_NONE, 0, 0, 0, 0, 0, 0 },
	{ "riprel", "488b0578563412", 8, 7, 0x8b, 8, 8, 1, REG_NONE, REG_NONE, 0, 0x12345678, 0, 0, 0, 1 },
	{ "riprel_neg", "8b05f0ffffff", 8, 6, 0x8b, 4, 8, 1, REG_NONE, REG_NONE, 0, -16, 0, 0, 0, 1 },
	{ "addr32", "678b00", 8, 3, 0x8b, 4, 4, 1, 0, REG_NONE, 0, 0, 0, 0, 0, 0 },
	{ "disp32", "8b8000010000", 8, 6, 0x8b, 4, 8, 1, 0, REG_NONE, 0, 0x100, 0, 0, 0, 0 },
	{ "imm8_sext", "83c0ff", 8, 3, 0x83, 4, 8, 0, N, N, 0, 0, 0, ~0ULL, 1, 0 },
	{ "imm32_sext_rexw", "4881c000000080", 8, 7, 0x81, 8, 8, 0, N, N, 0, 0, 0, 0xffffffff80000000ULL, 1, 0 },
	{ "imm16", "6681c03412", 8, 5, 0x81, 2, 8, 0, N, N, 0, 0, 0, 0x1234, 1, 0 },
	{ "mov_imm64", "48b88877665544332211", 8, 10, 0xb8, 8, 8, 0, N, N, 0, 0, 0, 0x1122334455667788ULL, 1, 0 },
	{ "mov_r8_imm_rex", "41b07f", 8, 3, 0xb0, 1, 8, 0, N, N, 0, 0, 8, 0x7f, 1, 0 },
	{ "moffs64", "48a1efcdab8967452301", 8, 10, 0xa1, 8, 8, 0, N, N, 0, 0, N, 0x0123456789abcdefULL, 1, 0 },
	{ "moffs32_addr32", "67a178563412", 8, 6, 0xa1, 4, 4, 0, N, N, 0, 0, N, 0x12345678, 1, 0 },
	{ "push_d64", "50", 8, 1, 0x50, 8, 8, 0, N, N, 0, 0, 0, 0, 0, 0 },
	{ "push_r15", "4157", 8, 2, 0x57, 8, 8, 0, N, N, 0, 0, 15, 0, 0, 0 },
	{ "push16", "6650", 8, 2, 0x50, 2, 8, 0, N, N, 0, 0, 0, 0, 0, 0 },
	{ "jcc_rel8", "74fe", 8, 2, 0x74, 8, 8, 0, N, N, 0, 0, N, ~1ULL, 1, 0 },
	{ "jcc_rel32", "0f8400010000", 8, 6, OP_0F + 0x84, 8, 8, 0, N, N, 0, 0, N, 0x100, 1, 0 },
	{ "call_66_ignored", "66e800000000", 8, 6, 0xe8, 8, 8, 0, N, N, 0, 0, N, 0, 1, 0 },
	{ "enter", "c8100001", 8, 4, 0xc8, 8, 8, 0, N, N, 0, 0, N, 0x10, 1, 0 },
	{ "ret_imm", "c20800", 8, 3, 0xc2, 8, 8, 0, N, N, 0, 0, N, 8, 1, 0 },
	{ "grp3_test_imm", "f7c078563412", 8, 6, 0xf7, 4, 8, 0, N, N, 0, 0, 0, 0x12345678, 1, 0 },
	{ "grp3_not_noimm", "f7d0", 8, 2, 0xf7, 4, 8, 0, N, N, 0, 0, 2, 0, 0, 0 },
	{ "grp3_byte_test", "f6c180", 8, 3, 0xf6, 1, 8, 0, N, N, 0, 0, 0, ~0x7fULL, 1, 0 },
	{ "lock_add_mem", "f00118", 8, 3, 0x01, 4, 8, 1, 0, REG_NONE, 0, 0, 3, 0, 0, 0 },
	{ "fs_override", "648b042528000000", 8, 8, 0x8b, 4, 8, 1, REG_NONE, REG_NONE, 0, 0x28, 0, 0, 0, 0 },
	{ "movzx", "0fb6c0", 8, 3, OP_0F + 0xb6, 4, 8, 0, N, N, 0, 0, 0, 0, 0, 0 },
	{ "sse_movdqu", "f30f6f0424", 8, 5, OP_0F + 0x6f, N, 8, 1, 4, REG_NONE, 0, 0, 0, 0, 0, 0 },
	{ "sse_pshufd", "660f70c81b", 8, 5, OP_0F + 0x70, N, 8, 0, N, N, 0, 0, 1, 0x1b, 1, 0 },
	{ "sse_xmm9", "66450fefc8", 8, 5, OP_0F + 0xef, N, 8, 0, N, N, 0, 0, 9, 0, 0, 0 },
	/* MMX: the same ModRM/immediate layout as the SSE forms; EMMS has no ModRM. */
	{ "mmx_emms", "0f77", 8, 2, OP_0F + 0x77, N, 8, 0, N, N, 0, 0, N, 0, 0, 0 },
	{ "mmx_movq_load", "0f6f4108", 8, 4, OP_0F + 0x6f, N, 8, 1, 1, REG_NONE, 0, 8, 0, 0, 0, 0 },
	{ "mmx_movq_gpr_rexw", "480f6ec0", 8, 4, OP_0F + 0x6e, N, 8, 0, N, N, 0, 0, 0, 0, 0, 0 },
	{ "mmx_psrlw_imm", "0f71d203", 8, 4, OP_0F + 0x71, N, 8, 0, N, N, 0, 0, 2, 3, 1, 0 },
	{ "mmx_pshufw", "0f70c81b", 8, 4, OP_0F + 0x70, N, 8, 0, N, N, 0, 0, 1, 0x1b, 1, 0 },
	{ "mmx_pextrw", "0fc5c103", 8, 4, OP_0F + 0xc5, N, 8, 0, N, N, 0, 0, 0, 3, 1, 0 },
	{ "mmx_paddb_riprel", "0ffc0510000000", 8, 7, OP_0F + 0xfc, N, 8, 1, REG_NONE, REG_NONE, 0, 0x10, 0, 0, 0, 1 },
	{ "mmx_maskmovq", "0ff7c1", 8, 3, OP_0F + 0xf7, N, 8, 0, N, N, 0, 0, 0, 0, 0, 0 },
	{ "mmx_movdq2q", "f20fd6c1", 8, 4, OP_0F + 0xd6, N, 8, 0, N, N, 0, 0, 0, 0, 0, 0 },
	{ "cmpps_imm", "0fc2c101", 8, 4, OP_0F + 0xc2, N, 8, 0, N, N, 0, 0, 0, 1, 1, 0 },
	{ "x87_fld_m64", "dd4008", 8, 3, OP_X87 + 5 * 8 + 0, N, 8, 1, 0, REG_NONE, 0, 8, N, 0, 0, 0 },
	{ "x87_faddp", "dec1", 8, 2, OP_X87 + 0x40 + 6 * 8 + 0, N, 8, 0, N, N, 0, 0, N, 0, 0, 0 },
	{ "nop_0f1f", "660f1f840000000000", 8, 9, OP_0F + 0x1f, N, 8, 1, 0, 0, 0, 0, N, 0, 0, 0 },
	{ "max_len_15", "6666666666666666662e0f1f840000000000", 8, -2, N, N, 0, N, N, N, 0, 0, N, 0, 0, 0 },
	{ "len_15_ok", "66666666662e0f1f840000000000", 8, 14, OP_0F + 0x1f, N, 8, N, N, N, 0, 0, N, 0, 0, 0 },
	{ "truncated_imm", "b801", 8, -1, N, N, 0, N, N, N, 0, 0, N, 0, 0, 0 },
	{ "truncated_modrm", "8b", 8, -1, N, N, 0, N, N, N, 0, 0, N, 0, 0, 0 },
	/* 16-bit addressing (and 16/32-bit code for system mode). */
	{ "a16_bx_si", "8b00", 2, 2, 0x8b, 2, 2, 1, 3, 6, 0, 0, 0, 0, 0, 0 },
	{ "a16_bp_disp8", "8b4604", 2, 3, 0x8b, 2, 2, 1, 5, REG_NONE, 0, 4, 0, 0, 0, 0 },
	{ "a16_disp16", "8b063412", 2, 4, 0x8b, 2, 2, 1, REG_NONE, REG_NONE, 0, 0x1234, 0, 0, 0, 0 },
	{ "a16_di_disp16_neg", "8b85feff", 2, 4, 0x8b, 2, 2, 1, 7, REG_NONE, 0, -2, 0, 0, 0, 0 },
	{ "a32_in_16bit_code", "67668b00", 2, 4, 0x8b, 4, 4, 1, 0, REG_NONE, 0, 0, 0, 0, 0, 0 },
	{ "code32_disp32_abs", "8b0578563412", 4, 6, 0x8b, 4, 4, 1, REG_NONE, REG_NONE, 0, 0x12345678, 0, 0, 0, 0 },
	{ "code32_inc_is_not_rex", "40", 4, 1, -1, 4, 4, 0, N, N, 0, 0, N, 0, 0, 0 },
};

/* Encodings that must raise #UD in 64-bit mode. */
static const char *const ud_cases[] = {
	"06",       /* PUSH ES */
	"27",       /* DAA */
	"60",       /* PUSHA */
	"c5f877",   /* VEX (no AVX advertised) */
	"c4e27918c0",
	"d50a",     /* AAD */
	"0f0b",     /* UD2 */
	"0fb9c0",   /* UD1 */
	"0fffc0",   /* UD0 */
	"f001c0",   /* LOCK on a register destination */
	"f08b00",   /* LOCK MOV */
	"f0a5",     /* LOCK MOVS */
	"8fc8",     /* XOP-space POP /1 */
	"0f3800c0", /* PSHUFB: SSSE3 not advertised */
	"0f0e",     /* FEMMS */
	"ea",       /* JMP far ptr16:32 */
	"0f04",
	"0f0f",
	"fec0fe",   /* valid (INC AL) paired below as a control */
};

static int unhex(const char *hex, uint8_t *out)
{
	int n = 0;

	while (hex[0] && hex[1]) {
		unsigned v;

		sscanf(hex, "%2x", &v);
		out[n++] = (uint8_t)v;
		hex += 2;
	}
	return n;
}

int main(void)
{
	struct err err = { { 0 } };
	struct cpu *cpu = cpu_create(CPU_MODE_USER64, NULL, NULL, &err); /* fills the handler table */

	for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const struct dcase *t = &cases[k];
		uint8_t buf[32];
		struct insn in;
		int n = unhex(t->hex, buf), r;
		char name[80];

		snprintf(name, sizeof(name), "cpu_decode_%s", t->name);
		TEST_BEGIN(name);
		r = cpu_decode(buf, (unsigned)n, t->cs, &in);
		if (t->len < 0) {
			CHECK_EQ(r, t->len);
			TEST_END();
			continue;
		}
		CHECK_EQ(r, 0);
		CHECK_EQ(in.len, t->len);
		if (t->op >= 0)
			CHECK_EQ(in.op, t->op);
		if (t->osz > 0)
			CHECK_EQ(in.osz, t->osz);
		if (t->asz)
			CHECK_EQ(in.asz, t->asz);
		if (t->mem >= 0)
			CHECK_EQ(!!(in.flags & IF_MEM), t->mem);
		if (t->mem == 1) {
			CHECK_EQ(in.base, t->base);
			CHECK_EQ(in.index, t->index);
			CHECK_EQ(in.scale, t->scale);
			CHECK_EQ((long long)in.disp, t->disp);
			CHECK_EQ(!!(in.flags & IF_RIPREL), t->riprel);
		}
		if (t->reg >= 0)
			CHECK_EQ(in.reg, t->reg);
		if (t->check_imm)
			CHECK_EQ(in.imm, t->imm);
		TEST_END();
	}

	for (unsigned k = 0; k + 1 < sizeof(ud_cases) / sizeof(ud_cases[0]); k++) {
		uint8_t buf[32];
		struct insn in;
		int n = unhex(ud_cases[k], buf);
		char name[80];

		snprintf(name, sizeof(name), "cpu_decode_ud_%s", ud_cases[k]);
		TEST_BEGIN(name);
		CHECK_EQ(cpu_decode(buf, (unsigned)n, 8, &in), 0);
		CHECK_EQ(in.op, OP_UD);
		TEST_END();
	}

	TEST_BEGIN("cpu_decode_valid_control");
	{
		uint8_t buf[4] = { 0xfe, 0xc0 };
		struct insn in;

		CHECK_EQ(cpu_decode(buf, 2, 8, &in), 0);
		CHECK(in.op != OP_UD);
	}
	TEST_END();

	/* Every 1..3-byte prefix of random garbage decodes without crashing and
	 * with a length in 1..15 (or asks for more bytes). */
	TEST_BEGIN("cpu_decode_garbage_never_crashes");
	{
		uint32_t seed = 12345;

		for (int k = 0; k < 200000; k++) {
			uint8_t buf[16];
			struct insn in;
			unsigned avail = 1 + k % 15;
			int r;

			for (int j = 0; j < 16; j++) {
				seed = seed * 1103515245u + 12345u;
				buf[j] = (uint8_t)(seed >> 16);
			}
			r = cpu_decode(buf, avail, (k & 1) ? 8 : (k & 2) ? 4 : 2, &in);
			if (r == 0)
				CHECK(in.len >= 1 && in.len <= avail && in.op < OP_COUNT);
			else
				CHECK(r == -1 || r == -2);
		}
	}
	TEST_END();
	cpu_destroy(cpu);
	return 0;
}
