/* Guest signals; see user_signal.h. Frame layout: Linux
 * arch/x86/include/uapi/asm/sigcontext.h and arch/x86/kernel/signal.c
 * (rt_sigframe: pretcode, ucontext, siginfo, then the FXSAVE area). */
#include "user/user_signal.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "user/user_sys.h"

#define USER_SA_RESTORER 0x04000000ULL
#define USER_SS_ONSTACK 1
#define USER_SS_DISABLE 2
#define USER_SS_AUTODISARM (1U << 31)
#define USER_MINSIGSTKSZ 2048
/* RFLAGS bits a signal handler may change (FIX_EFLAGS in the kernel). */
#define USER_FIX_EFLAGS 0x50dd5ULL

struct user_sigcontext {
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
	uint16_t cs, gs, fs, ss;
	uint64_t err, trapno, oldmask, cr2, fpstate, reserved[8];
};

struct user_ucontext {
	uint64_t uc_flags, uc_link;
	uint64_t ss_sp;
	int32_t ss_flags, pad;
	uint64_t ss_size;
	struct user_sigcontext mc;
	uint64_t sigmask;
};

struct user_rt_sigframe {
	uint64_t pretcode;
	struct user_ucontext uc;
	uint8_t info[128];
};

_Static_assert(sizeof(struct user_ucontext) == 304, "x86-64 struct ucontext");
_Static_assert(sizeof(struct user_rt_sigframe) == 440, "x86-64 struct rt_sigframe");

/* Written by the host handler, read by the run loop. */
static volatile sig_atomic_t user_sig_any;
static volatile sig_atomic_t user_sig_pending[USER_NSIG + 1];
static siginfo_t user_sig_info[USER_NSIG + 1];

static uint64_t user_sigbit(int sig)
{
	return 1ULL << (sig - 1);
}

/* Signals that vireo-user's own faults would raise: never caught on the
 * host, so an emulator bug still kills the process instead of looping. */
static bool user_sig_synchronous(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
	       sig == SIGTRAP;
}

static void user_sig_host_handler(int sig, siginfo_t *info, void *uc)
{
	(void)uc;
	if (sig <= 0 || sig > USER_NSIG)
		return;
	user_sig_info[sig] = *info;
	user_sig_pending[sig] = 1;
	user_sig_any = 1;
}

/* Host sigaction through the raw system call: glibc's wrapper refuses its
 * internal signals 32 and 33, and sanitizer runtimes intercept the wrapper. */
struct user_ksigaction {
	uint64_t handler, flags, restorer, mask;
};

static int user_host_sigaction(int sig, uint64_t handler, uint64_t flags)
{
	struct sigaction sa;

	if (sig == 32 || sig == 33)
		return 0; /* glibc-internal on the host; the guest's record is enough */
	if (handler > 1) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = user_sig_host_handler;
		/* Never SA_RESTART on the host: an interrupted host call comes back
		 * as EINTR, and user_syscall() restarts it in the guest after the
		 * handler ran when the guest asked for SA_RESTART, as Linux does. */
		sa.sa_flags = (int)(SA_SIGINFO | (flags & (SA_NOCLDSTOP | SA_NOCLDWAIT)));
		sigemptyset(&sa.sa_mask);
		return sigaction(sig, &sa, NULL) ? -errno : 0;
	}
	/* SIG_DFL / SIG_IGN need no restorer: the raw call is safe. */
	struct user_ksigaction k = { handler, flags & (SA_NOCLDSTOP | SA_NOCLDWAIT), 0, 0 };

	return syscall(SYS_rt_sigaction, sig, &k, NULL, 8) ? -errno : 0;
}

static void user_host_sigmask(uint64_t mask)
{
	mask &= ~(user_sigbit(SIGKILL) | user_sigbit(SIGSTOP));
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, 8);
}

void user_signal_init(struct user_proc *p)
{
	struct user_ksigaction k;
	int sig;

	for (sig = 1; sig <= USER_NSIG; sig++) {
		memset(&p->sigact[sig], 0, sizeof(p->sigact[sig]));
		if (!syscall(SYS_rt_sigaction, sig, NULL, &k, 8) && k.handler == 1 /* SIG_IGN */)
			p->sigact[sig].handler = 1;
	}
	syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &p->sigmask, 8);
	p->altstack_flags = USER_SS_DISABLE;
}

bool user_signal_pending(void)
{
	return user_sig_any;
}

