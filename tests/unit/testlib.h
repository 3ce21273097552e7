/* Minimal unit-test helpers speaking tests/run.sh's protocol:
 * "ok NAME" / "not ok NAME: why". A test binary exits 0 even when a
 * check fails; the runner counts the lines. */
#ifndef VIREO_TESTLIB_H
#define VIREO_TESTLIB_H

#include <stdio.h>

static int testlib_failed_;
static const char *testlib_name_;

#define TEST_BEGIN(name) (testlib_name_ = (name), testlib_failed_ = 0)
#define TEST_END()                                                                                 \
	do {                                                                                       \
		if (!testlib_failed_)                                                              \
			printf("ok %s\n", testlib_name_);                                          \
		fflush(stdout);                                                                    \
	} while (0)

/* Records the first failing check of the current test; later checks still run. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond) && !testlib_failed_++)                                                 \
			printf("not ok %s: %s:%d: %s\n", testlib_name_, __FILE__, __LINE__, #cond); \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);     \
		if (a_ != b_ && !testlib_failed_++)                                                \
			printf("not ok %s: %s:%d: %s == %s (0x%llx != 0x%llx)\n", testlib_name_,   \
			       __FILE__, __LINE__, #a, #b, a_, b_);                                 \
	} while (0)

#endif
