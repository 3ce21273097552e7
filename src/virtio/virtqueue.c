#include "virtio/virtqueue.h"

#include <errno.h>
#include <string.h>

#include "core/log.h"

/* Guest RAM changes under our feet: every ring field is read with an atomic
 * load of its natural width (aligned, checked at vq_init), never twice for one
 * decision. Relaxed loads plus explicit fences implement §2.7.13's barriers. */
static inline uint16_t load16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void store16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* Descriptors are copied out once and only the copy is checked and used.
 * memcpy because an indirect table need not be aligned. */
static inline void vq_copy_desc(struct virtq_desc *dst, const void *src)
{
	memcpy(dst, src, sizeof(*dst));
}

int vq_init(struct virtqueue *vq, const struct guest_mem *mem, uint16_t size, uint64_t desc_gpa,
	    uint64_t avail_gpa, uint64_t used_gpa, uint64_t features, struct err *err)
{
	uint8_t *desc, *avail, *used;

	memset(vq, 0, sizeof(*vq));
	if (size == 0 || (size & (size - 1)))
		return err_set(err, "queue size %u is not a power of two", size);
	/* §2.7: descriptor table 16-byte, available ring 2-byte, used ring 4-byte aligned. */
	if ((desc_gpa & 15) || (avail_gpa & 1) || (used_gpa & 3))
		return err_set(err, "misaligned ring (desc 0x%llx avail 0x%llx used 0x%llx)",
			       (unsigned long long)desc_gpa, (unsigned long long)avail_gpa,
			       (unsigned long long)used_gpa);
	desc = gm_hva(mem, desc_gpa, 16ULL * size);
	avail = gm_hva(mem, avail_gpa, 6 + 2ULL * size);
	used = gm_hva(mem, used_gpa, 6 + 8ULL * size);
	if (!desc || !avail || !used)
		return err_set(err, "ring outside guest RAM (desc 0x%llx avail 0x%llx used 0x%llx)",
			       (unsigned long long)desc_gpa, (unsigned long long)avail_gpa,
			       (unsigned long long)used_gpa);
	vq->mem = mem;
	vq->size = size;
	vq->event_idx = features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
	vq->indirect = features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	vq->desc = (struct virtq_desc *)desc;
	vq->avail_flags = (uint16_t *)avail;
	vq->avail_idx = (uint16_t *)(avail + 2);
	vq->avail_ring = (uint16_t *)(avail + 4);
	vq->used_event = (uint16_t *)(avail + 4 + 2ULL * size);
	vq->used_flags = (uint16_t *)used;
	vq->used_idx = (uint16_t *)(used + 2);
	vq->used_ring = (struct virtq_used_elem *)(used + 4);
	vq->avail_event = (uint16_t *)(used + 4 + 8ULL * size);
	/* The driver initialises used->idx to 0 (§2.7.8) but we trust our own count. */
	vq->used_shadow = 0;
	vq->last_avail_idx = 0;
	return 0;
}

static int vq_fail(struct virtqueue *vq, const char *why, unsigned long long what)
{
	vq->broken = true;
	vq->errors++;
	log_guest("virtqueue: %s (0x%llx); queue stopped until device reset", why, what);
	return -EIO;
}

/* Appends one non-empty segment after checking it lies in guest RAM. */
static int vq_add_segment(struct virtqueue *vq, struct vq_elem *elem, const struct virtq_desc *d)
{
	void *p;

	if (d->len == 0)
		return 0;
	p = gm_hva(vq->mem, d->addr, d->len);
	if (!p)
		return vq_fail(vq, "descriptor buffer outside guest RAM", d->addr);
	if (elem->nout + elem->nin >= elem->iov_cap)
		return vq_fail(vq, "descriptor chain has too many segments", elem->iov_cap);
	elem->iov[elem->nout + elem->nin] = (struct iovec){ p, d->len };
	if (d->flags & VIRTQ_DESC_F_WRITE) {
		elem->nin++;
		elem->in_len += d->len;
	} else {
		elem->nout++;
		elem->out_len += d->len;
	}
	return 0;
}

