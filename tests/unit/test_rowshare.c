/*
 * Unit tests for master/rowshare.h (unique data rows partitioned over workers) and
 * worker/datarows.h (a worker's users taking them): no row is given twice, a worker's share
 * grows with its users, rows running out are told, not reused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../master/rowshare.h"
#include "../../worker/datarows.h"

/* Two classes: A uses the unique set (10 rows), B uses the sequential one (3 rows). */
static scenario_t *two_sets(void)
{
    static const char y[] =
        "data:\n"
        "  u: {csv: u.csv, mode: unique}\n"
        "  s: {csv: s.csv, mode: sequential}\n"
        "users:\n"
        "  - name: A\n"
        "    tasks: [{steps: [{get: '/{{ u.id }}'}]}]\n"
        "  - name: B\n"
        "    tasks: [{steps: [{get: '/{{ s.id }}'}]}]\n";
    static const char u[] = "id\n0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n", s[] = "id\na\nb\nc\n";
    scenario_file_t files[] = {
        {.name = "u.csv", .data = (char *)u, .len = sizeof u - 1},
        {.name = "s.csv", .data = (char *)s, .len = sizeof s - 1},
    };
    scenario_source_t src = {.shipped = files, .n_shipped = 2};
    scenario_t *sc = NULL;
    char err[256];
    if (scenario_load(y, strlen(y), "t.yaml", &src, &sc, err, sizeof err))
        fail_msg("%s", err);
    return sc;
}

static uint32_t slice_rows(const rowslice_t *s, size_t n)
{
    uint32_t total = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(s[i].set, 0);
        total += s[i].count;
    }
    return total;
}

static void test_grants(void **state)
{
    (void)state;
    scenario_t *sc = two_sets();
    rowshare_t rs;
    assert_int_equal(rowshare_init(&rs, sc), 0);
    const rowslice_t *s;
    size_t n;
    uint32_t w1[2] = {3, 50}, w2[2] = {4, 0};
    assert_int_equal(rowshare_grant(&rs, "w1", w1, &s, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(s[0].first, 0);
    assert_int_equal(s[0].count, 3);    /* B's 50 users take no unique row */
    assert_int_equal(rowshare_grant(&rs, "w2", w2, &s, &n), 0);
    assert_int_equal(s[0].first, 3);
    assert_int_equal(s[0].count, 4);
    /* w1 grows to 5: two more, after w2's; shrinking takes nothing back */
    w1[0] = 5;
    assert_int_equal(rowshare_grant(&rs, "w1", w1, &s, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(s[1].first, 7);
    assert_int_equal(slice_rows(s, n), 5);
    w1[0] = 1;
    assert_int_equal(rowshare_grant(&rs, "w1", w1, &s, &n), 0);
    assert_int_equal(slice_rows(s, n), 5);
    /* a third worker wants 5: only 1 is left */
    uint32_t w3[2] = {5, 0};
    assert_int_equal(rowshare_grant(&rs, "w3", w3, &s, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(s[0].first, 9);
    assert_int_equal(s[0].count, 1);
    /* a new run: all free again */
    rowshare_reset(&rs);
    assert_int_equal(rowshare_grant(&rs, "w3", w3, &s, &n), 0);
    assert_int_equal(s[0].first, 0);
    assert_int_equal(s[0].count, 5);
    rowshare_free(&rs);
    scenario_free(sc);
}

static void test_worker_rows(void **state)
{
    (void)state;
    scenario_t *sc = two_sets();
    datarows_t *d = datarows_new(sc);
    assert_non_null(d);
    uint64_t rng = 7;
    assert_int_equal(datarows_take(d, 0, &rng), DATAROWS_NONE); /* nothing owned yet */
    datarows_own(d, 0, 3, 2);
    datarows_own(d, 0, 3, 2);   /* a Spawn repeating its slices adds nothing */
    datarows_own(d, 0, 9, 5);   /* past the end: only row 9 */
    assert_int_equal(datarows_owned(d, 0), 3);
    uint32_t a = datarows_take(d, 0, &rng), b = datarows_take(d, 0, &rng);
    uint32_t c = datarows_take(d, 0, &rng);
    assert_int_equal(a + b + c, 3 + 4 + 9);   /* each owned row once, in any order */
    assert_true(a != b && b != c && a != c);
    assert_int_equal(datarows_take(d, 0, &rng), DATAROWS_NONE);
    datarows_give_back(d, 0, b);
    assert_int_equal(datarows_take(d, 0, &rng), b);
    /* sequential: in order, wrapping */
    assert_int_equal(datarows_take(d, 1, &rng), 0);
    assert_int_equal(datarows_take(d, 1, &rng), 1);
    assert_int_equal(datarows_take(d, 1, &rng), 2);
    assert_int_equal(datarows_take(d, 1, &rng), 0);
    datarows_free(d);
    scenario_free(sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grants),
        cmocka_unit_test(test_worker_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
