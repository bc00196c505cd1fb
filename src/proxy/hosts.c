/* hosts.c — the hosts override file (contract: hosts.h).
 *
 * Lookups are a linear scan: the file is small (a handful of test or pinning
 * entries) and is read once at start-up, so a hash table would be code without
 * a benefit. */
#include "proxy/hosts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/util.h"
#include "proxy/limits.h"

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

static int add_entry(struct kp_hosts *h, const char *name, const struct kn_addr *addr,
		     unsigned line, kn_error *err)
{
	if (h->n == KP_HOSTS_MAX_ENTRIES)
		return kn_fail(err, "line %u: more than %d entries", line, KP_HOSTS_MAX_ENTRIES);
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		struct kp_hosts_entry *e = realloc(h->entries, cap * sizeof(*e));
		if (!e)
			return kn_fail(err, "line %u: out of memory", line);
		h->entries = e;
		h->cap = cap;
	}
	struct kp_hosts_entry *e = &h->entries[h->n++];
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->addr = *addr;
	return 0;
}

/* One line without its newline and comment. */
static int parse_line(struct kp_hosts *h, const char *p, size_t len, unsigned line, kn_error *err)
{
	size_t i = 0, fields = 0;
	struct kn_addr addr;

	for (;;) {
		while (i < len && is_blank(p[i]))
			i++;
		if (i == len)
			break;
		size_t start = i;
		while (i < len && !is_blank(p[i]))
			i++;
		const char *f = p + start;
		size_t flen = i - start;
		const char *reason = NULL;
		if (fields++ == 0) {
			if (kn_addr_parse(f, flen, &addr, &reason) < 0)
				return kn_fail(err, "line %u: address \"%.*s\": %s", line,
					       (int)(flen > 64 ? 64 : flen), f, reason);
			continue;
		}
		char canon[KN_HOST_BUFSZ];
		if (kn_host_canon(f, flen, canon, sizeof(canon), &reason) < 0)
			return kn_fail(err, "line %u: name \"%.*s\": %s", line,
				       (int)(flen > 64 ? 64 : flen), f, reason);
		if (kn_host_kind(canon) != KN_HOST_NAME)
			return kn_fail(err, "line %u: \"%s\" is an address, not a name", line,
				       canon);
		if (add_entry(h, canon, &addr, line, err) < 0)
			return -1;
	}
	if (fields == 1)
		return kn_fail(err, "line %u: address without a name", line);
	return 0;
}

int kp_hosts_parse(struct kp_hosts *h, const char *text, size_t len, kn_error *err)
{
	struct kp_hosts parsed = { 0 };
	unsigned line = 0;
	size_t pos = 0;

	while (pos < len) {
		line++;
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		const char *hash = memchr(text + pos, '#', end - pos);
		size_t content = (hash ? (size_t)(hash - text) : end) - pos;
		if (content > 0 && text[pos + content - 1] == '\r')
			content--;
		if (memchr(text + pos, '\0', content) || memchr(text + pos, '\r', content)) {
			kp_hosts_free(&parsed);
			return kn_fail(err, "line %u: NUL or CR byte", line);
		}
		if (parse_line(&parsed, text + pos, content, line, err) < 0) {
			kp_hosts_free(&parsed);
			return -1;
		}
		pos = end + 1;
	}
	kp_hosts_free(h);
	*h = parsed;
	return 0;
}

int kp_hosts_load(struct kp_hosts *h, const char *path, kn_error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t got = 0;
	if (kn_read_file(path, KP_HOSTS_MAX_BYTES, &buf, &got, err) < 0)
		return -1;
	if (kp_hosts_parse(h, buf, got, err) < 0)
		return kn_fail_prefix(err, "%s", path);
	return 0;
}

size_t kp_hosts_lookup(const struct kp_hosts *h, const char *canon, struct kn_addr *out,
		       size_t max)
{
	size_t found = 0;

	for (size_t i = 0; i < h->n && found < max; i++)
		if (strcmp(h->entries[i].name, canon) == 0)
			out[found++] = h->entries[i].addr;
	return found;
}

void kp_hosts_free(struct kp_hosts *h)
{
	free(h->entries);
	h->entries = NULL;
	h->n = h->cap = 0;
}
