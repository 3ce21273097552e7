#include "virtio_driver.h"

#include <unistd.h>

#include "hw/bus/io.h"
#include "hw/bus/pci.h"

uint32_t vdrv_cfg_read(struct vdrv *d, unsigned reg, unsigned size)
{
	return pci_host_config_read(d->host, 0, d->devfn, reg, size);
}

void vdrv_cfg_write(struct vdrv *d, unsigned reg, uint32_t val, unsigned size)
{
	pci_host_config_write(d->host, 0, d->devfn, reg, val, size);
}

uint64_t vdrv_rd(struct vdrv *d, uint64_t addr, unsigned size)
{
	return io_read(d->vm->mmio, addr, size);
}

void vdrv_wr(struct vdrv *d, uint64_t addr, uint64_t val, unsigned size)
{
	io_write(d->vm->mmio, addr, val, size);
}

bool vdrv_probe(struct vdrv *d, struct vm *vm, struct pci_host *host, uint16_t device_id,
		unsigned index)
{
	*d = (struct vdrv){ .vm = vm, .host = host };
	for (d->devfn = 8; d->devfn < 256; d->devfn += 8)
		if (vdrv_cfg_read(d, 0, 4) == (uint32_t)(device_id << 16 | 0x1af4))
			break;
	if (d->devfn >= 256)
		return false;
	d->bar1 = 0xc0000000ULL + index * 0x100000ULL;
	d->bar4 = 0xd0000000ULL + index * 0x100000ULL;
	vdrv_cfg_write(d, 0x14, (uint32_t)d->bar1, 4);
	vdrv_cfg_write(d, 0x20, (uint32_t)d->bar4 | 0xc, 4);
	vdrv_cfg_write(d, 0x24, 0, 4);
	vdrv_cfg_write(d, 0x04, 0x6, 2);
	for (unsigned c = vdrv_cfg_read(d, 0x34, 1); c; c = vdrv_cfg_read(d, c + 1, 1)) {
		unsigned id = vdrv_cfg_read(d, c, 1), type, bar;
		uint64_t addr;

		if (id == 0x11)
			d->msix_cap = c;
		if (id != 0x09)
			continue;
		type = vdrv_cfg_read(d, c + 3, 1);
		bar = vdrv_cfg_read(d, c + 4, 1);
		addr = (bar == 1 ? d->bar1 : d->bar4) + vdrv_cfg_read(d, c + 8, 4);
		if (type == 1)
			d->common = addr;
		else if (type == 2) {
			d->notify = addr;
			d->notify_mult = vdrv_cfg_read(d, c + 16, 4);
		} else if (type == 3)
			d->isr = addr;
		else if (type == 4)
			d->device_cfg = addr;
	}
	return d->common && d->notify && d->isr;
}

uint8_t vdrv_status(struct vdrv *d)
{
	return (uint8_t)vdrv_rd(d, d->common + 0x14, 1);
}

bool vdrv_start(struct vdrv *d, unsigned nq, uint64_t ring_base, uint64_t extra_features,
		bool msix)
{
	uint64_t f = (1ULL << 32) | (1ULL << 29) | extra_features;

	vdrv_wr(d, d->common + 0x14, 0, 1);
	vdrv_wr(d, d->common + 0x14, 1, 1);
	vdrv_wr(d, d->common + 0x14, 3, 1);
	vdrv_wr(d, d->common + 0x08, 0, 4);
	vdrv_wr(d, d->common + 0x0c, (uint32_t)f, 4);
	vdrv_wr(d, d->common + 0x08, 1, 4);
	vdrv_wr(d, d->common + 0x0c, (uint32_t)(f >> 32), 4);
	vdrv_wr(d, d->common + 0x14, 0xb, 1);
	if (!(vdrv_status(d) & 8))
		return false;
	vdrv_cfg_write(d, d->msix_cap + 2, msix ? 0x8000 : 0, 2);
	if (msix) {
		vdrv_wr(d, d->common + 0x10, 0, 2);
		for (unsigned v = 0; v <= nq; v++) {
			vdrv_wr(d, d->bar1 + 16 * v, 0xfee00000, 4);
			vdrv_wr(d, d->bar1 + 16 * v + 8, 0x40 + v, 4);
			vdrv_wr(d, d->bar1 + 16 * v + 12, 0, 4);
		}
	}
	for (unsigned i = 0; i < nq; i++) {
		struct vdrv_queue *q = &d->q[i];
		uint8_t *p;

		q->desc = ring_base + i * 0x3000ULL;
		q->avail = q->desc + 0x1000;
		q->used = q->desc + 0x2000;
		q->next_desc = 0;
		p = gm_hva(&d->vm->mem, q->desc, 0x3000);
		for (unsigned b = 0; b < 0x3000; b++)
			p[b] = 0;
		vdrv_wr(d, d->common + 0x16, i, 2);
		vdrv_wr(d, d->common + 0x18, VDRV_QSIZE, 2);
		vdrv_wr(d, d->common + 0x20, q->desc, 4);
		vdrv_wr(d, d->common + 0x24, 0, 4);
		vdrv_wr(d, d->common + 0x28, q->avail, 4);
		vdrv_wr(d, d->common + 0x2c, 0, 4);
		vdrv_wr(d, d->common + 0x30, q->used, 4);
		vdrv_wr(d, d->common + 0x34, 0, 4);
		if (msix)
			vdrv_wr(d, d->common + 0x1a, i + 1, 2);
		vdrv_wr(d, d->common + 0x1c, 1, 2);
	}
	vdrv_wr(d, d->common + 0x14, 0xf, 1);
	return true;
}

void vdrv_post(struct vdrv *d, unsigned qi, unsigned n, const uint64_t *addr, const uint32_t *len,
	       const uint16_t *flags)
{
	struct vdrv_queue *q = &d->q[qi];
	struct virtq_desc *desc = gm_hva(&d->vm->mem, q->desc, 16 * VDRV_QSIZE);
	uint16_t *ring = gm_hva(&d->vm->mem, q->avail + 4, 2 * VDRV_QSIZE);
	uint16_t *idx = gm_hva(&d->vm->mem, q->avail + 2, 2);
	uint16_t head = q->next_desc % VDRV_QSIZE;

	for (unsigned i = 0; i < n; i++) {
		uint16_t this = (uint16_t)((head + i) % VDRV_QSIZE);

		desc[this] = (struct virtq_desc){
			addr[i], len[i],
			(uint16_t)(flags[i] | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			(uint16_t)((this + 1) % VDRV_QSIZE)
		};
	}
	q->next_desc = (uint16_t)(q->next_desc + n);
	ring[*idx % VDRV_QSIZE] = head;
	__atomic_store_n(idx, (uint16_t)(*idx + 1), __ATOMIC_RELEASE);
	vdrv_wr(d, d->notify + qi * d->notify_mult, qi, 2);
}

bool vdrv_wait_used(struct vdrv *d, unsigned qi, uint16_t idx)
{
	uint16_t *used_idx = gm_hva(&d->vm->mem, d->q[qi].used + 2, 2);

	for (int i = 0; i < 2000; i++) {
		if (__atomic_load_n(used_idx, __ATOMIC_ACQUIRE) == idx)
			return true;
		usleep(1000);
	}
	return false;
}

uint32_t vdrv_used_len(struct vdrv *d, unsigned qi, uint16_t idx)
{
	struct virtq_used_elem *u =
		gm_hva(&d->vm->mem, d->q[qi].used + 4 + 8ULL * (idx % VDRV_QSIZE), 8);

	return u->len;
}
