/* Vireo's PC board: the readable, ordered assembly of one machine from its
 * config (RAM, address spaces, the accelerator's VM and irqchip, firmware,
 * PCI host, legacy devices, ACPI tables, boot loader). */
#ifndef VIREO_HW_X86_PC_H
#define VIREO_HW_X86_PC_H

#include "core/err.h"

struct vm;

/* Builds the board into vm (vm->cfg, vm->accel, vm->loop and vm->chardev set)
 * and leaves the BSP's initial state in vm->boot_state. On failure the
 * caller still calls pc_destroy. */
int pc_create(struct vm *vm, struct err *err);
/* Undoes pc_create (also a partial one); the vCPUs must be gone. */
void pc_destroy(struct vm *vm);

#endif
