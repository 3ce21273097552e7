/* vireo-user's ELF loader and initial stack: refusals with clear reasons,
 * identity-mapped segments with zeroed bss, static PIE, and the psABI
 * start-up block (argc, argv, envp, auxv). */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "testlib.h"
#include "user/user_elf.h"
#include "user/user_stack.h"

static char dir[] = "/tmp/vireo-user-elf.XXXXXX";

/* A file with one PT_LOAD of 0x1800 bytes of memory (0x1100 from the file)
 * at VADDR, optionally a PT_INTERP (INTERP 1: ld.so's path, 2: the same
 * without its terminating NUL). */
static const char *make_elf(const char *name, int type, int cls, int interp, uint64_t vaddr)
{
	static char path[256];
	uint8_t buf[0x2000];
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
	Elf64_Phdr *ph = (Elf64_Phdr *)(buf + sizeof(*eh));
	FILE *f;

	memset(buf, 0, sizeof(buf));
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = (unsigned char)cls;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = (uint16_t)type;
	eh->e_machine = EM_X86_64;
	eh->e_entry = vaddr + 0x1000;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = interp ? 2 : 1;
	ph[0].p_type = PT_LOAD;
	ph[0].p_flags = PF_R | PF_X | PF_W;
	ph[0].p_offset = 0;
	ph[0].p_vaddr = vaddr;
	ph[0].p_filesz = 0x1100;
	ph[0].p_memsz = 0x2800;
	if (interp) {
		ph[1].p_type = PT_INTERP;
		ph[1].p_offset = 0x200;
		ph[1].p_filesz = interp == 1 ? 28 : 27;
		memcpy(buf + 0x200, "/lib64/ld-linux-x86-64.so.2", 28);
	}
	memset(buf + 0x1000, 0xc3, 0x100);      /* "code" */
	memset(buf + 0x1100, 0xee, 0xf00);      /* file bytes past p_filesz: must read as zero */
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	fwrite(buf, 1, sizeof(buf), f);
	fclose(f);
	return path;
}

static bool has(const char *s, const char *sub)
{
	return strstr(s, sub) != NULL;
}

