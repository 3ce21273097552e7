/* Progress and errors go to stderr, one line each, prefixed "vireo: ".
 * Guest-caused problems use log_guest(), which is rate limited per call site
 * so a malicious guest cannot flood the host's log. */
#ifndef VIREO_CORE_LOG_H
#define VIREO_CORE_LOG_H

#include <stdatomic.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern int log_verbosity; /* messages above this level are dropped; default LOG_INFO */

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* At most 10 messages per call site, then silence (the caller keeps its own
 * counter for statistics). */
#define log_guest(...)                                                                             \
	do {                                                                                       \
		static atomic_uint log_guest_count_;                                               \
		if (atomic_fetch_add(&log_guest_count_, 1) < 10)                                   \
			log_msg(LOG_WARN, __VA_ARGS__);                                            \
	} while (0)

#endif
