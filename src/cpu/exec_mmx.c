/* MMX (Intel SDM Vol. 1 chapter 9) and the SSE/SSE2 instructions on MMX
 * registers. MM0-7 alias the 64-bit significands of the x87 physical
 * registers R0-7 (c->st[], stored as the host's 80-bit long double), so
 * FXSAVE/FXRSTOR and x87 code see exactly what hardware would: writing an
 * MM register sets bits 64-79 to ones, and every MMX instruction except
 * EMMS sets TOP to 0 and all tags valid (Vol. 1 §9.5.1, Table 9-2).
 *
 * The element operations are those of the SSE2 integer forms
 * (sse_int_op) applied to the low 64 bits of an XMM value; only packs and
 * the high unpacks need their inputs or output rearranged. */
#include "cpu/cpu_int.h"
#include "cpu/sse.h"
#include "cpu/sys.h"

#define FSW_ES 0x0080
#define FSW_TOP 0x3800

static inline uint64_t mm_get(const struct cpu *c, unsigned r)
{
	uint64_t v;

	memcpy(&v, &c->st[r & 7], 8);
	return v;
}

static inline void mm_set(struct cpu *c, unsigned r, uint64_t v)
{
	uint8_t *p = (uint8_t *)&c->st[r & 7];

	memcpy(p, &v, 8);
	p[8] = p[9] = 0xff;
}

/* Checks before any MMX instruction (Vol. 3 Table 12-1 / §2.5 CR0.EM/TS):
 * #UD with CR0.EM, #NM with CR0.TS, then a pending unmasked x87 exception
 * is reported as #MF. */
static inline void mmx_check(struct cpu *c)
{
	if (c->mode == CPU_MODE_SYSTEM) {
		if (c->cr0 & CR0_EM)
			cpu_ud(c);
		if (c->cr0 & CR0_TS)
			cpu_raise(c, CPU_VEC_NM, 0);
	}
	if (c->fsw & FSW_ES)
		cpu_raise(c, CPU_VEC_MF, 0);
}

/* The x87-to-MMX transition, done once a memory source has been read
 * (before a SIMD floating-point exception, though: as on hardware). */
static inline void mmx_enter(struct cpu *c)
{
	c->fsw &= (uint16_t)~FSW_TOP;
	c->ftw_empty = 0;
}

/* Stores: hardware has set TOP to 0, but not the tags, when the store
 * faults. */
static inline void mmx_store(struct cpu *c, const struct insn *i, int size, uint64_t v)
{
	c->fsw &= (uint16_t)~FSW_TOP;
	mem_write(c, insn_ea(c, i), size, v);
}

/* mm/m64 source (ModRM.rm). */
static uint64_t mm_src(struct cpu *c, const struct insn *i)
{
	if (i->flags & IF_MEM)
		return mem_read(c, insn_ea(c, i), 8);
	return mm_get(c, i->rm);
}

static inline __m128i v64(uint64_t v)
{
	return _mm_cvtsi64_si128((long long)v);
}

static inline uint64_t lo64(__m128i v)
{
	return (uint64_t)_mm_cvtsi128_si64(v);
}

/* mm op= mm/m64 for the integer opcodes 0F 60-6B, 74-76, D1-FE. */
static bool mmx_int(unsigned op, uint64_t a, uint64_t b, uint64_t *out)
{
	__m128i r;

	switch (op) {
	case 0x6c: case 0x6d: /* PUNPCKxQDQ: xmm only */
	case 0xd6: case 0xd7: case 0xe6: case 0xe7: case 0xf0: case 0xf7: case 0xff:
		return false;
	case 0x63: case 0x67: case 0x6b: { /* packs: a's and b's elements side by side */
		__m128i ab = _mm_unpacklo_epi64(v64(a), v64(b));

		if (!sse_int_op(op, 0, ab, ab, &r))
			return false;
		*out = lo64(r);
		return true;
	}
	case 0x68: case 0x69: case 0x6a: /* high unpacks: the upper half of the low unpack */
		if (!sse_int_op(op - 8, 0, v64(a), v64(b), &r))
			return false;
		*out = lo64(_mm_unpackhi_epi64(r, r));
		return true;
	default:
		if (op < 0x60 || (op > 0x6b && op < 0x74) || (op > 0x76 && op < 0xd1) ||
		    !sse_int_op(op, 0, v64(a), v64(b), &r))
			return false;
		*out = lo64(r);
		return true;
	}
}

