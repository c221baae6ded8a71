/* Unit tests for worker/decode.c: gzip, zlib-wrapped and raw deflate bodies decode to what was
 * compressed; a cut, corrupt or oversized (bomb) body fails with a sentence, never a crash;
 * Content-Encoding values are recognised as servers write them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>
#include <zlib.h>

#include "../../worker/decode.h"

/* Compress n bytes at in with window_bits (31 gzip, 15 zlib, -15 raw) into out. */
static size_t squeeze(const char *in, size_t n, int window_bits, unsigned char *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    return len;
}

static void test_kinds(void **state)
{
    (void)state;
    assert_int_equal(decode_kind_of("gzip", 4), DECODE_GZIP);
    assert_int_equal(decode_kind_of(" GZip ", 6), DECODE_GZIP);
    assert_int_equal(decode_kind_of("x-gzip", 6), DECODE_GZIP);
    assert_int_equal(decode_kind_of("deflate", 7), DECODE_DEFLATE);
    assert_int_equal(decode_kind_of("identity", 8), DECODE_IDENTITY);
    assert_int_equal(decode_kind_of("", 0), DECODE_IDENTITY);
    assert_int_equal(decode_kind_of("br", 2), DECODE_UNKNOWN);
    assert_int_equal(decode_kind_of("gzip, br", 8), DECODE_UNKNOWN);
}

static void test_round_trips(void **state)
{
    (void)state;
    static char text[300000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = "{\"player\": 42, \"name\": \"abc\"}"[i % 30];
    static unsigned char z[400000];
    const struct {
        decode_kind_t kind;
        int bits;
    } cases[] = {{DECODE_GZIP, 31}, {DECODE_DEFLATE, 15}, {DECODE_DEFLATE, -15}};
    buf_t out;
    buf_init(&out);
    char err[200];
    for (size_t c = 0; c < 3; c++) {
        size_t n = squeeze(text, sizeof text, cases[c].bits, z, sizeof z);
        assert_int_equal(decode_body(cases[c].kind, (char *)z, n, &out, 1u << 20, err,
                                     sizeof err), 0);
        assert_int_equal(out.len, sizeof text);
        assert_memory_equal(out.data, text, sizeof text);
        /* a bomb: more than max_bytes out fails */
        assert_int_equal(decode_body(cases[c].kind, (char *)z, n, &out, 1000, err, sizeof err),
                         -1);
        assert_non_null(strstr(err, "decodes to more than max_body"));
        /* cut short */
        assert_int_equal(decode_body(cases[c].kind, (char *)z, n / 2, &out, 1u << 20, err,
                                     sizeof err), -1);
        assert_non_null(strstr(err, "could not be decoded"));
    }
    buf_free(&out);
}

static void test_garbage(void **state)
{
    (void)state;
    buf_t out;
    buf_init(&out);
    char err[200];
    assert_int_equal(decode_body(DECODE_GZIP, "\x1f\x8b not gzip", 11, &out, 1000, err,
                                 sizeof err), -1);
    assert_non_null(strstr(err, "Response body could not be decoded (gzip)"));
    assert_int_equal(decode_body(DECODE_DEFLATE, "plain text", 10, &out, 1000, err, sizeof err),
                     -1);
    assert_int_equal(decode_body(DECODE_GZIP, "", 0, &out, 1000, err, sizeof err), -1);
    assert_int_equal(decode_body(DECODE_UNKNOWN, "x", 1, &out, 1000, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot decode"));
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
