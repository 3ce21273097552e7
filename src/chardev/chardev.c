#include "chardev/chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "core/event.h"
#include "core/log.h"

struct chardev {
	enum serial_kind kind;
	int in_fd, out_fd;   /* -1 if absent */
	bool out_is_file;    /* regular file: writes never block, no poll needed */
	bool close_out;
	pthread_mutex_t out_lock;
	bool out_stalled;    /* dropping until the output drains again */
	int stall_ms;
	atomic_uint_fast64_t dropped;

	/* Input. */
	struct event_loop *loop;
	int poll_fd;         /* what the loop watches: in_fd, or kick_fd if in_fd cannot be polled */
	int kick_fd;         /* an always-readable eventfd standing in for a regular file */
	chardev_rx_cb *rx;
	chardev_rx_room_cb *rx_room;
	void *rx_opaque;
	pthread_mutex_t rx_lock; /* makes (rx_paused, epoll events) change together */
	atomic_bool rx_paused, rx_eof;
};

/* The terminal as found; one stdio chardev at a time owns it. */
static struct termios chardev_saved_tio;
static volatile sig_atomic_t chardev_tio_saved;
static atomic_bool chardev_stdio_taken;

void chardev_restore_terminal(void)
{
	/* tcsetattr is async-signal-safe (POSIX.1 2008, signal-safety(7)). */
	if (chardev_tio_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &chardev_saved_tio);
}

static void chardev_restore_at_exit(void)
{
	chardev_restore_terminal();
}

static int chardev_stdin_raw(struct err *err)
{
	static bool atexit_done;
	struct termios t;

	if (!isatty(STDIN_FILENO))
		return 0;
	if (tcgetattr(STDIN_FILENO, &chardev_saved_tio) < 0)
		return err_errno(err, errno, "serial stdio: reading terminal settings");
	atomic_signal_fence(memory_order_seq_cst);
	chardev_tio_saved = 1;
	if (!atexit_done) {
		atexit(chardev_restore_at_exit);
		atexit_done = true;
	}
	t = chardev_saved_tio;
	/* Raw input, but ISIG kept so Ctrl-C still stops Vireo (see chardev.h). */
	t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | IEXTEN);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) < 0) {
		int e = errno;

		chardev_tio_saved = 0;
		return err_errno(err, e, "serial stdio: setting raw mode");
	}
	return 0;
}

/* stdin is our controlling terminal and another process group is in the
 * foreground (tcgetpgrp fails for a terminal that is not ours: no job
 * control applies then). */
static bool chardev_stdin_in_background(void)
{
	pid_t fg;

	if (!isatty(STDIN_FILENO))
		return false;
	fg = tcgetpgrp(STDIN_FILENO);
	return fg >= 0 && fg != getpgrp();
}

struct chardev *chardev_create(enum serial_kind kind, const char *path, struct err *err)
{
	struct chardev *cd = calloc(1, sizeof(*cd));
	struct stat st;

	if (!cd) {
		err_errno(err, ENOMEM, "serial");
		return NULL;
	}
	cd->kind = kind;
	cd->in_fd = cd->out_fd = cd->poll_fd = cd->kick_fd = -1;
	cd->stall_ms = CHARDEV_STALL_MS;
	pthread_mutex_init(&cd->out_lock, NULL);
	pthread_mutex_init(&cd->rx_lock, NULL);
	switch (kind) {
	case SERIAL_STDIO:
		if (atomic_exchange(&chardev_stdio_taken, true)) {
			err_set(err, "serial stdio: stdio is already in use");
			goto fail;
		}
		cd->in_fd = STDIN_FILENO;
		cd->out_fd = STDOUT_FILENO;
		/* A background job touching its terminal would be stopped by
		 * SIGTTOU/SIGTTIN: then leave the terminal alone and take no input. */
		if (chardev_stdin_in_background()) {
			log_info("serial: stdin is a terminal owned by another job; no input");
			cd->in_fd = -1;
		} else if (chardev_stdin_raw(err) < 0) {
			atomic_store(&chardev_stdio_taken, false);
			goto fail;
		}
		break;
	case SERIAL_FILE:
		if (!path || !*path) {
			err_set(err, "serial file: no path given");
			goto fail;
		}
		cd->out_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (cd->out_fd < 0) {
			err_errno(err, errno, "serial file '%s'", path);
			goto fail;
		}
		cd->close_out = true;
		break;
	case SERIAL_NONE:
		break;
	default:
		err_set(err, "serial: unknown backend %d", (int)kind);
		goto fail;
	}
	if (cd->out_fd >= 0 && fstat(cd->out_fd, &st) == 0 && S_ISREG(st.st_mode))
		cd->out_is_file = true;
	return cd;
fail:
	pthread_mutex_destroy(&cd->out_lock);
	pthread_mutex_destroy(&cd->rx_lock);
	free(cd);
	return NULL;
}

