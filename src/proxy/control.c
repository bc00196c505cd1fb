/* control.c — control messages (contract: control.h). */
#include "proxy/control.h"

#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/wipe.h"
#include "policy/policy_json.h"

const char kp_ready_message[] = "{\"op\":\"ready\"}";

const char *kp_op_name(enum kp_op op)
{
	switch (op) {
	case KP_OP_SANDBOX:
		return "sandbox";
	case KP_OP_POLICY:
		return "policy";
	case KP_OP_REMOVE:
		return "remove";
	case KP_OP_SECRETS:
		break;
	}
	return "secrets";
}

static int parse_op(const char *s, enum kp_op *op)
{
	if (strcmp(s, "sandbox") == 0)
		*op = KP_OP_SANDBOX;
	else if (strcmp(s, "policy") == 0)
		*op = KP_OP_POLICY;
	else if (strcmp(s, "remove") == 0)
		*op = KP_OP_REMOVE;
	else if (strcmp(s, "secrets") == 0)
		*op = KP_OP_SECRETS;
	else
		return -1;
	return 0;
}

static int check_name(json_t *v, char *out, kn_error *err)
{
	if (!json_is_string(v))
		return kn_fail(err, "\"name\" must be a string");
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	if (len == 0 || len > KP_SANDBOX_NAME_MAX)
		return kn_fail(err, "\"name\" must be 1 to %d bytes", KP_SANDBOX_NAME_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return kn_fail(err, "\"name\" must be printable ASCII");
	memcpy(out, s, len + 1);
	return 0;
}

static int check_keys(json_t *obj, enum kp_op op, bool from_master, kn_error *err)
{
	const char *key;
	json_t *value;

	json_object_foreach(obj, key, value) {
		if (strcmp(key, "op") == 0)
			continue;
		if (op == KP_OP_SECRETS) {
			if (strcmp(key, "secrets") == 0)
				continue;
		} else if (strcmp(key, "name") == 0) {
			continue;
		}
		if (strcmp(key, "policy") == 0 && op != KP_OP_REMOVE && op != KP_OP_SECRETS)
			continue;
		if (strcmp(key, "ca") == 0 && op == KP_OP_SANDBOX)
			continue;
		if (strcmp(key, "slot") == 0 && from_master)
			continue;
		return kn_fail(err, "unexpected key \"%s\" in a %s message", key, kp_op_name(op));
	}
	return 0;
}

static int pem_field(json_t *ca, const char *key, char **out, kn_error *err)
{
	json_t *v = json_object_get(ca, key);
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > KP_CA_PEM_MAX)
		return kn_fail(err, "\"ca\".\"%s\" must be a PEM string of 1 to %d bytes", key,
			       KP_CA_PEM_MAX);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return kn_fail(err, "\"ca\".\"%s\" holds a NUL byte", key);
	*out = strdup(json_string_value(v));
	return *out ? 0 : kn_fail(err, "out of memory");
}

static int parse_ca(json_t *ca, struct kp_command *cmd, kn_error *err)
{
	if (!json_is_object(ca) || json_object_size(ca) != 2)
		return kn_fail(err, "\"ca\" must be an object with exactly \"cert\" and \"key\"");
	if (pem_field(ca, "cert", &cmd->ca_cert, err) < 0 || pem_field(ca, "key", &cmd->ca_key, err) < 0)
		return -1;
	return 0;
}

static int parse_object(json_t *obj, size_t n_fds, bool from_master, struct kp_command *cmd,
			kn_error *err)
{
	if (!json_is_object(obj))
		return kn_fail(err, "message is not a JSON object");
	json_t *op = json_object_get(obj, "op");
	if (!json_is_string(op))
		return kn_fail(err, "\"op\" must be a string");
	if (parse_op(json_string_value(op), &cmd->op) < 0)
		return kn_fail(err, "unknown op \"%s\"", json_string_value(op));
	if (check_keys(obj, cmd->op, from_master, err) < 0)
		return -1;
	if (cmd->op == KP_OP_SECRETS) {
		if (n_fds != 0)
			return kn_fail(err, "a secrets message takes no fds, got %zu", n_fds);
		cmd->secrets = kp_secrets_parse(json_object_get(obj, "secrets"), err);
		return cmd->secrets ? 0 : -1;
	}
	if (check_name(json_object_get(obj, "name"), cmd->name, err) < 0)
		return -1;

	if (cmd->op == KP_OP_SANDBOX && (n_fds < 1 || n_fds > 2))
		return kn_fail(err, "a sandbox message needs 1 or 2 listening sockets, got %zu",
			       n_fds);
	if (cmd->op != KP_OP_SANDBOX && n_fds != 0)
		return kn_fail(err, "a %s message takes no fds, got %zu", kp_op_name(cmd->op),
			       n_fds);

	if (from_master) {
		json_t *slot = json_object_get(obj, "slot");
		if (!json_is_integer(slot) || json_integer_value(slot) < 0 ||
		    json_integer_value(slot) >= KP_MAX_SANDBOXES)
			return kn_fail(err, "\"slot\" must be an integer below %d", KP_MAX_SANDBOXES);
		cmd->slot = (int)json_integer_value(slot);
	}

	if (cmd->op != KP_OP_REMOVE) {
		json_t *policy = json_object_get(obj, "policy");
		if (!policy)
			return kn_fail(err, "a %s message needs \"policy\"", kp_op_name(cmd->op));
		if (kn_policy_from_json(policy, &cmd->policy, err) < 0)
			return kn_fail_prefix(err, "policy");
		cmd->has_policy = true;
	}
	json_t *ca = json_object_get(obj, "ca");
	if (ca && parse_ca(ca, cmd, err) < 0)
		return -1;
	return 0;
}

