/* The Linux boot protocol loader on synthetic bzImages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hw/x86/boot.h"
#include "hw/x86/e820.h"
#include "hw/x86/layout.h"
#include "testlib.h"

#define PAYLOAD 0x10000

struct fake {
	uint16_t version;
	uint8_t setup_sects, loadflags;
	uint16_t xloadflags;
	uint32_t cmdline_size, init_size, initrd_addr_max;
	uint64_t pref_address;
};

static char tmpdir[] = "/tmp/vireo-linux.XXXXXX";
static char kernel_path[256], initrd_path[256];

static void put16(uint8_t *p, size_t off, uint16_t v)
{
	memcpy(p + off, &v, 2);
}

static void put32(uint8_t *p, size_t off, uint32_t v)
{
	memcpy(p + off, &v, 4);
}

static uint16_t get16(const uint8_t *p, size_t off)
{
	uint16_t v;

	memcpy(&v, p + off, 2);
	return v;
}

static uint32_t get32(const uint8_t *p, size_t off)
{
	uint32_t v;

	memcpy(&v, p + off, 4);
	return v;
}

static uint64_t get64(const uint8_t *p, size_t off)
{
	uint64_t v;

	memcpy(&v, p + off, 8);
	return v;
}

static int write_file(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok = f && fwrite(p, 1, len, f) == len;

	if (f && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

/* A bzImage: boot sector + setup sectors with the setup header, then a
 * protected-mode payload filled with a recognisable pattern. */
static void make_kernel(const struct fake *k)
{
	unsigned sects = k->setup_sects ? k->setup_sects : 4;
	size_t setup = (sects + 1) * 512, len = setup + PAYLOAD;
	uint8_t *img = calloc(1, len);

	img[0x1f1] = k->setup_sects;
	put16(img, 0x1fe, 0xaa55);
	img[0x200] = 0xeb;
	img[0x201] = 0x66; /* header ends at 0x268 */
	memcpy(img + 0x202, "HdrS", 4);
	put16(img, 0x206, k->version);
	img[0x211] = k->loadflags;
	put32(img, 0x214, 0x100000);
	put32(img, 0x22c, k->initrd_addr_max);
	put32(img, 0x230, 2 * MiB);
	img[0x234] = 1;
	put16(img, 0x236, k->xloadflags);
	put32(img, 0x238, k->cmdline_size);
	memcpy(img + 0x258, &k->pref_address, 8);
	put32(img, 0x260, k->init_size);
	for (size_t i = 0; i < PAYLOAD; i++)
		img[setup + i] = (uint8_t)(i * 7 + 1);
	if (write_file(kernel_path, img, len) < 0)
		printf("not ok linux_boot: cannot write %s\n", kernel_path);
	free(img);
}

static void make_initrd(size_t len)
{
	uint8_t *p = malloc(len);

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i ^ (i >> 8));
	if (write_file(initrd_path, p, len) < 0)
		printf("not ok linux_boot: cannot write %s\n", initrd_path);
	free(p);
}

static const struct fake modern = {
	.version = 0x20f, .setup_sects = 0, .loadflags = 0x01, .xloadflags = 0x3,
	.cmdline_size = 2047, .init_size = 32 * MiB, .initrd_addr_max = 0x7fffffff,
	.pref_address = 16 * MiB,
};

static int load(struct guest_mem *gm, const char *initrd, const char *cmdline,
		struct x86_cpu_state *st, struct err *err)
{
	struct vm_config cfg = { .kernel = kernel_path, .initrd = initrd, .cmdline = cmdline,
				 .cpus = 1, .mem_size = gm->size };

	err_clear(err);
	return boot_load(gm, &cfg, st, err);
}

