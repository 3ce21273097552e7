/* The I/O thread: one epoll loop that runs callbacks for file descriptors
 * (chardevs, later QMP, ioeventfds, block completions).
 *
 * Threading contract:
 * - event_loop_add_fd/mod_fd/del_fd may be called from any thread, including
 *   from a callback running on the loop thread.
 * - When event_loop_del_fd returns on a thread other than the loop thread,
 *   the fd's callback is not running and will never run again, so the
 *   caller may free its opaque. (Called from inside a callback, it only
 *   guarantees that no later dispatch happens.) It waits for a running
 *   callback, so never call it holding a lock that callback takes.
 * - Callbacks run on the loop thread, one at a time, with no loop lock held. */
#ifndef VIREO_CORE_EVENT_H
#define VIREO_CORE_EVENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h> /* EPOLLIN etc. for callers */

#include "core/err.h"

struct event_loop;

typedef void event_cb(void *opaque, uint32_t events);

struct event_loop *event_loop_create(struct err *err);
/* epoll_events: EPOLLIN/EPOLLOUT/...; level-triggered unless EPOLLET is given.
 * -EPERM means the fd does not support polling (a regular file, /dev/null). */
int event_loop_add_fd(struct event_loop *l, int fd, uint32_t epoll_events, event_cb *cb,
		      void *opaque, struct err *err);
/* Changes the events watched for fd (0 pauses it). */
int event_loop_mod_fd(struct event_loop *l, int fd, uint32_t epoll_events);
void event_loop_del_fd(struct event_loop *l, int fd);
/* Spawns the I/O thread. */
int event_loop_start(struct event_loop *l, struct err *err);
/* Wakes the thread (eventfd) and joins it; callbacks stay registered.
 * From a callback it only asks the loop to end; the owner must call it again
 * (or event_loop_destroy) from its own thread to join. */
void event_loop_stop(struct event_loop *l);
/* Stops the thread if it runs, then frees the loop (registered fds are not closed). */
void event_loop_destroy(struct event_loop *l);
/* True on the loop's own thread. */
bool event_loop_in_thread(struct event_loop *l);

/* Timers (timerfd on CLOCK_MONOTONIC) whose callbacks run on the loop's
 * thread. event_timer_arm/disarm may be called from any thread, including
 * with a lock held that the callback takes (they take no lock themselves);
 * event_timer_destroy must not be (it waits out a running callback). */
struct event_timer;
typedef void event_timer_cb(void *opaque);

struct event_timer *event_timer_create(struct event_loop *l, event_timer_cb *cb, void *opaque,
				       struct err *err);
/* First expiry after delay_ns (>= 1), then every period_ns (0: once). */
int event_timer_arm(struct event_timer *t, uint64_t delay_ns, uint64_t period_ns);
void event_timer_disarm(struct event_timer *t);
void event_timer_destroy(struct event_timer *t);

#endif
