#include "hw/misc/pc_misc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "core/log.h"
#include "hw/bus/io.h"
#include "hw/x86/layout.h"
#include "vm/vm.h"

#define I8042_STR_OBF 0x01
#define I8042_CMD_WRITE_OUTPUT 0xd1
#define I8042_OUTPUT_RESET 0x01 /* output port bit 0: 0 = hold the CPU in reset */

/* ACPI 6.5 §4.8.3.1/§4.8.3.2 fixed hardware bits. */
#define PM1_STS_W1C 0x8f31 /* TMR, BM, GBL, PWRBTN, SLPBTN, RTC, PCIEXP_WAKE, WAK */
#define PM1_EN_MASK 0x4721 /* TMR, GBL, PWRBTN, SLPBTN, RTC, PCIEXP_WAKE_DIS */
#define PM1_CNT_SCI_EN 0x0001
#define PM1_CNT_GBL_RLS 0x0004 /* write-only */
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_TYP_MASK (7u << PM1_CNT_SLP_TYP_SHIFT)
#define PM1_CNT_SLP_EN LAYOUT_ACPI_SLP_EN /* write-only */

enum { PM_STS = 0, PM_EN = 2, PM_CNT = 4, PM_TMR = 8 };

struct pc_misc {
	struct vm *vm;
	pthread_mutex_t lock;
	bool i8042_want_output;  /* 0xD1 seen: the next data byte is the output port */
	uint16_t pm1_sts, pm1_en, pm1_cnt;
	struct timespec tmr_base;
};

/* --- isa-debug-exit --- */

static uint64_t debug_exit_read(void *opaque, uint64_t off, unsigned size)
{
	return 0;
}

static void debug_exit_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct pc_misc *m = opaque;

	/* QEMU's isa-debug-exit: exit((val << 1) | 1), whatever the offset. */
	vm_request_exit(m->vm, (int)(((uint32_t)val << 1) | 1));
}

static const struct io_ops debug_exit_ops = { debug_exit_read, debug_exit_write, 1, 4 };

/* --- i8042 (reset only) --- */

static uint64_t i8042_data_read(void *opaque, uint64_t off, unsigned size)
{
	return 0x00; /* nothing to say */
}

static uint64_t i8042_status_read(void *opaque, uint64_t off, unsigned size)
{
	return I8042_STR_OBF; /* see pc_misc.h */
}

static void i8042_data_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct pc_misc *m = opaque;
	bool reset;

	pthread_mutex_lock(&m->lock);
	reset = m->i8042_want_output && !(val & I8042_OUTPUT_RESET);
	m->i8042_want_output = false;
	pthread_mutex_unlock(&m->lock);
	if (reset)
		vm_request(m->vm, VM_REQ_RESET);
}

static void i8042_cmd_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct pc_misc *m = opaque;
	uint8_t v = (uint8_t)val;

	pthread_mutex_lock(&m->lock);
	m->i8042_want_output = v == I8042_CMD_WRITE_OUTPUT;
	pthread_mutex_unlock(&m->lock);
	/* 0xF0-0xFF pulse the output-port bits whose mask bit (low nibble) is 0
	 * for 6 us; bit 0 is the CPU reset line, so 0xFE is the usual reset. */
	if ((v & 0xf0) == 0xf0 && !(v & 0x01))
		vm_request(m->vm, VM_REQ_RESET);
}

static const struct io_ops i8042_data_ops = { i8042_data_read, i8042_data_write, 1, 1 };
static const struct io_ops i8042_cmd_ops = { i8042_status_read, i8042_cmd_write, 1, 1 };

/* --- POST code ports --- */

static uint64_t ignore_read(void *opaque, uint64_t off, unsigned size)
{
	return ~0ULL;
}

static void ignore_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
}

static const struct io_ops ignore_ops = { ignore_read, ignore_write, 1, 4 };

/* --- ACPI PM block --- */

static uint32_t pm_timer(struct pc_misc *m)
{
	struct timespec now;
	uint64_t sec, nsec, ticks;

	clock_gettime(CLOCK_MONOTONIC, &now);
	sec = (uint64_t)(now.tv_sec - m->tmr_base.tv_sec);
	if (now.tv_nsec >= m->tmr_base.tv_nsec) {
		nsec = (uint64_t)(now.tv_nsec - m->tmr_base.tv_nsec);
	} else {
		sec--;
		nsec = (uint64_t)(1000000000L + now.tv_nsec - m->tmr_base.tv_nsec);
	}
	ticks = sec * PC_MISC_PM_TMR_HZ + nsec * PC_MISC_PM_TMR_HZ / 1000000000ULL;
	return (uint32_t)(PC_MISC_PM_TMR_VAL_EXT ? ticks : ticks & 0xffffff);
}

