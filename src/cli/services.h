/* services.h — the credential services `kennel run` knows: which environment
 * variable of the caller holds a key for which hosts, in which header.
 *
 * Contract. The table is data, not code: cli_services_load reads
 * share/kennel/services.json where common/datadir.h finds it (none at all is
 * an empty table), then every *.json file of /etc/kennel/services.d
 * (CLI_SERVICES_ETC_DIR, or $KENNEL_SERVICES_DIR for tests) in name order; a
 * service from a later file replaces one of the same name. Each file is
 * {"services":[{"name":N, "hosts":[PATTERN...], "credentials":[{"env":VAR,
 * "header":H, "format":F?, "hosts":[PATTERN...]?}...]}...]} (a credential's
 * own hosts replace the service's; and an optional "comment"); a file that
 * does not parse or check is an error naming the file and the field: VAR is
 * [A-Z_][A-Z0-9_]* of at most CLI_SERVICE_VAR_MAX bytes, H and F follow
 * common/secret_rules.h, hosts are policy/hostpattern.h patterns.
 *
 * cli_services_secrets looks each VAR up in the caller's environment (`env`,
 * NULL-terminated "K=V"); a set, non-empty value other than the placeholder
 * becomes a secret for PUT /secrets/NAME: {"hosts", "header", "format",
 * "value", "sandbox"}, NAME = SANDBOX.VAR (SANDBOX.VAR.2, .3, ... for a
 * variable's further credentials), bound to that sandbox. Returned as a
 * JSON array of {"name": NAME, "body": {...}} (the caller wipes it: it holds
 * values), and `placeholders` (a JSON array) gets "VAR=proxy-managed" for
 * every VAR that became a secret: what the agent sees instead of the key. */
#ifndef KENNEL_CLI_SERVICES_H
#define KENNEL_CLI_SERVICES_H

#include <jansson.h>

#include "common/error.h"

#define CLI_SERVICES_FILE "services.json"
#define CLI_SERVICES_ETC_DIR "/etc/kennel/services.d"
/* What the agent sees in place of a key kennel-proxy holds. */
#define CLI_PLACEHOLDER "proxy-managed"
/* Environment variable names in the table (POSIX names, bounded so that
 * SANDBOX.VAR.N fits a secret name). */
#define CLI_SERVICE_VAR_MAX 60
/* A services file is a short table; this bounds a file placed by mistake. */
#define CLI_SERVICES_FILE_MAX (1024 * 1024)

json_t *cli_services_load(kn_error *err);
json_t *cli_services_secrets(json_t *services, const char *sandbox, char **env,
			     json_t *placeholders);

#endif
