/* System calls passed straight to the host kernel. Guest pointers equal
 * host pointers, so the only work is to check every pointer argument
 * against the guest map first: a table gives each call's argument kinds.
 *   v       a value (fd, flags, mode, pid, offset...)
 *   p / P   a path string (P: or NULL); copied out of guest memory
 *   e       a path that may be "/proc/self/exe", meaning the guest program
 *           (calls that only read: open for reading, stat, access)
 *   iN / IN an input buffer of N bytes (I: or NULL)
 *   oN / ON an output buffer of N bytes (O: or NULL)
 *   xN / XN an in/out buffer of N bytes (X: or NULL)
 *   bK / BK an input / output buffer whose length is argument K; it is
 *           shortened to the guest-owned part (a short read or write is
 *           legal), and EFAULT if none of it is
 * Struct sizes are those of the x86-64 Linux ABI, which host and guest share. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "user/user_sys.h"

static const char *const user_pass_spec[] = {
	[SYS_read] = "v B2 v",
	[SYS_write] = "v b2 v",
	[SYS_pread64] = "v B2 v v",
	[SYS_pwrite64] = "v b2 v v",
	[SYS_open] = "e v v",
	[SYS_openat] = "v e v v",
	[SYS_creat] = "p v",
	[SYS_close] = "v",
	[SYS_stat] = "e o144",
	[SYS_lstat] = "p o144",
	[SYS_fstat] = "v o144",
	[SYS_newfstatat] = "v e o144 v",
	[SYS_statx] = "v e v v o256",
	[SYS_statfs] = "p o120",
	[SYS_fstatfs] = "v o120",
	[SYS_lseek] = "v v v",
	[SYS_access] = "e v",
	[SYS_faccessat] = "v e v",
	[SYS_faccessat2] = "v e v v",
	[SYS_getcwd] = "B1 v",
	[SYS_chdir] = "p",
	[SYS_fchdir] = "v",
	[SYS_getdents64] = "v B2 v",
	[SYS_getdents] = "v B2 v",
	[SYS_dup] = "v",
	[SYS_dup2] = "v v",
	[SYS_dup3] = "v v v",
	[SYS_pipe] = "o8",
	[SYS_pipe2] = "o8 v",
	[SYS_rename] = "p p",
	[SYS_renameat] = "v p v p",
	[SYS_renameat2] = "v p v p v",
	[SYS_unlink] = "p",
	[SYS_unlinkat] = "v p v",
	[SYS_mkdir] = "p v",
	[SYS_mkdirat] = "v p v",
	[SYS_rmdir] = "p",
	[SYS_link] = "p p",
	[SYS_linkat] = "v p v p v",
	[SYS_symlink] = "p p",
	[SYS_symlinkat] = "p v p",
	[SYS_chmod] = "p v",
	[SYS_fchmod] = "v v",
	[SYS_fchmodat] = "v p v",
	[SYS_chown] = "p v v",
	[SYS_fchown] = "v v v",
	[SYS_lchown] = "p v v",
	[SYS_fchownat] = "v p v v v",
	[SYS_utimensat] = "v P I32 v",
	[SYS_utimes] = "p I32",
	[SYS_utime] = "p I16",
	[SYS_futimesat] = "v P I32",
	[SYS_umask] = "v",
	[SYS_truncate] = "p v",
	[SYS_ftruncate] = "v v",
	[SYS_fsync] = "v",
	[SYS_fdatasync] = "v",
	[SYS_sync] = "",
	[SYS_syncfs] = "v",
	[SYS_mknod] = "p v v",
	[SYS_mknodat] = "v p v v",
	[SYS_flock] = "v v",
	[SYS_fadvise64] = "v v v v",
	[SYS_fallocate] = "v v v v",
	[SYS_sendfile] = "v v X8 v",
	[SYS_chroot] = "p",
	[SYS_clock_gettime] = "v o16",
	[SYS_clock_getres] = "v O16",
	[SYS_gettimeofday] = "O16 O8",
	[SYS_time] = "O8",
	[SYS_nanosleep] = "i16 O16",
	[SYS_clock_nanosleep] = "v v i16 O16",
	[SYS_getrandom] = "B1 v v",
	[SYS_prlimit64] = "v v I16 O16",
	[SYS_getrlimit] = "v o16",
	[SYS_setrlimit] = "v i16",
	[SYS_sysinfo] = "o112",
	[SYS_times] = "O32",
	[SYS_getrusage] = "v o144",
	[SYS_wait4] = "v O4 v O144",
	[SYS_waitid] = "v v O128 v O144",
	[SYS_getpid] = "",
	[SYS_getppid] = "",
	[SYS_gettid] = "",
	[SYS_getuid] = "",
	[SYS_geteuid] = "",
	[SYS_getgid] = "",
	[SYS_getegid] = "",
	[SYS_setuid] = "v",
	[SYS_setgid] = "v",
	[SYS_setreuid] = "v v",
	[SYS_setregid] = "v v",
	[SYS_setresuid] = "v v v",
	[SYS_setresgid] = "v v v",
	[SYS_getresuid] = "o4 o4 o4",
	[SYS_getresgid] = "o4 o4 o4",
	[SYS_setfsuid] = "v",
	[SYS_setfsgid] = "v",
	[SYS_getpgrp] = "",
	[SYS_setpgid] = "v v",
	[SYS_getpgid] = "v",
	[SYS_setsid] = "",
	[SYS_getsid] = "v",
	[SYS_kill] = "v v",
	[SYS_tkill] = "v v",
	[SYS_tgkill] = "v v v",
	[SYS_getpriority] = "v v",
	[SYS_setpriority] = "v v v",
	[SYS_sched_yield] = "",
	[SYS_sched_getaffinity] = "v v B1",
	[SYS_getcpu] = "O4 O4 v",
	[SYS_alarm] = "v",
	[SYS_pause] = "",
	[SYS_setitimer] = "v I32 O32",
	[SYS_getitimer] = "v o32",
	[SYS_sethostname] = "b1 v",
	[SYS_personality] = "v",
	[SYS_epoll_create] = "v",
	[SYS_epoll_create1] = "v",
	[SYS_epoll_ctl] = "v v v I12",
	[SYS_eventfd] = "v",
	[SYS_eventfd2] = "v v",
	[SYS_timerfd_create] = "v v",
	[SYS_timerfd_settime] = "v v i32 O32",
	[SYS_timerfd_gettime] = "v o32",
	[SYS_inotify_init] = "",
	[SYS_inotify_init1] = "v",
	[SYS_inotify_add_watch] = "v p v",
	[SYS_inotify_rm_watch] = "v v",
	[SYS_getxattr] = "p p B3 v",
	[SYS_lgetxattr] = "p p B3 v",
	[SYS_fgetxattr] = "v p B3 v",
	[SYS_listxattr] = "p B2 v",
	[SYS_llistxattr] = "p B2 v",
	[SYS_flistxattr] = "v B2 v",
	[SYS_setxattr] = "p p b3 v v",
	[SYS_lsetxattr] = "p p b3 v v",
	[SYS_fsetxattr] = "v p b3 v v",
	[SYS_removexattr] = "p p",
	[SYS_lremovexattr] = "p p",
	[SYS_fremovexattr] = "v p",
	[SYS_splice] = "v X8 v X8 v v",
	[SYS_tee] = "v v v v",
	[SYS_copy_file_range] = "v X8 v X8 v v",
	[SYS_memfd_create] = "p v",
	[SYS_close_range] = "v v v",
	[SYS_sched_getscheduler] = "v",
	[SYS_sched_getparam] = "v o4",
	[SYS_socket] = "v v v",
	[SYS_socketpair] = "v v v o8",
	[SYS_bind] = "v b2 v",
	[SYS_connect] = "v b2 v",
	[SYS_listen] = "v v",
	[SYS_shutdown] = "v v",
	[SYS_sendto] = "v b2 v v b5 v",
	[SYS_setsockopt] = "v v v b4 v",
};

uint64_t user_extent(struct user_proc *p, uint64_t addr, uint64_t len, int access)
{
	uint64_t done = 0;

	while (done < len) {
		const struct user_map_range *r = user_map_find(&p->map, addr + done);

		if (!r || !user_map_check(&p->map, addr + done, 1, access))
			break;
		if (r->end - (addr + done) >= len - done)
			return len;
		done = r->end - addr;
	}
	return done;
}

/* May "/proc/self/exe" stand for the guest program in this call? Not when
 * it would write the file or ask about the link itself. */
