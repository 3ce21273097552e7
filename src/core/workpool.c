#include "core/workpool.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>

struct workpool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct work *head, *tail;
	bool stopping;
	char name[16];		/* the threads' name (15 chars, the kernel's limit) */
	unsigned nthreads;
	pthread_t threads[];
};

static void *workpool_thread(void *opaque)
{
	struct workpool *p = opaque;

	pthread_setname_np(pthread_self(), p->name);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct work *w = p->head;

		if (!w) {
			if (p->stopping)
				break;
			pthread_cond_wait(&p->cond, &p->lock);
			continue;
		}
		p->head = w->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->lock);
		w->fn(w);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct workpool *workpool_create(const char *name, unsigned threads, struct err *err)
{
	struct workpool *p = calloc(1, sizeof(*p) + threads * sizeof(pthread_t));
	sigset_t all, old;

	if (!p) {
		err_errno(err, ENOMEM, "%s: worker pool", name);
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	snprintf(p->name, sizeof(p->name), "%s", name);
	/* Workers never handle signals (vCPU kicks and SIGINT go elsewhere). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; p->nthreads < threads; p->nthreads++) {
		int r = pthread_create(&p->threads[p->nthreads], NULL, workpool_thread, p);

		if (r) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			err_errno(err, r, "%s: starting worker threads", name);
			workpool_destroy(p);
			return NULL;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return p;
}

void workpool_destroy(struct workpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void workpool_submit(struct workpool *p, struct work *w)
{
	w->next = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->tail)
		p->tail->next = w;
	else
		p->head = w;
	p->tail = w;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}
