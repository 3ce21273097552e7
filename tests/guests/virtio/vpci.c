/* See vpci.h. Register layouts: PCI 3.0 §6.1 (header), §6.8.2 (MSI-X);
 * virtio 1.2 §4.1.4 (capabilities), §3.1.1 (initialisation order);
 * 82093AA IOAPIC datasheet §3.2.4; Intel SDM 3A §11 (LAPIC). */
#include "vpci.h"

#include "guest.h"

#define PCI_ADDR 0xcf8
#define PCI_DATA 0xcfc
#define CAP_VNDR 0x09
#define CAP_MSIX 0x11
#define MSIX_ENABLE 0x8000
#define MSIX_FUNC_MASK 0x4000

#define LAPIC_ID 0x20
#define LAPIC_TPR 0x80
#define LAPIC_SVR 0xf0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_DIV 0x3e0
#define VEC_TIMER 0x42
#define VEC_SPURIOUS 0xff
#define WATCHDOG_SECONDS 3

struct idt_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint16_t flags;
	uint16_t off_hi;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(8)));
static struct vpci_dev *vpci_cur;
static volatile uint32_t vpci_ticks;

void vio_isr_msix(void);
void vio_isr_intx(void);
void vio_isr_timer(void);
void vio_isr_spurious(void);
void vio_irq_msix(void);
void vio_irq_intx(void);
void vio_irq_timer(void);

void vio_irq_msix(void)
{
	if (vpci_cur)
		vpci_cur->irqs++;
}

/* §4.1.4.5: reading the ISR acknowledges the interrupt and lowers the line,
 * so the level-triggered pin does not fire again after the EOI. */
void vio_irq_intx(void)
{
	if (!vpci_cur)
		return;
	vpci_cur->isr_bits |= vpci_rd8(vpci_cur->isr);
	vpci_cur->irqs++;
}

void vio_irq_timer(void)
{
	vpci_ticks++;
}

/* --- PCI configuration mechanism #1 --- */

uint32_t vpci_cfg_read(unsigned slot, unsigned reg, unsigned size)
{
	outl(PCI_ADDR, 0x80000000u | slot << 11 | (reg & 0xfc));
	if (size == 4)
		return inl(PCI_DATA);
	if (size == 2)
		return inl(PCI_DATA) >> ((reg & 2) * 8) & 0xffff;
	return inb(PCI_DATA + (reg & 3));
}

void vpci_cfg_write(unsigned slot, unsigned reg, uint32_t val, unsigned size)
{
	outl(PCI_ADDR, 0x80000000u | slot << 11 | (reg & 0xfc));
	if (size == 4)
		outl(PCI_DATA, val);
	else if (size == 2)
		outw(PCI_DATA + (reg & 2), (uint16_t)val);
	else
		outb(PCI_DATA + (reg & 3), (uint8_t)val);
}

int vpci_find(uint16_t device_id, unsigned index)
{
	for (unsigned slot = 0; slot < 32; slot++) {
		if (vpci_cfg_read(slot, 0, 4) != ((uint32_t)device_id << 16 | 0x1af4))
			continue;
		if (index-- == 0)
			return (int)slot;
	}
	return -1;
}

static int vpci_read_caps(struct vpci_dev *d)
{
	unsigned ptr = vpci_cfg_read(d->slot, 0x34, 1) & 0xfc;
	int found = 0;

	d->msix_cap = 0;
	for (int n = 0; ptr && n < 48; n++) {
		unsigned id = vpci_cfg_read(d->slot, ptr, 1);

		if (id == CAP_VNDR && vpci_cfg_read(d->slot, ptr + 4, 1) == 4) {
			uintptr_t a = d->bar4 + vpci_cfg_read(d->slot, ptr + 8, 4);

			switch (vpci_cfg_read(d->slot, ptr + 3, 1)) {
			case 1:
				d->common = a, found |= 1;
				break;
			case 2:
				d->notify_base = a, found |= 2;
				d->notify_mult = vpci_cfg_read(d->slot, ptr + 16, 4);
				break;
			case 3:
				d->isr = a, found |= 4;
				break;
			case 4:
				d->device_cfg = a, found |= 8;
				break;
			}
		} else if (id == CAP_MSIX) {
			d->msix_cap = ptr;
		}
		ptr = vpci_cfg_read(d->slot, ptr + 1, 1) & 0xfc;
	}
	return found == 15 && d->msix_cap ? 0 : -1;
}

int vpci_map(struct vpci_dev *d, unsigned slot, uintptr_t bar1, uintptr_t bar4)
{
	guest_memset(d, 0, sizeof(*d));
	d->slot = slot;
	d->bar1 = bar1;
	d->bar4 = bar4;
	vpci_cfg_write(slot, 0x04, 0, 2);
	vpci_cfg_write(slot, 0x14, (uint32_t)bar1, 4);
	vpci_cfg_write(slot, 0x20, (uint32_t)bar4, 4);
	vpci_cfg_write(slot, 0x24, 0, 4); /* BAR4 is 64-bit: high half */
	vpci_cfg_write(slot, 0x04, 0x6, 2); /* memory space, bus master */
	return vpci_read_caps(d);
}

