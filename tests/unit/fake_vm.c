/* Test doubles for the four vm.c functions devices call (vm_set_irq,
 * vm_send_msi, vm_request, vm_request_exit), so device unit tests link
 * without the KVM backend. They record what devices asked for in fake_vm_*.
 *
 * Every non-test_*.c file in tests/unit/ is linked into every unit test, in
 * front of libvireo.a. The doubles are weak definitions: a test that uses no
 * other vm.c symbol gets them (the linker never pulls vm.o from the archive
 * for a symbol already defined, weak or not), and a test that does pull vm.o
 * (for vm_create, say) gets vm.c's strong definitions without a duplicate-
 * symbol error. Device tests therefore must not call other vm.c functions. */
#include <stdatomic.h>

#include "fake_vm.h"
#include "vm/vm.h"

_Atomic int fake_vm_irq_level[FAKE_VM_GSIS];
_Atomic unsigned fake_vm_irq_raises[FAKE_VM_GSIS];
_Atomic int fake_vm_last_request;
_Atomic int fake_vm_exit_status;
_Atomic unsigned fake_vm_msis;

__attribute__((weak)) void vm_set_irq(struct vm *vm, unsigned gsi, bool level)
{
	if (gsi >= FAKE_VM_GSIS)
		return;
	if (level && !atomic_load(&fake_vm_irq_level[gsi]))
		atomic_fetch_add(&fake_vm_irq_raises[gsi], 1);
	atomic_store(&fake_vm_irq_level[gsi], level);
}

__attribute__((weak)) void vm_send_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	atomic_fetch_add(&fake_vm_msis, 1);
}

__attribute__((weak)) void vm_request(struct vm *vm, enum vm_request req)
{
	atomic_store(&fake_vm_last_request, req);
}

__attribute__((weak)) void vm_request_exit(struct vm *vm, int status)
{
	atomic_store(&fake_vm_exit_status, status);
	atomic_store(&fake_vm_last_request, VM_REQ_EXIT);
}

void fake_vm_reset(void)
{
	for (unsigned i = 0; i < FAKE_VM_GSIS; i++) {
		atomic_store(&fake_vm_irq_level[i], 0);
		atomic_store(&fake_vm_irq_raises[i], 0);
	}
	atomic_store(&fake_vm_last_request, VM_REQ_NONE);
	atomic_store(&fake_vm_exit_status, 0);
	atomic_store(&fake_vm_msis, 0);
}

int fake_vm_init(struct vm *vm, uint64_t mem_size)
{
	struct err err = { { 0 } };

	*vm = (struct vm){ 0 };
	vm->ncpus = 1;
	vm->pio = io_space_create("pio");
	vm->mmio = io_space_create("mmio");
	if (!vm->pio || !vm->mmio)
		return -1;
	if (mem_size && gm_init(&vm->mem, mem_size, &err) < 0)
		return -1;
	fake_vm_reset();
	return 0;
}

void fake_vm_fini(struct vm *vm)
{
	if (vm->mem.base)
		gm_fini(&vm->mem);
	io_space_destroy(vm->pio);
	io_space_destroy(vm->mmio);
}
