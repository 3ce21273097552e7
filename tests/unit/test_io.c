/* Address-space unit tests: overlap refusal, lookup, unmapped accesses,
 * access-size splitting and widening. */
#include <string.h>

#include "hw/bus/io.h"
#include "testlib.h"

struct fake_dev {
	uint8_t regs[16];
	unsigned last_size, accesses;
};

static uint64_t fake_read(void *opaque, uint64_t off, unsigned size)
{
	struct fake_dev *d = opaque;
	uint64_t v = 0;

	d->last_size = size, d->accesses++;
	memcpy(&v, d->regs + off, size);
	return v;
}

static void fake_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct fake_dev *d = opaque;

	d->last_size = size, d->accesses++;
	memcpy(d->regs + off, &val, size);
}

static const struct io_ops ops_any = { fake_read, fake_write, 0, 0 };
static const struct io_ops ops_4 = { fake_read, fake_write, 4, 4 };

int main(void)
{
	struct io_space *s = io_space_create("test");
	struct fake_dev a = { 0 }, b = { 0 };
	struct err err = { { 0 } };

	TEST_BEGIN("io_map_refuses_overlap");
	CHECK(io_map(s, 0x100, 16, &ops_any, &a, "a", &err) == 0);
	CHECK(io_map(s, 0x10f, 1, &ops_any, &b, "b", &err) < 0);
	CHECK(strstr(err.msg, "overlaps a") != NULL);
	CHECK(io_map(s, 0xf8, 9, &ops_any, &b, "b", &err) < 0);
	CHECK(io_map(s, ~0ULL - 3, 8, &ops_any, &b, "wrap", &err) < 0);
	CHECK(io_map(s, 0, 0, &ops_any, &b, "empty", &err) < 0);
	CHECK(io_map(s, 0x200, 16, &ops_4, &b, "b", &err) == 0);
	TEST_END();

	TEST_BEGIN("io_dispatch_offsets_and_unmapped");
	io_write(s, 0x104, 0xdeadbeef, 4);
	CHECK_EQ(io_read(s, 0x104, 4), 0xdeadbeef);
	CHECK_EQ(a.regs[4], 0xef);
	CHECK_EQ(io_read(s, 0x300, 2), 0xffff);
	io_write(s, 0x300, 1, 1);
	CHECK(io_space_stats(s).unmapped_writes >= 1);
	CHECK(io_space_stats(s).unmapped_reads >= 1);
	TEST_END();

	TEST_BEGIN("io_dispatch_splits_and_widens");
	io_write(s, 0x200, 0x1122334455667788ULL, 8); /* split into two 4-byte writes */
	CHECK_EQ(b.last_size, 4);
	CHECK_EQ(io_read(s, 0x200, 8), 0x1122334455667788ULL);
	io_write(s, 0x201, 0xaa, 1); /* widened read-modify-write */
	CHECK_EQ(b.last_size, 4);
	CHECK_EQ(io_read(s, 0x200, 4), 0x5566aa88);
	CHECK_EQ(io_read(s, 0x203, 1), 0x55);
	TEST_END();

	TEST_BEGIN("io_unmap");
	CHECK(io_unmap(s, 0x100, &a) == 0);
	CHECK_EQ(io_read(s, 0x104, 4), 0xffffffff);
	CHECK(io_unmap(s, 0x100, &a) < 0);
	CHECK(io_map(s, 0x100, 16, &ops_any, &a, "a again", &err) == 0);
	TEST_END();

	io_space_destroy(s);
	return 0;
}
