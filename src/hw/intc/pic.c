#include "hw/intc/pic.h"

#include <stdlib.h>

#include "hw/bus/io.h"

/* Highest-priority set bit of mask under the chip's rotation, or -1.
 * Priority 0 is IRQ priority_add, then upward, wrapping at 8. */
static int pic_highest(const struct pic_chip *c, uint8_t mask)
{
	if (!mask)
		return -1;
	for (int p = 0; p < 8; p++)
		if (mask & (1u << ((p + c->priority_add) & 7)))
			return p;
	return -1;
}

/* The IRQ (0-7) this chip would deliver now, or -1. */
static int pic_pending(const struct pic_chip *c, bool is_master)
{
	uint8_t mask = c->irr & ~c->imr;
	int p = pic_highest(c, mask), cur;
	uint8_t in_service = c->isr;

	if (p < 0)
		return -1;
	/* Special fully nested mode on the master: a slave request may interrupt
	 * a slave interrupt in service (we always behave so; Linux doesn't care). */
	if (is_master && !c->special_mask)
		in_service &= (uint8_t)~(1u << 2);
	if (c->special_mask)
		in_service &= (uint8_t)~c->imr;
	cur = pic_highest(c, in_service);
	if (cur >= 0 && cur <= p)
		return -1; /* something of equal or higher priority is in service */
	return (p + c->priority_add) & 7;
}

static void pic_chip_set(struct pic_chip *c, unsigned line, bool level)
{
	uint8_t bit = (uint8_t)(1u << line);

	if (c->elcr & bit) { /* level triggered: IRR follows the line */
		if (level)
			c->irr |= bit;
		else
			c->irr &= (uint8_t)~bit;
	} else if (level && !(c->last_level & bit)) { /* rising edge latched */
		c->irr |= bit;
	}
	if (level)
		c->last_level |= bit;
	else
		c->last_level &= (uint8_t)~bit;
}

static void pic_update(struct pic *pic)
{
	struct pic_chip *m = &pic->chip[0], *s = &pic->chip[1];
	bool intr;

	/* The slave's INTR output drives the master's IRQ 2 input. It is an
	 * internal wire, so follow it as a level: a slave request that goes away
	 * before the acknowledge then costs no spurious IRQ 15. */
	if (pic_pending(s, false) >= 0)
		m->irr |= 1u << 2;
	else
		m->irr &= (uint8_t)~(1u << 2);
	intr = pic_pending(m, true) >= 0;
	if (intr != pic->intr) {
		pic->intr = intr;
		if (pic->intr_changed)
			pic->intr_changed(pic->opaque, intr);
	}
}

void pic_set_irq(struct pic *pic, unsigned irq, bool level)
{
	if (irq >= 16)
		return;
	pthread_mutex_lock(&pic->lock);
	pic_chip_set(&pic->chip[irq >> 3], irq & 7, level);
	pic_update(pic);
	pthread_mutex_unlock(&pic->lock);
}

bool pic_has_intr(struct pic *pic)
{
	bool r;

	pthread_mutex_lock(&pic->lock);
	r = pic->intr;
	pthread_mutex_unlock(&pic->lock);
	return r;
}

/* Acknowledge irq on chip c: move it from IRR to ISR (unless auto-EOI). */
static void pic_chip_ack(struct pic_chip *c, int irq)
{
	uint8_t bit = (uint8_t)(1u << irq);

	if (c->auto_eoi) {
		if (c->rotate_on_aeoi)
			c->priority_add = (uint8_t)((irq + 1) & 7);
	} else {
		c->isr |= bit;
	}
	/* Edge-triggered requests are consumed; level ones stay while the line is high. */
	if (!(c->elcr & bit))
		c->irr &= (uint8_t)~bit;
}