static uint8_t pm_byte(struct pc_misc *m, unsigned off, uint32_t tmr)
{
	uint16_t cnt = (uint16_t)((m->pm1_cnt | PM1_CNT_SCI_EN) & ~(PM1_CNT_SLP_EN | PM1_CNT_GBL_RLS));

	switch (off) {
	case PM_STS:
	case PM_STS + 1:
		return (uint8_t)(m->pm1_sts >> (8 * (off - PM_STS)));
	case PM_EN:
	case PM_EN + 1:
		return (uint8_t)(m->pm1_en >> (8 * (off - PM_EN)));
	case PM_CNT:
	case PM_CNT + 1:
		return (uint8_t)(cnt >> (8 * (off - PM_CNT)));
	case PM_TMR:
	case PM_TMR + 1:
	case PM_TMR + 2:
	case PM_TMR + 3:
		return (uint8_t)(tmr >> (8 * (off - PM_TMR)));
	default:
		return 0;
	}
}

static uint64_t pm_read(void *opaque, uint64_t off, unsigned size)
{
	struct pc_misc *m = opaque;
	uint32_t tmr = pm_timer(m);
	uint64_t v = 0;

	pthread_mutex_lock(&m->lock);
	for (unsigned i = 0; i < size; i++)
		if (off + i < LAYOUT_PORT_ACPI_PM_LEN)
			v |= (uint64_t)pm_byte(m, (unsigned)off + i, tmr) << (8 * i);
	pthread_mutex_unlock(&m->lock);
	return v;
}

static void pm_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
	struct pc_misc *m = opaque;
	/* Gather the access into each 16-bit register with a byte-lane mask. */
	uint16_t v[3] = { 0 }, mask[3] = { 0 };
	bool poweroff = false;

	for (unsigned i = 0; i < size; i++) {
		uint64_t o = off + i;

		if (o >= PM_CNT + 2)
			continue; /* padding and PM_TMR are read-only */
		v[o / 2] |= (uint16_t)(((val >> (8 * i)) & 0xff) << (8 * (o % 2)));
		mask[o / 2] |= (uint16_t)(0xff << (8 * (o % 2)));
	}
	pthread_mutex_lock(&m->lock);
	m->pm1_sts &= (uint16_t)~(v[0] & mask[0] & PM1_STS_W1C);
	m->pm1_en = (uint16_t)((m->pm1_en & ~mask[1]) | (v[1] & mask[1] & PM1_EN_MASK));
	if (mask[2]) {
		uint16_t cnt = (uint16_t)((m->pm1_cnt & ~mask[2]) | (v[2] & mask[2]));

		if (cnt & PM1_CNT_SLP_EN) {
			unsigned typ = (cnt & PM1_CNT_SLP_TYP_MASK) >> PM1_CNT_SLP_TYP_SHIFT;

			if (typ == LAYOUT_ACPI_S5_SLP_TYP)
				poweroff = true;
			else
				log_guest("acpi: sleep type %u requested; only S5 exists", typ);
		}
		m->pm1_cnt = (uint16_t)(cnt & ~(PM1_CNT_SLP_EN | PM1_CNT_GBL_RLS));
	}
	pthread_mutex_unlock(&m->lock);
	if (poweroff)
		vm_request(m->vm, VM_REQ_POWEROFF);
}

static const struct io_ops pm_ops = { pm_read, pm_write, 1, 4 };

/* --- lifecycle --- */

static const struct pc_misc_port {
	uint64_t base, len;
	const struct io_ops *ops;
	const char *name;
} pc_misc_ports[] = {
	{ LAYOUT_PORT_DEBUG_EXIT, 4, &debug_exit_ops, "isa-debug-exit" },
	{ LAYOUT_PORT_I8042_DATA, 1, &i8042_data_ops, "i8042 data" },
	{ LAYOUT_PORT_I8042_CMD, 1, &i8042_cmd_ops, "i8042 command" },
	{ LAYOUT_PORT_ACPI_PM, LAYOUT_PORT_ACPI_PM_LEN, &pm_ops, "acpi pm" },
	{ 0x80, 1, &ignore_ops, "post code" },
	{ 0xed, 1, &ignore_ops, "io delay" },
};

#define PC_MISC_NPORTS (sizeof(pc_misc_ports) / sizeof(pc_misc_ports[0]))

static void pc_misc_unmap(struct pc_misc *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		io_unmap(m->vm->pio, pc_misc_ports[i].base, m);
}

struct pc_misc *pc_misc_create(struct vm *vm, struct err *err)
{
	struct pc_misc *m = calloc(1, sizeof(*m));

	if (!m) {
		err_errno(err, ENOMEM, "platform devices");
		return NULL;
	}
	m->vm = vm;
	pthread_mutex_init(&m->lock, NULL);
	clock_gettime(CLOCK_MONOTONIC, &m->tmr_base);
	for (size_t i = 0; i < PC_MISC_NPORTS; i++) {
		const struct pc_misc_port *p = &pc_misc_ports[i];

		if (io_map(vm->pio, p->base, p->len, p->ops, m, p->name, err) < 0) {
			pc_misc_unmap(m, i);
			pthread_mutex_destroy(&m->lock);
			free(m);
			return NULL;
		}
	}
	return m;
}

void pc_misc_reset(struct pc_misc *m)
{
	pthread_mutex_lock(&m->lock);
	m->i8042_want_output = false;
	m->pm1_sts = m->pm1_en = m->pm1_cnt = 0;
	pthread_mutex_unlock(&m->lock);
}

void pc_misc_destroy(struct pc_misc *m)
{
	if (!m)
		return;
	pc_misc_unmap(m, PC_MISC_NPORTS);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
