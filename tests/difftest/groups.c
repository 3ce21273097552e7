/* The test groups: template-driven ones plus custom generators for string
 * instructions, branches, calls, multi-instruction sequences, x87 (random
 * register stack first), invalid/privileged encodings and code fetches that
 * cross the end of the code page. */
#include <stdio.h>
#include <string.h>

#include "directed.h"
#include "tables.h"

static const struct dt_tmpl dt_t_callind[] = {
	T("call r/m64", .op = 0xff, .ext = 2, .form = FM_RM, .osz = OS_NW, .hook = HK_CALLIND,
	  .implicit = 1 << R_SP),
	T("jmp r/m64", .op = 0xff, .ext = 4, .form = FM_RM, .osz = OS_NW, .hook = HK_CALLIND,
	  .implicit = 1 << R_SP),
};

static void dt_gen_x87(struct dt_gen *g)
{
	dt_gen_x87_stack(g);
	const struct dt_group *grp = g->grp;
	unsigned n = 1 + (dt_rng_chance(&g->rng, 30) ? (unsigned)dt_rng_below(&g->rng, 3) : 0);
	for (unsigned i = 0; i < n; i++)
		dt_gen_tmpl(g, &grp->tmpl[dt_rng_below(&g->rng, *grp->ntmpl)]);
}

/* MMX: an x87 stack as for the x87 tests, then integer values biased to
 * lane edges in most significands (MM0-7 are the physical registers R0-7,
 * whatever the tags say), and now and then a pending unmasked x87
 * exception, which an MMX instruction reports as #MF. */
static void dt_gen_mmx(struct dt_gen *g)
{
	static const uint16_t lanes[] = { 0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0x8001,
					  0xff00, 0xff7f, 0xff80, 0xfffe, 0xffff };
	struct dt_rng *r = &g->rng;
	uint8_t *fx = g->v->init.fxsave;
	dt_gen_x87_stack(g);
	for (unsigned i = 0; i < 8; i++) {
		if (dt_rng_chance(r, 20))
			continue; /* keep the x87 value */
		uint64_t m = 0;
		if (dt_rng_chance(r, 50))
			m = dt_gen_value(g);
		else
			for (unsigned k = 0; k < 4; k++)
				m |= (uint64_t)(dt_rng_chance(r, 70)
							? lanes[dt_rng_below(r, sizeof(lanes) / sizeof(lanes[0]))]
							: (uint16_t)dt_rng_next(r)) << (16 * k);
		uint16_t se = dt_rng_chance(r, 70) ? 0xffff : (uint16_t)dt_rng_next(r);
		memcpy(fx + FX_ST(i), &m, 8);
		memcpy(fx + FX_ST(i) + 8, &se, 2);
	}
	if (dt_rng_chance(r, 3)) {
		uint16_t fcw, fsw;
		memcpy(&fcw, fx + FX_FCW, 2);
		memcpy(&fsw, fx + FX_FSW, 2);
		fcw &= (uint16_t)~1;              /* IM clear */
		fsw |= (uint16_t)(0x8000 | 0x81); /* B, ES, IE */
		memcpy(fx + FX_FCW, &fcw, 2);
		memcpy(fx + FX_FSW, &fsw, 2);
	}
	unsigned n = 1 + (dt_rng_chance(r, 30) ? (unsigned)dt_rng_below(r, 3) : 0);
	for (unsigned i = 0; i < n; i++)
		dt_gen_tmpl(g, &g->grp->tmpl[dt_rng_below(r, *g->grp->ntmpl)]);
}

/* Sequences address memory through one base register pointing into the
 * data region, which no instruction of theirs may change. */
static void dt_gen_fixed_base(struct dt_gen *g)
{
	static const int bases[] = { R_BX, R_BP, R_SI, R_DI, R_8, R_9, R_12, R_13, R_15 };
	struct dt_rng *r = &g->rng;
	int b = bases[dt_rng_below(r, sizeof(bases) / sizeof(bases[0]))];
	g->v->init.gpr[b] = DT_DATA_BASE + 0x400 + dt_rng_below(r, 0x1000);
	g->fixed_base = b;
	g->addr_regs = (uint16_t)(1u << b);
}

static void dt_gen_mix(struct dt_gen *g)
{
	struct dt_rng *r = &g->rng;

	dt_gen_fixed_base(g);
	unsigned n = 2 + (unsigned)dt_rng_below(r, 4);
	for (unsigned i = 0; i < n; i++)
		dt_gen_tmpl(g, &dt_t_mix[dt_rng_below(r, dt_n_mix)]);
	snprintf(g->v->name, sizeof(g->v->name), "sequence of %u", n);
}

/* jit.c's territory: 2-9 of its instructions in one block, memory operands
 * on a fixed base, sometimes ending in a Jcc right after an ALU
 * instruction (the host-flag fusion), sometimes an IMUL whose flags the
 * next instruction overwrites. */
