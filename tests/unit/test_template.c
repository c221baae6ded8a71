/* Unit tests for common/template.h: the {{ expr }} language, jtmpl bodies and jpath. */
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

#include "../../common/template.h"

/* ---- fixture: a resolver and an environment with known variables ---------------------- */

static const struct {
    const char *name;
    tmpl_scope_t scope;
    uint32_t slot;
} known_vars[] = {
    {"players", TMPL_SCOPE_GLOBAL, 0}, /* ["p1","p2","p3"] */
    {"empty", TMPL_SCOPE_GLOBAL, 1},   /* [] */
    {"things", TMPL_SCOPE_GLOBAL, 2},  /* [{"id":1}] */
    {"price", TMPL_SCOPE_USER, 0},     /* 12.34 */
    {"name", TMPL_SCOPE_USER, 1},      /* "Bob \"B\"" */
    {"obj", TMPL_SCOPE_USER, 2},       /* {"a":[1,"x",null],"b":true} */
    {"flag", TMPL_SCOPE_USER, 3},      /* true */
    {"unset", TMPL_SCOPE_USER, 4},     /* never saved */
    {"amount", TMPL_SCOPE_USER, 5},    /* "12.50" */
    {"word", TMPL_SCOPE_USER, 6},      /* "abc" */
    {"count", TMPL_SCOPE_USER, 7},     /* 42 */
    {"nothing", TMPL_SCOPE_USER, 8},   /* null */
};

static int resolve(void *ctx, const char *name, size_t len, tmpl_scope_t *scope, uint32_t *slot)
{
    (void)ctx;
    for (size_t i = 0; i < sizeof known_vars / sizeof known_vars[0]; i++) {
        if (strlen(known_vars[i].name) == len && memcmp(known_vars[i].name, name, len) == 0) {
            *scope = known_vars[i].scope;
            *slot = known_vars[i].slot;
            return 0;
        }
    }
    return -1;
}

static json_t *globals[3];
static json_t *user_vars[9];
static uint64_t rng_state = 0x1234567887654321ull;
static tmpl_env_t env;

static int setup(void **state)
{
    (void)state;
    globals[0] = json_loads("[\"p1\",\"p2\",\"p3\"]", 0, NULL);
    globals[1] = json_array();
    globals[2] = json_loads("[{\"id\":1}]", 0, NULL);
    user_vars[0] = json_real(12.34);
    user_vars[1] = json_string("Bob \"B\"");
    user_vars[2] = json_loads("{\"a\":[1,\"x\",null],\"b\":true}", 0, NULL);
    user_vars[3] = json_true();
    user_vars[4] = NULL;
    user_vars[5] = json_string("12.50");
    user_vars[6] = json_string("abc");
    user_vars[7] = json_integer(42);
    user_vars[8] = json_null();
    env = (tmpl_env_t){.globals = globals, .user_vars = user_vars, .user_id = 7,
                       .worker_id = "5f0c6a2e-0000-4000-8000-000000000001", .iteration = 3,
                       .rng = &rng_state};
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < 3; i++)
        json_decref(globals[i]);
    for (size_t i = 0; i < 9; i++)
        json_decref(user_vars[i]);
    return 0;
}

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

static bool is_uuid_v4(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!strchr("0123456789abcdef", s[i]) || s[i] == '\0') {
            return false;
        }
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
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
    assert_render_error("{{ word + 1 }}", "'abc' is not a number");
    assert_render_error("x{{ 'abc' * 2 }}", "'abc' is not a number");
    assert_render_error("{{ obj * 2 }}", "'obj' holds an object, not a number");
    assert_render_error("{{ 1 / (2 - 2) }}", "division by zero");
    assert_render_error("{{ pick(empty) }}", "pick() on an empty list 'empty'");
    assert_render_error("{{ pick(name) }}", "pick() needs a list, but 'name' holds a string");
    assert_render_error("{{ pick(3) }}", "pick() needs a list, got a number");
    assert_render_error("{{ unset }}", "variable 'unset' has not been saved yet");
    assert_render_error("{{ random_int(5, 1) }}", "random_int(a, b) needs a <= b, got 5 and 1");
    assert_render_error("{{ random_int(1.5, 3) }}",
                        "random_int() lower bound must be a whole number from "
                        "-9007199254740992 to 9007199254740992, got 1.5");
    assert_render_error("{{ random_float(2, 1, 2) }}",
                        "random_float(a, b, digits) needs a <= b, got 2 and 1");
    assert_render_error("{{ random_float(1, 2, 16) }}",
                        "random_float() digits must be a whole number from 0 to 15, got 16");
    assert_render_error("{{ random_string(-1) }}",
                        "random_string() length must be a whole number from 0 to 1048576, got -1");
    assert_render_error("{{ random_string(3, 'z-a') }}",
                        "random_string() alphabet has a backwards range 'z-a'");
    assert_render_error("{{ random_string(3, '') }}", "random_string() alphabet is empty");
    assert_render_error("{{ 1e300 * 1e300 }}", "arithmetic result is too large to be a number");
    assert_render_error("{{ 'line\\nbreak' * 1 }}", "'line break' is not a number"); /* one line */
}

/* ---- jtmpl ---------------------------------------------------------------------------- */

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

/* ---- jpath ---------------------------------------------------------------------------- */

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

/* ---- rng ------------------------------------------------------------------------------ */

static void test_rng(void **state)
{
    (void)state;
    uint64_t a = 42, b = 42;
    uint64_t x = tmpl_rng_next(&a);
    assert_true(x == tmpl_rng_next(&b)); /* deterministic from the caller's state */
    assert_true(a != 42 && a != 0);
    assert_true(tmpl_rng_next(&a) != x);
    uint64_t z = 0;
    tmpl_rng_next(&z);
    assert_true(z != 0); /* a zero seed does not get stuck */
    /* the same env seed gives the same rendering */
    uint64_t s1 = 99, s2 = 99;
    env.rng = &s1;
    char *r1 = render("{{ uuid() }} {{ random_int(1, 1000000) }}");
    env.rng = &s2;
    char *r2 = render("{{ uuid() }} {{ random_int(1, 1000000) }}");
    env.rng = &rng_state;
    assert_string_equal(r1, r2);
    free(r1);
    free(r2);
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
        cmocka_unit_test(test_jtmpl_typed_leaves),
        cmocka_unit_test(test_jtmpl_literals_and_escaping),
        cmocka_unit_test(test_jtmpl_errors),
        cmocka_unit_test(test_jpath),
        cmocka_unit_test(test_rng),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
