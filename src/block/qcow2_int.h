/* qcow2 driver internals. The on-disk format is QEMU's docs/interop/qcow2.txt;
 * all multi-byte fields are big-endian. */
#ifndef VIREO_BLOCK_QCOW2_INT_H
#define VIREO_BLOCK_QCOW2_INT_H

#include <endian.h>
#include <string.h>

#include "block/block_int.h"
#include "block/qcow2.h"

#define QCOW2_MAGIC 0x514649fbu /* "QFI\xfb" */
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_SNAPSHOTS 65536
#define QCOW2_MAX_BACKING_NAME 1023

/* Header feature bits (qcow2.txt "incompatible_features" etc.). */
#define QCOW2_INCOMPAT_DIRTY (1ULL << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ULL << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ULL << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ULL << 4)
#define QCOW2_INCOMPAT_KNOWN                                                                    \
	(QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT | QCOW2_INCOMPAT_COMPRESSION)
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ULL << 0)

/* Header extension types. */
#define QCOW2_EXT_END 0
#define QCOW2_EXT_BACKING_FMT 0xe2792acau
#define QCOW2_EXT_FEATURE_TABLE 0x6803f857u

/* L1/L2 entry bits (qcow2.txt "Cluster mapping"). */
#define QCOW2_OFLAG_COPIED (1ULL << 63)
#define QCOW2_OFLAG_COMPRESSED (1ULL << 62)
#define QCOW2_OFLAG_ZERO 1ULL
#define QCOW2_L1E_OFFSET_MASK 0x00fffffffffffe00ULL
#define QCOW2_L2E_OFFSET_MASK 0x00fffffffffffe00ULL
#define QCOW2_REFT_OFFSET_MASK 0xfffffffffffffe00ULL

#define QCOW2_COMPRESSION_ZLIB 0
#define QCOW2_COMPRESSION_ZSTD 1

enum qcow2_ctype {
	QCOW2_C_UNALLOC,
	QCOW2_C_ZERO,
	QCOW2_C_NORMAL,
	QCOW2_C_COMPRESSED,
};

struct qcow2_cache_entry {
	uint64_t off; /* 0: free slot */
	uint8_t *buf;
	uint64_t lru;
	bool dirty;
	int next; /* hash chain */
};

struct qcow2_cache {
	int n, nbuckets;
	struct qcow2_cache_entry *e;
	int *bucket;
	uint64_t tick;
	int ndirty;
};

struct qcow2_snapshot {
	uint64_t l1_offset;
	uint32_t l1_size;
	char *id, *name;
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_nsec;
	uint64_t vm_state_size;
	uint64_t disk_size;
	uint64_t icount;
	uint8_t *extra; /* the whole extra data as read, kept for unknown fields */
	uint32_t extra_size;
};

struct qcow2_free {
	uint64_t off, n; /* host cluster offset, cluster count */
};

struct qcow2 {
	struct block_dev *b;
	struct block_file *file;
	uint32_t version, cluster_bits, l2_bits, rb_bits, refcount_order;
	uint64_t cluster_size;
	uint64_t size;
	uint32_t l1_size;
	uint64_t l1_offset;
	uint64_t *l1; /* host order, l1_size entries */
	uint64_t reftable_offset;
	uint32_t reftable_clusters;
	uint64_t *reftable;
	uint64_t reftable_size; /* entries */
	uint32_t nb_snapshots;
	uint64_t snapshots_offset, snapshots_size;
	struct qcow2_snapshot *snaps;
	uint64_t incompat, compat, autoclear;
	uint32_t header_length;
	uint8_t compression_type;
	char *backing_name, *backing_fmt;
	uint8_t *other_exts; /* header extensions we keep verbatim */
	uint32_t other_exts_len;

	struct qcow2_cache l2c, rbc;
	uint64_t free_hint;  /* cluster index where free space may start */
	uint64_t file_end;   /* bytes: max(file length, allocated end) */
	uint64_t comp_off;   /* next free byte in the compressed-data cluster, 0 none */
	struct qcow2_free *frees; /* decrements waiting for their L2 update to be on disk */
	int nfrees, frees_cap;
	bool dirty_marked;   /* we set the dirty bit in the header */
	bool barriers;	     /* flush between dependent metadata writes */
	uint8_t *cbuf, *dbuf; /* compressed-read scratch and decompressed cluster */
	uint64_t dbuf_off;    /* host offset whose decompressed data is in dbuf, or ~0 */
	uint32_t *check_refs; /* during a repair: references found by check */
	uint64_t check_nclusters;
};

