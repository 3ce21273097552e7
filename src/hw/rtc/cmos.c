/* MC146818A RTC + CMOS RAM (Motorola MC146818A datasheet; the memory-size
 * bytes follow the IBM PC/AT CMOS map that SeaBIOS reads). */
#include "hw/rtc/cmos.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "core/event.h"
#include "core/log.h"
#include "hw/bus/io.h"
#include "hw/x86/layout.h"
#include "vm/vm.h"

enum {
	RTC_SECONDS = 0x00,
	RTC_SECONDS_ALARM = 0x01,
	RTC_MINUTES = 0x02,
	RTC_MINUTES_ALARM = 0x03,
	RTC_HOURS = 0x04,
	RTC_HOURS_ALARM = 0x05,
	RTC_WEEKDAY = 0x06,
	RTC_DAY = 0x07,
	RTC_MONTH = 0x08,
	RTC_YEAR = 0x09,
	RTC_REG_A = 0x0a,
	RTC_REG_B = 0x0b,
	RTC_REG_C = 0x0c,
	RTC_REG_D = 0x0d,
	CMOS_BASE_MEM_LO = 0x15, /* KiB below 1 MiB */
	CMOS_EXT_MEM_LO = 0x17,  /* KiB from 1 MiB, up to 0xffff */
	CMOS_CHECKSUM_HI = 0x2e, /* sum of 0x10-0x2d */
	CMOS_EXT_MEM2_LO = 0x30, /* same as 0x17/0x18 */
	CMOS_CENTURY = 0x32,
	CMOS_MEM_16M_LO = 0x34,  /* 64 KiB units from 16 MiB to the PCI hole */
	CMOS_MEM_4G_LO = 0x5b,   /* 64 KiB units above 4 GiB, 3 bytes */
	CMOS_CPU_COUNT = 0x5f,   /* vCPUs - 1 (QEMU/SeaBIOS convention) */
};

#define REG_A_UIP 0x80
#define REG_A_DIVIDER 0x70
#define REG_A_DIVIDER_NORMAL 0x20 /* 32.768 kHz time base, running */
#define REG_A_RATE 0x0f
#define REG_B_SET 0x80
#define REG_B_PIE 0x40
#define REG_B_AIE 0x20
#define REG_B_UIE 0x10
#define REG_C_IRQF 0x80
#define REG_C_PF 0x40 /* the flags sit at the same bits as their enables in B */
#define REG_C_AF 0x20
#define REG_C_UF 0x10
#define RTC_ALARM_DONT_CARE 0xc0 /* alarm byte 0xc0-0xff matches any value */
#define REG_B_DM_BINARY 0x04
#define REG_B_24H 0x02
#define REG_D_VRT 0x80 /* valid RAM and time: the battery is fine */

/* UIP is set 244 us before each update (datasheet, "Update cycle"). */
#define RTC_UIP_NS 244000L

struct cmos {
	struct vm *vm;
	pthread_mutex_t lock;
	uint8_t index;
	uint8_t ram[128];
	int64_t offset;       /* guest time - host time, seconds */
	bool frozen;          /* register B SET: the clock does not advance */
	int64_t frozen_time;
	/* Interrupts (IRQ 8): register C's flags, raised by timers on the I/O
	 * thread while enabled; polled flags are also derived on each read of
	 * C from the time since the previous read. */
	uint8_t flags;
	bool irq_level;
	struct event_timer *update_timer, *periodic_timer;
	bool update_armed;
	uint64_t periodic_armed_ns;
	int64_t last_c_sec;
	struct timespec last_c_mono;
};

static void cmos_now(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

/* Guest wall-clock seconds since the epoch; ns_in_second for UIP. */
static int64_t cmos_time(const struct cmos *c, long *ns_in_second)
{
	struct timespec ts;

	cmos_now(&ts);
	if (ns_in_second)
		*ns_in_second = c->frozen ? 0 : ts.tv_nsec;
	return c->frozen ? c->frozen_time : (int64_t)ts.tv_sec + c->offset;
}

static uint8_t cmos_encode(const struct cmos *c, int v)
{
	if (c->ram[RTC_REG_B] & REG_B_DM_BINARY)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) % 10) << 4 | (v % 10));
}

