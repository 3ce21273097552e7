/* 16550A tests through io_dispatch on a fake VM: Linux's probe sequences,
 * DLAB, THRE interrupt semantics, loopback, output to a chardev, and RX FIFO
 * input from a pipe through the I/O thread. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chardev/chardev.h"
#include "core/event.h"
#include "fake_vm.h"
#include "hw/char/serial.h"
#include "hw/x86/layout.h"
#include "testlib.h"

#define B LAYOUT_PORT_COM1
#define GSI LAYOUT_GSI_COM1

static struct vm vm;

static unsigned rd(unsigned reg)
{
	return (unsigned)io_read(vm.pio, B + reg, 1);
}

static void wr(unsigned reg, unsigned v)
{
	io_write(vm.pio, B + reg, v, 1);
}

/* Waits up to 2 s for LSR bits. */
static bool wait_lsr(unsigned bits)
{
	for (int i = 0; i < 2000; i++) {
		if ((rd(5) & bits) == bits)
			return true;
		usleep(1000);
	}
	return false;
}

static void test_probe(void)
{
	struct err err = { { 0 } };
	struct serial *s;

	TEST_BEGIN("serial_linux_autoconfig_probe");
	s = serial_create(&vm, B, GSI, NULL, &err);
	CHECK(s != NULL);
	CHECK_EQ(rd(5), 0x60); /* THRE | TEMT */
	CHECK_EQ(rd(2), 0x01); /* no interrupt, no FIFO */
	/* autoconfig's IER scratch test */
	wr(1, 0);
	CHECK_EQ(rd(1) & 0x0f, 0);
	wr(1, 0x0f);
	CHECK_EQ(rd(1) & 0x0f, 0x0f);
	wr(1, 0);
	/* loopback test: LOOP|OUT2|RTS must read back exactly DCD|CTS */
	wr(4, 0x10 | 0x0a);
	CHECK_EQ(rd(6) & 0xf0, 0x90);
	wr(4, 0);
	CHECK_EQ(rd(6) & 0xf0, 0xb0);
	/* FIFO detection: IIR bits 7:6 == 3 means 16550A */
	wr(2, 0x01);
	CHECK_EQ(rd(2) >> 6, 3);
	/* no 64-byte FIFO (16750) and no EFR with LCR=0xBF */
	wr(2, 0x21);
	CHECK_EQ((rd(2) >> 5) & 1, 0);
	wr(3, 0xbf);
	CHECK(rd(2) != 0);
	wr(3, 0);
	wr(2, 0);
	CHECK_EQ(rd(2), 0x01);
	/* scratch register */
	wr(7, 0x5a);
	CHECK_EQ(rd(7), 0x5a);
	/* IER=0x0f raised THRE for a moment; with IER=0 the line is low again */
	CHECK_EQ(fake_vm_irq_level[GSI], 0);
	serial_destroy(s);
	TEST_END();
}

static void test_dlab(void)
{
	struct err err = { { 0 } };
	struct serial *s = serial_create(&vm, B, GSI, NULL, &err);

	TEST_BEGIN("serial_dlab_divisor_latches");
	wr(1, 0x05);
	wr(3, 0x83); /* DLAB, 8N1 */
	wr(0, 0x01);
	wr(1, 0x02);
	CHECK_EQ(rd(0), 0x01);
	CHECK_EQ(rd(1), 0x02);
	CHECK_EQ(rd(3), 0x83);
	wr(3, 0x03);
	CHECK_EQ(rd(1), 0x05); /* IER untouched by DLM writes */
	CHECK_EQ(rd(3), 0x03);
	serial_reset(s);
	CHECK_EQ(rd(1), 0);
	CHECK_EQ(rd(3), 0);
	CHECK_EQ(rd(5), 0x60);
	serial_destroy(s);
	TEST_END();
}

static void test_thre(void)
{
	struct err err = { { 0 } };
	struct serial *s;
	int fd[2];
	char buf[8] = { 0 };
	struct chardev *cd;

	TEST_BEGIN("serial_thre_interrupt");
	CHECK(pipe(fd) == 0);
	cd = chardev_create_fd(-1, fd[1], &err);
	CHECK(cd != NULL);
	fake_vm_reset();
	s = serial_create(&vm, B, GSI, cd, &err);
	CHECK(s != NULL);
	wr(2, 0x07); /* FIFO on, both cleared */
	wr(1, 0x02); /* THRI: THR is empty, so the interrupt fires */
	CHECK_EQ(fake_vm_irq_level[GSI], 1);
	CHECK_EQ(rd(2), 0xc2);
	CHECK_EQ(fake_vm_irq_level[GSI], 0); /* reading IIR cleared it */
	CHECK_EQ(rd(2), 0xc1);
	/* Linux's UART_BUG_THRE test: IER=0, IER=THRI must re-assert */
	wr(1, 0);
	wr(1, 0x02);
	CHECK_EQ(rd(2), 0xc2);
	CHECK_EQ(rd(2), 0xc1);
	/* writing THR: the byte goes out and THRE interrupts again */
	wr(0, 'h');
	wr(0, 'i');
	CHECK_EQ(fake_vm_irq_level[GSI], 1);
	CHECK_EQ(rd(5) & 0x60, 0x60);
	CHECK_EQ(rd(2), 0xc2);
	CHECK_EQ(fake_vm_irq_level[GSI], 0);
	CHECK(fake_vm_irq_raises[GSI] >= 3);
	/* masked: THR write raises nothing */
	wr(1, 0);
	wr(0, '!');
	CHECK_EQ(fake_vm_irq_level[GSI], 0);
	CHECK_EQ(read(fd[0], buf, sizeof(buf)), 3);
	CHECK(memcmp(buf, "hi!", 3) == 0);
	serial_destroy(s);
	chardev_destroy(cd);
	close(fd[0]);
	close(fd[1]);
	TEST_END();
}