static void dt_gen_jitseq(struct dt_gen *g)
{
	struct dt_rng *r = &g->rng;

	dt_gen_fixed_base(g);
	unsigned n = 2 + (unsigned)dt_rng_below(r, 8);
	bool jcc = dt_rng_chance(r, 40);
	for (unsigned i = 0; i < n; i++) {
		unsigned pool = jcc && i == n - 1 ? dt_n_jitseq_alu : dt_n_jitseq;

		if (i + 1 < n && dt_rng_chance(r, 15)) {
			dt_gen_tmpl(g, &dt_t_jitimul[dt_rng_below(r, dt_n_jitimul)]);
			pool = dt_n_jitseq_alu;
			i++;
		}
		dt_gen_tmpl(g, &dt_t_jitseq[dt_rng_below(r, pool)]);
	}
	if (jcc) {
		/* jcc +5 over a marker: both outcomes land on the INT3 */
		uint8_t j[2] = { (uint8_t)(0x70 + dt_rng_below(r, 16)), 5 };
		static const uint8_t marker[] = { 0xb8, 0x78, 0x56, 0x34, 0x12 };
		dt_gen_emit(g, j, sizeof(j));
		dt_gen_emit(g, marker, sizeof(marker));
	}
	snprintf(g->v->name, sizeof(g->v->name), "jit sequence of %u%s", n, jcc ? " + jcc" : "");
}

/* BT/BTS/BTR/BTC, native in jit.c (the flags they keep made eager, CF
 * left in the host's for a JB/JAE right after): after an ALU instruction
 * (host flags) or not, followed by JB/JAE over a marker, another bit
 * operation, or nothing. */
static void dt_gen_jitbit(struct dt_gen *g)
{
	struct dt_rng *r = &g->rng;
	unsigned k = (unsigned)dt_rng_below(r, 3);

	dt_gen_fixed_base(g);
	if (dt_rng_chance(r, 50))
		dt_gen_tmpl(g, &dt_t_jitseq[dt_rng_below(r, dt_n_jitseq_alu)]);
	dt_gen_tmpl(g, &dt_t_bitop[dt_rng_below(r, dt_n_bitop)]);
	if (k == 1)
		dt_gen_tmpl(g, &dt_t_bitop[dt_rng_below(r, dt_n_bitop)]);
	if (k <= 1) {
		uint8_t j[2] = { (uint8_t)(0x72 + dt_rng_below(r, 2)), 5 };
		static const uint8_t marker[] = { 0xb8, 0x78, 0x56, 0x34, 0x12 };
		dt_gen_emit(g, j, sizeof(j));
		dt_gen_emit(g, marker, sizeof(marker));
	}
	snprintf(g->v->name, sizeof(g->v->name), "jit bit operation%s", k <= 1 ? " + jb/jae" : "");
}

