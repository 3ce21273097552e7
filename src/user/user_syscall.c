/* System call dispatch: each group (table-driven passthrough, files,
 * memory, processes, signals) claims its numbers; the rest get -ENOSYS and
 * one line on stderr per number. */
#include "user/user_syscall.h"

#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "user/user_signal.h"
#include "user/user_sys.h"
#include "user/user_sysnames.h"

/* Calls whose absence glibc or busybox handle on their own: no message. */
static bool user_sys_quiet(long nr)
{
	return nr == SYS_rseq || nr == SYS_clone3;
}

/* Calls Linux never restarts after a handler ran, even with SA_RESTART:
 * they return -ERESTARTNOHAND or -ERESTART_RESTARTBLOCK, or EINTR always
 * (signal(7), "Interruption of system calls by signal handlers"). */
static bool user_sys_no_restart(long nr)
{
	switch (nr) {
	case SYS_pause: case SYS_rt_sigsuspend: case SYS_rt_sigtimedwait: case SYS_poll:
	case SYS_ppoll: case SYS_select: case SYS_pselect6: case SYS_nanosleep:
	case SYS_clock_nanosleep: case SYS_epoll_wait: case SYS_epoll_pwait:
		return true;
	}
	return false;
}

void user_syscall(struct user_proc *p, struct cpu_state *st)
{
	long nr = (long)st->gpr[USER_RAX];
	uint64_t a[6] = { st->gpr[USER_RDI], st->gpr[USER_RSI], st->gpr[USER_RDX],
			  st->gpr[USER_R10], st->gpr[USER_R8], st->gpr[USER_R9] };
	long r = USER_SYS_NONE;

	/* SYSCALL itself: RCX = return RIP, R11 = RFLAGS (Intel SDM Vol. 2B, SYSCALL). */
	st->gpr[USER_RCX] = st->rip;
	st->gpr[USER_R11] = st->rflags;
	if (r == USER_SYS_NONE)
		r = user_sys_pass(p, nr, a);
	if (r == USER_SYS_NONE)
		r = user_sys_fs(p, nr, a);
	if (r == USER_SYS_NONE)
		r = user_sys_mem(p, nr, a);
	if (r == USER_SYS_NONE)
		r = user_sys_net(p, nr, a);
	if (r == USER_SYS_NONE)
		r = user_sys_proc(p, st, nr, a);
	if (r == USER_SYS_NONE)
		r = user_sys_signal(p, st, nr, a);
	if (r == USER_SYS_NONE) {
		if (!user_sys_quiet(nr))
			user_report_once(p, (unsigned long)nr, "unsupported");
		r = -ENOSYS;
	}
	if (p->trace)
		fprintf(stderr, "vireo-user: [%d] %s(0x%llx, 0x%llx, 0x%llx) = %ld\n", (int)getpid(),
			user_sysname((unsigned long)nr), (unsigned long long)a[0],
			(unsigned long long)a[1], (unsigned long long)a[2],
			r == USER_SYS_NORET ? (long)st->gpr[USER_RAX] : r);
	if (r == -EINTR && !user_sys_no_restart(nr) && user_signal_restart(p)) {
		/* Re-execute the SYSCALL (2 bytes, 0F 05) once the handler returns. */
		st->rip -= 2;
		r = nr;
	}
	if (r != USER_SYS_NORET)
		st->gpr[USER_RAX] = (uint64_t)r;
}
