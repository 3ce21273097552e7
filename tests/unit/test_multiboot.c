/* The multiboot v1 loader on tiny synthetic ELF32/ELF64 and a.out-kludge
 * kernels. */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hw/x86/boot.h"
#include "hw/x86/e820.h"
#include "hw/x86/layout.h"
#include "testlib.h"

#define CODE_OFF 0x1000 /* file offset of the loadable segment */
#define CODE_LEN 0x800
#define BSS_LEN 0x2800
#define PADDR 0x100000
#define VADDR 0xc0100000u

static char tmpdir[] = "/tmp/vireo-mb.XXXXXX";
static char kernel_path[256], initrd_path[256];

static int write_file(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok = f && fwrite(p, 1, len, f) == len;

	if (f && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

static uint32_t get32(const struct guest_mem *gm, uint64_t gpa)
{
	uint32_t v = 0xdeadbeef;

	gm_read(gm, gpa, &v, 4);
	return v;
}

static void mb_header(uint8_t *p, uint32_t flags)
{
	uint32_t h[3] = { 0x1badb002, flags, 0u - 0x1badb002u - flags };

	memcpy(p, h, sizeof(h));
}

static void fill_code(uint8_t *img)
{
	for (unsigned i = 0; i < CODE_LEN; i++)
		img[CODE_OFF + i] = (uint8_t)(0x40 + i % 61);
}

/* ELF32 or ELF64, one PT_LOAD linked at VADDR and loaded at PADDR, the
 * multiboot header inside the segment (as real kernels have it). */
static size_t make_elf(uint8_t *img, int is64, uint32_t mb_flags, uint64_t paddr,
		       uint64_t filesz)
{
	size_t len = CODE_OFF + CODE_LEN;

	memset(img, 0, len);
	fill_code(img);
	if (is64) {
		Elf64_Ehdr eh = { .e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
				  .e_entry = VADDR + 0x20, .e_phoff = sizeof(Elf64_Ehdr),
				  .e_ehsize = sizeof(Elf64_Ehdr),
				  .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 1 };
		Elf64_Phdr ph = { .p_type = PT_LOAD, .p_offset = CODE_OFF, .p_vaddr = VADDR,
				  .p_paddr = paddr, .p_filesz = filesz,
				  .p_memsz = CODE_LEN + BSS_LEN, .p_flags = PF_R | PF_X };

		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS64;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(img, &eh, sizeof(eh));
		memcpy(img + sizeof(eh), &ph, sizeof(ph));
	} else {
		Elf32_Ehdr eh = { .e_type = ET_EXEC, .e_machine = EM_386, .e_version = EV_CURRENT,
				  .e_entry = VADDR + 0x20, .e_phoff = sizeof(Elf32_Ehdr),
				  .e_ehsize = sizeof(Elf32_Ehdr),
				  .e_phentsize = sizeof(Elf32_Phdr), .e_phnum = 1 };
		Elf32_Phdr ph = { .p_type = PT_LOAD, .p_offset = CODE_OFF, .p_vaddr = VADDR,
				  .p_paddr = (uint32_t)paddr, .p_filesz = (uint32_t)filesz,
				  .p_memsz = CODE_LEN + BSS_LEN, .p_flags = PF_R | PF_X };

		memcpy(eh.e_ident, ELFMAG, SELFMAG);
		eh.e_ident[EI_CLASS] = ELFCLASS32;
		eh.e_ident[EI_DATA] = ELFDATA2LSB;
		eh.e_ident[EI_VERSION] = EV_CURRENT;
		memcpy(img, &eh, sizeof(eh));
		memcpy(img + sizeof(eh), &ph, sizeof(ph));
	}
	mb_header(img + CODE_OFF, mb_flags);
	return len;
}

static int load(struct guest_mem *gm, const char *initrd, const char *cmdline,
		struct x86_cpu_state *st, struct err *err)
{
	struct vm_config cfg = { .kernel = kernel_path, .initrd = initrd, .cmdline = cmdline };

	err_clear(err);
	/* Poison RAM so that missing bss zeroing shows. */
	memset(gm->base + PADDR, 0xcc, 64 * KiB);
	return boot_load(gm, &cfg, st, err);
}

static void check_segment(const struct guest_mem *gm)
{
	const uint8_t *p = gm_hva(gm, PADDR, CODE_LEN + BSS_LEN);
	int ok = 1;

	/* (The first 32 bytes hold the multiboot header.) */
	for (unsigned i = 32; i < CODE_LEN; i++)
		ok &= p[i] == (uint8_t)(0x40 + i % 61);
	for (unsigned i = 0; i < BSS_LEN; i++)
		ok &= p[CODE_LEN + i] == 0;
	CHECK(ok);
}

static void test_elf32(void)
{
	static uint8_t img[CODE_OFF + CODE_LEN];
	struct guest_mem gm;
	struct x86_cpu_state st;
	struct err err = { { 0 } };
	struct e820_entry e[E820_MAX_ENTRIES];
	uint64_t mbi = LAYOUT_MULTIBOOT_INFO;
	uint32_t flags, mod, mmap;
	uint8_t rd[10000];
	unsigned n;

	TEST_BEGIN("multiboot_elf32_info");
	CHECK(write_file(kernel_path, img, make_elf(img, 0, 0x3, PADDR, CODE_LEN)) == 0);
	for (unsigned i = 0; i < sizeof(rd); i++)
		rd[i] = (uint8_t)(i * 13);
	CHECK(write_file(initrd_path, rd, sizeof(rd)) == 0);
	CHECK(gm_init(&gm, 128 * MiB, &err) == 0);
	CHECK_EQ(load(&gm, initrd_path, "hello world", &st, &err), 0);
	if (err_is_set(&err))
		printf("# %s\n", err.msg);
	check_segment(&gm);

	/* §3.2 machine state. */
	CHECK_EQ(st.gpr[X86_RAX], 0x2badb002);
	CHECK_EQ(st.gpr[X86_RBX], LAYOUT_MULTIBOOT_INFO);
	CHECK_EQ(st.rip, PADDR + 0x20); /* e_entry translated to physical */
	CHECK_EQ(st.cr0 & 0x80000001, 1);
	CHECK_EQ(st.efer, 0);
	CHECK_EQ(st.rflags, 2);
	CHECK(st.cs.db == 1 && st.cs.l == 0 && st.cs.base == 0 && st.cs.limit == 0xffffffff);
	CHECK(st.ds.base == 0 && st.ds.limit == 0xffffffff && st.ss.limit == 0xffffffff);

	/* §3.3 information structure. */
	flags = get32(&gm, mbi);
	CHECK_EQ(flags, (1u << 0) | (1u << 2) | (1u << 3) | (1u << 6) | (1u << 9));
	CHECK_EQ(get32(&gm, mbi + 4), 639);
	CHECK_EQ(get32(&gm, mbi + 8), 127 * 1024);
	CHECK(strcmp(gm_hva(&gm, get32(&gm, mbi + 16), 1), "hello world") == 0);
	CHECK(strcmp(gm_hva(&gm, get32(&gm, mbi + 64), 1), "vireo") == 0);
	CHECK_EQ(get32(&gm, mbi + 20), 1);
	mod = get32(&gm, mbi + 24);
	CHECK_EQ(get32(&gm, mod) & 0xfff, 0);
	CHECK(get32(&gm, mod) >= PADDR + CODE_LEN + BSS_LEN);
	CHECK_EQ(get32(&gm, mod + 4) - get32(&gm, mod), sizeof(rd));
	CHECK(gm_hva(&gm, get32(&gm, mod), sizeof(rd)) &&
	      memcmp(gm_hva(&gm, get32(&gm, mod), sizeof(rd)), rd, sizeof(rd)) == 0);
	CHECK(strcmp(gm_hva(&gm, get32(&gm, mod + 8), 1), "initrd") == 0);

	n = e820_build(&gm, e, E820_MAX_ENTRIES);
	CHECK_EQ(get32(&gm, mbi + 44), n * 24);
	mmap = get32(&gm, mbi + 48);
	for (unsigned i = 0; i < n; i++) {
		uint64_t base = 0, len = 0;

		gm_read(&gm, mmap + i * 24 + 4, &base, 8);
		gm_read(&gm, mmap + i * 24 + 12, &len, 8);
		CHECK_EQ(get32(&gm, mmap + i * 24), 20);
		CHECK_EQ(base, e[i].addr);
		CHECK_EQ(len, e[i].size);
		CHECK_EQ(get32(&gm, mmap + i * 24 + 20), e[i].type);
	}
	gm_fini(&gm);
	TEST_END();
}

static void test_elf64_and_aout(void)
{
	static uint8_t img[CODE_OFF + CODE_LEN];
	struct guest_mem gm;
	struct x86_cpu_state st;
	struct err err = { { 0 } };
	uint32_t hdr[8];

	TEST_BEGIN("multiboot_elf64_and_aout_kludge");
	CHECK(gm_init(&gm, 32 * MiB, &err) == 0);
	CHECK(write_file(kernel_path, img, make_elf(img, 1, 0, PADDR, CODE_LEN)) == 0);
	CHECK_EQ(load(&gm, NULL, "", &st, &err), 0);
	check_segment(&gm);
	CHECK_EQ(st.rip, PADDR + 0x20);
	/* No initrd: no MODS flag. */
	CHECK_EQ(get32(&gm, LAYOUT_MULTIBOOT_INFO) & (1u << 3), 0);

	/* a.out kludge: a flat image whose header (at file offset CODE_OFF)
	 * says it is loaded at PADDR from file offset CODE_OFF, with bss. */
	memset(img, 0xee, CODE_OFF); /* not ELF */
	fill_code(img);
	hdr[0] = 0x1badb002;
	hdr[1] = 1u << 16;
	hdr[2] = 0u - hdr[0] - hdr[1];
	hdr[3] = PADDR;                        /* header_addr */
	hdr[4] = PADDR;                        /* load_addr */
	hdr[5] = PADDR + CODE_LEN;             /* load_end_addr */
	hdr[6] = PADDR + CODE_LEN + BSS_LEN;   /* bss_end_addr */
	hdr[7] = PADDR + 0x40;                 /* entry_addr */
	memcpy(img + CODE_OFF, hdr, sizeof(hdr));
	CHECK(write_file(kernel_path, img, CODE_OFF + CODE_LEN) == 0);
	CHECK_EQ(load(&gm, NULL, "", &st, &err), 0);
	if (err_is_set(&err))
		printf("# %s\n", err.msg);
	CHECK_EQ(st.rip, PADDR + 0x40);
	CHECK_EQ(*(const uint32_t *)gm_hva(&gm, PADDR + 12, 4), PADDR);
	CHECK_EQ(*(const uint8_t *)gm_hva(&gm, PADDR + CODE_LEN + 5, 1), 0);
	gm_fini(&gm);
	TEST_END();
}

static void test_rejects(void)
{
	static uint8_t img[CODE_OFF + CODE_LEN];
	struct guest_mem gm;
	struct x86_cpu_state st;
	struct err err = { { 0 } };
	size_t len;

	TEST_BEGIN("multiboot_rejects_bad_kernels");
	CHECK(gm_init(&gm, 32 * MiB, &err) == 0);
	/* Segment beyond the end of the file. */
	len = make_elf(img, 0, 0, PADDR, CODE_LEN + 1);
	CHECK(write_file(kernel_path, img, len) == 0);
	CHECK(load(&gm, NULL, "", &st, &err) < 0);
	CHECK(strstr(err.msg, "outside the file") != NULL);
	/* Segment over Vireo's low-memory boot structures. */
	len = make_elf(img, 0, 0, 0x7000, CODE_LEN);
	CHECK(write_file(kernel_path, img, len) == 0);
	CHECK(load(&gm, NULL, "", &st, &err) < 0);
	CHECK(strstr(err.msg, "overlaps the boot information") != NULL);
	len = make_elf(img, 0, 0, LAYOUT_ACPI_BASE - 0x1000, CODE_LEN + 0x1000);
	CHECK(write_file(kernel_path, img, len) == 0);
	CHECK(load(&gm, NULL, "", &st, &err) < 0);
	/* ... but RAM just below 1 MiB is allowed (ld puts headers there). */
	len = make_elf(img, 0, 0, 0xff000, CODE_LEN);
	CHECK(write_file(kernel_path, img, len) == 0);
	CHECK_EQ(load(&gm, NULL, "", &st, &err), 0);
	/* Segment beyond RAM. */
	len = make_elf(img, 0, 0, 32 * MiB - 0x1000, CODE_LEN);
	CHECK(write_file(kernel_path, img, len) == 0);
	CHECK(load(&gm, NULL, "", &st, &err) < 0);
	CHECK(strstr(err.msg, "not in guest RAM") != NULL);
	/* A required feature Vireo lacks (video mode). */
	len = make_elf(img, 0, 1u << 2, PADDR, CODE_LEN);
	CHECK(write_file(kernel_path, img, len) == 0);
	CHECK(load(&gm, NULL, "", &st, &err) < 0);
	CHECK(strstr(err.msg, "unsupported") != NULL);
	/* Bad checksum: not recognised at all. */
	len = make_elf(img, 0, 0, PADDR, CODE_LEN);
	img[CODE_OFF + 8] ^= 1;
	CHECK(write_file(kernel_path, img, len) == 0);
	CHECK_EQ(load(&gm, NULL, "", &st, &err), -EINVAL);
	CHECK(strstr(err.msg, "not a bzImage") != NULL);
	/* Program headers claimed past the end of the file. */
	len = make_elf(img, 0, 0, PADDR, CODE_LEN);
	((Elf32_Ehdr *)img)->e_phnum = 60000;
	CHECK(write_file(kernel_path, img, len) == 0);
	CHECK(load(&gm, NULL, "", &st, &err) < 0);
	/* An initrd that does not fit after the kernel. */
	len = make_elf(img, 0, 0, PADDR, CODE_LEN);
	CHECK(write_file(kernel_path, img, len) == 0);
	{
		uint8_t *big = calloc(1, 32 * MiB);

		CHECK(big && write_file(initrd_path, big, 32 * MiB) == 0);
		free(big);
	}
	CHECK(load(&gm, initrd_path, "", &st, &err) < 0);
	CHECK(strstr(err.msg, "does not fit") != NULL);
	gm_fini(&gm);
	TEST_END();
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(tmpdir)) {
		printf("not ok multiboot: mkdtemp failed\n");
		return 0;
	}
	snprintf(kernel_path, sizeof(kernel_path), "%s/kernel.elf", tmpdir);
	snprintf(initrd_path, sizeof(initrd_path), "%s/initrd", tmpdir);
	test_elf32();
	test_elf64_and_aout();
	test_rejects();
	unlink(kernel_path);
	unlink(initrd_path);
	snprintf(cmd, sizeof(cmd), "rmdir '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("not ok multiboot_cleanup: cannot remove %s\n", tmpdir);
	return 0;
}
