/* kennel-init — PID 1 of every ns sandbox (see src/sandbox/init.h).
 *
 * A separate, statically linked program: the sandbox's root may be an image
 * without the daemon's libraries (or without any), and PID 1 must carry none of
 * the daemon's memory, arguments or environment. kn_ns_start executes it from
 * an fd opened before pivot_root, with the proxy listeners at fds 3 and 4. */
#include "sandbox/init.h"

int main(void)
{
	kn_init_run();
}