static void dt_gen_string(struct dt_gen *g)
{
	static const uint8_t ops[] = { 0xa4, 0xa5, 0xa6, 0xa7, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf };
	static const char *const names[] = { "movs", "cmps", "test", "stos", "lods", "scas" };
	struct dt_rng *r = &g->rng;
	struct dt_vector *v = g->v;
	uint8_t op = ops[dt_rng_below(r, sizeof(ops))];
	unsigned os = (op & 1) ? (unsigned[]){ 2, 4, 8, 8, 4 }[dt_rng_below(r, 5)] : 1;
	bool cmp = op == 0xa6 || op == 0xa7 || op == 0xae || op == 0xaf;
	bool a32 = dt_rng_chance(r, 15);
	uint8_t rep = 0;
	unsigned k = (unsigned)dt_rng_below(r, 100);
	if (cmp)
		rep = k < 30 ? 0 : k < 65 ? 0xf3 : 0xf2;
	else
		rep = k < 35 ? 0 : 0xf3;
	uint8_t buf[8];
	unsigned n = 0;
	if (a32)
		buf[n++] = 0x67;
	if (rep)
		buf[n++] = rep;
	if (os == 2)
		buf[n++] = 0x66;
	if (os == 8)
		buf[n++] = 0x48;
	buf[n++] = op;

	uint64_t cnt;
	k = (unsigned)dt_rng_below(r, 100);
	if (k < 15)
		cnt = 0;
	else if (k < 65)
		cnt = 1 + dt_rng_below(r, 24);
	else if (k < 90)
		cnt = 25 + dt_rng_below(r, 300);
	else
		cnt = 0x400 + dt_rng_below(r, 0x2000); /* runs off the region: fault mid-way */
	bool df = v->init.rflags & F_DF;
	uint64_t span = (rep ? cnt : 1) * os;
	uint64_t ptr[2];
	for (int i = 0; i < 2; i++) {
		uint64_t lim = DT_DATA_SIZE - os;
		uint64_t off;
		if (span <= lim && dt_rng_chance(r, 85)) {
			off = dt_rng_below(r, lim - span + 1);
			if (df)
				off += span - os;
		} else {
			off = dt_rng_below(r, lim + 1);
		}
		if (dt_rng_chance(r, 70))
			off &= ~(uint64_t)(os - 1);
		ptr[i] = DT_DATA_BASE + off;
	}
	if (cmp && dt_rng_chance(r, 70)) {
		/* Equal prefix so REPE runs a while, then maybe a difference. */
		uint64_t len = dt_rng_below(r, span + 1);
		for (uint64_t i = 0; i < len; i++) {
			int64_t d = df ? -(int64_t)i + (int64_t)os - 1 : (int64_t)i;
			uint64_t s = ptr[0] + (uint64_t)d, t = ptr[1] + (uint64_t)d;
			if (s >= DT_DATA_BASE && s < DT_DATA_BASE + DT_DATA_SIZE &&
			    t >= DT_DATA_BASE && t < DT_DATA_BASE + DT_DATA_SIZE)
				v->data[t - DT_DATA_BASE] = v->data[s - DT_DATA_BASE];
		}
		if (op >= 0xae) { /* SCAS: accumulator equal to some element */
			uint64_t val = 0;
			for (unsigned i = 0; i < os; i++)
				if (ptr[1] + i < DT_DATA_BASE + DT_DATA_SIZE)
					val |= (uint64_t)v->data[ptr[1] + i - DT_DATA_BASE] << (8 * i);
			uint64_t m = os == 8 ? ~0ULL : (1ULL << (8 * os)) - 1;
			v->init.gpr[R_AX] = (v->init.gpr[R_AX] & ~m) | (val & m);
			if (len == 0 && dt_rng_chance(r, 50))
				v->init.gpr[R_AX] ^= 1;
		}
	}
	v->init.gpr[R_SI] = ptr[0];
	v->init.gpr[R_DI] = ptr[1];
	v->init.gpr[R_CX] = cnt;
	if (a32) {
		for (int i = R_CX; i <= R_DI; i++)
			if ((i == R_CX || i == R_SI || i == R_DI) && dt_rng_chance(r, 60))
				v->init.gpr[i] |= dt_rng_next(r) << 32;
	}
	dt_gen_emit(g, buf, n);
	snprintf(v->name, sizeof(v->name), "%s%s%s%u%s", rep == 0xf3 ? (cmp ? "repe " : "rep ") :
							 rep == 0xf2 ? "repne " : "",
		 names[(op - 0xa4) / 2], os == 1 ? "b" : "", os * 8, a32 ? " a32" : "");
}

static void dt_gen_branch(struct dt_gen *g)
{
	struct dt_rng *r = &g->rng;
	struct dt_vector *v = g->v;
	uint8_t buf[8];
	unsigned n = 0, kind = (unsigned)dt_rng_below(r, 10);
	const char *name;
	if (kind < 4) {
		buf[n++] = (uint8_t)(0x70 + dt_rng_below(r, 16));
		buf[n++] = 5;
		name = "jcc rel8";
	} else if (kind < 6) {
		buf[n++] = 0x0f;
		buf[n++] = (uint8_t)(0x80 + dt_rng_below(r, 16));
		buf[n++] = 5;
		buf[n++] = 0;
		buf[n++] = 0;
		buf[n++] = 0;
		name = "jcc rel32";
	} else {
		static const uint8_t lo[] = { 0xe3, 0xe2, 0xe1, 0xe0 };
		static const char *const ln[] = { "jrcxz", "loop", "loope", "loopne" };
		unsigned i = (unsigned)dt_rng_below(r, 4);
		if (dt_rng_chance(r, 25))
			buf[n++] = 0x67; /* ECX */
		buf[n++] = lo[i];
		buf[n++] = 5;
		name = ln[i];
		static const uint64_t cx[] = { 0, 1, 2, 0x100000000ULL, 0x100000001ULL, ~0ULL };
		v->init.gpr[R_CX] = dt_rng_chance(r, 70) ? cx[dt_rng_below(r, 6)] : dt_gen_value(g);
	}
	dt_gen_emit(g, buf, n);
	static const uint8_t marker[] = { 0xb8, 0x78, 0x56, 0x34, 0x12 }; /* mov eax, imm32 */
	dt_gen_emit(g, marker, sizeof(marker));
	snprintf(v->name, sizeof(v->name), "%s", name);
}

static void dt_gen_call(struct dt_gen *g)
{
	struct dt_rng *r = &g->rng;
	struct dt_vector *v = g->v;
	v->cmp |= DT_CMP_SP_JUNK;
	if (dt_rng_chance(r, 50)) {
		dt_gen_tmpl(g, &dt_t_callind[dt_rng_below(r, 2)]);
		return;
	}
	v->init.gpr[R_SP] = DT_DATA_BASE + 0x100 + 8 * dt_rng_below(r, 0x300);
	if (dt_rng_chance(r, 5))
		v->init.gpr[R_SP] = DT_DATA_BASE + dt_rng_below(r, 8);
	int32_t d = dt_rng_chance(r, 70) ? 0 : (int32_t)dt_rng_below(r, 40);
	if (dt_rng_chance(r, 5))
		d = 0x40000000; /* unmapped target */
	uint8_t buf[5] = { 0xe8, (uint8_t)d, (uint8_t)(d >> 8), (uint8_t)(d >> 16),
			   (uint8_t)(d >> 24) };
	dt_gen_emit(g, buf, 5);
	snprintf(v->name, sizeof(v->name), "call rel32");
}

