/* libFuzzer harness: virtio-blk requests from arbitrary guest RAM. Chains are
 * popped through the virtqueue and parsed by blk_req_parse(); for valid I/O
 * the harness touches every byte of the data segments the way the block
 * driver would, so ASan sees any segment that escapes guest RAM (a malloc'd
 * buffer here). Input: byte 0 queue size, byte 1 read-only flag, then RAM. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/blk_req.h"

#define RAM_SIZE 0x10000
#define CAPACITY 64 /* sectors */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct iovec elem_iov[256], iov[256];
	struct vq_elem elem = { .iov = elem_iov, .iov_cap = 256 };
	struct guest_mem gm = { 0 };
	struct blk_req_parsed p;
	struct virtqueue vq;
	struct err err;
	uint16_t qsize;
	bool readonly;
	volatile uint8_t sink = 0;

	if (size < 2)
		return 0;
	qsize = (uint16_t)(1u << (data[0] % 9));
	readonly = data[1] & 1;
	data += 2, size -= 2;
	gm.base = calloc(1, RAM_SIZE);
	if (!gm.base)
		return 0;
	gm.size = RAM_SIZE;
	gm.region[0] = (struct guest_mem_region){ 0, RAM_SIZE, gm.base };
	gm.nregions = 1;
	memcpy(gm.base, data, size < RAM_SIZE ? size : RAM_SIZE);
	if (vq_init(&vq, &gm, qsize, 0, 0x1000, 0x2000,
		    (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | (1ULL << VIRTIO_RING_F_EVENT_IDX),
		    &err) == 0) {
		for (int i = 0; i < 64 && vq_pop(&vq, &elem) > 0; i++) {
			enum blk_req_verdict v = blk_req_parse(&elem, CAPACITY, readonly,
							       "fuzz-serial-00000000", iov, &p);

			if (v == BLK_REQ_SUBMIT) {
				for (int k = 0; k < p.niov; k++) {
					uint8_t *b = iov[k].iov_base;

					if (p.type == VIRTIO_BLK_T_IN)
						memset(b, 0x5a, iov[k].iov_len);
					else
						for (size_t j = 0; j < iov[k].iov_len; j++)
							sink ^= b[j];
				}
				*p.status = VIRTIO_BLK_S_OK;
			}
			vq_push(&vq, elem.head, v == BLK_REQ_DROP ? 0 : p.written);
		}
	}
	(void)sink;
	free(gm.base);
	return 0;
}
