/* buf.c — growable byte buffer (contract: buf.h). */
#include "proxy/buf.h"

#include <stdlib.h>
#include <string.h>

size_t kp_buf_reserve(struct kp_buf *b, size_t want, size_t limit, bool *oom)
{
	*oom = false;
	if (b->cap >= limit || b->cap - b->len >= want)
		return (b->cap < limit ? b->cap : limit) - (b->len < limit ? b->len : limit);
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - b->len < want && cap < limit)
		cap *= 2;
	if (cap > limit)
		cap = limit;
	char *data = realloc(b->data, cap);
	if (!data) {
		*oom = true;
		return 0;
	}
	b->data = data;
	b->cap = cap;
	return cap - b->len;
}

void kp_buf_consume(struct kp_buf *b, size_t n)
{
	if (n >= b->len) {
		kp_buf_free(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void kp_buf_free(struct kp_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