struct chardev *chardev_create_fd(int in_fd, int out_fd, struct err *err)
{
	struct chardev *cd = chardev_create(SERIAL_NONE, NULL, err);
	struct stat st;

	if (!cd)
		return NULL;
	cd->in_fd = in_fd;
	cd->out_fd = out_fd;
	if (out_fd >= 0 && fstat(out_fd, &st) == 0 && S_ISREG(st.st_mode))
		cd->out_is_file = true;
	return cd;
}

void chardev_destroy(struct chardev *cd)
{
	if (!cd)
		return;
	chardev_detach(cd);
	if (cd->close_out)
		close(cd->out_fd);
	if (cd->kind == SERIAL_STDIO) {
		chardev_restore_terminal();
		chardev_tio_saved = 0;
		atomic_store(&chardev_stdio_taken, false);
	}
	pthread_mutex_destroy(&cd->out_lock);
	pthread_mutex_destroy(&cd->rx_lock);
	free(cd);
}

/* Waits until out_fd takes data; false after timeout_ms without progress. */
static bool chardev_wait_writable(struct chardev *cd, int timeout_ms)
{
	struct pollfd p = { .fd = cd->out_fd, .events = POLLOUT };
	int r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r > 0;
}

ssize_t chardev_write(struct chardev *cd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t left = len;

	if (!cd || cd->out_fd < 0)
		return (ssize_t)len;
	pthread_mutex_lock(&cd->out_lock);
	while (left) {
		/* Pipes and terminals: wait for room first so write() itself never
		 * blocks for long (a pipe reporting POLLOUT has a free page, and
		 * chunks stay under PIPE_BUF). Once stalled, only take what goes
		 * out at once. */
		size_t chunk = left < 512 ? left : 512;
		ssize_t n;

		if (!cd->out_is_file &&
		    !chardev_wait_writable(cd, cd->out_stalled ? 0 : cd->stall_ms)) {
			if (!cd->out_stalled)
				log_warn("serial: output stalled for %d ms, dropping guest output",
					 cd->stall_ms);
			cd->out_stalled = true;
			break;
		}
		n = write(cd->out_fd, p, chunk);
		if (n > 0) {
			p += n, left -= (size_t)n;
			cd->out_stalled = false;
			continue;
		}
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue; /* EAGAIN (someone made it non-blocking): poll again */
		if (!cd->out_stalled)
			log_warn("serial: output failed (%s), dropping guest output",
				 n < 0 ? strerror(errno) : "no progress");
		cd->out_stalled = true;
		break;
	}
	pthread_mutex_unlock(&cd->out_lock);
	atomic_fetch_add(&cd->dropped, left);
	return (ssize_t)len;
}

void chardev_set_stall_ms(struct chardev *cd, int ms)
{
	pthread_mutex_lock(&cd->out_lock);
	cd->stall_ms = ms;
	pthread_mutex_unlock(&cd->out_lock);
}

uint64_t chardev_dropped(struct chardev *cd)
{
	return cd ? atomic_load(&cd->dropped) : 0;
}

