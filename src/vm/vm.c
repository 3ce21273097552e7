/* The machine's lifecycle: build it from the config (the board in hw/x86/pc.c,
 * then the vCPUs), run the I/O thread and one thread per vCPU, and act on the
 * first request: power-off, exit, error, or reset, which rebuilds everything
 * but the serial backend from the config. */
#include "vm/vm.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "chardev/chardev.h"
#include "core/event.h"
#include "core/log.h"
#include "gdbstub/gdbstub.h"
#include "hw/x86/pc.h"
#include "vm/pause.h"
#include "vm/vcpu.h"

/* Everything a reset throws away. */
static void vm_teardown(struct vm *vm)
{
	if (vm->gdb)
		gdbstub_detach(vm->gdb);
	vcpu_destroy_all(vm);
	pc_destroy(vm);
	if (vm->loop) {
		event_loop_destroy(vm->loop);
		vm->loop = NULL;
	}
}

/* Everything a reset rebuilds, in order: the I/O thread's loop (devices
 * register with it), the board, then the vCPUs with the boot state. */
static int vm_build(struct vm *vm, struct err *err)
{
	int r;

	atomic_store(&vm->request, VM_REQ_NONE);
	atomic_store(&vm->exit_status, 0);
	memset(&vm->boot_state, 0, sizeof(vm->boot_state));
	vm->loop = event_loop_create(err);
	if (!vm->loop)
		return -ENOMEM;
	if ((r = pc_create(vm, err)))
		return r;
	if ((r = vcpu_create_all(vm, err)))
		return r;
	return vm->gdb ? gdbstub_attach(vm->gdb, err) : 0;
}

struct vm *vm_create(const struct vm_config *cfg, const struct accel_ops *accel,
		     struct err *err)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	if (!vm) {
		err_errno(err, ENOMEM, "VM");
		return NULL;
	}
	vm->wake_fd = -1;
	vm_pause_init(vm);
	vm->cfg = cfg;
	vm->accel = accel;
	vm->ncpus = cfg->cpus;
	vm->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->wake_fd < 0) {
		err_errno(err, errno, "eventfd");
		goto fail;
	}
	if (cfg->serial != SERIAL_NONE) {
		vm->chardev = chardev_create(cfg->serial, cfg->serial_path, err);
		if (!vm->chardev)
			goto fail;
	}
	/* The stub outlives resets: its socket is opened once, its fds are
	 * registered with each rebuilt I/O loop (vm_build). */
	if (cfg->gdb.enabled && !(vm->gdb = gdbstub_create(vm, err)))
		goto fail;
	if (vm_build(vm, err))
		goto fail;
	return vm;
fail:
	vm_destroy(vm);
	return NULL;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	vm_teardown(vm);
	gdbstub_destroy(vm->gdb);
	chardev_destroy(vm->chardev);
	if (vm->wake_fd >= 0)
		close(vm->wake_fd);
	vm_pause_fini(vm);
	free(vm);
}

void vm_request(struct vm *vm, enum vm_request req)
{
	int expected = VM_REQ_NONE;
	uint64_t one = 1;

	if (!atomic_compare_exchange_strong(&vm->request, &expected, (int)req))
		return;
	if (write(vm->wake_fd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow with one write per request. */
	}
	vcpu_kick_all(vm);
}

void vm_request_exit(struct vm *vm, int status)
{
	int expected = VM_REQ_NONE;
	uint64_t one = 1;

	/* Only the winning request sets the status; vm_run reads it after
	 * joining every thread that could have written it. */
	if (!atomic_compare_exchange_strong(&vm->request, &expected, VM_REQ_EXIT))
		return;
	atomic_store(&vm->exit_status, status);
	if (write(vm->wake_fd, &one, sizeof(one)) < 0) {
		/* see vm_request */
	}
	vcpu_kick_all(vm);
}

void vm_set_irq(struct vm *vm, unsigned gsi, bool level)
{
	int r = vm->accel->set_irq(vm, gsi, level);

	if (r)
		log_guest("interrupt line %u: %s", gsi, strerror(-r));
}

void vm_send_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	int r = vm->accel->send_msi(vm, addr, data);

	if (r)
		log_guest("MSI to 0x%llx: %s", (unsigned long long)addr, strerror(-r));
}

