/* Multiboot (version 1, specification 0.6.96): the ELF32/ELF64 or a.out-kludge
 * kernel is loaded by physical address and entered in flat 32-bit protected
 * mode with EAX = 0x2BADB002 and EBX = the multiboot information. */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hw/x86/boot.h"
#include "hw/x86/e820.h"
#include "hw/x86/layout.h"

#define MB_HEADER_MAGIC 0x1badb002u
#define MB_SEARCH 8192 /* §3.1.1: within the first 8192 bytes, 32-bit aligned */

/* Header flags (§3.1.2). Bits 0-15 are requirements: a loader that does
 * not know one must refuse the kernel. */
#define MB_PAGE_ALIGN (1u << 0)
#define MB_MEMORY_INFO (1u << 1)
#define MB_AOUT_KLUDGE (1u << 16)
/* Video mode (bit 2) is refused: Vireo has no display to describe. */
#define MB_KNOWN_REQUIRED (MB_PAGE_ALIGN | MB_MEMORY_INFO)

/* Information flags and layout (§3.3). */
#define MBI_MEMORY (1u << 0)
#define MBI_CMDLINE (1u << 2)
#define MBI_MODS (1u << 3)
#define MBI_MMAP (1u << 6)
#define MBI_LOADER_NAME (1u << 9)

/* Where Vireo puts the pieces inside the LAYOUT_MULTIBOOT_INFO page. The
 * command line goes to LAYOUT_CMDLINE, which has room for long ones. */
#define MBI_OFF_LOADER_NAME 0x80
#define MBI_OFF_MOD_STRING 0x90
#define MBI_OFF_MODS 0xa0
#define MBI_OFF_MMAP 0x100
#define MBI_PAGE 0x1000

