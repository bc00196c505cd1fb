/* wipe.h — freeing memory that held a secret.
 *
 * Contract: kn_wipe_free(p) zeroes the whole heap block p points at (as large
 * as malloc_usable_size says, so bytes past what was asked for too) and frees
 * it; NULL is fine. It suits any block from malloc/calloc/realloc, which is
 * why it can be jansson's free (json_set_alloc_funcs) in a process whose JSON
 * carries keys or secret values: every string, object and dump buffer jansson
 * frees is wiped, the ones it outgrows while dumping included. Out of line on
 * purpose: inlined where the compiler knows the requested size, the wipe of
 * the block's slack would trip _FORTIFY_SOURCE's object-size checks. */
#ifndef KENNEL_WIPE_H
#define KENNEL_WIPE_H

void kn_wipe_free(void *p);

#endif
