/* bzImage-format test kernel: checks what a Linux boot protocol loader
 * handed over at the 64-bit entry (Documentation/arch/x86/boot.rst,
 * "64-bit Boot Protocol" and "The Zero Page"): long mode with paging,
 * the selectors, RSI -> boot_params, the setup header fields, the command
 * line, the e820 map, the initrd bytes and the ACPI RSDP.
 * Command-line parameters: mem_mib=N (required), initrd_len=N and
 * initrd_sum=ADLER32 (when an initrd is passed), cpus=N (optional). */
#include "guest.h"
#include "linux64.h"

/* Zero-page offsets (boot.rst "The Zero Page", "The Real-Mode Kernel Header"). */
#define BP_ACPI_RSDP 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_SETUP_SECTS 0x1f1
#define BP_BOOT_FLAG 0x1fe
#define BP_HEADER 0x202
#define BP_VERSION 0x206
#define BP_TYPE_OF_LOADER 0x210
#define BP_LOADFLAGS 0x211
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_CMD_LINE_PTR 0x228
#define BP_INITRD_ADDR_MAX 0x22c
#define BP_XLOADFLAGS 0x236
#define BP_CMDLINE_SIZE 0x238
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128

extern uint64_t linux64_entry_rsi, linux64_entry_rflags;
extern uint16_t linux64_entry_cs, linux64_entry_ds, linux64_entry_ss;
void linux64_main(void);

static const uint8_t *bp;
static struct guest_mem_range ranges[BP_E820_MAX];

static uint8_t bp8(unsigned off)
{
	return bp[off];
}

static uint16_t bp16(unsigned off)
{
	return *(const uint16_t *)(bp + off);
}

static uint32_t bp32(unsigned off)
{
	return *(const uint32_t *)(bp + off);
}

static uint64_t bp64(unsigned off)
{
	return *(const uint64_t *)(bp + off);
}

static int overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static void linux64_check_cpu(void)
{
	uint64_t cr0, cr4;
	uint32_t lo, hi;

	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0000080u));
	guest_check("paging and protection on (CR0.PG, CR0.PE)",
		    (cr0 & 0x80000001u) == 0x80000001u);
	guest_check("PAE on (CR4.PAE)", cr4 & (1u << 5));
	guest_check("long mode active (EFER.LMA)", lo & (1u << 10));
	guest_check("CS is __BOOT_CS (0x10)", linux64_entry_cs == 0x10);
	guest_check("DS and SS are __BOOT_DS (0x18)",
		    linux64_entry_ds == 0x18 && linux64_entry_ss == 0x18);
	guest_check("interrupts disabled at entry", !(linux64_entry_rflags & (1u << 9)));
	/* The 64-bit entry's page tables must map all of 0-4 GiB: the local
	 * APIC's version register (SDM 3A §11.4.8) is near the top. */
	uint32_t ver = mmio_read32(LAYOUT_LAPIC_BASE + 0x30) & 0xff;
	guest_check("identity map reaches the LAPIC at 0xfee00000", ver >= 0x10 && ver <= 0x15);
}

static void linux64_check_header(void)
{
	guest_puts("linux64: boot_params at ");
	guest_put_hex((uint64_t)(uintptr_t)bp);
	guest_puts(", type_of_loader ");
	guest_put_hex(bp8(BP_TYPE_OF_LOADER));
	guest_puts("\n");
	guest_check("boot_params header copied (HdrS, 0xaa55)",
		    !guest_memcmp(bp + BP_HEADER, "HdrS", 4) && bp16(BP_BOOT_FLAG) == 0xaa55);
	guest_check("header version 2.15 and setup_sects kept",
		    bp16(BP_VERSION) == 0x020f && bp8(BP_SETUP_SECTS) == LINUX64_SETUP_SECTS);
	guest_check("xloadflags kept (XLF_KERNEL_64)", bp16(BP_XLOADFLAGS) & 1);
	guest_check("type_of_loader set", bp8(BP_TYPE_OF_LOADER) != 0);
	guest_check("loadflags LOADED_HIGH", bp8(BP_LOADFLAGS) & 1);
}

static const char *linux64_check_cmdline(void)
{
	uint64_t p = bp32(BP_CMD_LINE_PTR) | (uint64_t)bp32(BP_EXT_CMD_LINE_PTR) << 32;
	const char *cmd = phys(p);

	guest_check("cmd_line_ptr set", p != 0 && p < 0x100000000ULL);
	if (!p || p >= 0x100000000ULL)
		return "";
	guest_puts("linux64: cmdline '");
	guest_puts(cmd);
	guest_puts("'\n");
	guest_check("cmdline within cmdline_size",
		    guest_strlen(cmd) <= bp32(BP_CMDLINE_SIZE) &&
			bp32(BP_CMDLINE_SIZE) == LINUX64_CMDLINE_SIZE);
	/* console=ttyS0 is added only when the user gave no console=: the
	 * test pins the exact line printed above. */
	guest_check("cmdline names a console", guest_cmdline_get(cmd, "console") != NULL);
	guest_check("cmdline clear of kernel and boot_params",
		    !overlaps(p, guest_strlen(cmd) + 1, LINUX64_LOAD_ADDR, LINUX64_INIT_SIZE) &&
			!overlaps(p, guest_strlen(cmd) + 1, (uint64_t)(uintptr_t)bp, 4096));
	return cmd;
}

