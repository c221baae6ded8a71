/* Unit tests for master/console: the printed tables, checked against Locust 2.x's layout
 * (locust/stats.py: get_stats_summary, get_percentile_stats_summary, get_error_report_summary
 * with STATS_NAME_WIDTH 80, STATS_TYPE_WIDTH 8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../master/console.h"

#define MAX_LINES 64

typedef struct output {
    char *text;
    size_t size;
    char *lines[MAX_LINES];
    int n;
} output_t;

static FILE *out_open(output_t *o)
{
    memset(o, 0, sizeof *o);
    FILE *f = open_memstream(&o->text, &o->size);
    assert_non_null(f);
    return f;
}

/* Close the stream and split the text into lines (without '\n'). */
static void out_close(output_t *o, FILE *f)
{
    assert_int_equal(fclose(f), 0);
    char *p = o->text;
    while (*p && o->n < MAX_LINES) {
        char *nl = strchr(p, '\n');
        assert_non_null(nl);   /* every line is complete */
        *nl = '\0';
        o->lines[o->n++] = p;
        p = nl + 1;
    }
}

static void out_free(output_t *o)
{
    free(o->text);
}

/* s padded with spaces to width (Python's "%-<width>s"). */
static const char *pad(const char *s, int width)
{
    static char buf[8][512];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, 512, "%-*s", width, s);
    return b;
}

static char *cat(char *dst, size_t cap, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    dst[0] = '\0';
    for (int i = 0; i < n; i++)
        strncat(dst, va_arg(ap, const char *), cap - strlen(dst) - 1);
    va_end(ap);
    return dst;
}

static char *dashes(int n)
{
    static char buf[4][256];
    static int k;
    char *b = buf[k++ % 4];
    memset(b, '-', (size_t)n);
    b[n] = '\0';
    return b;
}

/* GET /a: 1, 2, 3, 4 ms (one failed, "HTTP 500"); POST /b: 10 ms, failed ("timeout"). */
static void fill(stats_table_t *t)
{
    size_t b = (size_t)stats_row(t, "POST", "/b");   /* created first, printed second */
    size_t a = (size_t)stats_row(t, "GET", "/a");
    stats_record(t, a, 1000, 0, false, 100);
    stats_record(t, a, 2000, 0, true, 101);
    stats_add_failure(t, a, "HTTP 500");
    stats_record(t, a, 3000, 0, false, 102);
    stats_record(t, a, 4000, 0, false, 103);
    stats_record(t, b, 10000, 0, true, 103);
    stats_add_failure(t, b, "timeout");
}

static void assert_line(const output_t *o, int i, const char *want)
{
    assert_true(i < o->n);
    if (strcmp(o->lines[i], want) != 0) {
        print_error("line %d\n got: [%s]\nwant: [%s]\n", i, o->lines[i], want);
        fail();
    }
}

static const char *STATS_HEADER_TAIL =
    "  # reqs      # fails |    Avg     Min     Max    Med |   req/s  failures/s";

static char *stats_separator(char *buf, size_t cap)
{
    return cat(buf, cap, 3, "--------|", dashes(76),
               "|-------|-------------|-------|-------|-------|-------|--------|-----------");
}

static void test_stats_table_final(void **state)
{
    (void)state;
    stats_table_t t;
    stats_init(&t);
    fill(&t);
    output_t o;
    FILE *f = out_open(&o);
    assert_int_equal(console_print_stats(f, &t, NULL, 0, 10.0), 0);
    out_close(&o, f);

    char want[1024];
    assert_int_equal(o.n, 7);   /* header, separator, 2 rows, separator, Aggregated, blank */
    assert_line(&o, 0, cat(want, sizeof want, 3, "Type     ", pad("Name", 76), STATS_HEADER_TAIL));
    assert_line(&o, 1, stats_separator(want, sizeof want));
    /* sorted by name: /a before /b although /b was created first */
    assert_line(&o, 2, cat(want, sizeof want, 3, "GET      ", pad("/a", 76),
                           "       4    1(25.00%) |      3       1       4      2 |    0.40        0.10"));
    assert_line(&o, 3, cat(want, sizeof want, 3, "POST     ", pad("/b", 76),
                           "       1   1(100.00%) |     10      10      10     10 |    0.10        0.10"));
    assert_line(&o, 4, stats_separator(want, sizeof want));
    assert_line(&o, 5, cat(want, sizeof want, 3, "         ", pad("Aggregated", 76),
                           "       5    2(40.00%) |      4       1      10      3 |    0.50        0.20"));
    assert_line(&o, 6, "");

    /* what scripts do with the line: "Aggregated  <requests>  <failures>(<pct>%) | ..." */
    unsigned long reqs = 0, fails = 0;
    double pct = 0;
    const char *agg = strstr(o.lines[5], "Aggregated");
    assert_non_null(agg);
    assert_int_equal(sscanf(agg, "Aggregated %lu %lu(%lf%%) |", &reqs, &fails, &pct), 3);
    assert_int_equal(reqs, 5);
    assert_int_equal(fails, 2);
    assert_float_equal(pct, 40.0, 1e-9);
    out_free(&o);
    stats_free(&t);
}

