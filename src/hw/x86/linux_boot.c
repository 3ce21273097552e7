/* The Linux x86 boot protocol (Documentation/arch/x86/boot.rst), entered at
 * the 64-bit entry point (or the 32-bit one for kernels without
 * XLF_KERNEL_64): the real-mode setup code never runs, so Vireo plays its
 * part and fills the zero page itself. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/x86/boot.h"
#include "hw/x86/e820.h"
#include "hw/x86/layout.h"

/* struct boot_params ("zero page") offsets, boot.rst and zero-page.rst. */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_HDR 0x1f1 /* the setup header, copied from the image */
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128
#define BP_SIZE 4096

/* Setup header fields, as offsets in the image and in the zero page. */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_HEADER 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_CODE32_START 0x214
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define HDR_END_MAX 0x290 /* the zero page's hdr ends before 0x290 */

#define LOADED_HIGH 0x01
#define CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x01
#define TYPE_OF_LOADER_UNDEFINED 0xff

/* boot.rst: before protocol 2.03 the initrd had to stay below this. */
#define INITRD_ADDR_MAX_OLD 0x37ffffffu

static uint16_t rd16(const uint8_t *p, size_t off)
{
	return (uint16_t)(p[off] | p[off + 1] << 8);
}

static uint32_t rd32(const uint8_t *p, size_t off)
{
	return (uint32_t)rd16(p, off) | (uint32_t)rd16(p, off + 2) << 16;
}

static uint64_t rd64(const uint8_t *p, size_t off)
{
	return (uint64_t)rd32(p, off) | (uint64_t)rd32(p, off + 4) << 32;
}

static void wr16(uint8_t *p, size_t off, uint16_t v)
{
	p[off] = (uint8_t)v;
	p[off + 1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, size_t off, uint32_t v)
{
	wr16(p, off, (uint16_t)v);
	wr16(p, off + 2, (uint16_t)(v >> 16));
}

static void wr64(uint8_t *p, size_t off, uint64_t v)
{
	wr32(p, off, (uint32_t)v);
	wr32(p, off + 4, (uint32_t)(v >> 32));
}

int linux_boot_probe(const uint8_t *image, size_t len)
{
	return len >= HDR_END_MAX && rd16(image, HDR_BOOT_FLAG) == 0xaa55 &&
	       memcmp(image + HDR_HEADER, "HdrS", 4) == 0;
}

/* Whether a parameter "console=..." (not "netconsole=...") is present. */
static bool linux_boot_has_console(const char *cmdline)
{
	for (const char *p = cmdline; (p = strstr(p, "console=")) != NULL; p++)
		if (p == cmdline || p[-1] == ' ' || p[-1] == '\t')
			return true;
	return false;
}

/* The command line the kernel gets: the user's, plus console=ttyS0 when the
 * user chose no console, because Vireo's only console is COM1 and a kernel
 * without console= would print to a VGA the machine does not have. */
static char *linux_boot_cmdline(const char *user)
{
	const char *extra = "";
	size_t n;
	char *s;

	if (!linux_boot_has_console(user))
		extra = user[0] ? " console=ttyS0" : "console=ttyS0";
	n = strlen(user) + strlen(extra) + 1;
	s = malloc(n);
	if (s)
		snprintf(s, n, "%s%s", user, extra);
	return s;
}

static int linux_boot_initrd(const struct guest_mem *gm, const char *path, uint32_t addr_max,
			     uint64_t kernel_end, uint8_t *bp, struct err *err)
{
	uint64_t low_end = gm_low_size(gm), limit, addr;
	uint8_t *data;
	size_t len;
	int ret;

	ret = boot_read_file("initrd", path, 4 * GiB - 1, &data, &len, err);
	if (ret < 0)
		return ret;
	/* Highest page-aligned spot whose last byte is <= initrd_addr_max and
	 * inside low RAM (boot.rst: "as high as possible"), clear of the
	 * region the kernel decompresses into. */
	limit = (uint64_t)addr_max + 1 < low_end ? (uint64_t)addr_max + 1 : low_end;
	addr = len <= limit ? (limit - len) & ~(4 * KiB - 1) : 0;
	if (len > limit || addr < kernel_end) {
		ret = err_set(err, "initrd '%s' (%llu MiB) does not fit below 0x%x in %llu MiB of RAM",
			      path, (unsigned long long)(len >> 20), addr_max,
			      (unsigned long long)(gm->size >> 20));
		goto out;
	}
	if (!gm_write(gm, addr, data, len)) {
		ret = err_set(err, "initrd '%s': cannot write to guest RAM at 0x%llx", path,
			      (unsigned long long)addr);
		goto out;
	}
	wr32(bp, HDR_RAMDISK_IMAGE, (uint32_t)addr);
	wr32(bp, HDR_RAMDISK_SIZE, (uint32_t)len);
	wr32(bp, BP_EXT_RAMDISK_IMAGE, (uint32_t)(addr >> 32));
	wr32(bp, BP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)len >> 32));
	ret = 0;
