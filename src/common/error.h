/* error.h — the error object every fallible function takes last.
 *
 * Contract (crun style): a fallible function returns 0 on success or -1 on
 * failure, and on failure has written one human sentence into `err` that names
 * what failed and on what object, e.g. "mount overlay on /var/lib/kennel/x/root:
 * Invalid argument". `kn_fail` formats a message; `kn_fail_errno` appends
 * strerror(errno) (errno is preserved in `err->errnum`). `err` may be NULL when
 * the caller does not care. Messages are truncated at KN_ERR_MAX. */
#ifndef KENNEL_ERROR_H
#define KENNEL_ERROR_H

#include <stdarg.h>

/* Long enough for two absolute paths and a strerror text. */
#define KN_ERR_MAX 1024

typedef struct kn_error {
	int errnum;
	char msg[KN_ERR_MAX];
} kn_error;

int kn_fail(kn_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int kn_fail_errno(kn_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A message with a class in `errnum` (EINVAL: the request is wrong, ENOENT:
 * no such thing, E2BIG: too large, ...) that the API maps to a status. */
int kn_fail_class(kn_error *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefix an existing message: "create sandbox x: <old message>". */
int kn_fail_prefix(kn_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
