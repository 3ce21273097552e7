/* SSE/SSE2 data movement and integer instructions (Intel SDM Vol. 2; the
 * floating-point arithmetic lives in exec_ssefp.c). Legacy-SSE 128-bit
 * memory operands must be 16-byte aligned (#GP(0)) except for the explicit
 * unaligned moves (Vol. 1 §10.4.1.1). The MMX forms of the shared opcodes
 * (mostly: no prefix) are handed to exec_mmx.c. */
#include <emmintrin.h>

#include "cpu/cpu_int.h"
#include "cpu/sse.h"

/* Fetch a 128-bit source operand (register or memory). */
void sse_src128(struct cpu *c, const struct insn *i, union xmm *out, bool aligned)
{
	uint64_t addr;

	if (!(i->flags & IF_MEM)) {
		*out = c->xmm[i->rm];
		return;
	}
	addr = insn_ea(c, i);
	if (aligned && (addr & 15))
		cpu_gp0(c);
	mem_read_buf(c, addr, out, 16);
}

/* Scalar source: low size bytes from memory, or the whole register. */
void sse_src_scalar(struct cpu *c, const struct insn *i, union xmm *out, int size)
{
	if (!(i->flags & IF_MEM)) {
		*out = c->xmm[i->rm];
		return;
	}
	memset(out, 0, sizeof(*out));
	mem_read_buf(c, insn_ea(c, i), out, (unsigned)size);
}

static void dst_store128(struct cpu *c, const struct insn *i, const union xmm *v, bool aligned)
{
	uint64_t addr;

	if (!(i->flags & IF_MEM)) {
		c->xmm[i->rm] = *v;
		return;
	}
	addr = insn_ea(c, i);
	if (aligned && (addr & 15))
		cpu_gp0(c);
	mem_write_buf(c, addr, v, 16);
}

static inline __m128i ld(const union xmm *x)
{
	return _mm_loadu_si128((const __m128i *)x);
}

static inline void st(union xmm *x, __m128i v)
{
	_mm_storeu_si128((__m128i *)x, v);
}

