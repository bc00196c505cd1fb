/* version.h — the client's version strings.
 *
 * Contract: KENNEL_VERSION and KENNEL_GIT_REV come from the Makefile (VERSION
 * file and `git rev-parse`); a build outside make says "unknown" rather than
 * pretending to be a release. */
#ifndef KENNEL_CLI_VERSION_H
#define KENNEL_CLI_VERSION_H

#ifndef KENNEL_VERSION
#define KENNEL_VERSION "unknown"
#endif
#ifndef KENNEL_GIT_REV
#define KENNEL_GIT_REV "unknown"
#endif

#endif
