/* Modern virtio PCI transport (virtio 1.2 §4.1) with MSI-X.
 *
 * BAR 4 (64-bit memory, 16 KiB): common config at 0x0000, ISR at 0x1000,
 * device config at 0x2000, notifications at 0x3000 (queue q at 0x3000 + 4q).
 * BAR 1 (32-bit memory, 4 KiB): MSI-X table at 0x000, PBA at 0x800. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/event.h"
#include "core/log.h"
#include "hw/bus/io.h"
#include "virtio/virtio.h"
#include "vm/vm.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040 /* modern-only device IDs (§4.1.2.1) */

#define BAR_VIRTIO 4
#define BAR_VIRTIO_SIZE 0x4000
#define BAR_MSIX 1
#define BAR_MSIX_SIZE 0x1000
#define OFF_COMMON 0x0000
#define OFF_ISR 0x1000
#define OFF_DEVICE 0x2000
#define OFF_NOTIFY 0x3000
#define NOTIFY_MULTIPLIER 4
#define MSIX_PBA_OFF 0x800
#define COMMON_LEN 0x40

/* virtio_pci_cap cfg_type (§4.1.4) */
#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3
#define CAP_DEVICE 4
#define CAP_PCI_CFG 5
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11
#define MSIX_ENABLE 0x8000
#define MSIX_FUNC_MASK 0x4000

/* Common configuration layout (§4.1.4.3). */
enum {
	CC_DFSELECT = 0x00,
	CC_DF = 0x04,
	CC_GFSELECT = 0x08,
	CC_GF = 0x0c,
	CC_MSIX = 0x10,
	CC_NUMQ = 0x12,
	CC_STATUS = 0x14,
	CC_CFGGEN = 0x15,
	CC_Q_SELECT = 0x16,
	CC_Q_SIZE = 0x18,
	CC_Q_MSIX = 0x1a,
	CC_Q_ENABLE = 0x1c,
	CC_Q_NOFF = 0x1e,
	CC_Q_DESCLO = 0x20,
	CC_Q_DESCHI = 0x24,
	CC_Q_AVAILLO = 0x28,
	CC_Q_AVAILHI = 0x2c,
	CC_Q_USEDLO = 0x30,
	CC_Q_USEDHI = 0x34,
};

/* --- interrupts --- */