/* 0F 10/11/28/29/2B/6F/7F/E7/D6/7E/6E/12/13/16/17/C3/D7/50/F7: moves. */
static void h_sse_mov(struct cpu *c, const struct insn *i)
{
	unsigned op = i->op & 0xff, p = sse_pfx(i);
	union xmm *d = &c->xmm[i->reg], t;

	if (p != 1 && (p == 0 ? (op == 0x6e || op == 0x6f || op == 0x7e || op == 0x7f ||
				 op == 0xd7 || op == 0xe7 || op == 0xf7)
			      : op == 0xd6)) {
		cpu_mmx_exec(c, i); /* MOVD/MOVQ/PMOVMSKB/MOVNTQ/MASKMOVQ, MOVQ2DQ/MOVDQ2Q */
		return;
	}
	if (op != 0xc3) /* MOVNTI uses no SSE state */
		sse_check(c);
	switch (op) {
	case 0x10:
		if (p == 2 || p == 3) { /* MOVSS/MOVSD xmm, xmm/m */
			int sz = p == 2 ? 4 : 8;

			if (i->flags & IF_MEM) {
				memset(&t, 0, sizeof(t));
				mem_read_buf(c, insn_ea(c, i), &t, (unsigned)sz);
				*d = t;
			} else {
				memcpy(d, &c->xmm[i->rm], (size_t)sz);
			}
			return;
		}
		sse_src128(c, i, &t, false);
		*d = t;
		return;
	case 0x11:
		if (p == 2 || p == 3) {
			int sz = p == 2 ? 4 : 8;

			if (i->flags & IF_MEM)
				mem_write_buf(c, insn_ea(c, i), d, (unsigned)sz);
			else
				memcpy(&c->xmm[i->rm], d, (size_t)sz);
			return;
		}
		dst_store128(c, i, d, false);
		return;
	case 0x28:
		if (p >= 2)
			cpu_ud(c);
		sse_src128(c, i, &t, true);
		*d = t;
		return;
	case 0x29:
		if (p >= 2)
			cpu_ud(c);
		dst_store128(c, i, d, true);
		return;
	case 0x2b: /* MOVNTPS/MOVNTPD */
	case 0xe7: /* MOVNTDQ */
		if (!(i->flags & IF_MEM) || p >= 2 || (op == 0xe7 && p != 1))
			cpu_ud(c);
		dst_store128(c, i, d, true);
		return;
	case 0x6f:
		if (p == 1 || p == 2) {
			sse_src128(c, i, &t, p == 1);
			*d = t;
			return;
		}
		cpu_ud(c);
	case 0x7f:
		if (p == 1 || p == 2) {
			dst_store128(c, i, d, p == 1);
			return;
		}
		cpu_ud(c);
	case 0x6e: /* MOVD/MOVQ xmm, r/m */
		if (p != 1)
			cpu_ud(c);
		memset(&t, 0, sizeof(t));
		t.q[0] = rm_read(c, i, (i->flags & IF_REXW) ? 8 : 4);
		*d = t;
		return;
	case 0x7e:
		if (p == 1) { /* MOVD/MOVQ r/m, xmm */
			int sz = (i->flags & IF_REXW) ? 8 : 4;

			if (i->flags & IF_MEM)
				mem_write(c, insn_ea(c, i), sz, d->q[0]);
			else
				reg_write(c, i->rm, sz, i->flags, d->q[0]);
			return;
		}
		if (p == 2) { /* MOVQ xmm, xmm/m64 */
			sse_src_scalar(c, i, &t, 8);
			d->q[0] = t.q[0];
			d->q[1] = 0;
			return;
		}
		cpu_ud(c);
	case 0xd6: /* MOVQ xmm/m64, xmm */
		if (p != 1)
			cpu_ud(c);
		if (i->flags & IF_MEM) {
			mem_write(c, insn_ea(c, i), 8, d->q[0]);
		} else {
			c->xmm[i->rm].q[0] = d->q[0];
			c->xmm[i->rm].q[1] = 0;
		}
		return;
	case 0x12: /* MOVLPS/MOVLPD m64 / MOVHLPS */
	case 0x16: /* MOVHPS/MOVHPD m64 / MOVLHPS */
		if (p >= 2)
			cpu_ud(c); /* MOVSLDUP/MOVDDUP/MOVSHDUP are SSE3 */
		if (i->flags & IF_MEM) {
			d->q[op == 0x16] = mem_read(c, insn_ea(c, i), 8);
		} else {
			if (p == 1)
				cpu_ud(c);
			if (op == 0x12)
				d->q[0] = c->xmm[i->rm].q[1];
			else
				d->q[1] = c->xmm[i->rm].q[0];
		}
		return;
	case 0x13:
	case 0x17:
		if (p >= 2 || !(i->flags & IF_MEM))
			cpu_ud(c);
		mem_write(c, insn_ea(c, i), 8, d->q[op == 0x17]);
		return;
	case 0xc3: /* MOVNTI m, r */
		if (p != 0 || !(i->flags & IF_MEM))
			cpu_ud(c);
		mem_write(c, insn_ea(c, i), (i->flags & IF_REXW) ? 8 : 4, c->gpr[i->reg]);
		return;
	case 0xd7: /* PMOVMSKB r, xmm */
		if (p != 1 || (i->flags & IF_MEM))
			cpu_ud(c);
		c->gpr[i->reg] = (uint32_t)_mm_movemask_epi8(ld(&c->xmm[i->rm]));
		return;
	case 0x50: { /* MOVMSKPS/MOVMSKPD r, xmm */
		const union xmm *s = &c->xmm[i->rm];
		uint64_t r = 0;

		if (p >= 2 || (i->flags & IF_MEM))
			cpu_ud(c);
		if (p == 1)
			r = (s->q[0] >> 63) | ((s->q[1] >> 63) << 1);
		else
			for (unsigned k = 0; k < 4; k++)
				r |= (uint64_t)(s->d[k] >> 31) << k;
		c->gpr[i->reg] = r;
		return;
	}
	case 0xf7: { /* MASKMOVDQU xmm, xmm: byte stores to [rDI] */
		const union xmm *m = &c->xmm[i->rm];
		uint64_t addr = c->gpr[7];

		if (p != 1 || (i->flags & IF_MEM))
			cpu_ud(c);
		if (i->asz == 4)
			addr = (uint32_t)addr;
		if (i->seg == 5)
			addr += c->fs_base;
		else if (i->seg == 6)
			addr += c->gs_base;
		for (unsigned k = 0; k < 16; k++)
			if (m->b[k] & 0x80)
				mem_write(c, addr + k, 1, d->b[k]);
		return;
	}
	default:
		cpu_ud(c);
	}
}