static void chardev_set_paused(struct chardev *cd, bool paused)
{
	pthread_mutex_lock(&cd->rx_lock);
	if (atomic_load(&cd->rx_paused) != paused && !atomic_load(&cd->rx_eof)) {
		atomic_store(&cd->rx_paused, paused);
		event_loop_mod_fd(cd->loop, cd->poll_fd, paused ? 0 : EPOLLIN);
	}
	pthread_mutex_unlock(&cd->rx_lock);
}

void chardev_rx_ready(struct chardev *cd)
{
	if (cd && cd->loop && atomic_load(&cd->rx_paused))
		chardev_set_paused(cd, false);
}

static void chardev_rx_stop(struct chardev *cd)
{
	pthread_mutex_lock(&cd->rx_lock);
	atomic_store(&cd->rx_eof, true);
	pthread_mutex_unlock(&cd->rx_lock);
	event_loop_del_fd(cd->loop, cd->poll_fd);
}

/* On the I/O thread: stdin (or its stand-in eventfd) is readable. */
static void chardev_rx_event(void *opaque, uint32_t events)
{
	struct chardev *cd = opaque;
	uint8_t buf[256];
	size_t room = cd->rx_room ? cd->rx_room(cd->rx_opaque) : sizeof(buf);
	ssize_t n;

	if (room == 0) {
		/* Stop polling until the frontend drains, then re-check: it may
		 * have drained between rx_room and the pause (see chardev_rx_ready). */
		chardev_set_paused(cd, true);
		if (cd->rx_room(cd->rx_opaque) > 0)
			chardev_set_paused(cd, false);
		return;
	}
	if (room > sizeof(buf))
		room = sizeof(buf);
	/* One read per readiness report: stdin stays blocking (it is shared with
	 * the parent shell), and a single read after POLLIN does not block. */
	n = read(cd->in_fd, buf, room);
	if (n > 0) {
		cd->rx(cd->rx_opaque, buf, (size_t)n);
		return;
	}
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n < 0)
		log_warn("serial: reading stdin: %s; input stopped", strerror(errno));
	chardev_rx_stop(cd); /* EOF: stop watching instead of spinning on POLLHUP */
}

int chardev_attach(struct chardev *cd, struct event_loop *loop, chardev_rx_cb *rx,
		   chardev_rx_room_cb *rx_room, void *opaque, struct err *err)
{
	int ret;

	if (cd->loop)
		return err_set(err, "serial: backend already attached");
	if (cd->in_fd < 0 || !loop)
		return 0;
	cd->rx = rx, cd->rx_room = rx_room, cd->rx_opaque = opaque;
	cd->loop = loop;
	atomic_store(&cd->rx_paused, false);
	atomic_store(&cd->rx_eof, false);
	cd->poll_fd = cd->in_fd;
	ret = event_loop_add_fd(loop, cd->in_fd, EPOLLIN, chardev_rx_event, cd, err);
	if (ret == -EPERM) {
		/* A regular file or /dev/null cannot be polled but is always
		 * readable: watch an eventfd that never gets drained instead. */
		cd->kick_fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
		if (cd->kick_fd < 0) {
			ret = err_errno(err, errno, "serial stdio: eventfd");
		} else {
			err_clear(err);
			cd->poll_fd = cd->kick_fd;
			ret = event_loop_add_fd(loop, cd->kick_fd, EPOLLIN, chardev_rx_event, cd,
						err);
		}
	}
	if (ret < 0) {
		if (cd->kick_fd >= 0)
			close(cd->kick_fd);
		cd->kick_fd = -1;
		cd->loop = NULL;
		err_prefix(err, "serial stdio input");
	}
	return ret;
}

void chardev_detach(struct chardev *cd)
{
	if (!cd || !cd->loop)
		return;
	chardev_rx_stop(cd);
	if (cd->kick_fd >= 0)
		close(cd->kick_fd);
	cd->kick_fd = -1;
	cd->loop = NULL;
}
