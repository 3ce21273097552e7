/* Virtqueue validation on fake guest RAM: well-formed chains work, and every
 * malformed chain a guest can build is refused without touching memory
 * outside guest RAM. */
#include <errno.h>
#include <string.h>

#include "testlib.h"
#include "virtio/virtqueue.h"

#define QSZ 8
#define DESC 0x1000ULL
#define AVAIL 0x2000ULL
#define USED 0x3000ULL
#define BUF 0x10000ULL
#define RAM (1ULL << 20)

static struct guest_mem gm;
static struct virtqueue vq;
static struct iovec iov[64];
static struct vq_elem elem = { .iov = iov, .iov_cap = 64 };
static uint16_t next_avail;

static struct virtq_desc *desc_at(uint64_t gpa)
{
	return gm_hva(&gm, gpa, 16);
}

static void set_desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	*desc_at(table + 16ULL * i) = (struct virtq_desc){ addr, len, flags, next };
}

static void publish(uint16_t head)
{
	uint16_t *ring = gm_hva(&gm, AVAIL + 4, 2 * QSZ);
	uint16_t *idx = gm_hva(&gm, AVAIL + 2, 2);

	ring[next_avail % QSZ] = head;
	*idx = ++next_avail;
}

static void reset_queue(uint64_t features)
{
	struct err err = { { 0 } };

	memset(gm.base, 0, 0x4000);
	next_avail = 0;
	CHECK(vq_init(&vq, &gm, QSZ, DESC, AVAIL, USED, features, &err) == 0);
}

static void expect_broken(const char *name, void (*build)(void), uint64_t features)
{
	TEST_BEGIN(name);
	reset_queue(features);
	build();
	CHECK(vq_pop(&vq, &elem) == -EIO);
	CHECK(vq.broken);
	CHECK(vq_pop(&vq, &elem) == -EIO); /* stays broken until reset */
	TEST_END();
}

