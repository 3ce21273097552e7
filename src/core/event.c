#include "core/event.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

/* epoll's user data carries a handler id, never a pointer: an event already
 * fetched by epoll_wait for a handler that another thread deleted meanwhile
 * then finds no handler and is dropped instead of touching freed memory. */
#define EVENT_WAKE_ID 0

struct event_handler {
	uint64_t id;
	int fd;
	event_cb *cb;
	void *opaque;
};

struct event_loop {
	int epfd, wakefd;
	pthread_t thread;
	atomic_bool running; /* start/stop/destroy are called by one owner thread */
	atomic_bool stop;
	pthread_mutex_t lock;
	pthread_cond_t idle;          /* signalled when a callback returns */
	uint64_t next_id, current_id; /* current_id: callback running now, or 0 */
	struct event_handler *h;
	size_t nh, cap;
};

struct event_loop *event_loop_create(struct err *err)
{
	struct event_loop *l = calloc(1, sizeof(*l));
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EVENT_WAKE_ID };

	if (!l) {
		err_errno(err, ENOMEM, "event loop");
		return NULL;
	}
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->epfd < 0 || l->wakefd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) < 0) {
		err_errno(err, errno, "event loop: epoll/eventfd");
		if (l->epfd >= 0)
			close(l->epfd);
		if (l->wakefd >= 0)
			close(l->wakefd);
		free(l);
		return NULL;
	}
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->idle, NULL);
	l->next_id = 1;
	return l;
}

/* Set by the loop thread itself, so no other thread races on it. */
static _Thread_local struct event_loop *event_current_loop;

bool event_loop_in_thread(struct event_loop *l)
{
	return event_current_loop == l;
}

static struct event_handler *event_find_fd(struct event_loop *l, int fd)
{
	for (size_t i = 0; i < l->nh; i++)
		if (l->h[i].fd == fd)
			return &l->h[i];
	return NULL;
}

int event_loop_add_fd(struct event_loop *l, int fd, uint32_t epoll_events, event_cb *cb,
		      void *opaque, struct err *err)
{
	struct epoll_event ev = { .events = epoll_events };
	int ret = 0;

	pthread_mutex_lock(&l->lock);
	if (event_find_fd(l, fd)) {
		ret = err_set(err, "event loop: fd %d already registered", fd);
		goto out;
	}
	if (l->nh == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		struct event_handler *nh = realloc(l->h, cap * sizeof(*nh));

		if (!nh) {
			ret = err_errno(err, ENOMEM, "event loop");
			goto out;
		}
		l->h = nh, l->cap = cap;
	}
	ev.data.u64 = l->next_id;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		ret = err_errno(err, errno, "event loop: watching fd %d", fd);
		goto out;
	}
	l->h[l->nh++] = (struct event_handler){ l->next_id++, fd, cb, opaque };
out:
	pthread_mutex_unlock(&l->lock);
	return ret;
}

int event_loop_mod_fd(struct event_loop *l, int fd, uint32_t epoll_events)
{
	struct event_handler *h;
	int ret = -ENOENT;

	pthread_mutex_lock(&l->lock);
	h = event_find_fd(l, fd);
	if (h) {
		struct epoll_event ev = { .events = epoll_events, .data.u64 = h->id };

		ret = epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
	}
	pthread_mutex_unlock(&l->lock);
	return ret;
}

void event_loop_del_fd(struct event_loop *l, int fd)
{
	struct event_handler *h;
	uint64_t id;

	pthread_mutex_lock(&l->lock);
	h = event_find_fd(l, fd);
	if (!h) {
		pthread_mutex_unlock(&l->lock);
		return;
	}
	id = h->id;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	*h = l->h[--l->nh];
	/* From another thread, wait out a callback of this handler in flight so
	 * the caller may free its opaque on return. */
	if (!event_loop_in_thread(l))
		while (l->current_id == id)
			pthread_cond_wait(&l->idle, &l->lock);
	pthread_mutex_unlock(&l->lock);
}