void user_signal_die(int sig)
{
	uint64_t mask = user_sigbit(sig);
	struct user_ksigaction k = { 0, 0, 0, 0 };

	fflush(NULL);
	syscall(SYS_rt_sigaction, sig, &k, NULL, 8);
	syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &mask, NULL, 8);
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
	/* Signals whose default is to continue or stop end up here. */
	if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
		syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGKILL);
	_exit(128 + sig);
}

static bool user_on_altstack(const struct user_proc *p, uint64_t sp)
{
	return p->altstack_flags != USER_SS_DISABLE && sp > p->altstack_sp &&
	       sp <= p->altstack_sp + p->altstack_size;
}

/* Build the frame and point ST at the handler. INFO is 128 bytes. Returns
 * false if the frame does not fit in writable guest memory. */
static bool user_signal_frame(struct user_proc *p, struct cpu_state *st, int sig,
			      const void *info, const struct cpu_exit *ex, uint64_t saved_mask)
{
	const struct user_sigaction *act = &p->sigact[sig];
	struct user_rt_sigframe f;
	uint64_t sp = st->gpr[USER_RSP], fp, frame;

	if (!(act->flags & USER_SA_RESTORER))
		return false; /* x86-64 has no default trampoline */
	if (act->flags & SA_ONSTACK && p->altstack_flags != USER_SS_DISABLE &&
	    !user_on_altstack(p, sp))
		sp = p->altstack_sp + p->altstack_size;
	else
		sp -= 128; /* the psABI red zone */
	fp = (sp - 512) & ~63ULL;
	frame = ((fp - sizeof(f)) & ~15ULL) - 8;
	if (!user_writable(p, frame, sp - frame))
		return false;
	memset(&f, 0, sizeof(f));
	f.pretcode = act->restorer;
	f.uc.uc_flags = 2; /* UC_SIGCONTEXT_SS */
	f.uc.ss_sp = p->altstack_sp;
	f.uc.ss_size = p->altstack_size;
	f.uc.ss_flags = user_on_altstack(p, st->gpr[USER_RSP]) ? USER_SS_ONSTACK :
							       p->altstack_flags;
	f.uc.mc = (struct user_sigcontext){
		.r8 = st->gpr[USER_R8], .r9 = st->gpr[USER_R9], .r10 = st->gpr[USER_R10],
		.r11 = st->gpr[USER_R11], .r12 = st->gpr[USER_R12], .r13 = st->gpr[USER_R13],
		.r14 = st->gpr[USER_R14], .r15 = st->gpr[USER_R15], .rdi = st->gpr[USER_RDI],
		.rsi = st->gpr[USER_RSI], .rbp = st->gpr[USER_RBP], .rbx = st->gpr[USER_RBX],
		.rdx = st->gpr[USER_RDX], .rax = st->gpr[USER_RAX], .rcx = st->gpr[USER_RCX],
		.rsp = st->gpr[USER_RSP], .rip = st->rip, .eflags = st->rflags,
		.cs = 0x33, .ss = 0x2b, /* __USER_CS, __USER_DS */
		.fpstate = fp,
	};
	if (ex) {
		f.uc.mc.trapno = ex->vector;
		f.uc.mc.err = ex->error_code;
		f.uc.mc.cr2 = ex->fault_addr;
	}
	f.uc.mc.oldmask = saved_mask;
	f.uc.sigmask = saved_mask;
	memcpy(f.info, info, sizeof(f.info));
	memcpy(USER_PTR(fp), st->fxsave, 512);
	memcpy(USER_PTR(frame), &f, sizeof(f));
	user_mem_written(p, frame, sp - frame);

	st->gpr[USER_RSP] = frame;
	st->gpr[USER_RDI] = (uint64_t)sig;
	st->gpr[USER_RSI] = frame + offsetof(struct user_rt_sigframe, info);
	st->gpr[USER_RDX] = frame + offsetof(struct user_rt_sigframe, uc);
	st->gpr[USER_RAX] = 0;
	st->rip = act->handler;
	/* The kernel clears DF and TF for the handler (psABI: DF clear on entry). */
	st->rflags &= ~(0x400ULL | 0x100ULL);

	p->sigmask = saved_mask | act->mask;
	if (!(act->flags & SA_NODEFER))
		p->sigmask |= user_sigbit(sig);
	p->sigmask &= ~(user_sigbit(SIGKILL) | user_sigbit(SIGSTOP));
	user_host_sigmask(p->sigmask);
	if (act->flags & SA_RESETHAND) {
		p->sigact[sig].handler = 0;
		user_host_sigaction(sig, 0, 0);
	}
	return true;
}

