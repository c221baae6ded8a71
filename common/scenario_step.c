/*
 * scenario_step — one step of a scenario compiled into a step_t: its request (method, path or
 * URL, headers merged over the class's and the defaults', query, one body), its expectations,
 * what it saves (a JSON path, a header, a regex, the status), its `when`, and its stats row;
 * or a sleep; or a block (repeat, for_each, when) flattened into the list around it.
 *
 * A step is the largest part of the language, so it has its own file; scenario.c calls
 * sc_compile_steps for every list of steps. Templates and regular expressions are compiled
 * here, once, against the slots scenario_vars.c gives; nothing is rendered.
 *
 * Blocks: a list is flattened into one array, each block as its STEP_BLOCK, its body, its
 * STEP_END, linked both ways by `end` and numbered by nesting `depth` (scenario.h). The
 * array is sized first (flat_count) and filled in order (compile_list), so an index never
 * moves once given.
 *
 * What must stay true: a compiled step owns everything it points to (sc_step_free releases a
 * step however far its compilation got: a list's steps start zeroed, and counts are raised
 * as items are filled); setup steps have no row (row == UINT32_MAX), save into GLOBAL slots
 * and have no flow; stats rows are distinct (method, name) pairs in the order steps appear
 * in the file. The language is described in scenarios/README.md.
 */
#include "scenario_internal.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vec.h"

/* The step keys naming a method, in http_method_t order. */
static const char *const method_keys[HTTP_METHOD_COUNT] = {
    "get", "post", "put", "patch", "delete", "head", "options",
};

static const char *const step_keys[] = {
    "get", "post", "put", "patch", "delete", "head", "options", "sleep", "name", "headers",
    "query", "json", "body", "form", "multipart", "expect", "save", "timeout", "max_body",
    "auth", "when", "repeat", "for_each", "as", "steps", NULL,
};
/* A block: the keys that make one, and all it may have. */
static const char *const block_keys[] = {"repeat", "for_each", "as", "when", "steps", NULL};
static const char *const expect_keys[] = {"status", "json", "contains", NULL};
static const char *const save_source_keys[] = {"json", "header", "regex", "status", NULL};

/* ---- steps ------------------------------------------------------------------------------ */

static void kv_free(kv_tmpl_t *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].name);
        if (kv[i].value)
            tmpl_free(kv[i].value);
    }
    free(kv);
}

void sc_expect_free(expect_t *ex)
{
    for (size_t i = 0; i < ex->n_json_keys; i++)
        if (ex->json_keys[i])
            jpath_free(ex->json_keys[i]);
    free(ex->json_keys);
    for (size_t i = 0; i < ex->n_json_values; i++) {
        json_value_check_t *jv = &ex->json_values[i];
        if (jv->path)
            jpath_free(jv->path);
        json_decref(jv->literal);
        if (jv->value)
            tmpl_free(jv->value);
    }
    free(ex->json_values);
    free(ex->contains);
    memset(ex, 0, sizeof *ex);
}

void sc_step_free(step_t *st)
{
    if (st->url)
        tmpl_free(st->url);
    free(st->name);
    kv_free(st->headers, st->n_headers);
    kv_free(st->query, st->n_query);
    if (st->body_raw)
        tmpl_free(st->body_raw);
    if (st->body_json)
        jtmpl_free(st->body_json);
    kv_free(st->form, st->n_form);
    sc_multipart_free(st);
    sc_expect_free(&st->expect);
    if (st->auth_user)
        tmpl_free(st->auth_user);
    if (st->auth_pass)
        tmpl_free(st->auth_pass);
    for (size_t i = 0; i < st->n_saves; i++) {
        free(st->saves[i].var);
        if (st->saves[i].path)
            jpath_free(st->saves[i].path);
        free(st->saves[i].header);
        pcre2_code_free(st->saves[i].regex);
    }
    free(st->saves);
    if (st->when)
        tmpl_free(st->when);
    if (st->for_each)
        tmpl_free(st->for_each);
    free(st->as);
}

static int check_value_scalar(loader_t *L, const ynode_t *key, const ynode_t *val,
                              const char *what)
{
    if (val->kind != YNODE_SCALAR)
        return sc_fail(L, val, "%s '%s' must be a string, got %s", what, SC_SHOW(key->str),
                       ytree_describe(val));
    return 0;
}

