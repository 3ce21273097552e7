/* Local APIC, xAPIC mode (Intel SDM Vol. 3A chapter 11). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hw/intc/apic.h"
#include "hw/intc/pic.h"

/* Register offsets (SDM Table 11-1). */
enum {
	LAPIC_ID = 0x20,
	LAPIC_VERSION = 0x30,
	LAPIC_TPR = 0x80,
	LAPIC_APR = 0x90,
	LAPIC_PPR = 0xa0,
	LAPIC_EOI = 0xb0,
	LAPIC_LDR = 0xd0,
	LAPIC_DFR = 0xe0,
	LAPIC_SVR = 0xf0,
	LAPIC_ISR = 0x100,
	LAPIC_TMR = 0x180,
	LAPIC_IRR = 0x200,
	LAPIC_ESR = 0x280,
	LAPIC_LVT_CMCI = 0x2f0,
	LAPIC_ICR_LO = 0x300,
	LAPIC_ICR_HI = 0x310,
	LAPIC_LVT_TIMER = 0x320,
	LAPIC_LVT_THERMAL = 0x330,
	LAPIC_LVT_PERF = 0x340,
	LAPIC_LVT_LINT0 = 0x350,
	LAPIC_LVT_LINT1 = 0x360,
	LAPIC_LVT_ERROR = 0x370,
	LAPIC_TIMER_INIT = 0x380,
	LAPIC_TIMER_CUR = 0x390,
	LAPIC_TIMER_DIV = 0x3e0,
};

#define LVT_MASKED (1u << 16)
#define LVT_TIMER_MODE(v) (((v) >> 17) & 3)
#define LVT_TIMER_ONESHOT 0
#define LVT_TIMER_PERIODIC 1
#define LVT_TIMER_TSC_DEADLINE 2
#define SVR_ENABLED (1u << 8)
#define ESR_ILLEGAL_VECTOR (1u << 6)
#define APIC_BASE_BSP (1ULL << 8)
#define APIC_BASE_ENABLE (1ULL << 11)
#define APIC_DEFAULT_BASE 0xfee00000ULL

#define REG(l, off) ((l)->regs[(off) >> 4])

uint64_t apic_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int vec_highest(const uint32_t v[8])
{
	for (int i = 7; i >= 0; i--)
		if (v[i])
			return i * 32 + 31 - __builtin_clz(v[i]);
	return -1;
}

static inline void vec_set(uint32_t v[8], unsigned n)
{
	v[n >> 5] |= 1u << (n & 31);
}

static inline void vec_clear(uint32_t v[8], unsigned n)
{
	v[n >> 5] &= ~(1u << (n & 31));
}

static inline bool vec_test(const uint32_t v[8], unsigned n)
{
	return v[n >> 5] & (1u << (n & 31));
}

static bool lapic_sw_enabled(const struct lapic *l)
{
	return l->hw_enabled && (REG(l, LAPIC_SVR) & SVR_ENABLED);
}

/* Processor priority (SDM §11.8.3.1). */
static uint32_t lapic_ppr(const struct lapic *l)
{
	uint32_t tpr = REG(l, LAPIC_TPR) & 0xff;
	int isrv = vec_highest(l->isr);
	uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;

	return (tpr & 0xf0) >= isr_class ? tpr : isr_class;
}

static void lapic_wake(struct lapic *l)
{
	atomic_store(&l->wake, true);
	if (l->bus->kick)
		l->bus->kick(l->bus->opaque, l->index);
}

/* Called with l->lock held. */
static void lapic_accept_fixed(struct lapic *l, uint8_t vector, bool level)
{
	if (vector < 16) { /* SDM §11.5.3: vectors 0-15 are illegal */
		REG(l, LAPIC_ESR) |= ESR_ILLEGAL_VECTOR;
		return;
	}
	if (!lapic_sw_enabled(l))
		return;
	vec_set(l->irr, vector);
	if (level)
		vec_set(l->tmr, vector);
	else
		vec_clear(l->tmr, vector);
}

