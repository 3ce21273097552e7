/* Instruction templates of the SSE groups (SSE, SSE2, SSE3, SSSE3, SSE4.1,
 * SSE4.2) and of the x87 groups. Legacy-SSE 128-bit memory operands must be
 * 16-byte aligned (Intel SDM Vol. 1 §11.6.7): .align = 16 except for the
 * explicitly unaligned moves; misaligned cases are still generated a few
 * percent of the time and must raise #GP on both sides. */
#include "tables.h"

#define X(nm, p, m, o, ln, ms, al, ...)                                                            \
	T(nm, .pfx = p, .map = m, .op = o, .ext = -1, .form = FM_RM, .osz = OS_N, .regk = RK_XMM,  \
	  .msz = ms, .align = al, .lane = ln, ##__VA_ARGS__)
#define ARITH4(nm, o)                                                                              \
	X(nm "ps", 0, 1, o, LN_PS, 16, 16), X(nm "pd", 0x66, 1, o, LN_PD, 16, 16),                 \
	X(nm "ss", 0xf3, 1, o, LN_PS, 4, 0), X(nm "sd", 0xf2, 1, o, LN_PD, 8, 0)
#define PACK2(nm, o) X(nm "ps", 0, 1, o, LN_PS, 16, 16), X(nm "pd", 0x66, 1, o, LN_PD, 16, 16)
#define I66(nm, o) X(nm, 0x66, 1, o, LN_INT, 16, 16)

const struct dt_tmpl dt_t_sse_arith[] = {
	ARITH4("add", 0x58), ARITH4("mul", 0x59), ARITH4("sub", 0x5c), ARITH4("min", 0x5d),
	ARITH4("div", 0x5e), ARITH4("max", 0x5f), ARITH4("sqrt", 0x51),
	PACK2("and", 0x54), PACK2("andn", 0x55), PACK2("or", 0x56), PACK2("xor", 0x57),
	X("cmpps", 0, 1, 0xc2, LN_PS, 16, 16, .imm = IM_B, .hook = HK_IMM3),
	X("cmppd", 0x66, 1, 0xc2, LN_PD, 16, 16, .imm = IM_B, .hook = HK_IMM3),
	X("cmpss", 0xf3, 1, 0xc2, LN_PS, 4, 0, .imm = IM_B, .hook = HK_IMM3),
	X("cmpsd", 0xf2, 1, 0xc2, LN_PD, 8, 0, .imm = IM_B, .hook = HK_IMM3),
	X("ucomiss", 0, 1, 0x2e, LN_PS, 4, 0), X("ucomisd", 0x66, 1, 0x2e, LN_PD, 8, 0),
	X("comiss", 0, 1, 0x2f, LN_PS, 4, 0), X("comisd", 0x66, 1, 0x2f, LN_PD, 8, 0),
	X("shufps", 0, 1, 0xc6, LN_PS, 16, 16, .imm = IM_B),
	X("shufpd", 0x66, 1, 0xc6, LN_PD, 16, 16, .imm = IM_B),
	PACK2("unpckl", 0x14), PACK2("unpckh", 0x15),
};
const unsigned dt_n_sse_arith = sizeof(dt_t_sse_arith) / sizeof(dt_t_sse_arith[0]);

#define XG(nm, p, o, ln, ms, ...)                                                                  \
	T(nm, .pfx = p, .map = 1, .op = o, .ext = -1, .form = FM_RM, .osz = OS_DQ, .msz = ms,      \
	  .lane = ln, ##__VA_ARGS__)
const struct dt_tmpl dt_t_sse_cvt[] = {
	X("cvtps2pd", 0, 1, 0x5a, LN_PS, 8, 0), X("cvtpd2ps", 0x66, 1, 0x5a, LN_PD, 16, 16),
	X("cvtss2sd", 0xf3, 1, 0x5a, LN_PS, 4, 0), X("cvtsd2ss", 0xf2, 1, 0x5a, LN_PD, 8, 0),
	X("cvtdq2ps", 0, 1, 0x5b, LN_INT, 16, 16), X("cvtps2dq", 0x66, 1, 0x5b, LN_PS, 16, 16),
	X("cvttps2dq", 0xf3, 1, 0x5b, LN_PS, 16, 16),
	X("cvttpd2dq", 0x66, 1, 0xe6, LN_PD, 16, 16), X("cvtpd2dq", 0xf2, 1, 0xe6, LN_PD, 16, 16),
	X("cvtdq2pd", 0xf3, 1, 0xe6, LN_INT, 8, 0),
	XG("cvtsi2ss", 0xf3, 0x2a, LN_PS, 0, .regk = RK_XMM_GPR),
	XG("cvtsi2sd", 0xf2, 0x2a, LN_PD, 0, .regk = RK_XMM_GPR),
	XG("cvttss2si", 0xf3, 0x2c, LN_PS, 4, .regk = RK_GPR_XMM),
	XG("cvtss2si", 0xf3, 0x2d, LN_PS, 4, .regk = RK_GPR_XMM),
	XG("cvttsd2si", 0xf2, 0x2c, LN_PD, 8, .regk = RK_GPR_XMM),
	XG("cvtsd2si", 0xf2, 0x2d, LN_PD, 8, .regk = RK_GPR_XMM),
};
const unsigned dt_n_sse_cvt = sizeof(dt_t_sse_cvt) / sizeof(dt_t_sse_cvt[0]);

#define XM(nm, p, o, ms, al, fm) T(nm, .pfx = p, .map = 1, .op = o, .ext = -1, .form = fm,           \
				   .osz = OS_N, .regk = RK_XMM, .msz = ms, .align = al)
const struct dt_tmpl dt_t_sse_move[] = {
	XM("movups", 0, 0x10, 16, 0, FM_RM), XM("movups st", 0, 0x11, 16, 0, FM_RM),
	XM("movupd", 0x66, 0x10, 16, 0, FM_RM), XM("movupd st", 0x66, 0x11, 16, 0, FM_RM),
	XM("movss", 0xf3, 0x10, 4, 0, FM_RM), XM("movss st", 0xf3, 0x11, 4, 0, FM_RM),
	XM("movsd", 0xf2, 0x10, 8, 0, FM_RM), XM("movsd st", 0xf2, 0x11, 8, 0, FM_RM),
	XM("movaps", 0, 0x28, 16, 16, FM_RM), XM("movaps st", 0, 0x29, 16, 16, FM_RM),
	XM("movapd", 0x66, 0x28, 16, 16, FM_RM), XM("movapd st", 0x66, 0x29, 16, 16, FM_RM),
	XM("movlps/movhlps", 0, 0x12, 8, 0, FM_RM), XM("movlps st", 0, 0x13, 8, 0, FM_M),
	XM("movhps/movlhps", 0, 0x16, 8, 0, FM_RM), XM("movhps st", 0, 0x17, 8, 0, FM_M),
	XM("movlpd", 0x66, 0x12, 8, 0, FM_M), XM("movlpd st", 0x66, 0x13, 8, 0, FM_M),
	XM("movhpd", 0x66, 0x16, 8, 0, FM_M), XM("movhpd st", 0x66, 0x17, 8, 0, FM_M),
	XM("movntps", 0, 0x2b, 16, 16, FM_M), XM("movntpd", 0x66, 0x2b, 16, 16, FM_M),
	XM("movdqa", 0x66, 0x6f, 16, 16, FM_RM), XM("movdqa st", 0x66, 0x7f, 16, 16, FM_RM),
	XM("movdqu", 0xf3, 0x6f, 16, 0, FM_RM), XM("movdqu st", 0xf3, 0x7f, 16, 0, FM_RM),
	XM("movq xmm, xmm/m64", 0xf3, 0x7e, 8, 0, FM_RM), XM("movq xmm/m64, xmm", 0x66, 0xd6, 8, 0, FM_RM),
	XM("movntdq", 0x66, 0xe7, 16, 16, FM_M),
	T("movmskps", .map = 1, .op = 0x50, .ext = -1, .form = FM_R, .osz = OS_N, .regk = RK_GPR_XMM,
	  .lane = LN_PS),
	T("movmskpd", .pfx = 0x66, .map = 1, .op = 0x50, .ext = -1, .form = FM_R, .osz = OS_N,
	  .regk = RK_GPR_XMM, .lane = LN_PD),
	T("pmovmskb", .pfx = 0x66, .map = 1, .op = 0xd7, .ext = -1, .form = FM_R, .osz = OS_N,
	  .regk = RK_GPR_XMM),
	T("movd/movq xmm, r/m", .pfx = 0x66, .map = 1, .op = 0x6e, .ext = -1, .form = FM_RM,
	  .osz = OS_DQ, .regk = RK_XMM_GPR),
	T("movd/movq r/m, xmm", .pfx = 0x66, .map = 1, .op = 0x7e, .ext = -1, .form = FM_RM,
	  .osz = OS_DQ, .regk = RK_XMM_GPR),
	T("movnti", .map = 1, .op = 0xc3, .ext = -1, .form = FM_M, .osz = OS_DQ),
	T("pinsrw", .pfx = 0x66, .map = 1, .op = 0xc4, .ext = -1, .form = FM_RM, .imm = IM_B,
	  .osz = OS_N, .regk = RK_XMM_GPR, .msz = 2),
	T("pextrw", .pfx = 0x66, .map = 1, .op = 0xc5, .ext = -1, .form = FM_R, .imm = IM_B,
	  .osz = OS_N, .regk = RK_GPR_XMM),
	T("maskmovdqu", .pfx = 0x66, .map = 1, .op = 0xf7, .ext = -1, .form = FM_R, .osz = OS_N,
	  .regk = RK_XMM, .hook = HK_MASKMOV, .implicit = 1 << R_DI),
};
const unsigned dt_n_sse_move = sizeof(dt_t_sse_move) / sizeof(dt_t_sse_move[0]);

#define SHI(nm, o, e) T(nm, .pfx = 0x66, .map = 1, .op = o, .ext = e, .form = FM_R, .imm = IM_B, \
			.osz = OS_N, .regk = RK_XMM)
