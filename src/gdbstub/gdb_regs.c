/* x86-64 registers for gdb: one target description with the features gdb's
 * amd64 support expects (org.gnu.gdb.i386.core with the x87 registers,
 * .sse, .segments for fs_base/gs_base) plus Vireo's system registers, and
 * the conversion between struct x86_cpu_state/x86_fpu_state and the `g`
 * packet's bytes, which follow the description's order. */
#include "gdbstub/gdb_regs.h"

#include <string.h>

const char gdb_target_xml[] =
	"<?xml version=\"1.0\"?>\n"
	"<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
	"<target version=\"1.0\">\n"
	"<architecture>i386:x86-64</architecture>\n"
	"<feature name=\"org.gnu.gdb.i386.core\">\n"
	"<flags id=\"i386_eflags\" size=\"4\">\n"
	"<field name=\"CF\" start=\"0\" end=\"0\"/><field name=\"\" start=\"1\" end=\"1\"/>\n"
	"<field name=\"PF\" start=\"2\" end=\"2\"/><field name=\"AF\" start=\"4\" end=\"4\"/>\n"
	"<field name=\"ZF\" start=\"6\" end=\"6\"/><field name=\"SF\" start=\"7\" end=\"7\"/>\n"
	"<field name=\"TF\" start=\"8\" end=\"8\"/><field name=\"IF\" start=\"9\" end=\"9\"/>\n"
	"<field name=\"DF\" start=\"10\" end=\"10\"/><field name=\"OF\" start=\"11\" end=\"11\"/>\n"
	"<field name=\"NT\" start=\"14\" end=\"14\"/><field name=\"RF\" start=\"16\" end=\"16\"/>\n"
	"<field name=\"VM\" start=\"17\" end=\"17\"/><field name=\"AC\" start=\"18\" end=\"18\"/>\n"
	"<field name=\"VIF\" start=\"19\" end=\"19\"/><field name=\"VIP\" start=\"20\" end=\"20\"/>\n"
	"<field name=\"ID\" start=\"21\" end=\"21\"/>\n"
	"</flags>\n"
	"<reg name=\"rax\" bitsize=\"64\" type=\"int64\" regnum=\"0\"/>\n"
	"<reg name=\"rbx\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rcx\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rdx\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rsi\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rdi\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rbp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
	"<reg name=\"rsp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
	"<reg name=\"r8\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r9\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r10\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r11\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r12\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r13\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r14\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"r15\" bitsize=\"64\" type=\"int64\"/>\n"
	"<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\"/>\n"
	"<reg name=\"eflags\" bitsize=\"32\" type=\"i386_eflags\"/>\n"
	"<reg name=\"cs\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"ss\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"ds\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"es\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"fs\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"gs\" bitsize=\"32\" type=\"int32\"/>\n"
	"<reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st1\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st2\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st3\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st4\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st5\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st6\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"st7\" bitsize=\"80\" type=\"i387_ext\"/>\n"
	"<reg name=\"fctrl\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fstat\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"ftag\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fiseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fioff\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"foseg\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fooff\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"<reg name=\"fop\" bitsize=\"32\" type=\"int\" group=\"float\"/>\n"
	"</feature>\n"
	"<feature name=\"org.gnu.gdb.i386.sse\">\n"
	"<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>\n"
	"<vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>\n"
	"<vector id=\"v16i8\" type=\"int8\" count=\"16\"/>\n"
	"<vector id=\"v8i16\" type=\"int16\" count=\"8\"/>\n"
	"<vector id=\"v4i32\" type=\"int32\" count=\"4\"/>\n"
	"<vector id=\"v2i64\" type=\"int64\" count=\"2\"/>\n"
	"<union id=\"vec128\">\n"
	"<field name=\"v4_float\" type=\"v4f\"/><field name=\"v2_double\" type=\"v2d\"/>\n"
	"<field name=\"v16_int8\" type=\"v16i8\"/><field name=\"v8_int16\" type=\"v8i16\"/>\n"
	"<field name=\"v4_int32\" type=\"v4i32\"/><field name=\"v2_int64\" type=\"v2i64\"/>\n"
	"<field name=\"uint128\" type=\"uint128\"/>\n"
	"</union>\n"
	"<flags id=\"i386_mxcsr\" size=\"4\">\n"
	"<field name=\"IE\" start=\"0\" end=\"0\"/><field name=\"DE\" start=\"1\" end=\"1\"/>\n"
	"<field name=\"ZE\" start=\"2\" end=\"2\"/><field name=\"OE\" start=\"3\" end=\"3\"/>\n"
	"<field name=\"UE\" start=\"4\" end=\"4\"/><field name=\"PE\" start=\"5\" end=\"5\"/>\n"
	"<field name=\"DAZ\" start=\"6\" end=\"6\"/><field name=\"IM\" start=\"7\" end=\"7\"/>\n"
	"<field name=\"DM\" start=\"8\" end=\"8\"/><field name=\"ZM\" start=\"9\" end=\"9\"/>\n"
	"<field name=\"OM\" start=\"10\" end=\"10\"/><field name=\"UM\" start=\"11\" end=\"11\"/>\n"
	"<field name=\"PM\" start=\"12\" end=\"12\"/><field name=\"FZ\" start=\"15\" end=\"15\"/>\n"
	"</flags>\n"
	"<reg name=\"xmm0\" bitsize=\"128\" type=\"vec128\" regnum=\"40\"/>\n"
	"<reg name=\"xmm1\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm2\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm3\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm4\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm5\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm6\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm7\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm8\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm9\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm10\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm11\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm12\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm13\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm14\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"xmm15\" bitsize=\"128\" type=\"vec128\"/>\n"
	"<reg name=\"mxcsr\" bitsize=\"32\" type=\"i386_mxcsr\" group=\"vector\"/>\n"
	"</feature>\n"
	"<feature name=\"org.gnu.gdb.i386.segments\">\n"
	"<reg name=\"fs_base\" bitsize=\"64\" type=\"int\" regnum=\"57\"/>\n"
	"<reg name=\"gs_base\" bitsize=\"64\" type=\"int\"/>\n"
	"</feature>\n"
	"<feature name=\"org.vireo.x86.system\">\n"
	"<reg name=\"cr0\" bitsize=\"64\" type=\"int\" group=\"system\" regnum=\"59\"/>\n"
	"<reg name=\"cr2\" bitsize=\"64\" type=\"int\" group=\"system\"/>\n"
	"<reg name=\"cr3\" bitsize=\"64\" type=\"int\" group=\"system\"/>\n"
	"<reg name=\"cr4\" bitsize=\"64\" type=\"int\" group=\"system\"/>\n"
	"<reg name=\"cr8\" bitsize=\"64\" type=\"int\" group=\"system\"/>\n"
	"<reg name=\"efer\" bitsize=\"64\" type=\"int\" group=\"system\"/>\n"
	"</feature>\n"
	"</target>\n";

