/* Number and size parsing for command-line options: strict (no sign, no
 * trailing garbage, no overflow) so that every bad value gets a clear error. */
#ifndef VIREO_CORE_OPTIONS_H
#define VIREO_CORE_OPTIONS_H

#include <stdint.h>

#include "core/err.h"

/* Parses a decimal integer in [min, max]. */
int opt_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out, struct err *err);

/* Parses "N" or "N" followed by one of K, M, G, T (binary units, case-insensitive,
 * optionally followed by "iB" or "B"). A bare number is multiplied by
 * default_unit (1 for bytes; QEMU's -m uses MiB). */
int opt_parse_size(const char *s, uint64_t default_unit, uint64_t *out, struct err *err);

#endif
