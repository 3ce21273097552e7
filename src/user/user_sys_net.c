/* Socket system calls. Simple ones are in user_sys_pass.c's table; these
 * take a length through a pointer (accept, recvfrom, getsockopt...) or a
 * struct msghdr, and check the memory those describe. */
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "user/user_sys.h"

#define USER_IOV_MAX 1024

/* An optional (buffer, int *len) pair the kernel fills: both must be writable. */
static long user_sock_out(struct user_proc *p, uint64_t buf, uint64_t lenp)
{
	int32_t len;

	if (!buf && !lenp)
		return 0;
	if (!user_writable(p, lenp, 4))
		return -EFAULT;
	memcpy(&len, USER_PTR(lenp), 4);
	if (len < 0)
		return -EINVAL;
	if (buf && !user_writable(p, buf, (uint64_t)len))
		return -EFAULT;
	return 0;
}

/* struct msghdr (x86-64): name, namelen, iov, iovlen, control, controllen, flags. */
struct user_msghdr {
	uint64_t name;
	uint32_t namelen, pad;
	uint64_t iov, iovlen, control, controllen;
	int32_t flags, pad2;
};

static long user_sock_msg(struct user_proc *p, uint64_t msg, bool to_guest)
{
	struct user_msghdr m;
	uint64_t i;

	if (!user_map_check(&p->map, msg, sizeof(m), to_guest ? PROT_WRITE : PROT_READ))
		return -EFAULT;
	memcpy(&m, USER_PTR(msg), sizeof(m));
	if (m.iovlen > USER_IOV_MAX)
		return -EMSGSIZE;
	if (!user_readable(p, m.iov, m.iovlen * sizeof(struct iovec)))
		return -EFAULT;
	for (i = 0; i < m.iovlen; i++) {
		struct iovec v;

		memcpy(&v, USER_PTR(m.iov + i * sizeof(v)), sizeof(v));
		if (!user_map_check(&p->map, (uint64_t)(uintptr_t)v.iov_base, v.iov_len,
				    to_guest ? PROT_WRITE : PROT_READ))
			return -EFAULT;
	}
	if ((m.name && !user_map_check(&p->map, m.name, m.namelen,
				       to_guest ? PROT_WRITE : PROT_READ)) ||
	    (m.control && !user_map_check(&p->map, m.control, m.controllen,
					  to_guest ? PROT_WRITE : PROT_READ)))
		return -EFAULT;
	return 0;
}

long user_sys_net(struct user_proc *p, long nr, const uint64_t *a)
{
	long r;

	switch (nr) {
	case SYS_accept: case SYS_accept4: case SYS_getsockname: case SYS_getpeername:
		r = user_sock_out(p, a[1], a[2]);
		break;
	case SYS_recvfrom:
		if (a[2] && !user_writable(p, a[1], a[2]))
			return -EFAULT;
		r = user_sock_out(p, a[4], a[5]);
		break;
	case SYS_getsockopt:
		r = user_sock_out(p, a[3], a[4]);
		break;
	case SYS_sendmsg:
		r = user_sock_msg(p, a[1], false);
		break;
	case SYS_recvmsg:
		r = user_sock_msg(p, a[1], true);
		break;
	default:
		return USER_SYS_NONE;
	}
	if (r)
		return r;
	return user_host_ret(syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]));
}