/* gdb's order of the general registers, as indices of x86_cpu_state.gpr. */
static const uint8_t gdb_gpr_order[16] = { X86_RAX, X86_RBX, X86_RCX, X86_RDX, X86_RSI, X86_RDI,
					   X86_RBP, X86_RSP, X86_R8,  X86_R9,  X86_R10, X86_R11,
					   X86_R12, X86_R13, X86_R14, X86_R15 };

int gdb_reg_offset(unsigned n, unsigned *size)
{
	if (n < GDB_REG_RIP + 1) {
		*size = 8;
		return (int)n * 8;
	}
	if (n == GDB_REG_EFLAGS || (n >= GDB_REG_CS && n <= GDB_REG_GS)) {
		*size = 4;
		return 136 + (int)(n - GDB_REG_EFLAGS) * 4;
	}
	if (n >= GDB_REG_ST0 && n < GDB_REG_FCTRL) {
		*size = 10;
		return 164 + (int)(n - GDB_REG_ST0) * 10;
	}
	if (n >= GDB_REG_FCTRL && n <= GDB_REG_FOP) {
		*size = 4;
		return 244 + (int)(n - GDB_REG_FCTRL) * 4;
	}
	if (n >= GDB_REG_XMM0 && n < GDB_REG_MXCSR) {
		*size = 16;
		return 276 + (int)(n - GDB_REG_XMM0) * 16;
	}
	if (n == GDB_REG_MXCSR) {
		*size = 4;
		return 532;
	}
	if (n >= GDB_REG_FS_BASE && n < GDB_NUM_REGS) {
		*size = 8;
		return 536 + (int)(n - GDB_REG_FS_BASE) * 8;
	}
	return -1;
}

