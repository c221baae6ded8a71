/* Unit tests for common/template.h: the {{ expr }} language, compiled and rendered. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "../../common/rng.h"
#include "../../common/template.h"
#include "template_fixture.h"

static tmpl_t *compile_ok(const char *src)
{
    tmpl_t *t = NULL;
    tmpl_error_t err = {0};
    int rc = tmpl_compile(src, strlen(src), resolve, NULL, &t, &err);
    if (rc != 0)
        fail_msg("compiling \"%s\" failed at %zu: %s", src, err.offset, err.message);
    return t;
}

/* Render src once; returns a malloc'd string. */
static char *render(const char *src)
{
    tmpl_t *t = compile_ok(src);
    buf_t out;
    buf_init(&out);
    char err[256] = "";
    if (tmpl_render(t, &env, &out, err, sizeof err) != 0)
        fail_msg("rendering \"%s\" failed: %s", src, err);
    char *s = strdup(out.data);
    buf_free(&out);
    tmpl_free(t);
    return s;
}

static void assert_renders(const char *src, const char *want)
{
    char *got = render(src);
    if (strcmp(got, want) != 0)
        fail_msg("\"%s\" rendered \"%s\", want \"%s\"", src, got, want);
    free(got);
}

static void assert_compile_error(const char *src, size_t offset, const char *msg)
{
    tmpl_t *t = NULL;
    tmpl_error_t err = {0};
    int rc = tmpl_compile(src, strlen(src), resolve, NULL, &t, &err);
    if (rc == 0) {
        tmpl_free(t);
        fail_msg("\"%s\" compiled, want error \"%s\"", src, msg);
    }
    assert_null(t);
    if (!strstr(err.message, msg))
        fail_msg("\"%s\": error \"%s\" does not contain \"%s\"", src, err.message, msg);
    if (err.offset != offset)
        fail_msg("\"%s\": error \"%s\" at offset %zu, want %zu", src, err.message, err.offset,
                 offset);
}

static void assert_render_error(const char *src, const char *msg)
{
    tmpl_t *t = compile_ok(src);
    buf_t out;
    buf_init(&out);
    buf_puts(&out, "keep");
    char err[256] = "";
    int rc = tmpl_render(t, &env, &out, err, sizeof err);
    if (rc == 0)
        fail_msg("\"%s\" rendered \"%s\", want error \"%s\"", src, out.data, msg);
    if (strcmp(err, msg) != 0)
        fail_msg("\"%s\": error \"%s\", want \"%s\"", src, err, msg);
    assert_string_equal(out.data, "keep"); /* nothing partial left behind */
    buf_free(&out);
    tmpl_free(t);
}

/* Render src as JSON and compare: a single numeric expression stays a number. */
static void assert_renders_json_number(const char *src, const char *want)
{
    tmpl_t *t = compile_ok(src);
    buf_t out;
    buf_init(&out);
    char err[256] = "";
    if (tmpl_render_json(t, &env, &out, err, sizeof err) != 0)
        fail_msg("rendering \"%s\" as JSON failed: %s", src, err);
    if (strcmp(out.data, want) != 0)
        fail_msg("\"%s\" rendered as JSON \"%s\", want \"%s\"", src, out.data, want);
    buf_free(&out);
    tmpl_free(t);
}

/* ---- literal text and built-ins ------------------------------------------------------- */

static void test_literal_only(void **state)
{
    (void)state;
    const char *src = "/trades/open?x=}}&y={ z }";
    tmpl_t *t = compile_ok(src);
    assert_true(tmpl_is_literal(t));
    assert_false(tmpl_is_single_expr(t));
    size_t len = 0;
    assert_string_equal(tmpl_literal(t, &len), src);
    assert_int_equal(len, strlen(src));
    buf_t out;
    buf_init(&out);
    buf_puts(&out, ">");
    assert_int_equal(tmpl_render(t, &env, &out, NULL, 0), 0);
    assert_string_equal(out.data, ">/trades/open?x=}}&y={ z }"); /* appends */
    buf_free(&out);
    tmpl_free(t);

    t = compile_ok("");
    assert_true(tmpl_is_literal(t));
    buf_init(&out);
    assert_int_equal(tmpl_render(t, &env, &out, NULL, 0), 0);
    assert_string_equal(out.data, "");
    buf_free(&out);
    tmpl_free(t);
}

