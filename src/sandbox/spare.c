/* spare.c — namespaces made ahead of a start (contract: spare.h). */
#define _GNU_SOURCE
#include "sandbox/spare.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "sandbox/idmap.h"
#include "sandbox/netns.h"

void kn_spare_close(struct kn_spare *sp)
{
	kn_closep(&sp->net);
	kn_closep(&sp->ipc);
	kn_closep(&sp->proxy4);
	kn_closep(&sp->proxy6);
	kn_closep(&sp->userns);
	*sp = KN_SPARE_NONE;
}

/* Inside the new namespaces: what a sandbox's network starts with. */
static int fill(struct kn_spare *sp, kn_error *err)
{
	if (kn_netns_setup(&sp->proxy4, &sp->proxy6, err) < 0)
		return -1;
	sp->net = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (sp->net < 0)
		return kn_fail_errno(err, "open /proc/self/ns/net of a new network namespace");
	sp->ipc = open("/proc/self/ns/ipc", O_RDONLY | O_CLOEXEC);
	if (sp->ipc < 0)
		return kn_fail_errno(err, "open /proc/self/ns/ipc of a new IPC namespace");
	return 0;
}

int kn_spare_userns(const struct kn_spare *sp, uint32_t uid_base, kn_error *err)
{
	if (!sp || sp->userns < 0 || sp->uid_base != uid_base)
		return kn_idmap_root_userns(uid_base, err);
	int fd = fcntl(sp->userns, F_DUPFD_CLOEXEC, 0);
	return fd < 0 ? kn_fail_errno(err, "dup the user namespace made ahead") : fd;
}

int kn_spare_make(struct kn_spare *sp, uint32_t uid_base, kn_error *err)
{
	*sp = KN_SPARE_NONE;
	_cleanup_close_ int home_net = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int home_ipc = open("/proc/self/ns/ipc", O_RDONLY | O_CLOEXEC);
	if (home_net < 0 || home_ipc < 0)
		return kn_fail_errno(err, "open the daemon's own network and IPC namespaces");
	if (unshare(CLONE_NEWNET | CLONE_NEWIPC) < 0)
		return kn_fail_errno(err, "unshare a network and an IPC namespace for the next sandbox");
	int rc = fill(sp, err);
	if (setns(home_net, CLONE_NEWNET) < 0 || setns(home_ipc, CLONE_NEWIPC) < 0) {
		log_error("setns back into the daemon's network and IPC namespaces: %s; aborting",
			  strerror(errno));
		abort();
	}
	if (rc < 0) {
		kn_spare_close(sp);
		return -1;
	}
	kn_error ignored;
	sp->userns = kn_idmap_root_userns(uid_base, &ignored);
	sp->uid_base = uid_base;
	return 0;
}
