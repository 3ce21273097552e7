/* The CPUID table of the emulated CPU (--accel emu). Unlike KVM, there is no
 * host list to start from: every leaf is written here, advertising exactly
 * what the software CPU implements (its feature masks) plus what the board
 * implements around it (the local APIC with its TSC-deadline timer, an
 * invariant TSC), and no hypervisor leaves (there is no kvmclock).
 *
 * The identity is "GenuineIntel" family 6 model 0x1C (Atom "Bonnell"):
 * - Linux reads the TSC and APIC-timer frequency from leaf 0x15 only on
 *   Intel (native_calibrate_tsc()), so it never calibrates against a timer
 *   whose emulation jitters, and needs no tsc= workaround;
 * - that model is on Linux's list of CPUs without speculative execution
 *   (cpu_vuln_whitelist, NO_SPECULATION), so the kernel skips page-table
 *   isolation, retpolines and buffer clearing (VERW), none of which protect
 *   anything on an interpreter and all of which cost it dearly;
 * - it has no model-specific PMU driver (software perf events only) and
 *   intel_idle needs MONITOR/MWAIT, which is not advertised: HLT idles.
 * An invariant TSC (0x80000007) with TSC_ADJUST lets Linux trust the TSC
 * without its clocksource watchdog (check_system_tsc_reliable()), which on a
 * busy host would compare it against jiffies, tick interrupts that arrive
 * late whenever the vCPU thread is not scheduled, and call it unstable. */
#include "hw/x86/cpuid.h"

#include <errno.h>
#include <string.h>

#define CPUID_EMU_MAX_LEAF 0x16u
#define CPUID_EMU_MAX_EXT 0x80000008u
/* Family 6, model 0x1C (extended model 1, model 0xC), stepping 10: a
 * stepping above 2 avoids Linux's Atom PSE-erratum workaround. */
#define CPUID_EMU_SIGNATURE 0x000106caU

/* Board-implemented feature bits (not the CPU core's). */
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24) /* the LAPIC's TSC-deadline mode */
#define CPUID_1_EDX_APIC (1u << 9)         /* a local APIC at 0xFEE00000 */
#define CPUID_7_EBX_TSC_ADJUST (1u << 1)  /* IA32_TSC_ADJUST, kept by the board */
#define CPUID_6_EAX_ARAT (1u << 2)         /* the APIC timer runs in every C-state */
#define CPUID_80000007_EDX_INVTSC (1u << 8) /* the TSC runs at a constant rate */

static int cpuid_emu_add(struct cpuid_table *t, uint32_t function, uint32_t index, bool sig,
			 uint32_t eax, uint32_t ebx, uint32_t ecx, uint32_t edx)
{
	struct cpuid_entry e = { .function = function, .index = index, .index_significant = sig,
				 .eax = eax, .ebx = ebx, .ecx = ecx, .edx = edx };

	return cpuid_set(t, &e);
}

static uint32_t cpuid_emu_str4(const char *s)
{
	uint32_t v;

	memcpy(&v, s, 4);
	return v;
}

/* Leaf 4 cache descriptor (Intel SDM Vol. 2A, CPUID leaf 04H): type 1 data,
 * 2 instruction, 3 unified; the sharing fields are filled in by
 * cpuid_set_topology(). */
static int cpuid_emu_cache(struct cpuid_table *t, uint32_t index, unsigned type, unsigned level,
			   unsigned ways, unsigned line, unsigned kib)
{
	unsigned sets = kib * 1024 / (ways * line);
	uint32_t eax = type | (level << 5) | (1u << 8); /* self-initialising */

	return cpuid_emu_add(t, 4, index, true, eax, ((ways - 1) << 22) | (line - 1), sets - 1,
			     0);
}

