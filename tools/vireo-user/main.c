/* vireo-user: run a static x86-64 Linux executable on Vireo's software CPU,
 * passing its system calls to the host (QEMU's user-mode emulation, for
 * one architecture). Guest addresses are host addresses; the guest map in
 * src/user/ decides what the guest may touch.
 *
 *   vireo-user [-0 ARGV0] [--] PROGRAM [ARGS...]
 *
 * Environment: VIREO_USER_STATS=1 prints instructions and instructions per
 * second at exit; VIREO_USER_STRACE=1 logs every system call. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "user/user_elf.h"
#include "user/user_proc.h"
#include "user/user_signal.h"
#include "user/user_stack.h"
#include "user/user_syscall.h"

extern char **environ;

#define USER_CHUNK (1ULL << 20) /* instructions between checks for signals */

static void *user_translate(void *opaque, uint64_t gva, uint64_t len, int access)
{
	struct user_proc *p = opaque;
	int prot = (access & CPU_ACC_READ ? PROT_READ : 0) |
		   (access & CPU_ACC_WRITE ? PROT_WRITE : 0) |
		   (access & CPU_ACC_EXEC ? PROT_EXEC : 0);

	if (!user_map_check(&p->map, gva, len ? len : 1, prot))
		return NULL;
	return (void *)(uintptr_t)gva;
}

static const struct cpu_mem_ops user_mem_ops = { .translate = user_translate };

static void usage(FILE *f)
{
	fprintf(f, "usage: vireo-user [-0 ARGV0] [--] PROGRAM [ARGS...]\n"
		   "Runs a static x86-64 Linux executable on Vireo's emulated CPU.\n"
		   "  -0 ARGV0   pass ARGV0 as the program's argv[0]\n"
		   "Environment: VIREO_USER_STATS=1 (instruction counts), "
		   "VIREO_USER_STRACE=1 (log system calls)\n");
}

/* PROGRAM without a slash is looked up in PATH, as a shell would. */
static int user_find_program(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH"), *s, *e;

	if (strchr(name, '/') || !path) {
		snprintf(out, len, "%s", name);
		return 0;
	}
	for (s = path; ; s = e + 1) {
		e = strchr(s, ':');
		if (!e)
			e = s + strlen(s);
		snprintf(out, len, "%.*s%s%s", (int)(e - s), s, e > s ? "/" : "", name);
		if (!access(out, X_OK))
			return 0;
		if (!*e)
			break;
	}
	snprintf(out, len, "%s", name);
	return -ENOENT;
}

