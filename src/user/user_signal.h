/* Signals for vireo-user: the guest's dispositions and mask, mirrored on
 * the host so the host kernel does the default actions (SIGINT, SIGTERM,
 * SIGPIPE kill; SIGCHLD ignored) and the blocking; signals with a guest
 * handler are caught by vireo-user and delivered on the guest stack with a
 * Linux x86-64 rt_sigframe. CPU exceptions become the signals Linux sends. */
#ifndef VIREO_USER_SIGNAL_H
#define VIREO_USER_SIGNAL_H

#include <stdbool.h>

#include "cpu/cpu.h"
#include "user/user_proc.h"

/* Take over the dispositions and mask inherited from the parent (exec
 * keeps ignored signals ignored and the mask). */
void user_signal_init(struct user_proc *p);

/* Cheap check: has any guest-handled signal arrived? */
bool user_signal_pending(void);

/* Deliver one pending, unblocked signal to its guest handler by changing
 * ST; returns true when ST changed. */
bool user_signal_deliver(struct user_proc *p, struct cpu_state *st);

/* Will the signal delivered next have SA_RESTART (so that a system call
 * it interrupted is to be restarted)? */
bool user_signal_restart(const struct user_proc *p);

/* CPU exception EX at ST->rip: start the guest's handler for the matching
 * signal, or print one line and die of that signal like a native process. */
void user_signal_exception(struct user_proc *p, struct cpu_state *st, const struct cpu_exit *ex);

/* Die of SIG as the host would (default action), after MSG if not NULL. */
void user_signal_die(int sig) __attribute__((noreturn));

#endif
