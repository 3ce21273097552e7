/* vireo: the command line -> struct vm_config -> vm_create -> vm_run.
 * The only place that exits. Exit status: 0 guest power-off; 1 runtime
 * failure; 2 usage error; (N << 1) | 1 isa-debug-exit; 4 reset under
 * --no-reboot; 128 + signo when a signal stopped the VM. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accel/accel.h"
#include "chardev/chardev.h"
#include "core/log.h"
#include "core/options.h"
#include "gdbstub/gdbstub.h"
#include "hw/acpi/acpi.h"
#include "hw/x86/layout.h"
#include "vm/vm.h"

#define EXIT_USAGE 2
#define MAIN_DONE (-1)
/* xAPIC IDs are 8 bits, 0xff is broadcast and the IOAPIC takes one. */
#define MAIN_MAX_CPUS ACPI_MAX_CPUS
#define MAIN_MIN_MEMORY (2 * MiB)

static const char usage_text[] =
	"Usage: vireo [OPTIONS] (--kernel PATH | --firmware PATH)\n"
	"\n"
	"Boot:\n"
	"  --kernel PATH       Linux bzImage (boot protocol 2.06+) or multiboot ELF kernel\n"
	"  --initrd PATH       initial ramdisk for --kernel\n"
	"  --cmdline STRING    kernel command line (console=ttyS0 is added if no console=)\n"
	"  --firmware PATH     flat firmware image ending at 4 GiB, started at the reset vector\n"
	"Machine:\n"
	"  --accel kvm|emu|auto  CPU backend (default auto: KVM with hardware\n"
	"                      virtualization, else the emulated CPU)\n"
	"  --cpus N            number of vCPUs (default 1)\n"
	"  -m, --memory SIZE   guest RAM; suffix K, M, G or T, bare numbers are MiB\n"
	"                      (default 512M)\n"
	"  --serial stdio|file:PATH|none  where the guest console goes (default stdio)\n"
	"  --console serial|virtio  the console device: COM1 (ttyS0, default) or\n"
	"                      virtio-console (hvc0; COM1 is then left unconnected)\n"
	"  --no-reboot         exit instead of rebooting when the guest resets\n"
	"Devices:\n"
	"  --disk PATH[,readonly=on][,cache=none|writeback|unsafe][,serial=STR]\n"
	"         [,format=raw|qcow2][,queues=N][,aio=io_uring|threads]\n"
	"                      a virtio-blk disk (repeatable: vda, vdb, ...; ',,' is a\n"
	"                      literal comma in PATH; default one queue per vCPU; raw\n"
	"                      images use io_uring when the host has it)\n"
	"  --rng               a virtio-rng device (host getrandom)\n"
	"Debugging:\n"
	"  --gdb tcp:HOST:PORT  GDB remote stub on a loopback address (tcp::PORT means\n"
	"                      127.0.0.1; port 0 picks a free one, logged); attaching\n"
	"                      gdb stops the guest\n"
	"  --gdb-wait          with --gdb: vCPUs start paused until gdb continues\n"
	"Other:\n"
	"  -h, --help          show this help\n"
	"  --version           show the version\n"
	"\n"
	"Exit status: 0 after guest power-off; (N << 1) | 1 when the guest writes N\n"
	"to the isa-debug-exit port 0xf4; 4 when the guest resets under --no-reboot;\n"
	"1 for runtime failures (including a guest crash, whose registers are printed);\n"
	"2 for usage errors; 128 + N when signal N (SIGINT, SIGTERM, SIGHUP, SIGQUIT)\n"
	"stopped the VM.\n";

enum {
	OPT_ACCEL = 256,
	OPT_KERNEL,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_FIRMWARE,
	OPT_CPUS,
	OPT_SERIAL,
	OPT_NO_REBOOT,
	OPT_VERSION,
	OPT_CONSOLE,
	OPT_DISK,
	OPT_RNG,
	OPT_GDB,
	OPT_GDB_WAIT,
};

