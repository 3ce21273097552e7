/* Comparing a native result with an emulated one, field by field, under the
 * vector's masks of architecturally undefined bits; disassembly for messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dt.h"

static const char *const dt_reg_name[16] = {
	"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15",
};

static const char *dt_vec_name(int v)
{
	static const char *const names[32] = {
		[0] = "#DE", [1] = "#DB", [3] = "#BP", [4] = "#OF", [5] = "#BR", [6] = "#UD",
		[7] = "#NM", [12] = "#SS", [13] = "#GP", [14] = "#PF", [16] = "#MF",
		[17] = "#AC", [19] = "#XM",
	};
	return v >= 0 && v < 32 && names[v] ? names[v] : "#?";
}

static void dt_describe(const struct dt_result *r, char *out, size_t len)
{
	switch (r->status) {
	case DT_END:
		snprintf(out, len, "reached the end");
		break;
	case DT_EXC:
		if (r->vector == 14)
			snprintf(out, len, "%s(err 0x%llx, addr 0x%llx) at rip 0x%llx",
				 dt_vec_name(r->vector), (unsigned long long)r->error_code,
				 (unsigned long long)r->fault_addr, (unsigned long long)r->st.rip);
		else
			snprintf(out, len, "%s(%d, err 0x%llx) at rip 0x%llx", dt_vec_name(r->vector),
				 r->vector, (unsigned long long)r->error_code,
				 (unsigned long long)r->st.rip);
		break;
	case DT_LIMIT:
		snprintf(out, len, "ran into the instruction limit at rip 0x%llx",
			 (unsigned long long)r->st.rip);
		break;
	default:
		snprintf(out, len, "harness error: %s", r->msg);
	}
}

static void dt_hex(const uint8_t *p, size_t n, char *out, size_t len)
{
	size_t o = 0;
	out[0] = 0;
	for (size_t i = 0; i < n && o + 3 < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%02x", p[n - 1 - i]);
}

enum dt_verdict dt_compare(const struct dt_vector *vec, const struct dt_result *a,
			   const struct dt_result *b, char *why, size_t whylen)
{
	char da[160], db[160];

	if (a->status == DT_HARNESS) {
		snprintf(why, whylen, "native side: %s", a->msg);
		return DT_BROKEN;
	}
	if (b->status == DT_EXC && b->vector == 6 &&
	    !(a->status == DT_EXC && a->vector == 6 && a->st.rip == b->st.rip)) {
		snprintf(why, whylen, "emulator #UD at rip 0x%llx",
			 (unsigned long long)b->st.rip);
		return DT_EMU_LACKS;
	}
	if (a->status != b->status || (a->status == DT_EXC && a->vector != b->vector)) {
		dt_describe(a, da, sizeof(da));
		dt_describe(b, db, sizeof(db));
		snprintf(why, whylen, "outcome: native %s, emulator %s", da, db);
		return DT_DIFF;
	}
	if (a->status == DT_EXC) {
		bool same = true;
		if (a->vector == 14)
			same = (a->fault_addr == b->fault_addr ||
				((vec->cmp & DT_CMP_PF_PAGE) &&
				 (a->fault_addr ^ b->fault_addr) < 0x1000 &&
				 ((a->fault_addr ^ b->fault_addr) & ~0xfffULL) == 0)) &&
			       ((a->error_code ^ b->error_code) & 0x12) == 0; /* W, I/D */
		else if (a->vector == 13 || a->vector == 12)
			same = a->error_code == b->error_code;
		if (!same) {
			dt_describe(a, da, sizeof(da));
			dt_describe(b, db, sizeof(db));
			snprintf(why, whylen, "exception: native %s, emulator %s", da, db);
			return DT_DIFF;
		}
	}
	if (a->st.rip != b->st.rip) {
		snprintf(why, whylen, "rip: native 0x%llx, emulator 0x%llx",
			 (unsigned long long)a->st.rip, (unsigned long long)b->st.rip);
		return DT_DIFF;
	}
	for (int i = 0; i < 16; i++) {
		uint64_t m = vec->gpr_cmp[i];
		if ((a->st.gpr[i] ^ b->st.gpr[i]) & m) {
			snprintf(why, whylen, "%s: native 0x%llx, emulator 0x%llx%s", dt_reg_name[i],
				 (unsigned long long)a->st.gpr[i], (unsigned long long)b->st.gpr[i],
				 m == ~0ULL ? "" : " (masked)");
			return DT_DIFF;
		}
	}
	uint64_t fd = (a->st.rflags ^ b->st.rflags) & vec->flags_cmp;
	if (fd) {
		static const struct { uint64_t bit; const char *name; } fl[] = {
			{ F_CF, "CF" }, { F_PF, "PF" }, { F_AF, "AF" }, { F_ZF, "ZF" },
			{ F_SF, "SF" }, { F_DF, "DF" }, { F_OF, "OF" }, { F_ID, "ID" },
		};
		char names[64] = "";
		for (size_t i = 0; i < sizeof(fl) / sizeof(fl[0]); i++)
			if (fd & fl[i].bit) {
				strcat(names, " ");
				strcat(names, fl[i].name);
			}
		snprintf(why, whylen, "rflags:%s differ: native 0x%llx, emulator 0x%llx (compared 0x%llx)",
			 names, (unsigned long long)a->st.rflags, (unsigned long long)b->st.rflags,
			 (unsigned long long)vec->flags_cmp);
		return DT_DIFF;
	}
	const uint8_t *fa = a->st.fxsave, *fb = b->st.fxsave;
	if ((vec->cmp & DT_CMP_MXCSR) && dt_ld32(fa + FX_MXCSR) != dt_ld32(fb + FX_MXCSR)) {
		snprintf(why, whylen, "mxcsr: native 0x%x, emulator 0x%x", dt_ld32(fa + FX_MXCSR),
			 dt_ld32(fb + FX_MXCSR));
		return DT_DIFF;
	}
	if (vec->cmp & DT_CMP_XMM) {
		for (int i = 0; i < 16; i++) {
			if (memcmp(fa + FX_XMM(i), fb + FX_XMM(i), 16)) {
				dt_hex(fa + FX_XMM(i), 16, da, sizeof(da));
				dt_hex(fb + FX_XMM(i), 16, db, sizeof(db));
				snprintf(why, whylen, "xmm%d: native %s, emulator %s", i, da, db);
				return DT_DIFF;
			}
		}
	}
	if (vec->cmp & DT_CMP_X87) {
		if (dt_ld16(fa + FX_FCW) != dt_ld16(fb + FX_FCW)) {
			snprintf(why, whylen, "fcw: native 0x%x, emulator 0x%x", dt_ld16(fa + FX_FCW),
				 dt_ld16(fb + FX_FCW));
			return DT_DIFF;
		}
		uint16_t sa = dt_ld16(fa + FX_FSW), sb = dt_ld16(fb + FX_FSW);
		if ((sa ^ sb) & (vec->fsw_cmp | 0x3800)) {
			snprintf(why, whylen, "fsw: native 0x%x, emulator 0x%x (compared 0x%x)", sa, sb,
				 vec->fsw_cmp | 0x3800);
			return DT_DIFF;
		}
		if (fa[FX_FTW] != fb[FX_FTW]) {
			snprintf(why, whylen, "ftw (abridged): native 0x%02x, emulator 0x%02x",
				 fa[FX_FTW], fb[FX_FTW]);
			return DT_DIFF;
		}
		int top = (sa >> 11) & 7;
		for (int i = 0; i < 8; i++) {
			if (!((fa[FX_FTW] >> ((top + i) & 7)) & 1))
				continue; /* empty: contents are not architectural */
			if (memcmp(fa + FX_ST(i), fb + FX_ST(i), 10)) {
				dt_hex(fa + FX_ST(i), 10, da, sizeof(da));
				dt_hex(fb + FX_ST(i), 10, db, sizeof(db));
				snprintf(why, whylen, "st%d: native %s, emulator %s", i, da, db);
				return DT_DIFF;
			}
		}
	}
	uint64_t junk_lo = 0, junk_hi = 0;
	if ((vec->cmp & DT_CMP_SP_JUNK) && a->status == DT_EXC) {
		junk_hi = a->st.gpr[R_SP];
		junk_lo = junk_hi - 8;
	}
	for (size_t i = 0; i < DT_DATA_SIZE; i++) {
		uint64_t addr = DT_DATA_BASE + i;
		if (addr >= junk_lo && addr < junk_hi)
			continue;
		if (i >= vec->skip_off && i < (size_t)vec->skip_off + vec->skip_len)
			continue;
		if (a->data[i] != b->data[i]) {
			size_t s = i & ~7ULL;
			snprintf(why, whylen,
				 "memory at 0x%llx: native %02x, emulator %02x (qword at 0x%llx: "
				 "native 0x%llx, emulator 0x%llx)",
				 (unsigned long long)(DT_DATA_BASE + i), a->data[i], b->data[i],
				 (unsigned long long)(DT_DATA_BASE + s),
				 (unsigned long long)dt_ld64(a->data + s),
				 (unsigned long long)dt_ld64(b->data + s));
			return DT_DIFF;
		}
	}
	return DT_SAME;
}

