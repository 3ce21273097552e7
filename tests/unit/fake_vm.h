/* A struct vm for device unit tests: address spaces and RAM, no CPU. The
 * doubles of vm_set_irq/vm_send_msi/vm_request/vm_request_exit record into
 * these globals (see fake_vm.c for the linking rules). */
#ifndef VIREO_TESTS_FAKE_VM_H
#define VIREO_TESTS_FAKE_VM_H

#include <stdint.h>

#include "hw/bus/io.h"
#include "vm/vm.h"

#define FAKE_VM_GSIS 24

extern _Atomic int fake_vm_irq_level[FAKE_VM_GSIS];
extern _Atomic unsigned fake_vm_irq_raises[FAKE_VM_GSIS]; /* 0->1 transitions */
extern _Atomic int fake_vm_last_request;                   /* enum vm_request */
extern _Atomic int fake_vm_exit_status;
extern _Atomic unsigned fake_vm_msis;

/* Sets up vm->pio, vm->mmio and (if mem_size) RAM; clears the records. */
int fake_vm_init(struct vm *vm, uint64_t mem_size);
void fake_vm_fini(struct vm *vm);
void fake_vm_reset(void);

#endif
