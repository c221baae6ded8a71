/*
 * template — the `{{ expr }}` language of scenario files, compiled once at load and rendered
 * per request without re-parsing (see scenarios/README.md, "Templates").
 *
 * An expression is a variable, a number, a quoted string, true, false, null, arithmetic
 * (+ - * /, parentheses), a comparison (== != < <= > >=), logic (and or not), a member or
 * element of a saved value (item.id, list[0]) or a function call: uuid()
 * random_string(n[, alphabet]) random_int(a, b) random_float(a, b, digits) choice(x, ...)
 * pick(list) env(NAME) now(), and the built-in names user_id, worker_id, iteration.
 * Precedence, loosest first: or, and, not, comparisons, + -, * /, unary minus, .name/[i].
 * Numbers print in the shortest form that reads back the same.
 *
 * Variables are resolved at compile time through a callback to a (scope, slot) pair, so an
 * unknown variable is a load-time error and rendering is an array lookup. Variable values are
 * jansson values (json_t *): saved from JSON responses, or `vars` from the file.
 *
 * Compiling is template_compile.c, rendering and evaluating template_eval.c. JSON bodies whose
 * string leaves are templates are jtmpl.h; the `save:` paths are jpath.h.
 *
 * Thread: compiled objects are immutable and shared by every engine thread; all mutable
 * state (rng, output buffer, variables) comes in through tmpl_env_t and buf_t (with no rng
 * given, a generator private to the calling thread is used).
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

/* A compile error: offset is the byte offset in the source string where it was found. Also
 * the error of jtmpl_compile and jpath_compile, so the scenario loader reports all three the
 * same way (FILE:LINE:COLUMN). */
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
    uint64_t *rng;            /* rng.h state, the caller's (one per engine thread); NULL: a
                                 generator of the calling thread, seeded from the clock */
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
/* The first byte of the template's literal text (outside {{ }}) for which match is true:
 * true with its offset in the source, or false when there is none. */
bool tmpl_text_find(const tmpl_t *t, bool (*match)(unsigned char ch), size_t *offset);

/* Append the rendering to out. On a runtime error (pick() on an empty list, a string that is
 * not a number in arithmetic, a variable not saved yet...) returns -1 with a one-line
 * message in err, e.g. "pick() on an empty list 'players'". */
int tmpl_render(const tmpl_t *t, const tmpl_env_t *env, buf_t *out, char *err, size_t errlen);
/* Append the rendering as one JSON value: a single {{ expr }} keeps its value's type (a
 * number stays a number, a saved list stays a list, a string is quoted); any other template
 * renders as a JSON string. Errors as tmpl_render; nothing is left behind on error. */
int tmpl_render_json(const tmpl_t *t, const tmpl_env_t *env, buf_t *out, char *err,
                     size_t errlen);
/* Evaluate to a typed value (new reference): for a single-expression template, the
 * expression's value (number, string, or the saved JSON value); otherwise the rendered
 * string. */
int tmpl_eval(const tmpl_t *t, const tmpl_env_t *env, json_t **out, char *err, size_t errlen);

/* The truth of a single-expression template (a `when:`), evaluated without allocating:
 * false, null, 0, "" and an empty list or object are false, anything else true. Errors as
 * tmpl_render. */
int tmpl_truth(const tmpl_t *t, const tmpl_env_t *env, bool *out, char *err, size_t errlen);

/* Format a number the shortest way that reads back the same ("12.34", "3", "1e+21"). */
int tmpl_format_number(double v, char *out, size_t outlen);

#endif
