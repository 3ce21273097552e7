/* 8259 PIC, IOAPIC and LAPIC behaviour as Linux drives them. */
#include "hw/intc/apic.h"
#include "hw/intc/pic.h"
#include "testlib.h"

static unsigned intr_changes, kicks;
static bool intr_level;

static void on_intr(void *opaque, bool level)
{
	intr_changes++;
	intr_level = level;
}

static void on_kick(void *opaque, unsigned index)
{
	kicks++;
}

static void pic_linux_init(struct pic *p)
{
	static const uint8_t seq[][2] = {
		{ 0x20, 0x11 }, { 0x21, 0x30 }, { 0x21, 0x04 }, { 0x21, 0x01 },
		{ 0xa0, 0x11 }, { 0xa1, 0x38 }, { 0xa1, 0x02 }, { 0xa1, 0x01 },
		{ 0x21, 0xff }, { 0xa1, 0xff },
	};

	for (unsigned i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
		pic_port_write(p, seq[i][0], seq[i][1]);
}

static void test_pic(void)
{
	struct err err = { { 0 } };
	struct pic *p = pic_create(NULL, on_intr, NULL, &err);

	TEST_BEGIN("pic_init_mask_ack_eoi");
	pic_linux_init(p);
	CHECK_EQ(pic_port_read(p, 0x21), 0xff);
	pic_set_irq(p, 1, true);
	CHECK(!pic_has_intr(p)); /* masked */
	pic_port_write(p, 0x21, 0xfd);
	CHECK(pic_has_intr(p));
	CHECK(intr_level);
	CHECK_EQ(pic_ack(p), 0x31);
	CHECK(!pic_has_intr(p));
	pic_port_write(p, 0x20, 0x0b); /* OCW3: read ISR */
	CHECK_EQ(pic_port_read(p, 0x20), 0x02);
	pic_port_write(p, 0x20, 0x20); /* non-specific EOI */
	CHECK_EQ(pic_port_read(p, 0x20), 0x00);
	pic_set_irq(p, 1, false);
	TEST_END();

	TEST_BEGIN("pic_priority_and_cascade");
	pic_port_write(p, 0x21, 0xd9); /* unmask 1, 2, 5 */
	pic_port_write(p, 0xa1, 0xfb); /* unmask slave IRQ 10 */
	pic_set_irq(p, 5, true);
	CHECK_EQ(pic_ack(p), 0x35);
	pic_set_irq(p, 1, true);
	CHECK(pic_has_intr(p)); /* IRQ 1 outranks IRQ 5 in service */
	CHECK_EQ(pic_ack(p), 0x31);
	pic_set_irq(p, 10, true);
	CHECK(!pic_has_intr(p)); /* IRQ 2 (cascade) ranks below 1 which is in service */
	pic_port_write(p, 0x20, 0x61); /* specific EOI for 1 */
	CHECK(pic_has_intr(p));
	CHECK_EQ(pic_ack(p), 0x3a);
	pic_port_write(p, 0xa0, 0x20);
	pic_port_write(p, 0x20, 0x20); /* EOI 2 */
	pic_port_write(p, 0x20, 0x20); /* EOI 5 */
	pic_port_write(p, 0x20, 0x0b);
	CHECK_EQ(pic_port_read(p, 0x20), 0);
	CHECK(!pic_has_intr(p));
	CHECK_EQ(pic_ack(p), 0x37); /* spurious */
	TEST_END();

	TEST_BEGIN("pic_level_via_elcr");
	pic_port_write(p, 0x4d1, 0x02); /* IRQ 9 level */
	CHECK_EQ(pic_port_read(p, 0x4d1), 0x02);
	pic_port_write(p, 0x4d0, 0xff);
	CHECK_EQ(pic_port_read(p, 0x4d0), 0xf8); /* 0-2 are always edge */
	pic_port_write(p, 0x4d0, 0x00);
	pic_port_write(p, 0xa1, 0xfd);
	pic_set_irq(p, 9, true);
	CHECK_EQ(pic_ack(p), 0x39);
	pic_port_write(p, 0xa0, 0x20);
	pic_port_write(p, 0x20, 0x20);
	CHECK(pic_has_intr(p)); /* line still high */
	pic_set_irq(p, 9, false);
	CHECK(!pic_has_intr(p));
	TEST_END();
	pic_destroy(p);
}

static struct apic_bus *bus;

static void lapic_enable(struct lapic *l)
{
	lapic_mmio_write(l, 0xf0, 0x1ff);
}

static void ioapic_route(unsigned pin, uint8_t vector, bool level, uint8_t dest)
{
	ioapic_mmio_write(bus, 0x00, 0x10 + 2 * pin);
	ioapic_mmio_write(bus, 0x10, vector | (level ? 1u << 15 : 0));
	ioapic_mmio_write(bus, 0x00, 0x11 + 2 * pin);
	ioapic_mmio_write(bus, 0x10, (uint32_t)dest << 24);
}

static void test_apic(void)
{
	struct err err = { { 0 } };
	struct lapic *l0, *l1;

	bus = apic_bus_create(2, NULL, 0, NULL, 1000000000ULL, 2000000000ULL, on_kick, NULL,
			      &err);
	l0 = &bus->lapic[0];
	l1 = &bus->lapic[1];

	TEST_BEGIN("lapic_registers");
	CHECK_EQ(lapic_mmio_read(l1, 0x20), 1u << 24);
	CHECK_EQ(lapic_mmio_read(l0, 0x30) & 0xff, 0x14);
	CHECK_EQ(lapic_mmio_read(l0, 0x350), 0x10000); /* LVTs start masked */
	CHECK(lapic_get_base(l0) & (1ULL << 8));   /* BSP */
	CHECK(!(lapic_get_base(l1) & (1ULL << 8)));
	lapic_enable(l0);
	lapic_enable(l1);
	CHECK_EQ(lapic_mmio_read(l0, 0xf0), 0x1ff);
	ioapic_mmio_write(bus, 0, 1);
	CHECK_EQ(ioapic_mmio_read(bus, 0x10), 0x170020);
	TEST_END();

	TEST_BEGIN("ioapic_edge_to_lapic");
	ioapic_route(4, 0x41, false, 1);
	kicks = 0;
	ioapic_set_irq(bus, 4, true);
	CHECK(kicks > 0);
	CHECK(lapic_has_interrupt(l1));
	CHECK(!lapic_has_interrupt(l0));
	CHECK_EQ(lapic_ack_interrupt(l1), 0x41);
	CHECK(!lapic_has_interrupt(l1));
	ioapic_set_irq(bus, 4, true); /* no new edge */
	CHECK(!lapic_has_interrupt(l1));
	lapic_mmio_write(l1, 0xb0, 0);
	ioapic_set_irq(bus, 4, false);
	ioapic_set_irq(bus, 4, true);
	CHECK(lapic_has_interrupt(l1));
	CHECK_EQ(lapic_ack_interrupt(l1), 0x41);
	lapic_mmio_write(l1, 0xb0, 0);
	ioapic_set_irq(bus, 4, false);
	TEST_END();

	TEST_BEGIN("ioapic_level_remote_irr");
	ioapic_route(9, 0x49, true, 0);
	ioapic_set_irq(bus, 9, true);
	CHECK_EQ(lapic_ack_interrupt(l0), 0x49);
	ioapic_mmio_write(bus, 0, 0x10 + 18);
	CHECK(ioapic_mmio_read(bus, 0x10) & (1u << 14)); /* remote IRR */
	lapic_mmio_write(l0, 0xb0, 0);                   /* EOI: line still high */
	CHECK(lapic_has_interrupt(l0));
	CHECK_EQ(lapic_ack_interrupt(l0), 0x49);
	ioapic_set_irq(bus, 9, false);
	lapic_mmio_write(l0, 0xb0, 0);
	CHECK(!lapic_has_interrupt(l0));
	ioapic_mmio_write(bus, 0, 0x10 + 18);
	CHECK(!(ioapic_mmio_read(bus, 0x10) & (1u << 14)));
	TEST_END();

	TEST_BEGIN("lapic_tpr_and_priority");
	lapic_mmio_write(l0, 0x80, 0x50);
	apic_bus_msi(bus, 0xfee00000, 0x41);
	CHECK(!lapic_has_interrupt(l0)); /* class 4 <= TPR class 5 */
	apic_bus_msi(bus, 0xfee00000, 0x62);
	CHECK_EQ(lapic_ack_interrupt(l0), 0x62);
	lapic_mmio_write(l0, 0x80, 0);
	CHECK(!lapic_has_interrupt(l0)); /* 0x41 below in-service 0x62's class */
	lapic_mmio_write(l0, 0xb0, 0);
	CHECK_EQ(lapic_ack_interrupt(l0), 0x41);
	lapic_mmio_write(l0, 0xb0, 0);
	apic_bus_msi(bus, 0xfee00000, 0x05); /* illegal vector */
	CHECK(lapic_mmio_read(l0, 0x280) & (1u << 6));
	TEST_END();

	TEST_BEGIN("lapic_ipis_init_sipi");
	lapic_mmio_write(l0, 0x310, 1u << 24);
	lapic_mmio_write(l0, 0x300, 0x4500); /* INIT assert */
	lapic_mmio_write(l0, 0x300, 0x8500); /* INIT level de-assert: no effect */
	CHECK(lapic_take_init(l1));
	CHECK(!lapic_take_init(l1));
	lapic_mmio_write(l0, 0x300, 0x469a); /* SIPI vector 0x9a */
	CHECK_EQ(lapic_take_sipi(l1), 0x9a);
	CHECK_EQ(lapic_take_sipi(l1), -1);
	lapic_mmio_write(l0, 0x300, 0x40000 | 0x70); /* self */
	CHECK_EQ(lapic_ack_interrupt(l0), 0x70);
	lapic_mmio_write(l0, 0xb0, 0);
	lapic_mmio_write(l0, 0x300, 0xc0000 | 0x71); /* all excluding self */
	CHECK(!lapic_has_interrupt(l0));
	CHECK_EQ(lapic_ack_interrupt(l1), 0x71);
	lapic_mmio_write(l1, 0xb0, 0);
	/* logical flat: CPU 1 has logical ID bit 1 */
	lapic_mmio_write(l1, 0xd0, 0x02000000);
	lapic_mmio_write(l0, 0x310, 0x02000000);
	lapic_mmio_write(l0, 0x300, 0x800 | 0x72);
	CHECK_EQ(lapic_ack_interrupt(l1), 0x72);
	lapic_mmio_write(l1, 0xb0, 0);
	apic_bus_msi(bus, 0xfee01000, 0x4062); /* MSI to APIC ID 1 */
	CHECK_EQ(lapic_ack_interrupt(l1), 0x62);
	lapic_mmio_write(l1, 0xb0, 0);
	TEST_END();

	TEST_BEGIN("lapic_timer_oneshot_periodic_tsc_deadline");
	lapic_mmio_write(l0, 0x3e0, 0xb);    /* divide by 1 */
	lapic_mmio_write(l0, 0x320, 0xec);   /* one-shot, vector 0xec */
	uint64_t t0 = apic_now_ns();
	lapic_mmio_write(l0, 0x380, 50000000); /* 50 ms at 1 GHz */
	uint32_t cur = lapic_mmio_read(l0, 0x390);
	CHECK(cur > 0 && cur <= 50000000);
	CHECK(lapic_timer_check(l0, t0) != 0);
	CHECK(!lapic_has_interrupt(l0));
	CHECK_EQ(lapic_timer_check(l0, t0 + 200000000), 0);
	CHECK_EQ(lapic_ack_interrupt(l0), 0xec);
	lapic_mmio_write(l0, 0xb0, 0);
	lapic_mmio_write(l0, 0x320, 0x200ed); /* periodic */
	t0 = apic_now_ns();
	lapic_mmio_write(l0, 0x380, 1000000); /* 1 ms */
	uint64_t next = lapic_timer_check(l0, t0 + 5500000);
	CHECK(next > t0 + 5500000 && next <= t0 + 8000000);
	CHECK_EQ(lapic_ack_interrupt(l0), 0xed);
	lapic_mmio_write(l0, 0xb0, 0);
	lapic_mmio_write(l0, 0x320, 0x400ee); /* TSC deadline (2 GHz TSC) */
	t0 = apic_now_ns();
	lapic_set_tsc_deadline(l0, (t0 + 1000000) * 2, t0);
	CHECK_EQ(lapic_get_tsc_deadline(l0), (t0 + 1000000) * 2);
	CHECK(!lapic_has_interrupt(l0));
	lapic_timer_check(l0, t0 + 2000000);
	CHECK_EQ(lapic_ack_interrupt(l0), 0xee);
	lapic_mmio_write(l0, 0xb0, 0);
	TEST_END();

	apic_bus_destroy(bus);
}

static struct pic *ext_pic;

static void test_extint(void)
{
	struct err err = { { 0 } };

	TEST_BEGIN("lapic_extint_from_pic");
	ext_pic = pic_create(NULL, NULL, NULL, &err);
	bus = apic_bus_create(1, NULL, 0, ext_pic, 1000000000ULL, 1000000000ULL, NULL, NULL, &err);
	pic_linux_init(ext_pic);
	pic_port_write(ext_pic, 0x21, 0xfe);
	pic_set_irq(ext_pic, 0, true);
	/* APIC software-disabled after reset: the PIC reaches the BSP directly. */
	CHECK(lapic_has_interrupt(&bus->lapic[0]));
	CHECK_EQ(lapic_ack_interrupt(&bus->lapic[0]), 0x30);
	pic_port_write(ext_pic, 0x20, 0x20);
	pic_set_irq(ext_pic, 0, false);
	lapic_enable(&bus->lapic[0]);
	pic_set_irq(ext_pic, 0, true);
	CHECK(!lapic_has_interrupt(&bus->lapic[0])); /* LINT0 masked */
	lapic_mmio_write(&bus->lapic[0], 0x350, 0x700); /* LINT0 ExtINT */
	CHECK(lapic_has_interrupt(&bus->lapic[0]));
	CHECK_EQ(lapic_ack_interrupt(&bus->lapic[0]), 0x30);
	TEST_END();
	apic_bus_destroy(bus);
	pic_destroy(ext_pic);
}

int main(void)
{
	test_pic();
	test_apic();
	test_extint();
	return 0;
}
