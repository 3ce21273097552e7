/* vireo-img create, info, check, map and snapshot. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block/qcow2.h"
#include "img.h"

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

/* -o key=value[,key=value...]; the strings point into opts (modified). */
int img_parse_create_opts(char *opts, struct block_create_opts *co);
int img_parse_create_opts(char *opts, struct block_create_opts *co)
{
	for (char *save = NULL, *kv = strtok_r(opts, ",", &save); kv;
	     kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');
		uint64_t n;

		if (!v)
			return img_fail(-1, "option '%s' needs a value", kv);
		*v++ = 0;
		if (!strcmp(kv, "cluster_size")) {
			if (img_parse_size(v, &n) < 0 || n > (2u << 20))
				return img_fail(-1, "invalid cluster_size '%s'", v);
			co->cluster_size = (uint32_t)n;
		} else if (!strcmp(kv, "compression_type")) {
			co->compression = v;
		} else if (!strcmp(kv, "lazy_refcounts")) {
			if (parse_bool(v, &co->lazy_refcounts) < 0)
				return img_fail(-1, "invalid lazy_refcounts '%s'", v);
		} else if (!strcmp(kv, "compat")) {
			if (!strcmp(v, "0.10") || !strcmp(v, "v2"))
				co->version = 2;
			else if (!strcmp(v, "1.1") || !strcmp(v, "v3"))
				co->version = 3;
			else
				return img_fail(-1, "invalid compat '%s'", v);
		} else if (!strcmp(kv, "refcount_bits")) {
			co->refcount_bits = atoi(v);
		} else if (!strcmp(kv, "backing_file")) {
			co->backing = v;
		} else if (!strcmp(kv, "backing_fmt")) {
			co->backing_fmt = v;
		} else if (!strcmp(kv, "size")) {
			if (img_parse_size(v, &co->size) < 0)
				return img_fail(-1, "invalid size '%s'", v);
		} else {
			return img_fail(-1, "unknown option '%s'", kv);
		}
	}
	return 0;
}

int img_cmd_create(int argc, char **argv)
{
	struct block_create_opts co = { 0 };
	const char *fmt = "raw";
	bool quiet = false, have_size = false;
	struct err err = { { 0 } };
	int c;

	while ((c = getopt(argc, argv, "f:b:F:o:quh")) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'b': co.backing = optarg; break;
		case 'F': co.backing_fmt = optarg; break;
		case 'o':
			if (img_parse_create_opts(optarg, &co) < 0)
				return 1;
			break;
		case 'q': quiet = true; break;
		case 'u': break;
		default: return img_fail(1, "usage: create [-f FMT] [-b BACKING -F FMT] [-o OPTS] FILE [SIZE]");
		}
	}
	if (optind >= argc)
		return img_fail(1, "create: expecting a file name");
	const char *file = argv[optind];

	if (optind + 1 < argc) {
		if (img_parse_size(argv[optind + 1], &co.size) < 0)
			return img_fail(1, "invalid image size '%s'", argv[optind + 1]);
		have_size = true;
	}
	co.format = fmt;
	if (co.backing && strcmp(fmt, "qcow2"))
		return img_fail(1, "format '%s' does not support backing files", fmt);
	if (co.backing && !have_size) {
		char *p = block_resolve_name(file, co.backing);
		struct block_dev *bk = p ? img_open(p, co.backing_fmt, false, false, &err) : NULL;

		free(p);
		if (!bk)
			return img_fail(1, "could not open backing file: %s", err.msg);
		co.size = block_length(bk);
		if (!co.backing_fmt)
			co.backing_fmt = strdup(block_format(bk));
		block_close(bk);
		have_size = true;
	}
	if (!have_size)
		return img_fail(1, "create: an image size is required");
	if (block_create(file, &co, &err) < 0)
		return img_fail(1, "%s: %s", file, err.msg);
	if (!quiet) {
		printf("Formatting '%s', fmt=%s size=%llu", file, fmt, (unsigned long long)co.size);
		if (co.backing)
			printf(" backing_file=%s", co.backing);
		if (co.backing_fmt)
			printf(" backing_fmt=%s", co.backing_fmt);
		printf("\n");
	}
	return 0;
}