int vq_pop(struct virtqueue *vq, struct vq_elem *elem)
{
	const uint8_t *table = (const uint8_t *)vq->desc;
	unsigned table_size = vq->size, count = 0;
	bool in_indirect = false, seen_write = false;
	struct virtq_desc d;
	uint16_t avail, head;

	if (vq->broken)
		return -EIO;
	avail = load16(vq->avail_idx);
	if (avail == vq->last_avail_idx)
		return 0;
	if ((uint16_t)(avail - vq->last_avail_idx) > vq->size)
		return vq_fail(vq, "avail index ran ahead of the ring", avail);
	/* Read the ring entry only after the index that published it (§2.7.13). */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	head = load16(&vq->avail_ring[vq->last_avail_idx & (vq->size - 1)]);
	if (head >= vq->size)
		return vq_fail(vq, "head index out of range", head);

	elem->head = head;
	elem->nout = elem->nin = 0;
	elem->out_len = elem->in_len = 0;
	vq_copy_desc(&d, table + 16 * head);
	for (;;) {
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			/* §2.7.5.3.1: only if negotiated, never nested, never with NEXT. */
			if (!vq->indirect)
				return vq_fail(vq, "indirect descriptor not negotiated", d.flags);
			if (in_indirect)
				return vq_fail(vq, "nested indirect descriptor", d.addr);
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return vq_fail(vq, "indirect descriptor with NEXT", d.flags);
			if (d.len == 0 || (d.len & 15) || d.len / 16 > VQ_MAX_SIZE)
				return vq_fail(vq, "bad indirect table length", d.len);
			table = gm_hva(vq->mem, d.addr, d.len);
			if (!table)
				return vq_fail(vq, "indirect table outside guest RAM", d.addr);
			table_size = d.len / 16;
			in_indirect = true;
			count = 0;
			vq_copy_desc(&d, table);
			continue;
		}
		/* A chain visits each slot of its table at most once, so a longer
		 * walk means a loop (§2.7.5.2: chains are no longer than the queue). */
		if (++count > table_size)
			return vq_fail(vq, "descriptor chain loops or is too long", count);
		if (d.flags & VIRTQ_DESC_F_WRITE)
			seen_write = true;
		else if (seen_write)
			return vq_fail(vq, "device-readable descriptor after a writable one",
				       d.addr);
		if (vq_add_segment(vq, elem, &d) < 0)
			return -EIO;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= table_size)
			return vq_fail(vq, "next index out of range", d.next);
		vq_copy_desc(&d, table + 16 * d.next);
	}
	vq->last_avail_idx++;
	if (vq->event_idx) /* ask to be kicked for the next entry (§2.7.10) */
		store16(vq->avail_event, vq->last_avail_idx);
	return 1;
}

void vq_push(struct virtqueue *vq, uint16_t head, uint32_t len)
{
	struct virtq_used_elem *u = &vq->used_ring[vq->used_shadow & (vq->size - 1)];

	__atomic_store_n(&u->id, (uint32_t)head, __ATOMIC_RELAXED);
	__atomic_store_n(&u->len, len, __ATOMIC_RELAXED);
	vq->used_shadow++;
	/* The element must be visible before the index that publishes it. */
	__atomic_store_n(vq->used_idx, vq->used_shadow, __ATOMIC_RELEASE);
}

bool vq_should_notify(struct virtqueue *vq)
{
	uint16_t old, new, event;
	bool valid;

	/* Our used->idx store must be visible before we read the driver's
	 * suppression state, or both sides may wait for each other (§2.7.10). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(load16(vq->avail_flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	old = vq->signalled_used;
	new = vq->used_shadow;
	valid = vq->signalled_valid;
	event = load16(vq->used_event);
	vq->signalled_used = new;
	vq->signalled_valid = true;
	if (!valid)
		return true;
	/* vring_need_event(): notify if used_event lies in (old, new]. */
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

bool vq_enable_notify(struct virtqueue *vq)
{
	if (vq->broken)
		return false;
	if (vq->event_idx)
		store16(vq->avail_event, vq->last_avail_idx);
	else
		store16(vq->used_flags, load16(vq->used_flags) & ~VIRTQ_USED_F_NO_NOTIFY);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return load16(vq->avail_idx) != vq->last_avail_idx;
}

void vq_disable_notify(struct virtqueue *vq)
{
	if (!vq->event_idx && !vq->broken)
		store16(vq->used_flags, load16(vq->used_flags) | VIRTQ_USED_F_NO_NOTIFY);
}

static uint64_t vq_elem_copy(const struct vq_elem *elem, bool to_guest, uint64_t off, void *buf,
			     uint64_t len)
{
	unsigned first = to_guest ? elem->nout : 0;
	unsigned n = to_guest ? elem->nin : elem->nout;
	uint8_t *p = buf;
	uint64_t done = 0;

	for (unsigned i = first; i < first + n && done < len; i++) {
		uint64_t seg = elem->iov[i].iov_len, chunk;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		chunk = seg - off < len - done ? seg - off : len - done;
		if (to_guest)
			memcpy((uint8_t *)elem->iov[i].iov_base + off, p + done, chunk);
		else
			memcpy(p + done, (uint8_t *)elem->iov[i].iov_base + off, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

uint64_t vq_elem_read(const struct vq_elem *elem, uint64_t off, void *buf, uint64_t len)
{
	return vq_elem_copy(elem, false, off, buf, len);
}

uint64_t vq_elem_write(const struct vq_elem *elem, uint64_t off, const void *buf, uint64_t len)
{
	return vq_elem_copy(elem, true, off, (void *)buf, len);
}
