/* Asynchronous host I/O on io_uring (liburing): vectored reads and writes on
 * a file descriptor, submitted in batches and completed on an event loop.
 *
 * One context serves one device. Requests are queued with aio_readv /
 * aio_writev and reach the kernel at aio_submit (one system call per batch).
 * The ring's eventfd sits in the event loop: the loop's callback runs each
 * finished request's done() and then, once per batch, the context's
 * batch_done(), where a device raises one interrupt for many completions.
 *
 * Threading: queueing and submitting may happen on any thread (a lock
 * serializes them); done() and batch_done() run on the loop thread, or on the
 * thread calling aio_drain (never both at once). */
#ifndef VIREO_BLOCK_AIO_H
#define VIREO_BLOCK_AIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/err.h"
#include "core/event.h"

struct aio_ctx;

struct aio_req {
	/* res: bytes transferred (possibly short) or -errno. */
	void (*done)(struct aio_req *r, int res);
};

typedef void aio_batch_fn(void *opaque);

/* entries: how many requests may be in flight at once (more wait in
 * aio_readv/aio_writev's -EBUSY, which the caller handles synchronously).
 * NULL with err set if io_uring is unavailable here (old kernel, seccomp). */
struct aio_ctx *aio_create(struct event_loop *loop, unsigned entries, aio_batch_fn *batch_done,
			   void *opaque, struct err *err);
/* Completes everything in flight, then frees the context. */
void aio_destroy(struct aio_ctx *a);

/* Queue a request; 0, or -EBUSY when the context is full (nothing queued). */
int aio_readv(struct aio_ctx *a, int fd, uint64_t off, const struct iovec *iov, int iovcnt,
	      struct aio_req *r);
int aio_writev(struct aio_ctx *a, int fd, uint64_t off, const struct iovec *iov, int iovcnt,
	       struct aio_req *r);
/* Hands the queued requests to the kernel. */
void aio_submit(struct aio_ctx *a);
/* Waits for every submitted request and runs its completion on this thread. */
void aio_drain(struct aio_ctx *a);

#endif
