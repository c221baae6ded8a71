/* Unit tests for worker/request.c's rule on what a rendered request may carry: a header
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_and_url_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