struct mb_header {
	uint32_t magic, flags, checksum;
	uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

/* Returns the header's offset, or -1. */
static long mb_find(const uint8_t *image, size_t len, struct mb_header *h)
{
	size_t end = len < MB_SEARCH ? len : MB_SEARCH;

	for (size_t off = 0; off + 12 <= end; off += 4) {
		memset(h, 0, sizeof(*h));
		memcpy(h, image + off, len - off < sizeof(*h) ? len - off : sizeof(*h));
		if (h->magic == MB_HEADER_MAGIC && h->magic + h->flags + h->checksum == 0)
			return (long)off;
	}
	return -1;
}

int multiboot_probe(const uint8_t *image, size_t len)
{
	struct mb_header h;

	return mb_find(image, len, &h) >= 0;
}

/* Copies [off, off+filesz) of the file to gpa and zeroes up to memsz, after
 * checking both ranges; keeps *end as the highest loaded address. */
static int mb_load_segment(const struct guest_mem *gm, const char *name, const uint8_t *image,
			   size_t len, uint64_t off, uint64_t filesz, uint64_t gpa, uint64_t memsz,
			   uint64_t *end, struct err *err)
{
	uint8_t *dst;

	if (filesz > memsz || off > len || filesz > len - off)
		return err_set(err, "kernel '%s': segment at file offset 0x%llx is outside the file",
			       name, (unsigned long long)off);
	dst = gm_hva(gm, gpa, memsz);
	if (!dst || gpa + memsz > 4 * GiB)
		return err_set(err, "kernel '%s': segment 0x%llx-0x%llx is not in guest RAM", name,
			       (unsigned long long)gpa, (unsigned long long)(gpa + memsz));
	/* Low memory holds Vireo's boot structures (GDT, multiboot info,
	 * command line) and the ACPI tables. Other low RAM is fair game:
	 * ld's default layout puts a read-only segment with the ELF headers
	 * just below 1 MiB. */
	if (gpa < LAYOUT_CMDLINE + LAYOUT_CMDLINE_MAX ||
	    (gpa < LAYOUT_ACPI_BASE + LAYOUT_ACPI_SIZE && gpa + memsz > LAYOUT_ACPI_BASE))
		return err_set(err, "kernel '%s': segment 0x%llx-0x%llx overlaps the boot "
			       "information or ACPI tables", name, (unsigned long long)gpa,
			       (unsigned long long)(gpa + memsz));
	memcpy(dst, image + off, filesz);
	memset(dst + filesz, 0, memsz - filesz);
	if (gpa + memsz > *end)
		*end = gpa + memsz;
	return 0;
}

/* §3.1.3: with flag 16 the header's address fields say what to load. */
static int mb_load_aout(const struct guest_mem *gm, const char *name, const uint8_t *image,
			size_t len, long hoff, const struct mb_header *h, uint64_t *entry,
			uint64_t *end, struct err *err)
{
	uint64_t off, filesz, memsz;

	if (hoff + 32 > (long)len || h->load_addr > h->header_addr ||
	    h->header_addr - h->load_addr > (uint64_t)hoff)
		return err_set(err, "kernel '%s': bad multiboot a.out addresses", name);
	off = (uint64_t)hoff - (h->header_addr - h->load_addr);
	filesz = h->load_end_addr ? (uint64_t)h->load_end_addr - h->load_addr : len - off;
	if (h->load_end_addr && h->load_end_addr < h->load_addr)
		return err_set(err, "kernel '%s': multiboot load_end_addr below load_addr", name);
	memsz = filesz;
	if (h->bss_end_addr) {
		if (h->bss_end_addr < h->load_addr + filesz)
			return err_set(err, "kernel '%s': multiboot bss_end_addr below the image",
				       name);
		memsz = (uint64_t)h->bss_end_addr - h->load_addr;
	}
	*entry = h->entry_addr;
	return mb_load_segment(gm, name, image, len, off, filesz, h->load_addr, memsz, end, err);
}

/* Program headers of either class, widened to 64 bits. */
struct mb_phdr {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz;
};

static int mb_load_elf(const struct guest_mem *gm, const char *name, const uint8_t *image,
		       size_t len, uint64_t *entry, uint64_t *end, struct err *err)
{
	int is64 = len >= EI_NIDENT && image[EI_CLASS] == ELFCLASS64;
	uint64_t phoff, e_entry, phentsize, phnum;
	unsigned loaded = 0;
	int entry_mapped = 0;
	int ret;

	if (len < EI_NIDENT || memcmp(image, ELFMAG, SELFMAG) != 0 ||
	    image[EI_DATA] != ELFDATA2LSB ||
	    (image[EI_CLASS] != ELFCLASS32 && image[EI_CLASS] != ELFCLASS64))
		return err_set(err, "kernel '%s': multiboot kernel is neither little-endian ELF nor "
			       "uses the a.out kludge", name);
	if (is64) {
		Elf64_Ehdr eh;

		if (len < sizeof(eh))
			return err_set(err, "kernel '%s': truncated ELF header", name);
		memcpy(&eh, image, sizeof(eh));
		if (eh.e_type != ET_EXEC || eh.e_machine != EM_X86_64)
			return err_set(err, "kernel '%s': not an x86-64 ELF executable", name);
		phoff = eh.e_phoff, e_entry = eh.e_entry;
		phentsize = eh.e_phentsize, phnum = eh.e_phnum;
		if (phentsize < sizeof(Elf64_Phdr))
			return err_set(err, "kernel '%s': bad ELF program header size", name);
	} else {
		Elf32_Ehdr eh;

		if (len < sizeof(eh))
			return err_set(err, "kernel '%s': truncated ELF header", name);
		memcpy(&eh, image, sizeof(eh));
		if (eh.e_type != ET_EXEC || eh.e_machine != EM_386)
			return err_set(err, "kernel '%s': not an i386 ELF executable", name);
		phoff = eh.e_phoff, e_entry = eh.e_entry;
		phentsize = eh.e_phentsize, phnum = eh.e_phnum;
		if (phentsize < sizeof(Elf32_Phdr))
			return err_set(err, "kernel '%s': bad ELF program header size", name);
	}
	if (phoff > len || phnum > (len - phoff) / phentsize)
		return err_set(err, "kernel '%s': ELF program headers outside the file", name);

	*entry = e_entry;
	for (uint64_t i = 0; i < phnum; i++) {
		const uint8_t *p = image + phoff + i * phentsize;
		struct mb_phdr ph;

		if (is64) {
			Elf64_Phdr h;

			memcpy(&h, p, sizeof(h));
			ph = (struct mb_phdr){ h.p_type, h.p_offset, h.p_vaddr, h.p_paddr,
					       h.p_filesz, h.p_memsz };
		} else {
			Elf32_Phdr h;

			memcpy(&h, p, sizeof(h));
			ph = (struct mb_phdr){ h.p_type, h.p_offset, h.p_vaddr, h.p_paddr,
					       h.p_filesz, h.p_memsz };
		}
		if (ph.type != PT_LOAD || ph.memsz == 0)
			continue;
		ret = mb_load_segment(gm, name, image, len, ph.offset, ph.filesz, ph.paddr,
				      ph.memsz, end, err);
		if (ret < 0)
			return ret;
		loaded++;
		/* e_entry is virtual; kernels linked high (vaddr != paddr) are
		 * entered at the physical address of the same byte, since paging
		 * is off at entry (§3.2). */
		if (!entry_mapped && e_entry >= ph.vaddr && e_entry - ph.vaddr < ph.memsz) {
			*entry = e_entry - ph.vaddr + ph.paddr;
			entry_mapped = 1;
		}
	}
	if (!loaded)
		return err_set(err, "kernel '%s': ELF has no loadable segment", name);
	return 0;
}

static void mb_put32(uint8_t *p, size_t off, uint32_t v)
{
	memcpy(p + off, &v, 4); /* x86 guests and hosts are both little-endian */
}

static void mb_put64(uint8_t *p, size_t off, uint64_t v)
{
	memcpy(p + off, &v, 8);
}

int multiboot_load(const struct guest_mem *gm, const char *name, const uint8_t *image,
		   size_t len, const char *initrd, const char *cmdline,
		   struct x86_cpu_state *entry, struct err *err)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	uint8_t page[MBI_PAGE];
	struct mb_header h;
	uint64_t start = 0, end = 0, low_end = gm_low_size(gm);
	uint32_t flags;
	size_t cmd_len = strlen(cmdline);
	unsigned n;
	long hoff;
	int ret;

