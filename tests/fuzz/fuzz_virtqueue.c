/* libFuzzer harness: arbitrary guest RAM contents under a virtqueue.
 * Input: byte 0 picks the queue size (1 << (b % 9)), byte 1 the features,
 * bytes 2-3 how many requests the "device" processes; the rest becomes the
 * first bytes of a 64 KiB guest RAM holding the rings at fixed places.
 * Guest RAM is a malloc'd buffer here (not mmap) so ASan sees any access
 * outside it. A device-like loop pops chains, writes into their writable
 * segments, reads their readable ones and pushes them back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtqueue.h"

#define RAM_SIZE 0x10000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct iovec iov[512];
	struct vq_elem elem = { .iov = iov, .iov_cap = 512 };
	struct guest_mem gm = { 0 };
	struct virtqueue vq;
	struct err err;
	uint8_t scratch[256];
	uint16_t qsize, rounds;
	uint64_t features = 0;

	if (size < 4)
		return 0;
	qsize = (uint16_t)(1u << (data[0] % 9));
	if (data[1] & 1)
		features |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	if (data[1] & 2)
		features |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	rounds = (uint16_t)(data[2] | data[3] << 8) % 1024;
	data += 4, size -= 4;

	gm.base = calloc(1, RAM_SIZE);
	if (!gm.base)
		return 0;
	gm.size = RAM_SIZE;
	gm.region[0] = (struct guest_mem_region){ 0, RAM_SIZE, gm.base };
	gm.nregions = 1;
	memcpy(gm.base, data, size < RAM_SIZE ? size : RAM_SIZE);

	/* desc at 0, avail at 0x1000, used at 0x2000: fits the largest (256) queue. */
	if (vq_init(&vq, &gm, qsize, 0, 0x1000, 0x2000, features, &err) == 0) {
		for (unsigned i = 0; i < rounds; i++) {
			int r = vq_pop(&vq, &elem);

			if (r <= 0)
				break;
			vq_elem_read(&elem, 0, scratch, sizeof(scratch));
			vq_elem_write(&elem, 1, scratch, sizeof(scratch));
			vq_push(&vq, elem.head, (uint32_t)elem.in_len);
			vq_should_notify(&vq);
			vq_enable_notify(&vq);
		}
	}
	free(gm.base);
	return 0;
}
