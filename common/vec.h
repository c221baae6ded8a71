/*
 * vec — the one way herd grows an array: amortised doubling with overflow checks.
 *
 *     item_t *items; size_t n, cap;          (owned by the caller)
 *     if (VEC_RESERVE(items, cap, n + 1) < 0) return -1;   (out of memory: items unchanged)
 *     items[n++] = x;
 *
 * The array pointer and its capacity stay the caller's own fields, typed as the caller
 * likes, so structs keep their names (`workers`, `n`, `cap`) and nothing here allocates
 * unless capacity is short. New slots are not initialised (vec_reserve_zero zeroes them).
 */
#ifndef HERD_VEC_H
#define HERD_VEC_H

#include <stddef.h>

/* Make *(void **)arrp hold at least `need` elements of elem_bytes: capacity doubles from
 * at least VEC_MIN_CAP until it does. 0, or -1 on out of memory or size overflow (the array
 * and *cap are unchanged). arrp is the address of the caller's array pointer. */
int vec_reserve(void *arrp, size_t *cap, size_t need, size_t elem_bytes);
/* The same, and the new slots [old cap, new cap) are zeroed. */
int vec_reserve_zero(void *arrp, size_t *cap, size_t need, size_t elem_bytes);

#define VEC_MIN_CAP 8

#define VEC_RESERVE(arr, cap, need) vec_reserve(&(arr), &(cap), (need), sizeof *(arr))
#define VEC_RESERVE_ZERO(arr, cap, need) vec_reserve_zero(&(arr), &(cap), (need), sizeof *(arr))

#endif
