/* Process system calls: exit, fork/vfork/clone (fork-like only: vireo-user
 * runs one guest thread), execve (re-executes vireo-user on the new
 * program), futex for one thread, TLS and thread-id bookkeeping, uname,
 * groups and prctl. */
#include <asm/prctl.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "user/user_sys.h"

#define USER_ARG_MAX 65536 /* argv/envp entries we pass on */
#define USER_VFORK_FD 512  /* where the vfork wait pipe lives, out of the guest's way */

static long user_sys_fork(struct user_proc *p, struct cpu_state *st, uint64_t flags,
			  uint64_t newsp, uint64_t ptid, uint64_t ctid, uint64_t tls)
{
	const uint64_t fork_like = CLONE_VM | CLONE_VFORK | CLONE_CHILD_SETTID |
				   CLONE_CHILD_CLEARTID | CLONE_PARENT_SETTID | CLONE_SETTLS |
				   CLONE_DETACHED;
	static bool told;
	int pfd[2] = { -1, -1 };
	pid_t pid;

	if ((flags & ~0xffULL & ~fork_like) || (flags & CLONE_VM && !(flags & CLONE_VFORK))) {
		if (!told)
			user_msg("threads are not supported (clone flags 0x%llx): "
				 "the guest gets EAGAIN", (unsigned long long)flags);
		told = true;
		return -EAGAIN;
	}
	if (flags & CLONE_CHILD_SETTID && !user_writable(p, ctid, 4))
		return -EFAULT;
	if (flags & CLONE_PARENT_SETTID && !user_writable(p, ptid, 4))
		return -EFAULT;
	if (flags & CLONE_SETTLS && tls >= 1ULL << 47)
		return -EPERM;
	/* CLONE_VM|CLONE_VFORK (posix_spawn, vfork) becomes a fork in which the
	 * parent still waits until the child has exec'd or exited: a close-on-
	 * exec pipe whose write end only the child holds. */
	if (flags & CLONE_VFORK && pipe2(pfd, O_CLOEXEC) == 0) {
		int hi = fcntl(pfd[1], F_DUPFD_CLOEXEC, USER_VFORK_FD);

		close(pfd[1]);
		pfd[1] = hi;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		if (pfd[0] >= 0)
			close(pfd[0]), close(pfd[1]);
		return -errno;
	}
	if (pid == 0) {
		/* A vfork child's children must not hold its parent's wait pipe
		 * open (busybox timeout forks a watcher from a vfork child). */
		if (p->vfork_fd >= 0)
			close(p->vfork_fd);
		p->vfork_fd = pfd[1];
		if (pfd[0] >= 0)
			close(pfd[0]);
		if (newsp)
			st->gpr[USER_RSP] = newsp;
		if (flags & CLONE_SETTLS)
			st->fs_base = tls;
		if (flags & CLONE_CHILD_SETTID) {
			int32_t tid = (int32_t)getpid();

			memcpy(USER_PTR(ctid), &tid, 4);
		}
		if (flags & CLONE_CHILD_CLEARTID)
			p->clear_child_tid = ctid;
		return 0;
	}
	if (pfd[0] >= 0) {
		char c;

		if (pfd[1] >= 0)
			close(pfd[1]);
		while (read(pfd[0], &c, 1) < 0 && errno == EINTR)
			;
		close(pfd[0]);
	}
	if (flags & CLONE_PARENT_SETTID) {
		int32_t tid = pid;

		memcpy(USER_PTR(ptid), &tid, 4);
	}
	return pid;
}

/* Check a NULL-terminated guest array of guest strings; returns the count. */
static long user_strv(struct user_proc *p, uint64_t addr, char ***out)
{
	char **v = NULL;
	long n = 0;

	*out = NULL;
	if (!addr)
		return 0;
	for (;;) {
		uint64_t s;
		char **nv;

		if (n >= USER_ARG_MAX || !user_readable(p, addr + (uint64_t)n * 8, 8)) {
			free(v);
			return n >= USER_ARG_MAX ? -E2BIG : -EFAULT;
		}
		memcpy(&s, USER_PTR(addr + (uint64_t)n * 8), 8);
		if (!(n & 15)) {
			nv = realloc(v, ((size_t)n + 17) * sizeof(*v));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
		}
		v[n] = NULL;
		if (!s)
			break;
		/* The string must end inside guest memory. */
		{
			uint64_t at = s;

			for (;;) {
				uint64_t room = user_extent(p, at, USER_PAGE_SIZE - (at & USER_PAGE_MASK),
							    PROT_READ);

				if (!room) {
					free(v);
					return -EFAULT;
				}
				if (memchr(USER_PTR(at), 0, room))
					break;
				at += room;
				if (at - s > 1 << 20) {
					free(v);
					return -E2BIG;
				}
			}
		}
		v[n++] = USER_PTR(s);
	}
	*out = v;
	return n;
}