static int cmos_decode(const struct cmos *c, uint8_t v)
{
	if (c->ram[RTC_REG_B] & REG_B_DM_BINARY)
		return v;
	return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t cmos_encode_hours(const struct cmos *c, int h)
{
	if (c->ram[RTC_REG_B] & REG_B_24H)
		return cmos_encode(c, h);
	/* 12-hour mode: 12, 1..11 with bit 7 for PM */
	return (uint8_t)(cmos_encode(c, h % 12 ? h % 12 : 12) | (h >= 12 ? 0x80 : 0));
}

static int cmos_decode_hours(const struct cmos *c, uint8_t v)
{
	if (c->ram[RTC_REG_B] & REG_B_24H)
		return cmos_decode(c, v);
	return cmos_decode(c, v & 0x7f) % 12 + ((v & 0x80) ? 12 : 0);
}

static void cmos_gmtime(int64_t t, struct tm *tm)
{
	time_t tt = (time_t)t;

	if (!gmtime_r(&tt, tm))
		*tm = (struct tm){ .tm_mday = 1, .tm_year = 70 };
}

static uint8_t cmos_read_time(struct cmos *c, uint8_t idx)
{
	struct tm tm;

	cmos_gmtime(cmos_time(c, NULL), &tm);
	switch (idx) {
	case RTC_SECONDS:
		return cmos_encode(c, tm.tm_sec > 59 ? 59 : tm.tm_sec);
	case RTC_MINUTES:
		return cmos_encode(c, tm.tm_min);
	case RTC_HOURS:
		return cmos_encode_hours(c, tm.tm_hour);
	case RTC_WEEKDAY:
		return cmos_encode(c, tm.tm_wday + 1); /* 1 = Sunday */
	case RTC_DAY:
		return cmos_encode(c, tm.tm_mday);
	case RTC_MONTH:
		return cmos_encode(c, tm.tm_mon + 1);
	case RTC_YEAR:
		return cmos_encode(c, (tm.tm_year + 1900) % 100);
	default: /* RTC_CENTURY */
		return cmos_encode(c, ((tm.tm_year + 1900) / 100) % 100);
	}
}

/* The guest sets one field: rebuild the time and keep it as an offset (or as
 * the frozen time while SET is on). Out-of-range fields are normalised by
 * timegm like a real chip's counters would roll, never trusted as indices. */
static void cmos_write_time(struct cmos *c, uint8_t idx, uint8_t v)
{
	struct timespec now;
	struct tm tm;
	int year;
	int64_t t;

	cmos_gmtime(cmos_time(c, NULL), &tm);
	year = tm.tm_year + 1900;
	switch (idx) {
	case RTC_SECONDS:
		tm.tm_sec = cmos_decode(c, v);
		break;
	case RTC_MINUTES:
		tm.tm_min = cmos_decode(c, v);
		break;
	case RTC_HOURS:
		tm.tm_hour = cmos_decode_hours(c, v);
		break;
	case RTC_WEEKDAY:
		return; /* derived from the date */
	case RTC_DAY:
		tm.tm_mday = cmos_decode(c, v);
		break;
	case RTC_MONTH:
		tm.tm_mon = cmos_decode(c, v) - 1;
		break;
	case RTC_YEAR:
		tm.tm_year = year / 100 * 100 + cmos_decode(c, v) % 100 - 1900;
		break;
	default: /* RTC_CENTURY */
		tm.tm_year = cmos_decode(c, v) * 100 + year % 100 - 1900;
		break;
	}
	tm.tm_isdst = 0;
	t = (int64_t)timegm(&tm);
	if (c->frozen) {
		c->frozen_time = t;
	} else {
		cmos_now(&now);
		c->offset = t - (int64_t)now.tv_sec;
	}
}

static bool cmos_running(const struct cmos *c)
{
	return !c->frozen && (c->ram[RTC_REG_A] & REG_A_DIVIDER) == REG_A_DIVIDER_NORMAL;
}

/* Periodic interrupt period from register A's rate select (datasheet table
 * 3, 32.768 kHz time base): rates 1 and 2 repeat rates 8 and 9; 0 is off. */
static uint64_t cmos_period_ns(const struct cmos *c)
{
	unsigned rate = c->ram[RTC_REG_A] & REG_A_RATE;

	if (!rate)
		return 0;
	if (rate < 3)
		rate += 7;
	return 1000000000ULL * (1u << (rate - 1)) / 32768;
}

static void cmos_update_irq(struct cmos *c)
{
	bool level = c->flags & c->ram[RTC_REG_B] & (REG_B_PIE | REG_B_AIE | REG_B_UIE);

	if (level != c->irq_level) {
		c->irq_level = level;
		vm_set_irq(c->vm, LAYOUT_GSI_RTC, level);
	}
}

static uint64_t cmos_ns_to_next_second(void)
{
	struct timespec ts;

	cmos_now(&ts);
	/* 100 us past the boundary: CLOCK_MONOTONIC's timer must not land just
	 * before the wall-clock second turns and tick twice in one second. */
	return 1000000000ULL - (uint64_t)ts.tv_nsec + 100000;
}

/* With the lock held, after registers A or B changed: run the timers the
 * enabled interrupts need, and only those. */
static void cmos_sync_timers(struct cmos *c)
{
	bool update = cmos_running(c) && (c->ram[RTC_REG_B] & (REG_B_UIE | REG_B_AIE));
	uint64_t period = cmos_running(c) && (c->ram[RTC_REG_B] & REG_B_PIE) ? cmos_period_ns(c) : 0;

	if (c->update_timer && update != c->update_armed) {
		if (update)
			event_timer_arm(c->update_timer, cmos_ns_to_next_second(), 0);
		else
			event_timer_disarm(c->update_timer);
		c->update_armed = update;
	}
	if (c->periodic_timer && period != c->periodic_armed_ns) {
		if (period)
			event_timer_arm(c->periodic_timer, period, period);
		else
			event_timer_disarm(c->periodic_timer);
		c->periodic_armed_ns = period;
	}
}

static bool cmos_alarm_matches(struct cmos *c)
{
	static const uint8_t alarm[3] = { RTC_SECONDS_ALARM, RTC_MINUTES_ALARM, RTC_HOURS_ALARM };
	static const uint8_t now[3] = { RTC_SECONDS, RTC_MINUTES, RTC_HOURS };

	for (unsigned i = 0; i < 3; i++) {
		uint8_t a = c->ram[alarm[i]];

		if ((a & RTC_ALARM_DONT_CARE) != RTC_ALARM_DONT_CARE && a != cmos_read_time(c, now[i]))
			return false;
	}
	return true;
}

/* I/O thread, once per second while UIE or AIE is on: the update cycle ended. */
static void cmos_update_tick(void *opaque)
{
	struct cmos *c = opaque;

	pthread_mutex_lock(&c->lock);
	if (c->update_armed) {
		c->flags |= REG_C_UF;
		if (cmos_alarm_matches(c))
			c->flags |= REG_C_AF;
		cmos_update_irq(c);
		event_timer_arm(c->update_timer, cmos_ns_to_next_second(), 0);
	}
	pthread_mutex_unlock(&c->lock);
}

static void cmos_periodic_tick(void *opaque)
{
	struct cmos *c = opaque;

	pthread_mutex_lock(&c->lock);
	if (c->periodic_armed_ns) {
		c->flags |= REG_C_PF;
		cmos_update_irq(c);
	}
	pthread_mutex_unlock(&c->lock);
}

/* Reading C returns and clears the flags (datasheet: "all flag bits are
 * cleared after register C is read"). A guest polling without interrupts
 * still sees UF once per second and PF once per period. */
static uint8_t cmos_read_c(struct cmos *c)
{
	struct timespec mono;
	int64_t sec = cmos_time(c, NULL);
	uint8_t v;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	if (cmos_running(c)) {
		uint64_t period = cmos_period_ns(c);
		int64_t elapsed = (int64_t)(mono.tv_sec - c->last_c_mono.tv_sec) * 1000000000LL +
				  (mono.tv_nsec - c->last_c_mono.tv_nsec);

		if (sec != c->last_c_sec)
			c->flags |= REG_C_UF;
		if (period && elapsed >= (int64_t)period)
			c->flags |= REG_C_PF;
	}
	v = c->flags;
	if (v & c->ram[RTC_REG_B] & (REG_B_PIE | REG_B_AIE | REG_B_UIE))
		v |= REG_C_IRQF;
	c->flags = 0;
	c->last_c_sec = sec;
	c->last_c_mono = mono;
	cmos_update_irq(c);
	return v;
}

static bool cmos_is_time_reg(uint8_t idx)
{
	return idx == RTC_SECONDS || idx == RTC_MINUTES || idx == RTC_HOURS ||
	       idx == RTC_WEEKDAY || idx == RTC_DAY || idx == RTC_MONTH || idx == RTC_YEAR ||
	       idx == CMOS_CENTURY;
}

static uint8_t cmos_read_reg(struct cmos *c, uint8_t idx)
{
	long ns;

	if (cmos_is_time_reg(idx))
		return cmos_read_time(c, idx);
	switch (idx) {
	case RTC_REG_A: {
		uint8_t a = c->ram[RTC_REG_A] & (uint8_t)~REG_A_UIP;

		cmos_time(c, &ns);
		if ((a & REG_A_DIVIDER) == REG_A_DIVIDER_NORMAL && !c->frozen &&
		    ns >= 1000000000L - RTC_UIP_NS)
			a |= REG_A_UIP;
		return a;
	}
	case RTC_REG_C:
		return cmos_read_c(c);
	case RTC_REG_D:
		return REG_D_VRT;
	default:
		return c->ram[idx];
	}
}

static void cmos_write_reg(struct cmos *c, uint8_t idx, uint8_t v)
{
	if (cmos_is_time_reg(idx)) {
		cmos_write_time(c, idx, v);
		return;
	}
	switch (idx) {
	case RTC_REG_A:
		c->ram[idx] = v & (uint8_t)~REG_A_UIP; /* UIP is read-only */
		cmos_sync_timers(c);
		break;
	case RTC_REG_B: {
		bool set = v & REG_B_SET;

		if (set && !c->frozen) {
			c->frozen_time = cmos_time(c, NULL);
			c->frozen = true;
		} else if (!set && c->frozen) {
			struct timespec now;

			cmos_now(&now);
			c->offset = c->frozen_time - (int64_t)now.tv_sec;
			c->frozen = false;
		}
		c->ram[idx] = v;
		cmos_sync_timers(c);
		cmos_update_irq(c); /* enabling with a flag already set raises IRQ 8 */
		break;
	}
	case RTC_REG_C:
	case RTC_REG_D:
		break; /* read-only */
	default:
		c->ram[idx] = v;
	}
}

static uint64_t cmos_io_read(void *opaque, uint64_t off, unsigned size)
{
	struct cmos *c = opaque;
	uint8_t v;

	if (off == 0)
		return 0xff; /* the index register is write-only */
	pthread_mutex_lock(&c->lock);
	v = cmos_read_reg(c, c->index);
	pthread_mutex_unlock(&c->lock);
	return v;
}

static void cmos_io_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct cmos *c = opaque;

	pthread_mutex_lock(&c->lock);
	if (off == 0)
		c->index = val & 0x7f; /* bit 7 is the NMI mask on PCs; ignored */
	else
		cmos_write_reg(c, c->index, (uint8_t)val);
	pthread_mutex_unlock(&c->lock);
}

