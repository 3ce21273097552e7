/* The virtio device core (OASIS virtio 1.2 §2-§3) over the modern PCI
 * transport (§4.1). A device (blk, console, rng, ...) supplies a const ops
 * table and its queues' work; this layer owns feature negotiation, the status
 * state machine, queue setup, notifications and interrupts.
 *
 * Threads: the guest's register accesses run on vCPU threads; a queue
 * notification only signals that queue's eventfd (under KVM the kernel does
 * it: ioeventfd), and the I/O thread calls ops->queue_notify. Devices may
 * complete requests from worker threads: virtio_queue_lock() serialises the
 * used ring of one queue.
 *
 * Locks, in the only order they nest: vdev->lock (common config and the
 * status machine; vCPU threads) -> queue lock (used ring) -> vdev->irq_lock
 * (PCI config space, MSI-X table, ISR, vectors; a leaf that only calls into
 * the interrupt controllers). */
#ifndef VIREO_VIRTIO_VIRTIO_H
#define VIREO_VIRTIO_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "hw/bus/pci.h"
#include "virtio/virtqueue.h"

struct vm;
struct pci_host;

/* Device status bits (§2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

/* Transport-independent feature bits (§6). */
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_MSI_NO_VECTOR 0xffff

/* Device IDs (§5). */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4

struct virtio_dev;

struct virtio_dev_ops {
	const char *name;
	uint16_t device_id;
	uint32_t pci_class; /* base << 16 | sub << 8 | prog-if */
	/* Reads/writes of the device-specific config (§4.1.4.6); off + len is
	 * within config_size. Writes may be ignored (most fields are read-only). */
	void (*config_read)(void *opaque, uint32_t off, void *buf, uint32_t len);
	void (*config_write)(void *opaque, uint32_t off, const void *buf, uint32_t len);
	/* DRIVER_OK with the negotiated features; queues are set up. Returning
	 * an error marks the device NEEDS_RESET. Optional. */
	int (*activate)(void *opaque, struct virtio_dev *vdev);
	/* The driver reset the device: stop using the queues; return once no
	 * request is in flight. Optional. */
	void (*reset)(void *opaque);
	/* The driver kicked queue q (I/O thread). */
	void (*queue_notify)(void *opaque, struct virtio_dev *vdev, unsigned q);
};

struct virtio_queue {
	struct virtio_dev *vdev;
	unsigned index;
	pthread_mutex_t lock; /* the used ring and notification state */
	struct virtqueue vq;
	uint16_t max_size, size;
	bool enabled;         /* queue_enable written 1 */
	bool active;          /* vq_init succeeded at DRIVER_OK */
	uint64_t desc, avail, used;
	uint16_t msix_vector;
	int kick_fd;          /* eventfd the notify register signals */
};

struct virtio_msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

#define VIRTIO_MSIX_MAX 65

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	void *opaque;
	struct vm *vm;
	struct pci_device pci;
	pthread_mutex_t lock;     /* common config and the status machine */
	pthread_mutex_t irq_lock; /* PCI config (d->lock), MSI-X, ISR, vectors */
	uint64_t host_features, guest_features;
	uint32_t device_feature_select, driver_feature_select;
	uint16_t queue_select;
	uint16_t config_msix_vector;
	_Atomic uint8_t status;
	uint8_t isr, config_generation;
	uint32_t config_size;
	unsigned nqueues;
	struct virtio_queue *queues;
	/* MSI-X (PCI 3.0 §6.8.2): table in BAR 1, one vector per queue + config. */
	unsigned msix_count;
	struct virtio_msix_entry msix[VIRTIO_MSIX_MAX];
	uint64_t msix_pending; /* PBA bits; vectors beyond 64 never pend (rarely used) */
	unsigned msix_cap;     /* config-space offset of the MSI-X capability */
	unsigned pcicfg_cap;   /* offset of the VIRTIO_PCI_CAP_PCI_CFG capability */
	uint64_t notify_base;  /* guest address of the notify region while mapped, or 0 */
	uint64_t errors;       /* guest protocol violations */
};

/* Creates the device and registers it on the PCI bus at the first free slot.
 * host_features are the device-specific feature bits; VERSION_1, EVENT_IDX
 * and INDIRECT_DESC are added here. */
struct virtio_dev *virtio_pci_create(struct vm *vm, struct pci_host *host,
				     const struct virtio_dev_ops *ops, void *opaque,
				     uint64_t host_features, unsigned nqueues,
				     uint16_t queue_max_size, uint32_t config_size,
				     struct err *err);
void virtio_pci_destroy(struct virtio_dev *vdev);

static inline bool virtio_has_feature(const struct virtio_dev *vdev, unsigned bit)
{
	return vdev->guest_features & (1ULL << bit);
}

/* Serialises completions on queue q against other completers. */
void virtio_queue_lock(struct virtio_queue *q);
void virtio_queue_unlock(struct virtio_queue *q);
/* Pushes one used element and interrupts the driver if it wants one.
 * Call with the queue lock held. */
void virtio_queue_complete(struct virtio_queue *q, uint16_t head, uint32_t len);
/* Interrupts the driver for queue q if the ring's suppression allows
 * (after a batch of vq_push). Call with the queue lock held. */
void virtio_queue_interrupt(struct virtio_queue *q);
/* The guest broke a ring: set DEVICE_NEEDS_RESET and tell the driver (§2.1.2). */
void virtio_dev_needs_reset(struct virtio_dev *vdev);
/* Device config changed (e.g. capacity): bump the generation, interrupt. */
void virtio_config_changed(struct virtio_dev *vdev);

#endif