int cpuid_emu_build(struct cpuid_table *t, uint32_t apic_id, unsigned ncpus,
		    const uint32_t features[7], uint64_t crystal_hz, uint32_t tsc_ratio)
{
	static const char brand[48] = "Vireo emulated x86-64 CPU";
	uint64_t tsc_mhz = crystal_hz * tsc_ratio / 1000000;
	int r = 0;

	t->n = 0;
	/* Leaf 0: the highest basic leaf and the vendor (EBX, EDX, ECX). */
	r |= cpuid_emu_add(t, 0, 0, false, CPUID_EMU_MAX_LEAF, cpuid_emu_str4("Genu"),
			   cpuid_emu_str4("ntel"), cpuid_emu_str4("ineI"));
	/* Leaf 1: signature; EBX CLFLUSH line 8 * 8 bytes (APIC ID and count by
	 * cpuid_set_topology); features as implemented, plus the board's. */
	r |= cpuid_emu_add(t, 1, 0, false, CPUID_EMU_SIGNATURE, 8u << 8,
			   features[0] | CPUID_1_ECX_TSC_DEADLINE, features[1] | CPUID_1_EDX_APIC);
	/* Leaf 2: one iteration, no descriptors (leaf 4 describes the caches). */
	r |= cpuid_emu_add(t, 2, 0, false, 1, 0, 0, 0);
	r |= cpuid_emu_cache(t, 0, 1, 1, 8, 64, 32);
	r |= cpuid_emu_cache(t, 1, 2, 1, 8, 64, 32);
	r |= cpuid_emu_cache(t, 2, 3, 2, 8, 64, 1024);
	r |= cpuid_emu_cache(t, 3, 3, 3, 16, 64, 16384);
	r |= cpuid_emu_add(t, 4, 4, true, 0, 0, 0, 0);
	r |= cpuid_emu_add(t, 6, 0, false, CPUID_6_EAX_ARAT, 0, 0, 0);
	/* Leaf 7.0: EAX = highest sub-leaf (0). */
	r |= cpuid_emu_add(t, 7, 0, true, 0, features[2] | CPUID_7_EBX_TSC_ADJUST, features[3],
			   features[4]);
	/* Leaf 0xB is written by cpuid_set_topology (max leaf >= 0xB). */
	/* Leaf 0x15: TSC = crystal * EBX / EAX; ECX the crystal in Hz, which is
	 * also the APIC timer's input clock (Linux sets lapic_timer_period from
	 * it). Leaf 0x16: base / max MHz and a 100 MHz bus. */
	r |= cpuid_emu_add(t, 0x15, 0, false, 1, tsc_ratio, (uint32_t)crystal_hz, 0);
	r |= cpuid_emu_add(t, 0x16, 0, false, (uint32_t)tsc_mhz, (uint32_t)tsc_mhz, 100, 0);
	r |= cpuid_emu_add(t, 0x80000000, 0, false, CPUID_EMU_MAX_EXT, 0, 0, 0);
	r |= cpuid_emu_add(t, 0x80000001, 0, false, 0, 0, features[5], features[6]);
	for (uint32_t i = 0; i < 3; i++) {
		uint32_t w[4];

		memcpy(w, brand + i * 16, 16);
		r |= cpuid_emu_add(t, 0x80000002 + i, 0, false, w[0], w[1], w[2], w[3]);
	}
	/* 0x80000006 ECX: L2 size in KiB [31:16], associativity [15:12] (6: 8-way), line. */
	r |= cpuid_emu_add(t, 0x80000006, 0, false, 0, 0, (1024u << 16) | (6u << 12) | 64, 0);
	r |= cpuid_emu_add(t, 0x80000007, 0, false, 0, 0, 0, CPUID_80000007_EDX_INVTSC);
	/* 40 physical and 48 linear address bits. */
	r |= cpuid_emu_add(t, 0x80000008, 0, false, 0x3028, 0, 0, 0);
	if (r)
		return -ENOSPC;
	return cpuid_set_topology(t, apic_id, ncpus);
}

void cpuid_lookup(struct cpuid_table *t, uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	struct cpuid_entry *e = cpuid_find(t, leaf, sub);

	if (!e) {
		/* Beyond the highest leaf, Intel CPUs answer with the highest basic
		 * leaf's data (SDM Vol. 2A, CPUID, "INPUT EAX = 0"); inside the
		 * range, an absent leaf reads as zeros. */
		struct cpuid_entry *max_basic = cpuid_find(t, 0, 0);
		struct cpuid_entry *max_ext = cpuid_find(t, 0x80000000, 0);
		uint32_t top = leaf >= 0x80000000 ? (max_ext ? max_ext->eax : 0)
						   : (max_basic ? max_basic->eax : 0);

		if (leaf > top && max_basic)
			e = cpuid_find(t, max_basic->eax, sub);
	}
	if (!e) {
		out[0] = out[1] = out[2] = out[3] = 0;
		return;
	}
	out[0] = e->eax, out[1] = e->ebx, out[2] = e->ecx, out[3] = e->edx;
}
