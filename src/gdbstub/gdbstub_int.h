/* State shared by the stub's connection half (gdbstub.c) and its command
 * set (gdbstub_cmd.c). Nothing outside src/gdbstub/ includes this. */
#ifndef VIREO_GDBSTUB_INT_H
#define VIREO_GDBSTUB_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gdbstub/gdb_regs.h"
#include "gdbstub/gdbstub.h"
#include "gdbstub/pagewalk.h"
#include "gdbstub/rsp.h"
#include "vm/vm.h"

#define GDB_MAX_SWBP 64
#define GDB_MAX_VCPUS 256
/* gdb's signal numbers in stop replies (GDB manual, "Signals"). */
#define GDB_SIGINT 2
#define GDB_SIGTRAP 5

struct gdb_swbp {
	bool used;
	uint64_t gva, gpa;
	uint8_t orig;
};

struct gdb_hwbp {
	bool used;
	uint64_t addr;
	uint8_t type, len; /* enum accel_hwbp_type */
};

struct gdbstub {
	struct vm *vm;
	int listen_fd, client_fd;
	int notify_fd; /* eventfd: a vCPU stopped on a debug event */
	bool loop_attached;
	struct rsp_parser in;
	uint8_t out[2 * RSP_MAX_PACKET + 8]; /* last framed packet, for '-' */
	size_t out_len;
	bool no_ack;           /* QStartNoAckMode */
	bool swbreak, hwbreak; /* gdb understands these stop reasons */
	bool running;          /* resumed: gdb waits for a stop reply */
	unsigned g_cpu, c_cpu; /* vCPU indexes chosen by Hg / Hc */
	struct {
		int signal;
		unsigned vcpu;
		bool has_ev;
		struct accel_debug_exit ev;
	} last;                /* the stop `?` reports */
	/* Written by the hook on a vCPU thread, taken on the I/O thread. */
	pthread_mutex_t stop_lock;
	struct {
		bool pending;
		unsigned vcpu;
		struct accel_debug_exit ev;
	} stop;
	struct gdb_swbp swbp[GDB_MAX_SWBP];
	struct gdb_hwbp hwbp[ACCEL_NUM_HWBP];
	uint8_t hwbp_type_at[ACCEL_NUM_HWBP]; /* type of the accelerator's slot i */
	bool step[GDB_MAX_VCPUS];
	bool reinject_bp[GDB_MAX_VCPUS];
	char xfer_buf[2 * RSP_MAX_PACKET];
};

void gdb_send(struct gdbstub *g, const void *data, size_t len);
void gdb_send_str(struct gdbstub *g, const char *s);
struct vcpu *gdb_vcpu(struct gdbstub *g, unsigned index);
int gdb_translate(struct gdbstub *g, struct vcpu *vcpu, uint64_t gva, uint64_t *gpa,
		  uint64_t *left);
size_t gdb_access_memory(struct gdbstub *g, struct vcpu *vcpu, uint64_t gva, uint8_t *buf,
			 size_t len, bool write);
int gdb_update_debug(struct gdbstub *g);
int gdb_swbp_insert(struct gdbstub *g, uint64_t gva);
int gdb_swbp_remove(struct gdbstub *g, uint64_t gva);
int gdb_hwbp_insert(struct gdbstub *g, uint64_t addr, uint8_t type, uint8_t len);
int gdb_hwbp_remove(struct gdbstub *g, uint64_t addr, uint8_t type, uint8_t len);
/* Resumes the VM: step_cpu >= 0 single-steps that vCPU; only_cpu >= 0 runs
 * that vCPU alone, the others staying paused. */
void gdb_resume(struct gdbstub *g, int step_cpu, int only_cpu);
void gdb_stop_reply(struct gdbstub *g);
void gdb_disconnect(struct gdbstub *g);

/* gdbstub_cmd.c: answers one packet (payload NUL-terminated at len). */
void gdb_handle_packet(struct gdbstub *g, const char *pkt, size_t len);

#endif
