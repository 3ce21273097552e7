/* vireo-img bench (as qemu-img bench: the same offset sequence, so both
 * tools can replay one pattern on one image) and the undocumented
 * debug-writer used by the crash-safety test. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "img.h"

int img_cmd_bench(int argc, char **argv)
{
	static const struct option lo[] = { { "pattern", required_argument, 0, 'P' },
					    { 0, 0, 0, 0 } };
	const char *fmt = NULL;
	uint64_t count = 75000, size = 4096, step = 0, offset = 0;
	bool write = false, quiet = false;
	enum block_cache_mode cache = BLOCK_CACHE_WRITEBACK;
	int pattern = 0, c;
	struct err err = { { 0 } };

	while ((c = getopt_long(argc, argv, "c:d:f:no:qs:S:t:wUi:", lo, NULL)) != -1) {
		switch (c) {
		case 'c': count = strtoull(optarg, NULL, 0); break;
		case 'd': break; /* synchronous driver: depth 1 */
		case 'f': fmt = optarg; break;
		case 'n': cache = BLOCK_CACHE_NONE; break;
		case 'o':
			if (img_parse_size(optarg, &offset) < 0)
				return img_fail(1, "invalid offset");
			break;
		case 'q': quiet = true; break;
		case 's':
			if (img_parse_size(optarg, &size) < 0 || !size)
				return img_fail(1, "invalid buffer size");
			break;
		case 'S':
			if (img_parse_size(optarg, &step) < 0)
				return img_fail(1, "invalid step size");
			break;
		case 't':
			if (!strcmp(optarg, "none"))
				cache = BLOCK_CACHE_NONE;
			else if (!strcmp(optarg, "unsafe"))
				cache = BLOCK_CACHE_UNSAFE;
			else
				cache = BLOCK_CACHE_WRITEBACK;
			break;
		case 'w': write = true; break;
		case 'P': pattern = optarg[0]; break;
		case 'U': case 'i': break;
		default: return img_fail(1, "usage: bench [-c N] [-s SIZE] [-S STEP] [-w] [-t CACHE] FILE");
		}
	}
	(void)pattern;
	if (optind >= argc)
		return img_fail(1, "bench: expecting a file name");
	if (!step)
		step = size;
	struct block_open_opts o = { 0 };

	o.format = fmt;
	o.readonly = !write;
	o.cache = cache;
	struct block_dev *b = block_open(argv[optind], &o, &err);

	if (!b)
		return img_fail(1, "%s", err.msg);
	uint64_t isz = block_length(b);
	uint8_t *buf;

	if (size > isz || posix_memalign((void **)&buf, 4096, size)) {
		block_close(b);
		return img_fail(1, "bench: buffer larger than the image");
	}
	memset(buf, 0xa5, size);
	if (!quiet)
		printf("Sending %llu %s requests, %llu bytes each, 1 in parallel (starting at offset "
		       "%llu, step size %llu)\n", (unsigned long long)count, write ? "write" : "read",
		       (unsigned long long)size, (unsigned long long)offset,
		       (unsigned long long)step);
	struct timespec t0, t1;
	int ret = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint64_t i = 0; i < count && ret >= 0; i++) {
		ret = write ? block_pwrite(b, offset, buf, size, &err)
			    : block_pread(b, offset, buf, size, &err);
		/* qemu-img bench's sequence: advance by step, wrap inside the image. */
		offset += step;
		if (isz <= size)
			offset = 0;
		else
			offset %= isz - size;
	}
	if (ret >= 0 && write)
		ret = block_flush(b, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	block_close(b);
	free(buf);
	if (ret < 0)
		return img_fail(1, "bench: %s", err.msg);
	printf("Run completed in %.3f seconds.\n",
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* debug-writer [-f FMT] FILE SEED COUNT: random writes, zeroes, discards
 * and flushes (COUNT 0: until killed). */
int img_cmd_debug_writer(int argc, char **argv)
{
	const char *fmt = NULL;
	struct err err = { { 0 } };
	int c;

	while ((c = getopt(argc, argv, "f:")) != -1)
		if (c == 'f')
			fmt = optarg;
	if (optind + 3 != argc)
		return img_fail(1, "usage: debug-writer [-f FMT] FILE SEED COUNT");
	uint64_t seed = strtoull(argv[optind + 1], NULL, 0) * 2654435761u + 1;
	uint64_t count = strtoull(argv[optind + 2], NULL, 0);
	struct block_dev *b = img_open(argv[optind], fmt, true, false, &err);

	if (!b)
		return img_fail(1, "%s", err.msg);
	uint64_t len = block_length(b);
	uint8_t *buf = malloc(256 << 10);
	int ret = buf ? 0 : -ENOMEM;

	for (uint64_t i = 0; (!count || i < count) && ret >= 0 && len >= 512; i++) {
		uint64_t r = rnd(&seed), n = ((rnd(&seed) % 256) + 1) * 512;
		uint64_t off = (rnd(&seed) % (len / 512)) * 512;

		if (n > len - off)
			n = len - off;
		switch (r % 16) {
		case 0:
			ret = block_flush(b, &err);
			break;
		case 1:
			ret = block_discard(b, off, n, &err);
			break;
		case 2:
			ret = block_write_zeroes(b, off, n, 0, &err);
			break;
		default:
			memset(buf, (int)(r >> 8), n);
			for (uint64_t k = 0; k < n; k += 512)
				memcpy(buf + k, &i, sizeof(i));
			ret = block_pwrite(b, off, buf, n, &err);
		}
	}
	free(buf);
	if (ret >= 0)
		ret = block_flush(b, &err);
	block_close(b);
	if (ret < 0)
		return img_fail(1, "debug-writer: %s", err.msg);
	return 0;
}