/* Shuffles and inserts with an immediate. */
static void h_sse_shuf(struct cpu *c, const struct insn *i)
{
	unsigned op = i->op & 0xff, p = sse_pfx(i), imm = (unsigned)i->imm & 0xff;
	union xmm *d = &c->xmm[i->reg], s, r;

	if (p == 0 && op != 0xc6) {
		cpu_mmx_exec(c, i); /* PSHUFW, PINSRW/PEXTRW on mm */
		return;
	}
	sse_check(c);
	switch (op) {
	case 0x70: /* PSHUFD / PSHUFHW / PSHUFLW */
		sse_src128(c, i, &s, true);
		r = s;
		if (p == 1)
			for (unsigned k = 0; k < 4; k++)
				r.d[k] = s.d[(imm >> (2 * k)) & 3];
		else if (p == 2)
			for (unsigned k = 0; k < 4; k++)
				r.w[4 + k] = s.w[4 + ((imm >> (2 * k)) & 3)];
		else
			for (unsigned k = 0; k < 4; k++)
				r.w[k] = s.w[(imm >> (2 * k)) & 3];
		*d = r;
		return;
	case 0xc6: /* SHUFPS / SHUFPD */
		if (p >= 2)
			cpu_ud(c);
		sse_src128(c, i, &s, true);
		if (p == 0) {
			r.d[0] = d->d[imm & 3];
			r.d[1] = d->d[(imm >> 2) & 3];
			r.d[2] = s.d[(imm >> 4) & 3];
			r.d[3] = s.d[(imm >> 6) & 3];
		} else {
			r.q[0] = d->q[imm & 1];
			r.q[1] = s.q[(imm >> 1) & 1];
		}
		*d = r;
		return;
	case 0xc4: /* PINSRW xmm, r32/m16, imm8 */
		if (p != 1)
			cpu_ud(c);
		d->w[imm & 7] = (uint16_t)rm_read(c, i, 2);
		return;
	case 0xc5: /* PEXTRW r32, xmm, imm8 */
		if (p != 1 || (i->flags & IF_MEM))
			cpu_ud(c);
		c->gpr[i->reg] = c->xmm[i->rm].w[imm & 7];
		return;
	default:
		cpu_ud(c);
	}
}

