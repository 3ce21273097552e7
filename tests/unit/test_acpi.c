/* ACPI tables and the AML encoder: checksums, lengths, the fields the guest
 * relies on, and an independent parse of every table by ACPICA's iasl. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hw/acpi/acpi.h"
#include "hw/acpi/aml.h"
#include "hw/x86/layout.h"
#include "testlib.h"

static uint8_t area[LAYOUT_ACPI_SIZE];

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* Host pointer for a table at gpa inside the area, or NULL. */
static const uint8_t *at(uint64_t gpa, size_t len)
{
	if (gpa < LAYOUT_ACPI_BASE || gpa - LAYOUT_ACPI_BASE > sizeof(area) ||
	    len > sizeof(area) - (gpa - LAYOUT_ACPI_BASE))
		return NULL;
	return area + (gpa - LAYOUT_ACPI_BASE);
}

static const uint8_t *table(uint64_t gpa)
{
	const uint8_t *t = at(gpa, 36);

	return t && at(gpa, get32(t + 4)) ? t : NULL;
}

/* Finds a table through RSDP -> XSDT. */
static const uint8_t *find(const char *sig)
{
	const uint8_t *xsdt = table(get64(area + 24));

	if (!xsdt)
		return NULL;
	for (uint32_t off = 36; off + 8 <= get32(xsdt + 4); off += 8) {
		const uint8_t *t = table(get64(xsdt + off));

		if (t && memcmp(t, sig, 4) == 0)
			return t;
	}
	return NULL;
}

static int build(unsigned ncpus)
{
	struct acpi_params p = { .ncpus = ncpus, .mmio64_base = 64 * GiB,
				 .mmio64_size = LAYOUT_PCI_MMIO64_SIZE, .i8042 = true };
	struct err err = { { 0 } };

	return acpi_build_tables(&p, area, sizeof(area), LAYOUT_ACPI_BASE, &err);
}

static void test_rsdp(void)
{
	TEST_BEGIN("acpi_rsdp");
	CHECK(build(4) > 0);
	CHECK(memcmp(area, "RSD PTR ", 8) == 0);
	CHECK_EQ(area[15], 2);
	CHECK_EQ(acpi_checksum(area, 20), 0);
	CHECK_EQ(get32(area + 20), 36);
	CHECK_EQ(acpi_checksum(area, 36), 0);
	CHECK(table(get64(area + 24)) != NULL);
	CHECK(table(get32(area + 16)) != NULL);
	CHECK(memcmp(table(get32(area + 16)), "RSDT", 4) == 0);
	TEST_END();
}

static void test_checksums(void)
{
	static const char *const sigs[] = { "FACP", "APIC", "MCFG" };
	const uint8_t *fadt;

	TEST_BEGIN("acpi_table_checksums");
	CHECK(build(4) > 0);
	CHECK_EQ(acpi_checksum(table(get64(area + 24)), get32(table(get64(area + 24)) + 4)), 0);
	CHECK_EQ(acpi_checksum(table(get32(area + 16)), get32(table(get32(area + 16)) + 4)), 0);
	for (unsigned i = 0; i < 3; i++) {
		const uint8_t *t = find(sigs[i]);

		CHECK(t != NULL);
		if (t)
			CHECK_EQ(acpi_checksum(t, get32(t + 4)), 0);
	}
	fadt = find("FACP");
	if (fadt) {
		const uint8_t *dsdt = table(get64(fadt + 140));
		const uint8_t *facs = at(get32(fadt + 36), 64);

		CHECK(dsdt && memcmp(dsdt, "DSDT", 4) == 0);
		if (dsdt)
			CHECK_EQ(acpi_checksum(dsdt, get32(dsdt + 4)), 0);
		CHECK_EQ(get32(fadt + 40), get64(fadt + 140));
		CHECK(facs && memcmp(facs, "FACS", 4) == 0 && get32(facs + 4) == 64);
		CHECK_EQ(get32(fadt + 36) & 63, 0);
		CHECK_EQ(get64(fadt + 132), 0); /* X_FIRMWARE_CTRL unused below 4 GiB */
	}
	TEST_END();
}

static void test_fadt(void)
{
	const uint8_t *f;

	TEST_BEGIN("acpi_fadt_fields");
	CHECK(build(2) > 0);
	f = find("FACP");
	CHECK(f != NULL);
	if (f) {
		CHECK_EQ(get32(f + 4), 276);
		CHECK_EQ(f[8], 6);
		CHECK_EQ(get16(f + 46), LAYOUT_GSI_SCI);
		CHECK_EQ(get32(f + 48), 0); /* no SMI_CMD */
		CHECK_EQ(get32(f + 56), LAYOUT_PORT_ACPI_PM1A_EVT);
		CHECK_EQ(get32(f + 64), LAYOUT_PORT_ACPI_PM1A_CNT);
		CHECK_EQ(get32(f + 76), LAYOUT_PORT_ACPI_PM_TMR);
		CHECK_EQ(f[88], 4);
		CHECK_EQ(f[89], 2);
		CHECK_EQ(f[91], 4);
		CHECK_EQ(f[108], 0x32);
		CHECK_EQ(get16(f + 109) & 3, 3); /* LEGACY_DEVICES | 8042 */
		CHECK(get32(f + 112) & (1u << 10));  /* RESET_REG_SUP */
		CHECK(!(get32(f + 112) & (1u << 20))); /* not HW_REDUCED */
		CHECK_EQ(f[116], 1);                   /* system I/O */
		CHECK_EQ(f[117], 8);
		CHECK_EQ(get64(f + 120), LAYOUT_PORT_RESET);
		CHECK_EQ(f[128], LAYOUT_RESET_VALUE);
		CHECK_EQ(get64(f + 148 + 4), LAYOUT_PORT_ACPI_PM1A_EVT);
		CHECK_EQ(get64(f + 172 + 4), LAYOUT_PORT_ACPI_PM1A_CNT);
		CHECK_EQ(get64(f + 208 + 4), LAYOUT_PORT_ACPI_PM_TMR);
		CHECK_EQ(f[208 + 1], 32);
	}
	TEST_END();
}

