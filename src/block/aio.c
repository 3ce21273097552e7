#include "block/aio.h"

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct aio_ctx {
	struct io_uring ring;
	struct event_loop *loop;
	int efd; /* the ring signals it for each completion */
	aio_batch_fn *batch_done;
	void *opaque;
	unsigned limit;          /* requests queued or in flight, at most */
	atomic_uint outstanding; /* queued or in flight */
	unsigned queued;         /* prepared, not yet submitted (sq_lock) */
	pthread_mutex_t sq_lock; /* the submission queue */
	pthread_mutex_t cq_lock; /* the completion queue */
};

/* Runs the completions waiting in the ring. With cq_lock held. */
static unsigned aio_reap_locked(struct aio_ctx *a)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&a->ring, head, cqe) {
		struct aio_req *r = io_uring_cqe_get_data(cqe);

		n++;
		r->done(r, cqe->res);
	}
	io_uring_cq_advance(&a->ring, n);
	atomic_fetch_sub(&a->outstanding, n);
	return n;
}

static void aio_event(void *opaque, uint32_t events)
{
	struct aio_ctx *a = opaque;
	uint64_t v;
	unsigned n;

	(void)events;
	if (read(a->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&a->cq_lock);
	n = aio_reap_locked(a);
	pthread_mutex_unlock(&a->cq_lock);
	if (n)
		a->batch_done(a->opaque);
}

struct aio_ctx *aio_create(struct event_loop *loop, unsigned entries, aio_batch_fn *batch_done,
			   void *opaque, struct err *err)
{
	struct aio_ctx *a = calloc(1, sizeof(*a));
	int r;

	if (!a) {
		err_errno(err, ENOMEM, "io_uring");
		return NULL;
	}
	a->loop = loop;
	a->batch_done = batch_done;
	a->opaque = opaque;
	a->efd = -1;
	/* The completion queue is twice the submission queue: with no more than
	 * entries outstanding it never overflows. */
	r = io_uring_queue_init(entries, &a->ring, 0);
	if (r < 0) {
		err_errno(err, -r, "io_uring");
		free(a);
		return NULL;
	}
	a->limit = a->ring.cq.ring_entries < 2 * entries ? a->ring.cq.ring_entries : 2 * entries;
	pthread_mutex_init(&a->sq_lock, NULL);
	pthread_mutex_init(&a->cq_lock, NULL);
	a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->efd < 0) {
		err_errno(err, errno, "io_uring: eventfd");
		goto fail;
	}
	r = io_uring_register_eventfd(&a->ring, a->efd);
	if (r < 0) {
		err_errno(err, -r, "io_uring: registering its eventfd");
		goto fail;
	}
	if (event_loop_add_fd(loop, a->efd, EPOLLIN, aio_event, a, err) < 0)
		goto fail;
	return a;
fail:
	if (a->efd >= 0)
		close(a->efd);
	io_uring_queue_exit(&a->ring);
	pthread_mutex_destroy(&a->sq_lock);
	pthread_mutex_destroy(&a->cq_lock);
	free(a);
	return NULL;
}

void aio_destroy(struct aio_ctx *a)
{
	if (!a)
		return;
	aio_drain(a);
	event_loop_del_fd(a->loop, a->efd);
	close(a->efd);
	io_uring_queue_exit(&a->ring);
	pthread_mutex_destroy(&a->sq_lock);
	pthread_mutex_destroy(&a->cq_lock);
	free(a);
}

static int aio_queue(struct aio_ctx *a, int fd, uint64_t off, const struct iovec *iov,
		     int iovcnt, struct aio_req *r, bool write)
{
	struct io_uring_sqe *sqe;

	pthread_mutex_lock(&a->sq_lock);
	if (atomic_load(&a->outstanding) >= a->limit) {
		pthread_mutex_unlock(&a->sq_lock);
		return -EBUSY;
	}
	sqe = io_uring_get_sqe(&a->ring);
	if (!sqe) { /* the submission queue is full of queued requests */
		io_uring_submit(&a->ring);
		a->queued = 0;
		sqe = io_uring_get_sqe(&a->ring);
	}
	if (!sqe) {
		pthread_mutex_unlock(&a->sq_lock);
		return -EBUSY;
	}
	if (write)
		io_uring_prep_writev(sqe, fd, iov, (unsigned)iovcnt, off);
	else
		io_uring_prep_readv(sqe, fd, iov, (unsigned)iovcnt, off);
	io_uring_sqe_set_data(sqe, r);
	atomic_fetch_add(&a->outstanding, 1);
	a->queued++;
	pthread_mutex_unlock(&a->sq_lock);
	return 0;
}

int aio_readv(struct aio_ctx *a, int fd, uint64_t off, const struct iovec *iov, int iovcnt,
	      struct aio_req *r)
{
	return aio_queue(a, fd, off, iov, iovcnt, r, false);
}

int aio_writev(struct aio_ctx *a, int fd, uint64_t off, const struct iovec *iov, int iovcnt,
	       struct aio_req *r)
{
	return aio_queue(a, fd, off, iov, iovcnt, r, true);
}

void aio_submit(struct aio_ctx *a)
{
	pthread_mutex_lock(&a->sq_lock);
	/* io_uring_submit only fails for a broken ring (EBADR and the like);
	 * the requests then stay queued and the next submit retries them. */
	while (a->queued) {
		int n = io_uring_submit(&a->ring);

		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n <= 0)
			break;
		a->queued = (unsigned)n >= a->queued ? 0 : a->queued - (unsigned)n;
	}
	pthread_mutex_unlock(&a->sq_lock);
}

void aio_drain(struct aio_ctx *a)
{
	while (atomic_load(&a->outstanding)) {
		struct io_uring_cqe *cqe;
		unsigned n;

		aio_submit(a);
		pthread_mutex_lock(&a->cq_lock);
		n = aio_reap_locked(a);
		if (!n && atomic_load(&a->outstanding) && io_uring_wait_cqe(&a->ring, &cqe) == 0)
			n = aio_reap_locked(a);
		pthread_mutex_unlock(&a->cq_lock);
		if (n)
			a->batch_done(a->opaque);
	}
}