void lapic_reset(struct lapic *l, bool bsp)
{
	static const uint16_t lvts[] = { LAPIC_LVT_CMCI,    LAPIC_LVT_TIMER, LAPIC_LVT_THERMAL,
					 LAPIC_LVT_PERF,    LAPIC_LVT_LINT0, LAPIC_LVT_LINT1,
					 LAPIC_LVT_ERROR };

	pthread_mutex_lock(&l->lock);
	memset(l->regs, 0, sizeof(l->regs));
	memset(l->irr, 0, sizeof(l->irr));
	memset(l->isr, 0, sizeof(l->isr));
	memset(l->tmr, 0, sizeof(l->tmr));
	REG(l, LAPIC_DFR) = 0xffffffff;
	REG(l, LAPIC_SVR) = 0xff;
	for (size_t i = 0; i < sizeof(lvts) / sizeof(lvts[0]); i++)
		REG(l, lvts[i]) = LVT_MASKED;
	l->hw_enabled = true;
	l->timer_start_ns = l->timer_deadline_ns = 0;
	l->tsc_deadline = 0;
	l->init_pending = l->sipi_pending = l->nmi_pending = false;
	l->extint_pending = false;
	l->bsp = bsp;
	pthread_mutex_unlock(&l->lock);
}

/* --- timer (SDM §11.5.4) --- */

static unsigned lapic_timer_divisor(const struct lapic *l)
{
	uint32_t d = REG(l, LAPIC_TIMER_DIV);
	uint32_t v = (d & 3) | ((d & 8) >> 1);

	return v == 7 ? 1 : 2u << v;
}

static uint64_t lapic_ticks_to_ns(const struct lapic *l, uint64_t ticks)
{
	unsigned __int128 ns = (unsigned __int128)ticks * lapic_timer_divisor(l) * 1000000000ULL;

	ns /= l->bus->timer_hz;
	return ns > UINT64_MAX / 2 ? UINT64_MAX / 2 : (uint64_t)ns;
}

static uint64_t lapic_ns_to_ticks(const struct lapic *l, uint64_t ns)
{
	unsigned __int128 t = (unsigned __int128)ns * l->bus->timer_hz;

	return (uint64_t)(t / ((unsigned __int128)1000000000ULL * lapic_timer_divisor(l)));
}

static void lapic_timer_arm(struct lapic *l, uint64_t now)
{
	uint32_t init = REG(l, LAPIC_TIMER_INIT);

	l->timer_start_ns = now;
	l->timer_deadline_ns = 0;
	if (LVT_TIMER_MODE(REG(l, LAPIC_LVT_TIMER)) == LVT_TIMER_TSC_DEADLINE)
		return;
	if (init)
		l->timer_deadline_ns = now + lapic_ticks_to_ns(l, init);
}

static uint32_t lapic_timer_current(const struct lapic *l, uint64_t now)
{
	uint32_t init = REG(l, LAPIC_TIMER_INIT);
	uint64_t elapsed;

	if (!init || LVT_TIMER_MODE(REG(l, LAPIC_LVT_TIMER)) == LVT_TIMER_TSC_DEADLINE)
		return 0;
	elapsed = lapic_ns_to_ticks(l, now - l->timer_start_ns);
	if (LVT_TIMER_MODE(REG(l, LAPIC_LVT_TIMER)) == LVT_TIMER_PERIODIC)
		return init - (uint32_t)(elapsed % init);
	return elapsed >= init ? 0 : init - (uint32_t)elapsed;
}

static uint64_t lapic_tsc_to_ns(const struct lapic *l, uint64_t tsc)
{
	unsigned __int128 ns = (unsigned __int128)tsc * 1000000000ULL / l->bus->tsc_hz;

	return ns > UINT64_MAX / 2 ? UINT64_MAX / 2 : (uint64_t)ns;
}

