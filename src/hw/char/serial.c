/* 16550A UART. Register semantics follow the PC16550D datasheet; the
 * details Linux's 8250 driver probes are called out where they matter
 * (autoconfig's IER scratch test and loopback MSR test, the THRE re-assert
 * test in serial8250_do_startup). */
#include "hw/char/serial.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "chardev/chardev.h"
#include "core/log.h"
#include "hw/bus/io.h"
#include "vm/vm.h"

enum {
	UART_RBR = 0, /* read, DLAB=0; THR on write; DLL with DLAB=1 */
	UART_IER = 1, /* DLM with DLAB=1 */
	UART_IIR = 2, /* read; FCR on write */
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define IER_RDI 0x01  /* received data available */
#define IER_THRI 0x02 /* THR empty */
#define IER_RLSI 0x04 /* receiver line status */
#define IER_MSI 0x08  /* modem status */

#define IIR_NO_INT 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_TIMEOUT 0x0c
#define IIR_FIFO_ENABLED 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04
#define FCR_STORED 0xc9 /* enable, DMA mode select, trigger level */

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_ERRORS 0x1e /* OE, PE, FE, BI: the receiver line status interrupt */
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_DELTAS 0x0f
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

#define SERIAL_FIFO_SIZE 16

struct serial {
	struct vm *vm;
	uint16_t base;
	unsigned gsi;
	struct chardev *cd;
	pthread_mutex_t lock;
	/* Orders output bytes: taken before lock is dropped, held across the
	 * chardev write, so a stalled stdout blocks only transmitters, never the
	 * I/O thread's receive path (which needs lock alone). Always lock ->
	 * tx_lock, never the other way round. */
	pthread_mutex_t tx_lock;

