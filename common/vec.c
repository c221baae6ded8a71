/*
 * vec — array growth. See vec.h.
 *
 * The caller's pointer is read and written through memcpy: arrp points at an `item_t *`,
 * not a `void *`, and copying the bytes is the portable way to treat it as one.
 */
#include "vec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int reserve(void *arrp, size_t *cap, size_t need, size_t elem, int zero)
{
    if (need <= *cap)
        return 0;
    if (elem == 0)
        return -1;
    size_t n = *cap ? *cap : VEC_MIN_CAP;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return -1;
        n *= 2;
    }
    if (n > SIZE_MAX / elem)
        return -1;
    void *old;
    memcpy(&old, arrp, sizeof old);
    void *p = realloc(old, n * elem);
    if (!p)
        return -1;
    if (zero)
        memset((char *)p + *cap * elem, 0, (n - *cap) * elem);
    memcpy(arrp, &p, sizeof p);
    *cap = n;
    return 0;
}

int vec_reserve(void *arrp, size_t *cap, size_t need, size_t elem_bytes)
{
    return reserve(arrp, cap, need, elem_bytes, 0);
}

int vec_reserve_zero(void *arrp, size_t *cap, size_t need, size_t elem_bytes)
{
    return reserve(arrp, cap, need, elem_bytes, 1);
}
