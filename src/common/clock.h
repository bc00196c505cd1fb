/* clock.h — the monotonic clock in milliseconds, for deadlines and timeouts.
 *
 * Contract: kn_now_ms is CLOCK_MONOTONIC in ms (signed: deadlines are
 * subtracted from it). Header-only, so the static kennel-init uses it too. */
#ifndef KENNEL_CLOCK_H
#define KENNEL_CLOCK_H

#include <time.h>

static inline long long kn_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

#endif
