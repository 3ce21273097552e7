/* vireo-img convert, resize, commit, rebase and compare. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "img.h"

#define IMG_CHUNK (2u << 20)

int img_parse_create_opts(char *opts, struct block_create_opts *co);

static void progress(bool on, uint64_t done, uint64_t total)
{
	if (!on)
		return;
	printf("    (%.2f/100%%)\r", total ? (double)done * 100 / (double)total : 100.0);
	fflush(stdout);
}

/* Copy [0, len) of src to dst, skipping what reads as zeros (dst is new and
 * reads as zeros already). g: zero-detection granularity. */
static int copy_data(struct block_dev *src, struct block_dev *dst, uint64_t len, bool compress,
		     bool prog, struct err *err)
{
	uint32_t cs = block_cluster_size(dst);
	uint64_t g = cs ? cs : 4096, chunk = IMG_CHUNK;
	uint8_t *buf;
	int ret = 0;

	if (chunk < g)
		chunk = g;
	if (posix_memalign((void **)&buf, 4096, chunk))
		return err_errno(err, ENOMEM, "convert");
	for (uint64_t off = 0; off < len && ret >= 0;) {
		uint64_t n = len - off < chunk ? len - off : chunk, pnum;
		struct block_status st;

		ret = block_get_status(src, off, n, &pnum, &st, err);
		if (ret < 0)
			break;
		if (!st.data || (st.zero && !st.data)) {
			off += pnum; /* a hole or zeros: nothing to write */
			progress(prog, off, len);
			continue;
		}
		/* Keep chunks aligned to g so compressed writes get whole clusters. */
		if (pnum < n) {
			uint64_t e = (off + pnum + g - 1) / g * g;

			n = (e > off + n ? off + n : e) - off;
		}
		ret = block_pread(src, off, buf, n, err);
		if (ret < 0)
			break;
		for (uint64_t p = 0; p < n && ret >= 0;) {
			uint64_t b = g - (off + p) % g;

			if (b > n - p)
				b = n - p;
			if (buf_is_zero(buf + p, b)) {
				p += b;
				continue;
			}
			if (compress) {
				ret = block_write_compressed(dst, off + p, buf + p, b, err);
				p += b;
				continue;
			}
			uint64_t q = p + b; /* extend over following non-zero blocks */

			while (q < n) {
				uint64_t b2 = g < n - q ? g : n - q;

				if (buf_is_zero(buf + q, b2))
					break;
				q += b2;
			}
			ret = block_pwrite(dst, off + p, buf + p, q - p, err);
			p = q;
		}
		off += n;
		progress(prog, off, len);
	}
	free(buf);
	return ret;
}

int img_cmd_convert(int argc, char **argv)
{
	struct block_create_opts co = { 0 };
	const char *sfmt = NULL, *ofmt = "raw";
	bool compress = false, prog = false;
	struct err err = { { 0 } };
	int c;

	while ((c = getopt(argc, argv, "f:O:co:pqt:T:nUW")) != -1) {
		switch (c) {
		case 'f': sfmt = optarg; break;
		case 'O': ofmt = optarg; break;
		case 'c': compress = true; break;
		case 'o':
			if (img_parse_create_opts(optarg, &co) < 0)
				return 1;
			break;
		case 'p': prog = true; break;
		case 'q': prog = false; break;
		case 't': case 'T': case 'n': case 'U': case 'W': break;
		default: return img_fail(1, "usage: convert [-f FMT] [-O FMT] [-c] [-p] SRC DST");
		}
	}
	if (optind + 2 != argc)
		return img_fail(1, "convert: expecting SRC and DST");
	prog = prog && isatty(STDOUT_FILENO);
	if (compress && strcmp(ofmt, "qcow2"))
		return img_fail(1, "convert: -c needs -O qcow2");
	struct block_dev *src = img_open(argv[optind], sfmt, false, false, &err);

	if (!src)
		return img_fail(1, "%s", err.msg);
	co.format = ofmt;
	co.size = block_length(src);
	if (co.backing)
		return img_fail(1, "convert: -o backing_file is not supported");
	if (block_create(argv[optind + 1], &co, &err) < 0) {
		block_close(src);
		return img_fail(1, "%s: %s", argv[optind + 1], err.msg);
	}
	struct block_open_opts o = { 0 };

	o.format = ofmt;
	o.cache = BLOCK_CACHE_UNSAFE; /* as qemu-img: one flush at the end */
	struct block_dev *dst = block_open(argv[optind + 1], &o, &err);

	if (!dst) {
		block_close(src);
		return img_fail(1, "%s", err.msg);
	}
	int ret = copy_data(src, dst, block_length(src), compress, prog, &err);

	if (ret >= 0)
		ret = block_flush(dst, &err);
	if (prog)
		printf("    (100.00/100%%)\n");
	block_close(src);
	block_close(dst);
	if (ret < 0)
		return img_fail(1, "convert: %s", err.msg);
	return 0;
}

