/* Initial stack layout, top down (what Linux's create_elf_tables() builds):
 * the AT_EXECFN string, the platform string, 16 AT_RANDOM bytes, argv and
 * envp strings; then, 16-byte aligned at argc: argc, argv[], NULL, envp[],
 * NULL, auxv pairs ending with AT_NULL. */
#include "user/user_stack.h"

#include <elf.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define USER_AUXV_MAX 24

static int user_stack_push(uint64_t lo, uint64_t *sp, const void *data, uint64_t len)
{
	if (*sp - lo < len)
		return -E2BIG;
	*sp -= len;
	memcpy((void *)(uintptr_t)*sp, data, len);
	return 0;
}

int user_stack_build(uint64_t lo, uint64_t hi, const struct user_elf_info *elf,
		     const struct user_stack_args *a, uint64_t *rsp)
{
	uint64_t auxv[USER_AUXV_MAX * 2];
	uint64_t sp = hi, execfn, platform, random, strings = 0, at, nwords, *w;
	int envc = 0, i, n = 0, rc;

	while (a->envp && a->envp[envc])
		envc++;
	if (a->argc < 0 || hi - lo < 64)
		return -E2BIG;
	/* Ascending: tables, random bytes, platform, argv strings, envp
	 * strings, the AT_EXECFN string, one zero word at the very top. */
	sp -= 8;
	memset((void *)(uintptr_t)sp, 0, 8);
	rc = user_stack_push(lo, &sp, a->execfn, strlen(a->execfn) + 1);
	execfn = sp;
	for (i = 0; i < a->argc; i++)
		strings += strlen(a->argv[i]) + 1;
	for (i = 0; i < envc; i++)
		strings += strlen(a->envp[i]) + 1;
	if (rc || sp - lo < strings + 256)
		return -E2BIG;
	sp -= strings;
	at = sp;
	rc = user_stack_push(lo, &sp, "x86_64", 7);
	platform = sp;
	sp &= ~15ULL;
	if (!rc)
		rc = user_stack_push(lo, &sp, a->random16, 16);
	random = sp;
	if (rc)
		return rc;

#define AUX(type, val) (auxv[n * 2] = (type), auxv[n * 2 + 1] = (val), n++)
	AUX(AT_HWCAP, a->hwcap);
	AUX(AT_PAGESZ, USER_PAGE_SIZE);
	AUX(AT_CLKTCK, 100); /* USER_HZ */
	AUX(AT_PHDR, elf->phdr);
	AUX(AT_PHENT, elf->phent);
	AUX(AT_PHNUM, elf->phnum);
	AUX(AT_BASE, a->interp_base);
	AUX(AT_FLAGS, 0);
	AUX(AT_ENTRY, elf->entry);
	AUX(AT_UID, getuid());
	AUX(AT_EUID, geteuid());
	AUX(AT_GID, getgid());
	AUX(AT_EGID, getegid());
	AUX(AT_SECURE, 0);
	AUX(AT_RANDOM, random);
	AUX(AT_HWCAP2, 0);
	AUX(AT_EXECFN, execfn);
	AUX(AT_PLATFORM, platform);
	AUX(AT_NULL, 0);
#undef AUX

	nwords = 1 + (uint64_t)a->argc + 1 + (uint64_t)envc + 1 + (uint64_t)n * 2;
	if ((sp - lo) / 8 < nwords + 2)
		return -E2BIG;
	sp = (sp - nwords * 8) & ~15ULL;
	w = (uint64_t *)(uintptr_t)sp;
	*w++ = (uint64_t)a->argc;
	for (i = 0; i < a->argc; i++) {
		size_t len = strlen(a->argv[i]) + 1;

		memcpy((void *)(uintptr_t)at, a->argv[i], len);
		*w++ = at;
		at += len;
	}
	*w++ = 0;
	for (i = 0; i < envc; i++) {
		size_t len = strlen(a->envp[i]) + 1;

		memcpy((void *)(uintptr_t)at, a->envp[i], len);
		*w++ = at;
		at += len;
	}
	*w++ = 0;
	memcpy(w, auxv, (size_t)n * 16);
	*rsp = sp;
	return 0;
}

int user_stack_setup(struct user_proc *p, const struct user_elf_info *elf,
		     const struct user_stack_args *a, uint64_t *rsp, struct err *err)
{
	int prot = elf->stack_prot;
	void *m;
	uint64_t lo;
	int rc;

	m = mmap(NULL, USER_STACK_SIZE, user_host_prot(prot), MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return err_errno(err, errno, "mapping the stack");
	lo = (uint64_t)(uintptr_t)m;
	rc = user_map_add(&p->map, lo, USER_STACK_SIZE, prot);
	if (rc) {
		munmap(m, USER_STACK_SIZE);
		return err_errno(err, rc, "stack map");
	}
	p->stack_lo = lo;
	p->stack_hi = lo + USER_STACK_SIZE;
	rc = user_stack_build(lo, lo + USER_STACK_SIZE, elf, a, rsp);
	if (rc)
		return err_set(err, "arguments and environment do not fit the %llu MiB stack",
			       USER_STACK_SIZE >> 20);
	return 0;
}