uint64_t lapic_timer_check(struct lapic *l, uint64_t now_ns)
{
	uint32_t lvt;
	uint64_t next;

	pthread_mutex_lock(&l->lock);
	lvt = REG(l, LAPIC_LVT_TIMER);
	if (l->timer_deadline_ns && now_ns >= l->timer_deadline_ns) {
		if (!(lvt & LVT_MASKED))
			lapic_accept_fixed(l, lvt & 0xff, false);
		if (LVT_TIMER_MODE(lvt) == LVT_TIMER_PERIODIC && REG(l, LAPIC_TIMER_INIT)) {
			uint64_t period = lapic_ticks_to_ns(l, REG(l, LAPIC_TIMER_INIT));

			if (period == 0)
				period = 1;
			/* Skip missed periods instead of firing a burst. */
			uint64_t n = (now_ns - l->timer_start_ns) / period;

			l->timer_start_ns += n * period;
			l->timer_deadline_ns = l->timer_start_ns + period;
		} else {
			l->timer_deadline_ns = 0;
		}
	}
	next = l->timer_deadline_ns;
	pthread_mutex_unlock(&l->lock);
	return next;
}

uint64_t lapic_get_tsc_deadline(struct lapic *l)
{
	uint64_t v;

	pthread_mutex_lock(&l->lock);
	v = l->tsc_deadline;
	pthread_mutex_unlock(&l->lock);
	return v;
}

/* SDM §11.5.4.1: writing 0 disarms; the timer fires once the TSC reaches the value. */
void lapic_set_tsc_deadline(struct lapic *l, uint64_t tsc, uint64_t now_ns)
{
	pthread_mutex_lock(&l->lock);
	if (LVT_TIMER_MODE(REG(l, LAPIC_LVT_TIMER)) == LVT_TIMER_TSC_DEADLINE) {
		l->tsc_deadline = tsc;
		l->timer_deadline_ns = tsc ? lapic_tsc_to_ns(l, tsc) : 0;
		if (l->timer_deadline_ns && l->timer_deadline_ns <= now_ns)
			l->timer_deadline_ns = now_ns; /* already due: fire on the next check */
	}
	pthread_mutex_unlock(&l->lock);
}

/* --- interrupt acceptance by the CPU --- */

static bool lapic_lint0_extint(const struct lapic *l)
{
	uint32_t lint0 = REG(l, LAPIC_LVT_LINT0);

	return !(lint0 & LVT_MASKED) && ((lint0 >> 8) & 7) == APIC_DM_EXTINT;
}

/* With the APIC disabled the PIC's INTR reaches the BSP directly (virtual
 * wire); otherwise through LINT0 in ExtINT mode, or an IOAPIC ExtINT message. */
static bool lapic_pic_routed(const struct lapic *l)
{
	if (!l->hw_enabled || !(REG(l, LAPIC_SVR) & SVR_ENABLED))
		return l->bsp;
	return lapic_lint0_extint(l) || l->extint_pending;
}

static int lapic_deliverable_vector(const struct lapic *l)
{
	int v = vec_highest(l->irr);

	if (v < 0 || !lapic_sw_enabled(l))
		return -1;
	return ((uint32_t)v & 0xf0) > (lapic_ppr(l) & 0xf0) ? v : -1;
}

bool lapic_has_interrupt(struct lapic *l)
{
	bool pic_path, r;

	atomic_store(&l->wake, false);
	pthread_mutex_lock(&l->lock);
	r = lapic_deliverable_vector(l) >= 0;
	pic_path = !r && l->bus->pic && lapic_pic_routed(l);
	pthread_mutex_unlock(&l->lock);
	return r || (pic_path && pic_has_intr(l->bus->pic));
}

int lapic_ack_interrupt(struct lapic *l)
{
	bool pic_path;
	int v;

	pthread_mutex_lock(&l->lock);
	v = lapic_deliverable_vector(l);
	if (v >= 0) {
		vec_clear(l->irr, (unsigned)v);
		vec_set(l->isr, (unsigned)v);
	}
	pic_path = v < 0 && l->bus->pic && lapic_pic_routed(l);
	if (pic_path)
		l->extint_pending = false;
	pthread_mutex_unlock(&l->lock);
	if (v >= 0)
		return v;
	if (pic_path && pic_has_intr(l->bus->pic))
		return pic_ack(l->bus->pic);
	return -1;
}

bool lapic_take_init(struct lapic *l)
{
	bool r;

	pthread_mutex_lock(&l->lock);
	r = l->init_pending;
	l->init_pending = false;
	pthread_mutex_unlock(&l->lock);
	return r;
}

