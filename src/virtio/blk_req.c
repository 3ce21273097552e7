#include "virtio/blk_req.h"

#include <string.h>

#include "block/file.h" /* iov_slice */
#include "core/log.h"

static enum blk_req_verdict blk_req_answer(struct blk_req_parsed *p, uint8_t status)
{
	*p->status = status;
	return BLK_REQ_DONE;
}

enum blk_req_verdict blk_req_parse(const struct vq_elem *elem, uint64_t capacity, bool readonly,
				   const char *serial, struct iovec *iov,
				   struct blk_req_parsed *p)
{
	const struct iovec *last;
	uint8_t hdr[16];

	memset(p, 0, sizeof(*p));
	p->written = 1;
	if (elem->nin == 0) { /* nowhere to put a status */
		p->guest_error = true;
		return BLK_REQ_DROP;
	}
	/* §5.2.6: the status byte is the last byte the device may write. */
	last = &elem->iov[elem->nout + elem->nin - 1];
	p->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	if (elem->out_len < sizeof(hdr)) {
		p->guest_error = true;
		return blk_req_answer(p, VIRTIO_BLK_S_IOERR);
	}
	vq_elem_read(elem, 0, hdr, sizeof(hdr));
	memcpy(&p->type, hdr, 4);
	memcpy(&p->sector, hdr + 8, 8);
	switch (p->type) {
	case VIRTIO_BLK_T_IN:
		p->data_len = elem->in_len - 1;
		p->niov = iov_slice(elem->iov + elem->nout, (int)elem->nin, 0, p->data_len, iov);
		break;
	case VIRTIO_BLK_T_OUT:
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		p->data_len = elem->out_len - sizeof(hdr);
		p->niov = iov_slice(elem->iov, (int)elem->nout, sizeof(hdr), p->data_len, iov);
		break;
	case VIRTIO_BLK_T_GET_ID: {
		uint64_t n = elem->in_len - 1;

		if (n > VIRTIO_BLK_ID_BYTES)
			n = VIRTIO_BLK_ID_BYTES;
		vq_elem_write(elem, 0, serial, n);
		p->written += (uint32_t)n;
		return blk_req_answer(p, VIRTIO_BLK_S_OK);
	}
	case VIRTIO_BLK_T_FLUSH:
		break;
	default:
		return blk_req_answer(p, VIRTIO_BLK_S_UNSUPP);
	}
	if (p->type == VIRTIO_BLK_T_IN || p->type == VIRTIO_BLK_T_OUT) {
		if (p->data_len % VIRTIO_BLK_SECTOR || p->sector > capacity ||
		    p->data_len / VIRTIO_BLK_SECTOR > capacity - p->sector) {
			log_guest("virtio-blk: request beyond the disk (sector %llu, %llu bytes)",
				  (unsigned long long)p->sector, (unsigned long long)p->data_len);
			return blk_req_answer(p, VIRTIO_BLK_S_IOERR);
		}
	}
	if (readonly && (p->type == VIRTIO_BLK_T_OUT || p->type == VIRTIO_BLK_T_DISCARD ||
			 p->type == VIRTIO_BLK_T_WRITE_ZEROES))
		return blk_req_answer(p, VIRTIO_BLK_S_IOERR);
	return BLK_REQ_SUBMIT;
}
