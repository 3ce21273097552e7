/* Memory-map sanity checks shared by the e820 (Linux) and multiboot guests. */
#include "guest.h"

#define E820_RAM 1

static int range_overlaps(const struct guest_mem_range *r, uint64_t lo, uint64_t hi)
{
	return r->base < hi && r->base + r->len > lo;
}

void guest_check_memmap(const struct guest_mem_range *r, int n, uint64_t mem, uint64_t slack)
{
	int low_ok = 0, high_ok = 0, overlap = 0, zero = 0, hole = 0;
	uint64_t above_1m = 0;

	for (int i = 0; i < n; i++) {
		guest_puts("  map ");
		guest_put_hex(r[i].base);
		guest_puts(" + ");
		guest_put_hex(r[i].len);
		guest_puts(" type ");
		guest_put_dec(r[i].type);
		guest_puts("\n");
		if (!r[i].len || r[i].base + r[i].len < r[i].base)
			zero = 1;
		for (int j = 0; j < i; j++)
			if (range_overlaps(&r[j], r[i].base, r[i].base + r[i].len))
				overlap = 1;
		if (r[i].type != E820_RAM)
			continue;
		if (r[i].base == 0 && r[i].len >= 0x80000 && r[i].len <= 0xa0000)
			low_ok = 1;
		if (r[i].base == LAYOUT_HIGH_MEM)
			high_ok = 1;
		if (range_overlaps(&r[i], 0xa0000, LAYOUT_HIGH_MEM) ||
		    range_overlaps(&r[i], LAYOUT_PCI_HOLE_START, 0x100000000ULL))
			hole = 1;
		if (r[i].base >= LAYOUT_HIGH_MEM)
			above_1m += r[i].len;
	}
	guest_check("memory map has entries", n > 0);
	guest_check("memory map entries non-empty", !zero);
	guest_check("memory map entries do not overlap", !overlap);
	guest_check("RAM at 0 ends between 512K and 640K", low_ok);
	guest_check("RAM starts at 1M", high_ok);
	guest_check("no RAM in the legacy or PCI hole", !hole);
	guest_puts("  RAM above 1M: ");
	guest_put_dec(above_1m >> 10);
	guest_puts(" KiB, expected ");
	guest_put_dec((mem - LAYOUT_HIGH_MEM) >> 10);
	guest_puts(" KiB\n");
	guest_check("RAM total matches memory size",
		    above_1m <= mem - LAYOUT_HIGH_MEM && above_1m + slack >= mem - LAYOUT_HIGH_MEM);
}
