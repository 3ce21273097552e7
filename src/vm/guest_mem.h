/* Guest RAM: one anonymous host mapping split into at most two guest-physical
 * regions, below the PCI hole and from 4 GiB up. gm_hva() is the only way
 * device code turns a guest address into a host pointer, and it checks that
 * the whole [gpa, gpa+len) lies inside one RAM region (no overflow, no MMIO). */
#ifndef VIREO_VM_GUEST_MEM_H
#define VIREO_VM_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct guest_mem_region {
	uint64_t gpa, size;
	uint8_t *hva;
};

struct guest_mem {
	struct guest_mem_region region[2];
	unsigned nregions;
	uint8_t *base; /* the whole mapping */
	uint64_t size; /* total RAM bytes */
	/* Told of RAM a device wrote (the emulated CPU drops code decoded
	 * from it); NULL where the hardware keeps code coherent (KVM). */
	void (*dma_written)(uint64_t gpa, uint64_t len);
};

/* Allocates size bytes of RAM and lays it out around the PCI hole. */
int gm_init(struct guest_mem *gm, uint64_t size, struct err *err);
void gm_fini(struct guest_mem *gm);

/* Host pointer for [gpa, gpa+len) or NULL if any byte is outside RAM. */
void *gm_hva(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* Bounded copies; return false (copying nothing) if the range is not RAM. */
bool gm_read(const struct guest_mem *gm, uint64_t gpa, void *buf, uint64_t len);
bool gm_write(const struct guest_mem *gm, uint64_t gpa, const void *buf, uint64_t len);

/* A device wrote [hva, hva+len) of guest RAM behind the CPU's back (any
 * thread; hva from gm_hva). */
void gm_dma_written(const struct guest_mem *gm, const void *hva, uint64_t len);

/* RAM below the PCI hole, and above 4 GiB. */
uint64_t gm_low_size(const struct guest_mem *gm);
uint64_t gm_high_size(const struct guest_mem *gm);

#endif