static void test_single_expr_flag(void **state)
{
    (void)state;
    tmpl_t *t = compile_ok("{{ price }}");
    assert_true(tmpl_is_single_expr(t));
    assert_false(tmpl_is_literal(t));
    tmpl_free(t);
    t = compile_ok(" {{ price }}");
    assert_false(tmpl_is_single_expr(t));
    tmpl_free(t);
}

static void test_builtins(void **state)
{
    (void)state;
    assert_renders("u{{user_id}}/{{ worker_id }}/i{{ iteration }}",
                   "u7/5f0c6a2e-0000-4000-8000-000000000001/i3");
    assert_renders("{{ user_id * 10 + iteration }}", "73");
}

/* ---- arithmetic and number formatting -------------------------------------------------- */

static void test_arithmetic(void **state)
{
    (void)state;
    assert_renders("{{ 1 + 2 * 3 }}", "7");
    assert_renders("{{ (1 + 2) * 3 }}", "9");
    assert_renders("{{ 10 - 4 - 3 }}", "3");
    assert_renders("{{ 8 / 4 / 2 }}", "1");
    assert_renders("{{ 7 / 2 }}", "3.5");
    assert_renders("{{ -2 * -3 }}", "6");
    assert_renders("{{ -(1 + 2) * 2 }}", "-6");
    assert_renders("{{ 2 * (3 + (4 - 1)) / 3 }}", "4");
    assert_renders("{{ price * 1.5 }}", "18.51");
    assert_renders("{{ count + 0.5 }}", "42.5");
    /* arithmetic results keep 15 significant digits: no binary noise */
    assert_renders("{{ 0.1 + 0.2 }}", "0.3");
    assert_renders("{{ 1 / 3 }}", "0.333333333333333");
    assert_renders("{{ 2 / 3 * 3 }}", "2");
    assert_renders("{{ 123456789 * 1000000 }}", "123456789000000");
}

static void test_numeric_strings(void **state)
{
    (void)state;
    assert_renders("{{ amount + 1 }}", "13.5");      /* saved "12.50" */
    assert_renders("{{ '3' * '4' }}", "12");          /* + - * / are numeric */
    assert_renders("{{ amount }}", "12.50");          /* unchanged when not computed */
    assert_renders("{{ choice('2', '2') * 2 }}", "4");
}

static void assert_format(double v, const char *want)
{
    char out[64];
    int n = tmpl_format_number(v, out, sizeof out);
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(out, want);
}

static void test_format_number(void **state)
{
    (void)state;
    assert_format(3, "3");
    assert_format(-42, "-42");
    assert_format(12.34, "12.34");
    assert_format(-2.5, "-2.5");
    assert_format(1e21, "1e+21");
    assert_format(1e20, "100000000000000000000");
    assert_format(0.1 + 0.2, "0.30000000000000004");
    assert_format(1.0 / 3, "0.3333333333333333");
    assert_format(-0.0, "0");
    assert_format(1.5e-7, "1.5e-07");
    assert_format(9007199254740993.0, "9007199254740992");
    char small[4];
    assert_int_equal(tmpl_format_number(12345.5, small, sizeof small), -1);
    assert_int_equal(tmpl_format_number(NAN, small, sizeof small), -1);
    assert_renders("{{ 12.340 }}", "12.34");
    assert_renders("{{ 1e21 }}", "1e+21");
    assert_renders("{{ 2.50 * 2 }}", "5");
}

/* ---- functions ------------------------------------------------------------------------ */

static void test_random_int(void **state)
{
    (void)state;
    tmpl_t *t = compile_ok("{{ random_int(1, 6) }}");
    int seen[7] = {0};
    buf_t out;
    buf_init(&out);
    for (int i = 0; i < 3000; i++) {
        buf_reset(&out);
        assert_int_equal(tmpl_render(t, &env, &out, NULL, 0), 0);
        char *end;
        long v = strtol(out.data, &end, 10);
        assert_true(*end == '\0');
        assert_in_range(v, 1, 6);
        seen[v]++;
    }
    for (int v = 1; v <= 6; v++)
        assert_true(seen[v] > 300); /* uniform-ish: 500 expected each */
    tmpl_free(t);
    buf_free(&out);
    assert_renders("{{ random_int(-3, -3) }}", "-3");
    assert_renders("{{ random_int('5', 5) }}", "5");
}

