#include "vm/guest_mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "hw/x86/layout.h"

#define GM_HUGE (2ULL << 20) /* an x86-64 huge page */

int gm_init(struct guest_mem *gm, uint64_t size, struct err *err)
{
	uint64_t low = size < LAYOUT_PCI_HOLE_START ? size : LAYOUT_PCI_HOLE_START;
	uint8_t *p;
	uintptr_t head;

	memset(gm, 0, sizeof(*gm));
	if (size == 0 || (size & 0xfff))
		return err_set(err, "guest memory size must be a non-zero multiple of 4 KiB");
	/* MAP_NORESERVE: RAM the guest never touches costs the host nothing.
	 * One huge page more, to place the RAM on a huge-page boundary. */
	p = mmap(NULL, size + GM_HUGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return err_errno(err, errno, "cannot allocate %llu MiB of guest memory",
				 (unsigned long long)(size >> 20));
	head = (GM_HUGE - ((uintptr_t)p & (GM_HUGE - 1))) & (GM_HUGE - 1);
	if (head)
		munmap(p, head);
	munmap(p + head + size, GM_HUGE - head);
	p += head;
	madvise(p, size, MADV_MERGEABLE);
	/* Transparent huge pages above the first 2 MiB (which firmware and boot
	 * data touch a few pages of): fewer host TLB misses for the emulated
	 * CPU, and O_DIRECT I/O into guest RAM pins and maps large folios,
	 * one disk segment per huge page instead of one per 4 KiB. */
	if (size > GM_HUGE)
		madvise(p + GM_HUGE, size - GM_HUGE, MADV_HUGEPAGE);
	gm->base = p;
	gm->size = size;
	gm->region[0] = (struct guest_mem_region){ 0, low, gm->base };
	gm->nregions = 1;
	if (size > low) {
		gm->region[1] = (struct guest_mem_region){ LAYOUT_HIGH_RAM_BASE, size - low,
							   gm->base + low };
		gm->nregions = 2;
	}
	return 0;
}

void gm_fini(struct guest_mem *gm)
{
	if (gm->base)
		munmap(gm->base, gm->size);
	memset(gm, 0, sizeof(*gm));
}

void *gm_hva(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < gm->nregions; i++) {
		const struct guest_mem_region *r = &gm->region[i];

		/* Written so that no addition can overflow. */
		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

void gm_dma_written(const struct guest_mem *gm, const void *hva, uint64_t len)
{
	const uint8_t *p = hva;

	if (!gm->dma_written || !len)
		return;
	for (unsigned i = 0; i < gm->nregions; i++) {
		const struct guest_mem_region *r = &gm->region[i];

		if (p >= r->hva && p < r->hva + r->size) {
			uint64_t off = (uint64_t)(p - r->hva);

			gm->dma_written(r->gpa + off, len < r->size - off ? len : r->size - off);
			return;
		}
	}
}

bool gm_read(const struct guest_mem *gm, uint64_t gpa, void *buf, uint64_t len)
{
	void *p = gm_hva(gm, gpa, len);

	if (!p)
		return false;
	memcpy(buf, p, len);
	return true;
}

bool gm_write(const struct guest_mem *gm, uint64_t gpa, const void *buf, uint64_t len)
{
	void *p = gm_hva(gm, gpa, len);

	if (!p)
		return false;
	memcpy(p, buf, len);
	return true;
}

uint64_t gm_low_size(const struct guest_mem *gm)
{
	return gm->nregions ? gm->region[0].size : 0;
}

uint64_t gm_high_size(const struct guest_mem *gm)
{
	return gm->nregions > 1 ? gm->region[1].size : 0;
}
