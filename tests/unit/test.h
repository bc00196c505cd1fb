/* test.h — the unit-test harness: a test is a void function; CHECK records a
 * failure with file and line and goes on. Each test prints one line,
 * "PASS name" or "FAIL name", which tests/run counts. The program exits 1 if any
 * test failed. Usage:
 *     static void test_x(void) { CHECK(1 + 1 == 2); }
 *     int main(void) { RUN(test_x); return test_summary(); }
 */
#ifndef KENNEL_TEST_H
#define KENNEL_TEST_H

#include <stdio.h>
#include <string.h>

static int test_failed_checks;
static int test_failed_tests;

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stdout, "  check failed at %s:%d: %s\n", __FILE__, __LINE__, \
				#cond);                                                    \
			test_failed_checks++;                                              \
		}                                                                          \
	} while (0)

#define CHECK_STR_EQ(a, b)                                                                     \
	do {                                                                                   \
		const char *a_ = (a), *b_ = (b);                                                \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                       \
			fprintf(stdout, "  check failed at %s:%d: \"%s\" != \"%s\"\n", __FILE__, \
				__LINE__, a_ ? a_ : "(null)", b_ ? b_ : "(null)");              \
			test_failed_checks++;                                                  \
		}                                                                              \
	} while (0)

static inline void test_run(const char *name, void (*fn)(void))
{
	int before = test_failed_checks;
	fn();
	if (test_failed_checks != before) {
		test_failed_tests++;
		printf("FAIL %s\n", name);
	} else {
		printf("PASS %s\n", name);
	}
	fflush(stdout);
}

#define RUN(fn) test_run(#fn, fn)

static inline int test_summary(void) { return test_failed_tests ? 1 : 0; }

#endif