unsigned dt_insn_len_at(const struct dt_vector *vec, unsigned off)
{
	for (unsigned i = 0; i < vec->nins; i++)
		if (vec->ins_off[i] == off)
			return (unsigned)vec->ins_off[i + 1] - off;
	return off < vec->code_len ? vec->code_len - off : 0;
}

void dt_disasm(const struct dt_vector *vec, unsigned off, char *out, size_t outlen)
{
	unsigned n = dt_insn_len_at(vec, off);
	char bytes[3 * DT_MAX_CODE + 1] = "";
	for (unsigned i = 0; i < n && off + i < vec->code_len; i++)
		sprintf(bytes + 3 * i, "%02x ", vec->code[off + i]);
	if (n && bytes[3 * n - 1] == ' ')
		bytes[3 * n - 1] = 0;
	snprintf(out, outlen, "%s", bytes);

	char path[] = "/tmp/difftest-insn.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return;
	bool ok = write(fd, vec->code + off, n) == (ssize_t)n;
	close(fd);
	char cmd[256];
	snprintf(cmd, sizeof(cmd),
		 "objdump -D -b binary -mi386:x86-64 -M intel %s 2>/dev/null | "
		 "sed -n 's/^ *0:\\t[0-9a-f ]*\\t//p' | head -n 1", path);
	FILE *p = ok ? popen(cmd, "r") : NULL;
	char line[160];
	if (p && fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = 0;
		for (char *c = line; *c; c++)
			if (*c == '\t')
				*c = ' ';
		size_t o = strlen(out);
		snprintf(out + o, outlen - o, " (%s)", line);
	}
	if (p)
		pclose(p);
	unlink(path);
}
