/* System-mode memory: the 4-level page walk with PAE/NX/global/U-S/R-W and
 * CR0.WP, accessed and dirty bits (Intel SDM Vol. 3 §4.5-§4.8), the software
 * TLB fill, MMIO accesses, and the per-physical-page "holds decoded code"
 * bitmap that turns stores into code invalidation through any mapping. */
#include <pthread.h>
#include <stdlib.h>

#include "cpu/sys.h"

#define PTE_P 0x1ULL
#define PTE_W 0x2ULL
#define PTE_U 0x4ULL
#define PTE_A 0x20ULL
#define PTE_D 0x40ULL
#define PTE_PS 0x80ULL
#define PTE_G 0x100ULL
#define PTE_NX (1ULL << 63)
#define PTE_ADDR 0x000ffffffffff000ULL
/* MAXPHYADDR is 40 (CPUID 0x80000008): bits 51:40 are reserved. */
#define PTE_RSVD_HI 0x000ff00000000000ULL
#define CODE_BITS_MAX_PAGES (1ULL << 28) /* 1 TiB of guest-physical space: 32 MiB of bits */

static __attribute__((noreturn)) void page_fault(struct cpu *c, uint64_t la, uint32_t ec)
{
	c->cr2 = la;
	c->exit->fault_addr = la;
	cpu_raise(c, CPU_VEC_PF, ec);
}

/* Linear to physical for access at privilege user. Raises #PF. */
static uint64_t sys_walk(struct cpu *c, uint64_t la, int access, bool user)
{
	struct cpu_sys *s = c->sys;
	bool nxe = c->efer & EFER_NXE, wp = c->cr0 & CR0_WP;
	uint64_t table, *pe[4], e = 0, size = 0;
	bool rw = true, us = true, nx = false;
	uint32_t ec = (access == CPU_ACC_WRITE ? 2 : 0) | (user ? 4 : 0) |
		      (access == CPU_ACC_EXEC && nxe ? 16 : 0);
	int level, depth = 0;

	s->walk_size = 0;
	s->walk_bits = 0;
	if (!(c->cr0 & CR0_PG))
		return (c->efer & EFER_LMA) ? la : (uint32_t)la;
	if (!(c->efer & EFER_LMA) || !(c->cr4 & CR4_PAE)) {
		/* Legacy 32-bit and PAE paging are not implemented (Linux
		 * x86-64 goes from unpaged protected mode to long mode). */
		page_fault(c, la, ec);
	}
	table = c->cr3 & PTE_ADDR;
	for (level = 4; level >= 1; level--) {
		unsigned idx = (unsigned)(la >> (12 + 9 * (level - 1))) & 511;
		uint64_t *p;

		if (s->walk_table[level - 1].gpa != table || !s->walk_table[level - 1].hva) {
			uint64_t *t = s->ops->ram(s->opaque, table, CPU_PAGE_SIZE);

			if (!t)
				page_fault(c, la, ec); /* page tables outside RAM: not present */
			s->walk_table[level - 1].gpa = table;
			s->walk_table[level - 1].hva = t;
		}
		p = s->walk_table[level - 1].hva + idx;
		e = __atomic_load_n(p, __ATOMIC_RELAXED);
		if (!(e & PTE_P))
			page_fault(c, la, ec);
		if ((e & PTE_RSVD_HI) || (!nxe && (e & PTE_NX)) ||
		    (level == 4 && (e & PTE_PS)))
			page_fault(c, la, ec | 1 | 8);
		pe[depth++] = p;
		rw = rw && (e & PTE_W);
		us = us && (e & PTE_U);
		nx = nx || (nxe && (e & PTE_NX));
		if (level == 1 || ((level == 2 || level == 3) && (e & PTE_PS))) {
			size = 1ULL << (12 + 9 * (level - 1));
			if (level > 1 && (e & (size - 1) & PTE_ADDR & ~0x1000ULL))
				page_fault(c, la, ec | 1 | 8); /* reserved low frame bits */
			break;
		}
		table = e & PTE_ADDR;
	}
	/* Access rights (Vol. 3 §4.6): supervisor writes honour R/W only
	 * with CR0.WP; user accesses need U/S at every level. */
	if ((user && !us) || (access == CPU_ACC_WRITE && !rw && (user || wp)) ||
	    (access == CPU_ACC_EXEC && nx))
		page_fault(c, la, ec | 1);
	/* For the TLB: which page size? */
	s->walk_size = level == 3 ? 2 : level == 2 ? 1 : 0;
	s->walk_bits = (us ? SYS_LT_US : 0) | (rw ? SYS_LT_RW : 0) | (nx ? SYS_LT_NX : 0) |
		       ((e & PTE_D) || access == CPU_ACC_WRITE ? SYS_LT_D : 0) |
		       ((e & PTE_G) && (c->cr4 & CR4_PGE) ? SYS_LT_G : 0);
	/* Accessed bits on every level used, dirty on the leaf for writes
	 * (Vol. 3 §4.8), atomically as other vCPUs may share the tables. */
	for (int k = 0; k < depth; k++) {
		uint64_t set = PTE_A | (k == depth - 1 && access == CPU_ACC_WRITE ? PTE_D : 0);

		if ((__atomic_load_n(pe[k], __ATOMIC_RELAXED) & set) != set)
			__atomic_fetch_or(pe[k], set, __ATOMIC_RELAXED);
	}
	return ((e & PTE_ADDR) & ~(size - 1)) | (la & (size - 1));
}

