/* Split virtqueues (virtio 1.2 §2.7): the only code in Vireo that reads the
 * rings a guest driver writes. Everything a guest controls is validated here,
 * once, before a device sees it:
 * - queue size (power of two, <= 32768) and ring placement: each ring wholly
 *   inside guest RAM and aligned as §2.7 requires;
 * - avail->idx never runs more than a queue's worth ahead of what was consumed;
 * - head and next indices < queue size; chains no longer than the queue size
 *   (so loops end), indirect tables no longer than their own length;
 * - each descriptor's [addr, addr+len) inside guest RAM, without overflow;
 * - indirect tables: only if negotiated, length a non-zero multiple of 16,
 *   not combined with NEXT, not nested (§2.7.5.3.1);
 * - device-readable descriptors before device-writable ones (§2.7.4.2).
 * A violation makes vq_pop return -EIO and marks the queue broken: the device
 * then sets DEVICE_NEEDS_RESET (§2.1.2) and touches the queue no more.
 * Descriptors are copied out of guest memory before they are checked, so the
 * guest cannot change one between the check and its use.
 * Memory barriers for the rings live here and nowhere else. */
#ifndef VIREO_VIRTIO_VIRTQUEUE_H
#define VIREO_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/err.h"
#include "vm/guest_mem.h"

#define VQ_MAX_SIZE 32768

/* Feature bits this file implements (virtio 1.2 §6). */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtqueue {
	const struct guest_mem *mem;
	uint16_t size;
	bool event_idx, indirect;
	bool broken;
	/* Host pointers into guest RAM, checked at vq_init. */
	struct virtq_desc *desc;
	uint16_t *avail_flags, *avail_idx, *avail_ring, *used_event;
	uint16_t *used_flags, *used_idx, *avail_event;
	struct virtq_used_elem *used_ring;
	uint16_t last_avail_idx; /* next avail entry to consume */
	uint16_t used_shadow;    /* our copy of used->idx */
	uint16_t signalled_used; /* used idx at the last notification we sent */
	bool signalled_valid;
	uint64_t errors;         /* chains rejected */
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

/* One chain popped from the avail ring: out[] are device-readable segments,
 * in[] device-writable ones, both host pointers into checked guest RAM. */
struct vq_elem {
	uint16_t head;
	unsigned nout, nin;
	uint64_t out_len, in_len; /* total bytes of each kind */
	struct iovec *iov;        /* caller-owned: out segments first, then in */
	unsigned iov_cap;         /* capacity of iov; chains needing more are rejected */
};

/* Validates the ring layout (§2.7: desc 16-byte, avail 2-byte, used 4-byte
 * aligned; sizes from the queue size) and resets the indices. features are the
 * negotiated ones. */
int vq_init(struct virtqueue *vq, const struct guest_mem *mem, uint16_t size, uint64_t desc_gpa,
	    uint64_t avail_gpa, uint64_t used_gpa, uint64_t features, struct err *err);

/* 1: elem filled; 0: ring empty; -EIO: the guest broke the ring or this chain
 * (vq->broken set; log once; the device must set DEVICE_NEEDS_RESET). */
int vq_pop(struct virtqueue *vq, struct vq_elem *elem);

/* Returns a chain to the driver with len bytes written to its in segments. */
void vq_push(struct virtqueue *vq, uint16_t head, uint32_t len);

/* After one or more vq_push: whether the driver wants an interrupt now
 * (VIRTQ_AVAIL_F_NO_INTERRUPT or used_event, §2.7.7 and §2.7.10). */
bool vq_should_notify(struct virtqueue *vq);

/* Notification suppression toward the driver (§2.7.7/§2.7.10): enable asks
 * to be notified on the next avail entry and returns true if entries arrived
 * meanwhile (the caller must then process them to avoid a lost wakeup). */
bool vq_enable_notify(struct virtqueue *vq);
void vq_disable_notify(struct virtqueue *vq);

/* Copies up to len bytes out of / into an element's segments. */
uint64_t vq_elem_read(const struct vq_elem *elem, uint64_t off, void *buf, uint64_t len);
uint64_t vq_elem_write(const struct vq_elem *elem, uint64_t off, const void *buf, uint64_t len);

#endif
