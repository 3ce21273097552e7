#include "hw/timer/pit.h"

#include <stdlib.h>

#include "hw/bus/io.h"
#include "hw/intc/apic.h" /* apic_now_ns: the one time base of every emulated timer */

static uint32_t pit_period(const struct pit_channel *c)
{
	return c->reload ? c->reload : 65536;
}

static uint64_t pit_ticks(const struct pit_channel *c, uint64_t now)
{
	return now <= c->load_ns ? 0 : (uint64_t)((unsigned __int128)(now - c->load_ns) * PIT_HZ / 1000000000ULL);
}

static uint64_t pit_ticks_to_ns(uint64_t ticks)
{
	return (uint64_t)((unsigned __int128)ticks * 1000000000ULL / PIT_HZ);
}

/* Current counter value (datasheet "Operation" per mode). */
static uint16_t pit_count(const struct pit_channel *c, uint64_t now)
{
	uint32_t p = pit_period(c);
	uint64_t t;

	if (!c->counting)
		return c->reload;
	t = pit_ticks(c, now);
	switch (c->mode) {
	case 2:
		return (uint16_t)(p - t % p);
	case 3: /* counts down by two, twice per period */
		return (uint16_t)(p - (2 * t) % p);
	default: /* 0, 1, 4, 5: one pass, then wraps through 0xffff */
		return (uint16_t)(p - t);
	}
}

/* OUT pin level now. */
static bool pit_out(const struct pit_channel *c, uint64_t now)
{
	uint32_t p = pit_period(c);
	uint64_t t;

	if (!c->counting)
		return c->mode != 0; /* mode 0 starts low, the others high */
	t = pit_ticks(c, now);
	switch (c->mode) {
	case 0:
		return t >= p;
	case 1:
		return t >= p;
	case 2:
		return t % p != p - 1;
	case 3:
		return t % p < (p + 1) / 2;
	default: /* 4, 5: low for one clock at terminal count */
		return t != p;
	}
}

/* Next time (ns) channel 0 raises IRQ 0, after `now`; 0 if never. */
static uint64_t pit_next_edge(const struct pit_channel *c, uint64_t now)
{
	uint32_t p = pit_period(c);
	uint64_t t = pit_ticks(c, now), edge;

	if (!c->counting)
		return 0;
	switch (c->mode) {
	case 0:
	case 1:
	case 4:
	case 5:
		if (t >= p)
			return 0;
		edge = p;
		break;
	default: /* 2 and 3: once per period */
		edge = (t / p + 1) * p;
		break;
	}
	return c->load_ns + pit_ticks_to_ns(edge);
}

static void pit_start(struct pit *pit, unsigned n, uint64_t now)
{
	struct pit_channel *c = &pit->ch[n];

	c->load_ns = now;
	/* A low gate holds the count; modes 1 and 5 wait for the next gate edge. */
	c->counting = c->gate && c->mode != 1 && c->mode != 5;
	if (n == 0)
		c->next_irq_ns = pit_next_edge(c, now);
}

uint64_t pit_check(struct pit *pit, uint64_t now_ns)
{
	struct pit_channel *c = &pit->ch[0];
	bool fire = false;
	uint64_t next;

	pthread_mutex_lock(&pit->lock);
	if (c->next_irq_ns && now_ns >= c->next_irq_ns) {
		fire = true; /* missed periods collapse into one edge, as lost ticks */
		c->next_irq_ns = pit_next_edge(c, now_ns);
	}
	next = c->next_irq_ns;
	pthread_mutex_unlock(&pit->lock);
	if (fire && pit->set_irq0) { /* an edge: pulse the ISA line */
		pit->set_irq0(pit->opaque, true);
		pit->set_irq0(pit->opaque, false);
	}
	return next;
}

static void pit_control(struct pit *pit, uint8_t val, uint64_t now)
{
	unsigned n = val >> 6;

	if (n == 3) { /* read-back: bit 5 clear latches counts, bit 4 clear latches status */
		for (unsigned i = 0; i < 3; i++) {
			struct pit_channel *c = &pit->ch[i];

			if (!(val & (2u << i)))
				continue;
			if (!(val & 0x20) && !c->latched) {
				c->latched = true;
				c->latch = pit_count(c, now);
				c->latch_msb_next = false;
			}
			if (!(val & 0x10) && !c->status_latched) {
				c->status_latched = true;
				c->status = (uint8_t)((pit_out(c, now) ? 0x80 : 0) |
						      (c->access << 4) | (c->mode << 1) | c->bcd);
			}
		}
		return;
	}
	struct pit_channel *c = &pit->ch[n];
	unsigned access = (val >> 4) & 3;

	if (access == 0) { /* counter latch command */
		if (!c->latched) {
			c->latched = true;
			c->latch = pit_count(c, now);
			c->latch_msb_next = false;
		}
		return;
	}
	c->access = (uint8_t)access;
	c->mode = (val >> 1) & 7;
	if (c->mode > 5)
		c->mode -= 4; /* 6 and 7 alias 2 and 3 */
	c->bcd = val & 1;
	c->write_msb_next = c->read_msb_next = false;
	c->latched = c->status_latched = false;
	c->counting = false; /* a new control word stops the count until it is written */
	if (n == 0)
		c->next_irq_ns = 0;
}

