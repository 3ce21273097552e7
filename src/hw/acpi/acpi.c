/* Vireo's ACPI tables (ACPI 6.5 §5.2). Everything the guest needs to find
 * its CPUs, interrupt controllers, PCI root and fixed-hardware PM block; no
 * SMM, so the platform is permanently in ACPI mode (FADT SMI_CMD = 0). */
#include "hw/acpi/acpi.h"

#include <errno.h>
#include <string.h>

#include "hw/acpi/aml.h"
#include "hw/x86/e820.h"
#include "hw/x86/layout.h"
#include "vm/vm.h"

#define ACPI_HDR_LEN 36
#define ACPI_OEM_ID "VIREO "
#define ACPI_OEM_TABLE_ID "VIREOVM "
#define ACPI_CREATOR_ID "VIRE"

/* ACPI 6.5 §5.2.9 FADT: revision 6, minor 5, 276 bytes. */
#define FADT_LEN 276
#define FADT_FLAG_WBINVD (1u << 0)
#define FADT_FLAG_PROC_C1 (1u << 2)
#define FADT_FLAG_SLP_BUTTON (1u << 5)
#define FADT_FLAG_RESET_REG_SUP (1u << 10)
#define FADT_BOOT_LEGACY_DEVICES (1u << 0)
#define FADT_BOOT_8042 (1u << 1)
#define FADT_BOOT_VGA_NOT_PRESENT (1u << 2)

/* Generic Address Structure (§5.2.3.2) address space and access sizes. */
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1
#define GAS_ACCESS_WORD 2
#define GAS_ACCESS_DWORD 3

/* MADT (§5.2.12) structure types and MPS INTI flags (table 5.50). */
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_ISO 2
#define MADT_LAPIC_NMI 4
#define MADT_PCAT_COMPAT 1u
#define MPS_ACTIVE_HIGH 0x1
#define MPS_LEVEL 0xc

struct acpi_out {
	uint8_t *buf;
	size_t len, used;
	uint64_t gpa;
};

uint8_t acpi_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + b[i]);
	return sum;
}

/* Little-endian stores; the guest is x86 like the host. */
static void put8(uint8_t *t, size_t off, uint8_t v)
{
	t[off] = v;
}

static void put16(uint8_t *t, size_t off, uint16_t v)
{
	memcpy(t + off, &v, 2);
}

static void put32(uint8_t *t, size_t off, uint32_t v)
{
	memcpy(t + off, &v, 4);
}

static void put64(uint8_t *t, size_t off, uint64_t v)
{
	memcpy(t + off, &v, 8);
}

/* Reserves len bytes aligned to align; returns the offset or -1. */
static long acpi_alloc(struct acpi_out *o, size_t len, size_t align)
{
	size_t off = (o->used + align - 1) & ~(align - 1);

	if (off > o->len || len > o->len - off)
		return -1;
	o->used = off + len;
	return (long)off;
}

static void acpi_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put32(t, 4, len);
	put8(t, 8, rev);
	memcpy(t + 10, ACPI_OEM_ID, 6);
	memcpy(t + 16, ACPI_OEM_TABLE_ID, 8);
	put32(t, 24, 1);
	memcpy(t + 28, ACPI_CREATOR_ID, 4);
	put32(t, 32, 1);
}

static void acpi_finish(uint8_t *t, size_t len)
{
	t[9] = 0;
	t[9] = (uint8_t)-acpi_checksum(t, len);
}

static void acpi_gas(uint8_t *t, size_t off, uint8_t space, uint8_t bits, uint8_t access,
		     uint64_t addr)
{
	put8(t, off, space);
	put8(t, off + 1, bits);
	put8(t, off + 2, 0);
	put8(t, off + 3, access);
	put64(t, off + 4, addr);
}

/* --- DSDT (§5.2.11.1) --- */

