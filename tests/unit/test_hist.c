/* Unit tests for common/hist: accuracy against exact sorted percentiles, exact merge, the
 * sparse wire round trip, reset, clamping and the index <-> value mapping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/hist.h"

/* Locust's percentiles in units of 0.001 % so ranks are computed with integers. */
static const uint64_t LOCUST_P_MILLI[] = { 50000, 66000, 75000, 80000, 90000, 95000,
                                           98000, 99000, 99900, 99990, 100000 };
#define N_LOCUST (sizeof LOCUST_P_MILLI / sizeof LOCUST_P_MILLI[0])

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}
static double rng_unit(void) /* (0, 1) */
{
    return ((double)(rng() >> 11) + 0.5) / 9007199254740992.0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The exact value at percentile p_milli/1000 %: rank ceil(p * n), at least 1. */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, uint64_t p_milli)
{
    uint64_t rank = (p_milli * n + 99999) / 100000;
    if (rank < 1)
        rank = 1;
    return sorted[rank - 1];
}

static void assert_within_0_1_pct(uint64_t got, uint64_t exact, const char *set, double p)
{
    uint64_t diff = got > exact ? got - exact : exact - got;
    if (diff * 1000 > exact) {
        print_error("%s: p%g = %llu, exact %llu (%.4f %% off)\n", set, p,
                    (unsigned long long)got, (unsigned long long)exact,
                    100.0 * (double)diff / (double)exact);
        fail();
    }
}

static void check_accuracy(const char *set, uint64_t *values, size_t n)
{
    hist_t h;
    hist_init(&h);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(hist_record(&h, values[i]), 0);
    assert_int_equal(hist_count(&h), n);
    qsort(values, n, sizeof *values, cmp_u64);

    uint64_t batch[N_LOCUST];
    double ps[N_LOCUST];
    for (size_t i = 0; i < N_LOCUST; i++)
        ps[i] = (double)LOCUST_P_MILLI[i] / 1000.0;
    hist_percentiles(&h, ps, N_LOCUST, batch);
    for (size_t i = 0; i < N_LOCUST; i++) {
        uint64_t exact = exact_percentile(values, n, LOCUST_P_MILLI[i]);
        uint64_t got = hist_percentile(&h, ps[i]);
        assert_within_0_1_pct(got, exact, set, ps[i]);
        assert_int_equal(batch[i], got);
    }
    /* a few more, including the minimum */
    static const uint64_t extra[] = { 0, 1000, 12500, 33333, 99999 };
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        double p = (double)extra[i] / 1000.0;
        assert_within_0_1_pct(hist_percentile(&h, p), exact_percentile(values, n, extra[i]), set, p);
    }
    hist_free(&h);
}

#define N_VALUES 200000

static void test_accuracy_uniform(void **state)
{
    (void)state;
    uint64_t *v = malloc(N_VALUES * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < N_VALUES; i++)
        v[i] = 1 + rng() % 100000;   /* 1 us .. 100 ms */
    check_accuracy("uniform", v, N_VALUES);
    free(v);
}

static void test_accuracy_exponential(void **state)
{
    (void)state;
    uint64_t *v = malloc(N_VALUES * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < N_VALUES; i++)
        v[i] = 100 + (uint64_t)(-log(rng_unit()) * 5000.0);   /* mean ~5 ms, long tail */
    check_accuracy("exponential", v, N_VALUES);
    free(v);
}

static void test_accuracy_bimodal(void **state)
{
    (void)state;
    uint64_t *v = malloc(N_VALUES * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < N_VALUES; i++)
        v[i] = (rng() & 1) ? 150 + rng() % 100 : 1900000 + rng() % 200000;   /* 200 us | 2 s */
    check_accuracy("bimodal", v, N_VALUES);
    free(v);
}

static void test_accuracy_wide_range(void **state)
{
    (void)state;
    uint64_t *v = malloc(N_VALUES * sizeof *v);
    assert_non_null(v);
    const double top = 10.0 * 3600 * 1e6;   /* 10 hours */
    for (size_t i = 0; i < N_VALUES; i++)
        v[i] = (uint64_t)exp(rng_unit() * log(top));   /* log-uniform 1 us .. 10 h */
    check_accuracy("1us-10h", v, N_VALUES);
    free(v);
}