static void test_random_float(void **state)
{
    (void)state;
    tmpl_t *t = compile_ok("{{ random_float(1.01, 49.99, 2) }}");
    buf_t out;
    buf_init(&out);
    double lo = 100, hi = 0;
    for (int i = 0; i < 3000; i++) {
        buf_reset(&out);
        assert_int_equal(tmpl_render(t, &env, &out, NULL, 0), 0);
        double v = strtod(out.data, NULL);
        assert_true(v >= 1.01 && v <= 49.99);
        const char *dot = strchr(out.data, '.');
        if (dot && strlen(dot + 1) > 2)
            fail_msg("random_float(..., 2) printed %s", out.data);
        assert_null(strchr(out.data, 'e'));
        if (v < lo)
            lo = v;
        if (v > hi)
            hi = v;
    }
    assert_true(lo < 3 && hi > 48); /* spans the range */
    tmpl_free(t);
    buf_free(&out);
    for (int i = 0; i < 50; i++) {
        char *s = render("{{ random_float(0, 1, 0) }}");
        assert_true(strcmp(s, "0") == 0 || strcmp(s, "1") == 0);
        free(s);
    }
}

static void test_uuid(void **state)
{
    (void)state;
    char *a = render("{{ uuid() }}");
    char *b = render("{{ uuid() }}");
    if (!is_uuid_v4(a))
        fail_msg("not a lowercase v4 UUID: %s", a);
    assert_true(is_uuid_v4(b));
    assert_string_not_equal(a, b);
    free(a);
    free(b);
    char *c = render("id={{ uuid() }}!");
    assert_int_equal(strlen(c), 40);
    assert_true(strncmp(c, "id=", 3) == 0 && c[39] == '!');
    c[39] = '\0';
    assert_true(is_uuid_v4(c + 3));
    free(c);
}

