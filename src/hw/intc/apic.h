/* Userspace interrupt controllers for the emulated CPU (KVM uses its
 * in-kernel ones): one local APIC per vCPU (xAPIC, Intel SDM Vol. 3 ch. 11),
 * the I/O APIC (82093AA), and the "APIC bus" that carries their messages,
 * MSIs and IPIs between them.
 *
 * Threads: IOAPIC inputs arrive from the I/O thread, IPIs from other vCPUs,
 * MMIO from the owning vCPU. Each LAPIC and the IOAPIC have their own mutex,
 * and no code holds two of them at once: a message is built under the
 * sender's lock and delivered after it is dropped.
 *
 * Timers are not threads: the owning vCPU asks lapic_timer_deadline() when it
 * is about to sleep and calls lapic_timer_check() as it runs. */
#ifndef VIREO_HW_INTC_APIC_H
#define VIREO_HW_INTC_APIC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

struct pic;
struct io_space;

enum apic_delivery {
	APIC_DM_FIXED = 0,
	APIC_DM_LOWEST = 1,
	APIC_DM_SMI = 2,
	APIC_DM_NMI = 4,
	APIC_DM_INIT = 5,
	APIC_DM_SIPI = 6,
	APIC_DM_EXTINT = 7,
};

struct apic_msg {
	uint8_t vector;
	uint8_t delivery; /* enum apic_delivery */
	bool logical;     /* destination mode */
	bool level;       /* trigger mode: level */
	bool assert;      /* level: assert (INIT de-assert has assert = false) */
	uint8_t dest;     /* physical APIC ID or logical mask */
	uint8_t shorthand; /* ICR: 0 none, 1 self, 2 all incl. self, 3 all excl. self */
};

struct lapic {
	pthread_mutex_t lock;
	struct apic_bus *bus;
	unsigned index;
	uint8_t id;
	uint32_t regs[64]; /* indexed by offset >> 4 for plain registers */
	uint32_t irr[8], isr[8], tmr[8];
	bool hw_enabled;   /* IA32_APIC_BASE bit 11 */
	/* timer */
	uint64_t timer_start_ns; /* when the current count was loaded */
	uint64_t timer_deadline_ns; /* next expiry, 0 if none */
	uint64_t tsc_deadline;  /* IA32_TSC_DEADLINE */
	/* startup protocol, consumed by the vCPU loop */
	bool init_pending, sipi_pending;
	uint8_t sipi_vector;
	bool nmi_pending;
	bool extint_pending; /* an IOAPIC ExtINT message: ask the PIC for the vector */
	bool bsp;
	/* Fast hint for the vCPU loop: something may be deliverable. */
	atomic_bool wake;
};

struct ioapic {
	pthread_mutex_t lock;
	struct apic_bus *bus;
	uint32_t id, ioregsel;
	uint64_t redir[24];
	uint32_t irr;   /* input lines currently asserted */
	uint64_t base;  /* MMIO address, if mapped */
	struct io_space *mmio;
};

struct apic_bus {
	unsigned ncpus;
	struct lapic *lapic; /* array of ncpus */
	struct ioapic ioapic;
	struct pic *pic;     /* ExtINT source for LINT0 (may be NULL) */
	uint64_t timer_hz;   /* APIC timer input clock (before the divider) */
	uint64_t tsc_hz;     /* TSC rate, for the TSC-deadline mode */
	/* Wakes vCPU `index` (from HLT or out of its run loop) to look at its LAPIC. */
	void (*kick)(void *opaque, unsigned index);
	void *opaque;
	struct io_space *mmio; /* the IOAPIC's mapping */
};

/* Creates ncpus LAPICs (APIC ID = index) and the IOAPIC, mapping the IOAPIC
 * page at ioapic_base in mmio (if non-NULL). LAPIC MMIO is per-CPU, so the
 * emulated CPU routes accesses to its own LAPIC's lapic_mmio_read/write. */
struct apic_bus *apic_bus_create(unsigned ncpus, struct io_space *mmio, uint64_t ioapic_base,
				 struct pic *pic, uint64_t timer_hz, uint64_t tsc_hz,
				 void (*kick)(void *opaque, unsigned index), void *opaque,
				 struct err *err);
void apic_bus_destroy(struct apic_bus *bus);

/* An MSI write (address 0xFEExxxxx, data) as PCI devices send it. */
void apic_bus_msi(struct apic_bus *bus, uint64_t addr, uint32_t data);
/* A message from the IOAPIC or an IPI; src is the sending LAPIC or NULL. */
void apic_bus_deliver(struct apic_bus *bus, const struct apic_msg *msg, struct lapic *src);
/* GSI input (0-23) of the IOAPIC; GSIs 0-15 also drive the PIC (caller does that). */
void ioapic_set_irq(struct apic_bus *bus, unsigned gsi, bool level);
/* Broadcast EOI for a level-triggered vector (from a LAPIC). */
void ioapic_eoi(struct apic_bus *bus, uint8_t vector);
/* IOAPIC register access (the MMIO handlers use these; so do the tests). */
uint32_t ioapic_mmio_read(struct apic_bus *bus, uint64_t off);
void ioapic_mmio_write(struct apic_bus *bus, uint64_t off, uint32_t val);
/* Internal to the bus: set up and tear down the IOAPIC. */
int ioapic_init(struct apic_bus *bus, struct io_space *mmio, uint64_t base, uint8_t id,
		struct err *err);
void ioapic_fini(struct apic_bus *bus);

/* --- per-LAPIC interface for the owning vCPU --- */
uint32_t lapic_mmio_read(struct lapic *l, uint64_t off);
void lapic_mmio_write(struct lapic *l, uint64_t off, uint32_t val);
/* IA32_APIC_BASE (MSR 0x1B) as the CPU reads/writes it. */
uint64_t lapic_get_base(struct lapic *l);
void lapic_set_base(struct lapic *l, uint64_t val);
uint64_t lapic_get_tsc_deadline(struct lapic *l);
void lapic_set_tsc_deadline(struct lapic *l, uint64_t tsc, uint64_t now_ns);
/* Whether a maskable interrupt is ready for a CPU with IF=1. */
bool lapic_has_interrupt(struct lapic *l);
/* The interrupt acknowledge: returns the vector to deliver, or -1 if the
 * request went away meanwhile. Includes the PIC's ExtINT path. */
int lapic_ack_interrupt(struct lapic *l);
/* Fires the timer if its deadline passed; returns the next deadline (0: none). */
uint64_t lapic_timer_check(struct lapic *l, uint64_t now_ns);
/* Consumes a pending INIT (returns true once per INIT). */
bool lapic_take_init(struct lapic *l);
/* Consumes a pending SIPI: returns the vector (start at vector << 12) or -1. */
int lapic_take_sipi(struct lapic *l);
bool lapic_take_nmi(struct lapic *l);
/* Resets the LAPIC to its power-on state (INIT keeps the APIC ID). */
void lapic_reset(struct lapic *l, bool bsp);

/* Monotonic nanoseconds, the time base of every emulated timer. */
uint64_t apic_now_ns(void);

#endif
