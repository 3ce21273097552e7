/* virtio-console over the PCI transport: guest output reaches the chardev,
 * host input reaches the guest's receive buffers. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "chardev/chardev.h"
#include "core/event.h"
#include "fake_vm.h"
#include "hw/bus/pci.h"
#include "testlib.h"
#include "virtio/console.h"
#include "virtio_driver.h"

#define RINGS 0x10000ULL
#define RXBUF 0x30000ULL
#define TXBUF 0x31000ULL

int main(void)
{
	static const uint16_t W = VIRTQ_DESC_F_WRITE, R = 0;
	struct err err = { { 0 } };
	struct virtio_console *con;
	struct pci_host *host;
	struct chardev *cd;
	int in[2], out[2];
	struct vdrv d;
	struct vm vm;
	char got[64] = { 0 };
	uint64_t addr;
	uint32_t len;

	if (pipe(in) < 0 || pipe(out) < 0 || fake_vm_init(&vm, 16 << 20) < 0 ||
	    !(vm.loop = event_loop_create(&err)) || event_loop_start(vm.loop, &err) < 0 ||
	    !(host = pci_host_create(&vm, &err)) || !(cd = chardev_create_fd(in[0], out[1], &err)) ||
	    !(con = virtio_console_create(&vm, host, cd, &err))) {
		printf("not ok virtio_console_setup: %s\n", err.msg);
		return 0;
	}
	fcntl(out[0], F_SETFL, O_NONBLOCK);

	TEST_BEGIN("virtio_console_config");
	CHECK(vdrv_probe(&d, &vm, host, 0x1043, 0));
	CHECK_EQ(vdrv_rd(&d, d.device_cfg + 0, 2), 80);
	CHECK_EQ(vdrv_rd(&d, d.device_cfg + 4, 4), 1); /* max_nr_ports */
	CHECK(vdrv_start(&d, 2, RINGS, 0, true));
	TEST_END();

	TEST_BEGIN("virtio_console_guest_to_host");
	memcpy(gm_hva(&vm.mem, TXBUF, 5), "hello", 5);
	addr = TXBUF, len = 5;
	vdrv_post(&d, 1, 1, &addr, &len, &R);
	CHECK(vdrv_wait_used(&d, 1, 1));
	usleep(10000);
	CHECK_EQ(read(out[0], got, sizeof(got)), 5);
	CHECK(memcmp(got, "hello", 5) == 0);
	TEST_END();

	TEST_BEGIN("virtio_console_host_to_guest");
	addr = RXBUF, len = 64;
	vdrv_post(&d, 0, 1, &addr, &len, &W);
	CHECK_EQ(write(in[1], "typed\n", 6), 6);
	CHECK(vdrv_wait_used(&d, 0, 1));
	CHECK_EQ(vdrv_used_len(&d, 0, 0), 6);
	CHECK(memcmp(gm_hva(&vm.mem, RXBUF, 6), "typed\n", 6) == 0);
	TEST_END();

	TEST_BEGIN("virtio_console_emergency_write");
	vdrv_wr(&d, d.device_cfg + 8, '!', 4);
	usleep(10000);
	CHECK_EQ(read(out[0], got, sizeof(got)), 1);
	CHECK_EQ(got[0], '!');
	TEST_END();

	virtio_console_destroy(con);
	chardev_destroy(cd);
	pci_host_destroy(host);
	event_loop_destroy(vm.loop);
	fake_vm_fini(&vm);
	return 0;
}