int sc_check_headers(loader_t *L, const ynode_t *n)
{
    if (sc_map(L, n, "headers", "header names to values"))
        return -1;
    for (size_t i = 0; i < n->n; i++) {
        const ynode_t *k = ytree_key(n, i), *v = ytree_val(n, i);
        if (!*k->str)
            return sc_fail(L, k, "a header name must not be empty");
        for (const char *p = k->str; *p; p++)
            if (!(isalnum((unsigned char)*p) || strchr("!#$%&'*+-.^_`|~", *p)))
                return sc_fail(L, k, "bad header name '%s'", SC_SHOW(k->str));
        if (check_value_scalar(L, k, v, "header"))
            return -1;
        if (strchr(v->str, '\n') || strchr(v->str, '\r'))
            return sc_fail(L, v, "header '%s' must not contain a line break", SC_SHOW(k->str));
    }
    return 0;
}

/* A `query:` or `form:` mapping compiled into kv_tmpl_t. */
static int compile_kv(loader_t *L, const ynode_t *n, const char *key, kv_tmpl_t **out,
                      size_t *n_out)
{
    if (sc_map(L, n, key, "names to values"))
        return -1;
    *out = calloc(n->n ? n->n : 1, sizeof **out);
    if (!*out)
        return sc_oom(L, n);
    *n_out = n->n;
    for (size_t i = 0; i < n->n; i++) {
        const ynode_t *k = ytree_key(n, i), *v = ytree_val(n, i);
        if (check_value_scalar(L, k, v, key))
            return -1;
        (*out)[i].name = strdup(k->str);
        if (!(*out)[i].name)
            return sc_oom(L, k);
        if (sc_compile_tmpl(L, v, &(*out)[i].value))
            return -1;
    }
    return 0;
}

/* defaults < class < step, names compared case-insensitively; a later layer replaces the value
 * but keeps the first spelling's position. */
static int compile_headers(loader_t *L, step_t *st, const ynode_t *const layers[3])
{
    size_t total = 0;
    for (int l = 0; l < 3; l++)
        if (layers[l])
            total += layers[l]->n;
    if (!total)
        return 0;
    const ynode_t **keys = calloc(total, sizeof *keys);
    const ynode_t **vals = calloc(total, sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return sc_oom(L, layers[2] ? layers[2] : layers[1] ? layers[1] : layers[0]);
    }
    size_t n = 0;
    for (int l = 0; l < 3; l++) {
        if (!layers[l])
            continue;
        for (size_t i = 0; i < layers[l]->n; i++) {
            const ynode_t *k = ytree_key(layers[l], i);
            size_t j = 0;
            while (j < n && strcasecmp(keys[j]->str, k->str) != 0)
                j++;
            if (j == n)
                keys[n++] = k;
            vals[j] = ytree_val(layers[l], i);
        }
    }
    int rc = 0;
    st->headers = calloc(n, sizeof *st->headers);
    if (!st->headers)
        rc = sc_oom(L, keys[0]);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        st->n_headers = i + 1;
        st->headers[i].name = strdup(keys[i]->str);
        if (!st->headers[i].name)
            rc = sc_oom(L, keys[i]);
        else
            rc = sc_compile_tmpl(L, vals[i], &st->headers[i].value);
        if (strcasecmp(keys[i]->str, "Content-Type") == 0)
            st->has_content_type = true;
    }
    free(keys);
    free(vals);
    return rc;
}

static int compile_jpath(loader_t *L, const ynode_t *k, jpath_t **out)
{
    tmpl_error_t e;
    memset(&e, 0, sizeof e);
    if (jpath_compile(k->str, out, &e) == 0)
        return 0;
    *out = NULL;
    return sc_fail_within(L, k, e.offset, "bad JSON path '%s': %s", SC_SHOW(k->str),
                          e.message[0] ? e.message : "cannot parse");
}

/* A template's text: a scalar with "{{" in it (quoted or not). */
static bool is_template_text(const ynode_t *v)
{
    return v->kind == YNODE_SCALAR && strstr(v->str, "{{") != NULL;
}

/* `json: {PATH: VALUE, ...}`: the value at each path must equal VALUE, a literal (typed as
 * YAML types it: 3 is a number, '3' a string) or a template. */
static int expect_json_values(loader_t *L, const ynode_t *m, expect_t *ex)
{
    ex->json_values = calloc(m->n ? m->n : 1, sizeof *ex->json_values);
    if (!ex->json_values)
        return sc_oom(L, m);
    for (size_t i = 0; i < m->n; i++) {
        const ynode_t *k = ytree_key(m, i), *v = ytree_val(m, i);
        json_value_check_t *jv = &ex->json_values[i];
        ex->n_json_values = i + 1;
        if (compile_jpath(L, k, &jv->path))
            return -1;
        if (is_template_text(v)) {
            if (sc_compile_tmpl(L, v, &jv->value))
                return -1;
        } else if (!(jv->literal = sc_yaml_to_json(L, v, false))) {
            return -1;
        }
    }
    return 0;
}

