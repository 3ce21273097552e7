/* Emulated side of the differential tests: runs a vector on Vireo's CPU in
 * CPU_MODE_USER64. translate() maps the same fixed addresses the native side
 * uses onto local buffers; everything else is unmapped (#PF), and the code
 * page is read/execute only, as natively. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "dt.h"

struct dt_emu {
	struct cpu *cpu;
	bool bp_after; /* #BP exits report RIP after the INT3 (trap style) */
	bool code_writable; /* self-modifying code vectors */
	uint8_t code[DT_CODE_SIZE] __attribute__((aligned(4096)));
	uint8_t data[DT_DATA_SIZE] __attribute__((aligned(4096)));
};

static void *dt_emu_translate(void *opaque, uint64_t gva, uint64_t len, int access)
{
	struct dt_emu *emu = opaque;

	if (gva >= DT_CODE_BASE && gva - DT_CODE_BASE < DT_CODE_SIZE &&
	    len <= DT_CODE_SIZE - (gva - DT_CODE_BASE)) {
		if ((access & CPU_ACC_WRITE) && !emu->code_writable)
			return NULL;
		return emu->code + (gva - DT_CODE_BASE);
	}
	if (gva >= DT_DATA_BASE && gva - DT_DATA_BASE < DT_DATA_SIZE &&
	    len <= DT_DATA_SIZE - (gva - DT_DATA_BASE)) {
		if (access & CPU_ACC_EXEC)
			return NULL; /* the native data mapping is not executable */
		return emu->data + (gva - DT_DATA_BASE);
	}
	return NULL;
}

static const struct cpu_mem_ops dt_emu_ops = { .translate = dt_emu_translate };

struct dt_emu *dt_emu_create(char *msg, size_t msglen)
{
	struct dt_emu *emu = aligned_alloc(4096, sizeof(*emu));
	if (!emu) {
		snprintf(msg, msglen, "out of memory");
		return NULL;
	}
	memset(emu, 0, sizeof(*emu));
	struct err err;
	err_clear(&err);
	emu->cpu = cpu_create(CPU_MODE_USER64, &dt_emu_ops, emu, &err);
	if (!emu->cpu) {
		snprintf(msg, msglen, "cpu_create: %s", err.msg);
		free(emu);
		return NULL;
	}
	/* INT3 is a trap: hardware pushes the RIP after it, and cpu.h says
	 * exceptions report RIP at the instruction. Accept either convention,
	 * found once here, and report the INT3's own address as natively. */
	struct dt_vector *probe = calloc(1, sizeof(*probe));
	struct dt_result *res = calloc(1, sizeof(*res));
	if (probe && res) {
		probe->code_len = 1;
		probe->code[0] = 0xcc;
		probe->init.rip = DT_CODE_BASE;
		uint32_t mxcsr = 0x1f80;
		memcpy(probe->init.fxsave + FX_MXCSR, &mxcsr, 4);
		probe->init.fxsave[FX_FCW] = 0x7f;
		probe->init.fxsave[FX_FCW + 1] = 0x03;
		dt_emu_run(emu, probe, res);
		emu->bp_after = res->status == DT_EXC && res->vector == 3 &&
				res->st.rip == DT_CODE_BASE + 1;
	}
	free(probe);
	free(res);
	return emu;
}

void dt_emu_destroy(struct dt_emu *emu)
{
	if (!emu)
		return;
	cpu_destroy(emu->cpu);
	free(emu);
}

bool dt_emu_cpuid(struct dt_emu *emu, uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	cpu_cpuid(emu->cpu, leaf, sub, out);
	return true;
}

void dt_emu_run(struct dt_emu *emu, const struct dt_vector *vec, struct dt_result *res)
{
	struct cpu_state st;

	memset(res, 0, offsetof(struct dt_result, data));
	memset(emu->code, 0xcc, DT_CODE_SIZE);
	size_t len = vec->code_len;
	if (vec->code_off + len > DT_CODE_SIZE)
		len = DT_CODE_SIZE - vec->code_off; /* fetch-crossing cases */
	memcpy(emu->code + vec->code_off, vec->code, len);
	memcpy(emu->data, vec->data, DT_DATA_SIZE);
	emu->code_writable = vec->cmp & DT_CODE_WRITABLE;
	/* The code page changed behind the CPU's back. */
	cpu_invalidate_code(emu->cpu, DT_CODE_BASE, DT_CODE_SIZE);
	cpu_tlb_flush(emu->cpu);

	memset(&st, 0, sizeof(st));
	memcpy(st.gpr, vec->init.gpr, sizeof(st.gpr));
	st.rip = vec->init.rip;
	st.gs_base = vec->gs_base;
	/* As natively: IF and the reserved bit 1 are set at CPL3. */
	st.rflags = (vec->init.rflags & F_SETTABLE) | F_IF | 2;
	memcpy(st.fxsave, vec->init.fxsave, sizeof(st.fxsave));
	cpu_set_state(emu->cpu, &st);

	struct cpu_exit ex;
	memset(&ex, 0, sizeof(ex));
	int r = cpu_run(emu->cpu, 100000, &ex);
	cpu_get_state(emu->cpu, &st);
	memcpy(res->st.gpr, st.gpr, sizeof(st.gpr));
	res->st.rip = st.rip;
	res->st.rflags = st.rflags;
	memcpy(res->st.fxsave, st.fxsave, sizeof(st.fxsave));
	memcpy(res->data, emu->data, DT_DATA_SIZE);
	if (r < 0) {
		res->status = DT_HARNESS;
		snprintf(res->msg, sizeof(res->msg), "cpu_run failed: %d", r);
		return;
	}
	uint64_t end = DT_CODE_BASE + vec->code_off + vec->code_len - 1;
	switch (ex.reason) {
	case CPU_EXIT_EXCEPTION:
		if (ex.vector == CPU_VEC_BP && emu->bp_after)
			res->st.rip = --st.rip;
		res->vector = ex.vector;
		res->error_code = ex.error_code;
		res->fault_addr = ex.fault_addr;
		res->status = ex.vector == CPU_VEC_BP && st.rip == end ? DT_END : DT_EXC;
		break;
	case CPU_EXIT_LIMIT:
		res->status = DT_LIMIT;
		break;
	case CPU_EXIT_SYSCALL:
		res->status = DT_HARNESS;
		snprintf(res->msg, sizeof(res->msg), "unexpected SYSCALL exit");
		break;
	case CPU_EXIT_HLT:
	case CPU_EXIT_SHUTDOWN:
	case CPU_EXIT_KICK:
	case CPU_EXIT_DEBUG:
		/* User mode has no HLT exit (it is #GP at CPL 3), no triple
		 * fault and no kicks: any of them is a harness or CPU bug. */
		res->status = DT_HARNESS;
		snprintf(res->msg, sizeof(res->msg), "unexpected exit %d", (int)ex.reason);
		break;
	}
}