uint8_t pic_ack(struct pic *pic)
{
	struct pic_chip *m = &pic->chip[0], *s = &pic->chip[1];
	int irq, sirq;
	uint8_t vec;

	pthread_mutex_lock(&pic->lock);
	irq = pic_pending(m, true);
	if (irq < 0) {
		vec = m->vector_base | 7; /* spurious IRQ 7 */
	} else if (irq == 2) {
		sirq = pic_pending(s, false);
		pic_chip_ack(m, 2);
		if (sirq < 0) {
			vec = s->vector_base | 7; /* spurious IRQ 15 */
		} else {
			pic_chip_ack(s, sirq);
			vec = (uint8_t)(s->vector_base | sirq);
		}
	} else {
		pic_chip_ack(m, irq);
		vec = (uint8_t)(m->vector_base | irq);
	}
	pic_update(pic);
	pthread_mutex_unlock(&pic->lock);
	return vec;
}

static void pic_chip_reset(struct pic_chip *c)
{
	uint8_t elcr = c->elcr, elcr_mask = c->elcr_mask;

	*c = (struct pic_chip){ 0 };
	c->elcr = elcr;
	c->elcr_mask = elcr_mask;
}

static void pic_eoi(struct pic_chip *c, int irq)
{
	c->isr &= (uint8_t)~(1u << irq);
}

static void pic_chip_write(struct pic *pic, struct pic_chip *c, bool data, uint8_t val)
{
	if (!data) {
		if (val & 0x10) { /* ICW1 */
			pic_chip_reset(c);
			c->init_step = 1;
			c->icw4_needed = val & 1;
			c->single = val & 2;
			/* Bit 3 (LTIM) would make all inputs level; PC chipsets use ELCR. */
		} else if (val & 0x08) { /* OCW3 */
			if (val & 0x04)
				c->poll = true;
			if (val & 0x02)
				c->read_isr = val & 1;
			if (val & 0x40)
				c->special_mask = (val >> 5) & 1;
		} else { /* OCW2 */
			int cmd = val >> 5, irq;

			switch (cmd) {
			case 0: /* rotate in auto-EOI mode, clear */
			case 4: /* ... set */
				c->rotate_on_aeoi = cmd == 4;
				break;
			case 1: /* non-specific EOI */
			case 5: /* non-specific EOI with rotation */
				irq = pic_highest(c, c->isr);
				if (irq >= 0) {
					irq = (irq + c->priority_add) & 7;
					pic_eoi(c, irq);
					if (cmd == 5)
						c->priority_add = (uint8_t)((irq + 1) & 7);
				}
				break;
			case 3: /* specific EOI */
				pic_eoi(c, val & 7);
				break;
			case 6: /* set priority */
				c->priority_add = (uint8_t)((val + 1) & 7);
				break;
			case 7: /* specific EOI with rotation */
				pic_eoi(c, val & 7);
				c->priority_add = (uint8_t)((val + 1) & 7);
				break;
			default:
				break;
			}
		}
	} else {
		switch (c->init_step) {
		case 0: /* OCW1: mask */
			c->imr = val;
			break;
		case 1: /* ICW2: vector base */
			c->vector_base = val & 0xf8;
			c->init_step = c->single ? (c->icw4_needed ? 3 : 0) : 2;
			break;
		case 2: /* ICW3: cascade wiring, fixed on a PC */
			c->init_step = c->icw4_needed ? 3 : 0;
			break;
		case 3: /* ICW4 */
			c->auto_eoi = val & 2;
			c->init_step = 0;
			break;
		}
	}
	pic_update(pic);
}

void pic_port_write(struct pic *pic, uint16_t port, uint8_t val)
{
	pthread_mutex_lock(&pic->lock);
	switch (port) {
	case 0x20:
	case 0x21:
		pic_chip_write(pic, &pic->chip[0], port & 1, val);
		break;
	case 0xa0:
	case 0xa1:
		pic_chip_write(pic, &pic->chip[1], port & 1, val);
		break;
	case 0x4d0:
	case 0x4d1: {
		struct pic_chip *c = &pic->chip[port & 1];

		c->elcr = val & c->elcr_mask;
		pic_update(pic);
		break;
	}
	}
	pthread_mutex_unlock(&pic->lock);
}

