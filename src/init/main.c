/* kennel-init — PID 1 of every sandbox, and the guest's (see src/sandbox/init.h,
 * src/init/guest.h), plus QEMU's per-connection relay to the proxy.
 *
 * A separate, statically linked program: the sandbox's root may be an image
 * without the daemon's libraries (or without any), the guest's initramfs has no
 * libraries at all, and PID 1 must carry none of the daemon's memory, arguments
 * or environment. What it does depends on how it is called:
 *   /init (argv[0])   the guest kernel runs it from the initramfs: kn_guest_run
 *   --relay           QEMU's guestfwd, once per guest connection to the proxy
 *                     address: stdin/stdout to 127.0.0.1:3128 (relay.h)
 *   --spawn CMD...    PID 1 of a vm sandbox, with QEMU as its payload
 *   (nothing)         PID 1 of an ns sandbox: kn_ns_start executes it from an fd
 *                     opened before pivot_root, with the proxy listeners at
 *                     fds 3 and 4. */
#include <string.h>

#include "init/guest.h"
#include "init/ns_session.h"
#include "init/relay.h"
#include "sandbox/init.h"

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--relay"))
		return kn_relay_main();
	if (argv[0] && !strcmp(argv[0], "/init"))
		kn_guest_run();
	if (argc > 1 && !strcmp(argv[1], "--spawn"))
		kn_init_run_spawn(argv + 2);
	kn_init_run(kn_ns_session);
}
