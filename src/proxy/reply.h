/* reply.h — the responses kennel-proxy writes itself: 200 for an established
 * CONNECT, and the short refusals (400, 403, 502, 503, 504).
 *
 * Contract: pure. kp_reply_format writes a complete HTTP/1.1 response into
 * `buf` and returns its length (always < bufsz; KP_REPLY_MAX is enough for any
 * input, longer texts are cut). The body is "kennel-proxy: <text>\n" as
 * text/plain; the connection is always closed after a refusal, so it says
 * "Connection: close". With a non-NULL `rule` (a policy decision) the response
 * carries "X-Kennel-Policy: <rule>" and the body ends with the rule. Bytes of
 * `text` and `rule` outside printable ASCII become '?', so nothing the client
 * sent can break the head. */
#ifndef KENNEL_PROXY_REPLY_H
#define KENNEL_PROXY_REPLY_H

#include <stddef.h>

#include "policy/policy.h"

/* Status line and fixed headers (~150), X-Kennel-Policy and the body each
 * with a rule (KN_DECISION_RULE_MAX) and a text of up to 512 bytes. */
#define KP_REPLY_MAX 2048
#define KP_REPLY_TEXT_MAX 512

#define KP_POLICY_HEADER "X-Kennel-Policy"

extern const char kp_reply_connect_ok[];

size_t kp_reply_format(char *buf, size_t bufsz, int status, const char *text, const char *rule);

#endif
