/* The GDB stub's pure parts: RSP framing (checksums, escapes, acks,
 * interrupts, overflow), hex helpers, the --gdb address parser, the page
 * walker over fake guest memory in every paging mode, and the register
 * layout against the target description. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gdbstub/gdb_regs.h"
#include "gdbstub/gdbstub.h"
#include "gdbstub/pagewalk.h"
#include "gdbstub/rsp.h"
#include "testlib.h"

static enum rsp_event feed_str(struct rsp_parser *p, const char *s, size_t n)
{
	enum rsp_event e = RSP_NONE;

	for (size_t i = 0; i < n; i++) {
		e = rsp_feed(p, (uint8_t)s[i]);
		if (e != RSP_NONE && i + 1 != n)
			return RSP_NONE; /* an event before the end is a failure too */
	}
	return e;
}

static void test_rsp(void)
{
	static struct rsp_parser p;
	uint8_t out[64];
	size_t n;

	TEST_BEGIN("rsp_packet_good_checksum");
	rsp_init(&p);
	/* 'q'+'C' = 0x71 + 0x43 = 0xb4 */
	CHECK_EQ(feed_str(&p, "$qC#b4", 6), RSP_PACKET);
	CHECK_EQ(p.len, 2);
	CHECK(!strcmp((const char *)p.buf, "qC"));
	CHECK_EQ(feed_str(&p, "$#00", 4), RSP_PACKET);
	CHECK_EQ(p.len, 0);
	TEST_END();

	TEST_BEGIN("rsp_packet_bad_checksum");
	rsp_init(&p);
	CHECK_EQ(feed_str(&p, "$qC#b5", 6), RSP_BAD);
	CHECK_EQ(feed_str(&p, "$qC#zz", 6), RSP_BAD);
	/* The parser recovers for the next packet. */
	CHECK_EQ(feed_str(&p, "$qC#B4", 6), RSP_PACKET);
	TEST_END();

	TEST_BEGIN("rsp_escape_decoded_checksum_on_wire");
	rsp_init(&p);
	/* X payload with '}' 0x03 ('#' escaped): wire sum covers "}\x03". */
	{
		const char wire[] = "$X0,1:}\x03#";
		uint8_t sum = 0;
		char pkt[32];

		for (size_t i = 1; i < sizeof(wire) - 2; i++)
			sum = (uint8_t)(sum + (uint8_t)wire[i]);
		snprintf(pkt, sizeof(pkt), "%s%02x", wire, sum);
		CHECK_EQ(feed_str(&p, pkt, strlen(pkt)), RSP_PACKET);
		CHECK_EQ(p.len, 6);
		CHECK_EQ(p.buf[5], '#');
	}
	TEST_END();

	TEST_BEGIN("rsp_acks_and_interrupt");
	rsp_init(&p);
	CHECK_EQ(rsp_feed(&p, '+'), RSP_ACK);
	CHECK_EQ(rsp_feed(&p, '-'), RSP_NAK);
	CHECK_EQ(rsp_feed(&p, 0x03), RSP_INTERRUPT);
	CHECK_EQ(rsp_feed(&p, 'x'), RSP_NONE); /* noise */
	/* Inside a packet 0x03 is data. */
	CHECK_EQ(feed_str(&p, "$\x03#03", 5), RSP_PACKET);
	TEST_END();

	TEST_BEGIN("rsp_overflow_rejected");
	rsp_init(&p);
	{
		size_t big = RSP_MAX_PACKET + 10;
		char *s = malloc(big + 5); /* $, payload, #cc, NUL */
		uint8_t sum = 0;

		CHECK(s != NULL);
		if (s) {
			s[0] = '$';
			for (size_t i = 1; i <= big; i++) {
				s[i] = 'a';
				sum = (uint8_t)(sum + 'a');
			}
			snprintf(s + big + 1, 4, "#%02x", sum);
			CHECK_EQ(feed_str(&p, s, big + 4), RSP_BAD);
			CHECK(p.len <= RSP_MAX_PACKET);
			free(s);
		}
	}
	TEST_END();

	TEST_BEGIN("rsp_frame_escapes");
	n = rsp_frame((const uint8_t *)"OK", 2, out, sizeof(out));
	CHECK_EQ(n, 6);
	CHECK(!memcmp(out, "$OK#9a", 6));
	n = rsp_frame((const uint8_t *)"a$#}*", 5, out, sizeof(out));
	CHECK_EQ(n, 1 + 9 + 3);
	CHECK(!memcmp(out, "$a}\x04}\x03}]}\x0a#", 11));
	/* What rsp_frame writes, rsp_feed reads back. */
	rsp_init(&p);
	CHECK_EQ(feed_str(&p, (const char *)out, n), RSP_PACKET);
	CHECK(p.len == 5 && !memcmp(p.buf, "a$#}*", 5));
	CHECK_EQ(rsp_frame((const uint8_t *)"abcdef", 6, out, 8), 0);
	TEST_END();

	TEST_BEGIN("rsp_hex_helpers");
	{
		const char *s = "1f,rest";
		uint64_t v = 0;
		uint8_t b[4];
		char h[9];

		CHECK(rsp_parse_hex(&s, &v) && v == 0x1f && *s == ',');
		s = "xyz";
		CHECK(!rsp_parse_hex(&s, &v));
		s = "10000000000000000"; /* 65 bits */
		CHECK(!rsp_parse_hex(&s, &v));
		s = "ffffffffffffffff";
		CHECK(rsp_parse_hex(&s, &v) && v == ~0ull);
		CHECK(rsp_hex_decode("deadBEEF", 4, b) && b[0] == 0xde && b[3] == 0xef);
		CHECK(!rsp_hex_decode("de", 2, b)); /* too short: stops at the NUL */
		CHECK(!rsp_hex_decode("dg", 1, b));
		rsp_hex_encode(b, 4, h);
		CHECK(!strcmp(h, "deadbeef"));
	}
	TEST_END();
}