bool user_signal_deliver(struct user_proc *p, struct cpu_state *st)
{
	uint64_t saved = p->suspended ? p->suspend_saved : p->sigmask;
	int sig;

	user_sig_any = 0;
	p->suspended = false;
	for (sig = 1; sig <= USER_NSIG; sig++) {
		uint8_t info[128];
		uint64_t handler;

		if (!user_sig_pending[sig])
			continue;
		if (p->sigmask & user_sigbit(sig)) {
			user_sig_any = 1; /* still pending, for after the unblock */
			continue;
		}
		user_sig_pending[sig] = 0;
		handler = p->sigact[sig].handler;
		if (handler == 1)
			continue;
		if (handler == 0) {
			/* Disposition changed to SIG_DFL after arrival. */
			if (sig != SIGCHLD && sig != SIGURG && sig != SIGWINCH && sig != SIGCONT)
				user_signal_die(sig);
			continue;
		}
		memcpy(info, &user_sig_info[sig], sizeof(info));
		if (!user_signal_frame(p, st, sig, info, NULL, saved)) {
			user_msg("cannot build a signal frame for signal %d", sig);
			user_signal_die(SIGSEGV);
		}
		/* More may be pending: deliver them on the next pass. */
		for (sig++; sig <= USER_NSIG; sig++)
			if (user_sig_pending[sig])
				user_sig_any = 1;
		return true;
	}
	if (p->sigmask != saved) {
		p->sigmask = saved;
		user_host_sigmask(saved);
	}
	return false;
}

bool user_signal_restart(const struct user_proc *p)
{
	int sig;

	for (sig = 1; sig <= USER_NSIG; sig++)
		if (user_sig_pending[sig] && !(p->sigmask & user_sigbit(sig)))
			return p->sigact[sig].handler > 1 && p->sigact[sig].flags & SA_RESTART;
	return false;
}

static const char *user_vector_name(unsigned v)
{
	switch (v) {
	case CPU_VEC_DE: return "divide error (#DE)";
	case CPU_VEC_DB: return "debug trap (#DB)";
	case CPU_VEC_BP: return "breakpoint (#BP)";
	case CPU_VEC_OF: return "overflow (#OF)";
	case CPU_VEC_BR: return "bound range (#BR)";
	case CPU_VEC_UD: return "invalid opcode (#UD)";
	case CPU_VEC_NM: return "device not available (#NM)";
	case CPU_VEC_SS: return "stack fault (#SS)";
	case CPU_VEC_GP: return "general protection (#GP)";
	case CPU_VEC_PF: return "page fault (#PF)";
	case CPU_VEC_MF: return "x87 error (#MF)";
	case CPU_VEC_AC: return "alignment check (#AC)";
	case CPU_VEC_XM: return "SIMD exception (#XM)";
	}
	return "exception";
}

void user_signal_exception(struct user_proc *p, struct cpu_state *st, const struct cpu_exit *ex)
{
	/* arch/x86/kernel/traps.c: which signal and si_code each vector gives. */
	int sig = SIGSEGV, code = 0x80; /* SI_KERNEL */
	uint64_t addr = 0;
	uint8_t info[128];
	int32_t w[3];

	switch (ex->vector) {
	case CPU_VEC_DE: sig = SIGFPE, code = 1 /* FPE_INTDIV */, addr = st->rip; break;
	case CPU_VEC_DB: case CPU_VEC_BP: sig = SIGTRAP; break; /* the CPU reports RIP past INT3 */
	case CPU_VEC_UD: sig = SIGILL, code = 2 /* ILL_ILLOPN */, addr = st->rip; break;
	case CPU_VEC_NM: case CPU_VEC_MF: case CPU_VEC_XM: sig = SIGFPE, addr = st->rip; break;
	case CPU_VEC_SS: case CPU_VEC_AC: sig = SIGBUS; break;
	case CPU_VEC_PF:
		code = ex->error_code & 1 ? 2 /* SEGV_ACCERR */ : 1 /* SEGV_MAPERR */;
		addr = ex->fault_addr;
		break;
	default: break;
	}
	memset(info, 0, sizeof(info));
	w[0] = sig, w[1] = 0, w[2] = code;
	memcpy(info, w, sizeof(w));
	memcpy(info + 16, &addr, 8);
	/* A blocked or ignored synchronous signal kills (force_sig_fault). */
	if (p->sigact[sig].handler > 1 && !(p->sigmask & user_sigbit(sig)) &&
	    user_signal_frame(p, st, sig, info, ex, p->sigmask))
		return;
	if (ex->vector == CPU_VEC_PF)
		user_msg("%s: %s: %s at 0x%llx, rip 0x%llx", p->exe_path, strsignal(sig),
			 user_vector_name(ex->vector), (unsigned long long)ex->fault_addr,
			 (unsigned long long)st->rip);
	else
		user_msg("%s: %s: %s at rip 0x%llx", p->exe_path, strsignal(sig),
			 user_vector_name(ex->vector), (unsigned long long)st->rip);
	user_signal_die(sig);
}

