/* difftest: differential tests of the emulated x86-64 CPU against the host.
 *
 *   difftest [--seed N] [--cases N] [--group NAME[,NAME...]] [--case INDEX]
 *            [--selftest-only] [--no-selftest] [--native-only] [--verbose]
 *            [--dump] [--list]
 * --dump prints initial/native/emulated state of every differing case;
 * --show the disassembly of every generated case.
 *
 * Each group runs in its own child process (so an emulator crash or a
 * sanitizer report fails that group only) and prints one line in
 * tests/run.sh's protocol: "ok GROUP (N cases)", "not ok GROUP: ..." with the
 * first mismatch, its seed and disassembly, or "skip GROUP: ..." when the
 * emulated CPU does not advertise the group's feature or lacks instructions
 * (#UD where the host executes them). VIREO_LONG=1 multiplies the case count. */
#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gen.h"

#define DT_BATCH 1024

struct dt_opts {
	uint64_t seed;
	unsigned cases;
	const char *groups;
	long one_case;
	bool verbose;
	bool selftest;
	bool run_groups;
	bool emu;
	bool dump;
	bool show;
};

static bool dt_native_has(uint32_t need)
{
	unsigned a, b, c, d;
	uint32_t have = 0;
	if (__get_cpuid(1, &a, &b, &c, &d)) {
		have |= (c & 1) ? DT_NEED_SSE3 : 0;
		have |= (c & (1u << 9)) ? DT_NEED_SSSE3 : 0;
		have |= (c & (1u << 13)) ? DT_NEED_CX16 : 0;
		have |= (c & (1u << 19)) ? DT_NEED_SSE41 : 0;
		have |= (c & (1u << 20)) ? DT_NEED_SSE42 : 0;
		have |= (c & (1u << 22)) ? DT_NEED_MOVBE : 0;
		have |= (c & (1u << 23)) ? DT_NEED_POPCNT : 0;
		have |= (d & (1u << 23)) ? DT_NEED_MMX : 0;
	}
	if (__get_cpuid(0x80000001, &a, &b, &c, &d)) {
		have |= (c & 1) ? DT_NEED_LAHF : 0;
		have |= (c & (1u << 5)) ? DT_NEED_LZCNT : 0;
	}
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d))
		have |= (b & (1u << 3)) ? DT_NEED_BMI1 : 0;
	return (have & need) == need;
}

static bool dt_emu_has(struct dt_emu *emu, uint32_t need)
{
	uint32_t r[4], have = 0;
	if (!emu)
		return true;
	dt_emu_cpuid(emu, 0, 0, r);
	uint32_t max = r[0];
	dt_emu_cpuid(emu, 1, 0, r);
	uint32_t c = r[2];
	have |= (c & 1) ? DT_NEED_SSE3 : 0;
	have |= (c & (1u << 9)) ? DT_NEED_SSSE3 : 0;
	have |= (c & (1u << 13)) ? DT_NEED_CX16 : 0;
	have |= (c & (1u << 19)) ? DT_NEED_SSE41 : 0;
	have |= (c & (1u << 20)) ? DT_NEED_SSE42 : 0;
	have |= (c & (1u << 22)) ? DT_NEED_MOVBE : 0;
	have |= (c & (1u << 23)) ? DT_NEED_POPCNT : 0;
	have |= (r[3] & (1u << 23)) ? DT_NEED_MMX : 0;
	dt_emu_cpuid(emu, 0x80000000, 0, r);
	if (r[0] >= 0x80000001) {
		dt_emu_cpuid(emu, 0x80000001, 0, r);
		have |= (r[2] & 1) ? DT_NEED_LAHF : 0;
		have |= (r[2] & (1u << 5)) ? DT_NEED_LZCNT : 0;
	}
	if (max >= 7) {
		dt_emu_cpuid(emu, 7, 0, r);
		have |= (r[1] & (1u << 3)) ? DT_NEED_BMI1 : 0;
	}
	return (have & need) == need;
}

/* Case seeds depend on the group's name, not its position, so adding a
 * group does not change the cases of the others. */
static uint64_t dt_case_seed(uint64_t seed, unsigned gi, uint64_t index)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (const char *p = dt_groups[gi].name; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
	return dt_hash(seed, (h << 24) ^ index);
}

