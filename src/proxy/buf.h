/* buf.h — a growable byte buffer for bytes read but not yet forwarded.
 *
 * Contract: data[0..len) are the pending bytes. kp_buf_reserve makes room for
 * at least `want` more bytes without growing past `limit` in total and returns
 * the room available (0: full at `limit`, or out of memory: `*oom` set).
 * kp_buf_consume drops n bytes from the front and frees the memory once the
 * buffer is empty, so an idle connection holds no buffer. */
#ifndef KENNEL_PROXY_BUF_H
#define KENNEL_PROXY_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct kp_buf {
	char *data;
	size_t len, cap;
};

size_t kp_buf_reserve(struct kp_buf *b, size_t want, size_t limit, bool *oom);
void kp_buf_consume(struct kp_buf *b, size_t n);
void kp_buf_free(struct kp_buf *b);

#endif
