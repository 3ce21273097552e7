/* Instruction templates of the integer groups. Flags the Intel SDM calls
 * undefined for an instruction are in .undef (value-dependent ones are set
 * by the template's hook). */
#include "tables.h"

#define LOGIC_UNDEF F_AF
#define SZAP (F_SF | F_ZF | F_AF | F_PF)

#define ALU(i, nm, lk, un)                                                                         \
	T(nm " r/m8, r8", .op = (i) * 8 + 0, .ext = -1, .form = FM_RM, .osz = OS_B,               \
	  .lockable = lk, .undef = un),                                                            \
	T(nm " r/m, r", .op = (i) * 8 + 1, .ext = -1, .form = FM_RM, .osz = OS_V, .lockable = lk, \
	  .undef = un),                                                                            \
	T(nm " r8, r/m8", .op = (i) * 8 + 2, .ext = -1, .form = FM_RM, .osz = OS_B, .undef = un), \
	T(nm " r, r/m", .op = (i) * 8 + 3, .ext = -1, .form = FM_RM, .osz = OS_V, .undef = un),   \
	T(nm " al, imm8", .op = (i) * 8 + 4, .form = FM_NONE, .imm = IM_B, .osz = OS_B,           \
	  .implicit = 1 << R_AX, .undef = un),                                                     \
	T(nm " eax, imm", .op = (i) * 8 + 5, .form = FM_NONE, .imm = IM_Z, .osz = OS_V,           \
	  .implicit = 1 << R_AX, .undef = un),                                                     \
	T(nm " r/m8, imm8", .op = 0x80, .ext = i, .form = FM_RM, .imm = IM_B, .osz = OS_B,        \
	  .lockable = lk, .undef = un),                                                            \
	T(nm " r/m, imm", .op = 0x81, .ext = i, .form = FM_RM, .imm = IM_Z, .osz = OS_V,          \
	  .lockable = lk, .undef = un),                                                            \
	T(nm " r/m, imm8", .op = 0x83, .ext = i, .form = FM_RM, .imm = IM_B, .osz = OS_V,         \
	  .lockable = lk, .undef = un)

const struct dt_tmpl dt_t_alu[] = {
	ALU(0, "add", 1, 0), ALU(1, "or", 1, LOGIC_UNDEF), ALU(2, "adc", 1, 0),
	ALU(3, "sbb", 1, 0), ALU(4, "and", 1, LOGIC_UNDEF), ALU(5, "sub", 1, 0),
	ALU(6, "xor", 1, LOGIC_UNDEF), ALU(7, "cmp", 0, 0),
	T("test r/m8, r8", .op = 0x84, .ext = -1, .form = FM_RM, .osz = OS_B, .undef = F_AF),
	T("test r/m, r", .op = 0x85, .ext = -1, .form = FM_RM, .osz = OS_V, .undef = F_AF),
	T("test al, imm8", .op = 0xa8, .form = FM_NONE, .imm = IM_B, .osz = OS_B,
	  .implicit = 1 << R_AX, .undef = F_AF),
	T("test eax, imm", .op = 0xa9, .form = FM_NONE, .imm = IM_Z, .osz = OS_V,
	  .implicit = 1 << R_AX, .undef = F_AF),
	T("test r/m8, imm8", .op = 0xf6, .ext = 0, .form = FM_RM, .imm = IM_B, .osz = OS_B,
	  .undef = F_AF),
	T("test r/m, imm", .op = 0xf7, .ext = 0, .form = FM_RM, .imm = IM_Z, .osz = OS_V,
	  .undef = F_AF),
};
const unsigned dt_n_alu = sizeof(dt_t_alu) / sizeof(dt_t_alu[0]);