/* Disassembly of every instruction of a vector, "; "-separated. */
static void dt_disasm_all(const struct dt_vector *v, char *out, size_t len)
{
	size_t o = 0;
	out[0] = 0;
	for (unsigned i = 0; i < v->nins && o + 8 < len; i++) {
		char one[200];
		dt_disasm(v, v->ins_off[i], one, sizeof(one));
		o += (size_t)snprintf(out + o, len - o, "%s%s", i ? "; " : "", one);
	}
}

static void dt_hex16(const uint8_t *p, char *out)
{
	for (int i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", p[15 - i]);
}

/* Full picture of one case: initial, native and emulated state. */
static void dt_dump(const struct dt_vector *v, const struct dt_result *a,
		    const struct dt_result *b)
{
	static const char *const rn[16] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
					     "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };
	printf("#     %-6s %-18s %-18s %-18s\n", "", "initial", "native", "emulator");
	for (int i = 0; i < 16; i++)
		printf("#     %-6s %016llx   %016llx   %016llx%s\n", rn[i],
		       (unsigned long long)v->init.gpr[i], (unsigned long long)a->st.gpr[i],
		       (unsigned long long)b->st.gpr[i], a->st.gpr[i] != b->st.gpr[i] ? "  <--" : "");
	printf("#     %-6s %016llx   %016llx   %016llx\n", "rip", (unsigned long long)v->init.rip,
	       (unsigned long long)a->st.rip, (unsigned long long)b->st.rip);
	printf("#     %-6s %016llx   %016llx   %016llx (compared 0x%llx)\n", "rflags",
	       (unsigned long long)v->init.rflags, (unsigned long long)a->st.rflags,
	       (unsigned long long)b->st.rflags, (unsigned long long)v->flags_cmp);
	const uint8_t *fi = v->init.fxsave, *fa = a->st.fxsave, *fb = b->st.fxsave;
	uint32_t m[3];
	memcpy(&m[0], fi + FX_MXCSR, 4);
	memcpy(&m[1], fa + FX_MXCSR, 4);
	memcpy(&m[2], fb + FX_MXCSR, 4);
	printf("#     mxcsr  %08x %08x %08x\n", m[0], m[1], m[2]);
	printf("#     fcw/fsw/ftw %02x%02x/%02x%02x/%02x  %02x%02x/%02x%02x/%02x  %02x%02x/%02x%02x/%02x\n",
	       fi[1], fi[0], fi[3], fi[2], fi[4], fa[1], fa[0], fa[3], fa[2], fa[4], fb[1], fb[0],
	       fb[3], fb[2], fb[4]);
	for (int i = 0; i < 8; i++) {
		char x[3][33];
		dt_hex16(fi + FX_ST(i), x[0]);
		dt_hex16(fa + FX_ST(i), x[1]);
		dt_hex16(fb + FX_ST(i), x[2]);
		printf("#     st%d    %s %s %s\n", i, x[0] + 12, x[1] + 12, x[2] + 12);
	}
	for (int i = 0; i < 16; i++) {
		char x[3][33];
		if (!memcmp(fi + FX_XMM(i), fa + FX_XMM(i), 16) && !memcmp(fa + FX_XMM(i), fb + FX_XMM(i), 16))
			continue;
		dt_hex16(fi + FX_XMM(i), x[0]);
		dt_hex16(fa + FX_XMM(i), x[1]);
		dt_hex16(fb + FX_XMM(i), x[2]);
		printf("#     xmm%-2d  %s %s %s\n", i, x[0], x[1], x[2]);
	}
	unsigned shown = 0;
	for (size_t i = 0; i < DT_DATA_SIZE && shown < 24; i++) {
		if (v->data[i] == a->data[i] && a->data[i] == b->data[i])
			continue;
		printf("#     mem %llx: %02x %02x %02x\n", (unsigned long long)(DT_DATA_BASE + i),
		       v->data[i], a->data[i], b->data[i]);
		shown++;
	}
	printf("#     status: native %d vec %d err %llx addr %llx; emulator %d vec %d err %llx addr %llx\n",
	       a->status, a->vector, (unsigned long long)a->error_code,
	       (unsigned long long)a->fault_addr, b->status, b->vector,
	       (unsigned long long)b->error_code, (unsigned long long)b->fault_addr);
}

struct dt_counts {
	unsigned total, same, diff, lacks, broken;
	char first_diff[1024];
	char first_lacks[256];
	char first_broken[512];
	unsigned rechecked, leaks; /* diffs that pass on a fresh CPU */
	unsigned approx;           /* approximation-only diffs (approx groups) */
	unsigned inconclusive;     /* the native run touched host memory */
	unsigned native_reruns, native_flaky; /* failing cases re-run natively */
	char first_approx[700];
	/* AMD hosts: cases that differ only by documented AMD behaviour */
	unsigned amd, amd_rule[DT_AMD_NRULES];
	char first_amd[700];
	/* distinct kinds of mismatch: (differing field, instruction template) */
	unsigned nkinds;
	struct {
		char key[80];
		unsigned count;
		char example[700];
	} kinds[24];
};

/* Groups mismatches by differing field and template so that the log shows
 * one example of each distinct problem instead of many of the first. */
static void dt_kind(struct dt_counts *c, const struct dt_vector *v, const char *why,
		    const char *line)
{
	char key[80], field[32], mnem[16];
	size_t f = strcspn(why, ":( ");
	snprintf(field, sizeof(field), "%.*s", (int)(f < 20 ? f : 20), why);
	/* registers of one kind are one problem: rax..r15 -> gpr, xmmN, stN */
	static const char *const gprs[] = { "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi",
					    "rdi", "r8", "r9", "r10", "r11", "r12", "r13",
					    "r14", "r15" };
	for (size_t i = 0; i < sizeof(gprs) / sizeof(gprs[0]); i++)
		if (!strcmp(field, gprs[i]))
			snprintf(field, sizeof(field), "gpr");
	if (!strncmp(field, "xmm", 3))
		snprintf(field, sizeof(field), "xmm");
	if (!strncmp(field, "st", 2) && field[2] >= '0' && field[2] <= '7')
		snprintf(field, sizeof(field), "st");
	snprintf(mnem, sizeof(mnem), "%.*s", (int)strcspn(v->name, " "), v->name);
	if (!strcmp(field, "exception") || !strcmp(field, "outcome")) {
		/* "native #PF(..., emulator #GP(..." -> "#PF->#GP" */
		const char *n = strstr(why, "native "), *e = strstr(why, "emulator ");
		snprintf(key, sizeof(key), "%s %.3s->%.3s / %s", field, n ? n + 7 : "?",
			 e ? e + 9 : "?", field[0] == 'e' ? "*" : mnem);
	} else {
		snprintf(key, sizeof(key), "%s / %s", field, mnem);
	}
	for (unsigned i = 0; i < c->nkinds; i++) {
		if (!strcmp(c->kinds[i].key, key)) {
			c->kinds[i].count++;
			return;
		}
	}
	if (c->nkinds >= sizeof(c->kinds) / sizeof(c->kinds[0]))
		return;
	snprintf(c->kinds[c->nkinds].key, sizeof(c->kinds[0].key), "%s", key);
	snprintf(c->kinds[c->nkinds].example, sizeof(c->kinds[0].example), "%s", line);
	c->kinds[c->nkinds++].count = 1;
}

/* Does b differ from a only in results an approximation may change: ST and
 * XMM register values, the x87 round-up (C1) and precision (PE) flags, and
 * MXCSR's PE? Anything else (tags, TOP, other exception flags, the outcome)
 * is a real difference even for transcendental or RCP/RSQRT instructions. */
static bool dt_approx_only(const struct dt_vector *v, const struct dt_result *a,
			   const struct dt_result *b)
{
	struct dt_result *t = malloc(sizeof(*t));
	char why[400];
	if (!t)
		return false;
	*t = *b;
	memcpy(t->st.fxsave + FX_ST(0), a->st.fxsave + FX_ST(0), 8 * 16);
	memcpy(t->st.fxsave + FX_XMM(0), a->st.fxsave + FX_XMM(0), 16 * 16);
	uint16_t fa, fb;
	memcpy(&fa, a->st.fxsave + FX_FSW, 2);
	memcpy(&fb, t->st.fxsave + FX_FSW, 2);
	fb = (uint16_t)((fb & ~0x220) | (fa & 0x220));
	memcpy(t->st.fxsave + FX_FSW, &fb, 2);
	t->st.fxsave[FX_MXCSR] = (uint8_t)((t->st.fxsave[FX_MXCSR] & ~0x20) |
					   (a->st.fxsave[FX_MXCSR] & 0x20));
	bool same = dt_compare(v, a, t, why, sizeof(why)) == DT_SAME;
	free(t);
	return same;
}

/* Is the page of addr mapped in this process? The native child is a fork of
 * it, so its address space is the same apart from the test pages. */
static bool dt_host_mapped(uint64_t addr)
{
	unsigned char vec;
	if (addr >= 0x0000800000000000ULL)
		return false;
	return mincore((void *)(uintptr_t)(addr & ~0xfffULL), 4096, &vec) == 0;
}

static void dt_record(const struct dt_opts *opt, const char *gname, const struct dt_vector *v,
		      const struct dt_result *nat, const struct dt_result *emu, bool approx,
		      struct dt_counts *c)
{
	char why[480], dis[512];
	enum dt_verdict vd = dt_compare(v, nat, emu, why, sizeof(why));
	c->total++;
	/* A wild pointer (random register value) that happens to hit memory of
	 * the harness process itself (ASan shadow, heap, libraries) works
	 * natively but faults under emulation: the case says nothing. (Not
	 * with a GS base: there a fault elsewhere means a dropped base.) */
	if (vd == DT_DIFF && emu->status == DT_EXC && emu->vector == 14 && !v->gs_base &&
	    !(nat->status == DT_EXC && nat->vector == 14 && nat->fault_addr == emu->fault_addr) &&
	    dt_host_mapped(emu->fault_addr)) {
		c->inconclusive++;
		if (opt->verbose)
			printf("#   %s case %u: inconclusive (0x%llx is mapped in the host process)\n",
			       gname, v->index, (unsigned long long)emu->fault_addr);
		return;
	}
	if (vd == DT_DIFF && c->native_reruns < 200) {
		/* Confirm the host's answer: a case whose native result changes
		 * from run to run (an environmental effect such as a bus-lock
		 * trap) says nothing about the emulator. */
		struct dt_result *r2 = malloc(sizeof(*r2));
		char why2[400];
		c->native_reruns++;
		if (r2 && dt_native_run(v, r2, 1) == 0 &&
		    dt_compare(v, nat, r2, why2, sizeof(why2)) != DT_SAME) {
			c->native_flaky++;
			c->inconclusive++;
			printf("#   %s case %u (seed 0x%llx): the host gave different results on a "
			       "re-run (%s); not counted\n", gname, v->index,
			       (unsigned long long)v->seed, why2);
			free(r2);
			return;
		}
		free(r2);
	}
	if (vd == DT_DIFF && opt->emu && c->rechecked < 50) {
		/* The CPU is reused across cases; a mismatch that goes away on a
		 * fresh CPU means state leaks from earlier cases (caches, lazy
		 * flags, pending exceptions...). */
		char msg[128], why2[400];
		struct dt_emu *fresh = dt_emu_create(msg, sizeof(msg));
		struct dt_result *r2 = malloc(sizeof(*r2));
		c->rechecked++;
		if (fresh && r2) {
			dt_emu_run(fresh, v, r2);
			if (dt_compare(v, nat, r2, why2, sizeof(why2)) == DT_SAME) {
				c->leaks++;
				size_t l = strlen(why);
				snprintf(why + l, sizeof(why) - l,
					 " [passes on a fresh CPU: state leaks from earlier cases]");
			}
		}
		free(r2);
		dt_emu_destroy(fresh);
	}
	if (opt->dump && vd != DT_SAME) {
		dt_disasm_all(v, dis, sizeof(dis));
		printf("# %s case %u: %s: %s\n", gname, v->index, dis, why);
		dt_dump(v, nat, emu);
	}
	switch (vd) {
	case DT_SAME:
		c->same++;
		return;
	case DT_EMU_LACKS:
		if (!c->lacks++) {
			unsigned off = (unsigned)(emu->st.rip - DT_CODE_BASE - v->code_off);
			dt_disasm(v, off, dis, sizeof(dis));
			snprintf(c->first_lacks, sizeof(c->first_lacks), "%s", dis);
		}
		if (opt->verbose) {
			dt_disasm_all(v, dis, sizeof(dis));
			printf("#   %s case %u (seed 0x%llx): needs an unimplemented instruction: %s\n",
			       gname, v->index, (unsigned long long)v->seed, dis);
		}
		return;
	case DT_BROKEN:
		if (!c->broken++)
			snprintf(c->first_broken, sizeof(c->first_broken), "case %u (seed 0x%llx): %s",
				 v->index, (unsigned long long)v->seed, why);
		/* fall through */
	case DT_DIFF:
		if (vd == DT_DIFF && approx && dt_approx_only(v, nat, emu)) {
			if (!c->approx++) {
				dt_disasm_all(v, dis, sizeof(dis));
				snprintf(c->first_approx, sizeof(c->first_approx),
					 "case %u (seed 0x%llx): %s: %s", v->index,
					 (unsigned long long)v->seed, dis, why);
			}
			return;
		}
		unsigned rules = vd == DT_DIFF && dt_host_is_amd() ? dt_amd_only(v, nat, emu) : 0;
		if (rules) {
			for (unsigned k = 0; k < DT_AMD_NRULES; k++)
				c->amd_rule[k] += (rules >> k) & 1;
			if (!c->amd++) {
				dt_disasm_all(v, dis, sizeof(dis));
				snprintf(c->first_amd, sizeof(c->first_amd), "case %u (seed 0x%llx): %s: %s",
					 v->index, (unsigned long long)v->seed, dis, why);
			}
			if (opt->verbose) {
				dt_disasm_all(v, dis, sizeof(dis));
				printf("#   %s case %u (seed 0x%llx): AMD-specific: %s: %s\n", gname,
				       v->index, (unsigned long long)v->seed, dis, why);
			}
			return;
		}
		if (vd == DT_DIFF)
			c->diff++;
		{
			char line[1024];
			dt_disasm_all(v, dis, sizeof(dis));
			snprintf(line, sizeof(line), "case %u (seed 0x%llx, %s): %s: %s", v->index,
				 (unsigned long long)v->seed, v->name, dis, why);
			if (c->diff + c->broken == 1)
				snprintf(c->first_diff, sizeof(c->first_diff), "%s", line);
			if (opt->verbose)
				printf("#   %s %s\n", gname, line);
			dt_kind(c, v, why, line);
		}
		return;
	}
}

/* Runs one group; prints its result line. Returns 0. */
static int dt_run_group(const struct dt_opts *opt, unsigned gi, unsigned ncases)
{
	const struct dt_group *grp = &dt_groups[gi];
	char msg[256] = "";
	struct dt_emu *emu = NULL;
	if (opt->emu) {
		emu = dt_emu_create(msg, sizeof(msg));
		if (!emu) {
			printf("not ok difftest-%s: %s\n", grp->name, msg);
			return 0;
		}
	}
	if (!dt_native_has(grp->need)) {
		printf("skip difftest-%s: the host CPU lacks the feature\n", grp->name);
		dt_emu_destroy(emu);
		return 0;
	}
	if (!dt_emu_has(emu, grp->need)) {
		printf("skip difftest-%s: not advertised by the emulated CPU's CPUID\n", grp->name);
		dt_emu_destroy(emu);
		return 0;
	}
	struct dt_vector *vec = calloc(DT_BATCH, sizeof(*vec));
	struct dt_result *nat = calloc(DT_BATCH, sizeof(*nat));
	struct dt_result *er = calloc(1, sizeof(*er));
	struct dt_counts c;
	memset(&c, 0, sizeof(c));
	if (!vec || !nat || !er) {
		printf("not ok difftest-%s: out of memory\n", grp->name);
		goto out;
	}
	uint64_t first = opt->one_case >= 0 ? (uint64_t)opt->one_case : 0;
	uint64_t end = opt->one_case >= 0 ? first + 1 : ncases;
	for (uint64_t base = first; base < end; base += DT_BATCH) {
		size_t n = end - base < DT_BATCH ? (size_t)(end - base) : DT_BATCH;
		for (size_t i = 0; i < n; i++)
			dt_gen_one(grp, dt_case_seed(opt->seed, gi, base + i), (uint32_t)(base + i),
				   &vec[i]);
		for (size_t i = 0; opt->show && i < n; i++) {
			char dis[512];
			dt_disasm_all(&vec[i], dis, sizeof(dis));
			printf("#   %s case %u (seed 0x%llx): %s\n", grp->name, vec[i].index,
			       (unsigned long long)vec[i].seed, dis);
		}
		int r = dt_native_run(vec, nat, n);
		if (r && r != -EIO) {
			printf("not ok difftest-%s: native runner: %s\n", grp->name, strerror(-r));
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			if (emu) {
				dt_emu_run(emu, &vec[i], er);
			} else {
				*er = nat[i]; /* native-only: the harness checks itself */
			}
			dt_record(opt, grp->name, &vec[i], &nat[i], er, grp->approx, &c);
		}
	}
	/* the most frequent kinds first */
	for (unsigned shown = 0; shown < 10 && shown < c.nkinds; shown++) {
		unsigned best = 0;
		for (unsigned i = 1; i < c.nkinds; i++)
			if (c.kinds[i].count > c.kinds[best].count)
				best = i;
		if (!c.kinds[best].count)
			break;
		printf("#   %s: %u x [%s], e.g. %s\n", grp->name, c.kinds[best].count,
		       c.kinds[best].key, c.kinds[best].example);
		c.kinds[best].count = 0;
	}
	if (c.broken) {
		printf("not ok difftest-%s: %u/%u cases could not run natively; first: %s\n", grp->name,
		       c.broken, c.total, c.first_broken);
	} else if (c.diff) {
		printf("not ok difftest-%s: %u/%u cases differ (%u need unimplemented instructions%s); "
		       "first: %s\n", grp->name, c.diff, c.total, c.lacks,
		       c.leaks ? ", some only after earlier cases: state leaks between cpu_run calls" : "",
		       c.first_diff);
	} else if (c.approx) {
		printf("skip difftest-%s: %u/%u cases differ only in approximated values (ST/XMM "
		       "contents, C1, PE: implementation-specific); first: %s\n", grp->name, c.approx,
		       c.total, c.first_approx);
	} else if (c.lacks && grp->need && opt->emu) {
		/* CPUID must advertise exactly what is implemented (issue 3) */
		printf("not ok difftest-%s: advertised by the emulated CPUID, but %u/%u cases raise #UD "
		       "(first: %s)\n", grp->name, c.lacks, c.total, c.first_lacks);
	} else if (c.lacks) {
		printf("skip difftest-%s: %u/%u cases need unimplemented instructions (first: %s); "
		       "the other %u agree\n", grp->name, c.lacks, c.total, c.first_lacks, c.same);
	} else {
		printf("ok difftest-%s (%u cases%s)\n", grp->name, c.total,
		       c.inconclusive ? ", some inconclusive: wild addresses mapped in the host" : "");
	}
	if (c.lacks && c.diff)
		printf("#   %s: first unimplemented: %s\n", grp->name, c.first_lacks);
	if (c.approx && (c.diff || c.broken))
		printf("#   %s: %u more cases differ only in approximated values\n", grp->name,
		       c.approx);
	if (c.amd) {
		char list[256] = "";
		size_t o = 0;
		for (unsigned k = 0; k < DT_AMD_NRULES; k++)
			if (c.amd_rule[k] && o < sizeof(list))
				o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s %u", o ? ", " : "",
						      dt_amd_rule_name[k], c.amd_rule[k]);
		printf("#   %s: %u/%u cases differ only in documented AMD/Intel differences "
		       "(implementation-specific, not counted: %s); first: %s\n", grp->name, c.amd,
		       c.total, list, c.first_amd);
	}
out:
	fflush(stdout);
	free(vec);
	free(nat);
	free(er);
	dt_emu_destroy(emu);
	return 0;
}