int vpci_move_bar4(struct vpci_dev *d, uintptr_t bar4)
{
	vpci_cfg_write(d->slot, 0x04, 0x4, 2);
	vpci_cfg_write(d->slot, 0x20, (uint32_t)bar4, 4);
	vpci_cfg_write(d->slot, 0x04, 0x6, 2);
	d->bar4 = bar4;
	return vpci_read_caps(d);
}

/* --- interrupts --- */

static void idt_set(int vec, void (*fn)(void))
{
	uint32_t a = (uint32_t)(uintptr_t)fn;

	idt[vec].off_lo = (uint16_t)a;
	idt[vec].sel = 0x08;
	idt[vec].flags = 0x8e00; /* present, DPL 0, 32-bit interrupt gate */
	idt[vec].off_hi = (uint16_t)(a >> 16);
}

static void lapic_write(unsigned reg, uint32_t v)
{
	mmio_write32(LAYOUT_LAPIC_BASE + reg, v);
}

static uint32_t lapic_id(void)
{
	return mmio_read32(LAYOUT_LAPIC_BASE + LAPIC_ID) >> 24;
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(LAYOUT_IOAPIC_BASE, reg);
	mmio_write32(LAYOUT_IOAPIC_BASE + 0x10, v);
}

void vpci_irq_init(void)
{
	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) idtr = { sizeof(idt) - 1, (uint32_t)(uintptr_t)idt };

	idt_set(VPCI_VEC_MSIX, vio_isr_msix);
	idt_set(VPCI_VEC_INTX, vio_isr_intx);
	idt_set(VEC_TIMER, vio_isr_timer);
	idt_set(VEC_SPURIOUS, vio_isr_spurious);
	__asm__ volatile("lidt %0" : : "m"(idtr));
	outb(LAYOUT_PORT_PIC_MASTER + 1, 0xff);
	outb(LAYOUT_PORT_PIC_SLAVE + 1, 0xff);
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_SVR, 0x100 | VEC_SPURIOUS);
	/* A periodic tick (about 1 ms if the APIC bus runs at KVM's 1 GHz)
	 * wakes the wait loop's hlt, so a lost interrupt ends the test with a
	 * message instead of a hang. */
	lapic_write(LAPIC_TIMER_DIV, 0x3);
	lapic_write(LAPIC_LVT_TIMER, (1u << 17) | VEC_TIMER);
	lapic_write(LAPIC_TIMER_INIT, 62500);
}

static void vpci_setup_msix(struct vpci_dev *d)
{
	uint32_t table = vpci_cfg_read(d->slot, d->msix_cap + 4, 4);
	uintptr_t e = d->bar1 + (table & ~7u); /* BIR 1 is checked by the caller */

	/* Enable with the function masked, program entry 0 masked, unmask it,
	 * then the function (the order Linux uses; PCI 3.0 §6.8.2.9). */
	vpci_cfg_write(d->slot, d->msix_cap + 2, MSIX_ENABLE | MSIX_FUNC_MASK, 2);
	vpci_wr32(e + 12, 1);
	vpci_wr32(e + 0, (uint32_t)LAYOUT_LAPIC_BASE | lapic_id() << 12);
	vpci_wr32(e + 4, 0);
	vpci_wr32(e + 8, VPCI_VEC_MSIX); /* fixed delivery, edge */
	vpci_wr32(e + 12, 0);
	vpci_cfg_write(d->slot, d->msix_cap + 2, MSIX_ENABLE, 2);
}

/* INTx: pin INTA-INTD of slot s is IOAPIC pin 16 + (s + pin - 1) % 4, level
 * triggered, active low: the DSDT's _PRT says so (ACPI 6.5 §6.2.13). */
static void vpci_setup_intx(struct vpci_dev *d)
{
	unsigned pin = vpci_cfg_read(d->slot, 0x3d, 1);

	d->gsi = LAYOUT_GSI_PCI_INTX_BASE + (d->slot + pin - 1) % 4;
	ioapic_write(0x10 + 2 * d->gsi + 1, lapic_id() << 24);
	ioapic_write(0x10 + 2 * d->gsi, (1u << 15) | (1u << 13) | VPCI_VEC_INTX);
}

uint8_t vpci_status(struct vpci_dev *d)
{
	return vpci_rd8(d->common + VPCI_CC_STATUS);
}

