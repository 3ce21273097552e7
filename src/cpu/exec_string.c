/* String instructions MOVS, CMPS, STOS, LODS, SCAS with REP/REPE/REPNE
 * (Intel SDM Vol. 2 "REP/REPE/REPZ/REPNE/REPNZ"). Each iteration commits its
 * register updates, so a fault in the middle leaves the registers at the
 * faulting element and RIP at the instruction, as on hardware. Forward
 * MOVS/STOS runs take a page-chunked memcpy/memset fast path. */
#include "cpu/cpu_int.h"

static inline uint64_t amask(const struct insn *i)
{
	return size_mask(i->asz);
}

/* Register update honouring the address size (16/32-bit forms write only
 * the low part; 32-bit zero-extends). */
static inline void areg_set(struct cpu *c, const struct insn *i, unsigned r, uint64_t v)
{
	if (i->asz == 8)
		c->gpr[r] = v;
	else if (i->asz == 4)
		c->gpr[r] = (uint32_t)v;
	else
		c->gpr[r] = (c->gpr[r] & ~0xffffULL) | (v & 0xffff);
}

static inline uint64_t src_addr(struct cpu *c, const struct insn *i)
{
	uint64_t a = c->gpr[6] & amask(i);

	if (i->seg == 5)
		a += c->fs_base;
	else if (i->seg == 6)
		a += c->gs_base;
	else if (__builtin_expect(i->seg != 0, 0)) /* legacy modes (sys_legacy.c) */
		a = (uint32_t)(a + c->seg_base[i->seg - 1]);
	return a;
}

static inline uint64_t dst_addr(struct cpu *c, const struct insn *i)
{
	/* ES: no override possible; its base is 0 outside legacy modes. */
	return (c->gpr[7] & amask(i)) + c->seg_base[0];
}

#define REP_RSI 1
#define REP_RDI 2
/* With a 32-bit address size, REP writes ECX even for a zero count, so it
 * zero-extends; REP MOVS/STOS also write their index registers (measured
 * on hardware by the differential tests; LODS/SCAS/CMPS do not). */
static inline void rep_a32(struct cpu *c, const struct insn *i, unsigned regs)
{
	if (i->asz != 4)
		return;
	c->gpr[1] = (uint32_t)c->gpr[1];
	if (regs & REP_RSI)
		c->gpr[6] = (uint32_t)c->gpr[6];
	if (regs & REP_RDI)
		c->gpr[7] = (uint32_t)c->gpr[7];
}

static inline int64_t delta(struct cpu *c, const struct insn *i)
{
	return (c->rflags & FL_DF) ? -(int64_t)i->osz : (int64_t)i->osz;
}

/* Elements that fit in the current pages of both pointers (forward only). */
static uint64_t chunk(uint64_t a, uint64_t b, uint64_t n, int sz)
{
	uint64_t ra = (CPU_PAGE_SIZE - (a & ~CPU_PAGE_MASK)) / (uint64_t)sz;
	uint64_t rb = (CPU_PAGE_SIZE - (b & ~CPU_PAGE_MASK)) / (uint64_t)sz;
	uint64_t k = ra < rb ? ra : rb;

	return k < n ? k : n;
}

static void h_movs(struct cpu *c, const struct insn *i)
{
	bool rep = i->flags & (IF_REP | IF_REPNE);
	int sz = i->osz;
	uint64_t m = amask(i);

	if (!rep) {
		uint64_t v = mem_read(c, src_addr(c, i), sz);

		mem_write(c, dst_addr(c, i), sz, v);
		areg_set(c, i, 6, c->gpr[6] + (uint64_t)delta(c, i));
		areg_set(c, i, 7, c->gpr[7] + (uint64_t)delta(c, i));
		return;
	}
	rep_a32(c, i, REP_RSI | REP_RDI);
	while (c->gpr[1] & m) {
		uint64_t n = c->gpr[1] & m, s = src_addr(c, i), d = dst_addr(c, i), k;

		if (!(c->rflags & FL_DF) && i->asz == 8 && !(s < d && d < s + n * (uint64_t)sz) &&
		    (k = chunk(s, d, n, sz)) > 0) {
			void *ps = cpu_mem_ptr(c, s, (unsigned)(k * (uint64_t)sz), CPU_ACC_READ);
			void *pd = cpu_mem_ptr(c, d, (unsigned)(k * (uint64_t)sz), CPU_ACC_WRITE);

			if (ps && pd) { /* NULL: MMIO in system mode */
				memmove(pd, ps, k * (uint64_t)sz);
				c->gpr[6] += k * (uint64_t)sz;
				c->gpr[7] += k * (uint64_t)sz;
				c->gpr[1] -= k;
				continue;
			}
		}
		mem_write(c, d, sz, mem_read(c, s, sz));
		areg_set(c, i, 6, c->gpr[6] + (uint64_t)delta(c, i));
		areg_set(c, i, 7, c->gpr[7] + (uint64_t)delta(c, i));
		areg_set(c, i, 1, c->gpr[1] - 1);
	}
}

