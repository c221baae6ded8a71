/*
 * hist — log-linear latency histogram (see hist.h for the contract).
 *
 * Layout (the wire format, keep stable):
 *   index 0 .. HIST_LINEAR_MAX-1          value == index (1 us buckets), chunk 0
 *   octave k = 1 .. HIST_OCTAVES          values [2^(SUB_BITS+k), 2^(SUB_BITS+k+1)), chunk k,
 *                                         HIST_SUB_BUCKETS buckets of width 2^k
 *   index of (octave k, sub-bucket s)     HIST_LINEAR_MAX + (k-1) * HIST_SUB_BUCKETS + s
 *
 * A bucket of octave k starts at L >= 2^(SUB_BITS+k) and is 2^k wide, so width/L <= 1/512 and
 * the midpoint is within 1/1024 (< 0.1 %) of any value in the bucket.
 */
#include "hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Octaves above the linear range: the last one ends at HIST_MAX_US (2^36). */
#define HIST_OCTAVES (36 - HIST_SUB_BITS - 1)
#define HIST_N_CHUNKS (HIST_OCTAVES + 1)
#define HIST_INDEX_COUNT (HIST_LINEAR_MAX + HIST_OCTAVES * HIST_SUB_BUCKETS)

_Static_assert(((uint64_t)HIST_LINEAR_MAX << HIST_OCTAVES) == HIST_MAX_US,
               "the last octave must end at HIST_MAX_US");
_Static_assert(HIST_N_CHUNKS <= 64, "hist_t.chunks too small");

static size_t chunk_len(unsigned c)
{
    return c == 0 ? HIST_LINEAR_MAX : HIST_SUB_BUCKETS;
}

static uint32_t chunk_first_index(unsigned c)
{
    return c == 0 ? 0 : HIST_LINEAR_MAX + (c - 1) * HIST_SUB_BUCKETS;
}

static unsigned chunk_of_index(uint32_t index)
{
    return index < HIST_LINEAR_MAX ? 0 : 1 + (index - HIST_LINEAR_MAX) / HIST_SUB_BUCKETS;
}

static int chunk_ensure(hist_t *h, unsigned c)
{
    if (h->chunks[c])
        return 0;
    h->chunks[c] = calloc(chunk_len(c), sizeof(uint64_t));
    return h->chunks[c] ? 0 : -1;
}

void hist_init(hist_t *h)
{
    memset(h, 0, sizeof *h);
}

void hist_free(hist_t *h)
{
    for (unsigned c = 0; c < 64; c++)
        free(h->chunks[c]);
    memset(h, 0, sizeof *h);
}

void hist_reset(hist_t *h)
{
    for (unsigned c = 0; c < HIST_N_CHUNKS; c++)
        if (h->chunks[c])
            memset(h->chunks[c], 0, chunk_len(c) * sizeof(uint64_t));
    h->total = 0;
}

uint32_t hist_index_count(void)
{
    return HIST_INDEX_COUNT;
}

uint32_t hist_index_of(uint64_t us)
{
    if (us >= HIST_MAX_US)
        us = HIST_MAX_US - 1;
    if (us < HIST_LINEAR_MAX)
        return (uint32_t)us;
    unsigned msb = 63u - (unsigned)__builtin_clzll(us);   /* >= SUB_BITS + 1 */
    unsigned k = msb - HIST_SUB_BITS;                      /* octave, 1.. */
    uint32_t sub = (uint32_t)(us >> k) - HIST_SUB_BUCKETS; /* 0 .. SUB_BUCKETS-1 */
    return HIST_LINEAR_MAX + (k - 1) * HIST_SUB_BUCKETS + sub;
}

uint64_t hist_value_of(uint32_t index)
{
    if (index >= HIST_INDEX_COUNT)
        index = HIST_INDEX_COUNT - 1;
    if (index < HIST_LINEAR_MAX)
        return index;
    unsigned k = 1 + (index - HIST_LINEAR_MAX) / HIST_SUB_BUCKETS;
    uint64_t sub = (index - HIST_LINEAR_MAX) % HIST_SUB_BUCKETS;
    uint64_t low = (HIST_SUB_BUCKETS + sub) << k;
    return low + (((uint64_t)1 << k) >> 1);
}

int hist_record_n(hist_t *h, uint64_t us, uint64_t n)
{
    if (n == 0)
        return 0;
    uint32_t i = hist_index_of(us);
    unsigned c = chunk_of_index(i);
    if (!h->chunks[c] && chunk_ensure(h, c) < 0)
        return -1;
    h->chunks[c][i - chunk_first_index(c)] += n;
    h->total += n;
    return 0;
}