int main(void)
{
	struct user_proc p;
	struct user_elf_info info;
	struct err err = { { 0 } };
	const char *path;
	const uint64_t va = 0x7100000;

	if (!mkdtemp(dir)) {
		printf("not ok user_elf: mkdtemp\n");
		return 0;
	}
	user_proc_init(&p, NULL);

	TEST_BEGIN("user_elf_refusals");
	path = make_elf("text", ET_EXEC, ELFCLASS64, 0, va);
	{
		FILE *f = fopen(path, "wb");

		fputs("#!/bin/sh\necho hi\n", f);
		fclose(f);
	}
	CHECK_EQ(user_elf_load(&p, path, &info, &err), -ENOEXEC);
	CHECK(has(err.msg, "not an ELF"));
	path = make_elf("elf32", ET_EXEC, ELFCLASS32, 0, va);
	CHECK_EQ(user_elf_load(&p, path, &info, &err), -ENOEXEC);
	CHECK(has(err.msg, "32-bit"));
	path = make_elf("dyn-bad", ET_EXEC, ELFCLASS64, 2, va);
	CHECK_EQ(user_elf_load(&p, path, &info, &err), -ENOEXEC);
	CHECK(has(err.msg, "bad PT_INTERP"));
	CHECK(user_elf_load(&p, "/nonexistent/x", &info, &err) < 0);
	CHECK(has(err.msg, "No such file"));
	CHECK_EQ(p.map.n, 0);
	TEST_END();

	TEST_BEGIN("user_elf_interp");
	path = make_elf("dyn", ET_EXEC, ELFCLASS64, 1, va);
	CHECK_EQ(user_elf_load(&p, path, &info, &err), 0);
	CHECK(!strcmp(info.interp, "/lib64/ld-linux-x86-64.so.2"));
	CHECK_EQ(info.entry, va + 0x1000);
	CHECK_EQ(p.map.n, 1);
	munmap((void *)(uintptr_t)va, 0x3000);
	user_map_remove(&p.map, va, 0x3000);
	path = make_elf("static", ET_EXEC, ELFCLASS64, 0, va);
	CHECK_EQ(user_elf_load(&p, path, &info, &err), 0);
	CHECK_EQ(info.interp[0], 0);
	munmap((void *)(uintptr_t)va, 0x3000);
	user_map_remove(&p.map, va, 0x3000);
	CHECK_EQ(p.map.n, 0);
	TEST_END();

	TEST_BEGIN("user_elf_exec_load");
	path = make_elf("ok", ET_EXEC, ELFCLASS64, 0, va);
	CHECK_EQ(user_elf_load(&p, path, &info, &err), 0);
	CHECK_EQ(info.entry, va + 0x1000);
	CHECK_EQ(info.phdr, va + sizeof(Elf64_Ehdr));
	CHECK_EQ(info.phnum, 1);
	CHECK_EQ(info.bias, 0);
	CHECK_EQ(info.brk, va + 0x3000);
	CHECK(user_map_check(&p.map, va, 0x3000, PROT_EXEC | PROT_WRITE));
	CHECK_EQ(*(uint8_t *)(uintptr_t)(va + 0x1000), 0xc3);
	CHECK_EQ(*(uint8_t *)(uintptr_t)(va + 0x1100), 0);  /* bss in the last file page */
	CHECK_EQ(*(uint8_t *)(uintptr_t)(va + 0x27ff), 0);  /* bss past the file */
	TEST_END();

	TEST_BEGIN("user_elf_refuses_taken_range");
	/* The same range again: vireo-user must not map over what is there. */
	path = make_elf("again", ET_EXEC, ELFCLASS64, 0, va);
	CHECK_EQ(user_elf_load(&p, path, &info, &err), -EEXIST);
	CHECK(has(err.msg, "overlaps"));
	munmap((void *)(uintptr_t)va, 0x3000);
	user_map_remove(&p.map, va, 0x3000);
	TEST_END();

	TEST_BEGIN("user_elf_static_pie");
	path = make_elf("pie", ET_DYN, ELFCLASS64, 0, 0);
	CHECK_EQ(user_elf_load(&p, path, &info, &err), 0);
	CHECK(info.bias != 0);
	CHECK_EQ(info.entry, info.bias + 0x1000);
	CHECK_EQ(*(uint8_t *)(uintptr_t)info.entry, 0xc3);
	CHECK(user_map_check(&p.map, info.bias, 0x3000, PROT_READ));
	munmap((void *)(uintptr_t)info.bias, 0x3000);
	user_map_remove(&p.map, info.bias, 0x3000);
	TEST_END();

	TEST_BEGIN("user_elf_busybox");
	if (access("/bin/busybox", R_OK)) {
		printf("skip user_elf_busybox: no /bin/busybox\n");
	} else {
		CHECK_EQ(user_elf_load(&p, "/bin/busybox", &info, &err), 0);
		CHECK(info.entry >= 0x400000);
		CHECK(user_map_check(&p.map, info.entry, 16, PROT_EXEC));
		CHECK(!user_map_check(&p.map, info.entry, 16, PROT_WRITE));
		CHECK(info.phnum >= 4);
		CHECK_EQ(*(uint32_t *)(uintptr_t)(info.phdr - sizeof(Elf64_Ehdr)), 0x464c457f);
		TEST_END();
	}

	TEST_BEGIN("user_stack_layout");
	{
		static const uint8_t rnd[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
		char *argv[] = { "prog", "a b", "", NULL };
		char *envp[] = { "X=1", "PATH=/bin", NULL };
		struct user_stack_args sa = { 3, argv, envp, "/x/prog", 0x178bfbff, rnd, 0x7f0000000000 };
		size_t size = 1 << 16;
		uint8_t *mem = aligned_alloc(4096, size);
		uint64_t lo = (uint64_t)(uintptr_t)mem, rsp = 0, *w, at_random = 0, at_execfn = 0;
		uint64_t at_hwcap = 0, at_pagesz = 0, at_entry = 0, at_platform = 0, at_base = 0;
		int i;

		info.entry = 0x401000;
		CHECK_EQ(user_stack_build(lo, lo + size, &info, &sa, &rsp), 0);
		CHECK_EQ(rsp & 15, 0);
		w = (uint64_t *)(uintptr_t)rsp;
		CHECK_EQ(w[0], 3);
		CHECK(!strcmp((char *)(uintptr_t)w[1], "prog"));
		CHECK(!strcmp((char *)(uintptr_t)w[2], "a b"));
		CHECK(!strcmp((char *)(uintptr_t)w[3], ""));
		CHECK_EQ(w[4], 0);
		CHECK(!strcmp((char *)(uintptr_t)w[5], "X=1"));
		CHECK(!strcmp((char *)(uintptr_t)w[6], "PATH=/bin"));
		CHECK_EQ(w[7], 0);
		for (i = 8; w[i] != AT_NULL; i += 2) {
			if (w[i] == AT_RANDOM)
				at_random = w[i + 1];
			if (w[i] == AT_EXECFN)
				at_execfn = w[i + 1];
			if (w[i] == AT_HWCAP)
				at_hwcap = w[i + 1];
			if (w[i] == AT_PAGESZ)
				at_pagesz = w[i + 1];
			if (w[i] == AT_ENTRY)
				at_entry = w[i + 1];
			if (w[i] == AT_BASE)
				at_base = w[i + 1];
			if (w[i] == AT_PLATFORM)
				at_platform = w[i + 1];
			CHECK(i < 80);
			if (i >= 80)
				break;
		}
		CHECK(at_random && !memcmp((void *)(uintptr_t)at_random, rnd, 16));
		CHECK(at_execfn && !strcmp((char *)(uintptr_t)at_execfn, "/x/prog"));
		CHECK(at_platform && !strcmp((char *)(uintptr_t)at_platform, "x86_64"));
		CHECK_EQ(at_hwcap, 0x178bfbff);
		CHECK_EQ(at_pagesz, 4096);
		CHECK_EQ(at_entry, 0x401000);
		CHECK_EQ(at_base, 0x7f0000000000);
		CHECK_EQ(user_stack_build(lo, lo + 128, &info, &sa, &rsp), -E2BIG);
		free(mem);
	}
	TEST_END();

	user_proc_fini(&p);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd))
			printf("# could not remove %s\n", dir);
	}
	return 0;
}
