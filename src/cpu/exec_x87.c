/* x87 FPU (Intel SDM Vol. 1 chapter 8, Vol. 2): loads, stores, integer
 * conversions, arithmetic, compares (FCOM/FUCOM/FCOMI/FUCOMI), FXCH,
 * FCMOVcc, constants, transcendental instructions, control/status/
 * environment instructions. Registers are the host's 80-bit long double;
 * every computation runs on the host FPU under the guest's control word
 * (precision and rounding control, all exceptions masked), and the status
 * flags the host raises are merged into the guest FSW. An exception the
 * guest left unmasked sets ES/B and is reported as #MF by the next waiting
 * x87 instruction (Vol. 1 §8.6). */
#include <math.h>

#include "cpu/cpu_int.h"

#define SW_IE 0x0001
#define SW_SF 0x0040
#define SW_ES 0x0080
#define SW_C0 0x0100
#define SW_C1 0x0200
#define SW_C2 0x0400
#define SW_C3 0x4000
#define SW_B 0x8000
#define SW_CC (SW_C0 | SW_C1 | SW_C2 | SW_C3)

static inline unsigned x87_top(const struct cpu *c)
{
	return (c->fsw >> 11) & 7;
}

static inline void x87_set_top(struct cpu *c, unsigned top)
{
	c->fsw = (uint16_t)((c->fsw & ~0x3800) | ((top & 7) << 11));
}

static inline unsigned phys(const struct cpu *c, unsigned i)
{
	return (x87_top(c) + i) & 7;
}

static long double indefinite(void)
{
	long double v = 0;
	uint64_t mant = 0xc000000000000000ULL;
	uint16_t se = 0xffff;

	memcpy(&v, &mant, 8);
	memcpy((uint8_t *)&v + 8, &se, 2);
	return v;
}

static void check_exc(struct cpu *c)
{
	if (c->fsw & ~c->fcw & 0x3f)
		c->fsw |= SW_ES | SW_B;
	else
		c->fsw &= (uint16_t)~(SW_ES | SW_B);
}

static void stack_fault(struct cpu *c, bool overflow)
{
	c->fsw |= SW_IE | SW_SF;
	c->fsw = (uint16_t)((c->fsw & ~SW_C1) | (overflow ? SW_C1 : 0));
	check_exc(c);
}

static long double st_get(struct cpu *c, unsigned i)
{
	unsigned p = phys(c, i);

	if (c->ftw_empty & (1u << p)) {
		stack_fault(c, false);
		return indefinite();
	}
	return c->st[p];
}

static void st_set(struct cpu *c, unsigned i, long double v)
{
	unsigned p = phys(c, i);

	c->st[p] = v;
	c->ftw_empty &= (uint16_t)~(1u << p);
}

static void x87_push(struct cpu *c, long double v)
{
	unsigned top = (x87_top(c) - 1) & 7;

	if (!(c->ftw_empty & (1u << top))) {
		stack_fault(c, true);
		v = indefinite();
	}
	x87_set_top(c, top);
	c->st[top] = v;
	c->ftw_empty &= (uint16_t)~(1u << top);
}

static void x87_pop(struct cpu *c)
{
	unsigned top = x87_top(c);

	c->ftw_empty |= (uint16_t)(1u << top);
	x87_set_top(c, top + 1);
}

/* Run host FPU work under the guest control word. The asm statements
 * clobber memory, so the loads and stores of c->st[] between them stay
 * between them. */
static inline uint16_t x87_begin(struct cpu *c)
{
	uint16_t host, cw = c->fcw | 0x3f;

	__asm__ volatile("fnstcw %0\n\tfnclex\n\tfldcw %1" : "=m"(host) : "m"(cw) : "memory");
	return host;
}

static inline void x87_end(struct cpu *c, uint16_t host)
{
	uint16_t sw;

	__asm__ volatile("fnstsw %0\n\tfnclex\n\tfldcw %1" : "=m"(sw) : "m"(host) : "memory");
	c->fsw = (uint16_t)((c->fsw & ~SW_C1) | (sw & (0x3f | SW_C1)));
	check_exc(c);
}

