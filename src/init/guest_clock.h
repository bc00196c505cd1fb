/* guest_clock.h — the guest's wall clock, set to the host's to the millisecond.
 *
 * Contract: kn_guest_clock_sync forks a child and returns at once (PID 1 reaps
 * it like any other). The kernel set the clock from the emulated RTC at boot,
 * whole seconds only, so the guest starts up to a second behind the host; files
 * the host writes into the workspace then look as if they came from the
 * future (make: "Clock skew detected"). The child waits for the RTC's next
 * second boundary (its update interrupt; QEMU's RTC follows the host's clock),
 * at most KN_GUEST_CLOCK_WAIT_MS, and sets CLOCK_REALTIME to that second.
 * Without /dev/rtc0 or its interrupt it says so on the console and the boot
 * time stays. */
#ifndef KENNEL_INIT_GUEST_CLOCK_H
#define KENNEL_INIT_GUEST_CLOCK_H

/* One RTC second, with room for a slow emulated interrupt. */
#define KN_GUEST_CLOCK_WAIT_MS 2500

void kn_guest_clock_sync(void);

#endif
