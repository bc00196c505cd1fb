/* datadir.h — kennel's shipped data (share/kennel: agents, services) and the
 * folders of JSON files users add beside it (/etc/kennel/NAME.d).
 *
 * Contract:
 *   kn_data_path  the path of share/kennel/REL in `buf`: $KENNEL_DATA_DIR/REL
 *                 when that variable is set (an explicit choice, used whether
 *                 or not it exists), else the first of <dir of this
 *                 program>/../share/kennel/REL (an install, or a checkout's
 *                 build tree), /usr/local/share/kennel/REL and
 *                 /usr/share/kennel/REL that is a readable file
 *                 (KN_DATA_FILE) or a directory (KN_DATA_DIR); NULL when
 *                 none is.
 *   kn_each_json_file  calls fn(path, arg, err) for every "*.json" entry of
 *                 `dir` not starting with '.', in name order, and stops at the
 *                 first that fails (-1). A folder that is missing or cannot be
 *                 read holds no files (0). */
#ifndef KENNEL_DATADIR_H
#define KENNEL_DATADIR_H

#include <stddef.h>

#include "common/error.h"

enum kn_data_kind {
	KN_DATA_FILE,
	KN_DATA_DIR,
};

const char *kn_data_path(const char *rel, enum kn_data_kind kind, char *buf, size_t bufsz);
int kn_each_json_file(const char *dir, int (*fn)(const char *path, void *arg, kn_error *err),
		      void *arg, kn_error *err);

#endif