const struct dt_tmpl dt_t_incdec[] = {
	T("inc r/m8", .op = 0xfe, .ext = 0, .form = FM_RM, .osz = OS_B, .lockable = 1),
	T("dec r/m8", .op = 0xfe, .ext = 1, .form = FM_RM, .osz = OS_B, .lockable = 1),
	T("inc r/m", .op = 0xff, .ext = 0, .form = FM_RM, .osz = OS_V, .lockable = 1),
	T("dec r/m", .op = 0xff, .ext = 1, .form = FM_RM, .osz = OS_V, .lockable = 1),
	T("not r/m8", .op = 0xf6, .ext = 2, .form = FM_RM, .osz = OS_B, .lockable = 1),
	T("neg r/m8", .op = 0xf6, .ext = 3, .form = FM_RM, .osz = OS_B, .lockable = 1),
	T("not r/m", .op = 0xf7, .ext = 2, .form = FM_RM, .osz = OS_V, .lockable = 1),
	T("neg r/m", .op = 0xf7, .ext = 3, .form = FM_RM, .osz = OS_V, .lockable = 1),
};
const unsigned dt_n_incdec = sizeof(dt_t_incdec) / sizeof(dt_t_incdec[0]);

#define SH1(o, e, nm, os, im, imp)                                                                 \
	T(nm, .op = o, .ext = e, .form = FM_RM, .imm = im, .osz = os, .hook = HK_SHIFT,            \
	  .implicit = imp)
#define SHALL(e, nm)                                                                               \
	SH1(0xc0, e, nm " r/m8, imm8", OS_B, IM_B, 0), SH1(0xc1, e, nm " r/m, imm8", OS_V, IM_B, 0), \
	SH1(0xd0, e, nm " r/m8, 1", OS_B, IM_NONE, 0), SH1(0xd1, e, nm " r/m, 1", OS_V, IM_NONE, 0), \
	SH1(0xd2, e, nm " r/m8, cl", OS_B, IM_NONE, 1 << R_CX),                                    \
	SH1(0xd3, e, nm " r/m, cl", OS_V, IM_NONE, 1 << R_CX)

const struct dt_tmpl dt_t_shift[] = {
	SHALL(0, "rol"), SHALL(1, "ror"), SHALL(2, "rcl"), SHALL(3, "rcr"),
	SHALL(4, "shl"), SHALL(5, "shr"), SHALL(7, "sar"),
};
const unsigned dt_n_shift = sizeof(dt_t_shift) / sizeof(dt_t_shift[0]);

const struct dt_tmpl dt_t_shxd[] = {
	T("shld r/m, r, imm8", .map = 1, .op = 0xa4, .ext = -1, .form = FM_RM, .imm = IM_B,
	  .osz = OS_V, .hook = HK_SHXD),
	T("shld r/m, r, cl", .map = 1, .op = 0xa5, .ext = -1, .form = FM_RM, .osz = OS_V,
	  .hook = HK_SHXD, .implicit = 1 << R_CX),
	T("shrd r/m, r, imm8", .map = 1, .op = 0xac, .ext = -1, .form = FM_RM, .imm = IM_B,
	  .osz = OS_V, .hook = HK_SHXD),
	T("shrd r/m, r, cl", .map = 1, .op = 0xad, .ext = -1, .form = FM_RM, .osz = OS_V,
	  .hook = HK_SHXD, .implicit = 1 << R_CX),
};
const unsigned dt_n_shxd = sizeof(dt_t_shxd) / sizeof(dt_t_shxd[0]);

#define AXDX ((1 << R_AX) | (1 << R_DX))
const struct dt_tmpl dt_t_muldiv[] = {
	T("mul r/m8", .op = 0xf6, .ext = 4, .form = FM_RM, .osz = OS_B, .implicit = AXDX, .undef = SZAP),
	T("imul r/m8", .op = 0xf6, .ext = 5, .form = FM_RM, .osz = OS_B, .implicit = AXDX, .undef = SZAP),
	T("div r/m8", .op = 0xf6, .ext = 6, .form = FM_RM, .osz = OS_B, .implicit = AXDX,
	  .undef = F_ARITH, .hook = HK_DIV),
	T("idiv r/m8", .op = 0xf6, .ext = 7, .form = FM_RM, .osz = OS_B, .implicit = AXDX,
	  .undef = F_ARITH, .hook = HK_DIV),
	T("mul r/m", .op = 0xf7, .ext = 4, .form = FM_RM, .osz = OS_V, .implicit = AXDX, .undef = SZAP),
	T("imul r/m", .op = 0xf7, .ext = 5, .form = FM_RM, .osz = OS_V, .implicit = AXDX, .undef = SZAP),
	T("div r/m", .op = 0xf7, .ext = 6, .form = FM_RM, .osz = OS_V, .implicit = AXDX,
	  .undef = F_ARITH, .hook = HK_DIV),
	T("idiv r/m", .op = 0xf7, .ext = 7, .form = FM_RM, .osz = OS_V, .implicit = AXDX,
	  .undef = F_ARITH, .hook = HK_DIV),
	T("imul r, r/m", .map = 1, .op = 0xaf, .ext = -1, .form = FM_RM, .osz = OS_V, .undef = SZAP),
	T("imul r, r/m, imm", .op = 0x69, .ext = -1, .form = FM_RM, .imm = IM_Z, .osz = OS_V,
	  .undef = SZAP),
	T("imul r, r/m, imm8", .op = 0x6b, .ext = -1, .form = FM_RM, .imm = IM_B, .osz = OS_V,
	  .undef = SZAP),
};
const unsigned dt_n_muldiv = sizeof(dt_t_muldiv) / sizeof(dt_t_muldiv[0]);