out:
	free(data);
	return ret;
}

int linux_boot_load(const struct guest_mem *gm, const char *name, const uint8_t *image,
		    size_t len, const char *initrd, const char *cmdline,
		    struct x86_cpu_state *entry, struct err *err)
{
	struct e820_entry map[E820_MAX_ENTRIES];
	uint8_t bp[BP_SIZE];
	uint16_t version;
	uint32_t setup_sects, cmdline_max, addr_max, init_size;
	uint64_t setup_len, prot_len, load = LAYOUT_HIGH_MEM, runtime, kernel_end, hdr_end;
	uint8_t loadflags, xloadflags;
	unsigned n;
	char *cmd;
	size_t cmd_len;
	int ret;

	if (!linux_boot_probe(image, len))
		return err_set(err, "kernel '%s': not a bzImage", name);
	version = rd16(image, HDR_VERSION);
	loadflags = image[HDR_LOADFLAGS];
	/* 2.06 brought cmdline_size; everything Vireo relies on is there. */
	if (version < 0x206)
		return err_set(err, "kernel '%s': boot protocol %u.%02u is too old (need >= 2.06)",
			       name, version >> 8, version & 0xff);
	if (!(loadflags & LOADED_HIGH))
		return err_set(err, "kernel '%s': a zImage (loaded low) is not supported", name);
	setup_sects = image[HDR_SETUP_SECTS] ? image[HDR_SETUP_SECTS] : 4;
	setup_len = (uint64_t)(setup_sects + 1) * 512;
	if (setup_len >= len)
		return err_set(err, "kernel '%s': truncated (setup is %llu bytes, file %zu)", name,
			       (unsigned long long)setup_len, len);
	prot_len = len - setup_len;
	xloadflags = version >= 0x20c ? image[HDR_XLOADFLAGS] : 0;

	/* Where the kernel will run and how much it needs there before it
	 * reads the memory map (boot.rst, init_size): a relocatable kernel
	 * decompresses at its load address aligned up, but never below
	 * pref_address (LOAD_PHYSICAL_ADDR, arch/x86/boot/compressed/head_64.S);
	 * a non-relocatable one at pref_address. */
	runtime = load;
	init_size = (uint32_t)prot_len;
	if (version >= 0x20a) {
		uint64_t pref = rd64(image, HDR_PREF_ADDRESS);
		uint32_t align = rd32(image, HDR_KERNEL_ALIGNMENT);

		if (image[HDR_RELOCATABLE] && align && !(align & (align - 1)))
			runtime = (load + align - 1) & ~((uint64_t)align - 1);
		if (pref > runtime)
			runtime = pref;
		if (rd32(image, HDR_INIT_SIZE) > init_size)
			init_size = rd32(image, HDR_INIT_SIZE);
	}
	kernel_end = runtime + init_size;
	if (load + prot_len > kernel_end)
		kernel_end = load + prot_len;
	if (kernel_end > gm_low_size(gm))
		return err_set(err, "kernel '%s' needs RAM up to 0x%llx; the machine has %llu MiB",
			       name, (unsigned long long)kernel_end,
			       (unsigned long long)(gm->size >> 20));

