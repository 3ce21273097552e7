/* Option parsing: numbers and sizes, including every kind of bad input. */
#include <string.h>

#include "core/options.h"
#include "testlib.h"

int main(void)
{
	struct err err = { { 0 } };
	uint64_t v = 0;

	TEST_BEGIN("opt_parse_uint_accepts_range");
	CHECK(opt_parse_uint("4", 1, 255, &v, &err) == 0);
	CHECK_EQ(v, 4);
	CHECK(opt_parse_uint("255", 1, 255, &v, &err) == 0);
	CHECK_EQ(v, 255);
	TEST_END();

	TEST_BEGIN("opt_parse_uint_rejects_bad");
	CHECK(opt_parse_uint("0", 1, 255, &v, &err) < 0);
	CHECK(strstr(err.msg, "out of range") != NULL);
	CHECK(opt_parse_uint("256", 1, 255, &v, &err) < 0);
	CHECK(opt_parse_uint("", 1, 255, &v, &err) < 0);
	CHECK(opt_parse_uint("-1", 0, 255, &v, &err) < 0);
	CHECK(opt_parse_uint("+1", 0, 255, &v, &err) < 0);
	CHECK(opt_parse_uint(" 1", 0, 255, &v, &err) < 0);
	CHECK(opt_parse_uint("1x", 0, 255, &v, &err) < 0);
	CHECK(strstr(err.msg, "not a number") != NULL);
	CHECK(opt_parse_uint("99999999999999999999999", 0, ~0ULL, &v, &err) < 0);
	CHECK(strstr(err.msg, "too large") != NULL);
	TEST_END();

	TEST_BEGIN("opt_parse_size_units");
	CHECK(opt_parse_size("512M", 1, &v, &err) == 0);
	CHECK_EQ(v, 512ULL << 20);
	CHECK(opt_parse_size("2g", 1, &v, &err) == 0);
	CHECK_EQ(v, 2ULL << 30);
	CHECK(opt_parse_size("64K", 1, &v, &err) == 0);
	CHECK_EQ(v, 64ULL << 10);
	CHECK(opt_parse_size("1GiB", 1, &v, &err) == 0);
	CHECK_EQ(v, 1ULL << 30);
	CHECK(opt_parse_size("3MB", 1, &v, &err) == 0);
	CHECK_EQ(v, 3ULL << 20);
	CHECK(opt_parse_size("1T", 1, &v, &err) == 0);
	CHECK_EQ(v, 1ULL << 40);
	CHECK(opt_parse_size("256", 1ULL << 20, &v, &err) == 0);
	CHECK_EQ(v, 256ULL << 20);
	CHECK(opt_parse_size("4096", 1, &v, &err) == 0);
	CHECK_EQ(v, 4096);
	CHECK(opt_parse_size("0", 1, &v, &err) == 0);
	CHECK_EQ(v, 0);
	TEST_END();

	TEST_BEGIN("opt_parse_size_rejects_bad");
	CHECK(opt_parse_size("", 1, &v, &err) < 0);
	CHECK(opt_parse_size("M", 1, &v, &err) < 0);
	CHECK(opt_parse_size("12Q", 1, &v, &err) < 0);
	CHECK(strstr(err.msg, "not a size") != NULL);
	CHECK(opt_parse_size("12MM", 1, &v, &err) < 0);
	CHECK(opt_parse_size("1.5G", 1, &v, &err) < 0);
	CHECK(opt_parse_size("-1G", 1, &v, &err) < 0);
	CHECK(opt_parse_size("16777216T", 1, &v, &err) < 0);
	CHECK(strstr(err.msg, "too large") != NULL);
	CHECK(opt_parse_size("18446744073709551616", 1, &v, &err) < 0);
	CHECK(opt_parse_size("18446744073709551615", 1ULL << 20, &v, &err) < 0);
	TEST_END();
	return 0;
}