	uint8_t rx[SERIAL_FIFO_SIZE];
	unsigned rx_head, rx_count;
	uint8_t ier, lcr, mcr, lsr, msr, scr, fcr, dll, dlm;
	/* THRE interrupt: set when THR becomes empty or THRI gets enabled with
	 * THR empty; cleared by reading IIR while it is the reported source, or
	 * by writing THR. */
	bool thr_ipending;
	/* Character timeout (FIFO mode): data sits below the trigger level and
	 * nothing more arrives. The host hands over whole bursts at once, so
	 * "no more characters for 4 character times" holds as soon as a burst
	 * has been queued, and again after each RBR read that leaves data. */
	bool timeout_ipending;
	bool irq_level;
	uint64_t overruns;
};

static bool serial_fifo_on(const struct serial *s)
{
	return s->fcr & FCR_ENABLE;
}

static unsigned serial_rx_depth(const struct serial *s)
{
	return serial_fifo_on(s) ? SERIAL_FIFO_SIZE : 1;
}

static unsigned serial_rx_trigger(const struct serial *s)
{
	static const unsigned level[4] = { 1, 4, 8, 14 };

	return serial_fifo_on(s) ? level[s->fcr >> 6] : 1;
}

/* The highest-priority pending interrupt (datasheet table 4). */
static uint8_t serial_iir_id(const struct serial *s)
{
	if ((s->ier & IER_RLSI) && (s->lsr & LSR_ERRORS))
		return IIR_RLSI;
	if (s->ier & IER_RDI) {
		if (s->rx_count >= serial_rx_trigger(s))
			return IIR_RDI;
		if (s->timeout_ipending && s->rx_count)
			return IIR_TIMEOUT;
	}
	if ((s->ier & IER_THRI) && s->thr_ipending)
		return IIR_THRI;
	if ((s->ier & IER_MSI) && (s->msr & MSR_DELTAS))
		return IIR_MSI;
	return IIR_NO_INT;
}

/* Called with the lock held after every state change. The line only moves on
 * a change, so an edge-triggered IOAPIC pin sees one edge per new interrupt. */
static void serial_update_irq(struct serial *s)
{
	bool level = serial_iir_id(s) != IIR_NO_INT;

	if (level != s->irq_level) {
		s->irq_level = level;
		vm_set_irq(s->vm, s->gsi, level);
	}
}

static void serial_rx_clear(struct serial *s)
{
	s->rx_head = s->rx_count = 0;
	s->lsr &= (uint8_t)~LSR_DR;
	s->timeout_ipending = false;
}

static void serial_rx_push(struct serial *s, uint8_t c)
{
	if (s->rx_count >= serial_rx_depth(s)) {
		/* Datasheet: on overrun the FIFO keeps its contents and the new
		 * character is lost (in FIFO mode it overwrites the shift register). */
		s->lsr |= LSR_OE;
		s->overruns++;
		return;
	}
	s->rx[(s->rx_head + s->rx_count) % SERIAL_FIFO_SIZE] = c;
	s->rx_count++;
	s->lsr |= LSR_DR;
	s->timeout_ipending = serial_fifo_on(s);
}

static uint8_t serial_rx_pop(struct serial *s)
{
	uint8_t c;

	if (!s->rx_count)
		return 0;
	c = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_SIZE;
	s->rx_count--;
	if (!s->rx_count)
		s->lsr &= (uint8_t)~LSR_DR;
	s->timeout_ipending = serial_fifo_on(s) && s->rx_count;
	return c;
}

/* MSR status bits as the modem lines (or, in loopback, MCR outputs) show them. */
static uint8_t serial_msr_status(const struct serial *s)
{
	uint8_t m = s->mcr;

	if (!(m & MCR_LOOP))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	/* Loopback wiring: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. Linux's
	 * autoconfig writes LOOP|OUT2|RTS and expects exactly DCD|CTS. */
	return (uint8_t)(((m & MCR_RTS) ? MSR_CTS : 0) | ((m & MCR_DTR) ? MSR_DSR : 0) |
			 ((m & MCR_OUT1) ? MSR_RI : 0) | ((m & MCR_OUT2) ? MSR_DCD : 0));
}

static void serial_msr_update(struct serial *s)
{
	uint8_t old = s->msr, now = serial_msr_status(s), delta = 0;

	if ((old ^ now) & MSR_CTS)
		delta |= MSR_DCTS;
	if ((old ^ now) & MSR_DSR)
		delta |= MSR_DDSR;
	if ((old & MSR_RI) && !(now & MSR_RI))
		delta |= MSR_TERI; /* trailing edge only */
	if ((old ^ now) & MSR_DCD)
		delta |= MSR_DDCD;
	s->msr = (uint8_t)(now | (old & MSR_DELTAS) | delta);
}

static uint64_t serial_read(void *opaque, uint64_t off, unsigned size)
{
	struct serial *s = opaque;
	bool popped = false;
	uint8_t v = 0xff;

	pthread_mutex_lock(&s->lock);
	switch (off) {
	case UART_RBR:
		if (s->lcr & LCR_DLAB) {
			v = s->dll;
		} else {
			v = serial_rx_pop(s);
			popped = true;
		}
		break;
	case UART_IER:
		v = (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
		break;
	case UART_IIR:
		v = serial_iir_id(s);
		if (v == IIR_THRI)
			s->thr_ipending = false; /* reading IIR clears a reported THRE */
		if (serial_fifo_on(s))
			v |= IIR_FIFO_ENABLED;
		break;
	case UART_LCR:
		v = s->lcr;
		break;
	case UART_MCR:
		v = s->mcr;
		break;
	case UART_LSR:
		v = s->lsr;
		s->lsr &= (uint8_t)~LSR_ERRORS; /* error bits clear on read */
		break;
	case UART_MSR:
		v = s->msr;
		s->msr &= (uint8_t)~MSR_DELTAS;
		break;
	case UART_SCR:
		v = s->scr;
		break;
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	/* Outside the lock: the chardev may re-enable polling and call rx_room. */
	if (popped)
		chardev_rx_ready(s->cd);
	return v;
}

static void serial_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct serial *s = opaque;
	uint8_t v = (uint8_t)val;
	bool room_changed = false, transmit = false;

	pthread_mutex_lock(&s->lock);
	switch (off) {
	case UART_RBR:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			break;
		}
		if (s->mcr & MCR_LOOP)
			serial_rx_push(s, v); /* the transmitter feeds the receiver */
		else
			transmit = true;
		/* Transmission is instant: THR is empty again at once. */
		s->thr_ipending = true;
		break;
	case UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			break;
		}
		/* Enabling THRI while THR is empty raises THRE (Linux's startup
		 * test writes IER=0 then IER=THRI and expects the interrupt back). */
		if ((v & IER_THRI) && !(s->ier & IER_THRI) && (s->lsr & LSR_THRE))
			s->thr_ipending = true;
		s->ier = v & 0x0f;
		break;
	case UART_IIR: /* FCR */
		if ((v ^ s->fcr) & FCR_ENABLE) {
			serial_rx_clear(s); /* switching modes resets both FIFOs */
			room_changed = true;
		}
		if (v & FCR_CLEAR_RX) {
			serial_rx_clear(s);
			room_changed = true;
		}
		s->fcr = (v & FCR_ENABLE) ? (v & FCR_STORED) : 0;
		break;
	case UART_LCR:
		s->lcr = v;
		break;
	case UART_MCR:
		if ((v ^ s->mcr) & MCR_LOOP)
			room_changed = true;
		s->mcr = v & 0x1f;
		serial_msr_update(s);
		break;
	case UART_LSR:
	case UART_MSR:
		break; /* factory test registers: writes ignored */
	case UART_SCR:
		s->scr = v;
		break;
	}
	serial_update_irq(s);
	if (transmit) {
		pthread_mutex_lock(&s->tx_lock);
		pthread_mutex_unlock(&s->lock);
		chardev_write(s->cd, &v, 1);
		pthread_mutex_unlock(&s->tx_lock);
	} else {
		pthread_mutex_unlock(&s->lock);
	}
	if (room_changed)
		chardev_rx_ready(s->cd);
}

