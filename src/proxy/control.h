/* control.h — the messages of the control channel (docs/proxy-protocol.md):
 * kenneld → master, and the same messages fanned out master → worker.
 *
 * Contract: kp_command_parse takes one message (`len` bytes of JSON, not
 * NUL-terminated) and the number of fds that came with it, and either fills
 * `cmd` or fails with a message fit for {"ok":false,"error":...}. It checks:
 *   - a JSON object with exactly the keys its op allows:
 *       sandbox  op, name, policy [, ca]   + 1 or 2 fds
 *       policy   op, name, policy   + no fd
 *       remove   op, name           + no fd
 *       secrets  op, secrets        + no fd (the whole credential table,
 *                                    secrets.h; replaces the previous one)
 *     plus "slot" (0..KP_MAX_SANDBOXES-1, required) when `from_master`;
 *   - name: 1..KP_SANDBOX_NAME_MAX bytes of printable ASCII (it is a log field
 *     and a table key);
 *   - policy: accepted by kn_policy_from_json (kept parsed in `cmd->policy`);
 *   - ca: {"cert": PEM, "key": PEM}, each a non-empty string of at most
 *     KP_CA_PEM_MAX bytes (checked as X.509 only by the worker, tls.h); kept
 *     as copies, the key wiped when freed (common/wipe.h). Without it the sandbox's CONNECTs
 *     are plain tunnels.
 * The fds themselves are checked by kp_check_listener (a listening TCP
 * socket, IPv4 or IPv6). kp_command_free releases what parse filled.
 *
 * kp_command_for_worker renders `cmd` for a worker: the policy in canonical
 * JSON plus the slot. kp_reply_text renders {"ok":true} or {"ok":false,
 * "error":E}. Both return malloc'd NUL-terminated text, NULL when out of
 * memory. */
#ifndef KENNEL_PROXY_CONTROL_H
#define KENNEL_PROXY_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "policy/policy.h"
#include "proxy/limits.h"
#include "proxy/secrets.h"

enum kp_op {
	KP_OP_SANDBOX,
	KP_OP_POLICY,
	KP_OP_REMOVE,
	KP_OP_SECRETS,
};

struct kp_command {
	enum kp_op op;
	char name[KP_SANDBOX_NAME_MAX + 1];
	int slot; /* -1 unless from the master */
	bool has_policy;
	struct kn_policy policy;
	char *ca_cert, *ca_key; /* NUL-terminated PEM, or NULL */
	struct kp_secrets *secrets; /* KP_OP_SECRETS */
};

int kp_command_parse(const char *buf, size_t len, size_t n_fds, bool from_master,
		     struct kp_command *cmd, kn_error *err);
void kp_command_free(struct kp_command *cmd);
const char *kp_op_name(enum kp_op op);

char *kp_command_for_worker(const struct kp_command *cmd, int slot);
char *kp_reply_text(bool ok, const char *error);
/* {"op":"ready"} */
extern const char kp_ready_message[];

int kp_check_listener(int fd, kn_error *err);

#endif