static void test_percentile_rank_definition(void **state)
{
    (void)state;
    hist_t h;
    hist_init(&h);
    for (uint64_t i = 1; i <= 1000; i++)
        hist_record(&h, i);
    assert_int_equal(hist_percentile(&h, 99.9), 999);   /* rank ceil(999.0) = 999, not 1000 */
    assert_int_equal(hist_percentile(&h, 50), 500);
    assert_int_equal(hist_percentile(&h, 50.01), 501);
    assert_int_equal(hist_percentile(&h, 0), 1);
    assert_int_equal(hist_percentile(&h, 100), 1000);
    assert_int_equal(hist_percentile(&h, 150), 1000);   /* clamped p */
    assert_int_equal(hist_percentile(&h, -3), 1);

    hist_t empty;
    hist_init(&empty);
    assert_int_equal(hist_percentile(&empty, 50), 0);
    hist_free(&h);
}

static void test_merge_is_exact(void **state)
{
    (void)state;
    hist_t a, b, all;
    hist_init(&a);
    hist_init(&b);
    hist_init(&all);
    for (int i = 0; i < 50000; i++) {
        uint64_t v = (uint64_t)exp(rng_unit() * 20.0);
        hist_record((i % 3) ? &a : &b, v);
        hist_record(&all, v);
    }
    hist_record_n(&b, 123456789, 7);
    hist_record_n(&all, 123456789, 7);
    assert_int_equal(hist_merge(&a, &b), 0);
    assert_int_equal(hist_count(&a), hist_count(&all));
    for (int p = 0; p <= 100; p++)
        assert_int_equal(hist_percentile(&a, p), hist_percentile(&all, p));
    assert_int_equal(hist_percentile(&a, 99.99), hist_percentile(&all, 99.99));
    assert_int_equal(hist_merge(&a, &a), -1);   /* self-merge refused, unchanged */
    assert_int_equal(hist_count(&a), hist_count(&all));
    hist_free(&a);
    hist_free(&b);
    hist_free(&all);
}

typedef struct sparse {
    uint32_t index[20000];
    uint64_t count[20000];
    size_t n;
} sparse_t;

static void collect(uint32_t index, uint64_t count, void *ctx)
{
    sparse_t *s = ctx;
    s->index[s->n] = index;
    s->count[s->n] = count;
    s->n++;
}

static void test_merge_bucketwise_and_wire_round_trip(void **state)
{
    (void)state;
    static sparse_t sa, sb, sall;
    hist_t a, b, all, wire;
    hist_init(&a);
    hist_init(&b);
    hist_init(&all);
    hist_init(&wire);
    for (int i = 0; i < 30000; i++) {
        uint64_t v = (uint64_t)exp(rng_unit() * 24.0);
        hist_record((i & 1) ? &a : &b, v);
        hist_record(&all, v);
    }
    assert_int_equal(hist_merge(&a, &b), 0);
    memset(&sa, 0, sizeof sa);
    memset(&sall, 0, sizeof sall);
    hist_foreach(&a, collect, &sa);
    hist_foreach(&all, collect, &sall);
    assert_true(sa.n > 100);
    assert_int_equal(sa.n, sall.n);
    assert_memory_equal(sa.index, sall.index, sa.n * sizeof sa.index[0]);
    assert_memory_equal(sa.count, sall.count, sa.n * sizeof sa.count[0]);
    uint64_t sum = 0;
    for (size_t i = 0; i < sa.n; i++) {
        if (i)
            assert_true(sa.index[i] > sa.index[i - 1]);   /* index order */
        assert_true(sa.count[i] > 0);
        sum += sa.count[i];
    }
    assert_int_equal(sum, hist_count(&a));

    /* wire: sparse pairs -> hist_add_at -> same buckets, same percentiles */
    for (size_t i = 0; i < sa.n; i++)
        assert_int_equal(hist_add_at(&wire, sa.index[i], sa.count[i]), 0);
    memset(&sb, 0, sizeof sb);
    hist_foreach(&wire, collect, &sb);
    assert_int_equal(sb.n, sa.n);
    assert_memory_equal(sb.index, sa.index, sa.n * sizeof sa.index[0]);
    assert_memory_equal(sb.count, sa.count, sa.n * sizeof sa.count[0]);
    assert_int_equal(hist_count(&wire), hist_count(&a));
    assert_int_equal(hist_percentile(&wire, 99.99), hist_percentile(&a, 99.99));

    /* invalid index: refused, nothing counted */
    assert_int_equal(hist_add_at(&wire, hist_index_count(), 1), -1);
    assert_int_equal(hist_add_at(&wire, UINT32_MAX, 1), -1);
    assert_int_equal(hist_count(&wire), hist_count(&a));

    hist_free(&a);
    hist_free(&b);
    hist_free(&all);
    hist_free(&wire);
}

