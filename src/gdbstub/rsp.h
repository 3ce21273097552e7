/* GDB Remote Serial Protocol framing (GDB manual, "Overview" of the remote
 * protocol): packets are $data#cc with cc the modulo-256 sum of data in two
 * hex digits; '+'/'-' acknowledge; a lone 0x03 byte is an interrupt; '}'
 * escapes the next byte (XOR 0x20) and '*' run-length encodes. Pure
 * functions, no I/O, so they can be tested alone. */
#ifndef VIREO_GDBSTUB_RSP_H
#define VIREO_GDBSTUB_RSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest packet payload accepted and advertised (qSupported PacketSize). */
#define RSP_MAX_PACKET 0x4000

enum rsp_event {
	RSP_NONE,      /* byte consumed, nothing complete */
	RSP_PACKET,    /* a packet with a good checksum is in p->buf[0..p->len) */
	RSP_BAD,       /* a packet with a bad checksum or too long: answer '-' */
	RSP_INTERRUPT, /* 0x03 outside a packet */
	RSP_ACK,
	RSP_NAK,
};

struct rsp_parser {
	enum { RSP_IDLE, RSP_DATA, RSP_ESCAPE, RSP_CSUM1, RSP_CSUM2 } state;
	uint8_t sum, csum;
	bool overflow;
	size_t len;
	uint8_t buf[RSP_MAX_PACKET + 1]; /* unescaped payload, NUL-terminated */
};

void rsp_init(struct rsp_parser *p);
/* Feeds one received byte. Escapes are undone; run-length encoding is not
 * accepted from the debugger (gdb never sends it) and stays literal. */
enum rsp_event rsp_feed(struct rsp_parser *p, uint8_t c);

/* Frames len bytes of payload as $...#cc into out (escaping '$', '#', '}'
 * and '*'); returns the framed length, or 0 if it does not fit in cap. */
size_t rsp_frame(const uint8_t *data, size_t len, uint8_t *out, size_t cap);

int rsp_hex_digit(int c);
/* Parses hex digits at *s into *v, advancing *s; false if there are none
 * or the value overflows 64 bits. */
bool rsp_parse_hex(const char **s, uint64_t *v);
/* Decodes 2*n hex digits into n bytes; false on a non-hex digit. */
bool rsp_hex_decode(const char *s, size_t n, uint8_t *out);
/* Encodes n bytes as 2*n lowercase hex digits plus a NUL. */
void rsp_hex_encode(const uint8_t *in, size_t n, char *out);

#endif