/* Waiting instructions report a pending unmasked exception first. */
static inline void x87_wait(struct cpu *c)
{
	if (c->fsw & SW_ES)
		cpu_raise(c, CPU_VEC_MF, 0);
}

static void note_insn(struct cpu *c, const struct insn *i)
{
	c->fop = (uint16_t)((((i->op - OP_X87) >> 3) & 7) << 8 | i->modrm);
	c->fip = c->cur_rip;
	if (i->flags & IF_MEM)
		c->fdp = insn_ea(c, i);
}

static inline bool is_snan(long double v)
{
	uint64_t m;
	uint16_t se;

	memcpy(&m, &v, 8);
	memcpy(&se, (uint8_t *)&v + 8, 2);
	return (se & 0x7fff) == 0x7fff && (m & 0x7fffffffffffffffULL) && !(m & 0x4000000000000000ULL);
}

/* Arithmetic by ModRM.reg: 0 ADD, 1 MUL, 4 SUB, 5 SUBR, 6 DIV, 7 DIVR. */
static void arith(struct cpu *c, unsigned op, unsigned dst, long double a, long double b)
{
	uint16_t h = x87_begin(c);
	unsigned p = phys(c, dst);

	switch (op) {
	case 0: c->st[p] = a + b; break;
	case 1: c->st[p] = a * b; break;
	case 4: c->st[p] = a - b; break;
	case 5: c->st[p] = b - a; break;
	case 6: c->st[p] = a / b; break;
	default: c->st[p] = b / a; break;
	}
	x87_end(c, h);
	c->ftw_empty &= (uint16_t)~(1u << p);
}

/* FCOM/FUCOM: C3 C2 C0 = 000 (>), 001 (<), 100 (=), 111 (unordered).
 * Returns the same pattern as ZF PF CF for FCOMI. */
static uint64_t compare(struct cpu *c, long double a, long double b, bool unordered_ok)
{
	uint64_t f;

	if (isnan(a) || isnan(b)) {
		if (!unordered_ok || is_snan(a) || is_snan(b)) {
			c->fsw |= SW_IE;
			check_exc(c);
		}
		f = FL_ZF | FL_PF | FL_CF;
	} else if (a > b) {
		f = 0;
	} else if (a < b) {
		f = FL_CF;
	} else {
		f = FL_ZF;
	}
	return f;
}

static void set_cc_from(struct cpu *c, uint64_t f)
{
	c->fsw = (uint16_t)((c->fsw & ~SW_CC) | ((f & FL_CF) ? SW_C0 : 0) |
			    ((f & FL_PF) ? SW_C2 : 0) | ((f & FL_ZF) ? SW_C3 : 0));
}

static long double load_mem(struct cpu *c, uint64_t addr, unsigned kind)
{
	switch (kind) {
	case 0: { /* m32fp */
		uint32_t u = (uint32_t)mem_read(c, addr, 4);
		float f;
		long double v;
		uint16_t h;

		memcpy(&f, &u, 4);
		h = x87_begin(c); /* SNaN loads raise IE */
		v = f;
		x87_end(c, h);
		return v;
	}
	case 1: { /* m64fp */
		uint64_t u = mem_read(c, addr, 8);
		double d;
		long double v;
		uint16_t h;

		memcpy(&d, &u, 8);
		h = x87_begin(c);
		v = d;
		x87_end(c, h);
		return v;
	}
	case 2: return (long double)(int32_t)mem_read(c, addr, 4);
	case 3: return (long double)(int16_t)mem_read(c, addr, 2);
	case 4: return (long double)(int64_t)mem_read(c, addr, 8);
	default: {
		long double v = 0;

		mem_read_buf(c, addr, &v, 10);
		return v;
	}
	}
}

/* FIST/FISTP under the guest rounding mode: the host instruction gives the
 * exact result, including the integer indefinite and IE on overflow. */