static void print_snapshots_json(struct block_dev *b)
{
	struct qcow2_snapshot_info *s;
	struct err err = { { 0 } };
	int n = qcow2_snapshot_list(b, &s, &err);

	if (n <= 0) {
		if (n == 0)
			free(s);
		return;
	}
	printf("    \"snapshots\": [\n");
	for (int i = 0; i < n; i++) {
		printf("        {\n            \"icount\": %llu,\n", (unsigned long long)s[i].icount);
		printf("            \"vm-clock-nsec\": %llu,\n",
		       (unsigned long long)(s[i].vm_clock_nsec % 1000000000ULL));
		printf("            \"name\": ");
		img_json_string(s[i].name);
		printf(",\n            \"date-sec\": %u,\n", s[i].date_sec);
		printf("            \"date-nsec\": %u,\n", s[i].date_nsec);
		printf("            \"vm-clock-sec\": %llu,\n",
		       (unsigned long long)(s[i].vm_clock_nsec / 1000000000ULL));
		printf("            \"id\": ");
		img_json_string(s[i].id);
		printf(",\n            \"vm-state-size\": %llu\n        }%s\n",
		       (unsigned long long)s[i].vm_state_size, i + 1 < n ? "," : "");
	}
	printf("    ],\n");
	free(s);
}

static void print_snapshot_table(struct block_dev *b, bool header)
{
	struct qcow2_snapshot_info *s;
	struct err err = { { 0 } };
	int n = qcow2_snapshot_list(b, &s, &err);

	if (n < 0)
		return;
	if (n > 0 || header) {
		printf("Snapshot list:\n");
		printf("ID        TAG               VM SIZE                DATE     VM CLOCK     "
		       "ICOUNT\n");
	}
	for (int i = 0; i < n; i++) {
		char date[32], vs[32];
		time_t t = s[i].date_sec;
		struct tm tm;
		uint64_t ns = s[i].vm_clock_nsec, sec = ns / 1000000000ULL;

		localtime_r(&t, &tm);
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
		img_human_size(s[i].vm_state_size, vs, sizeof(vs));
		printf("%-9s %-17s %7s %s %02llu:%02llu:%02llu.%03llu %10llu\n", s[i].id, s[i].name,
		       vs, date, (unsigned long long)(sec / 3600),
		       (unsigned long long)(sec / 60 % 60), (unsigned long long)(sec % 60),
		       (unsigned long long)(ns / 1000000 % 1000), (unsigned long long)s[i].icount);
	}
	free(s);
}

static void info_one(struct block_dev *b, bool json, bool last)
{
	struct block_file *f = block_get_file(b);
	int64_t actual = f->ops->allocated(f);
	struct qcow2_info qi;
	bool q = qcow2_is(b);
	char *full = NULL;

	if (q)
		qcow2_get_info(b, &qi);
	if (q && qi.backing_name)
		full = block_resolve_name(block_filename(b), qi.backing_name);
	if (json) {
		printf("{\n");
		if (q && qi.backing_fmt) {
			printf("    \"backing-filename-format\": ");
			img_json_string(qi.backing_fmt);
			printf(",\n");
		}
		if (q)
			print_snapshots_json(b);
		printf("    \"virtual-size\": %llu,\n", (unsigned long long)block_length(b));
		printf("    \"filename\": ");
		img_json_string(block_filename(b));
		printf(",\n");
		if (q)
			printf("    \"cluster-size\": %u,\n", block_cluster_size(b));
		printf("    \"format\": \"%s\",\n", block_format(b));
		if (actual >= 0)
			printf("    \"actual-size\": %lld,\n", (long long)actual);
		if (q) {
			printf("    \"format-specific\": {\n        \"type\": \"qcow2\",\n"
			       "        \"data\": {\n");
			printf("            \"compat\": \"%s\",\n", qi.version >= 3 ? "1.1" : "0.10");
			if (qi.version >= 3) {
				printf("            \"compression-type\": \"%s\",\n", qi.compression);
				printf("            \"lazy-refcounts\": %s,\n",
				       qi.lazy_refcounts ? "true" : "false");
			}
			printf("            \"refcount-bits\": %d,\n", qi.refcount_bits);
			printf("            \"corrupt\": %s", qi.corrupt ? "true" : "false");
			if (qi.version >= 3)
				printf(",\n            \"extended-l2\": false");
			printf("\n        }\n    },\n");
			if (qi.backing_name) {
				printf("    \"full-backing-filename\": ");
				img_json_string(full ? full : qi.backing_name);
				printf(",\n    \"backing-filename\": ");
				img_json_string(qi.backing_name);
				printf(",\n");
			}
		}
		printf("    \"dirty-flag\": %s\n}%s\n", q && qi.dirty ? "true" : "false",
		       last ? "" : ",");
	} else {
		char vs[32], ds[32];

		img_human_size(block_length(b), vs, sizeof(vs));
		img_human_size(actual >= 0 ? (uint64_t)actual : 0, ds, sizeof(ds));
		printf("image: %s\nfile format: %s\n", block_filename(b), block_format(b));
		printf("virtual size: %s (%llu bytes)\ndisk size: %s\n", vs,
		       (unsigned long long)block_length(b), ds);
		if (q) {
			printf("cluster_size: %u\n", block_cluster_size(b));
			if (qi.backing_name) {
				printf("backing file: %s", qi.backing_name);
				if (full && strcmp(full, qi.backing_name))
					printf(" (actual path: %s)", full);
				printf("\n");
				if (qi.backing_fmt)
					printf("backing file format: %s\n", qi.backing_fmt);
			}
			print_snapshot_table(b, false);
			printf("Format specific information:\n    compat: %s\n",
			       qi.version >= 3 ? "1.1" : "0.10");
			if (qi.version >= 3)
				printf("    compression type: %s\n    lazy refcounts: %s\n",
				       qi.compression, qi.lazy_refcounts ? "true" : "false");
			printf("    refcount bits: %d\n    corrupt: %s\n", qi.refcount_bits,
			       qi.corrupt ? "true" : "false");
			if (qi.version >= 3)
				printf("    extended l2: false\n");
		}
	}
	free(full);
}