static void dsdt_pci0(struct aml *a, const struct acpi_params *p)
{
	struct aml_open dev, crs, prt;

	dev = aml_device_begin(a, "PCI0");
	/* A PCI Express root (PNP0A08) compatible with plain PCI (PNP0A03). */
	aml_name_eisaid(a, "_HID", "PNP0A08");
	aml_name_eisaid(a, "_CID", "PNP0A03");
	aml_name_integer(a, "_ADR", 0);
	aml_name_integer(a, "_UID", 0);
	aml_name_integer(a, "_SEG", 0);
	aml_name_integer(a, "_BBN", 0);

	/* What the root bridge decodes (PCI Firmware Spec 3.2 §4.1): all
	 * buses, all I/O ports but the 0xcf8 config mechanism itself, the
	 * 32-bit BAR window below the ECAM and a 64-bit one above RAM. */
	aml_name(a, "_CRS");
	crs = aml_resource_template_begin(a);
	aml_res_word_bus(a, 0, 255);
	aml_res_io(a, LAYOUT_PORT_PCI_CONFIG, LAYOUT_PORT_PCI_CONFIG, 1, 8);
	aml_res_word_io(a, 0, LAYOUT_PORT_PCI_CONFIG - 1);
	aml_res_word_io(a, LAYOUT_PORT_PCI_CONFIG + 8, 0xffff);
	aml_res_dword_memory(a, (uint32_t)LAYOUT_PCI_MMIO_BASE,
			     (uint32_t)(LAYOUT_PCI_MMIO_BASE + LAYOUT_PCI_MMIO_SIZE - 1), false);
	if (p->mmio64_size)
		aml_res_qword_memory(a, p->mmio64_base, p->mmio64_base + p->mmio64_size - 1,
				     true);
	aml_end(a, crs);

	/* _PRT (§6.2.13): INTA-INTD of every slot to the IOAPIC pins from
	 * LAYOUT_GSI_PCI_INTX_BASE, rotated by slot number (the PCI-to-PCI
	 * bridge swizzle), so neighbouring devices do not share a line. With
	 * Source = 0 each entry names a GSI, which is level-triggered and
	 * active-low by definition. */
	aml_name(a, "_PRT");
	prt = aml_package_begin(a, 31 * 4);
	for (unsigned slot = 1; slot < 32; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			struct aml_open e = aml_package_begin(a, 4);

			aml_integer(a, (uint64_t)slot << 16 | 0xffff);
			aml_integer(a, pin);
			aml_integer(a, 0);
			aml_integer(a, LAYOUT_GSI_PCI_INTX_BASE + ((slot + pin) & 3));
			aml_end(a, e);
		}
	}
	aml_end(a, prt);
	aml_end(a, dev);
}

static void dsdt_legacy(struct aml *a)
{
	struct aml_open dev, crs;

	/* COM1, the guest's console: a 16550A (PNP0501). */
	dev = aml_device_begin(a, "COM1");
	aml_name_eisaid(a, "_HID", "PNP0501");
	aml_name_integer(a, "_UID", 1);
	aml_name(a, "_CRS");
	crs = aml_resource_template_begin(a);
	aml_res_io(a, LAYOUT_PORT_COM1, LAYOUT_PORT_COM1, 8, 8);
	aml_res_irq_noflags(a, LAYOUT_GSI_COM1);
	aml_end(a, crs);
	aml_end(a, dev);

	/* The CMOS RTC (PNP0B00), so rtc_cmos binds through PNP. */
	dev = aml_device_begin(a, "RTC");
	aml_name_eisaid(a, "_HID", "PNP0B00");
	aml_name(a, "_CRS");
	crs = aml_resource_template_begin(a);
	aml_res_io(a, LAYOUT_PORT_RTC, LAYOUT_PORT_RTC, 1, 2);
	aml_res_irq_noflags(a, LAYOUT_GSI_RTC);
	aml_end(a, crs);
	aml_end(a, dev);

	/* Motherboard resources (PNP0C02): the ECAM window, which Linux
	 * wants to see reserved here before trusting MCFG, and the PM block. */
	dev = aml_device_begin(a, "MRES");
	aml_name_eisaid(a, "_HID", "PNP0C02");
	aml_name_integer(a, "_UID", 0);
	aml_name(a, "_CRS");
	crs = aml_resource_template_begin(a);
	aml_res_memory32_fixed(a, (uint32_t)LAYOUT_PCIE_ECAM_BASE, (uint32_t)LAYOUT_PCIE_ECAM_SIZE,
			       true);
	aml_res_io(a, LAYOUT_PORT_ACPI_PM, LAYOUT_PORT_ACPI_PM, 1, LAYOUT_PORT_ACPI_PM_LEN);
	aml_end(a, crs);
	aml_end(a, dev);
}

