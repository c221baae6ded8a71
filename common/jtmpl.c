/*
 * jtmpl — `json:` bodies compiled into a list of operations (contract: jtmpl.h).
 *
 * Compile walks the document once and writes every constant part (keys, numbers, literal
 * strings, punctuation) into one raw text, as compact JSON; consecutive constant parts merge
 * into one J_RAW operation. Each templated string leaf becomes a J_TEMPLATE operation,
 * rendered by tmpl_render_json: a single {{ expr }} keeps its value's type, text around
 * expressions becomes a JSON string. Rendering is then appends and template renders, with
 * nothing allocated but the output growing.
 *
 * What must stay true: J_RAW slices lie inside raw; each J_TEMPLATE template is owned by its
 * operation and is not a literal (literal leaves are raw text).
 */
#include "jtmpl.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

enum jop_kind { J_RAW, J_TEMPLATE };

typedef struct jop {
    uint8_t kind;
    uint32_t off, len; /* J_RAW: slice of raw */
    tmpl_t *t;         /* J_TEMPLATE: owned */
} jop_t;

struct jtmpl {
    jop_t *ops;  /* owned */
    size_t nops;
    char *raw;   /* owned: the constant JSON text between templated leaves */
    size_t raw_len;
};

/* One jtmpl_compile call: the result being built and where the walk is. */
typedef struct jbuild {
    jtmpl_t *j;     /* being built; its raw text is in raw until the end */
    size_t cap_ops; /* j->ops allocated */
    buf_t raw;
    tmpl_resolve_fn resolve;
    void *ctx;
    tmpl_error_t *err;
    char path[256]; /* where we are, "items[2].name" */
    size_t path_len;
} jbuild_t;

static int jfail(jbuild_t *b, const char *msg)
{
    if (b->err) {
        b->err->offset = 0;
        snprintf(b->err->message, sizeof b->err->message, "%s", msg);
    }
    return -1;
}

static int jraw(jbuild_t *b, const char *s, size_t n)
{
    jtmpl_t *j = b->j;
    if (j->nops && j->ops[j->nops - 1].kind == J_RAW &&
        j->ops[j->nops - 1].off + j->ops[j->nops - 1].len == b->raw.len) {
        j->ops[j->nops - 1].len += (uint32_t)n;
    } else {
        if (VEC_RESERVE(j->ops, b->cap_ops, j->nops + 1) < 0)
            return jfail(b, "out of memory");
        j->ops[j->nops++] = (jop_t){.kind = J_RAW, .off = (uint32_t)b->raw.len, .len = (uint32_t)n};
    }
    if (buf_append(&b->raw, s, n) < 0)
        return jfail(b, "out of memory");
    return 0;
}

static int jraw_string(jbuild_t *b, const char *s, size_t n)
{
    size_t before = b->raw.len;
    if (jraw(b, "\"", 1) < 0)
        return -1;
    if (buf_put_json_escaped(&b->raw, s, n) < 0)
        return jfail(b, "out of memory");
    b->j->ops[b->j->nops - 1].len += (uint32_t)(b->raw.len - before - 1);
    return jraw(b, "\"", 1);
}

static int jcompile(jbuild_t *b, const json_t *v);

/* Compile child under path + suffix, then restore the path. */
static int jchild(jbuild_t *b, const json_t *v, const char *fmt, const char *key, size_t index)
{
    size_t saved = b->path_len;
    int n = key ? snprintf(b->path + saved, sizeof b->path - saved, fmt, key)
                : snprintf(b->path + saved, sizeof b->path - saved, fmt, index);
    if (n > 0)
        b->path_len = saved + (size_t)n < sizeof b->path ? saved + (size_t)n : sizeof b->path - 1;
    int rc = jcompile(b, v);
    b->path_len = saved;
    b->path[saved] = '\0';
    return rc;
}

