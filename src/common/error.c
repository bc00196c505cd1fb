#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int kn_fail(kn_error *err, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		err->errnum = 0;
	}
	return -1;
}

int kn_fail_errno(kn_error *err, const char *fmt, ...)
{
	int saved = errno;
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < sizeof(err->msg))
			snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", strerror(saved));
		err->errnum = saved;
	}
	errno = saved;
	return -1;
}

int kn_fail_prefix(kn_error *err, const char *fmt, ...)
{
	if (err) {
		char prefix[KN_ERR_MAX], old[KN_ERR_MAX];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(prefix, sizeof(prefix), fmt, ap);
		va_end(ap);
		memcpy(old, err->msg, sizeof(old));
		snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
	}
	return -1;
}

int kn_fail_class(kn_error *err, int errnum, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		err->errnum = errnum;
	}
	return -1;
}