/* What vireo-user can exec: an ELF file (the new vireo-user checks the
 * rest and explains itself), or a "#!" script whose interpreter is run
 * under vireo-user in turn. Returns 0 or the errno execve(2) would give. */
static long user_exec_probe(const char *path, char *interp, size_t interp_len, char **iarg)
{
	char head[256];
	struct stat sb;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode) || access(path, X_OK)) {
		close(fd);
		return -EACCES;
	}
	n = read(fd, head, sizeof(head) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	head[n] = 0;
	interp[0] = 0;
	if (n >= 4 && !memcmp(head, "\177ELF", 4))
		return 0;
	if (n >= 2 && head[0] == '#' && head[1] == '!') {
		/* binfmt_script: "#!interp [one-arg]" on the first line. */
		char *s = head + 2, *e, *a;

		e = strchr(s, '\n');
		if (!e)
			return -ENOEXEC;
		*e = 0;
		while (*s == ' ' || *s == '\t')
			s++;
		a = s + strcspn(s, " \t");
		if (*a) {
			*a++ = 0;
			while (*a == ' ' || *a == '\t')
				a++;
			e = a + strlen(a);
			while (e > a && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
				*--e = 0;
		}
		if (!*s)
			return -ENOEXEC;
		snprintf(interp, interp_len, "%s", s);
		*iarg = *a ? strdup(a) : NULL;
		return 0;
	}
	return -ENOEXEC;
}

static long user_sys_execve(struct user_proc *p, int dfd, uint64_t path_addr, uint64_t argv_addr,
			    uint64_t envp_addr, int flags)
{
	char path[PATH_MAX], interp[PATH_MAX], *iarg = NULL;
	char **argv, **envp, **nargv;
	long argc, envc, r;
	int n = 0, i;

	r = user_path(p, path_addr, path, true);
	if (r < 0)
		return r;
	if (dfd != AT_FDCWD && path[0] != '/')
		return -ENOSYS; /* execveat relative to a directory fd: not needed yet */
	if (flags)
		return -EINVAL;
	argc = user_strv(p, argv_addr, &argv);
	if (argc < 0)
		return argc;
	envc = user_strv(p, envp_addr, &envp);
	if (envc < 0) {
		free(argv);
		return envc;
	}
	r = user_exec_probe(path, interp, sizeof(interp), &iarg);
	if (r)
		goto out;
	if (interp[0]) {
		if (access(interp, X_OK)) {
			r = -errno;
			goto out;
		}
	}
	nargv = calloc((size_t)argc + 8, sizeof(*nargv));
	if (!nargv) {
		r = -ENOMEM;
		goto out;
	}
	nargv[n++] = (char *)(p->self_argv0 ? p->self_argv0 : "vireo-user");
	if (interp[0]) {
		/* The kernel's argv for "#!": interp [arg] script args... */
		nargv[n++] = "-0";
		nargv[n++] = interp;
		nargv[n++] = "--";
		nargv[n++] = interp;
		if (iarg)
			nargv[n++] = iarg;
		nargv[n++] = path;
	} else {
		nargv[n++] = "-0";
		nargv[n++] = argc ? argv[0] : path;
		nargv[n++] = "--";
		nargv[n++] = path;
	}
	for (i = 1; i < argc; i++)
		nargv[n++] = argv[i];
	nargv[n] = NULL;
	fflush(NULL);
	/* Re-execute vireo-user itself (the host's /proc/self/exe) on the new
	 * program, keeping the guest's environment. */
	execve("/proc/self/exe", nargv, envp ? envp : (char *[]){ NULL });
	r = -errno;
	free(nargv);
out:
	free(iarg);
	free(argv);
	free(envp);
	return r;
}

static long user_sys_futex(struct user_proc *p, const uint64_t *a)
{
	int cmd = (int)a[1] & FUTEX_CMD_MASK;

	if (!user_readable(p, a[0], 4) || a[0] & 3)
		return a[0] & 3 ? -EINVAL : -EFAULT;
	switch (cmd) {
	case FUTEX_WAIT: case FUTEX_WAIT_BITSET:
		/* One thread: nobody can wake us but a signal. The host's futex
		 * on the same (identity-mapped) word gives exactly that. */
		if (a[3] && !user_readable(p, a[3], 16))
			return -EFAULT;
		break;
	case FUTEX_WAKE: case FUTEX_WAKE_BITSET:
		break;
	case FUTEX_REQUEUE: case FUTEX_CMP_REQUEUE: case FUTEX_WAKE_OP:
		if (!user_writable(p, a[4], 4))
			return -EFAULT;
		break;
	default:
		return -ENOSYS;
	}
	return user_host_ret(syscall(SYS_futex, a[0], a[1], a[2], a[3], a[4], a[5]));
}

static long user_sys_arch_prctl(struct user_proc *p, struct cpu_state *st, int code,
				uint64_t addr)
{
	uint64_t v;

	switch (code) {
	case ARCH_SET_FS: case ARCH_SET_GS:
		if (addr >= 1ULL << 47)
			return -EPERM;
		if (code == ARCH_SET_FS)
			st->fs_base = addr;
		else
			st->gs_base = addr;
		return 0;
	case ARCH_GET_FS: case ARCH_GET_GS:
		if (!user_writable(p, addr, 8))
			return -EFAULT;
		v = code == ARCH_GET_FS ? st->fs_base : st->gs_base;
		memcpy(USER_PTR(addr), &v, 8);
		return 0;
	}
	return -EINVAL;
}

static long user_sys_uname(struct user_proc *p, uint64_t addr)
{
	struct utsname u;

	if (!user_writable(p, addr, sizeof(u)))
		return -EFAULT;
	if (uname(&u))
		return -errno;
	snprintf(u.machine, sizeof(u.machine), "x86_64");
	memcpy(USER_PTR(addr), &u, sizeof(u));
	return 0;
}

static long user_sys_prctl(struct user_proc *p, const uint64_t *a)
{
	char name[16];
	long r;

	switch ((int)a[0]) {
	case PR_SET_NAME:
		r = user_strncpy(p, a[1], name, sizeof(name));
		if (r == -ENAMETOOLONG) {
			memcpy(name, USER_PTR(a[1]), sizeof(name) - 1);
			name[15] = 0;
		} else if (r < 0) {
			return r;
		}
		return user_host_ret(prctl(PR_SET_NAME, name));
	case PR_GET_NAME:
		if (!user_writable(p, a[1], 16))
			return -EFAULT;
		break;
	case PR_GET_PDEATHSIG:
		if (!user_writable(p, a[1], 4))
			return -EFAULT;
		break;
	case PR_SET_PDEATHSIG: case PR_GET_DUMPABLE: case PR_SET_DUMPABLE:
	case PR_SET_NO_NEW_PRIVS: case PR_GET_NO_NEW_PRIVS: case PR_SET_CHILD_SUBREAPER:
	case PR_GET_TIMERSLACK: case PR_SET_TIMERSLACK:
		break;
	default:
		return -EINVAL;
	}
	return user_host_ret(syscall(SYS_prctl, a[0], a[1], a[2], a[3], a[4]));
}

long user_sys_proc(struct user_proc *p, struct cpu_state *st, long nr, const uint64_t *a)
{
	switch (nr) {
	case SYS_exit: case SYS_exit_group:
		/* One thread: exit ends the process like exit_group. */
		p->exited = true;
		p->exit_status = (int)(a[0] & 0xff);
		return 0;
	case SYS_fork:
		return user_sys_fork(p, st, SIGCHLD, 0, 0, 0, 0);
	case SYS_vfork:
		return user_sys_fork(p, st, CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0);
	case SYS_clone:
		/* x86-64 argument order: flags, newsp, parent_tid, child_tid, tls. */
		return user_sys_fork(p, st, a[0], a[1], a[2], a[3], a[4]);
	case SYS_clone3:
		return -ENOSYS; /* glibc falls back to clone */
	case SYS_execve:
		return user_sys_execve(p, AT_FDCWD, a[0], a[1], a[2], 0);
	case SYS_execveat:
		return user_sys_execve(p, (int)a[0], a[1], a[2], a[3], (int)a[4]);
	case SYS_futex:
		return user_sys_futex(p, a);
	case SYS_set_tid_address:
		p->clear_child_tid = a[0];
		return getpid();
	case SYS_set_robust_list:
		return a[1] == 24 ? 0 : -EINVAL; /* sizeof(struct robust_list_head) */
	case SYS_rseq:
		return -ENOSYS; /* glibc runs without it */
	case SYS_arch_prctl:
		return user_sys_arch_prctl(p, st, (int)a[0], a[1]);
	case SYS_uname:
		return user_sys_uname(p, a[0]);
	case SYS_getgroups:
		if ((int)a[0] < 0 || a[0] > 65536)
			return -EINVAL;
		if (!user_writable(p, a[1], a[0] * 4))
			return -EFAULT;
		return user_host_ret(syscall(SYS_getgroups, a[0], a[1]));
	case SYS_setgroups:
		if (a[0] > 65536)
			return -EINVAL;
		if (!user_readable(p, a[1], a[0] * 4))
			return -EFAULT;
		return user_host_ret(syscall(SYS_setgroups, a[0], a[1]));
	case SYS_prctl:
		return user_sys_prctl(p, a);
	}
	return USER_SYS_NONE;
}