static uint64_t fist(struct cpu *c, long double v, int size)
{
	uint16_t cw = c->fcw | 0x3f, host, sw;
	int16_t r16 = 0;
	int32_t r32 = 0;
	int64_t r64 = 0;

	switch (size) {
	case 2:
		__asm__ volatile("fnstcw %[h]\n\tfnclex\n\tfldcw %[cw]\n\tfldt %[v]\n\tfistps %[r]\n\t"
				 "fnstsw %[sw]\n\tfnclex\n\tfldcw %[h]"
				 : [h] "=m"(host), [r] "=m"(r16), [sw] "=m"(sw)
				 : [cw] "m"(cw), [v] "m"(v));
		break;
	case 4:
		__asm__ volatile("fnstcw %[h]\n\tfnclex\n\tfldcw %[cw]\n\tfldt %[v]\n\tfistpl %[r]\n\t"
				 "fnstsw %[sw]\n\tfnclex\n\tfldcw %[h]"
				 : [h] "=m"(host), [r] "=m"(r32), [sw] "=m"(sw)
				 : [cw] "m"(cw), [v] "m"(v));
		break;
	default:
		__asm__ volatile("fnstcw %[h]\n\tfnclex\n\tfldcw %[cw]\n\tfldt %[v]\n\tfistpll %[r]\n\t"
				 "fnstsw %[sw]\n\tfnclex\n\tfldcw %[h]"
				 : [h] "=m"(host), [r] "=m"(r64), [sw] "=m"(sw)
				 : [cw] "m"(cw), [v] "m"(v));
		break;
	}
	c->fsw = (uint16_t)((c->fsw & ~SW_C1) | (sw & (0x3f | SW_C1)));
	check_exc(c);
	return size == 2 ? (uint16_t)r16 : size == 4 ? (uint32_t)r32 : (uint64_t)r64;
}

/* Full tag word for FNSTENV/FNSAVE: 00 valid, 01 zero, 10 special, 11 empty. */
static uint16_t full_tags(struct cpu *c)
{
	uint16_t tw = 0;

	for (unsigned p = 0; p < 8; p++) {
		unsigned t;

		if (c->ftw_empty & (1u << p)) {
			t = 3;
		} else {
			uint16_t se;
			uint64_t m;

			memcpy(&m, &c->st[p], 8);
			memcpy(&se, (uint8_t *)&c->st[p] + 8, 2);
			if ((se & 0x7fff) == 0 && m == 0)
				t = 1;
			else if ((se & 0x7fff) == 0x7fff || (se & 0x7fff) == 0 || !(m >> 63))
				t = 2;
			else
				t = 0;
		}
		tw |= (uint16_t)(t << (2 * p));
	}
	return tw;
}

/* 28-byte protected-mode environment (Vol. 1 §8.1.10, Figure 8-9). */
static void store_env(struct cpu *c, uint64_t addr)
{
	uint32_t env[7] = { c->fcw | 0xffff0000u, c->fsw | 0xffff0000u, full_tags(c) | 0xffff0000u,
			    (uint32_t)c->fip, (uint32_t)c->fop << 16, (uint32_t)c->fdp, 0xffff0000u };

	mem_write_buf(c, addr, env, sizeof(env));
}

static void load_env(struct cpu *c, uint64_t addr)
{
	uint32_t env[7];

	mem_read_buf(c, addr, env, sizeof(env));
	c->fcw = (uint16_t)env[0];
	c->fsw = (uint16_t)env[1];
	c->ftw_empty = 0;
	for (unsigned p = 0; p < 8; p++)
		if (((env[2] >> (2 * p)) & 3) == 3)
			c->ftw_empty |= (uint16_t)(1u << p);
	c->fip = env[3];
	c->fop = (uint16_t)((env[4] >> 16) & 0x7ff);
	c->fdp = env[5];
	check_exc(c);
}

static void fninit(struct cpu *c)
{
	c->fcw = 0x37f;
	c->fsw = 0;
	c->ftw_empty = 0xff;
	c->fip = c->fdp = 0;
	c->fop = 0;
}

