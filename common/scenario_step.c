/*
 * scenario_step — one step of a scenario compiled into a step_t: its request (method, path or
 * URL, headers merged over the class's and the defaults', query, one body), its expectations,
 * what it saves, and its stats row; or a sleep.
 *
 * A step is the largest part of the language, so it has its own file; scenario.c calls
 * sc_compile_steps for every list of steps. Templates are compiled here, once, against the
 * slots scenario_vars.c gives; nothing is rendered.
 *
 * What must stay true: a compiled step owns everything it points to (sc_step_free releases a
 * step however far its compilation got: counts are raised as items are filled); setup steps
 * have no row (row == UINT32_MAX) and save into GLOBAL slots; stats rows are distinct
 * (method, name) pairs in the order steps appear in the file. The language is described in
 * scenarios/README.md.
 */
#include "scenario_internal.h"

#include <ctype.h>
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
    "query", "json", "body", "form", "multipart", "expect", "save", "timeout", "max_body", NULL,
};
static const char *const expect_keys[] = {"status", "json", "contains", NULL};

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
    for (size_t i = 0; i < st->n_saves; i++) {
        free(st->saves[i].var);
        if (st->saves[i].path)
            jpath_free(st->saves[i].path);
    }
    free(st->saves);
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
    if (keys) {
        /* One key alone is accepted as well as a list. */
        const ynode_t *const *items = keys->kind == YNODE_SEQ
                                          ? (const ynode_t *const *)keys->items
                                          : (const ynode_t *const *)&keys;
        size_t count = keys->kind == YNODE_SEQ ? keys->n : 1;
        if (keys->kind == YNODE_MAP)
            return sc_fail(L, keys, "expect 'json' must be a list of keys, got a mapping");
        ex->json_keys = calloc(count ? count : 1, sizeof *ex->json_keys);
        if (!ex->json_keys)
            return sc_oom(L, keys);
        for (size_t i = 0; i < count; i++) {
            const ynode_t *k = items[i];
            if (k->kind != YNODE_SCALAR || ytree_is_null(k))
                return sc_fail(L, k, "expect 'json' must be a list of keys, got %s in it",
                               ytree_describe(k));
            tmpl_error_t e;
            memset(&e, 0, sizeof e);
            ex->n_json_keys = i + 1;
            if (jpath_compile(k->str, &ex->json_keys[i], &e)) {
                ex->json_keys[i] = NULL;
                return sc_fail_within(L, k, e.offset, "bad JSON path '%s': %s",
                                      SC_SHOW(k->str), e.message[0] ? e.message : "cannot parse");
            }
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
        if (v->kind != YNODE_SCALAR || ytree_is_null(v))
            return sc_fail(L, v, "save '%s' needs a JSON path like key, a.b, list[0] or $, "
                                 "got %s", SC_SHOW(k->str), ytree_describe(v));
        sv->var = strdup(k->str);
        if (!sv->var)
            return sc_oom(L, k);
        tmpl_error_t e;
        memset(&e, 0, sizeof e);
        if (jpath_compile(v->str, &sv->path, &e)) {
            sv->path = NULL;
            return sc_fail_within(L, v, e.offset, "bad JSON path '%s': %s", SC_SHOW(v->str),
                                  e.message[0] ? e.message : "cannot parse");
        }
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
        if (k != sleep_key && strcmp(k->str, "name") != 0)
            return sc_fail(L, k, "'%s' does not apply to a sleep step", SC_SHOW(k->str));
    }
    return sc_seconds(L, ytree_get(n, "sleep"), "sleep", true, &st->sleep_s);
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

    st->kind = STEP_REQUEST;
    st->method = (http_method_t)method;
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
    st->needs_json = st->n_saves > 0 || st->expect.n_json_keys > 0;

    const ynode_t *timeout = ytree_get(n, "timeout");
    if (timeout && sc_seconds(L, timeout, "timeout", false, &st->timeout_s))
        return -1;
    const ynode_t *max_body = ytree_get(n, "max_body");
    if (max_body && sc_bytes(L, max_body, "max_body", &st->max_body_bytes))
        return -1;
    return 0;
}

int sc_compile_steps(loader_t *L, const ynode_t *n, const char *key, bool need_one,
                     const ynode_t *class_headers, bool setup, step_t **out, size_t *n_out)
{
    if (sc_list(L, n, key, "steps"))
        return -1;
    if (need_one && n->n == 0)
        return sc_fail(L, n, "'%s' must list at least one step", key);
    if (n->n == 0)
        return 0;
    L->n_steps += n->n;
    if (L->n_steps > SC_MAX_STEPS)
        return sc_fail(L, n, "more than %d steps in the file", SC_MAX_STEPS);
    *out = calloc(n->n, sizeof **out);
    if (!*out)
        return sc_oom(L, n);
    for (size_t i = 0; i < n->n; i++) {
        *n_out = i + 1;
        if (setup)
            L->visible_globals = L->sc->n_globals;
        if (compile_step(L, n->items[i], &(*out)[i], class_headers, setup))
            return -1;
    }
    return 0;
}