/* Waits for a request; SIGINT, SIGTERM, SIGHUP and SIGQUIT (blocked in every
 * thread by main) arrive through sfd and end the VM with 128 + signo, as a
 * shell reports a process killed by that signal. A signal read here is also
 * left in *sig: a vCPU may post a reset between the request check and the
 * read, and that reset must not swallow the signal (vm_run stops instead). */
static enum vm_request vm_wait(struct vm *vm, int sfd, int *sig)
{
	struct pollfd pfd[2] = { { .fd = vm->wake_fd, .events = POLLIN },
				 { .fd = sfd, .events = POLLIN } };
	int req;

	while ((req = atomic_load(&vm->request)) == VM_REQ_NONE) {
		uint64_t v;

		if (poll(pfd, sfd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			break;
		if (read(vm->wake_fd, &v, sizeof(v)) < 0) {
			/* EAGAIN: nothing was written; the request check decides. */
		}
		if (sfd >= 0 && (pfd[1].revents & POLLIN)) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				log_info("received signal %u, stopping the VM", si.ssi_signo);
				*sig = (int)si.ssi_signo;
				vm_request_exit(vm, 128 + *sig);
			}
		}
	}
	if (req == VM_REQ_NONE) {
		log_error("waiting for the VM: %s", strerror(errno));
		vm_request(vm, VM_REQ_ERROR);
		req = atomic_load(&vm->request);
	}
	return (enum vm_request)req;
}

/* A signal that arrived while the machine was busy resetting: returns its
 * number (consumed) or 0. Checked before every reboot, because a guest that
 * resets at once would otherwise never let vm_wait look at the signalfd. */
static int vm_pending_signal(int sfd)
{
	struct signalfd_siginfo si;

	if (sfd >= 0 && read(sfd, &si, sizeof(si)) == sizeof(si))
		return (int)si.ssi_signo;
	return 0;
}

static enum vm_request vm_run_once(struct vm *vm, int sfd, int *sig)
{
	struct err err = { { 0 } };
	enum vm_request req;

	if (event_loop_start(vm->loop, &err) || vcpu_start_all(vm, &err)) {
		log_error("starting the VM: %s", err.msg);
		vm_request(vm, VM_REQ_ERROR);
	}
	req = vm_wait(vm, sfd, sig);
	vcpu_stop_all(vm);
	event_loop_stop(vm->loop);
	return req;
}

int vm_run(struct vm *vm)
{
	sigset_t set;
	int sfd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		log_warn("signalfd: %s; signals will not stop the VM cleanly", strerror(errno));
	for (;;) {
		struct err err = { { 0 } };
		int status, sig = 0;

		switch (vm_run_once(vm, sfd, &sig)) {
		case VM_REQ_POWEROFF:
			status = 0;
			break;
		case VM_REQ_EXIT:
			status = atomic_load(&vm->exit_status);
			break;
		case VM_REQ_RESET:
			if (!sig && (sig = vm_pending_signal(sfd)))
				log_info("received signal %d, stopping the VM", sig);
			if (sig) {
				status = 128 + sig;
				break;
			}
			if (vm->cfg->no_reboot) {
				status = VM_EXIT_RESET_NO_REBOOT;
				break;
			}
			vm_teardown(vm);
			if (vm_build(vm, &err)) {
				log_error("reset: %s", err.msg);
				status = 1;
				break;
			}
			vm->resets++;
			continue;
		case VM_REQ_ERROR:
		default:
			status = 1;
			break;
		}
		if (vm->gdb)
			gdbstub_vm_exited(vm->gdb, status);
		if (sfd >= 0)
			close(sfd);
		return status;
	}
}
