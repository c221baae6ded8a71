/*
 * stats_fixture — helpers shared by test_stats.c and test_stats_wire.c: a sample table and a
 * deep comparison of two tables. Static functions in a header because each unit test is one
 * .c file linked alone; include it once, after cmocka.h, and use every helper (an unused
 * static function is a -Werror build failure, which is the point: no dead helpers).
 */
#ifndef HERD_TEST_STATS_FIXTURE_H
#define HERD_TEST_STATS_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../../common/stats.h"

typedef struct buckets {
    uint32_t index[4096];
    uint64_t count[4096];
    size_t n;
} buckets_t;

static void collect(uint32_t index, uint64_t count, void *ctx)
{
    buckets_t *b = ctx;
    if (b->n < 4096) {
        b->index[b->n] = index;
        b->count[b->n] = count;
    }
    b->n++;
}

static void assert_hist_equal(const hist_t *a, const hist_t *b)
{
    static buckets_t ba, bb;
    memset(&ba, 0, sizeof ba);
    memset(&bb, 0, sizeof bb);
    hist_foreach(a, collect, &ba);
    hist_foreach(b, collect, &bb);
    assert_int_equal(ba.n, bb.n);
    assert_memory_equal(ba.index, bb.index, ba.n * sizeof ba.index[0]);
    assert_memory_equal(ba.count, bb.count, ba.n * sizeof ba.count[0]);
    assert_int_equal(hist_count(a), hist_count(b));
}

/* The row counted something: requests, re-sends or interrupted requests. */
static bool counted(const stats_entry_t *e)
{
    return e->requests || e->resends || e->interrupted;
}

/* Same contents (row and failure order may differ; rows that counted nothing are ignored). */
static void assert_tables_equal(const stats_table_t *a, const stats_table_t *b)
{
    size_t rows_a = 0, rows_b = 0;
    for (size_t i = 0; i < a->n_entries; i++) {
        const stats_entry_t *x = &a->entries[i];
        if (!counted(x))
            continue;
        rows_a++;
        long j = stats_find(b, x->method, x->name);
        assert_true(j >= 0);
        const stats_entry_t *y = &b->entries[j];
        assert_string_equal(x->method, y->method);
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->requests, y->requests);
        assert_int_equal(x->failures, y->failures);
        assert_int_equal(x->sum_us, y->sum_us);
        assert_int_equal(x->min_us, y->min_us);
        assert_int_equal(x->max_us, y->max_us);
        assert_int_equal(x->bytes, y->bytes);
        assert_int_equal(x->resends, y->resends);
        assert_int_equal(x->interrupted, y->interrupted);
        assert_hist_equal(&x->hist, &y->hist);
    }
    for (size_t i = 0; i < b->n_entries; i++)
        rows_b += counted(&b->entries[i]);
    assert_int_equal(rows_a, rows_b);

    assert_int_equal(a->n_seconds, b->n_seconds);
    for (size_t i = 0; i < a->n_seconds; i++) {
        assert_int_equal(a->seconds[i].unix_second, b->seconds[i].unix_second);
        assert_int_equal(a->seconds[i].requests, b->seconds[i].requests);
        assert_int_equal(a->seconds[i].failures, b->seconds[i].failures);
    }

    assert_int_equal(a->n_failures, b->n_failures);
    for (size_t i = 0; i < a->n_failures; i++) {
        const stats_failure_t *f = &a->failures[i];
        bool found = false;
        for (size_t j = 0; j < b->n_failures && !found; j++) {
            const stats_failure_t *g = &b->failures[j];
            if (!strcmp(f->method, g->method) && !strcmp(f->name, g->name) &&
                !strcmp(f->message, g->message)) {
                assert_int_equal(f->count, g->count);
                found = true;
            }
        }
        assert_true(found);
    }
}

/* A table with three rows, failures and a timeline over seconds 1000..1004. */
static void fill_sample(stats_table_t *t)
{
    long get = stats_row(t, "GET", "/profile");
    long post = stats_row(t, "POST", "/match");
    long item = stats_row(t, "GET", "/item/[id]");
    assert_true(get >= 0 && post >= 0 && item >= 0);
    for (int s = 0; s < 5; s++) {
        for (int i = 0; i < 20; i++)
            stats_record(t, (size_t)get, 1000 + (uint64_t)i * 137, 512, false, 1000 + s);
        for (int i = 0; i < 5; i++) {
            bool failed = i == 0;
            stats_record(t, (size_t)post, 25000 + (uint64_t)i * 9000, 64, failed, 1000 + s);
            if (failed)
                stats_add_failure(t, (size_t)post, s % 2 ? "HTTP 500" : "timeout");
        }
    }
    stats_record(t, (size_t)item, 3600000000ull, 10, false, 1004);   /* one 1 h request */
}

#endif
