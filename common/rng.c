/*
 * rng — seeding. The generator itself is inline in rng.h: it sits on the request path.
 */
#include "rng.h"

#include <time.h>

uint64_t rng_seed(uint64_t salt)
{
    struct timespec rt, mt;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mt);
    uint64_t s = ((uint64_t)rt.tv_nsec << 20) ^ (uint64_t)rt.tv_sec ^
                 ((uint64_t)mt.tv_nsec << 7) ^ (salt * 0x9E3779B97F4A7C15ull);
    /* One round of splitmix64's finaliser spreads close seeds apart. */
    s ^= s >> 30;
    s *= 0xBF58476D1CE4E5B9ull;
    s ^= s >> 27;
    s *= 0x94D049BB133111EBull;
    s ^= s >> 31;
    return s ? s : 0x2545F4914F6CDD1Dull;
}