/* Self-modifying code: stores into the code page must take effect on the
 * next execution of the modified bytes, whether they are in the current
 * block, a later one, or a block that already ran (Intel SDM Vol. 3
 * §8.1.3). The emulator's decoded-block cache must be invalidated. */
static void dt_gen_smc(struct dt_gen *g)
{
	struct dt_rng *r = &g->rng;
	struct dt_vector *v = g->v;
	uint64_t base = DT_CODE_BASE + v->code_off;
	unsigned kind = (unsigned)dt_rng_below(r, 3);
	uint8_t k = (uint8_t)dt_rng_next(r);
	v->cmp |= DT_CODE_WRITABLE;
	/* mov byte [rip + disp32], imm8 patching code offset `target` when
	 * placed at code offset `at` */
#define SMC_STORE(at, target, val)                                                                 \
	do {                                                                                       \
		int32_t d_ = (int32_t)((int64_t)(target) - (int64_t)((at) + 7));                   \
		uint8_t s_[7] = { 0xc6, 0x05, (uint8_t)d_, (uint8_t)(d_ >> 8), (uint8_t)(d_ >> 16), \
				  (uint8_t)(d_ >> 24), (val) };                                    \
		dt_gen_emit(g, s_, 7);                                                             \
	} while (0)
	(void)base;
	if (kind == 0) {
		/* the very next instruction's immediate (same block) */
		SMC_STORE(0, 7 + 1, k);
		static const uint8_t mov[] = { 0xb8, 0x11, 0x11, 0x11, 0x11 };
		dt_gen_emit(g, mov, sizeof(mov));
		snprintf(v->name, sizeof(v->name), "smc next insn");
	} else if (kind == 1) {
		/* a loop body patched after its first execution */
		static const uint8_t mov_ecx[] = { 0xb9, 0x03, 0x00, 0x00, 0x00 };
		dt_gen_emit(g, mov_ecx, sizeof(mov_ecx));
		unsigned l = g->pos; /* add eax, imm8 at l; its imm at l + 2 */
		static const uint8_t add[] = { 0x83, 0xc0, 0x01 };
		dt_gen_emit(g, add, sizeof(add));
		SMC_STORE(g->pos, l + 2, k);
		static const uint8_t dec[] = { 0xff, 0xc9 };
		dt_gen_emit(g, dec, sizeof(dec));
		uint8_t jnz[2] = { 0x75, (uint8_t)(int8_t)((int)l - (int)(g->pos + 2)) };
		dt_gen_emit(g, jnz, sizeof(jnz));
		snprintf(v->name, sizeof(v->name), "smc loop body");
	} else {
		/* an instruction after a jump: FF C0 (inc eax) becomes dec eax,
		 * call rax, jmp rax or push rax */
		static const uint8_t modrm[] = { 0xc8, 0xc0, 0xd0, 0xe0, 0xf0 };
		SMC_STORE(0, 7 + 2 + 1, modrm[dt_rng_below(r, 5)]);
		static const uint8_t jmp[] = { 0xeb, 0x00 };
		dt_gen_emit(g, jmp, sizeof(jmp));
		static const uint8_t inc[] = { 0xff, 0xc0 };
		dt_gen_emit(g, inc, sizeof(inc));
		snprintf(v->name, sizeof(v->name), "smc after jump");
	}
#undef SMC_STORE
}

/* Stack instructions whose operands involve RSP itself: PUSH RSP pushes the
 * old value, POP RSP loads the popped value, POP [RSP+d] computes the address
 * after the increment, PUSH [RSP+d] before the decrement (Intel SDM Vol. 2,
 * PUSH/POP). */
