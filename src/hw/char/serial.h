/* A 16550A UART (National Semiconductor PC16550D datasheet) on 8 I/O ports,
 * interrupt-driven both ways through vm_set_irq. Transmission is instant:
 * a THR write goes straight to the chardev, so THRE and TEMT are always set
 * outside loopback and the TX FIFO is never observed non-empty. */
#ifndef VIREO_HW_CHAR_SERIAL_H
#define VIREO_HW_CHAR_SERIAL_H

#include <stdint.h>

#include "core/err.h"

struct vm;
struct chardev;
struct serial;

/* Maps ports [base, base+8) on vm->pio and, if vm->loop is set, attaches cd's
 * input to it. cd may be NULL (output dropped, no input); it stays owned by
 * the caller and must outlive the serial port. */
struct serial *serial_create(struct vm *vm, uint16_t base, unsigned gsi, struct chardev *cd,
			     struct err *err);
/* Power-on register state (board reset); queued input is dropped. */
void serial_reset(struct serial *s);
/* Unmaps the ports and detaches the chardev input. */
void serial_destroy(struct serial *s);

#endif