static const char status_msg[] =
    "expect status must be 100-599, a list of them, or a class like 2xx";

static int add_status(loader_t *L, const ynode_t *n, expect_t *ex)
{
    long long v;
    if (n->kind != YNODE_SCALAR)
        return sc_fail(L, n, "%s", status_msg);
    if (ytree_integer(n, &v)) {
        if (v < 100 || v > 599)
            return sc_fail(L, n, "%s", status_msg);
        ex->status_ok[v] = true;
        return 0;
    }
    if (n->len == 3 && n->str[0] >= '1' && n->str[0] <= '5' &&
        tolower((unsigned char)n->str[1]) == 'x' && tolower((unsigned char)n->str[2]) == 'x') {
        int base = (n->str[0] - '0') * 100;
        for (int s = base; s < base + 100; s++)
            ex->status_ok[s] = true;
        return 0;
    }
    return sc_fail(L, n, "%s", status_msg);
}

int sc_expect_parse(loader_t *L, const ynode_t *n, expect_t *ex)
{
    if (sc_map(L, n, "expect", "status, json and contains") ||
        sc_check_keys(L, n, expect_keys, "expect"))
        return -1;
    const ynode_t *status = ytree_get(n, "status");
    if (status) {
        ex->has_status = true;
        if (status->kind == YNODE_SEQ) {
            if (status->n == 0)
                return sc_fail(L, status, "%s", status_msg);
            for (size_t i = 0; i < status->n; i++)
                if (add_status(L, status->items[i], ex))
                    return -1;
        } else if (add_status(L, status, ex)) {
            return -1;
        }
    }
    const ynode_t *keys = ytree_get(n, "json");
    if (keys && keys->kind == YNODE_MAP) {
        if (expect_json_values(L, keys, ex))
            return -1;
    } else if (keys) {
        /* One key alone is accepted as well as a list. */
        const ynode_t *const *items = keys->kind == YNODE_SEQ
                                          ? (const ynode_t *const *)keys->items
                                          : (const ynode_t *const *)&keys;
        size_t count = keys->kind == YNODE_SEQ ? keys->n : 1;
        ex->json_keys = calloc(count ? count : 1, sizeof *ex->json_keys);
        if (!ex->json_keys)
            return sc_oom(L, keys);
        for (size_t i = 0; i < count; i++) {
            const ynode_t *k = items[i];
            if (k->kind != YNODE_SCALAR || ytree_is_null(k))
                return sc_fail(L, k, "expect 'json' must be a list of keys or a mapping of "
                                     "keys to values, got %s in it", ytree_describe(k));
            ex->n_json_keys = i + 1;
            if (compile_jpath(L, k, &ex->json_keys[i]))
                return -1;
        }
    }
    const ynode_t *contains = ytree_get(n, "contains");
    if (contains) {
        if (sc_dup_text(L, contains, "contains", &ex->contains))
            return -1;
        ex->contains_len = strlen(ex->contains);
    }
    return 0;
}

static const char save_msg[] =
    "needs a JSON path like a.b, or one of {json: PATH}, {header: NAME}, {regex: PATTERN}, "
    "{status: true}";

/* A `{regex: PATTERN}` compiled once, with PCRE2's message at its offset when it is bad. */
static int compile_regex(loader_t *L, const ynode_t *v, save_t *sv)
{
    int code;
    PCRE2_SIZE off;
    sv->regex = pcre2_compile((PCRE2_SPTR)v->str, v->len, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
                              &code, &off, NULL);
    if (!sv->regex) {
        PCRE2_UCHAR msg[160];
        if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
            snprintf((char *)msg, sizeof msg, "cannot compile");
        return sc_fail_within(L, v, off <= v->len ? off : 0, "bad regex '%s': %s",
                              SC_SHOW(v->str), (const char *)msg);
    }
    (void)pcre2_jit_compile(sv->regex, PCRE2_JIT_COMPLETE); /* the interpreter otherwise */
    uint32_t groups = 0;
    pcre2_pattern_info(sv->regex, PCRE2_INFO_CAPTURECOUNT, &groups);
    sv->regex_group = groups > 0 ? 1 : 0;
    return 0;
}

