/* vCPU threads: one POSIX thread per vCPU runs the accelerator's vcpu_run
 * until the VM has a request pending, turning what the CPU reports (triple
 * fault, platform reset or power-off, failure) into VM requests. */
#ifndef VIREO_VM_VCPU_H
#define VIREO_VM_VCPU_H

#include "vm/vm.h"

/* Creates vm->ncpus vCPUs through the accelerator; vCPU 0 gets vm->boot_state,
 * the others wait for INIT/SIPI. */
int vcpu_create_all(struct vm *vm, struct err *err);
void vcpu_destroy_all(struct vm *vm);

int vcpu_start_all(struct vm *vm, struct err *err);
/* Kicks every vCPU out of the guest and joins its thread. A request must be
 * pending, or the threads would enter the guest again. */
void vcpu_stop_all(struct vm *vm);
void vcpu_kick_all(struct vm *vm);

/* Prints the vCPU's registers to stderr. */
void vcpu_dump(struct vcpu *vcpu);

#endif
