/* Native side of the differential tests: runs vectors on the host CPU.
 *
 * A forked child maps the code page (a memfd mapped read+execute at
 * DT_CODE_BASE, written through a second read-write alias) and the data
 * region at DT_DATA_BASE. For each vector it raises SIGUSR1; the handler
 * rewrites the interrupted context (general registers, RIP, RFLAGS and the
 * FXSAVE image the kernel restores with XRSTOR) so that sigreturn enters the
 * test code with exactly the vector's state. The test code ends in INT3 or
 * faults; the SIGTRAP/SIGSEGV/SIGBUS/SIGILL/SIGFPE handler copies the
 * interrupted context and the data region into shared memory and
 * siglongjmp()s back to the loop. All handlers run on an alternate stack, so
 * the test may point RSP anywhere. The kernel reports the exception vector
 * and error code in REG_TRAPNO/REG_ERR and CR2 in REG_CR2, so no mapping from
 * signals back to vectors is needed. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <asm/prctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "dt.h"

struct dt_shared {
	volatile uint32_t started; /* index of the case the child is running */
	volatile uint32_t done;    /* cases finished */
	struct dt_result res[];
};

static const struct dt_vector *dt_cur_vec;
static struct dt_result *dt_cur_res;
static volatile sig_atomic_t dt_in_test;
static sigjmp_buf dt_jmp;

/* ucontext register slots in encoding order. */
static const int dt_greg[16] = {
	REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP, REG_RSI, REG_RDI,
	REG_R8,  REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15,
};

/* The XSAVE header follows the 512-byte legacy area in the signal frame when
 * the kernel uses XSAVE (fpx_sw_bytes.magic1 at offset 464). */
#define DT_FP_XSTATE_MAGIC1 0x46505853U

static void dt_enter(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	const struct dt_state *st = &dt_cur_vec->init;
	uint8_t *fp = (uint8_t *)uc->uc_mcontext.fpregs;

	(void)sig;
	(void)si;
	if (!dt_in_test || !fp)
		return;
	for (int i = 0; i < 16; i++)
		uc->uc_mcontext.gregs[dt_greg[i]] = (greg_t)st->gpr[i];
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)st->rip;
	/* sigreturn only takes the bits Linux's FIX_EFLAGS allows; we set the
	 * arithmetic flags and DF. */
	uc->uc_mcontext.gregs[REG_EFL] =
		(greg_t)(((uint64_t)uc->uc_mcontext.gregs[REG_EFL] & ~F_SETTABLE) |
			 (st->rflags & F_SETTABLE));
	memcpy(fp, st->fxsave, 24);              /* x87 control/status/tags/pointers */
	memcpy(fp + FX_MXCSR, st->fxsave + FX_MXCSR, 4);
	memcpy(fp + FX_ST(0), st->fxsave + FX_ST(0), FX_USED - FX_ST(0));
	uint32_t magic;
	memcpy(&magic, fp + 464, 4);
	if (magic == DT_FP_XSTATE_MAGIC1) {
		/* XSTATE_BV: x87 and SSE come from the legacy area we wrote. */
		uint64_t bv;
		memcpy(&bv, fp + 512, 8);
		bv |= 3;
		memcpy(fp + 512, &bv, 8);
	}
}

static void dt_capture(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	struct dt_result *res = dt_cur_res;

	(void)si;
	if (!dt_in_test) {
		/* A fault in the harness itself: die of it so the parent sees it. */
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	dt_in_test = 0;
	for (int i = 0; i < 16; i++)
		res->st.gpr[i] = (uint64_t)uc->uc_mcontext.gregs[dt_greg[i]];
	res->st.rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	res->st.rflags = (uint64_t)uc->uc_mcontext.gregs[REG_EFL];
	if (uc->uc_mcontext.fpregs)
		memcpy(res->st.fxsave, uc->uc_mcontext.fpregs, 512);
	int trapno = (int)uc->uc_mcontext.gregs[REG_TRAPNO];
	uint64_t end = DT_CODE_BASE + dt_cur_vec->code_off + dt_cur_vec->code_len - 1;
	if (sig == SIGTRAP && trapno == 3) {
		res->st.rip--; /* INT3 is a trap: report the instruction's address */
		res->status = res->st.rip == end ? DT_END : DT_EXC;
		res->vector = 3;
	} else {
		res->status = DT_EXC;
		res->vector = trapno;
		res->error_code = (uint64_t)uc->uc_mcontext.gregs[REG_ERR];
		if (trapno == 14)
			res->fault_addr = (uint64_t)uc->uc_mcontext.gregs[REG_CR2];
	}
	memcpy(res->data, (void *)DT_DATA_BASE, DT_DATA_SIZE);
	siglongjmp(dt_jmp, 1);
}

static int dt_child_setup(uint8_t **code_rw)
{
	static uint8_t altstack[256 * 1024] __attribute__((aligned(64)));
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	if (sigaltstack(&ss, NULL))
		return -errno;

	int fd = memfd_create("difftest-code", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, DT_CODE_SIZE))
		return -errno;
	void *x = mmap((void *)DT_CODE_BASE, DT_CODE_SIZE, PROT_READ | PROT_EXEC,
		       MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	if (x != (void *)DT_CODE_BASE)
		return x == MAP_FAILED ? -errno : -EEXIST;
	*code_rw = mmap(NULL, DT_CODE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (*code_rw == MAP_FAILED)
		return -errno;
	close(fd);
	void *d = mmap((void *)DT_DATA_BASE, DT_DATA_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (d != (void *)DT_DATA_BASE)
		return d == MAP_FAILED ? -errno : -EEXIST;

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = dt_enter;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL))
		return -errno;
	sa.sa_sigaction = dt_capture;
	static const int sigs[] = { SIGTRAP, SIGSEGV, SIGBUS, SIGILL, SIGFPE };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL))
			return -errno;
	return 0;
}