	/* The command line, checked against what the kernel accepts. */
	cmd = linux_boot_cmdline(cmdline);
	if (!cmd)
		return err_errno(err, ENOMEM, "kernel command line");
	cmd_len = strlen(cmd);
	cmdline_max = rd32(image, HDR_CMDLINE_SIZE);
	if (cmdline_max > LAYOUT_CMDLINE_MAX - 1)
		cmdline_max = LAYOUT_CMDLINE_MAX - 1;
	if (cmd_len > cmdline_max) {
		free(cmd);
		return err_set(err, "kernel command line is %zu bytes; this kernel accepts at most %u",
			       cmd_len, cmdline_max);
	}
	ret = gm_write(gm, LAYOUT_CMDLINE, cmd, cmd_len + 1) ? 0 : -ENOSPC;
	free(cmd);
	if (ret < 0)
		return err_set(err, "guest RAM too small for the kernel command line");

	if (!gm_write(gm, load, image + setup_len, prot_len))
		return err_set(err, "kernel '%s' does not fit in guest RAM", name);

	/* The zero page: all zero except the setup header, copied from the image
	 * up to its self-declared end (0x202 + the jump's offset byte). */
	memset(bp, 0, sizeof(bp));
	hdr_end = HDR_JUMP + 2 + image[HDR_JUMP + 1];
	if (hdr_end > HDR_END_MAX)
		hdr_end = HDR_END_MAX;
	memcpy(bp + BP_HDR, image + BP_HDR, hdr_end - BP_HDR);
	bp[HDR_TYPE_OF_LOADER] = TYPE_OF_LOADER_UNDEFINED;
	/* The 16-bit setup code never runs, but say where its heap would end
	 * as boot.rst asks of every loader (0xfe00: the usual value). */
	bp[HDR_LOADFLAGS] = loadflags | CAN_USE_HEAP;
	wr16(bp, HDR_HEAP_END_PTR, 0xfe00);
	wr32(bp, HDR_CODE32_START, (uint32_t)load);
	wr32(bp, HDR_CMD_LINE_PTR, (uint32_t)LAYOUT_CMDLINE);
	wr32(bp, BP_EXT_CMD_LINE_PTR, 0);
	if (version >= 0x20e)
		wr64(bp, BP_ACPI_RSDP_ADDR, LAYOUT_ACPI_BASE);

	if (initrd) {
		addr_max = version >= 0x203 ? rd32(image, HDR_INITRD_ADDR_MAX)
					    : INITRD_ADDR_MAX_OLD;
		ret = linux_boot_initrd(gm, initrd, addr_max, kernel_end, bp, err);
		if (ret < 0)
			return ret;
	}

	n = e820_build(gm, map, E820_MAX_ENTRIES);
	if (n > BP_E820_MAX)
		n = BP_E820_MAX;
	bp[BP_E820_ENTRIES] = (uint8_t)n;
	for (unsigned i = 0; i < n; i++) {
		wr64(bp, BP_E820_TABLE + i * 20, map[i].addr);
		wr64(bp, BP_E820_TABLE + i * 20 + 8, map[i].size);
		wr32(bp, BP_E820_TABLE + i * 20 + 16, map[i].type);
	}
	if (!gm_write(gm, LAYOUT_BOOT_PARAMS, bp, sizeof(bp)))
		return err_set(err, "guest RAM too small for the Linux zero page");

	/* boot.rst "64-bit boot protocol": long mode with identity paging,
	 * __BOOT_CS/__BOOT_DS flat, %rsi = boot_params, entry at load + 0x200.
	 * Otherwise the 32-bit protocol: flat protected mode, %esi =
	 * boot_params, %ebp = %edi = %ebx = 0, entry at code32_start. */
	if (xloadflags & XLF_KERNEL_64) {
		ret = boot_write_page_tables(gm, err);
		if (ret < 0)
			return ret;
		ret = boot_protected_mode(gm, 1, entry, err);
		if (ret < 0)
			return ret;
		entry->rip = load + 0x200;
	} else {
		ret = boot_protected_mode(gm, 0, entry, err);
		if (ret < 0)
			return ret;
		entry->rip = load;
	}
	entry->gpr[X86_RSI] = LAYOUT_BOOT_PARAMS;
	return 0;
}
