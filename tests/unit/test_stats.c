/* Unit tests for common/stats: recording, failure groups, merge, aggregate, current rate,
 * reset, and the Report wire round trip with validation of corrupt reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../common/stats.h"
#include "herd.pb-c.h"

/* ---- helpers ----------------------------------------------------------------------------- */

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

/* Same contents (row and failure order may differ; rows with no requests are ignored). */
static void assert_tables_equal(const stats_table_t *a, const stats_table_t *b)
{
    size_t rows_a = 0, rows_b = 0;
    for (size_t i = 0; i < a->n_entries; i++) {
        const stats_entry_t *x = &a->entries[i];
        if (!x->requests)
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
        assert_hist_equal(&x->hist, &y->hist);
    }
    for (size_t i = 0; i < b->n_entries; i++)
        rows_b += b->entries[i].requests > 0;
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

static Herd__Report *pack_unpack(const stats_table_t *t)
{
    Herd__Report r;
    herd__report__init(&r);
    r.first_seq = r.last_seq = 7;
    assert_int_equal(stats_to_report(t, &r), 0);
    size_t len = herd__report__get_packed_size(&r);
    uint8_t *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    assert_int_equal(herd__report__pack(&r, buf), len);
    stats_report_release(&r);
    assert_null(r.entries);
    Herd__Report *u = herd__report__unpack(NULL, len, buf);
    free(buf);
    assert_non_null(u);
    assert_int_equal(u->last_seq, 7);
    return u;
}

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

static void test_report_round_trip(void **state)
{
    (void)state;
    stats_table_t t, got;
    stats_init(&t);
    stats_init(&got);
    fill_sample(&t);
    stats_row(&t, "GET", "/idle");   /* an idle row is not sent */
    Herd__Report *u = pack_unpack(&t);
    assert_int_equal(u->n_entries, 3);
    assert_int_equal(u->n_seconds, 5);
    assert_int_equal(u->n_failures, 2);
    char err[256] = "";
    assert_int_equal(stats_merge_report(&got, u, err, sizeof err), 0);
    assert_tables_equal(&t, &got);
    /* merging the same delta again doubles every count */
    assert_int_equal(stats_merge_report(&got, u, err, sizeof err), 0);
    assert_int_equal(stats_total_requests(&got), 2 * stats_total_requests(&t));
    assert_int_equal(got.seconds[0].requests, 2 * t.seconds[0].requests);
    assert_int_equal(got.failures[0].count, 2 * t.failures[0].count);
    herd__report__free_unpacked(u, NULL);

    /* an empty table gives an empty report */
    stats_table_t empty;
    stats_init(&empty);
    u = pack_unpack(&empty);
    assert_int_equal(u->n_entries + u->n_seconds + u->n_failures, 0);
    assert_int_equal(stats_merge_report(&empty, u, err, sizeof err), 0);
    herd__report__free_unpacked(u, NULL);
    stats_free(&empty);
    stats_free(&t);
    stats_free(&got);
}

/* Coordinated-omission-corrected times travel with their entry, merge exactly, and a
 * corrected histogram that disagrees with its count is refused. */
static void test_corrected_times(void **state)
{
    (void)state;
    stats_table_t t, got, view;
    stats_init(&t);
    stats_init(&got);
    stats_init(&view);
    size_t r = (size_t)stats_row(&t, "GET", "/paced");
    for (uint64_t i = 1; i <= 100; i++) {
        stats_record(&t, r, 1000, 10, false, 100);
        stats_record_corrected(&t, r, 1000 + i * 10000);   /* late by up to 1 s */
    }
    assert_true(stats_has_corrected(&t));
    Herd__Report *u = pack_unpack(&t);
    assert_int_equal(u->entries[0]->corrected_requests, 100);
    char err[256] = "";
    assert_int_equal(stats_merge_report(&got, u, err, sizeof err), 0);
    assert_int_equal(got.entries[0].co_requests, 100);
    assert_int_equal(got.entries[0].co_max_us, 1001000);
    assert_int_equal(stats_corrected_view(&got, &view), 0);
    assert_int_equal(view.entries[0].requests, 100);
    uint64_t p99 = stats_entry_percentile_us(&view.entries[0], 99);
    assert_true(p99 >= 990000 * 0.999 && p99 <= 991000 * 1.001);
    /* the uncorrected figure is untouched */
    assert_int_equal(stats_entry_percentile_us(&got.entries[0], 99), 1000);

    u->entries[0]->corrected_requests = 101;   /* more corrected times than requests */
    assert_int_equal(stats_merge_report(&got, u, err, sizeof err), -1);
    assert_non_null(strstr(err, "corrected times for 100 requests"));
    u->entries[0]->corrected_requests = 99;    /* histogram disagrees with the count */
    assert_int_equal(stats_merge_report(&got, u, err, sizeof err), -1);
    assert_non_null(strstr(err, "corrected histogram"));
    assert_int_equal(got.entries[0].co_requests, 100);   /* unchanged */
    herd__report__free_unpacked(u, NULL);
    stats_free(&t);
    stats_free(&got);
    stats_free(&view);
}

/* Each corruption must be rejected with a message naming the problem, table untouched. */
static void expect_rejected(const stats_table_t *src, void (*corrupt)(Herd__Report *),
                            const char *needle)
{
    stats_table_t t, before;
    stats_init(&t);
    stats_init(&before);
    long r = stats_row(&t, "GET", "/profile");
    stats_record(&t, (size_t)r, 777, 1, false, 1002);
    assert_int_equal(stats_merge(&before, &t), 0);

    Herd__Report *u = pack_unpack(src);
    corrupt(u);
    char err[256] = "";
    assert_int_equal(stats_merge_report(&t, u, err, sizeof err), -1);
    if (!strstr(err, needle)) {
        print_error("error \"%s\" does not mention \"%s\"\n", err, needle);
        fail();
    }
    assert_tables_equal(&t, &before);
    assert_int_equal(t.n_entries, 1);
    herd__report__free_unpacked(u, NULL);
    stats_free(&t);
    stats_free(&before);
}

static Herd__StatEntry *entry_named(Herd__Report *u, const char *name)
{
    for (size_t i = 0; i < u->n_entries; i++)
        if (!strcmp(u->entries[i]->name, name))
            return u->entries[i];
    fail_msg("no entry %s", name);
    return NULL;
}

static void bad_index(Herd__Report *u) { entry_named(u, "/match")->hist->index[1] = 1u << 30; }
static void bad_failures(Herd__Report *u)
{
    Herd__StatEntry *e = entry_named(u, "/match");
    e->failures = e->requests + 1;
}
static void bad_total(Herd__Report *u) { entry_named(u, "/profile")->hist->count[0] += 1; }
static void bad_min_max(Herd__Report *u)
{
    Herd__StatEntry *e = entry_named(u, "/profile");
    e->min_us = e->max_us + 1;
}
static void bad_lengths(Herd__Report *u) { entry_named(u, "/profile")->hist->n_count -= 1; }
static void bad_name(Herd__Report *u) { u->entries[u->n_entries - 1]->name[0] = '\0'; }
static void bad_no_hist(Herd__Report *u)
{
    Herd__StatEntry *e = entry_named(u, "/profile");
    herd__histogram__free_unpacked(e->hist, NULL);
    e->hist = NULL;
}
static void bad_order(Herd__Report *u)
{
    Herd__Histogram *h = entry_named(u, "/profile")->hist;
    uint32_t tmp = h->index[0];
    h->index[0] = h->index[1];
    h->index[1] = tmp;
}
static void bad_failure_groups(Herd__Report *u) { u->failures[0]->count += 100; }
static void bad_second(Herd__Report *u) { u->seconds[2]->failures = u->seconds[2]->requests + 1; }
static void bad_hist_min(Herd__Report *u)
{
    Herd__StatEntry *e = entry_named(u, "/profile");
    e->min_us = 1;   /* min far below the lowest bucket */
    e->sum_us = e->requests * 2000;
}

static void test_corrupt_reports_rejected(void **state)
{
    (void)state;
    stats_table_t src;
    stats_init(&src);
    fill_sample(&src);
    expect_rejected(&src, bad_index, "out of range");
    expect_rejected(&src, bad_failures, "failures >");
    expect_rejected(&src, bad_total, "histogram");
    expect_rejected(&src, bad_min_max, "min");
    expect_rejected(&src, bad_lengths, "indices but");
    expect_rejected(&src, bad_name, "name");
    expect_rejected(&src, bad_no_hist, "histogram holds 0");
    expect_rejected(&src, bad_order, "not increasing");
    expect_rejected(&src, bad_failure_groups, "messages but");
    expect_rejected(&src, bad_second, "failures >");
    expect_rejected(&src, bad_hist_min, "disagree");
    stats_free(&src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record),
        cmocka_unit_test(test_failures_grouping),
        cmocka_unit_test(test_merge_by_name),
        cmocka_unit_test(test_aggregate),
        cmocka_unit_test(test_reset_and_clear),
        cmocka_unit_test(test_report_round_trip),
        cmocka_unit_test(test_corrupt_reports_rejected),
        cmocka_unit_test(test_corrected_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