static bool canonical(uint64_t a)
{
	return (uint64_t)((int64_t)(a << 16) >> 16) == a;
}

/* Pages holding decoded code, shared by every vCPU of the process (there is
 * one VM per process): a store by any vCPU to a page another one decoded
 * must reach that one too (cross-modifying code, Vol. 3 §8.1.3; Linux
 * patches its text with text_poke while the other CPUs run). One bit per
 * 4 KiB page of the first 1 TiB, allocated once; untouched parts of the
 * zeroed allocation are never faulted in. A store to a marked page clears
 * its bit and bumps sys_code_gen: every vCPU drops its decoded blocks at its
 * next block boundary. Marking a page bumps sys_mark_gen: the other vCPUs
 * drop their TLB write entries, so their next store to it takes the slow
 * path. */
static uint8_t *code_bits;
static pthread_once_t code_bits_once = PTHREAD_ONCE_INIT;
uint64_t sys_code_gen, sys_mark_gen;

static void code_bits_alloc(void)
{
	/* Published for cpu_dma_written, which runs on device threads. */
	__atomic_store_n(&code_bits, calloc(1, CODE_BITS_MAX_PAGES / 8), __ATOMIC_RELEASE);
}

static bool code_bit(struct cpu_sys *s, uint64_t gpa)
{
	uint64_t pn = gpa >> 12;

	(void)s;
	return code_bits && pn < CODE_BITS_MAX_PAGES &&
	       (__atomic_load_n(&code_bits[pn >> 3], __ATOMIC_RELAXED) >> (pn & 7) & 1);
}

void sys_code_page_mark(struct cpu *c, uint64_t gpa)
{
	uint64_t pn = gpa >> 12;
	uint8_t bit = (uint8_t)(1u << (pn & 7));

	pthread_once(&code_bits_once, code_bits_alloc);
	if (!code_bits || pn >= CODE_BITS_MAX_PAGES)
		return; /* not trackable: cpu_invalidate_phys still works */
	if (!(__atomic_fetch_or(&code_bits[pn >> 3], bit, __ATOMIC_SEQ_CST) & bit)) {
		uint64_t g = __atomic_add_fetch(&sys_mark_gen, 1, __ATOMIC_SEQ_CST);

		if (g == c->sys->seen_mark_gen + 1)
			c->sys->seen_mark_gen = g; /* nobody else marked meanwhile */
	}
}

/* A store reached a page holding decoded code. */
static void code_written(struct cpu *c, uint64_t gpa)
{
	uint64_t pn = gpa >> 12;
	uint64_t g;

	__atomic_fetch_and(&code_bits[pn >> 3], (uint8_t)~(1u << (pn & 7)), __ATOMIC_SEQ_CST);
	g = __atomic_add_fetch(&sys_code_gen, 1, __ATOMIC_SEQ_CST);
	if (g == c->sys->seen_code_gen + 1)
		c->sys->seen_code_gen = g;
	cpu_blocks_flush(c);
}

