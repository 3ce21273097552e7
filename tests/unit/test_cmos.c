/* CMOS RTC: time registers against the host clock in BCD, binary and
 * 12-hour modes, guest-set time, UIP, and the memory-size bytes. */
#include <time.h>
#include <unistd.h>

#include "core/event.h"

#include "fake_vm.h"
#include "hw/rtc/cmos.h"
#include "hw/x86/layout.h"
#include "testlib.h"

static struct vm vm;

static unsigned rd(unsigned idx)
{
	io_write(vm.pio, 0x70, idx | 0x80, 1); /* NMI-disable bit must be ignored */
	return (unsigned)io_read(vm.pio, 0x71, 1);
}

static void wr(unsigned idx, unsigned v)
{
	io_write(vm.pio, 0x70, idx, 1);
	io_write(vm.pio, 0x71, v, 1);
}

static unsigned bcd(unsigned v)
{
	return (v / 10) << 4 | (v % 10);
}

/* Reads the clock like Linux's mc146818_get_time: until two reads agree. */
struct rtc_read {
	unsigned sec, min, hour, wday, mday, mon, year, cent;
};

static struct rtc_read read_clock(void)
{
	struct rtc_read a, b;

	do {
		a = (struct rtc_read){ rd(0), rd(2), rd(4), rd(6), rd(7), rd(8), rd(9), rd(0x32) };
		b = (struct rtc_read){ rd(0), rd(2), rd(4), rd(6), rd(7), rd(8), rd(9), rd(0x32) };
	} while (a.sec != b.sec || a.min != b.min || a.hour != b.hour);
	return a;
}

/* True if r matches the host's UTC time at t..t+2 (seconds may tick, and
 * the test may be descheduled on a busy machine). */
static bool matches(struct rtc_read r, time_t t, bool binary, bool h12)
{
	for (int d = 0; d <= 2; d++) {
		time_t tt = t + d;
		struct tm tm;
		unsigned (*enc)(unsigned) = binary ? NULL : bcd;
#define E(v) (enc ? enc(v) : (unsigned)(v))
		unsigned hour;

		gmtime_r(&tt, &tm);
		if (h12)
			hour = E(tm.tm_hour % 12 ? tm.tm_hour % 12 : 12) | (tm.tm_hour >= 12 ? 0x80 : 0);
		else
			hour = E(tm.tm_hour);
		if (r.sec == E(tm.tm_sec) && r.min == E(tm.tm_min) && r.hour == hour &&
		    r.wday == E(tm.tm_wday + 1) && r.mday == E(tm.tm_mday) &&
		    r.mon == E(tm.tm_mon + 1) && r.year == E((tm.tm_year + 1900) % 100) &&
		    r.cent == E((tm.tm_year + 1900) / 100))
			return true;
#undef E
	}
	return false;
}

static bool wait_irq8(int want, int ms)
{
	for (int i = 0; i < ms; i++) {
		if (fake_vm_irq_level[LAYOUT_GSI_RTC] == want)
			return true;
		usleep(1000);
	}
	return false;
}

/* IRQ 8 from the update, alarm and periodic timers on a running I/O thread. */
static void test_interrupts(void)
{
	struct err err = { { 0 } };
	struct event_loop *loop = event_loop_create(&err);
	struct cmos *c;
	unsigned v, raises;

	TEST_BEGIN("cmos_interrupts_update_alarm_periodic");
	CHECK(loop != NULL);
	vm.loop = loop;
	fake_vm_reset();
	c = cmos_create(&vm, &err);
	CHECK(c != NULL);
	CHECK(event_loop_start(loop, &err) == 0);
	CHECK_EQ(fake_vm_irq_level[LAYOUT_GSI_RTC], 0);
	rd(0x0c);
	wr(0x0b, 0x12); /* UIE */
	CHECK(wait_irq8(1, 1500));
	v = rd(0x0c);
	CHECK_EQ(v & 0x90, 0x90);
	CHECK_EQ(fake_vm_irq_level[LAYOUT_GSI_RTC], 0); /* reading C lowers the line */
	wr(0x0b, 0x02);
	wr(0x01, 0xff), wr(0x03, 0xff), wr(0x05, 0xff); /* alarm: every second */
	rd(0x0c);
	wr(0x0b, 0x22); /* AIE */
	CHECK(wait_irq8(1, 1500));
	CHECK_EQ(rd(0x0c) & 0xa0, 0xa0);
	wr(0x0b, 0x02);
	wr(0x0a, 0x26); /* 1024 Hz */
	rd(0x0c);
	wr(0x0b, 0x42); /* PIE */
	CHECK(wait_irq8(1, 500));
	CHECK_EQ(rd(0x0c) & 0xc0, 0xc0);
	CHECK(wait_irq8(1, 500)); /* and again */
	wr(0x0b, 0x02);
	rd(0x0c);
	usleep(20000);
	raises = fake_vm_irq_raises[LAYOUT_GSI_RTC];
	usleep(50000);
	CHECK_EQ(fake_vm_irq_level[LAYOUT_GSI_RTC], 0);
	CHECK_EQ(fake_vm_irq_raises[LAYOUT_GSI_RTC], raises); /* all timers stopped */
	cmos_destroy(c);
	event_loop_destroy(loop);
	vm.loop = NULL;
	TEST_END();
}

