#include "core/options.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

/* Reads the leading decimal digits of s; *end points past them. */
static int opt_digits(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*end = p;
	*out = v;
	return 0;
}

int opt_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out, struct err *err)
{
	const char *end;
	uint64_t v;
	int r = opt_digits(s, &end, &v);

	if (r == -ERANGE)
		return err_set(err, "'%s' is too large", s);
	if (r < 0 || *end)
		return err_set(err, "'%s' is not a number", s);
	if (v < min || v > max)
		return err_set(err, "'%s' is out of range (%llu-%llu)", s, (unsigned long long)min,
			       (unsigned long long)max);
	*out = v;
	return 0;
}

int opt_parse_size(const char *s, uint64_t default_unit, uint64_t *out, struct err *err)
{
	static const char units[] = "KMGT";
	const char *end, *u;
	uint64_t v, mult = default_unit;
	int r = opt_digits(s, &end, &v);

	if (r == -ERANGE)
		return err_set(err, "size '%s' is too large", s);
	if (r < 0)
		return err_set(err, "'%s' is not a size (expected e.g. 512M or 2G)", s);
	if (*end) {
		u = strchr(units, toupper((unsigned char)*end));
		if (!u)
			return err_set(err, "'%s' is not a size (expected e.g. 512M or 2G)", s);
		mult = 1ULL << (10 * (u - units + 1));
		end++;
		if (!strcmp(end, "iB") || !strcmp(end, "B"))
			end += strlen(end);
		if (*end)
			return err_set(err, "'%s' is not a size (expected e.g. 512M or 2G)", s);
	}
	if (mult && v > UINT64_MAX / mult)
		return err_set(err, "size '%s' is too large", s);
	*out = v * mult;
	return 0;
}
