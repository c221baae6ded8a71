/* Unit tests for common/jpath.h: the `save:` and `expect.json` paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/jpath.h"

static json_t *jp_get(const char *path, json_t *doc)
{
    jpath_t *p = NULL;
    tmpl_error_t err = {0};
    if (jpath_compile(path, &p, &err) != 0)
        fail_msg("jpath '%s': %s", path, err.message);
    assert_string_equal(jpath_source(p), path);
    json_t *v = jpath_get(p, doc);
    jpath_free(p);
    return v;
}

static void assert_jpath_error(const char *path, size_t offset, const char *msg)
{
    jpath_t *p = NULL;
    tmpl_error_t err = {0};
    if (jpath_compile(path, &p, &err) == 0) {
        jpath_free(p);
        fail_msg("jpath '%s' compiled, want error", path);
    }
    if (!strstr(err.message, msg) || err.offset != offset)
        fail_msg("jpath '%s': \"%s\" at %zu, want \"%s\" at %zu", path, err.message, err.offset,
                 msg, offset);
}

static void test_jpath(void **state)
{
    (void)state;
    json_t *doc = json_loads("{\"PlayerUUID\": \"u1\", \"a\": {\"b\": 5, \"list\": [0, 1, "
                             "{\"b\": \"deep\"}]}, \"m\": [[1, 2], [3]], \"my-key\": 1}", 0, NULL);
    assert_ptr_equal(jp_get("$", doc), doc);
    assert_string_equal(json_string_value(jp_get("PlayerUUID", doc)), "u1");
    assert_int_equal(json_integer_value(jp_get("a.b", doc)), 5);
    assert_int_equal(json_integer_value(jp_get("$.a.b", doc)), 5);
    assert_int_equal(json_integer_value(jp_get("a.list[1]", doc)), 1);
    assert_string_equal(json_string_value(jp_get("a.list[2].b", doc)), "deep");
    assert_int_equal(json_integer_value(jp_get("m[1][0]", doc)), 3);
    assert_int_equal(json_integer_value(jp_get("my-key", doc)), 1);
    assert_null(jp_get("missing", doc));
    assert_null(jp_get("a.missing.b", doc));
    assert_null(jp_get("a.list[3]", doc));    /* out of range */
    assert_null(jp_get("a[0]", doc));         /* index into an object */
    assert_null(jp_get("a.list.b", doc));     /* key into a list */
    assert_null(jp_get("PlayerUUID.x", doc)); /* key into a string */
    json_t *arr = json_loads("[{\"id\": 9}]", 0, NULL);
    assert_int_equal(json_integer_value(jp_get("[0].id", arr)), 9);
    assert_int_equal(json_integer_value(jp_get("$[0].id", arr)), 9);
    assert_null(jp_get("[1]", arr));
    json_decref(arr);
    json_decref(doc);

    assert_jpath_error("", 0, "empty path");
    assert_jpath_error("a..b", 2, "expected a key after '.'");
    assert_jpath_error("a.", 2, "expected a key after '.'");
    assert_jpath_error("a[", 2, "expected a number inside '[ ]'");
    assert_jpath_error("a[x]", 2, "expected a number inside '[ ]'");
    assert_jpath_error("a[1", 3, "expected ']'");
    assert_jpath_error("a[1]b", 4, "expected '.' or '['");
    assert_jpath_error("a]", 1, "unexpected ']'");
    assert_jpath_error("$x", 1, "expected '.' or '[' after '$'");
    assert_jpath_error("a[-1]", 2, "expected a number inside '[ ]'");
}


/* The forms scenarios/README.md names, one each, on a small response. */
static void test_jpath_documented_forms(void **state)
{
    (void)state;
    json_t *doc = json_loads("{\"key\": \"v\", \"a\": {\"b\": 2, \"list\": [10, 11, "
                             "{\"b\": \"deep\"}]}, \"list\": [\"first\", \"second\"], "
                             "\"sp ace\": 3, \"n\": null}", 0, NULL);
    assert_ptr_equal(jp_get("$", doc), doc);
    assert_string_equal(json_string_value(jp_get("key", doc)), "v");
    assert_int_equal(json_integer_value(jp_get("a.b", doc)), 2);
    assert_string_equal(json_string_value(jp_get("list[0]", doc)), "first");
    assert_string_equal(json_string_value(jp_get("$.list[1]", doc)), "second");
    assert_string_equal(json_string_value(jp_get("a.list[2].b", doc)), "deep");
    assert_int_equal(json_integer_value(jp_get("sp ace", doc)), 3); /* keys may hold spaces */
    assert_true(json_is_null(jp_get("n", doc))); /* present, and null: not missing */
    /* missing: NULL, never an error */
    assert_null(jp_get("nope", doc));
    assert_null(jp_get("list[2]", doc));
    assert_null(jp_get("a.list[0].b", doc)); /* key into a number */
    assert_null(jp_get("n.x", doc));         /* key into null */
    assert_null(jp_get("key[0]", doc));      /* index into a string */
    json_decref(doc);
    /* `$` is whatever the body is, a list or a bare value too */
    json_t *num = json_integer(5);
    assert_ptr_equal(jp_get("$", num), num);
    assert_null(jp_get("x", num));
    json_decref(num);

    assert_jpath_error("a[99999999999]", 2, "index too large");
    assert_jpath_error("[0", 2, "expected ']'");
    assert_jpath_error(".a", 0, "expected a key");
    assert_jpath_error("a.[0]", 2, "expected a key after '.'");
    assert_jpath_error("$.", 2, "expected a key after '.'");
    assert_jpath_error("$$", 1, "expected '.' or '[' after '$'");
    assert_jpath_error("a[1]]", 4, "expected '.' or '['");
    assert_jpath_error("$[", 2, "expected a number inside '[ ]'");
}

