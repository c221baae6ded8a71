/* dispatch: users and spawn rate split over classes and workers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/dispatch.h"

static scenario_t *make_sc(size_t n, const double *weights, const long *fixed)
{
    scenario_t *sc = calloc(1, sizeof *sc);
    sc->classes = calloc(n, sizeof *sc->classes);
    sc->n_classes = n;
    for (size_t i = 0; i < n; i++) {
        sc->classes[i].weight = weights[i];
        sc->classes[i].fixed_count = fixed ? fixed[i] : -1;
    }
    return sc;
}

static void free_sc(scenario_t *sc)
{
    free(sc->classes);
    free(sc);
}

static uint64_t sum32(const uint32_t *a, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i];
    return s;
}

static void test_class_counts_sum_and_weights(void **state)
{
    (void)state;
    const double w[] = {1, 5, 2, 0.5};
    scenario_t *sc = make_sc(4, w, NULL);
    double wsum = 8.5;
    for (uint32_t total = 0; total < 500; total++) {
        uint32_t out[4];
        dispatch_class_counts(sc, total, out);
        assert_int_equal(sum32(out, 4), total);
        for (int c = 0; c < 4; c++) {
            double exact = total * w[c] / wsum;
            assert_true(fabs(out[c] - exact) < 1.0);   /* within one user of the share */
        }
    }
    free_sc(sc);
}

static void test_class_counts_fixed_first(void **state)
{
    (void)state;
    const double w[] = {1, 1, 3};
    const long fixed[] = {-1, 4, -1};
    scenario_t *sc = make_sc(3, w, fixed);
    uint32_t out[3];
    dispatch_class_counts(sc, 12, out);
    assert_int_equal(out[1], 4);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[2], 6);
    dispatch_class_counts(sc, 3, out);   /* fewer users than the fixed count */
    assert_int_equal(out[1], 3);
    assert_int_equal(out[0] + out[2], 0);
    free_sc(sc);
}

static void test_class_counts_zero_weight(void **state)
{
    (void)state;
    const double w[] = {0, 2};
    scenario_t *sc = make_sc(2, w, NULL);
    uint32_t out[2];
    dispatch_class_counts(sc, 7, out);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 7);
    free_sc(sc);
}

static void test_select_and_check_classes(void **state)
{
    (void)state;
    const double w[] = {1, 0, 2};
    const long fixed[] = {-1, -1, -1};
    scenario_t *sc = make_sc(3, w, fixed);
    char *names[] = {"A", "B", "C"};
    for (int c = 0; c < 3; c++)
        sc->classes[c].name = names[c];
    char err[256];
    assert_int_equal(dispatch_check_classes(sc, err, sizeof err), 0);

    char *unknown[] = {"C", "Zed"};
    assert_int_equal(dispatch_select_classes(sc, unknown, 2, err, sizeof err), -1);
    assert_string_equal(err, "unknown user class 'Zed' (the file has A, B, C)");

    char *only_b[] = {"B"};   /* B has weight 0: once chosen alone, nothing can run */
    assert_int_equal(dispatch_select_classes(sc, only_b, 1, err, sizeof err), 0);
    assert_false(dispatch_class_runs(&sc->classes[0]));
    assert_false(dispatch_class_runs(&sc->classes[2]));
    assert_int_equal(dispatch_check_classes(sc, err, sizeof err), -1);
    assert_non_null(strstr(err, "no user would run: every user class to run has weight 0"));

    sc->classes[1].fixed_count = 2;   /* a fixed_count above 0 runs whatever the weight */
    assert_true(dispatch_class_runs(&sc->classes[1]));
    assert_int_equal(dispatch_check_classes(sc, err, sizeof err), 0);
    sc->classes[1].fixed_count = 0;
    assert_false(dispatch_class_runs(&sc->classes[1]));
    free_sc(sc);
}

static void test_plan_balanced(void **state)
{
    (void)state;
    const uint32_t classes[] = {7, 3, 1, 10};
    for (size_t workers = 1; workers <= 6; workers++) {
        uint32_t *plan = calloc(workers * 4, sizeof *plan);
        dispatch_plan(classes, 4, workers, plan);
        uint32_t min = UINT32_MAX, max = 0;
        for (size_t w = 0; w < workers; w++) {
            uint32_t t = (uint32_t)sum32(plan + w * 4, 4);
            min = t < min ? t : min;
            max = t > max ? t : max;
        }
        assert_true(max - min <= 1);
        for (size_t c = 0; c < 4; c++) {
            uint32_t s = 0;
            for (size_t w = 0; w < workers; w++)
                s += plan[w * 4 + c];
            assert_int_equal(s, classes[c]);
        }
        free(plan);
    }
}

static void test_rates_sum_exactly(void **state)
{
    (void)state;
    const uint32_t classes[] = {5, 2};
    uint32_t plan[3 * 2];
    dispatch_plan(classes, 2, 3, plan);
    double rates[3];
    dispatch_rates(10.0, plan, 2, 3, rates);
    assert_true(fabs(rates[0] + rates[1] + rates[2] - 10.0) < 1e-12);
    for (int w = 0; w < 3; w++) {
        uint32_t u = plan[w * 2] + plan[w * 2 + 1];
        assert_true(fabs(rates[w] - 10.0 * u / 7.0) < 1e-9);
    }
    /* a worker without users spawns nothing */
    const uint32_t one[] = {1};
    uint32_t p2[2];
    dispatch_plan(one, 1, 2, p2);
    dispatch_rates(3.0, p2, 1, 2, rates);
    assert_true(rates[0] == 3.0 || rates[1] == 3.0);
    assert_true(rates[0] == 0.0 || rates[1] == 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_class_counts_sum_and_weights),
        cmocka_unit_test(test_class_counts_fixed_first),
        cmocka_unit_test(test_class_counts_zero_weight),
        cmocka_unit_test(test_select_and_check_classes),
        cmocka_unit_test(test_plan_balanced),
        cmocka_unit_test(test_rates_sum_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
