/* Flat firmware (a SeaBIOS- or OVMF-style image ending at 4 GiB) and the
 * x86 reset state it starts from. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hw/x86/boot.h"
#include "hw/x86/layout.h"

void firmware_reset_state(struct x86_cpu_state *st)
{
	/* Intel SDM Vol. 3A §9.1.1, table 9-1: real mode, CS.base 0xffff0000
	 * so that CS:IP = 0xf000:0xfff0 fetches from 0xfffffff0, other segments
	 * base 0 limit 0xffff, CR0 = CD | NW | ET. */
	const struct x86_segment data = { .limit = 0xffff, .type = 3, .s = 1, .present = 1 };

	memset(st, 0, sizeof(*st));
	st->cs = (struct x86_segment){ .base = 0xffff0000, .limit = 0xffff, .selector = 0xf000,
				       .type = 0xb, .s = 1, .present = 1 };
	st->ds = st->es = st->fs = st->gs = st->ss = data;
	st->tr = (struct x86_segment){ .limit = 0xffff, .type = 11, .present = 1 };
	st->ldt = (struct x86_segment){ .limit = 0xffff, .type = 2, .present = 1 };
	st->gdt = (struct x86_dtable){ 0, 0xffff };
	st->idt = (struct x86_dtable){ 0, 0xffff };
	st->rip = 0xfff0;
	st->rflags = 2;
	st->cr0 = 0x60000010;
	/* EDX holds the processor signature at reset: family 6, model 0. */
	st->gpr[X86_RDX] = 0x600;
	st->apic_base = LAYOUT_LAPIC_BASE | (1u << 11) | (1u << 8); /* enabled, BSP */
}

int firmware_load(const char *path, void **image, size_t *size, struct x86_cpu_state *entry,
		  struct err *err)
{
	uint8_t *data, *map;
	size_t len, mlen;
	int ret;

	*image = NULL;
	*size = 0;
	ret = boot_read_file("firmware", path, LAYOUT_FIRMWARE_MAX, &data, &len, err);
	if (ret < 0)
		return ret;
	if (len < 16) {
		/* It must at least contain the reset vector at 4 GiB - 16. */
		free(data);
		return err_set(err, "firmware '%s' is %zu bytes; too small to hold a reset vector",
			       path, len);
	}
	/* Page-rounded for the memory slot, and at least the 64 KiB the
	 * board aliases below 1 MiB; the image is right-aligned so that its
	 * last byte is at 4 GiB - 1. */
	mlen = (len + 4 * KiB - 1) & ~(size_t)(4 * KiB - 1);
	if (mlen < LAYOUT_BIOS_ALIAS_SIZE)
		mlen = LAYOUT_BIOS_ALIAS_SIZE;
	map = mmap(NULL, mlen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		ret = err_errno(err, errno, "firmware '%s'", path);
		free(data);
		return ret;
	}
	memcpy(map + (mlen - len), data, len);
	free(data);
	*image = map;
	*size = mlen;
	firmware_reset_state(entry);
	return 0;
}

void firmware_free(void *image, size_t size)
{
	if (image)
		munmap(image, size);
}
