/* vireo-user's guest map: ranges, splits, protections, gaps. */
#include <errno.h>
#include <sys/mman.h>

#include "testlib.h"
#include "user/user_map.h"

#define PG USER_PAGE_SIZE

static int count_gap(void *opaque, uint64_t gap, uint64_t len)
{
	uint64_t *acc = opaque;

	acc[0]++;
	acc[1] += len;
	if (!acc[2])
		acc[2] = gap;
	return 0;
}

int main(void)
{
	struct user_map m;
	uint64_t acc[3] = { 0, 0, 0 };

	TEST_BEGIN("user_map_add_check");
	user_map_init(&m);
	CHECK_EQ(user_map_add(&m, 0x10000, 4 * PG, PROT_READ | PROT_WRITE), 0);
	CHECK_EQ(user_map_add(&m, 0x20000, 2 * PG, PROT_READ | PROT_EXEC), 0);
	CHECK(user_map_check(&m, 0x10000, 4 * PG, PROT_WRITE));
	CHECK(!user_map_check(&m, 0x10000, 4 * PG + 1, PROT_READ));
	CHECK(!user_map_check(&m, 0xffff, 2, PROT_READ));
	CHECK(user_map_check(&m, 0x20000, 10, PROT_EXEC));
	CHECK(!user_map_check(&m, 0x20000, 10, PROT_WRITE));
	CHECK(!user_map_check(&m, 0x10000, 4 * PG, PROT_EXEC));
	CHECK(user_map_check(&m, 0x12345, 0, PROT_WRITE));
	CHECK(!user_map_check(&m, UINT64_MAX - 2, 8, PROT_READ)); /* wraps */
	CHECK_EQ(user_map_top(&m), 0x22000);
	TEST_END();

	TEST_BEGIN("user_map_remove_splits");
	CHECK_EQ(user_map_remove(&m, 0x11000, PG), 0);
	CHECK_EQ(m.n, 3);
	CHECK(user_map_check(&m, 0x10000, PG, PROT_READ));
	CHECK(!user_map_check(&m, 0x11000, 1, PROT_READ));
	CHECK(user_map_check(&m, 0x12000, 2 * PG, PROT_WRITE));
	CHECK(!user_map_overlaps(&m, 0x11000, PG));
	CHECK(user_map_overlaps(&m, 0x11000, PG + 1));
	CHECK_EQ(user_map_remove(&m, 0x0, 0x13000), 0); /* head and a partial */
	CHECK(!user_map_check(&m, 0x12000, 1, PROT_READ));
	CHECK(user_map_check(&m, 0x13000, PG, PROT_READ));
	TEST_END();

	TEST_BEGIN("user_map_protect");
	CHECK_EQ(user_map_protect(&m, 0x13000, PG, PROT_READ), 0);
	CHECK(!user_map_check(&m, 0x13000, 1, PROT_WRITE));
	CHECK(user_map_check(&m, 0x13000, 1, PROT_READ));
	CHECK_EQ(user_map_protect(&m, 0x13000, 0x10000, PROT_READ), -ENOMEM);
	CHECK_EQ(user_map_protect(&m, 0x13000, PG, PROT_NONE), 0);
	CHECK(!user_map_check(&m, 0x13000, 1, PROT_READ));
	CHECK(user_map_check(&m, 0x13000, 1, 0));
	TEST_END();

	TEST_BEGIN("user_map_replace_and_gaps");
	CHECK_EQ(user_map_add(&m, 0x13000, 0x10000, PROT_READ), 0); /* covers 0x20000.. part */
	CHECK(user_map_check(&m, 0x13000, 0x10000, PROT_READ));
	CHECK(!user_map_check(&m, 0x20000, 1, PROT_EXEC));
	CHECK(user_map_check(&m, 0x23000, 0, PROT_READ));
	user_map_for_each_gap(&m, 0x10000, 0x20000, count_gap, acc);
	CHECK_EQ(acc[0], 2);              /* [0x10000,0x13000) and [0x23000,0x30000) */
	CHECK_EQ(acc[1], 0x3000 + 0xd000);
	CHECK_EQ(acc[2], 0x10000);
	CHECK(user_map_any_prot(&m, 0x13000, 1, PROT_READ));
	CHECK(!user_map_any_prot(&m, 0x13000, 0x10000, PROT_EXEC));
	user_map_fini(&m);
	TEST_END();

	TEST_BEGIN("user_map_many");
	user_map_init(&m);
	for (uint64_t i = 0; i < 1000; i++)
		CHECK_EQ(user_map_add(&m, 0x100000 + i * 2 * PG, PG, PROT_READ), 0);
	CHECK_EQ(m.n, 1000);
	CHECK(user_map_check(&m, 0x100000 + 500 * 2 * PG, PG, PROT_READ));
	CHECK(!user_map_check(&m, 0x100000 + 500 * 2 * PG + PG, 1, PROT_READ));
	CHECK_EQ(user_map_remove(&m, 0x100000, 2000 * PG), 0);
	CHECK_EQ(m.n, 0);
	user_map_fini(&m);
	TEST_END();
	return 0;
}