static void dsdt_sleep_state(struct aml *a, const char *name, unsigned typ)
{
	/* {SLP_TYPa, SLP_TYPb, reserved, reserved} (§7.4.2); there is no
	 * PM1b, so SLP_TYPb repeats SLP_TYPa. */
	struct aml_open pkg;

	aml_name(a, name);
	pkg = aml_package_begin(a, 4);
	aml_integer(a, typ);
	aml_integer(a, typ);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_end(a, pkg);
}

static long acpi_dsdt(struct acpi_out *o, const struct acpi_params *p)
{
	size_t off = (o->used + 15) & ~(size_t)15;
	struct aml a;
	struct aml_open sb;

	if (off + ACPI_HDR_LEN > o->len)
		return -1;
	aml_init(&a, o->buf + off + ACPI_HDR_LEN, o->len - off - ACPI_HDR_LEN);
	sb = aml_scope_begin(&a, "\\_SB");
	dsdt_pci0(&a, p);
	dsdt_legacy(&a);
	aml_end(&a, sb);
	dsdt_sleep_state(&a, "\\_S0", 0);
	dsdt_sleep_state(&a, "\\_S5", LAYOUT_ACPI_S5_SLP_TYP);
	if (a.overflow)
		return -1;
	/* Revision 2: integers are 64 bits wide (§5.2.11.1). */
	acpi_header(o->buf + off, "DSDT", (uint32_t)(ACPI_HDR_LEN + a.len), 2);
	acpi_finish(o->buf + off, ACPI_HDR_LEN + a.len);
	o->used = off + ACPI_HDR_LEN + a.len;
	return (long)off;
}

/* --- FADT, FACS --- */

static long acpi_facs(struct acpi_out *o)
{
	/* §5.2.10: 64-byte aligned, no checksum. Needed by every non-reduced
	 * hardware platform for the waking vector and global lock. */
	long off = acpi_alloc(o, 64, 64);
	uint8_t *t;

	if (off < 0)
		return -1;
	t = o->buf + off;
	memcpy(t, "FACS", 4);
	put32(t, 4, 64);
	put8(t, 32, 2); /* version */
	return off;
}

static long acpi_fadt(struct acpi_out *o, const struct acpi_params *p, uint64_t facs,
		      uint64_t dsdt)
{
	long off = acpi_alloc(o, FADT_LEN, 16);
	uint16_t boot_arch = FADT_BOOT_VGA_NOT_PRESENT;
	uint8_t *t;

	if (off < 0)
		return -1;
	t = o->buf + off;
	acpi_header(t, "FACP", FADT_LEN, 6);
	put32(t, 36, (uint32_t)facs);
	put32(t, 40, (uint32_t)dsdt);
	put16(t, 46, LAYOUT_GSI_SCI);
	/* SMI_CMD (48), ACPI_ENABLE/DISABLE stay 0: always in ACPI mode. */
	put32(t, 56, LAYOUT_PORT_ACPI_PM1A_EVT);
	put32(t, 64, LAYOUT_PORT_ACPI_PM1A_CNT);
	put32(t, 76, LAYOUT_PORT_ACPI_PM_TMR);
	put8(t, 88, 4); /* PM1_EVT_LEN: status + enable, 2 bytes each */
	put8(t, 89, 2); /* PM1_CNT_LEN */
	put8(t, 91, 4); /* PM_TMR_LEN */
	/* No C2/C3: latencies above 100/1000 us say "not supported". */
	put16(t, 96, 101);
	put16(t, 98, 1001);
	put8(t, 108, 0x32); /* CENTURY: CMOS register 0x32 */
	if (p->i8042)
		boot_arch |= FADT_BOOT_LEGACY_DEVICES | FADT_BOOT_8042;
	put16(t, 109, boot_arch);
	/* Fixed power button (PWR_BUTTON = 0), no sleep button; the PM
	 * timer is the 24-bit kind (TMR_VAL_EXT = 0), which is also correct
	 * for a device whose counter is wider. */
	put32(t, 112, FADT_FLAG_WBINVD | FADT_FLAG_PROC_C1 | FADT_FLAG_SLP_BUTTON |
			      FADT_FLAG_RESET_REG_SUP);
	acpi_gas(t, 116, GAS_SYSTEM_IO, 8, GAS_ACCESS_BYTE, LAYOUT_PORT_RESET);
	put8(t, 128, LAYOUT_RESET_VALUE);
	put8(t, 131, 5); /* FADT minor version: ACPI 6.5 */
	/* X_FIRMWARE_CTRL must be zero when FIRMWARE_CTRL is used (§5.2.9,
	 * table 5.9); X_DSDT, when non-zero, supersedes DSDT, so both agree. */
	put64(t, 132, 0);
	put64(t, 140, dsdt);
	acpi_gas(t, 148, GAS_SYSTEM_IO, 32, GAS_ACCESS_WORD, LAYOUT_PORT_ACPI_PM1A_EVT);
	acpi_gas(t, 172, GAS_SYSTEM_IO, 16, GAS_ACCESS_WORD, LAYOUT_PORT_ACPI_PM1A_CNT);
	acpi_gas(t, 208, GAS_SYSTEM_IO, 32, GAS_ACCESS_DWORD, LAYOUT_PORT_ACPI_PM_TMR);
	acpi_finish(t, FADT_LEN);
	return off;
}

