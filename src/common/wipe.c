/* wipe.c — freeing memory that held a secret (contract: wipe.h). */
#define _GNU_SOURCE
#include "common/wipe.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) void kn_wipe_free(void *p)
{
	if (!p)
		return;
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}
