/* A minimal modern virtio-pci driver for the freestanding test guests
 * (32-bit protected mode, identity-mapped physical memory): PCI enumeration
 * through 0xCF8/0xCFC, BAR programming, the vendor capabilities (virtio 1.2
 * §4.1.4), feature negotiation, one split virtqueue (§2.7), MSI-X or INTx,
 * and an interrupt-driven wait with a LAPIC-timer watchdog. */
#ifndef GUEST_VPCI_H
#define GUEST_VPCI_H

#include <stdint.h>

#define VPCI_QSIZE 8

struct vpci_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
} __attribute__((packed));

#define VPCI_DESC_NEXT 1
#define VPCI_DESC_WRITE 2

struct vpci_avail {
	uint16_t flags, idx, ring[VPCI_QSIZE], used_event;
} __attribute__((packed));

struct vpci_used {
	uint16_t flags, idx;
	struct {
		uint32_t id, len;
	} ring[VPCI_QSIZE];
	uint16_t avail_event;
} __attribute__((packed));

struct vpci_queue {
	struct vpci_desc desc[VPCI_QSIZE] __attribute__((aligned(16)));
	struct vpci_avail avail __attribute__((aligned(2)));
	struct vpci_used used __attribute__((aligned(4)));
	uint16_t avail_idx, used_seen;
	uintptr_t notify; /* this queue's notify register */
};

struct vpci_dev {
	unsigned slot;
	uintptr_t bar1, bar4;
	uintptr_t common, isr, device_cfg, notify_base;
	uint32_t notify_mult;
	unsigned msix_cap;
	int msix;                 /* MSI-X in use (else INTx) */
	unsigned gsi;             /* INTx: IOAPIC pin of the device's line */
	volatile uint32_t irqs;   /* interrupts taken for this device */
	volatile uint32_t isr_bits; /* INTx: ISR values read in the handler */
};

/* Common configuration offsets (§4.1.4.3). */
#define VPCI_CC_DFSELECT 0x00
#define VPCI_CC_DF 0x04
#define VPCI_CC_GFSELECT 0x08
#define VPCI_CC_GF 0x0c
#define VPCI_CC_MSIX 0x10
#define VPCI_CC_STATUS 0x14
#define VPCI_CC_Q_SELECT 0x16
#define VPCI_CC_Q_SIZE 0x18
#define VPCI_CC_Q_MSIX 0x1a
#define VPCI_CC_Q_ENABLE 0x1c
#define VPCI_CC_Q_NOFF 0x1e
#define VPCI_CC_Q_DESC 0x20
#define VPCI_CC_Q_AVAIL 0x28
#define VPCI_CC_Q_USED 0x30

#define VPCI_VEC_MSIX 0x41
#define VPCI_VEC_INTX 0x43

/* Finds the index-th (0-based) function with vendor 1af4 and this device ID
 * on bus 0; -1 if absent. */
int vpci_find(uint16_t device_id, unsigned index);
uint32_t vpci_cfg_read(unsigned slot, unsigned reg, unsigned size);
void vpci_cfg_write(unsigned slot, unsigned reg, uint32_t val, unsigned size);
/* Maps BAR1 at bar1 and BAR4 at bar4, enables memory decoding and bus
 * mastering, and reads the capabilities. 0 on success. */
int vpci_map(struct vpci_dev *d, unsigned slot, uintptr_t bar1, uintptr_t bar4);
/* Moves BAR4 (decoding off, new address, decoding on) and rereads the caps. */
int vpci_move_bar4(struct vpci_dev *d, uintptr_t bar4);
/* Sets up interrupts (IDT, LAPIC, PIC masked, timer watchdog); once. */
void vpci_irq_init(void);
/* Reset, ACKNOWLEDGE | DRIVER, VERSION_1 (plus features), FEATURES_OK,
 * MSI-X vector 0 to the BSP (msix) or the INTx IOAPIC pin, queue 0 on q,
 * DRIVER_OK. 0 on success, else a short reason in *why. */
int vpci_start(struct vpci_dev *d, struct vpci_queue *q, int msix, uint32_t features_lo,
	       const char **why);
/* Posts a chain of n buffers and kicks (2-byte notify write). */
void vpci_post(struct vpci_dev *d, struct vpci_queue *q, unsigned n, const uint64_t *addr,
	       const uint32_t *len, const uint16_t *flags);
/* Waits (sti; hlt) for an interrupt that leaves a new used entry; returns 1
 * when both came, 0 on the watchdog's timeout (~3 s). */
int vpci_wait(struct vpci_dev *d, struct vpci_queue *q, uint32_t irqs_before);
uint8_t vpci_status(struct vpci_dev *d);
/* The device whose interrupts the handlers count (vpci_start selects it). */
void vpci_select(struct vpci_dev *d);
/* Sleeps (sti; hlt) for this many watchdog ticks, taking any interrupt. */
void vpci_idle(unsigned ticks);

static inline uint8_t vpci_rd8(uintptr_t a)
{
	return *(volatile uint8_t *)a;
}

static inline uint16_t vpci_rd16(uintptr_t a)
{
	return *(volatile uint16_t *)a;
}

static inline uint32_t vpci_rd32(uintptr_t a)
{
	return *(volatile uint32_t *)a;
}

static inline void vpci_wr8(uintptr_t a, uint8_t v)
{
	*(volatile uint8_t *)a = v;
}

static inline void vpci_wr16(uintptr_t a, uint16_t v)
{
	*(volatile uint16_t *)a = v;
}

static inline void vpci_wr32(uintptr_t a, uint32_t v)
{
	*(volatile uint32_t *)a = v;
}

#endif