/* --- MADT (§5.2.12), MCFG (PCI Firmware Spec 3.2 §4.1.2) --- */

static long acpi_madt(struct acpi_out *o, const struct acpi_params *p)
{
	size_t len = ACPI_HDR_LEN + 8 + 8 * (size_t)p->ncpus + 12 + 2 * 10 + 6;
	long off = acpi_alloc(o, len, 16);
	uint8_t *t;
	size_t e;

	if (off < 0)
		return -1;
	t = o->buf + off;
	acpi_header(t, "APIC", (uint32_t)len, 5);
	put32(t, 36, (uint32_t)LAYOUT_LAPIC_BASE);
	put32(t, 40, MADT_PCAT_COMPAT); /* the 8259s exist (and start masked) */
	e = 44;
	for (unsigned i = 0; i < p->ncpus; i++, e += 8) {
		/* Processor UID = APIC ID = vCPU index; enabled. */
		put8(t, e, MADT_LAPIC);
		put8(t, e + 1, 8);
		put8(t, e + 2, (uint8_t)i);
		put8(t, e + 3, (uint8_t)i);
		put32(t, e + 4, 1);
	}
	put8(t, e, MADT_IOAPIC);
	put8(t, e + 1, 12);
	put8(t, e + 2, (uint8_t)p->ncpus); /* the first ID after the CPUs' */
	put32(t, e + 4, (uint32_t)LAYOUT_IOAPIC_BASE);
	put32(t, e + 8, 0); /* GSI base */
	e += 12;
	/* The PIT's IRQ 0 is wired to IOAPIC pin 2 on PCs. */
	put8(t, e, MADT_ISO);
	put8(t, e + 1, 10);
	put8(t, e + 2, 0); /* bus: ISA */
	put8(t, e + 3, 0);
	put32(t, e + 4, 2);
	put16(t, e + 8, 0); /* conforms to the bus: edge, active high */
	e += 10;
	/* The SCI is level-triggered, active high (§5.2.12.5). */
	put8(t, e, MADT_ISO);
	put8(t, e + 1, 10);
	put8(t, e + 2, 0);
	put8(t, e + 3, LAYOUT_GSI_SCI);
	put32(t, e + 4, LAYOUT_GSI_SCI);
	put16(t, e + 8, MPS_ACTIVE_HIGH | MPS_LEVEL);
	e += 10;
	/* NMI arrives on LINT1 of every processor (UID 0xff = all). */
	put8(t, e, MADT_LAPIC_NMI);
	put8(t, e + 1, 6);
	put8(t, e + 2, 0xff);
	put16(t, e + 3, 0);
	put8(t, e + 5, 1);
	acpi_finish(t, len);
	return off;
}

static long acpi_mcfg(struct acpi_out *o)
{
	size_t len = ACPI_HDR_LEN + 8 + 16;
	long off = acpi_alloc(o, len, 16);
	uint8_t *t;

	if (off < 0)
		return -1;
	t = o->buf + off;
	acpi_header(t, "MCFG", (uint32_t)len, 1);
	put64(t, 44, LAYOUT_PCIE_ECAM_BASE);
	put16(t, 52, 0); /* segment */
	put8(t, 54, 0);  /* start bus */
	put8(t, 55, (uint8_t)((LAYOUT_PCIE_ECAM_SIZE >> 20) - 1)); /* 1 MiB per bus */
	acpi_finish(t, len);
	return off;
}

/* --- RSDT, XSDT, RSDP (§5.2.5-§5.2.8) --- */

