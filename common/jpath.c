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

#include <errno.h>
#include <math.h>
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

/* ---- jpath_scan: the paths' values found in the text, nothing built -------------------- */

#define SCAN_MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH */

typedef struct scan {
    const unsigned char *p, *end, *start;
    const jpath_t *const *paths;
    jspan_t *spans;
} scan_t;

static void skip_ws(scan_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hex4(const unsigned char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

/* One UTF-8 sequence at s->p (first byte >= 0x80), as jansson's utf8_check_full judges it. */
static int scan_utf8(scan_t *s)
{
    unsigned c = *s->p, n, v;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 1;
        v = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 2;
        v = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 3;
        v = c & 0x07;
    } else {
        return -1;
    }
    if ((size_t)(s->end - s->p) <= n)
        return -1;
    for (unsigned i = 1; i <= n; i++) {
        unsigned b = s->p[i];
        if (b < 0x80 || b > 0xbf)
            return -1;
        v = v << 6 | (b & 0x3f);
    }
    if ((n == 2 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))) ||
        (n == 3 && (v < 0x10000 || v > 0x10ffff)))
        return -1;
    s->p += n + 1;
    return 0;
}

/* A string at s->p (on its '"'); *has_nul when it holds \u0000. Leaves s->p past it. */
static int scan_string(scan_t *s, const unsigned char **body, size_t *body_len, bool *raw,
                       bool *has_nul)
{
    s->p++;
    *body = s->p;
    *raw = true;   /* no escape: the key's bytes are its text */
    *has_nul = false;
    while (s->p < s->end) {
        unsigned c = *s->p;
        if (c == '"') {
            *body_len = (size_t)(s->p - *body);
            s->p++;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c >= 0x80) {
            if (scan_utf8(s) < 0)
                return -1;
            continue;
        }
        if (c != '\\') {
            s->p++;
            continue;
        }
        *raw = false;
        if (s->end - s->p < 2)
            return -1;
        c = s->p[1];
        if (c != 'u') {
            if (!strchr("\"\\/bfnrt", (int)c) || c == 0)
                return -1;
            s->p += 2;
            continue;
        }
        unsigned u, lo;
        if (s->end - s->p < 6 || hex4(s->p + 2, &u) < 0)
            return -1;
        s->p += 6;
        if (u >= 0xdc00 && u <= 0xdfff)
            return -1;
        if (u >= 0xd800 && u <= 0xdbff) {
            if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' ||
                hex4(s->p + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
                return -1;
            s->p += 6;
        }
        if (u == 0)
            *has_nul = true;
    }
    return -1;
}

/* A number, as jansson's lexer reads it: an integer must fit a long long, a real be finite. */
static int scan_number(scan_t *s)
{
    const unsigned char *b = s->p, *p = s->p;
    bool real = false;
    if (p < s->end && *p == '-')
        p++;
    if (p == s->end || *p < '0' || *p > '9')
        return -1;
    if (*p == '0') {
        p++;
        if (p < s->end && *p >= '0' && *p <= '9')
            return -1;
    } else {
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < s->end && *p == '.') {
        real = true;
        p++;
        if (p == s->end || *p < '0' || *p > '9')
            return -1;
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < s->end && (*p == 'e' || *p == 'E')) {
        real = true;
        p++;
        if (p < s->end && (*p == '+' || *p == '-'))
            p++;
        if (p == s->end || *p < '0' || *p > '9')
            return -1;
        while (p < s->end && *p >= '0' && *p <= '9')
            p++;
    }
    s->p = p;
    size_t n = (size_t)(p - b);
    size_t digits = n - (*b == '-');
    if (!real && digits < 19)
        return 0; /* fits a long long: nothing to convert */
    char tmp[64], *copy = n < sizeof tmp ? tmp : malloc(n + 1);
    if (!copy)
        return -1;
    memcpy(copy, b, n);
    copy[n] = '\0';
    errno = 0;
    int rc = 0;
    if (real) {
        double v = strtod(copy, NULL);
        if ((v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE)
            rc = -1;
    } else {
        (void)strtoll(copy, NULL, 10);
        if (errno == ERANGE)
            rc = -1;
    }
    if (copy != tmp)
        free(copy);
    return rc;
}

static int scan_value(scan_t *s, uint64_t active, size_t depth);

/* Paths of `active` whose step at `depth` is the key body[0, len) (raw: no escapes). */
static uint64_t match_key(const scan_t *s, uint64_t active, size_t depth,
                          const unsigned char *body, size_t len, bool raw)
{
    uint64_t next = 0;
    for (uint64_t a = active; a; a &= a - 1) {
        size_t i = (size_t)__builtin_ctzll(a);
        const jpath_t *jp = s->paths[i];
        if (depth >= jp->nsteps || !jp->steps[depth].key)
            continue;
        const char *k = jp->steps[depth].key;
        if (raw) {
            if (strlen(k) == len && memcmp(k, body, len) == 0)
                next |= 1ull << i;
            continue;
        }
        /* An escaped key: decode it (the rare case) and compare. */
        char tmp[256];
        if (len >= sizeof tmp)
            continue; /* longer escaped keys than any path's key are not worth a buffer */
        json_t *str = NULL;
        char quoted[sizeof tmp + 2];
        quoted[0] = '"';
        memcpy(quoted + 1, body, len);
        quoted[len + 1] = '"';
        str = json_loadb(quoted, len + 2, JSON_DECODE_ANY, NULL);
        if (str && json_is_string(str) && strlen(k) == json_string_length(str) &&
            memcmp(k, json_string_value(str), json_string_length(str)) == 0)
            next |= 1ull << i;
        json_decref(str);
    }
    return next;
}

/* The value at s->p (whitespace skipped); `here` are the paths whose every step up to depth
 * matched where this value sits: a path that ends here gets its span, the others go on. */
static int scan_at(scan_t *s, uint64_t here, size_t depth)
{
    uint64_t deeper = 0;
    for (uint64_t a = here; a; a &= a - 1) {
        size_t i = (size_t)__builtin_ctzll(a);
        s->spans[i] = (jspan_t){ 0, 0 }; /* a repeated key replaces what came before */
        if (s->paths[i]->nsteps > depth)
            deeper |= 1ull << i;
    }
    const unsigned char *b = s->p;
    if (scan_value(s, deeper, depth) < 0)
        return -1;
    for (uint64_t a = here & ~deeper; a; a &= a - 1) {
        size_t i = (size_t)__builtin_ctzll(a);
        s->spans[i] = (jspan_t){ (size_t)(b - s->start), (size_t)(s->p - b) };
    }
    return 0;
}

static int scan_value(scan_t *s, uint64_t active, size_t depth)
{
    skip_ws(s);
    if (s->p == s->end)
        return -1;
    unsigned c = *s->p;
    if (c == '{' || c == '[') {
        if (depth + 1 > SCAN_MAX_DEPTH)
            return -1;
        bool obj = c == '{';
        unsigned close = obj ? '}' : ']';
        s->p++;
        skip_ws(s);
        if (s->p < s->end && *s->p == close) {
            s->p++;
            return 0;
        }
        for (size_t index = 0;; index++) {
            uint64_t here = 0;
            skip_ws(s);
            if (obj) {
                const unsigned char *body;
                size_t blen;
                bool raw, nul;
                if (s->p == s->end || *s->p != '"' || scan_string(s, &body, &blen, &raw, &nul) < 0 ||
                    nul)
                    return -1;
                skip_ws(s);
                if (s->p == s->end || *s->p != ':')
                    return -1;
                s->p++;
                skip_ws(s);
                if (active)
                    here = match_key(s, active, depth, body, blen, raw);
            } else {
                for (uint64_t a = active; a; a &= a - 1) {
                    size_t i = (size_t)__builtin_ctzll(a);
                    const jstep_t *st = &s->paths[i]->steps[depth];
                    if (!st->key && st->index == index)
                        here |= 1ull << i;
                }
            }
            if (scan_at(s, here, depth + 1) < 0)
                return -1;
            skip_ws(s);
            if (s->p == s->end)
                return -1;
            if (*s->p == ',') {
                s->p++;
                continue;
            }
            if (*s->p != close)
                return -1;
            s->p++;
            return 0;
        }
    }
    if (c == '"') {
        const unsigned char *body;
        size_t blen;
        bool raw, nul;
        return scan_string(s, &body, &blen, &raw, &nul);
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return scan_number(s);
    static const char *const words[] = { "true", "false", "null" };
    for (size_t i = 0; i < 3; i++) {
        size_t wl = strlen(words[i]);
        if ((size_t)(s->end - s->p) >= wl && memcmp(s->p, words[i], wl) == 0) {
            s->p += wl;
            /* jansson reads a word as all its letters: "truex" is no word */
            if (s->p < s->end && ((*s->p | 0x20) >= 'a' && (*s->p | 0x20) <= 'z'))
                return -1;
            return 0;
        }
    }
    return -1;
}

int jpath_scan(const char *buf, size_t len, const jpath_t *const *paths, size_t n,
               jspan_t *spans)
{
    if (n > JPATH_SCAN_MAX)
        return -1;
    scan_t s = { .p = (const unsigned char *)buf, .end = (const unsigned char *)buf + len,
                 .start = (const unsigned char *)buf, .paths = paths, .spans = spans };
    uint64_t all = n == 64 ? ~0ull : (1ull << n) - 1;
    skip_ws(&s);
    if (scan_at(&s, all, 0) < 0)
        return -1;
    skip_ws(&s);
    return s.p == s.end ? 0 : -1;
}