	hoff = mb_find(image, len, &h);
	if (hoff < 0)
		return err_set(err, "kernel '%s': no multiboot header", name);
	if (h.flags & 0xffff & ~MB_KNOWN_REQUIRED)
		return err_set(err, "kernel '%s': multiboot header requires unsupported features "
			       "(flags 0x%x)", name, h.flags);
	if (h.flags & MB_AOUT_KLUDGE)
		ret = mb_load_aout(gm, name, image, len, hoff, &h, &start, &end, err);
	else
		ret = mb_load_elf(gm, name, image, len, &start, &end, err);
	if (ret < 0)
		return ret;
	if (start >= 4 * GiB)
		return err_set(err, "kernel '%s': entry point 0x%llx is above 4 GiB", name,
			       (unsigned long long)start);

	if (cmd_len > LAYOUT_CMDLINE_MAX - 1)
		return err_set(err, "kernel command line is %zu bytes; at most %llu are supported",
			       cmd_len, LAYOUT_CMDLINE_MAX - 1);
	if (!gm_write(gm, LAYOUT_CMDLINE, cmdline, cmd_len + 1))
		return err_set(err, "guest RAM too small for the kernel command line");

	/* §3.3: mem_lower from 0, mem_upper from 1 MiB up to the first hole, in KiB. */
	memset(page, 0, sizeof(page));
	flags = MBI_MEMORY | MBI_CMDLINE | MBI_MMAP | MBI_LOADER_NAME;
	mb_put32(page, 4, (uint32_t)(LAYOUT_EBDA / KiB));
	mb_put32(page, 8, low_end > LAYOUT_HIGH_MEM ? (uint32_t)((low_end - LAYOUT_HIGH_MEM) / KiB) : 0);
	mb_put32(page, 16, (uint32_t)LAYOUT_CMDLINE);
	memcpy(page + MBI_OFF_LOADER_NAME, "vireo", 6);
	mb_put32(page, 64, (uint32_t)(LAYOUT_MULTIBOOT_INFO + MBI_OFF_LOADER_NAME));

	if (initrd) {
		uint64_t addr = (end + 4 * KiB - 1) & ~(4 * KiB - 1);
		uint8_t *data;
		size_t dlen;

		ret = boot_read_file("initrd", initrd, 4 * GiB - 1, &data, &dlen, err);
		if (ret < 0)
			return ret;
		if (addr > low_end || dlen > low_end - addr) {
			free(data);
			return err_set(err, "initrd '%s' (%llu MiB) does not fit after the kernel in "
				       "%llu MiB of RAM", initrd, (unsigned long long)(dlen >> 20),
				       (unsigned long long)(gm->size >> 20));
		}
		ret = gm_write(gm, addr, data, dlen) ? 0 : -EFAULT;
		free(data);
		if (ret < 0)
			return err_set(err, "initrd '%s': cannot write to guest RAM", initrd);
		/* One module: start, end (exclusive, as GRUB does), string. */
		memcpy(page + MBI_OFF_MOD_STRING, "initrd", 7);
		mb_put32(page, MBI_OFF_MODS, (uint32_t)addr);
		mb_put32(page, MBI_OFF_MODS + 4, (uint32_t)(addr + dlen));
		mb_put32(page, MBI_OFF_MODS + 8, (uint32_t)(LAYOUT_MULTIBOOT_INFO + MBI_OFF_MOD_STRING));
		mb_put32(page, 20, 1);
		mb_put32(page, 24, (uint32_t)(LAYOUT_MULTIBOOT_INFO + MBI_OFF_MODS));
		flags |= MBI_MODS;
	}

	/* The memory map: entries of {size (20), base_addr, length, type},
	 * mmap_addr pointing at the first size field. */
	n = e820_build(gm, map, E820_MAX_ENTRIES);
	for (unsigned i = 0; i < n; i++) {
		size_t off = MBI_OFF_MMAP + i * 24;

		mb_put32(page, off, 20);
		mb_put64(page, off + 4, map[i].addr);
		mb_put64(page, off + 12, map[i].size);
		mb_put32(page, off + 20, map[i].type);
	}
	mb_put32(page, 44, n * 24);
	mb_put32(page, 48, (uint32_t)(LAYOUT_MULTIBOOT_INFO + MBI_OFF_MMAP));
	mb_put32(page, 0, flags);
	if (!gm_write(gm, LAYOUT_MULTIBOOT_INFO, page, sizeof(page)))
		return err_set(err, "guest RAM too small for the multiboot information");

	/* §3.2 machine state: 32-bit protected mode, paging off, flat
	 * segments, interrupts off. */
	ret = boot_protected_mode(gm, 0, entry, err);
	if (ret < 0)
		return ret;
	entry->rip = start;
	entry->gpr[X86_RAX] = MULTIBOOT_BOOTLOADER_MAGIC;
	entry->gpr[X86_RBX] = LAYOUT_MULTIBOOT_INFO;
	return 0;
}
