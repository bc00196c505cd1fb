/* fuzz.h — shared by the libFuzzer targets in tests/fuzz.
 *
 * ASSERT(cond): an invariant of the code under test; when it fails the input
 * is a finding, so the process aborts (libFuzzer saves the input as a crash)
 * after naming the file, line and condition. */
#ifndef KENNEL_FUZZ_H
#define KENNEL_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define ASSERT(cond)                                                                 \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "invariant failed at %s:%d: %s\n", __FILE__, \
				__LINE__, #cond);                                    \
			abort();                                                     \
		}                                                                    \
	} while (0)

#endif
