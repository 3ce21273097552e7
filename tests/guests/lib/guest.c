/* Shared helpers for the freestanding test guests (see guest.h). */
#include "guest.h"

#define COM1 LAYOUT_PORT_COM1
#define UART_LSR_THRE 0x20

static const char *guest_prefix = "guest";
static int guest_nfail;

void guest_serial_init(void)
{
	/* 16550A: 8N1 at 115200 baud (divisor 1), FIFOs on, DTR/RTS/OUT2. */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x80);
	outb(COM1 + 0, 0x01);
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03);
	outb(COM1 + 2, 0x07);
	outb(COM1 + 4, 0x0b);
}

void guest_putc(char c)
{
	/* Bounded wait for THR empty: a broken UART must not hang the guest. */
	for (int i = 0; i < 100000; i++)
		if (inb(COM1 + 5) & UART_LSR_THRE)
			break;
	outb(COM1, (uint8_t)c);
}

void guest_puts(const char *s)
{
	while (*s) {
		if (*s == '\n')
			guest_putc('\r');
		guest_putc(*s++);
	}
}

void guest_put_hex(uint64_t v)
{
	char buf[19];
	int i = 18;

	buf[i] = 0;
	do {
		buf[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	buf[--i] = 'x';
	buf[--i] = '0';
	guest_puts(buf + i);
}

void guest_put_dec(uint64_t v)
{
	char buf[21];
	int i = 20;

	buf[i] = 0;
	do {
		/* Long division by 10, bit by bit: no libgcc in 32-bit guests. */
		uint64_t q = 0;
		uint32_t r = 0;

		for (int bit = 63; bit >= 0; bit--) {
			r = (r << 1) | (uint32_t)((v >> bit) & 1);
			if (r >= 10) {
				r -= 10;
				q |= 1ULL << bit;
			}
		}
		buf[--i] = (char)('0' + r);
		v = q;
	} while (v);
	guest_puts(buf + i);
}

void guest_set_prefix(const char *prefix)
{
	guest_prefix = prefix;
}

void guest_check(const char *what, int ok)
{
	guest_puts(guest_prefix);
	guest_puts(": ");
	guest_puts(what);
	guest_puts(ok ? ": ok\n" : ": FAIL\n");
	if (!ok)
		guest_nfail++;
}

int guest_failures(void)
{
	return guest_nfail;
}

void guest_exit(uint8_t code)
{
	outb(LAYOUT_PORT_DEBUG_EXIT, code);
	/* Only reached when the port is missing. */
	guest_puts(guest_prefix);
	guest_puts(": isa-debug-exit did not stop the machine\n");
	for (;;)
		__asm__ volatile("cli; hlt");
}

void guest_finish(void)
{
	guest_puts(guest_prefix);
	if (guest_nfail) {
		guest_puts(": ");
		guest_put_dec((uint64_t)guest_nfail);
		guest_puts(" checks FAILED\n");
		guest_exit(GUEST_FAIL);
	}
	guest_puts(": all checks ok\n");
	guest_exit(GUEST_PASS);
}

size_t guest_strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int guest_memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

void *guest_memcpy(void *d, const void *s, size_t n)
{
	uint8_t *x = d;
	const uint8_t *y = s;

	while (n--)
		*x++ = *y++;
	return d;
}

void *guest_memset(void *d, int c, size_t n)
{
	uint8_t *x = d;

	while (n--)
		*x++ = (uint8_t)c;
	return d;
}

/* gcc may emit calls to these for struct copies and zeroing. */
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n)
{
	return guest_memcpy(d, s, n);
}

void *memset(void *d, int c, size_t n)
{
	return guest_memset(d, c, n);
}

const char *guest_cmdline_get(const char *cmdline, const char *key)
{
	size_t klen = guest_strlen(key);
	const char *p = cmdline;

	if (!p)
		return NULL;
	while (*p) {
		while (*p == ' ')
			p++;
		if (!guest_memcmp(p, key, klen) && p[klen] == '=')
			return p + klen + 1;
		while (*p && *p != ' ')
			p++;
	}
	return NULL;
}

int guest_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	int base = 10, digits = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (; *s && *s != ' '; s++, digits++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return -1;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	if (!digits)
		return -1;
	*out = v;
	return 0;
}

int guest_cmdline_u64(const char *cmdline, const char *key, uint64_t *out)
{
	const char *v = guest_cmdline_get(cmdline, key);

	return v ? guest_parse_u64(v, out) : -1;
}

int guest_cmdline_has_word(const char *cmdline, const char *word)
{
	size_t wlen = guest_strlen(word);
	const char *p = cmdline;

	while (p && *p) {
		while (*p == ' ')
			p++;
		if (!guest_memcmp(p, word, wlen) && (p[wlen] == ' ' || p[wlen] == 0))
			return 1;
		while (*p && *p != ' ')
			p++;
	}
	return 0;
}

int guest_contains(const char *hay, const char *needle)
{
	size_t n = guest_strlen(needle);

	for (; *hay; hay++)
		if (!guest_memcmp(hay, needle, n))
			return 1;
	return 0;
}

uint32_t guest_adler32(const uint8_t *p, size_t n)
{
	/* RFC 1950 §8.2. */
	uint32_t a = 1, b = 0;

	for (size_t i = 0; i < n; i++) {
		a = (a + p[i]) % 65521;
		b = (b + a) % 65521;
	}
	return (b << 16) | a;
}

uint8_t guest_sum8(const void *p, size_t n)
{
	const uint8_t *x = p;
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *x++);
	return s;
}

uint8_t guest_cmos_read(uint8_t index)
{
	outb(LAYOUT_PORT_RTC, index);
	return inb(LAYOUT_PORT_RTC + 1);
}

void guest_cmos_write(uint8_t index, uint8_t v)
{
	outb(LAYOUT_PORT_RTC, index);
	outb(LAYOUT_PORT_RTC + 1, v);
}

void guest_udelay(uint32_t us)
{
	/* 3.579545 ticks per microsecond (ACPI 6.5 §4.8.3.3). */
	uint32_t ticks = us * 358u / 100u + 1; /* us <= 1 s: no overflow */
	uint32_t start = inl(LAYOUT_PORT_ACPI_PM_TMR) & 0xffffff;
	/* Each read is a VM exit costing well over 1 us: us / 2 reads bound the
	 * wait when the timer is missing or stuck. */
	uint32_t bound = us / 2 + 100;

	for (uint32_t i = 0; i < bound; i++) {
		uint32_t now = inl(LAYOUT_PORT_ACPI_PM_TMR) & 0xffffff;

		if (((now - start) & 0xffffff) >= ticks)
			return;
	}
}
