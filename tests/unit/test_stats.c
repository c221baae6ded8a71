/* Unit tests for common/stats: recording, failure groups, merge, aggregate, reset, the
 * corrected view, and adding counts measured elsewhere. The Report wire format is tested in
 * test_stats_wire.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../common/stats.h"
#include "stats_fixture.h"

/* ---- tests ------------------------------------------------------------------------------- */

static void test_record(void **state)
{
    (void)state;
    stats_table_t t;
    stats_init(&t);
    long r = stats_row(&t, "GET", "/a");
    assert_int_equal(r, 0);
    assert_int_equal(stats_row(&t, "GET", "/a"), 0);
    assert_int_equal(stats_row(&t, "POST", "/a"), 1);   /* method is part of the key */
    assert_int_equal(stats_find(&t, "POST", "/a"), 1);
    assert_int_equal(stats_find(&t, "PUT", "/a"), -1);
    assert_true(stats_is_empty(&t));

    stats_record(&t, 0, 1500, 100, false, 50);
    stats_record(&t, 0, 500, 300, true, 50);
    stats_record(&t, 0, 9000, 0, false, 51);
    stats_record(&t, 99, 1, 1, false, 51);   /* bad row: ignored, no crash */
    const stats_entry_t *e = &t.entries[0];
    assert_int_equal(e->requests, 3);
    assert_int_equal(e->failures, 1);
    assert_int_equal(e->sum_us, 11000);
    assert_int_equal(e->min_us, 500);
    assert_int_equal(e->max_us, 9000);
    assert_int_equal(e->bytes, 400);
    assert_int_equal(hist_count(&e->hist), 3);
    assert_int_equal(t.entries[1].requests, 0);
    assert_int_equal(t.entries[1].min_us, UINT64_MAX);
    assert_int_equal(stats_total_requests(&t), 3);
    assert_int_equal(stats_total_failures(&t), 1);
    assert_false(stats_is_empty(&t));

    assert_int_equal(t.n_seconds, 2);
    assert_int_equal(t.seconds[0].unix_second, 50);
    assert_int_equal(t.seconds[0].requests, 2);
    assert_int_equal(t.seconds[0].failures, 1);
    assert_int_equal(t.seconds[1].requests, 1);

    /* a second from the past (clock stepped back) is inserted in order */
    stats_record(&t, 0, 700, 0, false, 49);
    stats_record(&t, 0, 700, 0, false, 50);
    assert_int_equal(t.n_seconds, 3);
    assert_int_equal(t.seconds[0].unix_second, 49);
    assert_int_equal(t.seconds[1].unix_second, 50);
    assert_int_equal(t.seconds[1].requests, 3);
    assert_int_equal(t.seconds[2].unix_second, 51);
    stats_free(&t);
}

static void test_failures_grouping(void **state)
{
    (void)state;
    stats_table_t t;
    stats_init(&t);
    size_t a = (size_t)stats_row(&t, "GET", "/a");
    size_t b = (size_t)stats_row(&t, "POST", "/b");
    assert_int_equal(stats_add_failure(&t, a, "HTTP 500"), 0);
    assert_int_equal(stats_add_failure(&t, a, "HTTP 500"), 0);
    assert_int_equal(stats_add_failure(&t, a, "timeout"), 0);
    assert_int_equal(stats_add_failure(&t, b, "HTTP 500"), 0);
    assert_int_equal(stats_add_failure(&t, 42, "HTTP 500"), -1);
    assert_int_equal(t.n_failures, 3);
    assert_string_equal(t.failures[0].method, "GET");
    assert_string_equal(t.failures[0].name, "/a");
    assert_string_equal(t.failures[0].message, "HTTP 500");
    assert_int_equal(t.failures[0].count, 2);
    assert_string_equal(t.failures[1].message, "timeout");
    assert_int_equal(t.failures[1].count, 1);
    assert_string_equal(t.failures[2].method, "POST");
    assert_int_equal(t.failures[2].count, 1);
    stats_free(&t);
}