const struct dt_tmpl dt_t_sse2_int[] = {
	I66("punpcklbw", 0x60), I66("punpcklwd", 0x61), I66("punpckldq", 0x62),
	I66("packsswb", 0x63), I66("pcmpgtb", 0x64), I66("pcmpgtw", 0x65), I66("pcmpgtd", 0x66),
	I66("packuswb", 0x67), I66("punpckhbw", 0x68), I66("punpckhwd", 0x69),
	I66("punpckhdq", 0x6a), I66("packssdw", 0x6b), I66("punpcklqdq", 0x6c),
	I66("punpckhqdq", 0x6d), I66("pcmpeqb", 0x74), I66("pcmpeqw", 0x75), I66("pcmpeqd", 0x76),
	I66("psrlw", 0xd1), I66("psrld", 0xd2), I66("psrlq", 0xd3), I66("paddq", 0xd4),
	I66("pmullw", 0xd5), I66("psubusb", 0xd8), I66("psubusw", 0xd9), I66("pminub", 0xda),
	I66("pand", 0xdb), I66("paddusb", 0xdc), I66("paddusw", 0xdd), I66("pmaxub", 0xde),
	I66("pandn", 0xdf), I66("pavgb", 0xe0), I66("psraw", 0xe1), I66("psrad", 0xe2),
	I66("pavgw", 0xe3), I66("pmulhuw", 0xe4), I66("pmulhw", 0xe5), I66("psubsb", 0xe8),
	I66("psubsw", 0xe9), I66("pminsw", 0xea), I66("por", 0xeb), I66("paddsb", 0xec),
	I66("paddsw", 0xed), I66("pmaxsw", 0xee), I66("pxor", 0xef), I66("psllw", 0xf1),
	I66("pslld", 0xf2), I66("psllq", 0xf3), I66("pmuludq", 0xf4), I66("pmaddwd", 0xf5),
	I66("psadbw", 0xf6), I66("psubb", 0xf8), I66("psubw", 0xf9), I66("psubd", 0xfa),
	I66("psubq", 0xfb), I66("paddb", 0xfc), I66("paddw", 0xfd), I66("paddd", 0xfe),
	X("pshufd", 0x66, 1, 0x70, LN_INT, 16, 16, .imm = IM_B),
	X("pshufhw", 0xf3, 1, 0x70, LN_INT, 16, 16, .imm = IM_B),
	X("pshuflw", 0xf2, 1, 0x70, LN_INT, 16, 16, .imm = IM_B),
	SHI("psrlw imm", 0x71, 2), SHI("psraw imm", 0x71, 4), SHI("psllw imm", 0x71, 6),
	SHI("psrld imm", 0x72, 2), SHI("psrad imm", 0x72, 4), SHI("pslld imm", 0x72, 6),
	SHI("psrlq imm", 0x73, 2), SHI("psrldq imm", 0x73, 3), SHI("psllq imm", 0x73, 6),
	SHI("pslldq imm", 0x73, 7),
};
const unsigned dt_n_sse2_int = sizeof(dt_t_sse2_int) / sizeof(dt_t_sse2_int[0]);