static int linux64_in_ram(uint64_t a, uint64_t len, int n)
{
	for (int i = 0; i < n; i++)
		if (ranges[i].type == 1 && a >= ranges[i].base &&
		    a + len <= ranges[i].base + ranges[i].len)
			return 1;
	return 0;
}

static void linux64_check_initrd(const char *cmd, int nmap)
{
	uint64_t want_len, want_sum = 0;
	uint64_t img = bp32(BP_RAMDISK_IMAGE) | (uint64_t)bp32(BP_EXT_RAMDISK_IMAGE) << 32;
	uint64_t len = bp32(BP_RAMDISK_SIZE) | (uint64_t)bp32(BP_EXT_RAMDISK_SIZE) << 32;

	if (guest_cmdline_u64(cmd, "initrd_len", &want_len)) {
		guest_check("no initrd passed, none reported", img == 0 && len == 0);
		return;
	}
	guest_cmdline_u64(cmd, "initrd_sum", &want_sum);
	guest_puts("linux64: initrd at ");
	guest_put_hex(img);
	guest_puts(" length ");
	guest_put_dec(len);
	guest_puts("\n");
	guest_check("initrd size", len == want_len);
	guest_check("initrd below initrd_addr_max",
		    img && img + len - 1 <= bp32(BP_INITRD_ADDR_MAX));
	guest_check("initrd inside e820 RAM", linux64_in_ram(img, len, nmap));
	guest_check("initrd clear of kernel, boot_params and cmdline",
		    !overlaps(img, len, LINUX64_LOAD_ADDR, LINUX64_INIT_SIZE) &&
			!overlaps(img, len, (uint64_t)(uintptr_t)bp, 4096) &&
			!overlaps(img, len, (uint64_t)(uintptr_t)cmd, guest_strlen(cmd) + 1));
	if (len == want_len && img && img + len <= 0x100000000ULL) {
		uint32_t sum = guest_adler32(phys(img), len);

		guest_puts("linux64: initrd adler32 ");
		guest_put_hex(sum);
		guest_puts("\n");
		guest_check("initrd content checksum", sum == want_sum);
	}
}

static void linux64_check_acpi(const char *cmd)
{
	uint64_t rsdp = bp64(BP_ACPI_RSDP), cpus;

	guest_puts("linux64: acpi_rsdp_addr ");
	guest_put_hex(rsdp);
	guest_puts("\n");
	guest_check("acpi_rsdp_addr -> valid RSDP",
		    rsdp && rsdp < 0x100000 && guest_acpi_rsdp_valid(rsdp));
	if (!rsdp || rsdp >= 0x100000 || !guest_acpi_rsdp_valid(rsdp))
		return;
	int madt = guest_acpi_madt_cpus(rsdp);

	guest_check("MADT lists the vCPUs",
		    madt > 0 && (guest_cmdline_u64(cmd, "cpus", &cpus) || (uint64_t)madt == cpus));
}

void linux64_main(void)
{
	uint64_t mem_mib = 0;
	int n;

	guest_serial_init();
	guest_set_prefix("linux64");
	guest_puts("linux64: 64-bit entry reached\n");
	linux64_check_cpu();
	guest_check("RSI points to boot_params (below 4 GiB, page aligned)",
		    linux64_entry_rsi && linux64_entry_rsi < 0x100000000ULL &&
			!(linux64_entry_rsi & 0xfff));
	if (!linux64_entry_rsi || linux64_entry_rsi >= 0x100000000ULL)
		guest_finish();
	bp = phys(linux64_entry_rsi);
	linux64_check_header();
	const char *cmd = linux64_check_cmdline();

	guest_check("cmdline has mem_mib=", !guest_cmdline_u64(cmd, "mem_mib", &mem_mib));
	n = bp8(BP_E820_ENTRIES);
	guest_check("e820_entries within 1..128", n > 0 && n <= BP_E820_MAX);
	if (n > BP_E820_MAX)
		n = 0;
	for (int i = 0; i < n; i++) {
		const uint8_t *e = bp + BP_E820_TABLE + 20 * i;

		ranges[i].base = *(const uint64_t *)e;
		ranges[i].len = *(const uint64_t *)(e + 8);
		ranges[i].type = *(const uint32_t *)(e + 16);
	}
	guest_check_memmap(ranges, n, mem_mib << 20, 0);
	linux64_check_initrd(cmd, n);
	linux64_check_acpi(cmd);
	guest_finish();
}
