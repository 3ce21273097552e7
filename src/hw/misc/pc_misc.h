/* Small platform devices of the PC board, each a handful of ports:
 * - isa-debug-exit at LAYOUT_PORT_DEBUG_EXIT (4 ports, QEMU compatible: any
 *   write of N, of size 1, 2 or 4, ends Vireo with status (N << 1) | 1);
 * - an i8042 without keyboard or mouse at 0x60/0x64: it only resets the
 *   machine (command 0xFE, any "pulse output" command with bit 0 clear, or
 *   output-port writes via 0xD1 that clear bit 0). Its status register always
 *   reads 0x01: output buffer full, input buffer empty. Linux's i8042_flush()
 *   then gives up after 16 reads ("i8042: No controller found") and never
 *   touches it again, while reboot's kb_wait() sees the input buffer empty
 *   and sends 0xFE at once. (If the FADT leaves IAPC_BOOT_ARCH_8042 clear and
 *   the DSDT declares no PNP0303, Linux does not probe at all.)
 * - the ACPI PM1a event/control block and PM timer at LAYOUT_PORT_ACPI_PM
 *   (ACPI 6.5 §4.8.3): fixed hardware, always in ACPI mode (SCI_EN reads 1,
 *   no SMI_CMD), S5 = power-off. No SCI is ever raised (no fixed events).
 * - ports 0x80 (POST codes, Linux's I/O delay) and 0xED: writes ignored. */
#ifndef VIREO_HW_MISC_PC_MISC_H
#define VIREO_HW_MISC_PC_MISC_H

#include <stdint.h>

#include "core/err.h"

/* The PM timer is 24 bits wide: the FADT must leave TMR_VAL_EXT (flags bit 8)
 * clear. 3.579545 MHz (ACPI 6.5 §4.8.3.3). */
#define PC_MISC_PM_TMR_VAL_EXT 0
#define PC_MISC_PM_TMR_HZ 3579545ULL

struct vm;
struct pc_misc;

struct pc_misc *pc_misc_create(struct vm *vm, struct err *err);
/* Board reset: PM1 status/enable/control back to power-on values. */
void pc_misc_reset(struct pc_misc *m);
void pc_misc_destroy(struct pc_misc *m);

#endif
