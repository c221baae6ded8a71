/* Unit tests for worker/request.c: request_check's saves (JSON path, header, regex, status)
 * and checks (expect.json values), the session's headers (Accept-Encoding, Basic auth, the
 * hop's cookies), response headers for steps (request_header), and the rule on what a
 * rendered request may carry: a header
 * value or URL that a template filled with CR, LF or NUL (a saved response value) is not
 * sent, whichever transport would carry it, and a URL with a space or a control character
 * neither. Both transports send only what request_render accepted, so this is the one place
 * to test it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "../../worker/request.h"
#include "scenario_fixture.h"

/* The first step of the only class renders with v as the saved value of `v`. Returns
 * request_render's result; err gets its message. */
static int render_with(const scenario_t *sc, size_t step, const char *v, size_t v_len,
                       request_t *r, char *err, size_t errlen)
{
    json_t *vars[1] = {json_stringn(v, v_len)};
    assert_non_null(vars[0]);
    tmpl_env_t env = {.user_vars = vars, .user_id = 1, .iteration = 1};
    err[0] = '\0';
    int rc = request_render(r, &sc->classes[0].tasks[0].steps[step], "http://127.0.0.1:1", &env,
                            err, errlen);
    json_decref(vars[0]);
    return rc;
}

static void test_header_and_url_values(void **state)
{
    (void)state;
    scenario_t *sc = load("users:\n"
                          "  - name: U\n"
                          "    tasks:\n"
                          "      - steps:\n"
                          "          - get: /h\n"
                          "            headers: {X-Token: \"{{ v }}\"}\n"
                          "          - get: \"/u/{{ v }}\"\n"
                          "          - get: /q\n"
                          "            query: {q: \"{{ v }}\"}\n"
                          "          - get: /s\n"
                          "            save: {v: v}\n");
    request_t r;
    request_init(&r);
    char err[256];
    static const struct {
        const char *value;
        size_t len;
        const char *header_error; /* NULL: sent */
        const char *url_error;
    } cases[] = {
        {"abc-123", 7, NULL, NULL},
        {"a\tb", 3, NULL, "a control character"},          /* a tab is fine in a header */
        {"abc\r\nX-Injected: yes", 20, "a line break (CR or LF)", "a line break (CR or LF)"},
        {"abc\nX-Injected: yes", 19, "a line break (CR or LF)", "a line break (CR or LF)"},
        {"abc\rdef", 7, "a line break (CR or LF)", "a line break (CR or LF)"},
        {"ab\0cd", 5, "a NUL byte", "a NUL byte"},
        {"a b", 3, NULL, "a space"},
        {"a\x7f" "b", 3, NULL, "a control character"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = render_with(sc, 0, cases[i].value, cases[i].len, &r, err, sizeof err);
        if (cases[i].header_error) {
            char want[256];
            snprintf(want, sizeof want, "header 'X-Token' contains %s after its templates were "
                     "rendered: not sent", cases[i].header_error);
            assert_int_equal(rc, -1);
            assert_string_equal(err, want);
        } else {
            assert_int_equal(rc, 0);
            assert_non_null(r.headers);
            assert_int_equal(strncmp(r.headers->data, "X-Token: ", 9), 0);
        }
        rc = render_with(sc, 1, cases[i].value, cases[i].len, &r, err, sizeof err);
        if (cases[i].url_error) {
            char want[256];
            snprintf(want, sizeof want, "URL contains %s after its templates were rendered: "
                     "not sent", cases[i].url_error);
            assert_int_equal(rc, -1);
            assert_string_equal(err, want);
        } else {
            assert_int_equal(rc, 0);
            assert_string_equal(r.url.data, "http://127.0.0.1:1/u/abc-123");
        }
        /* a query value is URL-encoded: whatever it holds is sent */
        assert_int_equal(render_with(sc, 2, cases[i].value, cases[i].len, &r, err, sizeof err),
                         0);
        assert_null(strpbrk(r.url.data, " \r\n\t\x7f"));
    }
    request_free(&r);
    scenario_free(sc);
}


/* ---- request_check: saves and checks ------------------------------------------------------ */

static const char check_yaml[] =
    "users:\n"
    "  - name: U\n"
    "    tasks:\n"
    "      - steps:\n"
    "          - get: /a\n"                                          /* 0 */
    "            save:\n"
    "              loc: {header: location}\n"
    "              id: {regex: 'id=(\\d+)'}\n"
    "              whole: {regex: '[a-z]+=[0-9]+'}\n"
    "              code: {status: true}\n"
    "          - get: /b\n"                                          /* 1 */
    "            save: {nope: {header: X-Missing}}\n"
    "          - get: /c\n"                                          /* 2 */
    "            save: {n: {regex: 'num=(\\d+)'}}\n"
    "          - get: /d\n"                                          /* 3 */
    "            expect:\n"
    "              json: {\"$.level\": 3, name: \"{{ loc }}\", tags: [a, b], ok: true}\n"
    "          - get: /e\n"                                          /* 4 */
    "            save: {opt: {regex: 'x(y)?z'}}\n";

/* request_check of step `step` on a response: status, body, header lines. */
static int check(const scenario_t *sc, size_t step, request_t *r, json_t **vars, long status,
                 const char *body, const char *headers, char *err, size_t errlen)
{
    const step_t *st = &sc->classes[0].tasks[0].steps[step];
    static tmpl_env_t env;
    env = (tmpl_env_t){.user_vars = vars, .user_id = 1, .iteration = 1};
    assert_int_equal(request_render(r, st, "http://127.0.0.1:1", &env, err, errlen), 0);
    assert_int_equal(r->keep_body, st->needs_body);
    buf_reset(&r->resp);
    buf_puts(&r->resp, body);
    buf_reset(&r->resp_headers);
    buf_puts(&r->resp_headers, headers);
    err[0] = '\0';
    return request_check(r, st, status, CURLE_OK, vars, NULL, err, errlen);
}

static void test_check_saves(void **state)
{
    (void)state;
    scenario_t *sc = load(check_yaml);
    const user_class_t *uc = &sc->classes[0];
    json_t *vars[16] = {0};
    assert_true(uc->n_vars <= 16);
    request_t r;
    request_init(&r);
    char err[256];
    const step_t *st0 = &uc->tasks[0].steps[0];
    assert_true(st0->needs_headers);
    assert_true(st0->needs_body);
    assert_false(st0->needs_json);
    assert_int_equal(check(sc, 0, &r, vars, 201, "<a href='/o?id=77'>x</a> id=88",
                           "Content-Type: text/html\r\nLocation:  /orders/9 \r\n", err,
                           sizeof err), 0);
    assert_string_equal(json_string_value(vars[st0->saves[0].slot]), "/orders/9");
    assert_string_equal(json_string_value(vars[st0->saves[1].slot]), "77"); /* first match */
    assert_string_equal(json_string_value(vars[st0->saves[2].slot]), "id=77"); /* no group */
    assert_int_equal(json_integer_value(vars[st0->saves[3].slot]), 201);

    /* request_header: case-insensitive, first of repeated, NULL when absent */
    size_t len;
    buf_reset(&r.resp_headers);
    buf_puts(&r.resp_headers, "X-A: 1\r\nx-a: 2\r\nX-AB: 3\r\nEmpty:\r\n");
    const char *v = request_header(&r, "x-A", &len);
    assert_non_null(v);
    assert_int_equal(len, 1);
    assert_memory_equal(v, "1", 1);
    v = request_header(&r, "empty", &len);
    assert_non_null(v);
    assert_int_equal(len, 0);
    assert_null(request_header(&r, "X-", &len));
    assert_null(request_header(&r, "X-ABC", &len));

    /* a missing header and a regex without a match fail the request, naming what */
    assert_int_equal(check(sc, 1, &r, vars, 200, "", "Location: /x\r\n", err, sizeof err), -1);
    assert_string_equal(err, "Response did not contain header 'X-Missing'");
    assert_int_equal(check(sc, 2, &r, vars, 200, "no numbers here", "", err, sizeof err), -1);
    assert_string_equal(err, "Response did not match regex for save 'n'");
    /* a group that did not take part in the match: no value, a failure */
    assert_int_equal(check(sc, 4, &r, vars, 200, "xz", "", err, sizeof err), -1);
    assert_string_equal(err, "Response did not match regex for save 'opt'");
    assert_int_equal(check(sc, 4, &r, vars, 200, "..xyz", "", err, sizeof err), 0);
    assert_string_equal(json_string_value(vars[uc->tasks[0].steps[4].saves[0].slot]), "y");
    /* the body is not UTF-8: matched as bytes, the capture must still be text */
    assert_int_equal(check(sc, 2, &r, vars, 200, "\xff\xfe num=12", "", err, sizeof err), 0);

    /* expect.json values: literals typed as written, templates rendered per request */
    const char *good = "{\"level\": 3.0, \"name\": \"/orders/9\", \"tags\": [\"a\", \"b\"], "
                       "\"ok\": true}";
    assert_int_equal(check(sc, 3, &r, vars, 200, good, "", err, sizeof err), 0);
    assert_int_equal(check(sc, 3, &r, vars, 200,
                           "{\"level\": \"3\", \"name\": \"/orders/9\", \"tags\": [\"a\", \"b\"], "
                           "\"ok\": true}", "", err, sizeof err), -1);
    assert_string_equal(err, "Response JSON '$.level' was \"3\", expected 3");
    assert_int_equal(check(sc, 3, &r, vars, 200,
                           "{\"level\": 3, \"name\": \"other\", \"tags\": [\"a\", \"b\"], "
                           "\"ok\": true}", "", err, sizeof err), -1);
    assert_string_equal(err, "Response JSON 'name' was \"other\", expected \"/orders/9\"");
    assert_int_equal(check(sc, 3, &r, vars, 200,
                           "{\"level\": 3, \"name\": \"/orders/9\", \"tags\": [\"b\", \"a\"], "
                           "\"ok\": true}", "", err, sizeof err), -1);
    assert_string_equal(err, "Response JSON 'tags' was [\"b\",\"a\"], expected [\"a\",\"b\"]");
    assert_int_equal(check(sc, 3, &r, vars, 200, "{\"level\": 3}", "", err, sizeof err), -1);
    assert_string_equal(err, "Response did not contain expected key 'name'");

    for (size_t i = 0; i < 16; i++)
        json_decref(vars[i]);
    request_free(&r);
    scenario_free(sc);
}

/* The session's headers as both transports send them: Accept-Encoding by default (not with
 * compress: false, nor over the step's own), Basic auth (RFC 7617's example), the hop's
 * cookies from the user's jar. */
static void test_session_headers_on_the_wire(void **state)
{
    (void)state;
    scenario_t *sc = load("users:\n"
                          "  - name: U\n"
                          "    auth: {basic: [Aladdin, \"{{ v }}\"]}\n"
                          "    tasks:\n"
                          "      - steps:\n"
                          "          - get: /a\n"
                          "          - get: /b\n"
                          "            headers: {accept-encoding: br, Authorization: Bearer x}\n"
                          "          - get: /c\n"
                          "            auth: {basic: [\"\", \"\"]}\n"
                          "          - get: /s\n"
                          "            save: {v: v}\n"
                          "  - name: Plain\n"
                          "    compress: false\n"
                          "    cookies: false\n"
                          "    tasks:\n"
                          "      - steps:\n"
                          "          - get: /d\n");
    request_t r;
    request_init(&r);
    cookie_jar_t jar;
    cookie_jar_init(&jar);
    char err[256];
    const char *set = "sid=abc; Path=/";
    assert_int_equal(cookie_jar_set(&jar, "http://h/login", set, strlen(set), 1e9), 0);

    const step_t *steps = sc->classes[0].tasks[0].steps;
    assert_true(steps[0].cookies && steps[0].compress && !steps[0].http2);
    assert_int_equal(render_with(sc, 0, "open sesame", 11, &r, err, sizeof err), 0);
    r.jar = steps[0].cookies ? &jar : NULL;
    assert_int_equal(request_hop_begin(&r, "http://h/a", 1e9), 0);
    assert_int_equal(request_wire(&r, &steps[0], "h", "/a", 2, false), 0);
    assert_string_equal(r.wire.data, "GET /a HTTP/1.1\r\nHost: h\r\nUser-Agent: herd/1.0\r\n"
                                     "Accept: */*\r\nAccept-Encoding: gzip, deflate\r\n"
                                     "Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"
                                     "Cookie: sid=abc\r\n\r\n");
    /* the step's own headers win over the session's */
    assert_int_equal(render_with(sc, 1, "x", 1, &r, err, sizeof err), 0);
    assert_int_equal(request_wire(&r, &steps[1], "h", "/b", 2, false), 0);
    assert_non_null(strstr(r.wire.data, "accept-encoding: br\r\nAuthorization: Bearer x\r\n"));
    assert_null(strstr(r.wire.data, "gzip"));
    assert_null(strstr(r.wire.data, "Basic"));
    /* a step's auth over the defaults' */
    assert_int_equal(render_with(sc, 2, "x", 1, &r, err, sizeof err), 0);
    assert_int_equal(request_wire(&r, &steps[2], "h", "/c", 2, false), 0);
    assert_non_null(strstr(r.wire.data, "Authorization: Basic Og==\r\n"));
    /* a user name that renders with ':' is not sent */
    scenario_t *sc2 = load("users:\n"
                           "  - name: U\n"
                           "    auth: {basic: [\"{{ v }}\", p]}\n"
                           "    tasks:\n"
                           "      - steps:\n"
                           "          - get: /a\n"
                           "          - get: /s\n"
                           "            save: {v: v}\n");
    assert_int_equal(render_with(sc2, 0, "a:b", 3, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "auth user contains ':'"));
    scenario_free(sc2);

    const step_t *plain = &sc->classes[1].tasks[0].steps[0];
    assert_false(plain->cookies);
    assert_false(plain->compress);
    json_t *vars[1] = {NULL};
    tmpl_env_t env = {.user_vars = vars, .user_id = 1, .iteration = 1};
    assert_int_equal(request_render(&r, plain, "http://h", &env, err, sizeof err), 0);
    r.jar = NULL;
    assert_int_equal(request_hop_begin(&r, "http://h/d", 1e9), 0);
    assert_int_equal(request_wire(&r, plain, "h", "/d", 2, false), 0);
    assert_string_equal(r.wire.data,
                        "GET /d HTTP/1.1\r\nHost: h\r\nUser-Agent: herd/1.0\r\nAccept: */*\r\n\r\n");
    cookie_jar_free(&jar);
    request_free(&r);
    scenario_free(sc);
}

/* Session keys: defaults for every class and for setup, a class's over them, a step's auth
 * over both. */
static void test_session_keys_layer(void **state)
{
    (void)state;
    scenario_t *sc = load("defaults:\n"
                          "  cookies: false\n"
                          "  http2: true\n"
                          "  auth: {basic: [d, d]}\n"
                          "setup:\n"
                          "  - get: /s\n"
                          "users:\n"
                          "  - name: A\n"
                          "    tasks: [{steps: [{get: /a}, {get: /b, auth: {basic: [s, s]}}]}]\n"
                          "  - name: B\n"
                          "    cookies: true\n"
                          "    compress: false\n"
                          "    http2: false\n"
                          "    auth: {basic: [c, c]}\n"
                          "    tasks: [{steps: [{get: /c}]}]\n");
    const step_t *setup = &sc->setup[0];
    const step_t *a = sc->classes[0].tasks[0].steps, *b = sc->classes[1].tasks[0].steps;
    assert_false(setup->cookies);
    assert_true(setup->http2);
    assert_true(setup->compress);
    assert_false(a[0].cookies);
    assert_true(a[0].http2);
    assert_true(b[0].cookies);
    assert_false(b[0].http2);
    assert_false(b[0].compress);
    assert_false(a[0].needs_headers);
    request_t r;
    request_init(&r);
    char err[256];
    json_t *vars[1] = {NULL};
    tmpl_env_t env = {.user_vars = vars, .user_id = 1, .iteration = 1};
    const struct {
        const step_t *st;
        const char *auth;
    } cases[] = {{setup, "ZDpk"}, {&a[0], "ZDpk"}, {&a[1], "czpz"}, {&b[0], "Yzpj"}};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(request_render(&r, cases[i].st, "http://h", &env, err, sizeof err), 0);
        assert_int_equal(request_hop_begin(&r, "http://h/", 1e9), 0);
        assert_int_equal(request_wire(&r, cases[i].st, "h", "/", 1, false), 0);
        char want[64];
        snprintf(want, sizeof want, "Authorization: Basic %s\r\n", cases[i].auth);
        assert_non_null(strstr(r.wire.data, want));
    }
    request_free(&r);
    scenario_free(sc);
}