int lapic_take_sipi(struct lapic *l)
{
	int r = -1;

	pthread_mutex_lock(&l->lock);
	if (l->sipi_pending)
		r = l->sipi_vector;
	l->sipi_pending = false;
	pthread_mutex_unlock(&l->lock);
	return r;
}

bool lapic_take_nmi(struct lapic *l)
{
	bool r;

	pthread_mutex_lock(&l->lock);
	r = l->nmi_pending;
	l->nmi_pending = false;
	pthread_mutex_unlock(&l->lock);
	return r;
}

/* --- messages from the bus --- */

static bool lapic_match_logical(const struct lapic *l, uint8_t dest)
{
	uint8_t ldr = (uint8_t)(REG(l, LAPIC_LDR) >> 24);

	if ((REG(l, LAPIC_DFR) >> 28) == 0xf) /* flat model */
		return (ldr & dest) != 0;
	/* cluster model: high nibble cluster, low nibble member mask */
	if (dest == 0xff)
		return true;
	return (ldr >> 4) == (dest >> 4) && (ldr & dest & 0xf);
}

static bool lapic_matches(const struct lapic *l, const struct apic_msg *m, const struct lapic *src)
{
	switch (m->shorthand) {
	case 1:
		return l == src;
	case 2:
		return true;
	case 3:
		return l != src;
	}
	if (m->logical)
		return lapic_match_logical(l, m->dest);
	return m->dest == 0xff || m->dest == l->id;
}

/* Applies one message to one LAPIC. Takes and drops its lock. */
static void lapic_receive(struct lapic *l, const struct apic_msg *m)
{
	pthread_mutex_lock(&l->lock);
	switch (m->delivery) {
	case APIC_DM_FIXED:
	case APIC_DM_LOWEST:
		lapic_accept_fixed(l, m->vector, m->level);
		break;
	case APIC_DM_NMI:
		l->nmi_pending = true;
		break;
	case APIC_DM_INIT:
		/* INIT level de-assert (SDM §11.6.1) only synchronises arbitration IDs. */
		if (!(m->level && !m->assert))
			l->init_pending = true;
		break;
	case APIC_DM_SIPI:
		l->sipi_pending = true;
		l->sipi_vector = m->vector;
		break;
	case APIC_DM_EXTINT:
		l->extint_pending = true;
		break;
	default: /* SMI: no SMM here */
		break;
	}
	pthread_mutex_unlock(&l->lock);
	lapic_wake(l);
}

void apic_bus_deliver(struct apic_bus *bus, const struct apic_msg *msg, struct lapic *src)
{
	for (unsigned i = 0; i < bus->ncpus; i++) {
		struct lapic *l = &bus->lapic[i];
		bool match;

		/* The destination registers are read without the target's lock: a
		 * racing LDR/DFR change is as ill-defined on hardware. */
		pthread_mutex_lock(&l->lock);
		match = lapic_matches(l, msg, src);
		pthread_mutex_unlock(&l->lock);
		if (!match)
			continue;
		lapic_receive(l, msg);
		/* Lowest priority: any one matching CPU may take it (SDM §11.6.2.4);
		 * the first is as good as any for a virtual machine. */
		if (msg->delivery == APIC_DM_LOWEST)
			break;
	}
}

/* MSI format, SDM §11.11.1/§11.11.2. */
void apic_bus_msi(struct apic_bus *bus, uint64_t addr, uint32_t data)
{
	struct apic_msg m = {
		.vector = data & 0xff,
		.delivery = (data >> 8) & 7,
		.logical = addr & (1u << 2),
		.level = data & (1u << 15),
		.assert = true,
		.dest = (uint8_t)(addr >> 12),
	};

	if ((addr & 0xfff00000ULL) != 0xfee00000ULL)
		return; /* not an interrupt message */
	apic_bus_deliver(bus, &m, NULL);
}

/* --- MMIO --- */

