/* The I/O APIC (Intel 82093AA datasheet): 24 redirection entries turning
 * GSI levels into APIC messages. Version 0x20 has the EOI register at 0x40. */
#include "hw/bus/io.h"
#include "hw/intc/apic.h"

#define IOAPIC_PINS 24
#define RTE_VECTOR(r) ((uint8_t)((r)&0xff))
#define RTE_DELIVERY(r) ((uint8_t)(((r) >> 8) & 7))
#define RTE_LOGICAL (1ULL << 11)
#define RTE_DELIVERY_STATUS (1ULL << 12)
#define RTE_POLARITY_LOW (1ULL << 13)
#define RTE_REMOTE_IRR (1ULL << 14)
#define RTE_LEVEL (1ULL << 15)
#define RTE_MASKED (1ULL << 16)
#define RTE_DEST(r) ((uint8_t)((r) >> 56))
/* Bits the guest may write: everything but delivery status and remote IRR. */
#define RTE_WRITABLE (~(RTE_DELIVERY_STATUS | RTE_REMOTE_IRR))

static struct apic_msg ioapic_msg(uint64_t rte)
{
	return (struct apic_msg){
		.vector = RTE_VECTOR(rte),
		.delivery = RTE_DELIVERY(rte),
		.logical = rte & RTE_LOGICAL,
		.level = rte & RTE_LEVEL,
		.assert = true,
		.dest = RTE_DEST(rte),
	};
}

/* Whether pin should send a message now; marks remote IRR for level pins.
 * Called with the IOAPIC lock held. */
static bool ioapic_should_fire(struct ioapic *io, unsigned pin, bool edge_rising)
{
	uint64_t *rte = &io->redir[pin];

	if (*rte & RTE_MASKED)
		return false;
	if (*rte & RTE_LEVEL) {
		if (!(io->irr & (1u << pin)) || (*rte & RTE_REMOTE_IRR))
			return false;
		*rte |= RTE_REMOTE_IRR; /* cleared by the LAPIC's EOI */
		return true;
	}
	return edge_rising;
}

void ioapic_set_irq(struct apic_bus *bus, unsigned gsi, bool level)
{
	struct ioapic *io = &bus->ioapic;
	struct apic_msg m;
	bool fire, rising;

	if (gsi >= IOAPIC_PINS)
		return;
	pthread_mutex_lock(&io->lock);
	rising = level && !(io->irr & (1u << gsi));
	if (level)
		io->irr |= 1u << gsi;
	else
		io->irr &= ~(1u << gsi);
	fire = ioapic_should_fire(io, gsi, rising);
	m = ioapic_msg(io->redir[gsi]);
	pthread_mutex_unlock(&io->lock);
	if (fire)
		apic_bus_deliver(bus, &m, NULL);
}

void ioapic_eoi(struct apic_bus *bus, uint8_t vector)
{
	struct ioapic *io = &bus->ioapic;
	struct apic_msg msgs[IOAPIC_PINS];
	unsigned n = 0;

	pthread_mutex_lock(&io->lock);
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
		uint64_t *rte = &io->redir[pin];

		if (!(*rte & RTE_LEVEL) || RTE_VECTOR(*rte) != vector || !(*rte & RTE_REMOTE_IRR))
			continue;
		*rte &= ~RTE_REMOTE_IRR;
		/* A line still asserted interrupts again (level semantics). */
		if (ioapic_should_fire(io, pin, false))
			msgs[n++] = ioapic_msg(*rte);
	}
	pthread_mutex_unlock(&io->lock);
	for (unsigned i = 0; i < n; i++)
		apic_bus_deliver(bus, &msgs[i], NULL);
}

static uint32_t ioapic_reg_read(struct ioapic *io)
{
	uint32_t sel = io->ioregsel;

	switch (sel) {
	case 0x00:
		return io->id << 24;
	case 0x01: /* version 0x20, max redirection entry 23 */
		return 0x20 | ((IOAPIC_PINS - 1) << 16);
	case 0x02:
		return io->id << 24;
	}
	if (sel >= 0x10 && sel < 0x10 + 2 * IOAPIC_PINS) {
		uint64_t rte = io->redir[(sel - 0x10) / 2];

		return (sel & 1) ? (uint32_t)(rte >> 32) : (uint32_t)rte;
	}
	return 0xffffffff;
}

uint32_t ioapic_mmio_read(struct apic_bus *bus, uint64_t off)
{
	struct ioapic *io = &bus->ioapic;
	uint32_t v = 0;

	pthread_mutex_lock(&io->lock);
	if (off == 0x00)
		v = io->ioregsel;
	else if (off == 0x10)
		v = ioapic_reg_read(io);
	pthread_mutex_unlock(&io->lock);
	return v;
}

void ioapic_mmio_write(struct apic_bus *bus, uint64_t off, uint32_t val)
{
	struct ioapic *io = &bus->ioapic;
	struct apic_msg m;
	bool fire = false;
	uint32_t sel;

	if (off == 0x40) { /* EOI register (version 0x20) */
		ioapic_eoi(bus, (uint8_t)val);
		return;
	}
	pthread_mutex_lock(&io->lock);
	sel = io->ioregsel;
	if (off == 0x00) {
		io->ioregsel = val & 0xff;
	} else if (off == 0x10) {
		if (sel == 0x00) {
			io->id = (val >> 24) & 0xf;
		} else if (sel >= 0x10 && sel < 0x10 + 2 * IOAPIC_PINS) {
			unsigned pin = (sel - 0x10) / 2;
			uint64_t *rte = &io->redir[pin], v = *rte;

			if (sel & 1)
				v = (v & 0xffffffffULL) | ((uint64_t)val << 32);
			else
				v = (v & ~0xffffffffULL) | val;
			*rte = (*rte & ~RTE_WRITABLE) | (v & RTE_WRITABLE);
			if (!(*rte & RTE_LEVEL))
				*rte &= ~RTE_REMOTE_IRR;
			/* Unmasking an asserted level line delivers it now. */
			fire = (*rte & RTE_LEVEL) && ioapic_should_fire(io, pin, false);
			m = ioapic_msg(*rte);
		}
	}
	pthread_mutex_unlock(&io->lock);
	if (fire)
		apic_bus_deliver(bus, &m, NULL);
}

static uint64_t ioapic_io_read(void *opaque, uint64_t off, unsigned size)
{
	return ioapic_mmio_read(opaque, off);
}

static void ioapic_io_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	ioapic_mmio_write(opaque, off, (uint32_t)val);
}

static const struct io_ops ioapic_io_ops = {
	.read = ioapic_io_read,
	.write = ioapic_io_write,
	.min_size = 4,
	.max_size = 4,
};

int ioapic_init(struct apic_bus *bus, struct io_space *mmio, uint64_t base, uint8_t id,
		struct err *err)
{
	struct ioapic *io = &bus->ioapic;

	pthread_mutex_init(&io->lock, NULL);
	io->bus = bus;
	io->id = id & 0xf;
	for (unsigned i = 0; i < IOAPIC_PINS; i++)
		io->redir[i] = RTE_MASKED;
	if (mmio) {
		int r = io_map(mmio, base, 0x1000, &ioapic_io_ops, bus, "ioapic", err);

		if (r < 0)
			return r;
		io->mmio = mmio;
		io->base = base;
	}
	return 0;
}

void ioapic_fini(struct apic_bus *bus)
{
	struct ioapic *io = &bus->ioapic;

	if (io->mmio)
		io_unmap(io->mmio, io->base, bus);
	io->mmio = NULL;
	pthread_mutex_destroy(&io->lock);
}