/* OCW3 poll command: the next read acknowledges and returns 0x80 | irq. */
static uint8_t pic_poll_read(struct pic *pic, struct pic_chip *c)
{
	int irq = pic_pending(c, c == &pic->chip[0]);

	c->poll = false;
	if (irq < 0)
		return 0;
	pic_chip_ack(c, irq);
	pic_update(pic);
	return (uint8_t)(0x80 | irq);
}

uint8_t pic_port_read(struct pic *pic, uint16_t port)
{
	struct pic_chip *c;
	uint8_t v = 0xff;

	pthread_mutex_lock(&pic->lock);
	switch (port) {
	case 0x20:
	case 0x21:
	case 0xa0:
	case 0xa1:
		c = &pic->chip[port >= 0xa0];
		if (c->poll)
			v = pic_poll_read(pic, c);
		else if (port & 1)
			v = c->imr;
		else
			v = c->read_isr ? c->isr : c->irr;
		break;
	case 0x4d0:
	case 0x4d1:
		v = pic->chip[port & 1].elcr;
		break;
	}
	pthread_mutex_unlock(&pic->lock);
	return v;
}

/* io handlers see offsets; each mapping's context carries its base port. */
struct pic_mapping {
	struct pic *pic;
	uint16_t base;
};

static uint64_t pic_io_read(void *opaque, uint64_t off, unsigned size)
{
	struct pic_mapping *map = opaque;

	return pic_port_read(map->pic, (uint16_t)(map->base + off));
}

static void pic_io_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct pic_mapping *map = opaque;

	pic_port_write(map->pic, (uint16_t)(map->base + off), (uint8_t)val);
}

static const struct io_ops pic_io_ops = {
	.read = pic_io_read,
	.write = pic_io_write,
	.min_size = 1,
	.max_size = 1,
};

static const uint16_t pic_bases[3] = { 0x20, 0xa0, 0x4d0 };

struct pic_full {
	struct pic pic;
	struct pic_mapping maps[3];
	struct io_space *pio;
};

struct pic *pic_create(struct io_space *pio, void (*intr_changed)(void *opaque, bool level),
		       void *opaque, struct err *err)
{
	struct pic_full *f = calloc(1, sizeof(*f));

	if (!f) {
		err_set(err, "pic: out of memory");
		return NULL;
	}
	pthread_mutex_init(&f->pic.lock, NULL);
	f->pic.intr_changed = intr_changed;
	f->pic.opaque = opaque;
	/* ELCR: IRQ 0, 1, 2, 8 and 13 are always edge on a PC (PIIX datasheet). */
	f->pic.chip[0].elcr_mask = 0xf8;
	f->pic.chip[1].elcr_mask = 0xde;
	f->pio = pio;
	for (int i = 0; i < 3; i++) {
		f->maps[i] = (struct pic_mapping){ &f->pic, pic_bases[i] };
	}
	if (pio && (io_map(pio, 0x20, 2, &pic_io_ops, &f->maps[0], "pic-master", err) < 0 ||
		    io_map(pio, 0xa0, 2, &pic_io_ops, &f->maps[1], "pic-slave", err) < 0 ||
		    io_map(pio, 0x4d0, 2, &pic_io_ops, &f->maps[2], "elcr", err) < 0)) {
		pic_destroy(&f->pic);
		return NULL;
	}
	return &f->pic;
}

void pic_destroy(struct pic *pic)
{
	struct pic_full *f = (struct pic_full *)pic;

	if (!pic)
		return;
	if (f->pio)
		for (int i = 0; i < 3; i++)
			io_unmap(f->pio, f->maps[i].base, &f->maps[i]);
	pthread_mutex_destroy(&pic->lock);
	free(f);
}