static void test_reset_keeps_chunks_and_works(void **state)
{
    (void)state;
    hist_t h;
    hist_init(&h);
    for (uint64_t v = 1; v <= 100000; v += 7)
        hist_record(&h, v);
    uint64_t *before[64];
    memcpy(before, h.chunks, sizeof before);
    hist_reset(&h);
    assert_int_equal(hist_count(&h), 0);
    assert_int_equal(hist_percentile(&h, 50), 0);
    assert_memory_equal(before, h.chunks, sizeof before);   /* nothing freed */
    static sparse_t s;
    memset(&s, 0, sizeof s);
    hist_foreach(&h, collect, &s);
    assert_int_equal(s.n, 0);

    for (int i = 0; i < 4; i++)
        hist_record(&h, 5000);
    hist_record(&h, 20);
    assert_memory_equal(before, h.chunks, sizeof before);   /* no new allocation */
    assert_int_equal(hist_count(&h), 5);
    assert_int_equal(hist_percentile(&h, 0), 20);
    assert_within_0_1_pct(hist_percentile(&h, 50), 5000, "reset", 50);
    hist_free(&h);
}

static void test_clamping(void **state)
{
    (void)state;
    hist_t h;
    hist_init(&h);
    uint32_t last = hist_index_count() - 1;
    assert_int_equal(hist_index_of(HIST_MAX_US), last);
    assert_int_equal(hist_index_of(UINT64_MAX), last);
    assert_int_equal(hist_index_of(HIST_MAX_US - 1), last);
    assert_true(hist_value_of(last) < HIST_MAX_US);
    assert_true(hist_value_of(last) > HIST_MAX_US - HIST_MAX_US / 512);
    assert_int_equal(hist_record(&h, 1000000000000ull), 0);   /* 11.5 days */
    assert_int_equal(hist_record(&h, UINT64_MAX), 0);
    assert_int_equal(hist_count(&h), 2);
    assert_int_equal(hist_percentile(&h, 100), hist_value_of(last));
    assert_int_equal(hist_percentile(&h, 1), hist_value_of(last));
    hist_free(&h);
}

static void test_index_value_monotonic(void **state)
{
    (void)state;
    uint32_t n = hist_index_count();
    assert_true(n > HIST_LINEAR_MAX);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t v = hist_value_of(i);
        if (i)
            assert_true(v > hist_value_of(i - 1));
        assert_int_equal(hist_index_of(v), i);
    }
    /* exact below HIST_LINEAR_MAX */
    for (uint64_t v = 0; v < HIST_LINEAR_MAX; v++)
        assert_int_equal(hist_value_of(hist_index_of(v)), v);
    /* every value up to 2^22, then samples to HIST_MAX_US: monotonic index, <= 0.1 % error */
    uint32_t prev = 0;
    for (uint64_t v = 1; v < HIST_MAX_US; v = v < (1u << 22) ? v + 1 : v + v / 997 + 1) {
        uint32_t i = hist_index_of(v);
        assert_true(i >= prev);
        prev = i;
        uint64_t r = hist_value_of(i);
        uint64_t diff = r > v ? r - v : v - r;
        if (diff * 1000 > v) {
            print_error("value %llu -> %llu\n", (unsigned long long)v, (unsigned long long)r);
            fail();
        }
    }
}

static void test_clustered_values_use_few_chunks(void **state)
{
    (void)state;
    hist_t h;
    hist_init(&h);
    for (uint64_t v = 1500; v < 3000; v++)   /* octaves [1024,2048) and [2048,4096) */
        hist_record(&h, v);
    int used = 0;
    for (int c = 0; c < 64; c++)
        used += h.chunks[c] != NULL;
    assert_int_equal(used, 2);
    assert_int_equal(hist_record_n(&h, 77, 0), 0);   /* n = 0 records (and allocates) nothing */
    assert_null(h.chunks[0]);
    hist_free(&h);
    for (int c = 0; c < 64; c++)
        assert_null(h.chunks[c]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accuracy_uniform),
        cmocka_unit_test(test_accuracy_exponential),
        cmocka_unit_test(test_accuracy_bimodal),
        cmocka_unit_test(test_accuracy_wide_range),
        cmocka_unit_test(test_percentile_rank_definition),
        cmocka_unit_test(test_merge_is_exact),
        cmocka_unit_test(test_merge_bucketwise_and_wire_round_trip),
        cmocka_unit_test(test_reset_keeps_chunks_and_works),
        cmocka_unit_test(test_clamping),
        cmocka_unit_test(test_index_value_monotonic),
        cmocka_unit_test(test_clustered_values_use_few_chunks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