static const struct option main_options[] = {
	{ "accel", required_argument, NULL, OPT_ACCEL },
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "firmware", required_argument, NULL, OPT_FIRMWARE },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "memory", required_argument, NULL, 'm' },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "no-reboot", no_argument, NULL, OPT_NO_REBOOT },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "rng", no_argument, NULL, OPT_RNG },
	{ "gdb", required_argument, NULL, OPT_GDB },
	{ "gdb-wait", no_argument, NULL, OPT_GDB_WAIT },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	char line[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_error("%s (see vireo --help)", line);
	return EXIT_USAGE;
}

/* Returns 0 to go on, MAIN_DONE after --help / --version, or EXIT_USAGE. */
static int main_parse(int argc, char **argv, struct vm_config *cfg)
{
	struct err err = { { 0 } };
	uint64_t v;
	int c;

	*cfg = (struct vm_config){ .accel = ACCEL_AUTO, .cpus = 1, .mem_size = 512 * MiB,
				   .serial = SERIAL_STDIO };
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":hm:", main_options, NULL)) != -1) {
		switch (c) {
		case OPT_ACCEL:
			if (!strcmp(optarg, "kvm"))
				cfg->accel = ACCEL_KVM;
			else if (!strcmp(optarg, "emu"))
				cfg->accel = ACCEL_EMU;
			else if (!strcmp(optarg, "auto"))
				cfg->accel = ACCEL_AUTO;
			else
				return usage_error("--accel '%s': expected kvm, emu or auto",
						   optarg);
			break;
		case OPT_KERNEL:
			cfg->kernel = optarg;
			break;
		case OPT_INITRD:
			cfg->initrd = optarg;
			break;
		case OPT_CMDLINE:
			cfg->cmdline = optarg;
			break;
		case OPT_FIRMWARE:
			cfg->firmware = optarg;
			break;
		case OPT_CPUS:
			if (opt_parse_uint(optarg, 1, MAIN_MAX_CPUS, &v, &err))
				return usage_error("--cpus: %s", err.msg);
			cfg->cpus = (unsigned)v;
			break;
		case 'm':
			if (opt_parse_size(optarg, MiB, &v, &err))
				return usage_error("--memory: %s", err.msg);
			if (v < MAIN_MIN_MEMORY)
				return usage_error("--memory '%s': at least 2 MiB is needed",
						   optarg);
			if (v & (4 * KiB - 1))
				return usage_error("--memory '%s': not a multiple of 4 KiB",
						   optarg);
			cfg->mem_size = v;
			break;
		case OPT_SERIAL:
			if (!strcmp(optarg, "stdio")) {
				cfg->serial = SERIAL_STDIO;
			} else if (!strcmp(optarg, "none")) {
				cfg->serial = SERIAL_NONE;
			} else if (!strncmp(optarg, "file:", 5) && optarg[5]) {
				cfg->serial = SERIAL_FILE;
				cfg->serial_path = optarg + 5;
			} else {
				return usage_error(
					"--serial '%s': expected stdio, file:PATH or none", optarg);
			}
			break;
		case OPT_NO_REBOOT:
			cfg->no_reboot = true;
			break;
		case OPT_CONSOLE:
			if (!strcmp(optarg, "serial"))
				cfg->console = CONSOLE_SERIAL;
			else if (!strcmp(optarg, "virtio"))
				cfg->console = CONSOLE_VIRTIO;
			else
				return usage_error("--console '%s': expected serial or virtio", optarg);
			break;
		case OPT_DISK:
			if (cfg->ndisks == VM_MAX_DISKS)
				return usage_error("--disk: at most %d disks", VM_MAX_DISKS);
			if (virtio_blk_parse(optarg, &cfg->disks[cfg->ndisks], &err) < 0)
				return usage_error("%s", err.msg);
			cfg->ndisks++;
			break;
		case OPT_RNG:
			cfg->rng = true;
			break;
		case OPT_GDB:
			if (gdbstub_parse_addr(optarg, &cfg->gdb.addr, &cfg->gdb.port, &err))
				return usage_error("--gdb %s", err.msg);
			cfg->gdb.enabled = true;
			break;
		case OPT_GDB_WAIT:
			cfg->gdb.wait = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return MAIN_DONE;
		case OPT_VERSION:
			printf("vireo %s\n", VIREO_VERSION);
			return MAIN_DONE;
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt && optopt < 256)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!cfg->kernel && !cfg->firmware)
		return usage_error("nothing to boot: give --kernel or --firmware");
	if (cfg->kernel && cfg->firmware)
		return usage_error("--kernel and --firmware cannot be used together");
	if (cfg->gdb.wait && !cfg->gdb.enabled)
		return usage_error("--gdb-wait needs --gdb");
	if (!cfg->kernel && (cfg->initrd || cfg->cmdline))
		return usage_error("%s needs --kernel", cfg->initrd ? "--initrd" : "--cmdline");
	return 0;
}