static void gdb_put(uint8_t *buf, unsigned n, uint64_t v)
{
	unsigned size;
	int off = gdb_reg_offset(n, &size);

	for (unsigned i = 0; i < size && i < 8; i++)
		buf[off + (int)i] = (uint8_t)(v >> (8 * i));
}

static uint64_t gdb_get(const uint8_t *buf, unsigned n)
{
	unsigned size;
	int off = gdb_reg_offset(n, &size);
	uint64_t v = 0;

	for (unsigned i = 0; i < size && i < 8; i++)
		v |= (uint64_t)buf[off + (int)i] << (8 * i);
	return v;
}

/* The full x87 tag word from the abridged one (SDM Vol. 1, 8.1.7 and
 * 10.5.1.1): an empty register is 11; otherwise zero 01, special (NaN,
 * infinity, denormal, unsupported) 10, valid 00. Tags are per physical
 * register; st[] is stack-relative, physical i = ST((i - TOP) mod 8). */
static uint16_t gdb_full_tag(const struct x86_fpu_state *fpu)
{
	unsigned top = (fpu->fsw >> 11) & 7;
	uint16_t tag = 0;

	for (unsigned i = 0; i < 8; i++) {
		const uint8_t *r = fpu->st[(i - top) & 7];
		uint16_t exp = (uint16_t)((r[9] & 0x7f) << 8 | r[8]);
		uint64_t mant;
		unsigned t;

		memcpy(&mant, r, 8);
		if (!(fpu->ftw & (1u << i)))
			t = 3;
		else if (exp == 0 && mant == 0)
			t = 1;
		else if (exp == 0x7fff || exp == 0 || !(mant >> 63))
			t = 2;
		else
			t = 0;
		tag |= (uint16_t)(t << (2 * i));
	}
	return tag;
}

void gdb_regs_pack(const struct x86_cpu_state *st, const struct x86_fpu_state *fpu,
		   uint8_t *buf)
{
	static const struct x86_fpu_state reset = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	const struct x86_segment *seg[6] = { &st->cs, &st->ss, &st->ds, &st->es, &st->fs, &st->gs };

	if (!fpu)
		fpu = &reset;
	memset(buf, 0, GDB_REGS_SIZE);
	for (unsigned i = 0; i < 16; i++)
		gdb_put(buf, GDB_REG_RAX + i, st->gpr[gdb_gpr_order[i]]);
	gdb_put(buf, GDB_REG_RIP, st->rip);
	gdb_put(buf, GDB_REG_EFLAGS, st->rflags);
	for (unsigned i = 0; i < 6; i++)
		gdb_put(buf, GDB_REG_CS + i, seg[i]->selector);
	for (unsigned i = 0; i < 8; i++) {
		unsigned size;
		int off = gdb_reg_offset(GDB_REG_ST0 + i, &size);

		memcpy(buf + off, fpu->st[i], 10);
	}
	gdb_put(buf, GDB_REG_FCTRL, fpu->fcw);
	gdb_put(buf, GDB_REG_FSTAT, fpu->fsw);
	gdb_put(buf, GDB_REG_FTAG, gdb_full_tag(fpu));
	gdb_put(buf, GDB_REG_FIOFF, (uint32_t)fpu->fip);
	gdb_put(buf, GDB_REG_FOOFF, (uint32_t)fpu->fdp);
	gdb_put(buf, GDB_REG_FOP, fpu->fop);
	for (unsigned i = 0; i < 16; i++) {
		unsigned size;
		int off = gdb_reg_offset(GDB_REG_XMM0 + i, &size);

		memcpy(buf + off, fpu->xmm[i], 16);
	}
	gdb_put(buf, GDB_REG_MXCSR, fpu->mxcsr);
	gdb_put(buf, GDB_REG_FS_BASE, st->fs.base);
	gdb_put(buf, GDB_REG_GS_BASE, st->gs.base);
	gdb_put(buf, GDB_REG_CR0, st->cr0);
	gdb_put(buf, GDB_REG_CR2, st->cr2);
	gdb_put(buf, GDB_REG_CR3, st->cr3);
	gdb_put(buf, GDB_REG_CR4, st->cr4);
	gdb_put(buf, GDB_REG_CR8, st->cr8);
	gdb_put(buf, GDB_REG_EFER, st->efer);
}