static bool user_pass_exe_ok(long nr, const uint64_t *a)
{
	switch (nr) {
	case SYS_open:
		return !(a[1] & (O_ACCMODE | O_CREAT | O_TRUNC));
	case SYS_openat:
		return !(a[2] & (O_ACCMODE | O_CREAT | O_TRUNC));
	case SYS_newfstatat:
		return !(a[3] & AT_SYMLINK_NOFOLLOW);
	case SYS_statx:
		return !(a[2] & AT_SYMLINK_NOFOLLOW);
	}
	return true;
}

/* "/proc/PID/maps" with our own PID. */
static bool user_is_own_maps(const char *path)
{
	char own[64];

	snprintf(own, sizeof(own), "/proc/%d/maps", (int)getpid());
	return !strcmp(path, own);
}

static unsigned user_pass_num(const char **s)
{
	unsigned n = 0;

	while (**s >= '0' && **s <= '9')
		n = n * 10 + (unsigned)(*(*s)++ - '0');
	return n;
}

long user_sys_pass(struct user_proc *p, long nr, const uint64_t *a)
{
	char path[2][PATH_MAX];
	uint64_t arg[6], outs[6][2];
	const char *s;
	int i, npath = 0, nout = 0;
	long r;

	if (nr < 0 || (unsigned long)nr >= sizeof(user_pass_spec) / sizeof(user_pass_spec[0]) ||
	    !user_pass_spec[nr])
		return USER_SYS_NONE;
	memcpy(arg, a, sizeof(arg));
	s = user_pass_spec[nr];
	for (i = 0; *s && i < 6; i++) {
		char kind = *s++;
		unsigned n = user_pass_num(&s);
		int access;

		while (*s == ' ')
			s++;
		switch (kind) {
		case 'v':
			break;
		case 'P':
			if (!a[i])
				break;
			/* fall through */
		case 'p': case 'e':
			r = user_path(p, a[i], path[npath], kind == 'e' && user_pass_exe_ok(nr, a));
			if (r < 0)
				return r;
			/* The host's maps would show vireo-user: give the guest its own. */
			if ((nr == SYS_open || nr == SYS_openat) && kind == 'e' &&
			    user_pass_exe_ok(nr, a) && (!strcmp(path[npath], "/proc/self/maps") ||
							 user_is_own_maps(path[npath])))
				return user_maps_fd(p);
			arg[i] = (uint64_t)(uintptr_t)path[npath++];
			break;
		case 'I': case 'O': case 'X':
			if (!a[i])
				break;
			kind = (char)(kind - 'A' + 'a');
			/* fall through */
		case 'i': case 'o': case 'x':
			access = kind == 'i' ? PROT_READ : PROT_WRITE;
			if (!user_map_check(&p->map, a[i], n, access) ||
			    (kind == 'x' && !user_readable(p, a[i], n)))
				return -EFAULT;
			if (kind != 'i') {
				outs[nout][0] = a[i];
				outs[nout++][1] = n;
			}
			break;
		case 'b': case 'B':
			if (n > 5)
				return -EINVAL;
			access = kind == 'b' ? PROT_READ : PROT_WRITE;
			if (a[n]) {
				arg[n] = user_extent(p, a[i], a[n], access);
				if (!arg[n])
					return -EFAULT;
			}
			if (kind == 'B') {
				outs[nout][0] = a[i];
				outs[nout++][1] = arg[n];
			}
			break;
		default:
			return -ENOSYS;
		}
	}
	r = user_host_ret(syscall(nr, arg[0], arg[1], arg[2], arg[3], arg[4], arg[5]));
	for (i = 0; i < nout; i++)
		user_mem_written(p, outs[i][0], outs[i][1]);
	return r;
}