uint32_t lapic_mmio_read(struct lapic *l, uint64_t off)
{
	uint32_t v = 0;

	off &= 0xff0;
	pthread_mutex_lock(&l->lock);
	switch (off) {
	case LAPIC_ID:
		v = (uint32_t)l->id << 24;
		break;
	case LAPIC_VERSION: /* version 0x14, 6 LVT entries (max LVT index 5) */
		v = 0x14 | (5u << 16);
		break;
	case LAPIC_PPR:
		v = lapic_ppr(l);
		break;
	case LAPIC_APR:
	case LAPIC_EOI:
		v = 0;
		break;
	case LAPIC_TIMER_CUR:
		v = lapic_timer_current(l, apic_now_ns());
		break;
	default:
		if (off >= LAPIC_ISR && off < LAPIC_ISR + 0x80)
			v = l->isr[(off - LAPIC_ISR) >> 4];
		else if (off >= LAPIC_TMR && off < LAPIC_TMR + 0x80)
			v = l->tmr[(off - LAPIC_TMR) >> 4];
		else if (off >= LAPIC_IRR && off < LAPIC_IRR + 0x80)
			v = l->irr[(off - LAPIC_IRR) >> 4];
		else if (off < 0x400)
			v = REG(l, off);
		break;
	}
	pthread_mutex_unlock(&l->lock);
	return v;
}

void lapic_mmio_write(struct lapic *l, uint64_t off, uint32_t val)
{
	struct apic_msg ipi;
	bool send_ipi = false;
	int eoi_vector = -1;

	off &= 0xff0;
	pthread_mutex_lock(&l->lock);
	switch (off) {
	case LAPIC_ID:
		l->id = (uint8_t)(val >> 24);
		break;
	case LAPIC_TPR:
		REG(l, off) = val & 0xff;
		break;
	case LAPIC_EOI: {
		int v = vec_highest(l->isr);

		if (v >= 0) {
			vec_clear(l->isr, (unsigned)v);
			if (vec_test(l->tmr, (unsigned)v))
				eoi_vector = v;
		}
		break;
	}
	case LAPIC_LDR:
		REG(l, off) = val & 0xff000000;
		break;
	case LAPIC_DFR:
		REG(l, off) = val | 0x0fffffff;
		break;
	case LAPIC_SVR:
		REG(l, off) = val & 0x3ff;
		if (!(val & SVR_ENABLED)) { /* SDM §11.4.7.2: software disable masks the LVTs */
			for (unsigned o = LAPIC_LVT_TIMER; o <= LAPIC_LVT_ERROR; o += 0x10)
				REG(l, o) |= LVT_MASKED;
			REG(l, LAPIC_LVT_CMCI) |= LVT_MASKED;
		}
		break;
	case LAPIC_ESR: /* a write latches the current errors; we latch immediately */
		break;
	case LAPIC_ICR_LO:
		REG(l, off) = val & ~(1u << 12); /* delivery status: always idle */
		ipi = (struct apic_msg){
			.vector = val & 0xff,
			.delivery = (val >> 8) & 7,
			.logical = val & (1u << 11),
			.assert = val & (1u << 14),
			.level = val & (1u << 15),
			.shorthand = (val >> 18) & 3,
			.dest = (uint8_t)(REG(l, LAPIC_ICR_HI) >> 24),
		};
		send_ipi = true;
		break;
	case LAPIC_ICR_HI:
		REG(l, off) = val & 0xff000000;
		break;
	case LAPIC_LVT_TIMER: {
		uint32_t old_mode = LVT_TIMER_MODE(REG(l, off));

		if (!lapic_sw_enabled(l))
			val |= LVT_MASKED;
		REG(l, off) = val & 0x700ff;
		if (LVT_TIMER_MODE(val) != old_mode) { /* mode switch disarms (SDM §11.5.4.1) */
			l->timer_deadline_ns = 0;
			l->tsc_deadline = 0;
			REG(l, LAPIC_TIMER_INIT) = 0;
		}
		break;
	}
	case LAPIC_LVT_CMCI:
	case LAPIC_LVT_THERMAL:
	case LAPIC_LVT_PERF:
	case LAPIC_LVT_LINT0:
	case LAPIC_LVT_LINT1:
	case LAPIC_LVT_ERROR:
		if (!lapic_sw_enabled(l))
			val |= LVT_MASKED;
		REG(l, off) = val & 0x1f7ff;
		break;
	case LAPIC_TIMER_INIT:
		if (LVT_TIMER_MODE(REG(l, LAPIC_LVT_TIMER)) == LVT_TIMER_TSC_DEADLINE)
			break; /* ignored in TSC-deadline mode */
		REG(l, off) = val;
		lapic_timer_arm(l, apic_now_ns());
		break;
	case LAPIC_TIMER_DIV: {
		/* Keep the current count continuous across a divider change. */
		uint64_t now = apic_now_ns();
		uint32_t cur = lapic_timer_current(l, now);

		REG(l, off) = val & 0xb;
		if (REG(l, LAPIC_TIMER_INIT) && cur) {
			l->timer_start_ns = now - lapic_ticks_to_ns(l, REG(l, LAPIC_TIMER_INIT) - cur);
			l->timer_deadline_ns = now + lapic_ticks_to_ns(l, cur);
		}
		break;
	}
	default: /* read-only or reserved: ignored */
		break;
	}
	pthread_mutex_unlock(&l->lock);
	if (eoi_vector >= 0)
		ioapic_eoi(l->bus, (uint8_t)eoi_vector);
	if (send_ipi)
		apic_bus_deliver(l->bus, &ipi, l);
	if (eoi_vector >= 0 || off == LAPIC_TPR || off == LAPIC_EOI)
		atomic_store(&l->wake, true); /* lower priority may unblock an IRR entry */
}

