#include "hw/acpi/aml.h"

#include <string.h>

/* Opcodes (ACPI 6.5 §20.3). */
#define AML_ZERO 0x00
#define AML_ONE 0x01
#define AML_NAME 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE 0x10
#define AML_BUFFER 0x11
#define AML_PACKAGE 0x12
#define AML_METHOD 0x14
#define AML_DUAL_NAME 0x2e
#define AML_MULTI_NAME 0x2f
#define AML_EXT 0x5b
#define AML_EXT_DEVICE 0x82
#define AML_ROOT 0x5c
#define AML_PARENT 0x5e
#define AML_RETURN 0xa4

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
	a->buf = buf;
	a->len = 0;
	a->cap = cap;
	a->overflow = false;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->overflow || n > a->cap - a->len) {
		a->overflow = true;
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

static void aml_le(struct aml *a, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

/* Inserts n bytes at offset at, moving what follows. */
static void aml_insert(struct aml *a, size_t at, const uint8_t *p, size_t n)
{
	if (a->overflow || n > a->cap - a->len) {
		a->overflow = true;
		return;
	}
	memmove(a->buf + at + n, a->buf + at, a->len - at);
	memcpy(a->buf + at, p, n);
	a->len += n;
}

static void aml_name_seg(struct aml *a, const char *s, size_t n)
{
	char seg[4] = { '_', '_', '_', '_' };

	memcpy(seg, s, n < 4 ? n : 4);
	aml_bytes(a, seg, 4);
}

void aml_name_string(struct aml *a, const char *path)
{
	const char *p = path;
	unsigned nsegs = 0;

	/* §20.2.2: RootChar or ParentPrefixChars, then NameSeg, DualNamePath
	 * or MultiNamePath. */
	if (*p == '\\')
		aml_byte(a, AML_ROOT), p++;
	while (*p == '^')
		aml_byte(a, AML_PARENT), p++;
	if (*p)
		nsegs = 1;
	for (const char *q = p; *q; q++)
		nsegs += *q == '.';
	if (nsegs == 0) {
		aml_byte(a, AML_ZERO); /* NullName */
		return;
	}
	if (nsegs == 2)
		aml_byte(a, AML_DUAL_NAME);
	else if (nsegs > 2)
		aml_byte(a, AML_MULTI_NAME), aml_byte(a, (uint8_t)nsegs);
	while (*p) {
		size_t n = strcspn(p, ".");

		aml_name_seg(a, p, n);
		p += n;
		if (*p == '.')
			p++;
	}
}

void aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0)
		aml_byte(a, AML_ZERO);
	else if (v == 1)
		aml_byte(a, AML_ONE);
	else if (v <= 0xff)
		aml_byte(a, AML_BYTE_PREFIX), aml_le(a, v, 1);
	else if (v <= 0xffff)
		aml_byte(a, AML_WORD_PREFIX), aml_le(a, v, 2);
	else if (v <= 0xffffffff)
		aml_byte(a, AML_DWORD_PREFIX), aml_le(a, v, 4);
	else
		aml_byte(a, AML_QWORD_PREFIX), aml_le(a, v, 8);
}

void aml_string(struct aml *a, const char *s)
{
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

static unsigned aml_hex(char c)
{
	return c >= '0' && c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10) & 0xf;
}

void aml_eisaid(struct aml *a, const char *id)
{
	/* Compressed EISA ID (ACPI 6.5 §6.1.5): three 5-bit letters and four
	 * hex digits, stored as a big-endian 32-bit value. */
	unsigned c1 = (unsigned)(id[0] - 0x40) & 0x1f, c2 = (unsigned)(id[1] - 0x40) & 0x1f;
	unsigned c3 = (unsigned)(id[2] - 0x40) & 0x1f;
	uint8_t b[4] = {
		(uint8_t)(c1 << 2 | c2 >> 3),
		(uint8_t)((c2 & 7) << 5 | c3),
		(uint8_t)(aml_hex(id[3]) << 4 | aml_hex(id[4])),
		(uint8_t)(aml_hex(id[5]) << 4 | aml_hex(id[6])),
	};

	aml_byte(a, AML_DWORD_PREFIX);
	aml_bytes(a, b, 4);
}

void aml_name(struct aml *a, const char *path)
{
	aml_byte(a, AML_NAME);
	aml_name_string(a, path);
}

void aml_name_integer(struct aml *a, const char *path, uint64_t v)
{
	aml_name(a, path);
	aml_integer(a, v);
}

void aml_name_eisaid(struct aml *a, const char *path, const char *id)
{
	aml_name(a, path);
	aml_eisaid(a, id);
}

static struct aml_open aml_open_at(struct aml *a, bool buffer)
{
	return (struct aml_open){ .start = a->len, .buffer = buffer };
}

struct aml_open aml_scope_begin(struct aml *a, const char *path)
{
	struct aml_open o;

	aml_byte(a, AML_SCOPE);
	o = aml_open_at(a, false);
	aml_name_string(a, path);
	return o;
}

