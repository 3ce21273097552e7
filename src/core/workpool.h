/* A small fixed pool of worker threads running queued jobs in FIFO order:
 * where blocking work (disk I/O through the synchronous block drivers) goes so
 * that neither vCPU threads nor the I/O thread ever wait on a disk.
 * Jobs are intrusive (embedded in the caller's request), so submitting
 * allocates nothing. */
#ifndef VIREO_CORE_WORKPOOL_H
#define VIREO_CORE_WORKPOOL_H

#include "core/err.h"

struct work {
	void (*fn)(struct work *w);
	struct work *next;
};

struct workpool;

struct workpool *workpool_create(const char *name, unsigned threads, struct err *err);
/* Runs every job already submitted, then joins the threads. */
void workpool_destroy(struct workpool *p);
/* Any thread. w must stay valid until its fn has run. */
void workpool_submit(struct workpool *p, struct work *w);

#endif
