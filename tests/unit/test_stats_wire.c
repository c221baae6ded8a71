/* Unit tests for common/stats_wire: the Report round trip (pack, unpack, merge), corrected
 * times on the wire, and validation of corrupt reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/stats.h"
#include "../../common/stats_wire.h"
#include "herd.pb-c.h"
#include "stats_fixture.h"

/* ---- counting the work ------------------------------------------------------------------
 * Report keys are compared with strcmp, in stats_wire.c and stats.c alike: this definition
 * takes the place of the C library's in this test program, so a test can count how many
 * comparisons a call made (work, not time: a quadratic check shows as N^2 of them). */
static bool counting;
static uint64_t n_strcmp;

int strcmp(const char *a, const char *b)
{
    if (counting)
        n_strcmp++;
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    while (*x && *x == *y) {
        x++;
        y++;
    }
    return (int)*x - (int)*y;
}

/* ---- helpers ----------------------------------------------------------------------------- */

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

/* Re-sends and interrupted requests travel with their rows, also a row that has nothing
 * else (requests in flight on a server that never answers); re-sends beyond what the
 * requests can explain are refused. */
static void test_resends_and_interrupted_travel(void **state)
{
    (void)state;
    stats_table_t t, got;
    stats_init(&t);
    stats_init(&got);
    fill_sample(&t);
    stats_record_resends(&t, (size_t)stats_find(&t, "GET", "/profile"), 7);
    long hang = stats_row(&t, "GET", "/hang");
    stats_record_interrupted(&t, (size_t)hang);
    stats_record_interrupted(&t, (size_t)hang);
    stats_record_resends(&t, (size_t)hang, 1);
    Herd__Report *u = pack_unpack(&t);
    assert_int_equal(u->n_entries, 4);   /* the interrupted-only row is sent */
    char err[256] = "";
    assert_int_equal(stats_merge_report(&got, u, err, sizeof err), 0);
    assert_tables_equal(&t, &got);
    assert_int_equal(stats_total_interrupted(&got), 2);
    assert_int_equal(stats_total_resends(&got), 8);

    Herd__StatEntry *h = NULL;
    for (size_t i = 0; i < u->n_entries; i++)
        if (strcmp(u->entries[i]->name, "/hang") == 0)
            h = u->entries[i];
    assert_non_null(h);
    assert_int_equal(h->requests, 0);
    h->resends = 2 * 31 + 1;   /* more than 31 hops' re-sends for 2 requests */
    assert_int_equal(stats_merge_report(&got, u, err, sizeof err), -1);
    assert_non_null(strstr(err, "re-sends for 0 requests and 2 interrupted"));
    h->resends = 0;
    h->interrupted = UINT64_MAX;
    assert_int_equal(stats_merge_report(&got, u, err, sizeof err), -1);
    assert_non_null(strstr(err, "implausible"));
    assert_int_equal(stats_total_interrupted(&got), 2);   /* unchanged */
    herd__report__free_unpacked(u, NULL);
    stats_free(&t);
    stats_free(&got);
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

/* A report of n rows with two failure groups each, built by hand (a table of 10 000 rows is
 * what we want to avoid comparing pairwise). Every row: 2 requests, both failed, in one
 * bucket. Free with free_report. */
typedef struct big_report {
    Herd__Report r;
    Herd__StatEntry *entries;
    Herd__Histogram *hists;
    Herd__FailureCount *groups;
    char (*names)[16];
    uint32_t index;
    uint64_t count;
} big_report_t;

static void make_report(big_report_t *b, size_t n)
{
    herd__report__init(&b->r);
    b->entries = calloc(n, sizeof *b->entries);
    b->hists = calloc(n, sizeof *b->hists);
    b->groups = calloc(2 * n, sizeof *b->groups);
    b->names = calloc(n, sizeof *b->names);
    b->r.entries = calloc(n, sizeof *b->r.entries);
    b->r.failures = calloc(2 * n, sizeof *b->r.failures);
    assert_true(b->entries && b->hists && b->groups && b->names && b->r.entries &&
                b->r.failures);
    b->index = hist_index_of(1500);
    b->count = 2;
    for (size_t i = 0; i < n; i++) {
        snprintf(b->names[i], sizeof b->names[i], "/row/%zu", i);
        Herd__Histogram *h = &b->hists[i];
        herd__histogram__init(h);
        h->n_index = h->n_count = 1;
        h->index = &b->index;
        h->count = &b->count;
        Herd__StatEntry *e = &b->entries[i];
        herd__stat_entry__init(e);
        e->method = "GET";
        e->name = b->names[i];
        e->requests = e->failures = 2;
        e->sum_us = 3000;
        e->min_us = e->max_us = 1500;
        e->hist = h;
        b->r.entries[i] = e;
        for (size_t k = 0; k < 2; k++) {
            Herd__FailureCount *f = &b->groups[2 * i + k];
            herd__failure_count__init(f);
            f->method = "GET";
            f->name = b->names[i];
            f->message = k ? "HTTP 500" : "HTTP 503";
            f->count = 1;
            b->r.failures[2 * i + k] = f;
        }
    }
    b->r.n_entries = n;
    b->r.n_failures = 2 * n;
}

static void free_report(big_report_t *b)
{
    free(b->entries);
    free(b->hists);
    free(b->groups);
    free(b->names);
    free(b->r.entries);
    free(b->r.failures);
}

/* Checking a report is linear: 5 000 rows and 10 000 failure groups (the most a report may
 * hold) take a few string comparisons each, where comparing them pairwise took 10^8. The
 * last group is one too many for its row, so the check looks at everything before it
 * refuses. */
static void test_report_check_is_linear(void **state)
{
    (void)state;
    const size_t n = STATS_REPORT_MAX_FAILURE_GROUPS / 2;
    big_report_t b;
    make_report(&b, n);
    b.groups[2 * n - 1].count = 2; /* 3 messages for 2 failed requests */
    stats_table_t t;
    stats_init(&t);
    char err[256] = "";
    n_strcmp = 0;
    counting = true;
    int rc = stats_merge_report(&t, &b.r, err, sizeof err);
    counting = false;
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "report failures for GET /row/4999: 3 messages but 2 failed"));
    print_message("checking %zu rows and %zu failure groups: %" PRIu64 " string comparisons\n",
                  n, 2 * n, n_strcmp);
    assert_true(n_strcmp > 0);            /* the count sees the comparisons */
    assert_true(n_strcmp <= 4 * 3 * n);   /* a few per row and group, not n^2 */
    assert_int_equal(t.n_entries, 0);
    stats_free(&t);
    free_report(&b);
}

