/* Page-table walk for the debugger: see pagewalk.h. */
#include "gdbstub/pagewalk.h"

#include <errno.h>

#define CR0_PG (1ull << 31)
#define CR4_PSE (1ull << 4)
#define CR4_PAE (1ull << 5)
#define CR4_LA57 (1ull << 12)
#define EFER_LMA (1ull << 10)
#define PTE_P 1ull
#define PTE_PS (1ull << 7)
/* Physical-address bits of an entry: up to MAXPHYADDR 52 (SDM Vol. 3A, 4.5). */
#define PTE_ADDR 0x000ffffffffff000ull

static int pagewalk_entry(pagewalk_read_fn *read, void *opaque, uint64_t gpa, unsigned size,
			  uint64_t *e)
{
	uint32_t e32;

	if (size == 4) {
		if (!read(opaque, gpa, &e32, 4))
			return -EFAULT;
		*e = e32;
	} else if (!read(opaque, gpa, e, 8)) {
		return -EFAULT;
	}
	return (*e & PTE_P) ? 0 : -EFAULT;
}

static void pagewalk_done(uint64_t base, uint64_t page_size, uint64_t gva, uint64_t *gpa,
			  uint64_t *left)
{
	uint64_t off = gva & (page_size - 1);

	*gpa = base + off;
	*left = page_size - off;
}

/* 32-bit paging (SDM Vol. 3A, 4.3): a 1024-entry directory and tables;
 * PDE.PS with CR4.PSE maps 4 MiB, bits 13-20 of the PDE being physical
 * address bits 32-39. */
static int pagewalk_32(const struct pagewalk_regs *r, uint32_t gva, pagewalk_read_fn *read,
		       void *opaque, uint64_t *gpa, uint64_t *left)
{
	uint64_t pde, pte;
	int ret;

	ret = pagewalk_entry(read, opaque, (r->cr3 & 0xfffff000u) + ((gva >> 22) << 2), 4, &pde);
	if (ret)
		return ret;
	if ((pde & PTE_PS) && (r->cr4 & CR4_PSE)) {
		uint64_t base = (pde & 0xffc00000u) | ((pde >> 13) & 0xff) << 32;

		pagewalk_done(base, 4u << 20, gva, gpa, left);
		return 0;
	}
	ret = pagewalk_entry(read, opaque, (pde & 0xfffff000u) + (((gva >> 12) & 0x3ff) << 2), 4,
			     &pte);
	if (ret)
		return ret;
	pagewalk_done(pte & 0xfffff000u, 4096, gva, gpa, left);
	return 0;
}

/* PAE and 4/5-level paging (SDM Vol. 3A, 4.4 and 4.5): 512-entry tables of
 * 8-byte entries indexed by 9 address bits each; PS in a PDPTE (1 GiB, not
 * in PAE) or PDE (2 MiB) ends the walk early. */
static int pagewalk_long(const struct pagewalk_regs *r, uint64_t gva, pagewalk_read_fn *read,
			 void *opaque, uint64_t *gpa, uint64_t *left)
{
	bool lma = r->efer & EFER_LMA;
	unsigned levels = !lma ? 3 : (r->cr4 & CR4_LA57) ? 5 : 4;
	uint64_t table, e;
	int ret;

	if (lma) {
		/* Canonical: bits 63..(width-1) all equal (SDM Vol. 1, 3.3.7.1). */
		unsigned width = levels == 5 ? 57 : 48;
		int64_t top = (int64_t)gva >> (width - 1);

		if (top != 0 && top != -1)
			return -EFAULT;
		table = r->cr3 & PTE_ADDR;
	} else {
		/* PAE: CR3 bits 31:5 locate the four PDPTEs. */
		gva = (uint32_t)gva;
		ret = pagewalk_entry(read, opaque, (r->cr3 & 0xffffffe0u) + ((gva >> 30) << 3), 8,
				     &e);
		if (ret)
			return ret;
		table = e & PTE_ADDR;
		levels = 2;
	}
	for (unsigned level = levels; level >= 1; level--) {
		unsigned shift = 12 + 9 * (level - 1);

		ret = pagewalk_entry(read, opaque, table + (((gva >> shift) & 511) << 3), 8, &e);
		if (ret)
			return ret;
		if (level == 1 || ((level == 2 || (level == 3 && lma)) && (e & PTE_PS))) {
			uint64_t page_size = 1ull << shift;

			pagewalk_done(e & PTE_ADDR & ~(page_size - 1), page_size, gva, gpa, left);
			return 0;
		}
		table = e & PTE_ADDR;
	}
	return -EFAULT;
}

int pagewalk_translate(const struct pagewalk_regs *r, uint64_t gva, pagewalk_read_fn *read,
		       void *opaque, uint64_t *gpa, uint64_t *left)
{
	if (!(r->cr0 & CR0_PG)) {
		/* No paging: linear is physical; report 4 KiB steps so callers
		 * split large accesses the same way in every mode. */
		pagewalk_done(gva & ~4095ull, 4096, gva, gpa, left);
		return 0;
	}
	if (r->cr4 & CR4_PAE)
		return pagewalk_long(r, gva, read, opaque, gpa, left);
	return pagewalk_32(r, (uint32_t)gva, read, opaque, gpa, left);
}
