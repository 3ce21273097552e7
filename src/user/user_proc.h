/* State of one emulated Linux process in vireo-user: its address space,
 * heap, signal dispositions and the helpers every system call uses to
 * check guest pointers before the host kernel sees them. */
#ifndef VIREO_USER_PROC_H
#define VIREO_USER_PROC_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpu/cpu.h"
#include "user/user_map.h"

/* struct cpu_state's gpr[] order: the x86 register encoding. */
enum {
	USER_RAX, USER_RCX, USER_RDX, USER_RBX, USER_RSP, USER_RBP, USER_RSI, USER_RDI,
	USER_R8, USER_R9, USER_R10, USER_R11, USER_R12, USER_R13, USER_R14, USER_R15,
};

#define USER_NSIG 64 /* signals 1..64, as in the Linux x86-64 ABI */

/* struct k_sigaction of the x86-64 kernel ABI (not glibc's struct sigaction). */
struct user_sigaction {
	uint64_t handler, flags, restorer, mask;
};

struct user_proc {
	struct user_map map;
	struct cpu *cpu; /* NULL in unit tests that need no CPU */
	uint64_t brk_start, brk_cur;
	uint64_t stack_lo, stack_hi;
	uint64_t image_lo, image_hi; /* the ELF image, for /proc/self/maps */
	char exe_path[PATH_MAX]; /* absolute path of the guest program: /proc/self/exe */
	const char *self_argv0;  /* how vireo-user was invoked, for messages */
	struct user_sigaction sigact[USER_NSIG + 1];
	uint64_t sigmask;         /* the guest's blocked set; the host's mirrors it */
	uint64_t suspend_saved;   /* rt_sigsuspend: the mask to restore after delivery */
	bool suspended;
	uint64_t altstack_sp, altstack_size;
	int altstack_flags;
	uint64_t clear_child_tid;
	int vfork_fd;             /* a vfork child's end of its parent's wait pipe, or -1 */
	bool exited;
	int exit_status;
	bool trace;               /* VIREO_USER_STRACE: log every system call */
	uint8_t reported[64];     /* unsupported syscalls already reported */
};

int user_proc_init(struct user_proc *p, struct cpu *cpu);
void user_proc_fini(struct user_proc *p);

/* Guest pointer checks against the map: true when every byte of
 * [addr, addr+len) is guest-owned and readable (writable). */
bool user_readable(struct user_proc *p, uint64_t addr, uint64_t len);
bool user_writable(struct user_proc *p, uint64_t addr, uint64_t len);

/* Copy the NUL-terminated guest string at ADDR into BUF (size LEN).
 * Returns its length, -EFAULT if it leaves guest memory, -ENAMETOOLONG if
 * it does not fit. */
long user_strncpy(struct user_proc *p, uint64_t addr, char *buf, size_t len);

/* user_strncpy for a path; BUF has PATH_MAX bytes. With EXE, "/proc/self/exe"
 * becomes the guest program (the host's names vireo-user): only for calls
 * that read or run it, so the guest can never write the real file through it. */
long user_path(struct user_proc *p, uint64_t addr, char *buf, bool exe);

/* The guest's memory at [addr, addr+len) changed or its mapping did:
 * drop the CPU's cached translations and decoded code for it. */
void user_mem_changed(struct user_proc *p, uint64_t addr, uint64_t len);
/* A system call wrote guest memory at [addr, addr+len): decoded code there is stale. */
void user_mem_written(struct user_proc *p, uint64_t addr, uint64_t len);

/* Report an unsupported system call once per number on stderr. */
void user_report_once(struct user_proc *p, unsigned long nr, const char *why);

/* Print "vireo-user: MESSAGE" on stderr. */
void user_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Host protection for a guest one: code is interpreted, never executed by
 * the host, so PROT_EXEC becomes PROT_READ. */
int user_host_prot(int prot);

static inline uint64_t user_page_down(uint64_t a)
{
	return a & ~USER_PAGE_MASK;
}

static inline uint64_t user_page_up(uint64_t a)
{
	return (a + USER_PAGE_MASK) & ~USER_PAGE_MASK;
}

#endif
