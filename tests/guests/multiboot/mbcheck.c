/* Multiboot test kernel: checks what a multiboot (v1) loader handed over
 * (Multiboot 0.6.96 §3.2-3.3): the magic, info flags, memory sizes, the
 * memory map, the command line and the first module's bytes.
 * Parameters on the command line: mem_mib=N (required), initrd_len=N and
 * initrd_sum=ADLER32 (when a module is passed), mem_slack_kib=N. */
#include "guest.h"
#include "multiboot.h"

extern char _start[], __bss_end[];

#define MAX_RANGES 64

static struct guest_mem_range ranges[MAX_RANGES];

static int mbcheck_mmap(const struct mb_info *info)
{
	uint32_t off = 0;
	int n = 0;

	while (off + 4 <= info->mmap_length && n < MAX_RANGES) {
		const struct mb_mmap_entry *e = phys(info->mmap_addr + off);

		if (e->size < 20)
			return -1;
		ranges[n].base = e->addr;
		ranges[n].len = e->len;
		ranges[n].type = e->type;
		n++;
		off += e->size + 4;
	}
	return n;
}

static void mbcheck_module(const struct mb_info *info, const char *cmdline)
{
	uint64_t want_len, want_sum;

	if (guest_cmdline_u64(cmdline, "initrd_len", &want_len)) {
		guest_check("no module expected, none required", 1);
		return;
	}
	guest_cmdline_u64(cmdline, "initrd_sum", &want_sum);
	guest_check("info flags: modules", (info->flags & MB_INFO_MODS) && info->mods_count >= 1);
	if (!(info->flags & MB_INFO_MODS) || !info->mods_count)
		return;
	const struct mb_module *m = phys(info->mods_addr);
	uint32_t len = m->mod_end - m->mod_start;
	uint32_t kend = (uint32_t)(uintptr_t)__bss_end;

	guest_puts("mbcheck: module at ");
	guest_put_hex(m->mod_start);
	guest_puts(" length ");
	guest_put_dec(len);
	guest_puts("\n");
	guest_check("module length", m->mod_end >= m->mod_start && len == want_len);
	guest_check("module page aligned", (m->mod_start & 0xfff) == 0);
	guest_check("module clear of the kernel",
		    m->mod_start >= kend || m->mod_end <= (uint32_t)(uintptr_t)_start);
	if (m->mod_end >= m->mod_start && len == want_len) {
		uint32_t sum = guest_adler32(phys(m->mod_start), len);

		guest_puts("mbcheck: module adler32 ");
		guest_put_hex(sum);
		guest_puts("\n");
		guest_check("module content checksum", sum == want_sum);
	}
}

void guest_main(uint32_t magic, struct mb_info *info)
{
	const char *cmdline = "";
	uint64_t mem_mib = 0, slack_kib = 0;

	guest_serial_init();
	guest_set_prefix("mbcheck");
	guest_puts("mbcheck: started\n");
	guest_check("EAX magic 0x2badb002", magic == MB_BOOT_MAGIC);
	if (magic != MB_BOOT_MAGIC)
		guest_finish();
	guest_puts("mbcheck: info flags ");
	guest_put_hex(info->flags);
	guest_puts("\n");
	guest_check("info flags: cmdline", info->flags & MB_INFO_CMDLINE);
	if (info->flags & MB_INFO_CMDLINE)
		cmdline = phys(info->cmdline);
	guest_puts("mbcheck: cmdline '");
	guest_puts(cmdline);
	guest_puts("'\n");
	guest_check("cmdline has mem_mib=", !guest_cmdline_u64(cmdline, "mem_mib", &mem_mib));
	guest_cmdline_u64(cmdline, "mem_slack_kib", &slack_kib);
	uint64_t mem = mem_mib << 20, slack = slack_kib << 10;
	uint64_t low_top = mem < LAYOUT_PCI_HOLE_START ? mem : LAYOUT_PCI_HOLE_START;

	guest_check("info flags: memory", info->flags & MB_INFO_MEM);
	guest_puts("mbcheck: mem_lower ");
	guest_put_dec(info->mem_lower);
	guest_puts(" KiB, mem_upper ");
	guest_put_dec(info->mem_upper);
	guest_puts(" KiB\n");
	guest_check("mem_lower within 512-640 KiB",
		    info->mem_lower >= 512 && info->mem_lower <= 640);
	uint64_t upper = (uint64_t)info->mem_upper << 10;
	guest_check("mem_upper matches memory size",
		    upper <= low_top - LAYOUT_HIGH_MEM &&
			upper + slack >= low_top - LAYOUT_HIGH_MEM);

	guest_check("info flags: memory map", info->flags & MB_INFO_MMAP);
	if (info->flags & MB_INFO_MMAP) {
		int n = mbcheck_mmap(info);

		guest_check("memory map well formed", n >= 0);
		if (n >= 0)
			guest_check_memmap(ranges, n, mem, slack);
	}
	mbcheck_module(info, cmdline);
	guest_finish();
}