#define BT_UNDEF (F_OF | F_SF | F_AF | F_PF)
const struct dt_tmpl dt_t_bitop[] = {
	T("bt r/m, r", .map = 1, .op = 0xa3, .ext = -1, .form = FM_RM, .osz = OS_V,
	  .hook = HK_BTMEM, .undef = BT_UNDEF),
	T("bts r/m, r", .map = 1, .op = 0xab, .ext = -1, .form = FM_RM, .osz = OS_V,
	  .hook = HK_BTMEM, .undef = BT_UNDEF, .lockable = 1),
	T("btr r/m, r", .map = 1, .op = 0xb3, .ext = -1, .form = FM_RM, .osz = OS_V,
	  .hook = HK_BTMEM, .undef = BT_UNDEF, .lockable = 1),
	T("btc r/m, r", .map = 1, .op = 0xbb, .ext = -1, .form = FM_RM, .osz = OS_V,
	  .hook = HK_BTMEM, .undef = BT_UNDEF, .lockable = 1),
	T("bt r/m, imm8", .map = 1, .op = 0xba, .ext = 4, .form = FM_RM, .imm = IM_B, .osz = OS_V,
	  .undef = BT_UNDEF),
	T("bts r/m, imm8", .map = 1, .op = 0xba, .ext = 5, .form = FM_RM, .imm = IM_B, .osz = OS_V,
	  .undef = BT_UNDEF, .lockable = 1),
	T("btr r/m, imm8", .map = 1, .op = 0xba, .ext = 6, .form = FM_RM, .imm = IM_B, .osz = OS_V,
	  .undef = BT_UNDEF, .lockable = 1),
	T("btc r/m, imm8", .map = 1, .op = 0xba, .ext = 7, .form = FM_RM, .imm = IM_B, .osz = OS_V,
	  .undef = BT_UNDEF, .lockable = 1),
};
const unsigned dt_n_bitop = sizeof(dt_t_bitop) / sizeof(dt_t_bitop[0]);

const struct dt_tmpl dt_t_bitscan[] = {
	T("bsf r, r/m", .map = 1, .op = 0xbc, .ext = -1, .form = FM_RM, .osz = OS_V, .hook = HK_BSF,
	  .undef = F_CF | F_OF | F_SF | F_AF | F_PF),
	T("bsr r, r/m", .map = 1, .op = 0xbd, .ext = -1, .form = FM_RM, .osz = OS_V, .hook = HK_BSF,
	  .undef = F_CF | F_OF | F_SF | F_AF | F_PF),
	T("bswap r", .map = 1, .op = 0xc8, .form = FM_OPREG, .osz = OS_V, .hook = HK_BSWAP),
};
const unsigned dt_n_bitscan = sizeof(dt_t_bitscan) / sizeof(dt_t_bitscan[0]);

#define CC16(X) X(0), X(1), X(2), X(3), X(4), X(5), X(6), X(7), X(8), X(9), X(10), X(11), X(12), X(13), X(14), X(15)
#define CMOV(c) T("cmovcc r, r/m", .map = 1, .op = 0x40 + (c), .ext = -1, .form = FM_RM, .osz = OS_V)
#define SETCC(c) T("setcc r/m8", .map = 1, .op = 0x90 + (c), .ext = 0, .form = FM_RM, .osz = OS_B)
const struct dt_tmpl dt_t_cmov[] = { CC16(CMOV), CC16(SETCC) };
const unsigned dt_n_cmov = sizeof(dt_t_cmov) / sizeof(dt_t_cmov[0]);

