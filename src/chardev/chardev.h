/* Character backends for the serial port: stdio, an output file, or nothing.
 *
 * Output (chardev_write) comes from vCPU threads and is written fully, in
 * order; it never blocks forever: if the reader stops draining stdout for
 * CHARDEV_STALL_MS, the bytes are dropped (counted, one warning) until the
 * output drains again.
 *
 * Input (stdio only) is read on the I/O thread and handed to the frontend's
 * rx callback, never more than its rx_room callback allows. When the frontend
 * is full the backend stops polling; the frontend calls chardev_rx_ready()
 * when it has room again. On EOF input stops (no spinning).
 *
 * stdin in raw mode: when stdin is a terminal, echo, canonical mode, CR/NL
 * translation and XON/XOFF are off so the guest sees every key, but ISIG stays
 * on: Ctrl-C and Ctrl-\ still end Vireo (main's handlers restore the terminal)
 * rather than reaching the guest. Output post-processing (OPOST) stays on, as
 * with QEMU's -serial stdio. */
#ifndef VIREO_CHARDEV_CHARDEV_H
#define VIREO_CHARDEV_CHARDEV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/err.h"
#include "vm/config.h"

#define CHARDEV_STALL_MS 5000

struct chardev;
struct event_loop;

typedef void chardev_rx_cb(void *opaque, const uint8_t *buf, size_t len);
typedef size_t chardev_rx_room_cb(void *opaque);

/* path is used by SERIAL_FILE only (created if missing, appended to). Only one
 * stdio chardev may exist at a time. */
struct chardev *chardev_create(enum serial_kind kind, const char *path, struct err *err);
/* A backend over caller-owned descriptors (either may be -1): for tests and
 * future socket backends. The fds are not closed by chardev_destroy. */
struct chardev *chardev_create_fd(int in_fd, int out_fd, struct err *err);
/* Frees the backend and restores the terminal. NULL is allowed. */
void chardev_destroy(struct chardev *cd);

/* Returns len (bytes dropped on a stalled or broken output still count as
 * consumed: the UART has no way to report them) or a negative errno. */
ssize_t chardev_write(struct chardev *cd, const void *buf, size_t len);

/* Starts delivering input on loop's thread. rx_room may be NULL (unlimited).
 * A backend without input accepts and never calls rx. */
int chardev_attach(struct chardev *cd, struct event_loop *loop, chardev_rx_cb *rx,
		   chardev_rx_room_cb *rx_room, void *opaque, struct err *err);
/* Stops input; on return rx is not running and will not be called again
 * (unless called from rx itself). */
void chardev_detach(struct chardev *cd);
/* The frontend has room again after rx_room returned 0. Any thread. */
void chardev_rx_ready(struct chardev *cd);

/* Puts the terminal back as it was before chardev_create (no-op if stdin was
 * not changed). Async-signal-safe and idempotent: main's fatal-signal handler
 * calls it; chardev_destroy and an atexit hook call it too. */
void chardev_restore_terminal(void);

/* Overrides CHARDEV_STALL_MS for this backend (tests, slow consumers). */
void chardev_set_stall_ms(struct chardev *cd, int ms);
/* Output bytes dropped because stdout stalled or failed. */
uint64_t chardev_dropped(struct chardev *cd);

#endif
