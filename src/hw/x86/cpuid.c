#include "hw/x86/cpuid.h"

#include <errno.h>
#include <string.h>

struct cpuid_entry *cpuid_find(struct cpuid_table *t, uint32_t function, uint32_t index)
{
	for (unsigned i = 0; i < t->n; i++) {
		struct cpuid_entry *e = &t->entry[i];

		if (e->function == function && (!e->index_significant || e->index == index))
			return e;
	}
	return NULL;
}

int cpuid_set(struct cpuid_table *t, const struct cpuid_entry *e)
{
	for (unsigned i = 0; i < t->n; i++) {
		if (t->entry[i].function == e->function && t->entry[i].index == e->index) {
			t->entry[i] = *e;
			return 0;
		}
	}
	if (t->n >= t->cap)
		return -ENOSPC;
	t->entry[t->n++] = *e;
	return 0;
}

unsigned cpuid_bits_for(unsigned n)
{
	unsigned bits = 0;

	while (n > 1 && (1u << bits) < n)
		bits++;
	return bits;
}

static bool cpuid_is_amd(struct cpuid_table *t)
{
	struct cpuid_entry *e = cpuid_find(t, 0, 0);

	/* "AuthenticAMD" / "HygonGenuine": EBX holds the first four characters. */
	return e && (e->ebx == 0x68747541 || e->ebx == 0x6f677948);
}

/* Leaves 0xB and 0x1F: level 0 is SMT (one thread per core, shift 0), level 1
 * is the core level holding all vCPUs, and the next sub-leaf is invalid.
 * Intel SDM Vol. 2A, CPUID leaf 0BH / 1FH. */
static int cpuid_set_ext_topology(struct cpuid_table *t, uint32_t leaf, uint32_t apic_id,
				  unsigned ncpus)
{
	struct cpuid_entry e = { .function = leaf, .index_significant = true, .edx = apic_id };
	int r;

	/* Drop whatever the host reported: its sub-leaves describe the host. */
	for (unsigned i = 0; i < t->n;) {
		if (t->entry[i].function == leaf)
			t->entry[i] = t->entry[--t->n];
		else
			i++;
	}
	e.index = 0, e.eax = 0, e.ebx = 1, e.ecx = 0 | (1u << 8);
	if ((r = cpuid_set(t, &e)))
		return r;
	e.index = 1, e.eax = cpuid_bits_for(ncpus), e.ebx = ncpus, e.ecx = 1 | (2u << 8);
	if ((r = cpuid_set(t, &e)))
		return r;
	e.index = 2, e.eax = 0, e.ebx = 0, e.ecx = 2;
	return cpuid_set(t, &e);
}

int cpuid_set_topology(struct cpuid_table *t, uint32_t apic_id, unsigned ncpus)
{
	struct cpuid_entry *e, *max = cpuid_find(t, 0, 0);
	unsigned core_bits = cpuid_bits_for(ncpus);
	uint32_t max_leaf = max ? max->eax : 0;
	int r;

	if ((e = cpuid_find(t, 1, 0))) {
		/* EBX[31:24] initial APIC ID, [23:16] addressable logical IDs per package. */
		e->ebx = (e->ebx & 0xffff) | (apic_id << 24) | ((1u << core_bits) & 0xff) << 16;
		if (ncpus > 1)
			e->edx |= 1u << 28; /* HTT: the [23:16] field is valid */
		else
			e->edx &= ~(1u << 28);
	}
	/* Leaf 4: EAX[31:26] addressable core IDs - 1; [25:14] logical processors
	 * sharing the cache - 1: only the last-level (L3) cache is shared by all. */
	for (unsigned i = 0; i < t->n; i++) {
		e = &t->entry[i];
		if (e->function != 4 || !(e->eax & 0x1f))
			continue;
		e->eax &= 0x3fff;
		e->eax |= (((1u << core_bits) - 1) & 0x3f) << 26;
		if (((e->eax >> 5) & 7) >= 3)
			e->eax |= (((1u << core_bits) - 1) & 0xfff) << 14;
	}
	if (max_leaf >= 0xb && (r = cpuid_set_ext_topology(t, 0xb, apic_id, ncpus)))
		return r;
	if (max_leaf >= 0x1f && (r = cpuid_set_ext_topology(t, 0x1f, apic_id, ncpus)))
		return r;
	if (cpuid_is_amd(t)) {
		/* 0x80000008 ECX: [7:0] cores - 1, [15:12] APIC ID bits for the core. */
		if ((e = cpuid_find(t, 0x80000008, 0)))
			e->ecx = (e->ecx & ~0xf0ffu) | (core_bits << 12) | ((ncpus - 1) & 0xff);
		/* 0x8000001E: extended APIC ID, core ID, one thread per core, node 0. */
		if ((e = cpuid_find(t, 0x8000001e, 0))) {
			e->eax = apic_id;
			e->ebx = apic_id & 0xff;
			e->ecx = 0;
		}
	}
	return 0;
}