const struct dt_tmpl dt_t_sse_state[] = {
	T("ldmxcsr", .map = 1, .op = 0xae, .ext = 2, .form = FM_M, .osz = OS_NW, .msz = 4,
	  .hook = HK_LDMXCSR),
	T("stmxcsr", .map = 1, .op = 0xae, .ext = 3, .form = FM_M, .osz = OS_NW, .msz = 4),
	T("fxsave", .map = 1, .op = 0xae, .ext = 0, .form = FM_M, .osz = OS_N, .msz = 512,
	  .align = 16),
	T("fxrstor", .map = 1, .op = 0xae, .ext = 1, .form = FM_M, .osz = OS_N, .msz = 512,
	  .align = 16, .hook = HK_FXRSTOR),
	T("lfence", .map = 1, .op = 0xae, .ext = 5, .form = FM_R, .osz = OS_NW, .rm_fix1 = 1),
	T("mfence", .map = 1, .op = 0xae, .ext = 6, .form = FM_R, .osz = OS_NW, .rm_fix1 = 1),
	T("sfence", .map = 1, .op = 0xae, .ext = 7, .form = FM_R, .osz = OS_NW, .rm_fix1 = 1),
};
const unsigned dt_n_sse_state = sizeof(dt_t_sse_state) / sizeof(dt_t_sse_state[0]);