static void test_random_string(void **state)
{
    (void)state;
    for (int i = 0; i < 20; i++) {
        char *s = render("{{ random_string(32) }}");
        assert_int_equal(strlen(s), 32);
        for (const char *p = s; *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'));
        free(s);
    }
    char *s = render("{{ random_string(400, 'A-C_') }}");
    assert_int_equal(strlen(s), 400);
    bool seen[128] = {false};
    for (const char *p = s; *p; p++) {
        assert_non_null(strchr("ABC_", *p));
        seen[(int)*p] = true;
    }
    assert_true(seen['A'] && seen['B'] && seen['C'] && seen['_']);
    free(s);
    s = render("{{ random_string(200, '-x') }}"); /* a leading '-' is literal */
    for (const char *p = s; *p; p++)
        assert_true(*p == '-' || *p == 'x');
    assert_non_null(strchr(s, '-'));
    free(s);
    assert_renders("[{{ random_string(0) }}]", "[]");
    assert_renders("{{ random_string(3, 'q') }}", "qqq");
    assert_renders("{{ random_string(2, '7') * 2 }}", "154"); /* nested: a numeric string */
}

static void test_choice(void **state)
{
    (void)state;
    tmpl_t *t = compile_ok("{{ choice('a', \"b\", 3) }}");
    bool a = false, b = false, three = false;
    buf_t out;
    buf_init(&out);
    for (int i = 0; i < 300; i++) {
        buf_reset(&out);
        assert_int_equal(tmpl_render(t, &env, &out, NULL, 0), 0);
        if (strcmp(out.data, "a") == 0)
            a = true;
        else if (strcmp(out.data, "b") == 0)
            b = true;
        else if (strcmp(out.data, "3") == 0)
            three = true;
        else
            fail_msg("choice gave %s", out.data);
    }
    assert_true(a && b && three);
    buf_free(&out);
    tmpl_free(t);
    char *u = render("{{ choice(uuid(), uuid()) }}");
    assert_true(is_uuid_v4(u));
    free(u);
}

static void test_pick(void **state)
{
    (void)state;
    tmpl_t *t = compile_ok("/players/{{ pick(players) }}");
    bool seen[3] = {false};
    buf_t out;
    buf_init(&out);
    for (int i = 0; i < 200; i++) {
        buf_reset(&out);
        assert_int_equal(tmpl_render(t, &env, &out, NULL, 0), 0);
        if (strcmp(out.data, "/players/p1") == 0)
            seen[0] = true;
        else if (strcmp(out.data, "/players/p2") == 0)
            seen[1] = true;
        else if (strcmp(out.data, "/players/p3") == 0)
            seen[2] = true;
        else
            fail_msg("pick gave %s", out.data);
    }
    assert_true(seen[0] && seen[1] && seen[2]);
    buf_free(&out);
    tmpl_free(t);
    assert_renders("{{ pick(things) }}", "{\"id\":1}");
}

static void test_env(void **state)
{
    (void)state;
    setenv("HERD_TEST_TOKEN", "s3cret value", 1);
    assert_renders("Bearer {{ env(HERD_TEST_TOKEN) }}", "Bearer s3cret value");
    assert_renders("{{ env('HERD_TEST_TOKEN') }}", "s3cret value");
    unsetenv("HERD_TEST_TOKEN");
    assert_render_error("{{ env(HERD_TEST_TOKEN) }}",
                        "environment variable 'HERD_TEST_TOKEN' is not set");
}

static void test_now(void **state)
{
    (void)state;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double before = (double)ts.tv_sec * 1000 + (double)(ts.tv_nsec / 1000000);
    char *s = render("{{ now() }}");
    char *end;
    double v = strtod(s, &end);
    assert_true(*end == '\0');
    assert_null(strchr(s, '.'));
    assert_true(v >= before - 1 && v < before + 5000);
    free(s);
}

/* ---- saved values --------------------------------------------------------------------- */

static void test_saved_values_render(void **state)
{
    (void)state;
    assert_renders("{{ name }}", "Bob \"B\"");   /* strings raw in text */
    assert_renders("{{ price }}", "12.34");
    assert_renders("{{ count }}", "42");
    assert_renders("{{ flag }}/{{ nothing }}", "true/null");
    assert_renders("{{ obj }}", "{\"a\":[1,\"x\",null],\"b\":true}");
    assert_renders("{{ players }}", "[\"p1\",\"p2\",\"p3\"]");
}

static void test_eval_typed(void **state)
{
    (void)state;
    char err[256];
    json_t *v;
    tmpl_t *t = compile_ok("{{ price * 1.5 }}");
    assert_int_equal(tmpl_eval(t, &env, &v, err, sizeof err), 0);
    assert_true(json_is_real(v));
    assert_true(json_real_value(v) > 18.509 && json_real_value(v) < 18.511);
    json_decref(v);
    tmpl_free(t);

    t = compile_ok("{{ 2 * 3 }}");
    assert_int_equal(tmpl_eval(t, &env, &v, err, sizeof err), 0);
    assert_true(json_is_integer(v));
    assert_int_equal(json_integer_value(v), 6);
    json_decref(v);
    tmpl_free(t);

    t = compile_ok("{{ obj }}");
    size_t refs = user_vars[2]->refcount;
    assert_int_equal(tmpl_eval(t, &env, &v, err, sizeof err), 0);
    assert_ptr_equal(v, user_vars[2]); /* the saved value itself */
    assert_int_equal(user_vars[2]->refcount, refs + 1);
    json_decref(v);
    tmpl_free(t);

    t = compile_ok("a{{ 1 }}");
    assert_int_equal(tmpl_eval(t, &env, &v, err, sizeof err), 0);
    assert_string_equal(json_string_value(v), "a1");
    json_decref(v);
    tmpl_free(t);

    t = compile_ok("plain");
    assert_int_equal(tmpl_eval(t, &env, &v, err, sizeof err), 0);
    assert_string_equal(json_string_value(v), "plain");
    json_decref(v);
    tmpl_free(t);

    t = compile_ok("{{ uuid() }}");
    assert_int_equal(tmpl_eval(t, &env, &v, err, sizeof err), 0);
    assert_true(json_is_string(v) && is_uuid_v4(json_string_value(v)));
    json_decref(v);
    tmpl_free(t);

    t = compile_ok("{{ worker_id }}");
    assert_int_equal(tmpl_eval(t, &env, &v, err, sizeof err), 0);
    assert_string_equal(json_string_value(v), env.worker_id);
    json_decref(v);
    tmpl_free(t);

    t = compile_ok("{{ pick(empty) }}");
    v = (json_t *)1;
    assert_int_equal(tmpl_eval(t, &env, &v, err, sizeof err), -1);
    assert_null(v);
    assert_string_equal(err, "pick() on an empty list 'empty'");
    tmpl_free(t);
}

/* ---- errors --------------------------------------------------------------------------- */

static void test_compile_errors(void **state)
{
    (void)state;
    assert_compile_error("ab {{ rand_int(1, 2) }}", 6,
                         "unknown function 'rand_int' (did you mean 'random_int'?)");
    assert_compile_error("{{ frobnicate() }}", 3, "unknown function 'frobnicate'");
    assert_compile_error("{{ random_int(1) }}", 3, "random_int() takes 2 arguments, got 1");
    assert_compile_error("{{ uuid(1) }}", 3, "uuid() takes no arguments, got 1");
    assert_compile_error("{{ choice() }}", 3, "choice() takes at least 1 argument, got 0");
    assert_compile_error("{{ random_string(1, 'a', 2) }}", 3,
                         "random_string() takes 1 or 2 arguments, got 3");
    assert_compile_error("{{ pick() }}", 3, "pick() takes 1 argument, got 0");
    assert_compile_error("x {{ foo }}", 5,
                         "undefined variable 'foo': nothing saves it and vars does not define it");
    assert_compile_error("{{ 1 + uuid }}", 7, "did you mean 'uuid()'?");
    assert_compile_error("abc {{ price", 4, "unclosed '{{'");
    assert_compile_error("{{ price }} {{", 12, "unclosed '{{'");
    assert_compile_error("{{ random_int(1, 2 }}", 19, "expected ',' or ')'");
    assert_compile_error("{{ price $ 2 }}", 9, "unexpected character '$'");
    assert_compile_error("{{ price 2 }}", 9, "unexpected '2' after the expression");
    assert_compile_error("{{ price } }}", 9, "unexpected character '}'");
    assert_compile_error("a{{ }}", 1, "empty expression");
    assert_compile_error("{{ 'abc }}", 3, "unterminated string");
    assert_compile_error("{{ 'a\\q' }}", 5, "unknown escape '\\q'");
    assert_compile_error("{{ (1 + 2 }}", 10, "expected ')' to close the '(' at offset 3");
    assert_compile_error("{{ 1 + }}", 7, "expected a value, found '}}'");
    assert_compile_error("{{ 1. }}", 5, "expected digits after the decimal point");
}

static void test_runtime_errors(void **state)
{
    (void)state;
    /* what depends on a saved value fails when rendered */
    assert_render_error("{{ word + 1 }}", "'abc' is not a number");
    assert_render_error("x{{ word * 2 }}", "'abc' is not a number");
    assert_render_error("{{ obj * 2 }}", "'obj' holds an object, not a number");
    assert_render_error("{{ 1 / (count - 42) }}", "division by zero");
    assert_render_error("{{ pick(empty) }}", "pick() on an empty list 'empty'");
    assert_render_error("{{ pick(name) }}", "pick() needs a list, but 'name' holds a string");
    assert_render_error("{{ unset }}", "variable 'unset' has not been saved yet");
    assert_render_error("{{ random_int(count, 1) }}",
                        "random_int(a, b) needs a <= b, got 42 and 1");
    assert_render_error("{{ random_int(price, 30) }}",
                        "random_int() lower bound must be a whole number from "
                        "-9007199254740992 to 9007199254740992, got 12.34");
    assert_render_error("{{ random_float(count, 1, 2) }}",
                        "random_float(a, b, digits) needs a <= b, got 42 and 1");
    assert_render_error("{{ random_float(1, 2, count) }}",
                        "random_float() digits must be a whole number from 0 to 15, got 42");
    assert_render_error("{{ random_string(0 - count) }}",
                        "random_string() length must be a whole number from 0 to 1048576, "
                        "got -42");
    assert_render_error("{{ random_string(3, word - 1) }}", "'abc' is not a number");
    assert_render_error("{{ price * 1e300 * 1e300 }}",
                        "arithmetic result is too large to be a number");
    assert_render_error("{{ amount * (1 / (count - 42)) }}", "division by zero");
    /* a random argument is not a constant: the error comes when the draw gives it */
    assert_render_error("{{ 1 / random_int(0, 0) }}", "division by zero");
    assert_render_error("{{ random_string(600) * 1 }}",
                        "random_string() inside another expression is limited to 256 characters");
}

/* What does not depend on the request is evaluated when the file is loaded: a template that
 * could never render is an error there, at the position of the expression that fails. */
static void test_constant_errors_at_load(void **state)
{
    (void)state;
    assert_compile_error("{{ random_int(5, 1) }}", 3,
                         "random_int(a, b) needs a <= b, got 5 and 1");
    assert_compile_error("/x/{{ random_string(-1) }}", 6,
                         "random_string() length must be a whole number from 0 to 1048576, "
                         "got -1");
    assert_compile_error("{{ random_float(1, 2, 99) }}", 3,
                         "random_float() digits must be a whole number from 0 to 15, got 99");
    assert_compile_error("{{ random_float(2, 1, 2) }}", 3,
                         "random_float(a, b, digits) needs a <= b, got 2 and 1");
    assert_compile_error("{{ random_int(1.5, 3) }}", 3, "lower bound must be a whole number");
    assert_compile_error("{{ 1/0 }}", 3, "division by zero");
    assert_compile_error("{{ 1 / (2 - 2) }}", 3, "division by zero");
    assert_compile_error("{{ \"a\" * 2 }}", 3, "'a' is not a number");
    assert_compile_error("x{{ 'abc' * 2 }}", 4, "'abc' is not a number");
    assert_compile_error("{{ 'line\\nbreak' * 1 }}", 3, "'line break' is not a number");
    assert_compile_error("{{ 2 * -'x' }}", 3, "'x' is not a number");
    assert_compile_error("{{ 1e300 * 1e300 }}", 3, "arithmetic result is too large");
    assert_compile_error("{{ pick(3) }}", 3, "pick() needs a list, got a number");
    assert_compile_error("{{ random_string(3, 'z-a') }}", 3,
                         "random_string() alphabet has a backwards range 'z-a'");
    assert_compile_error("{{ random_string(3, '') }}", 3, "random_string() alphabet is empty");
    assert_compile_error("{{ env('') }}", 3, "env() got a bad variable name ''");
    assert_compile_error("{{ env(3) }}", 3, "env() needs the name of an environment variable");
    /* inside arguments, at the argument */
    assert_compile_error("{{ choice(1, 2/0) }}", 13, "division by zero");
    assert_compile_error("{{ random_int(1, random_int(9, 2)) }}", 17, "needs a <= b");
    assert_compile_error("{{ price + random_int(1, 'a' * 1) }}", 25, "'a' is not a number");
    /* the unclosed '{{' was already one */
    assert_compile_error("{{ price", 0, "unclosed '{{'");
    assert_compile_error("a {{ foo", 2, "unclosed '{{'"); /* not "undefined variable 'foo'" */

    /* constant arithmetic is folded, and renders as it did */
    assert_renders("{{ 1 + 2 * 3 }}", "7");
    assert_renders("{{ '12' * 2 + 0.5 }}", "24.5");
    assert_renders("{{ 12.34 * 1.5 }}", "18.51");
    assert_renders("{{ -(1 / 4) }}", "-0.25");
    assert_renders_json_number("{{ 10 / 4 }}", "2.5");
    /* valid constant arguments compile; the value is still drawn per render */
    assert_renders("{{ random_int(3, 3) }}", "3");
    assert_renders("{{ random_string(2, 'q') }}", "qq");
    assert_renders("{{ choice(7) * 2 }}", "14");
    /* env() names are checked, the worker's environment is not read at load */
    tmpl_t *t = NULL;
    tmpl_error_t err = {0};
    const char *src = "{{ env(HERD_SURELY_UNSET_VARIABLE) }}";
    assert_int_equal(tmpl_compile(src, strlen(src), resolve, NULL, &t, &err), 0);
    tmpl_free(t);
}

/* ---- tmpl_render_json ----------------------------------------------------------------- */

static void assert_renders_json(const char *src, const char *want)
{
    tmpl_t *t = compile_ok(src);
    buf_t out;
    buf_init(&out);
    buf_puts(&out, ">");
    char err[256] = "";
    if (tmpl_render_json(t, &env, &out, err, sizeof err) != 0)
        fail_msg("rendering \"%s\" as JSON failed: %s", src, err);
    if (strcmp(out.data + 1, want) != 0 || out.data[0] != '>')
        fail_msg("\"%s\" rendered as JSON \"%s\", want \">%s\"", src, out.data, want);
    buf_free(&out);
    tmpl_free(t);
}

static void test_render_json(void **state)
{
    (void)state;
    /* a single expression keeps its type */
    assert_renders_json("{{ price * 1.5 }}", "18.51");
    assert_renders_json("{{ count }}", "42");
    assert_renders_json("{{ flag }}", "true");
    assert_renders_json("{{ obj }}", "{\"a\":[1,\"x\",null],\"b\":true}");
    assert_renders_json("{{ name }}", "\"Bob \\\"B\\\"\"");
    assert_renders_json("{{ random_string(2, '\"') }}", "\"\\\"\\\"\"");
    /* anything else is a JSON string, escaped */
    assert_renders_json("a{{ count }}\t", "\"a42\\t\"");
    assert_renders_json("say {{ name }}", "\"say Bob \\\"B\\\"\"");
    assert_renders_json("plain \"q\"", "\"plain \\\"q\\\"\"");
    /* an error leaves the buffer as it was */
    tmpl_t *t = compile_ok("x{{ pick(empty) }}");
    buf_t out;
    buf_init(&out);
    buf_puts(&out, "keep");
    char err[256] = "";
    assert_int_equal(tmpl_render_json(t, &env, &out, err, sizeof err), -1);
    assert_string_equal(err, "pick() on an empty list 'empty'");
    assert_string_equal(out.data, "keep");
    tmpl_free(t);
    t = compile_ok("{{ pick(empty) }}");
    assert_int_equal(tmpl_render_json(t, &env, &out, err, sizeof err), -1);
    assert_string_equal(out.data, "keep");
    buf_free(&out);
    tmpl_free(t);
}

/* ---- rng ------------------------------------------------------------------------------ */

static void test_rng(void **state)
{
    (void)state;
    /* templates draw with rng.h's generator, from the caller's state */
    uint64_t a = 42, b = 42;
    uint64_t x = rng_next(&a);
    assert_true(x == rng_next(&b)); /* deterministic from the caller's state */
    assert_true(a != 42 && a != 0);
    assert_true(rng_next(&a) != x);
    uint64_t z = 0;
    env.rng = &z;
    char *z1 = render("{{ uuid() }}");
    char *z2 = render("{{ uuid() }}");
    assert_true(z != 0); /* a zero seed does not get stuck */
    assert_string_not_equal(z1, z2);
    free(z1);
    free(z2);
    /* the same env seed gives the same rendering */
    uint64_t s1 = 99, s2 = 99;
    env.rng = &s1;
    char *r1 = render("{{ uuid() }} {{ random_int(1, 1000000) }}");
    env.rng = &s2;
    char *r2 = render("{{ uuid() }} {{ random_int(1, 1000000) }}");
    env.rng = &rng_state;
    assert_string_equal(r1, r2);
    /* and the same text as before templates moved to rng.h: the draws are xorshift64* from
     * the caller's state, in the same order (this changes only if the generator does) */
    assert_string_equal(r1, "4c0ab4d5-974e-4cef-bb83-e09b70008f29 91030");
    free(r1);
    free(r2);
    /* no generator given: the thread's own, and two renders still differ */
    env.rng = NULL;
    char *n1 = render("{{ uuid() }}");
    char *n2 = render("{{ uuid() }}");
    env.rng = &rng_state;
    assert_true(is_uuid_v4(n1) && is_uuid_v4(n2));
    assert_string_not_equal(n1, n2);
    free(n1);
    free(n2);
}


/* ---- comparisons, logic, members ------------------------------------------------------- */

static void assert_truth(const char *src, bool want)
{
    tmpl_t *t = compile_ok(src);
    bool got = !want;
    char err[256] = "";
    if (tmpl_truth(t, &env, &got, err, sizeof err) != 0)
        fail_msg("truth of \"%s\" failed: %s", src, err);
    if (got != want)
        fail_msg("\"%s\" is %s, want %s", src, got ? "true" : "false", want ? "true" : "false");
    tmpl_free(t);
}

static void test_comparisons(void **state)
{
    (void)state;
    assert_renders("{{ 1 < 2 }}", "true");
    assert_renders("{{ 2 <= 1 }}", "false");
    assert_renders("{{ count == 42 }}", "true");         /* saved integer */
    assert_renders("{{ count != 42 }}", "false");
    assert_renders("{{ price > 12 }}", "true");          /* saved real */
    assert_renders("{{ amount == 12.5 }}", "true");      /* numeric string vs number */
    assert_renders("{{ amount == '12.50' }}", "true");   /* string vs string: bytes */
    assert_renders("{{ amount == '12.5' }}", "false");
    assert_renders("{{ word == 'abc' }}", "true");
    assert_renders("{{ word < 'abd' }}", "true");        /* byte order */
    assert_renders("{{ word >= 'abcd' }}", "false");
    assert_renders("{{ word == 3 }}", "false");          /* not a number: unequal, no error */
    assert_renders("{{ flag == true }}", "true");
    assert_renders("{{ flag == 1 }}", "false");          /* a boolean only equals a boolean */
    assert_renders("{{ nothing == null }}", "true");
    assert_renders("{{ nothing != null }}", "false");
    assert_renders("{{ obj.a == obj.a }}", "true");
    assert_renders("{{ players == things }}", "false");
    /* Arithmetic binds tighter than comparison. */
    assert_renders("{{ 1 + 2 * 3 == 7 }}", "true");
    assert_renders("{{ count - 2 > 40 - 1 }}", "true");
    assert_renders_json_number("{{ 1 < 2 }}", "true");
}

static void test_logic(void **state)
{
    (void)state;
    assert_renders("{{ true and false }}", "false");
    assert_renders("{{ true or false }}", "true");
    assert_renders("{{ not true }}", "false");
    assert_renders("{{ not not 1 }}", "true");
    /* not > and > or: "true or (false and false)" */
    assert_renders("{{ true or false and false }}", "true");
    assert_renders("{{ (true or false) and false }}", "false");
    /* not binds looser than comparison: not (1 == 2) */
    assert_renders("{{ not 1 == 2 }}", "true");
    assert_renders("{{ not flag or count > 40 }}", "true");
    /* Short circuit: the right side (an unset variable) is never evaluated. */
    assert_renders("{{ false and unset }}", "false");
    assert_renders("{{ true or unset }}", "true");
    /* Truth of values. */
    assert_truth("{{ empty }}", false);
    assert_truth("{{ players }}", true);
    assert_truth("{{ 0 }}", false);
    assert_truth("{{ '' }}", false);
    assert_truth("{{ word }}", true);
    assert_truth("{{ nothing }}", false);
    assert_truth("{{ obj.b }}", true);
    assert_truth("{{ count > 41 and word == 'abc' }}", true);
    assert_truth("{{ null }}", false);
}

static void test_members(void **state)
{
    (void)state;
    assert_renders("{{ things[0].id }}", "1");
    assert_renders("{{ obj.a[1] }}", "x");
    assert_renders("{{ obj['b'] }}", "true");
    assert_renders("{{ players[1 + 1] }}", "p3");
    assert_renders("/items/{{ things[0].id }}/x", "/items/1/x");
    assert_renders("{{ obj.a[0] + 1 }}", "2");
    assert_render_error("{{ obj.nope }}", "'obj' has no member 'nope'");
    assert_render_error("{{ players[3] }}", "index 3 is past the end of 'players' (3 elements)");
    assert_render_error("{{ word.x }}", "'word' holds a string, which has no members");
    assert_render_error("{{ players[-1] }}",
                        "a list's element is numbered by a whole number from 0, got a number");
    assert_render_error("{{ obj.a[0].x }}", "a number has no members");
}

static void test_operator_errors(void **state)
{
    (void)state;
    assert_compile_error("{{ count = 1 }}", 9, "'=' alone is not an operator: compare with '=='");
    assert_compile_error("{{ !flag }}", 3, "'!' alone is not an operator");
    assert_compile_error("{{ 1 < 2 < 3 }}", 9, "comparisons cannot be chained");
    assert_compile_error("{{ count and }}", 13, "expected a value, found '}}'");
    assert_compile_error("{{ and count }}", 3, "expected a value, found 'and'");
    assert_compile_error("{{ 1 + not flag }}", 7, "expected a value, found 'not'");
    assert_compile_error("{{ obj. }}", 8, "expected a key name after '.'");
    assert_compile_error("{{ players[0 }}", 13, "expected ']' to close the '['");
    assert_compile_error("{{ nope == 1 }}", 3, "undefined variable 'nope'");
    assert_compile_error("{{ flag and nope }}", 12, "undefined variable 'nope'");
    assert_render_error("{{ players < 3 }}",
                        "cannot order a list and a number: < <= > >= compare numbers or strings");
    assert_render_error("{{ flag < 1 }}",
                        "cannot order true and a number: < <= > >= compare numbers or strings");
    assert_render_error("{{ true + 1 }}", "true is not a number");
    assert_render_error("{{ unset == 1 }}", "variable 'unset' has not been saved yet");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_only),
        cmocka_unit_test(test_single_expr_flag),
        cmocka_unit_test(test_builtins),
        cmocka_unit_test(test_arithmetic),
        cmocka_unit_test(test_numeric_strings),
        cmocka_unit_test(test_format_number),
        cmocka_unit_test(test_random_int),
        cmocka_unit_test(test_random_float),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_random_string),
        cmocka_unit_test(test_choice),
        cmocka_unit_test(test_pick),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_now),
        cmocka_unit_test(test_saved_values_render),
        cmocka_unit_test(test_eval_typed),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_runtime_errors),
        cmocka_unit_test(test_constant_errors_at_load),
        cmocka_unit_test(test_render_json),
        cmocka_unit_test(test_rng),
        cmocka_unit_test(test_comparisons),
        cmocka_unit_test(test_logic),
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_operator_errors),
    };
    return cmocka_run_group_tests(tests, fixture_setup, fixture_teardown);
}
