/* The virtio PCI transport's accelerator fast paths (virtio_pci.c), on an
 * accelerator double that records ioeventfds and irqfds instead of telling
 * KVM: the notify ioeventfds follow BAR 4 as it is mapped, moved and
 * unmapped; a signal on the registered eventfd is a kick; MSI-X messages
 * leave through the vector's irqfd, masked vectors pend and fire through it
 * on unmasking with a rewritten message; destroy releases everything; and a
 * failing accelerator falls back to the MMIO handler and vm_send_msi.
 * The real KVM under a guest: tests/integration/virtio_kvm.sh. */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/event.h"
#include "fake_vm.h"
#include "hw/bus/pci.h"
#include "testlib.h"
#include "virtio/rng.h"
#include "virtio_driver.h"

#define RINGS 0x10000ULL
#define BUF 0x20000ULL
#define MAX_FDS 16

struct fake_ioeventfd {
	uint64_t addr;
	unsigned len;
	int fd;
	bool live;
};

struct fake_irqfd {
	uint64_t addr;
	uint32_t data;
	int fd;
	bool live;
	unsigned updates;
};

static struct fake_ioeventfd ioe[MAX_FDS];
static struct fake_irqfd irqfd[MAX_FDS];
static bool fail_fastpath;

static int fa_add_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, bool pio, bool match,
			    uint64_t datamatch, int fd, struct err *err)
{
	if (fail_fastpath)
		return err_set(err, "test: no ioeventfd");
	for (int i = 0; i < MAX_FDS; i++) {
		if (!ioe[i].live) {
			ioe[i] = (struct fake_ioeventfd){ addr, len, fd, true };
			return 0;
		}
	}
	return err_set(err, "test: too many ioeventfds");
}

static int fa_del_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, bool pio, bool match,
			    uint64_t datamatch, int fd)
{
	for (int i = 0; i < MAX_FDS; i++) {
		if (ioe[i].live && ioe[i].addr == addr && ioe[i].len == len && ioe[i].fd == fd) {
			ioe[i].live = false;
			return 0;
		}
	}
	return -ENOENT;
}

static int fa_add_irqfd_msi(struct vm *vm, uint64_t addr, uint32_t data, int fd, struct err *err)
{
	if (fail_fastpath)
		return err_set(err, "test: no irqfd");
	for (int i = 0; i < MAX_FDS; i++) {
		if (!irqfd[i].live) {
			irqfd[i] = (struct fake_irqfd){ addr, data, fd, true, 0 };
			return i;
		}
	}
	return err_set(err, "test: too many irqfds");
}

static int fa_update_irqfd_msi(struct vm *vm, int h, uint64_t addr, uint32_t data,
			       struct err *err)
{
	if (h < 0 || h >= MAX_FDS || !irqfd[h].live)
		return err_set(err, "test: bad irqfd handle %d", h);
	irqfd[h].addr = addr;
	irqfd[h].data = data;
	irqfd[h].updates++;
	return 0;
}

static void fa_del_irqfd_msi(struct vm *vm, int h, int fd)
{
	if (h >= 0 && h < MAX_FDS && irqfd[h].fd == fd)
		irqfd[h].live = false;
}

static const struct accel_ops fake_accel = {
	.name = "fastpath-test",
	.add_ioeventfd = fa_add_ioeventfd,
	.del_ioeventfd = fa_del_ioeventfd,
	.add_irqfd_msi = fa_add_irqfd_msi,
	.update_irqfd_msi = fa_update_irqfd_msi,
	.del_irqfd_msi = fa_del_irqfd_msi,
};

static int live_ioeventfds(void)
{
	int n = 0;

	for (int i = 0; i < MAX_FDS; i++)
		n += ioe[i].live;
	return n;
}

static struct fake_ioeventfd *ioeventfd_at(uint64_t addr)
{
	for (int i = 0; i < MAX_FDS; i++)
		if (ioe[i].live && ioe[i].addr == addr)
			return &ioe[i];
	return NULL;
}

static struct fake_irqfd *irqfd_with_data(uint32_t data)
{
	for (int i = 0; i < MAX_FDS; i++)
		if (irqfd[i].live && irqfd[i].data == data)
			return &irqfd[i];
	return NULL;
}

