/*
 * rng — xorshift64*, the one pseudo-random generator in herd: task choice and waits in the
 * engine, pick() and random functions in templates, random picks in the sample services.
 * Not cryptographic. A generator is a uint64_t the caller owns (one per engine thread, one
 * per service thread), so no generator is ever shared or locked.
 *
 * What must stay true: a state is never 0 (xorshift would stay at 0 forever); rng_seed never
 * returns 0 and rng_next never turns a non-zero state into 0.
 */
#ifndef HERD_RNG_H
#define HERD_RNG_H

#include <stdint.h>

/* A non-zero seed from the clock and `salt` (an address, a thread number): two generators
 * seeded at the same instant with different salts differ. */
uint64_t rng_seed(uint64_t salt);

/* The next 64 random bits; advances *state. */
static inline uint64_t rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, 1), 53 bits. */
static inline double rng_unit(uint64_t *state)
{
    return (double)(rng_next(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform in [0, n) for n > 0 (Lemire's multiply-shift on the top 32 bits). */
static inline uint32_t rng_below(uint64_t *state, uint32_t n)
{
    return (uint32_t)(((rng_next(state) >> 32) * (uint64_t)n) >> 32);
}

#endif