/* A test may leave NT, AC or ID set (POPF); they survive siglongjmp. Clear
 * them so every case starts from the same RFLAGS as the emulated CPU. */
static void dt_clean_rflags(void)
{
	__asm__ volatile("pushfq\n\t"
			 "andq %0, (%%rsp)\n\t"
			 "popfq"
			 :
			 : "i"(~(0x4000 | 0x40000 | 0x200000))
			 : "memory", "cc");
}

static __attribute__((noinline)) void dt_child_one(const struct dt_vector *v,
						   struct dt_result *res)
{
	dt_cur_vec = v;
	dt_cur_res = res;
	dt_clean_rflags();
	if (sigsetjmp(dt_jmp, 1) == 0) {
		dt_in_test = 1;
		raise(SIGUSR1);
		/* Only reached if the handler refused to enter. */
		dt_in_test = 0;
		dt_cur_res->status = DT_HARNESS;
		snprintf(dt_cur_res->msg, sizeof(dt_cur_res->msg),
			 "native: could not enter the test code");
	}
}

static void dt_child(const struct dt_vector *vec, struct dt_shared *sh, size_t start, size_t n)
{
	uint8_t *code_rw = NULL;
	int r = dt_child_setup(&code_rw);
	if (r) {
		snprintf(sh->res[start].msg, sizeof(sh->res[start].msg),
			 "native setup failed: %s", strerror(-r));
		_exit(2);
	}
	uint64_t gs_base = 0;
	syscall(SYS_arch_prctl, ARCH_SET_GS, 0UL);
	for (size_t i = start; i < n; i++) {
		/* glibc does not use GS on x86-64: tests may set its base. */
		if (vec[i].gs_base != gs_base) {
			gs_base = vec[i].gs_base;
			if (syscall(SYS_arch_prctl, ARCH_SET_GS, gs_base)) {
				/* e.g. a non-canonical base: cannot run this case */
				snprintf(sh->res[i].msg, sizeof(sh->res[i].msg),
					 "arch_prctl(ARCH_SET_GS, 0x%llx) failed",
					 (unsigned long long)gs_base);
				sh->res[i].status = DT_HARNESS;
				gs_base = ~0ULL;
				sh->done = (uint32_t)(i + 1);
				continue;
			}
		}
		/* A runaway case kills the child; the parent reports it and
		 * resumes after it. */
		alarm(60);
		const struct dt_vector *v = &vec[i];
		struct dt_result *res = &sh->res[i];
		sh->started = (uint32_t)i;
		memset(res, 0, offsetof(struct dt_result, data));
		/* Unused code bytes are INT3, so a stray jump stops at once. */
		memset(code_rw, 0xcc, DT_CODE_SIZE);
		size_t len = v->code_len;
		if (v->code_off + len > DT_CODE_SIZE)
			len = DT_CODE_SIZE - v->code_off; /* fetch-crossing cases */
		memcpy(code_rw + v->code_off, v->code, len);
		memcpy((void *)DT_DATA_BASE, v->data, DT_DATA_SIZE);
		bool smc = v->cmp & DT_CODE_WRITABLE;
		if (smc && mprotect((void *)DT_CODE_BASE, DT_CODE_SIZE,
				    PROT_READ | PROT_WRITE | PROT_EXEC)) {
			res->status = DT_HARNESS;
			snprintf(res->msg, sizeof(res->msg), "mprotect: %s", strerror(errno));
			sh->done = (uint32_t)(i + 1);
			continue;
		}
		dt_child_one(v, res);
		if (smc)
			mprotect((void *)DT_CODE_BASE, DT_CODE_SIZE, PROT_READ | PROT_EXEC);
		sh->done = (uint32_t)(i + 1);
	}
	_exit(0);
}

int dt_native_run(const struct dt_vector *vec, struct dt_result *res, size_t n)
{
	size_t len = sizeof(struct dt_shared) + n * sizeof(struct dt_result);
	struct dt_shared *sh = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
				    -1, 0);
	if (sh == MAP_FAILED)
		return -errno;
	int ret = 0;
	size_t start = 0;
	fflush(NULL);
	while (start < n) {
		sh->done = (uint32_t)start;
		sh->started = (uint32_t)start;
		pid_t pid = fork();
		if (pid < 0) {
			ret = -errno;
			break;
		}
		if (pid == 0)
			dt_child(vec, sh, start, n);
		int status;
		while (waitpid(pid, &status, 0) < 0) {
			if (errno != EINTR) {
				ret = -errno;
				goto out;
			}
		}
		size_t done = sh->done;
		if (done >= n)
			break;
		/* The child died on case `done`: record it and carry on after it. */
		struct dt_result *r = &sh->res[done];
		r->status = DT_HARNESS;
		if (!r->msg[0]) {
			if (WIFSIGNALED(status))
				snprintf(r->msg, sizeof(r->msg), "native child killed by signal %d",
					 WTERMSIG(status));
			else
				snprintf(r->msg, sizeof(r->msg), "native child exited %d",
					 WEXITSTATUS(status));
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
			/* Setup failed: nothing will run. */
			for (size_t i = done + 1; i < n; i++) {
				sh->res[i].status = DT_HARNESS;
				memcpy(sh->res[i].msg, r->msg, sizeof(r->msg));
			}
			ret = -EIO;
			break;
		}
		start = done + 1;
	}
out:
	memcpy(res, sh->res, n * sizeof(struct dt_result));
	munmap(sh, len);
	return ret;
}
