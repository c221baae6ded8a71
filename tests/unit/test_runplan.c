/* runplan: --stages and threshold parsing and checking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/runplan.h"

static void test_stages(void **state)
{
    (void)state;
    stage_t *st;
    size_t n;
    char err[256];
    assert_int_equal(stages_parse("30s:10,1m:50:5, 1h30m:0", &st, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_true(st[0].duration_s == 30 && st[0].users == 10 && st[0].spawn_rate < 0);
    assert_true(st[1].duration_s == 60 && st[1].users == 50 && st[1].spawn_rate == 5);
    assert_true(st[2].duration_s == 5400 && st[2].users == 0);
    free(st);
    const char *bad[] = {"", "30s", "30x:5", "0s:5", "10s:-1", "10s:5:0", "10s:5:1:2", "10s:abc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(stages_parse(bad[i], &st, &n, err, sizeof err), -1);
        assert_non_null(strstr(err, "--stages"));
        assert_null(st);
    }
}

static double pct(double p, void *ctx)
{
    (void)ctx;
    return p;   /* p95 -> 95 ms */
}

static void test_thresholds(void **state)
{
    (void)state;
    threshold_t t;
    char err[256];
    double obs;
    th_figures_t f = {.requests = 200, .failures = 3, .duration_s = 10, .avg_ms = 40,
                      .min_ms = 1, .max_ms = 900, .percentile_ms = pct};

    assert_int_equal(threshold_parse(" p95<300ms ", &t, err, sizeof err), 0);
    assert_string_equal(t.text, "p95<300ms");
    assert_true(threshold_check(&t, &f, &obs));
    assert_true(obs == 95);
    assert_int_equal(threshold_parse("p(99.9) <= 0.05s", &t, err, sizeof err), 0);
    assert_true(t.percentile == 99.9 && t.value == 50);
    assert_false(threshold_check(&t, &f, &obs));
    assert_int_equal(threshold_parse("fail_ratio<0.01", &t, err, sizeof err), 0);
    assert_false(threshold_check(&t, &f, &obs));       /* 3/200 = 0.015 */
    assert_true(obs == 0.015);
    assert_int_equal(threshold_parse("fail_ratio<2%", &t, err, sizeof err), 0);
    assert_true(threshold_check(&t, &f, &obs));
    assert_int_equal(threshold_parse("rps>=20", &t, err, sizeof err), 0);
    assert_true(threshold_check(&t, &f, &obs));
    assert_int_equal(threshold_parse("max<1s", &t, err, sizeof err), 0);
    assert_true(threshold_check(&t, &f, &obs));
    assert_int_equal(threshold_parse("avg<40", &t, err, sizeof err), 0);
    assert_false(threshold_check(&t, &f, &obs));
    assert_int_equal(threshold_parse("failures==3", &t, err, sizeof err), 0);
    assert_true(threshold_check(&t, &f, &obs));
    assert_string_equal(threshold_unit(&t), "");

    assert_int_equal(threshold_parse("p95<<3", &t, err, sizeof err), -1);
    assert_string_equal(err, "threshold 'p95<<3': expected a number after the operator");
    assert_int_equal(threshold_parse("latency<3", &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown metric 'latency'"));
    assert_int_equal(threshold_parse("p95<3h", &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "time unit must be ms, s or us"));
    assert_int_equal(threshold_parse("p95 300", &t, err, sizeof err), -1);
    assert_int_equal(threshold_parse("p101<3", &t, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stages),
        cmocka_unit_test(test_thresholds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
