#include "hw/x86/layout.h"
#include "testlib.h"
#include "vm/guest_mem.h"

int main(void)
{
	struct guest_mem gm;
	struct err err = { { 0 } };

	TEST_BEGIN("guest_mem_small");
	CHECK(gm_init(&gm, 256 * MiB, &err) == 0);
	CHECK_EQ(gm.nregions, 1);
	CHECK(gm_hva(&gm, 0, 256 * MiB) != NULL);
	CHECK(gm_hva(&gm, 256 * MiB - 1, 2) == NULL);
	CHECK(gm_hva(&gm, 256 * MiB, 0) != NULL);
	CHECK(gm_hva(&gm, ~0ULL, 2) == NULL);
	CHECK(gm_hva(&gm, 16, ~0ULL) == NULL);
	gm_fini(&gm);
	TEST_END();

	TEST_BEGIN("guest_mem_crosses_pci_hole");
	CHECK(gm_init(&gm, 4 * GiB, &err) == 0);
	CHECK_EQ(gm.nregions, 2);
	CHECK_EQ(gm_low_size(&gm), LAYOUT_PCI_HOLE_START);
	CHECK_EQ(gm_high_size(&gm), 4 * GiB - LAYOUT_PCI_HOLE_START);
	CHECK(gm_hva(&gm, LAYOUT_PCI_HOLE_START, 1) == NULL);
	CHECK(gm_hva(&gm, LAYOUT_PCI_HOLE_START - 4, 8) == NULL);
	CHECK(gm_hva(&gm, 4 * GiB, 8) == gm.base + LAYOUT_PCI_HOLE_START);
	gm_fini(&gm);
	TEST_END();

	TEST_BEGIN("guest_mem_rejects_bad_size");
	CHECK(gm_init(&gm, 0, &err) < 0);
	CHECK(gm_init(&gm, 4097, &err) < 0);
	TEST_END();
	return 0;
}
