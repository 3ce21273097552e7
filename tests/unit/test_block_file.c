/* Block file layer and raw driver: iovec helpers, in-memory files, host
 * files (reads past the end, holes, zeroes, O_DIRECT bounce buffers), and
 * the generic argument checks of the block API. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"
#include "testlib.h"

static void test_iov(void)
{
	char a[10] = "0123456789", b[5] = "abcde", out[15];
	struct iovec v[2] = {{a, 10}, {b, 5}}, s[2];

	TEST_BEGIN("block_iov_slice_copy");
	CHECK_EQ(iov_size(v, 2), 15);
	int n = iov_slice(v, 2, 8, 4, s);

	CHECK_EQ(n, 2);
	CHECK(s[0].iov_base == a + 8 && s[0].iov_len == 2 && s[1].iov_len == 2);
	iov_to_buf(v, 2, 0, out, 15);
	CHECK(!memcmp(out, "0123456789abcde", 15));
	iov_from_buf(v, 2, 9, "XYZ", 3);
	CHECK(a[9] == 'X' && b[0] == 'Y' && b[1] == 'Z');
	iov_memset(v, 2, 12, '-', 3);
	CHECK(!memcmp(b, "YZ---", 5));
	CHECK(buf_is_zero("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
			  35));
	CHECK(!buf_is_zero("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1",
			   35));
	TEST_END();
}

static void test_mem(void)
{
	struct block_file *f = block_file_mem_create("m", "hello", 5, false);
	char buf[16];

	TEST_BEGIN("block_mem_file");
	CHECK_EQ(block_file_length(f), 5);
	CHECK_EQ(block_file_pwrite(f, 10, "x", 1), 0);
	CHECK_EQ(block_file_length(f), 11);
	memset(buf, 1, sizeof(buf));
	CHECK_EQ(block_file_pread(f, 3, buf, 16), 0); /* past the end: zeros */
	CHECK(buf[0] == 'l' && buf[1] == 'o' && buf[2] == 0 && buf[7] == 'x' && buf[8] == 0);
	CHECK_EQ(f->ops->truncate(f, 2), 0);
	CHECK_EQ(block_file_pread(f, 0, buf, 4), 0);
	CHECK(buf[0] == 'h' && buf[2] == 0);
	block_file_mem_set_max(f, 100);
	CHECK_EQ(block_file_pwrite(f, 99, "ab", 2), -ENOSPC);
	block_file_close(f);
	f = block_file_mem_create("ro", "abc", 3, true);
	CHECK_EQ(block_file_pwrite(f, 0, "x", 1), -EROFS);
	block_file_close(f);
	TEST_END();
}

static void test_host_file(void)
{
	char path[] = "/tmp/vireo-test-file.XXXXXX";
	int fd = mkstemp(path);
	struct err err = {{0}};
	static char big[3 << 20];

	TEST_BEGIN("block_host_file_and_raw");
	close(fd);
	struct block_file *f = block_file_open(path, false, BLOCK_CACHE_WRITEBACK, false, &err);

	CHECK(f != NULL);
	if (!f)
		goto out;
	memset(big, 0x42, 65536);
	CHECK_EQ(block_file_pwrite(f, 2 << 20, big, 65536), 0); /* hole before it */
	bool data = true;
	uint64_t pnum = 0;

	CHECK_EQ(f->ops->status(f, 0, 3 << 20, &data, &pnum), 0);
	CHECK(!data && pnum > 0 && pnum <= 2 << 20);
	CHECK_EQ(f->ops->write_zeroes(f, (2 << 20) + 100, 200), 0);
	CHECK_EQ(block_file_pread(f, (2 << 20) + 99, big, 202), 0);
	CHECK(big[0] == 0x42 && big[1] == 0 && big[200] == 0 && big[201] == 0x42);
	block_file_close(f);
	/* The raw driver over it: probing, bounds. */
	struct block_dev *b = block_open(path, NULL, &err);

	CHECK(b && !strcmp(block_format(b), "raw"));
	CHECK_EQ(block_length(b), (2 << 20) + 65536);
	CHECK(block_pread(b, (2 << 20) + 65000, big, 1000, &err) == -EINVAL);
	CHECK(strstr(err.msg, "beyond the disk end") != NULL);
	CHECK_EQ(block_pwrite(b, 0, big, 10, &err), 0);
	block_close(b);
	struct block_open_opts o = {0};

	o.readonly = true;
	b = block_open(path, &o, &err);
	CHECK(b && block_pwrite(b, 0, big, 10, &err) == -EROFS);
	block_close(b);
	/* O_DIRECT: unaligned buffers and offsets through the bounce path. */
	o.readonly = false;

	o.cache = BLOCK_CACHE_NONE;
	o.format = "raw";
	b = block_open(path, &o, &err);
	if (!b) {
		printf("# cache=none unavailable here: %s\n", err.msg);
	} else {
		CHECK_EQ(block_pwrite(b, 4097, "unaligned", 9, &err), 0);
		memset(big, 0, 32);
		CHECK_EQ(block_pread(b, 4096, big + 1, 11, &err), 0);
		CHECK(!memcmp(big + 2, "unaligned", 9));
		CHECK_EQ(block_length(b), (2 << 20) + 65536);
		block_close(b);
	}
out:
	unlink(path);
	TEST_END();
}

int main(void)
{
	test_iov();
	test_mem();
	test_host_file();
	return 0;
}