void sys_blocks_flushed(struct cpu *c)
{
	/* Pages get their code bit again when code is next fetched from
	 * them, which needs an exec TLB fill: drop the exec tags. */
	for (unsigned k = 0; k < TLB_SIZE; k++)
		c->tlb[k].tag_x = ~0ULL;
}

/* Block boundary: another vCPU wrote code or marked a page. */
void sys_code_sync(struct cpu *c)
{
	struct cpu_sys *s = c->sys;
	uint64_t g = __atomic_load_n(&sys_code_gen, __ATOMIC_ACQUIRE);

	if (g != s->seen_code_gen) {
		s->seen_code_gen = g;
		cpu_blocks_flush(c);
	}
	g = __atomic_load_n(&sys_mark_gen, __ATOMIC_ACQUIRE);
	if (g != s->seen_mark_gen) {
		s->seen_mark_gen = g;
		for (unsigned k = 0; k < TLB_SIZE; k++)
			c->tlb[k].tag_w = ~0ULL;
	}
}

/* sys_walk through the large-page cache: a hit needs the rights the access
 * wants and, for a write, the dirty bit already set (else the walk sets it). */
static uint64_t sys_walk_large(struct cpu *c, uint64_t la, int access, bool user)
{
	struct cpu_sys *s = c->sys;
	uint64_t region = la & ~((1ULL << 21) - 1), gpa;
	struct sys_large_tlb *l = &s->large_tlb[(la >> 21) & (SYS_LARGE_TLB - 1)];
	bool wp = c->cr0 & CR0_WP;

	if (l->region == (region | 1) && (!user || (l->bits & SYS_LT_US)) &&
	    (access != CPU_ACC_WRITE ||
	     ((l->bits & SYS_LT_D) && ((l->bits & SYS_LT_RW) || (!user && !wp)))) &&
	    (access != CPU_ACC_EXEC || !(l->bits & SYS_LT_NX))) {
		s->walk_size = l->size;
		s->walk_bits = l->bits;
		return l->gpa | (la & ((1ULL << 21) - 1));
	}
	gpa = sys_walk(c, la, access, user);
	if (s->walk_size)
		*l = (struct sys_large_tlb){ region | 1, gpa & ~((1ULL << 21) - 1), s->walk_bits,
					     s->walk_size, (s->walk_bits & SYS_LT_G) != 0 };
	return gpa;
}

/* Translate one page for access at the current CPL: the host pointer of the
 * page, or NULL for MMIO (with *gpa_page set). */
static void *sys_xlate(struct cpu *c, uint64_t addr, int access, uint64_t *gpa_page)
{
	struct cpu_sys *s = c->sys;
	uint64_t gpa, page;
	void *p;

	if ((c->efer & EFER_LMA) && !canonical(addr))
		cpu_gp0(c);
	gpa = sys_walk_large(c, addr, access, c->cpl == 3);
	page = gpa & CPU_PAGE_MASK;
	*gpa_page = page;
	p = s->ops->ram(s->opaque, page, CPU_PAGE_SIZE);
	if (!p)
		return NULL;
	if (access == CPU_ACC_WRITE && code_bit(s, page))
		code_written(c, page); /* a store to decoded code, through any mapping */
	if (access == CPU_ACC_EXEC && !code_bit(s, page)) {
		/* Stores to this page must now take the slow path. */
		sys_code_page_mark(c, page);
		for (unsigned k = 0; k < TLB_SIZE; k++) {
			struct tlb_entry *e = &c->tlb[k];

			if (e->tag_w != ~0ULL && e->addend + (e->tag_w & CPU_PAGE_MASK) == (uintptr_t)p)
				e->tag_w = ~0ULL;
		}
	}
	return p;
}

