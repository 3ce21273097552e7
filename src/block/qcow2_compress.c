/* Compressed clusters (qcow2.txt "Compressed Clusters", "compression_type"):
 * type 0 is raw deflate (no zlib header, 4 KiB window as QEMU writes it);
 * type 1 is a zstd frame. The stored data may be followed by padding up to
 * the sector end, so both decoders stop at the end of the cluster. */
#include "block/qcow2_int.h"

#include <errno.h>
#include <zlib.h>
#include <zstd.h>

int qcow2_decompress(struct qcow2 *q, const uint8_t *src, uint64_t slen, uint8_t *dst,
		     uint64_t dlen)
{
	if (q->compression_type == QCOW2_COMPRESSION_ZSTD) {
		ZSTD_DCtx *d = ZSTD_createDCtx();
		ZSTD_inBuffer in = { src, slen, 0 };
		ZSTD_outBuffer out = { dst, dlen, 0 };
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

int64_t qcow2_compress(struct qcow2 *q, const uint8_t *src, uint64_t slen, uint8_t *dst,
		       uint64_t dcap)
{
	if (q->compression_type == QCOW2_COMPRESSION_ZSTD) {
		size_t r = ZSTD_compress(dst, dcap, src, slen, 1);

		if (ZSTD_isError(r))
			return 0; /* most likely: no smaller than the input */
		return (int64_t)r;
	}
	z_stream z;
	int r;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)src;
	z.avail_in = (uInt)slen;
	z.next_out = dst;
	z.avail_out = (uInt)dcap;
	r = deflate(&z, Z_FINISH);
	int64_t n = r == Z_STREAM_END ? (int64_t)z.total_out : 0;

	deflateEnd(&z);
	return n;
}
