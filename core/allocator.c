/* core/allocator.c - see allocator.h */
#include "allocator.h"

#include <malloc.h>

void ddad_allocator_tune(void)
{
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 64 << 20);
}
