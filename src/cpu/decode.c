/* x86 instruction decoder: legacy/REX prefixes, opcode maps (one-byte, 0F,
 * 0F38, 0F3A, x87), ModRM/SIB with 16/32/64-bit addressing, RIP-relative
 * operands and immediates (Intel SDM Vol. 2 chapter 2 and appendix A).
 * Produces a struct insn; anything invalid or not implemented becomes OP_UD,
 * so a guest can never make the emulator misbehave by its encodings. */
#include "cpu/cpu_int.h"

/* Attributes per opcode. */
#define A_M 0x01      /* ModRM follows */
#define A_B 0x02      /* byte operand size */
#define A_D64 0x04    /* 64-bit default operand size in 64-bit mode */
#define A_F64 0x08    /* operand size forced to 64 in 64-bit mode (near branches) */
#define A_I64 0x10    /* invalid in 64-bit mode */
#define A_IMM_SHIFT 5 /* immediate kind in bits 5-7 */
enum { I_NONE, I_B, I_W, I_Z, I_V, I_MOFFS, I_ENTER, I_GRP3 };
#define IB (I_B << A_IMM_SHIFT)
#define IW (I_W << A_IMM_SHIFT)
#define IZ (I_Z << A_IMM_SHIFT)
#define IV (I_V << A_IMM_SHIFT)
#define IO (I_MOFFS << A_IMM_SHIFT)
#define IE (I_ENTER << A_IMM_SHIFT)
#define IG (I_GRP3 << A_IMM_SHIFT)

#define ALU_ROW(base)                                                                              \
	[base + 0] = A_M | A_B, [base + 1] = A_M, [base + 2] = A_M | A_B, [base + 3] = A_M,        \
	[base + 4] = A_B | IB, [base + 5] = IZ

static const uint8_t attr1[256] = {
	ALU_ROW(0x00), ALU_ROW(0x08), ALU_ROW(0x10), ALU_ROW(0x18),
	ALU_ROW(0x20), ALU_ROW(0x28), ALU_ROW(0x30), ALU_ROW(0x38),
	[0x06] = A_I64, [0x07] = A_I64, [0x0e] = A_I64, [0x16] = A_I64, [0x17] = A_I64,
	[0x1e] = A_I64, [0x1f] = A_I64, [0x27] = A_I64, [0x2f] = A_I64, [0x37] = A_I64,
	[0x3f] = A_I64,
	[0x50 ... 0x5f] = A_D64,
	[0x60] = A_I64, [0x61] = A_I64, [0x62] = A_I64 | A_M, [0x63] = A_M,
	[0x68] = A_D64 | IZ, [0x69] = A_M | IZ, [0x6a] = A_D64 | IB, [0x6b] = A_M | IB,
	[0x6c] = A_B, [0x6e] = A_B,
	[0x70 ... 0x7f] = A_F64 | IB,
	[0x80] = A_M | A_B | IB, [0x81] = A_M | IZ, [0x82] = A_I64 | A_M | A_B | IB,
	[0x83] = A_M | IB, [0x84] = A_M | A_B, [0x85] = A_M, [0x86] = A_M | A_B, [0x87] = A_M,
	[0x88] = A_M | A_B, [0x89] = A_M, [0x8a] = A_M | A_B, [0x8b] = A_M, [0x8c] = A_M,
	[0x8d] = A_M, [0x8e] = A_M, [0x8f] = A_M | A_D64,
	[0x9a] = A_I64, [0x9c] = A_D64, [0x9d] = A_D64,
	[0xa0] = A_B | IO, [0xa1] = IO, [0xa2] = A_B | IO, [0xa3] = IO,
	[0xa4] = A_B, [0xa6] = A_B, [0xa8] = A_B | IB, [0xa9] = IZ, [0xaa] = A_B, [0xac] = A_B,
	[0xae] = A_B,
	[0xb0 ... 0xb7] = A_B | IB, [0xb8 ... 0xbf] = IV,
	[0xc0] = A_M | A_B | IB, [0xc1] = A_M | IB, [0xc2] = A_F64 | IW, [0xc3] = A_F64,
	[0xc4] = A_I64 | A_M, [0xc5] = A_I64 | A_M, [0xc6] = A_M | A_B | IB, [0xc7] = A_M | IZ,
	[0xc8] = A_D64 | IE, [0xc9] = A_D64, [0xca] = IW, [0xcd] = IB, [0xce] = A_I64,
	[0xd0] = A_M | A_B, [0xd1] = A_M, [0xd2] = A_M | A_B, [0xd3] = A_M,
	[0xd4] = A_I64 | IB, [0xd5] = A_I64 | IB, [0xd6] = A_I64, [0xd7] = A_B,
	[0xd8 ... 0xdf] = A_M,
	[0xe0 ... 0xe3] = A_F64 | IB, [0xe4] = A_B | IB, [0xe5] = IB, [0xe6] = A_B | IB,
	[0xe7] = IB, [0xe8] = A_F64 | IZ, [0xe9] = A_F64 | IZ, [0xea] = A_I64,
	[0xeb] = A_F64 | IB, [0xec] = A_B, [0xee] = A_B,
	[0xf6] = A_M | A_B | IG, [0xf7] = A_M | IG, [0xfe] = A_M | A_B, [0xff] = A_M,
};