/* Where one save takes its value from: a JSON path, or a one-key mapping. */
static int compile_save_source(loader_t *L, const ynode_t *k, const ynode_t *v, save_t *sv)
{
    if (v->kind == YNODE_SCALAR && !ytree_is_null(v)) {
        sv->kind = SAVE_JSON;
        return compile_jpath(L, v, &sv->path);
    }
    if (v->kind != YNODE_MAP || v->n != 1)
        return sc_fail(L, v, "save '%s' %s, got %s", SC_SHOW(k->str), save_msg,
                       ytree_describe(v));
    if (sc_check_keys(L, v, save_source_keys, "save"))
        return -1;
    const ynode_t *src = ytree_key(v, 0), *arg = ytree_val(v, 0);
    if (strcmp(src->str, "status") == 0) {
        bool b;
        if (!ytree_bool(arg, &b) || !b)
            return sc_fail(L, arg, "save '%s': write {status: true} to save the status code",
                           SC_SHOW(k->str));
        sv->kind = SAVE_STATUS;
        return 0;
    }
    if (arg->kind != YNODE_SCALAR || ytree_is_null(arg))
        return sc_fail(L, arg, "save '%s': '%s' needs a string, got %s", SC_SHOW(k->str),
                       src->str, ytree_describe(arg));
    if (arg->len == 0)
        return sc_fail(L, arg, "save '%s': '%s' must not be empty", SC_SHOW(k->str), src->str);
    if (strcmp(src->str, "json") == 0) {
        sv->kind = SAVE_JSON;
        return compile_jpath(L, arg, &sv->path);
    }
    if (strcmp(src->str, "header") == 0) {
        for (const char *p = arg->str; *p; p++)
            if (!(isalnum((unsigned char)*p) || strchr("!#$%&'*+-.^_`|~", *p)))
                return sc_fail(L, arg, "bad header name '%s'", SC_SHOW(arg->str));
        sv->kind = SAVE_HEADER;
        if (!(sv->header = strdup(arg->str)))
            return sc_oom(L, arg);
        return 0;
    }
    sv->kind = SAVE_REGEX;
    return compile_regex(L, arg, sv);
}

static int compile_saves(loader_t *L, const ynode_t *n, step_t *st, bool setup)
{
    if (sc_map(L, n, "save", "variable names to JSON paths"))
        return -1;
    st->saves = calloc(n->n ? n->n : 1, sizeof *st->saves);
    if (!st->saves)
        return sc_oom(L, n);
    for (size_t i = 0; i < n->n; i++) {
        const ynode_t *k = ytree_key(n, i), *v = ytree_val(n, i);
        save_t *sv = &st->saves[i];
        st->n_saves = i + 1;
        if (sc_var_name(L, k, "save"))
            return -1;
        sv->var = strdup(k->str);
        if (!sv->var)
            return sc_oom(L, k);
        if (compile_save_source(L, k, v, sv))
            return -1;
        if (sv->kind == SAVE_JSON)
            st->needs_json = true;
        if (sv->kind == SAVE_REGEX)
            st->needs_body = true;
        if (sv->kind == SAVE_HEADER)
            st->needs_headers = true;
        if (setup) {
            /* A setup save is visible to the setup steps after this one, and to every user. */
            sv->scope = TMPL_SCOPE_GLOBAL;
            int g = sc_global_find(L->sc, k->str);
            if (g >= 0 && (uint32_t)g < L->n_var_globals)
                return sc_shadow_check(L, k);
            if (g >= 0)
                sv->slot = (uint32_t)g;
            else if (sc_global_add(L, k, NULL, &sv->slot))
                return -1;
        } else {
            sv->scope = TMPL_SCOPE_USER;
            tmpl_scope_t scope;
            if (sc_resolve_var(L, k->str, strlen(k->str), &scope, &sv->slot) ||
                scope != TMPL_SCOPE_USER)
                return sc_fail(L, k, "internal error: save '%s' has no slot", SC_SHOW(k->str));
        }
    }
    return 0;
}

/* Bytes no request line may carry (the worker refuses them in a rendered URL too). */
static bool url_byte_unsendable(unsigned char ch) { return ch <= 0x20 || ch == 0x7f; }

static int add_row(loader_t *L, const ynode_t *at, http_method_t m, const char *name,
                   uint32_t *row)
{
    scenario_t *sc = L->sc;
    for (size_t i = 0; i < sc->n_rows; i++) {
        if (sc->rows[i].method == m && strcmp(sc->rows[i].name, name) == 0) {
            *row = (uint32_t)i;
            return 0;
        }
    }
    if (VEC_RESERVE(sc->rows, L->rows_cap, sc->n_rows + 1) < 0)
        return sc_oom(L, at);
    scenario_row_t *r = &sc->rows[sc->n_rows];
    r->method = m;
    if (!(r->name = strdup(name)))
        return sc_oom(L, at);
    *row = (uint32_t)sc->n_rows++;
    return 0;
}