/* Checks a file the loaders will read, so that a typo fails before anything
 * is built, with the option's name in the message. */
static int main_check_file(const char *opt, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		log_error("%s '%s': %s", opt, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode)) {
		log_error("%s '%s': %s", opt, path, S_ISDIR(st.st_mode) ? "is a directory"
									 : strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static const int main_fatal_sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
static struct sigaction main_fatal_old[sizeof(main_fatal_sigs) / sizeof(main_fatal_sigs[0])];

/* A crash must not leave the user's terminal in raw mode: restore it, then
 * hand the signal to whoever handled it before (the default action, or a
 * sanitizer's reporter). The signal is blocked while this runs, so the
 * raise() is delivered on return, to the old handler. */
static void main_fatal_handler(int sig)
{
	chardev_restore_terminal();
	for (size_t i = 0; i < sizeof(main_fatal_sigs) / sizeof(main_fatal_sigs[0]); i++)
		if (main_fatal_sigs[i] == sig)
			sigaction(sig, &main_fatal_old[i], NULL);
	raise(sig);
}

/* SIGINT, SIGTERM, SIGHUP and SIGQUIT are blocked in every thread (threads
 * inherit the mask) and taken by vm_run through a signalfd, so a signal ends
 * the VM through the same clean path as a guest power-off. */
static void main_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* A closed stdout must become EPIPE for the serial backend, not death. */
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof(main_fatal_sigs) / sizeof(main_fatal_sigs[0]); i++) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = main_fatal_handler;
		sigemptyset(&sa.sa_mask);
		sigaction(main_fatal_sigs[i], &sa, &main_fatal_old[i]);
	}
}

static void main_config_fini(struct vm_config *cfg)
{
	for (unsigned i = 0; i < cfg->ndisks; i++)
		virtio_blk_opts_fini(&cfg->disks[i]);
	cfg->ndisks = 0;
}

static int main_run(struct vm_config *cfg)
{
	struct err err = { { 0 } };
	const struct accel_ops *accel;
	const char *why;
	struct vm *vm;
	unsigned max;
	int status;

	if ((cfg->kernel && main_check_file("--kernel", cfg->kernel)) ||
	    (cfg->initrd && main_check_file("--initrd", cfg->initrd)) ||
	    (cfg->firmware && main_check_file("--firmware", cfg->firmware)))
		return EXIT_FAILURE;
	for (unsigned i = 0; i < cfg->ndisks; i++)
		if (main_check_file("--disk", cfg->disks[i].path))
			return EXIT_FAILURE;

	accel = accel_select(cfg->accel, &why, &err);
	if (!accel) {
		log_error("%s", err.msg);
		return EXIT_FAILURE;
	}
	if (cfg->accel == ACCEL_AUTO)
		log_info("using %s (%s)", accel->name, why);
	max = accel->max_vcpus(NULL);
	if (max && cfg->cpus > max)
		return usage_error("--cpus %u: %s supports at most %u vCPUs on this host", cfg->cpus,
				   accel->name, max);

	main_signals();
	vm = vm_create(cfg, accel, &err);
	if (!vm) {
		log_error("%s", err.msg);
		return EXIT_FAILURE;
	}
	status = vm_run(vm);
	vm_destroy(vm);
	return status;
}

int main(int argc, char **argv)
{
	struct vm_config cfg;
	int status;

	status = main_parse(argc, argv, &cfg);
	if (status == 0)
		status = main_run(&cfg);
	else if (status == MAIN_DONE)
		status = EXIT_SUCCESS;
	main_config_fini(&cfg);
	return status;
}