static inline uint64_t be64_at(const void *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

static inline uint32_t be32_at(const void *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static inline uint16_t be16_at(const void *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return be16toh(v);
}

static inline void put_be64(void *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

static inline void put_be32(void *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static inline void put_be16(void *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, 2);
}

static inline uint64_t qcow2_align_up(struct qcow2 *q, uint64_t v)
{
	return (v + q->cluster_size - 1) & ~(q->cluster_size - 1);
}

/* qcow2.c */
int qcow2_barrier(struct qcow2 *q, struct err *err);
int qcow2_header_write_field(struct qcow2 *q, uint64_t off, const void *val, uint32_t len,
			     struct err *err);
int qcow2_mark_dirty(struct qcow2 *q, struct err *err);
bool qcow2_overlaps_metadata(struct qcow2 *q, uint64_t off, uint64_t len);
int qcow2_flush_all(struct qcow2 *q, struct err *err);
int qcow2_write_l1_entry(struct qcow2 *q, uint32_t idx, struct err *err);
int qcow2_grow_l1(struct qcow2 *q, uint64_t min_size, struct err *err);
int qcow2_write_header(struct qcow2 *q, struct err *err);

/* qcow2_cache.c */
int qcow2_cache_init(struct qcow2_cache *c, int n);
void qcow2_cache_fini(struct qcow2_cache *c);
int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t off, bool fresh,
		    uint8_t **buf, struct err *err);
void qcow2_cache_dirty(struct qcow2_cache *c, uint64_t off);
void qcow2_cache_forget(struct qcow2_cache *c, uint64_t off);
int qcow2_cache_write_back(struct qcow2 *q, struct qcow2_cache *c, struct err *err);
int qcow2_flush_l2_cache(struct qcow2 *q, struct err *err);

/* qcow2_refcount.c */
int qcow2_get_refcount(struct qcow2 *q, uint64_t cluster, uint64_t *rc, struct err *err);
int qcow2_update_refcount(struct qcow2 *q, uint64_t off, uint64_t n, int64_t addend,
			  struct err *err);
int64_t qcow2_alloc_clusters(struct qcow2 *q, uint64_t n, struct err *err);
int64_t qcow2_alloc_bytes(struct qcow2 *q, uint64_t size, struct err *err);
int qcow2_defer_free(struct qcow2 *q, uint64_t off, uint64_t n, struct err *err);
int qcow2_apply_frees(struct qcow2 *q, struct err *err);
int qcow2_free_l2_entry(struct qcow2 *q, uint64_t entry, bool defer, struct err *err);
uint64_t qcow2_refcount_max(struct qcow2 *q);

/* qcow2_cluster.c */
enum qcow2_ctype qcow2_entry_type(struct qcow2 *q, uint64_t entry);
void qcow2_compressed_range(struct qcow2 *q, uint64_t entry, uint64_t *off, uint64_t *len);
int qcow2_read(struct block_dev *b, uint64_t off, const struct iovec *iov, int iovcnt,
	       uint64_t len, struct err *err);
int qcow2_write(struct block_dev *b, uint64_t off, const struct iovec *iov, int iovcnt,
		uint64_t len, struct err *err);
int qcow2_discard(struct block_dev *b, uint64_t off, uint64_t len, struct err *err);
int qcow2_write_zeroes(struct block_dev *b, uint64_t off, uint64_t len, unsigned flags,
		       struct err *err);
int qcow2_get_status(struct block_dev *b, uint64_t off, uint64_t len, uint64_t *pnum,
		     struct block_status *st, struct err *err);
int qcow2_write_compressed(struct block_dev *b, uint64_t off, const void *buf, uint64_t len,
			   struct err *err);
/* qcow2_zero_clusters modes: read as zeros; discard (zeros or the backing
 * file); deallocate (entries cleared whatever the backing says). */
enum { QCOW2_ZERO, QCOW2_DISCARD, QCOW2_DEALLOCATE };
int qcow2_zero_clusters(struct qcow2 *q, uint64_t off, uint64_t len, int mode, struct err *err);
int qcow2_check_host_range(struct qcow2 *q, uint64_t off, uint64_t len, const char *what,
			   struct err *err);

/* qcow2_compress.c */
int qcow2_decompress(struct qcow2 *q, const uint8_t *src, uint64_t slen, uint8_t *dst,
		     uint64_t dlen);
/* Returns the compressed size, or 0 when it would not be smaller. */
int64_t qcow2_compress(struct qcow2 *q, const uint8_t *src, uint64_t slen, uint8_t *dst,
		       uint64_t dcap);

/* qcow2_snapshot.c */
int qcow2_read_snapshots(struct qcow2 *q, struct err *err);
void qcow2_free_snapshots(struct qcow2 *q);
int qcow2_update_tree_refcount(struct qcow2 *q, uint64_t *l1, uint32_t l1_size, int addend,
			       bool active, struct err *err);

/* qcow2_create.c */
int qcow2_create(struct block_file *f, const struct block_create_opts *o, struct err *err);
int qcow2_truncate(struct block_dev *b, uint64_t size, struct err *err);
int qcow2_set_backing(struct block_dev *b, const char *name, const char *fmt, struct err *err);

#endif
