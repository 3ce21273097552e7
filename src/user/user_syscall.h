/* vireo-user's system call layer: x86-64 Linux system calls of the guest,
 * checked against the guest map and passed to the host kernel. */
#ifndef VIREO_USER_SYSCALL_H
#define VIREO_USER_SYSCALL_H

#include "cpu/cpu.h"
#include "user/user_proc.h"

/* Run the system call the guest made with SYSCALL (number in RAX, RIP
 * already past the instruction): result in RAX, and RCX/R11 as the
 * instruction leaves them (return RIP, RFLAGS). After exit/exit_group,
 * P->exited is set. */
void user_syscall(struct user_proc *p, struct cpu_state *st);

#endif