struct aml_open aml_device_begin(struct aml *a, const char *path)
{
	struct aml_open o;

	aml_byte(a, AML_EXT);
	aml_byte(a, AML_EXT_DEVICE);
	o = aml_open_at(a, false);
	aml_name_string(a, path);
	return o;
}

struct aml_open aml_package_begin(struct aml *a, uint8_t nelems)
{
	struct aml_open o;

	aml_byte(a, AML_PACKAGE);
	o = aml_open_at(a, false);
	aml_byte(a, nelems);
	return o;
}

struct aml_open aml_method_begin(struct aml *a, const char *path, unsigned nargs,
				 bool serialized)
{
	struct aml_open o;

	aml_byte(a, AML_METHOD);
	o = aml_open_at(a, false);
	aml_name_string(a, path);
	aml_byte(a, (uint8_t)((nargs & 7) | (serialized ? 8 : 0)));
	return o;
}

struct aml_open aml_resource_template_begin(struct aml *a)
{
	aml_byte(a, AML_BUFFER);
	return aml_open_at(a, true);
}

void aml_end(struct aml *a, struct aml_open o)
{
	uint8_t enc[9];
	size_t n = 0, body;

	if (a->overflow)
		return;
	if (o.buffer) {
		struct aml tmp;

		/* End tag (§6.4.2.9); checksum 0 means "not checksummed". */
		aml_byte(a, 0x79);
		aml_byte(a, 0);
		aml_init(&tmp, enc, sizeof(enc));
		aml_integer(&tmp, a->len - o.start);
		aml_insert(a, o.start, enc, tmp.len);
	}
	/* PkgLength (§20.2.4) counts itself: one byte up to 63, else a lead
	 * byte with the count of following bytes in bits 7-6 and the low
	 * nibble in bits 3-0. */
	body = a->len - o.start;
	if (body + 1 <= 0x3f) {
		enc[n++] = (uint8_t)(body + 1);
	} else {
		unsigned extra = body + 2 <= 0xfff ? 1 : body + 3 <= 0xfffff ? 2 : 3;
		size_t total = body + 1 + extra;

		enc[n++] = (uint8_t)(extra << 6 | (total & 0xf));
		for (unsigned i = 0; i < extra; i++)
			enc[n++] = (uint8_t)(total >> (4 + 8 * i));
	}
	aml_insert(a, o.start, enc, n);
}

void aml_return(struct aml *a)
{
	aml_byte(a, AML_RETURN);
}

void aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	/* I/O port descriptor (§6.4.2.5), 16-bit decode. */
	aml_byte(a, 0x47);
	aml_byte(a, 1);
	aml_le(a, min, 2);
	aml_le(a, max, 2);
	aml_byte(a, align);
	aml_byte(a, len);
}

void aml_res_irq_noflags(struct aml *a, unsigned irq)
{
	/* IRQ descriptor, 2-byte form (§6.4.2.1): edge, active high. */
	aml_byte(a, 0x22);
	aml_le(a, 1u << (irq & 15), 2);
}

void aml_res_memory32_fixed(struct aml *a, uint32_t base, uint32_t len, bool rw)
{
	/* §6.4.3.4 */
	aml_byte(a, 0x86);
	aml_le(a, 9, 2);
	aml_byte(a, rw ? 1 : 0);
	aml_le(a, base, 4);
	aml_le(a, len, 4);
}

/* Address space descriptors (§6.4.3.5): producer, positive decode, fixed
 * minimum and maximum (general flags 0x0c), granularity 0, no
 * translation. size is the width of each numeric field. */
static void aml_res_addr(struct aml *a, uint8_t tag, unsigned size, uint8_t type,
			 uint8_t type_flags, uint64_t min, uint64_t max)
{
	aml_byte(a, tag);
	aml_le(a, 3 + 5 * size, 2);
	aml_byte(a, type);
	aml_byte(a, 0x0c);
	aml_byte(a, type_flags);
	aml_le(a, 0, size);
	aml_le(a, min, size);
	aml_le(a, max, size);
	aml_le(a, 0, size);
	aml_le(a, max - min + 1, size);
}

void aml_res_word_bus(struct aml *a, uint16_t min, uint16_t max)
{
	aml_res_addr(a, 0x88, 2, 2, 0, min, max);
}

void aml_res_word_io(struct aml *a, uint16_t min, uint16_t max)
{
	aml_res_addr(a, 0x88, 2, 1, 3 /* _RNG: entire range */, min, max);
}

void aml_res_dword_memory(struct aml *a, uint32_t min, uint32_t max, bool cacheable)
{
	/* _RW = 1, _MEM = cacheable (1) or non-cacheable (0). */
	aml_res_addr(a, 0x87, 4, 0, cacheable ? 3 : 1, min, max);
}

void aml_res_qword_memory(struct aml *a, uint64_t min, uint64_t max, bool cacheable)
{
	aml_res_addr(a, 0x8a, 8, 0, cacheable ? 3 : 1, min, max);
}
