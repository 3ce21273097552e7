/* File system calls that need more than user_sys_pass.c's table: vectors
 * (readv/writev), ioctl and fcntl by command, readlink of /proc/self/exe,
 * and the poll/select family. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#include "user/user_sys.h"

#define USER_IOV_MAX 1024 /* UIO_MAXIOV */
#define USER_KTERMIOS_SIZE 36 /* struct termios of the kernel ABI (TCGETS) */

/* Copy and check a guest iovec array; WRITE_TO_GUEST for readv. */
static long user_iov(struct user_proc *p, uint64_t addr, uint64_t cnt, bool to_guest,
		     struct iovec *iov)
{
	uint64_t i;

	if (cnt > USER_IOV_MAX)
		return -EINVAL;
	if (!user_readable(p, addr, cnt * sizeof(*iov)))
		return -EFAULT;
	memcpy(iov, USER_PTR(addr), cnt * sizeof(*iov));
	for (i = 0; i < cnt; i++) {
		uint64_t base = (uint64_t)(uintptr_t)iov[i].iov_base;

		if (!user_map_check(&p->map, base, iov[i].iov_len, to_guest ? PROT_WRITE : PROT_READ))
			return -EFAULT;
	}
	return 0;
}

static long user_sys_vec(struct user_proc *p, long nr, const uint64_t *a)
{
	static struct iovec iov[USER_IOV_MAX];
	bool to_guest = nr == SYS_readv || nr == SYS_preadv || nr == SYS_preadv2;
	long r = user_iov(p, a[1], a[2], to_guest, iov);
	uint64_t i;

	if (r)
		return r;
	r = user_host_ret(syscall(nr, a[0], iov, a[2], a[3], a[4], a[5]));
	if (to_guest)
		for (i = 0; i < a[2]; i++)
			user_mem_written(p, (uint64_t)(uintptr_t)iov[i].iov_base, iov[i].iov_len);
	return r;
}

static long user_sys_ioctl(struct user_proc *p, const uint64_t *a)
{
	unsigned cmd = (unsigned)a[1];
	uint64_t in = 0, out = 0;

	switch (cmd) {
	case TCGETS:
		out = USER_KTERMIOS_SIZE;
		break;
	case TCSETS: case TCSETSW: case TCSETSF:
		in = USER_KTERMIOS_SIZE;
		break;
	case TIOCGWINSZ:
		out = sizeof(struct winsize);
		break;
	case TIOCSWINSZ:
		in = sizeof(struct winsize);
		break;
	case TIOCGPGRP: case TIOCGSID: case FIONREAD: case TIOCOUTQ:
		out = sizeof(int);
		break;
	case TIOCSPGRP: case FIONBIO: case FIOASYNC:
		in = sizeof(int);
		break;
	case FIOCLEX: case FIONCLEX: case TCSBRK: case TCSBRKP: case TCXONC: case TCFLSH:
	case TIOCSCTTY: case TIOCNOTTY:
		/* The argument is a value, not a pointer. */
		break;
	default:
		/* Unknown commands may take pointers of any size: refuse them
		 * rather than let the host kernel write where the guest says. */
		return -ENOTTY;
	}
	if (in && !user_readable(p, a[2], in))
		return -EFAULT;
	if (out && !user_writable(p, a[2], out))
		return -EFAULT;
	return user_host_ret(syscall(SYS_ioctl, a[0], a[1], a[2]));
}

static long user_sys_fcntl(struct user_proc *p, const uint64_t *a)
{
	switch ((int)a[1]) {
	case F_DUPFD: case F_DUPFD_CLOEXEC: case F_GETFD: case F_SETFD: case F_GETFL:
	case F_SETFL: case F_GETOWN: case F_SETOWN: case F_GETSIG: case F_SETSIG:
	case F_SETLEASE: case F_GETLEASE: case F_NOTIFY: case F_SETPIPE_SZ: case F_GETPIPE_SZ:
	case F_ADD_SEALS: case F_GET_SEALS:
		break;
	case F_GETLK: case F_OFD_GETLK:
		if (!user_writable(p, a[2], sizeof(struct flock)))
			return -EFAULT;
		break;
	case F_SETLK: case F_SETLKW: case F_OFD_SETLK: case F_OFD_SETLKW:
		if (!user_readable(p, a[2], sizeof(struct flock)))
			return -EFAULT;
		break;
	default:
		return -EINVAL;
	}
	return user_host_ret(syscall(SYS_fcntl, a[0], a[1], a[2]));
}

static long user_sys_readlink(struct user_proc *p, int dfd, uint64_t path_addr, uint64_t buf,
			      uint64_t size)
{
	char path[PATH_MAX];
	long r = user_strncpy(p, path_addr, path, sizeof(path));
	size_t len;

	if (r < 0)
		return r;
	if ((int64_t)size <= 0)
		return -EINVAL;
	size = user_extent(p, buf, size, PROT_WRITE);
	if (!size)
		return -EFAULT;
	if (p->exe_path[0] && !strcmp(path, "/proc/self/exe")) {
		/* The host's link names vireo-user; the guest expects itself. */
		len = strlen(p->exe_path);
		if (len > size)
			len = size;
		memcpy(USER_PTR(buf), p->exe_path, len);
		return (long)len;
	}
	r = user_host_ret(syscall(SYS_readlinkat, dfd, path, buf, size));
	if (r > 0)
		user_mem_written(p, buf, (uint64_t)r);
	return r;
}

