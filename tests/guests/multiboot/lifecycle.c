/* Reset, power-off and exit-code test kernel (multiboot).
 * Command line: action=exit:N | poweroff | kbd | cf9 | triple, resets=K
 * (reset actions: reset K times, then report and exit GUEST_PASS),
 * slp_typ=N (PM1a_CNT sleep type for S5; defaults to Vireo's).
 * Boots are counted in CMOS NVRAM (battery-backed, so kept across resets)
 * and, as a fallback, in a RAM word; the larger count wins. */
#include "guest.h"
#include "multiboot.h"

#define CMOS_MAGIC_IDX 0x4c /* unused by the RTC (registers 0x00-0x0d) */
#define CMOS_COUNT_IDX 0x4d
#define BOOT_MAGIC 0xa5
#define RAM_MARK ((volatile uint32_t *)0x5f000) /* below the EBDA, unused by loaders */
#define RAM_MAGIC 0x564e5231u

static void lifecycle_clear(void)
{
	guest_cmos_write(CMOS_MAGIC_IDX, 0);
	guest_cmos_write(CMOS_COUNT_IDX, 0);
	RAM_MARK[0] = 0;
	RAM_MARK[1] = 0;
}

static uint32_t lifecycle_count_boot(void)
{
	uint32_t cmos = 0, ram = 0, n;

	if (guest_cmos_read(CMOS_MAGIC_IDX) == BOOT_MAGIC)
		cmos = guest_cmos_read(CMOS_COUNT_IDX);
	if (RAM_MARK[0] == RAM_MAGIC)
		ram = RAM_MARK[1];
	n = (cmos > ram ? cmos : ram) + 1;
	guest_cmos_write(CMOS_MAGIC_IDX, BOOT_MAGIC);
	guest_cmos_write(CMOS_COUNT_IDX, (uint8_t)n);
	RAM_MARK[0] = RAM_MAGIC;
	RAM_MARK[1] = n;
	return n;
}

static void lifecycle_triple_fault(void)
{
	/* An IDT with limit 0: the #UD cannot be delivered (#GP), nor the #GP,
	 * nor the #DF: a triple fault, i.e. shutdown (Intel SDM 3A §6.15).
	 * ud2 rather than int3: kvm_pvm fails to emulate a software interrupt
	 * through a limit-0 IDT ("instruction emulation failed"). */
	static const struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) empty_idt = {0, 0};

	__asm__ volatile("lidt %0; ud2" : : "m"(empty_idt));
}

void guest_main(uint32_t magic, struct mb_info *info)
{
	const char *cmdline = (info->flags & MB_INFO_CMDLINE) ? phys(info->cmdline) : "";
	const char *action = guest_cmdline_get(cmdline, "action");
	uint64_t resets = 1, slp_typ = LAYOUT_ACPI_S5_SLP_TYP, code;
	uint32_t boot;

	guest_serial_init();
	guest_set_prefix("lifecycle");
	if (magic != MB_BOOT_MAGIC || !action) {
		guest_puts("lifecycle: bad magic or no action= on the command line\n");
		guest_exit(GUEST_FAIL);
	}
	guest_cmdline_u64(cmdline, "resets", &resets);
	guest_cmdline_u64(cmdline, "slp_typ", &slp_typ);
	boot = lifecycle_count_boot();
	guest_puts("lifecycle: boot #");
	guest_put_dec(boot);
	guest_puts("\n");

	if (!guest_memcmp(action, "exit:", 5)) {
		lifecycle_clear();
		if (guest_parse_u64(action + 5, &code) || code > 255)
			guest_exit(GUEST_FAIL);
		guest_puts("lifecycle: exit ");
		guest_put_dec(code);
		guest_puts("\n");
		guest_exit((uint8_t)code);
	}
	if (!guest_memcmp(action, "poweroff", 8)) {
		lifecycle_clear();
		guest_puts("lifecycle: powering off\n");
		/* ACPI 6.5 §4.8.3.2.1: SLP_TYPx with SLP_EN enters the sleep state. */
		outw(LAYOUT_PORT_ACPI_PM1A_CNT,
		     (uint16_t)((slp_typ & 7) << 10 | LAYOUT_ACPI_SLP_EN));
		guest_udelay(100000);
		guest_puts("lifecycle: still running after power-off: FAIL\n");
		guest_exit(GUEST_FAIL);
	}
	if (boot > resets) {
		lifecycle_clear();
		guest_puts("lifecycle: came back after ");
		guest_put_dec(boot - 1);
		guest_puts(" resets: ok\n");
		guest_exit(GUEST_PASS);
	}
	guest_puts("lifecycle: resetting via ");
	for (const char *c = action; *c && *c != ' '; c++)
		guest_putc(*c);
	guest_puts("\n");
	if (!guest_memcmp(action, "kbd", 3)) {
		outb(LAYOUT_PORT_I8042_CMD, 0xfe); /* 8042: pulse the reset line */
	} else if (!guest_memcmp(action, "cf9", 3)) {
		outb(LAYOUT_PORT_RESET, LAYOUT_RESET_VALUE);
	} else if (!guest_memcmp(action, "triple", 6)) {
		lifecycle_triple_fault();
	} else {
		guest_puts("lifecycle: unknown action\n");
		guest_exit(GUEST_FAIL);
	}
	/* The reset is asynchronous to the write on some VMMs: wait briefly. */
	guest_udelay(100000);
	guest_puts("lifecycle: still running after the reset request: FAIL\n");
	guest_exit(GUEST_FAIL);
}