/* ---- self tests of the harness ---- */

static int dt_selftest(const struct dt_opts *opt)
{
	const unsigned n = 200;
	struct dt_vector *vec = calloc(n, sizeof(*vec));
	struct dt_result *a = calloc(n, sizeof(*a)), *b = calloc(n, sizeof(*b));
	struct dt_result *m = calloc(1, sizeof(*m));
	if (!vec || !a || !b || !m) {
		printf("not ok difftest-selftest: out of memory\n");
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		unsigned gi = i % dt_ngroups;
		if (!dt_native_has(dt_groups[gi].need))
			gi = 0;
		dt_gen_one(&dt_groups[gi], dt_case_seed(opt->seed ^ 0x5e1f, gi, i), i, &vec[i]);
	}

	/* 1. The native side enters the test code with exactly the vector's
	 * state: a lone INT3 must report the initial state unchanged. */
	{
		struct dt_vector *v = &vec[0];
		struct dt_gen g;
		dt_gen_begin(&g, v, opt->seed ^ 0x1234);
		dt_gen_x87_stack(&g);
		dt_gen_random_mxcsr(&g);
		dt_gen_end(&g);
		int r = dt_native_run(v, a, 1);
		const char *bad = NULL;
		char why[200] = "";
		if (r || a->status != DT_END)
			bad = "did not reach the INT3";
		for (int i = 0; i < 16 && !bad; i++)
			if (a->st.gpr[i] != v->init.gpr[i]) {
				snprintf(why, sizeof(why), "gpr %d: 0x%llx != 0x%llx", i,
					 (unsigned long long)a->st.gpr[i],
					 (unsigned long long)v->init.gpr[i]);
				bad = why;
			}
		if (!bad && (a->st.rflags & F_SETTABLE) != (v->init.rflags & F_SETTABLE))
			bad = "rflags";
		if (!bad && (a->st.rflags & ~(F_SETTABLE | F_IF | 2ULL)) != 0)
			bad = "unexpected rflags bits set natively (ID/NT/AC/TF)";
		if (!bad && memcmp(a->st.fxsave + FX_XMM(0), v->init.fxsave + FX_XMM(0), 256))
			bad = "xmm";
		if (!bad && memcmp(a->st.fxsave + FX_MXCSR, v->init.fxsave + FX_MXCSR, 4))
			bad = "mxcsr";
		if (!bad && memcmp(a->st.fxsave, v->init.fxsave, 5))
			bad = "x87 fcw/fsw/ftw";
		if (!bad && memcmp(a->data, v->data, DT_DATA_SIZE))
			bad = "data";
		if (bad)
			printf("not ok difftest-selftest-state-roundtrip: %s\n", bad);
		else
			printf("ok difftest-selftest-state-roundtrip\n");
		dt_gen_one(&dt_groups[0], dt_case_seed(opt->seed ^ 0x5e1f, 0, 0), 0, &vec[0]);
	}

	/* 2. Native vs native: the same vectors twice give identical results. */
	int r1 = dt_native_run(vec, a, n), r2 = dt_native_run(vec, b, n);
	unsigned differ = 0, exc = 0;
	char first[600] = "";
	for (unsigned i = 0; i < n; i++) {
		char why[400];
		if (a[i].status == DT_EXC)
			exc++;
		if (dt_compare(&vec[i], &a[i], &b[i], why, sizeof(why)) != DT_SAME && !differ++)
			snprintf(first, sizeof(first), "case %u (%s): %s", i, vec[i].name, why);
	}
	if (r1 || r2 || differ)
		printf("not ok difftest-selftest-native-repeatable: %u/%u differ; first: %s\n", differ,
		       n, first);
	else if (exc == 0 || exc == n)
		printf("not ok difftest-selftest-native-repeatable: implausible: %u/%u faulted\n", exc, n);
	else
		printf("ok difftest-selftest-native-repeatable (%u cases, %u faulted)\n", n, exc);

	/* 3. A deliberately wrong "emulator" (native results with one field
	 * perturbed) must be caught for every kind of field. */
	unsigned caught = 0, tried = 0;
	char missed[200] = "";
	for (unsigned i = 0; i < n; i++) {
		if (a[i].status != DT_END)
			continue;
		for (int kind = 0; kind < 9; kind++) {
			*m = a[i];
			const char *what = NULL;
			switch (kind) {
			case 0: m->st.gpr[i % 16] ^= 1ULL << (i % 64); what = "gpr"; break;
			case 1: m->st.rflags ^= F_CF; what = "CF"; break;
			case 2: m->st.rflags ^= F_OF; what = "OF"; break;
			case 3: m->st.fxsave[FX_XMM(i % 16) + i % 16] ^= 0x10; what = "xmm"; break;
			case 4: m->st.fxsave[FX_MXCSR] ^= 0x01; what = "mxcsr"; break;
			case 5: m->data[(i * 37) % DT_DATA_SIZE] ^= 0x80; what = "memory"; break;
			case 6: m->st.rip += 1; what = "rip"; break;
			case 7: m->status = DT_EXC; m->vector = 13; what = "exception"; break;
			case 8: m->st.fxsave[FX_FCW] ^= 0x0c; what = "fcw"; break;
			}
			/* Only count perturbations of compared fields. */
			if ((kind == 1 && !(vec[i].flags_cmp & F_CF)) ||
			    (kind == 2 && !(vec[i].flags_cmp & F_OF)) ||
			    (kind == 0 && !(vec[i].gpr_cmp[i % 16] & (1ULL << (i % 64)))))
				continue;
			char why[400];
			tried++;
			/* ... and not excused as an AMD/Intel difference */
			if (dt_compare(&vec[i], &a[i], m, why, sizeof(why)) == DT_DIFF &&
			    !(dt_host_is_amd() && dt_amd_only(&vec[i], &a[i], m)))
				caught++;
			else if (!missed[0])
				snprintf(missed, sizeof(missed), "case %u: %s", i, what);
		}
	}
	/* And a wholly wrong emulator: each case gets the next case's result. */
	unsigned wrong = 0;
	for (unsigned i = 0; i + 1 < n; i++) {
		char why[400];
		if (dt_compare(&vec[i], &a[i], &a[i + 1], why, sizeof(why)) != DT_SAME)
			wrong++;
	}
	if (tried < 50 || caught != tried || wrong < n - 2)
		printf("not ok difftest-selftest-detects-wrong-emulator: caught %u/%u perturbations "
		       "(missed %s), %u/%u shuffled\n", caught, tried, missed, wrong, n - 1);
	else
		printf("ok difftest-selftest-detects-wrong-emulator (%u perturbations)\n", tried);
out:
	fflush(stdout);
	free(vec);
	free(a);
	free(b);
	free(m);
	return 0;
}

