/* vireo-img: create, inspect, check, convert and modify disk images, in
 * qemu-img's spirit (same subcommands, options, JSON field names and exit
 * codes where they mean the same thing). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img.h"

int img_fail(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("vireo-img: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

int img_parse_size(const char *s, uint64_t *out)
{
	char *end;
	double v;

	if (!s || !*s || !(isdigit((unsigned char)*s) || *s == '.'))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || v < 0)
		return -EINVAL;
	uint64_t mul = 1;

	switch (*end) {
	case 0:
		break;
	case 'b': case 'B': mul = 1; end++; break;
	case 'k': case 'K': mul = 1ULL << 10; end++; break;
	case 'm': case 'M': mul = 1ULL << 20; end++; break;
	case 'g': case 'G': mul = 1ULL << 30; end++; break;
	case 't': case 'T': mul = 1ULL << 40; end++; break;
	case 'p': case 'P': mul = 1ULL << 50; end++; break;
	case 'e': case 'E': mul = 1ULL << 60; end++; break;
	default:
		return -EINVAL;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end || v * (double)mul >= 18446744073709551616.0)
		return -EINVAL;
	*out = (uint64_t)(v * (double)mul);
	return 0;
}

struct block_dev *img_open(const char *path, const char *fmt, bool rw, bool no_backing,
			   struct err *err)
{
	struct block_open_opts o = { 0 };

	o.format = fmt;
	o.readonly = !rw;
	o.no_backing = no_backing;
	return block_open(path, &o, err);
}

void img_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

void img_human_size(uint64_t v, char *buf, size_t n)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double d = (double)v;
	int u = 0;

	while (d >= 1024 && u < 6)
		d /= 1024, u++;
	if (u == 0)
		snprintf(buf, n, "%llu B", (unsigned long long)v);
	else
		snprintf(buf, n, "%.3g %s", d, units[u]);
}

static void usage(FILE *f)
{
	fputs("usage: vireo-img COMMAND [options]\n"
	      "  create [-f raw|qcow2] [-b BACKING [-F FMT]] [-o cluster_size=,compression_type=,"
	      "lazy_refcounts=,compat=,refcount_bits=] FILE [SIZE]\n"
	      "  info [-f FMT] [--output=human|json] [--backing-chain] FILE\n"
	      "  check [-f FMT] [-r leaks|all] [--output=human|json] FILE\n"
	      "  convert [-f FMT] [-O FMT] [-c] [-p] [-o OPTIONS] SRC DST\n"
	      "  resize [-f FMT] [--shrink] FILE [+|-]SIZE\n"
	      "  snapshot -c|-l|-a|-d NAME FILE   (-l takes no NAME)\n"
	      "  commit [-f FMT] [-d] FILE\n"
	      "  rebase [-f FMT] [-u] -b BACKING [-F FMT] FILE\n"
	      "  map [-f FMT] [--output=human|json] FILE\n"
	      "  compare [-f FMT] [-F FMT] [-s] A B\n"
	      "  bench [-f FMT] [-c COUNT] [-s SIZE] [-w] [--pattern=seq|random] [-t none|writeback] FILE\n"
	      "Sizes take k, M, G, T suffixes (powers of 1024).\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "create", img_cmd_create },	  { "info", img_cmd_info },
		{ "check", img_cmd_check },	  { "map", img_cmd_map },
		{ "snapshot", img_cmd_snapshot }, { "convert", img_cmd_convert },
		{ "resize", img_cmd_resize },	  { "commit", img_cmd_commit },
		{ "rebase", img_cmd_rebase },	  { "compare", img_cmd_compare },
		{ "bench", img_cmd_bench },
		/* Undocumented: random writes for the crash-safety test. */
		{ "debug-writer", img_cmd_debug_writer },
	};

	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("vireo-img version %s\n", VIREO_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	return img_fail(1, "unknown command '%s' (try --help)", argv[1]);
}
