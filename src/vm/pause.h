/* The vCPU threads' side of vm_pause/vm_resume (vm/pause.c): counting the
 * threads, parking them, waking them for a request, and the debugger's stop
 * hook. The public API is in vm/vm.h. */
#ifndef VIREO_VM_PAUSE_H
#define VIREO_VM_PAUSE_H

#include "vm/vm.h"

void vm_pause_init(struct vm *vm);
void vm_pause_fini(struct vm *vm);

/* A vCPU thread is about to be created / has left its run loop. */
void vm_pause_thread_start(struct vm *vm);
void vm_pause_thread_end(struct vm *vm);

/* True when vcpu should call vm_pause_park before running. */
static inline bool vm_pause_pending(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	struct vcpu *only = atomic_load_explicit(&vm->run.only, memory_order_acquire);

	return atomic_load_explicit(&vm->run.pause, memory_order_acquire) ||
	       (only && only != vcpu);
}

/* Blocks the calling vCPU thread while the VM is paused (or another vCPU
 * runs alone), or until a request is pending. */
void vm_pause_park(struct vcpu *vcpu);
/* A request is pending: parked threads leave so they can be joined. */
void vm_pause_wake_all(struct vm *vm);

/* vcpu_run returned VCPU_EXIT_DEBUG: pause every vCPU and tell the debugger. */
void vm_pause_debug_stop(struct vcpu *vcpu);
/* The debugger's hook (NULL to remove), called on the stopping vCPU's thread
 * with the run-state lock held: it must only record and signal. */
void vm_pause_set_debug_hook(struct vm *vm, void (*hook)(void *opaque, struct vcpu *vcpu),
			     void *opaque);

#endif