/* 0F 71/72/73 /2 /4 /6: shift mm by imm8 (the byte shifts /3 /7 are xmm only). */
static bool mmx_shift_imm(unsigned op, unsigned sub, uint64_t a, unsigned imm, uint64_t *out)
{
	__m128i v = v64(a), n = _mm_cvtsi32_si128((int)imm), r;

	switch (op * 8 + sub) {
	case 0x71 * 8 + 2: r = _mm_srl_epi16(v, n); break;
	case 0x71 * 8 + 4: r = _mm_sra_epi16(v, n); break;
	case 0x71 * 8 + 6: r = _mm_sll_epi16(v, n); break;
	case 0x72 * 8 + 2: r = _mm_srl_epi32(v, n); break;
	case 0x72 * 8 + 4: r = _mm_sra_epi32(v, n); break;
	case 0x72 * 8 + 6: r = _mm_sll_epi32(v, n); break;
	case 0x73 * 8 + 2: r = _mm_srl_epi64(v, n); break;
	case 0x73 * 8 + 6: r = _mm_sll_epi64(v, n); break;
	default: return false;
	}
	*out = lo64(r);
	return true;
}

/* MASKMOVQ: byte stores to DS:rDI (segment overridable). */
static void maskmovq(struct cpu *c, const struct insn *i, uint64_t v, uint64_t mask)
{
	uint64_t addr = c->gpr[7];

	if (i->asz == 4)
		addr = (uint32_t)addr;
	else if (i->asz == 2)
		addr = (uint16_t)addr;
	if (i->seg == 5)
		addr += c->fs_base;
	else if (i->seg == 6)
		addr += c->gs_base;
	else if (c->code_size)
		addr = (uint32_t)(addr + c->seg_base[i->seg ? i->seg - 1 : 3]);
	mmx_enter(c); /* unlike other stores, before a fault (as on hardware) */
	/* Hardware checks the whole quadword first, even with an all-zero
	 * mask: #PF reports its start (as the differential tests show). */
	mem_read_w(c, addr, 1);
	if (((addr + 7) & CPU_PAGE_MASK) != (addr & CPU_PAGE_MASK))
		mem_read_w(c, (addr + 7) & CPU_PAGE_MASK, 1);
	for (unsigned k = 0; k < 8; k++)
		if ((mask >> (8 * k + 7)) & 1)
			mem_write(c, addr + k, 1, (v >> (8 * k)) & 0xff);
}

/* 0F 2A/2C/2D without prefix or with 66: conversions between packed
 * int32 in an MM register and packed single/double in an XMM register,
 * computed by the equivalent all-XMM conversion under the guest MXCSR
 * (the unused lanes are zero, which converts exactly). */
static void mmx_cvt(struct cpu *c, const struct insn *i, unsigned op, unsigned p)
{
	union xmm s, t;

	memset(&s, 0, sizeof(s));
	memset(&t, 0, sizeof(t));
	if (op == 0x2a) { /* CVTPI2PS / CVTPI2PD xmm, mm/m64 */
		union xmm *d = &c->xmm[i->reg];

		s.q[0] = mm_src(c, i);
		/* A memory source does not switch to MMX mode (Vol. 2 "CVTPI2PD";
		 * CVTPI2PS behaves the same on hardware). */
		if (!(i->flags & IF_MEM))
			mmx_enter(c);
		if (!sse_fp_op(c, p ? 0xe6 : 0x5b, p ? 2 : 0, &t, &s)) /* CVTDQ2PD / CVTDQ2PS */
			cpu_ud(c);
		if (p)
			*d = t;
		else
			d->q[0] = t.q[0];
		return;
	}
	/* CVT(T)PS2PI mm, xmm/m64; CVT(T)PD2PI mm, xmm/m128 */
	if (p)
		sse_src128(c, i, &s, true);
	else
		s.q[0] = (i->flags & IF_MEM) ? mem_read(c, insn_ea(c, i), 8) : c->xmm[i->rm].q[0];
	mmx_enter(c);
	if (!sse_fp_op(c, p ? 0xe6 : 0x5b, p ? (op == 0x2c ? 1 : 3) : (op == 0x2c ? 2 : 1), &t, &s))
		cpu_ud(c);
	mm_set(c, i->reg, t.q[0]);
}