static void h_x87_mem(struct cpu *c, const struct insn *i)
{
	unsigned slot = i->op - OP_X87, opc = slot >> 3, reg = slot & 7;
	uint64_t addr = insn_ea(c, i);
	long double v;

	/* Control instructions that do not wait. */
	if (opc == 1 && reg >= 4) { /* D9 /4 FLDENV /5 FLDCW /6 FNSTENV /7 FNSTCW */
		switch (reg) {
		case 4: load_env(c, addr); return;
		case 5: c->fcw = (uint16_t)mem_read(c, addr, 2); check_exc(c); return;
		case 6: store_env(c, addr); c->fcw |= 0x3f; return;
		default: mem_write(c, addr, 2, c->fcw); return;
		}
	}
	if (opc == 5 && reg == 7) { /* DD /7 FNSTSW m16 */
		mem_write(c, addr, 2, c->fsw);
		return;
	}
	if (opc == 5 && reg == 6) { /* FNSAVE: env + 8 registers, then FNINIT */
		uint8_t regs[80];

		for (unsigned k = 0; k < 8; k++)
			memcpy(regs + 10 * k, &c->st[phys(c, k)], 10);
		mem_write_buf(c, addr + 28, regs, 80);
		store_env(c, addr);
		fninit(c);
		return;
	}
	if (opc == 5 && reg == 4) { /* FRSTOR */
		uint8_t regs[80];

		mem_read_buf(c, addr + 28, regs, 80);
		load_env(c, addr);
		for (unsigned k = 0; k < 8; k++) {
			long double t = 0;

			memcpy(&t, regs + 10 * k, 10);
			c->st[phys(c, k)] = t;
		}
		return;
	}
	x87_wait(c);
	note_insn(c, i);
	switch (opc) {
	case 0: case 2: case 4: case 6: { /* arithmetic with m32fp, m32int, m64fp, m16int */
		static const unsigned kind[8] = { 0, 0, 2, 0, 1, 0, 3, 0 };

		v = load_mem(c, addr, kind[opc]);
		if (reg == 2 || reg == 3) {
			set_cc_from(c, compare(c, st_get(c, 0), v, false));
			if (reg == 3)
				x87_pop(c);
			return;
		}
		arith(c, reg, 0, st_get(c, 0), v);
		return;
	}
	case 1: /* D9: FLD m32, FST m32, FSTP m32 */
		if (reg == 0) {
			x87_push(c, load_mem(c, addr, 0));
			return;
		}
		if (reg == 2 || reg == 3) {
			long double s = st_get(c, 0);
			uint16_t h = x87_begin(c);
			volatile float f = (float)s;
			uint32_t u;

			x87_end(c, h);
			memcpy(&u, (const void *)&f, 4);
			mem_write(c, addr, 4, u);
			if (reg == 3)
				x87_pop(c);
			return;
		}
		break;
	case 3: /* DB: FILD m32, FIST(P) m32, FLD m80, FSTP m80 */
		switch (reg) {
		case 0: x87_push(c, load_mem(c, addr, 2)); return;
		case 2: case 3:
			mem_write(c, addr, 4, fist(c, st_get(c, 0), 4));
			if (reg == 3)
				x87_pop(c);
			return;
		case 5: x87_push(c, load_mem(c, addr, 5)); return;
		case 7:
			v = st_get(c, 0);
			mem_write_buf(c, addr, &v, 10);
			x87_pop(c);
			return;
		default: break;
		}
		break;
	case 5: /* DD: FLD m64, FST m64, FSTP m64 */
		if (reg == 0) {
			x87_push(c, load_mem(c, addr, 1));
			return;
		}
		if (reg == 2 || reg == 3) {
			long double s = st_get(c, 0);
			uint16_t h = x87_begin(c);
			volatile double d = (double)s;
			uint64_t u;

			x87_end(c, h);
			memcpy(&u, (const void *)&d, 8);
			mem_write(c, addr, 8, u);
			if (reg == 3)
				x87_pop(c);
			return;
		}
		break;
	case 7: /* DF: FILD m16, FIST(P) m16, FILD m64, FISTP m64 */
		switch (reg) {
		case 0: x87_push(c, load_mem(c, addr, 3)); return;
		case 2: case 3:
			mem_write(c, addr, 2, fist(c, st_get(c, 0), 2));
			if (reg == 3)
				x87_pop(c);
			return;
		case 5: x87_push(c, load_mem(c, addr, 4)); return;
		case 7:
			mem_write(c, addr, 8, fist(c, st_get(c, 0), 8));
			x87_pop(c);
			return;
		default: break;
		}
		break;
	default:
		break;
	}
	cpu_ud(c); /* FISTTP (SSE3), FBLD/FBSTP: not implemented, not advertised */
}