static void test_parse_addr(void)
{
	struct err err = { { 0 } };
	uint32_t a = 0;
	uint16_t port = 0;

	TEST_BEGIN("gdbstub_parse_addr_accepts_loopback");
	CHECK(gdbstub_parse_addr("tcp::1234", &a, &port, &err) == 0);
	CHECK(a == 0x7f000001 && port == 1234);
	CHECK(gdbstub_parse_addr("tcp:127.0.0.1:0", &a, &port, &err) == 0);
	CHECK(a == 0x7f000001 && port == 0);
	CHECK(gdbstub_parse_addr("tcp:127.1.2.3:65535", &a, &port, &err) == 0);
	CHECK(a == 0x7f010203 && port == 65535);
	CHECK(gdbstub_parse_addr("tcp:localhost:9", &a, &port, &err) == 0);
	TEST_END();

	TEST_BEGIN("gdbstub_parse_addr_rejects");
	CHECK(gdbstub_parse_addr("tcp:0.0.0.0:1234", &a, &port, &err) < 0);
	CHECK(strstr(err.msg, "loopback") != NULL);
	CHECK(gdbstub_parse_addr("tcp:10.0.0.1:1234", &a, &port, &err) < 0);
	CHECK(gdbstub_parse_addr("tcp::65536", &a, &port, &err) < 0);
	CHECK(gdbstub_parse_addr("tcp::", &a, &port, &err) < 0);
	CHECK(gdbstub_parse_addr("tcp::-1", &a, &port, &err) < 0);
	CHECK(gdbstub_parse_addr("tcp::12x", &a, &port, &err) < 0);
	CHECK(gdbstub_parse_addr("udp::1234", &a, &port, &err) < 0);
	CHECK(gdbstub_parse_addr("1234", &a, &port, &err) < 0);
	CHECK(gdbstub_parse_addr("tcp:example.com:1", &a, &port, &err) < 0);
	TEST_END();
}

