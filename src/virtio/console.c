#include "virtio/console.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chardev/chardev.h"
#include "core/log.h"
#include "virtio/virtio.h"
#include "vm/vm.h"

#define CON_QUEUE_SIZE 128
#define CON_MAX_SEGS 128
#define CON_RXQ 0
#define CON_TXQ 1
#define CON_RX_BUF 4096

/* Config layout (§5.3.4): cols, rows, max_nr_ports, emerg_wr. */
struct virtio_console_config {
	uint16_t cols, rows;
	uint32_t max_nr_ports;
	uint32_t emerg_wr;
} __attribute__((packed));

#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

struct virtio_console {
	struct virtio_dev *vdev;
	struct chardev *cd;
	struct iovec rx_iov[CON_MAX_SEGS], tx_iov[CON_MAX_SEGS];
	/* Host input waiting for guest buffers; touched on the I/O thread only
	 * (chardev rx and queue kicks both run there). */
	uint8_t rx_buf[CON_RX_BUF];
	size_t rx_len;
	bool attached;
};

/* Moves buffered host input into the guest's receive buffers (I/O thread). */
static void con_flush_rx(struct virtio_console *con)
{
	struct virtio_dev *vdev = con->vdev;
	struct virtio_queue *q = &vdev->queues[CON_RXQ];
	struct vq_elem elem = { .iov = con->rx_iov, .iov_cap = CON_MAX_SEGS };
	bool was_full = con->rx_len == CON_RX_BUF;
	int r = 0;

	if (!con->rx_len)
		return;
	virtio_queue_lock(q);
	if (!q->active) {
		virtio_queue_unlock(q);
		return;
	}
	while (con->rx_len && (r = vq_pop(&q->vq, &elem)) > 0) {
		uint64_t n = vq_elem_write(&elem, 0, con->rx_buf, con->rx_len);

		memmove(con->rx_buf, con->rx_buf + n, con->rx_len - n);
		con->rx_len -= n;
		vq_push(&q->vq, elem.head, (uint32_t)n);
	}
	if (r < 0)
		virtio_dev_needs_reset(vdev);
	virtio_queue_interrupt(q);
	virtio_queue_unlock(q);
	if (was_full && con->rx_len < CON_RX_BUF)
		chardev_rx_ready(con->cd);
}

static void con_rx(void *opaque, const uint8_t *buf, size_t len)
{
	struct virtio_console *con = opaque;
	size_t room = CON_RX_BUF - con->rx_len;

	if (len > room)
		len = room; /* rx_room bounds len; be safe anyway */
	memcpy(con->rx_buf + con->rx_len, buf, len);
	con->rx_len += len;
	con_flush_rx(con);
}

static size_t con_rx_room(void *opaque)
{
	struct virtio_console *con = opaque;

	return CON_RX_BUF - con->rx_len;
}

static void con_tx(struct virtio_console *con, struct virtio_queue *q)
{
	struct vq_elem elem = { .iov = con->tx_iov, .iov_cap = CON_MAX_SEGS };
	int r;

	virtio_queue_lock(q);
	do {
		vq_disable_notify(&q->vq);
		while ((r = vq_pop(&q->vq, &elem)) > 0) {
			for (unsigned i = 0; i < elem.nout; i++)
				chardev_write(con->cd, elem.iov[i].iov_base, elem.iov[i].iov_len);
			vq_push(&q->vq, elem.head, 0);
		}
	} while (r == 0 && vq_enable_notify(&q->vq));
	if (r < 0)
		virtio_dev_needs_reset(con->vdev);
	virtio_queue_interrupt(q);
	virtio_queue_unlock(q);
}

static void con_queue_notify(void *opaque, struct virtio_dev *vdev, unsigned qi)
{
	struct virtio_console *con = opaque;

	if (qi == CON_TXQ)
		con_tx(con, &vdev->queues[qi]);
	else
		con_flush_rx(con); /* new receive buffers */
}

static void con_config_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
	struct virtio_console_config cfg = { 80, 25, 1, 0 };

	if (off < sizeof(cfg))
		memcpy(buf, (uint8_t *)&cfg + off, len < sizeof(cfg) - off ? len : sizeof(cfg) - off);
}

/* §5.3.6: emerg_wr writes one character out even before the queues run. */
static void con_config_write(void *opaque, uint32_t off, const void *buf, uint32_t len)
{
	struct virtio_console *con = opaque;

	if (off == offsetof(struct virtio_console_config, emerg_wr) && len >= 1)
		chardev_write(con->cd, buf, 1);
}

static int con_activate(void *opaque, struct virtio_dev *vdev)
{
	struct virtio_console *con = opaque;
	struct err err = { { 0 } };

	if (!con->attached) {
		if (chardev_attach(con->cd, vdev->vm->loop, con_rx, con_rx_room, con, &err) < 0) {
			log_error("virtio-console: %s", err.msg);
			return -EIO;
		}
		con->attached = true;
	}
	return 0;
}

static const struct virtio_dev_ops con_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.pci_class = 0x078000,
	.config_read = con_config_read,
	.config_write = con_config_write,
	.activate = con_activate,
	.queue_notify = con_queue_notify,
};

struct virtio_console *virtio_console_create(struct vm *vm, struct pci_host *host,
					     struct chardev *cd, struct err *err)
{
	struct virtio_console *con = calloc(1, sizeof(*con));

	if (!con) {
		err_errno(err, ENOMEM, "virtio-console");
		return NULL;
	}
	con->cd = cd;
	con->vdev = virtio_pci_create(vm, host, &con_ops, con, 1ULL << VIRTIO_CONSOLE_F_EMERG_WRITE,
				      2, CON_QUEUE_SIZE, sizeof(struct virtio_console_config), err);
	if (!con->vdev) {
		free(con);
		return NULL;
	}
	return con;
}

void virtio_console_destroy(struct virtio_console *con)
{
	if (!con)
		return;
	if (con->attached)
		chardev_detach(con->cd);
	virtio_pci_destroy(con->vdev);
	free(con);
}
