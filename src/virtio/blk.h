/* virtio-blk (virtio 1.2 §5.2) over the block-driver interface (raw, qcow2).
 * Requests are parsed and checked on the I/O thread. Reads and writes that
 * map straight onto a raw image's host file go to io_uring (block/aio.h) and
 * complete on the I/O thread, one interrupt per batch of completions; all
 * other requests (qcow2, flush, discard, bounced or failed I/O) run on a small
 * worker pool. No vCPU and not the I/O thread ever waits on the disk. */
#ifndef VIREO_VIRTIO_BLK_H
#define VIREO_VIRTIO_BLK_H

#include <stdbool.h>

#include "block/block.h"
#include "block/file.h"
#include "core/err.h"
#include "virtio/blk_req.h"

struct vm;
struct pci_host;
struct virtio_blk;


enum virtio_blk_aio {
	VIRTIO_BLK_AIO_DEFAULT,  /* io_uring if the host has it, else threads */
	VIRTIO_BLK_AIO_IO_URING, /* io_uring or an error */
	VIRTIO_BLK_AIO_THREADS,  /* the worker pool only */
};

struct virtio_blk_opts {
	char *path;           /* owned (the parser unescapes ",,") */
	const char *format;   /* NULL: probe; "raw"; "qcow2" */
	bool readonly;
	enum block_cache_mode cache;
	char serial[VIRTIO_BLK_ID_BYTES + 1];
	unsigned num_queues;  /* 0: one per vCPU */
	enum virtio_blk_aio aio;
	/* Tests: supplies the image's file instead of the host file system
	 * (e.g. one that fails with EIO); NULL for host files. */
	block_file_opener open_file;
	void *open_file_opaque;
};

/* Parses "PATH[,readonly=on|off][,cache=none|writeback|unsafe][,serial=STR]
 * [,format=raw|qcow2][,queues=N][,aio=io_uring|threads]" (a literal comma in
 * PATH is written ",,"). */
int virtio_blk_parse(const char *spec, struct virtio_blk_opts *o, struct err *err);
void virtio_blk_opts_fini(struct virtio_blk_opts *o);

struct virtio_blk *virtio_blk_create(struct vm *vm, struct pci_host *host,
				     const struct virtio_blk_opts *o, unsigned ncpus,
				     struct err *err);
void virtio_blk_destroy(struct virtio_blk *blk);

#endif
