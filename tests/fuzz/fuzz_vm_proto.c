/* fuzz_vm_proto.c — libFuzzer target for sandbox/vm_proto.h, the code with
 * which the host parses what a (possibly hostile) guest sends and the guest
 * init parses what reaches its exec port.
 *
 * Runs the frame head parser on the first KN_VM_FRAME_HEAD bytes, the request
 * decoder and the config parser on the whole input, and aborts when an
 * invariant breaks:
 *   - an accepted head has a known type and a length <= KN_VM_FRAME_MAX, and
 *     kn_vm_frame_head writes the same 5 bytes back;
 *   - a decoded request has a hex token of KN_VM_TOKEN_LEN, uid and gid below
 *     2^32-1, an absolute workdir, tty and stdin_open 0 or 1, argv non-empty;
 *     it re-encodes to exactly the input (plus the last NUL the input may lack)
 *     and that decodes to the same fields;
 *   - a refusal names its field in *reason;
 *   - a parsed config has a hex token and a hostname within
 *     KN_VM_HOSTNAME_MAX; with a hostname it formats to text that parses to
 *     the same config.
 * Build: make fuzz (build-fuzz/fuzz_vm_proto). Seeds: tests/fuzz/corpus/vm_proto/ */
#include "sandbox/vm_proto.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static int hex_token(const char *t)
{
	if (strlen(t) != KN_VM_TOKEN_LEN)
		return 0;
	for (size_t i = 0; i < KN_VM_TOKEN_LEN; i++)
		if (!isxdigit((unsigned char)t[i]))
			return 0;
	return 1;
}

static size_t count(char **v)
{
	size_t n = 0;
	while (v[n])
		n++;
	return n;
}

static void same_strings(char **a, char **b)
{
	size_t n = count(a);
	ASSERT(count(b) == n);
	for (size_t i = 0; i < n; i++)
		ASSERT(strcmp(a[i], b[i]) == 0);
}

static void fuzz_head(const uint8_t *data, size_t size)
{
	if (size < KN_VM_FRAME_HEAD)
		return;
	char type = 0;
	uint32_t len = 0;
	if (kn_vm_frame_parse_head(data, &type, &len) < 0)
		return;
	ASSERT(len <= KN_VM_FRAME_MAX);
	ASSERT(strchr("HRICWKSOEXF", type) && type != '\0');
	uint8_t head[KN_VM_FRAME_HEAD];
	kn_vm_frame_head(head, type, len);
	ASSERT(memcmp(head, data, KN_VM_FRAME_HEAD) == 0);
}

static void check_req(const struct kn_vm_req *r)
{
	ASSERT(hex_token(r->token));
	ASSERT(r->uid != UINT32_MAX && r->gid != UINT32_MAX);
	ASSERT(r->workdir && r->workdir[0] == '/');
	ASSERT(r->tty == 0 || r->tty == 1);
	ASSERT(r->stdin_open == 0 || r->stdin_open == 1);
	ASSERT(r->argv && r->argv[0] && count(r->argv) <= KN_VM_REQ_MAX_ARGS);
	ASSERT(r->env && count(r->env) <= KN_VM_REQ_MAX_ENV);
}

static void fuzz_req(const uint8_t *data, size_t size)
{
	/* The decoder writes a NUL at buf[size]: exactly one spare byte, so ASan
	 * catches any read or write past it. */
	uint8_t *buf = malloc(size + 1);
	if (!buf)
		abort();
	memcpy(buf, data, size);
	struct kn_vm_req r;
	const char *reason = NULL;
	if (kn_vm_req_decode(buf, size, &r, &reason) < 0) {
		ASSERT(reason != NULL && reason[0] != '\0');
		ASSERT(r.argv == NULL && r.env == NULL);
		free(buf);
		return;
	}
	check_req(&r);

	size_t len = 0;
	uint8_t *enc = kn_vm_req_encode(&r, &len);
	ASSERT(enc != NULL);
	/* Fields are NUL-terminated and numbers canonical, so the encoding is
	 * the input itself; a last field without its NUL gets one. */
	int ends_nul = size > 0 && data[size - 1] == '\0';
	ASSERT(len == size + !ends_nul);
	ASSERT(memcmp(enc, data, size) == 0 && enc[len - 1] == '\0');

	uint8_t *again_buf = malloc(len + 1);
	if (!again_buf)
		abort();
	memcpy(again_buf, enc, len);
	struct kn_vm_req again;
	reason = NULL;
	ASSERT(kn_vm_req_decode(again_buf, len, &again, &reason) == 0);
	ASSERT(strcmp(again.token, r.token) == 0);
	ASSERT(again.uid == r.uid && again.gid == r.gid);
	ASSERT(strcmp(again.workdir, r.workdir) == 0);
	ASSERT(again.tty == r.tty && again.stdin_open == r.stdin_open);
	ASSERT(again.rows == r.rows && again.cols == r.cols);
	same_strings(again.argv, r.argv);
	same_strings(again.env, r.env);

	kn_vm_req_free(&again);
	free(again_buf);
	free(enc);
	kn_vm_req_free(&r);
	ASSERT(r.argv == NULL && r.env == NULL);
	free(buf);
}

static void fuzz_config(const uint8_t *data, size_t size)
{
	/* Its own allocation of exactly size bytes: the parser must not need a
	 * terminator. */
	char *text = malloc(size ? size : 1);
	if (!text)
		abort();
	memcpy(text, data, size);
	struct kn_vm_config c;
	const char *reason = NULL;
	if (kn_vm_config_parse(text, size, &c, &reason) < 0) {
		ASSERT(reason != NULL && reason[0] != '\0');
		free(text);
		return;
	}
	ASSERT(hex_token(c.token));
	size_t hlen = strnlen(c.hostname, sizeof(c.hostname));
	ASSERT(hlen <= KN_VM_HOSTNAME_MAX);
	for (size_t i = 0; i < hlen; i++)
		ASSERT(isalnum((unsigned char)c.hostname[i]) || strchr("-._", c.hostname[i]));
	/* The hostname is optional in the text but the formatter always writes
	 * one, which the parser refuses empty: round trip only with one. */
	if (hlen > 0) {
		char out[256];
		int n = kn_vm_config_format(&c, out, sizeof(out));
		ASSERT(n > 0);
		struct kn_vm_config back;
		ASSERT(kn_vm_config_parse(out, (size_t)n, &back, &reason) == 0);
		ASSERT(strcmp(back.token, c.token) == 0 && strcmp(back.hostname, c.hostname) == 0);
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_head(data, size);
	fuzz_req(data, size);
	fuzz_config(data, size);
	/* The host reads a head, then the payload after it. */
	if (size > KN_VM_FRAME_HEAD)
		fuzz_req(data + KN_VM_FRAME_HEAD, size - KN_VM_FRAME_HEAD);
	return 0;
}
