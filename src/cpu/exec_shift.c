/* Shifts and rotates: group 2 (ROL ROR RCL RCR SHL SHR SAL SAR by 1, CL or
 * imm8) and SHLD/SHRD, with the flag rules of Intel SDM Vol. 2 "SAL/SAR/SHL/
 * SHR", "RCL/RCR/ROL/ROR", "SHLD", "SHRD": a masked count of 0 changes
 * nothing; OF is defined for a count of 1 only (for other counts we use the
 * same formula, which is what Intel hardware produces); AF is undefined. */
#include "cpu/cpu_int.h"

static void shift_op(struct cpu *c, const struct insn *i, unsigned cnt)
{
	int sz = i->osz;
	unsigned bits = (unsigned)sz * 8, top = bits - 1;
	uint64_t m = size_mask(sz), a, r = 0, f, cf = 0, of = 0;

	cnt &= sz == 8 ? 0x3f : 0x1f;
	if (cnt == 0) {
		/* Nothing changes, but a 32-bit register destination is still
		 * written, so it zero-extends (as hardware does). */
		uint64_t v = (i->flags & IF_MEM) ? mem_read_w(c, insn_ea(c, i), sz) : rm_read(c, i, sz);

		if (sz == 4 && !(i->flags & IF_MEM))
			c->gpr[i->rm] = (uint32_t)v;
		return;
	}
	a = cpu_rmw_read(c, i, sz) & m;
	/* Rotates keep SF ZF AF PF: only they need the current flags. */
	f = i->sub < 4 ? cpu_get_flags(c) : 0;
	switch (i->sub) {
	case 0: { /* ROL */
		unsigned n = cnt % bits;

		r = n ? ((a << n) | (a >> (bits - n))) & m : a;
		cf = r & 1;
		of = ((r >> top) ^ cf) & 1;
		f = (f & ~(uint64_t)(FL_CF | FL_OF)) | (cf ? FL_CF : 0) | (of ? FL_OF : 0);
		break;
	}
	case 1: { /* ROR */
		unsigned n = cnt % bits;

		r = n ? ((a >> n) | (a << (bits - n))) & m : a;
		cf = (r >> top) & 1;
		of = ((r >> top) ^ (r >> (top - 1))) & 1;
		f = (f & ~(uint64_t)(FL_CF | FL_OF)) | (cf ? FL_CF : 0) | (of ? FL_OF : 0);
		break;
	}
	case 2: { /* RCL: rotate the (bits+1)-bit quantity CF:a left */
		unsigned n = sz <= 2 ? cnt % (bits + 1) : cnt;
		uint64_t oldcf = f & FL_CF;

		r = a, cf = oldcf;
		for (unsigned k = 0; k < n; k++) {
			uint64_t out = (r >> top) & 1;

			r = ((r << 1) | cf) & m;
			cf = out;
		}
		of = ((r >> top) ^ cf) & 1;
		f = (f & ~(uint64_t)(FL_CF | FL_OF)) | (cf ? FL_CF : 0) | (of ? FL_OF : 0);
		break;
	}
	case 3: { /* RCR */
		unsigned n = sz <= 2 ? cnt % (bits + 1) : cnt;
		uint64_t oldcf = f & FL_CF;

		of = ((a >> top) ^ oldcf) & 1;
		r = a, cf = oldcf;
		for (unsigned k = 0; k < n; k++) {
			uint64_t out = r & 1;

			r = (r >> 1) | (cf << top);
			cf = out;
		}
		if (cnt != 1) /* undefined; hardware reports the final top two bits */
			of = ((r >> top) ^ (r >> (top - 1))) & 1;
		f = (f & ~(uint64_t)(FL_CF | FL_OF)) | (cf ? FL_CF : 0) | (of ? FL_OF : 0);
		break;
	}
	case 4:
	case 6: /* SHL/SAL */
		r = cnt < bits ? (a << cnt) & m : 0;
		cf = cnt <= bits ? (a >> (bits - cnt)) & 1 : 0;
		of = ((r >> top) ^ cf) & 1;
		f = szp_flags(r, sz) | (cf ? FL_CF : 0) | (of ? FL_OF : 0);
		break;
	case 5: /* SHR */
		r = cnt < bits ? a >> cnt : 0;
		cf = cnt <= bits ? (a >> (cnt - 1)) & 1 : 0;
		of = cnt == 1 ? (a >> top) & 1 : 0;
		f = szp_flags(r, sz) | (cf ? FL_CF : 0) | (of ? FL_OF : 0);
		break;
	default: { /* SAR */
		int64_t sa = sext(a, sz);
		unsigned n = cnt < bits ? cnt : bits - 1;

		r = (uint64_t)(sa >> n) & m;
		cf = cnt < bits ? ((uint64_t)(sa >> (cnt - 1))) & 1 : (a >> top) & 1;
		f = szp_flags(r, sz) | (cf ? FL_CF : 0);
		break;
	}
	}
	cpu_rmw_write(c, i, sz, r);
	cc_eager(c, f);
}