static const struct io_ops serial_ops = {
	.read = serial_read,
	.write = serial_write,
	.min_size = 1,
	.max_size = 1,
};

/* Chardev input, on the I/O thread. */
static void serial_chardev_rx(void *opaque, const uint8_t *buf, size_t len)
{
	struct serial *s = opaque;

	pthread_mutex_lock(&s->lock);
	/* In loopback the serial input pin is disconnected (datasheet). */
	if (!(s->mcr & MCR_LOOP))
		for (size_t i = 0; i < len; i++)
			serial_rx_push(s, buf[i]);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static size_t serial_chardev_rx_room(void *opaque)
{
	struct serial *s = opaque;
	size_t room;

	pthread_mutex_lock(&s->lock);
	room = (s->mcr & MCR_LOOP) ? 0 : serial_rx_depth(s) - s->rx_count;
	pthread_mutex_unlock(&s->lock);
	return room;
}

static void serial_reset_regs(struct serial *s)
{
	serial_rx_clear(s);
	s->ier = s->lcr = s->mcr = s->scr = s->fcr = 0;
	s->dll = 0x0c, s->dlm = 0; /* 9600 baud */
	s->lsr = LSR_THRE | LSR_TEMT;
	s->msr = serial_msr_status(s);
	s->thr_ipending = false;
}

void serial_reset(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	serial_reset_regs(s);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	chardev_rx_ready(s->cd);
}

struct serial *serial_create(struct vm *vm, uint16_t base, unsigned gsi, struct chardev *cd,
			     struct err *err)
{
	struct serial *s = calloc(1, sizeof(*s));
	int ret;

	if (!s) {
		err_errno(err, ENOMEM, "serial 0x%x", base);
		return NULL;
	}
	s->vm = vm, s->base = base, s->gsi = gsi, s->cd = cd;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->tx_lock, NULL);
	serial_reset_regs(s);
	ret = io_map(vm->pio, base, 8, &serial_ops, s, "serial", err);
	if (ret < 0)
		goto fail;
	if (cd && vm->loop) {
		ret = chardev_attach(cd, vm->loop, serial_chardev_rx, serial_chardev_rx_room, s,
				     err);
		if (ret < 0) {
			io_unmap(vm->pio, base, s);
			goto fail;
		}
	}
	return s;
fail:
	err_prefix(err, "serial 0x%x", base);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->tx_lock);
	free(s);
	return NULL;
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	chardev_detach(s->cd);
	io_unmap(s->vm->pio, s->base, s);
	if (s->irq_level)
		vm_set_irq(s->vm, s->gsi, false);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->tx_lock);
	free(s);
}