static void pit_write_count(struct pit *pit, unsigned n, uint8_t val, uint64_t now)
{
	struct pit_channel *c = &pit->ch[n];

	switch (c->access) {
	case 1:
		c->reload = val;
		break;
	case 2:
		c->reload = (uint16_t)(val << 8);
		break;
	default:
		if (!c->write_msb_next) {
			c->write_lsb = val;
			c->write_msb_next = true;
			return;
		}
		c->write_msb_next = false;
		c->reload = (uint16_t)(c->write_lsb | val << 8);
		break;
	}
	pit_start(pit, n, now);
}

static uint8_t pit_read_count(struct pit_channel *c, uint64_t now)
{
	uint16_t v;
	bool msb;

	if (c->status_latched) {
		c->status_latched = false;
		return c->status;
	}
	if (c->latched) {
		v = c->latch;
		if (c->access == 3) {
			msb = c->latch_msb_next;
			c->latch_msb_next = !msb;
			if (msb)
				c->latched = false;
		} else {
			msb = c->access == 2;
			c->latched = false;
		}
	} else {
		v = pit_count(c, now);
		if (c->access == 3) {
			msb = c->read_msb_next;
			c->read_msb_next = !msb;
		} else {
			msb = c->access == 2;
		}
	}
	return msb ? (uint8_t)(v >> 8) : (uint8_t)v;
}

uint8_t pit_port_read(struct pit *pit, uint16_t port, uint64_t now_ns)
{
	uint8_t v = 0xff;

	pthread_mutex_lock(&pit->lock);
	if (port >= 0x40 && port <= 0x42) {
		v = pit_read_count(&pit->ch[port - 0x40], now_ns);
	} else if (port == 0x61) {
		/* Refresh request toggles on each read: old BIOS delay loops spin on it. */
		pit->refresh = !pit->refresh;
		v = (uint8_t)((pit->ch[2].gate ? 1 : 0) | (pit->speaker_enable ? 2 : 0) |
			      (pit->refresh ? 0x10 : 0) | (pit_out(&pit->ch[2], now_ns) ? 0x20 : 0));
	}
	pthread_mutex_unlock(&pit->lock);
	return v;
}

void pit_port_write(struct pit *pit, uint16_t port, uint8_t val, uint64_t now_ns)
{
	pthread_mutex_lock(&pit->lock);
	if (port >= 0x40 && port <= 0x42) {
		pit_write_count(pit, port - 0x40, val, now_ns);
	} else if (port == 0x43) {
		pit_control(pit, val, now_ns);
	} else if (port == 0x61) {
		struct pit_channel *c = &pit->ch[2];
		bool gate = val & 1;

		pit->speaker_enable = val & 2;
		if (gate && !c->gate) { /* rising gate edge (re)triggers channel 2 */
			c->gate = true;
			c->load_ns = now_ns;
			c->counting = true;
		} else if (!gate && c->gate) {
			c->gate = false;
			/* modes 2 and 3 stop while the gate is low; freeze by keeping reload */
			if (c->mode == 2 || c->mode == 3)
				c->counting = false;
		}
	}
	pthread_mutex_unlock(&pit->lock);
}

static uint64_t pit_io_read(void *opaque, uint64_t off, unsigned size)
{
	return pit_port_read(opaque, (uint16_t)(0x40 + off), apic_now_ns());
}

static void pit_io_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	pit_port_write(opaque, (uint16_t)(0x40 + off), (uint8_t)val, apic_now_ns());
}

static uint64_t pit_port61_read(void *opaque, uint64_t off, unsigned size)
{
	return pit_port_read(opaque, 0x61, apic_now_ns());
}

static void pit_port61_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	pit_port_write(opaque, 0x61, (uint8_t)val, apic_now_ns());
}

static const struct io_ops pit_io_ops = {
	.read = pit_io_read, .write = pit_io_write, .min_size = 1, .max_size = 1
};
static const struct io_ops pit_port61_ops = {
	.read = pit_port61_read, .write = pit_port61_write, .min_size = 1, .max_size = 1
};

struct pit *pit_create(struct io_space *pio, void (*set_irq0)(void *opaque, bool level),
		       void *opaque, struct err *err)
{
	struct pit *pit = calloc(1, sizeof(*pit));

	if (!pit) {
		err_set(err, "pit: out of memory");
		return NULL;
	}
	pthread_mutex_init(&pit->lock, NULL);
	pit->set_irq0 = set_irq0;
	pit->opaque = opaque;
	pit->ch[0].gate = pit->ch[1].gate = true; /* channels 0 and 1 have their gates tied high */
	for (int i = 0; i < 3; i++)
		pit->ch[i].access = 3;
	if (pio) {
		if (io_map(pio, 0x40, 4, &pit_io_ops, pit, "pit", err) < 0) {
			pit_destroy(pit);
			return NULL;
		}
		if (io_map(pio, 0x61, 1, &pit_port61_ops, pit, "port61", err) < 0) {
			io_unmap(pio, 0x40, pit);
			pit_destroy(pit);
			return NULL;
		}
		pit->pio = pio;
	}
	return pit;
}

void pit_destroy(struct pit *pit)
{
	if (!pit)
		return;
	if (pit->pio) {
		io_unmap(pit->pio, 0x40, pit);
		io_unmap(pit->pio, 0x61, pit);
	}
	pthread_mutex_destroy(&pit->lock);
	free(pit);
}
