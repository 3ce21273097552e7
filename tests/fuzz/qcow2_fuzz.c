/* libFuzzer harness: open an arbitrary byte string as a qcow2 image on an
 * in-memory file, then read, map, list snapshots, check, and write a little.
 * Build: see tests/integration/img_fuzz.sh (clang -fsanitize=fuzzer,address). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "block/qcow2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Backing files are never opened from the host. */
static struct block_file *no_files(void *opaque, const char *path, bool readonly, struct err *err)
{
	err_set(err, "no backing files while fuzzing");
	return NULL;
}

static void exercise(const uint8_t *data, size_t size, bool writable)
{
	struct block_open_opts o = {0};
	struct err err = {{0}};
	struct block_file *f = block_file_mem_create("fuzz", data, size, !writable);
	static uint8_t buf[256 << 10];

	if (!f)
		return;
	block_file_mem_set_max(f, size + (8 << 20)); /* writes stay near the image */
	o.format = "qcow2";
	o.readonly = !writable;
	o.open_file = no_files;
	o.no_dirty_repair = true;
	struct block_dev *b = block_open_file(f, &o, &err);

	if (!b)
		return;
	uint64_t len = block_length(b), off = 0, pnum;
	struct block_status st;

	for (int i = 0; i < 64 && off < len; i++, off += pnum) {
		if (block_get_status(b, off, len - off, &pnum, &st, &err) < 0 || !pnum)
			break;
	}
	for (int i = 0; i < 8 && len; i++) {
		uint64_t at = 0, n = sizeof(buf);

		if (size >= (size_t)(i + 1) * 8)
			memcpy(&at, data + size - (size_t)(i + 1) * 8, 8);
		at %= len;
		if (n > len - at)
			n = len - at;
		block_pread(b, at, buf, n, &err);
	}
	struct qcow2_snapshot_info *list;

	if (qcow2_snapshot_list(b, &list, &err) >= 0)
		free(list);
	struct qcow2_check_result r;

	qcow2_check(b, 0, &r, &err);
	if (writable && len) {
		memset(buf, 0x5a, 8192);
		block_pwrite(b, len / 3, buf, len - len / 3 < 8192 ? len - len / 3 : 8192, &err);
		block_write_zeroes(b, 0, len < 131072 ? len : 131072, 0, &err);
		block_flush(b, &err);
	}
	block_close(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (4 << 20))
		return 0;
	exercise(data, size, false);
	exercise(data, size, true);
	return 0;
}