static long user_sys_sigaction(struct user_proc *p, int sig, uint64_t act, uint64_t oact,
			       uint64_t size)
{
	struct user_sigaction n;
	long rc;

	if (size != 8 || sig < 1 || sig > USER_NSIG)
		return -EINVAL;
	if (act && !user_readable(p, act, sizeof(n)))
		return -EFAULT;
	if (oact && !user_writable(p, oact, sizeof(n)))
		return -EFAULT;
	if (act && (sig == SIGKILL || sig == SIGSTOP))
		return -EINVAL;
	if (oact)
		memcpy(USER_PTR(oact), &p->sigact[sig], sizeof(n));
	if (!act)
		return 0;
	memcpy(&n, USER_PTR(act), sizeof(n));
	n.mask &= ~(user_sigbit(SIGKILL) | user_sigbit(SIGSTOP));
	if (!user_sig_synchronous(sig)) {
		rc = user_host_sigaction(sig, n.handler, n.flags);
		if (rc)
			return rc;
	}
	p->sigact[sig] = n;
	if (n.handler <= 1)
		user_sig_pending[sig] = 0;
	return 0;
}

static long user_sys_sigprocmask(struct user_proc *p, int how, uint64_t set, uint64_t oset,
				 uint64_t size)
{
	uint64_t m;

	if (size != 8)
		return -EINVAL;
	if (set && !user_readable(p, set, 8))
		return -EFAULT;
	if (oset && !user_writable(p, oset, 8))
		return -EFAULT;
	if (oset)
		memcpy(USER_PTR(oset), &p->sigmask, 8);
	if (!set)
		return 0;
	memcpy(&m, USER_PTR(set), 8);
	switch (how) {
	case SIG_BLOCK: p->sigmask |= m; break;
	case SIG_UNBLOCK: p->sigmask &= ~m; break;
	case SIG_SETMASK: p->sigmask = m; break;
	default: return -EINVAL;
	}
	p->sigmask &= ~(user_sigbit(SIGKILL) | user_sigbit(SIGSTOP));
	user_host_sigmask(p->sigmask);
	user_sig_any = 1; /* something may have become deliverable */
	return 0;
}

static long user_sys_sigreturn(struct user_proc *p, struct cpu_state *st)
{
	uint64_t frame = st->gpr[USER_RSP] - 8;
	struct user_rt_sigframe f;
	const struct user_sigcontext *mc = &f.uc.mc;

	if (!user_readable(p, frame, sizeof(f))) {
		user_msg("rt_sigreturn with a bad frame at 0x%llx", (unsigned long long)frame);
		user_signal_die(SIGSEGV);
	}
	memcpy(&f, USER_PTR(frame), sizeof(f));
	st->gpr[USER_R8] = mc->r8, st->gpr[USER_R9] = mc->r9, st->gpr[USER_R10] = mc->r10;
	st->gpr[USER_R11] = mc->r11, st->gpr[USER_R12] = mc->r12, st->gpr[USER_R13] = mc->r13;
	st->gpr[USER_R14] = mc->r14, st->gpr[USER_R15] = mc->r15, st->gpr[USER_RDI] = mc->rdi;
	st->gpr[USER_RSI] = mc->rsi, st->gpr[USER_RBP] = mc->rbp, st->gpr[USER_RBX] = mc->rbx;
	st->gpr[USER_RDX] = mc->rdx, st->gpr[USER_RAX] = mc->rax, st->gpr[USER_RCX] = mc->rcx;
	st->gpr[USER_RSP] = mc->rsp;
	st->rip = mc->rip;
	st->rflags = (st->rflags & ~USER_FIX_EFLAGS) | (mc->eflags & USER_FIX_EFLAGS);
	if (mc->fpstate && user_readable(p, mc->fpstate, 512))
		memcpy(st->fxsave, USER_PTR(mc->fpstate), 512);
	p->sigmask = f.uc.sigmask & ~(user_sigbit(SIGKILL) | user_sigbit(SIGSTOP));
	user_host_sigmask(p->sigmask);
	user_sig_any = 1;
	return USER_SYS_NORET;
}

