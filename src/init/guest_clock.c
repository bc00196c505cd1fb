#define _GNU_SOURCE
#include "init/guest_clock.h"

#include <fcntl.h>
#include <linux/rtc.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static void __attribute__((noreturn)) sync_now(void)
{
	int fd = open("/dev/rtc0", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		dprintf(2, "kennel-guest: open /dev/rtc0: %m; the clock stays as the kernel set it\n");
		_exit(1);
	}
	unsigned long data;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	struct rtc_time rt;
	if (ioctl(fd, RTC_UIE_ON, 0) < 0 || poll(&p, 1, KN_GUEST_CLOCK_WAIT_MS) != 1 ||
	    read(fd, &data, sizeof(data)) != (ssize_t)sizeof(data) || ioctl(fd, RTC_RD_TIME, &rt) < 0) {
		dprintf(2, "kennel-guest: no second tick from /dev/rtc0; the clock stays as the kernel set it\n");
		_exit(1);
	}
	ioctl(fd, RTC_UIE_OFF, 0);
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	tm.tm_sec = rt.tm_sec;
	tm.tm_min = rt.tm_min;
	tm.tm_hour = rt.tm_hour;
	tm.tm_mday = rt.tm_mday;
	tm.tm_mon = rt.tm_mon;
	tm.tm_year = rt.tm_year;
	struct timespec now = {.tv_sec = timegm(&tm), .tv_nsec = 0};
	if (now.tv_sec <= 0 || clock_settime(CLOCK_REALTIME, &now) < 0) {
		dprintf(2, "kennel-guest: set the clock from /dev/rtc0: %m\n");
		_exit(1);
	}
	_exit(0);
}

void kn_guest_clock_sync(void)
{
	pid_t pid = fork();
	if (pid == 0)
		sync_now();
	if (pid < 0)
		dprintf(2, "kennel-guest: fork the clock setter: %m\n");
}