static void test_merge_by_name(void **state)
{
    (void)state;
    stats_table_t a, b, all;
    stats_init(&a);
    stats_init(&b);
    stats_init(&all);
    /* b creates its rows in another order and has a row a lacks */
    size_t a1 = (size_t)stats_row(&a, "GET", "/x");
    size_t a2 = (size_t)stats_row(&a, "GET", "/y");
    size_t b0 = (size_t)stats_row(&b, "DELETE", "/z");
    size_t b2 = (size_t)stats_row(&b, "GET", "/y");
    size_t b1 = (size_t)stats_row(&b, "GET", "/x");
    size_t x = (size_t)stats_row(&all, "GET", "/x");
    size_t y = (size_t)stats_row(&all, "GET", "/y");
    size_t z = (size_t)stats_row(&all, "DELETE", "/z");
    for (int i = 0; i < 100; i++) {
        uint64_t us = 200 + (uint64_t)i * 977;
        bool failed = i % 10 == 0;
        int64_t sec = 10 + i / 30;
        stats_record(&a, a1, us, 1, failed, sec);
        stats_record(&all, x, us, 1, failed, sec);
        if (failed) {
            stats_add_failure(&a, a1, "boom");
            stats_add_failure(&all, x, "boom");
        }
        stats_record(&b, b1, us * 3, 2, false, sec + 2);
        stats_record(&all, x, us * 3, 2, false, sec + 2);
        stats_record(i % 2 ? &a : &b, i % 2 ? a2 : b2, us + 5, 0, false, sec);
        stats_record(&all, y, us + 5, 0, false, sec);
        if (i % 25 == 0) {
            stats_record(&b, b0, 42, 0, true, 5);
            stats_add_failure(&b, b0, "gone");
            stats_record(&all, z, 42, 0, true, 5);
            stats_add_failure(&all, z, "gone");
        }
    }
    assert_int_equal(stats_merge(&a, &b), 0);
    assert_int_equal(a.n_entries, 3);
    assert_tables_equal(&a, &all);
    /* seconds stay sorted, merged by second */
    for (size_t i = 1; i < a.n_seconds; i++)
        assert_true(a.seconds[i].unix_second > a.seconds[i - 1].unix_second);
    assert_int_equal(a.seconds[0].unix_second, 5);
    assert_int_equal(stats_total_requests(&a), 304);
    assert_int_equal(stats_merge(&a, &a), -1);   /* self-merge refused */
    assert_int_equal(stats_total_requests(&a), 304);
    stats_free(&a);
    stats_free(&b);
    stats_free(&all);
}

static void test_aggregate(void **state)
{
    (void)state;
    stats_table_t t;
    stats_init(&t);
    fill_sample(&t);
    stats_entry_t agg;
    stats_entry_init(&agg);
    assert_int_equal(stats_aggregate(&t, &agg), 0);
    assert_string_equal(agg.name, "Aggregated");
    assert_string_equal(agg.method, "");
    assert_int_equal(agg.requests, 100 + 25 + 1);
    assert_int_equal(agg.failures, 5);
    assert_int_equal(agg.min_us, 1000);
    assert_int_equal(agg.max_us, 3600000000ull);
    assert_int_equal(agg.bytes, 100 * 512 + 25 * 64 + 10);
    uint64_t sum = 0;
    for (size_t i = 0; i < t.n_entries; i++)
        sum += t.entries[i].sum_us;
    assert_int_equal(agg.sum_us, sum);
    assert_int_equal(hist_count(&agg.hist), 126);
    /* aggregating again overwrites, not adds */
    assert_int_equal(stats_aggregate(&t, &agg), 0);
    assert_int_equal(agg.requests, 126);
    assert_int_equal(hist_count(&agg.hist), 126);
    stats_entry_free(&agg);
    stats_free(&t);
}