static long user_sys_sigaltstack(struct user_proc *p, struct cpu_state *st, uint64_t ss,
				 uint64_t oss)
{
	struct { uint64_t sp; int32_t flags, pad; uint64_t size; } s;

	if (ss && !user_readable(p, ss, sizeof(s)))
		return -EFAULT;
	if (oss && !user_writable(p, oss, sizeof(s)))
		return -EFAULT;
	if (oss) {
		memset(&s, 0, sizeof(s));
		s.sp = p->altstack_sp;
		s.size = p->altstack_size;
		s.flags = user_on_altstack(p, st->gpr[USER_RSP]) ? USER_SS_ONSTACK :
								  p->altstack_flags;
		memcpy(USER_PTR(oss), &s, sizeof(s));
	}
	if (!ss)
		return 0;
	memcpy(&s, USER_PTR(ss), sizeof(s));
	if (user_on_altstack(p, st->gpr[USER_RSP]))
		return -EPERM;
	if ((uint32_t)s.flags & ~(USER_SS_DISABLE | USER_SS_AUTODISARM))
		return -EINVAL;
	if (s.flags & USER_SS_DISABLE) {
		p->altstack_sp = p->altstack_size = 0;
		p->altstack_flags = USER_SS_DISABLE;
		return 0;
	}
	if (s.size < USER_MINSIGSTKSZ)
		return -ENOMEM;
	p->altstack_sp = s.sp;
	p->altstack_size = s.size;
	p->altstack_flags = 0;
	return 0;
}

static long user_sys_sigsuspend(struct user_proc *p, uint64_t set, uint64_t size)
{
	uint64_t m;

	if (size != 8)
		return -EINVAL;
	if (!user_readable(p, set, 8))
		return -EFAULT;
	memcpy(&m, USER_PTR(set), 8);
	m &= ~(user_sigbit(SIGKILL) | user_sigbit(SIGSTOP));
	/* Wait on the host with the guest's temporary mask; the host handler
	 * records the signal. It is delivered while that mask is still in
	 * force, with the original mask saved in the frame (the kernel's
	 * restore_sigmask), or the original mask comes back if none is. */
	syscall(SYS_rt_sigsuspend, &m, 8);
	p->suspend_saved = p->sigmask;
	p->suspended = true;
	p->sigmask = m;
	user_sig_any = 1;
	return -EINTR;
}

long user_sys_signal(struct user_proc *p, struct cpu_state *st, long nr, const uint64_t *a)
{
	switch (nr) {
	case SYS_rt_sigaction:
		return user_sys_sigaction(p, (int)a[0], a[1], a[2], a[3]);
	case SYS_rt_sigprocmask:
		return user_sys_sigprocmask(p, (int)a[0], a[1], a[2], a[3]);
	case SYS_rt_sigreturn:
		return user_sys_sigreturn(p, st);
	case SYS_sigaltstack:
		return user_sys_sigaltstack(p, st, a[0], a[1]);
	case SYS_rt_sigsuspend:
		return user_sys_sigsuspend(p, a[0], a[1]);
	case SYS_rt_sigpending:
		if (a[1] != 8)
			return -EINVAL;
		if (!user_writable(p, a[0], 8))
			return -EFAULT;
		{
			uint64_t set = 0;
			int sig;

			syscall(SYS_rt_sigpending, &set, 8);
			for (sig = 1; sig <= USER_NSIG; sig++)
				if (user_sig_pending[sig])
					set |= user_sigbit(sig);
			memcpy(USER_PTR(a[0]), &set, 8);
		}
		return 0;
	case SYS_rt_sigtimedwait:
		if (a[3] != 8)
			return -EINVAL;
		if (!user_readable(p, a[0], 8) || (a[1] && !user_writable(p, a[1], 128)) ||
		    (a[2] && !user_readable(p, a[2], 16)))
			return -EFAULT;
		return user_host_ret(syscall(SYS_rt_sigtimedwait, a[0], a[1], a[2], 8));
	}
	return USER_SYS_NONE;
}