static const uint8_t attr0f[256] = {
	[0x00 ... 0x03] = A_M, [0x0d] = A_M,
	[0x10 ... 0x17] = A_M, [0x18 ... 0x1f] = A_M, [0x20 ... 0x23] = A_M,
	[0x28 ... 0x2f] = A_M, [0x40 ... 0x4f] = A_M, [0x50 ... 0x6f] = A_M,
	[0x70 ... 0x73] = A_M | IB, [0x74 ... 0x76] = A_M, [0x78 ... 0x7f] = A_M,
	[0x80 ... 0x8f] = A_F64 | IZ, [0x90 ... 0x9f] = A_M | A_B,
	[0xa0] = A_D64, [0xa1] = A_D64, [0xa3] = A_M, [0xa4] = A_M | IB, [0xa5] = A_M,
	[0xa8] = A_D64, [0xa9] = A_D64, [0xab] = A_M, [0xac] = A_M | IB, [0xad] = A_M,
	[0xae] = A_M, [0xaf] = A_M, [0xb0] = A_M | A_B, [0xb1] = A_M, [0xb2 ... 0xb5] = A_M,
	[0xb6] = A_M, [0xb7] = A_M, [0xb8] = A_M, [0xb9] = A_M, [0xba] = A_M | IB,
	[0xbb ... 0xbf] = A_M, [0xc0] = A_M | A_B, [0xc1] = A_M, [0xc2] = A_M | IB, [0xc3] = A_M,
	[0xc4 ... 0xc6] = A_M | IB, [0xc7] = A_M, [0xd0 ... 0xff] = A_M,
};

/* LOCK is legal only on these memory-destination forms (Vol. 2 "LOCK"). */
static bool lock_ok(unsigned op, unsigned reg)
{
	switch (op) {
	case 0x00 ... 0x01: case 0x08 ... 0x09: case 0x10 ... 0x11: case 0x18 ... 0x19:
	case 0x20 ... 0x21: case 0x28 ... 0x29: case 0x30 ... 0x31:
	case 0x86: case 0x87:
		return true;
	case 0x80: case 0x81: case 0x83:
		return reg != 7;
	case 0xf6: case 0xf7:
		return reg == 2 || reg == 3;
	case 0xfe: case 0xff:
		return reg <= 1;
	case OP_0F + 0xab: case OP_0F + 0xb3: case OP_0F + 0xbb:
	case OP_0F + 0xb0: case OP_0F + 0xb1: case OP_0F + 0xc0: case OP_0F + 0xc1:
		return true;
	case OP_0F + 0xba:
		return reg >= 5;
	case OP_0F + 0xc7:
		return reg == 1;
	default:
		return false;
	}
}

