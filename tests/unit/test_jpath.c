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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jpath),
        cmocka_unit_test(test_jpath_documented_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
