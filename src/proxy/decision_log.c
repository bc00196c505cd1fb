/* decision_log.c — decision lines and the rotating log file (contract:
 * decision_log.h).
 *
 * The line is written by hand rather than through jansson: every string field
 * is reduced to printable ASCII first (so the JSON is valid whatever a client
 * sent as a host), and the writer needs no allocation per request. */
#define _GNU_SOURCE /* strchrnul */
#include "proxy/decision_log.h"

#include "common/secret_rules.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proxy/limits.h"

const char *kp_decision_name(enum kp_verdict_kind d)
{
	switch (d) {
	case KP_DECISION_ALLOW:
		return "allow";
	case KP_DECISION_BLOCK:
		return "block";
	case KP_DECISION_ERROR:
		break;
	}
	return "error";
}

struct line {
	char *buf;
	size_t cap, len;
	bool overflow;
};

static void put(struct line *l, const char *s, size_t n)
{
	if (l->overflow || n >= l->cap - l->len) {
		l->overflow = true;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

/* Numbers and the time are written by hand, not through printf: formatting
 * was about a twentieth of a worker's CPU per request (perf, close mode). */
static void put_u64(struct line *l, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof(tmp);
	do
		tmp[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	put(l, tmp + i, sizeof(tmp) - i);
}

/* `v` in exactly `width` digits, zero-padded (v < 10^width). */
static void put_fixed(struct line *l, unsigned v, int width)
{
	char tmp[8];
	for (int i = width - 1; i >= 0; i--, v /= 10)
		tmp[i] = (char)('0' + v % 10);
	put(l, tmp, (size_t)width);
}

/* A JSON string of the printable-ASCII reduction of `s`, or null. */
static void put_string(struct line *l, const char *s)
{
	if (!s) {
		put(l, "null", 4);
		return;
	}
	put(l, "\"", 1);
	while (*s) {
		size_t n = 0;
		for (unsigned char c; (c = (unsigned char)s[n]) >= 0x20 && c < 0x7f && c != '"' && c != '\\';)
			n++;
		put(l, s, n);
		s += n;
		if (!*s)
			break;
		unsigned char c = (unsigned char)*s++;
		if (c == '"' || c == '\\') {
			char esc[2] = { '\\', (char)c };
			put(l, esc, 2);
		} else {
			put(l, "?", 1);
		}
	}
	put(l, "\"", 1);
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ"; the broken-down time is kept per second. */
static void put_time(struct line *l, int64_t ms)
{
	static time_t cached_sec = -1;
	static struct tm tm;
	time_t sec = (time_t)(ms / 1000);
	if (sec != cached_sec) {
		gmtime_r(&sec, &tm);
		cached_sec = sec;
	}
	put(l, "\"", 1);
	put_fixed(l, (unsigned)(tm.tm_year + 1900), 4);
	put(l, "-", 1);
	put_fixed(l, (unsigned)(tm.tm_mon + 1), 2);
	put(l, "-", 1);
	put_fixed(l, (unsigned)tm.tm_mday, 2);
	put(l, "T", 1);
	put_fixed(l, (unsigned)tm.tm_hour, 2);
	put(l, ":", 1);
	put_fixed(l, (unsigned)tm.tm_min, 2);
	put(l, ":", 1);
	put_fixed(l, (unsigned)tm.tm_sec, 2);
	put(l, ".", 1);
	put_fixed(l, (unsigned)(ms % 1000), 3);
	put(l, "Z\"", 2);
}

size_t kp_decision_format(const struct kp_decision_record *r, char *buf, size_t bufsz)
{
	struct line l = { .buf = buf, .cap = bufsz };

	if (bufsz == 0)
		return 0;
	put(&l, "{\"time\":", 8);
	put_time(&l, r->time_ms);
	put(&l, ",\"sandbox\":", 11);
	put_string(&l, r->sandbox ? r->sandbox : "");
	put(&l, ",\"method\":", 10);
	put_string(&l, r->method ? r->method : "");
	put(&l, ",\"host\":", 8);
	put_string(&l, r->host);
	if (r->port > 0) {
		put(&l, ",\"port\":", 8);
		put_u64(&l, (uint64_t)r->port);
	} else
		put(&l, ",\"port\":null", 12);
	put(&l, ",\"addr\":", 8);
	if (r->addr) {
		char a[KN_ADDR_STRLEN];
		kn_addr_format(r->addr, a, sizeof(a));
		put_string(&l, a);
	} else {
		put(&l, "null", 4);
	}
	put(&l, ",\"rule\":", 8);
	put_string(&l, r->rule);
	put(&l, ",\"decision\":", 12);
	put_string(&l, kp_decision_name(r->decision));
	if (r->status > 0) {
		put(&l, ",\"status\":", 10);
		put_u64(&l, (uint64_t)r->status);
	} else
		put(&l, ",\"status\":null", 14);
	put(&l, ",\"bytes_up\":", 12);
	put_u64(&l, r->bytes_up);
	put(&l, ",\"bytes_down\":", 14);
	put_u64(&l, r->bytes_down);
	put(&l, ",\"duration_ms\":", 15);
	put_u64(&l, r->duration_ms);
	if (r->intercepted)
		put(&l, ",\"tls\":\"intercepted\"", 20);
	if (r->secrets) {
		put(&l, ",\"secrets\":[", 12);
		const char *p = r->secrets;
		while (*p) {
			const char *end = strchrnul(p, ',');
			char name[KN_SECRET_NAME_MAX + 1];
			snprintf(name, sizeof(name), "%.*s", (int)(end - p), p);
			if (p != r->secrets)
				put(&l, ",", 1);
			put_string(&l, name);
			p = *end ? end + 1 : end;
		}
		put(&l, "]", 1);
	}
	if (r->error) {
		put(&l, ",\"error\":", 9);
		put_string(&l, r->error);
	}
	put(&l, "}", 1);
	if (l.overflow)
		return 0;
	buf[l.len] = '\0';
	return l.len;
}

/* ---- the file ---- */

static int open_current(struct kp_log *log, kn_error *err)
{
	int fd = open(log->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		return kn_fail_errno(err, "open %s", log->path);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return kn_fail_errno(err, "fstat %s", log->path);
	}
	log->fd = fd;
	log->size = st.st_size;
	return 0;
}

int kp_log_open(struct kp_log *log, const char *path, off_t max_bytes, kn_error *err)
{
	log->fd = -1;
	log->size = 0;
	log->max_bytes = max_bytes;
	log->path = strdup(path);
	if (!log->path)
		return kn_fail(err, "decision log %s: out of memory", path);
	if (open_current(log, err) < 0) {
		free(log->path);
		log->path = NULL;
		return -1;
	}
	return 0;
}

static int rotate(struct kp_log *log, kn_error *err)
{
	char from[4096], to[4096];

	close(log->fd);
	log->fd = -1;
	for (int i = KP_LOG_KEEP - 1; i >= 0; i--) {
		if (i == 0)
			snprintf(from, sizeof(from), "%s", log->path);
		else
			snprintf(from, sizeof(from), "%s.%d", log->path, i);
		snprintf(to, sizeof(to), "%s.%d", log->path, i + 1);
		if (rename(from, to) < 0 && errno != ENOENT) {
			kn_fail_errno(err, "rename %s to %s", from, to);
			/* Keep logging into FILE whatever happened to the old ones. */
			open_current(log, NULL);
			return -1;
		}
	}
	return open_current(log, err);
}

int kp_log_append(struct kp_log *log, const char *lines, size_t len, kn_error *err)
{
	if (log->fd < 0 && open_current(log, err) < 0)
		return -1;
	if (len == 0 || len > KP_LOG_BATCH_MAX || lines[len - 1] != '\n')
		return kn_fail(err, "decision log %s: not a batch of whole lines (%zu bytes)", log->path,
			       len);
	ssize_t n;
	do
		n = write(log->fd, lines, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return kn_fail_errno(err, "write %s", log->path);
	log->size += n;
	if ((size_t)n != len)
		return kn_fail(err, "write %s: short write (%zd of %zu)", log->path, n, len);
	if (log->size > log->max_bytes)
		return rotate(log, err);
	return 0;
}

void kp_log_close(struct kp_log *log)
{
	if (log->fd >= 0)
		close(log->fd);
	log->fd = -1;
	free(log->path);
	log->path = NULL;
}
