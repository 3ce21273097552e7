/* SMP test kernel (multiboot): wakes every other vCPU with INIT-SIPI-SIPI
 * through the local APIC (Intel SDM 3A §9.4.4.1), counts the APs that reach
 * protected mode and compares with the MADT and the optional cpus=N
 * command-line parameter. Runs in 32-bit protected mode without paging. */
#include "guest.h"
#include "multiboot.h"

#define SMP_TRAMP 0x10000 /* 4 KiB aligned, below 1 MiB: SIPI vector 0x10 */
#define LAPIC_ID 0x20
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_ALL_BUT_SELF (3u << 18)
#define ICR_LEVEL_ASSERT (1u << 14)
#define ICR_PENDING (1u << 12)
#define ICR_INIT (5u << 8)
#define ICR_STARTUP (6u << 8)

extern const char smp_tramp_start[], smp_tramp_end[];
volatile uint32_t smp_ap_count;
volatile uint32_t smp_ap_mask[8];

static uint32_t lapic_read(uint32_t reg)
{
	return mmio_read32(LAYOUT_LAPIC_BASE + reg);
}

static void lapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(LAYOUT_LAPIC_BASE + reg, v);
}

static void smp_send_ipi(uint32_t icr)
{
	lapic_write(LAPIC_ICR_HI, 0);
	lapic_write(LAPIC_ICR_LO, icr);
	for (int i = 0; i < 100000 && (lapic_read(LAPIC_ICR_LO) & ICR_PENDING); i++)
		;
}

static int smp_popcount(void)
{
	int n = 0;

	for (int i = 0; i < 8; i++)
		for (uint32_t v = smp_ap_mask[i]; v; v &= v - 1)
			n++;
	return n;
}

void guest_main(uint32_t magic, struct mb_info *info)
{
	const char *cmdline = (info->flags & MB_INFO_CMDLINE) ? phys(info->cmdline) : "";
	uint64_t want = 0;
	int have_want, madt;
	uint32_t bsp, aps;

	guest_serial_init();
	guest_set_prefix("smp");
	guest_check("multiboot magic", magic == MB_BOOT_MAGIC);
	have_want = !guest_cmdline_u64(cmdline, "cpus", &want);
	madt = guest_acpi_madt_cpus(guest_acpi_find_rsdp());
	guest_puts("smp: MADT lists ");
	guest_put_dec((uint64_t)(madt < 0 ? 0 : madt));
	guest_puts(" processors\n");
	guest_check("MADT found", madt > 0);

	guest_memcpy(phys(SMP_TRAMP), smp_tramp_start, (size_t)(smp_tramp_end - smp_tramp_start));
	lapic_write(LAPIC_SVR, 0x1ff); /* software enable, spurious vector 0xff */
	bsp = lapic_read(LAPIC_ID) >> 24;
	smp_send_ipi(ICR_ALL_BUT_SELF | ICR_LEVEL_ASSERT | ICR_INIT);
	guest_udelay(10000);
	for (int i = 0; i < 2; i++) {
		smp_send_ipi(ICR_ALL_BUT_SELF | ICR_LEVEL_ASSERT | ICR_STARTUP | (SMP_TRAMP >> 12));
		guest_udelay(200);
	}
	/* Wait (bounded, about 3 s) for the expected APs; with no expectation
	 * beyond the BSP, give stray APs 50 ms to show up. */
	uint32_t target = (uint32_t)(have_want ? want : (uint64_t)(madt > 0 ? madt : 1)) - 1;
	for (int ms = 0; ms < (target ? 3000 : 50) && smp_ap_count < target; ms++)
		guest_udelay(1000);
	guest_udelay(target ? 5000 : 0); /* late extra APs would be miscounted */
	aps = smp_ap_count;
	guest_puts("smp: ");
	guest_put_dec(aps + 1);
	guest_puts(" cpus\n");
	guest_check("CPU count matches the MADT", madt > 0 && aps + 1 == (uint32_t)madt);
	if (have_want)
		guest_check("CPU count matches cpus=", aps + 1 == want);
	guest_check("AP APIC IDs distinct and not the BSP's",
		    smp_popcount() == (int)aps &&
			!(smp_ap_mask[bsp / 32 % 8] & (1u << (bsp % 32))));
	guest_finish();
}