const struct dt_tmpl dt_t_sse_approx[] = {
	X("rsqrtps", 0, 1, 0x52, LN_PS, 16, 16), X("rsqrtss", 0xf3, 1, 0x52, LN_PS, 4, 0),
	X("rcpps", 0, 1, 0x53, LN_PS, 16, 16), X("rcpss", 0xf3, 1, 0x53, LN_PS, 4, 0),
};
const unsigned dt_n_sse_approx = sizeof(dt_t_sse_approx) / sizeof(dt_t_sse_approx[0]);

const struct dt_tmpl dt_t_sse3[] = {
	X("haddps", 0xf2, 1, 0x7c, LN_PS, 16, 16), X("haddpd", 0x66, 1, 0x7c, LN_PD, 16, 16),
	X("hsubps", 0xf2, 1, 0x7d, LN_PS, 16, 16), X("hsubpd", 0x66, 1, 0x7d, LN_PD, 16, 16),
	X("addsubps", 0xf2, 1, 0xd0, LN_PS, 16, 16), X("addsubpd", 0x66, 1, 0xd0, LN_PD, 16, 16),
	X("movsldup", 0xf3, 1, 0x12, LN_PS, 16, 16), X("movshdup", 0xf3, 1, 0x16, LN_PS, 16, 16),
	X("movddup", 0xf2, 1, 0x12, LN_PD, 8, 0),
	T("lddqu", .pfx = 0xf2, .map = 1, .op = 0xf0, .ext = -1, .form = FM_M, .osz = OS_N,
	  .regk = RK_XMM, .msz = 16),
};
const unsigned dt_n_sse3 = sizeof(dt_t_sse3) / sizeof(dt_t_sse3[0]);

#define S38(nm, o) X(nm, 0x66, 2, o, LN_INT, 16, 16)
const struct dt_tmpl dt_t_ssse3[] = {
	S38("pshufb", 0x00), S38("phaddw", 0x01), S38("phaddd", 0x02), S38("phaddsw", 0x03),
	S38("pmaddubsw", 0x04), S38("phsubw", 0x05), S38("phsubd", 0x06), S38("phsubsw", 0x07),
	S38("psignb", 0x08), S38("psignw", 0x09), S38("psignd", 0x0a), S38("pmulhrsw", 0x0b),
	S38("pabsb", 0x1c), S38("pabsw", 0x1d), S38("pabsd", 0x1e),
	X("palignr", 0x66, 3, 0x0f, LN_INT, 16, 16, .imm = IM_B),
};
const unsigned dt_n_ssse3 = sizeof(dt_t_ssse3) / sizeof(dt_t_ssse3[0]);

#define S3A(nm, o, ln, ms) X(nm, 0x66, 3, o, ln, ms, (ms) == 16 ? 16 : 0, .imm = IM_B)
#define SEX(nm, o, ms) X(nm, 0x66, 2, o, LN_INT, ms, 0)
#define XGP(nm, m, o, ms, os, ...) T(nm, .pfx = 0x66, .map = m, .op = o, .ext = -1, .form = FM_RM, \
				     .osz = os, .regk = RK_XMM_GPR, .msz = ms, ##__VA_ARGS__)
