#include "hw/x86/e820.h"
#include "hw/x86/layout.h"
#include "testlib.h"

/* Sorted, non-overlapping, non-empty, and RAM exactly where guest_mem has it. */
static void check_map(const struct guest_mem *gm, const struct e820_entry *e, unsigned n)
{
	uint64_t ram = 0;

	for (unsigned i = 0; i < n; i++) {
		CHECK(e[i].size > 0);
		CHECK(e[i].addr + e[i].size > e[i].addr);
		if (i)
			CHECK(e[i - 1].addr + e[i - 1].size <= e[i].addr);
		if (e[i].type == E820_RAM) {
			CHECK(gm_hva(gm, e[i].addr, e[i].size) != NULL);
			ram += e[i].size;
		}
	}
	/* Only the EBDA..1 MiB hole is RAM that e820 withholds. */
	CHECK_EQ(ram + (gm->size > LAYOUT_HIGH_MEM ? LAYOUT_HIGH_MEM - LAYOUT_EBDA : 0), gm->size);
}

static const struct e820_entry *find_at(const struct e820_entry *e, unsigned n, uint64_t addr)
{
	for (unsigned i = 0; i < n; i++)
		if (e[i].addr == addr)
			return &e[i];
	return NULL;
}

int main(void)
{
	struct e820_entry e[E820_MAX_ENTRIES];
	struct guest_mem gm;
	struct err err = { { 0 } };
	const struct e820_entry *x;
	unsigned n;

	TEST_BEGIN("e820_small");
	CHECK(gm_init(&gm, 256 * MiB, &err) == 0);
	n = e820_build(&gm, e, E820_MAX_ENTRIES);
	check_map(&gm, e, n);
	CHECK(e[0].addr == 0 && e[0].size == LAYOUT_EBDA && e[0].type == E820_RAM);
	CHECK(e[1].addr == LAYOUT_EBDA && e[1].type == E820_RESERVED);
	CHECK_EQ(e[1].addr + e[1].size, LAYOUT_HIGH_MEM);
	CHECK(e[2].addr == LAYOUT_HIGH_MEM && e[2].size == 255 * MiB && e[2].type == E820_RAM);
	x = find_at(e, n, LAYOUT_PCIE_ECAM_BASE);
	CHECK(x && x->type == E820_RESERVED && x->size == LAYOUT_PCIE_ECAM_SIZE);
	x = find_at(e, n, LAYOUT_IOAPIC_BASE);
	CHECK(x && x->type == E820_RESERVED);
	x = find_at(e, n, LAYOUT_LAPIC_BASE);
	CHECK(x && x->type == E820_RESERVED);
	CHECK(e[n - 1].addr + e[n - 1].size == LAYOUT_FIRMWARE_TOP);
	CHECK_EQ(e820_pci_mmio64_base(&gm), 4 * GiB);
	gm_fini(&gm);
	TEST_END();

	TEST_BEGIN("e820_3g_fills_low_ram");
	CHECK(gm_init(&gm, 3 * GiB, &err) == 0);
	n = e820_build(&gm, e, E820_MAX_ENTRIES);
	check_map(&gm, e, n);
	CHECK_EQ(e[2].addr + e[2].size, LAYOUT_PCI_HOLE_START);
	CHECK(find_at(e, n, LAYOUT_HIGH_RAM_BASE) == NULL);
	gm_fini(&gm);
	TEST_END();

	TEST_BEGIN("e820_4g_splits_at_pci_hole");
	CHECK(gm_init(&gm, 4 * GiB + 512 * MiB, &err) == 0);
	n = e820_build(&gm, e, E820_MAX_ENTRIES);
	check_map(&gm, e, n);
	CHECK_EQ(e[2].addr + e[2].size, LAYOUT_PCI_HOLE_START);
	x = find_at(e, n, LAYOUT_HIGH_RAM_BASE);
	CHECK(x && x->type == E820_RAM && x->size == GiB + 512 * MiB);
	CHECK(x == &e[n - 1]);
	CHECK_EQ(e820_pci_mmio64_base(&gm), 6 * GiB);
	gm_fini(&gm);
	TEST_END();

	TEST_BEGIN("e820_truncates_to_max");
	CHECK(gm_init(&gm, 16 * MiB, &err) == 0);
	CHECK_EQ(e820_build(&gm, e, 2), 2);
	CHECK_EQ(e820_build(&gm, e, 0), 0);
	gm_fini(&gm);
	TEST_END();
	return 0;
}
