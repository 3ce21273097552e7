/* GDB Remote Serial Protocol framing: see rsp.h. */
#include "gdbstub/rsp.h"

#include <string.h>

static const char rsp_hex[] = "0123456789abcdef";

void rsp_init(struct rsp_parser *p)
{
	memset(p, 0, offsetof(struct rsp_parser, buf));
	p->buf[0] = 0;
}

int rsp_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void rsp_store(struct rsp_parser *p, uint8_t c)
{
	if (p->len < RSP_MAX_PACKET)
		p->buf[p->len++] = c;
	else
		p->overflow = true;
}

enum rsp_event rsp_feed(struct rsp_parser *p, uint8_t c)
{
	int d;

	switch (p->state) {
	case RSP_IDLE:
		switch (c) {
		case '$':
			p->state = RSP_DATA;
			p->len = 0;
			p->sum = 0;
			p->overflow = false;
			return RSP_NONE;
		case 0x03:
			return RSP_INTERRUPT;
		case '+':
			return RSP_ACK;
		case '-':
			return RSP_NAK;
		default:
			return RSP_NONE; /* noise between packets is ignored */
		}
	case RSP_DATA:
		if (c == '#') {
			p->state = RSP_CSUM1;
			return RSP_NONE;
		}
		p->sum = (uint8_t)(p->sum + c);
		if (c == '}')
			p->state = RSP_ESCAPE;
		else
			rsp_store(p, c);
		return RSP_NONE;
	case RSP_ESCAPE:
		p->sum = (uint8_t)(p->sum + c);
		rsp_store(p, c ^ 0x20);
		p->state = RSP_DATA;
		return RSP_NONE;
	case RSP_CSUM1:
		d = rsp_hex_digit(c);
		p->csum = (uint8_t)((d < 0 ? 0 : d) << 4);
		p->overflow |= d < 0;
		p->state = RSP_CSUM2;
		return RSP_NONE;
	case RSP_CSUM2:
		d = rsp_hex_digit(c);
		p->state = RSP_IDLE;
		p->buf[p->len] = 0;
		if (d < 0 || p->overflow || (uint8_t)(p->csum | d) != p->sum)
			return RSP_BAD;
		return RSP_PACKET;
	}
	p->state = RSP_IDLE;
	return RSP_NONE;
}

size_t rsp_frame(const uint8_t *data, size_t len, uint8_t *out, size_t cap)
{
	size_t n = 0;
	uint8_t sum = 0;

	if (cap < 4)
		return 0;
	out[n++] = '$';
	for (size_t i = 0; i < len; i++) {
		uint8_t c = data[i];

		if (c == '$' || c == '#' || c == '}' || c == '*') {
			if (n + 2 > cap - 3)
				return 0;
			out[n++] = '}';
			sum = (uint8_t)(sum + '}');
			c ^= 0x20;
		} else if (n + 1 > cap - 3) {
			return 0;
		}
		out[n++] = c;
		sum = (uint8_t)(sum + c);
	}
	out[n++] = '#';
	out[n++] = (uint8_t)rsp_hex[sum >> 4];
	out[n++] = (uint8_t)rsp_hex[sum & 15];
	return n;
}

bool rsp_parse_hex(const char **s, uint64_t *v)
{
	const char *p = *s;
	uint64_t x = 0;
	int d;

	if (rsp_hex_digit((unsigned char)*p) < 0)
		return false;
	while ((d = rsp_hex_digit((unsigned char)*p)) >= 0) {
		if (x >> 60)
			return false;
		x = x << 4 | (uint64_t)d;
		p++;
	}
	*v = x;
	*s = p;
	return true;
}

bool rsp_hex_decode(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = rsp_hex_digit((unsigned char)s[2 * i]);
		int lo = hi < 0 ? -1 : rsp_hex_digit((unsigned char)s[2 * i + 1]);

		if (lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

void rsp_hex_encode(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = rsp_hex[in[i] >> 4];
		out[2 * i + 1] = rsp_hex[in[i] & 15];
	}
	out[2 * n] = 0;
}
