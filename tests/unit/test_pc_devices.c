/* All of the board's legacy devices on one fake VM, as pc.c will create
 * them (no port or MMIO overlaps), and a concurrency check: two "vCPU"
 * threads transmit through the UART while the I/O thread delivers input and
 * a third thread drains it (run under ASan/UBSan by the suite). */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "chardev/chardev.h"
#include "core/event.h"
#include "fake_vm.h"
#include "hw/bus/pci.h"
#include "hw/char/serial.h"
#include "hw/misc/pc_misc.h"
#include "hw/rtc/cmos.h"
#include "hw/x86/layout.h"
#include "testlib.h"

#define PER_THREAD 2000

static struct vm vm;
static atomic_bool stop_reader;
static atomic_uint received;

static void *tx_thread(void *opaque)
{
	uint8_t c = (uint8_t)(uintptr_t)opaque;

	for (int i = 0; i < PER_THREAD; i++) {
		io_write(vm.pio, LAYOUT_PORT_COM1, c, 1);
		if (i % 64 == 0)
			(void)io_read(vm.pio, LAYOUT_PORT_COM1 + 2, 1); /* IIR, like an ISR */
	}
	return NULL;
}

static void *rx_thread(void *opaque)
{
	while (!atomic_load(&stop_reader)) {
		if (io_read(vm.pio, LAYOUT_PORT_COM1 + 5, 1) & 1) {
			(void)io_read(vm.pio, LAYOUT_PORT_COM1, 1);
			atomic_fetch_add(&received, 1);
		}
	}
	return NULL;
}

/* Drains the output pipe so transmitters never stall. */
static void *drain_thread(void *opaque)
{
	int fd = *(int *)opaque;
	static unsigned counts[256];
	uint8_t buf[512];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			counts[buf[i]]++;
	return counts;
}

int main(void)
{
	struct err err = { { 0 } };
	struct pci_host *pci;
	struct serial *com1;
	struct cmos *rtc;
	struct pc_misc *misc;
	struct chardev *cd;
	int in[2], out[2];
	pthread_t t1, t2, r, d;
	unsigned *counts;
	uint8_t input[300];

	TEST_BEGIN("pc_devices_coexist");
	CHECK(fake_vm_init(&vm, 256 * MiB) == 0);
	vm.loop = event_loop_create(&err);
	CHECK(vm.loop != NULL);
	CHECK(pipe(in) == 0 && pipe(out) == 0);
	cd = chardev_create_fd(in[0], out[1], &err);
	CHECK(cd != NULL);
	pci = pci_host_create(&vm, &err);
	CHECK(pci != NULL);
	com1 = serial_create(&vm, LAYOUT_PORT_COM1, LAYOUT_GSI_COM1, cd, &err);
	CHECK(com1 != NULL);
	rtc = cmos_create(&vm, &err);
	CHECK(rtc != NULL);
	misc = pc_misc_create(&vm, &err);
	if (!misc)
		printf("# %s\n", err.msg);
	CHECK(misc != NULL);
	CHECK(event_loop_start(vm.loop, &err) == 0);
	CHECK_EQ(io_read(vm.pio, LAYOUT_PORT_COM1 + 5, 1), 0x60);
	CHECK_EQ(io_read(vm.mmio, LAYOUT_PCIE_ECAM_BASE, 2), 0x1b36);
	TEST_END();

	TEST_BEGIN("pc_devices_uart_concurrency");
	io_write(vm.pio, LAYOUT_PORT_COM1 + 2, 0x07, 1); /* FIFO */
	io_write(vm.pio, LAYOUT_PORT_COM1 + 1, 0x03, 1); /* RDI | THRI */
	pthread_create(&d, NULL, drain_thread, &out[0]);
	pthread_create(&r, NULL, rx_thread, NULL);
	pthread_create(&t1, NULL, tx_thread, (void *)(uintptr_t)'a');
	pthread_create(&t2, NULL, tx_thread, (void *)(uintptr_t)'b');
	memset(input, 'i', sizeof(input));
	CHECK(write(in[1], input, sizeof(input)) == (ssize_t)sizeof(input));
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	for (int i = 0; i < 3000 && atomic_load(&received) < sizeof(input); i++)
		usleep(1000);
	atomic_store(&stop_reader, true);
	pthread_join(r, NULL);
	CHECK_EQ(atomic_load(&received), sizeof(input));
	close(out[1]);
	out[1] = -1;
	pthread_join(d, (void **)&counts);
	CHECK_EQ(counts['a'], PER_THREAD);
	CHECK_EQ(counts['b'], PER_THREAD);
	CHECK_EQ(chardev_dropped(cd), 0);
	TEST_END();

	TEST_BEGIN("pc_devices_teardown");
	/* the order pc.c should use: stop the I/O thread, devices, backends, loop */
	event_loop_stop(vm.loop);
	pc_misc_destroy(misc);
	cmos_destroy(rtc);
	serial_destroy(com1);
	chardev_destroy(cd);
	pci_host_destroy(pci);
	event_loop_destroy(vm.loop);
	CHECK_EQ(io_read(vm.pio, LAYOUT_PORT_COM1 + 5, 1), 0xff);
	close(in[0]), close(in[1]), close(out[0]);
	fake_vm_fini(&vm);
	TEST_END();
	return 0;
}