int img_cmd_resize(int argc, char **argv)
{
	static const struct option lo[] = { { "shrink", no_argument, 0, 'S' }, { 0, 0, 0, 0 } };
	const char *fmt = NULL;
	bool shrink = false;
	struct err err = { { 0 } };
	int c;

	while ((c = getopt_long(argc, argv, "f:q", lo, NULL)) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'S': shrink = true; break;
		case 'q': break;
		default: return img_fail(1, "usage: resize [-f FMT] [--shrink] FILE [+|-]SIZE");
		}
	}
	/* A size of "-1G" looks like an option to getopt: take it as the last word. */
	if (optind + 2 != argc)
		return img_fail(1, "usage: resize [-f FMT] [--shrink] FILE [+|-]SIZE");
	const char *s = argv[optind + 1];
	int sign = 0;
	uint64_t v, size;

	if (*s == '+' || *s == '-')
		sign = *s == '+' ? 1 : -1, s++;
	if (img_parse_size(s, &v) < 0)
		return img_fail(1, "invalid size '%s'", argv[optind + 1]);
	struct block_dev *b = img_open(argv[optind], fmt, true, false, &err);

	if (!b)
		return img_fail(1, "%s", err.msg);
	uint64_t cur = block_length(b);

	if (sign < 0 && v > cur) {
		block_close(b);
		return img_fail(1, "image size cannot be negative");
	}
	size = sign > 0 ? cur + v : sign < 0 ? cur - v : v;
	if (size < cur && !shrink) {
		block_close(b);
		return img_fail(1, "Use the --shrink option to perform a shrink operation.");
	}
	int ret = block_truncate(b, size, &err);

	if (ret >= 0)
		ret = block_flush(b, &err);
	block_close(b);
	if (ret < 0)
		return img_fail(1, "resize: %s", err.msg);
	printf("Image resized.\n");
	return 0;
}

int img_cmd_commit(int argc, char **argv)
{
	const char *fmt = NULL;
	bool keep = false;
	struct err err = { { 0 } };
	int c;

	while ((c = getopt(argc, argv, "f:dqpt:")) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'd': keep = true; break;
		case 'q': case 'p': case 't': break;
		default: return img_fail(1, "usage: commit [-f FMT] [-d] FILE");
		}
	}
	if (optind >= argc)
		return img_fail(1, "commit: expecting a file name");
	struct block_dev *top = img_open(argv[optind], fmt, !keep, false, &err);

	if (!top)
		return img_fail(1, "%s", err.msg);
	struct qcow2_info qi;

	if (!qcow2_is(top) || qcow2_get_info(top, &qi) < 0 || !qi.backing_name ||
	    !block_backing(top)) {
		block_close(top);
		return img_fail(1, "commit: '%s' has no backing file", argv[optind]);
	}
	/* The chain's backing is open read-only; open the same file writable. */
	char *bpath = block_resolve_name(block_filename(top), qi.backing_name);
	struct block_dev *base = bpath ? img_open(bpath, block_format(block_backing(top)), true, false,
						  &err)
				       : NULL;

	free(bpath);
	if (!base) {
		block_close(top);
		return img_fail(1, "commit: backing file: %s", err.msg);
	}
	uint64_t len = block_length(top), blen = block_length(base), off = 0, pnum;
	uint8_t *buf = malloc(IMG_CHUNK);
	int ret = buf ? 0 : err_errno(&err, ENOMEM, "commit");

	if (ret >= 0 && len > blen)
		ret = block_truncate(base, len, &err);
	while (ret >= 0 && off < len) {
		struct block_status st;
		uint64_t n = len - off < IMG_CHUNK ? len - off : IMG_CHUNK;

		ret = block_get_status(top, off, n, &pnum, &st, &err);
		if (ret < 0)
			break;
		if (st.depth == 0 && st.present) {
			if (st.zero && !st.data)
				ret = block_write_zeroes(base, off, pnum, 0, &err);
			else if ((ret = block_pread(top, off, buf, pnum, &err)) >= 0)
				ret = block_pwrite(base, off, buf, pnum, &err);
		}
		off += pnum;
	}
	free(buf);
	if (ret >= 0)
		ret = block_flush(base, &err);
	block_close(base);
	/* Empty the top image now that its data lives in the base, as qemu-img. */
	if (ret >= 0 && !keep)
		ret = block_discard(top, 0, len, &err);
	if (ret >= 0 && !keep)
		ret = block_flush(top, &err);
	block_close(top);
	if (ret < 0)
		return img_fail(1, "commit: %s", err.msg);
	printf("Image committed.\n");
	return 0;
}