static int compile_sleep_step(loader_t *L, const ynode_t *n, const ynode_t *sleep_key,
                              step_t *st)
{
    st->kind = STEP_SLEEP;
    for (size_t i = 0; i < n->n; i++) {
        const ynode_t *k = ytree_key(n, i);
        if (strcmp(k->str, "when") == 0)
            return sc_fail(L, k, "'when' does not apply to a sleep step: put the sleep in a "
                                 "block, {when: ..., steps: [...]}");
        if (k != sleep_key && strcmp(k->str, "name") != 0)
            return sc_fail(L, k, "'%s' does not apply to a sleep step", SC_SHOW(k->str));
    }
    return sc_seconds(L, ytree_get(n, "sleep"), "sleep", true, &st->sleep_s);
}

/* A `when:` or `for_each:` value: exactly one {{ expression }}, nothing around it. */
static int compile_single_expr(loader_t *L, const ynode_t *v, const char *key,
                               const char *example, tmpl_t **out)
{
    if (v->kind != YNODE_SCALAR || ytree_is_null(v) || !strstr(v->str, "{{"))
        return sc_fail(L, v, "'%s' must be one {{ expression }} like %s, got %s", key, example,
                       ytree_describe(v));
    if (sc_compile_tmpl(L, v, out))
        return -1;
    if (!tmpl_is_single_expr(*out))
        return sc_fail(L, v, "'%s' must be exactly one {{ expression }} with no text around "
                             "it, like %s", key, example);
    return 0;
}

static int compile_when(loader_t *L, const ynode_t *n, bool setup, step_t *st)
{
    const ynode_t *w = ytree_get(n, "when");
    if (!w)
        return 0;
    if (setup)
        return sc_fail(L, w, "'when' is not supported in setup steps");
    return compile_single_expr(L, w, "when", "\"{{ level > 3 }}\"", &st->when);
}

/* ---- session options (cookies, compress, http2, auth) ---------------------------------- */

static const char auth_shape[] = "'auth' must be {basic: [user, password]}";

/* An `auth:` mapping: {basic: [user, password]}, two single-line scalars (templates). */
static int check_auth(loader_t *L, const ynode_t *n)
{
    if (n->kind != YNODE_MAP)
        return sc_fail(L, n, "%s, got %s", auth_shape, ytree_describe(n));
    static const char *const auth_keys[] = {"basic", NULL};
    if (sc_check_keys(L, n, auth_keys, "auth"))
        return -1;
    const ynode_t *b = ytree_get(n, "basic");
    if (!b)
        return sc_fail(L, n, "%s", auth_shape);
    if (b->kind != YNODE_SEQ || b->n != 2)
        return sc_fail(L, b, "%s, got %s", auth_shape, ytree_describe(b));
    for (size_t i = 0; i < 2; i++) {
        const ynode_t *v = b->items[i];
        if (v->kind != YNODE_SCALAR)
            return sc_fail(L, v, "'auth' %s must be a string, got %s", i ? "password" : "user",
                           ytree_describe(v));
        if (strpbrk(v->str, "\r\n"))
            return sc_fail(L, v, "'auth' %s must be one line", i ? "password" : "user");
    }
    if (strchr(b->items[0]->str, ':'))
        return sc_fail(L, b->items[0], "'auth' user cannot contain ':' (RFC 7617)");
    return 0;
}

/* Compile the auth in force for st (checked by check_auth). */
static int compile_auth(loader_t *L, const ynode_t *n, step_t *st)
{
    const ynode_t *b = ytree_get(n, "basic");
    if (sc_compile_tmpl(L, b->items[0], &st->auth_user) ||
        sc_compile_tmpl(L, b->items[1], &st->auth_pass))
        return -1;
    return 0;
}

int sc_session_keys(loader_t *L, const ynode_t *n, sc_session_t *s)
{
    static const char *const bools[] = {"cookies", "compress", "http2"};
    bool *dst[] = {&s->cookies, &s->compress, &s->http2};
    for (size_t i = 0; i < 3; i++) {
        const ynode_t *v = ytree_get(n, bools[i]);
        if (v && !ytree_bool(v, dst[i]))
            return sc_fail(L, v, "'%s' must be true or false, got %s", bools[i],
                           ytree_describe(v));
    }
    const ynode_t *auth = ytree_get(n, "auth");
    if (auth) {
        if (check_auth(L, auth))
            return -1;
        s->auth = auth;
    }
    return 0;
}