const struct dt_tmpl dt_t_sse41[] = {
	X("pblendvb", 0x66, 2, 0x10, LN_INT, 16, 16), X("blendvps", 0x66, 2, 0x14, LN_PS, 16, 16),
	X("blendvpd", 0x66, 2, 0x15, LN_PD, 16, 16), X("ptest", 0x66, 2, 0x17, LN_INT, 16, 16),
	SEX("pmovsxbw", 0x20, 8), SEX("pmovsxbd", 0x21, 4), SEX("pmovsxbq", 0x22, 2),
	SEX("pmovsxwd", 0x23, 8), SEX("pmovsxwq", 0x24, 4), SEX("pmovsxdq", 0x25, 8),
	S38("pmuldq", 0x28), S38("pcmpeqq", 0x29), S38("packusdw", 0x2b),
	T("movntdqa", .pfx = 0x66, .map = 2, .op = 0x2a, .ext = -1, .form = FM_M, .osz = OS_N,
	  .regk = RK_XMM, .msz = 16, .align = 16),
	SEX("pmovzxbw", 0x30, 8), SEX("pmovzxbd", 0x31, 4), SEX("pmovzxbq", 0x32, 2),
	SEX("pmovzxwd", 0x33, 8), SEX("pmovzxwq", 0x34, 4), SEX("pmovzxdq", 0x35, 8),
	S38("pminsb", 0x38), S38("pminsd", 0x39), S38("pminuw", 0x3a), S38("pminud", 0x3b),
	S38("pmaxsb", 0x3c), S38("pmaxsd", 0x3d), S38("pmaxuw", 0x3e), S38("pmaxud", 0x3f),
	S38("pmulld", 0x40), S38("phminposuw", 0x41),
	S3A("roundps", 0x08, LN_PS, 16), S3A("roundpd", 0x09, LN_PD, 16),
	S3A("roundss", 0x0a, LN_PS, 4), S3A("roundsd", 0x0b, LN_PD, 8),
	S3A("blendps", 0x0c, LN_PS, 16), S3A("blendpd", 0x0d, LN_PD, 16),
	S3A("pblendw", 0x0e, LN_INT, 16),
	XGP("pextrb", 3, 0x14, 1, OS_N, .imm = IM_B), XGP("pextrw r/m16", 3, 0x15, 2, OS_N, .imm = IM_B),
	XGP("pextrd/q", 3, 0x16, 0, OS_DQ, .imm = IM_B), XGP("extractps", 3, 0x17, 4, OS_N, .imm = IM_B),
	XGP("pinsrb", 3, 0x20, 1, OS_N, .imm = IM_B),
	S3A("insertps", 0x21, LN_PS, 4),
	XGP("pinsrd/q", 3, 0x22, 0, OS_DQ, .imm = IM_B),
	S3A("dpps", 0x40, LN_PS, 16), S3A("dppd", 0x41, LN_PD, 16), S3A("mpsadbw", 0x42, LN_INT, 16),
};
const unsigned dt_n_sse41 = sizeof(dt_t_sse41) / sizeof(dt_t_sse41[0]);

#define ESTR ((1 << R_AX) | (1 << R_DX) | (1 << R_CX))
const struct dt_tmpl dt_t_sse42[] = {
	S38("pcmpgtq", 0x37),
	T("crc32 r, r/m8", .pfx = 0xf2, .map = 2, .op = 0xf0, .ext = -1, .form = FM_RM, .osz = OS_DQ,
	  .msz = 1),
	T("crc32 r, r/m", .pfx = 0xf2, .map = 2, .op = 0xf1, .ext = -1, .form = FM_RM, .osz = OS_V),
	X("pcmpestrm", 0x66, 3, 0x60, LN_INT, 16, 0, .imm = IM_B, .implicit = ESTR),
	X("pcmpestri", 0x66, 3, 0x61, LN_INT, 16, 0, .imm = IM_B, .implicit = ESTR),
	X("pcmpistrm", 0x66, 3, 0x62, LN_INT, 16, 0, .imm = IM_B, .implicit = ESTR),
	X("pcmpistri", 0x66, 3, 0x63, LN_INT, 16, 0, .imm = IM_B, .implicit = ESTR),
};
const unsigned dt_n_sse42 = sizeof(dt_t_sse42) / sizeof(dt_t_sse42[0]);

/* MMX (baseline x86-64) and the SSE/SSE2 instructions on MMX registers.
 * REX.R/B do not extend MMX register numbers. */
#define MX(nm, o) T(nm " mm", .map = 1, .op = o, .ext = -1, .form = FM_RM, .osz = OS_NW,           \
		    .regk = RK_XMM, .msz = 8)
#define MX4(nm, o) T(nm " mm", .map = 1, .op = o, .ext = -1, .form = FM_RM, .osz = OS_NW,          \
		     .regk = RK_XMM, .msz = 4) /* mm, mm/m32 */
#define MXI(nm, o, e) T(nm " mm, imm", .map = 1, .op = o, .ext = e, .form = FM_R, .imm = IM_B,      \
			.osz = OS_NW, .regk = RK_XMM)