/* 66 0F 71/72/73: shifts by an immediate. */
static void h_sse_shift_imm(struct cpu *c, const struct insn *i)
{
	unsigned op = i->op & 0xff, imm = (unsigned)i->imm & 0xff;
	union xmm *d = &c->xmm[i->rm];
	__m128i v = ld(d), n = _mm_cvtsi32_si128((int)imm);

	if (sse_pfx(i) == 0) {
		cpu_mmx_exec(c, i);
		return;
	}
	sse_check(c);
	if (sse_pfx(i) != 1 || (i->flags & IF_MEM))
		cpu_ud(c);
	switch (op * 8 + i->sub) {
	case 0x71 * 8 + 2: st(d, _mm_srl_epi16(v, n)); return;
	case 0x71 * 8 + 4: st(d, _mm_sra_epi16(v, n)); return;
	case 0x71 * 8 + 6: st(d, _mm_sll_epi16(v, n)); return;
	case 0x72 * 8 + 2: st(d, _mm_srl_epi32(v, n)); return;
	case 0x72 * 8 + 4: st(d, _mm_sra_epi32(v, n)); return;
	case 0x72 * 8 + 6: st(d, _mm_sll_epi32(v, n)); return;
	case 0x73 * 8 + 2: st(d, _mm_srl_epi64(v, n)); return;
	case 0x73 * 8 + 6: st(d, _mm_sll_epi64(v, n)); return;
	case 0x73 * 8 + 3: { /* PSRLDQ */
		union xmm r = { .q = { 0, 0 } };

		if (imm < 16)
			memcpy(r.b, d->b + imm, 16 - imm);
		*d = r;
		return;
	}
	case 0x73 * 8 + 7: { /* PSLLDQ */
		union xmm r = { .q = { 0, 0 } };

		if (imm < 16)
			memcpy(r.b + imm, d->b, 16 - imm);
		*d = r;
		return;
	}
	default:
		cpu_ud(c);
	}
}

/* The element operation of a two-operand integer instruction (0F op; p:
 * the 66 prefix, for 14/15). Returns false for an opcode that is not one. */
static inline __attribute__((always_inline)) bool int_op(unsigned op, unsigned p, __m128i a,
							 __m128i b, __m128i *out)
{
	__m128i r;

	switch (op) {
	case 0x14: r = p ? _mm_unpacklo_epi64(a, b) : _mm_unpacklo_epi32(a, b); break;
	case 0x15: r = p ? _mm_unpackhi_epi64(a, b) : _mm_unpackhi_epi32(a, b); break;
	case 0x54: r = _mm_and_si128(a, b); break;
	case 0x55: r = _mm_andnot_si128(a, b); break;
	case 0x56: r = _mm_or_si128(a, b); break;
	case 0x57: r = _mm_xor_si128(a, b); break;
	case 0x60: r = _mm_unpacklo_epi8(a, b); break;
	case 0x61: r = _mm_unpacklo_epi16(a, b); break;
	case 0x62: r = _mm_unpacklo_epi32(a, b); break;
	case 0x63: r = _mm_packs_epi16(a, b); break;
	case 0x64: r = _mm_cmpgt_epi8(a, b); break;
	case 0x65: r = _mm_cmpgt_epi16(a, b); break;
	case 0x66: r = _mm_cmpgt_epi32(a, b); break;
	case 0x67: r = _mm_packus_epi16(a, b); break;
	case 0x68: r = _mm_unpackhi_epi8(a, b); break;
	case 0x69: r = _mm_unpackhi_epi16(a, b); break;
	case 0x6a: r = _mm_unpackhi_epi32(a, b); break;
	case 0x6b: r = _mm_packs_epi32(a, b); break;
	case 0x6c: r = _mm_unpacklo_epi64(a, b); break;
	case 0x6d: r = _mm_unpackhi_epi64(a, b); break;
	case 0x74: r = _mm_cmpeq_epi8(a, b); break;
	case 0x75: r = _mm_cmpeq_epi16(a, b); break;
	case 0x76: r = _mm_cmpeq_epi32(a, b); break;
	case 0xd1: r = _mm_srl_epi16(a, b); break;
	case 0xd2: r = _mm_srl_epi32(a, b); break;
	case 0xd3: r = _mm_srl_epi64(a, b); break;
	case 0xd4: r = _mm_add_epi64(a, b); break;
	case 0xd5: r = _mm_mullo_epi16(a, b); break;
	case 0xd8: r = _mm_subs_epu8(a, b); break;
	case 0xd9: r = _mm_subs_epu16(a, b); break;
	case 0xda: r = _mm_min_epu8(a, b); break;
	case 0xdb: r = _mm_and_si128(a, b); break;
	case 0xdc: r = _mm_adds_epu8(a, b); break;
	case 0xdd: r = _mm_adds_epu16(a, b); break;
	case 0xde: r = _mm_max_epu8(a, b); break;
	case 0xdf: r = _mm_andnot_si128(a, b); break;
	case 0xe0: r = _mm_avg_epu8(a, b); break;
	case 0xe1: r = _mm_sra_epi16(a, b); break;
	case 0xe2: r = _mm_sra_epi32(a, b); break;
	case 0xe3: r = _mm_avg_epu16(a, b); break;
	case 0xe4: r = _mm_mulhi_epu16(a, b); break;
	case 0xe5: r = _mm_mulhi_epi16(a, b); break;
	case 0xe8: r = _mm_subs_epi8(a, b); break;
	case 0xe9: r = _mm_subs_epi16(a, b); break;
	case 0xea: r = _mm_min_epi16(a, b); break;
	case 0xeb: r = _mm_or_si128(a, b); break;
	case 0xec: r = _mm_adds_epi8(a, b); break;
	case 0xed: r = _mm_adds_epi16(a, b); break;
	case 0xee: r = _mm_max_epi16(a, b); break;
	case 0xef: r = _mm_xor_si128(a, b); break;
	case 0xf1: r = _mm_sll_epi16(a, b); break;
	case 0xf2: r = _mm_sll_epi32(a, b); break;
	case 0xf3: r = _mm_sll_epi64(a, b); break;
	case 0xf4: r = _mm_mul_epu32(a, b); break;
	case 0xf5: r = _mm_madd_epi16(a, b); break;
	case 0xf6: r = _mm_sad_epu8(a, b); break;
	case 0xf8: r = _mm_sub_epi8(a, b); break;
	case 0xf9: r = _mm_sub_epi16(a, b); break;
	case 0xfa: r = _mm_sub_epi32(a, b); break;
	case 0xfb: r = _mm_sub_epi64(a, b); break;
	case 0xfc: r = _mm_add_epi8(a, b); break;
	case 0xfd: r = _mm_add_epi16(a, b); break;
	case 0xfe: r = _mm_add_epi32(a, b); break;
	default: return false;
	}
	*out = r;
	return true;
}

