/* Error reporting contract (see docs/ARCHITECTURE.md):
 * - int functions return 0 or a negative errno;
 * - constructors return a pointer or NULL;
 * - the message travels up in a caller-owned struct err, one line, each
 *   layer prefixing its context: "drive 'vda': backing file 'b.qcow2': not found".
 * Only main() (and tool mains) print it and exit. */
#ifndef VIREO_CORE_ERR_H
#define VIREO_CORE_ERR_H

#include <stdbool.h>

struct err {
	char msg[512];
};

/* Replace the message. Returns -EINVAL so callers can `return err_set(...)`
 * when no errno applies. */
int err_set(struct err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Set "MESSAGE: strerror(errnum)" and return -errnum. errnum may be given
 * positive or negative. */
int err_errno(struct err *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix the existing message with context: "CONTEXT: old message". */
void err_prefix(struct err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline bool err_is_set(const struct err *err)
{
	return err->msg[0] != 0;
}

static inline void err_clear(struct err *err)
{
	err->msg[0] = 0;
}

#endif