static void test_reset_and_clear(void **state)
{
    (void)state;
    stats_table_t t;
    stats_init(&t);
    fill_sample(&t);
    stats_second_t *seconds = t.seconds;
    size_t cap = t.cap_seconds;
    uint64_t *chunk = t.entries[0].hist.chunks[1];
    assert_non_null(chunk);
    stats_reset(&t);
    assert_int_equal(t.n_entries, 3);   /* rows kept */
    assert_int_equal(stats_total_requests(&t), 0);
    assert_int_equal(t.entries[0].min_us, UINT64_MAX);
    assert_int_equal(hist_count(&t.entries[0].hist), 0);
    assert_int_equal(t.n_failures, 0);
    assert_int_equal(t.n_seconds, 0);
    assert_ptr_equal(t.seconds, seconds);   /* capacity kept */
    assert_int_equal(t.cap_seconds, cap);
    assert_ptr_equal(t.entries[0].hist.chunks[1], chunk);
    assert_true(stats_is_empty(&t));
    stats_record(&t, 0, 1200, 1, false, 2000);
    assert_int_equal(t.entries[0].requests, 1);
    assert_int_equal(t.entries[0].min_us, 1200);
    assert_ptr_equal(t.seconds, seconds);
    stats_clear(&t);
    assert_int_equal(t.n_entries, 0);
    assert_int_equal(stats_find(&t, "GET", "/profile"), -1);
    stats_free(&t);
}

/* Re-sends and interrupted requests are counted beside the requests: a row may have only
 * interrupted ones (a server that never answers); they merge, aggregate and reset like the
 * rest, and a table holding only them is not empty (its report must be sent). */
static void test_resends_and_interrupted(void **state)
{
    (void)state;
    stats_table_t t, sum;
    stats_init(&t);
    stats_init(&sum);
    long get = stats_row(&t, "GET", "/a");
    long hang = stats_row(&t, "GET", "/hang");
    assert_true(stats_is_empty(&t));
    stats_record_interrupted(&t, (size_t)hang);
    assert_false(stats_is_empty(&t));
    stats_record_interrupted(&t, (size_t)hang);
    stats_record_resends(&t, (size_t)hang, 1);
    stats_record(&t, (size_t)get, 1000, 10, false, 100);
    stats_record(&t, (size_t)get, 3000, 10, true, 100);
    stats_record_resends(&t, (size_t)get, 3);
    stats_record_interrupted(&t, 99);   /* no such row: nothing */
    assert_int_equal(stats_total_resends(&t), 4);
    assert_int_equal(stats_total_interrupted(&t), 2);
    assert_int_equal(stats_total_requests(&t), 2);
    assert_int_equal(t.entries[hang].requests, 0);

    assert_int_equal(stats_merge(&sum, &t), 0);
    assert_int_equal(stats_merge(&sum, &t), 0);
    assert_int_equal(sum.entries[stats_find(&sum, "GET", "/hang")].interrupted, 4);
    assert_int_equal(sum.entries[stats_find(&sum, "GET", "/a")].resends, 6);

    stats_entry_t agg;
    stats_entry_init(&agg);
    assert_int_equal(stats_aggregate(&sum, &agg), 0);
    assert_int_equal(agg.requests, 4);
    assert_int_equal(agg.resends, 8);
    assert_int_equal(agg.interrupted, 4);
    stats_entry_free(&agg);

    stats_reset(&t);
    assert_true(stats_is_empty(&t));
    assert_int_equal(t.entries[hang].interrupted + t.entries[get].resends, 0);
    stats_free(&t);
    stats_free(&sum);
}

/* The corrected view shows only rows of users on a schedule, with their corrected times as
 * ordinary requests; the uncorrected figures stay as they were. */
static void test_corrected_view(void **state)
{
    (void)state;
    stats_table_t t, view;
    stats_init(&t);
    stats_init(&view);
    size_t paced = (size_t)stats_row(&t, "GET", "/paced");
    size_t free_run = (size_t)stats_row(&t, "GET", "/free");
    stats_record(&t, free_run, 500, 0, false, 100);
    assert_false(stats_has_corrected(&t));
    for (uint64_t i = 1; i <= 100; i++) {
        stats_record(&t, paced, 1000, 10, false, 100);
        stats_record_corrected(&t, paced, 1000 + i * 10000);   /* late by up to 1 s */
    }
    assert_true(stats_has_corrected(&t));
    for (int pass = 0; pass < 2; pass++) {   /* the view is cleared first, not added to */
        assert_int_equal(stats_corrected_view(&t, &view), 0);
        assert_int_equal(view.n_entries, 1);
        assert_int_equal(stats_find(&view, "GET", "/free"), -1);
        const stats_entry_t *v = &view.entries[0];
        assert_string_equal(v->name, "/paced");
        assert_int_equal(v->requests, 100);
        assert_int_equal(v->max_us, 1001000);
        assert_true(v->min_us <= v->max_us && v->min_us >= 11000 * 0.999);
        uint64_t p99 = stats_entry_percentile_us(v, 99);
        assert_true(p99 >= 990000 * 0.999 && p99 <= 991000 * 1.001);
    }
    assert_int_equal(stats_entry_percentile_us(&t.entries[paced], 99), 1000);
    stats_free(&t);
    stats_free(&view);
}

