/* 8254 PIT: counting, latches, read-back, IRQ 0 edges, port 0x61. */
#include "hw/timer/pit.h"
#include "testlib.h"

static unsigned irq_raises;

static void on_irq0(void *opaque, bool level)
{
	if (level)
		irq_raises++;
}

#define MS 1000000ULL

int main(void)
{
	struct err err = { { 0 } };
	struct pit *p = pit_create(NULL, on_irq0, NULL, &err);
	uint64_t t0 = 1000 * MS, next;
	uint16_t v;

	TEST_BEGIN("pit_rate_generator_irq0");
	pit_port_write(p, 0x43, 0x34, t0);      /* ch0, lo/hi, mode 2 */
	pit_port_write(p, 0x40, 1193 & 0xff, t0);
	pit_port_write(p, 0x40, 1193 >> 8, t0); /* ~1 ms period */
	next = pit_check(p, t0 + MS / 2);
	CHECK_EQ(irq_raises, 0);
	CHECK(next > t0 + 990000 && next < t0 + 1010000);
	next = pit_check(p, t0 + 1100000);
	CHECK_EQ(irq_raises, 1);
	CHECK(next > t0 + 1990000 && next < t0 + 2010000);
	pit_check(p, t0 + 10 * MS + 1000); /* missed periods collapse */
	CHECK_EQ(irq_raises, 2);
	TEST_END();

	TEST_BEGIN("pit_latch_and_readback");
	pit_port_write(p, 0x43, 0x00, t0 + MS / 2); /* latch ch0 */
	v = pit_port_read(p, 0x40, t0 + 3 * MS / 4);
	v |= (uint16_t)(pit_port_read(p, 0x40, t0 + 3 * MS / 4) << 8);
	CHECK(v > 590 && v < 600); /* value at the latch time, not the read time */
	pit_port_write(p, 0x43, 0xe2, t0); /* read-back status of ch0 */
	CHECK_EQ(pit_port_read(p, 0x40, t0) & 0x3f, 0x34);
	TEST_END();

	TEST_BEGIN("pit_channel2_gate_and_out2");
	pit_port_write(p, 0x61, 0x00, t0);
	pit_port_write(p, 0x43, 0xb0, t0); /* ch2, lo/hi, mode 0 */
	pit_port_write(p, 0x42, 0xff, t0);
	pit_port_write(p, 0x42, 0xff, t0);
	pit_port_write(p, 0x61, 0x01, t0); /* gate high: count starts */
	CHECK(!(pit_port_read(p, 0x61, t0 + MS) & 0x20));
	CHECK(pit_port_read(p, 0x61, t0 + 60 * MS) & 0x20); /* 65535 ticks = 54.9 ms */
	TEST_END();

	TEST_BEGIN("pit_oneshot_mode4");
	irq_raises = 0;
	pit_port_write(p, 0x43, 0x38, t0); /* ch0, mode 4 (Linux oneshot) */
	pit_port_write(p, 0x40, 100, t0);
	pit_port_write(p, 0x40, 0, t0);
	pit_check(p, t0 + MS);
	CHECK_EQ(irq_raises, 1);
	CHECK_EQ(pit_check(p, t0 + 2 * MS), 0);
	CHECK_EQ(irq_raises, 1);
	TEST_END();

	pit_destroy(p);
	return 0;
}