/* One-operand host instructions on ST(0). */
#define UNARY(insn)                                                                                \
	do {                                                                                       \
		long double x = st_get(c, 0);                                                      \
		uint16_t h = x87_begin(c);                                                         \
		__asm__ volatile(insn : "+t"(x));                                                  \
		c->st[phys(c, 0)] = x;                                                             \
		x87_end(c, h);                                                                     \
	} while (0)

static void fxam(struct cpu *c)
{
	unsigned p = phys(c, 0);
	long double v = c->st[p];
	uint16_t se, cc;
	uint64_t m;

	memcpy(&m, &v, 8);
	memcpy(&se, (uint8_t *)&v + 8, 2);
	if (c->ftw_empty & (1u << p))
		cc = SW_C3 | SW_C0;
	else if ((se & 0x7fff) == 0x7fff)
		cc = (m << 1) ? SW_C0 : (m >> 63) ? SW_C2 | SW_C0 : 0;
	else if ((se & 0x7fff) == 0)
		cc = m == 0 ? SW_C3 : SW_C3 | SW_C2;
	else
		cc = (m >> 63) ? SW_C2 : 0;
	if (se & 0x8000)
		cc |= SW_C1;
	c->fsw = (uint16_t)((c->fsw & ~SW_CC) | cc);
}