/* Compile one step. class_headers is NULL for setup steps, which also get no stats row and
 * save into global slots. */
static int compile_step(loader_t *L, const ynode_t *n, step_t *st,
                        const ynode_t *class_headers, bool setup)
{
    st->line = n->line;
    st->col = n->col;
    st->row = UINT32_MAX;
    st->timeout_s = L->sc->default_timeout_s;
    st->max_body_bytes = L->sc->default_max_body_bytes;
    if (n->kind != YNODE_MAP)
        return sc_fail(L, n, "a step must be a mapping like {get: /path}, got %s",
                       ytree_describe(n));
    if (sc_check_keys(L, n, step_keys, "step"))
        return -1;

    const ynode_t *mkey = NULL, *mval = NULL, *sleep_key = NULL;
    int method = -1;
    for (size_t i = 0; i < n->n; i++) {
        const ynode_t *k = ytree_key(n, i);
        int m = -1;
        for (int j = 0; j < HTTP_METHOD_COUNT; j++)
            if (strcmp(k->str, method_keys[j]) == 0)
                m = j;
        bool is_sleep = strcmp(k->str, "sleep") == 0;
        if (m < 0 && !is_sleep)
            continue;
        const ynode_t *first = mkey ? mkey : sleep_key;
        if (first)
            return sc_fail(L, k, "step has both '%s' and '%s'; a step makes one request or "
                                 "one sleep", first->str, k->str);
        if (is_sleep) {
            sleep_key = k;
        } else {
            mkey = k;
            mval = ytree_val(n, i);
            method = m;
        }
    }
    if (sleep_key)
        return compile_sleep_step(L, n, sleep_key, st);
    if (!mkey)
        return sc_fail(L, n, "step needs one of get, post, put, patch, delete, head, options "
                             "or sleep");

    const ynode_t *as = ytree_get(n, "as");
    if (as)
        return sc_fail(L, as, "'as' names the element of a 'for_each' block; this step has no "
                              "for_each");
    st->kind = STEP_REQUEST;
    st->method = (http_method_t)method;
    if (compile_when(L, n, setup, st))
        return -1;
    if (mval->kind != YNODE_SCALAR || ytree_is_null(mval))
        return sc_fail(L, mval, "'%s' must be a path or URL, got %s", mkey->str,
                       ytree_describe(mval));
    if (sc_step_url(L, mval, mkey->str, &st->url_absolute) || sc_compile_tmpl(L, mval, &st->url))
        return -1;
    size_t bad;
    if (tmpl_text_find(st->url, url_byte_unsendable, &bad))
        return sc_fail_within(L, mval, bad, "a URL cannot contain %s",
                              mval->str[bad] == ' ' ? "a space (write it as %20)"
                                                    : "a control character (URL-encode it)");

    const ynode_t *name = ytree_get(n, "name");
    if (name) {
        if (sc_dup_text(L, name, "name", &st->name))
            return -1;
    } else if (!(st->name = strdup(mval->str))) {   /* the path as written, templates and all */
        return sc_oom(L, mval);
    }
    if (!setup && add_row(L, name ? name : mval, st->method, st->name, &st->row))
        return -1;

    const ynode_t *headers = ytree_get(n, "headers");
    if (headers && sc_check_headers(L, headers))
        return -1;
    const ynode_t *layers[3] = {L->defaults_headers, class_headers, headers};
    if (compile_headers(L, st, layers))
        return -1;

    /* Headers the session would add are left to the step's own when it has them: decided
     * here, once, not per request. */
    bool own_encoding = false, own_auth = false;
    for (size_t i = 0; i < st->n_headers; i++) {
        own_encoding |= strcasecmp(st->headers[i].name, "Accept-Encoding") == 0;
        own_auth |= strcasecmp(st->headers[i].name, "Authorization") == 0;
    }
    st->cookies = L->session.cookies;
    st->compress = L->session.compress && !own_encoding;
    st->http2 = L->session.http2;
    const ynode_t *auth = ytree_get(n, "auth");
    if (auth && check_auth(L, auth))
        return -1;
    if (!auth)
        auth = L->session.auth;
    if (auth && !own_auth && compile_auth(L, auth, st))
        return -1;

    const ynode_t *query = ytree_get(n, "query");
    if (query && compile_kv(L, query, "query", &st->query, &st->n_query))
        return -1;

    static const char *const body_keys[] = {"json", "body", "form", "multipart"};
    const ynode_t *body_key = NULL;
    for (size_t i = 0; i < n->n; i++) {
        const ynode_t *k = ytree_key(n, i);
        for (int b = 0; b < 4; b++) {
            if (strcmp(k->str, body_keys[b]) != 0)
                continue;
            if (body_key)
                return sc_fail(L, k, "step has both '%s' and '%s'; use one body", body_key->str,
                               k->str);
            body_key = k;
        }
    }
    const ynode_t *v;
    if ((v = ytree_get(n, "json"))) {
        st->body_kind = BODY_JSON;
        json_t *doc = sc_yaml_to_json(L, v, true);
        if (!doc)
            return -1;
        tmpl_error_t e;
        memset(&e, 0, sizeof e);
        int rc = jtmpl_compile(doc, sc_resolve_var, L, &st->body_json, &e);
        json_decref(doc);
        if (rc) {
            st->body_json = NULL;
            return sc_fail(L, v, "%s", e.message[0] ? e.message : "bad JSON body");
        }
    } else if ((v = ytree_get(n, "body"))) {
        st->body_kind = BODY_RAW;
        if (v->kind != YNODE_SCALAR || ytree_is_null(v))
            return sc_fail(L, v, "'body' must be a string, got %s", ytree_describe(v));
        if (sc_compile_tmpl(L, v, &st->body_raw))
            return -1;
    } else if ((v = ytree_get(n, "form"))) {
        st->body_kind = BODY_FORM;
        if (compile_kv(L, v, "form", &st->form, &st->n_form))
            return -1;
    } else if ((v = ytree_get(n, "multipart"))) {
        st->body_kind = BODY_MULTIPART;
        if (sc_compile_multipart(L, v, st))
            return -1;
    }

    const ynode_t *expect = ytree_get(n, "expect");
    if (!expect)
        expect = L->defaults_expect;
    if (expect && sc_expect_parse(L, expect, &st->expect))
        return -1;

    const ynode_t *save = ytree_get(n, "save");
    if (save && compile_saves(L, save, st, setup))
        return -1;
    if (st->expect.n_json_keys > 0 || st->expect.n_json_values > 0)
        st->needs_json = true;
    if (st->needs_json || st->expect.contains)
        st->needs_body = true;

    const ynode_t *timeout = ytree_get(n, "timeout");
    if (timeout && sc_seconds(L, timeout, "timeout", false, &st->timeout_s))
        return -1;
    const ynode_t *max_body = ytree_get(n, "max_body");
    if (max_body && sc_bytes(L, max_body, "max_body", &st->max_body_bytes))
        return -1;
    return 0;
}

