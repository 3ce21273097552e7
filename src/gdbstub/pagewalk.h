/* Guest-virtual to guest-physical translation for the debugger: a read-only
 * walk of the guest's page tables as the vCPU's CR0/CR3/CR4/EFER describe
 * them (SDM Vol. 3A, chapter 4): no paging, 32-bit (with 4 MiB pages),
 * PAE, 4-level and 5-level. Accessed/dirty bits are not set and
 * permissions are not checked: the debugger sees what the kernel could. */
#ifndef VIREO_GDBSTUB_PAGEWALK_H
#define VIREO_GDBSTUB_PAGEWALK_H

#include <stdbool.h>
#include <stdint.h>

struct pagewalk_regs {
	uint64_t cr0, cr3, cr4, efer;
};

/* Reads len bytes of guest-physical memory; false if they are not RAM. */
typedef bool pagewalk_read_fn(void *opaque, uint64_t gpa, void *buf, unsigned len);

/* Translates gva. On success returns 0 with *gpa set and *left the number
 * of bytes from gva to the end of its page (>= 1), which translate
 * contiguously. -EFAULT when the address is not mapped (a non-present
 * entry, a non-canonical address, a table outside RAM). */
int pagewalk_translate(const struct pagewalk_regs *r, uint64_t gva, pagewalk_read_fn *read,
		       void *opaque, uint64_t *gpa, uint64_t *left);

#endif
