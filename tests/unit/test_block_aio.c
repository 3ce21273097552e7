/* io_uring engine (block/aio.c) on a host file: writes and reads complete on
 * the loop thread with the right byte counts, a batch ends in batch_done, a
 * read past the end of the file comes back short, a bad descriptor comes back
 * as -EBADF, aio_drain completes what is in flight on the caller's thread;
 * and block_async_fd only offers what may bypass the block layer. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/aio.h"
#include "block/block.h"
#include "core/event.h"
#include "testlib.h"

struct probe {
	struct aio_req req;
	atomic_int res;
	atomic_bool done;
};

static atomic_int batches;

static void probe_done(struct aio_req *r, int res)
{
	struct probe *p = (struct probe *)r;

	p->res = res;
	p->done = true;
}

static void batch_done(void *opaque)
{
	(void)opaque;
	batches++;
}

static bool wait_done(struct probe *p)
{
	for (int i = 0; i < 5000 && !p->done; i++)
		usleep(1000);
	return p->done;
}

static void test_aio(void)
{
	char path[] = "/tmp/vireo-test-aio.XXXXXX";
	int fd = mkstemp(path);
	struct err err = { { 0 } };
	struct event_loop *l = event_loop_create(&err);
	struct aio_ctx *a;
	static char wbuf[8192], rbuf[8192];
	struct iovec wv[2] = { { wbuf, 4096 }, { wbuf + 4096, 4096 } };
	struct iovec rv = { rbuf, sizeof(rbuf) };
	struct probe w = { .req.done = probe_done }, r = { .req.done = probe_done };
	struct probe s = { .req.done = probe_done }, bad = { .req.done = probe_done };

	TEST_BEGIN("block_aio_io_uring");
	CHECK(fd >= 0 && l && event_loop_start(l, &err) == 0);
	a = aio_create(l, 8, batch_done, NULL, &err);
	if (!a) {
		printf("# io_uring unavailable here: %s\n", err.msg);
		goto out;
	}
	for (size_t i = 0; i < sizeof(wbuf); i++)
		wbuf[i] = (char)(i * 7 + 1);
	CHECK_EQ(aio_writev(a, fd, 4096, wv, 2, &w.req), 0);
	aio_submit(a);
	CHECK(wait_done(&w));
	CHECK_EQ(w.res, 8192);
	CHECK_EQ(lseek(fd, 0, SEEK_END), 12288);

	CHECK_EQ(aio_readv(a, fd, 4096, &rv, 1, &r.req), 0);
	/* 8192 bytes from 8192: only 4096 are there. */
	struct iovec sv = { rbuf, sizeof(rbuf) };
	static char sbuf[8192];

	sv.iov_base = sbuf;
	CHECK_EQ(aio_readv(a, fd, 8192, &sv, 1, &s.req), 0);
	CHECK_EQ(aio_readv(a, 1000, 0, &sv, 1, &bad.req), 0); /* not an open fd */
	aio_submit(a);
	CHECK(wait_done(&r) && wait_done(&s) && wait_done(&bad));
	CHECK_EQ(r.res, 8192);
	CHECK(!memcmp(rbuf, wbuf, sizeof(wbuf)));
	CHECK_EQ(s.res, 4096);
	CHECK_EQ(bad.res, -EBADF);
	CHECK(batches >= 2);

	/* Drained on this thread: the loop is stopped, so nothing else runs it. */
	event_loop_stop(l);
	r.done = false;
	CHECK_EQ(aio_readv(a, fd, 0, &rv, 1, &r.req), 0);
	aio_submit(a);
	aio_drain(a);
	CHECK(r.done);
	CHECK_EQ(r.res, 8192);
	/* A full context says so instead of queueing. */
	struct probe many[20];
	int queued = 0;

	for (int i = 0; i < 20; i++) {
		many[i] = (struct probe){ .req.done = probe_done };
		if (aio_readv(a, fd, 0, &rv, 1, &many[i].req) == 0)
			queued++;
	}
	CHECK(queued >= 8 && queued < 20);
	aio_drain(a);
	for (int i = 0; i < queued; i++)
		CHECK(many[i].done);
	aio_destroy(a);
out:
	event_loop_destroy(l);
	close(fd);
	unlink(path);
	TEST_END();
}

static void test_async_fd(void)
{
	char path[] = "/tmp/vireo-test-aio.XXXXXX";
	int fd = mkstemp(path);
	struct err err = { { 0 } };
	struct block_open_opts o = { 0 };
	static char buf[8192] __attribute__((aligned(4096)));
	struct iovec v = { buf, 4096 }, odd = { buf + 1, 4096 };
	struct block_dev *b;

	TEST_BEGIN("block_async_fd");
	CHECK(fd >= 0 && ftruncate(fd, 1 << 20) == 0);
	close(fd);
	b = block_open(path, NULL, &err); /* probed raw, writeback */
	CHECK(b != NULL);
	if (b) {
		CHECK(block_async_fd(b, 4096, &v, 1, false) >= 0);
		CHECK(block_async_fd(b, 4096, &v, 1, true) >= 0);
		CHECK(block_async_fd(b, 0, &v, 1, false) >= 0);
		CHECK(block_async_fd(b, 0, &v, 1, true) < 0); /* the probed-raw guard */
		CHECK(block_async_fd(b, (1 << 20) - 2048, &v, 1, false) < 0); /* past the end */
		block_close(b);
	}
	o.readonly = true;
	b = block_open(path, &o, &err);
	CHECK(b && block_async_fd(b, 4096, &v, 1, true) < 0);
	block_close(b);
	o.readonly = false;
	o.format = "raw";
	o.cache = BLOCK_CACHE_NONE;
	b = block_open(path, &o, &err);
	if (b) {
		CHECK(block_async_fd(b, 0, &v, 1, true) >= 0);
		CHECK(block_async_fd(b, 512, &v, 1, false) < 0); /* O_DIRECT would bounce */
		CHECK(block_async_fd(b, 4096, &odd, 1, false) < 0);
		block_close(b);
	}
	/* Not raw: never. */
	CHECK(block_create(path, &(struct block_create_opts){ .format = "qcow2",
							      .size = 1 << 20 }, &err) == 0);
	b = block_open(path, NULL, &err);
	CHECK(b && block_async_fd(b, 65536, &v, 1, false) < 0);
	block_close(b);
	unlink(path);
	TEST_END();
}

int main(void)
{
	test_aio();
	test_async_fd();
	return 0;
}