static void event_dispatch(struct event_loop *l, const struct epoll_event *ev)
{
	struct event_handler h = { 0 };
	bool found = false;

	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; i < l->nh; i++) {
		if (l->h[i].id == ev->data.u64) {
			h = l->h[i];
			found = true;
			break;
		}
	}
	if (found)
		l->current_id = h.id;
	pthread_mutex_unlock(&l->lock);
	if (!found)
		return;
	h.cb(h.opaque, ev->events);
	pthread_mutex_lock(&l->lock);
	l->current_id = 0;
	pthread_cond_broadcast(&l->idle);
	pthread_mutex_unlock(&l->lock);
}

static void *event_thread(void *opaque)
{
	struct event_loop *l = opaque;
	struct epoll_event ev[16];

	event_current_loop = l;
	pthread_setname_np(pthread_self(), "io");
	while (!atomic_load(&l->stop)) {
		int n = epoll_wait(l->epfd, ev, 16, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("event loop: epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u64 == EVENT_WAKE_ID) {
				uint64_t v;

				if (read(l->wakefd, &v, sizeof(v)) < 0) {
					/* EAGAIN: already drained; nothing to do */
				}
				continue;
			}
			event_dispatch(l, &ev[i]);
		}
	}
	return NULL;
}

int event_loop_start(struct event_loop *l, struct err *err)
{
	int ret;

	if (l->running)
		return 0;
	atomic_store(&l->stop, false);
	atomic_store(&l->running, true);
	ret = pthread_create(&l->thread, NULL, event_thread, l);
	if (ret) {
		atomic_store(&l->running, false);
		return err_errno(err, ret, "event loop: starting the I/O thread");
	}
	return 0;
}

void event_loop_stop(struct event_loop *l)
{
	uint64_t one = 1;

	if (!l || !l->running)
		return;
	atomic_store(&l->stop, true);
	if (event_loop_in_thread(l))
		return; /* from a callback: the loop ends after it; the owner joins */
	if (write(l->wakefd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is already non-zero, the thread will wake */
	}
	pthread_join(l->thread, NULL);
	l->running = false;
}

void event_loop_destroy(struct event_loop *l)
{
	if (!l)
		return;
	event_loop_stop(l);
	close(l->epfd);
	close(l->wakefd);
	free(l->h);
	pthread_cond_destroy(&l->idle);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* --- timers --- */

struct event_timer {
	struct event_loop *loop;
	int fd;
	event_timer_cb *cb;
	void *opaque;
};

static void event_timer_fired(void *opaque, uint32_t events)
{
	struct event_timer *t = opaque;
	uint64_t expirations;

	/* A disarm between the expiry and this read leaves nothing to read:
	 * then the expiry was cancelled and the callback must not run. */
	if (read(t->fd, &expirations, sizeof(expirations)) != sizeof(expirations))
		return;
	t->cb(t->opaque);
}

struct event_timer *event_timer_create(struct event_loop *l, event_timer_cb *cb, void *opaque,
				       struct err *err)
{
	struct event_timer *t = calloc(1, sizeof(*t));

	if (!t) {
		err_errno(err, ENOMEM, "timer");
		return NULL;
	}
	t->loop = l, t->cb = cb, t->opaque = opaque;
	t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->fd < 0) {
		err_errno(err, errno, "timerfd");
		free(t);
		return NULL;
	}
	if (event_loop_add_fd(l, t->fd, EPOLLIN, event_timer_fired, t, err) < 0) {
		close(t->fd);
		free(t);
		return NULL;
	}
	return t;
}

static struct timespec event_ns_to_ts(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / 1000000000ULL),
				  .tv_nsec = (long)(ns % 1000000000ULL) };
}

int event_timer_arm(struct event_timer *t, uint64_t delay_ns, uint64_t period_ns)
{
	struct itimerspec its = { .it_interval = event_ns_to_ts(period_ns),
				  .it_value = event_ns_to_ts(delay_ns ? delay_ns : 1) };

	return timerfd_settime(t->fd, 0, &its, NULL) < 0 ? -errno : 0;
}

void event_timer_disarm(struct event_timer *t)
{
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };

	timerfd_settime(t->fd, 0, &its, NULL);
}

void event_timer_destroy(struct event_timer *t)
{
	if (!t)
		return;
	event_loop_del_fd(t->loop, t->fd);
	close(t->fd);
	free(t);
}
