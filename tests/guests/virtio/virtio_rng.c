/* virtio-rng through a minimal virtio-pci driver (vpci.c), run under
 * `vireo --accel kvm --rng` by tests/integration/virtio_kvm.sh. It finds the
 * device (1af4:1044), maps its BARs and moves BAR 4 once (so the VMM has to
 * follow with its ioeventfds), negotiates VERSION_1, and `rounds` times posts
 * a 64-byte writable buffer, kicks, and sleeps in hlt until the interrupt:
 * MSI-X vector 0 to the BSP's LAPIC by default, the IOAPIC pin of the slot's
 * INTx line with mode=intx. Each round checks the used ring and the bytes. */
#include "guest.h"
#include "multiboot.h"
#include "vpci.h"

#define BAR1_ADDR 0xc0000000u
#define BAR4_FIRST 0xc0100000u /* 16 KiB BAR: 16 KiB aligned */
#define BAR4_ADDR 0xc0010000u
#define ROUNDS_MAX 1000

static struct vpci_dev dev;
static struct vpci_queue queue __attribute__((aligned(4096)));
static uint8_t buf[64] __attribute__((aligned(64)));

static int buf_changed(void)
{
	for (unsigned i = 0; i < sizeof(buf); i++)
		if (buf[i])
			return 1;
	return 0;
}

void guest_main(uint32_t magic, struct mb_info *info)
{
	const char *cmdline = (info->flags & MB_INFO_CMDLINE) ? phys(info->cmdline) : "";
	int msix = !guest_cmdline_has_word(cmdline, "mode=intx");
	uint64_t rounds = 4, addr = (uintptr_t)buf;
	uint32_t len = sizeof(buf);
	uint16_t flags = VPCI_DESC_WRITE;
	const char *why = "";
	int slot, ok_rounds = 0, used_ok = 1, data_ok = 1;

	guest_serial_init();
	guest_set_prefix("virtio-rng");
	guest_check("multiboot magic", magic == MB_BOOT_MAGIC);
	guest_cmdline_u64(cmdline, "rounds", &rounds);
	if (rounds < 1 || rounds > ROUNDS_MAX)
		rounds = 4;
	slot = vpci_find(0x1044, 0);
	guest_check("device 1af4:1044 found", slot >= 0);
	if (slot < 0)
		guest_finish();
	guest_puts("virtio-rng: slot ");
	guest_put_dec((unsigned)slot);
	guest_puts(msix ? ", MSI-X\n" : ", INTx\n");
	guest_check("BARs mapped, capabilities found",
		    vpci_map(&dev, (unsigned)slot, BAR1_ADDR, BAR4_FIRST) == 0);
	guest_check("BAR 4 moved", vpci_move_bar4(&dev, BAR4_ADDR) == 0);
	vpci_irq_init();
	if (vpci_start(&dev, &queue, msix, 0, &why) < 0) {
		guest_puts("virtio-rng: ");
		guest_puts(why);
		guest_puts("\n");
		guest_check("device started", 0);
		guest_finish();
	}
	guest_check("device started", 1);
	/* A device may interrupt once for the kick it gives itself at DRIVER_OK;
	 * take that now so each round below waits for its own interrupt. */
	vpci_idle(2);
	for (uint64_t r = 0; r < rounds; r++) {
		uint32_t before = dev.irqs;

		guest_memset(buf, 0, sizeof(buf));
		vpci_post(&dev, &queue, 1, &addr, &len, &flags);
		if (!vpci_wait(&dev, &queue, before))
			break;
		used_ok &= queue.used.ring[r % VPCI_QSIZE].id == 0 &&
			   queue.used.ring[r % VPCI_QSIZE].len == sizeof(buf);
		data_ok &= buf_changed();
		ok_rounds++;
	}
	guest_puts("virtio-rng: ");
	guest_put_dec((unsigned)ok_rounds);
	guest_puts(" requests, ");
	guest_put_dec(dev.irqs);
	guest_puts(" interrupts\n");
	guest_check("every request completed with an interrupt", ok_rounds == (int)rounds);
	guest_check("used ring: head 0, 64 bytes written", used_ok);
	guest_check("buffer filled with random bytes", data_ok);
	if (!msix)
		guest_check("ISR had the queue bit", dev.isr_bits & 1);
	guest_check("device healthy", !(vpci_status(&dev) & 0x40));
	guest_finish();
}