static const struct io_ops cmos_ops = {
	.read = cmos_io_read,
	.write = cmos_io_write,
	.min_size = 1,
	.max_size = 1,
};

static void cmos_put16(struct cmos *c, uint8_t idx, uint64_t v)
{
	if (v > 0xffff)
		v = 0xffff;
	c->ram[idx] = (uint8_t)v;
	c->ram[idx + 1] = (uint8_t)(v >> 8);
}

static void cmos_init_ram(struct cmos *c)
{
	uint64_t low = gm_low_size(&c->vm->mem), high = gm_high_size(&c->vm->mem);
	uint64_t high64k = high / (64 * KiB);
	unsigned sum = 0;

	c->ram[RTC_REG_A] = REG_A_DIVIDER_NORMAL | 0x06; /* 1024 Hz periodic rate */
	c->ram[RTC_REG_B] = REG_B_24H;                   /* BCD, 24-hour */
	c->ram[0x14] = 0x02;                             /* equipment: FPU, no floppy */
	cmos_put16(c, CMOS_BASE_MEM_LO, 640);
	cmos_put16(c, CMOS_EXT_MEM_LO, low > MiB ? (low - MiB) / KiB : 0);
	cmos_put16(c, CMOS_EXT_MEM2_LO, low > MiB ? (low - MiB) / KiB : 0);
	cmos_put16(c, CMOS_MEM_16M_LO, low > 16 * MiB ? (low - 16 * MiB) / (64 * KiB) : 0);
	if (high64k > 0xffffff)
		high64k = 0xffffff;
	c->ram[CMOS_MEM_4G_LO] = (uint8_t)high64k;
	c->ram[CMOS_MEM_4G_LO + 1] = (uint8_t)(high64k >> 8);
	c->ram[CMOS_MEM_4G_LO + 2] = (uint8_t)(high64k >> 16);
	c->ram[CMOS_CPU_COUNT] = (uint8_t)(c->vm->ncpus ? c->vm->ncpus - 1 : 0);
	for (unsigned i = 0x10; i <= 0x2d; i++)
		sum += c->ram[i];
	c->ram[CMOS_CHECKSUM_HI] = (uint8_t)(sum >> 8);
	c->ram[CMOS_CHECKSUM_HI + 1] = (uint8_t)sum;
}

