/* Parsing and checking of one virtio-blk request chain (virtio 1.2 §5.2.6),
 * separate from its execution so that the checks are unit-tested and fuzzed
 * on their own. Nothing here touches the disk. */
#ifndef VIREO_VIRTIO_BLK_REQ_H
#define VIREO_VIRTIO_BLK_REQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio/virtqueue.h"

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_SECTOR 512ULL

enum blk_req_verdict {
	BLK_REQ_DROP,   /* no status byte: return the chain with length 0 */
	BLK_REQ_DONE,   /* answered here: *status set, complete with `written` */
	BLK_REQ_SUBMIT, /* valid I/O: execute type/sector/iov, then complete */
};

struct blk_req_parsed {
	uint32_t type;
	uint64_t sector;
	uint8_t *status;   /* host pointer to the status byte in guest RAM */
	uint32_t written;  /* bytes written into the chain so far (status included) */
	uint64_t data_len; /* bytes of the data segments */
	int niov;          /* data segments in the caller's array */
	bool guest_error;  /* the chain broke the spec (counted by the caller) */
};

/* iov must have room for elem->nout + elem->nin entries. capacity is in
 * sectors; serial is VIRTIO_BLK_ID_BYTES bytes (for GET_ID). */
enum blk_req_verdict blk_req_parse(const struct vq_elem *elem, uint64_t capacity, bool readonly,
				   const char *serial, struct iovec *iov,
				   struct blk_req_parsed *p);

#endif
