/*
 * template — the `{{ expr }}` language of scenario files, compiled once at load and rendered
 * per request without re-parsing (see ../shared/SCENARIOS.md, "Templates").
 *
 * An expression is a variable, a number, a quoted string, arithmetic (+ - * /, parentheses)
 * or a function call: uuid() random_string(n[, alphabet]) random_int(a, b)
 * random_float(a, b, digits) choice(x, ...) pick(list) env(NAME) now(), and the built-in names
 * user_id, worker_id, iteration. Numbers print in the shortest form that reads back the same.
 *
 * Variables are resolved at compile time through a callback to a (scope, slot) pair, so an
 * unknown variable is a load-time error and rendering is an array lookup. Variable values are
 * jansson values (json_t *): saved from JSON responses, or `vars` from the file.
 *
 * Also here: jtmpl (a JSON document whose string leaves are templates, for `json:` bodies)
 * and jpath (the `save:` paths `key`, `a.b`, `list[0]`, `$`).
 *
 * Thread: compiled objects are immutable and shared by every engine thread; all mutable
 * state (rng, output buffer, variables) comes in through tmpl_env_t and buf_t.
 */
#ifndef HERD_TEMPLATE_H
#define HERD_TEMPLATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef enum tmpl_scope {
    TMPL_SCOPE_GLOBAL = 0,  /* `vars` and `setup` saves: shared, read-only while users run */
    TMPL_SCOPE_USER = 1,    /* saved by this user's own steps */
} tmpl_scope_t;

/* Resolve a variable name to its slot. Returns 0 if known, -1 if nothing defines it. */
typedef int (*tmpl_resolve_fn)(void *ctx, const char *name, size_t len, tmpl_scope_t *scope,
                               uint32_t *slot);

/* A compile error: offset is the byte offset in the source string where it was found. */
typedef struct tmpl_error {
    size_t offset;
    char message[256];
} tmpl_error_t;

/* Everything rendering needs that changes per user / per request. */
typedef struct tmpl_env {
    json_t *const *globals;   /* indexed by TMPL_SCOPE_GLOBAL slot; NULL entry = not set yet */
    json_t *const *user_vars; /* indexed by TMPL_SCOPE_USER slot; NULL entry = not saved yet */
    uint64_t user_id;         /* the user's number on this worker, from 1 */
    const char *worker_id;    /* the worker's UUID */
    uint64_t iteration;       /* tasks this user has started, from 1 */
    uint64_t *rng;            /* xorshift64* state, never 0; the caller's (one per engine) */
} tmpl_env_t;

typedef struct tmpl tmpl_t;

/* Compile src (len bytes; need not be NUL-terminated). On error returns -1 and fills err. */
int tmpl_compile(const char *src, size_t len, tmpl_resolve_fn resolve, void *ctx,
                 tmpl_t **out, tmpl_error_t *err);
void tmpl_free(tmpl_t *t);

/* True when the template has no {{ }}: its text is returned by tmpl_literal. */
bool tmpl_is_literal(const tmpl_t *t);
const char *tmpl_literal(const tmpl_t *t, size_t *len);
/* True when the whole template is exactly one {{ expr }} with no text around it. */
bool tmpl_is_single_expr(const tmpl_t *t);

/* Append the rendering to out. On a runtime error (pick() on an empty list, a string that is
 * not a number in arithmetic, a variable not saved yet...) returns -1 with a one-line
 * message in err, e.g. "pick() on an empty list 'players'". */
int tmpl_render(const tmpl_t *t, const tmpl_env_t *env, buf_t *out, char *err, size_t errlen);
/* Evaluate to a typed value (new reference): for a single-expression template, the
 * expression's value (number, string, or the saved JSON value); otherwise the rendered
 * string. */
int tmpl_eval(const tmpl_t *t, const tmpl_env_t *env, json_t **out, char *err, size_t errlen);

/* Format a number the shortest way that reads back the same ("12.34", "3", "1e+21"). */
int tmpl_format_number(double v, char *out, size_t outlen);

/* xorshift64* step; seeds must be nonzero. */
uint64_t tmpl_rng_next(uint64_t *state);

/* ---- jtmpl: JSON bodies --------------------------------------------------------------- */

typedef struct jtmpl jtmpl_t;

/* Build from a jansson value in which every string leaf is compiled as a template (object
 * keys are literal). On error returns -1; err->offset is meaningless, err_path names the
 * leaf ("lister"), so the parser can point at it. */
int jtmpl_compile(const json_t *doc, tmpl_resolve_fn resolve, void *ctx, jtmpl_t **out,
                  tmpl_error_t *err);
void jtmpl_free(jtmpl_t *j);
/* Append the JSON text. A string leaf that is a single {{ expr }} keeps its value's type
 * (a number stays a number); any other string leaf renders as a JSON string. */
int jtmpl_render(const jtmpl_t *j, const tmpl_env_t *env, buf_t *out, char *err, size_t errlen);

/* ---- jpath: save paths ---------------------------------------------------------------- */

typedef struct jpath jpath_t;

/* `$` (whole document), `key`, `a.b`, `list[0]`, `a.list[2].b`. -1 + err on a bad path. */
int jpath_compile(const char *src, jpath_t **out, tmpl_error_t *err);
void jpath_free(jpath_t *p);
/* Borrowed reference into doc, or NULL when the path is missing. */
json_t *jpath_get(const jpath_t *p, json_t *doc);
const char *jpath_source(const jpath_t *p);

#endif
