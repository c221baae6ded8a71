/*
 * template_fixture — what the template and jtmpl unit tests share: a resolver that knows a
 * fixed set of variables, an environment holding their values (set up and torn down by
 * fixture_setup / fixture_teardown around each test group), and a UUID check.
 * Included by tests/unit/test_template.c and tests/unit/test_jtmpl.c only.
 */
#ifndef HERD_TEST_TEMPLATE_FIXTURE_H
#define HERD_TEST_TEMPLATE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../common/template.h"

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

static int fixture_setup(void **state)
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

static int fixture_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < 3; i++)
        json_decref(globals[i]);
    for (size_t i = 0; i < 9; i++)
        json_decref(user_vars[i]);
    return 0;
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


#endif