const struct dt_tmpl dt_t_mmx[] = {
	MX4("punpcklbw", 0x60), MX4("punpcklwd", 0x61), MX4("punpckldq", 0x62), MX("packsswb", 0x63),
	MX("pcmpgtb", 0x64), MX("pcmpgtw", 0x65), MX("pcmpgtd", 0x66), MX("packuswb", 0x67),
	MX("punpckhbw", 0x68), MX("punpckhwd", 0x69), MX("punpckhdq", 0x6a), MX("packssdw", 0x6b),
	MX("movq", 0x6f), MX("movq st", 0x7f), MX("pcmpeqb", 0x74), MX("pcmpeqw", 0x75),
	MX("pcmpeqd", 0x76), MX("psrlw", 0xd1), MX("psrld", 0xd2), MX("psrlq", 0xd3),
	MX("paddq", 0xd4), MX("pmullw", 0xd5), MX("psubusb", 0xd8), MX("psubusw", 0xd9),
	MX("pminub", 0xda), MX("pand", 0xdb), MX("paddusb", 0xdc), MX("paddusw", 0xdd),
	MX("pmaxub", 0xde), MX("pandn", 0xdf), MX("pavgb", 0xe0), MX("psraw", 0xe1),
	MX("psrad", 0xe2), MX("pavgw", 0xe3), MX("pmulhuw", 0xe4), MX("pmulhw", 0xe5),
	MX("psubsb", 0xe8), MX("psubsw", 0xe9), MX("pminsw", 0xea), MX("por", 0xeb),
	MX("paddsb", 0xec), MX("paddsw", 0xed), MX("pmaxsw", 0xee), MX("pxor", 0xef),
	MX("psllw", 0xf1), MX("pslld", 0xf2), MX("psllq", 0xf3), MX("pmuludq", 0xf4),
	MX("pmaddwd", 0xf5), MX("psadbw", 0xf6), MX("psubb", 0xf8), MX("psubw", 0xf9),
	MX("psubd", 0xfa), MX("psubq", 0xfb), MX("paddb", 0xfc), MX("paddw", 0xfd),
	MX("paddd", 0xfe),
	T("pshufw", .map = 1, .op = 0x70, .ext = -1, .form = FM_RM, .imm = IM_B, .osz = OS_NW,
	  .regk = RK_XMM, .msz = 8),
	MXI("psrlw", 0x71, 2), MXI("psraw", 0x71, 4), MXI("psllw", 0x71, 6),
	MXI("psrld", 0x72, 2), MXI("psrad", 0x72, 4), MXI("pslld", 0x72, 6),
	MXI("psrlq", 0x73, 2), MXI("psllq", 0x73, 6),
	T("movd/movq mm, r/m", .map = 1, .op = 0x6e, .ext = -1, .form = FM_RM, .osz = OS_DQ,
	  .regk = RK_XMM_GPR),
	T("movd/movq r/m, mm", .map = 1, .op = 0x7e, .ext = -1, .form = FM_RM, .osz = OS_DQ,
	  .regk = RK_XMM_GPR),
	T("pinsrw mm", .map = 1, .op = 0xc4, .ext = -1, .form = FM_RM, .imm = IM_B, .osz = OS_NW,
	  .regk = RK_XMM_GPR, .msz = 2),
	T("pextrw mm", .map = 1, .op = 0xc5, .ext = -1, .form = FM_R, .imm = IM_B, .osz = OS_NW,
	  .regk = RK_GPR_XMM),
	T("pmovmskb mm", .map = 1, .op = 0xd7, .ext = -1, .form = FM_R, .osz = OS_NW,
	  .regk = RK_GPR_XMM),
	T("movntq", .map = 1, .op = 0xe7, .ext = -1, .form = FM_M, .osz = OS_NW, .regk = RK_XMM,
	  .msz = 8),
	T("maskmovq", .map = 1, .op = 0xf7, .ext = -1, .form = FM_R, .osz = OS_NW, .regk = RK_XMM,
	  .hook = HK_MASKMOV, .implicit = 1 << R_DI),
	T("emms", .map = 1, .op = 0x77, .form = FM_NONE, .osz = OS_NW),
	T("cvtpi2ps", .map = 1, .op = 0x2a, .ext = -1, .form = FM_RM, .osz = OS_NW, .regk = RK_XMM,
	  .msz = 8),
	T("cvtps2pi", .map = 1, .op = 0x2d, .ext = -1, .form = FM_RM, .osz = OS_NW, .regk = RK_XMM,
	  .msz = 8, .lane = LN_PS),
	T("cvttps2pi", .map = 1, .op = 0x2c, .ext = -1, .form = FM_RM, .osz = OS_NW, .regk = RK_XMM,
	  .msz = 8, .lane = LN_PS),
	T("cvtpi2pd", .pfx = 0x66, .map = 1, .op = 0x2a, .ext = -1, .form = FM_RM, .osz = OS_NW,
	  .regk = RK_XMM, .msz = 8),
	T("cvtpd2pi", .pfx = 0x66, .map = 1, .op = 0x2d, .ext = -1, .form = FM_RM, .osz = OS_NW,
	  .regk = RK_XMM, .msz = 16, .align = 16, .lane = LN_PD),
	T("movq2dq", .pfx = 0xf3, .map = 1, .op = 0xd6, .ext = -1, .form = FM_R, .osz = OS_NW,
	  .regk = RK_XMM),
	T("movdq2q", .pfx = 0xf2, .map = 1, .op = 0xd6, .ext = -1, .form = FM_R, .osz = OS_NW,
	  .regk = RK_XMM),
};
const unsigned dt_n_mmx = sizeof(dt_t_mmx) / sizeof(dt_t_mmx[0]);

/* ---- x87 ---- */

