/* base.h — the shared, read-only base every host-based sandbox starts from.
 *
 * Contract: kn_base_build(base_dir) makes base_dir/root, a root skeleton owned by
 * host root (sandboxes see it through an idmapped mount, so it appears owned by
 * their own root): the top-level directories, the merged-/usr symlinks copied
 * from the host, and a curated /etc. The curated /etc holds only host entries
 * that every host user may read anyway (mode o+r, directories o+rx), minus a
 * deny list of known credentials and host identity (ssh, sudoers, machine-id,
 * subuid...), with passwd and group regenerated: host system accounts (id <
 * 1000) kept without passwords, human accounts dropped, the `agent` user added.
 * It is built into a temp folder and renamed into place, so it is complete or
 * absent. An existing base is reused (running sandboxes use it as a lower layer,
 * which must not change under them).
 * kn_base_host_dirs lists the host top-level directories mounted into every
 * host-based sandbox as read-only lower layers (usr, and lib/bin/sbin where the
 * host does not use merged /usr). */
#ifndef KENNEL_BASE_H
#define KENNEL_BASE_H

#include <stddef.h>

#include "common/error.h"

int kn_base_build(const char *base_dir, kn_error *err);
/* Host paths layered read-only (plus the sandbox's writable layer) into every
 * host-based sandbox at the same path. NULL-terminated. */
extern const char *const kn_base_host_layers[];
/* Writes the passwd and group lines for a sandbox's /etc into buffers. */
int kn_base_passwd(char **passwd, char **group, kn_error *err);

#endif
