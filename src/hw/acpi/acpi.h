/* ACPI tables for Vireo's PC board (ACPI 6.5): RSDP, RSDT/XSDT, FADT, FACS,
 * DSDT, MADT and MCFG, built into the LAYOUT_ACPI_BASE area where the RSDP
 * is found by the EBDA/BIOS-area scan (§5.2.5.1) and via boot_params. */
#ifndef VIREO_HW_ACPI_ACPI_H
#define VIREO_HW_ACPI_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct vm;

struct acpi_params {
	unsigned ncpus;          /* 1..ACPI_MAX_CPUS; APIC IDs 0..ncpus-1 */
	uint64_t mmio64_base;    /* 64-bit PCI window (e820_pci_mmio64_base) */
	uint64_t mmio64_size;
	bool i8042;              /* an 8042 at 0x60/0x64 (FADT IAPC_BOOT_ARCH) */
};

/* xAPIC IDs are 8 bits, 0xff is the broadcast ID, and the IOAPIC takes ID
 * ncpus. */
#define ACPI_MAX_CPUS 254

/* Builds every table into buf (len bytes, which the guest sees at gpa),
 * RSDP first. Unused bytes are zeroed. Returns the bytes used or a
 * negative errno. */
int acpi_build_tables(const struct acpi_params *p, uint8_t *buf, size_t len, uint64_t gpa,
		      struct err *err);

/* The board's call: the tables for vm->ncpus and vm->mem at LAYOUT_ACPI_BASE. */
int acpi_build(struct vm *vm, struct err *err);

/* Sum of len bytes mod 256; a valid table sums to 0. */
uint8_t acpi_checksum(const void *p, size_t len);

#endif
