/* Unit tests for worker/cookies.c: a user's jar follows RFC 6265 — host-only and Domain
 * cookies, default and explicit paths and path matching, Max-Age over Expires, deletion,
 * replacement keeping the creation order, Secure, the sending order, and its bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../worker/cookies.h"

#define NOW 1700000000.0

static void set(cookie_jar_t *j, const char *url, const char *line)
{
    assert_int_equal(cookie_jar_set(j, url, line, strlen(line), NOW), 0);
}

/* The Cookie value for url at time now ("" when none). */
static const char *header_at(cookie_jar_t *j, const char *url, double now)
{
    static buf_t b;
    static int ready;
    if (!ready) {
        buf_init(&b);
        ready = 1;
    }
    buf_reset(&b);
    int n = cookie_jar_header(j, url, now, &b);
    assert_true(n >= 0);
    return n ? b.data : "";
}

static const char *header(cookie_jar_t *j, const char *url)
{
    return header_at(j, url, NOW);
}

static void test_host_only_and_domain(void **state)
{
    (void)state;
    cookie_jar_t j;
    cookie_jar_init(&j);
    set(&j, "http://www.example.com/", "h=1");
    set(&j, "http://www.example.com/", "d=2; Domain=.Example.COM");
    set(&j, "http://www.example.com/", "other=3; Domain=example.org"); /* not ours: ignored */
    set(&j, "http://www.example.com/", "sub=4; Domain=a.www.example.com"); /* too specific */
    assert_string_equal(header(&j, "http://www.example.com/x"), "h=1; d=2");
    assert_string_equal(header(&j, "http://a.example.com/"), "d=2");
    assert_string_equal(header(&j, "http://example.com/"), "d=2");
    assert_string_equal(header(&j, "http://badexample.com/"), "");
    assert_string_equal(header(&j, "http://WWW.EXAMPLE.COM:8080/"), "h=1; d=2"); /* ports don't matter */
    assert_string_equal(header(&j, "http://example.org/"), "");
    /* an IP address matches only itself */
    set(&j, "http://127.0.0.1:9/", "ip=5");
    set(&j, "http://127.0.0.1:9/", "ipd=6; Domain=0.0.1");
    assert_string_equal(header(&j, "http://127.0.0.1:1/"), "ip=5");
    cookie_jar_free(&j);
}

static void test_paths(void **state)
{
    (void)state;
    cookie_jar_t j;
    cookie_jar_init(&j);
    set(&j, "http://h/app/login?x=/y", "def=1");            /* default path /app */
    set(&j, "http://h/app/login", "exp=2; Path=/app/");
    set(&j, "http://h/login", "root=3");                    /* default path / */
    set(&j, "http://h/app/login", "bad=4; Path=relative");  /* bad path: the default */
    assert_string_equal(header(&j, "http://h/app"), "def=1; bad=4; root=3");
    assert_string_equal(header(&j, "http://h/app/x/y"), "exp=2; def=1; bad=4; root=3");
    assert_string_equal(header(&j, "http://h/application"), "root=3");
    assert_string_equal(header(&j, "http://h/"), "root=3");
    assert_string_equal(header(&j, "http://h"), "root=3");
    cookie_jar_free(&j);
}

static void test_expiry(void **state)
{
    (void)state;
    cookie_jar_t j;
    cookie_jar_init(&j);
    set(&j, "http://h/", "a=1; Max-Age=1");
    set(&j, "http://h/", "b=2; Expires=Wed, 09 Jun 2100 10:18:14 GMT");
    set(&j, "http://h/", "c=3; Expires=Wed, 09 Jun 2100 10:18:14 GMT; Max-Age=0"); /* Max-Age wins */
    set(&j, "http://h/", "d=4; Max-Age=100; Expires=Thu, 01 Jan 1970 00:00:01 GMT");
    set(&j, "http://h/", "e=5; Expires=Thu, 01 Jan 1970 00:00:01 GMT");
    set(&j, "http://h/", "f=6; Max-Age=soon");  /* not a number: ignored, a session cookie */
    assert_string_equal(header(&j, "http://h/"), "a=1; b=2; d=4; f=6");
    assert_string_equal(header_at(&j, "http://h/", NOW + 1.5), "b=2; d=4; f=6");
    assert_int_equal(cookie_jar_count(&j), 3);   /* the expired one was dropped */
    assert_string_equal(header_at(&j, "http://h/", NOW + 200), "b=2; f=6");
    cookie_jar_free(&j);
}

static void test_replace_and_delete(void **state)
{
    (void)state;
    cookie_jar_t j;
    cookie_jar_init(&j);
    set(&j, "http://h/", "s=old");
    set(&j, "http://h/", "t=1");
    set(&j, "http://h/", "s=new-and-longer-value"); /* replaced, keeps its place (creation) */
    assert_string_equal(header(&j, "http://h/"), "s=new-and-longer-value; t=1");
    set(&j, "http://h/", "s=; Max-Age=0");         /* deleted */
    assert_string_equal(header(&j, "http://h/"), "t=1");
    set(&j, "http://h/x/y", "t=other-path; Path=/x"); /* same name, another path: a second */
    assert_string_equal(header(&j, "http://h/x/z"), "t=other-path; t=1");
    /* name and value trimmed; no '=' or no name: ignored */
    set(&j, "http://h/", "  u = v w ; HttpOnly");
    set(&j, "http://h/", "noequals");
    set(&j, "http://h/", "=nameless");
    assert_string_equal(header(&j, "http://h/"), "t=1; u=v w");
    cookie_jar_clear(&j);
    assert_string_equal(header(&j, "http://h/"), "");
    set(&j, "http://h/", "again=1"); /* the cleared jar reuses its memory */
    assert_string_equal(header(&j, "http://h/"), "again=1");
    cookie_jar_free(&j);
}

static void test_secure(void **state)
{
    (void)state;
    cookie_jar_t j;
    cookie_jar_init(&j);
    set(&j, "https://h/", "s=1; Secure");
    set(&j, "https://h/", "p=2");
    assert_string_equal(header(&j, "https://h/"), "s=1; p=2");
    assert_string_equal(header(&j, "http://h/"), "p=2");
    cookie_jar_free(&j);
}

static void test_bounds(void **state)
{
    (void)state;
    cookie_jar_t j;
    cookie_jar_init(&j);
    char line[COOKIE_MAX_BYTES + 16];
    memset(line, 'v', sizeof line);
    memcpy(line, "big=", 4);
    assert_int_equal(cookie_jar_set(&j, "http://h/", line, sizeof line, NOW), 0);
    assert_int_equal(cookie_jar_count(&j), 0);
    for (int i = 0; i < COOKIE_JAR_MAX + 20; i++) {
        char c[32];
        snprintf(c, sizeof c, "c%d=%d", i, i);
        set(&j, "http://h/", c);
    }
    assert_int_equal(cookie_jar_count(&j), COOKIE_JAR_MAX);
    /* not a URL: nothing stored, nothing sent */
    set(&j, "ftp://h/", "x=1");
    assert_string_equal(header(&j, "ftp://h/"), "");
    cookie_jar_free(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_only_and_domain),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_replace_and_delete),
        cmocka_unit_test(test_secure),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