static void test_zero_page(void)
{
	struct guest_mem gm;
	struct x86_cpu_state st;
	struct err err = { { 0 } };
	struct e820_entry e[E820_MAX_ENTRIES];
	const uint8_t *bp, *kern;
	uint32_t rd, rd_size = 3 * MiB + 5;
	unsigned n;

	TEST_BEGIN("linux_boot_zero_page");
	make_kernel(&modern);
	make_initrd(rd_size);
	CHECK(gm_init(&gm, 256 * MiB, &err) == 0);
	CHECK_EQ(load(&gm, initrd_path, "root=/dev/vda", &st, &err), 0);
	if (err_is_set(&err))
		printf("# %s\n", err.msg);
	bp = gm_hva(&gm, LAYOUT_BOOT_PARAMS, 4096);
	CHECK_EQ(get16(bp, 0x1fe), 0xaa55);
	CHECK(memcmp(bp + 0x202, "HdrS", 4) == 0);
	CHECK_EQ(get16(bp, 0x206), 0x20f);
	CHECK_EQ(bp[0x210], 0xff);         /* type_of_loader */
	CHECK_EQ(bp[0x211], 0x81);         /* LOADED_HIGH | CAN_USE_HEAP */
	CHECK_EQ(get16(bp, 0x224), 0xfe00); /* heap_end_ptr */
	CHECK_EQ(get32(bp, 0x228), LAYOUT_CMDLINE);
	CHECK_EQ(get32(bp, 0x0c8), 0);
	CHECK_EQ(get32(bp, 0x260), 32 * MiB); /* header copied */
	CHECK_EQ(get64(bp, 0x070), LAYOUT_ACPI_BASE);
	CHECK(strcmp((const char *)gm_hva(&gm, LAYOUT_CMDLINE, 1), "root=/dev/vda console=ttyS0") == 0);

	/* Initrd: as high as possible, page aligned, intact. */
	rd = get32(bp, 0x218);
	CHECK_EQ(get32(bp, 0x21c), rd_size);
	CHECK_EQ(rd & 0xfff, 0);
	CHECK_EQ(rd, (256 * MiB - rd_size) & ~0xfffULL);
	CHECK(rd >= 16 * MiB + 32 * MiB);
	CHECK_EQ(get32(bp, 0x0c0), 0);
	kern = gm_hva(&gm, rd, rd_size);
	CHECK(kern && kern[12345] == (uint8_t)(12345 ^ (12345 >> 8)));

	/* Payload at 1 MiB. */
	kern = gm_hva(&gm, LAYOUT_HIGH_MEM, PAYLOAD);
	CHECK(kern[0] == 1 && kern[PAYLOAD - 1] == (uint8_t)((PAYLOAD - 1) * 7 + 1));

	/* The e820 table is e820_build's. */
	n = e820_build(&gm, e, E820_MAX_ENTRIES);
	CHECK_EQ(bp[0x1e8], n);
	for (unsigned i = 0; i < n; i++) {
		CHECK_EQ(get64(bp, 0x2d0 + i * 20), e[i].addr);
		CHECK_EQ(get64(bp, 0x2d0 + i * 20 + 8), e[i].size);
		CHECK_EQ(get32(bp, 0x2d0 + i * 20 + 16), e[i].type);
	}
	gm_fini(&gm);
	TEST_END();
}

static void test_entry_64(void)
{
	struct guest_mem gm;
	struct x86_cpu_state st;
	struct err err = { { 0 } };
	const uint64_t *pml4, *pdpt, *pd, *gdt;

	TEST_BEGIN("linux_boot_entry_64");
	make_kernel(&modern);
	CHECK(gm_init(&gm, 128 * MiB, &err) == 0);
	CHECK_EQ(load(&gm, NULL, "console=hvc0 quiet", &st, &err), 0);
	CHECK(strcmp((const char *)gm_hva(&gm, LAYOUT_CMDLINE, 1), "console=hvc0 quiet") == 0);
	CHECK_EQ(load(&gm, NULL, "netconsole=@/,@1.2.3.4/", &st, &err), 0);
	CHECK(strcmp((const char *)gm_hva(&gm, LAYOUT_CMDLINE, 1),
		     "netconsole=@/,@1.2.3.4/ console=ttyS0") == 0);
	CHECK_EQ(load(&gm, NULL, "quiet console=tty0", &st, &err), 0);
	CHECK(strcmp((const char *)gm_hva(&gm, LAYOUT_CMDLINE, 1), "quiet console=tty0") == 0);
	CHECK_EQ(st.rip, LAYOUT_HIGH_MEM + 0x200);
	CHECK_EQ(st.gpr[X86_RSI], LAYOUT_BOOT_PARAMS);
	CHECK_EQ(st.rflags, 2);
	CHECK_EQ(st.cr0 & 0x80000001, 0x80000001);
	CHECK_EQ(st.cr4 & 0x20, 0x20);
	CHECK_EQ(st.efer, 0x500);
	CHECK_EQ(st.cr3, LAYOUT_PML4);
	CHECK(st.cs.selector == BOOT_SEL_CS && st.cs.l == 1 && st.cs.db == 0 && st.cs.present);
	CHECK(st.cs.type == 0xb && st.cs.s == 1);
	CHECK(st.ds.selector == BOOT_SEL_DS && st.ss.selector == BOOT_SEL_DS &&
	      st.es.selector == BOOT_SEL_DS);
	CHECK(st.ds.type == 0x3 && st.ds.limit == 0xffffffff && st.ds.db == 1);
	CHECK(st.tr.present && st.tr.type == 11);
	CHECK_EQ(st.gdt.base, LAYOUT_BOOT_GDT);
	CHECK_EQ(st.gdt.limit, 31);
	gdt = gm_hva(&gm, LAYOUT_BOOT_GDT, 32);
	CHECK_EQ(gdt[2], 0x00af9b000000ffffULL);
	CHECK_EQ(gdt[3], 0x00cf93000000ffffULL);
	pml4 = gm_hva(&gm, LAYOUT_PML4, 4096);
	pdpt = gm_hva(&gm, LAYOUT_PDPT, 4096);
	pd = gm_hva(&gm, LAYOUT_PD, 4 * 4096);
	CHECK_EQ(pml4[0], LAYOUT_PDPT | 3);
	CHECK_EQ(pml4[1], 0);
	CHECK_EQ(pdpt[3], (LAYOUT_PD + 3 * 4096) | 3);
	CHECK_EQ(pdpt[4], 0);
	CHECK_EQ(pd[0], 0x83);
	CHECK_EQ(pd[5], (5ULL << 21) | 0x83);
	CHECK_EQ(pd[2047], (2047ULL << 21) | 0x83); /* the last 2 MiB below 4 GiB */
	gm_fini(&gm);
	TEST_END();
}

