/*
 * hist — log-linear latency histogram in microseconds (HdrHistogram's idea, written here).
 *
 * Values 0..HIST_LINEAR_MAX-1 us are counted exactly; above, each power of two is split into
 * HIST_SUB_BUCKETS equal buckets, so a reported value (the bucket's midpoint) is within 0.1 %
 * of every value recorded into that bucket. Values above HIST_MAX_US are clamped into the
 * last bucket (max_us in stats keeps the exact maximum).
 *
 * Merging is exact: bucket-wise sums. The bucket layout is part of the wire protocol (sparse
 * index/count pairs in Report), so changing it means bumping the protocol version.
 *
 * Memory: counts live in per-octave chunks allocated on first use, so a histogram whose
 * values cluster in a few octaves costs a few KB. hist_record allocates only the first time
 * an octave is touched; hist_reset keeps the chunks (zeroed) so a reused histogram never
 * allocates again.
 *
 * Thread: a histogram belongs to one thread at a time; no locking inside.
 */
#ifndef HERD_HIST_H
#define HERD_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BITS 9                      /* 512 sub-buckets per octave */
#define HIST_SUB_BUCKETS (1u << HIST_SUB_BITS)
#define HIST_LINEAR_MAX (1u << (HIST_SUB_BITS + 1)) /* 1024: below this, 1 us exact buckets */
#define HIST_MAX_US ((uint64_t)1 << 36)       /* ~19 hours; larger values clamp */

typedef struct hist {
    uint64_t *chunks[64];  /* chunk 0: linear 0..HIST_LINEAR_MAX-1; chunk k>0: one octave;
                              NULL until first use; owned by the histogram */
    uint64_t total;        /* number of recorded values */
} hist_t;

void hist_init(hist_t *h);
void hist_free(hist_t *h);                 /* frees the chunks; h may be re-inited */
void hist_reset(hist_t *h);                /* zero counts, keep chunks */

/* Record one value (n times). Returns 0, or -1 if a chunk could not be allocated. */
int hist_record(hist_t *h, uint64_t us);
int hist_record_n(hist_t *h, uint64_t us, uint64_t n);

/* dst += src, exact. All-or-nothing: on allocation failure (-1) dst is unchanged; -1 too
 * for dst == src. */
int hist_merge(hist_t *dst, const hist_t *src);
/* Allocate in h every chunk that src uses, so that a following hist_merge(h, src) cannot
 * fail. Counts are unchanged. Returns 0 or -1 on allocation failure. */
int hist_reserve_for(hist_t *h, const hist_t *src);

uint64_t hist_count(const hist_t *h);
/* Value at percentile p in [0,100]: the smallest bucket value with at least p % of the
 * values at or below it (as HdrHistogram / Locust's "response time percentile"). 0 if empty. */
uint64_t hist_percentile(const hist_t *h, double p);
/* n percentiles in one pass: out[i] = hist_percentile(h, ps[i]). Any order of ps works;
 * ascending order is the fast path. */
void hist_percentiles(const hist_t *h, const double *ps, size_t n, uint64_t *out);

/* Bucket index <-> value. Index space is dense and stable: the wire format. */
uint32_t hist_index_of(uint64_t us);
uint64_t hist_value_of(uint32_t index);      /* representative (midpoint) value */
uint32_t hist_index_count(void);             /* number of valid indices */

/* Sparse iteration for the wire: calls fn for each non-empty bucket in index order. */
typedef void (*hist_visit_fn)(uint32_t index, uint64_t count, void *ctx);
void hist_foreach(const hist_t *h, hist_visit_fn fn, void *ctx);
/* Add count at a raw index (from the wire). Returns -1 on an invalid index or OOM. */
int hist_add_at(hist_t *h, uint32_t index, uint64_t count);

#endif