static double user_now(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	static struct user_proc proc;
	struct user_proc *p = &proc;
	struct user_elf_info elf;
	uint64_t entry, interp_base = 0;
	struct user_stack_args sa;
	struct cpu_state st;
	struct cpu_exit ex;
	struct err err = { { 0 } };
	char prog[PATH_MAX];
	const char *argv0 = NULL;
	uint8_t rnd[16];
	uint32_t id[4];
	struct cpu *cpu;
	uint64_t rsp;
	double t0 = user_now(CLOCK_MONOTONIC);
	int i = 1, status;
	bool stats = getenv("VIREO_USER_STATS") && strcmp(getenv("VIREO_USER_STATS"), "0");

	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (!strcmp(argv[i], "-0") && i + 1 < argc) {
			argv0 = argv[i + 1];
			i += 2;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "vireo-user: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	user_find_program(argv[i], prog, sizeof(prog));

	cpu = cpu_create(CPU_MODE_USER64, &user_mem_ops, p, &err);
	if (!cpu) {
		fprintf(stderr, "vireo-user: %s\n", err.msg);
		return 1;
	}
	user_proc_init(p, cpu);
	p->self_argv0 = argv[0];
	p->trace = getenv("VIREO_USER_STRACE") && strcmp(getenv("VIREO_USER_STRACE"), "0");
	if (!realpath(prog, p->exe_path))
		snprintf(p->exe_path, sizeof(p->exe_path), "%s", prog);
	if (user_elf_load(p, prog, &elf, &err)) {
		fprintf(stderr, "vireo-user: %s\n", err.msg);
		goto fail;
	}
	p->brk_start = p->brk_cur = elf.brk;
	p->image_lo = elf.lo;
	p->image_hi = elf.brk;
	entry = elf.entry;
	if (elf.interp[0]) {
		/* A dynamic program: ld.so runs first, finds the program through
		 * AT_PHDR/AT_ENTRY and itself through AT_BASE (binfmt_elf does the
		 * same). */
		struct user_elf_info *ld = malloc(sizeof(*ld));

		if (!ld || user_elf_load(p, elf.interp, ld, &err) ||
		    (ld->interp[0] && err_set(&err, "%s: the ELF interpreter is dynamic itself",
					      elf.interp))) {
			fprintf(stderr, "vireo-user: %s: %s\n", prog,
				ld ? err.msg : "out of memory");
			free(ld);
			goto fail;
		}
		interp_base = ld->bias;
		entry = ld->entry;
		free(ld);
	}

	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		fprintf(stderr, "vireo-user: getrandom: %s\n", strerror(errno));
		goto fail;
	}
	cpu_cpuid(cpu, 1, 0, id);
	sa = (struct user_stack_args){
		.argc = argc - i,
		.argv = argv + i,
		.envp = environ,
		.execfn = prog,
		.hwcap = id[3], /* CPUID.01H:EDX, as Linux's ELF_HWCAP on x86 */
		.random16 = rnd,
		.interp_base = interp_base,
	};
	if (argv0)
		argv[i] = (char *)argv0;
	if (user_stack_setup(p, &elf, &sa, &rsp, &err)) {
		fprintf(stderr, "vireo-user: %s: %s\n", prog, err.msg);
		goto fail;
	}

	/* ELF entry state (psABI §3.4.1): registers zero except RSP; RDX = 0
	 * (no rtld_fini); RFLAGS with IF and the reserved bit 1; x87 and MXCSR
	 * at their power-on/FNINIT values (FCW 0x37f, MXCSR 0x1f80). */
	memset(&st, 0, sizeof(st));
	st.rip = entry;
	st.gpr[USER_RSP] = rsp;
	st.rflags = 0x202;
	st.fxsave[0] = 0x7f, st.fxsave[1] = 0x03;
	st.fxsave[24] = 0x80, st.fxsave[25] = 0x1f;
	st.fxsave[28] = 0xff, st.fxsave[29] = 0xff;
	cpu_set_state(cpu, &st);
	user_signal_init(p);

	while (!p->exited) {
		int rc = cpu_run(cpu, USER_CHUNK, &ex);

		if (rc < 0) {
			fprintf(stderr, "vireo-user: %s: CPU failure: %s\n", prog, strerror(-rc));
			goto fail;
		}
		if (ex.reason == CPU_EXIT_LIMIT && !user_signal_pending())
			continue;
		cpu_get_state(cpu, &st);
		switch (ex.reason) {
		case CPU_EXIT_SYSCALL:
			user_syscall(p, &st);
			break;
		case CPU_EXIT_HLT:
			/* HLT at CPL 3 is #GP(0) (Intel SDM Vol. 2A, HLT). */
			ex.reason = CPU_EXIT_EXCEPTION;
			ex.vector = CPU_VEC_GP;
			ex.error_code = 0;
			/* fall through */
		case CPU_EXIT_EXCEPTION:
			user_signal_exception(p, &st, &ex);
			break;
		case CPU_EXIT_LIMIT:
		case CPU_EXIT_KICK: /* nobody calls cpu_request_exit in user mode */
			break;
		case CPU_EXIT_SHUTDOWN: /* system mode only */
		case CPU_EXIT_DEBUG:
			fprintf(stderr, "vireo-user: %s: unexpected system-mode CPU exit %d\n", prog,
				(int)ex.reason);
			goto fail;
		}
		if (!p->exited && user_signal_pending())
			user_signal_deliver(p, &st);
		cpu_set_state(cpu, &st);
	}
	status = p->exit_status;
	if (stats) {
		/* CPU time too: on a shared machine wall time includes waiting. */
		double dt = user_now(CLOCK_MONOTONIC) - t0;
		double ct = user_now(CLOCK_PROCESS_CPUTIME_ID);
		uint64_t n = cpu_insn_count(cpu);

		fprintf(stderr, "vireo-user: %llu instructions in %.3f s (%.3f s CPU): "
			"%.1f M instructions/s of CPU time\n", (unsigned long long)n, dt, ct,
			ct > 0 ? (double)n / ct / 1e6 : 0.0);
	}
	user_proc_fini(p);
	cpu_destroy(cpu);
	return status;
fail:
	user_proc_fini(p);
	cpu_destroy(cpu);
	return 1;
}
