/* Unit tests for common/multipart.h: the exact bytes of a multipart/form-data body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../common/multipart.h"

static void test_body(void **state)
{
    (void)state;
    buf_t b;
    buf_init(&b);
    assert_int_equal(multipart_part(&b, "B", "title", NULL, NULL), 0);
    buf_puts(&b, "hello");
    assert_int_equal(multipart_part(&b, "B", "a\"b\r\n", "f \"x\".png", "image/png"), 0);
    buf_append(&b, "\0\1", 2);
    assert_int_equal(multipart_end(&b, "B"), 0);
    const char want[] = "--B\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n"
                        "--B\r\nContent-Disposition: form-data; name=\"a%22b%0D%0A\"; "
                        "filename=\"f %22x%22.png\"\r\nContent-Type: image/png\r\n\r\n"
                        "\0\1\r\n--B--\r\n";
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, sizeof want - 1);

    buf_reset(&b);
    assert_int_equal(multipart_end(&b, "B"), 0);
    assert_string_equal(b.data, "--B--\r\n");
    buf_free(&b);
}

static void test_boundary(void **state)
{
    (void)state;
    uint64_t rng = 12345;
    char a[MULTIPART_BOUNDARY_LEN + 1], b[MULTIPART_BOUNDARY_LEN + 1];
    multipart_boundary(&rng, a);
    multipart_boundary(&rng, b);
    assert_int_equal(strlen(a), MULTIPART_BOUNDARY_LEN);
    assert_memory_equal(a, "herd-", 5);
    assert_string_not_equal(a, b);
    char text[100];
    snprintf(text, sizeof text, "xx\r\n--%s--", a);
    assert_true(multipart_collides(text, strlen(text), a));
    assert_false(multipart_collides(text, strlen(text), b));
    assert_false(multipart_collides(a, strlen(a), a)); /* without the leading -- */
    assert_false(multipart_collides("", 0, a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body),
        cmocka_unit_test(test_boundary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
