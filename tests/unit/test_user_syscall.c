/* vireo-user's system call layer on a fake CPU state: passthrough, guest
 * pointer checks (never letting the host kernel touch emulator memory),
 * mmap/brk bookkeeping, TLS, signals and their frames. */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "user/user_signal.h"
#include "user/user_syscall.h"

#define PG 4096UL
#define GSIZE (64 * PG)

static struct user_proc proc;
static struct cpu_state st;
static uint8_t emulator_secret[PG] __attribute__((aligned(4096))) = "secret";

static long sys(long nr, const uint64_t *a)
{
	st.gpr[0] = (uint64_t)nr;
	st.gpr[7] = a[0], st.gpr[6] = a[1], st.gpr[2] = a[2];
	st.gpr[10] = a[3], st.gpr[8] = a[4], st.gpr[9] = a[5];
	user_syscall(&proc, &st);
	return (long)st.gpr[0];
}

#define S(nr, ...) sys(nr, (const uint64_t[6]){ __VA_ARGS__ })
#define U(x) ((uint64_t)(uintptr_t)(x))

static void on_handler(void)
{
}

int main(void)
{
	struct user_proc *p = &proc;
	struct err err = { { 0 } };
	struct cpu *cpu;
	uint8_t *g;
	uint64_t gb;
	int32_t fds[2];
	long r;

	cpu = cpu_create(CPU_MODE_USER64, &(struct cpu_mem_ops){ 0 }, NULL, &err);
	user_proc_init(p, cpu);
	snprintf(p->exe_path, sizeof(p->exe_path), "/opt/guest/prog");
	g = mmap(NULL, GSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	gb = U(g);
	user_map_add(&p->map, gb, GSIZE, PROT_READ | PROT_WRITE);
	user_signal_init(p);

	TEST_BEGIN("user_sys_pipe_read_write");
	r = S(SYS_pipe2, gb, 0);
	CHECK_EQ(r, 0);
	memcpy(fds, g, 8);
	memcpy(g + 100, "hello", 5);
	CHECK_EQ(S(SYS_write, fds[1], gb + 100, 5), 5);
	CHECK_EQ(S(SYS_read, fds[0], gb + 200, 100), 5);
	CHECK(!memcmp(g + 200, "hello", 5));
	CHECK_EQ(st.gpr[1], st.rip); /* RCX = return RIP */
	TEST_END();

	TEST_BEGIN("user_sys_efault_on_emulator_memory");
	CHECK_EQ(S(SYS_write, fds[1], U(emulator_secret), 6), -EFAULT);
	CHECK_EQ(S(SYS_write, fds[1], gb + 100, 5), 5);
	CHECK_EQ(S(SYS_read, fds[0], U(emulator_secret), 5), -EFAULT);
	CHECK(!memcmp(emulator_secret, "secret", 6));
	CHECK_EQ(S(SYS_read, fds[0], gb + 300, 5), 5);
	strcpy((char *)g + 400, "/etc/passwd");
	CHECK_EQ(S(SYS_fstat, 0, U(emulator_secret)), -EFAULT);
	CHECK_EQ(S(SYS_openat, AT_FDCWD, U("/etc/passwd"), O_RDONLY), -EFAULT);
	CHECK_EQ(S(SYS_pipe2, U(emulator_secret), 0), -EFAULT);
	CHECK_EQ(S(SYS_clock_gettime, CLOCK_REALTIME, U(emulator_secret)), -EFAULT);
	CHECK_EQ(S(SYS_uname, U(emulator_secret)), -EFAULT);
	CHECK_EQ(S(SYS_getcwd, gb + GSIZE - 8, 4096) <= 8, 1);   /* clamped to the guest's part */
	/* A buffer running off the end of guest memory is shortened, not overrun. */
	memcpy(g + 100, "0123456789", 10);
	CHECK_EQ(S(SYS_write, fds[1], gb + 100, 10), 10);
	CHECK_EQ(S(SYS_read, fds[0], gb + GSIZE - 4, 10), 4);
	CHECK(!memcmp(g + GSIZE - 4, "0123", 4));
	CHECK_EQ(S(SYS_read, fds[0], gb + 500, 10), 6);
	/* readv with one bad element fails before the host sees it. */
	{
		uint64_t iov[4] = { gb + 600, 4, U(emulator_secret), 4 };

		memcpy(g + 700, iov, sizeof(iov));
		CHECK_EQ(S(SYS_readv, fds[0], gb + 700, 2), -EFAULT);
	}
	TEST_END();

	TEST_BEGIN("user_sys_open_stat_readlink");
	r = S(SYS_openat, AT_FDCWD, gb + 400, O_RDONLY);
	CHECK(r >= 0);
	CHECK_EQ(S(SYS_fstat, r, gb + 1024), 0);
	CHECK_EQ(S(SYS_close, r), 0);
	strcpy((char *)g + 400, "/proc/self/exe");
	CHECK_EQ(S(SYS_readlink, gb + 400, gb + 2048, 100), 15);
	CHECK(!memcmp(g + 2048, "/opt/guest/prog", 15));
	strcpy((char *)g + 400, "/nonexistent");
	CHECK_EQ(S(SYS_openat, AT_FDCWD, gb + 400, O_RDONLY), -ENOENT);
	TEST_END();

	TEST_BEGIN("user_sys_mmap_family");
	{
		uint64_t m = (uint64_t)S(SYS_mmap, 0, 3 * PG, PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0);

		CHECK(m < (uint64_t)-4096);
		CHECK(user_map_check(&p->map, m, 3 * PG, PROT_WRITE));
		memset((void *)(uintptr_t)m, 1, 3 * PG);
		CHECK_EQ(S(SYS_mprotect, m, PG, PROT_READ), 0);
		CHECK(!user_map_check(&p->map, m, 1, PROT_WRITE));
		CHECK_EQ(S(SYS_read, fds[0], m, 1), -EFAULT);
		CHECK_EQ(S(SYS_munmap, m + PG, PG), 0);
		CHECK(!user_map_check(&p->map, m + PG, 1, 0));
		CHECK(user_map_check(&p->map, m + 2 * PG, PG, PROT_WRITE));
		/* MAP_FIXED into the hole we own no longer, which is host-free: fine. */
		CHECK_EQ(S(SYS_mmap, m + PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			   (uint64_t)-1, 0), (long)(m + PG));
		CHECK_EQ(S(SYS_mmap, m, PG, PROT_READ,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, (uint64_t)-1, 0),
			 -EEXIST);
		/* MAP_FIXED over the emulator's own memory is refused. */
		CHECK_EQ(S(SYS_mmap, U(emulator_secret), PG, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, (uint64_t)-1, 0), -ENOMEM);
		CHECK(!memcmp(emulator_secret, "secret", 6));
		CHECK_EQ(S(SYS_munmap, U(emulator_secret), PG), 0); /* a no-op for non-guest memory */
		CHECK(!memcmp(emulator_secret, "secret", 6));
		CHECK_EQ(S(SYS_mprotect, U(emulator_secret), PG, PROT_NONE), -ENOMEM);
		emulator_secret[7] = 1; /* still writable */
		r = S(SYS_mremap, m + 2 * PG, PG, 4 * PG, MREMAP_MAYMOVE, 0);
		CHECK(r > 0);
		CHECK(user_map_check(&p->map, (uint64_t)r, 4 * PG, PROT_WRITE));
		CHECK_EQ(*(uint8_t *)(uintptr_t)r, 1);
		CHECK_EQ(S(SYS_mremap, U(emulator_secret), PG, 2 * PG, MREMAP_MAYMOVE, 0), -EFAULT);
		/* MAP_FIXED across guest pages and a host-free hole: allowed. */
		CHECK_EQ(S(SYS_munmap, m + PG, PG), 0);
		CHECK_EQ(S(SYS_mmap, m, 2 * PG, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, (uint64_t)-1, 0), (long)m);
		CHECK(user_map_check(&p->map, m, 2 * PG, PROT_WRITE));
		CHECK_EQ(*(uint8_t *)(uintptr_t)m, 0); /* fresh pages */
		/* ... but not across guest pages and emulator memory: nothing changes. */
		{
			void *emu = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
					 -1, 0);
			uint64_t e = U(emu);

			*(uint8_t *)emu = 9;
			S(SYS_munmap, m, 2 * PG);
			munmap(emu, 2 * PG);
			/* [e, e+PG) the emulator's, [e+PG, e+2PG) the guest's. */
			emu = mmap(emu, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				   -1, 0);
			*(uint8_t *)emu = 9;
			CHECK_EQ(S(SYS_mmap, e + PG, PG, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, (uint64_t)-1, 0), (long)(e + PG));
			CHECK_EQ(S(SYS_mmap, e, 2 * PG, PROT_READ,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, (uint64_t)-1, 0), -ENOMEM);
			CHECK_EQ(*(uint8_t *)emu, 9);
			CHECK(user_map_check(&p->map, e + PG, PG, PROT_WRITE));
			S(SYS_munmap, e + PG, PG);
			munmap(emu, PG);
		}
		S(SYS_munmap, (uint64_t)r, 4 * PG);
	}
	TEST_END();

	TEST_BEGIN("user_sys_brk");
	{
		void *res = mmap(NULL, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint64_t b = U(res);

		munmap(res, 1 << 20);
		p->brk_start = p->brk_cur = b;
		CHECK_EQ(S(SYS_brk, 0), (long)b);
		CHECK_EQ(S(SYS_brk, b + 10000), (long)(b + 10000));
		CHECK(user_map_check(&p->map, b, 10000, PROT_WRITE));
		memset(res, 7, 10000);
		CHECK_EQ(S(SYS_brk, b + 100), (long)(b + 100));
		CHECK(!user_map_check(&p->map, b + PG, 1, 0));
		CHECK_EQ(S(SYS_brk, b - 4096), (long)(b + 100));
		S(SYS_brk, b);
	}
	TEST_END();

	TEST_BEGIN("user_sys_proc_self_maps");
	{
		char buf[512];
		long fd;
		ssize_t n;

		strcpy((char *)g + 400, "/proc/self/maps");
		fd = S(SYS_openat, AT_FDCWD, gb + 400, O_RDONLY);
		CHECK(fd >= 0);
		n = read((int)fd, buf, sizeof(buf) - 1);
		CHECK(n > 0);
		buf[n > 0 ? n : 0] = 0;
		snprintf((char *)g + 8000, 64, "%08llx-%08llx rw-p", (unsigned long long)gb,
			 (unsigned long long)(gb + GSIZE));
		CHECK(strstr(buf, (char *)g + 8000) != NULL);
		CHECK(!strstr(buf, "test_user"));
		close((int)fd);
	}
	TEST_END();

	TEST_BEGIN("user_sys_misc");
	CHECK_EQ(S(SYS_arch_prctl, 0x1002 /* ARCH_SET_FS */, 0x12345000), 0);
	CHECK_EQ(st.fs_base, 0x12345000);
	CHECK_EQ(S(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, gb + 8), 0);
	CHECK_EQ(*(uint64_t *)(g + 8), 0x12345000);
	CHECK_EQ(S(SYS_uname, gb + 1024), 0);
	CHECK(!strcmp(((struct utsname *)(g + 1024))->machine, "x86_64"));
	CHECK_EQ(S(SYS_getpid, 0), getpid());
	CHECK_EQ(S(SYS_clock_gettime, CLOCK_MONOTONIC, gb + 64), 0);
	CHECK(*(uint64_t *)(g + 64) || *(uint64_t *)(g + 72));
	CHECK_EQ(S(SYS_acct, 0), -ENOSYS);
	CHECK_EQ(S(1000, 0), -ENOSYS);
	CHECK_EQ(S(SYS_ioctl, 0, 0x1234abcd, gb), -ENOTTY);
	CHECK_EQ(S(SYS_ioctl, 0, TIOCGWINSZ, U(emulator_secret)), -EFAULT);
	*(uint32_t *)(g + 8) = 5;
	CHECK_EQ(S(SYS_futex, gb + 8, 0 /* FUTEX_WAIT */, 4, 0), -EAGAIN);
	CHECK_EQ(S(SYS_futex, gb + 8, 1 /* FUTEX_WAKE */, 1), 0);
	CHECK_EQ(S(SYS_futex, U(emulator_secret), 1, 1), -EFAULT);
	CHECK_EQ(S(SYS_set_robust_list, gb, 24), 0);
	CHECK_EQ(S(SYS_clone, 0x10000 /* CLONE_THREAD */ | 0x100 | 0x800, gb), -EAGAIN);
	TEST_END();

	TEST_BEGIN("user_sys_fork_wait");
	r = S(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	if (r == 0)
		_exit(42); /* the child: the emulator process was forked */
	CHECK(r > 0);
	CHECK_EQ(S(SYS_wait4, (uint64_t)r, gb + 16, 0, 0), r);
	CHECK(WIFEXITED(*(int *)(g + 16)) && WEXITSTATUS(*(int *)(g + 16)) == 42);
	TEST_END();

	TEST_BEGIN("user_sys_signal_frame");
	{
		uint64_t act[4] = { U(on_handler), 0x04000000 /* SA_RESTORER */ | SA_SIGINFO,
				    0x401234, 1ULL << (SIGUSR1 - 1) };
		struct cpu_state before;
		struct cpu_exit ex = { .reason = CPU_EXIT_EXCEPTION, .vector = CPU_VEC_UD };
		uint64_t frame;

		memcpy(g + 3000, act, sizeof(act));
		CHECK_EQ(S(SYS_rt_sigaction, SIGILL, gb + 3000, 0, 8), 0);
		CHECK_EQ(S(SYS_rt_sigaction, SIGKILL, gb + 3000, 0, 8), -EINVAL);
		CHECK_EQ(S(SYS_rt_sigaction, SIGILL, 0, gb + 3100, 8), 0);
		CHECK(!memcmp(g + 3000, g + 3100, 32));
		for (int i = 0; i < 16; i++)
			st.gpr[i] = 0x1000 + (uint64_t)i;
		st.gpr[4] = gb + GSIZE - 1000; /* RSP */
		st.rip = 0x400100;
		st.rflags = 0x246;
		st.fxsave[24] = 0x80;
		before = st;
		user_signal_exception(p, &st, &ex);
		CHECK_EQ(st.rip, U(on_handler));
		CHECK_EQ(st.gpr[7], SIGILL);
		CHECK_EQ((st.gpr[4] + 8) & 15, 0); /* psABI: as after a call */
		frame = st.gpr[4];
		CHECK_EQ(*(uint64_t *)(uintptr_t)frame, 0x401234); /* pretcode = restorer */
		CHECK_EQ(st.gpr[6], frame + 8 + 304);                /* &info */
		CHECK_EQ(*(int32_t *)(uintptr_t)st.gpr[6], SIGILL);
		CHECK_EQ(*(uint64_t *)(uintptr_t)(st.gpr[2] + 40 + 16 * 8), 0x400100); /* uc rip */
		CHECK(p->sigmask & (1ULL << (SIGILL - 1)));
		CHECK(p->sigmask & (1ULL << (SIGUSR1 - 1)));
		/* The handler returns into the restorer, which calls rt_sigreturn. */
		st.gpr[4] += 8;
		st.gpr[3] = 0xdead;
		st.fxsave[24] = 0;
		S(SYS_rt_sigreturn, 0);
		CHECK_EQ(st.rip, before.rip);
		CHECK_EQ(st.gpr[4], before.gpr[4]);
		CHECK_EQ(st.gpr[3], before.gpr[3]);
		CHECK_EQ(st.gpr[0], before.gpr[0]); /* RAX restored, not a syscall result */
		CHECK_EQ(st.rflags, before.rflags);
		CHECK_EQ(st.fxsave[24], 0x80);
		CHECK(!(p->sigmask & (1ULL << (SIGILL - 1))));
	}
	TEST_END();

	TEST_BEGIN("user_sys_signal_host_delivery");
	{
		uint64_t act[4] = { U(on_handler), 0x04000000 | SA_RESTART, 0x401234, 0 };

		memcpy(g + 3000, act, sizeof(act));
		CHECK_EQ(S(SYS_rt_sigaction, SIGUSR2, gb + 3000, 0, 8), 0);
		st.gpr[4] = gb + GSIZE - 1000;
		st.rip = 0x400200;
		CHECK_EQ(S(SYS_kill, (uint64_t)getpid(), SIGUSR2), 0);
		CHECK(user_signal_pending());
		CHECK(user_signal_deliver(p, &st));
		CHECK_EQ(st.rip, U(on_handler));
		CHECK_EQ(st.gpr[7], SIGUSR2);
		st.gpr[4] += 8;
		S(SYS_rt_sigreturn, 0);
		CHECK_EQ(st.rip, 0x400200);
		/* Restore default and check a blocked signal waits for its unblock. */
		act[0] = 0;
		memcpy(g + 3000, act, sizeof(act));
		CHECK_EQ(S(SYS_rt_sigaction, SIGUSR2, gb + 3000, 0, 8), 0);
	}
	TEST_END();

	TEST_BEGIN("user_sys_restart_after_handler");
	{
		uint64_t act[4] = { U(on_handler), 0x04000000 | SA_RESTART, 0x401234, 0 };
		struct itimerval it = { { 0, 0 }, { 0, 20000 } };

		memcpy(g + 3000, act, sizeof(act));
		CHECK_EQ(S(SYS_rt_sigaction, SIGALRM, gb + 3000, 0, 8), 0);
		st.rip = 0x400302;
		setitimer(ITIMER_REAL, &it, NULL);
		/* A blocking read interrupted by a SA_RESTART handler is rewound
		 * onto its SYSCALL with RAX = the number again. */
		CHECK_EQ(S(SYS_read, fds[0], gb + 500, 10), SYS_read);
		CHECK_EQ(st.rip, 0x400300);
		CHECK(user_signal_deliver(p, &st));
		st.gpr[4] += 8;
		S(SYS_rt_sigreturn, 0);
		CHECK_EQ(st.rip, 0x400300);
		act[1] = 0x04000000;
		memcpy(g + 3000, act, sizeof(act));
		CHECK_EQ(S(SYS_rt_sigaction, SIGALRM, gb + 3000, 0, 8), 0);
		setitimer(ITIMER_REAL, &it, NULL);
		CHECK_EQ(S(SYS_read, fds[0], gb + 500, 10), -EINTR);
		CHECK(user_signal_deliver(p, &st));
		st.gpr[4] += 8;
		S(SYS_rt_sigreturn, 0);
		act[0] = 1; /* SIG_IGN */
		memcpy(g + 3000, act, sizeof(act));
		CHECK_EQ(S(SYS_rt_sigaction, SIGALRM, gb + 3000, 0, 8), 0);
	}
	TEST_END();

	TEST_BEGIN("user_sys_sockets");
	{
		int32_t sv[2];
		uint64_t iov[2] = { gb + 5000, 4 };
		uint64_t msg[7] = { 0, 0, gb + 5100, 1, 0, 0, 0 };

		CHECK_EQ(S(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, gb + 4096), 0);
		memcpy(sv, g + 4096, 8);
		memcpy(g + 5000, "ping", 4);
		memcpy(g + 5100, iov, sizeof(iov));
		memcpy(g + 5200, msg, sizeof(msg));
		CHECK_EQ(S(SYS_sendmsg, sv[0], gb + 5200, 0), 4);
		iov[0] = gb + 6000;
		memcpy(g + 5100, iov, sizeof(iov));
		CHECK_EQ(S(SYS_recvmsg, sv[1], gb + 5200, 0), 4);
		CHECK(!memcmp(g + 6000, "ping", 4));
		iov[0] = U(emulator_secret);
		memcpy(g + 5100, iov, sizeof(iov));
		CHECK_EQ(S(SYS_sendmsg, sv[0], gb + 5200, 0), -EFAULT);
		CHECK_EQ(S(SYS_recvmsg, sv[1], gb + 5200, 0), -EFAULT);
		CHECK_EQ(S(SYS_sendto, sv[0], U(emulator_secret), 6, 0, 0, 0), -EFAULT);
		*(int32_t *)(g + 4200) = 64;
		CHECK_EQ(S(SYS_getsockname, sv[0], U(emulator_secret), gb + 4200), -EFAULT);
		CHECK_EQ(S(SYS_getsockname, sv[0], gb + 4300, gb + 4200), 0);
		S(SYS_close, sv[0]);
		S(SYS_close, sv[1]);
	}
	TEST_END();

	TEST_BEGIN("user_sys_execve_errors");
	{
		uint64_t argv[2] = { gb + 7000, 0 };

		strcpy((char *)g + 7000, "prog");
		memcpy(g + 7100, argv, sizeof(argv));
		strcpy((char *)g + 7200, "/nonexistent/prog");
		CHECK_EQ(S(SYS_execve, gb + 7200, gb + 7100, 0), -ENOENT);
		strcpy((char *)g + 7200, "/etc/passwd");     /* not executable */
		CHECK_EQ(S(SYS_execve, gb + 7200, gb + 7100, 0), -EACCES);
		strcpy((char *)g + 7200, "/tmp");            /* a directory */
		CHECK_EQ(S(SYS_execve, gb + 7200, gb + 7100, 0), -EACCES);
		{
			/* An executable file of unknown format: ENOEXEC, so shells run it as a script. */
			char path[] = "/tmp/vireo-user-noexec.XXXXXX";
			int fd = mkstemp(path);

			if (write(fd, "echo hi\n", 8) != 8)
				CHECK(0);
			close(fd);
			chmod(path, 0755);
			strcpy((char *)g + 7200, path);
			CHECK_EQ(S(SYS_execve, gb + 7200, gb + 7100, 0), -ENOEXEC);
			unlink(path);
		}
		argv[0] = U(emulator_secret);
		memcpy(g + 7100, argv, sizeof(argv));
		strcpy((char *)g + 7200, "/bin/busybox");
		CHECK_EQ(S(SYS_execve, gb + 7200, gb + 7100, 0), -EFAULT);
		CHECK_EQ(S(SYS_execve, gb + 7200, U(emulator_secret), 0), -EFAULT);
		CHECK_EQ(S(SYS_execve, U(emulator_secret), gb + 7100, 0), -EFAULT);
	}
	TEST_END();

	TEST_BEGIN("user_sys_exit");
	S(SYS_exit_group, 3);
	CHECK(p->exited);
	CHECK_EQ(p->exit_status, 3);
	TEST_END();

	user_proc_fini(p);
	cpu_destroy(cpu);
	munmap(g, GSIZE);
	return 0;
}