static void test_madt(void)
{
	const uint8_t *m;
	unsigned lapics = 0, ioapics = 0, isos = 0, nmis = 0, irq0 = 0, sci = 0;

	TEST_BEGIN("acpi_madt");
	CHECK(build(7) > 0);
	m = find("APIC");
	CHECK(m != NULL);
	if (m) {
		CHECK_EQ(get32(m + 36), LAYOUT_LAPIC_BASE);
		for (uint32_t off = 44; off + 2 <= get32(m + 4);) {
			const uint8_t *e = m + off;

			CHECK(e[1] >= 2 && off + e[1] <= get32(m + 4));
			if (e[1] < 2)
				break;
			switch (e[0]) {
			case 0:
				CHECK_EQ(e[2], lapics);
				CHECK_EQ(e[3], lapics);
				CHECK_EQ(get32(e + 4), 1);
				lapics++;
				break;
			case 1:
				CHECK_EQ(e[2], 7);
				CHECK_EQ(get32(e + 4), LAYOUT_IOAPIC_BASE);
				CHECK_EQ(get32(e + 8), 0);
				ioapics++;
				break;
			case 2:
				if (e[3] == 0 && get32(e + 4) == 2)
					irq0++;
				if (e[3] == LAYOUT_GSI_SCI && get32(e + 4) == LAYOUT_GSI_SCI &&
				    get16(e + 8) == 0xd)
					sci++;
				isos++;
				break;
			case 4:
				CHECK_EQ(e[2], 0xff);
				CHECK_EQ(e[5], 1);
				nmis++;
				break;
			}
			off += e[1];
		}
	}
	CHECK_EQ(lapics, 7);
	CHECK_EQ(ioapics, 1);
	CHECK_EQ(isos, 2);
	CHECK_EQ(irq0, 1);
	CHECK_EQ(sci, 1);
	CHECK_EQ(nmis, 1);
	TEST_END();
}

static void test_mcfg(void)
{
	const uint8_t *m;

	TEST_BEGIN("acpi_mcfg");
	CHECK(build(1) > 0);
	m = find("MCFG");
	CHECK(m != NULL);
	if (m) {
		CHECK_EQ(get32(m + 4), 60);
		CHECK_EQ(get64(m + 44), LAYOUT_PCIE_ECAM_BASE);
		CHECK_EQ(get16(m + 52), 0);
		CHECK_EQ(m[54], 0);
		CHECK_EQ(m[55], 255);
	}
	TEST_END();
}

static void test_limits(void)
{
	struct acpi_params p = { .ncpus = 0 };
	struct err err = { { 0 } };
	static uint8_t small[512];

	TEST_BEGIN("acpi_limits");
	CHECK(acpi_build_tables(&p, area, sizeof(area), LAYOUT_ACPI_BASE, &err) < 0);
	p.ncpus = ACPI_MAX_CPUS + 1;
	CHECK(acpi_build_tables(&p, area, sizeof(area), LAYOUT_ACPI_BASE, &err) < 0);
	CHECK(strstr(err.msg, "CPUs") != NULL);
	p.ncpus = 2;
	err_clear(&err);
	CHECK_EQ(acpi_build_tables(&p, small, sizeof(small), LAYOUT_ACPI_BASE, &err), -ENOSPC);
	CHECK(strstr(err.msg, "do not fit") != NULL);
	/* The largest machine still fits the reserved area with room to spare. */
	CHECK(build(ACPI_MAX_CPUS) > 0);
	CHECK(build(ACPI_MAX_CPUS) < (int)(LAYOUT_ACPI_SIZE / 2));
	TEST_END();
}