/* ---- blocks: repeat, for_each, when ---------------------------------------------------- */

/* A mapping with `steps`, `repeat` or `for_each` is a block, not a request. */
static bool is_block(const ynode_t *n)
{
    return n->kind == YNODE_MAP &&
           (ytree_get(n, "steps") || ytree_get(n, "repeat") || ytree_get(n, "for_each"));
}

/* Entries a list of steps takes once flattened: a block is its STEP_BLOCK, its body and its
 * STEP_END. Counts exactly what compile_list fills (it stops at the first error). */
static size_t flat_count(const ynode_t *list, int depth)
{
    if (!list || list->kind != YNODE_SEQ || depth > SCENARIO_MAX_NESTING)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < list->n; i++)
        n += is_block(list->items[i])
                 ? 2 + flat_count(ytree_get(list->items[i], "steps"), depth + 1)
                 : 1;
    return n;
}

typedef struct flat {
    step_t *out;               /* the list's entries */
    size_t next, total;        /* next entry to fill; entries allocated */
    const ynode_t *class_headers;
    bool setup;
} flat_t;

static int compile_list(loader_t *L, const ynode_t *list, flat_t *f, uint32_t depth);

static int compile_block(loader_t *L, const ynode_t *n, flat_t *f, uint32_t depth)
{
    size_t h = f->next++;
    step_t *hd = &f->out[h];
    hd->kind = STEP_BLOCK;
    hd->line = n->line;
    hd->col = n->col;
    hd->row = UINT32_MAX;
    hd->depth = depth;
    for (size_t i = 0; i < n->n; i++) {
        const ynode_t *k = ytree_key(n, i);
        bool in_block = false;
        for (const char *const *b = block_keys; *b; b++)
            in_block = in_block || strcmp(*b, k->str) == 0;
        if (!in_block)
            return sc_fail(L, k, "'%s' does not go in a block (repeat, for_each, when, "
                                 "steps): put the request in its 'steps'", SC_SHOW(k->str));
        if (f->setup)
            return sc_fail(L, k, "'%s' is not supported in setup steps", k->str);
    }
    if (depth >= SCENARIO_MAX_NESTING)
        return sc_fail(L, n, "blocks nest more than %d deep", SCENARIO_MAX_NESTING);
    const ynode_t *repeat = ytree_get(n, "repeat"), *each = ytree_get(n, "for_each");
    const ynode_t *as = ytree_get(n, "as"), *steps = ytree_get(n, "steps");
    if (repeat && each)
        return sc_fail(L, each, "a block has 'repeat' or 'for_each', not both; nest one "
                                "block in the other");
    if (as && !each)
        return sc_fail(L, as, "'as' names the element of a 'for_each'; this block has none");
    if (!steps)
        return sc_fail(L, n, "block needs 'steps': the list of steps it runs");
    if (sc_list(L, steps, "steps", "steps"))
        return -1;
    if (steps->n == 0)
        return sc_fail(L, steps, "'steps' must list at least one step");
    hd->block = BLOCK_ONCE;
    if (repeat) {
        long long r;
        if (!ytree_integer(repeat, &r) || r < 0 || r > SCENARIO_MAX_REPEAT)
            return sc_fail(L, repeat, "'repeat' must be a whole number from 0 to %d, got %s",
                           SCENARIO_MAX_REPEAT, ytree_describe(repeat));
        hd->block = BLOCK_REPEAT;
        hd->repeat = (uint32_t)r;
    }
    if (each) {
        hd->block = BLOCK_FOR_EACH;
        if (compile_single_expr(L, each, "for_each", "\"{{ items }}\"", &hd->for_each))
            return -1;
        const char *name = "item";
        if (as) {
            if (as->kind != YNODE_SCALAR || sc_var_name(L, as, "for_each 'as'"))
                return as->kind != YNODE_SCALAR
                           ? sc_fail(L, as, "'as' must be a variable name, got %s",
                                     ytree_describe(as))
                           : -1;
            name = as->str;
        }
        tmpl_scope_t scope;
        if (!(hd->as = strdup(name)))
            return sc_oom(L, as ? as : n);
        if (sc_resolve_var(L, name, strlen(name), &scope, &hd->as_slot) ||
            scope != TMPL_SCOPE_USER)
            return sc_fail(L, as ? as : n, "internal error: for_each 'as' %s has no slot", name);
    }
    if (compile_when(L, n, f->setup, hd) || compile_list(L, steps, f, depth + 1))
        return -1;
    size_t e = f->next++;
    step_t *end = &f->out[e];
    hd = &f->out[h];
    end->kind = STEP_END;
    end->line = n->line;
    end->col = n->col;
    end->row = UINT32_MAX;
    end->depth = depth;
    end->end = (uint32_t)h;
    hd->end = (uint32_t)e;
    for (size_t i = h + 1; i < e && hd->row == UINT32_MAX; i++)
        if (f->out[i].kind == STEP_REQUEST)
            hd->row = f->out[i].row;
    if (hd->row == UINT32_MAX)
        return sc_fail(L, steps, "a block needs at least one request in its 'steps'");
    return 0;
}