/* What the worker never sends: a row or a failure group twice, seconds out of order, more
 * rows than a scenario can have. */
static void test_duplicates_and_bounds_rejected(void **state)
{
    (void)state;
    big_report_t b;
    make_report(&b, 3);
    stats_table_t t;
    stats_init(&t);
    char err[256] = "";
    b.names[2][5] = '1'; /* "/row/2" becomes "/row/1" */
    assert_int_equal(stats_merge_report(&t, &b.r, err, sizeof err), -1);
    assert_string_equal(err, "report entry GET /row/1 appears twice");
    b.names[2][5] = '2';
    b.groups[1].message = "HTTP 503";
    assert_int_equal(stats_merge_report(&t, &b.r, err, sizeof err), -1);
    assert_string_equal(err, "report failure group for GET /row/0 appears twice");
    b.groups[1].message = "HTTP 500";
    b.groups[5].name = "/row/9"; /* a group for a row the report does not have */
    assert_int_equal(stats_merge_report(&t, &b.r, err, sizeof err), -1);
    assert_string_equal(err, "report failures for GET /row/9: 1 messages but 0 failed requests");
    b.groups[5].name = b.names[2];

    Herd__SecondCount s1 = HERD__SECOND_COUNT__INIT, s2 = HERD__SECOND_COUNT__INIT;
    Herd__SecondCount *secs[] = {&s1, &s2};
    s1.unix_second = 1001;
    s2.unix_second = 1000;
    b.r.seconds = secs;
    b.r.n_seconds = 2;
    assert_int_equal(stats_merge_report(&t, &b.r, err, sizeof err), -1);
    assert_string_equal(err, "report seconds not in increasing order at 1");
    s2.unix_second = 1002;
    assert_int_equal(stats_merge_report(&t, &b.r, err, sizeof err), 0);
    assert_int_equal(t.n_entries, 3);
    assert_int_equal(t.n_seconds, 2);
    stats_free(&t);
    free_report(&b);

    make_report(&b, STATS_REPORT_MAX_ROWS + 1);
    stats_init(&t);
    b.r.n_failures = 0;
    assert_int_equal(stats_merge_report(&t, &b.r, err, sizeof err), -1);
    assert_string_equal(err, "report has 10001 entries; a worker has at most 10000 rows");
    b.r.n_entries = STATS_REPORT_MAX_FAILURE_GROUPS / 2 + 1;
    b.r.n_failures = 2 * b.r.n_entries;
    assert_int_equal(stats_merge_report(&t, &b.r, err, sizeof err), -1);
    assert_string_equal(err, "report has 10002 failure groups; at most 10000 are accepted");
    stats_free(&t);
    free_report(&b);

    /* a big report that is right is accepted whole */
    make_report(&b, 1000);
    stats_init(&t);
    assert_int_equal(stats_merge_report(&t, &b.r, err, sizeof err), 0);
    assert_int_equal(t.n_entries, 1000);
    assert_int_equal(t.n_failures, 2000);
    assert_int_equal(stats_total_failures(&t), 2000);
    stats_free(&t);
    free_report(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_round_trip),
        cmocka_unit_test(test_corrupt_reports_rejected),
        cmocka_unit_test(test_corrected_times),
        cmocka_unit_test(test_report_check_is_linear),
        cmocka_unit_test(test_duplicates_and_bounds_rejected),
        cmocka_unit_test(test_resends_and_interrupted_travel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