int vpci_start(struct vpci_dev *d, struct vpci_queue *q, int msix, uint32_t features_lo,
	       const char **why)
{
	uintptr_t c = d->common;
	uint16_t qvec = msix ? 0 : 0xffff;

	vpci_cur = d;
	d->msix = msix;
	guest_memset(q, 0, sizeof(*q));
	vpci_wr8(c + VPCI_CC_STATUS, 0);
	if (vpci_status(d) != 0)
		return *why = "reset did not clear the status", -1;
	vpci_wr8(c + VPCI_CC_STATUS, 1);
	vpci_wr8(c + VPCI_CC_STATUS, 3);
	vpci_wr32(c + VPCI_CC_DFSELECT, 1);
	if (!(vpci_rd32(c + VPCI_CC_DF) & 1))
		return *why = "VERSION_1 not offered", -1;
	vpci_wr32(c + VPCI_CC_GFSELECT, 0);
	vpci_wr32(c + VPCI_CC_GF, features_lo);
	vpci_wr32(c + VPCI_CC_GFSELECT, 1);
	vpci_wr32(c + VPCI_CC_GF, 1); /* VERSION_1 (bit 32) */
	vpci_wr8(c + VPCI_CC_STATUS, 3 | 8);
	if (!(vpci_status(d) & 8))
		return *why = "FEATURES_OK refused", -1;
	if (msix) {
		if ((vpci_cfg_read(d->slot, d->msix_cap + 4, 4) & 7) != 1)
			return *why = "MSI-X table not in BAR 1", -1;
		vpci_setup_msix(d);
	} else {
		vpci_setup_intx(d);
	}
	vpci_wr16(c + VPCI_CC_MSIX, 0xffff);
	vpci_wr16(c + VPCI_CC_Q_SELECT, 0);
	if (vpci_rd16(c + VPCI_CC_Q_SIZE) < VPCI_QSIZE)
		return *why = "queue 0 too small", -1;
	vpci_wr16(c + VPCI_CC_Q_SIZE, VPCI_QSIZE);
	vpci_wr16(c + VPCI_CC_Q_MSIX, qvec);
	if (vpci_rd16(c + VPCI_CC_Q_MSIX) != qvec)
		return *why = "queue vector refused", -1;
	vpci_wr32(c + VPCI_CC_Q_DESC, (uint32_t)(uintptr_t)q->desc);
	vpci_wr32(c + VPCI_CC_Q_DESC + 4, 0);
	vpci_wr32(c + VPCI_CC_Q_AVAIL, (uint32_t)(uintptr_t)&q->avail);
	vpci_wr32(c + VPCI_CC_Q_AVAIL + 4, 0);
	vpci_wr32(c + VPCI_CC_Q_USED, (uint32_t)(uintptr_t)&q->used);
	vpci_wr32(c + VPCI_CC_Q_USED + 4, 0);
	q->notify = d->notify_base + vpci_rd16(c + VPCI_CC_Q_NOFF) * d->notify_mult;
	vpci_wr16(c + VPCI_CC_Q_ENABLE, 1);
	vpci_wr8(c + VPCI_CC_STATUS, 3 | 8 | 4);
	if (vpci_status(d) != (3 | 8 | 4))
		return *why = "DRIVER_OK not accepted", -1;
	return 0;
}

void vpci_post(struct vpci_dev *d, struct vpci_queue *q, unsigned n, const uint64_t *addr,
	       const uint32_t *len, const uint16_t *flags)
{
	uint16_t head = 0;

	/* One request in flight at a time: the chain always starts at 0. */
	for (unsigned i = 0; i < n; i++) {
		q->desc[head + i].addr = addr[i];
		q->desc[head + i].len = len[i];
		q->desc[head + i].flags = flags[i] | (i + 1 < n ? VPCI_DESC_NEXT : 0);
		q->desc[head + i].next = (uint16_t)(head + i + 1);
	}
	q->avail.ring[q->avail_idx % VPCI_QSIZE] = head;
	/* The ring entry before the index, the index before the kick (§2.7.13). */
	__asm__ volatile("mfence" ::: "memory");
	q->avail.idx = ++q->avail_idx;
	__asm__ volatile("mfence" ::: "memory");
	vpci_wr16(q->notify, 0);
}

static uint32_t pm_timer(void)
{
	return inl(LAYOUT_PORT_ACPI_PM_TMR) & 0xffffff;
}

int vpci_wait(struct vpci_dev *d, struct vpci_queue *q, uint32_t irqs_before)
{
	uint32_t last = pm_timer(), elapsed = 0;

	while (d->irqs == irqs_before || *(volatile uint16_t *)&q->used.idx == q->used_seen) {
		uint32_t now = pm_timer();

		/* The 24-bit ACPI PM timer (3.579545 MHz) measures; the LAPIC
		 * timer only makes sure hlt wakes up now and then. */
		elapsed += (now - last) & 0xffffff;
		last = now;
		if (elapsed > WATCHDOG_SECONDS * 3579545u) {
			guest_puts("vpci: timeout: avail ");
			guest_put_dec(q->avail.idx);
			guest_puts(", used ");
			guest_put_dec(*(volatile uint16_t *)&q->used.idx);
			guest_puts(", interrupts ");
			guest_put_dec(d->irqs - irqs_before);
			guest_puts(", status ");
			guest_put_hex(vpci_status(d));
			guest_puts("\n");
			return 0;
		}
		/* sti takes effect after hlt starts: no lost wake-up (SDM 2B STI). */
		__asm__ volatile("sti; hlt; cli" ::: "memory");
	}
	q->used_seen++;
	return 1;
}

void vpci_idle(unsigned ticks)
{
	uint32_t start = vpci_ticks;

	while (vpci_ticks - start < ticks)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
}

void vpci_select(struct vpci_dev *d)
{
	vpci_cur = d;
}
