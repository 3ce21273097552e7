/* Serial echo test kernel (multiboot): echoes what arrives on COM1 until
 * it reads 'q'. By default interrupt driven: UART RX interrupt (IER bit 0,
 * OUT2 set) -> ISA IRQ 4 -> IOAPIC pin 4 -> LAPIC vector 0x24 -> IDT;
 * the 8259 PICs are masked. With mode=poll it polls LSR instead. */
#include "guest.h"
#include "multiboot.h"

#define COM1 LAYOUT_PORT_COM1
#define VEC_COM1 0x24
#define VEC_SPURIOUS 0xff

struct idt_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint16_t flags;
	uint16_t off_hi;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(8)));
static volatile uint32_t echo_chars, echo_irqs, echo_done;

void echo_isr_com1(void);
void echo_isr_spurious(void);
void echo_irq(void);

static void echo_byte(uint8_t c)
{
	echo_chars++;
	if (c == 'q')
		echo_done = 1;
	else
		guest_putc((char)c);
}

void echo_irq(void)
{
	echo_irqs++;
	(void)inb(COM1 + 2); /* IIR: acknowledges the interrupt source */
	for (int i = 0; i < 64 && (inb(COM1 + 5) & 1); i++)
		echo_byte(inb(COM1));
}

static void idt_set(int vec, void (*fn)(void))
{
	uint32_t a = (uint32_t)(uintptr_t)fn;

	idt[vec].off_lo = (uint16_t)a;
	idt[vec].sel = 0x08;
	idt[vec].flags = 0x8e00; /* present, DPL 0, 32-bit interrupt gate */
	idt[vec].off_hi = (uint16_t)(a >> 16);
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(LAYOUT_IOAPIC_BASE, reg);
	mmio_write32(LAYOUT_IOAPIC_BASE + 0x10, v);
}

static void echo_setup_irq(void)
{
	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) idtr = {sizeof(idt) - 1, (uint32_t)(uintptr_t)idt};

	idt_set(VEC_COM1, echo_isr_com1);
	idt_set(VEC_SPURIOUS, echo_isr_spurious);
	__asm__ volatile("lidt %0" : : "m"(idtr));
	outb(LAYOUT_PORT_PIC_MASTER + 1, 0xff);
	outb(LAYOUT_PORT_PIC_SLAVE + 1, 0xff);
	mmio_write32(LAYOUT_LAPIC_BASE + 0x80, 0); /* TPR: accept all */
	mmio_write32(LAYOUT_LAPIC_BASE + 0xf0, 0x100 | VEC_SPURIOUS);
	/* Redirection entry for pin 4: fixed, physical, edge, high, unmasked, to
	 * the BSP (82093AA datasheet §3.2.4). */
	uint32_t bsp = mmio_read32(LAYOUT_LAPIC_BASE + 0x20) >> 24;
	ioapic_write(0x10 + 2 * LAYOUT_GSI_COM1 + 1, bsp << 24);
	ioapic_write(0x10 + 2 * LAYOUT_GSI_COM1, VEC_COM1);
	outb(COM1 + 4, 0x0b); /* DTR, RTS, OUT2 (gates the IRQ on a PC) */
	outb(COM1 + 1, 0x01); /* IER: received data available */
}

void guest_main(uint32_t magic, struct mb_info *info)
{
	const char *cmdline = (info->flags & MB_INFO_CMDLINE) ? phys(info->cmdline) : "";
	int poll = guest_cmdline_has_word(cmdline, "mode=poll");

	guest_serial_init();
	guest_set_prefix("echo");
	if (!poll)
		echo_setup_irq();
	guest_puts(poll ? "echo: ready (polled)\n" : "echo: ready (interrupts)\n");
	while (!echo_done) {
		if (poll) {
			if (inb(COM1 + 5) & 1)
				echo_byte(inb(COM1));
			continue;
		}
		/* sti takes effect after hlt starts: no lost wake-up (SDM 2B STI). */
		__asm__ volatile("sti; hlt; cli");
	}
	guest_puts("\necho: ");
	guest_put_dec(echo_chars);
	guest_puts(" chars, ");
	guest_put_dec(echo_irqs);
	guest_puts(" interrupts\n");
	guest_check("magic", magic == MB_BOOT_MAGIC);
	if (!poll)
		guest_check("input arrived by interrupt", echo_irqs > 0);
	guest_finish();
}
