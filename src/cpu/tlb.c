/* Software TLB over the translate callback, page-crossing accesses, and the
 * locked read-modify-write protocol. Every guest memory access funnels
 * through cpu_tlb_slow() on a miss, which is where paging will walk the
 * guest page tables in system mode (issue 4). */
#include "cpu/cpu_int.h"
#include "cpu/sys.h"

void cpu_raise_pf(struct cpu *c, uint64_t addr, int access)
{
	/* Error code (Vol. 3 §4.7): P if the page is mapped at all, W/R for
	 * writes, U/S as CPL3, I/D for fetches. */
	uint32_t ec = 4;

	if (access == CPU_ACC_WRITE)
		ec |= 2;
	if (access == CPU_ACC_EXEC)
		ec |= 16;
	if (access != CPU_ACC_READ && c->ops->translate(c->opaque, addr & CPU_PAGE_MASK, 1,
							 CPU_ACC_READ))
		ec |= 1;
	c->cr2 = addr;
	c->exit->fault_addr = addr;
	cpu_raise(c, CPU_VEC_PF, ec);
}

/* Does the executing instruction address memory through SS (an RSP/RBP
 * base without override, or the implicit stack)? Non-canonical SS
 * references raise #SS(0) instead of #GP(0) (Vol. 3 §6.15, #SS). */
static bool uses_ss(const struct insn *i)
{
	if (!i)
		return false;
	switch (i->op) {
	case 0x50 ... 0x5f: case 0x68: case 0x6a: case 0x9c: case 0x9d: case 0xc2:
	case 0xc3: case 0xc8: case 0xc9: case 0xe8:
	case OP_0F + 0xa0: case OP_0F + 0xa1: case OP_0F + 0xa8: case OP_0F + 0xa9:
		return true;
	default:
		break;
	}
	return (i->flags & IF_MEM) && !(i->flags & IF_RIPREL) && i->seg == 0 &&
	       (i->base == 4 || i->base == 5);
}

void *cpu_tlb_slow(struct cpu *c, uint64_t addr, int access)
{
	uint64_t page = addr & CPU_PAGE_MASK;
	struct tlb_entry *e = &c->tlb[(page >> 12) & (TLB_SIZE - 1)];
	void *p;

	if (c->sys)
		return sys_tlb_fill(c, addr, access);
	/* Canonical check (Vol. 3 §3.3.7.1): non-canonical addresses #GP. */
	if ((uint64_t)((int64_t)(addr << 16) >> 16) != addr)
		cpu_raise(c, uses_ss(c->cur_insn) || addr == c->gpr[4] - 8 || addr == c->gpr[4]
				     ? CPU_VEC_SS : CPU_VEC_GP, 0); /* implicit pushes/pops too */
	p = c->ops->translate(c->opaque, page, CPU_PAGE_SIZE, access);
	if (!p)
		cpu_raise_pf(c, addr, access);
	if (access == CPU_ACC_WRITE && cpu_is_code_page(c, page))
		cpu_blocks_flush(c); /* self-modifying code: drop every decoded block */
	if (e->addend != (uintptr_t)p - page || (e->tag_r != page && e->tag_w != page && e->tag_x != page))
		e->tag_r = e->tag_w = e->tag_x = ~0ULL;
	e->addend = (uintptr_t)p - page;
	if (access == CPU_ACC_READ)
		e->tag_r = page;
	else if (access == CPU_ACC_WRITE)
		e->tag_w = page;
	else
		e->tag_x = page;
	return p;
}

void cpu_tlb_flush(struct cpu *c)
{
	cpu_xkey_bump(c, false);
	for (unsigned k = 0; k < TLB_SIZE; k++)
		c->tlb[k].tag_r = c->tlb[k].tag_w = c->tlb[k].tag_x = ~0ULL;
}

/* Accesses that cross a page: translate both pages before touching either,
 * so a fault leaves no partial write (precise exceptions). */
void cpu_mem_read_slow(struct cpu *c, uint64_t addr, void *buf, unsigned len)
{
	uint64_t next = (addr & CPU_PAGE_MASK) + CPU_PAGE_SIZE;
	unsigned first = (unsigned)(next - addr);
	uint8_t *a, *b;

	if (c->sys) {
		sys_mem_access(c, addr, (void *)buf, len, CPU_ACC_READ, false);
		return;
	}

	if (first >= len) {
		memcpy(buf, (uint8_t *)cpu_tlb_slow(c, addr, CPU_ACC_READ) + (addr & ~CPU_PAGE_MASK),
		       len);
		return;
	}
	a = (uint8_t *)cpu_mem_ptr(c, addr, first, CPU_ACC_READ);
	b = (uint8_t *)cpu_mem_ptr(c, next, len - first, CPU_ACC_READ);
	memcpy(buf, a, first);
	memcpy((uint8_t *)buf + first, b, len - first);
}

