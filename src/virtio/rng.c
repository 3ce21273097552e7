#include "virtio/rng.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "core/log.h"
#include "virtio/virtio.h"

#define RNG_QUEUE_SIZE 64
#define RNG_MAX_SEGS 64
/* Bytes per request at most, so one guest cannot make the I/O thread spend
 * long in getrandom; the driver simply asks again. */
#define RNG_MAX_REQUEST 65536

struct virtio_rng {
	struct virtio_dev *vdev;
	struct iovec iov[RNG_MAX_SEGS];
};

static void rng_queue_notify(void *opaque, struct virtio_dev *vdev, unsigned qi)
{
	struct virtio_rng *rng = opaque;
	struct virtio_queue *q = &vdev->queues[qi];
	struct vq_elem elem = { .iov = rng->iov, .iov_cap = RNG_MAX_SEGS };
	int r;

	virtio_queue_lock(q);
	do {
		vq_disable_notify(&q->vq);
		while ((r = vq_pop(&q->vq, &elem)) > 0) {
			uint64_t done = 0;

			for (unsigned i = elem.nout; i < elem.nout + elem.nin; i++) {
				uint8_t *p = elem.iov[i].iov_base;
				size_t want = elem.iov[i].iov_len;

				if (done + want > RNG_MAX_REQUEST)
					want = RNG_MAX_REQUEST - done;
				while (want) {
					ssize_t n = getrandom(p, want, 0);

					if (n < 0) {
						if (errno == EINTR)
							continue;
						log_warn("virtio-rng: getrandom: %m");
						break;
					}
					p += n, want -= (size_t)n, done += (uint64_t)n;
				}
				if (done >= RNG_MAX_REQUEST)
					break;
			}
			vq_push(&q->vq, elem.head, (uint32_t)done);
		}
	} while (r == 0 && vq_enable_notify(&q->vq));
	if (r < 0)
		virtio_dev_needs_reset(vdev);
	virtio_queue_interrupt(q);
	virtio_queue_unlock(q);
}

static void rng_config_read(void *opaque, uint32_t off, void *buf, uint32_t len)
{
}

static const struct virtio_dev_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.pci_class = 0x00ff00,
	.config_read = rng_config_read,
	.queue_notify = rng_queue_notify,
};

struct virtio_rng *virtio_rng_create(struct vm *vm, struct pci_host *host, struct err *err)
{
	struct virtio_rng *rng = calloc(1, sizeof(*rng));

	if (!rng) {
		err_errno(err, ENOMEM, "virtio-rng");
		return NULL;
	}
	rng->vdev = virtio_pci_create(vm, host, &rng_ops, rng, 0, 1, RNG_QUEUE_SIZE, 0, err);
	if (!rng->vdev) {
		free(rng);
		return NULL;
	}
	return rng;
}

void virtio_rng_destroy(struct virtio_rng *rng)
{
	if (!rng)
		return;
	virtio_pci_destroy(rng->vdev);
	free(rng);
}