static void test_stats_table_current(void **state)
{
    (void)state;
    stats_table_t t;
    stats_init(&t);
    fill(&t);
    output_t o;
    FILE *f = out_open(&o);
    /* the last 4 s held 4 requests of /a (1 failed) and 1 failed request of /b */
    stats_table_t win;
    stats_init(&win);
    long wa = stats_row(&win, "GET", "/a"), wb = stats_row(&win, "POST", "/b");
    for (int i = 0; i < 4; i++)
        stats_record(&win, (size_t)wa, 1000, 10, i == 0, 100);
    stats_record(&win, (size_t)wb, 1000, 10, true, 100);
    assert_int_equal(console_print_stats(f, &t, &win, 4.0, 999.0), 0);
    out_close(&o, f);
    assert_int_equal(o.n, 7);
    char want[1024];
    assert_line(&o, 2, cat(want, sizeof want, 3, "GET      ", pad("/a", 76),
                           "       4    1(25.00%) |      3       1       4      2 |    1.00        0.25"));
    assert_line(&o, 5, cat(want, sizeof want, 3, "         ", pad("Aggregated", 76),
                           "       5    2(40.00%) |      4       1      10      3 |    1.25        0.50"));
    out_free(&o);

    /* an empty window (nothing in the last seconds): the live rate is 0 */
    stats_clear(&win);
    f = out_open(&o);
    assert_int_equal(console_print_stats(f, &t, &win, 4.0, 0), 0);
    out_close(&o, f);
    assert_non_null(strstr(o.lines[5], "|    0.00        0.00"));
    assert_non_null(strstr(o.lines[2], "|    0.00        0.00"));
    out_free(&o);
    stats_free(&win);
    stats_free(&t);
}

static void test_empty_table(void **state)
{
    (void)state;
    stats_table_t t;
    stats_init(&t);
    output_t o;
    FILE *f = out_open(&o);
    assert_int_equal(console_print_stats(f, &t, NULL, 0, 0), 0);
    assert_int_equal(console_print_percentiles(f, &t), 0);
    console_print_failures(f, &t);
    out_close(&o, f);
    char want[1024];
    /* stats: header, sep, sep, Aggregated, blank; percentiles: title, header, sep, sep, blank */
    assert_int_equal(o.n, 10);
    assert_line(&o, 3, cat(want, sizeof want, 3, "         ", pad("Aggregated", 76),
                           "       0     0(0.00%) |      0       0       0      0 |    0.00        0.00"));
    assert_line(&o, 5, "Response time percentiles (approximated)");
    assert_line(&o, 8, o.lines[7]);   /* two separators, no rows */
    out_free(&o);
    stats_free(&t);
}

static char *percentile_separator(char *buf, size_t cap)
{
    cat(buf, cap, 4, "--------|", dashes(80), "|", dashes(8));
    for (int i = 0; i < 11; i++)
        strcat(buf, "|------");
    return buf;
}