void cpu_mmx_exec(struct cpu *c, const struct insn *i)
{
	unsigned op = i->op & 0xff, p = sse_pfx(i), imm = (unsigned)i->imm & 0xff;
	bool mem = (i->flags & IF_MEM) != 0;
	uint64_t v;

	switch (op) {
	case 0x2a: case 0x2c: case 0x2d:
		if (p >= 2)
			cpu_ud(c);
		/* CVTPI2PS/PD from memory do not touch the x87 state at all,
		 * not even to report a pending exception (as on hardware). */
		if (op == 0x2a && mem && c->mode == CPU_MODE_SYSTEM && (c->cr0 & CR0_EM))
			cpu_ud(c);
		else if (op != 0x2a || !mem)
			mmx_check(c);
		mmx_cvt(c, i, op, p);
		return;
	default:
		break;
	}
	mmx_check(c);
	switch (op) {
	case 0xd6: /* F3: MOVQ2DQ xmm, mm; F2: MOVDQ2Q mm, xmm */
		if (mem || p < 2)
			cpu_ud(c);
		if (p == 2) {
			c->xmm[i->reg].q[0] = mm_get(c, i->rm);
			c->xmm[i->reg].q[1] = 0;
		} else {
			mm_set(c, i->reg, c->xmm[i->rm].q[0]);
		}
		mmx_enter(c);
		return;
	default:
		break;
	}
	if (p != 0)
		cpu_ud(c);
	switch (op) {
	case 0x6e: /* MOVD/MOVQ mm, r/m32/64 */
		mm_set(c, i->reg, rm_read(c, i, (i->flags & IF_REXW) ? 8 : 4));
		break;
	case 0x7e: { /* MOVD/MOVQ r/m32/64, mm */
		int sz = (i->flags & IF_REXW) ? 8 : 4;

		v = mm_get(c, i->reg);
		if (mem)
			mmx_store(c, i, sz, v);
		else
			reg_write(c, i->rm, sz, i->flags, v);
		break;
	}
	case 0x6f: /* MOVQ mm, mm/m64 */
		mm_set(c, i->reg, mm_src(c, i));
		break;
	case 0xe7: /* MOVNTQ m64, mm */
		if (!mem)
			cpu_ud(c);
		/* fall through */
	case 0x7f: /* MOVQ mm/m64, mm */
		v = mm_get(c, i->reg);
		if (mem)
			mmx_store(c, i, 8, v);
		else
			mm_set(c, i->rm, v);
		break;
	case 0xd7: /* PMOVMSKB r32, mm */
		if (mem)
			cpu_ud(c);
		c->gpr[i->reg] = (uint32_t)_mm_movemask_epi8(v64(mm_get(c, i->rm))) & 0xff;
		break;
	case 0xf7: /* MASKMOVQ mm, mm */
		if (mem)
			cpu_ud(c);
		maskmovq(c, i, mm_get(c, i->reg), mm_get(c, i->rm));
		break;
	case 0x70: { /* PSHUFW mm, mm/m64, imm8 */
		uint64_t s = mm_src(c, i);

		v = 0;
		for (unsigned k = 0; k < 4; k++)
			v |= ((s >> (16 * ((imm >> (2 * k)) & 3))) & 0xffff) << (16 * k);
		mm_set(c, i->reg, v);
		break;
	}
	case 0xc4: { /* PINSRW mm, r32/m16, imm8 */
		unsigned sh = 16 * (imm & 3);
		uint64_t w = rm_read(c, i, 2);

		v = mm_get(c, i->reg);
		mm_set(c, i->reg, (v & ~(0xffffULL << sh)) | (w << sh));
		break;
	}
	case 0xc5: /* PEXTRW r32, mm, imm8 */
		if (mem)
			cpu_ud(c);
		c->gpr[i->reg] = (mm_get(c, i->rm) >> (16 * (imm & 3))) & 0xffff;
		break;
	case 0x71: case 0x72: case 0x73:
		if (mem || !mmx_shift_imm(op, i->sub, mm_get(c, i->rm), imm, &v))
			cpu_ud(c);
		mm_set(c, i->rm, v);
		break;
	default: {
		/* PUNPCKLBW/WD/DQ read only 32 bits from memory. */
		uint64_t s = mem && op <= 0x62 ? mem_read(c, insn_ea(c, i), 4) : mm_src(c, i);

		if (!mmx_int(op, mm_get(c, i->reg), s, &v))
			cpu_ud(c);
		mm_set(c, i->reg, v);
		break;
	}
	}
	mmx_enter(c);
}

/* 0F 77 EMMS: all tags empty (and TOP 0, as hardware shows). */
static void h_emms(struct cpu *c, const struct insn *i)
{
	(void)i;
	mmx_check(c);
	c->fsw &= (uint16_t)~FSW_TOP;
	c->ftw_empty = 0xff;
}

void cpu_exec_init_mmx(void)
{
	cpu_handlers[OP_0F + 0x77] = h_emms;
}
