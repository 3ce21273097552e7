/* The guest-visible CPUID table of one vCPU, independent of the accelerator:
 * the accelerator supplies what the host supports, and cpuid_set_topology()
 * makes each vCPU report its own APIC ID and the board's topology
 * (N cores in one socket, one thread per core). */
#ifndef VIREO_HW_X86_CPUID_H
#define VIREO_HW_X86_CPUID_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

struct cpuid_entry {
	uint32_t function, index;
	bool index_significant; /* the sub-leaf in ECX selects the entry */
	uint32_t eax, ebx, ecx, edx;
};

struct cpuid_table {
	struct cpuid_entry *entry;
	unsigned n, cap;
};

/* Returns the entry for (function, index), or NULL. Leaves whose index is not
 * significant match any index. */
struct cpuid_entry *cpuid_find(struct cpuid_table *t, uint32_t function, uint32_t index);

/* Adds or replaces an entry; -ENOSPC if the table is full. */
int cpuid_set(struct cpuid_table *t, const struct cpuid_entry *e);

/* Rewrites the topology leaves for the vCPU with this APIC ID among ncpus:
 * leaf 1 (initial APIC ID, logical count, HTT), leaf 4 (cores per package,
 * sharing of each cache), leaves 0xB and 0x1F (x2APIC ID and levels), and on
 * AMD 0x80000008 ECX and 0x8000001E. Intel SDM Vol. 2A, CPUID; AMD APM Vol. 3 E.4. */
int cpuid_set_topology(struct cpuid_table *t, uint32_t apic_id, unsigned ncpus);

/* The emulated CPU's table (cpuid_emu.c) for the vCPU with this APIC ID:
 * GenuineIntel, the feature bits in features[] (cpu_sys_features() order:
 * 1.ECX, 1.EDX, 7.EBX, 7.ECX, 7.EDX, 0x80000001.ECX/EDX) plus the board's
 * (APIC, TSC-deadline, ARAT, invariant TSC), leaf 0x15 with the crystal
 * (= APIC timer) frequency and TSC/crystal ratio, 0x16, and the topology.
 * The table needs room for 32 entries; -ENOSPC otherwise. */
int cpuid_emu_build(struct cpuid_table *t, uint32_t apic_id, unsigned ncpus,
		    const uint32_t features[7], uint64_t crystal_hz, uint32_t tsc_ratio);
/* What the CPUID instruction returns for (leaf, sub) from table t. */
void cpuid_lookup(struct cpuid_table *t, uint32_t leaf, uint32_t sub, uint32_t out[4]);

/* Number of bits needed to number n items (0 for n <= 1). */
unsigned cpuid_bits_for(unsigned n);

#endif
