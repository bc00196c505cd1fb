/* api.h — kenneld's HTTP API routes (docs/api.md is the reference).
 *
 * Contract: kn_api_handle takes one parsed request and its body and fills a
 * response: status and a JSON body, or, for an attached exec, a started
 * process whose I/O fds the server sends with the head (SCM_RIGHTS) and whose
 * helper pidfd it watches to send the exit event. Never exits or crashes on
 * bad input: every refusal is a JSON error with a fitting status. */
#ifndef KENNEL_API_H
#define KENNEL_API_H

#include <stddef.h>
#include <sys/types.h>

#include "common/http.h"
#include "daemon/store.h"

/* A request body bigger than this is not a sandbox description. */
#define KN_API_MAX_BODY (1u << 20)

struct kn_api_response {
	int status;
	char *body; /* malloc'd JSON text; NULL for none */
	/* attached exec: */
	int is_exec_stream;
	int helper_pidfd;
	int is_session; /* helper_pidfd / reap_pidfd is init's session socket (sandbox.h) */
	int fds[3];
	size_t n_fds;
	/* detached exec: only the pidfd to reap */
	int reap_pidfd;
};

void kn_api_handle(struct kn_store *st, const struct http_request *req, const char *body,
		   size_t body_len, struct kn_api_response *resp);
/* JSON error body text for `status`. */
char *kn_api_error_body(const char *msg);

#endif
