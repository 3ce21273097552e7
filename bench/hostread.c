/* bench/hostread: the host's own sequential O_DIRECT read rate of a file,
 * into buffers on transparent huge pages, as guest RAM is in both VMMs
 * bench/blk compares. fio's buffers are 4 KiB pages, which the host's disk
 * sees as one segment each; guest RAM gives it a few large ones, and this
 * host's disk is much faster with those, so fio understates what a guest
 * can reach.
 *
 * Usage: hostread FILE BLOCK_KIB QUEUE_DEPTH SECONDS
 * Prints "IOPS MiB/s". io_uring, one request per block in flight. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HUGE (2UL << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct io_uring ring;
	struct stat st;
	unsigned long bs, qd, done = 0;
	uint64_t next = 0, size;
	double secs, t0, end;
	uint8_t *buf;
	int fd, r;

	if (argc != 5) {
		fprintf(stderr, "usage: hostread FILE BLOCK_KIB QUEUE_DEPTH SECONDS\n");
		return 2;
	}
	bs = strtoul(argv[2], NULL, 10) << 10;
	qd = strtoul(argv[3], NULL, 10);
	secs = strtod(argv[4], NULL);
	fd = open(argv[1], O_RDONLY | O_DIRECT);
	if (fd < 0 || fstat(fd, &st) < 0 || bs == 0 || qd == 0 || qd > 256 ||
	    (uint64_t)st.st_size < bs) {
		fprintf(stderr, "hostread: %s: %s\n", argv[1], fd < 0 ? strerror(errno) : "bad arguments");
		return 1;
	}
	size = (uint64_t)st.st_size / bs * bs;
	buf = mmap(NULL, qd * bs + HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return 1;
	buf = (uint8_t *)(((uintptr_t)buf + HUGE - 1) & ~(HUGE - 1));
	madvise(buf, qd * bs, MADV_HUGEPAGE);
	memset(buf, 1, qd * bs);
	r = io_uring_queue_init((unsigned)qd, &ring, 0);
	if (r < 0) {
		fprintf(stderr, "hostread: io_uring: %s\n", strerror(-r));
		return 1;
	}
	for (unsigned long k = 0; k < qd; k++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		io_uring_prep_read(sqe, fd, buf + k * bs, (unsigned)bs, next);
		io_uring_sqe_set_data(sqe, buf + k * bs);
		next = (next + bs) % size;
	}
	io_uring_submit(&ring);
	t0 = now();
	end = t0 + secs;
	for (;;) {
		struct io_uring_cqe *cqe;
		struct io_uring_sqe *sqe;
		void *b;

		if (io_uring_wait_cqe(&ring, &cqe) < 0)
			return 1;
		if (cqe->res != (int)bs) {
			fprintf(stderr, "hostread: read: %s\n",
				cqe->res < 0 ? strerror(-cqe->res) : "short");
			return 1;
		}
		b = io_uring_cqe_get_data(cqe);
		io_uring_cqe_seen(&ring, cqe);
		done++;
		if (now() >= end)
			break;
		sqe = io_uring_get_sqe(&ring);
		io_uring_prep_read(sqe, fd, b, (unsigned)bs, next);
		io_uring_sqe_set_data(sqe, b);
		next = (next + bs) % size;
		io_uring_submit(&ring);
	}
	t0 = now() - t0;
	printf("%.0f %.0f\n", done / t0, done * (double)bs / t0 / (1 << 20));
	io_uring_queue_exit(&ring);
	close(fd);
	return 0;
}