struct cmos *cmos_create(struct vm *vm, struct err *err)
{
	struct cmos *c = calloc(1, sizeof(*c));

	if (!c) {
		err_errno(err, ENOMEM, "rtc");
		return NULL;
	}
	c->vm = vm;
	pthread_mutex_init(&c->lock, NULL);
	cmos_init_ram(c);
	c->last_c_sec = cmos_time(c, NULL);
	clock_gettime(CLOCK_MONOTONIC, &c->last_c_mono);
	/* Without an I/O thread (unit tests of other devices) the flags can
	 * still be polled, but IRQ 8 never fires. */
	if (vm->loop) {
		c->update_timer = event_timer_create(vm->loop, cmos_update_tick, c, err);
		if (c->update_timer)
			c->periodic_timer = event_timer_create(vm->loop, cmos_periodic_tick, c, err);
		if (!c->periodic_timer)
			goto fail;
	}
	if (io_map(vm->pio, LAYOUT_PORT_RTC, 2, &cmos_ops, c, "rtc", err) < 0)
		goto fail;
	return c;
fail:
	err_prefix(err, "rtc");
	event_timer_destroy(c->update_timer);
	event_timer_destroy(c->periodic_timer);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return NULL;
}

void cmos_destroy(struct cmos *c)
{
	if (!c)
		return;
	io_unmap(c->vm->pio, LAYOUT_PORT_RTC, c);
	/* Not under the lock: destroying waits out a running tick, which takes it. */
	event_timer_destroy(c->update_timer);
	event_timer_destroy(c->periodic_timer);
	if (c->irq_level)
		vm_set_irq(c->vm, LAYOUT_GSI_RTC, false);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

uint8_t cmos_get(struct cmos *c, uint8_t index)
{
	uint8_t v;

	pthread_mutex_lock(&c->lock);
	v = cmos_read_reg(c, index & 0x7f);
	pthread_mutex_unlock(&c->lock);
	return v;
}

void cmos_set(struct cmos *c, uint8_t index, uint8_t val)
{
	pthread_mutex_lock(&c->lock);
	cmos_write_reg(c, index & 0x7f, val);
	pthread_mutex_unlock(&c->lock);
}
