/* The initial process stack of a Linux x86-64 program: argc, argv, envp
 * and the auxiliary vector (x86-64 psABI §3.4.1, Figure 3.9). */
#ifndef VIREO_USER_STACK_H
#define VIREO_USER_STACK_H

#include <stdint.h>

#include "core/err.h"
#include "user/user_elf.h"
#include "user/user_proc.h"

#define USER_STACK_SIZE (8ULL << 20) /* RLIMIT_STACK's usual 8 MiB */

struct user_stack_args {
	int argc;
	char *const *argv;
	char *const *envp;
	const char *execfn;  /* AT_EXECFN */
	uint64_t hwcap;      /* AT_HWCAP: CPUID.01H:EDX of the emulated CPU */
	const uint8_t *random16; /* AT_RANDOM bytes */
	uint64_t interp_base; /* AT_BASE: where ld.so is loaded (0: static program) */
};

/* Map the stack, record it in P's map, write the start-up data and return
 * the initial RSP (16-byte aligned, pointing at argc) in *RSP. */
int user_stack_setup(struct user_proc *p, const struct user_elf_info *elf,
		     const struct user_stack_args *a, uint64_t *rsp, struct err *err);

/* Build the start-up block in the memory [lo, hi) whose guest address is
 * the same as its host address; exposed for unit tests. Returns 0 or
 * -E2BIG when it does not fit. */
int user_stack_build(uint64_t lo, uint64_t hi, const struct user_elf_info *elf,
		     const struct user_stack_args *a, uint64_t *rsp);

#endif