static long acpi_sdt(struct acpi_out *o, const char *sig, const uint64_t *tables, unsigned n,
		     unsigned width)
{
	size_t len = ACPI_HDR_LEN + (size_t)n * width;
	long off = acpi_alloc(o, len, 16);
	uint8_t *t;

	if (off < 0)
		return -1;
	t = o->buf + off;
	acpi_header(t, sig, (uint32_t)len, 1);
	for (unsigned i = 0; i < n; i++) {
		if (width == 8)
			put64(t, ACPI_HDR_LEN + i * 8, tables[i]);
		else
			put32(t, ACPI_HDR_LEN + i * 4, (uint32_t)tables[i]);
	}
	acpi_finish(t, len);
	return off;
}

int acpi_build_tables(const struct acpi_params *p, uint8_t *buf, size_t len, uint64_t gpa,
		      struct err *err)
{
	struct acpi_out o = { .buf = buf, .len = len, .used = 0, .gpa = gpa };
	long rsdp, facs, dsdt, fadt, madt, mcfg, xsdt, rsdt;
	uint64_t tables[3];
	uint8_t *r;

	if (p->ncpus == 0 || p->ncpus > ACPI_MAX_CPUS)
		return err_set(err, "ACPI: %u CPUs; the MADT describes 1 to %u", p->ncpus,
			       ACPI_MAX_CPUS);
	if (gpa + len > 4 * GiB)
		return err_set(err, "ACPI tables must live below 4 GiB");
	memset(buf, 0, len);
	/* The RSDP goes first so the 16-byte-aligned scan of 0xe0000-0xfffff
	 * finds it at once. */
	rsdp = acpi_alloc(&o, 36, 16);
	facs = acpi_facs(&o);
	dsdt = facs < 0 ? -1 : acpi_dsdt(&o, p);
	fadt = dsdt < 0 ? -1 : acpi_fadt(&o, p, gpa + (uint64_t)facs, gpa + (uint64_t)dsdt);
	madt = fadt < 0 ? -1 : acpi_madt(&o, p);
	mcfg = madt < 0 ? -1 : acpi_mcfg(&o);
	if (rsdp < 0 || mcfg < 0)
		goto nospace;
	tables[0] = gpa + (uint64_t)fadt;
	tables[1] = gpa + (uint64_t)madt;
	tables[2] = gpa + (uint64_t)mcfg;
	xsdt = acpi_sdt(&o, "XSDT", tables, 3, 8);
	/* An RSDT as well, for 32-bit guests that predate ACPI 2.0. */
	rsdt = xsdt < 0 ? -1 : acpi_sdt(&o, "RSDT", tables, 3, 4);
	if (rsdt < 0)
		goto nospace;

	r = buf + rsdp;
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, ACPI_OEM_ID, 6);
	put8(r, 15, 2); /* revision 2: ACPI 2.0+ with XSDT */
	put32(r, 16, (uint32_t)(gpa + (uint64_t)rsdt));
	put32(r, 20, 36);
	put64(r, 24, gpa + (uint64_t)xsdt);
	/* The first checksum covers the ACPI 1.0 part (20 bytes), the
	 * extended one all 36. */
	put8(r, 8, (uint8_t)-acpi_checksum(r, 20));
	put8(r, 32, (uint8_t)-acpi_checksum(r, 36));
	return (int)o.used;
nospace:
	err_set(err, "ACPI tables for %u CPUs do not fit in %zu bytes", p->ncpus, len);
	return -ENOSPC;
}

int acpi_build(struct vm *vm, struct err *err)
{
	struct acpi_params p = {
		.ncpus = vm->ncpus,
		.mmio64_base = e820_pci_mmio64_base(&vm->mem),
		.mmio64_size = LAYOUT_PCI_MMIO64_SIZE,
		/* The devices helper's board has an i8042 (for its reset line);
		 * IAPC_BOOT_ARCH says so, which also makes Linux probe it
		 * without a PNP0303 node. */
		.i8042 = true,
	};
	uint8_t *buf = gm_hva(&vm->mem, LAYOUT_ACPI_BASE, LAYOUT_ACPI_SIZE);
	int ret;

	if (!buf)
		return err_set(err, "guest RAM too small for the ACPI tables");
	ret = acpi_build_tables(&p, buf, LAYOUT_ACPI_SIZE, LAYOUT_ACPI_BASE, err);
	return ret < 0 ? ret : 0;
}