int img_cmd_info(int argc, char **argv)
{
	static const struct option lo[] = { { "output", required_argument, 0, 'O' },
					    { "backing-chain", no_argument, 0, 'B' },
					    { "force-share", no_argument, 0, 'U' },
					    { 0, 0, 0, 0 } };
	const char *fmt = NULL;
	bool json = false, chain = false;
	struct err err = { { 0 } };
	int c;

	while ((c = getopt_long(argc, argv, "f:U", lo, NULL)) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'O':
			if (strcmp(optarg, "json") && strcmp(optarg, "human"))
				return img_fail(1, "--output must be human or json");
			json = !strcmp(optarg, "json");
			break;
		case 'B': chain = true; break;
		case 'U': break;
		default: return img_fail(1, "usage: info [-f FMT] [--output=FMT] [--backing-chain] FILE");
		}
	}
	if (optind >= argc)
		return img_fail(1, "info: expecting a file name");
	/* Without --backing-chain the backing file need not exist. */
	struct block_dev *b = img_open(argv[optind], fmt, false, !chain, &err);

	if (!b)
		return img_fail(1, "%s", err.msg);
	if (chain && json)
		printf("[\n");
	for (struct block_dev *p = b; p; p = chain ? block_backing(p) : NULL) {
		bool last = !chain || !block_backing(p);

		info_one(p, json, !chain || last);
		if (chain && !json && !last)
			printf("\n");
	}
	if (chain && json)
		printf("]\n");
	block_close(b);
	return 0;
}

