/* The register file gdb sees for an x86-64 vCPU: the target description
 * (GDB manual, "Target Descriptions" and "i386 Features") and the byte
 * layout of the `g`/`G` packets, which follows that description's order. */
#ifndef VIREO_GDBSTUB_GDB_REGS_H
#define VIREO_GDBSTUB_GDB_REGS_H

#include <stddef.h>
#include <stdint.h>

#include "accel/accel.h"

/* Register numbers in the description (and `p`/`P` packets). */
enum {
	GDB_REG_RAX, GDB_REG_RBX, GDB_REG_RCX, GDB_REG_RDX, GDB_REG_RSI, GDB_REG_RDI,
	GDB_REG_RBP, GDB_REG_RSP, GDB_REG_R8, GDB_REG_R15 = GDB_REG_R8 + 7,
	GDB_REG_RIP, GDB_REG_EFLAGS, GDB_REG_CS, GDB_REG_SS, GDB_REG_DS, GDB_REG_ES,
	GDB_REG_FS, GDB_REG_GS, GDB_REG_ST0, GDB_REG_FCTRL = GDB_REG_ST0 + 8, GDB_REG_FSTAT,
	GDB_REG_FTAG, GDB_REG_FISEG, GDB_REG_FIOFF, GDB_REG_FOSEG, GDB_REG_FOOFF, GDB_REG_FOP,
	GDB_REG_XMM0, GDB_REG_MXCSR = GDB_REG_XMM0 + 16, GDB_REG_FS_BASE, GDB_REG_GS_BASE,
	GDB_REG_CR0, GDB_REG_CR2, GDB_REG_CR3, GDB_REG_CR4, GDB_REG_CR8, GDB_REG_EFER,
	GDB_NUM_REGS
};

/* Bytes of all registers in the `g` packet. */
#define GDB_REGS_SIZE 600

extern const char gdb_target_xml[];

/* Offset and size of register n in the `g` layout; -1 if there is none. */
int gdb_reg_offset(unsigned n, unsigned *size);

/* State -> `g` bytes (little-endian, GDB_REGS_SIZE). fpu may be NULL (then
 * the x87/SSE registers read as their reset values). */
void gdb_regs_pack(const struct x86_cpu_state *st, const struct x86_fpu_state *fpu,
		   uint8_t *buf);
/* `G` bytes -> state. Segment selectors are only taken in real mode, where
 * the base follows from the selector; elsewhere a selector means a
 * descriptor the debugger cannot supply, so a changed one is ignored. */
void gdb_regs_unpack(const uint8_t *buf, struct x86_cpu_state *st, struct x86_fpu_state *fpu);

#endif