int hist_record(hist_t *h, uint64_t us)
{
    return hist_record_n(h, us, 1);
}

int hist_reserve_for(hist_t *h, const hist_t *src)
{
    for (unsigned c = 0; c < HIST_N_CHUNKS; c++)
        if (src->chunks[c] && chunk_ensure(h, c) < 0)
            return -1;
    return 0;
}

int hist_merge(hist_t *dst, const hist_t *src)
{
    if (dst == src || src->total == 0)
        return dst == src ? -1 : 0;
    if (hist_reserve_for(dst, src) < 0)
        return -1;   /* chunks allocated so far are zero: dst's counts are unchanged */
    for (unsigned c = 0; c < HIST_N_CHUNKS; c++) {
        const uint64_t *s = src->chunks[c];
        if (!s)
            continue;
        uint64_t *d = dst->chunks[c];
        for (size_t j = 0, n = chunk_len(c); j < n; j++)
            d[j] += s[j];
    }
    dst->total += src->total;
    return 0;
}

uint64_t hist_count(const hist_t *h)
{
    return h->total;
}

/* Rank (1-based) of the value at percentile p among total values: ceil(p/100 * total), at
 * least 1. Exact integer arithmetic when p is a multiple of 1e-6 (every percentile anyone
 * asks for), so 99.9 % of 1000 values is rank 999, not 1000 through float round-off. */
static uint64_t rank_at(double p, uint64_t total)
{
    if (!(p > 0))   /* also NaN */
        return 1;
    if (p >= 100)
        return total;
    double scaled = p * 1e6;
    double whole = nearbyint(scaled);
    uint64_t r;
    if (fabs(scaled - whole) <= 1e-6) {   /* a multiple of 1e-6 %, up to round-off */
        unsigned __int128 num = (unsigned __int128)(uint64_t)whole * total;
        const unsigned __int128 den = 100000000u;   /* 100 % * 1e6 */
        r = (uint64_t)((num + den - 1) / den);
    } else {
        r = (uint64_t)ceil(p / 100.0 * (double)total);
    }
    if (r < 1)
        r = 1;
    if (r > total)
        r = total;
    return r;
}

uint64_t hist_percentile(const hist_t *h, double p)
{
    uint64_t out;
    hist_percentiles(h, &p, 1, &out);
    return out;
}

void hist_percentiles(const hist_t *h, const double *ps, size_t n, uint64_t *out)
{
    if (n == 0)
        return;
    if (h->total == 0) {
        for (size_t i = 0; i < n; i++)
            out[i] = 0;
        return;
    }
    for (size_t i = 1; i < n; i++) {
        if (!(ps[i] >= ps[i - 1])) {   /* not ascending: one scan each */
            for (size_t j = 0; j < n; j++)
                hist_percentiles(h, &ps[j], 1, &out[j]);
            return;
        }
    }
    size_t next = 0;
    uint64_t rank = rank_at(ps[0], h->total);
    uint64_t cum = 0;
    uint32_t last_index = 0;
    for (unsigned c = 0; c < HIST_N_CHUNKS && next < n; c++) {
        const uint64_t *counts = h->chunks[c];
        if (!counts)
            continue;
        uint32_t first = chunk_first_index(c);
        for (size_t j = 0, len = chunk_len(c); j < len && next < n; j++) {
            if (!counts[j])
                continue;
            cum += counts[j];
            last_index = first + (uint32_t)j;
            while (next < n && cum >= rank) {
                out[next++] = hist_value_of(last_index);
                if (next < n)
                    rank = rank_at(ps[next], h->total);
            }
        }
    }
    /* Only reachable if total disagrees with the buckets (corrupted): report the top. */
    for (; next < n; next++)
        out[next] = hist_value_of(last_index);
}

void hist_foreach(const hist_t *h, hist_visit_fn fn, void *ctx)
{
    for (unsigned c = 0; c < HIST_N_CHUNKS; c++) {
        const uint64_t *counts = h->chunks[c];
        if (!counts)
            continue;
        uint32_t first = chunk_first_index(c);
        for (size_t j = 0, len = chunk_len(c); j < len; j++)
            if (counts[j])
                fn(first + (uint32_t)j, counts[j], ctx);
    }
}

int hist_add_at(hist_t *h, uint32_t index, uint64_t count)
{
    if (index >= HIST_INDEX_COUNT)
        return -1;
    if (count == 0)
        return 0;
    unsigned c = chunk_of_index(index);
    if (chunk_ensure(h, c) < 0)
        return -1;
    h->chunks[c][index - chunk_first_index(c)] += count;
    h->total += count;
    return 0;
}
