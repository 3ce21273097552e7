/* Loading an x86-64 Linux executable (ET_EXEC or ET_DYN) and, for a
 * dynamically linked one, its ELF interpreter (ld.so), into the guest address
 * space, identity-mapped (guest == host address). */
#ifndef VIREO_USER_ELF_H
#define VIREO_USER_ELF_H

#include <limits.h>
#include <stdint.h>

#include "core/err.h"
#include "user/user_proc.h"

struct user_elf_info {
	uint64_t entry;     /* with the load bias applied */
	uint64_t phdr;      /* guest address of the program headers (AT_PHDR) */
	uint64_t phnum, phent;
	uint64_t bias;      /* 0 for ET_EXEC */
	uint64_t lo;        /* page-aligned start of the lowest segment */
	uint64_t brk;       /* page-aligned end of the highest segment */
	int stack_prot;     /* from PT_GNU_STACK */
	char interp[PATH_MAX]; /* PT_INTERP's path ("" for a static program) */
};

/* Check that FD (positioned anywhere) holds an executable vireo-user can
 * run; HEAD are its first LEN bytes. Returns 0 or -ENOEXEC with a one-line
 * reason in ERR ("not an ELF executable", "32-bit ELF ..."). */
int user_elf_check(const uint8_t *head, uint64_t len, struct err *err);

/* Map PATH's PT_LOAD segments into the guest, record them in P's map and
 * fill INFO (the interpreter is not loaded: INFO->interp names it). On
 * failure, ERR says why and nothing stays mapped. */
int user_elf_load(struct user_proc *p, const char *path, struct user_elf_info *info,
		  struct err *err);

#endif
