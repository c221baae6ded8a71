/* Unit tests for common/jtmpl.h: `json:` bodies whose string leaves are templates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/jtmpl.h"
#include "template_fixture.h"

static char *jrender(const char *doc_text)
{
    json_error_t jerr;
    json_t *doc = json_loads(doc_text, JSON_DECODE_ANY, &jerr);
    if (!doc)
        fail_msg("bad test JSON: %s", jerr.text);
    jtmpl_t *j = NULL;
    tmpl_error_t err = {0};
    if (jtmpl_compile(doc, resolve, NULL, &j, &err) != 0)
        fail_msg("jtmpl_compile: %s", err.message);
    json_decref(doc); /* the compiled form must not depend on the document */
    buf_t out;
    buf_init(&out);
    char msg[256] = "";
    if (jtmpl_render(j, &env, &out, msg, sizeof msg) != 0)
        fail_msg("jtmpl_render: %s", msg);
    char *s = strdup(out.data);
    buf_free(&out);
    jtmpl_free(j);
    json_t *back = json_loads(s, JSON_DECODE_ANY, &jerr); /* always valid JSON */
    if (!back)
        fail_msg("rendered invalid JSON (%s): %s", jerr.text, s);
    json_decref(back);
    return s;
}

static void assert_jrenders(const char *doc, const char *want)
{
    char *got = jrender(doc);
    if (strcmp(got, want) != 0)
        fail_msg("%s rendered\n  %s\nwant\n  %s", doc, got, want);
    free(got);
}

static void test_jtmpl_typed_leaves(void **state)
{
    (void)state;
    assert_jrenders("{\"lister\": \"{{ name }}\", \"list_price\": \"{{ price * 1.5 }}\", "
                    "\"n\": \"{{ count }}\", \"u\": \"{{ user_id }}\", \"flag\": \"{{ flag }}\", "
                    "\"o\": \"{{ obj }}\", \"w\": \"{{ worker_id }}\"}",
                    "{\"lister\":\"Bob \\\"B\\\"\",\"list_price\":18.51,\"n\":42,\"u\":7,"
                    "\"flag\":true,\"o\":{\"a\":[1,\"x\",null],\"b\":true},"
                    "\"w\":\"5f0c6a2e-0000-4000-8000-000000000001\"}");
    assert_jrenders("\"{{ 1 + 1 }}\"", "2"); /* a bare leaf document */
}

static void test_jtmpl_literals_and_escaping(void **state)
{
    (void)state;
    assert_jrenders("{\"n\": 3, \"r\": 2.5, \"t\": true, \"f\": false, \"z\": null, "
                    "\"s\": \"lit \\\"q\\\" \\\\ \\n\", \"k{{x}}\": [\"a\", {}], \"e\": []}",
                    "{\"n\":3,\"r\":2.5,\"t\":true,\"f\":false,\"z\":null,"
                    "\"s\":\"lit \\\"q\\\" \\\\ \\n\",\"k{{x}}\":[\"a\",{}],\"e\":[]}");
    /* a mixed leaf is a string, and what the expression gives is escaped */
    assert_jrenders("{\"note\": \"say {{ name }}\\t{{ count }}\"}",
                    "{\"note\":\"say Bob \\\"B\\\"\\t42\"}");
    assert_jrenders("{\"q\": \"{{ random_string(3, '\\\"') }}\"}", "{\"q\":\"\\\"\\\"\\\"\"}");
    assert_jrenders("{\"q\": \"<{{ random_string(2, '\\\\\\\\') }}>\"}", "{\"q\":\"<\\\\\\\\>\"}");
    char *s = jrender("{\"id\": \"{{ uuid() }}\"}");
    assert_int_equal(strlen(s), strlen("{\"id\":\"\"}") + 36);
    s[strlen(s) - 2] = '\0';
    assert_true(is_uuid_v4(s + 7));
    free(s);
}

static void test_jtmpl_errors(void **state)
{
    (void)state;
    json_t *doc = json_loads("{\"a\": {\"items\": [1, \"{{ foo }}\"]}}", 0, NULL);
    jtmpl_t *j = NULL;
    tmpl_error_t err = {0};
    assert_int_equal(jtmpl_compile(doc, resolve, NULL, &j, &err), -1);
    assert_null(j);
    assert_non_null(strstr(err.message, "undefined variable 'foo'"));
    assert_non_null(strstr(err.message, "(in json field 'a.items[1]')"));
    json_decref(doc);

    doc = json_loads("{\"x\": \"ok\", \"p\": \"{{ pick(empty) }}\"}", 0, NULL);
    assert_int_equal(jtmpl_compile(doc, resolve, NULL, &j, &err), 0);
    json_decref(doc);
    buf_t out;
    buf_init(&out);
    buf_puts(&out, "keep");
    char msg[256] = "";
    assert_int_equal(jtmpl_render(j, &env, &out, msg, sizeof msg), -1);
    assert_string_equal(msg, "pick() on an empty list 'empty'");
    assert_string_equal(out.data, "keep");
    buf_free(&out);
    jtmpl_free(j);
}


int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jtmpl_typed_leaves),
        cmocka_unit_test(test_jtmpl_literals_and_escaping),
        cmocka_unit_test(test_jtmpl_errors),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