/* For the MMX forms (exec_mmx.c), which run on the low 64 bits. */
bool sse_int_op(unsigned op, unsigned p, __m128i a, __m128i b, __m128i *out)
{
	return int_op(op, p, a, b, out);
}

/* Two-operand integer and bitwise operations: xmm op= xmm/m128. */
static void h_sse_int(struct cpu *c, const struct insn *i)
{
	unsigned op = i->op & 0xff, p = sse_pfx(i);
	union xmm *d = &c->xmm[i->reg], s;
	__m128i r;

	/* 0F 54-57 (ANDPS..XORPS) and 14/15 (UNPCKxPS) accept no prefix or 66. */
	if ((op >= 0x54 && op <= 0x57) || op == 0x14 || op == 0x15) {
		if (p >= 2)
			cpu_ud(c);
	} else if (p == 0) {
		cpu_mmx_exec(c, i);
		return;
	} else if (p != 1) {
		cpu_ud(c);
	}
	sse_check(c);
	sse_src128(c, i, &s, true);
	if (!int_op(op, p, ld(d), ld(&s), &r))
		cpu_ud(c);
	st(d, r);
}

/* 0F AE: FXSAVE, FXRSTOR, LDMXCSR, STMXCSR, fences, CLFLUSH. */
static void h_0fae(struct cpu *c, const struct insn *i)
{
	uint64_t addr;
	uint8_t buf[512];

	if (sse_pfx(i) != 0 && !(sse_pfx(i) == 1 && i->sub == 7))
		cpu_ud(c);
	if (!(i->flags & IF_MEM)) {
		if (i->sub >= 5) { /* LFENCE, MFENCE, SFENCE */
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			return;
		}
		cpu_ud(c);
	}
	/* Not for fences and CLFLUSH. FXSAVE/FXRSTOR: #NM even for
	 * CR0.EM, and CR4.OSFXSR only decides whether XMM state goes too. */
	if (i->sub <= 1)
		fp_check(c, FPT_X87);
	else if (i->sub <= 3)
		sse_check(c);
	addr = insn_ea(c, i);
	/* A non-canonical address faults before the alignment check: #SS
	 * through RSP/RBP without a segment override, #GP otherwise (Vol. 3
	 * §3.3.7.1), as cpu_tlb_slow would on the access. */
	if ((i->sub == 0 || i->sub == 1) && (uint64_t)((int64_t)(addr << 16) >> 16) != addr)
		cpu_raise(c, !(i->flags & IF_RIPREL) && i->seg == 0 && (i->base == 4 || i->base == 5)
				     ? CPU_VEC_SS : CPU_VEC_GP, 0);
	switch (i->sub) {
	case 0: /* FXSAVE (64-bit format with REX.W; same layout for our purposes) */
		if (addr & 15)
			cpu_gp0(c);
		cpu_fx_save(c, buf);
		if (!(i->flags & IF_REXW)) {
			/* 32-bit format: FIP/FDP as offset + selector. */
			memset(buf + 12, 0, 4);
			memset(buf + 20, 0, 4);
		}
		/* Bytes 416-511 are reserved/available: the processor does
		 * not write them (Vol. 1 Table 10-2), but the whole area must
		 * be writable. */
		mem_read_w(c, addr + 511, 1);
		mem_write_buf(c, addr, buf, 416);
		return;
	case 1: /* FXRSTOR */
		if (addr & 15)
			cpu_gp0(c);
		mem_read_buf(c, addr, buf, 512);
		cpu_fx_restore(c, buf, true);
		/* Reserved FCW bits: 7 and 13-15 read as 0, bit 6 as 1 (as FLDCW). */
		c->fcw = (uint16_t)((c->fcw & ~0xe0c0) | 0x40);
		return;
	case 2: { /* LDMXCSR: reserved bits set -> #GP(0) */
		uint32_t v = (uint32_t)mem_read(c, addr, 4);

		if (v & ~0xffffu)
			cpu_gp0(c);
		c->mxcsr = v;
		c->mx_synced = false;
		return;
	}
	case 3: /* STMXCSR */
		cpu_mx_collect(c);
		mem_write(c, addr, 4, c->mxcsr);
		return;
	case 7: /* CLFLUSH: the line must be accessible */
		mem_read(c, addr, 1);
		return;
	default:
		cpu_ud(c);
	}
}

