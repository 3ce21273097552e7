#include "hw/x86/e820.h"

#include "hw/x86/layout.h"

static unsigned e820_add(struct e820_entry *out, unsigned n, unsigned max, uint64_t addr,
			 uint64_t size, uint32_t type)
{
	if (size == 0 || n >= max)
		return n;
	out[n] = (struct e820_entry){ .addr = addr, .size = size, .type = type };
	return n + 1;
}

unsigned e820_build(const struct guest_mem *gm, struct e820_entry *out, unsigned max)
{
	uint64_t low_end = gm_low_size(gm);
	uint64_t high = gm_high_size(gm);
	unsigned n = 0;

	/* Conventional memory up to the EBDA; the EBDA, the ACPI tables and the
	 * BIOS alias (0xe0000-0xfffff) are firmware-owned, like a real PC's
	 * (boot.rst "Memory layout": the low 1 MiB above the EBDA is reserved). */
	n = e820_add(out, n, max, 0, low_end < LAYOUT_EBDA ? low_end : LAYOUT_EBDA, E820_RAM);
	n = e820_add(out, n, max, LAYOUT_EBDA, LAYOUT_HIGH_MEM - LAYOUT_EBDA, E820_RESERVED);
	if (low_end > LAYOUT_HIGH_MEM)
		n = e820_add(out, n, max, LAYOUT_HIGH_MEM, low_end - LAYOUT_HIGH_MEM, E820_RAM);
	/* Windows in the PCI hole that the OS must not hand out as BAR space:
	 * ECAM (Linux also checks MCFG against e820, see PCI Firmware Spec 3.2
	 * §4.1.2), the IOAPIC and LAPIC pages, and where --firmware sits. */
	n = e820_add(out, n, max, LAYOUT_PCIE_ECAM_BASE, LAYOUT_PCIE_ECAM_SIZE, E820_RESERVED);
	n = e820_add(out, n, max, LAYOUT_IOAPIC_BASE, 4 * KiB, E820_RESERVED);
	n = e820_add(out, n, max, LAYOUT_LAPIC_BASE, 4 * KiB, E820_RESERVED);
	n = e820_add(out, n, max, LAYOUT_FIRMWARE_TOP - LAYOUT_FIRMWARE_MAX, LAYOUT_FIRMWARE_MAX,
		     E820_RESERVED);
	n = e820_add(out, n, max, LAYOUT_HIGH_RAM_BASE, high, E820_RAM);
	return n;
}

uint64_t e820_pci_mmio64_base(const struct guest_mem *gm)
{
	uint64_t end = LAYOUT_HIGH_RAM_BASE + gm_high_size(gm);

	return (end + GiB - 1) & ~(GiB - 1);
}