static void dt_gen_stack_rsp(struct dt_gen *g)
{
	struct dt_rng *r = &g->rng;
	struct dt_vector *v = g->v;
	v->init.gpr[R_SP] = DT_DATA_BASE + 0x100 + 8 * dt_rng_below(r, 0x3c0);
	if (dt_rng_chance(r, 10))
		v->init.gpr[R_SP] += 1 + dt_rng_below(r, 7);
	uint8_t d = (uint8_t)(dt_rng_below(r, 32) * 8 - 128);
	const uint8_t forms[][6] = {
		{ 2, 0x54 },                     /* push rsp */
		{ 2, 0x5c },                     /* pop rsp */
		{ 5, 0xff, 0x74, 0x24, d },      /* push qword [rsp+d] */
		{ 5, 0x8f, 0x44, 0x24, d },      /* pop qword [rsp+d] */
		{ 5, 0x8f, 0x04, 0x24 },         /* pop qword [rsp] */
		{ 3, 0x66, 0x54 },               /* push sp */
		{ 3, 0x66, 0x5c },               /* pop sp */
		{ 5, 0x48, 0x8d, 0x64, 0x24 },   /* lea rsp, [rsp+d] (d appended) */
		{ 4, 0x48, 0x87, 0xe0 },         /* xchg rax, rsp */
		{ 3, 0xc2, 0x10 },               /* ret 16 (imm high byte appended) */
	};
	unsigned k = (unsigned)dt_rng_below(r, sizeof(forms) / sizeof(forms[0]));
	uint8_t buf[8];
	unsigned n = forms[k][0] - 1;
	memcpy(buf, forms[k] + 1, n);
	if (k == 7)
		buf[n++] = d;
	if (k == 9)
		buf[n++] = 0;
	if (k == 8)
		v->init.gpr[R_AX] = DT_DATA_BASE + 0x800 + 8 * dt_rng_below(r, 64);
	if (k == 9) /* return to the final INT3 */
		for (int i = 0; i < 8; i++)
			v->data[v->init.gpr[R_SP] - DT_DATA_BASE + (uint64_t)i] =
				(uint8_t)((DT_CODE_BASE + v->code_off + n) >> (8 * i));
	dt_gen_emit(g, buf, n);
	snprintf(v->name, sizeof(v->name), "stack form %u", k);
}

/* Runs of PUSH r / POP r, which jit.c turns into one access per run:
 * 2-9 pushes, pops, or pushes then pops, of random registers (now and then
 * RSP, which ends a run), with RSP aligned, misaligned, just above or below
 * the region's inner page boundary (a run across it), or near the region's
 * ends (a fault part way through a run). */
static void dt_gen_stack_run(struct dt_gen *g)
{
	struct dt_rng *r = &g->rng;
	struct dt_vector *v = g->v;
	unsigned k = (unsigned)dt_rng_below(r, 100), kind = (unsigned)dt_rng_below(r, 3);
	uint64_t sp;

	if (k < 45)
		sp = DT_DATA_BASE + 0x100 + 8 * dt_rng_below(r, 0x3c0);
	else if (k < 70)
		sp = DT_DATA_BASE + 0x1000 - 0x40 + 8 * dt_rng_below(r, 16);
	else if (k < 80)
		sp = DT_DATA_BASE + 0x100 + dt_rng_below(r, 0x1e00);
	else if (k < 90)
		sp = DT_DATA_BASE + 8 * dt_rng_below(r, 8);
	else
		sp = DT_DATA_BASE + DT_DATA_SIZE - 8 * dt_rng_below(r, 8);
	v->init.gpr[R_SP] = sp;
	for (unsigned part = 0; part < 2; part++) {
		bool push = kind == 0 || (kind == 2 && part == 0);
		unsigned n = 2 + (unsigned)dt_rng_below(r, 8);

		if (kind < 2 && part == 1)
			break;
		for (unsigned i = 0; i < n; i++) {
			unsigned reg = dt_rng_chance(r, 8) ? R_SP : (unsigned)dt_rng_below(r, 16);
			uint8_t b[2] = { 0x41, (uint8_t)((push ? 0x50 : 0x58) + (reg & 7)) };

			if (reg >= 8)
				dt_gen_emit(g, b, 2);
			else
				dt_gen_emit(g, b + 1, 1);
		}
	}
	snprintf(v->name, sizeof(v->name), "stack run %u", kind);
}

/* FNSTENV/FLDENV/FNSAVE/FRSTOR/FNSTSW/FNSTCW: what glibc's fenv functions use.
 * The stored FPU instruction and data pointers (bytes 12-27 of the
 * environment) are not compared. */
