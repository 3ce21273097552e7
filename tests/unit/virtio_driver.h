/* A minimal virtio-pci driver for device unit tests, doing what Linux's
 * virtio_pci_modern does: find the device, map its BARs, walk the vendor
 * capabilities, negotiate, set up queues in guest RAM and kick them. */
#ifndef VIREO_TESTS_VIRTIO_DRIVER_H
#define VIREO_TESTS_VIRTIO_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtqueue.h"
#include "vm/vm.h"

struct pci_host;

#define VDRV_QSIZE 8

struct vdrv_queue {
	uint64_t desc, avail, used;
	uint16_t next_desc;
};

struct vdrv {
	struct vm *vm;
	struct pci_host *host;
	unsigned devfn;
	uint64_t common, notify, isr, device_cfg, bar1, bar4;
	uint32_t notify_mult;
	unsigned msix_cap;
	struct vdrv_queue q[4];
};

/* Finds the first device with this PCI device ID, maps BAR1/BAR4 at distinct
 * addresses (index picks them) and reads the capabilities. */
bool vdrv_probe(struct vdrv *d, struct vm *vm, struct pci_host *host, uint16_t device_id,
		unsigned index);
uint64_t vdrv_rd(struct vdrv *d, uint64_t addr, unsigned size);
void vdrv_wr(struct vdrv *d, uint64_t addr, uint64_t val, unsigned size);
uint32_t vdrv_cfg_read(struct vdrv *d, unsigned reg, unsigned size);
void vdrv_cfg_write(struct vdrv *d, unsigned reg, uint32_t val, unsigned size);
/* Reset, negotiate VERSION_1 | EVENT_IDX | extra, set up nq queues of
 * VDRV_QSIZE entries (rings placed from ring_base), optionally MSI-X, DRIVER_OK.
 * Returns false if FEATURES_OK was refused. */
bool vdrv_start(struct vdrv *d, unsigned nq, uint64_t ring_base, uint64_t extra_features,
		bool msix);
/* Posts a chain of n descriptors (flags per entry, NEXT added) on queue qi and kicks. */
void vdrv_post(struct vdrv *d, unsigned qi, unsigned n, const uint64_t *addr, const uint32_t *len,
	       const uint16_t *flags);
/* Waits (up to 2 s) until queue qi's used index reaches idx. */
bool vdrv_wait_used(struct vdrv *d, unsigned qi, uint16_t idx);
uint32_t vdrv_used_len(struct vdrv *d, unsigned qi, uint16_t idx);
uint8_t vdrv_status(struct vdrv *d);

#endif
