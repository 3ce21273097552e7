/* qcow2-specific operations used by vireo-img: information, internal
 * snapshots and consistency checks. The data path is the generic block API. */
#ifndef VIREO_BLOCK_QCOW2_H
#define VIREO_BLOCK_QCOW2_H

#include "block/block.h"

struct qcow2_info {
	int version;
	int refcount_bits;
	bool lazy_refcounts, dirty, corrupt, extended_l2;
	const char *compression; /* "zlib" or "zstd" */
	const char *backing_name, *backing_fmt;
};

struct qcow2_snapshot_info {
	char id[32];
	char name[256];
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_nsec, vm_state_size, icount, disk_size;
};

struct qcow2_check_result {
	uint64_t corruptions, leaks, check_errors;
	uint64_t corruptions_fixed, leaks_fixed;
	uint64_t image_end_offset;
	uint64_t total_clusters, allocated_clusters, fragmented_clusters, compressed_clusters;
};

#define QCOW2_FIX_LEAKS 1
#define QCOW2_FIX_ERRORS 2

bool qcow2_is(struct block_dev *b);
int qcow2_get_info(struct block_dev *b, struct qcow2_info *info);
/* *out is malloc'ed (free it); returns the count or -errno. */
int qcow2_snapshot_list(struct block_dev *b, struct qcow2_snapshot_info **out, struct err *err);
int qcow2_snapshot_create(struct block_dev *b, const char *name, struct err *err);
int qcow2_snapshot_apply(struct block_dev *b, const char *name, struct err *err);
int qcow2_snapshot_delete(struct block_dev *b, const char *name, struct err *err);
/* fix: QCOW2_FIX_* bits. Messages for each problem go to stderr as qemu-img
 * prints them. */
int qcow2_check(struct block_dev *b, unsigned fix, struct qcow2_check_result *res,
		struct err *err);

#endif
