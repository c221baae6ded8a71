/*
 * jpath — the `save:` paths of scenario files (contract: jpath.h).
 *
 * Grammar: `$` alone is the whole document; otherwise an optional `$` or `$.` prefix, then
 * segments: a key (any characters but `.`, `[` and `]`) or an index `[N]` (decimal digits),
 * keys separated by `.` and indexes following directly: `key`, `a.b`, `list[0]`,
 * `a.list[2].b`, `[0].id`, `matrix[1][0]`. Compiled once into a list of steps so that
 * jpath_get is a walk with no parsing.
 *
 * What must stay true: a compiled path owns its source copy and every key; an index is at
 * most JPATH_MAX_INDEX, so the decimal parse cannot overflow.
 */
#include "jpath.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

#define JPATH_MAX_INDEX 1000000000u

typedef struct jstep {
    char *key;      /* owned; NULL for an index step */
    size_t index;
} jstep_t;

struct jpath {
    char *src;      /* owned copy of the path as written */
    jstep_t *steps; /* owned; none for `$` */
    size_t nsteps;
    size_t cap;     /* steps allocated */
};

/* The message does not repeat the path: callers quote it ("bad JSON path 'a..b': ..."). */
static int jp_fail(tmpl_error_t *err, size_t off, const char *msg, const char *src)
{
    (void)src;
    if (err) {
        err->offset = off;
        snprintf(err->message, sizeof err->message, "%s", msg);
    }
    return -1;
}

void jpath_free(jpath_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nsteps; i++)
        free(p->steps[i].key);
    free(p->steps);
    free(p->src);
    free(p);
}

static int add_step(jpath_t *p, jstep_t s)
{
    if (VEC_RESERVE(p->steps, p->cap, p->nsteps + 1) < 0)
        return -1;
    p->steps[p->nsteps++] = s;
    return 0;
}

static int parse(jpath_t *p, const char *src, tmpl_error_t *err)
{
    size_t i = 0, len = strlen(src);
    if (len == 0)
        return jp_fail(err, 0, "empty path (use '$' for the whole body)", src);
    if (src[0] == '$') {
        i = 1;
        if (i == len)
            return 0;
        if (src[i] == '.')
            i++;
        else if (src[i] != '[')
            return jp_fail(err, i, "expected '.' or '[' after '$'", src);
    }
    bool need_key = i > 0 && src[i - 1] == '.';
    for (;;) {
        if (i == len) {
            if (need_key)
                return jp_fail(err, i, "expected a key after '.'", src);
            return 0;
        }
        if (src[i] == '[' && !need_key) {
            size_t start = ++i;
            size_t index = 0;
            while (i < len && src[i] >= '0' && src[i] <= '9') {
                index = index * 10 + (size_t)(src[i] - '0');
                if (index > JPATH_MAX_INDEX)
                    return jp_fail(err, start, "index too large", src);
                i++;
            }
            if (i == start)
                return jp_fail(err, start, "expected a number inside '[ ]'", src);
            if (i == len || src[i] != ']')
                return jp_fail(err, i, "expected ']'", src);
            i++;
            if (add_step(p, (jstep_t){.index = index}) < 0)
                return jp_fail(err, 0, "out of memory", src);
        } else {
            size_t start = i;
            while (i < len && src[i] != '.' && src[i] != '[' && src[i] != ']')
                i++;
            if (i == start)
                return jp_fail(err, i, need_key ? "expected a key after '.'"
                                                : "expected a key", src);
            if (i < len && src[i] == ']')
                return jp_fail(err, i, "unexpected ']'", src);
            char *key = strndup(src + start, i - start);
            if (!key || add_step(p, (jstep_t){.key = key}) < 0) {
                free(key);
                return jp_fail(err, 0, "out of memory", src);
            }
        }
        need_key = false;
        if (i < len && src[i] == '.') {
            i++;
            need_key = true;
        } else if (i < len && src[i] != '[') {
            return jp_fail(err, i, "expected '.' or '['", src);
        }
    }
}

int jpath_compile(const char *src, jpath_t **out, tmpl_error_t *err)
{
    *out = NULL;
    jpath_t *p = calloc(1, sizeof *p);
    if (!p || !(p->src = strdup(src))) {
        free(p);
        return jp_fail(err, 0, "out of memory", src);
    }
    if (parse(p, src, err) < 0) {
        jpath_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

json_t *jpath_get(const jpath_t *p, json_t *doc)
{
    json_t *cur = doc;
    for (size_t i = 0; cur && i < p->nsteps; i++) {
        const jstep_t *s = &p->steps[i];
        if (s->key)
            cur = json_is_object(cur) ? json_object_get(cur, s->key) : NULL;
        else
            cur = json_is_array(cur) ? json_array_get(cur, s->index) : NULL;
    }
    return cur;
}

const char *jpath_source(const jpath_t *p) { return p->src; }