static void test_entry_32(void)
{
	struct fake k = modern;
	struct guest_mem gm;
	struct x86_cpu_state st;
	struct err err = { { 0 } };
	const uint8_t *bp;

	TEST_BEGIN("linux_boot_entry_32_and_old_protocol");
	k.version = 0x20a; /* no xloadflags, no acpi_rsdp_addr */
	k.xloadflags = 0x1; /* ignored below 2.12 */
	k.setup_sects = 7;
	make_kernel(&k);
	CHECK(gm_init(&gm, 128 * MiB, &err) == 0);
	CHECK_EQ(load(&gm, NULL, NULL, &st, &err), 0);
	CHECK(strcmp((const char *)gm_hva(&gm, LAYOUT_CMDLINE, 1), "console=ttyS0") == 0);
	CHECK_EQ(st.rip, LAYOUT_HIGH_MEM);
	CHECK_EQ(st.gpr[X86_RSI], LAYOUT_BOOT_PARAMS);
	CHECK_EQ(st.gpr[X86_RBX] | st.gpr[X86_RBP] | st.gpr[X86_RDI], 0);
	CHECK_EQ(st.cr0 & 0x80000001, 1);
	CHECK_EQ(st.efer, 0);
	CHECK(st.cs.l == 0 && st.cs.db == 1 && st.cs.selector == BOOT_SEL_CS);
	CHECK_EQ(*(const uint64_t *)gm_hva(&gm, LAYOUT_BOOT_GDT + 16, 8), 0x00cf9b000000ffffULL);
	bp = gm_hva(&gm, LAYOUT_BOOT_PARAMS, 4096);
	CHECK_EQ(get64(bp, 0x070), 0);
	/* setup_sects = 7: the payload starts at (7 + 1) * 512. */
	CHECK_EQ(*(const uint8_t *)gm_hva(&gm, LAYOUT_HIGH_MEM, 1), 1);
	gm_fini(&gm);
	TEST_END();
}

static void test_cmdline_too_long(void)
{
	struct fake k = modern;
	struct guest_mem gm;
	struct x86_cpu_state st;
	struct err err = { { 0 } };
	char cmd[201];

	TEST_BEGIN("linux_boot_cmdline_too_long");
	k.cmdline_size = 100;
	make_kernel(&k);
	memset(cmd, 'a', 200);
	cmd[200] = 0;
	CHECK(gm_init(&gm, 128 * MiB, &err) == 0);
	CHECK_EQ(load(&gm, NULL, cmd, &st, &err), -EINVAL);
	CHECK(strcmp(err.msg, "kernel command line is 214 bytes; this kernel accepts at most 100") == 0);
	/* Exactly at the limit is fine (cmdline_size excludes the NUL). */
	cmd[100 - 14] = 0;
	CHECK_EQ(load(&gm, NULL, cmd, &st, &err), 0);
	gm_fini(&gm);
	TEST_END();
}