void *sys_tlb_fill(struct cpu *c, uint64_t addr, int access)
{
	uint64_t page = addr & CPU_PAGE_MASK, gpa, tag = page | c->tlb_tag;
	struct tlb_entry *e = &c->tlb[(page >> 12) & (TLB_SIZE - 1)];
	void *p = sys_xlate(c, addr, access, &gpa);

	if (!p) {
		if (access == CPU_ACC_EXEC) {
			/* Executing from MMIO is not supported. */
			c->sys->shutdown = true;
			c->exit->reason = CPU_EXIT_SHUTDOWN;
			cpu_stop(c);
			longjmp(c->jb, 3);
		}
		return NULL;
	}
	/* A watched page stays out of the TLB for the watched accesses. */
	if (__builtin_expect(c->sys->dbg != NULL, 0) && sys_debug_watch(c, addr, access))
		return p;
	if (e->addend != (uintptr_t)p - page || (e->tag_r != tag && e->tag_w != tag && e->tag_x != tag))
		e->tag_r = e->tag_w = e->tag_x = ~0ULL;
	c->sys->tlb_global[e - c->tlb] = (c->sys->walk_bits & SYS_LT_G) != 0;
	/* The largest page size bounds INVLPG. */
	if (c->sys->walk_size > c->sys->tlb_large)
		c->sys->tlb_large = c->sys->walk_size;
	e->addend = (uintptr_t)p - page;
	if (access == CPU_ACC_READ)
		e->tag_r = tag;
	else if (access == CPU_ACC_WRITE)
		e->tag_w = tag;
	else
		e->tag_x = tag;
	return p;
}

static void mmio_rw(struct cpu *c, uint64_t gpa, uint8_t *buf, unsigned len, bool write)
{
	struct cpu_sys *s = c->sys;

	if (len == 1 || len == 2 || len == 4 || len == 8) {
		uint64_t v = 0;

		if (write) {
			memcpy(&v, buf, len);
			s->ops->mmio_write(s->opaque, gpa, v, len);
		} else {
			v = s->ops->mmio_read(s->opaque, gpa, len);
			memcpy(buf, &v, len);
		}
		return;
	}
	for (unsigned k = 0; k < len; k++)
		mmio_rw(c, gpa + k, buf + k, 1, write);
}

/* The slow path of every data access in system mode: page splits and MMIO.
 * Both pages are translated before anything is written (precise faults). */
void sys_mem_access(struct cpu *c, uint64_t addr, void *buf, unsigned len, int access, bool write)
{
	uint64_t next = (addr & CPU_PAGE_MASK) + CPU_PAGE_SIZE, g1 = 0, g2 = 0;
	unsigned first = (unsigned)(next - addr) < len ? (unsigned)(next - addr) : len;
	uint8_t *p1, *p2 = NULL;

	p1 = cpu_mem_ptr(c, addr, first, access);
	if (!p1)
		sys_xlate(c, addr, access, &g1);
	if (first < len) {
		p2 = cpu_mem_ptr(c, next, len - first, access);
		if (!p2)
			sys_xlate(c, next, access, &g2);
	}
	if (p1) {
		if (write)
			memcpy(p1, buf, first);
		else
			memcpy(buf, p1, first);
	} else {
		mmio_rw(c, g1 | (addr & ~CPU_PAGE_MASK), buf, first, write);
	}
	if (first == len)
		return;
	if (p2) {
		if (write)
			memcpy(p2, (uint8_t *)buf + first, len - first);
		else
			memcpy((uint8_t *)buf + first, p2, len - first);
	} else {
		mmio_rw(c, g2, (uint8_t *)buf + first, len - first, write);
	}
}

/* Implicit supervisor accesses (descriptor tables, the TSS, interrupt
 * frames): rights as CPL0 whatever the CPL (Vol. 3 §4.6), no TLB. */
static void lin_rw(struct cpu *c, uint64_t addr, uint8_t *buf, unsigned len, bool write)
{
	struct cpu_sys *s = c->sys;
	uint64_t gpa[2];
	unsigned part[2], n = 0;

	while (len) {
		uint64_t next = (addr & CPU_PAGE_MASK) + CPU_PAGE_SIZE;
		unsigned k = (unsigned)(next - addr) < len ? (unsigned)(next - addr) : len;

		if (n == 2)
			return; /* callers never pass more than two pages */
		if ((c->efer & EFER_LMA) && !canonical(addr))
			cpu_gp0(c);
		gpa[n] = sys_walk(c, addr, write ? CPU_ACC_WRITE : CPU_ACC_READ, false);
		part[n++] = k;
		addr += k, len -= k;
	}
	for (unsigned j = 0; j < n; j++) {
		uint8_t *p = s->ops->ram(s->opaque, gpa[j] & CPU_PAGE_MASK, CPU_PAGE_SIZE);

		if (write && code_bit(s, gpa[j] & CPU_PAGE_MASK))
			code_written(c, gpa[j] & CPU_PAGE_MASK);
		if (p) {
			p += gpa[j] & ~CPU_PAGE_MASK;
			if (write)
				memcpy(p, buf, part[j]);
			else
				memcpy(buf, p, part[j]);
		} else {
			mmio_rw(c, gpa[j], buf, part[j], write);
		}
		buf += part[j];
	}
}

