/*
 * test_window — the arithmetic of the current figures (master/window.h): a timeline's counts
 * over a range of seconds, the split of exact counts over rows by their shares (sums exact,
 * largest remainders, successes and failures apart), and the slots of arrival seconds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../common/stats.h"
#include "../../master/window.h"

/* Count n requests of (method, name), the first `failed` of them failed, in second s. */
static void count(stats_table_t *t, const char *name, unsigned n, unsigned failed, int64_t s)
{
    long row = stats_row(t, "GET", name);
    assert_true(row >= 0);
    for (unsigned i = 0; i < n; i++)
        stats_record(t, (size_t)row, 1000, 10, i < failed, s);
}

static uint64_t requests_of(const stats_table_t *t, const char *name)
{
    long r = stats_find(t, "GET", name);
    return r < 0 ? 0 : t->entries[r].requests;
}

static uint64_t failures_of(const stats_table_t *t, const char *name)
{
    long r = stats_find(t, "GET", name);
    return r < 0 ? 0 : t->entries[r].failures;
}

static void test_timeline_counts(void **state)
{
    (void)state;
    stats_table_t t;
    stats_init(&t);
    count(&t, "/a", 5, 1, 100);
    count(&t, "/a", 7, 0, 101);
    count(&t, "/b", 3, 3, 101);
    count(&t, "/a", 11, 2, 103);
    uint64_t req, fail;
    window_timeline_counts(&t, 101, 102, &req, &fail);
    assert_int_equal(req, 10);
    assert_int_equal(fail, 3);
    window_timeline_counts(&t, 100, 104, &req, &fail);
    assert_int_equal(req, 26);
    assert_int_equal(fail, 6);
    window_timeline_counts(&t, 102, 103, &req, &fail);   /* a second without requests */
    assert_int_equal(req, 0);
    assert_int_equal(fail, 0);
    window_timeline_counts(&t, 104, 100, &req, &fail);   /* an empty range */
    assert_int_equal(req, 0);
    stats_free(&t);
}

static void test_apportion_sums_are_exact(void **state)
{
    (void)state;
    stats_table_t shares, out;
    stats_init(&shares);
    stats_init(&out);
    count(&shares, "/a", 60, 0, 1);
    count(&shares, "/b", 30, 3, 1);
    count(&shares, "/c", 10, 1, 1);
    stats_row(&shares, "GET", "/idle");   /* a row without requests gets no row */
    assert_int_equal(window_apportion(&shares, 1000, 40, &out), 0);
    assert_int_equal(out.n_entries, 3);
    assert_int_equal(requests_of(&out, "/a"), 600);
    assert_int_equal(requests_of(&out, "/b"), 300);
    assert_int_equal(requests_of(&out, "/c"), 100);
    assert_int_equal(failures_of(&out, "/a"), 0);
    assert_int_equal(failures_of(&out, "/b"), 30);
    assert_int_equal(failures_of(&out, "/c"), 10);
    assert_int_equal(stats_find(&out, "GET", "/idle"), -1);

    /* Thirds of 7: the largest remainders (all equal: the first rows) get the rest. */
    stats_clear(&shares);
    count(&shares, "/a", 1, 0, 1);
    count(&shares, "/b", 1, 0, 1);
    count(&shares, "/c", 1, 0, 1);
    assert_int_equal(window_apportion(&shares, 7, 0, &out), 0);
    assert_int_equal(requests_of(&out, "/a"), 3);
    assert_int_equal(requests_of(&out, "/b"), 2);
    assert_int_equal(requests_of(&out, "/c"), 2);
    assert_int_equal(stats_total_requests(&out), 7);

    /* 2/3 and 1/3 of 100: 66.67 and 33.33 -> 67 and 33. */
    stats_clear(&shares);
    count(&shares, "/a", 2, 0, 1);
    count(&shares, "/b", 1, 0, 1);
    assert_int_equal(window_apportion(&shares, 100, 0, &out), 0);
    assert_int_equal(requests_of(&out, "/a"), 67);
    assert_int_equal(requests_of(&out, "/b"), 33);

    /* Failures where the shares have none: by requests; still summing exactly. */
    assert_int_equal(window_apportion(&shares, 90, 5, &out), 0);
    assert_int_equal(requests_of(&out, "/a"), 60);
    assert_int_equal(failures_of(&out, "/a") + failures_of(&out, "/b"), 5);
    assert_int_equal(failures_of(&out, "/a"), 3);

    /* A row that always fails shows as many failures as requests; one that never fails,
     * none: successes and failures are split apart. */
    stats_clear(&shares);
    count(&shares, "/ok", 30, 0, 1);
    count(&shares, "/bad", 10, 10, 1);
    assert_int_equal(window_apportion(&shares, 100, 20, &out), 0);
    assert_int_equal(requests_of(&out, "/bad"), 20);
    assert_int_equal(failures_of(&out, "/bad"), 20);
    assert_int_equal(requests_of(&out, "/ok"), 80);
    assert_int_equal(failures_of(&out, "/ok"), 0);

    /* Nothing to split by: nothing. */
    stats_clear(&shares);
    assert_int_equal(window_apportion(&shares, 10, 1, &out), 0);
    assert_int_equal(out.n_entries, 0);
    stats_free(&shares);
    stats_free(&out);
}

static void test_slots_by_arrival_second(void **state)
{
    (void)state;
    window_t w;
    window_init(&w);
    stats_table_t d, sum;
    stats_init(&d);
    stats_init(&sum);
    for (int64_t s = 1000; s < 1020; s++) {
        stats_reset(&d);
        count(&d, "/a", (unsigned)(s - 999), 0, s - 1);   /* 1, 2, 3, ... requests */
        assert_int_equal(window_add(&w, s, &d), 0);
    }
    /* Two reports arriving in one second share its slot. */
    stats_reset(&d);
    count(&d, "/b", 100, 4, 1018);
    assert_int_equal(window_add(&w, 1019, &d), 0);

    assert_int_equal(window_sum(&w, 1010, 1020, &sum), 0);   /* 11 + ... + 20, and /b */
    assert_int_equal(requests_of(&sum, "/a"), 155);
    assert_int_equal(requests_of(&sum, "/b"), 100);
    assert_int_equal(failures_of(&sum, "/b"), 4);
    assert_int_equal(window_sum(&w, 1019, 1020, &sum), 0);
    assert_int_equal(stats_total_requests(&sum), 120);
    /* Older than WINDOW_SLOTS seconds: gone, its slot reused. */
    assert_int_equal(window_sum(&w, 1000, 1004, &sum), 0);
    assert_int_equal(stats_total_requests(&sum), 0);
    assert_int_equal(window_sum(&w, 1004, 1005, &sum), 0);
    assert_int_equal(stats_total_requests(&sum), 5);
    window_clear(&w);
    assert_int_equal(window_sum(&w, 0, 2000, &sum), 0);
    assert_int_equal(stats_total_requests(&sum), 0);
    stats_free(&d);
    stats_free(&sum);
    window_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeline_counts),
        cmocka_unit_test(test_apportion_sums_are_exact),
        cmocka_unit_test(test_slots_by_arrival_second),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