/* MOV in every form, MOVZX/MOVSX/MOVSXD and LEA (also in jit-sequence). */
#define MOVS                                                                                       \
	T("mov r/m8, r8", .op = 0x88, .ext = -1, .form = FM_RM, .osz = OS_B),                      \
	T("mov r/m, r", .op = 0x89, .ext = -1, .form = FM_RM, .osz = OS_V),                        \
	T("mov r8, r/m8", .op = 0x8a, .ext = -1, .form = FM_RM, .osz = OS_B),                      \
	T("mov r, r/m", .op = 0x8b, .ext = -1, .form = FM_RM, .osz = OS_V),                        \
	T("mov r/m8, imm8", .op = 0xc6, .ext = 0, .form = FM_RM, .imm = IM_B, .osz = OS_B),        \
	T("mov r/m, imm", .op = 0xc7, .ext = 0, .form = FM_RM, .imm = IM_Z, .osz = OS_V),          \
	T("mov r8, imm8", .op = 0xb0, .form = FM_OPREG, .imm = IM_B, .osz = OS_B),                 \
	T("mov r, imm", .op = 0xb8, .form = FM_OPREG, .imm = IM_V, .osz = OS_V),                   \
	T("movzx r, r/m8", .map = 1, .op = 0xb6, .ext = -1, .form = FM_RM, .osz = OS_V, .msz = 1), \
	T("movzx r, r/m16", .map = 1, .op = 0xb7, .ext = -1, .form = FM_RM, .osz = OS_V, .msz = 2),\
	T("movsx r, r/m8", .map = 1, .op = 0xbe, .ext = -1, .form = FM_RM, .osz = OS_V, .msz = 1), \
	T("movsx r, r/m16", .map = 1, .op = 0xbf, .ext = -1, .form = FM_RM, .osz = OS_V, .msz = 2),\
	T("movsxd r, r/m32", .op = 0x63, .ext = -1, .form = FM_RM, .osz = OS_V, .msz = 4),         \
	T("lea r, m", .op = 0x8d, .ext = -1, .form = FM_M, .osz = OS_V)

const struct dt_tmpl dt_t_mov[] = {
	MOVS,
	T("cbw/cwde/cdqe", .op = 0x98, .form = FM_NONE, .osz = OS_V, .implicit = AXDX),
	T("cwd/cdq/cqo", .op = 0x99, .form = FM_NONE, .osz = OS_V, .implicit = AXDX),
	T("nop r/m", .map = 1, .op = 0x1f, .ext = 0, .form = FM_RM, .osz = OS_V),
};
const unsigned dt_n_mov = sizeof(dt_t_mov) / sizeof(dt_t_mov[0]);

const struct dt_tmpl dt_t_xchg[] = {
	T("xchg r/m8, r8", .op = 0x86, .ext = -1, .form = FM_RM, .osz = OS_B, .lockable = 1),
	T("xchg r/m, r", .op = 0x87, .ext = -1, .form = FM_RM, .osz = OS_V, .lockable = 1),
	T("xchg r, rax", .op = 0x90, .form = FM_OPREG, .osz = OS_V, .implicit = 1 << R_AX),
	T("xadd r/m8, r8", .map = 1, .op = 0xc0, .ext = -1, .form = FM_RM, .osz = OS_B, .lockable = 1),
	T("xadd r/m, r", .map = 1, .op = 0xc1, .ext = -1, .form = FM_RM, .osz = OS_V, .lockable = 1),
	T("cmpxchg r/m8, r8", .map = 1, .op = 0xb0, .ext = -1, .form = FM_RM, .osz = OS_B,
	  .lockable = 1, .hook = HK_CMPXCHG, .implicit = 1 << R_AX),
	T("cmpxchg r/m, r", .map = 1, .op = 0xb1, .ext = -1, .form = FM_RM, .osz = OS_V,
	  .lockable = 1, .hook = HK_CMPXCHG, .implicit = 1 << R_AX),
	T("cmpxchg8b m64", .map = 1, .op = 0xc7, .ext = 1, .form = FM_M, .osz = OS_NW, .msz = 8,
	  .lockable = 1, .hook = HK_CX8, .implicit = 0xf),
};
const unsigned dt_n_xchg = sizeof(dt_t_xchg) / sizeof(dt_t_xchg[0]);