void sys_lin_read(struct cpu *c, uint64_t addr, void *buf, unsigned len)
{
	lin_rw(c, addr, buf, len, false);
}

void sys_lin_write(struct cpu *c, uint64_t addr, const void *buf, unsigned len)
{
	lin_rw(c, addr, (uint8_t *)buf, len, true);
}

void cpu_invalidate_phys(struct cpu *c, uint64_t gpa, uint64_t len)
{
	uint64_t p, end = gpa + len;

	if (!c->sys || len == 0)
		return;
	for (p = gpa & CPU_PAGE_MASK; p < end; p += CPU_PAGE_SIZE) {
		if (code_bit(c->sys, p))
			code_written(c, p);
		if (p + CPU_PAGE_SIZE < p)
			break;
	}
}

void cpu_dma_written(uint64_t gpa, uint64_t len)
{
	uint8_t *bits = __atomic_load_n(&code_bits, __ATOMIC_ACQUIRE);
	uint64_t pn, last;
	bool hit = false;

	if (!bits || len == 0 || gpa + len < gpa)
		return;
	last = (gpa + len - 1) >> 12;
	for (pn = gpa >> 12; pn <= last && pn < CODE_BITS_MAX_PAGES; pn++) {
		uint8_t bit = (uint8_t)(1u << (pn & 7));

		if (__atomic_load_n(&bits[pn >> 3], __ATOMIC_RELAXED) & bit) {
			__atomic_fetch_and(&bits[pn >> 3], (uint8_t)~bit, __ATOMIC_SEQ_CST);
			hit = true;
		}
	}
	if (hit)
		__atomic_add_fetch(&sys_code_gen, 1, __ATOMIC_SEQ_CST);
}

/* MOV to CR3: every translation but the global ones. */
void sys_tlb_flush_nonglobal(struct cpu *c)
{
	struct cpu_sys *s = c->sys;

	cpu_xkey_bump(c, true);
	for (unsigned k = 0; k < TLB_SIZE; k++)
		if (!s->tlb_global[k])
			c->tlb[k].tag_r = c->tlb[k].tag_w = c->tlb[k].tag_x = ~0ULL;
	for (unsigned k = 0; k < SYS_LARGE_TLB; k++)
		if (!s->large_tlb[k].global)
			s->large_tlb[k].region = 0;
}

void sys_tlb_flush_all(struct cpu *c)
{
	cpu_tlb_flush(c);
	c->sys->tlb_large = 0;
	/* (a ROM rebuilt at reset may move: forget the host pages too) */
	memset(c->sys->walk_table, 0, sizeof(c->sys->walk_table));
	memset(c->sys->large_tlb, 0, sizeof(c->sys->large_tlb));
}

/* INVLPG (Vol. 3 §4.10.4.1): every entry that may come from the page
 * mapping la, whatever its size. */
void sys_invlpg(struct cpu *c, uint64_t la)
{
	struct cpu_sys *s = c->sys;
	uint64_t mask = s->tlb_large == 2 ? ~((1ULL << 30) - 1) :
			s->tlb_large == 1 ? ~((1ULL << 21) - 1) : CPU_PAGE_MASK;
	uint64_t region = la & mask;

	cpu_xkey_bump(c, false);
	memset(s->large_tlb, 0, sizeof(s->large_tlb));
	if (s->tlb_large == 0) {
		struct tlb_entry *e = &c->tlb[(la >> 12) & (TLB_SIZE - 1)];

		e->tag_r = e->tag_w = e->tag_x = ~0ULL;
		return;
	}
	for (unsigned k = 0; k < TLB_SIZE; k++) {
		struct tlb_entry *e = &c->tlb[k];

		if ((e->tag_r & mask) == region || (e->tag_w & mask) == region ||
		    (e->tag_x & mask) == region)
			e->tag_r = e->tag_w = e->tag_x = ~0ULL;
	}
}