void cpu_mem_read_slow_w(struct cpu *c, uint64_t addr, void *buf, unsigned len)
{
	uint64_t next = (addr & CPU_PAGE_MASK) + CPU_PAGE_SIZE;
	unsigned first = (unsigned)(next - addr);
	uint8_t *a, *b;

	if (c->sys) {
		sys_mem_access(c, addr, (void *)buf, len, CPU_ACC_WRITE, false);
		return;
	}

	if (first >= len) {
		memcpy(buf, (uint8_t *)cpu_tlb_slow(c, addr, CPU_ACC_WRITE) + (addr & ~CPU_PAGE_MASK),
		       len);
		return;
	}
	a = (uint8_t *)cpu_mem_ptr(c, addr, first, CPU_ACC_WRITE);
	b = (uint8_t *)cpu_mem_ptr(c, next, len - first, CPU_ACC_WRITE);
	memcpy(buf, a, first);
	memcpy((uint8_t *)buf + first, b, len - first);
}

void cpu_mem_write_slow(struct cpu *c, uint64_t addr, const void *buf, unsigned len)
{
	uint64_t next = (addr & CPU_PAGE_MASK) + CPU_PAGE_SIZE;
	unsigned first = (unsigned)(next - addr);
	uint8_t *a, *b;

	if (c->sys) {
		sys_mem_access(c, addr, (void *)buf, len, CPU_ACC_WRITE, true);
		return;
	}

	if (first >= len) {
		memcpy((uint8_t *)cpu_tlb_slow(c, addr, CPU_ACC_WRITE) + (addr & ~CPU_PAGE_MASK), buf,
		       len);
		return;
	}
	a = (uint8_t *)cpu_mem_ptr(c, addr, first, CPU_ACC_WRITE);
	b = (uint8_t *)cpu_mem_ptr(c, next, len - first, CPU_ACC_WRITE);
	/* The second translation may have evicted the first from the TLB, but
	 * the host pointer stays valid until cpu_tlb_flush (cpu.h contract). */
	memcpy(a, buf, first);
	memcpy(b, (const uint8_t *)buf + first, len - first);
}

uint64_t cpu_rmw_read_locked(struct cpu *c, const struct insn *i, int size)
{
	uint64_t addr, v = 0;
	void *p;

	if (!(i->flags & IF_MEM))
		return reg_read(c, i->rm, size, i->flags);
	addr = insn_ea(c, i);
	/* A read-modify-write faults as a write (Vol. 3 §4.7). */
	p = cpu_mem_ptr(c, addr, (unsigned)size, CPU_ACC_WRITE);
	if (!p || !(i->flags & IF_LOCK) || ((uintptr_t)p & (size - 1))) {
		/* Split or misaligned locked accesses are not atomic here;
		 * single-threaded guests cannot tell. */
		c->lock_ptr = NULL;
		return mem_read_w(c, addr, size);
	}
	switch (size) {
	case 1: v = __atomic_load_n((uint8_t *)p, __ATOMIC_SEQ_CST); break;
	case 2: v = __atomic_load_n((uint16_t *)p, __ATOMIC_SEQ_CST); break;
	case 4: v = __atomic_load_n((uint32_t *)p, __ATOMIC_SEQ_CST); break;
	default: v = __atomic_load_n((uint64_t *)p, __ATOMIC_SEQ_CST); break;
	}
	c->lock_ptr = p;
	c->lock_old = v;
	return v;
}

void cpu_rmw_write_locked(struct cpu *c, const struct insn *i, int size, uint64_t v)
{
	void *p = c->lock_ptr;
	bool ok;

	if (!(i->flags & IF_MEM)) {
		reg_write(c, i->rm, size, i->flags, v);
		return;
	}
	if (!p || !(i->flags & IF_LOCK)) {
		mem_write(c, insn_ea(c, i), size, v);
		return;
	}
	c->lock_ptr = NULL;
	switch (size) {
	case 1: {
		uint8_t o = (uint8_t)c->lock_old;
		ok = __atomic_compare_exchange_n((uint8_t *)p, &o, (uint8_t)v, false,
						 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		break;
	}
	case 2: {
		uint16_t o = (uint16_t)c->lock_old;
		ok = __atomic_compare_exchange_n((uint16_t *)p, &o, (uint16_t)v, false,
						 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		break;
	}
	case 4: {
		uint32_t o = (uint32_t)c->lock_old;
		ok = __atomic_compare_exchange_n((uint32_t *)p, &o, (uint32_t)v, false,
						 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		break;
	}
	default: {
		uint64_t o = c->lock_old;
		ok = __atomic_compare_exchange_n((uint64_t *)p, &o, v, false, __ATOMIC_SEQ_CST,
						 __ATOMIC_SEQ_CST);
		break;
	}
	}
	if (!ok) {
		/* Another CPU won: re-execute the whole instruction. */
		c->rip = c->cur_rip;
		longjmp(c->jb, 2);
	}
}

uint64_t cpu_mem_read_slow_v(struct cpu *c, uint64_t addr, unsigned len, bool w)
{
	uint64_t v = 0;

	if (w)
		cpu_mem_read_slow_w(c, addr, &v, len);
	else
		cpu_mem_read_slow(c, addr, &v, len);
	return v;
}
