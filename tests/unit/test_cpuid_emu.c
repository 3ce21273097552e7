/* The emulated CPU's CPUID table: vendor, TSC/crystal leaves, topology,
 * feature bits limited to what the CPU and the board implement. */
#include <string.h>

#include "hw/x86/cpuid.h"
#include "testlib.h"

static struct cpuid_entry entries[40];

static void build(struct cpuid_table *t, uint32_t apic_id, unsigned ncpus, const uint32_t f[7])
{
	memset(entries, 0, sizeof(entries));
	*t = (struct cpuid_table){ entries, 0, 40 };
	CHECK_EQ(cpuid_emu_build(t, apic_id, ncpus, f, 25000000, 80), 0);
}

int main(void)
{
	static const uint32_t none[7];
	static const uint32_t some[7] = { 1u << 13, 1u << 0, 0, 0, 1u << 29, 1u << 5, 1u << 29 };
	struct cpuid_table t;
	uint32_t r[4];
	char vendor[13] = { 0 };

	TEST_BEGIN("cpuid_emu_vendor_intel");
	build(&t, 0, 1, none);
	cpuid_lookup(&t, 0, 0, r);
	memcpy(vendor, &r[1], 4), memcpy(vendor + 4, &r[3], 4), memcpy(vendor + 8, &r[2], 4);
	CHECK(strcmp(vendor, "GenuineIntel") == 0);
	CHECK(r[0] >= 0x16);
	TEST_END();

	/* Linux: tsc_khz = ECX * EBX / EAX / 1000; the APIC timer runs at ECX. */
	TEST_BEGIN("cpuid_emu_tsc_leaves");
	cpuid_lookup(&t, 0x15, 0, r);
	CHECK_EQ(r[0], 1);
	CHECK_EQ(r[1], 80);
	CHECK_EQ(r[2], 25000000);
	CHECK_EQ((unsigned long long)r[2] * r[1] / r[0], 2000000000ULL);
	cpuid_lookup(&t, 0x16, 0, r);
	CHECK_EQ(r[0], 2000);
	cpuid_lookup(&t, 0x80000007, 0, r);
	CHECK(r[3] & (1u << 8)); /* invariant TSC */
	TEST_END();

	/* Only what the CPU reports, plus the board's APIC, TSC-deadline and
	 * TSC_ADJUST; never the hypervisor bit or hypervisor leaves. */
	TEST_BEGIN("cpuid_emu_features_masked");
	cpuid_lookup(&t, 1, 0, r);
	CHECK_EQ(r[2], 1u << 24);
	CHECK_EQ(r[3], 1u << 9);
	cpuid_lookup(&t, 7, 0, r);
	CHECK_EQ(r[1], 1u << 1);
	CHECK_EQ(r[3], 0);
	build(&t, 0, 1, some);
	cpuid_lookup(&t, 1, 0, r);
	CHECK_EQ(r[2], (1u << 13) | (1u << 24));
	CHECK(!(r[2] & (1u << 31)));
	CHECK_EQ(r[3] & 1, 1);
	cpuid_lookup(&t, 7, 0, r);
	CHECK_EQ(r[3], 1u << 29);
	cpuid_lookup(&t, 0x80000001, 0, r);
	CHECK_EQ(r[2], 1u << 5);
	CHECK_EQ(r[3], 1u << 29);
	cpuid_lookup(&t, 0x40000000, 0, r);
	CHECK(memcmp(&r[1], "KVMK", 4) != 0);
	TEST_END();

	TEST_BEGIN("cpuid_emu_topology");
	build(&t, 3, 4, none);
	cpuid_lookup(&t, 1, 0, r);
	CHECK_EQ(r[1] >> 24, 3);
	CHECK_EQ((r[1] >> 16) & 0xff, 4);
	CHECK(r[3] & (1u << 28));
	cpuid_lookup(&t, 0xb, 1, r);
	CHECK_EQ(r[1] & 0xffff, 4);
	CHECK_EQ(r[3], 3);
	cpuid_lookup(&t, 4, 3, r); /* L3: shared by all 4 */
	CHECK_EQ((r[0] >> 14) & 0xfff, 3);
	CHECK_EQ(r[0] >> 26, 3);
	cpuid_lookup(&t, 4, 4, r);
	CHECK_EQ(r[0] & 0x1f, 0); /* no more caches */
	build(&t, 0, 1, none);
	cpuid_lookup(&t, 1, 0, r);
	CHECK(!(r[3] & (1u << 28)));
	TEST_END();

	/* Past the highest basic leaf: the highest leaf's data (Intel). */
	TEST_BEGIN("cpuid_emu_out_of_range");
	cpuid_lookup(&t, 0x20, 0, r);
	CHECK_EQ(r[0], 2000);
	cpuid_lookup(&t, 5, 0, r);
	CHECK_EQ(r[0] | r[1] | r[2] | r[3], 0);
	TEST_END();
	return 0;
}