static int live_irqfds(void)
{
	int n = 0;

	for (int i = 0; i < MAX_FDS; i++)
		n += irqfd[i].live;
	return n;
}

/* Reads (and resets) an eventfd's counter; 0 if nothing was written. */
static uint64_t drain(int fd)
{
	uint64_t n = 0;

	for (int i = 0; i < 200 && read(fd, &n, sizeof(n)) != sizeof(n); i++) {
		n = 0;
		usleep(1000);
	}
	return n;
}

/* EVENT_IDX is negotiated: ask for an interrupt at the next used entry
 * (used_event, §2.7.10), which virtio_driver.c leaves at 0. */
static void want_interrupt(struct vdrv *d, struct vm *vm, uint16_t used)
{
	*(uint16_t *)gm_hva(&vm->mem, d->q[0].avail + 4 + 2 * VDRV_QSIZE, 2) = used;
}

/* vdrv_post without the MMIO kick: only the descriptor and the avail ring. */
static void post_silent(struct vdrv *d, struct vm *vm)
{
	struct vdrv_queue *q = &d->q[0];
	struct virtq_desc *desc = gm_hva(&vm->mem, q->desc, 16 * VDRV_QSIZE);
	uint16_t *ring = gm_hva(&vm->mem, q->avail + 4, 2 * VDRV_QSIZE);
	uint16_t *idx = gm_hva(&vm->mem, q->avail + 2, 2);
	uint16_t head = q->next_desc++ % VDRV_QSIZE;

	desc[head] = (struct virtq_desc){ BUF, 64, VIRTQ_DESC_F_WRITE, 0 };
	ring[*idx % VDRV_QSIZE] = head;
	__atomic_store_n(idx, (uint16_t)(*idx + 1), __ATOMIC_RELEASE);
}