static void dt_usage(void)
{
	fprintf(stderr, "usage: difftest [--seed N] [--cases N] [--group NAME[,NAME]] [--case INDEX]\n"
			"                [--selftest-only] [--no-selftest] [--native-only] [--verbose] [--dump] [--show] [--list]\n");
}

static bool dt_group_selected(const char *list, const char *name)
{
	if (!list)
		return true;
	size_t n = strlen(name);
	for (const char *p = list; *p;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (l == n && !strncmp(p, name, n))
			return true;
		if (!e)
			break;
		p = e + 1;
	}
	return false;
}

int main(int argc, char **argv)
{
	struct dt_opts opt = { .seed = 0x5eed2026, .cases = 10000, .one_case = -1,
			       .selftest = true, .run_groups = true, .emu = true };
	const char *e = getenv("VIREO_DIFFTEST_SEED");
	if (e)
		opt.seed = strtoull(e, NULL, 0);
	e = getenv("VIREO_LONG");
	if (e && *e && strcmp(e, "0"))
		opt.cases = 200000;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--seed") && i + 1 < argc)
			opt.seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(a, "--cases") && i + 1 < argc)
			opt.cases = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(a, "--group") && i + 1 < argc)
			opt.groups = argv[++i];
		else if (!strcmp(a, "--case") && i + 1 < argc)
			opt.one_case = strtol(argv[++i], NULL, 0);
		else if (!strcmp(a, "--show"))
			opt.show = true;
		else if (!strcmp(a, "--dump"))
			opt.dump = true;
		else if (!strcmp(a, "--verbose"))
			opt.verbose = true;
		else if (!strcmp(a, "--selftest-only"))
			opt.run_groups = false;
		else if (!strcmp(a, "--no-selftest"))
			opt.selftest = false;
		else if (!strcmp(a, "--native-only"))
			opt.emu = false;
		else if (!strcmp(a, "--list")) {
			for (unsigned g = 0; g < dt_ngroups; g++)
				printf("%s\n", dt_groups[g].name);
			return 0;
		} else {
			dt_usage();
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# difftest: seed 0x%llx, %u cases over %u groups (rerun one case: difftest --seed "
	       "0x%llx --group GROUP --case N --verbose)\n", (unsigned long long)opt.seed, opt.cases,
	       dt_ngroups, (unsigned long long)opt.seed);
	if (dt_host_is_amd())
		printf("# difftest: the host is AuthenticAMD: cases that differ only by documented "
		       "AMD/Intel differences (tests/difftest/README.md) are counted on '#' lines\n");
	if (opt.selftest && !opt.groups)
		dt_selftest(&opt);
	if (!opt.run_groups)
		return 0;
	unsigned wsum = 0;
	for (unsigned g = 0; g < dt_ngroups; g++)
		wsum += dt_groups[g].weight;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned g = 0; g < dt_ngroups; g++) {
		const struct dt_group *grp = &dt_groups[g];
		if (!dt_group_selected(opt.groups, grp->name))
			continue;
		unsigned n = (unsigned)((uint64_t)opt.cases * grp->weight / wsum);
		if (grp->min_cases)
			n = grp->min_cases * (opt.cases > 100000 ? 20 : 1);
		if (n < 20)
			n = 20;
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0) {
			printf("not ok difftest-%s: fork: %s\n", grp->name, strerror(errno));
			continue;
		}
		if (pid == 0) {
			dt_run_group(&opt, g, n);
			exit(0);
		}
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (WIFSIGNALED(st))
			printf("not ok difftest-%s: the test process died of signal %d (emulator crash?"
			       " rerun with --group %s --verbose)\n", grp->name, WTERMSIG(st), grp->name);
		else if (WEXITSTATUS(st))
			printf("not ok difftest-%s: the test process exited %d (sanitizer report on "
			       "stderr?)\n", grp->name, WEXITSTATUS(st));
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# difftest: %.1f s\n", (double)(t1.tv_sec - t0.tv_sec) +
					   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
