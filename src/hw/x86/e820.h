/* The guest-physical memory map as firmware would report it (INT 15h
 * AX=E820h; ACPI 6.5 §15 "System Address Map Interfaces"): handed to Linux in
 * boot_params.e820_table and to multiboot kernels as their mmap. */
#ifndef VIREO_HW_X86_E820_H
#define VIREO_HW_X86_E820_H

#include <stdint.h>

#include "vm/guest_mem.h"

enum e820_type {
	E820_RAM = 1,
	E820_RESERVED = 2,
	E820_ACPI = 3,
};

struct e820_entry {
	uint64_t addr, size;
	uint32_t type;
};

/* Most entries e820_build() ever produces. */
#define E820_MAX_ENTRIES 16

/* Fills out[] with the map for gm's RAM, sorted by address and
 * non-overlapping: RAM 0..LAYOUT_EBDA, reserved EBDA..1 MiB (EBDA, ACPI tables,
 * BIOS alias), RAM 1 MiB..end of low RAM, reserved ECAM, IOAPIC, LAPIC and the
 * firmware window below 4 GiB, RAM from 4 GiB if any. Returns the number of
 * entries written (never more than max). */
unsigned e820_build(const struct guest_mem *gm, struct e820_entry *out, unsigned max);

/* Base of the 64-bit PCI BAR window (LAYOUT_PCI_MMIO64_SIZE bytes): the first
 * 1 GiB boundary at or above the end of RAM and 4 GiB. The ACPI _CRS and the
 * PCI BAR allocator must agree on it. */
uint64_t e820_pci_mmio64_base(const struct guest_mem *gm);

#endif