/* request_header: the final response's headers, any case, first match, trimmed; a 1xx's or
 * a redirect's are forgotten; absent ones are NULL. Content-Encoding and Set-Cookie are
 * noted whether or not headers are kept. */
static void test_response_headers(void **state)
{
    (void)state;
    request_t r;
    request_init(&r);
    cookie_jar_t jar;
    cookie_jar_init(&jar);
    r.keep_headers = true;
    r.jar = &jar;
    assert_int_equal(request_hop_begin(&r, "http://h/a/b", 1e9), 0);
    request_on_header(&r, "X-Interim: yes", 14);
    request_on_status(&r); /* the final response begins */
    const char *lines[] = {"Location:   /next  ", "content-encoding: gzip", "Set-Cookie: a=1",
                           "LOCATION: /second", "X-Empty:"};
    for (size_t i = 0; i < 5; i++)
        request_on_header(&r, lines[i], strlen(lines[i]));
    size_t len;
    const char *v = request_header(&r, "location", &len);
    assert_non_null(v);
    assert_int_equal(len, 5);
    assert_memory_equal(v, "/next", 5);
    v = request_header(&r, "Content-Encoding", &len);
    assert_non_null(v);
    assert_int_equal(len, 4);
    v = request_header(&r, "X-Empty", &len);
    assert_non_null(v);
    assert_int_equal(len, 0);
    assert_null(request_header(&r, "X-Interim", &len));
    assert_null(request_header(&r, "Locat", &len));
    assert_null(request_header(&r, "Missing", &len));
    assert_int_equal(r.encoding, DECODE_GZIP);
    request_on_header(&r, "Content-Encoding: br", 20);
    assert_int_equal(r.encoding, DECODE_UNKNOWN);
    assert_string_equal(r.encoding_name, "br");
    assert_int_equal(cookie_jar_count(&jar), 1);
    assert_non_null(strstr(r.resp_headers.data, "Location:   /next  \r\ncontent-encoding: gzip\r\n"));
    /* the next hop starts afresh; without keep_headers nothing is kept */
    assert_int_equal(request_hop_begin(&r, "http://h/a/b", 1e9), 0);
    assert_string_equal(r.cookie.data, "a=1");
    r.keep_headers = false;
    request_on_header(&r, lines[0], strlen(lines[0]));
    assert_null(request_header(&r, "Location", &len));
    assert_int_equal(r.encoding, DECODE_IDENTITY);
    cookie_jar_free(&jar);
    request_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_and_url_values),
        cmocka_unit_test(test_check_saves),
        cmocka_unit_test(test_session_headers_on_the_wire),
        cmocka_unit_test(test_session_keys_layer),
        cmocka_unit_test(test_response_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
