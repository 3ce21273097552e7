/* Pausing the VM: a run-state machine with two states, running and paused.
 * vm_pause sets the flag, kicks every vCPU out of the guest (the kick makes
 * vcpu_run return, and accelerators check vm_vcpu_must_return after every
 * exit they handle, so a kick that lands between two runs is not lost) and
 * waits until every vCPU thread reports that it parked. vm_resume clears the
 * flag and wakes them. The debugger's single step resumes one vCPU alone. */
#include "vm/pause.h"

#include <errno.h>

#include "vm/vcpu.h"

void vm_pause_init(struct vm *vm)
{
	pthread_mutex_init(&vm->run.lock, NULL);
	pthread_cond_init(&vm->run.cond, NULL);
	atomic_store(&vm->run.pause, false);
	atomic_store(&vm->run.only, NULL);
}

void vm_pause_fini(struct vm *vm)
{
	pthread_cond_destroy(&vm->run.cond);
	pthread_mutex_destroy(&vm->run.lock);
}

void vm_pause_thread_start(struct vm *vm)
{
	pthread_mutex_lock(&vm->run.lock);
	vm->run.active++;
	pthread_mutex_unlock(&vm->run.lock);
}

void vm_pause_thread_end(struct vm *vm)
{
	pthread_mutex_lock(&vm->run.lock);
	vm->run.active--;
	pthread_cond_broadcast(&vm->run.cond);
	pthread_mutex_unlock(&vm->run.lock);
}

static bool vm_pause_requested(struct vm *vm)
{
	return atomic_load_explicit(&vm->request, memory_order_acquire) != VM_REQ_NONE;
}

void vm_pause_park(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	pthread_mutex_lock(&vm->run.lock);
	if (vm_pause_pending(vcpu) && !vm_pause_requested(vm)) {
		vm->run.parked++;
		pthread_cond_broadcast(&vm->run.cond);
		while (vm_pause_pending(vcpu) && !vm_pause_requested(vm))
			pthread_cond_wait(&vm->run.cond, &vm->run.lock);
		vm->run.parked--;
	}
	pthread_mutex_unlock(&vm->run.lock);
}

void vm_pause_wake_all(struct vm *vm)
{
	pthread_mutex_lock(&vm->run.lock);
	pthread_cond_broadcast(&vm->run.cond);
	pthread_mutex_unlock(&vm->run.lock);
}

void vm_pause_async(struct vm *vm)
{
	atomic_store_explicit(&vm->run.pause, true, memory_order_release);
	vcpu_kick_all(vm);
}

int vm_pause(struct vm *vm)
{
	int r = 0;

	vm_pause_async(vm);
	pthread_mutex_lock(&vm->run.lock);
	while (vm->run.parked < vm->run.active && !vm_pause_requested(vm))
		pthread_cond_wait(&vm->run.cond, &vm->run.lock);
	if (vm->run.parked < vm->run.active)
		r = -ECANCELED;
	pthread_mutex_unlock(&vm->run.lock);
	return r;
}

static void vm_pause_release(struct vm *vm, struct vcpu *only)
{
	pthread_mutex_lock(&vm->run.lock);
	atomic_store_explicit(&vm->run.only, only, memory_order_release);
	atomic_store_explicit(&vm->run.pause, false, memory_order_release);
	pthread_cond_broadcast(&vm->run.cond);
	pthread_mutex_unlock(&vm->run.lock);
}

void vm_resume(struct vm *vm)
{
	vm_pause_release(vm, NULL);
}

void vm_resume_vcpu(struct vm *vm, struct vcpu *vcpu)
{
	vm_pause_release(vm, vcpu);
}

bool vm_is_paused(struct vm *vm)
{
	return atomic_load(&vm->run.pause);
}

void vm_pause_debug_stop(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	pthread_mutex_lock(&vm->run.lock);
	/* Without a debugger (it detached while this event was in flight)
	 * the event is dropped and the vCPU goes on. */
	if (vm->run.debug_stop) {
		vm_pause_async(vm);
		vm->run.debug_stop(vm->run.debug_opaque, vcpu);
	}
	pthread_mutex_unlock(&vm->run.lock);
}

void vm_pause_set_debug_hook(struct vm *vm, void (*hook)(void *opaque, struct vcpu *vcpu),
			     void *opaque)
{
	pthread_mutex_lock(&vm->run.lock);
	vm->run.debug_stop = hook;
	vm->run.debug_opaque = opaque;
	pthread_mutex_unlock(&vm->run.lock);
}