/* The text at path found by jpath_scan ("" when missing); NULL when the scan refuses text. */
static const char *scan1(const char *text, const char *path, char *out, size_t outlen)
{
    jpath_t *p = NULL;
    tmpl_error_t e;
    assert_int_equal(jpath_compile(path, &p, &e), 0);
    const jpath_t *paths[1] = { p };
    jspan_t span;
    int rc = jpath_scan(text, strlen(text), paths, 1, &span);
    /* jansson agrees on what is JSON */
    json_t *doc = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    assert_int_equal(rc == 0, doc != NULL);
    json_decref(doc);
    jpath_free(p);
    if (rc < 0)
        return NULL;
    snprintf(out, outlen, "%.*s", (int)span.len, text + span.off);
    return out;
}

static void test_jpath_scan_finds_values(void **state)
{
    (void)state;
    char b[256];
    assert_string_equal(scan1("{\"gameUUID\": \"g1\", \"players\": [\"a\",\"b\"]}", "gameUUID",
                              b, sizeof b), "\"g1\"");
    assert_string_equal(scan1(" {\"a\":{\"b\":[1, {\"c\": true}]}} ", "a.b[1].c", b, sizeof b),
                        "true");
    assert_string_equal(scan1("[10, 20, 30]", "[2]", b, sizeof b), "30");
    assert_string_equal(scan1(" [1,2] ", "$", b, sizeof b), "[1,2]");
    assert_string_equal(scan1("{\"a\":1}", "b", b, sizeof b), "");
    assert_string_equal(scan1("{\"a\":1}", "a.b", b, sizeof b), "");
    assert_string_equal(scan1("[1]", "a", b, sizeof b), "");
    /* a repeated key: the last one, as jansson keeps it; also for a parent */
    assert_string_equal(scan1("{\"a\":1,\"a\":2}", "a", b, sizeof b), "2");
    assert_string_equal(scan1("{\"a\":{\"b\":1},\"a\":{\"c\":2}}", "a.b", b, sizeof b), "");
    /* an escaped key matches its decoded text */
    assert_string_equal(scan1("{\"\\u0061\":7}", "a", b, sizeof b), "7");
    assert_string_equal(scan1("{\"x\":-0.5e+3}", "x", b, sizeof b), "-0.5e+3");
}

static void test_jpath_scan_refuses_what_jansson_refuses(void **state)
{
    (void)state;
    char b[64];
    const char *bad[] = {
        "", "  ", "[1,]", "{\"a\":1,}", "01", "-", "1.", "1e", "[1 2]", "{\"a\" 1}", "truex",
        "nul", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"",
        "\"\xf5\x80\x80\x80\"", "9223372036854775808", "1e400", "{\"\\u0000\":1}", "\"a\tb\"",
        "[1] x", "{1:2}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (scan1(bad[i], "$", b, sizeof b) != NULL)
            fail_msg("accepted %s", bad[i]);
    const char *good[] = {
        "9223372036854775807", "-9223372036854775808", "1e-400", "\"\\u0000\"", "\"\xe2\x82\xac\"",
        "\"\\ud83d\\ude00\"", "[]", "{}", "null", "false", "0", "-0", "\"\\/\"",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (scan1(good[i], "$", b, sizeof b) == NULL)
            fail_msg("refused %s", good[i]);
}

static void test_jpath_scan_depth(void **state)
{
    (void)state;
    char text[2 * 2050 + 1], b[8];
    for (size_t depth = 2048; depth <= 2049; depth++) {
        memset(text, '[', depth);
        memset(text + depth, ']', depth);
        text[2 * depth] = '\0';
        const char *got = scan1(text, "[0]", b, sizeof b);
        if (depth == 2048)
            assert_non_null(got);
        else
            assert_null(got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jpath),
        cmocka_unit_test(test_jpath_documented_forms),
        cmocka_unit_test(test_jpath_scan_finds_values),
        cmocka_unit_test(test_jpath_scan_refuses_what_jansson_refuses),
        cmocka_unit_test(test_jpath_scan_depth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