static void h_x87_reg(struct cpu *c, const struct insn *i)
{
	unsigned slot = i->op - OP_X87 - 0x40, opc = slot >> 3, reg = slot & 7, r = i->modrm & 7;
	long double a, b;

	/* Non-waiting control forms. */
	if (opc == 3 && reg == 4) {
		if (r == 2) { /* FNCLEX */
			c->fsw &= 0x7f00;
			return;
		}
		if (r == 3) { /* FNINIT */
			fninit(c);
			return;
		}
		cpu_ud(c);
	}
	if (opc == 7 && reg == 4 && r == 0) { /* FNSTSW AX */
		c->gpr[0] = (c->gpr[0] & ~0xffffULL) | c->fsw;
		return;
	}
	x87_wait(c);
	note_insn(c, i);
	switch (opc) {
	case 0: /* D8: ST(0) op= ST(i); FCOM/FCOMP */
		if (reg == 2 || reg == 3) {
			set_cc_from(c, compare(c, st_get(c, 0), st_get(c, r), false));
			if (reg == 3)
				x87_pop(c);
			return;
		}
		arith(c, reg, 0, st_get(c, 0), st_get(c, r));
		return;
	case 4: /* DC: ST(i) op= ST(0), with SUB/SUBR and DIV/DIVR swapped */
	case 6: /* DE: same, then pop; DE D9 is FCOMPP */
		if (reg == 2 || reg == 3) {
			if (opc == 6 && !(reg == 3 && r == 1))
				cpu_ud(c);
			set_cc_from(c, compare(c, st_get(c, 0), st_get(c, r), false));
			if (reg == 3)
				x87_pop(c); /* FCOMP (DC D8+i alias), FCOMPP pops twice */
			if (opc == 6)
				x87_pop(c);
			return;
		}
		arith(c, reg >= 4 ? reg ^ 1 : reg, r, st_get(c, r), st_get(c, 0));
		if (opc == 6)
			x87_pop(c);
		return;
	case 1: /* D9 */
		switch (reg) {
		case 0: x87_push(c, st_get(c, r)); return;
		case 1: /* FXCH */
			a = st_get(c, 0), b = st_get(c, r);
			st_set(c, 0, b), st_set(c, r, a);
			return;
		case 2:
			if (r == 0)
				return; /* FNOP */
			break;
		case 4:
			switch (r) {
			case 0: st_set(c, 0, -st_get(c, 0)); return;
			case 1: st_set(c, 0, fabsl(st_get(c, 0))); return;
			case 4: set_cc_from(c, compare(c, st_get(c, 0), 0.0L, false)); return;
			case 5: fxam(c); return;
			default: break;
			}
			break;
		case 5: {
			long double k = 0;
			uint16_t h;

			if (r == 7)
				break;
			h = x87_begin(c);
			switch (r) {
			case 0: __asm__ volatile("fld1" : "=t"(k)); break;
			case 1: __asm__ volatile("fldl2t" : "=t"(k)); break;
			case 2: __asm__ volatile("fldl2e" : "=t"(k)); break;
			case 3: __asm__ volatile("fldpi" : "=t"(k)); break;
			case 4: __asm__ volatile("fldlg2" : "=t"(k)); break;
			case 5: __asm__ volatile("fldln2" : "=t"(k)); break;
			default: __asm__ volatile("fldz" : "=t"(k)); break;
			}
			x87_end(c, h);
			x87_push(c, k);
			return;
		}
		case 6:
			switch (r) {
			case 0: UNARY("f2xm1"); return;
			case 1: case 3: case 5: { /* FYL2X, FPATAN, FPREM1 style binaries */
				long double x = st_get(c, 0), y = st_get(c, 1), res;
				uint16_t h = x87_begin(c), sw = 0;

				if (r == 1) {
					__asm__ volatile("fyl2x" : "=t"(res) : "0"(x), "u"(y) : "st(1)");
				} else if (r == 3) {
					__asm__ volatile("fpatan" : "=t"(res) : "0"(x), "u"(y) : "st(1)");
				} else {
					__asm__ volatile("fprem1\n\tfnstsw %%ax" : "=t"(res), "=a"(sw)
							 : "0"(x), "u"(y));
					c->st[phys(c, 0)] = res;
					x87_end(c, h);
					c->fsw = (uint16_t)((c->fsw & ~SW_CC) | (sw & SW_CC));
					return;
				}
				x87_end(c, h);
				x87_pop(c);
				st_set(c, 0, res);
				return;
			}
			case 2: { /* FPTAN: ST0 = tan, push 1 */
				long double x = st_get(c, 0), one, t;
				uint16_t h = x87_begin(c), sw;

				__asm__ volatile("fptan\n\tfnstsw %%ax" : "=t"(one), "=u"(t), "=a"(sw) : "0"(x));
				x87_end(c, h);
				c->fsw = (uint16_t)((c->fsw & ~SW_C2) | (sw & SW_C2));
				if (sw & SW_C2)
					return; /* out of range: unchanged */
				st_set(c, 0, t);
				x87_push(c, one);
				return;
			}
			case 4: { /* FXTRACT */
				long double x = st_get(c, 0), sig, ex;
				uint16_t h = x87_begin(c);

				__asm__ volatile("fxtract" : "=t"(sig), "=u"(ex) : "0"(x));
				x87_end(c, h);
				st_set(c, 0, ex);
				x87_push(c, sig);
				return;
			}
			case 6: /* FDECSTP */
				x87_set_top(c, x87_top(c) - 1);
				c->fsw &= (uint16_t)~SW_C1;
				return;
			default: /* FINCSTP */
				x87_set_top(c, x87_top(c) + 1);
				c->fsw &= (uint16_t)~SW_C1;
				return;
			}
		default: /* reg 7 */
			switch (r) {
			case 0: case 5: { /* FPREM, FSCALE (ST1 unchanged) */
				long double x = st_get(c, 0), y = st_get(c, 1), res;
				uint16_t h = x87_begin(c), sw = 0;

				if (r == 0)
					__asm__ volatile("fprem\n\tfnstsw %%ax" : "=t"(res), "=a"(sw)
							 : "0"(x), "u"(y));
				else
					__asm__ volatile("fscale" : "=t"(res) : "0"(x), "u"(y));
				c->st[phys(c, 0)] = res;
				x87_end(c, h);
				if (r == 0)
					c->fsw = (uint16_t)((c->fsw & ~SW_CC) | (sw & SW_CC));
				return;
			}
			case 1: { /* FYL2XP1 */
				long double x = st_get(c, 0), y = st_get(c, 1), res;
				uint16_t h = x87_begin(c);

				__asm__ volatile("fyl2xp1" : "=t"(res) : "0"(x), "u"(y) : "st(1)");
				x87_end(c, h);
				x87_pop(c);
				st_set(c, 0, res);
				return;
			}
			case 2: UNARY("fsqrt"); return;
			case 3: { /* FSINCOS */
				long double x = st_get(c, 0), s, co;
				uint16_t h = x87_begin(c), sw;

				__asm__ volatile("fsincos\n\tfnstsw %%ax" : "=t"(co), "=u"(s), "=a"(sw) : "0"(x));
				x87_end(c, h);
				c->fsw = (uint16_t)((c->fsw & ~SW_C2) | (sw & SW_C2));
				if (sw & SW_C2)
					return;
				st_set(c, 0, s);
				x87_push(c, co);
				return;
			}
			case 4: UNARY("frndint"); return;
			case 6: UNARY("fsin"); return;
			default: UNARY("fcos"); return;
			}
		}
		break;
	case 2: /* DA: FCMOVB/E/BE/U; FUCOMPP */
	case 3: { /* DB: FCMOVNB/NE/NBE/NU; FUCOMI; FCOMI */
		static const uint8_t cc[4] = { 2, 4, 6, 0xa }; /* B, E, BE, P */

		if (reg < 4) {
			bool t = cpu_cond(c, cc[reg] ^ (opc == 3));

			if (t)
				st_set(c, 0, st_get(c, r));
			return;
		}
		if (opc == 2 && reg == 5 && r == 1) { /* FUCOMPP */
			set_cc_from(c, compare(c, st_get(c, 0), st_get(c, 1), true));
			x87_pop(c);
			x87_pop(c);
			return;
		}
		if (opc == 3 && (reg == 5 || reg == 6)) {
			cpu_set_flags_arith(c, compare(c, st_get(c, 0), st_get(c, r), reg == 5));
			return;
		}
		break;
	}
	case 5: /* DD: FFREE, FST, FSTP, FUCOM, FUCOMP */
		switch (reg) {
		case 0: c->ftw_empty |= (uint16_t)(1u << phys(c, r)); return;
		case 2: st_set(c, r, st_get(c, 0)); return;
		case 3: st_set(c, r, st_get(c, 0)); x87_pop(c); return;
		case 4: case 5:
			set_cc_from(c, compare(c, st_get(c, 0), st_get(c, r), true));
			if (reg == 5)
				x87_pop(c);
			return;
		default: break;
		}
		break;
	default: /* DF: FUCOMIP, FCOMIP */
		if (reg == 5 || reg == 6) {
			cpu_set_flags_arith(c, compare(c, st_get(c, 0), st_get(c, r), reg == 5));
			x87_pop(c);
			return;
		}
		break;
	}
	cpu_ud(c);
}

/* 9B: FWAIT. */
static void h_fwait(struct cpu *c, const struct insn *i)
{
	x87_wait(c);
}

void cpu_exec_init_x87(void)
{
	for (unsigned k = 0; k < 0x40; k++) {
		cpu_handlers[OP_X87 + k] = h_x87_mem;
		cpu_handlers[OP_X87 + 0x40 + k] = h_x87_reg;
	}
	cpu_handlers[0x9b] = h_fwait;
}
