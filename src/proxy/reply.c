/* reply.c — canned responses (contract: reply.h). */
#include "proxy/reply.h"

#include <stdio.h>
#include <string.h>

#include "common/http.h"

const char kp_reply_connect_ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";

/* Copy `s` into `out` (size outsz, NUL-terminated), at most `max` bytes,
 * replacing anything but printable ASCII. */
static void sanitize(char *out, size_t outsz, const char *s, size_t max)
{
	size_t i = 0;

	for (; s && s[i] && i < max && i + 1 < outsz; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[i] = '\0';
}

size_t kp_reply_format(char *buf, size_t bufsz, int status, const char *text, const char *rule)
{
	char t[KP_REPLY_TEXT_MAX + 1], r[KN_DECISION_RULE_MAX + 1], body[KP_REPLY_TEXT_MAX + KN_DECISION_RULE_MAX + 64];
	int blen;

	sanitize(t, sizeof(t), text ? text : "", KP_REPLY_TEXT_MAX);
	if (rule) {
		sanitize(r, sizeof(r), rule, KN_DECISION_RULE_MAX);
		blen = snprintf(body, sizeof(body), "kennel-proxy: %s: %s\n", t, r);
	} else {
		blen = snprintf(body, sizeof(body), "kennel-proxy: %s\n", t);
	}
	if (blen < 0)
		blen = 0;
	if ((size_t)blen >= sizeof(body))
		blen = (int)sizeof(body) - 1;

	int n = snprintf(buf, bufsz,
			 "HTTP/1.1 %03d %s\r\n"
			 "Content-Type: text/plain; charset=utf-8\r\n"
			 "Content-Length: %d\r\n"
			 "Connection: close\r\n"
			 "%s%s%s"
			 "\r\n"
			 "%s",
			 status, http_status_text(status), blen, rule ? KP_POLICY_HEADER ": " : "",
			 rule ? r : "", rule ? "\r\n" : "", body);
	if (n < 0)
		return 0;
	return (size_t)n < bufsz ? (size_t)n : bufsz - 1;
}
