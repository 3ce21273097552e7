/* A small AML encoder (ACPI 6.5 §20 "ACPI Machine Language Specification")
 * writing into a caller-provided buffer. Objects with a PkgLength are built
 * with *_begin() / aml_end(): the length is inserted when the object is
 * closed, so callers never compute sizes. Running out of room sets
 * a->overflow and drops further bytes; check it once at the end. */
#ifndef VIREO_HW_ACPI_AML_H
#define VIREO_HW_ACPI_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *buf;
	size_t len, cap;
	bool overflow;
};

/* Where an open object's contents start, for aml_end(). */
struct aml_open {
	size_t start;
	bool buffer; /* a Buffer: BufferSize goes in before the bytes */
};

void aml_init(struct aml *a, uint8_t *buf, size_t cap);
void aml_bytes(struct aml *a, const void *p, size_t n);
void aml_byte(struct aml *a, uint8_t b);

/* NameString: "\\_SB.PCI0", "_HID", "^FOO"; segments shorter than four
 * characters are padded with '_'. */
void aml_name_string(struct aml *a, const char *path);
/* ComputationalData: the shortest integer encoding, strings, EISAID. */
void aml_integer(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);
void aml_eisaid(struct aml *a, const char *id); /* "PNP0A08" */

/* Name(path, <next object>) */
void aml_name(struct aml *a, const char *path);
/* Name(path, integer) and Name(path, EISAID(id)) shorthands. */
void aml_name_integer(struct aml *a, const char *path, uint64_t v);
void aml_name_eisaid(struct aml *a, const char *path, const char *id);

struct aml_open aml_scope_begin(struct aml *a, const char *path);
struct aml_open aml_device_begin(struct aml *a, const char *path);
struct aml_open aml_package_begin(struct aml *a, uint8_t nelems);
struct aml_open aml_method_begin(struct aml *a, const char *path, unsigned nargs,
				 bool serialized);
/* Buffer holding a resource template; aml_end() appends the end tag. */
struct aml_open aml_resource_template_begin(struct aml *a);
void aml_end(struct aml *a, struct aml_open o);

/* Return(<next object>) */
void aml_return(struct aml *a);

/* Resource descriptors (ACPI 6.5 §6.4) for use inside a resource template. */
void aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
void aml_res_irq_noflags(struct aml *a, unsigned irq);
void aml_res_memory32_fixed(struct aml *a, uint32_t base, uint32_t len, bool rw);
void aml_res_word_bus(struct aml *a, uint16_t min, uint16_t max);
void aml_res_word_io(struct aml *a, uint16_t min, uint16_t max);
void aml_res_dword_memory(struct aml *a, uint32_t min, uint32_t max, bool cacheable);
void aml_res_qword_memory(struct aml *a, uint64_t min, uint64_t max, bool cacheable);

#endif