static void h_grp2_imm(struct cpu *c, const struct insn *i)
{
	shift_op(c, i, (unsigned)i->imm & 0xff);
}

static void h_grp2_1(struct cpu *c, const struct insn *i)
{
	shift_op(c, i, 1);
}

static void h_grp2_cl(struct cpu *c, const struct insn *i)
{
	shift_op(c, i, (unsigned)c->gpr[1] & 0xff);
}

/* 0F A4/A5 SHLD, 0F AC/AD SHRD. Counts above the operand size (16-bit
 * operands) give undefined results; we shift through a 64-bit window. */
static void h_shd(struct cpu *c, const struct insn *i)
{
	int sz = i->osz;
	unsigned bits = (unsigned)sz * 8, top = bits - 1;
	unsigned cnt = (unsigned)((i->op & 1) ? c->gpr[1] : i->imm) & (sz == 8 ? 0x3f : 0x1f);
	uint64_t m = size_mask(sz), a, b = reg_read(c, i->reg, sz, i->flags), r, cf, f;
	bool left = (i->op & 0xff) < 0xa8;

	if (cnt == 0) {
		uint64_t v = (i->flags & IF_MEM) ? mem_read_w(c, insn_ea(c, i), sz) : rm_read(c, i, sz);

		if (sz == 4 && !(i->flags & IF_MEM))
			c->gpr[i->rm] = (uint32_t)v;
		return;
	}
	a = cpu_rmw_read(c, i, sz) & m;
	if (sz == 8) {
		if (left) {
			/* cnt is 1..63 here: both shifts are defined */
			r = (a << cnt) | (b >> (64 - cnt));
			cf = (a >> (64 - cnt)) & 1;
		} else {
			r = (a >> cnt) | (b << (64 - cnt));
			cf = (a >> (cnt - 1)) & 1;
		}
	} else {
		/* Concatenate in a 64-bit (or wider for 32-bit) window. */
		unsigned __int128 w;

		if (left) {
			w = ((unsigned __int128)a << bits | b) << cnt;
			r = (uint64_t)(w >> bits) & m;
			cf = (uint64_t)(w >> (2 * bits)) & 1;
			if (sz == 2 && cnt > 16) { /* Intel: b fills, then a again */
				w = ((unsigned __int128)a << 32 | (unsigned __int128)b << 16 | a) << cnt;
				r = (uint64_t)(w >> 32) & m;
				cf = (uint64_t)(w >> 48) & 1;
			}
		} else {
			w = ((unsigned __int128)b << bits | a);
			if (sz == 2 && cnt > 16)
				w |= (unsigned __int128)a << 32;
			r = (uint64_t)(w >> cnt) & m;
			cf = (uint64_t)(w >> (cnt - 1)) & 1;
		}
	}
	r &= m;
	f = szp_flags(r, sz) | (cf ? FL_CF : 0);
	if (((r ^ a) >> top) & 1)
		f |= FL_OF;
	cpu_rmw_write(c, i, sz, r);
	cc_eager(c, f);
}

void cpu_exec_init_shift(void);
void cpu_exec_init_shift(void)
{
	cpu_handlers[0xc0] = cpu_handlers[0xc1] = h_grp2_imm;
	cpu_handlers[0xd0] = cpu_handlers[0xd1] = h_grp2_1;
	cpu_handlers[0xd2] = cpu_handlers[0xd3] = h_grp2_cl;
	cpu_handlers[OP_0F + 0xa4] = cpu_handlers[OP_0F + 0xa5] = h_shd;
	cpu_handlers[OP_0F + 0xac] = cpu_handlers[OP_0F + 0xad] = h_shd;
}