/* With vdev->irq_lock held. */
static void virtio_msix_fire(struct virtio_dev *vdev, unsigned vector)
{
	uint16_t ctrl = (uint16_t)pci_config_get(&vdev->pci, vdev->msix_cap + 2, 2);
	struct virtio_msix_entry *e;

	if (vector >= vdev->msix_count)
		return;
	e = &vdev->msix[vector];
	if ((ctrl & MSIX_FUNC_MASK) || (e->ctrl & 1)) {
		if (vector < 64)
			vdev->msix_pending |= 1ULL << vector;
		return;
	}
	vm_send_msi(vdev->vm, (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data);
}

static bool virtio_msix_enabled(struct virtio_dev *vdev)
{
	return pci_config_get(&vdev->pci, vdev->msix_cap + 2, 2) & MSIX_ENABLE;
}

/* Raise the interrupt for a queue (vector) or a config change. With vdev->irq_lock held. */
static void virtio_raise_locked(struct virtio_dev *vdev, uint16_t vector, uint8_t isr_bit)
{
	if (virtio_msix_enabled(vdev)) {
		if (vector != VIRTIO_MSI_NO_VECTOR)
			virtio_msix_fire(vdev, vector);
		return;
	}
	/* INTx (§4.1.5.3): ISR bit set, line asserted until the ISR is read. */
	vdev->isr |= isr_bit;
	pci_device_set_intx(&vdev->pci, true);
}

void virtio_queue_lock(struct virtio_queue *q)
{
	pthread_mutex_lock(&q->lock);
}

void virtio_queue_unlock(struct virtio_queue *q)
{
	pthread_mutex_unlock(&q->lock);
}

void virtio_queue_interrupt(struct virtio_queue *q)
{
	struct virtio_dev *vdev = q->vdev;

	if (!vq_should_notify(&q->vq))
		return;
	pthread_mutex_lock(&vdev->irq_lock);
	virtio_raise_locked(vdev, q->msix_vector, 1);
	pthread_mutex_unlock(&vdev->irq_lock);
}

void virtio_queue_complete(struct virtio_queue *q, uint16_t head, uint32_t len)
{
	vq_push(&q->vq, head, len);
	virtio_queue_interrupt(q);
}

/* Any thread, any locks but irq_lock. */
void virtio_dev_needs_reset(struct virtio_dev *vdev)
{
	uint8_t old = atomic_fetch_or(&vdev->status, VIRTIO_STATUS_NEEDS_RESET);

	if (old & VIRTIO_STATUS_NEEDS_RESET)
		return;
	pthread_mutex_lock(&vdev->irq_lock);
	vdev->errors++;
	/* §2.1.2: a device that sets NEEDS_RESET after DRIVER_OK notifies the
	 * driver with a configuration change notification. */
	if (old & VIRTIO_STATUS_DRIVER_OK)
		virtio_raise_locked(vdev, vdev->config_msix_vector, 2);
	pthread_mutex_unlock(&vdev->irq_lock);
}

void virtio_config_changed(struct virtio_dev *vdev)
{
	pthread_mutex_lock(&vdev->irq_lock);
	vdev->config_generation++;
	if (atomic_load(&vdev->status) & VIRTIO_STATUS_DRIVER_OK)
		virtio_raise_locked(vdev, vdev->config_msix_vector, 2);
	pthread_mutex_unlock(&vdev->irq_lock);
}

/* --- queue kicks (I/O thread) --- */

static void virtio_kick_cb(void *opaque, uint32_t events)
{
	struct virtio_queue *q = opaque;
	uint64_t n;

	bool live;

	if (read(q->kick_fd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&q->lock);
	live = q->active && !q->vq.broken;
	pthread_mutex_unlock(&q->lock);
	if (live)
		q->vdev->ops->queue_notify(q->vdev->opaque, q->vdev, q->index);
}

/* --- lifecycle --- */

/* Stops all queues and resets the state the driver set (§2.4). With vdev->lock
 * held; drops it around the device's reset callback, which may wait for I/O. */
static void virtio_reset_locked(struct virtio_dev *vdev)
{
	for (unsigned i = 0; i < vdev->nqueues; i++) {
		struct virtio_queue *q = &vdev->queues[i];

		if (q->active)
			event_loop_del_fd(vdev->vm->loop, q->kick_fd);
		pthread_mutex_lock(&q->lock);
		q->active = false;
		pthread_mutex_unlock(&q->lock);
	}
	if (vdev->ops->reset) {
		pthread_mutex_unlock(&vdev->lock);
		vdev->ops->reset(vdev->opaque);
		pthread_mutex_lock(&vdev->lock);
	}
	for (unsigned i = 0; i < vdev->nqueues; i++) {
		struct virtio_queue *q = &vdev->queues[i];

		pthread_mutex_lock(&q->lock);
		q->size = q->max_size;
		q->enabled = false;
		q->desc = q->avail = q->used = 0;
		q->msix_vector = VIRTIO_MSI_NO_VECTOR;
		memset(&q->vq, 0, sizeof(q->vq));
		pthread_mutex_unlock(&q->lock);
	}
	atomic_store(&vdev->status, 0);
	vdev->guest_features = 0;
	vdev->device_feature_select = vdev->driver_feature_select = 0;
	vdev->queue_select = 0;
	pthread_mutex_lock(&vdev->irq_lock);
	vdev->isr = 0;
	vdev->config_msix_vector = VIRTIO_MSI_NO_VECTOR;
	pci_device_set_intx(&vdev->pci, false);
	pthread_mutex_unlock(&vdev->irq_lock);
}

/* DRIVER_OK: validate every enabled queue's rings and start listening. */
static void virtio_activate_locked(struct virtio_dev *vdev)
{
	for (unsigned i = 0; i < vdev->nqueues; i++) {
		struct virtio_queue *q = &vdev->queues[i];
		struct err err = { { 0 } };

		if (!q->enabled)
			continue;
		pthread_mutex_lock(&q->lock);
		if (vq_init(&q->vq, &vdev->vm->mem, q->size, q->desc, q->avail, q->used,
			    vdev->guest_features, &err) < 0) {
			pthread_mutex_unlock(&q->lock);
			log_guest("virtio %s: queue %u: %s", vdev->ops->name, i, err.msg);
			virtio_dev_needs_reset(vdev);
			return;
		}
		pthread_mutex_unlock(&q->lock);
		if (event_loop_add_fd(vdev->vm->loop, q->kick_fd, EPOLLIN, virtio_kick_cb, q,
				      &err) < 0) {
			log_error("virtio %s: queue %u: %s", vdev->ops->name, i, err.msg);
			virtio_dev_needs_reset(vdev);
			return;
		}
		pthread_mutex_lock(&q->lock);
		q->active = true;
		pthread_mutex_unlock(&q->lock);
	}
	if (vdev->ops->activate) {
		pthread_mutex_unlock(&vdev->lock);
		int r = vdev->ops->activate(vdev->opaque, vdev);

		pthread_mutex_lock(&vdev->lock);
		if (r < 0)
			virtio_dev_needs_reset(vdev);
	}
	/* Buffers may already wait: kick every active queue once. */
	for (unsigned i = 0; i < vdev->nqueues; i++) {
		uint64_t one = 1;

		if (vdev->queues[i].active && write(vdev->queues[i].kick_fd, &one, 8) < 0)
			log_warn("virtio %s: kick: write failed", vdev->ops->name);
	}
}

static void virtio_set_status(struct virtio_dev *vdev, uint8_t val)
{
	uint8_t old = atomic_load(&vdev->status);

	if (val == 0) {
		virtio_reset_locked(vdev);
		return;
	}
	/* FEATURES_OK only sticks if we accept the driver's features (§2.2). */
	if ((val & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		if ((vdev->guest_features & ~vdev->host_features) ||
		    !virtio_has_feature(vdev, VIRTIO_F_VERSION_1))
			val &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	}
	atomic_store(&vdev->status, val | (old & VIRTIO_STATUS_NEEDS_RESET));
	if ((val & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
		if (!(val & VIRTIO_STATUS_FEATURES_OK)) {
			log_guest("virtio %s: DRIVER_OK without FEATURES_OK", vdev->ops->name);
			virtio_dev_needs_reset(vdev);
			return;
		}
		virtio_activate_locked(vdev);
	}
}

/* --- BAR 4: common config, ISR, device config, notify --- */

static struct virtio_queue *virtio_selected(struct virtio_dev *vdev)
{
	return vdev->queue_select < vdev->nqueues ? &vdev->queues[vdev->queue_select] : NULL;
}

static uint32_t virtio_common_read(struct virtio_dev *vdev, uint64_t off)
{
	struct virtio_queue *q = virtio_selected(vdev);

	switch (off) {
	case CC_DFSELECT:
		return vdev->device_feature_select;
	case CC_DF:
		return vdev->device_feature_select < 2 ?
			       (uint32_t)(vdev->host_features >> (32 * vdev->device_feature_select)) :
			       0;
	case CC_GFSELECT:
		return vdev->driver_feature_select;
	case CC_GF:
		return vdev->driver_feature_select < 2 ?
			       (uint32_t)(vdev->guest_features >> (32 * vdev->driver_feature_select)) :
			       0;
	case CC_MSIX:
		return vdev->config_msix_vector;
	case CC_NUMQ:
		return vdev->nqueues;
	case CC_STATUS:
		return vdev->status;
	case CC_CFGGEN:
		return vdev->config_generation;
	case CC_Q_SELECT:
		return vdev->queue_select;
	}
	if (!q) /* §4.1.4.3.2: an unavailable queue reads size 0 */
		return 0;
	switch (off) {
	case CC_Q_SIZE:
		return q->size;
	case CC_Q_MSIX:
		return q->msix_vector;
	case CC_Q_ENABLE:
		return q->enabled;
	case CC_Q_NOFF:
		return q->index;
	case CC_Q_DESCLO:
		return (uint32_t)q->desc;
	case CC_Q_DESCHI:
		return (uint32_t)(q->desc >> 32);
	case CC_Q_AVAILLO:
		return (uint32_t)q->avail;
	case CC_Q_AVAILHI:
		return (uint32_t)(q->avail >> 32);
	case CC_Q_USEDLO:
		return (uint32_t)q->used;
	case CC_Q_USEDHI:
		return (uint32_t)(q->used >> 32);
	}
	return 0;
}

static void set_lo(uint64_t *v, uint32_t val)
{
	*v = (*v & ~0xffffffffULL) | val;
}

static void set_hi(uint64_t *v, uint32_t val)
{
	*v = (*v & 0xffffffffULL) | (uint64_t)val << 32;
}

static void virtio_common_write(struct virtio_dev *vdev, uint64_t off, uint32_t val)
{
	struct virtio_queue *q = virtio_selected(vdev);
	bool running = vdev->status & VIRTIO_STATUS_DRIVER_OK;

	switch (off) {
	case CC_DFSELECT:
		vdev->device_feature_select = val;
		return;
	case CC_GFSELECT:
		vdev->driver_feature_select = val;
		return;
	case CC_GF:
		/* Features are frozen once FEATURES_OK is set (§3.1.1). */
		if (vdev->driver_feature_select < 2 && !(vdev->status & VIRTIO_STATUS_FEATURES_OK)) {
			if (vdev->driver_feature_select)
				set_hi(&vdev->guest_features, val);
			else
				set_lo(&vdev->guest_features, val);
		}
		return;
	case CC_MSIX:
		pthread_mutex_lock(&vdev->irq_lock);
		vdev->config_msix_vector =
			val < vdev->msix_count ? (uint16_t)val : VIRTIO_MSI_NO_VECTOR;
		pthread_mutex_unlock(&vdev->irq_lock);
		return;
	case CC_STATUS:
		virtio_set_status(vdev, (uint8_t)val);
		return;
	case CC_Q_SELECT:
		vdev->queue_select = (uint16_t)val;
		return;
	}
	/* Queue registers: ignored for absent queues, and (except the vector)
	 * once the device runs, since the rings were validated at DRIVER_OK. */
	if (!q)
		return;
	if (off == CC_Q_MSIX) {
		pthread_mutex_lock(&vdev->irq_lock);
		q->msix_vector = val < vdev->msix_count ? (uint16_t)val : VIRTIO_MSI_NO_VECTOR;
		pthread_mutex_unlock(&vdev->irq_lock);
		return;
	}
	if (running || q->enabled) {
		if (off != CC_Q_ENABLE || val != 1)
			log_guest("virtio %s: queue %u register 0x%llx written while live",
				  vdev->ops->name, q->index, (unsigned long long)off);
		return;
	}
	switch (off) {
	case CC_Q_SIZE:
		/* §4.1.4.3.2: a power of two no larger than the maximum; vq_init
		 * refuses anything else at DRIVER_OK. */
		q->size = val > q->max_size ? q->max_size : (uint16_t)val;
		break;
	case CC_Q_ENABLE:
		q->enabled = val == 1;
		break;
	case CC_Q_DESCLO:
		set_lo(&q->desc, val);
		break;
	case CC_Q_DESCHI:
		set_hi(&q->desc, val);
		break;
	case CC_Q_AVAILLO:
		set_lo(&q->avail, val);
		break;
	case CC_Q_AVAILHI:
		set_hi(&q->avail, val);
		break;
	case CC_Q_USEDLO:
		set_lo(&q->used, val);
		break;
	case CC_Q_USEDHI:
		set_hi(&q->used, val);
		break;
	}
}

static uint64_t virtio_bar_read(void *opaque, uint64_t off, unsigned size)
{
	struct virtio_dev *vdev = opaque;
	uint64_t v = 0;

	pthread_mutex_lock(&vdev->lock);
	if (off < OFF_COMMON + COMMON_LEN) {
		/* Registers are read whole and narrowed, so byte reads of the
		 * 8-bit fields and word reads of the 16-bit ones both work. */
		unsigned base = (unsigned)off & ~3u, shift = ((unsigned)off & 3) * 8;

		if (off == CC_STATUS || off == CC_CFGGEN)
			v = virtio_common_read(vdev, off);
		else if ((off & 3) == 2 && size == 2)
			v = virtio_common_read(vdev, off);
		else
			v = virtio_common_read(vdev, base) >> shift;
	} else if (off == OFF_ISR) {
		/* §4.1.4.5: reading the ISR clears it and de-asserts INTx. */
		pthread_mutex_lock(&vdev->irq_lock);
		v = vdev->isr;
		vdev->isr = 0;
		pci_device_set_intx(&vdev->pci, false);
		pthread_mutex_unlock(&vdev->irq_lock);
	} else if (off >= OFF_DEVICE && off < OFF_DEVICE + vdev->config_size) {
		uint64_t o = off - OFF_DEVICE;
		uint8_t buf[8] = { 0 };
		uint32_t len = (uint32_t)(o + size <= vdev->config_size ? size : vdev->config_size - o);

		vdev->ops->config_read(vdev->opaque, (uint32_t)o, buf, len);
		memcpy(&v, buf, sizeof(v));
	}
	pthread_mutex_unlock(&vdev->lock);
	return size == 8 ? v : v & ((1ULL << (8 * size)) - 1);
}

static void virtio_bar_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct virtio_dev *vdev = opaque;

	if (off >= OFF_NOTIFY && off < OFF_NOTIFY + NOTIFY_MULTIPLIER * (uint64_t)vdev->nqueues) {
		/* The fast path of a kick: no lock, just the eventfd (§4.1.5.2). */
		struct virtio_queue *q = &vdev->queues[(off - OFF_NOTIFY) / NOTIFY_MULTIPLIER];
		uint64_t one = 1;

		if (write(q->kick_fd, &one, sizeof(one)) < 0)
			log_guest("virtio %s: kick failed", vdev->ops->name);
		return;
	}
	pthread_mutex_lock(&vdev->lock);
	if (off < OFF_COMMON + COMMON_LEN) {
		if (off == CC_STATUS && size == 1)
			virtio_common_write(vdev, off, (uint32_t)val);
		else if (!(off & 1))
			virtio_common_write(vdev, off, (uint32_t)val);
		else
			log_guest("virtio %s: misaligned common config write at 0x%llx",
				  vdev->ops->name, (unsigned long long)off);
	} else if (off >= OFF_DEVICE && off < OFF_DEVICE + vdev->config_size &&
		   vdev->ops->config_write) {
		uint64_t o = off - OFF_DEVICE;
		uint32_t len = (uint32_t)(o + size <= vdev->config_size ? size : vdev->config_size - o);

		vdev->ops->config_write(vdev->opaque, (uint32_t)o, &val, len);
	}
	pthread_mutex_unlock(&vdev->lock);
}

static const struct io_ops virtio_bar_ops = {
	.read = virtio_bar_read,
	.write = virtio_bar_write,
	.min_size = 1,
	.max_size = 4,
};

/* --- BAR 1: MSI-X table and PBA --- */

static uint64_t virtio_msix_read(void *opaque, uint64_t off, unsigned size)
{
	struct virtio_dev *vdev = opaque;
	uint32_t v = 0;

	pthread_mutex_lock(&vdev->irq_lock);
	if (off < 16ULL * vdev->msix_count) {
		const uint32_t *e = (const uint32_t *)&vdev->msix[off / 16];

		v = e[(off % 16) / 4];
	} else if (off >= MSIX_PBA_OFF && off < MSIX_PBA_OFF + 8) {
		v = (uint32_t)(vdev->msix_pending >> (8 * (off - MSIX_PBA_OFF)));
	}
	pthread_mutex_unlock(&vdev->irq_lock);
	return v;
}

static void virtio_msix_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct virtio_dev *vdev = opaque;
	unsigned vec = (unsigned)(off / 16);

	if (off >= 16ULL * vdev->msix_count)
		return; /* the PBA is read-only */
	pthread_mutex_lock(&vdev->irq_lock);
	((uint32_t *)&vdev->msix[vec])[(off % 16) / 4] = (uint32_t)val;
	/* Unmasking a vector with a pending message delivers it (PCI 3.0 §6.8.2.9). */
	if ((off % 16) == 12 && !(val & 1) && vec < 64 && (vdev->msix_pending & (1ULL << vec))) {
		vdev->msix_pending &= ~(1ULL << vec);
		virtio_msix_fire(vdev, vec);
	}
	pthread_mutex_unlock(&vdev->irq_lock);
}

static const struct io_ops virtio_msix_ops = {
	.read = virtio_msix_read,
	.write = virtio_msix_write,
	.min_size = 4,
	.max_size = 4,
};

/* --- PCI config hooks: MSI-X function mask and the PCI_CFG window --- */

static void virtio_pci_config_write(void *opaque, struct pci_device *d, unsigned reg, uint32_t val,
				    unsigned size)
{
	struct virtio_dev *vdev = opaque;
	unsigned ctrl = vdev->msix_cap + 2;

	/* Clearing the function mask delivers messages that pended meanwhile. */
	if (reg <= ctrl + 1 && reg + size > ctrl) {
		uint16_t c = (uint16_t)pci_config_get(d, ctrl, 2);

		if ((c & MSIX_ENABLE) && !(c & MSIX_FUNC_MASK)) {
			for (unsigned v = 0; v < vdev->msix_count && v < 64; v++) {
				if ((vdev->msix_pending & (1ULL << v)) && !(vdev->msix[v].ctrl & 1)) {
					vdev->msix_pending &= ~(1ULL << v);
					virtio_msix_fire(vdev, v);
				}
			}
		}
	}
}

static const struct pci_device_ops virtio_pci_ops = {
	.config_write = virtio_pci_config_write,
};

/* Appends a virtio_pci_cap (§4.1.4). */
static int virtio_add_cap(struct virtio_dev *vdev, uint8_t type, uint8_t bar, uint32_t off,
			  uint32_t len, unsigned cap_len, struct err *err)
{
	int c = pci_device_add_capability(&vdev->pci, PCI_CAP_ID_VNDR, cap_len, err);

	if (c < 0)
		return c;
	pci_config_set(&vdev->pci, (unsigned)c + 2, cap_len, 1);
	pci_config_set(&vdev->pci, (unsigned)c + 3, type, 1);
	pci_config_set(&vdev->pci, (unsigned)c + 4, bar, 1);
	pci_config_set(&vdev->pci, (unsigned)c + 8, off, 4);
	pci_config_set(&vdev->pci, (unsigned)c + 12, len, 4);
	return c;
}

static int virtio_pci_setup(struct virtio_dev *vdev, struct err *err)
{
	struct pci_device *d = &vdev->pci;
	int c;

	pci_device_init(d, vdev->ops->name, VIRTIO_PCI_VENDOR,
			VIRTIO_PCI_DEVICE_BASE + vdev->ops->device_id, vdev->ops->pci_class, 1,
			&virtio_pci_ops, vdev);
	d->lock = &vdev->irq_lock; /* config space and BAR moves: see the lock order */
	pci_device_set_subsystem(d, VIRTIO_PCI_VENDOR, 0x1100);
	pci_device_set_intx_pin(d, 1);
	if (pci_device_set_bar(d, BAR_MSIX, PCI_BAR_MEM32, BAR_MSIX_SIZE, false, &virtio_msix_ops,
			       vdev, err) < 0 ||
	    pci_device_set_bar(d, BAR_VIRTIO, PCI_BAR_MEM64, BAR_VIRTIO_SIZE, true,
			       &virtio_bar_ops, vdev, err) < 0)
		return -EINVAL;
	if (virtio_add_cap(vdev, CAP_COMMON, BAR_VIRTIO, OFF_COMMON, COMMON_LEN, 16, err) < 0 ||
	    virtio_add_cap(vdev, CAP_ISR, BAR_VIRTIO, OFF_ISR, 4, 16, err) < 0 ||
	    virtio_add_cap(vdev, CAP_DEVICE, BAR_VIRTIO, OFF_DEVICE, vdev->config_size ? vdev->config_size : 4, 16,
			   err) < 0)
		return -EINVAL;
	c = virtio_add_cap(vdev, CAP_NOTIFY, BAR_VIRTIO, OFF_NOTIFY,
			   NOTIFY_MULTIPLIER * vdev->nqueues, 20, err);
	if (c < 0)
		return c;
	pci_config_set(d, (unsigned)c + 16, NOTIFY_MULTIPLIER, 4);
	/* §4.1.4.9: the PCI configuration access capability. Linux never uses
	 * it; the window's fields are writable and its data reads as zero. */
	c = virtio_add_cap(vdev, CAP_PCI_CFG, 0, 0, 0, 20, err);
	if (c < 0)
		return c;
	vdev->pcicfg_cap = (unsigned)c;
	for (unsigned i = 4; i < 20; i++)
		d->wmask[c + i] = 0xff;
	/* MSI-X: table size N-1, table in BAR 1 at 0, PBA in BAR 1 at 0x800. */
	c = pci_device_add_capability(d, PCI_CAP_ID_MSIX, 12, err);
	if (c < 0)
		return c;
	vdev->msix_cap = (unsigned)c;
	pci_config_set(d, (unsigned)c + 2, vdev->msix_count - 1, 2);
	pci_config_set(d, (unsigned)c + 4, 0 | BAR_MSIX, 4);
	pci_config_set(d, (unsigned)c + 8, MSIX_PBA_OFF | BAR_MSIX, 4);
	d->wmask[c + 3] = (MSIX_ENABLE | MSIX_FUNC_MASK) >> 8;
	return 0;
}

struct virtio_dev *virtio_pci_create(struct vm *vm, struct pci_host *host,
				     const struct virtio_dev_ops *ops, void *opaque,
				     uint64_t host_features, unsigned nqueues,
				     uint16_t queue_max_size, uint32_t config_size,
				     struct err *err)
{
	struct virtio_dev *vdev;
	int slot;

	if (nqueues == 0 || nqueues + 1 > VIRTIO_MSIX_MAX || config_size > 0x1000 ||
	    !queue_max_size || (queue_max_size & (queue_max_size - 1)) ||
	    queue_max_size > VQ_MAX_SIZE) {
		err_set(err, "virtio %s: bad device parameters", ops->name);
		return NULL;
	}
	vdev = calloc(1, sizeof(*vdev));
	if (vdev)
		vdev->queues = calloc(nqueues, sizeof(*vdev->queues));
	if (!vdev || !vdev->queues) {
		if (vdev)
			free(vdev);
		err_errno(err, ENOMEM, "virtio %s", ops->name);
		return NULL;
	}
	pthread_mutex_init(&vdev->lock, NULL);
	pthread_mutex_init(&vdev->irq_lock, NULL);
	vdev->ops = ops;
	vdev->opaque = opaque;
	vdev->vm = vm;
	vdev->host_features = host_features | (1ULL << VIRTIO_F_VERSION_1) |
			      (1ULL << VIRTIO_RING_F_EVENT_IDX) |
			      (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	vdev->nqueues = nqueues;
	vdev->config_size = config_size;
	vdev->config_msix_vector = VIRTIO_MSI_NO_VECTOR;
	vdev->msix_count = nqueues + 1;
	for (unsigned i = 0; i < vdev->msix_count; i++)
		vdev->msix[i].ctrl = 1; /* vectors start masked */
	for (unsigned i = 0; i < nqueues; i++) {
		struct virtio_queue *q = &vdev->queues[i];

		pthread_mutex_init(&q->lock, NULL);
		q->vdev = vdev;
		q->index = i;
		q->max_size = q->size = queue_max_size;
		q->msix_vector = VIRTIO_MSI_NO_VECTOR;
		q->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (q->kick_fd < 0) {
			err_errno(err, errno, "virtio %s: eventfd", ops->name);
			vdev->nqueues = i;
			goto fail;
		}
	}
	if (virtio_pci_setup(vdev, err) < 0)
		goto fail;
	slot = pci_host_free_slot(host);
	if (slot < 0) {
		err_set(err, "virtio %s: no free PCI slot", ops->name);
		goto fail;
	}
	if (pci_register_device(host, &vdev->pci, (unsigned)slot << 3, err) < 0)
		goto fail;
	return vdev;
fail:
	err_prefix(err, "virtio %s", ops->name);
	virtio_pci_destroy(vdev);
	return NULL;
}

void virtio_pci_destroy(struct virtio_dev *vdev)
{
	if (!vdev)
		return;
	pthread_mutex_lock(&vdev->lock);
	virtio_reset_locked(vdev);
	pthread_mutex_unlock(&vdev->lock);
	if (vdev->pci.host)
		pci_unregister_device(vdev->pci.host, &vdev->pci);
	pci_device_fini(&vdev->pci);
	for (unsigned i = 0; i < vdev->nqueues; i++) {
		close(vdev->queues[i].kick_fd);
		pthread_mutex_destroy(&vdev->queues[i].lock);
	}
	pthread_mutex_destroy(&vdev->lock);
	pthread_mutex_destroy(&vdev->irq_lock);
	free(vdev->queues);
	free(vdev);
}
