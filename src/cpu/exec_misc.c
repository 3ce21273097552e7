/* Miscellaneous instructions: flag manipulation (CLC/STC/CMC/CLD/STD,
 * LAHF/SAHF), CPUID, RDTSC/RDTSCP, NOP and hint forms, XLAT, PUSH/POP FS/GS
 * (Intel SDM Vol. 2). */
#include <x86intrin.h>

#include "cpu/cpu_int.h"

void cpu_exec_init_muldiv(void);
void cpu_exec_init_shift(void);
void cpu_exec_init_bit(void);

static void h_flagop(struct cpu *c, const struct insn *i)
{
	uint64_t f = cpu_get_flags(c);

	switch (i->op) {
	case 0xf5: f ^= FL_CF; break;
	case 0xf8: f &= ~(uint64_t)FL_CF; break;
	case 0xf9: f |= FL_CF; break;
	case 0xfc: f &= ~(uint64_t)FL_DF; break;
	default: f |= FL_DF; break;
	}
	c->rflags = f;
	c->cc_op = CC_EAGER;
}

/* 9F LAHF / 9E SAHF: AH <-> SF:ZF:0:AF:0:PF:1:CF (valid in 64-bit mode
 * because CPUID.80000001H:ECX.LAHF-SAHF is set). */
static void h_lahf(struct cpu *c, const struct insn *i)
{
	uint64_t f = (cpu_get_flags(c) & (FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF)) | 2;

	c->gpr[0] = (c->gpr[0] & ~0xff00ULL) | (f << 8);
}

static void h_sahf(struct cpu *c, const struct insn *i)
{
	uint64_t ah = (c->gpr[0] >> 8) & (FL_SF | FL_ZF | FL_AF | FL_PF | FL_CF);

	cc_eager(c, (cpu_get_flags(c) & FL_OF) | ah);
}

static void h_cpuid(struct cpu *c, const struct insn *i)
{
	uint32_t out[4];

	cpu_do_cpuid(c, (uint32_t)c->gpr[0], (uint32_t)c->gpr[1], out);
	c->gpr[0] = out[0], c->gpr[3] = out[1], c->gpr[1] = out[2], c->gpr[2] = out[3];
}

static void h_rdtsc(struct cpu *c, const struct insn *i)
{
	uint64_t t = __rdtsc();

	c->gpr[0] = (uint32_t)t, c->gpr[2] = t >> 32;
}

/* 0F 01: only RDTSCP (F9) is available to user mode here. */
static void h_0f01(struct cpu *c, const struct insn *i)
{
	if (i->modrm == 0xf9) {
		h_rdtsc(c, i);
		c->gpr[1] = (uint32_t)c->tsc_aux;
		return;
	}
	cpu_ud(c);
}

static void h_nop(struct cpu *c, const struct insn *i)
{
}

/* D7: XLAT: AL = [rBX + zero-extended AL]. */
static void h_xlat(struct cpu *c, const struct insn *i)
{
	uint64_t addr = c->gpr[3] + (c->gpr[0] & 0xff);

	if (i->asz == 4)
		addr = (uint32_t)addr;
	if (i->seg == 5)
		addr += c->fs_base;
	else if (i->seg == 6)
		addr += c->gs_base;
	reg_write(c, 0, 1, 0, mem_read(c, addr, 1));
}

/* 0F A0/A8 PUSH FS/GS, 0F A1/A9 POP FS/GS. Loading a selector in user mode
 * only accepts null selectors (which keep the base in 64-bit mode). */
static void h_push_sreg(struct cpu *c, const struct insn *i)
{
	uint16_t sel = c->sel[(i->op & 0xff) == 0xa0 ? 4 : 5];
	int sz = i->osz == 2 ? 2 : 8;

	mem_write(c, c->gpr[4] - (uint64_t)sz, sz, sel);
	c->gpr[4] -= (uint64_t)sz;
}

static void h_pop_sreg(struct cpu *c, const struct insn *i)
{
	int sz = i->osz == 2 ? 2 : 8;
	uint64_t v = mem_read(c, c->gpr[4], sz) & 0xffff;

	if (v > 3)
		cpu_raise(c, CPU_VEC_GP, (uint32_t)(v & 0xfffc));
	c->sel[(i->op & 0xff) == 0xa1 ? 4 : 5] = (uint16_t)v;
	c->gpr[4] += (uint64_t)sz;
}

void cpu_exec_init_misc(void)
{
	cpu_exec_init_muldiv();
	cpu_exec_init_shift();
	cpu_exec_init_bit();
	cpu_handlers[0xf5] = cpu_handlers[0xf8] = cpu_handlers[0xf9] = h_flagop;
	cpu_handlers[0xfc] = cpu_handlers[0xfd] = h_flagop;
	cpu_handlers[0x9f] = h_lahf;
	cpu_handlers[0x9e] = h_sahf;
	cpu_handlers[OP_0F + 0xa2] = h_cpuid;
	cpu_handlers[OP_0F + 0x31] = h_rdtsc;
	cpu_handlers[OP_0F + 0x01] = h_0f01;
	cpu_handlers[OP_0F + 0x0d] = h_nop; /* PREFETCHW: a hint */
	for (unsigned k = 0x18; k <= 0x1f; k++)
		cpu_handlers[OP_0F + k] = h_nop; /* PREFETCHh and reserved NOPs */
	cpu_handlers[0xd7] = h_xlat;
	cpu_handlers[OP_0F + 0xa0] = cpu_handlers[OP_0F + 0xa8] = h_push_sreg;
	cpu_handlers[OP_0F + 0xa1] = cpu_handlers[OP_0F + 0xa9] = h_pop_sreg;
}