/* Fake guest-physical memory: 8 MiB, tables placed by the tests. */
#define MEM_SIZE (8u << 20)
static uint8_t *mem;

static bool mem_read(void *opaque, uint64_t gpa, void *buf, unsigned len)
{
	(void)opaque;
	if (gpa >= MEM_SIZE || len > MEM_SIZE - gpa)
		return false;
	memcpy(buf, mem + gpa, len);
	return true;
}

static void put64(uint64_t gpa, uint64_t v)
{
	memcpy(mem + gpa, &v, 8);
}

static void put32(uint64_t gpa, uint32_t v)
{
	memcpy(mem + gpa, &v, 4);
}

static int walk(const struct pagewalk_regs *r, uint64_t gva, uint64_t *gpa, uint64_t *left)
{
	return pagewalk_translate(r, gva, mem_read, NULL, gpa, left);
}

static void test_pagewalk(void)
{
	struct pagewalk_regs r;
	uint64_t gpa = 0, left = 0;

	mem = calloc(1, MEM_SIZE);
	if (!mem) {
		printf("not ok pagewalk: no memory\n");
		return;
	}

	TEST_BEGIN("pagewalk_no_paging_identity");
	r = (struct pagewalk_regs){ .cr0 = 0x11 };
	CHECK(walk(&r, 0x12345, &gpa, &left) == 0);
	CHECK_EQ(gpa, 0x12345);
	CHECK_EQ(left, 0x1000 - 0x345);
	TEST_END();

	/* 4-level: PML4 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000.
	 * gva 0xffff800000201234 -> PML4[256] PDPT[0] PD[1] PT[1] -> 0x5000. */
	memset(mem, 0, MEM_SIZE);
	put64(0x1000 + 256 * 8, 0x2000 | 3);
	put64(0x2000, 0x3000 | 3);
	put64(0x3000 + 1 * 8, 0x4000 | 3);
	put64(0x4000 + 1 * 8, 0x8000000000005000ull | 3); /* NX set: ignored */
	/* PD[2]: a 2 MiB page at 0x600000; PDPT[1]: a 1 GiB page at 0. */
	put64(0x3000 + 2 * 8, 0x600000 | 0x83);
	put64(0x2000 + 1 * 8, 0x0 | 0x83);
	r = (struct pagewalk_regs){ .cr0 = 0x80000011, .cr3 = 0x1000, .cr4 = 0x20,
				    .efer = 0x500 };

	TEST_BEGIN("pagewalk_4level_4k");
	CHECK(walk(&r, 0xffff800000201234ull, &gpa, &left) == 0);
	CHECK_EQ(gpa, 0x5234);
	CHECK_EQ(left, 0x1000 - 0x234);
	TEST_END();

	TEST_BEGIN("pagewalk_4level_2m_and_1g");
	CHECK(walk(&r, 0xffff800000412345ull, &gpa, &left) == 0);
	CHECK_EQ(gpa, 0x612345);
	CHECK_EQ(left, 0x200000 - 0x12345);
	CHECK(walk(&r, 0xffff800040000010ull, &gpa, &left) == 0);
	CHECK_EQ(gpa, 0x10);
	CHECK_EQ(left, 0x40000000 - 0x10);
	TEST_END();

	TEST_BEGIN("pagewalk_4level_faults");
	CHECK(walk(&r, 0x0000000000201234ull, &gpa, &left) == -EFAULT); /* PML4[0] empty */
	CHECK(walk(&r, 0xffff800000000000ull, &gpa, &left) == -EFAULT); /* PD[0] empty */
	CHECK(walk(&r, 0x0000800000000000ull, &gpa, &left) == -EFAULT); /* non-canonical */
	/* A table pointer outside RAM. */
	put64(0x1000 + 300 * 8, 0x7ff000000ull | 3);
	CHECK(walk(&r, 0xffff960000000000ull, &gpa, &left) == -EFAULT);
	TEST_END();

	TEST_BEGIN("pagewalk_5level");
	/* LA57: PML5 at 0x7000, entry 511 -> the PML4 above. */
	put64(0x7000 + 511 * 8, 0x1000 | 3);
	r.cr3 = 0x7000;
	r.cr4 |= 1u << 12;
	CHECK(walk(&r, 0xffff800000201234ull, &gpa, &left) == 0);
	CHECK_EQ(gpa, 0x5234);
	r.cr4 &= ~(1u << 12);
	r.cr3 = 0x1000;
	TEST_END();

	TEST_BEGIN("pagewalk_pae");
	/* PAE: PDPTEs at 0x9000 (32-byte aligned), PD at 0xa000, PT 0xb000.
	 * gva 0xc0201234: PDPTE[3] PD[1] PT[1] -> 0xc000; 0xc0400000 2 MiB. */
	put64(0x9000 + 3 * 8, 0xa000 | 1);
	put64(0xa000 + 1 * 8, 0xb000 | 3);
	put64(0xb000 + 1 * 8, 0xc000 | 3);
	put64(0xa000 + 2 * 8, 0x400000 | 0x83);
	r = (struct pagewalk_regs){ .cr0 = 0x80000011, .cr3 = 0x9000, .cr4 = 0x20 };
	CHECK(walk(&r, 0xc0201234, &gpa, &left) == 0);
	CHECK_EQ(gpa, 0xc234);
	CHECK(walk(&r, 0xc0400010, &gpa, &left) == 0);
	CHECK_EQ(gpa, 0x400010);
	CHECK(walk(&r, 0x00201234, &gpa, &left) == -EFAULT);
	TEST_END();

	TEST_BEGIN("pagewalk_32bit_and_pse");
	/* 32-bit: directory 0xd000; PDE[1] -> PT 0xe000 -> 0xf000; PDE[2] a
	 * 4 MiB page at 0x400000 (with PSE only). */
	put32(0xd000 + 1 * 4, 0xe000 | 3);
	put32(0xe000 + 2 * 4, 0xf000 | 3);
	put32(0xd000 + 2 * 4, 0x400000 | 0x83);
	r = (struct pagewalk_regs){ .cr0 = 0x80000011, .cr3 = 0xd000, .cr4 = 0x10 };
	CHECK(walk(&r, 0x00402abc, &gpa, &left) == 0);
	CHECK_EQ(gpa, 0xfabc);
	CHECK(walk(&r, 0x00812345, &gpa, &left) == 0);
	CHECK_EQ(gpa, 0x412345);
	CHECK_EQ(left, 0x400000 - 0x12345);
	CHECK(walk(&r, 0x00c00000, &gpa, &left) == -EFAULT);
	TEST_END();

	free(mem);
}