/* Counts that arrive as numbers (a decoded report): seconds in order, failure groups summed,
 * entry counts added without touching histograms. */
static void test_add_measured_counts(void **state)
{
    (void)state;
    stats_table_t t;
    stats_init(&t);
    assert_int_equal(stats_add_second(&t, 1002, 5, 1), 0);
    assert_int_equal(stats_add_second(&t, 1000, 3, 0), 0);
    assert_int_equal(stats_add_second(&t, 1001, 4, 2), 0);
    assert_int_equal(stats_add_second(&t, 1000, 2, 2), 0);
    assert_int_equal(t.n_seconds, 3);
    assert_int_equal(t.seconds[0].unix_second, 1000);
    assert_int_equal(t.seconds[0].requests, 5);
    assert_int_equal(t.seconds[0].failures, 2);
    assert_int_equal(t.seconds[1].unix_second, 1001);
    assert_int_equal(t.seconds[2].unix_second, 1002);
    assert_int_equal(t.seconds[2].requests, 5);

    assert_int_equal(stats_add_failures(&t, "GET", "/a", "HTTP 500", 0), 0);
    assert_int_equal(t.n_failures, 0);   /* no empty group */
    assert_int_equal(stats_add_failures(&t, "GET", "/a", "HTTP 500", 3), 0);
    assert_int_equal(stats_add_failures(&t, "GET", "/a", "HTTP 500", 4), 0);
    assert_int_equal(stats_add_failures(&t, "GET", "/a", "timeout", 1), 0);
    assert_int_equal(t.n_failures, 2);
    assert_int_equal(t.failures[0].count, 7);
    assert_string_equal(t.failures[1].message, "timeout");

    size_t r = (size_t)stats_row(&t, "GET", "/a");
    stats_entry_t add;
    stats_entry_init(&add);
    add.requests = 10;
    add.failures = 2;
    add.sum_us = 5000;
    add.min_us = 200;
    add.max_us = 900;
    add.bytes = 64;
    add.co_requests = 4;
    add.co_sum_us = 8000;
    add.co_max_us = 3000;
    stats_entry_add_counts(&t.entries[r], &add);
    add.min_us = 100;
    add.max_us = 800;
    stats_entry_add_counts(&t.entries[r], &add);
    const stats_entry_t *e = &t.entries[r];
    assert_int_equal(e->requests, 20);
    assert_int_equal(e->failures, 4);
    assert_int_equal(e->sum_us, 10000);
    assert_int_equal(e->min_us, 100);
    assert_int_equal(e->max_us, 900);
    assert_int_equal(e->bytes, 128);
    assert_int_equal(e->co_requests, 8);
    assert_int_equal(e->co_sum_us, 16000);
    assert_int_equal(e->co_max_us, 3000);
    assert_int_equal(hist_count(&e->hist), 0);   /* histograms are the caller's to fill */
    stats_entry_t idle;
    stats_entry_init(&idle);
    idle.bytes = 1;   /* without requests nothing is added */
    stats_entry_add_counts(&t.entries[r], &idle);
    assert_int_equal(e->bytes, 128);
    stats_free(&t);
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record),
        cmocka_unit_test(test_failures_grouping),
        cmocka_unit_test(test_merge_by_name),
        cmocka_unit_test(test_aggregate),
        cmocka_unit_test(test_reset_and_clear),
        cmocka_unit_test(test_corrected_view),
        cmocka_unit_test(test_resends_and_interrupted),
        cmocka_unit_test(test_add_measured_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