static int jcompile(jbuild_t *b, const json_t *v)
{
    char num[40];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *child;
        bool first = true;
        if (jraw(b, "{", 1) < 0)
            return -1;
        json_object_foreach((json_t *)v, key, child) {
            if ((!first && jraw(b, ",", 1) < 0) || jraw_string(b, key, strlen(key)) < 0 ||
                jraw(b, ":", 1) < 0)
                return -1;
            first = false;
            if (jchild(b, child, b->path_len ? ".%s" : "%s", key, 0) < 0)
                return -1;
        }
        return jraw(b, "}", 1);
    }
    case JSON_ARRAY:
        if (jraw(b, "[", 1) < 0)
            return -1;
        for (size_t i = 0; i < json_array_size(v); i++) {
            if ((i && jraw(b, ",", 1) < 0) || jchild(b, json_array_get(v, i), "[%zu]", NULL, i) < 0)
                return -1;
        }
        return jraw(b, "]", 1);
    case JSON_STRING: {
        tmpl_t *t;
        tmpl_error_t e;
        if (tmpl_compile(json_string_value(v), json_string_length(v), b->resolve, b->ctx, &t,
                         &e) < 0) {
            if (b->err) {
                b->err->offset = e.offset;
                snprintf(b->err->message, sizeof b->err->message, "%.170s (in json field '%.60s')",
                         e.message, b->path_len ? b->path : "$");
            }
            return -1;
        }
        if (tmpl_is_literal(t)) {
            tmpl_free(t);
            return jraw_string(b, json_string_value(v), json_string_length(v));
        }
        jtmpl_t *j = b->j;
        if (VEC_RESERVE(j->ops, b->cap_ops, j->nops + 1) < 0) {
            tmpl_free(t);
            return jfail(b, "out of memory");
        }
        j->ops[j->nops++] = (jop_t){.kind = J_TEMPLATE, .t = t};
        return 0;
    }
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return jraw(b, num, strlen(num));
    case JSON_REAL:
        if (tmpl_format_number(json_real_value(v), num, sizeof num) < 0)
            return jfail(b, "a number in the json body is not finite");
        return jraw(b, num, strlen(num));
    case JSON_TRUE:
        return jraw(b, "true", 4);
    case JSON_FALSE:
        return jraw(b, "false", 5);
    default:
        return jraw(b, "null", 4);
    }
}

void jtmpl_free(jtmpl_t *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->nops; i++)
        tmpl_free(j->ops[i].t);
    free(j->ops);
    free(j->raw);
    free(j);
}

int jtmpl_compile(const json_t *doc, tmpl_resolve_fn resolve, void *ctx, jtmpl_t **out,
                  tmpl_error_t *err)
{
    jbuild_t b = {.resolve = resolve, .ctx = ctx, .err = err};
    *out = NULL;
    buf_init(&b.raw);
    b.j = calloc(1, sizeof *b.j);
    if (!b.j)
        return jfail(&b, "out of memory");
    if (!doc || jcompile(&b, doc) < 0) {
        if (!doc)
            jfail(&b, "no json document");
        buf_free(&b.raw);
        jtmpl_free(b.j);
        return -1;
    }
    b.j->raw = b.raw.data; /* ownership moves to the jtmpl */
    b.j->raw_len = b.raw.len;
    *out = b.j;
    return 0;
}

int jtmpl_render(const jtmpl_t *j, const tmpl_env_t *env, buf_t *out, char *err, size_t errlen)
{
    size_t start = out->len;
    int rc = 0;
    for (size_t i = 0; i < j->nops && rc == 0; i++) {
        const jop_t *op = &j->ops[i];
        if (op->kind == J_TEMPLATE) {
            rc = tmpl_render_json(op->t, env, out, err, errlen);
        } else if (buf_append(out, j->raw + op->off, op->len) < 0) {
            if (err && errlen)
                snprintf(err, errlen, "out of memory");
            rc = -1;
        }
    }
    if (rc < 0) { /* leave no partial body behind */
        out->len = start;
        if (out->cap)
            out->data[start] = '\0';
    }
    return rc;
}