static void test_percentile_table(void **state)
{
    (void)state;
    stats_table_t t;
    stats_init(&t);
    fill(&t);
    stats_row(&t, "GET", "/never");   /* no requests: no percentile row */
    output_t o;
    FILE *f = out_open(&o);
    assert_int_equal(console_print_percentiles(f, &t), 0);
    out_close(&o, f);

    char want[1024];
    assert_int_equal(o.n, 8);
    assert_line(&o, 0, "Response time percentiles (approximated)");
    assert_line(&o, 1, cat(want, sizeof want, 4, "Type     ", pad("Name", 80), "      50%",
                           "    66%    75%    80%    90%    95%    98%    99%  99.9% 99.99%   100% # reqs"));
    assert_line(&o, 2, percentile_separator(want, sizeof want));
    assert_line(&o, 3, cat(want, sizeof want, 3, "GET      ", pad("/a", 80),
                           "        2      3      3      4      4      4      4      4      4      4      4      4"));
    assert_line(&o, 4, cat(want, sizeof want, 3, "POST     ", pad("/b", 80),
                           "       10     10     10     10     10     10     10     10     10     10     10      1"));
    assert_line(&o, 5, percentile_separator(want, sizeof want));
    assert_line(&o, 6, cat(want, sizeof want, 3, "         ", pad("Aggregated", 80),
                           "        3      4      4      4     10     10     10     10     10     10     10      5"));
    assert_line(&o, 7, "");
    out_free(&o);
    stats_free(&t);
}

static void test_percentiles_rounded_and_clamped(void **state)
{
    (void)state;
    stats_table_t t;
    stats_init(&t);
    size_t r = (size_t)stats_row(&t, "GET", "/slow");
    /* 1499 us rounds to 1 ms, 1500 us to 2 ms; 123456789 us lands in a bucket whose midpoint
     * is 123404288 us (0.04 % low): percentiles show 123404 ms, 100 % the exact max 123457 */
    stats_record(&t, r, 1499, 0, false, 1);
    stats_record(&t, r, 1500, 0, false, 1);
    stats_record(&t, r, 123456789, 0, false, 1);
    output_t o;
    FILE *f = out_open(&o);
    assert_int_equal(console_print_percentiles(f, &t), 0);
    out_close(&o, f);
    char want[1024];
    assert_line(&o, 3, cat(want, sizeof want, 3, "GET      ", pad("/slow", 80),
                           "        2      2 123404 123404 123404 123404 123404 123404 123404 123404 123457      3"));
    out_free(&o);

    f = out_open(&o);
    assert_int_equal(console_print_stats(f, &t, NULL, 0, 1.0), 0);
    out_close(&o, f);
    /* avg (1499 + 1500 + 123456789) / 3 us = 41153.3 ms; min 1 ms (1499 us); med 2 ms */
    assert_line(&o, 2, cat(want, sizeof want, 3, "GET      ", pad("/slow", 76),
                           "       3     0(0.00%) |  41153       1  123457      2 |    3.00        0.00"));
    out_free(&o);
    stats_free(&t);
}

static void test_error_report(void **state)
{
    (void)state;
    stats_table_t t;
    stats_init(&t);
    fill(&t);
    stats_add_failure(&t, (size_t)stats_find(&t, "GET", "/a"), "HTTP 500");
    output_t o;
    FILE *f = out_open(&o);
    console_print_failures(f, &t);
    out_close(&o, f);
    char want[1024];
    char sep[256];
    cat(sep, sizeof sep, 3, dashes(18), "|", dashes(141));
    assert_int_equal(o.n, 7);
    assert_line(&o, 0, "Error report");
    assert_line(&o, 1, cat(want, sizeof want, 3, pad("# occurrences", 18), " ", pad("Error", 100)));
    assert_line(&o, 2, sep);
    /* in order of first occurrence, "METHOD NAME: message" padded to 100 */
    assert_line(&o, 3, cat(want, sizeof want, 3, pad("2", 18), " ", pad("GET /a: HTTP 500", 100)));
    assert_line(&o, 4, cat(want, sizeof want, 3, pad("1", 18), " ", pad("POST /b: timeout", 100)));
    assert_line(&o, 5, sep);
    assert_line(&o, 6, "");
    out_free(&o);

    /* no failures: nothing at all */
    stats_reset(&t);
    f = out_open(&o);
    console_print_failures(f, &t);
    out_close(&o, f);
    assert_int_equal(o.size, 0);
    out_free(&o);
    stats_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_table_final),
        cmocka_unit_test(test_stats_table_current),
        cmocka_unit_test(test_empty_table),
        cmocka_unit_test(test_percentile_table),
        cmocka_unit_test(test_percentiles_rounded_and_clamped),
        cmocka_unit_test(test_error_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
