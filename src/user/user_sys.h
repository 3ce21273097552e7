/* Internal interface between vireo-user's system call dispatcher
 * (user_syscall.c) and the files that implement groups of calls. Each
 * group returns the guest's result (>= 0 or -errno) or USER_SYS_NONE when
 * the number is not one of its own. Arguments are the raw registers
 * (RDI, RSI, RDX, R10, R8, R9: x86-64 psABI §A.2.1). */
#ifndef VIREO_USER_SYS_H
#define VIREO_USER_SYS_H

#include <errno.h>
#include <limits.h>
#include <stdint.h>

#include "cpu/cpu.h"
#include "user/user_proc.h"

#define USER_SYS_NONE LONG_MIN
/* The handler set the whole register state itself (rt_sigreturn). */
#define USER_SYS_NORET (LONG_MIN + 1)

#define USER_PTR(x) ((void *)(uintptr_t)(x))

static inline long user_host_ret(long r)
{
	return r < 0 ? -errno : r;
}

long user_sys_pass(struct user_proc *p, long nr, const uint64_t *a);
long user_sys_fs(struct user_proc *p, long nr, const uint64_t *a);
long user_sys_net(struct user_proc *p, long nr, const uint64_t *a);
long user_sys_mem(struct user_proc *p, long nr, const uint64_t *a);
long user_sys_proc(struct user_proc *p, struct cpu_state *st, long nr, const uint64_t *a);
long user_sys_signal(struct user_proc *p, struct cpu_state *st, long nr, const uint64_t *a);

/* A read-only fd with the guest's own /proc/self/maps. */
long user_maps_fd(struct user_proc *p);

/* Number of bytes from ADDR (at most LEN) that are guest-owned with ACCESS. */
uint64_t user_extent(struct user_proc *p, uint64_t addr, uint64_t len, int access);

#endif
