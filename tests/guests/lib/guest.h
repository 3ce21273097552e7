/* Shared helpers for Vireo's freestanding test guests: port I/O, a polled
 * COM1 console, command-line parsing, checksums and isa-debug-exit.
 * Compiled both for 32-bit (multiboot guests) and 64-bit (linux64) code;
 * physical addresses below 4 GiB are used directly (identity mapped). */
#ifndef GUEST_H
#define GUEST_H

#include <stddef.h>
#include <stdint.h>

#include "hw/x86/layout.h"

/* isa-debug-exit values: the VMM exits with (v << 1) | 1. */
#define GUEST_PASS 0x10 /* exit status 33 */
#define GUEST_FAIL 0x11 /* exit status 35 */

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t mmio_read32(uintptr_t addr)
{
	return *(volatile uint32_t *)addr;
}

static inline void mmio_write32(uintptr_t addr, uint32_t v)
{
	*(volatile uint32_t *)addr = v;
}

static inline void *phys(uint64_t addr)
{
	return (void *)(uintptr_t)addr;
}

void guest_serial_init(void);
void guest_putc(char c);
void guest_puts(const char *s);
void guest_put_hex(uint64_t v);
void guest_put_dec(uint64_t v);
/* Prints "<prefix>: <what>: ok" or "...: FAIL" and counts failures. */
void guest_check(const char *what, int ok);
int guest_failures(void);
void guest_set_prefix(const char *prefix);
/* Ends the run through isa-debug-exit: GUEST_PASS when no check failed. */
void guest_finish(void) __attribute__((noreturn));
void guest_exit(uint8_t code) __attribute__((noreturn));

size_t guest_strlen(const char *s);
int guest_memcmp(const void *a, const void *b, size_t n);
void *guest_memcpy(void *d, const void *s, size_t n);
void *guest_memset(void *d, int c, size_t n);
/* Finds "key=" at a word start in cmdline; returns the value or NULL. */
const char *guest_cmdline_get(const char *cmdline, const char *key);
/* Parses a decimal or 0x-hex number ending at a space or NUL. */
int guest_parse_u64(const char *s, uint64_t *out);
int guest_cmdline_u64(const char *cmdline, const char *key, uint64_t *out);
/* Does the space-separated cmdline contain this exact word? */
int guest_cmdline_has_word(const char *cmdline, const char *word);
int guest_contains(const char *hay, const char *needle);

uint32_t guest_adler32(const uint8_t *p, size_t n);
uint8_t guest_sum8(const void *p, size_t n);

/* ACPI: the RSDP found by scanning 0xe0000-0xfffff (ACPI 6.5 §5.2.5.1),
 * checksums verified; 0 when absent or broken. */
uint64_t guest_acpi_find_rsdp(void);
int guest_acpi_rsdp_valid(uint64_t rsdp);
/* Number of enabled processor LAPIC entries in the MADT, -1 without one. */
int guest_acpi_madt_cpus(uint64_t rsdp);

uint8_t guest_cmos_read(uint8_t index);
void guest_cmos_write(uint8_t index, uint8_t v);

/* ACPI PM timer (3.579545 MHz, 24 bit): waits about us microseconds, with
 * a bounded spin as fallback when the timer does not tick. */
void guest_udelay(uint32_t us);

/* A memory map entry in e820 terms (type 1 = RAM). */
struct guest_mem_range {
	uint64_t base;
	uint64_t len;
	uint32_t type;
};

/* Checks a memory map against the RAM size the test asked for: RAM at 0
 * below 640 KiB, nothing usable in the legacy hole, RAM from 1 MiB, no
 * overlaps, none in the PCI hole, and RAM above 1 MiB adding up to
 * mem - 1 MiB (minus up to slack bytes a firmware may reserve). */
void guest_check_memmap(const struct guest_mem_range *r, int n, uint64_t mem, uint64_t slack);
#endif
