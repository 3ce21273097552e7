/* bench/spawn: runs one command and prints "<ns> <exit status> <peak RSS KiB>":
 * wall time from just before fork to wait4, and the child's ru_maxrss.
 * Built static and tiny on purpose: ru_maxrss includes the memory the child
 * had before exec (the parent's, copied by fork), so a Python or shell parent
 * would inflate every VMM's number. Kills the child after TIMEOUT seconds.
 * Usage: spawn TIMEOUT COMMAND [ARGS...] */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t spawn_child;

static void spawn_alarm(int sig)
{
	(void)sig;
	kill(spawn_child, SIGKILL);
}

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	struct rusage ru;
	int status, fd;

	if (argc < 3) {
		fprintf(stderr, "usage: spawn TIMEOUT COMMAND [ARGS...]\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	spawn_child = fork();
	if (spawn_child < 0) {
		perror("fork");
		return 1;
	}
	if (spawn_child == 0) {
		fd = open("/dev/null", O_RDWR);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[2], argv + 2);
		_exit(127);
	}
	signal(SIGALRM, spawn_alarm);
	alarm((unsigned)atoi(argv[1]));
	if (wait4(spawn_child, &status, 0, &ru) < 0) {
		perror("wait4");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%lld %d %ld\n",
	       (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec),
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1, ru.ru_maxrss);
	return 0;
}
