/* The small shared modules: rng (xorshift64*), vec (array growth), file (whole-file reads). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/file.h"
#include "../../common/rng.h"
#include "../../common/suggest.h"
#include "../../common/vec.h"

static void test_rng_deterministic_and_spread(void **state)
{
    (void)state;
    uint64_t a = 42, b = 42;
    for (int i = 0; i < 100; i++)
        assert_true(rng_next(&a) == rng_next(&b)); /* the caller's state decides */
    assert_true(a != 0);
    /* rng_unit in [0, 1), rng_below in [0, n), and both cover their range. */
    uint64_t s = rng_seed(1);
    assert_true(s != 0);
    int hits[10] = { 0 };
    double lo = 1, hi = 0;
    for (int i = 0; i < 100000; i++) {
        double u = rng_unit(&s);
        assert_true(u >= 0 && u < 1);
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
        uint32_t k = rng_below(&s, 10);
        assert_true(k < 10);
        hits[k]++;
    }
    assert_true(lo < 0.001 && hi > 0.999);
    for (int k = 0; k < 10; k++)
        assert_true(hits[k] > 9000 && hits[k] < 11000); /* 10 000 expected each */
    /* Seeds taken at the same time with different salts differ. */
    assert_true(rng_seed(1) != rng_seed(2));
}

static void test_vec_grows_and_keeps(void **state)
{
    (void)state;
    int *v = NULL;
    size_t cap = 0;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(VEC_RESERVE(v, cap, (size_t)i + 1), 0);
        assert_true(cap >= (size_t)i + 1);
        v[i] = i;
    }
    for (int i = 0; i < 1000; i++)
        assert_int_equal(v[i], i);
    size_t before = cap;
    assert_int_equal(VEC_RESERVE(v, cap, 10), 0); /* enough already: nothing changes */
    assert_int_equal(cap, before);
    /* Overflow is refused, the array kept. */
    assert_int_equal(vec_reserve(&v, &cap, SIZE_MAX / 2, sizeof *v), -1);
    assert_int_equal(cap, before);
    assert_int_equal(v[999], 999);
    free(v);

    long *z = NULL;
    size_t zc = 0;
    assert_int_equal(VEC_RESERVE_ZERO(z, zc, 3), 0);
    z[0] = 7;
    assert_int_equal(VEC_RESERVE_ZERO(z, zc, 100), 0);
    assert_int_equal(z[0], 7);
    for (size_t i = 8; i < zc; i++)
        assert_int_equal(z[i], 0);
    free(z);
}

static void test_file_read(void **state)
{
    (void)state;
    char path[] = "/tmp/herd-test-file-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char big[10000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    assert_int_equal(write(fd, big, sizeof big), (ssize_t)sizeof big);
    close(fd);

    char err[256];
    size_t len;
    char *t = file_read(path, 1 << 20, &len, err, sizeof err);
    assert_non_null(t);
    assert_int_equal(len, sizeof big);
    assert_memory_equal(t, big, sizeof big);
    assert_int_equal(t[len], '\0');
    free(t);

    assert_null(file_read(path, 9999, &len, err, sizeof err)); /* one byte too many */
    assert_non_null(strstr(err, "file too large (9999 bytes at most)"));
    assert_non_null(strstr(err, path));
    t = file_read(path, 10000, &len, err, sizeof err); /* exactly the limit */
    assert_non_null(t);
    free(t);

    unlink(path);
    assert_null(file_read(path, 100, &len, err, sizeof err));
    assert_non_null(strstr(err, ": cannot read: No such file or directory"));

    /* An empty file is an empty string, not an error. */
    strcpy(path, "/tmp/herd-test-file-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    t = file_read(path, 100, &len, err, sizeof err);
    assert_non_null(t);
    assert_int_equal(len, 0);
    assert_string_equal(t, "");
    free(t);
    unlink(path);
}

static void test_suggest_nearest(void **state)
{
    (void)state;
    static const char *const keys[] = { "weight", "wait", "tasks", "fixed_count", NULL };
    assert_string_equal(suggest_nearest("wieght", 6, keys, 3), "weight"); /* transposition */
    assert_string_equal(suggest_nearest("TASKS", 5, keys, 3), "tasks");   /* case */
    assert_string_equal(suggest_nearest("wiat", 4, keys, 3), "wait");
    assert_null(suggest_nearest("zzzzzz", 6, keys, 3));                   /* nothing near */
    assert_int_equal(suggest_distance("kitten", 6, "sitting", 7), 3);
    assert_int_equal(suggest_distance("ab", 2, "ba", 2), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_deterministic_and_spread),
        cmocka_unit_test(test_vec_grows_and_keeps),
        cmocka_unit_test(test_file_read),
        cmocka_unit_test(test_suggest_nearest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
