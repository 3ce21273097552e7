/* The GDB remote stub (--gdb tcp:HOST:PORT, --gdb-wait): one debugger
 * client on a loopback TCP socket, served on the I/O thread. All-stop: when
 * one vCPU stops (breakpoint, step, Ctrl-C) every vCPU is paused
 * (vm_pause), and gdb's continue resumes them. Thread ids are vCPU index + 1. */
#ifndef VIREO_GDBSTUB_GDBSTUB_H
#define VIREO_GDBSTUB_GDBSTUB_H

#include <stdint.h>

#include "core/err.h"

struct vm;
struct gdbstub;

/* Parses "tcp:HOST:PORT" or "tcp::PORT" (HOST 127.0.0.1) into an IPv4
 * address in host byte order and a port (0-65535, 0: any free port). HOST
 * must be a loopback address (127.0.0.0/8, or "localhost"): the stub gives
 * full control of the guest to whoever connects. */
int gdbstub_parse_addr(const char *s, uint32_t *addr, uint16_t *port, struct err *err);

/* Opens the listening socket from vm->cfg->gdb (logging the address) and,
 * with --gdb-wait, pauses the VM so its vCPUs park as soon as they start. */
struct gdbstub *gdbstub_create(struct vm *vm, struct err *err);
/* After each vm_build: registers with the new I/O loop and re-arms
 * breakpoints and debug state on the new vCPUs and RAM. */
int gdbstub_attach(struct gdbstub *g, struct err *err);
/* Before each teardown, with the I/O loop stopped. */
void gdbstub_detach(struct gdbstub *g);
/* The VM ended with this exit status: tells gdb (W packet), closes the client. */
void gdbstub_vm_exited(struct gdbstub *g, int status);
void gdbstub_destroy(struct gdbstub *g);

#endif