static void test_aml_pkglength(void)
{
	static uint8_t buf[0x20000];
	struct aml a;
	struct aml_open o;
	static const size_t sizes[] = { 10, 62, 63, 200, 0xffd, 0xfff, 0x10000 };

	TEST_BEGIN("aml_pkglength");
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t body = sizes[i], n, total;

		aml_init(&a, buf, sizeof(buf));
		o = aml_package_begin(&a, 0);
		for (size_t j = 1; j < body; j++) /* NumElements is the first byte */
			aml_byte(&a, 0xa5);
		aml_end(&a, o);
		CHECK(!a.overflow);
		CHECK_EQ(buf[0], 0x12);
		n = (buf[1] >> 6) + 1;
		total = n == 1 ? (size_t)(buf[1] & 0x3f) : (size_t)(buf[1] & 0xf);
		for (size_t k = 1; k < n; k++)
			total |= (size_t)buf[1 + k] << (4 + 8 * (k - 1));
		CHECK_EQ(total, body + n);
		CHECK_EQ(a.len, 1 + n + body);
		CHECK(n == 1 ? body + 1 <= 0x3f : body + 1 > 0x3f);
	}
	/* Names and integers. */
	aml_init(&a, buf, sizeof(buf));
	aml_name_string(&a, "\\_SB.PCI0");
	CHECK_EQ(a.len, 10);
	CHECK(memcmp(buf, "\\\x2e_SB_PCI0", 10) == 0);
	aml_init(&a, buf, sizeof(buf));
	aml_eisaid(&a, "PNP0A08");
	CHECK(memcmp(buf, "\x0c\x41\xd0\x0a\x08", 5) == 0);
	aml_init(&a, buf, 3);
	aml_integer(&a, 0x12345678);
	CHECK(a.overflow);
	TEST_END();
}

static int have_iasl(void)
{
	return system("command -v iasl >/dev/null 2>&1") == 0;
}

static int write_file(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok = f && fwrite(p, 1, len, f) == len;

	if (f && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *s;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
	if (s && n > 0 && fread(s, 1, (size_t)n, f) != (size_t)n) {
		free(s);
		s = NULL;
	}
	fclose(f);
	return s;
}

/* Disassembles one table with iasl; returns the .dsl text or NULL. */
static char *iasl_disassemble(const char *dir, const char *sig, const uint8_t *t)
{
	char path[512], cmd[1200];
	char *log, *dsl;
	int rc;

	snprintf(path, sizeof(path), "%s/%s.dat", dir, sig);
	if (!t || write_file(path, t, get32(t + 4)) < 0)
		return NULL;
	snprintf(cmd, sizeof(cmd), "cd '%s' && iasl -d %s.dat >%s.log 2>&1", dir, sig, sig);
	rc = system(cmd);
	snprintf(path, sizeof(path), "%s/%s.log", dir, sig);
	log = read_text(path);
	if (rc != 0 || !WIFEXITED(rc) || !log || strcasestr(log, "error")) {
		if (log)
			fprintf(stderr, "iasl on %s (rc %d):\n%s\n", sig, rc, log);
		free(log);
		return NULL;
	}
	free(log);
	snprintf(path, sizeof(path), "%s/%s.dsl", dir, sig);
	dsl = read_text(path);
	return dsl;
}

static void test_iasl(void)
{
	static const char *const sigs[] = { "FACP", "APIC", "MCFG", "XSDT", "RSDT", "DSDT",
					    "FACS" };
	char dir[] = "/tmp/vireo-acpi.XXXXXX";
	char cmd[300];

	TEST_BEGIN("acpi_iasl_disassembles");
	if (!have_iasl()) {
		printf("skip acpi_iasl_disassembles: iasl not installed\n");
		return;
	}
	CHECK(build(4) > 0);
	CHECK(mkdtemp(dir) != NULL);
	for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		const uint8_t *fadt = find("FACP"), *t;
		char *dsl;

		if (!strcmp(sigs[i], "XSDT"))
			t = table(get64(area + 24));
		else if (!strcmp(sigs[i], "RSDT"))
			t = table(get32(area + 16));
		else if (!strcmp(sigs[i], "DSDT"))
			t = fadt ? table(get64(fadt + 140)) : NULL;
		else if (!strcmp(sigs[i], "FACS"))
			t = fadt ? at(get32(fadt + 36), 64) : NULL;
		else
			t = find(sigs[i]);
		/* (iasl cannot read a bare RSDP, which test_rsdp checks instead.) */
		dsl = iasl_disassemble(dir, sigs[i], t);
		CHECK(dsl != NULL);
		if (dsl && !strcmp(sigs[i], "DSDT")) {
			CHECK(strstr(dsl, "PNP0A08") != NULL);
			CHECK(strstr(dsl, "PNP0A03") != NULL);
			CHECK(strstr(dsl, "PNP0501") != NULL);
			CHECK(strstr(dsl, "_PRT") != NULL);
			CHECK(strstr(dsl, "_S5") != NULL);
			CHECK(strstr(dsl, "0x001FFFFF") != NULL); /* slot 31 routed */
			CHECK(strstr(dsl, "0xDFFFFFFF") != NULL); /* 32-bit window end */
		}
		if (dsl && !strcmp(sigs[i], "APIC"))
			CHECK(strstr(dsl, "Local APIC NMI") != NULL);
		free(dsl);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		CHECK(!"cannot remove the temporary directory");
	TEST_END();
}

int main(void)
{
	test_rsdp();
	test_checksums();
	test_fadt();
	test_madt();
	test_mcfg();
	test_limits();
	test_aml_pkglength();
	test_iasl();
	return 0;
}