static void build_loop(void)
{
	set_desc(DESC, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
	set_desc(DESC, 1, BUF, 16, VIRTQ_DESC_F_NEXT, 0);
	publish(0);
}

static void build_head_oob(void)
{
	publish(QSZ);
}

static void build_next_oob(void)
{
	set_desc(DESC, 0, BUF, 16, VIRTQ_DESC_F_NEXT, QSZ);
	publish(0);
}

static void build_outside_ram(void)
{
	set_desc(DESC, 0, RAM - 8, 16, 0, 0);
	publish(0);
}

static void build_overflow(void)
{
	set_desc(DESC, 0, ~0ULL - 4, 16, 0, 0);
	publish(0);
}

static void build_read_after_write(void)
{
	set_desc(DESC, 0, BUF, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(DESC, 1, BUF + 16, 16, 0, 0);
	publish(0);
}

static void build_indirect(void)
{
	set_desc(DESC, 0, 0x5000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	set_desc(0x5000, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(0x5000, 1, BUF + 8, 8, VIRTQ_DESC_F_WRITE, 0);
	publish(0);
}

static void build_nested_indirect(void)
{
	set_desc(DESC, 0, 0x5000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	set_desc(0x5000, 0, 0x5000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	publish(0);
}

static void build_indirect_with_next(void)
{
	set_desc(DESC, 0, 0x5000, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	set_desc(0x5000, 0, BUF, 8, 0, 0);
	publish(0);
}

static void build_indirect_bad_len(void)
{
	set_desc(DESC, 0, 0x5000, 24, VIRTQ_DESC_F_INDIRECT, 0);
	publish(0);
}

static void build_indirect_loop(void)
{
	set_desc(DESC, 0, 0x5000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	set_desc(0x5000, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(0x5000, 1, BUF, 8, VIRTQ_DESC_F_NEXT, 0);
	publish(0);
}

static void build_indirect_next_oob(void)
{
	set_desc(DESC, 0, 0x5000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	set_desc(0x5000, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 2);
	publish(0);
}

static void build_avail_ahead(void)
{
	uint16_t *idx = gm_hva(&gm, AVAIL + 2, 2);

	*idx = QSZ + 1;
}

static void build_too_many_segments(void)
{
	/* 8 segments fit the queue but not a 4-entry iovec. */
	for (unsigned i = 0; i < QSZ; i++)
		set_desc(DESC, i, BUF + 16 * i, 16, i + 1 < QSZ ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	elem.iov_cap = 4;
	publish(0);
}

static const uint64_t F_INDIRECT = 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
static const uint64_t F_EVENT_IDX = 1ULL << VIRTIO_RING_F_EVENT_IDX;

int main(void)
{
	struct err err = { { 0 } };
	uint8_t buf[64];

	if (gm_init(&gm, RAM, &err) < 0) {
		printf("not ok virtqueue_setup: %s\n", err.msg);
		return 0;
	}

	TEST_BEGIN("vq_init_validates_layout");
	CHECK(vq_init(&vq, &gm, 0, DESC, AVAIL, USED, 0, &err) < 0);
	CHECK(vq_init(&vq, &gm, 6, DESC, AVAIL, USED, 0, &err) < 0);
	CHECK(vq_init(&vq, &gm, QSZ, DESC + 8, AVAIL, USED, 0, &err) < 0);
	CHECK(vq_init(&vq, &gm, QSZ, DESC, AVAIL + 1, USED, 0, &err) < 0);
	CHECK(vq_init(&vq, &gm, QSZ, DESC, AVAIL, USED + 2, 0, &err) < 0);
	CHECK(vq_init(&vq, &gm, QSZ, RAM - 64, AVAIL, USED, 0, &err) < 0);
	CHECK(vq_init(&vq, &gm, QSZ, DESC, AVAIL, ~0ULL - 3, 0, &err) < 0);
	CHECK(vq_init(&vq, &gm, 32768, DESC, AVAIL, RAM - 0x100, 0, &err) < 0);
	CHECK(vq_init(&vq, &gm, QSZ, DESC, AVAIL, USED, 0, &err) == 0);
	TEST_END();

	TEST_BEGIN("vq_pop_simple_chain");
	reset_queue(0);
	CHECK(vq_pop(&vq, &elem) == 0);
	set_desc(DESC, 3, BUF, 16, VIRTQ_DESC_F_NEXT, 5);
	set_desc(DESC, 5, BUF + 16, 0, VIRTQ_DESC_F_NEXT, 6); /* empty segment: skipped */
	set_desc(DESC, 6, BUF + 32, 32, VIRTQ_DESC_F_WRITE, 0);
	memcpy(gm_hva(&gm, BUF, 16), "0123456789abcdef", 16);
	publish(3);
	CHECK(vq_pop(&vq, &elem) == 1);
	CHECK_EQ(elem.head, 3);
	CHECK_EQ(elem.nout, 1);
	CHECK_EQ(elem.nin, 1);
	CHECK_EQ(elem.out_len, 16);
	CHECK_EQ(elem.in_len, 32);
	CHECK_EQ(vq_elem_read(&elem, 4, buf, 100), 12);
	CHECK(memcmp(buf, "456789abcdef", 12) == 0);
	CHECK_EQ(vq_elem_write(&elem, 30, "xyz", 3), 2);
	CHECK(memcmp(gm_hva(&gm, BUF + 62, 2), "xy", 2) == 0);
	CHECK(vq_pop(&vq, &elem) == 0);
	TEST_END();

	TEST_BEGIN("vq_push_fills_used_ring");
	vq_push(&vq, 3, 29);
	{
		uint16_t *used_idx = gm_hva(&gm, USED + 2, 2);
		struct virtq_used_elem *u = gm_hva(&gm, USED + 4, 8);

		CHECK_EQ(*used_idx, 1);
		CHECK_EQ(u->id, 3);
		CHECK_EQ(u->len, 29);
	}
	CHECK(vq_should_notify(&vq));
	*(uint16_t *)gm_hva(&gm, AVAIL, 2) = VIRTQ_AVAIL_F_NO_INTERRUPT;
	vq_push(&vq, 3, 0);
	CHECK(!vq_should_notify(&vq));
	TEST_END();

	TEST_BEGIN("vq_indirect_chain");
	reset_queue(F_INDIRECT);
	build_indirect();
	CHECK(vq_pop(&vq, &elem) == 1);
	CHECK_EQ(elem.nout, 1);
	CHECK_EQ(elem.nin, 1);
	CHECK(elem.iov[0].iov_base == gm_hva(&gm, BUF, 8));
	TEST_END();

	TEST_BEGIN("vq_wraps_16bit_indices");
	reset_queue(0);
	set_desc(DESC, 0, BUF, 16, 0, 0);
	for (unsigned i = 0; i < 70000; i++) {
		publish(0);
		if (vq_pop(&vq, &elem) != 1) {
			CHECK(0);
			break;
		}
		vq_push(&vq, 0, 0);
	}
	CHECK(!vq.broken);
	TEST_END();

	TEST_BEGIN("vq_event_idx_suppression");
	reset_queue(F_EVENT_IDX);
	set_desc(DESC, 0, BUF, 16, 0, 0);
	publish(0);
	CHECK(vq_pop(&vq, &elem) == 1);
	CHECK_EQ(*(uint16_t *)gm_hva(&gm, USED + 4 + 8 * QSZ, 2), 1); /* avail_event */
	vq_push(&vq, 0, 0);
	CHECK(vq_should_notify(&vq)); /* first notification is always sent */
	*(uint16_t *)gm_hva(&gm, AVAIL + 4 + 2 * QSZ, 2) = 5; /* used_event: wake at 6 */
	vq_push(&vq, 0, 0);
	CHECK(!vq_should_notify(&vq));
	for (int i = 0; i < 3; i++)
		vq_push(&vq, 0, 0);
	CHECK(!vq_should_notify(&vq)); /* used idx 5: not past used_event yet */
	vq_push(&vq, 0, 0);
	CHECK(vq_should_notify(&vq)); /* used idx 6 passes used_event 5 */
	TEST_END();

	TEST_BEGIN("vq_enable_notify_sees_late_entries");
	reset_queue(0);
	vq_disable_notify(&vq);
	CHECK_EQ(*(uint16_t *)gm_hva(&gm, USED, 2), VIRTQ_USED_F_NO_NOTIFY);
	CHECK(!vq_enable_notify(&vq));
	CHECK_EQ(*(uint16_t *)gm_hva(&gm, USED, 2), 0);
	set_desc(DESC, 0, BUF, 16, 0, 0);
	publish(0);
	CHECK(vq_enable_notify(&vq));
	TEST_END();

	expect_broken("vq_rejects_loop", build_loop, 0);
	expect_broken("vq_rejects_head_out_of_range", build_head_oob, 0);
	expect_broken("vq_rejects_next_out_of_range", build_next_oob, 0);
	expect_broken("vq_rejects_buffer_outside_ram", build_outside_ram, 0);
	expect_broken("vq_rejects_address_overflow", build_overflow, 0);
	expect_broken("vq_rejects_readable_after_writable", build_read_after_write, 0);
	expect_broken("vq_rejects_unnegotiated_indirect", build_indirect, 0);
	expect_broken("vq_rejects_nested_indirect", build_nested_indirect, F_INDIRECT);
	expect_broken("vq_rejects_indirect_with_next", build_indirect_with_next, F_INDIRECT);
	expect_broken("vq_rejects_indirect_bad_length", build_indirect_bad_len, F_INDIRECT);
	expect_broken("vq_rejects_indirect_loop", build_indirect_loop, F_INDIRECT);
	expect_broken("vq_rejects_indirect_next_out_of_range", build_indirect_next_oob, F_INDIRECT);
	expect_broken("vq_rejects_avail_index_ahead", build_avail_ahead, 0);
	expect_broken("vq_rejects_too_many_segments", build_too_many_segments, 0);
	elem.iov_cap = 64;

	gm_fini(&gm);
	return 0;
}