static int compile_list(loader_t *L, const ynode_t *list, flat_t *f, uint32_t depth)
{
    for (size_t i = 0; i < list->n; i++) {
        const ynode_t *item = list->items[i];
        if (f->setup)
            L->visible_globals = L->sc->n_globals;
        if (f->next >= f->total) /* flat_count and this walk disagree: a bug, not input */
            return sc_fail(L, item, "internal error: step list miscounted");
        int rc = is_block(item) ? compile_block(L, item, f, depth)
                                : compile_step(L, item, &f->out[f->next++], f->class_headers,
                                               f->setup);
        if (rc)
            return -1;
    }
    return 0;
}

int sc_compile_steps(loader_t *L, const ynode_t *n, const char *key, bool need_one,
                     const ynode_t *class_headers, bool setup, step_t **out, size_t *n_out)
{
    if (sc_list(L, n, key, "steps"))
        return -1;
    if (need_one && n->n == 0)
        return sc_fail(L, n, "'%s' must list at least one step", key);
    size_t total = flat_count(n, 0);
    if (total == 0)
        return 0;
    L->n_steps += total;
    if (L->n_steps > SC_MAX_STEPS)
        return sc_fail(L, n, "more than %d steps in the file", SC_MAX_STEPS);
    *out = calloc(total, sizeof **out);
    if (!*out)
        return sc_oom(L, n);
    *n_out = total; /* zeroed steps free cleanly, however far compiling gets */
    flat_t f = {.out = *out, .total = total, .class_headers = class_headers, .setup = setup};
    return compile_list(L, n, &f, 0);
}