int img_cmd_check(int argc, char **argv)
{
	static const struct option lo[] = { { "output", required_argument, 0, 'O' },
					    { "force-share", no_argument, 0, 'U' },
					    { 0, 0, 0, 0 } };
	const char *fmt = NULL;
	bool json = false, quiet = false;
	unsigned fix = 0;
	struct err err = { { 0 } };
	int c;

	while ((c = getopt_long(argc, argv, "f:r:qU", lo, NULL)) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'r':
			if (!strcmp(optarg, "leaks"))
				fix = QCOW2_FIX_LEAKS;
			else if (!strcmp(optarg, "all"))
				fix = QCOW2_FIX_LEAKS | QCOW2_FIX_ERRORS;
			else
				return img_fail(1, "-r takes 'leaks' or 'all'");
			break;
		case 'O': json = !strcmp(optarg, "json"); break;
		case 'q': quiet = true; break;
		case 'U': break;
		default: return img_fail(1, "usage: check [-f FMT] [-r leaks|all] [--output=FMT] FILE");
		}
	}
	if (optind >= argc)
		return img_fail(1, "check: expecting a file name");
	struct block_open_opts o = { 0 };

	o.format = fmt;
	o.readonly = !fix;
	o.no_backing = true;
	o.allow_corrupt_write = fix & QCOW2_FIX_ERRORS;
	o.no_dirty_repair = true;
	struct block_dev *b = block_open(argv[optind], &o, &err);

	if (!b)
		return img_fail(1, "%s", err.msg);
	if (!qcow2_is(b)) {
		block_close(b);
		return img_fail(63, "This image format does not support checks");
	}
	struct qcow2_check_result r, r2;

	if (qcow2_check(b, fix, &r, &err) < 0) {
		block_close(b);
		return img_fail(1, "check failed: %s", err.msg);
	}
	if (fix && (r.leaks_fixed || r.corruptions_fixed)) {
		if (!json && !quiet)
			printf("The following inconsistencies were found and repaired:\n\n"
			       "    %llu leaked clusters\n    %llu corruptions\n\n"
			       "Double checking the fixed image now...\n",
			       (unsigned long long)r.leaks_fixed,
			       (unsigned long long)r.corruptions_fixed);
		if (qcow2_check(b, 0, &r2, &err) < 0) {
			block_close(b);
			return img_fail(1, "check failed: %s", err.msg);
		}
		r2.leaks_fixed = r.leaks_fixed;
		r2.corruptions_fixed = r.corruptions_fixed;
		r = r2;
	}
	if (json) {
		printf("{\n    \"image-end-offset\": %llu,\n    \"total-clusters\": %llu,\n"
		       "    \"check-errors\": %llu,\n",
		       (unsigned long long)r.image_end_offset, (unsigned long long)r.total_clusters,
		       (unsigned long long)r.check_errors);
		if (r.leaks)
			printf("    \"leaks\": %llu,\n", (unsigned long long)r.leaks);
		if (r.corruptions)
			printf("    \"corruptions\": %llu,\n", (unsigned long long)r.corruptions);
		if (r.leaks_fixed)
			printf("    \"leaks-fixed\": %llu,\n", (unsigned long long)r.leaks_fixed);
		if (r.corruptions_fixed)
			printf("    \"corruptions-fixed\": %llu,\n",
			       (unsigned long long)r.corruptions_fixed);
		printf("    \"allocated-clusters\": %llu,\n    \"filename\": ",
		       (unsigned long long)r.allocated_clusters);
		img_json_string(block_filename(b));
		printf(",\n    \"format\": \"qcow2\",\n    \"fragmented-clusters\": %llu,\n"
		       "    \"compressed-clusters\": %llu\n}\n",
		       (unsigned long long)r.fragmented_clusters,
		       (unsigned long long)r.compressed_clusters);
	} else if (!quiet) {
		if (!r.corruptions && !r.leaks && !r.check_errors)
			printf("No errors were found on the image.\n");
		if (r.corruptions)
			printf("\n%llu errors were found on the image.\nData may be corrupted, or "
			       "further writes to the image may corrupt it.\n",
			       (unsigned long long)r.corruptions);
		if (r.leaks)
			printf("\n%llu leaked clusters were found on the image.\nThis means waste "
			       "of disk space, but no harm to data.\n",
			       (unsigned long long)r.leaks);
		double t = r.total_clusters ? (double)r.total_clusters : 1;

		printf("%llu/%llu = %.2f%% allocated, %.2f%% fragmented, %.2f%% compressed "
		       "clusters\nImage end offset: %llu\n",
		       (unsigned long long)r.allocated_clusters, (unsigned long long)r.total_clusters,
		       (double)r.allocated_clusters * 100 / t,
		       r.allocated_clusters ? (double)r.fragmented_clusters * 100 /
						      (double)r.allocated_clusters : 0.0,
		       r.allocated_clusters ? (double)r.compressed_clusters * 100 /
						      (double)r.allocated_clusters : 0.0,
		       (unsigned long long)r.image_end_offset);
	}
	block_close(b);
	if (r.corruptions)
		return 2;
	if (r.leaks)
		return 3;
	return 0;
}