const struct dt_tmpl dt_t_cx16[] = {
	T("cmpxchg16b m128", .map = 1, .op = 0xc7, .ext = 1, .form = FM_M, .osz = OS_Q, .msz = 16,
	  .align = 16, .lockable = 1, .hook = HK_CX8, .implicit = 0xf),
};
const unsigned dt_n_cx16 = 1;

#define STK (1 << R_SP)
const struct dt_tmpl dt_t_stack[] = {
	T("push r", .op = 0x50, .form = FM_OPREG, .osz = OS_V64, .hook = HK_STACK, .implicit = STK),
	T("pop r", .op = 0x58, .form = FM_OPREG, .osz = OS_V64, .hook = HK_STACK, .implicit = STK),
	T("push imm8", .op = 0x6a, .form = FM_NONE, .imm = IM_B, .osz = OS_V64, .hook = HK_STACK,
	  .implicit = STK),
	T("push imm32", .op = 0x68, .form = FM_NONE, .imm = IM_Z, .osz = OS_V64, .hook = HK_STACK,
	  .implicit = STK),
	T("push r/m", .op = 0xff, .ext = 6, .form = FM_RM, .osz = OS_V64, .hook = HK_STACK,
	  .implicit = STK),
	T("pop r/m", .op = 0x8f, .ext = 0, .form = FM_RM, .osz = OS_V64, .hook = HK_STACK,
	  .implicit = STK),
	T("pushf", .op = 0x9c, .form = FM_NONE, .osz = OS_V64, .hook = HK_STACK, .implicit = STK),
	T("popf", .op = 0x9d, .form = FM_NONE, .osz = OS_V64, .hook = HK_POPF, .implicit = STK),
	T("ret", .op = 0xc3, .form = FM_NONE, .osz = OS_N, .hook = HK_RET, .implicit = STK),
	T("ret imm16", .op = 0xc2, .form = FM_NONE, .imm = IM_W, .osz = OS_N, .hook = HK_RET,
	  .implicit = STK),
	T("enter", .op = 0xc8, .form = FM_NONE, .osz = OS_N, .hook = HK_ENTER,
	  .implicit = STK | 1 << R_BP),
	T("leave", .op = 0xc9, .form = FM_NONE, .osz = OS_V64, .hook = HK_ENTER,
	  .implicit = STK | 1 << R_BP),
};
const unsigned dt_n_stack = sizeof(dt_t_stack) / sizeof(dt_t_stack[0]);

const struct dt_tmpl dt_t_flagops[] = {
	T("cmc", .op = 0xf5, .form = FM_NONE, .osz = OS_N),
	T("clc", .op = 0xf8, .form = FM_NONE, .osz = OS_N),
	T("stc", .op = 0xf9, .form = FM_NONE, .osz = OS_N),
	T("cld", .op = 0xfc, .form = FM_NONE, .osz = OS_N),
	T("std", .op = 0xfd, .form = FM_NONE, .osz = OS_N),
};
const unsigned dt_n_flagops = sizeof(dt_t_flagops) / sizeof(dt_t_flagops[0]);

const struct dt_tmpl dt_t_lahf[] = {
	T("sahf", .op = 0x9e, .form = FM_NONE, .osz = OS_N, .implicit = 1 << R_AX),
	T("lahf", .op = 0x9f, .form = FM_NONE, .osz = OS_N, .implicit = 1 << R_AX),
};
const unsigned dt_n_lahf = 2;

const unsigned dt_n_popcnt = 1;
const struct dt_tmpl dt_t_popcnt[] = {
	T("popcnt r, r/m", .pfx = 0xf3, .map = 1, .op = 0xb8, .ext = -1, .form = FM_RM, .osz = OS_V,
	  .hook = HK_CNT),
};
const unsigned dt_n_lzcnt = 1;
const struct dt_tmpl dt_t_lzcnt[] = {
	T("lzcnt r, r/m", .pfx = 0xf3, .map = 1, .op = 0xbd, .ext = -1, .form = FM_RM, .osz = OS_V,
	  .hook = HK_CNT, .undef = F_OF | F_SF | F_AF | F_PF),
};
const unsigned dt_n_tzcnt = 1;
const struct dt_tmpl dt_t_tzcnt[] = {
	T("tzcnt r, r/m", .pfx = 0xf3, .map = 1, .op = 0xbc, .ext = -1, .form = FM_RM, .osz = OS_V,
	  .hook = HK_CNT, .undef = F_OF | F_SF | F_AF | F_PF),
};
const unsigned dt_n_movbe = 2;
const struct dt_tmpl dt_t_movbe[] = {
	T("movbe r, m", .map = 2, .op = 0xf0, .ext = -1, .form = FM_M, .osz = OS_V),
	T("movbe m, r", .map = 2, .op = 0xf1, .ext = -1, .form = FM_M, .osz = OS_V),
};

