/*
 * rng — a per-thread xorshift64* generator for the sample services' random picks (random
 * players, winners, injected errors). Not cryptographic; each thread seeds itself on first
 * use from the clock and its own address, so threads never share or lock a generator.
 */
#ifndef HERD_SVC_RNG_H
#define HERD_SVC_RNG_H

#include <stdint.h>
#include <time.h>

static inline uint64_t rng_next(void)
{
    static _Thread_local uint64_t s;
    if (s == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)&s ^
            ((uint64_t)ts.tv_sec << 32);
        if (s == 0)
            s = 0x2545F4914F6CDD1Dull;
    }
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, n); n must be > 0. */
static inline uint32_t rng_below(uint32_t n) { return (uint32_t)((rng_next() >> 32) * n >> 32); }

/* Uniform in [0, 1). */
static inline double rng_unit(void) { return (double)(rng_next() >> 11) / 9007199254740992.0; }

#endif
