/* Minimal ACPI table walking for the test guests (ACPI 6.5 §5.2). */
#include "guest.h"

struct acpi_sdt_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	uint32_t creator_id;
	uint32_t creator_revision;
} __attribute__((packed));

int guest_acpi_rsdp_valid(uint64_t rsdp)
{
	const uint8_t *p = phys(rsdp);

	if (!rsdp || guest_memcmp(p, "RSD PTR ", 8))
		return 0;
	if (guest_sum8(p, 20))
		return 0;
	/* Revision 2+: 36-byte structure with its own extended checksum. */
	if (p[15] >= 2) {
		uint32_t len = *(const uint32_t *)(p + 20);

		if (len < 36 || len > 64 || guest_sum8(p, len))
			return 0;
	}
	return 1;
}

uint64_t guest_acpi_find_rsdp(void)
{
	for (uint64_t a = 0xe0000; a < 0x100000; a += 16)
		if (guest_acpi_rsdp_valid(a))
			return a;
	return 0;
}

static const struct acpi_sdt_header *acpi_table(uint64_t addr, const char *sig)
{
	const struct acpi_sdt_header *h = phys(addr);

	if (!addr || addr >= 0x100000000ULL || guest_memcmp(h->signature, sig, 4))
		return NULL;
	if (h->length < sizeof(*h) || h->length > 0x100000 || guest_sum8(h, h->length))
		return NULL;
	return h;
}

static const struct acpi_sdt_header *acpi_find(uint64_t rsdp, const char *sig)
{
	const uint8_t *p = phys(rsdp);
	const struct acpi_sdt_header *root;
	int wide = p[15] >= 2;
	uint64_t root_addr;

	if (wide)
		root_addr = *(const uint64_t *)(p + 24);
	else
		root_addr = *(const uint32_t *)(p + 16);
	root = acpi_table(root_addr, wide ? "XSDT" : "RSDT");
	if (!root)
		return NULL;
	size_t esz = wide ? 8 : 4;
	size_t n = (root->length - sizeof(*root)) / esz;
	const uint8_t *ents = (const uint8_t *)(root + 1);

	for (size_t i = 0; i < n; i++) {
		uint64_t a =
		    wide ? *(const uint64_t *)(ents + i * 8) : *(const uint32_t *)(ents + i * 4);
		const struct acpi_sdt_header *t = acpi_table(a, sig);

		if (t)
			return t;
	}
	return NULL;
}

int guest_acpi_madt_cpus(uint64_t rsdp)
{
	const struct acpi_sdt_header *madt = acpi_find(rsdp, "APIC");
	int cpus = 0;

	if (!madt)
		return -1;
	/* Interrupt controller structures follow the 8-byte LAPIC address + flags. */
	const uint8_t *p = (const uint8_t *)madt + sizeof(*madt) + 8;
	const uint8_t *end = (const uint8_t *)madt + madt->length;

	while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
		/* Type 0: processor local APIC; flags bit 0 = enabled (§5.2.12.2). */
		if (p[0] == 0 && p[1] >= 8 && (*(const uint32_t *)(p + 4) & 1))
			cpus++;
		p += p[1];
	}
	return cpus;
}
