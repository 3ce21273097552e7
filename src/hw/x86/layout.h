/* Every fixed guest-physical address, port and GSI of Vireo's PC board, in
 * one place. Changing one here changes it for the loaders, ACPI and devices. */
#ifndef VIREO_HW_X86_LAYOUT_H
#define VIREO_HW_X86_LAYOUT_H

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* --- Guest-physical memory map --- */
#define LAYOUT_REAL_MODE_IVT 0x00000000ULL
#define LAYOUT_BOOT_GDT 0x00000500ULL      /* GDT for 32/64-bit entries */
#define LAYOUT_BOOT_IDT 0x00000520ULL      /* empty IDT for the entry state */
#define LAYOUT_MULTIBOOT_INFO 0x00006000ULL /* multiboot info + mmap + cmdline */
#define LAYOUT_BOOT_PARAMS 0x00007000ULL   /* Linux zero page */
#define LAYOUT_BOOT_STACK 0x00008ff0ULL    /* initial stack for test kernels (grows down) */
#define LAYOUT_PML4 0x00009000ULL          /* identity page tables for 64-bit entry: */
#define LAYOUT_PDPT 0x0000a000ULL          /*   PML4, PDPT and 4 PDs mapping 0-4 GiB */
#define LAYOUT_PD 0x0000b000ULL            /*   with 2 MiB pages (0xb000-0xefff) */
#define LAYOUT_CMDLINE 0x00020000ULL       /* kernel command line */
#define LAYOUT_CMDLINE_MAX 0x10000ULL
#define LAYOUT_EBDA 0x0009fc00ULL          /* 1 KiB EBDA; RAM below it is usable */
#define LAYOUT_ACPI_BASE 0x000e0000ULL     /* RSDP (16-byte aligned, first) and ACPI tables */
#define LAYOUT_ACPI_SIZE 0x00010000ULL     /* 0xe0000-0xeffff */
#define LAYOUT_BIOS_ALIAS 0x000f0000ULL    /* last 64 KiB of --firmware copied here */
#define LAYOUT_BIOS_ALIAS_SIZE 0x00010000ULL /* 0xe0000-0xfffff is reserved in e820 */
#define LAYOUT_HIGH_MEM 0x00100000ULL      /* 1 MiB: protected-mode kernels load here */

/* RAM below 4 GiB ends where the PCI hole begins; the rest is mapped at 4 GiB. */
#define LAYOUT_PCI_HOLE_START 0xc0000000ULL /* 3 GiB */
#define LAYOUT_PCI_MMIO_BASE 0xc0000000ULL  /* 32-bit PCI BAR window */
#define LAYOUT_PCI_MMIO_SIZE 0x20000000ULL  /* 512 MiB */
#define LAYOUT_PCIE_ECAM_BASE 0xe0000000ULL /* MCFG: bus 0-255 */
#define LAYOUT_PCIE_ECAM_SIZE 0x10000000ULL
#define LAYOUT_IOAPIC_BASE 0xfec00000ULL
#define LAYOUT_LAPIC_BASE 0xfee00000ULL
/* KVM on VMX without unrestricted guest needs an identity-mapped page table
 * page and a 3-page TSS for real mode; both sit in the unused hole below
 * the largest firmware image (as QEMU places them). */
#define LAYOUT_KVM_IDENTITY_MAP 0xfeffc000ULL
#define LAYOUT_KVM_TSS 0xfeffd000ULL        /* 3 pages, up to 0xfeffffff */
#define LAYOUT_FIRMWARE_TOP 0x100000000ULL  /* flat firmware ends at 4 GiB */
#define LAYOUT_FIRMWARE_MAX (16 * MiB)
#define LAYOUT_HIGH_RAM_BASE 0x100000000ULL /* RAM above the hole */
#define LAYOUT_PCI_MMIO64_SIZE (64 * GiB)   /* 64-bit BAR window placed above RAM */

/* --- Port I/O --- */
#define LAYOUT_PORT_PIC_MASTER 0x20
#define LAYOUT_PORT_PIT 0x40
#define LAYOUT_PORT_I8042_DATA 0x60
#define LAYOUT_PORT_I8042_CMD 0x64  /* 0xFE: pulse reset line */
#define LAYOUT_PORT_RTC 0x70        /* index 0x70, data 0x71 */
#define LAYOUT_PORT_PIC_SLAVE 0xa0
#define LAYOUT_PORT_DEBUG_EXIT 0xf4 /* QEMU isa-debug-exit: exit((v << 1) | 1) */
#define LAYOUT_PORT_COM1 0x3f8
#define LAYOUT_PORT_ACPI_PM 0x600   /* PM1a_EVT (4), PM1a_CNT (2), pad, PM_TMR (4) */
#define LAYOUT_PORT_ACPI_PM1A_EVT 0x600
#define LAYOUT_PORT_ACPI_PM1A_CNT 0x604
#define LAYOUT_PORT_ACPI_PM_TMR 0x608
#define LAYOUT_PORT_ACPI_PM_LEN 0x10
#define LAYOUT_PORT_PCI_CONFIG 0xcf8 /* mechanism #1: address 0xcf8, data 0xcfc */
#define LAYOUT_PORT_RESET 0xcf9      /* ACPI reset register (write 0x06) */
#define LAYOUT_RESET_VALUE 0x06
#define LAYOUT_ACPI_S5_SLP_TYP 5     /* \_S5 package value: PM1a_CNT = (5 << 10) | SLP_EN */
#define LAYOUT_ACPI_SLP_EN (1u << 13)

/* --- Interrupts (GSIs == ISA IRQs for 0-15 through the IOAPIC) --- */
#define LAYOUT_GSI_PIT 0  /* ISA IRQ 0, overridden to GSI 2 in the MADT */
#define LAYOUT_GSI_COM1 4
#define LAYOUT_GSI_RTC 8
#define LAYOUT_GSI_SCI 9
#define LAYOUT_IOAPIC_PINS 24
#define LAYOUT_GSI_PCI_INTX_BASE 16 /* INTA-INTD of PCI slots, swizzled, level, active low */

#endif