void gdb_regs_unpack(const uint8_t *buf, struct x86_cpu_state *st, struct x86_fpu_state *fpu)
{
	struct x86_segment *seg[6] = { &st->cs, &st->ss, &st->ds, &st->es, &st->fs, &st->gs };
	uint16_t ftag;

	for (unsigned i = 0; i < 16; i++)
		st->gpr[gdb_gpr_order[i]] = gdb_get(buf, GDB_REG_RAX + i);
	st->rip = gdb_get(buf, GDB_REG_RIP);
	/* gdb's eflags is 32 bits; the upper half of RFLAGS is reserved (0). */
	st->rflags = (uint32_t)gdb_get(buf, GDB_REG_EFLAGS);
	for (unsigned i = 0; i < 6; i++) {
		uint16_t sel = (uint16_t)gdb_get(buf, GDB_REG_CS + i);

		/* Real mode: the base is selector * 16 (SDM Vol. 3A, 21.1.1). */
		if (sel != seg[i]->selector && !(st->cr0 & 1)) {
			seg[i]->selector = sel;
			seg[i]->base = (uint64_t)sel << 4;
		}
	}
	st->fs.base = gdb_get(buf, GDB_REG_FS_BASE);
	st->gs.base = gdb_get(buf, GDB_REG_GS_BASE);
	st->cr0 = gdb_get(buf, GDB_REG_CR0);
	st->cr2 = gdb_get(buf, GDB_REG_CR2);
	st->cr3 = gdb_get(buf, GDB_REG_CR3);
	st->cr4 = gdb_get(buf, GDB_REG_CR4);
	st->cr8 = gdb_get(buf, GDB_REG_CR8);
	st->efer = gdb_get(buf, GDB_REG_EFER);
	if (!fpu)
		return;
	for (unsigned i = 0; i < 8; i++) {
		unsigned size;
		int off = gdb_reg_offset(GDB_REG_ST0 + i, &size);

		memcpy(fpu->st[i], buf + off, 10);
	}
	fpu->fcw = (uint16_t)gdb_get(buf, GDB_REG_FCTRL);
	fpu->fsw = (uint16_t)gdb_get(buf, GDB_REG_FSTAT);
	ftag = (uint16_t)gdb_get(buf, GDB_REG_FTAG);
	fpu->ftw = 0;
	for (unsigned i = 0; i < 8; i++)
		if (((ftag >> (2 * i)) & 3) != 3)
			fpu->ftw |= (uint8_t)(1u << i);
	fpu->fip = (fpu->fip & ~0xffffffffull) | (uint32_t)gdb_get(buf, GDB_REG_FIOFF);
	fpu->fdp = (fpu->fdp & ~0xffffffffull) | (uint32_t)gdb_get(buf, GDB_REG_FOOFF);
	fpu->fop = (uint16_t)(gdb_get(buf, GDB_REG_FOP) & 0x7ff);
	for (unsigned i = 0; i < 16; i++) {
		unsigned size;
		int off = gdb_reg_offset(GDB_REG_XMM0 + i, &size);

		memcpy(fpu->xmm[i], buf + off, 16);
	}
	fpu->mxcsr = (uint32_t)gdb_get(buf, GDB_REG_MXCSR);
}