int img_cmd_rebase(int argc, char **argv)
{
	const char *fmt = NULL, *nb = NULL, *nbfmt = NULL;
	bool unsafe = false;
	struct err err = { { 0 } };
	int c;

	while ((c = getopt(argc, argv, "f:b:F:uqpt:T:U")) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'b': nb = optarg; break;
		case 'F': nbfmt = optarg; break;
		case 'u': unsafe = true; break;
		case 'q': case 'p': case 't': case 'T': case 'U': break;
		default: return img_fail(1, "usage: rebase [-f FMT] [-u] -b BACKING [-F FMT] FILE");
		}
	}
	if (optind >= argc || !nb)
		return img_fail(1, "usage: rebase [-f FMT] [-u] -b BACKING [-F FMT] FILE");
	struct block_dev *b = img_open(argv[optind], fmt, true, unsafe, &err);

	if (!b)
		return img_fail(1, "%s", err.msg);
	if (!qcow2_is(b)) {
		block_close(b);
		return img_fail(1, "rebase: '%s' is not a qcow2 image", argv[optind]);
	}
	int ret = 0;
	struct block_dev *newb = NULL;

	if (nb[0]) {
		char *p = block_resolve_name(block_filename(b), nb);

		newb = p ? img_open(p, nbfmt, false, false, &err) : NULL;
		free(p);
		if (!newb) {
			block_close(b);
			return img_fail(1, "rebase: new backing file: %s", err.msg);
		}
		if (!nbfmt)
			nbfmt = block_format(newb);
	}
	if (!unsafe) {
		/* Where this image shows its old backing, keep what it showed: copy
		 * it in wherever the new backing differs. */
		struct block_dev *oldb = block_backing(b);
		uint64_t len = block_length(b), off = 0, pnum;
		uint8_t *a = malloc(IMG_CHUNK), *bb = malloc(IMG_CHUNK);

		if (!a || !bb)
			ret = err_errno(&err, ENOMEM, "rebase");
		while (ret >= 0 && off < len) {
			struct block_status st;
			uint64_t n = len - off < IMG_CHUNK ? len - off : IMG_CHUNK;

			ret = block_get_status(b, off, n, &pnum, &st, &err);
			if (ret < 0 || st.depth == 0) {
				off += pnum;
				continue;
			}
			uint64_t ol = oldb ? block_length(oldb) : 0, nl = newb ? block_length(newb) : 0;

			memset(a, 0, pnum);
			memset(bb, 0, pnum);
			if (off < ol)
				ret = block_pread(oldb, off, a, ol - off < pnum ? ol - off : pnum, &err);
			if (ret >= 0 && off < nl)
				ret = block_pread(newb, off, bb, nl - off < pnum ? nl - off : pnum, &err);
			if (ret >= 0 && memcmp(a, bb, pnum))
				ret = block_pwrite(b, off, a, pnum, &err);
			off += pnum;
		}
		free(a);
		free(bb);
	}
	if (ret >= 0)
		ret = block_set_backing(b, nb, nb[0] ? nbfmt : NULL, &err);
	if (ret >= 0)
		ret = block_flush(b, &err);
	block_close(newb);
	block_close(b);
	if (ret < 0)
		return img_fail(1, "rebase: %s", err.msg);
	return 0;
}

int img_cmd_compare(int argc, char **argv)
{
	const char *fa = NULL, *fb = NULL;
	bool strict = false;
	struct err err = { { 0 } };
	int c;

	while ((c = getopt(argc, argv, "f:F:sqpU")) != -1) {
		switch (c) {
		case 'f': fa = optarg; break;
		case 'F': fb = optarg; break;
		case 's': strict = true; break;
		case 'q': case 'p': case 'U': break;
		default: return img_fail(2, "usage: compare [-f FMT] [-F FMT] [-s] A B");
		}
	}
	if (optind + 2 != argc)
		return img_fail(2, "compare: expecting two images");
	struct block_dev *a = img_open(argv[optind], fa, false, false, &err);

	if (!a)
		return img_fail(2, "%s", err.msg);
	struct block_dev *b = img_open(argv[optind + 1], fb, false, false, &err);

	if (!b) {
		block_close(a);
		return img_fail(2, "%s", err.msg);
	}
	uint64_t la = block_length(a), lb = block_length(b), lmax = la > lb ? la : lb;
	uint8_t *x = malloc(IMG_CHUNK), *y = malloc(IMG_CHUNK);
	int rc = 0;

	if (!x || !y) {
		rc = img_fail(2, "out of memory");
		goto out;
	}
	if (la != lb) {
		if (strict) {
			rc = 1;
			printf("Strict mode: Image size mismatch!\n");
			goto out;
		}
		printf("Warning: Image size mismatch!\n");
	}
	for (uint64_t off = 0; off < lmax; off += IMG_CHUNK) {
		uint64_t n = lmax - off < IMG_CHUNK ? lmax - off : IMG_CHUNK;

		memset(x, 0, n);
		memset(y, 0, n);
		if (off < la && block_pread(a, off, x, la - off < n ? la - off : n, &err) < 0) {
			rc = img_fail(2, "%s", err.msg);
			goto out;
		}
		if (off < lb && block_pread(b, off, y, lb - off < n ? lb - off : n, &err) < 0) {
			rc = img_fail(2, "%s", err.msg);
			goto out;
		}
		if (memcmp(x, y, n)) {
			uint64_t i = 0;

			while (x[i] == y[i])
				i++;
			printf("Content mismatch at offset %llu!\n",
			       (unsigned long long)((off + i) & ~511ULL));
			rc = 1;
			goto out;
		}
	}
	printf("Images are identical.\n");
out:
	free(x);
	free(y);
	block_close(a);
	block_close(b);
	return rc;
}
