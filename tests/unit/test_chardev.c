/* Chardev backends: file output, none, stalled output that must not block
 * forever, input from an unpollable regular file, and stdio raw mode on a
 * pseudo-terminal restored by destroy and by a repeated restore. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "chardev/chardev.h"
#include "core/event.h"
#include "testlib.h"

static char tmpdir[] = "/tmp/vireo-chardev.XXXXXX";

struct sink {
	uint8_t buf[4096];
	_Atomic size_t n;
};

static void sink_rx(void *opaque, const uint8_t *buf, size_t len)
{
	struct sink *s = opaque;
	size_t n = s->n;

	if (len > sizeof(s->buf) - n)
		len = sizeof(s->buf) - n;
	memcpy(s->buf + n, buf, len);
	s->n = n + len;
}

static size_t sink_room(void *opaque)
{
	struct sink *s = opaque;

	return 7; /* small bites: exercises repeated reads */
	(void)s;
}

static void test_file(void)
{
	struct err err = { { 0 } };
	char path[256], buf[64] = { 0 };
	struct chardev *cd;
	int fd;

	TEST_BEGIN("chardev_file_output_appends");
	snprintf(path, sizeof(path), "%s/serial.log", tmpdir);
	cd = chardev_create(SERIAL_FILE, path, &err);
	CHECK(cd != NULL);
	CHECK_EQ(chardev_write(cd, "hello ", 6), 6);
	chardev_destroy(cd);
	cd = chardev_create(SERIAL_FILE, path, &err);
	CHECK(cd != NULL);
	CHECK_EQ(chardev_write(cd, "world", 5), 5);
	/* a file backend has no input: attach is a no-op */
	CHECK(chardev_attach(cd, NULL, sink_rx, NULL, NULL, &err) == 0);
	chardev_destroy(cd);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(read(fd, buf, sizeof(buf)), 11);
	CHECK(strcmp(buf, "hello world") == 0);
	close(fd);
	CHECK(chardev_create(SERIAL_FILE, "/nonexistent-dir/x", &err) == NULL);
	CHECK(strstr(err.msg, "/nonexistent-dir/x") != NULL);
	TEST_END();

	TEST_BEGIN("chardev_none_drops");
	cd = chardev_create(SERIAL_NONE, NULL, &err);
	CHECK(cd != NULL);
	CHECK_EQ(chardev_write(cd, "x", 1), 1);
	chardev_destroy(cd);
	chardev_destroy(NULL);
	TEST_END();
}

static void test_stall(void)
{
	struct err err = { { 0 } };
	struct chardev *cd;
	struct timespec t0, t1;
	char big[4096];
	int fd[2];
	long ms;

	TEST_BEGIN("chardev_stalled_output_does_not_block");
	CHECK(pipe(fd) == 0);
	fcntl(fd[1], F_SETPIPE_SZ, 4096);
	memset(big, 'x', sizeof(big));
	cd = chardev_create_fd(-1, fd[1], &err);
	chardev_set_stall_ms(cd, 100);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* nobody reads: the pipe fills, then output is dropped after 100 ms */
	for (int i = 0; i < 64; i++)
		CHECK_EQ(chardev_write(cd, big, sizeof(big)), sizeof(big));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CHECK(ms < 2000);
	CHECK(chardev_dropped(cd) > 0);
	/* once the reader drains, output flows again */
	{
		char sink[65536];
		uint64_t before;

		while (read(fd[0], sink, sizeof(sink)) == sizeof(sink))
			;
		before = chardev_dropped(cd);
		CHECK_EQ(chardev_write(cd, "ok", 2), 2);
		CHECK_EQ(chardev_dropped(cd), before);
	}
	chardev_destroy(cd);
	close(fd[0]);
	close(fd[1]);
	TEST_END();
}

static void test_file_input(void)
{
	struct err err = { { 0 } };
	struct event_loop *loop = event_loop_create(&err);
	static struct sink s;
	char path[256];
	struct chardev *cd;
	int fd;

	TEST_BEGIN("chardev_regular_file_input_until_eof");
	snprintf(path, sizeof(path), "%s/input", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "the quick brown fox", 19), 19);
	lseek(fd, 0, SEEK_SET);
	cd = chardev_create_fd(fd, -1, &err); /* epoll refuses regular files */
	CHECK(chardev_attach(cd, loop, sink_rx, sink_room, &s, &err) == 0);
	CHECK(event_loop_start(loop, &err) == 0);
	for (int i = 0; i < 2000 && s.n < 19; i++)
		usleep(1000);
	CHECK_EQ(s.n, 19);
	CHECK(memcmp(s.buf, "the quick brown fox", 19) == 0);
	chardev_destroy(cd);
	event_loop_destroy(loop);
	close(fd);
	TEST_END();
}

static void test_tty(void)
{
	struct err err = { { 0 } };
	struct termios before, during, after;
	struct chardev *cd, *cd2;
	int master, slave, saved_stdin;

	TEST_BEGIN("chardev_stdio_raw_mode_restored");
	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
		printf("skip chardev_stdio_raw_mode_restored: no pseudo-terminal\n");
		return;
	}
	slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	CHECK(slave >= 0);
	saved_stdin = dup(STDIN_FILENO);
	dup2(slave, STDIN_FILENO);
	tcgetattr(STDIN_FILENO, &before);
	cd = chardev_create(SERIAL_STDIO, NULL, &err);
	CHECK(cd != NULL);
	tcgetattr(STDIN_FILENO, &during);
	CHECK(!(during.c_lflag & ECHO));
	CHECK(!(during.c_lflag & ICANON));
	CHECK(during.c_lflag & ISIG); /* Ctrl-C still ends Vireo */
	CHECK(!(during.c_iflag & ICRNL));
	/* only one stdio backend */
	cd2 = chardev_create(SERIAL_STDIO, NULL, &err);
	CHECK(cd2 == NULL);
	/* the signal-handler path, twice, then destroy: all restore */
	chardev_restore_terminal();
	chardev_restore_terminal();
	tcgetattr(STDIN_FILENO, &after);
	CHECK(after.c_lflag == before.c_lflag && after.c_iflag == before.c_iflag);
	chardev_destroy(cd);
	tcgetattr(STDIN_FILENO, &after);
	CHECK(after.c_lflag == before.c_lflag && after.c_iflag == before.c_iflag);
	chardev_restore_terminal(); /* after destroy: harmless no-op */
	/* a new stdio backend may be created again */
	cd = chardev_create(SERIAL_STDIO, NULL, &err);
	CHECK(cd != NULL);
	chardev_destroy(cd);
	tcgetattr(STDIN_FILENO, &after);
	CHECK(after.c_lflag == before.c_lflag);
	dup2(saved_stdin, STDIN_FILENO);
	close(saved_stdin);
	close(slave);
	close(master);
	TEST_END();
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		printf("not ok chardev_setup: mkdtemp\n");
		return 1;
	}
	test_file();
	test_stall();
	test_file_input();
	test_tty();
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
		if (system(cmd) != 0)
			printf("# could not remove %s\n", tmpdir);
	}
	return 0;
}