static void decode_modrm16(const uint8_t *p, unsigned *n, struct insn *i)
{
	static const uint8_t base16[8] = { 3, 3, 5, 5, 6, 7, 5, 3 };   /* BX BX BP BP SI DI BP BX */
	static const uint8_t index16[8] = { 6, 7, 6, 7, REG_NONE, REG_NONE, REG_NONE, REG_NONE };
	unsigned mod = i->modrm >> 6, rm = i->modrm & 7;

	i->base = base16[rm];
	i->index = index16[rm];
	i->scale = 0;
	if (mod == 0 && rm == 6) {
		i->base = REG_NONE;
		i->disp = (int16_t)(p[*n] | p[*n + 1] << 8);
		*n += 2;
	} else if (mod == 1) {
		i->disp = (int8_t)p[*n];
		*n += 1;
	} else if (mod == 2) {
		i->disp = (int16_t)(p[*n] | p[*n + 1] << 8);
		*n += 2;
	}
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* An unsigned little-endian immediate of 2, 4 or 8 bytes (the caller has
 * checked that the bytes are there). */
static uint64_t decode_uimm(const uint8_t *p, unsigned size)
{
	if (size == 8)
		return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
	if (size == 4)
		return le32(p);
	return (uint64_t)p[0] | (uint64_t)p[1] << 8;
}

int cpu_decode(const uint8_t *buf, unsigned avail, int cs_size, struct insn *i)
{
	/* Work on a 32-byte zero-padded copy so reading past avail is safe;
	 * the length is checked against avail at the end. */
	uint8_t p[32] = { 0 };
	unsigned n = 0, op, attr, rex = 0, imm_kind, lim = avail < 15 ? avail : 15;
	bool opsz = false, adsz = false, mode64 = cs_size == 8;
	int last_rep = 0;

	memcpy(p, buf, lim);
	memset(i, 0, sizeof(*i));
	i->base = i->index = REG_NONE;

	/* Legacy prefixes, then REX (which must come last: a REX followed by
	 * another prefix is ignored, Vol. 2 §2.2.1). */
	for (;; n++) {
		if (n >= 15)
			return -2;
		switch (p[n]) {
		case 0xf0: i->flags |= IF_LOCK; rex = 0; continue;
		case 0xf2: last_rep = 2; rex = 0; continue;
		case 0xf3: last_rep = 3; rex = 0; continue;
		/* In 64-bit mode ES/CS/SS/DS overrides are ignored entirely:
		 * they do not cancel an earlier FS/GS prefix (Vol. 1 §3.3.7.1;
		 * confirmed by the differential tests). */
		case 0x26: if (!mode64) i->seg = 1; rex = 0; continue;
		case 0x2e: if (!mode64) i->seg = 2; rex = 0; continue;
		case 0x36: if (!mode64) i->seg = 3; rex = 0; continue;
		case 0x3e: if (!mode64) i->seg = 4; rex = 0; continue;
		case 0x64: i->seg = 5; rex = 0; continue;
		case 0x65: i->seg = 6; rex = 0; continue;
		case 0x66: opsz = true; rex = 0; continue;
		case 0x67: adsz = true; rex = 0; continue;
		default:
			break;
		}
		if (mode64 && (p[n] & 0xf0) == 0x40) {
			rex = p[n];
			continue;
		}
		break;
	}
	if (last_rep == 2)
		i->flags |= IF_REPNE;
	else if (last_rep == 3)
		i->flags |= IF_REP;
	if (opsz)
		i->flags |= IF_OPSZ;
	if (rex) {
		i->flags |= IF_REX;
		if (rex & 8)
			i->flags |= IF_REXW;
	}

	op = p[n++];
	if (op == 0x0f) {
		op = p[n++];
		if (op == 0x38) {
			op = OP_0F38 + p[n++];
			attr = A_M;
		} else if (op == 0x3a) {
			op = OP_0F3A + p[n++];
			attr = A_M | IB;
		} else {
			attr = attr0f[op];
			op += OP_0F;
		}
	} else {
		attr = attr1[op];
	}

	/* Sizes. */
	if (mode64) {
		i->asz = adsz ? 4 : 8;
		if (attr & A_F64)
			i->osz = 8;
		else if (rex & 8)
			i->osz = 8;
		else if (opsz)
			i->osz = 2;
		else
			i->osz = (attr & A_D64) ? 8 : 4;
	} else {
		i->asz = (uint8_t)(adsz ? 6 - cs_size : cs_size);
		i->osz = (uint8_t)(opsz ? 6 - cs_size : cs_size);
	}
	if (attr & A_B)
		i->osz = 1;
	i->reg = (uint8_t)((op & 7) | ((rex & 1) << 3)); /* opcode-embedded register */

	if (attr & A_M) {
		unsigned mod, rm;

		i->modrm = p[n++];
		mod = i->modrm >> 6;
		rm = i->modrm & 7;
		i->sub = (i->modrm >> 3) & 7;
		i->reg = (uint8_t)(i->sub | ((rex & 4) << 1));
		if (mod == 3) {
			i->rm = (uint8_t)(rm | ((rex & 1) << 3));
		} else if (i->asz == 2) {
			i->flags |= IF_MEM;
			decode_modrm16(p, &n, i);
		} else {
			i->flags |= IF_MEM;
			if (rm == 4) {
				uint8_t sib = p[n++];
				unsigned idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
				unsigned base = (sib & 7) | ((rex & 1) << 3);

				i->scale = sib >> 6;
				i->index = idx == 4 ? REG_NONE : (uint8_t)idx;
				if ((base & 7) == 5 && mod == 0) {
					i->base = REG_NONE;
					i->disp = (int32_t)le32(p + n);
					n += 4;
				} else {
					i->base = (uint8_t)base;
				}
			} else if (rm == 5 && mod == 0) {
				if (mode64)
					i->flags |= IF_RIPREL;
				i->disp = (int32_t)le32(p + n);
				n += 4;
			} else {
				i->base = (uint8_t)(rm | ((rex & 1) << 3));
			}
			if (mod == 1) {
				i->disp = (int8_t)p[n++];
			} else if (mod == 2) {
				i->disp = (int32_t)le32(p + n);
				n += 4;
			}
		}
	}

	imm_kind = attr >> A_IMM_SHIFT;
	if (imm_kind == I_GRP3)
		imm_kind = i->sub < 2 ? (i->osz == 1 ? I_B : I_Z) : I_NONE;
	switch (imm_kind) {
	case I_B:
		i->imm = (uint64_t)(int64_t)(int8_t)p[n++];
		break;
	case I_W:
		i->imm = (uint64_t)p[n] | (uint64_t)p[n + 1] << 8;
		n += 2;
		break;
	case I_Z:
		if (i->osz == 2) {
			i->imm = (uint64_t)(int64_t)(int16_t)(p[n] | p[n + 1] << 8);
			n += 2;
		} else {
			i->imm = (uint64_t)(int64_t)(int32_t)le32(p + n);
			n += 4;
		}
		break;
	case I_V: /* imm16/32/64 by operand size */
		i->imm = decode_uimm(p + n, i->osz);
		n += i->osz;
		break;
	case I_MOFFS: /* moffs16/32/64 by address size */
		i->imm = decode_uimm(p + n, i->asz);
		n += i->asz;
		break;
	case I_ENTER:
		i->imm = (uint64_t)p[n] | (uint64_t)p[n + 1] << 8;
		i->imm2 = p[n + 2];
		n += 3;
		break;
	default:
		break;
	}
	if (!mode64 && (op == 0x9a || op == 0xea)) {
		/* Far CALL/JMP ptr16:16 or ptr16:32 (legacy modes only). */
		if (i->osz == 2) {
			i->imm = (uint64_t)p[n] | (uint64_t)p[n + 1] << 8;
			n += 2;
		} else {
			i->imm = le32(p + n);
			n += 4;
		}
		i->imm2 = (uint16_t)(p[n] | p[n + 1] << 8);
		n += 2;
	}
	if (n > 15)
		return -2;
	if (n > avail)
		return -1;
	i->len = (uint8_t)n;

	/* x87 escape: one handler slot per (memory|register, opcode, reg). */
	if (op >= 0xd8 && op <= 0xdf)
		op = OP_X87 + (op - 0xd8) * 8 + i->sub + ((i->flags & IF_MEM) ? 0 : 0x40);
	i->op = (uint16_t)op;

	if ((mode64 && (attr & A_I64)) || !cpu_handlers[op])
		i->op = OP_UD;
	/* 8F /1-7 is AMD XOP; C4/C5 would be VEX (no AVX is advertised). */
	if (op == 0x8f && i->sub != 0)
		i->op = OP_UD;
	if ((i->flags & IF_LOCK) && (!(i->flags & IF_MEM) || !lock_ok(op, i->sub)))
		i->op = OP_UD;
	return 0;
}
