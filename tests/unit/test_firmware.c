/* The flat firmware loader and the x86 reset state. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hw/x86/boot.h"
#include "hw/x86/layout.h"
#include "testlib.h"

static int write_file(const char *path, const void *p, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok = f && fwrite(p, 1, len, f) == len;

	if (f && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

int main(void)
{
	char path[] = "/tmp/vireo-fw.XXXXXX";
	struct x86_cpu_state st;
	struct err err = { { 0 } };
	uint8_t *img = malloc(LAYOUT_FIRMWARE_MAX + 1), *p;
	void *map;
	size_t size;
	int fd = mkstemp(path);

	if (fd < 0 || !img) {
		printf("not ok firmware: cannot create a temporary file\n");
		return 0;
	}
	close(fd);
	for (size_t i = 0; i <= LAYOUT_FIRMWARE_MAX; i++)
		img[i] = (uint8_t)(i * 31 + 7);

	TEST_BEGIN("firmware_reset_state");
	CHECK(write_file(path, img, 256 * KiB) == 0);
	CHECK_EQ(firmware_load(path, &map, &size, &st, &err), 0);
	CHECK_EQ(size, 256 * KiB);
	CHECK(map && memcmp(map, img, size) == 0);
	CHECK_EQ(st.cs.selector, 0xf000);
	CHECK_EQ(st.cs.base, 0xffff0000);
	CHECK_EQ(st.cs.limit, 0xffff);
	CHECK_EQ(st.rip, 0xfff0);
	CHECK_EQ(st.cr0, 0x60000010);
	CHECK_EQ(st.rflags, 2);
	CHECK_EQ(st.gpr[X86_RDX], 0x600);
	CHECK(st.ds.base == 0 && st.ds.limit == 0xffff && st.ds.selector == 0);
	CHECK(st.ss.base == 0 && st.ss.limit == 0xffff);
	CHECK_EQ(st.efer, 0);
	firmware_free(map, size);
	TEST_END();

	TEST_BEGIN("firmware_odd_sizes_end_at_4g");
	/* 5000 bytes: page-rounded and grown to the 64 KiB BIOS alias, with the
	 * file right-aligned so its last byte is at 4 GiB - 1. */
	CHECK(write_file(path, img, 5000) == 0);
	CHECK_EQ(firmware_load(path, &map, &size, &st, &err), 0);
	CHECK_EQ(size, LAYOUT_BIOS_ALIAS_SIZE);
	p = map;
	CHECK(p && memcmp(p + size - 5000, img, 5000) == 0 && p[size - 5001] == 0);
	firmware_free(map, size);
	CHECK(write_file(path, img, 128 * KiB + 1) == 0);
	CHECK_EQ(firmware_load(path, &map, &size, &st, &err), 0);
	CHECK_EQ(size, 132 * KiB);
	p = map;
	CHECK(p && p[size - 1] == img[128 * KiB]);
	firmware_free(map, size);
	TEST_END();

	TEST_BEGIN("firmware_rejects");
	CHECK(write_file(path, img, LAYOUT_FIRMWARE_MAX + 1) == 0);
	CHECK(firmware_load(path, &map, &size, &st, &err) < 0);
	CHECK(map == NULL && strstr(err.msg, "at most 16 MiB") != NULL);
	CHECK(write_file(path, img, LAYOUT_FIRMWARE_MAX) == 0);
	CHECK_EQ(firmware_load(path, &map, &size, &st, &err), 0);
	firmware_free(map, size);
	CHECK(write_file(path, img, 0) == 0);
	CHECK(firmware_load(path, &map, &size, &st, &err) < 0);
	CHECK_EQ(firmware_load("/nonexistent/bios.bin", &map, &size, &st, &err), -ENOENT);
	CHECK(strstr(err.msg, "firmware '/nonexistent/bios.bin': No such file") != NULL);
	TEST_END();

	unlink(path);
	free(img);
	return 0;
}