static void test_loopback(void)
{
	struct err err = { { 0 } };
	int fd[2];
	struct chardev *cd;
	struct serial *s;
	char c;

	TEST_BEGIN("serial_loopback");
	CHECK(pipe(fd) == 0);
	fcntl(fd[0], F_SETFL, O_NONBLOCK);
	cd = chardev_create_fd(-1, fd[1], &err);
	s = serial_create(&vm, B, GSI, cd, &err);
	CHECK(s != NULL);
	wr(4, 0x10);
	wr(0, 'A');
	CHECK_EQ(rd(5) & 0x01, 1);
	CHECK_EQ(rd(0), 'A');
	CHECK_EQ(rd(5) & 0x01, 0);
	/* non-FIFO mode holds one character: a second one overruns */
	wr(0, 'B');
	wr(0, 'C');
	CHECK_EQ(rd(5) & 0x03, 0x03);
	CHECK_EQ(rd(5) & 0x02, 0); /* OE clears on read */
	CHECK_EQ(rd(0), 'B');
	wr(4, 0);
	CHECK(read(fd[0], &c, 1) < 0); /* nothing reached the chardev */
	serial_destroy(s);
	chardev_destroy(cd);
	close(fd[0]);
	close(fd[1]);
	TEST_END();
}

static void test_rx(void)
{
	struct err err = { { 0 } };
	struct event_loop *loop = event_loop_create(&err);
	int fd[2];
	struct chardev *cd;
	struct serial *s;
	uint8_t msg[40], got[40];
	unsigned n = 0;

	TEST_BEGIN("serial_rx_fifo_and_interrupts");
	CHECK(loop != NULL);
	CHECK(pipe(fd) == 0);
	cd = chardev_create_fd(fd[0], -1, &err);
	vm.loop = loop;
	fake_vm_reset();
	s = serial_create(&vm, B, GSI, cd, &err);
	CHECK(s != NULL);
	wr(2, 0xc7); /* FIFO, trigger 14 */
	wr(1, 0x01); /* RDI */
	CHECK(event_loop_start(loop, &err) == 0);
	for (unsigned i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)('a' + i % 26);
	CHECK(write(fd[1], msg, 20) == 20);
	/* The FIFO fills to 16 and the rest waits in the pipe (rx_room). */
	CHECK(wait_lsr(0x01));
	for (int i = 0; i < 100 && fake_vm_irq_level[GSI] == 0; i++)
		usleep(1000);
	usleep(20000);
	CHECK_EQ(fake_vm_irq_level[GSI], 1);
	CHECK_EQ(rd(2), 0xc4); /* >= 14 bytes: received data available */
	CHECK_EQ(rd(5) & 0x02, 0);  /* no overrun: the backend respected rx_room */
	/* Drain like Linux: read while LSR.DR. */
	for (int spins = 0; n < 20 && spins < 2000; spins++) {
		if (rd(5) & 0x01)
			got[n++] = (uint8_t)rd(0);
		else
			usleep(1000);
	}
	CHECK_EQ(n, 20);
	CHECK(memcmp(got, msg, 20) == 0);
	CHECK_EQ(rd(2), 0xc1);
	CHECK_EQ(fake_vm_irq_level[GSI], 0);
	/* Below the trigger level: the character timeout indication. */
	CHECK(write(fd[1], msg, 3) == 3);
	CHECK(wait_lsr(0x01));
	usleep(20000);
	CHECK_EQ(rd(2), 0xcc);
	CHECK_EQ(fake_vm_irq_level[GSI], 1);
	n = 0;
	while ((rd(5) & 0x01) && n < 3)
		got[n++] = (uint8_t)rd(0);
	CHECK_EQ(n, 3);
	CHECK_EQ(rd(2), 0xc1);
	CHECK_EQ(fake_vm_irq_level[GSI], 0);
	/* EOF on input: the backend stops watching and the loop stays idle. */
	close(fd[1]);
	usleep(20000);
	CHECK_EQ(rd(5) & 0x01, 0);
	serial_destroy(s);
	chardev_destroy(cd);
	event_loop_destroy(loop);
	vm.loop = NULL;
	close(fd[0]);
	TEST_END();
}

/* A reset rebuilds the board (core-kvm's vm.c): the serial port and the
 * loop are destroyed and created again around the same chardev. */
static void test_reattach(void)
{
	struct err err = { { 0 } };
	int fd[2];
	struct chardev *cd;

	TEST_BEGIN("serial_chardev_reattach_after_rebuild");
	CHECK(pipe(fd) == 0);
	cd = chardev_create_fd(fd[0], -1, &err);
	for (int round = 0; round < 2; round++) {
		struct event_loop *loop = event_loop_create(&err);
		struct serial *s;

		vm.loop = loop;
		s = serial_create(&vm, B, GSI, cd, &err);
		CHECK(s != NULL);
		CHECK(event_loop_start(loop, &err) == 0);
		CHECK(write(fd[1], "r", 1) == 1);
		CHECK(wait_lsr(0x01));
		CHECK_EQ(rd(0), 'r');
		event_loop_stop(loop);
		serial_destroy(s);
		event_loop_destroy(loop);
		vm.loop = NULL;
	}
	chardev_destroy(cd);
	close(fd[0]);
	close(fd[1]);
	TEST_END();
}

int main(void)
{
	if (fake_vm_init(&vm, 0) < 0) {
		printf("not ok serial_setup: fake vm\n");
		return 1;
	}
	test_probe();
	test_dlab();
	test_thre();
	test_loopback();
	test_rx();
	test_reattach();
	fake_vm_fini(&vm);
	return 0;
}