static long user_sys_poll(struct user_proc *p, long nr, const uint64_t *a)
{
	uint64_t nfds = a[1];

	if (nfds > 1u << 20)
		return -EINVAL;
	if (!user_map_check(&p->map, a[0], nfds * sizeof(struct pollfd), PROT_WRITE))
		return -EFAULT;
	if (nr == SYS_ppoll) {
		if (a[2] && !user_writable(p, a[2], 16))
			return -EFAULT;
		if (a[3] && !user_readable(p, a[3], a[4] > 128 ? 128 : a[4]))
			return -EFAULT;
		return user_host_ret(syscall(SYS_ppoll, a[0], a[1], a[2], a[3], a[4]));
	}
	return user_host_ret(syscall(SYS_poll, a[0], a[1], a[2]));
}

static long user_sys_select(struct user_proc *p, long nr, const uint64_t *a)
{
	uint64_t setlen, sigdata[2];
	int i;

	if ((int64_t)a[0] < 0 || a[0] > 1u << 20)
		return -EINVAL;
	setlen = (a[0] + 63) / 64 * 8;
	for (i = 1; i <= 3; i++)
		if (a[i] && !user_map_check(&p->map, a[i], setlen, PROT_WRITE))
			return -EFAULT;
	/* select's timeval and pselect6's timespec are both 16 bytes, updated. */
	if (a[4] && !user_writable(p, a[4], 16))
		return -EFAULT;
	if (nr == SYS_pselect6 && a[5]) {
		/* The sixth argument points at { const sigset_t *ss; size_t ss_len; }. */
		if (!user_readable(p, a[5], sizeof(sigdata)))
			return -EFAULT;
		memcpy(sigdata, USER_PTR(a[5]), sizeof(sigdata));
		if (sigdata[0] && !user_readable(p, sigdata[0], sigdata[1] > 128 ? 128 : sigdata[1]))
			return -EFAULT;
	}
	return user_host_ret(syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]));
}

/* epoll_wait/epoll_pwait: MAXEVENTS packed 12-byte struct epoll_event out. */
static long user_sys_epoll_wait(struct user_proc *p, long nr, const uint64_t *a)
{
	if ((int)a[2] <= 0 || a[2] > (1u << 20))
		return -EINVAL;
	if (!user_writable(p, a[1], a[2] * 12))
		return -EFAULT;
	if (nr == SYS_epoll_pwait && a[4] && !user_readable(p, a[4], 8))
		return -EFAULT;
	return user_host_ret(syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]));
}

static const char *user_maps_name(const struct user_proc *p, const struct user_map_range *r)
{
	if (r->start >= p->image_lo && r->end <= p->image_hi)
		return p->exe_path;
	if (r->start >= p->stack_lo && r->end <= p->stack_hi)
		return "[stack]";
	if (r->start >= p->brk_start && r->end <= user_page_up(p->brk_cur))
		return "[heap]";
	return "";
}

/* /proc/self/maps as the guest would see it under Linux: its own ranges
 * (the host's file describes vireo-user), in a memfd the guest reads. */
long user_maps_fd(struct user_proc *p)
{
	char line[PATH_MAX + 128];
	int fd = memfd_create("maps", MFD_CLOEXEC);
	size_t i;

	if (fd < 0)
		return -errno;
	for (i = 0; i < p->map.n; i++) {
		const struct user_map_range *r = &p->map.r[i];
		uint64_t end = r->end;
		const char *name = user_maps_name(p, r);
		int n;

		/* One line per run of adjacent ranges alike, as Linux merges vmas. */
		while (i + 1 < p->map.n && p->map.r[i + 1].start == end &&
		       p->map.r[i + 1].prot == r->prot && user_maps_name(p, &p->map.r[i + 1]) == name)
			end = p->map.r[++i].end;
		n = snprintf(line, sizeof(line), "%08llx-%08llx %c%c%cp 00000000 00:00 0%*s%s\n",
			     (unsigned long long)r->start, (unsigned long long)end,
			     r->prot & PROT_READ ? 'r' : '-', r->prot & PROT_WRITE ? 'w' : '-',
			     r->prot & PROT_EXEC ? 'x' : '-', name[0] ? 19 : 0, "", name);
		if (write(fd, line, (size_t)n) != n) {
			close(fd);
			return -EIO;
		}
	}
	lseek(fd, 0, SEEK_SET);
	return fd;
}

long user_sys_fs(struct user_proc *p, long nr, const uint64_t *a)
{
	switch (nr) {
	case SYS_epoll_wait: case SYS_epoll_pwait:
		return user_sys_epoll_wait(p, nr, a);
	case SYS_readv: case SYS_writev: case SYS_preadv: case SYS_pwritev:
	case SYS_preadv2: case SYS_pwritev2:
		return user_sys_vec(p, nr, a);
	case SYS_ioctl:
		return user_sys_ioctl(p, a);
	case SYS_fcntl:
		return user_sys_fcntl(p, a);
	case SYS_readlink:
		return user_sys_readlink(p, AT_FDCWD, a[0], a[1], a[2]);
	case SYS_readlinkat:
		return user_sys_readlink(p, (int)a[0], a[1], a[2], a[3]);
	case SYS_poll: case SYS_ppoll:
		return user_sys_poll(p, nr, a);
	case SYS_select: case SYS_pselect6:
		return user_sys_select(p, nr, a);
	}
	return USER_SYS_NONE;
}