#define FU_ARITH (FSW_C0 | FSW_C2 | FSW_C3)
#define FU_ALL (FSW_C0 | FSW_C1 | FSW_C2 | FSW_C3)
#define FM(nm, o, e, ln, ms, fu, ...) T(nm, .op = o, .ext = e, .form = FM_M, .osz = OS_NW,          \
					.regk = RK_X87, .lane = ln, .msz = ms, .fsw_undef = fu, ##__VA_ARGS__)
#define FR(nm, o, e, fu) T(nm, .op = o, .ext = e, .form = FM_R, .osz = OS_NW, .regk = RK_X87,       \
			   .fsw_undef = fu)
#define FF(nm, o, e, r, fu) T(nm, .op = o, .ext = e, .form = FM_R, .osz = OS_NW, .regk = RK_X87,    \
			      .rm_fix1 = (r) + 1, .fsw_undef = fu)
#define FARITH(o, ln, ms, sfx)                                                                     \
	FM("fadd" sfx, o, 0, ln, ms, FU_ARITH), FM("fmul" sfx, o, 1, ln, ms, FU_ARITH),            \
	FM("fcom" sfx, o, 2, ln, ms, 0), FM("fcomp" sfx, o, 3, ln, ms, 0),                         \
	FM("fsub" sfx, o, 4, ln, ms, FU_ARITH), FM("fsubr" sfx, o, 5, ln, ms, FU_ARITH),           \
	FM("fdiv" sfx, o, 6, ln, ms, FU_ARITH), FM("fdivr" sfx, o, 7, ln, ms, FU_ARITH)

