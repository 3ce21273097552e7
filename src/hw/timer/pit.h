/* The 8254 programmable interval timer (Intel 8254 datasheet) at 0x40-0x43,
 * plus the PC's port 0x61 (timer 2 gate, speaker, OUT2 status), for the
 * emulated CPU; KVM has an in-kernel PIT. Counters are computed from the
 * monotonic clock at 1.193182 MHz, so reading them costs nothing while the
 * guest does not look. Channel 0's output drives ISA IRQ 0: pit_check()
 * delivers the edges that became due and says when to call it next. */
#ifndef VIREO_HW_TIMER_PIT_H
#define VIREO_HW_TIMER_PIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

#define PIT_HZ 1193182ULL

struct io_space;

struct pit_channel {
	uint16_t reload;      /* programmed count; 0 means 65536 */
	uint64_t load_ns;     /* when counting started (gate high and count written) */
	uint8_t mode, access, bcd;
	bool gate;
	bool counting;        /* a count was written (and the gate allows counting) */
	bool write_msb_next, read_msb_next;
	uint8_t write_lsb;
	bool latched;         /* count latch holds a value */
	uint16_t latch;
	bool latch_msb_next;
	bool status_latched;
	uint8_t status;
	uint64_t next_irq_ns; /* channel 0: next output edge to deliver, 0 if none */
};

struct pit {
	pthread_mutex_t lock;
	struct pit_channel ch[3];
	bool speaker_enable;
	bool refresh;
	void (*set_irq0)(void *opaque, bool level);
	void *opaque;
	struct io_space *pio;
};

struct pit *pit_create(struct io_space *pio, void (*set_irq0)(void *opaque, bool level),
		       void *opaque, struct err *err);
void pit_destroy(struct pit *pit);

/* Delivers due IRQ 0 edges; returns the next deadline in monotonic ns (0: none). */
uint64_t pit_check(struct pit *pit, uint64_t now_ns);

uint8_t pit_port_read(struct pit *pit, uint16_t port, uint64_t now_ns);
void pit_port_write(struct pit *pit, uint16_t port, uint8_t val, uint64_t now_ns);

#endif