static void test_regs(void)
{
	struct x86_cpu_state st, st2;
	struct x86_fpu_state fpu, fpu2;
	uint8_t buf[GDB_REGS_SIZE];
	unsigned size, total = 0;

	TEST_BEGIN("gdb_regs_layout_matches_xml");
	for (unsigned n = 0; n < GDB_NUM_REGS; n++) {
		int off = gdb_reg_offset(n, &size);

		CHECK_EQ(off, total);
		total += size;
	}
	CHECK_EQ(total, GDB_REGS_SIZE);
	CHECK(gdb_reg_offset(GDB_NUM_REGS, &size) < 0);
	/* One <reg> per register, and the explicit regnums where features start. */
	{
		unsigned regs = 0;

		for (const char *p = gdb_target_xml; (p = strstr(p, "<reg ")); p++)
			regs++;
		CHECK_EQ(regs, GDB_NUM_REGS);
		CHECK(strstr(gdb_target_xml, "\"xmm0\" bitsize=\"128\" type=\"vec128\" regnum=\"40\""));
		CHECK(strstr(gdb_target_xml, "\"fs_base\" bitsize=\"64\" type=\"int\" regnum=\"57\""));
		CHECK(strstr(gdb_target_xml, "\"cr0\" bitsize=\"64\" type=\"int\" group=\"system\" "
					     "regnum=\"59\""));
		CHECK_EQ(GDB_REG_XMM0, 40);
		CHECK_EQ(GDB_REG_FS_BASE, 57);
		CHECK_EQ(GDB_REG_CR0, 59);
	}
	TEST_END();

	TEST_BEGIN("gdb_regs_pack_unpack");
	memset(&st, 0, sizeof(st));
	memset(&fpu, 0, sizeof(fpu));
	for (unsigned i = 0; i < 16; i++)
		st.gpr[i] = 0x1111111111111111ull * (i + 1);
	st.rip = 0xffffffff81000000ull;
	st.rflags = 0x246;
	st.cs.selector = 0x10;
	st.cr0 = 0x80050033;
	st.cr3 = 0x1234000;
	st.efer = 0xd01;
	st.fs.base = 0x7f0000001000ull;
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1f80;
	fpu.ftw = 0x80; /* physical register 7 in use; TOP = 7 so that is ST0 */
	fpu.fsw = 7 << 11;
	fpu.st[0][7] = 0x80; /* 1.0: mantissa top bit, exponent 0x3fff */
	fpu.st[0][8] = 0xff;
	fpu.st[0][9] = 0x3f;
	fpu.xmm[3][0] = 0xab;
	gdb_regs_pack(&st, &fpu, buf);
	/* gdb order: rax rbx rcx rdx ... rbx is x86 index 3. */
	CHECK_EQ(buf[8], 0x44);
	CHECK_EQ(buf[16 * 8 + 7], 0xff); /* rip top byte */
	CHECK_EQ(buf[136], 0x46);
	CHECK_EQ(buf[140], 0x10); /* cs */
	/* ftag: physical 7 valid (00), the rest empty (11). */
	CHECK_EQ(buf[244 + 8] | buf[244 + 9] << 8, 0x3fff);
	CHECK_EQ(buf[276 + 3 * 16], 0xab);
	memcpy(&st2, &st, sizeof(st2));
	memset(&fpu2, 0, sizeof(fpu2));
	memset(st2.gpr, 0, sizeof(st2.gpr));
	st2.rip = 0;
	gdb_regs_unpack(buf, &st2, &fpu2);
	CHECK(!memcmp(st2.gpr, st.gpr, sizeof(st.gpr)));
	CHECK_EQ(st2.rip, st.rip);
	CHECK_EQ(st2.rflags, st.rflags);
	CHECK_EQ(st2.efer, st.efer);
	CHECK_EQ(st2.fs.base, st.fs.base);
	CHECK_EQ(fpu2.ftw, 0x80);
	CHECK_EQ(fpu2.fcw, 0x37f);
	CHECK_EQ(fpu2.mxcsr, 0x1f80);
	CHECK_EQ(fpu2.xmm[3][0], 0xab);
	CHECK(!memcmp(fpu2.st[0], fpu.st[0], 10));
	TEST_END();

	TEST_BEGIN("gdb_regs_segment_writes");
	/* Protected mode: a changed selector is ignored (no descriptor). */
	buf[140] = 0x23;
	gdb_regs_unpack(buf, &st2, NULL);
	CHECK_EQ(st2.cs.selector, 0x10);
	/* Real mode: selector and base follow. */
	st2.cr0 = 0x10;
	buf[552] = 0x10; /* cr0 in the packet: PE clear too */
	buf[553] = buf[554] = buf[555] = 0;
	gdb_regs_unpack(buf, &st2, NULL);
	CHECK_EQ(st2.cs.selector, 0x23);
	CHECK_EQ(st2.cs.base, 0x230);
	TEST_END();
}

int main(void)
{
	test_rsp();
	test_parse_addr();
	test_pagewalk();
	test_regs();
	return 0;
}