static void h_stos(struct cpu *c, const struct insn *i)
{
	bool rep = i->flags & (IF_REP | IF_REPNE);
	int sz = i->osz;
	uint64_t m = amask(i), v = c->gpr[0] & size_mask(sz);

	if (!rep) {
		mem_write(c, dst_addr(c, i), sz, v);
		areg_set(c, i, 7, c->gpr[7] + (uint64_t)delta(c, i));
		return;
	}
	rep_a32(c, i, REP_RDI);
	while (c->gpr[1] & m) {
		uint64_t n = c->gpr[1] & m, d = dst_addr(c, i), k;

		if (!(c->rflags & FL_DF) && i->asz == 8 && (k = chunk(d, d, n, sz)) > 0) {
			uint8_t *pd = cpu_mem_ptr(c, d, (unsigned)(k * (uint64_t)sz), CPU_ACC_WRITE);

			if (pd) { /* NULL: MMIO in system mode */
				if (sz == 1 || v == 0) { /* v == 0: clear_page's REP STOSQ */
					memset(pd, (int)v, k * (uint64_t)sz);
				} else {
					for (uint64_t j = 0; j < k; j++)
						memcpy(pd + j * (uint64_t)sz, &v, (size_t)sz);
				}
				c->gpr[7] += k * (uint64_t)sz;
				c->gpr[1] -= k;
				continue;
			}
		}
		mem_write(c, d, sz, v);
		areg_set(c, i, 7, c->gpr[7] + (uint64_t)delta(c, i));
		areg_set(c, i, 1, c->gpr[1] - 1);
	}
}

static void h_lods(struct cpu *c, const struct insn *i)
{
	bool rep = i->flags & (IF_REP | IF_REPNE);
	uint64_t m = amask(i);

	if (!rep) {
		reg_write(c, 0, i->osz, 0, mem_read(c, src_addr(c, i), i->osz));
		areg_set(c, i, 6, c->gpr[6] + (uint64_t)delta(c, i));
		return;
	}
	rep_a32(c, i, 0);
	while (c->gpr[1] & m) {
		reg_write(c, 0, i->osz, 0, mem_read(c, src_addr(c, i), i->osz));
		areg_set(c, i, 6, c->gpr[6] + (uint64_t)delta(c, i));
		areg_set(c, i, 1, c->gpr[1] - 1);
	}
}

/* SCAS: compare rAX with [rDI]; CMPS: [rSI] with [rDI]. REPE stops when
 * ZF = 0, REPNE when ZF = 1. Flags as CMP. */
static void h_scas(struct cpu *c, const struct insn *i)
{
	int sz = i->osz;
	uint64_t m = amask(i), sm = size_mask(sz), a = c->gpr[0] & sm, last_a = 0, last_b = 0;
	bool done = false;

	if (!(i->flags & (IF_REP | IF_REPNE))) {
		uint64_t b = mem_read(c, dst_addr(c, i), sz);

		cc_set(c, CC_SUB, sz, a, b, (a - b) & sm);
		areg_set(c, i, 7, c->gpr[7] + (uint64_t)delta(c, i));
		return;
	}
	rep_a32(c, i, 0);
	/* The flags are committed when the instruction completes: a fault
	 * part-way leaves the flags of before the instruction (as hardware
	 * does) while the registers show the progress. */
	while (c->gpr[1] & m) {
		uint64_t b = mem_read(c, dst_addr(c, i), sz);

		last_a = a, last_b = b, done = true;
		areg_set(c, i, 7, c->gpr[7] + (uint64_t)delta(c, i));
		areg_set(c, i, 1, c->gpr[1] - 1);
		if ((i->flags & IF_REP) ? a != b : a == b)
			break;
	}
	if (done)
		cc_set(c, CC_SUB, sz, last_a, last_b, (last_a - last_b) & sm);
}

static void h_cmps(struct cpu *c, const struct insn *i)
{
	int sz = i->osz;
	uint64_t m = amask(i), sm = size_mask(sz), last_a = 0, last_b = 0;
	bool done = false;

	if (!(i->flags & (IF_REP | IF_REPNE))) {
		uint64_t a = mem_read(c, src_addr(c, i), sz);
		uint64_t b = mem_read(c, dst_addr(c, i), sz);

		cc_set(c, CC_SUB, sz, a, b, (a - b) & sm);
		areg_set(c, i, 6, c->gpr[6] + (uint64_t)delta(c, i));
		areg_set(c, i, 7, c->gpr[7] + (uint64_t)delta(c, i));
		return;
	}
	rep_a32(c, i, 0);
	while (c->gpr[1] & m) { /* flags committed at the end, as for SCAS */
		uint64_t a = mem_read(c, src_addr(c, i), sz);
		uint64_t b = mem_read(c, dst_addr(c, i), sz);

		last_a = a, last_b = b, done = true;
		areg_set(c, i, 6, c->gpr[6] + (uint64_t)delta(c, i));
		areg_set(c, i, 7, c->gpr[7] + (uint64_t)delta(c, i));
		areg_set(c, i, 1, c->gpr[1] - 1);
		if ((i->flags & IF_REP) ? a != b : a == b)
			break;
	}
	if (done)
		cc_set(c, CC_SUB, sz, last_a, last_b, (last_a - last_b) & sm);
}

void cpu_exec_init_string(void)
{
	cpu_handlers[0xa4] = cpu_handlers[0xa5] = h_movs;
	cpu_handlers[0xa6] = cpu_handlers[0xa7] = h_cmps;
	cpu_handlers[0xaa] = cpu_handlers[0xab] = h_stos;
	cpu_handlers[0xac] = cpu_handlers[0xad] = h_lods;
	cpu_handlers[0xae] = cpu_handlers[0xaf] = h_scas;
}