uint64_t lapic_get_base(struct lapic *l)
{
	uint64_t v;

	pthread_mutex_lock(&l->lock);
	v = APIC_DEFAULT_BASE | (l->hw_enabled ? APIC_BASE_ENABLE : 0) |
	    (l->bsp ? APIC_BASE_BSP : 0);
	pthread_mutex_unlock(&l->lock);
	return v;
}

/* Relocating the APIC page is not supported (nobody does it); the enable bit is. */
void lapic_set_base(struct lapic *l, uint64_t val)
{
	pthread_mutex_lock(&l->lock);
	l->hw_enabled = val & APIC_BASE_ENABLE;
	pthread_mutex_unlock(&l->lock);
}

struct apic_bus *apic_bus_create(unsigned ncpus, struct io_space *mmio, uint64_t ioapic_base,
				 struct pic *pic, uint64_t timer_hz, uint64_t tsc_hz,
				 void (*kick)(void *opaque, unsigned index), void *opaque,
				 struct err *err)
{
	struct apic_bus *bus;

	if (ncpus == 0 || ncpus > 255 || !timer_hz || !tsc_hz) {
		err_set(err, "apic: bad parameters (%u CPUs)", ncpus);
		return NULL;
	}
	bus = calloc(1, sizeof(*bus));
	if (bus)
		bus->lapic = calloc(ncpus, sizeof(*bus->lapic));
	if (!bus || !bus->lapic) {
		free(bus);
		err_errno(err, ENOMEM, "apic");
		return NULL;
	}
	bus->ncpus = ncpus;
	bus->pic = pic;
	bus->timer_hz = timer_hz;
	bus->tsc_hz = tsc_hz;
	bus->kick = kick;
	bus->opaque = opaque;
	for (unsigned i = 0; i < ncpus; i++) {
		struct lapic *l = &bus->lapic[i];

		pthread_mutex_init(&l->lock, NULL);
		l->bus = bus;
		l->index = i;
		l->id = (uint8_t)i;
		lapic_reset(l, i == 0);
	}
	if (ioapic_init(bus, mmio, ioapic_base, (uint8_t)ncpus, err) < 0) {
		apic_bus_destroy(bus);
		return NULL;
	}
	return bus;
}

void apic_bus_destroy(struct apic_bus *bus)
{
	if (!bus)
		return;
	ioapic_fini(bus);
	for (unsigned i = 0; i < bus->ncpus; i++)
		pthread_mutex_destroy(&bus->lapic[i].lock);
	free(bus->lapic);
	free(bus);
}