static void dt_gen_x87_env(struct dt_gen *g)
{
	struct dt_rng *r = &g->rng;
	struct dt_vector *v = g->v;
	dt_gen_x87_stack(g);
	uint64_t off = 0x100 + 16 * dt_rng_below(r, 0x100);
	v->init.gpr[R_BX] = DT_DATA_BASE + off;
	unsigned k = (unsigned)dt_rng_below(r, 6);
	static const uint8_t ops[][3] = {
		{ 2, 0xd9, 0x33 }, /* fnstenv [rbx] */
		{ 2, 0xdd, 0x33 }, /* fnsave [rbx] */
		{ 2, 0xd9, 0x23 }, /* fldenv [rbx] */
		{ 2, 0xdd, 0x23 }, /* frstor [rbx] */
		{ 2, 0xd9, 0x33 }, /* fnstenv + fldenv round trip */
		{ 2, 0xdd, 0x33 }, /* fnsave + frstor round trip */
	};
	static const char *const names[] = { "fnstenv", "fnsave", "fldenv", "frstor",
					     "fnstenv+fldenv", "fnsave+frstor" };
	if (k == 2 || k == 3) {
		/* a plausible environment in memory: control, status, full tag word */
		uint8_t *m = v->data + off;
		uint16_t fcw = (uint16_t)(0x40 | (dt_rng_chance(r, 70) ? 0x3f : dt_rng_below(r, 64)) |
					  (unsigned)(dt_rng_below(r, 4) << 10) | 0x300);
		uint16_t fsw = (uint16_t)(dt_rng_below(r, 8) << 11);
		uint16_t ftw = (uint16_t)dt_rng_next(r);
		memset(m, 0, 28);
		memcpy(m, &fcw, 2);
		memcpy(m + 4, &fsw, 2);
		memcpy(m + 8, &ftw, 2);
		if (k == 3)
			for (int i = 0; i < 8; i++)
				dt_gen_x87_value(g, m + 28 + 10 * i);
	}
	uint8_t buf[4];
	memcpy(buf, ops[k] + 1, 2);
	if (dt_rng_chance(r, 30)) { /* REX.W: same formats in 64-bit mode */
		buf[2] = buf[1];
		buf[1] = buf[0];
		buf[0] = 0x48;
		dt_gen_emit(g, buf, 3);
	} else {
		dt_gen_emit(g, buf, 2);
	}
	if (k >= 4) {
		uint8_t back[2] = { ops[k][1], (uint8_t)(ops[k][2] - 0x10) };
		dt_gen_emit(g, back, 2);
		/* the restore reads the pointers back: keep them out of state too */
	}
	v->cmp |= DT_CMP_PF_PAGE;
	v->skip_off = (uint16_t)(off + 12);
	v->skip_len = 16;
	snprintf(v->name, sizeof(v->name), "%s", names[k]);
}

/* Encodings that must fault the same way natively (64-bit mode, CPL3). */
struct dt_fixed {
	const char *name;
	uint8_t len;
	uint8_t bytes[16];
};

static const struct dt_fixed dt_invalid[] = {
	{ "push es", 1, { 0x06 } }, { "pop es", 1, { 0x07 } }, { "push cs", 1, { 0x0e } },
	{ "push ss", 1, { 0x16 } }, { "pop ss", 1, { 0x17 } }, { "push ds", 1, { 0x1e } },
	{ "pop ds", 1, { 0x1f } }, { "daa", 1, { 0x27 } }, { "das", 1, { 0x2f } },
	{ "aaa", 1, { 0x37 } }, { "aas", 1, { 0x3f } }, { "pusha", 1, { 0x60 } },
	{ "popa", 1, { 0x61 } }, { "aam", 2, { 0xd4, 0x0a } }, { "aad", 2, { 0xd5, 0x0a } },
	{ "salc", 1, { 0xd6 } }, { "into", 1, { 0xce } },
	{ "call far", 7, { 0x9a, 0, 0, 0, 0, 0x33, 0 } }, { "jmp far", 7, { 0xea, 0, 0, 0, 0, 0x33, 0 } },
	{ "82 alias", 3, { 0x82, 0xc0, 0x01 } }, { "ud2", 2, { 0x0f, 0x0b } },
	{ "ud1", 3, { 0x0f, 0xb9, 0xc0 } }, { "ud0", 3, { 0x0f, 0xff, 0xc0 } },
	{ "c6 /1", 3, { 0xc6, 0xc8, 0x00 } }, { "fe /2", 2, { 0xfe, 0xd0 } },
	{ "fe /7", 2, { 0xfe, 0xf8 } }, { "ff /7", 2, { 0xff, 0xf8 } },
	{ "callf reg", 2, { 0xff, 0xd8 } }, { "jmpf reg", 2, { 0xff, 0xe8 } },
	{ "lea reg", 2, { 0x8d, 0xc0 } }, { "lock add reg", 3, { 0xf0, 0x01, 0xc0 } },
	{ "lock nop", 2, { 0xf0, 0x90 } }, { "lock mov", 3, { 0xf0, 0x89, 0x03 } },
	{ "lock cmpxchg reg", 4, { 0xf0, 0x0f, 0xb1, 0xc8 } },
	{ "lock inc reg", 3, { 0xf0, 0xff, 0xc0 } },
	{ "cmpxchg8b reg", 3, { 0x0f, 0xc7, 0xc8 } },
	{ "movnti reg", 3, { 0x0f, 0xc3, 0xc0 } }, { "lddqu reg", 4, { 0xf2, 0x0f, 0xf0, 0xc0 } },
	{ "ldmxcsr reg", 3, { 0x0f, 0xae, 0xd0 } }, { "fxsave reg", 3, { 0x0f, 0xae, 0xc0 } },
	{ "mov cr9", 3, { 0x0f, 0x20, 0xc8 } /* CPL check first: #GP */ },
	{ "hlt", 1, { 0xf4 } }, { "cli", 1, { 0xfa } }, { "sti", 1, { 0xfb } },
	{ "in al, imm", 2, { 0xe4, 0x80 } }, { "out imm, al", 2, { 0xe6, 0x80 } },
	{ "in al, dx", 1, { 0xec } }, { "out dx, al", 1, { 0xee } }, { "insb", 1, { 0x6c } },
	{ "outsb", 1, { 0x6e } }, { "clts", 2, { 0x0f, 0x06 } }, { "invd", 2, { 0x0f, 0x08 } },
	{ "wbinvd", 2, { 0x0f, 0x09 } }, { "wrmsr", 2, { 0x0f, 0x30 } },
	{ "rdmsr", 2, { 0x0f, 0x32 } }, { "mov rax, cr0", 3, { 0x0f, 0x20, 0xc0 } },
	{ "mov cr0, rax", 3, { 0x0f, 0x22, 0xc0 } }, { "mov rax, dr0", 3, { 0x0f, 0x21, 0xc0 } },
	{ "swapgs", 3, { 0x0f, 0x01, 0xf8 } }, { "invlpg", 3, { 0x0f, 0x01, 0x38 } },
	{ "lldt", 3, { 0x0f, 0x00, 0xd0 } }, { "ltr", 3, { 0x0f, 0x00, 0xd8 } },
	{ "lgdt", 3, { 0x0f, 0x01, 0x10 } }, { "lidt", 3, { 0x0f, 0x01, 0x18 } },
	{ "sysret", 2, { 0x0f, 0x07 } }, { "sysexit", 2, { 0x0f, 0x35 } },
	{ "int 0x41", 2, { 0xcd, 0x41 } }, { "int1", 1, { 0xf1 } },
	{ "16-byte insn", 16, { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
				0x66, 0x66, 0x66, 0x66, 0x90 } },
	{ "15-byte insn", 15, { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
				0x48, 0x05, 1, 2 } },
};

