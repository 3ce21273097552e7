/* The two cascaded 8259A programmable interrupt controllers of a PC
 * (Intel 8259A datasheet), for the emulated CPU; KVM has its own in-kernel
 * copy. Master at 0x20/0x21, slave at 0xA0/0xA1 on master input 2, and the
 * ELCR edge/level registers at 0x4D0/0x4D1.
 *
 * Inputs are levels: pic_set_irq(irq, 1) then (irq, 0) is a pulse. Edge mode
 * latches rising edges; level mode follows the line. The output (INTR) is
 * reported through a callback so the CPU side can wake a halted BSP. */
#ifndef VIREO_HW_INTC_PIC_H
#define VIREO_HW_INTC_PIC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

struct io_space;

struct pic_chip {
	uint8_t irr, isr, imr;
	uint8_t last_level; /* input levels as last seen, for edge detection */
	uint8_t elcr, elcr_mask;
	uint8_t vector_base;
	uint8_t read_isr;      /* OCW3: next read of the command port returns ISR */
	uint8_t init_step;     /* 0: ready; 1-3: expecting ICW2..ICW4 */
	bool icw4_needed, single, auto_eoi, special_mask, rotate_on_aeoi, poll;
	uint8_t priority_add;  /* rotation: lowest-priority IRQ + 1 */
};

struct pic {
	pthread_mutex_t lock;
	struct pic_chip chip[2]; /* master, slave */
	bool intr;               /* current output to the CPU */
	void (*intr_changed)(void *opaque, bool level);
	void *opaque;
};

/* Maps the ports into pio (if non-NULL). intr_changed may be NULL. */
struct pic *pic_create(struct io_space *pio, void (*intr_changed)(void *opaque, bool level),
		       void *opaque, struct err *err);
void pic_destroy(struct pic *pic);

/* Drive ISA input irq (0-15). */
void pic_set_irq(struct pic *pic, unsigned irq, bool level);
/* Whether INTR is asserted. */
bool pic_has_intr(struct pic *pic);
/* The CPU's interrupt acknowledge cycle: returns the vector (spurious IRQ 7 /
 * 15 vectors when the request went away, as the hardware does). */
uint8_t pic_ack(struct pic *pic);

/* Register access, also used by the unit tests. port is 0x20/0x21/0xa0/0xa1/0x4d0/0x4d1. */
uint8_t pic_port_read(struct pic *pic, uint16_t port);
void pic_port_write(struct pic *pic, uint16_t port, uint8_t val);

#endif
