/* Getting the first instruction to run: direct kernel boot (the Linux x86 boot
 * protocol, Documentation/arch/x86/boot.rst, or Multiboot 0.6.96) and flat
 * firmware entered at the reset vector. The loaders write into guest RAM and
 * describe the bootstrap processor's initial state; they never touch the
 * accelerator, so the board decides when to apply it (first start and every
 * reset). */
#ifndef VIREO_HW_X86_BOOT_H
#define VIREO_HW_X86_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "accel/accel.h"
#include "core/err.h"
#include "vm/config.h"
#include "vm/guest_mem.h"

struct vm;

/* GDT selectors of the 32/64-bit entry states (boot.rst "32-bit/64-bit boot
 * protocol": __BOOT_CS and __BOOT_DS). */
#define BOOT_SEL_CS 0x10
#define BOOT_SEL_DS 0x18

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2badb002u

/* Reads cfg->kernel, cfg->initrd and cfg->cmdline, recognises a bzImage
 * (boot protocol >= 2.06) or a multiboot kernel, loads it into gm and fills
 * *entry with the BSP's complete initial state. */
int boot_load(const struct guest_mem *gm, const struct vm_config *cfg,
	      struct x86_cpu_state *entry, struct err *err);

/* Same, on vm->mem and vm->cfg (the board's call). The guest owns its RAM
 * once it runs, so a reset must call this (and acpi_build) again rather than
 * reuse the old boot_state alone. Only the BSP gets *entry; APs wait for
 * INIT/SIPI. */
int boot_load_kernel(struct vm *vm, struct x86_cpu_state *entry, struct err *err);

/* The two loaders boot_load() chooses between. image/len is the whole kernel
 * file, name is used in messages. linux_boot_probe/multiboot_probe say whether
 * the image is theirs. */
int linux_boot_probe(const uint8_t *image, size_t len);
int linux_boot_load(const struct guest_mem *gm, const char *name, const uint8_t *image,
		    size_t len, const char *initrd, const char *cmdline,
		    struct x86_cpu_state *entry, struct err *err);
int multiboot_probe(const uint8_t *image, size_t len);
int multiboot_load(const struct guest_mem *gm, const char *name, const uint8_t *image,
		   size_t len, const char *initrd, const char *cmdline,
		   struct x86_cpu_state *entry, struct err *err);

/* Reads a flat firmware image of at most LAYOUT_FIRMWARE_MAX bytes into a
 * page-aligned anonymous mapping of *size bytes (the file's size rounded up
 * to 4 KiB and to at least LAYOUT_BIOS_ALIAS_SIZE), the file right-aligned in
 * it so that its last byte lands at 4 GiB - 1. The board maps it at
 * LAYOUT_FIRMWARE_TOP - *size, copies its last LAYOUT_BIOS_ALIAS_SIZE bytes to
 * LAYOUT_BIOS_ALIAS, and frees it with firmware_free(). *entry is the x86
 * reset state (Intel SDM Vol. 3A §9.1.1, table 9-1). */
int firmware_load(const char *path, void **image, size_t *size, struct x86_cpu_state *entry,
		  struct err *err);
void firmware_free(void *image, size_t size);
void firmware_reset_state(struct x86_cpu_state *st);

/* Shared helpers of the loaders. */

/* Reads at most max bytes of path into a malloc'd buffer (*buf, *len);
 * what names the file in messages ("kernel", "initrd"). */
int boot_read_file(const char *what, const char *path, uint64_t max, uint8_t **buf,
		   size_t *len, struct err *err);

/* Writes the boot GDT at LAYOUT_BOOT_GDT (null, null, __BOOT_CS, __BOOT_DS;
 * CS is a 64-bit code segment if long_mode, else 32-bit) and an empty IDT, and
 * sets *st to flat protected mode (long_mode: plus paging via the identity
 * tables of boot_write_page_tables) with interrupts off. */
int boot_protected_mode(const struct guest_mem *gm, int long_mode, struct x86_cpu_state *st,
			struct err *err);

/* Identity-maps 0-4 GiB with 2 MiB pages at LAYOUT_PML4/PDPT/PD. */
int boot_write_page_tables(const struct guest_mem *gm, struct err *err);

#endif