int main(void)
{
	struct err err = { { 0 } };
	struct cmos *c;
	struct rtc_read r;
	time_t t;

	if (fake_vm_init(&vm, 4 * GiB + 64 * MiB) < 0) {
		printf("not ok cmos_setup: fake vm\n");
		return 1;
	}
	vm.ncpus = 4;
	c = cmos_create(&vm, &err);

	TEST_BEGIN("cmos_time_bcd_matches_host");
	CHECK(c != NULL);
	CHECK_EQ(rd(0x0b), 0x02); /* 24h, BCD */
	CHECK_EQ(rd(0x0d), 0x80);
	t = time(NULL);
	r = read_clock();
	CHECK(matches(r, t, false, false));
	TEST_END();

	TEST_BEGIN("cmos_time_binary_and_12h");
	wr(0x0b, 0x06); /* binary, 24h */
	t = time(NULL);
	r = read_clock();
	CHECK(matches(r, t, true, false));
	wr(0x0b, 0x00); /* BCD, 12h */
	t = time(NULL);
	r = read_clock();
	CHECK(matches(r, t, false, true));
	wr(0x0b, 0x02);
	TEST_END();

	TEST_BEGIN("cmos_guest_sets_time");
	wr(0x0b, 0x82); /* SET: halt updates while writing */
	wr(0x09, 0x99);
	wr(0x32, 0x19);
	wr(0x08, 0x12);
	wr(0x07, 0x31);
	wr(0x04, 0x23);
	wr(0x02, 0x59);
	wr(0x00, 0x50);
	CHECK_EQ(rd(0x0a) & 0x80, 0); /* no UIP while SET */
	CHECK_EQ(rd(0x00), 0x50);     /* frozen */
	wr(0x0b, 0x02);
	r = read_clock();
	CHECK_EQ(r.cent, 0x19);
	CHECK_EQ(r.year, 0x99);
	CHECK_EQ(r.mon, 0x12);
	CHECK_EQ(r.mday, 0x31);
	CHECK_EQ(r.wday, 0x06); /* 1999-12-31 was a Friday */
	CHECK(r.sec >= 0x50 && r.sec <= 0x52);
	/* garbage BCD from the guest is normalised, never a crash */
	wr(0x08, 0xff);
	wr(0x04, 0xff);
	(void)read_clock();
	TEST_END();

	TEST_BEGIN("cmos_uip_sometimes_set");
	{
		bool seen_set = false, seen_clear = false;

		/* UIP is set for the last 244 us of each second: sleep until just
		 * before that window and poll through it, so a loaded machine that
		 * deschedules us now and then still sees it within a few tries. */
		for (int tries = 0; tries < 20 && !(seen_set && seen_clear); tries++) {
			struct timespec now, nap;

			clock_gettime(CLOCK_REALTIME, &now);
			nap.tv_sec = 0;
			nap.tv_nsec = 1000000000L - 400000L - now.tv_nsec;
			if (nap.tv_nsec < 0)
				nap.tv_nsec += 1000000000L;
			nanosleep(&nap, NULL);
			for (int i = 0; i < 200000; i++) {
				unsigned a = rd(0x0a);

				CHECK_EQ(a & 0x7f, 0x26);
				if (a & 0x80)
					seen_set = true;
				else
					seen_clear = true;
				clock_gettime(CLOCK_REALTIME, &now);
				if (seen_set && now.tv_nsec < 500000000L)
					break; /* through the update */
			}
		}
		CHECK(seen_set && seen_clear);
	}
	TEST_END();

	TEST_BEGIN("cmos_memory_size_bytes");
	CHECK_EQ(rd(0x15) | rd(0x16) << 8, 640);
	CHECK_EQ(rd(0x17) | rd(0x18) << 8, 0xffff); /* 3 GiB - 1 MiB in KiB, capped */
	CHECK_EQ(rd(0x30) | rd(0x31) << 8, 0xffff);
	CHECK_EQ(rd(0x34) | rd(0x35) << 8, (3 * GiB - 16 * MiB) / (64 * KiB));
	CHECK_EQ(rd(0x5b) | rd(0x5c) << 8 | rd(0x5d) << 16, (1 * GiB + 64 * MiB) / (64 * KiB));
	CHECK_EQ(rd(0x5f), 3);
	{
		unsigned sum = 0;

		for (unsigned i = 0x10; i <= 0x2d; i++)
			sum += rd(i);
		CHECK_EQ(rd(0x2e) << 8 | rd(0x2f), sum);
	}
	/* plain CMOS RAM is read/write; register C/D are read-only */
	wr(0x40, 0xa5);
	CHECK_EQ(rd(0x40), 0xa5);
	wr(0x0c, 0xff);
	CHECK_EQ(rd(0x0c) & 0x80, 0); /* flags may be polled, but no IRQF: nothing enabled */
	CHECK_EQ(io_read(vm.pio, 0x70, 1), 0xff);
	TEST_END();

	cmos_destroy(c);
	test_interrupts();
	{
		/* small RAM: no bytes above 16 MiB or 4 GiB */
		struct vm v2;

		TEST_BEGIN("cmos_memory_size_small");
		CHECK(fake_vm_init(&v2, 8 * MiB) == 0);
		c = cmos_create(&v2, &err);
		CHECK(c != NULL);
		CHECK_EQ(cmos_get(c, 0x17) | cmos_get(c, 0x18) << 8, 7 * 1024);
		CHECK_EQ(cmos_get(c, 0x34) | cmos_get(c, 0x35) << 8, 0);
		CHECK_EQ(cmos_get(c, 0x5b), 0);
		cmos_destroy(c);
		fake_vm_fini(&v2);
		TEST_END();
	}
	fake_vm_fini(&vm);
	return 0;
}
