/* struct vm: the live machine. Created from a struct vm_config by
 * vm_create(), run by vm_run() until power-off, reset-with---no-reboot,
 * an error or a signal, and torn down by vm_destroy(). */
#ifndef VIREO_VM_VM_H
#define VIREO_VM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "accel/accel.h"
#include "core/err.h"
#include "vm/config.h"
#include "vm/guest_mem.h"

struct io_space;
struct event_loop;
struct chardev;

/* What the machine was asked to do; the first request that is not NONE wins
 * until vm_run handles it. */
enum vm_request {
	VM_REQ_NONE,
	VM_REQ_POWEROFF, /* ACPI S5: exit status 0 */
	VM_REQ_RESET,    /* i8042, ACPI reset register, triple fault */
	VM_REQ_EXIT,     /* isa-debug-exit or a signal: exit with vm->exit_status */
	VM_REQ_ERROR,    /* a vCPU failed: registers were dumped, exit status 1 */
};

struct vcpu {
	struct vm *vm;
	unsigned index;   /* 0 is the bootstrap processor */
	uint32_t apic_id; /* == index today */
	pthread_t thread;
	_Atomic bool running; /* thread is valid (started, not yet joined) */
	void *accel;      /* accelerator-private state */
	struct err err;   /* why vcpu_run returned VCPU_EXIT_ERROR */
};

struct vm {
	const struct vm_config *cfg;
	const struct accel_ops *accel;
	void *accel_state;
	struct guest_mem mem;
	struct io_space *pio, *mmio;
	struct event_loop *loop; /* the I/O thread's loop */
	unsigned ncpus;
	struct vcpu *vcpus;
	_Atomic int request;     /* enum vm_request */
	_Atomic int exit_status; /* for VM_REQ_EXIT */
	/* Board state the loaders hand to vCPU 0 at every (re)start. */
	struct x86_cpu_state boot_state;
	void *board;             /* struct pc, owned by hw/x86/pc.c */
	/* The serial backend outlives resets so the terminal stays as it is. */
	struct chardev *chardev;
	int wake_fd;             /* eventfd: a request is pending */
	/* Battery-backed CMOS RAM survives a reset that rebuilds the board. */
	struct {
		bool valid;
		uint8_t cmos[128];
	} nvram;
	unsigned resets;         /* reboots so far */
};

/* Exit status of vireo when the guest resets under --no-reboot: even, so it
 * never equals an isa-debug-exit status ((N << 1) | 1). */
#define VM_EXIT_RESET_NO_REBOOT 4

/* Builds the machine described by cfg (which must outlive the vm) with the
 * chosen accelerator. NULL with err set on failure. */
struct vm *vm_create(const struct vm_config *cfg, const struct accel_ops *accel,
		     struct err *err);
/* Runs until power-off, exit, error, reset under --no-reboot or SIGINT/SIGTERM
 * (which the caller must have blocked in every thread) and returns vireo's
 * exit status. Resets rebuild the machine from the config in between. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

/* Requests from devices and signal handlers; async-signal-safe except for the
 * kick, which only writes to an eventfd and signals threads. */
void vm_request(struct vm *vm, enum vm_request req);
void vm_request_exit(struct vm *vm, int status);

/* Interrupt lines for devices: level-triggered semantics (edge devices pulse). */
void vm_set_irq(struct vm *vm, unsigned gsi, bool level);
void vm_send_msi(struct vm *vm, uint64_t addr, uint32_t data);

#endif