int main(void)
{
	static const uint16_t W = VIRTQ_DESC_F_WRITE;
	struct err err = { { 0 } };
	struct virtio_rng *rng;
	struct pci_host *host;
	struct fake_irqfd *f;
	struct fake_ioeventfd *k;
	struct vdrv d;
	struct vm vm;
	uint64_t addr = BUF, one = 1;
	uint32_t len = 64;
	uint16_t used = 0;

	if (fake_vm_init(&vm, 16 << 20) < 0 || !(vm.loop = event_loop_create(&err)) ||
	    event_loop_start(vm.loop, &err) < 0 || !(host = pci_host_create(&vm, &err))) {
		printf("not ok virtio_fastpath_setup: %s\n", err.msg);
		return 0;
	}
	vm.accel = &fake_accel;
	if (!(rng = virtio_rng_create(&vm, host, &err))) {
		printf("not ok virtio_fastpath_setup: %s\n", err.msg);
		return 0;
	}

	TEST_BEGIN("virtio_fastpath_ioeventfd_follows_bar4");
	CHECK_EQ(live_ioeventfds(), 0); /* nothing before the BAR is mapped */
	CHECK(vdrv_probe(&d, &vm, host, 0x1044, 0));
	CHECK_EQ(live_ioeventfds(), 1); /* one queue */
	k = ioeventfd_at(d.notify);
	CHECK(k && k->len == 2);
	vdrv_cfg_write(&d, 0x04, 0x4, 2); /* memory decoding off */
	CHECK_EQ(live_ioeventfds(), 0);
	vdrv_cfg_write(&d, 0x20, (uint32_t)(d.bar4 + 0x100000) | 0xc, 4);
	vdrv_cfg_write(&d, 0x04, 0x6, 2);
	CHECK_EQ(live_ioeventfds(), 1);
	CHECK(ioeventfd_at(d.notify + 0x100000) != NULL);
	/* Moving a decoding BAR (Linux never does; firmware might). */
	vdrv_cfg_write(&d, 0x20, (uint32_t)d.bar4 | 0xc, 4);
	CHECK_EQ(live_ioeventfds(), 1);
	k = ioeventfd_at(d.notify);
	CHECK(k != NULL);
	TEST_END();

	TEST_BEGIN("virtio_fastpath_kick_by_ioeventfd_msi_by_irqfd");
	CHECK(vdrv_start(&d, 1, RINGS, 0, true));
	/* Vectors the driver unmasked with MSI-X on got their irqfds already. */
	f = irqfd_with_data(0x41); /* queue 0 -> vector 1 (virtio_driver.c) */
	CHECK(f && f->addr == 0xfee00000);
	CHECK(irqfd_with_data(0x40) != NULL); /* config vector */
	if (k && f) {
		drain(f->fd); /* the device's own kick at DRIVER_OK may interrupt */
		want_interrupt(&d, &vm, used);
		post_silent(&d, &vm);
		CHECK(write(k->fd, &one, sizeof(one)) == sizeof(one)); /* what KVM does */
		CHECK(vdrv_wait_used(&d, 0, ++used));
		CHECK(drain(f->fd) >= 1);
	}
	CHECK_EQ(atomic_load(&fake_vm_msis), 0);
	TEST_END();

	TEST_BEGIN("virtio_fastpath_masked_vector_pends");
	vdrv_wr(&d, d.bar1 + 16 + 12, 1, 4); /* mask vector 1 */
	vdrv_wr(&d, d.bar1 + 16 + 8, 0x51, 4); /* and give it a new message */
	want_interrupt(&d, &vm, used);
	vdrv_post(&d, 0, 1, &addr, &len, &W);
	CHECK(vdrv_wait_used(&d, 0, ++used));
	for (int i = 0; i < 200 && !(vdrv_rd(&d, d.bar1 + 0x800, 4) & 2); i++)
		usleep(1000);
	CHECK_EQ(vdrv_rd(&d, d.bar1 + 0x800, 4) & 2, 2); /* pending bit */
	if (f) {
		uint64_t n;

		CHECK(read(f->fd, &n, sizeof(n)) < 0); /* nothing sent */
		CHECK_EQ(f->updates, 0);
		vdrv_wr(&d, d.bar1 + 16 + 12, 0, 4); /* unmask: route updated, then fired */
		CHECK_EQ(f->updates, 1);
		CHECK_EQ(f->data, 0x51);
		CHECK_EQ(drain(f->fd), 1);
	}
	CHECK_EQ(vdrv_rd(&d, d.bar1 + 0x800, 4) & 2, 0);
	CHECK_EQ(atomic_load(&fake_vm_msis), 0);
	TEST_END();

	TEST_BEGIN("virtio_fastpath_unmasked_rewrite_follows");
	/* Rewriting a live entry is undefined for the driver (PCI 3.0
	 * §6.8.2.9) but must not send the old message: the route follows at
	 * the next interrupt. */
	vdrv_wr(&d, d.bar1 + 16 + 8, 0x61, 4);
	want_interrupt(&d, &vm, used);
	vdrv_post(&d, 0, 1, &addr, &len, &W);
	CHECK(vdrv_wait_used(&d, 0, ++used));
	if (f) {
		CHECK(drain(f->fd) >= 1);
		CHECK_EQ(f->updates, 2);
		CHECK_EQ(f->data, 0x61);
	}
	CHECK_EQ(atomic_load(&fake_vm_msis), 0);
	TEST_END();

	TEST_BEGIN("virtio_fastpath_destroy_releases");
	virtio_rng_destroy(rng);
	CHECK_EQ(live_ioeventfds(), 0);
	CHECK_EQ(live_irqfds(), 0);
	TEST_END();

	TEST_BEGIN("virtio_fastpath_fallback_when_refused");
	fail_fastpath = true;
	used = 0;
	rng = virtio_rng_create(&vm, host, &err);
	CHECK(rng != NULL);
	CHECK(vdrv_probe(&d, &vm, host, 0x1044, 1));
	CHECK_EQ(live_ioeventfds(), 0);
	CHECK(vdrv_start(&d, 1, RINGS, 0, true));
	vdrv_post(&d, 0, 1, &addr, &len, &W); /* the MMIO handler kicks */
	CHECK(vdrv_wait_used(&d, 0, ++used));
	for (int i = 0; i < 200 && atomic_load(&fake_vm_msis) == 0; i++)
		usleep(1000);
	CHECK(atomic_load(&fake_vm_msis) >= 1);
	CHECK_EQ(live_irqfds(), 0);
	TEST_END();

	virtio_rng_destroy(rng);
	pci_host_destroy(host);
	event_loop_destroy(vm.loop);
	fake_vm_fini(&vm);
	return 0;
}