int kp_command_parse(const char *buf, size_t len, size_t n_fds, bool from_master,
		     struct kp_command *cmd, kn_error *err)
{
	json_error_t jerr;

	memset(cmd, 0, sizeof(*cmd));
	cmd->slot = -1;
	if (len > KP_CONTROL_MSG_MAX)
		return kn_fail(err, "message larger than %d bytes", KP_CONTROL_MSG_MAX);
	json_t *obj = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj)
		return kn_fail(err, "invalid JSON: %s", jerr.text);
	int rc = parse_object(obj, n_fds, from_master, cmd, err);
	json_decref(obj);
	if (rc < 0)
		kp_command_free(cmd);
	return rc;
}

void kp_command_free(struct kp_command *cmd)
{
	if (cmd->has_policy)
		kn_policy_free(&cmd->policy);
	cmd->has_policy = false;
	free(cmd->ca_cert);
	kn_wipe_free(cmd->ca_key);
	cmd->ca_cert = cmd->ca_key = NULL;
	kp_secrets_free(cmd->secrets);
	cmd->secrets = NULL;
}

static char *dump(json_t *obj)
{
	if (!obj)
		return NULL;
	char *s = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	return s;
}

char *kp_command_for_worker(const struct kp_command *cmd, int slot)
{
	if (cmd->op == KP_OP_SECRETS) {
		json_t *arr = kp_secrets_to_json(cmd->secrets);
		return arr ? dump(json_pack("{s:s, s:o}", "op", "secrets", "secrets", arr)) : NULL;
	}
	json_t *obj = json_pack("{s:s, s:s, s:i}", "op", kp_op_name(cmd->op), "name", cmd->name,
				"slot", slot);
	if (!obj)
		return NULL;
	if (cmd->has_policy) {
		json_t *p = kn_policy_to_json(&cmd->policy);
		if (!p || json_object_set_new(obj, "policy", p) < 0) {
			json_decref(obj);
			return NULL;
		}
	}
	if (cmd->ca_cert && cmd->ca_key) {
		json_t *ca = json_pack("{s:s, s:s}", "cert", cmd->ca_cert, "key", cmd->ca_key);
		if (!ca || json_object_set_new(obj, "ca", ca) < 0) {
			json_decref(obj);
			return NULL;
		}
	}
	return dump(obj);
}

char *kp_reply_text(bool ok, const char *error)
{
	if (ok)
		return dump(json_pack("{s:b}", "ok", 1));
	return dump(json_pack("{s:b, s:s}", "ok", 0, "error", error ? error : "failed"));
}

int kp_check_listener(int fd, kn_error *err)
{
	int val = 0;
	socklen_t len = sizeof(val);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &val, &len) < 0)
		return kn_fail_errno(err, "getsockopt SO_DOMAIN on passed fd");
	if (val != AF_INET && val != AF_INET6)
		return kn_fail(err, "passed fd is not an IPv4 or IPv6 socket");
	len = sizeof(val);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &val, &len) < 0)
		return kn_fail_errno(err, "getsockopt SO_TYPE on passed fd");
	if (val != SOCK_STREAM)
		return kn_fail(err, "passed fd is not a stream socket");
	len = sizeof(val);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &val, &len) < 0)
		return kn_fail_errno(err, "getsockopt SO_ACCEPTCONN on passed fd");
	if (!val)
		return kn_fail(err, "passed socket is not listening");
	return 0;
}
