/* Compressed clusters (qcow2.txt "Compressed Clusters", "compression_type"):
 * type 0 is raw deflate (no zlib header, 4 KiB window as QEMU writes it);
 * type 1 is a zstd frame. The stored data may be followed by padding up to
 * the sector end, so both decoders stop at the end of the cluster. */
#include "block/qcow2_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>

int qcow2_decompress(struct qcow2 *q, const uint8_t *src, uint64_t slen, uint8_t *dst,
		     uint64_t dlen)
{
	if (q->compression_type == QCOW2_COMPRESSION_ZSTD) {
		ZSTD_DCtx *d = ZSTD_createDCtx();
		ZSTD_inBuffer in = {src, slen, 0};
		ZSTD_outBuffer out = {dst, dlen, 0};
		int ret = 0;

		if (!d)
			return -ENOMEM;
		while (out.pos < dlen) {
			size_t r = ZSTD_decompressStream(d, &out, &in);

			if (ZSTD_isError(r)) {
				ret = -EIO;
				break;
			}
			if (r == 0 || in.pos == in.size) {
				if (out.pos < dlen)
					ret = -EIO; /* frame ended short of a cluster */
				break;
			}
		}
		ZSTD_freeDCtx(d);
		return ret;
	}
	z_stream z;
	int r;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, -15) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)src;
	z.avail_in = (uInt)slen;
	z.next_out = dst;
	z.avail_out = (uInt)dlen;
	r = inflate(&z, Z_FINISH);
	/* Padding after the stream, or output full before the end marker, are fine. */
	bool ok = (r == Z_STREAM_END || r == Z_BUF_ERROR || r == Z_OK) && z.total_out == dlen;

	inflateEnd(&z);
	return ok ? 0 : -EIO;
}

/* Compression contexts are kept per thread: setting one up allocates a
 * few hundred KiB, which per cluster costs more than the compression of a
 * compressible cluster and makes parallel compressors contend in mmap. */
struct qcow2_cctx {
	z_stream z;
	bool z_ok;
	ZSTD_CCtx *zc;
};

static pthread_key_t qcow2_cctx_key;
static pthread_once_t qcow2_cctx_once = PTHREAD_ONCE_INIT;
static _Thread_local struct qcow2_cctx *qcow2_cctx_mine;

static void qcow2_cctx_free(void *opaque)
{
	struct qcow2_cctx *c = opaque;

	if (c->z_ok)
		deflateEnd(&c->z);
	ZSTD_freeCCtx(c->zc);
	free(c);
	qcow2_cctx_mine = NULL;
}

static void qcow2_cctx_key_init(void)
{
	pthread_key_create(&qcow2_cctx_key, qcow2_cctx_free);
}

static struct qcow2_cctx *qcow2_cctx_get(void)
{
	if (!qcow2_cctx_mine) {
		pthread_once(&qcow2_cctx_once, qcow2_cctx_key_init);
		qcow2_cctx_mine = calloc(1, sizeof(*qcow2_cctx_mine));
		if (qcow2_cctx_mine)
			pthread_setspecific(qcow2_cctx_key, qcow2_cctx_mine);
	}
	return qcow2_cctx_mine;
}

int64_t qcow2_compress(struct qcow2 *q, const uint8_t *src, uint64_t slen, uint8_t *dst,
		       uint64_t dcap)
{
	struct qcow2_cctx *c = qcow2_cctx_get();

	if (!c)
		return -ENOMEM;
	if (q->compression_type == QCOW2_COMPRESSION_ZSTD) {
		if (!c->zc && !(c->zc = ZSTD_createCCtx()))
			return -ENOMEM;
		size_t r = ZSTD_compressCCtx(c->zc, dst, dcap, src, slen, 1);

		if (ZSTD_isError(r))
			return 0; /* most likely: no smaller than the input */
		return (int64_t)r;
	}
	if (!c->z_ok) {
		if (deflateInit2(&c->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			return -ENOMEM;
		c->z_ok = true;
	} else if (deflateReset(&c->z) != Z_OK) {
		return -EIO;
	}
	c->z.next_in = (Bytef *)src;
	c->z.avail_in = (uInt)slen;
	c->z.next_out = dst;
	c->z.avail_out = (uInt)dcap;
	int r = deflate(&c->z, Z_FINISH);

	return r == Z_STREAM_END ? (int64_t)c->z.total_out : 0;
}