/* Instructions for multi-instruction sequences: flags fully defined
 * (except AF after logic ops), so later instructions consume defined state. */
const struct dt_tmpl dt_t_mix[] = {
	ALU(0, "add", 1, 0), ALU(2, "adc", 1, 0), ALU(3, "sbb", 1, 0), ALU(5, "sub", 1, 0),
	ALU(4, "and", 1, LOGIC_UNDEF), ALU(7, "cmp", 0, 0),
	T("inc r/m", .op = 0xff, .ext = 0, .form = FM_RM, .osz = OS_V),
	T("dec r/m8", .op = 0xfe, .ext = 1, .form = FM_RM, .osz = OS_B),
	T("neg r/m", .op = 0xf7, .ext = 3, .form = FM_RM, .osz = OS_V),
	T("not r/m", .op = 0xf7, .ext = 2, .form = FM_RM, .osz = OS_V),
	T("shl r/m, 1", .op = 0xd1, .ext = 4, .form = FM_RM, .osz = OS_V, .undef = F_AF),
	T("sar r/m8, 1", .op = 0xd0, .ext = 7, .form = FM_RM, .osz = OS_B, .undef = F_AF),
	T("rcl r/m, 1", .op = 0xd1, .ext = 2, .form = FM_RM, .osz = OS_V),
	T("rcr r/m8, 1", .op = 0xd0, .ext = 3, .form = FM_RM, .osz = OS_B),
	CMOV(2), CMOV(7), CMOV(12), CMOV(15), SETCC(0), SETCC(4), SETCC(8), SETCC(11), SETCC(14),
	T("cmc", .op = 0xf5, .form = FM_NONE, .osz = OS_N),
	T("stc", .op = 0xf9, .form = FM_NONE, .osz = OS_N),
	T("mov r, r/m", .op = 0x8b, .ext = -1, .form = FM_RM, .osz = OS_V),
	T("mov r/m, r", .op = 0x89, .ext = -1, .form = FM_RM, .osz = OS_V),
	T("xadd r/m, r", .map = 1, .op = 0xc1, .ext = -1, .form = FM_RM, .osz = OS_V),
	/* no IMUL here: its undefined SF/ZF/PF would reach SETcc/CMOVcc */
};
const unsigned dt_n_mix = sizeof(dt_t_mix) / sizeof(dt_t_mix[0]);

/* Sequences for the JIT (src/cpu/jit.c): its native instructions in every
 * form, so that flag stores it skips as dead, rotates and INC/DEC run
 * without flag logic, and host-flag Jcc fusion meet the host CPU. Flag
 * readers read only flags every writer here defines (CF, ZF, SF, PF: no
 * OF after a rotate by more than 1, no AF). The first ALU_N entries are
 * the flag setters a final Jcc may follow. */
#define JSH(e, nm)                                                                                 \
	T(nm " r/m, imm8", .op = 0xc1, .ext = e, .form = FM_RM, .imm = IM_B, .osz = OS_V,          \
	  .undef = F_AF | F_OF),                                                                   \
	T(nm " r/m, 1", .op = 0xd1, .ext = e, .form = FM_RM, .osz = OS_V, .undef = F_AF)