int img_cmd_map(int argc, char **argv)
{
	static const struct option lo[] = { { "output", required_argument, 0, 'O' },
					    { 0, 0, 0, 0 } };
	const char *fmt = NULL;
	bool json = false;
	struct err err = { { 0 } };
	int c;

	while ((c = getopt_long(argc, argv, "f:U", lo, NULL)) != -1) {
		switch (c) {
		case 'f': fmt = optarg; break;
		case 'O': json = !strcmp(optarg, "json"); break;
		case 'U': break;
		default: return img_fail(1, "usage: map [-f FMT] [--output=FMT] FILE");
		}
	}
	if (optind >= argc)
		return img_fail(1, "map: expecting a file name");
	struct block_dev *b = img_open(argv[optind], fmt, false, false, &err);

	if (!b)
		return img_fail(1, "%s", err.msg);
	uint64_t len = block_length(b), off = 0, pnum;
	struct block_status cur = { 0 }, st = { 0 };
	uint64_t cur_start = 0, cur_len = 0;
	bool first = true, have = false;
	int ret = 0;

	if (json)
		printf("[");
	else
		printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
	for (;;) {
		bool end = off >= len;

		if (!end) {
			ret = block_get_status(b, off, len - off > (1ULL << 30) ? 1ULL << 30 : len - off,
					       &pnum, &st, &err);
			if (ret < 0)
				break;
		}
		if (have && !end && st.data == cur.data && st.zero == cur.zero &&
		    st.present == cur.present && st.depth == cur.depth &&
		    st.compressed == cur.compressed && st.has_offset == cur.has_offset &&
		    (!st.has_offset || st.host_off == cur.host_off + cur_len) &&
		    st.file == cur.file) {
			cur_len += pnum;
		} else {
			if (have && json) {
				printf("%s{ \"start\": %llu, \"length\": %llu, \"depth\": %d, "
				       "\"present\": %s, \"zero\": %s, \"data\": %s",
				       first ? "" : ",\n", (unsigned long long)cur_start,
				       (unsigned long long)cur_len, cur.depth,
				       cur.present ? "true" : "false", cur.zero ? "true" : "false",
				       cur.data ? "true" : "false");
				if (cur.compressed)
					printf(", \"compressed\": true");
				if (cur.has_offset)
					printf(", \"offset\": %llu", (unsigned long long)cur.host_off);
				printf("}");
				first = false;
			} else if (have && cur.data && cur.has_offset) {
				printf("%#-16llx%#-16llx%#-16llx%s\n", (unsigned long long)cur_start,
				       (unsigned long long)cur_len, (unsigned long long)cur.host_off,
				       cur.file);
			}
			if (end)
				break;
			cur = st, cur_start = off, cur_len = pnum, have = true;
		}
		off += pnum;
	}
	if (json)
		printf("]\n");
	block_close(b);
	if (ret < 0)
		return img_fail(1, "%s", err.msg);
	return 0;
}

int img_cmd_snapshot(int argc, char **argv)
{
	char op = 0;
	const char *name = NULL;
	struct err err = { { 0 } };
	int c, ret = 0;

	while ((c = getopt(argc, argv, "c:a:d:lqU")) != -1) {
		switch (c) {
		case 'c': case 'a': case 'd':
			if (op)
				return img_fail(1, "snapshot: only one operation at a time");
			op = (char)c, name = optarg;
			break;
		case 'l':
			if (op)
				return img_fail(1, "snapshot: only one operation at a time");
			op = 'l';
			break;
		case 'q': case 'U': break;
		default: return img_fail(1, "usage: snapshot -c|-a|-d NAME | -l FILE");
		}
	}
	if (!op || optind >= argc)
		return img_fail(1, "usage: snapshot -c|-a|-d NAME | -l FILE");
	struct block_dev *b = img_open(argv[optind], NULL, op != 'l', true, &err);

	if (!b)
		return img_fail(1, "%s", err.msg);
	if (!qcow2_is(b)) {
		block_close(b);
		return img_fail(1, "'%s': format %s does not support internal snapshots",
				argv[optind], block_format(b));
	}
	switch (op) {
	case 'l': print_snapshot_table(b, true); break;
	case 'c': ret = qcow2_snapshot_create(b, name, &err); break;
	case 'a': ret = qcow2_snapshot_apply(b, name, &err); break;
	case 'd': ret = qcow2_snapshot_delete(b, name, &err); break;
	}
	block_close(b);
	if (ret < 0)
		return img_fail(1, "snapshot: %s", err.msg);
	return 0;
}