static void dt_gen_invalid(struct dt_gen *g)
{
	size_t n = sizeof(dt_invalid) / sizeof(dt_invalid[0]);
	const struct dt_fixed *f = &dt_invalid[g->v->index % n];
	dt_gen_emit(g, f->bytes, f->len);
	snprintf(g->v->name, sizeof(g->v->name), "%s", f->name);
}

/* An instruction straddling the end of the code page: the fetch faults at the
 * next page (#PF, fault address = first byte not fetchable). */
static void dt_gen_fetch(struct dt_gen *g)
{
	struct dt_rng *r = &g->rng;
	dt_gen_tmpl(g, &dt_t_alu[dt_rng_below(r, dt_n_alu)]);
	unsigned len = g->pos;
	unsigned k = 1 + (unsigned)dt_rng_below(r, len + 1); /* bytes left on the page */
	g->v->code_off = (uint16_t)(DT_CODE_SIZE - k);
	g->allow_cross = true;
	/* RIP-relative displacements were computed for code_off 0 or the old
	 * offset; the target moves, which is fine: the operand just lands
	 * elsewhere (and faults alike on both sides). */
}

const struct dt_group dt_groups[] = {
	{ .name = "directed-shift", .gen = dt_gen_dir_shift, .min_cases = DT_DIR_SHIFT_N },
	{ .name = "directed-div", .gen = dt_gen_dir_div, .min_cases = 4 * DT_DIR_DIV_N },
	{ .name = "directed-arith", .gen = dt_gen_dir_arith, .min_cases = 8 * DT_DIR_ARITH_N },
	{ .name = "directed-sse", .gen = dt_gen_dir_sse, .min_cases = DT_DIR_SSE_N * 2 },
	{ .name = "directed-x87", .gen = dt_gen_dir_x87, .min_cases = DT_DIR_X87_N * 2 },
	{ .name = "directed-mmx", .gen = dt_gen_dir_mmx, .min_cases = DT_DIR_MMX_N,
	  .need = DT_NEED_MMX },
	{ .name = "alu", .tmpl = dt_t_alu, .ntmpl = &dt_n_alu, .weight = 8 },
	{ .name = "incdec", .tmpl = dt_t_incdec, .ntmpl = &dt_n_incdec, .weight = 2 },
	{ .name = "shift", .tmpl = dt_t_shift, .ntmpl = &dt_n_shift, .weight = 8 },
	{ .name = "shld-shrd", .tmpl = dt_t_shxd, .ntmpl = &dt_n_shxd, .weight = 3 },
	{ .name = "muldiv", .tmpl = dt_t_muldiv, .ntmpl = &dt_n_muldiv, .weight = 5 },
	{ .name = "bitop", .tmpl = dt_t_bitop, .ntmpl = &dt_n_bitop, .weight = 3 },
	{ .name = "bsf-bsr-bswap", .tmpl = dt_t_bitscan, .ntmpl = &dt_n_bitscan, .weight = 2 },
	{ .name = "cmov-setcc", .tmpl = dt_t_cmov, .ntmpl = &dt_n_cmov, .weight = 3 },
	{ .name = "branch", .gen = dt_gen_branch, .weight = 3 },
	{ .name = "call", .gen = dt_gen_call, .weight = 2 },
	{ .name = "mov-lea", .tmpl = dt_t_mov, .ntmpl = &dt_n_mov, .weight = 5 },
	{ .name = "xchg-cmpxchg", .tmpl = dt_t_xchg, .ntmpl = &dt_n_xchg, .weight = 4 },
	{ .name = "cmpxchg16b", .tmpl = dt_t_cx16, .ntmpl = &dt_n_cx16, .weight = 1, .need = DT_NEED_CX16 },
	{ .name = "string", .gen = dt_gen_string, .weight = 6 },
	{ .name = "stack", .tmpl = dt_t_stack, .ntmpl = &dt_n_stack, .weight = 4 },
	{ .name = "stack-rsp", .gen = dt_gen_stack_rsp, .weight = 1 },
	{ .name = "jit-stack-run", .gen = dt_gen_stack_run, .weight = 2 },
	{ .name = "x87-env", .gen = dt_gen_x87_env, .weight = 1 },
	{ .name = "flagops", .tmpl = dt_t_flagops, .ntmpl = &dt_n_flagops, .weight = 1 },
	{ .name = "lahf-sahf", .tmpl = dt_t_lahf, .ntmpl = &dt_n_lahf, .weight = 1, .need = DT_NEED_LAHF },
	{ .name = "sequence", .gen = dt_gen_mix, .weight = 6 },
	{ .name = "jit-sequence", .gen = dt_gen_jitseq, .weight = 8 },
	{ .name = "jit-bitop", .gen = dt_gen_jitbit, .weight = 2 },
	{ .name = "self-modifying-code", .gen = dt_gen_smc, .weight = 1 },
	{ .name = "invalid-privileged", .gen = dt_gen_invalid, .weight = 2 },
	{ .name = "fetch-page-cross", .gen = dt_gen_fetch, .weight = 1 },
	{ .name = "popcnt", .tmpl = dt_t_popcnt, .ntmpl = &dt_n_popcnt, .weight = 1, .need = DT_NEED_POPCNT },
	{ .name = "lzcnt", .tmpl = dt_t_lzcnt, .ntmpl = &dt_n_lzcnt, .weight = 1, .need = DT_NEED_LZCNT },
	{ .name = "tzcnt", .tmpl = dt_t_tzcnt, .ntmpl = &dt_n_tzcnt, .weight = 1, .need = DT_NEED_BMI1 },
	{ .name = "movbe", .tmpl = dt_t_movbe, .ntmpl = &dt_n_movbe, .weight = 1, .need = DT_NEED_MOVBE },
	{ .name = "sse-arith", .tmpl = dt_t_sse_arith, .ntmpl = &dt_n_sse_arith, .weight = 8 },
	{ .name = "sse-cvt", .tmpl = dt_t_sse_cvt, .ntmpl = &dt_n_sse_cvt, .weight = 5 },
	{ .name = "sse-move", .tmpl = dt_t_sse_move, .ntmpl = &dt_n_sse_move, .weight = 4 },
	{ .name = "sse2-int", .tmpl = dt_t_sse2_int, .ntmpl = &dt_n_sse2_int, .weight = 6 },
	{ .name = "sse-state", .tmpl = dt_t_sse_state, .ntmpl = &dt_n_sse_state, .weight = 2 },
	{ .name = "sse-approx", .tmpl = dt_t_sse_approx, .ntmpl = &dt_n_sse_approx, .weight = 1, .approx = true },
	{ .name = "sse3", .tmpl = dt_t_sse3, .ntmpl = &dt_n_sse3, .weight = 1, .need = DT_NEED_SSE3 },
	{ .name = "ssse3", .tmpl = dt_t_ssse3, .ntmpl = &dt_n_ssse3, .weight = 2, .need = DT_NEED_SSSE3 },
	{ .name = "sse4.1", .tmpl = dt_t_sse41, .ntmpl = &dt_n_sse41, .weight = 3, .need = DT_NEED_SSE41 },
	{ .name = "sse4.2", .tmpl = dt_t_sse42, .ntmpl = &dt_n_sse42, .weight = 1, .need = DT_NEED_SSE42 },
	{ .name = "x87", .tmpl = dt_t_x87, .ntmpl = &dt_n_x87, .gen = dt_gen_x87, .weight = 8 },
	{ .name = "mmx", .tmpl = dt_t_mmx, .ntmpl = &dt_n_mmx, .gen = dt_gen_mmx, .weight = 3,
	  .need = DT_NEED_MMX },
	{ .name = "x87-fisttp", .tmpl = dt_t_fisttp, .ntmpl = &dt_n_fisttp, .gen = dt_gen_x87,
	  .weight = 1, .need = DT_NEED_SSE3 },
	{ .name = "x87-transcendental", .tmpl = dt_t_x87_transc, .ntmpl = &dt_n_x87_transc, .gen = dt_gen_x87, .weight = 1,
	  .approx = true },
};
const unsigned dt_ngroups = sizeof(dt_groups) / sizeof(dt_groups[0]);