static void test_initrd_does_not_fit(void)
{
	struct fake k = modern;
	struct guest_mem gm;
	struct x86_cpu_state st;
	struct err err = { { 0 } };
	const uint8_t *bp;

	TEST_BEGIN("linux_boot_initrd_placement_limits");
	k.initrd_addr_max = 0x37ffffff;
	make_kernel(&k);
	/* 64 MiB RAM; the kernel decompresses at 16 MiB and needs 32 MiB: an
	 * initrd of 20 MiB would overlap it. */
	CHECK(gm_init(&gm, 64 * MiB, &err) == 0);
	make_initrd(20 * MiB);
	CHECK(load(&gm, initrd_path, "", &st, &err) < 0);
	CHECK(strstr(err.msg, "(20 MiB) does not fit below 0x37ffffff in 64 MiB of RAM") != NULL);
	make_initrd(16 * MiB - 4096);
	CHECK_EQ(load(&gm, initrd_path, "", &st, &err), 0);
	bp = gm_hva(&gm, LAYOUT_BOOT_PARAMS, 4096);
	CHECK_EQ(get32(bp, 0x218), 48 * MiB + 4096);
	gm_fini(&gm);

	/* With 2 GiB RAM, initrd_addr_max is the limit, not the end of RAM. */
	CHECK(gm_init(&gm, 2 * GiB, &err) == 0);
	make_initrd(1 * MiB);
	CHECK_EQ(load(&gm, initrd_path, "", &st, &err), 0);
	bp = gm_hva(&gm, LAYOUT_BOOT_PARAMS, 4096);
	CHECK_EQ(get32(bp, 0x218), 0x38000000 - MiB);
	gm_fini(&gm);
	TEST_END();
}

static void test_rejects(void)
{
	struct fake k = modern;
	struct guest_mem gm;
	struct x86_cpu_state st;
	struct err err = { { 0 } };
	struct vm_config cfg = { .kernel = "/nonexistent/vmlinuz" };
	uint8_t junk[4096];

	TEST_BEGIN("linux_boot_rejects");
	CHECK(gm_init(&gm, 64 * MiB, &err) == 0);
	CHECK_EQ(boot_load(&gm, &cfg, &st, &err), -ENOENT);
	CHECK(strstr(err.msg, "kernel '/nonexistent/vmlinuz'") && strstr(err.msg, "No such file"));

	k.version = 0x205;
	make_kernel(&k);
	CHECK(load(&gm, NULL, "", &st, &err) < 0);
	CHECK(strstr(err.msg, "2.05 is too old") != NULL);

	k = modern;
	k.loadflags = 0;
	make_kernel(&k);
	CHECK(load(&gm, NULL, "", &st, &err) < 0);

	memset(junk, 0x90, sizeof(junk));
	CHECK(write_file(kernel_path, junk, sizeof(junk)) == 0);
	CHECK_EQ(load(&gm, NULL, "", &st, &err), -EINVAL);
	CHECK(strstr(err.msg, "not a bzImage (boot protocol >= 2.06) or multiboot ELF kernel"));

	/* A kernel whose init_size exceeds RAM. */
	k = modern;
	k.init_size = 60 * MiB;
	make_kernel(&k);
	CHECK(load(&gm, NULL, "", &st, &err) < 0);
	CHECK(strstr(err.msg, "needs RAM") != NULL);

	make_kernel(&modern);
	CHECK(load(&gm, "/nonexistent/initrd", "", &st, &err) == -ENOENT);
	CHECK(strstr(err.msg, "initrd '/nonexistent/initrd'") != NULL);
	gm_fini(&gm);
	TEST_END();
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(tmpdir)) {
		printf("not ok linux_boot: mkdtemp failed\n");
		return 0;
	}
	snprintf(kernel_path, sizeof(kernel_path), "%s/bzImage", tmpdir);
	snprintf(initrd_path, sizeof(initrd_path), "%s/initrd", tmpdir);
	test_zero_page();
	test_entry_64();
	test_entry_32();
	test_cmdline_too_long();
	test_initrd_does_not_fit();
	test_rejects();
	unlink(kernel_path);
	unlink(initrd_path);
	snprintf(cmd, sizeof(cmd), "rmdir '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("not ok linux_boot_cleanup: cannot remove %s\n", tmpdir);
	return 0;
}