const struct dt_tmpl dt_t_x87[] = {
	FARITH(0xd8, LN_PS, 4, " m32"), FARITH(0xdc, LN_PD, 8, " m64"),
	FARITH(0xda, LN_I32, 4, " m32int"), FARITH(0xde, LN_I16, 2, " m16int"),
	FR("fadd st, st(i)", 0xd8, 0, FU_ARITH), FR("fmul st, st(i)", 0xd8, 1, FU_ARITH),
	FR("fcom st(i)", 0xd8, 2, 0), FR("fcomp st(i)", 0xd8, 3, 0),
	FR("fsub st, st(i)", 0xd8, 4, FU_ARITH), FR("fsubr st, st(i)", 0xd8, 5, FU_ARITH),
	FR("fdiv st, st(i)", 0xd8, 6, FU_ARITH), FR("fdivr st, st(i)", 0xd8, 7, FU_ARITH),
	FR("fadd st(i), st", 0xdc, 0, FU_ARITH), FR("fmul st(i), st", 0xdc, 1, FU_ARITH),
	FR("fsubr st(i), st", 0xdc, 4, FU_ARITH), FR("fsub st(i), st", 0xdc, 5, FU_ARITH),
	FR("fdivr st(i), st", 0xdc, 6, FU_ARITH), FR("fdiv st(i), st", 0xdc, 7, FU_ARITH),
	FR("faddp", 0xde, 0, FU_ARITH), FR("fmulp", 0xde, 1, FU_ARITH),
	FR("fsubrp", 0xde, 4, FU_ARITH), FR("fsubp", 0xde, 5, FU_ARITH),
	FR("fdivrp", 0xde, 6, FU_ARITH), FR("fdivp", 0xde, 7, FU_ARITH),
	FF("fcompp", 0xde, 3, 1, 0),
	FM("fld m32", 0xd9, 0, LN_PS, 4, FU_ARITH), FM("fst m32", 0xd9, 2, LN_PS, 4, FU_ARITH),
	FM("fstp m32", 0xd9, 3, LN_PS, 4, FU_ARITH),
	FM("fldcw", 0xd9, 5, LN_INT, 2, FU_ALL, .hook = HK_FLDCW),
	FM("fnstcw", 0xd9, 7, LN_INT, 2, FU_ALL),
	FM("fld m64", 0xdd, 0, LN_PD, 8, FU_ARITH), FM("fst m64", 0xdd, 2, LN_PD, 8, FU_ARITH),
	FM("fstp m64", 0xdd, 3, LN_PD, 8, FU_ARITH),
	FM("fnstsw m16", 0xdd, 7, LN_INT, 2, FU_ALL),
	FM("fild m32", 0xdb, 0, LN_I32, 4, FU_ARITH),
	FM("fist m32", 0xdb, 2, LN_I32, 4, FU_ARITH), FM("fistp m32", 0xdb, 3, LN_I32, 4, FU_ARITH),
	FM("fld m80", 0xdb, 5, LN_X80, 10, FU_ARITH), FM("fstp m80", 0xdb, 7, LN_X80, 10, FU_ARITH),
	FM("fild m16", 0xdf, 0, LN_I16, 2, FU_ARITH),
	FM("fist m16", 0xdf, 2, LN_I16, 2, FU_ARITH), FM("fistp m16", 0xdf, 3, LN_I16, 2, FU_ARITH),
	FM("fild m64", 0xdf, 5, LN_I64, 8, FU_ARITH), FM("fistp m64", 0xdf, 7, LN_I64, 8, FU_ARITH),
	FR("fld st(i)", 0xd9, 0, FU_ARITH), FR("fxch st(i)", 0xd9, 1, FU_ARITH),
	FF("fchs", 0xd9, 4, 0, FU_ARITH), FF("fabs", 0xd9, 4, 1, FU_ARITH),
	FF("ftst", 0xd9, 4, 4, 0), FF("fxam", 0xd9, 4, 5, 0),
	FF("fld1", 0xd9, 5, 0, FU_ARITH), FF("fldl2t", 0xd9, 5, 1, FU_ARITH),
	FF("fldl2e", 0xd9, 5, 2, FU_ARITH), FF("fldpi", 0xd9, 5, 3, FU_ARITH),
	FF("fldlg2", 0xd9, 5, 4, FU_ARITH), FF("fldln2", 0xd9, 5, 5, FU_ARITH),
	FF("fldz", 0xd9, 5, 6, FU_ARITH),
	FF("fxtract", 0xd9, 6, 4, FU_ARITH), FF("fprem1", 0xd9, 6, 5, 0),
	FF("fdecstp", 0xd9, 6, 6, FU_ARITH), FF("fincstp", 0xd9, 6, 7, FU_ARITH),
	FF("fprem", 0xd9, 7, 0, 0), FF("fsqrt", 0xd9, 7, 2, FU_ARITH),
	FF("frndint", 0xd9, 7, 4, FU_ARITH), FF("fscale", 0xd9, 7, 5, FU_ARITH),
	FR("fcmovb", 0xda, 0, FU_ARITH), FR("fcmove", 0xda, 1, FU_ARITH),
	FR("fcmovbe", 0xda, 2, FU_ARITH), FR("fcmovu", 0xda, 3, FU_ARITH),
	FR("fcmovnb", 0xdb, 0, FU_ARITH), FR("fcmovne", 0xdb, 1, FU_ARITH),
	FR("fcmovnbe", 0xdb, 2, FU_ARITH), FR("fcmovnu", 0xdb, 3, FU_ARITH),
	FF("fucompp", 0xda, 5, 1, 0), FF("fnclex", 0xdb, 4, 2, FU_ALL), FF("fninit", 0xdb, 4, 3, 0),
	FR("fucomi", 0xdb, 5, 0), FR("fcomi", 0xdb, 6, 0),
	FR("ffree", 0xdd, 0, FU_ALL), FR("fst st(i)", 0xdd, 2, FU_ARITH),
	FR("fstp st(i)", 0xdd, 3, FU_ARITH), FR("fucom", 0xdd, 4, 0), FR("fucomp", 0xdd, 5, 0),
	T("fnstsw ax", .op = 0xdf, .ext = 4, .form = FM_R, .osz = OS_NW, .regk = RK_X87,
	  .rm_fix1 = 1, .fsw_undef = FU_ALL, .implicit = 1 << R_AX),
	FR("fucomip", 0xdf, 5, 0), FR("fcomip", 0xdf, 6, 0),
	T("fwait", .op = 0x9b, .form = FM_NONE, .osz = OS_NW),
};
const unsigned dt_n_x87 = sizeof(dt_t_x87) / sizeof(dt_t_x87[0]);

/* FISTTP is an SSE3 instruction (CPUID.1:ECX.SSE3). */
const struct dt_tmpl dt_t_fisttp[] = {
	FM("fisttp m16", 0xdf, 1, LN_I16, 2, FU_ARITH), FM("fisttp m32", 0xdb, 1, LN_I32, 4, FU_ARITH),
	FM("fisttp m64", 0xdd, 1, LN_I64, 8, FU_ARITH),
};
const unsigned dt_n_fisttp = sizeof(dt_t_fisttp) / sizeof(dt_t_fisttp[0]);

const struct dt_tmpl dt_t_x87_transc[] = {
	FF("f2xm1", 0xd9, 6, 0, FU_ARITH), FF("fyl2x", 0xd9, 6, 1, FU_ARITH),
	FF("fptan", 0xd9, 6, 2, FU_ARITH), FF("fpatan", 0xd9, 6, 3, FU_ARITH),
	FF("fyl2xp1", 0xd9, 7, 1, FU_ARITH), FF("fsincos", 0xd9, 7, 3, FU_ARITH),
	FF("fsin", 0xd9, 7, 6, FU_ARITH), FF("fcos", 0xd9, 7, 7, FU_ARITH),
};
const unsigned dt_n_x87_transc = sizeof(dt_t_x87_transc) / sizeof(dt_t_x87_transc[0]);
