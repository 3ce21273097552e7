/* CPUID topology: APIC IDs and the core/thread levels each vCPU reports. */
#include <string.h>

#include "hw/x86/cpuid.h"
#include "testlib.h"

static struct cpuid_entry entries[32];

static void fill_host(struct cpuid_table *t, uint32_t vendor_ebx)
{
	memset(entries, 0, sizeof(entries));
	*t = (struct cpuid_table){ entries, 0, 32 };
	cpuid_set(t, &(struct cpuid_entry){ .function = 0, .eax = 0x1f, .ebx = vendor_ebx });
	/* The host's own APIC ID 7 and 32 logical CPUs must not leak through. */
	cpuid_set(t, &(struct cpuid_entry){ .function = 1, .ebx = (7u << 24) | (32u << 16) | 0x0800,
					     .edx = 1u << 28 });
	/* L1d (level 1) and L3 (level 3) descriptors of leaf 4. */
	cpuid_set(t, &(struct cpuid_entry){ .function = 4, .index = 0, .index_significant = true,
					     .eax = (1u << 5) | 1 | (63u << 26) | (1u << 14) });
	cpuid_set(t, &(struct cpuid_entry){ .function = 4, .index = 1, .index_significant = true,
					     .eax = (3u << 5) | 3 | (63u << 26) | (31u << 14) });
	cpuid_set(t, &(struct cpuid_entry){ .function = 4, .index = 2, .index_significant = true });
	cpuid_set(t, &(struct cpuid_entry){ .function = 0xb, .index = 0, .index_significant = true,
					     .eax = 1, .ebx = 2, .ecx = 0x100, .edx = 7 });
	cpuid_set(t, &(struct cpuid_entry){ .function = 0xb, .index = 1, .index_significant = true,
					     .eax = 5, .ebx = 32, .ecx = 0x201, .edx = 7 });
	cpuid_set(t, &(struct cpuid_entry){ .function = 0x1f, .index_significant = true });
	cpuid_set(t, &(struct cpuid_entry){ .function = 0x80000008, .ecx = 0x3f });
}

int main(void)
{
	struct cpuid_table t;
	struct cpuid_entry *e;

	TEST_BEGIN("cpuid_bits_for");
	CHECK_EQ(cpuid_bits_for(1), 0);
	CHECK_EQ(cpuid_bits_for(2), 1);
	CHECK_EQ(cpuid_bits_for(3), 2);
	CHECK_EQ(cpuid_bits_for(4), 2);
	CHECK_EQ(cpuid_bits_for(5), 3);
	CHECK_EQ(cpuid_bits_for(255), 8);
	TEST_END();

	TEST_BEGIN("cpuid_leaf1_apic_id_and_count");
	fill_host(&t, 0x756e6547 /* "Genu" */);
	CHECK(cpuid_set_topology(&t, 2, 3) == 0);
	e = cpuid_find(&t, 1, 0);
	CHECK(e != NULL);
	CHECK_EQ(e->ebx >> 24, 2);
	CHECK_EQ((e->ebx >> 16) & 0xff, 4);
	CHECK_EQ(e->ebx & 0xffff, 0x0800);
	CHECK(e->edx & (1u << 28));
	fill_host(&t, 0x756e6547);
	CHECK(cpuid_set_topology(&t, 0, 1) == 0);
	e = cpuid_find(&t, 1, 0);
	CHECK_EQ(e->ebx >> 24, 0);
	CHECK(!(e->edx & (1u << 28)));
	TEST_END();

	TEST_BEGIN("cpuid_leaf4_cores_and_sharing");
	fill_host(&t, 0x756e6547);
	CHECK(cpuid_set_topology(&t, 1, 4) == 0);
	e = cpuid_find(&t, 4, 0);
	CHECK_EQ(e->eax >> 26, 3);
	CHECK_EQ((e->eax >> 14) & 0xfff, 0);
	CHECK_EQ(e->eax & 0x3fff, (1u << 5) | 1);
	e = cpuid_find(&t, 4, 1);
	CHECK_EQ(e->eax >> 26, 3);
	CHECK_EQ((e->eax >> 14) & 0xfff, 3);
	e = cpuid_find(&t, 4, 2);
	CHECK_EQ(e->eax, 0);
	TEST_END();

	TEST_BEGIN("cpuid_leaf_b_and_1f_topology");
	fill_host(&t, 0x756e6547);
	CHECK(cpuid_set_topology(&t, 5, 6) == 0);
	for (uint32_t leaf = 0xb; leaf <= 0x1f; leaf += 0x14) {
		e = cpuid_find(&t, leaf, 0);
		CHECK(e && e->eax == 0 && e->ebx == 1 && e->ecx == 0x100 && e->edx == 5);
		e = cpuid_find(&t, leaf, 1);
		CHECK(e && e->eax == 3 && e->ebx == 6 && e->ecx == 0x201 && e->edx == 5);
		e = cpuid_find(&t, leaf, 2);
		CHECK(e && e->ebx == 0 && ((e->ecx >> 8) & 0xff) == 0 && e->edx == 5);
		CHECK(cpuid_find(&t, leaf, 3) == NULL);
	}
	TEST_END();

	TEST_BEGIN("cpuid_amd_core_count");
	fill_host(&t, 0x68747541 /* "Auth" */);
	CHECK(cpuid_set_topology(&t, 1, 2) == 0);
	e = cpuid_find(&t, 0x80000008, 0);
	CHECK_EQ(e->ecx & 0xff, 1);
	CHECK_EQ((e->ecx >> 12) & 0xf, 1);
	TEST_END();

	TEST_BEGIN("cpuid_set_refuses_overflow");
	{
		struct cpuid_entry one[1];
		struct cpuid_table small = { one, 0, 1 };

		CHECK(cpuid_set(&small, &(struct cpuid_entry){ .function = 1 }) == 0);
		CHECK(cpuid_set(&small, &(struct cpuid_entry){ .function = 1, .eax = 9 }) == 0);
		CHECK_EQ(one[0].eax, 9);
		CHECK(cpuid_set(&small, &(struct cpuid_entry){ .function = 2 }) < 0);
	}
	TEST_END();
	return 0;
}
