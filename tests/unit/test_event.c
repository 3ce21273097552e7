/* The I/O thread: callbacks run on it, mod pauses an fd, del from another
 * thread waits out a running callback, del from inside a callback works,
 * stop joins. */
#include <stdatomic.h>
#include <unistd.h>

#include "core/event.h"
#include "testlib.h"

struct probe {
	int fd;
	struct event_loop *loop;
	atomic_int calls, running, finished;
	atomic_bool on_loop_thread;
	int sleep_ms;
	bool del_self;
};

static void probe_cb(void *opaque, uint32_t events)
{
	struct probe *p = opaque;
	char buf[64];

	p->on_loop_thread = event_loop_in_thread(p->loop);
	p->running = 1;
	if (read(p->fd, buf, sizeof(buf)) < 0) {
		/* drained already */
	}
	p->calls++;
	if (p->sleep_ms)
		usleep((useconds_t)p->sleep_ms * 1000);
	if (p->del_self)
		event_loop_del_fd(p->loop, p->fd);
	p->finished++;
	p->running = 0;
}

static bool wait_for(atomic_int *v, int want)
{
	for (int i = 0; i < 2000; i++) {
		if (*v >= want)
			return true;
		usleep(1000);
	}
	return false;
}

static void tick(void *opaque)
{
	atomic_int *n = opaque;

	(*n)++;
}

static void test_timers(void)
{
	struct err err = { { 0 } };
	struct event_loop *l = event_loop_create(&err);
	static atomic_int once, periodic;
	struct event_timer *t1 = event_timer_create(l, tick, &once, &err);
	struct event_timer *t2 = event_timer_create(l, tick, &periodic, &err);
	int seen;

	TEST_BEGIN("event_timers");
	CHECK(t1 && t2);
	CHECK(event_loop_start(l, &err) == 0);
	CHECK(event_timer_arm(t1, 5 * 1000 * 1000, 0) == 0);
	CHECK(event_timer_arm(t2, 1000 * 1000, 2 * 1000 * 1000) == 0);
	CHECK(wait_for(&periodic, 5));
	CHECK(wait_for(&once, 1));
	event_timer_disarm(t2);
	usleep(10000);
	seen = periodic;
	usleep(30000);
	CHECK_EQ(periodic, seen); /* disarmed: no more ticks */
	CHECK_EQ(once, 1);        /* one-shot fired once */
	CHECK(event_timer_arm(t2, 1000 * 1000, 0) == 0);
	CHECK(wait_for(&periodic, seen + 1));
	event_timer_destroy(t1);
	event_timer_destroy(t2);
	event_loop_destroy(l);
	TEST_END();
}

int main(void)
{
	struct err err = { { 0 } };
	struct event_loop *l = event_loop_create(&err);
	static struct probe a, b;
	int pa[2], pb[2];

	TEST_BEGIN("event_callback_on_io_thread");
	CHECK(l != NULL);
	CHECK(pipe(pa) == 0 && pipe(pb) == 0);
	a = (struct probe){ .fd = pa[0], .loop = l };
	CHECK(event_loop_add_fd(l, pa[0], EPOLLIN, probe_cb, &a, &err) == 0);
	CHECK(event_loop_add_fd(l, pa[0], EPOLLIN, probe_cb, &a, &err) < 0);
	CHECK(event_loop_start(l, &err) == 0);
	CHECK(write(pa[1], "x", 1) == 1);
	CHECK(wait_for(&a.calls, 1));
	CHECK(a.on_loop_thread);
	CHECK(!event_loop_in_thread(l));
	TEST_END();

	TEST_BEGIN("event_mod_pauses");
	CHECK(event_loop_mod_fd(l, pa[0], 0) == 0);
	CHECK(write(pa[1], "y", 1) == 1);
	usleep(30000);
	CHECK_EQ(a.calls, 1);
	CHECK(event_loop_mod_fd(l, pa[0], EPOLLIN) == 0);
	CHECK(wait_for(&a.calls, 2));
	CHECK(event_loop_mod_fd(l, 12345, EPOLLIN) < 0);
	TEST_END();

	TEST_BEGIN("event_del_waits_for_running_callback");
	a.sleep_ms = 100;
	CHECK(write(pa[1], "z", 1) == 1);
	for (int i = 0; i < 2000 && !a.running; i++)
		usleep(500);
	CHECK(a.running);
	event_loop_del_fd(l, pa[0]);
	CHECK_EQ(a.running, 0); /* the callback finished before del returned */
	CHECK_EQ(a.finished, 3);
	CHECK(write(pa[1], "w", 1) == 1);
	usleep(30000);
	CHECK_EQ(a.calls, 3); /* never called again */
	TEST_END();

	TEST_BEGIN("event_del_from_callback");
	b = (struct probe){ .fd = pb[0], .loop = l, .del_self = true };
	CHECK(event_loop_add_fd(l, pb[0], EPOLLIN, probe_cb, &b, &err) == 0);
	CHECK(write(pb[1], "1", 1) == 1);
	CHECK(wait_for(&b.finished, 1));
	CHECK(write(pb[1], "2", 1) == 1);
	usleep(30000);
	CHECK_EQ(b.calls, 1);
	/* fd can be added again after deletion */
	b.del_self = false;
	CHECK(event_loop_add_fd(l, pb[0], EPOLLIN, probe_cb, &b, &err) == 0);
	CHECK(wait_for(&b.calls, 2));
	TEST_END();

	TEST_BEGIN("event_stop_and_restart");
	event_loop_stop(l);
	event_loop_stop(l); /* idempotent */
	CHECK(write(pb[1], "3", 1) == 1);
	usleep(20000);
	CHECK_EQ(b.calls, 2); /* no thread, no callbacks */
	CHECK(event_loop_start(l, &err) == 0);
	CHECK(wait_for(&b.calls, 3));
	event_loop_destroy(l); /* stops the running thread */
	TEST_END();

	close(pa[0]), close(pa[1]), close(pb[0]), close(pb[1]);
	test_timers();
	return 0;
}