const struct dt_tmpl dt_t_jitseq[] = {
	ALU(0, "add", 0, 0), ALU(1, "or", 0, LOGIC_UNDEF), ALU(4, "and", 0, LOGIC_UNDEF),
	ALU(5, "sub", 0, 0), ALU(6, "xor", 0, LOGIC_UNDEF), ALU(7, "cmp", 0, 0),
	T("test r/m8, r8", .op = 0x84, .ext = -1, .form = FM_RM, .osz = OS_B, .undef = F_AF),
	T("test r/m, r", .op = 0x85, .ext = -1, .form = FM_RM, .osz = OS_V, .undef = F_AF),
	T("test eax, imm", .op = 0xa9, .form = FM_NONE, .imm = IM_Z, .osz = OS_V,
	  .implicit = 1 << R_AX, .undef = F_AF),
	T("test r/m, imm", .op = 0xf7, .ext = 0, .form = FM_RM, .imm = IM_Z, .osz = OS_V,
	  .undef = F_AF),
	T("neg r/m8", .op = 0xf6, .ext = 3, .form = FM_RM, .osz = OS_B),
	T("neg r/m", .op = 0xf7, .ext = 3, .form = FM_RM, .osz = OS_V),
	T("inc r/m", .op = 0xff, .ext = 0, .form = FM_RM, .osz = OS_V),
	T("dec r/m", .op = 0xff, .ext = 1, .form = FM_RM, .osz = OS_V),
	T("inc r/m8", .op = 0xfe, .ext = 0, .form = FM_RM, .osz = OS_B),
	T("dec r/m8", .op = 0xfe, .ext = 1, .form = FM_RM, .osz = OS_B),
	/* the rest: not followed by a Jcc */
	ALU(2, "adc", 0, 0), ALU(3, "sbb", 0, 0),
	T("not r/m8", .op = 0xf6, .ext = 2, .form = FM_RM, .osz = OS_B),
	T("not r/m", .op = 0xf7, .ext = 2, .form = FM_RM, .osz = OS_V),
	JSH(0, "rol"), JSH(1, "ror"), JSH(4, "shl"), JSH(5, "shr"), JSH(7, "sar"),
	MOVS,
	CMOV(2), CMOV(4), CMOV(8), SETCC(2), SETCC(5), SETCC(9), SETCC(10),
	CMOV(2), CMOV(4), CMOV(8), SETCC(2), SETCC(5), SETCC(9), SETCC(10),
	T("test r/m8, imm8", .op = 0xf6, .ext = 0, .form = FM_RM, .imm = IM_B, .osz = OS_B,
	  .undef = F_AF),
	T("cmpxchg r/m, r", .map = 1, .op = 0xb1, .ext = -1, .form = FM_RM, .osz = OS_V,
	  .implicit = 1 << R_AX, .lockable = 1),
	T("cmpxchg r/m, r", .map = 1, .op = 0xb1, .ext = -1, .form = FM_RM, .osz = OS_V,
	  .implicit = 1 << R_AX, .lockable = 1),
};
const unsigned dt_n_jitseq = sizeof(dt_t_jitseq) / sizeof(dt_t_jitseq[0]);
/* ALU(...) is 9 templates: 6 ALUs, 4 TESTs, 2 NEGs, 4 INC/DECs */
const unsigned dt_n_jitseq_alu = 6 * 9 + 4 + 2 + 4;

/* IMUL and shifts by CL, native only where their flags are dead: always
 * followed by one of the first dt_n_jitseq_alu templates, which redefine
 * SF/ZF/PF/AF/OF (the ones these may leave undefined). */
#define JSHCL(e, nm)                                                                               \
	T(nm " r/m, cl", .op = 0xd3, .ext = e, .form = FM_RM, .osz = OS_V,                        \
	  .implicit = 1 << R_CX, .undef = F_AF | F_OF)
const struct dt_tmpl dt_t_jitimul[] = {
	JSHCL(0, "rol"), JSHCL(1, "ror"), JSHCL(4, "shl"), JSHCL(5, "shr"), JSHCL(7, "sar"),
	T("imul r, r/m", .map = 1, .op = 0xaf, .ext = -1, .form = FM_RM, .osz = OS_V, .undef = SZAP),
	T("imul r, r/m, imm", .op = 0x69, .ext = -1, .form = FM_RM, .imm = IM_Z, .osz = OS_V,
	  .undef = SZAP),
	T("imul r, r/m, imm8", .op = 0x6b, .ext = -1, .form = FM_RM, .imm = IM_B, .osz = OS_V,
	  .undef = SZAP),
};
const unsigned dt_n_jitimul = sizeof(dt_t_jitimul) / sizeof(dt_t_jitimul[0]);