void cpu_exec_init_sse(void)
{
	static const uint8_t movs[] = { 0x10, 0x11, 0x12, 0x13, 0x16, 0x17, 0x28, 0x29, 0x2b, 0x50,
					0x6e, 0x6f, 0x7e, 0x7f, 0xc3, 0xd6, 0xd7, 0xe7, 0xf7 };
	static const uint8_t ints[] = {
		0x14, 0x15, 0x54, 0x55, 0x56, 0x57, 0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
		0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x74, 0x75, 0x76, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5,
		0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5,
		0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6,
		0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe,
	};

	for (unsigned k = 0; k < sizeof(movs); k++)
		cpu_handlers[OP_0F + movs[k]] = h_sse_mov;
	for (unsigned k = 0; k < sizeof(ints); k++)
		cpu_handlers[OP_0F + ints[k]] = h_sse_int;
	cpu_handlers[OP_0F + 0x70] = cpu_handlers[OP_0F + 0xc6] = h_sse_shuf;
	cpu_handlers[OP_0F + 0xc4] = cpu_handlers[OP_0F + 0xc5] = h_sse_shuf;
	cpu_handlers[OP_0F + 0x71] = cpu_handlers[OP_0F + 0x72] = h_sse_shift_imm;
	cpu_handlers[OP_0F + 0x73] = h_sse_shift_imm;
	cpu_handlers[OP_0F + 0xae] = h_0fae;
	cpu_exec_init_ssefp();
	cpu_exec_init_mmx();
}
