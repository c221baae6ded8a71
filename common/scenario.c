/*
 * scenario — loads a scenario file (../shared/SCENARIOS.md) into the immutable scenario_t the
 * engines run and the master dispatches.
 *
 * Two passes. First, libyaml's event stream becomes a small tree (ynode_t) that keeps every
 * node's 1-based line and column; building our own tree rather than using libyaml's document
 * API lets us reject aliases (a recursive or exponential alias would hang the checks) and
 * duplicate keys at the point they occur. Second, the compiler walks that tree: checks keys
 * (suggesting the nearest valid one), types and ranges, gives every variable its slot, and
 * compiles every template through template.h with a resolver over those slots, so an unknown
 * variable or function is a load-time error with a position.
 *
 * The first problem stops the load with one line, "FILE:LINE:COLUMN: message"; the partly
 * built scenario is freed and nothing is returned.
 */
#include "scenario.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "cli.h"

#define SCENARIO_MAX_BYTES ((size_t)16 << 20)  /* a scenario is a page of YAML, not a dataset */
#define YNODE_MAX_DEPTH 64                     /* deeper nesting is garbage or an attack */
#define DEFAULT_TIMEOUT_S 60.0
/* Bounds that keep the checks' linear searches (duplicate keys, rows, variable names) far from
 * quadratic blow-ups on hostile input; real scenarios stay orders of magnitude below them. */
#define MAX_MAP_KEYS 4096
#define MAX_STEPS 10000
#define MAX_CLASSES 1000
#define MAX_VARS 1024

const char *const http_method_names[HTTP_METHOD_COUNT] = {
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS",
};

/* The step keys naming a method, in http_method_t order. */
static const char *const method_keys[HTTP_METHOD_COUNT] = {
    "get", "post", "put", "patch", "delete", "head", "options",
};

/* Names the template language defines itself; a variable may not take them. */
static const char *const builtin_names[] = {"user_id", "worker_id", "iteration", NULL};

static const char *const top_keys[] = {
    "description", "host", "defaults", "vars", "setup", "users", "stages", "thresholds", NULL,
};
static const char *const defaults_keys[] = {"headers", "timeout", "expect", NULL};
static const char *const class_keys[] = {
    "name", "weight", "fixed_count", "host", "headers", "wait", "on_start", "on_stop", "tasks",
    "sequential", NULL,
};
static const char *const task_keys[] = {"name", "weight", "tags", "steps", NULL};
static const char *const step_keys[] = {
    "get", "post", "put", "patch", "delete", "head", "options", "sleep", "name", "headers",
    "query", "json", "body", "form", "expect", "save", "timeout", NULL,
};
static const char *const expect_keys[] = {"status", "json", "contains", NULL};
static const char *const wait_keys[] = {"constant", "between", "pacing", "throughput", NULL};

/* ---- YAML tree ------------------------------------------------------------------------- */

typedef enum ykind { Y_SCALAR, Y_SEQ, Y_MAP } ykind_t;

typedef struct ynode {
    ykind_t kind;
    int line, col;          /* 1-based start of the node (a quoted scalar: its opening quote) */
    char *str;              /* Y_SCALAR: text, NUL-terminated, no NUL inside; owned */
    size_t len;
    bool plain;             /* plain style, no explicit !!str: may be a number, bool or null */
    bool quoted;            /* single- or double-quoted: text starts one column after col */
    bool block;             /* literal (|) or folded (>): text starts on the next line */
    bool await_value;       /* Y_MAP being built: items[2n] is a key waiting for its value */
    struct ynode **items;   /* Y_SEQ: n items; Y_MAP: key 2i, value 2i+1 (n pairs); owned */
    size_t n, cap;          /* n counts items for Y_SEQ, pairs for Y_MAP; cap counts slots */
} ynode_t;

static ynode_t *ymap_key(const ynode_t *m, size_t i) { return m->items[2 * i]; }
static ynode_t *ymap_val(const ynode_t *m, size_t i) { return m->items[2 * i + 1]; }

static void ynode_free(ynode_t *n)
{
    if (!n)
        return;
    size_t slots = n->kind == Y_MAP ? 2 * n->n : n->n;
    for (size_t i = 0; i < slots; i++)
        ynode_free(n->items[i]);
    if (n->await_value)
        ynode_free(n->items[slots]);
    free(n->items);
    free(n->str);
    free(n);
}

/* ---- loader state and errors ------------------------------------------------------------ */

typedef struct loader {
    const char *file;               /* for messages */
    const char *text;               /* the whole source, for columns inside block scalars */
    size_t len;
    char *err;
    size_t errlen;
    scenario_t *sc;                 /* being built; freed by the caller on error */
    const ynode_t *defaults_headers;   /* mapping or NULL */
    const ynode_t *defaults_expect;    /* mapping or NULL */
    uint32_t n_var_globals;         /* global slots [0, n) come from `vars` */
    uint32_t visible_globals;       /* the resolver sees global slots [0, visible) */
    size_t n_steps;                 /* steps compiled so far, against MAX_STEPS */
    user_class_t *uc;               /* the resolver's USER names; NULL while compiling setup */
    size_t rows_cap;
} loader_t;

static void one_line(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r' || *s == '\t')
            *s = ' ';
}

static int vfail_at(loader_t *L, int line, int col, const char *fmt, va_list ap)
{
    char msg[768];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (L->errlen) {
        snprintf(L->err, L->errlen, "%s:%d:%d: %s", L->file, line, col, msg);
        one_line(L->err);
    }
    return -1;
}

__attribute__((format(printf, 4, 5)))
static int fail_at(loader_t *L, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at(L, line, col, fmt, ap);
    va_end(ap);
    return -1;
}

__attribute__((format(printf, 3, 4)))
static int fail(loader_t *L, const ynode_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at(L, n ? n->line : 1, n ? n->col : 1, fmt, ap);
    va_end(ap);
    return -1;
}

static int fail_oom(loader_t *L, const ynode_t *n) { return fail(L, n, "out of memory"); }

/* User text quoted in a message: short, printable. */
static const char *show_text(const char *s, char *buf, size_t cap)
{
    size_t i = 0, max = cap - 4;
    for (; s[i] && i < max; i++)
        buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (s[i])
        memcpy(buf + i, "...", 3), i += 3;
    buf[i] = '\0';
    return buf;
}
#define SHOW(s) show_text((s), (char[72]){0}, 72)

/* ---- scalar kinds ----------------------------------------------------------------------- */

static bool scalar_is(const ynode_t *n, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(n->str, *words) == 0)
            return true;
    return false;
}

static bool yis_null(const ynode_t *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    return n->kind == Y_SCALAR && n->plain && scalar_is(n, nulls);
}

static int yis_bool(const ynode_t *n, bool *v)
{
    static const char *const t[] = {"true", "True", "TRUE", NULL};
    static const char *const f[] = {"false", "False", "FALSE", NULL};
    if (n->kind != Y_SCALAR || !n->plain)
        return 0;
    if (scalar_is(n, t))
        return *v = true, 1;
    if (scalar_is(n, f))
        return *v = false, 1;
    return 0;
}

/* Decimal numbers only: no hex, inf or nan (strtod would take them). */
static bool parse_number(const char *s, double *out)
{
    bool digit = false;
    for (const char *p = s; *p; p++) {
        if (isdigit((unsigned char)*p))
            digit = true;
        else if (!strchr("+-.eE", *p))
            return false;
    }
    if (!digit)
        return false;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (*end || errno == ERANGE || !isfinite(d))
        return false;
    *out = d;
    return true;
}

static bool parse_integer(const char *s, long long *out)
{
    const char *p = s + (*s == '-' || *s == '+');
    if (!*p)
        return false;
    for (; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno == ERANGE)
        return false;
    *out = v;
    return true;
}

static bool yis_number(const ynode_t *n, double *v)
{
    return n->kind == Y_SCALAR && n->plain && parse_number(n->str, v);
}

/* "a list", "a mapping", "a number"... for "'x' must be Y, got Z". */
static const char *ydescribe(const ynode_t *n)
{
    double d;
    bool b;
    if (n->kind == Y_SEQ)
        return "a list";
    if (n->kind == Y_MAP)
        return "a mapping";
    if (yis_null(n))
        return "nothing";
    if (yis_bool(n, &b))
        return "true/false";
    if (yis_number(n, &d))
        return "a number";
    return "a string";
}

/* ---- YAML events to tree ---------------------------------------------------------------- */

static void offset_to_mark(const char *text, size_t len, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n')
            ++*line, *col = 1;
        else if (((unsigned char)text[i] & 0xC0) != 0x80)
            ++*col;
    }
}

static int yaml_syntax_error(loader_t *L, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "cannot parse";
    if (p->error == YAML_MEMORY_ERROR)
        return fail_at(L, 1, 1, "out of memory while reading YAML");
    if (p->error == YAML_READER_ERROR) {
        int line, col;
        offset_to_mark(L->text, L->len, p->problem_offset, &line, &col);
        return fail_at(L, line, col, "YAML syntax error: %s", problem);
    }
    int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
    /* libyaml's words for a tab in the indentation do not say "tab". */
    const char *src = L->text, *end = L->text + L->len;
    for (int l = 1; l < line && src < end; src++)
        if (*src == '\n')
            l++;
    while (src < end && *src == ' ')
        src++;
    if (src < end && *src == '\t')
        return fail_at(L, line, col, "YAML syntax error: %s (YAML indents with spaces, not tabs)",
                       problem);
    if (p->context)
        return fail_at(L, line, col, "YAML syntax error: %s (%s at line %d, column %d)", problem,
                       p->context, (int)p->context_mark.line + 1,
                       (int)p->context_mark.column + 1);
    return fail_at(L, line, col, "YAML syntax error: %s", problem);
}

static ynode_t *ynode_new(ykind_t kind, const yaml_mark_t *m)
{
    ynode_t *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->kind = kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    return n;
}

/* Attach child to parent (NULL parent: it is the root). Checks map keys as they arrive. */
static int yattach(loader_t *L, ynode_t *parent, ynode_t **root, ynode_t *child)
{
    if (!parent) {
        *root = child;
        return 0;
    }
    size_t used = parent->kind == Y_MAP ? 2 * parent->n : parent->n;
    if (used + 2 > parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 8;
        ynode_t **items = realloc(parent->items, cap * sizeof *items);
        if (!items) {
            ynode_free(child);
            return fail_oom(L, parent);
        }
        parent->items = items;
        parent->cap = cap;
    }
    if (parent->kind == Y_SEQ) {
        parent->items[parent->n++] = child;
        return 0;
    }
    if (parent->await_value) {
        parent->items[used + 1] = child;
        parent->await_value = false;
        parent->n++;
        return 0;
    }
    parent->items[used] = child;   /* owned by parent from here, even before its value */
    parent->await_value = true;
    if (parent->n >= MAX_MAP_KEYS)
        return fail(L, child, "a mapping with more than %d keys is not a scenario",
                    MAX_MAP_KEYS);
    if (child->kind != Y_SCALAR)
        return fail(L, child, "a mapping key must be a plain word, got %s", ydescribe(child));
    for (size_t i = 0; i < parent->n; i++)
        if (strcmp(ymap_key(parent, i)->str, child->str) == 0)
            return fail(L, child, "duplicate key '%s' (first at line %d)", SHOW(child->str),
                        ymap_key(parent, i)->line);
    return 0;
}

static int yaml_to_tree(loader_t *L, ynode_t **root)
{
    yaml_parser_t p;
    *root = NULL;
    if (!yaml_parser_initialize(&p))
        return fail_at(L, 1, 1, "out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)L->text, L->len);

    ynode_t *stack[YNODE_MAX_DEPTH];
    int depth = 0, docs = 0, rc = 0;
    for (bool done = false; !done && rc == 0;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = yaml_syntax_error(L, &p);
            break;
        }
        ynode_t *node = NULL;
        ynode_t *parent = depth ? stack[depth - 1] : NULL;
        int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1)
                rc = fail_at(L, line, col, "a scenario file holds one YAML document, found a "
                                           "second one");
            break;
        case YAML_ALIAS_EVENT:
            rc = fail_at(L, line, col, "YAML aliases (*%s) are not supported; write the value "
                                       "out", SHOW((const char *)ev.data.alias.anchor));
            break;
        case YAML_SCALAR_EVENT:
            node = ynode_new(Y_SCALAR, &ev.start_mark);
            if (!node) {
                rc = fail_at(L, line, col, "out of memory");
                break;
            }
            node->str = malloc(ev.data.scalar.length + 1);
            if (!node->str) {
                ynode_free(node);
                rc = fail_at(L, line, col, "out of memory");
                break;
            }
            memcpy(node->str, ev.data.scalar.value, ev.data.scalar.length);
            node->str[ev.data.scalar.length] = '\0';
            node->len = ev.data.scalar.length;
            node->quoted = ev.data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                           ev.data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
            node->block = ev.data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
                          ev.data.scalar.style == YAML_FOLDED_SCALAR_STYLE;
            node->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                          (!ev.data.scalar.tag ||
                           strcmp((const char *)ev.data.scalar.tag, YAML_STR_TAG) != 0);
            if (memchr(node->str, '\0', node->len)) {
                ynode_free(node);
                rc = fail_at(L, line, col, "text must not contain a NUL character");
                break;
            }
            rc = yattach(L, parent, root, node);
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth == YNODE_MAX_DEPTH) {
                rc = fail_at(L, line, col, "nested more than %d levels deep", YNODE_MAX_DEPTH);
                break;
            }
            node = ynode_new(ev.type == YAML_SEQUENCE_START_EVENT ? Y_SEQ : Y_MAP,
                             &ev.start_mark);
            if (!node) {
                rc = fail_at(L, line, col, "out of memory");
                break;
            }
            rc = yattach(L, parent, root, node);
            if (rc == 0)
                stack[depth++] = node;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    if (rc) {
        ynode_free(*root);
        *root = NULL;
    }
    return rc;
}

/* ---- key checks with suggestions -------------------------------------------------------- */

/* Optimal string alignment distance (Damerau-Levenshtein with adjacent transpositions),
 * case-insensitive; long inputs are cut, a key is never that long. */
static size_t edit_distance(const char *a, const char *b)
{
    enum { MAXL = 32 };
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAXL)
        la = MAXL;
    if (lb > MAXL)
        lb = MAXL;
    size_t d[MAXL + 1][MAXL + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            size_t cost = ca != cb;
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

static const char *nearest_key(const char *key, const char *const *allowed)
{
    const char *best = NULL;
    size_t best_d = 3;
    for (; *allowed; allowed++) {
        size_t d = edit_distance(key, *allowed);
        if (d < best_d && d < strlen(*allowed)) {
            best = *allowed;
            best_d = d;
        }
    }
    return best;
}

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static int unknown_key(loader_t *L, const ynode_t *key, const char *const *allowed,
                       const char *where)
{
    const char *near = nearest_key(key->str, allowed);
    if (near)
        return fail(L, key, "unknown key '%s' in %s (did you mean '%s'?)", SHOW(key->str), where,
                    near);
    char list[512];
    size_t off = 0;
    for (const char *const *a = allowed; *a && off < sizeof list; a++)
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", a == allowed ? "" : ", ",
                                *a);
    return fail(L, key, "unknown key '%s' in %s (expected one of: %s)", SHOW(key->str), where,
                list);
}

static int check_keys(loader_t *L, const ynode_t *map, const char *const *allowed,
                      const char *where)
{
    for (size_t i = 0; i < map->n; i++)
        if (!in_list(ymap_key(map, i)->str, allowed))
            return unknown_key(L, ymap_key(map, i), allowed, where);
    return 0;
}

static const ynode_t *map_get(const ynode_t *map, const char *key)
{
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(ymap_key(map, i)->str, key) == 0)
            return ymap_val(map, i);
    return NULL;
}

/* ---- typed getters ---------------------------------------------------------------------- */

static int get_number(loader_t *L, const ynode_t *n, const char *key, double *out)
{
    if (!yis_number(n, out))
        return fail(L, n, "'%s' must be a number, got %s", key, ydescribe(n));
    return 0;
}

static int get_seconds(loader_t *L, const ynode_t *n, const char *key, bool allow_zero,
                       double *out)
{
    if (!yis_number(n, out))
        return fail(L, n, "'%s' must be a number of seconds, got %s", key, ydescribe(n));
    if (*out < 0 || (!allow_zero && *out == 0))
        return fail(L, n, "'%s' must be %s, got %g", key,
                    allow_zero ? "0 or more seconds" : "more than 0 seconds", *out);
    return 0;
}

/* Any non-null scalar, as written (so `name: 42` is the string "42"). */
static int get_text(loader_t *L, const ynode_t *n, const char *key, const char **out)
{
    if (n->kind != Y_SCALAR || yis_null(n))
        return fail(L, n, "'%s' must be a string, got %s", key, ydescribe(n));
    *out = n->str;
    return 0;
}

static int dup_text(loader_t *L, const ynode_t *n, const char *key, char **out)
{
    const char *s = NULL;
    if (get_text(L, n, key, &s))
        return -1;
    *out = strdup(s);
    return *out ? 0 : fail_oom(L, n);
}

static int get_list(loader_t *L, const ynode_t *n, const char *key, const char *of)
{
    if (n->kind != Y_SEQ)
        return fail(L, n, "'%s' must be a list of %s, got %s", key, of, ydescribe(n));
    return 0;
}

static int get_map(loader_t *L, const ynode_t *n, const char *key, const char *of)
{
    if (n->kind != Y_MAP)
        return fail(L, n, "'%s' must be a mapping of %s, got %s", key, of, ydescribe(n));
    return 0;
}

static bool is_identifier(const char *s)
{
    if (!(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

static int check_var_name(loader_t *L, const ynode_t *key, const char *what)
{
    if (!is_identifier(key->str))
        return fail(L, key, "%s name '%s' is not a valid variable name (letters, digits and _, "
                            "not starting with a digit)", what, SHOW(key->str));
    if (in_list(key->str, builtin_names))
        return fail(L, key, "%s name '%s' is a built-in template name; pick another", what,
                    key->str);
    return 0;
}

static void *grow(void *arr, size_t *cap, size_t need, size_t elsize)
{
    if (need <= *cap)
        return arr;
    size_t cap2 = *cap ? *cap * 2 : 8;
    while (cap2 < need)
        cap2 *= 2;
    void *p = realloc(arr, cap2 * elsize);
    if (!p)
        return NULL;
    memset((char *)p + *cap * elsize, 0, (cap2 - *cap) * elsize);
    *cap = cap2;
    return p;
}

/* ---- URLs ------------------------------------------------------------------------------- */

static bool starts_with_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Why a literal http(s) URL does not parse, or NULL when it does. */
static const char *full_url_problem(const char *s)
{
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return "it contains a space or control character";
    const char *auth = strstr(s, "://") + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', alen);
    if (at) {
        alen -= (size_t)(at + 1 - auth);
        auth = at + 1;
    }
    if (alen == 0)
        return "it has no host";
    const char *host_end = auth + alen;
    const char *port = NULL;
    if (*auth == '[') {
        const char *close = memchr(auth, ']', alen);
        if (!close || close == auth + 1)
            return "its IPv6 address is not closed with ']'";
        for (const char *p = auth + 1; p < close; p++)
            if (!(isxdigit((unsigned char)*p) || *p == ':' || *p == '.'))
                return "its IPv6 address is not valid";
        if (close + 1 < host_end) {
            if (close[1] != ':')
                return "unexpected text after the IPv6 address";
            port = close + 2;
        }
    } else {
        const char *colon = memchr(auth, ':', alen);
        const char *hend = colon ? colon : host_end;
        if (hend == auth)
            return "it has no host";
        for (const char *p = auth; p < hend; p++)
            if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '.' || *p == '_' ||
                  *p == '%' || (unsigned char)*p >= 0x80))
                return "its host name has an invalid character";
        if (colon)
            port = colon + 1;
    }
    if (port) {
        if (port == host_end)
            return "the port after ':' is missing";
        long v = 0;
        for (const char *p = port; p < host_end; p++) {
            if (!isdigit((unsigned char)*p))
                return "its port is not a number";
            v = v * 10 + (*p - '0');
            if (v > 65535)
                break;
        }
        if (v < 1 || v > 65535)
            return "its port must be 1-65535";
    }
    return NULL;
}

/* `host:` of the file or of a class: a literal full URL. */
static int check_host(loader_t *L, const ynode_t *n, char **out)
{
    const char *s = NULL;
    if (get_text(L, n, "host", &s))
        return -1;
    if (!starts_with_ci(s, "http://") && !starts_with_ci(s, "https://"))
        return fail(L, n, "host '%s' must be a full URL like http://127.0.0.1:8080",
                    SHOW(s));
    const char *why = full_url_problem(s);
    if (why)
        return fail(L, n, "bad host URL '%s': %s", SHOW(s), why);
    *out = strdup(s);
    return *out ? 0 : fail_oom(L, n);
}

/* A step's path or URL, checked as far as its literal text allows. */
static int check_step_url(loader_t *L, const ynode_t *n, const char *method, bool *absolute)
{
    const char *s = n->str;
    *absolute = false;
    if (!*s)
        return fail(L, n, "'%s' needs a path or URL, got an empty string", method);
    if (starts_with_ci(s, "http://") || starts_with_ci(s, "https://")) {
        *absolute = true;
        if (strstr(s, "{{"))
            return 0;   /* only known once rendered */
        const char *why = full_url_problem(s);
        if (why)
            return fail(L, n, "bad URL '%s': %s", SHOW(s), why);
        return 0;
    }
    if (s[0] == '/' || strncmp(s, "{{", 2) == 0)
        return 0;
    const char *sep = strstr(s, "://");
    if (sep && !strstr(s, "{{"))
        return fail(L, n, "bad URL '%s': scheme '%.*s' is not supported (http or https)", SHOW(s),
                    (int)(sep - s < 20 ? sep - s : 20), s);
    return fail(L, n, "path '%s' must start with '/' (or be a full http:// or https:// URL)",
                SHOW(s));
}

/* ---- templates -------------------------------------------------------------------------- */

static int resolve_var(void *ctx, const char *name, size_t len, tmpl_scope_t *scope,
                       uint32_t *slot)
{
    const loader_t *L = ctx;
    for (uint32_t i = 0; i < L->visible_globals; i++) {
        const char *g = L->sc->global_names[i];
        if (strlen(g) == len && memcmp(g, name, len) == 0) {
            *scope = TMPL_SCOPE_GLOBAL;
            *slot = i;
            return 0;
        }
    }
    if (L->uc) {
        for (uint32_t i = 0; i < L->uc->n_vars; i++) {
            const char *u = L->uc->var_names[i];
            if (strlen(u) == len && memcmp(u, name, len) == 0) {
                *scope = TMPL_SCOPE_USER;
                *slot = i;
                return 0;
            }
        }
    }
    return -1;
}

/* Column of an error `off` bytes into scalar n's text. Exact for single-line plain and quoted
 * scalars without escapes; block and multi-line scalars map to the right line and an
 * indentation-based column. Columns count characters, as libyaml's do. */
static void scalar_pos(const loader_t *L, const ynode_t *n, size_t off, int *line, int *col)
{
    if (off > n->len)
        off = n->len;
    size_t nl = 0, last_nl = 0;
    for (size_t i = 0; i < off; i++)
        if (n->str[i] == '\n')
            nl++, last_nl = i + 1;
    size_t chars = 0;
    for (size_t i = last_nl; i < off; i++)
        if (((unsigned char)n->str[i] & 0xC0) != 0x80)
            chars++;
    bool block = n->block;
    if (!block && !memchr(n->str, '\n', n->len)) {
        *line = n->line;
        *col = n->col + (n->quoted ? 1 : 0) + (int)chars;
        return;
    }
    *line = n->line + (int)nl + (block ? 1 : 0);
    if (!block && nl == 0) {
        *col = n->col + (n->quoted ? 1 : 0) + (int)chars;
        return;
    }
    /* Indentation of that source line. */
    const char *p = L->text, *end = L->text + L->len;
    for (int l = 1; l < *line && p < end; p++)
        if (*p == '\n')
            l++;
    int indent = 0;
    while (p < end && *p == ' ')
        p++, indent++;
    *col = indent + 1 + (int)chars;
}

static int compile_tmpl(loader_t *L, const ynode_t *n, tmpl_t **out)
{
    tmpl_error_t e;
    memset(&e, 0, sizeof e);
    if (tmpl_compile(n->str, n->len, resolve_var, L, out, &e) == 0)
        return 0;
    *out = NULL;
    int line, col;
    scalar_pos(L, n, e.offset, &line, &col);
    return fail_at(L, line, col, "%s", e.message[0] ? e.message : "bad template");
}

/* YAML to jansson: plain scalars become ints, floats, booleans, null or strings; quoted
 * scalars are strings. With check_tmpl, every string leaf is test-compiled so a template
 * error points at its leaf (jtmpl_compile then compiles the whole document). */
static json_t *yaml_to_json(loader_t *L, const ynode_t *n, bool check_tmpl)
{
    if (n->kind == Y_SEQ) {
        json_t *a = json_array();
        if (!a)
            return fail_oom(L, n), NULL;
        for (size_t i = 0; i < n->n; i++) {
            json_t *v = yaml_to_json(L, n->items[i], check_tmpl);
            if (!v || json_array_append_new(a, v)) {
                json_decref(a);
                return v ? (fail_oom(L, n), NULL) : NULL;
            }
        }
        return a;
    }
    if (n->kind == Y_MAP) {
        json_t *o = json_object();
        if (!o)
            return fail_oom(L, n), NULL;
        for (size_t i = 0; i < n->n; i++) {
            json_t *v = yaml_to_json(L, ymap_val(n, i), check_tmpl);
            if (!v || json_object_set_new(o, ymap_key(n, i)->str, v)) {
                json_decref(o);
                return v ? (fail(L, ymap_key(n, i), "bad JSON key"), NULL) : NULL;
            }
        }
        return o;
    }
    json_t *v = NULL;
    bool b;
    long long iv;
    double d;
    if (yis_null(n))
        v = json_null();
    else if (yis_bool(n, &b))
        v = json_boolean(b);
    else if (n->plain && parse_integer(n->str, &iv))
        v = json_integer((json_int_t)iv);
    else if (yis_number(n, &d))
        v = json_real(d);
    else {
        if (check_tmpl) {
            tmpl_t *t;
            if (compile_tmpl(L, n, &t))
                return NULL;
            tmpl_free(t);
        }
        v = json_stringn(n->str, n->len);
        if (!v)
            return fail(L, n, "text is not valid UTF-8"), NULL;
    }
    if (!v)
        fail_oom(L, n);
    return v;
}

/* ---- variables -------------------------------------------------------------------------- */

static int global_find(const scenario_t *sc, const char *name)
{
    for (uint32_t i = 0; i < sc->n_globals; i++)
        if (strcmp(sc->global_names[i], name) == 0)
            return (int)i;
    return -1;
}

static int global_add(loader_t *L, const ynode_t *key, json_t *init, uint32_t *slot)
{
    scenario_t *sc = L->sc;
    size_t cap = sc->n_globals;   /* arrays are sized exactly; grow by one */
    if (cap >= MAX_VARS) {
        json_decref(init);
        return fail(L, key, "more than %d global variables", MAX_VARS);
    }
    char **names = realloc(sc->global_names, (cap + 1) * sizeof *names);
    if (!names)
        return json_decref(init), fail_oom(L, key);
    sc->global_names = names;
    json_t **inits = realloc(sc->global_init, (cap + 1) * sizeof *inits);
    if (!inits)
        return json_decref(init), fail_oom(L, key);
    sc->global_init = inits;
    names[cap] = strdup(key->str);
    if (!names[cap])
        return json_decref(init), fail_oom(L, key);
    inits[cap] = init;
    *slot = sc->n_globals++;
    return 0;
}

static int user_var_add(loader_t *L, user_class_t *uc, const ynode_t *key)
{
    for (uint32_t i = 0; i < uc->n_vars; i++)
        if (strcmp(uc->var_names[i], key->str) == 0)
            return 0;
    if (uc->n_vars >= MAX_VARS)
        return fail(L, key, "user class '%s' saves more than %d variables", SHOW(uc->name),
                    MAX_VARS);
    char **names = realloc(uc->var_names, (uc->n_vars + 1) * sizeof *names);
    if (!names)
        return fail_oom(L, key);
    uc->var_names = names;
    names[uc->n_vars] = strdup(key->str);
    if (!names[uc->n_vars])
        return fail_oom(L, key);
    uc->n_vars++;
    return 0;
}

static int shadow_check(loader_t *L, const ynode_t *key)
{
    int g = global_find(L->sc, key->str);
    if (g < 0)
        return 0;
    return fail(L, key, "save '%s' would shadow the global variable '%s' (from %s); pick another "
                        "name", key->str, key->str,
                (uint32_t)g < L->n_var_globals ? "vars" : "a setup save");
}

/* Gather the names a list of steps saves into uc's USER slots, before any template of the
 * class is compiled (a task may use what another task saves). Shape errors are left for
 * compile_step to report in order. */
static int collect_saves(loader_t *L, user_class_t *uc, const ynode_t *steps)
{
    if (!steps || steps->kind != Y_SEQ)
        return 0;
    for (size_t i = 0; i < steps->n; i++) {
        const ynode_t *st = steps->items[i];
        const ynode_t *save = st->kind == Y_MAP ? map_get(st, "save") : NULL;
        if (!save || save->kind != Y_MAP)
            continue;
        for (size_t k = 0; k < save->n; k++) {
            const ynode_t *key = ymap_key(save, k);
            if (check_var_name(L, key, "save") || shadow_check(L, key) ||
                user_var_add(L, uc, key))
                return -1;
        }
    }
    return 0;
}

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

static void expect_free(expect_t *ex)
{
    for (size_t i = 0; i < ex->n_json_keys; i++)
        if (ex->json_keys[i])
            jpath_free(ex->json_keys[i]);
    free(ex->json_keys);
    free(ex->contains);
    memset(ex, 0, sizeof *ex);
}

static void step_free(step_t *st)
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
    expect_free(&st->expect);
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
    if (val->kind != Y_SCALAR)
        return fail(L, val, "%s '%s' must be a string, got %s", what, SHOW(key->str),
                    ydescribe(val));
    return 0;
}

/* A `headers:` mapping anywhere: names are HTTP tokens, values are scalars. */
static int check_headers(loader_t *L, const ynode_t *n)
{
    if (get_map(L, n, "headers", "header names to values"))
        return -1;
    for (size_t i = 0; i < n->n; i++) {
        const ynode_t *k = ymap_key(n, i), *v = ymap_val(n, i);
        if (!*k->str)
            return fail(L, k, "a header name must not be empty");
        for (const char *p = k->str; *p; p++)
            if (!(isalnum((unsigned char)*p) || strchr("!#$%&'*+-.^_`|~", *p)))
                return fail(L, k, "bad header name '%s'", SHOW(k->str));
        if (check_value_scalar(L, k, v, "header"))
            return -1;
        if (strchr(v->str, '\n') || strchr(v->str, '\r'))
            return fail(L, v, "header '%s' must not contain a line break", SHOW(k->str));
    }
    return 0;
}

/* A `query:` or `form:` mapping compiled into kv_tmpl_t. */
static int compile_kv(loader_t *L, const ynode_t *n, const char *key, kv_tmpl_t **out,
                      size_t *n_out)
{
    if (get_map(L, n, key, "names to values"))
        return -1;
    *out = calloc(n->n ? n->n : 1, sizeof **out);
    if (!*out)
        return fail_oom(L, n);
    *n_out = n->n;
    for (size_t i = 0; i < n->n; i++) {
        const ynode_t *k = ymap_key(n, i), *v = ymap_val(n, i);
        if (check_value_scalar(L, k, v, key))
            return -1;
        (*out)[i].name = strdup(k->str);
        if (!(*out)[i].name)
            return fail_oom(L, k);
        if (compile_tmpl(L, v, &(*out)[i].value))
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
        return fail_oom(L, layers[2] ? layers[2] : layers[1] ? layers[1] : layers[0]);
    }
    size_t n = 0;
    for (int l = 0; l < 3; l++) {
        if (!layers[l])
            continue;
        for (size_t i = 0; i < layers[l]->n; i++) {
            const ynode_t *k = ymap_key(layers[l], i);
            size_t j = 0;
            while (j < n && strcasecmp(keys[j]->str, k->str) != 0)
                j++;
            if (j == n)
                keys[n++] = k;
            vals[j] = ymap_val(layers[l], i);
        }
    }
    int rc = 0;
    st->headers = calloc(n, sizeof *st->headers);
    if (!st->headers)
        rc = fail_oom(L, keys[0]);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        st->n_headers = i + 1;
        st->headers[i].name = strdup(keys[i]->str);
        if (!st->headers[i].name)
            rc = fail_oom(L, keys[i]);
        else
            rc = compile_tmpl(L, vals[i], &st->headers[i].value);
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
    if (n->kind != Y_SCALAR)
        return fail(L, n, "%s", status_msg);
    if (n->plain && parse_integer(n->str, &v)) {
        if (v < 100 || v > 599)
            return fail(L, n, "%s", status_msg);
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
    return fail(L, n, "%s", status_msg);
}

static int parse_expect(loader_t *L, const ynode_t *n, expect_t *ex)
{
    if (get_map(L, n, "expect", "status, json and contains") ||
        check_keys(L, n, expect_keys, "expect"))
        return -1;
    const ynode_t *status = map_get(n, "status");
    if (status) {
        ex->has_status = true;
        if (status->kind == Y_SEQ) {
            if (status->n == 0)
                return fail(L, status, "%s", status_msg);
            for (size_t i = 0; i < status->n; i++)
                if (add_status(L, status->items[i], ex))
                    return -1;
        } else if (add_status(L, status, ex)) {
            return -1;
        }
    }
    const ynode_t *keys = map_get(n, "json");
    if (keys) {
        /* One key alone is accepted as well as a list. */
        const ynode_t *const *items = keys->kind == Y_SEQ ? (const ynode_t *const *)keys->items
                                                          : (const ynode_t *const *)&keys;
        size_t count = keys->kind == Y_SEQ ? keys->n : 1;
        if (keys->kind == Y_MAP)
            return fail(L, keys, "expect 'json' must be a list of keys, got a mapping");
        ex->json_keys = calloc(count ? count : 1, sizeof *ex->json_keys);
        if (!ex->json_keys)
            return fail_oom(L, keys);
        for (size_t i = 0; i < count; i++) {
            const ynode_t *k = items[i];
            if (k->kind != Y_SCALAR || yis_null(k))
                return fail(L, k, "expect 'json' must be a list of keys, got %s in it",
                            ydescribe(k));
            tmpl_error_t e;
            memset(&e, 0, sizeof e);
            ex->n_json_keys = i + 1;
            if (jpath_compile(k->str, &ex->json_keys[i], &e)) {
                ex->json_keys[i] = NULL;
                int line, col;
                scalar_pos(L, k, e.offset, &line, &col);
                return fail_at(L, line, col, "bad JSON path '%s': %s", SHOW(k->str),
                               e.message[0] ? e.message : "cannot parse");
            }
        }
    }
    const ynode_t *contains = map_get(n, "contains");
    if (contains) {
        if (dup_text(L, contains, "contains", &ex->contains))
            return -1;
        ex->contains_len = strlen(ex->contains);
    }
    return 0;
}

static int compile_saves(loader_t *L, const ynode_t *n, step_t *st, bool setup)
{
    if (get_map(L, n, "save", "variable names to JSON paths"))
        return -1;
    st->saves = calloc(n->n ? n->n : 1, sizeof *st->saves);
    if (!st->saves)
        return fail_oom(L, n);
    for (size_t i = 0; i < n->n; i++) {
        const ynode_t *k = ymap_key(n, i), *v = ymap_val(n, i);
        save_t *sv = &st->saves[i];
        st->n_saves = i + 1;
        if (check_var_name(L, k, "save"))
            return -1;
        if (v->kind != Y_SCALAR || yis_null(v))
            return fail(L, v, "save '%s' needs a JSON path like key, a.b, list[0] or $, got %s",
                        SHOW(k->str), ydescribe(v));
        sv->var = strdup(k->str);
        if (!sv->var)
            return fail_oom(L, k);
        tmpl_error_t e;
        memset(&e, 0, sizeof e);
        if (jpath_compile(v->str, &sv->path, &e)) {
            sv->path = NULL;
            int line, col;
            scalar_pos(L, v, e.offset, &line, &col);
            return fail_at(L, line, col, "bad JSON path '%s': %s", SHOW(v->str),
                           e.message[0] ? e.message : "cannot parse");
        }
        if (setup) {
            /* A setup save is visible to the setup steps after this one, and to every user. */
            sv->scope = TMPL_SCOPE_GLOBAL;
            int g = global_find(L->sc, k->str);
            if (g >= 0 && (uint32_t)g < L->n_var_globals)
                return shadow_check(L, k);
            if (g >= 0)
                sv->slot = (uint32_t)g;
            else if (global_add(L, k, NULL, &sv->slot))
                return -1;
        } else {
            sv->scope = TMPL_SCOPE_USER;
            tmpl_scope_t scope;
            if (resolve_var(L, k->str, strlen(k->str), &scope, &sv->slot) ||
                scope != TMPL_SCOPE_USER)
                return fail(L, k, "internal error: save '%s' has no slot", SHOW(k->str));
        }
    }
    return 0;
}

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
    scenario_row_t *rows = grow(sc->rows, &L->rows_cap, sc->n_rows + 1, sizeof *rows);
    if (!rows)
        return fail_oom(L, at);
    sc->rows = rows;
    rows[sc->n_rows].method = m;
    rows[sc->n_rows].name = strdup(name);
    if (!rows[sc->n_rows].name)
        return fail_oom(L, at);
    *row = (uint32_t)sc->n_rows++;
    return 0;
}

static int compile_sleep_step(loader_t *L, const ynode_t *n, const ynode_t *sleep_key,
                              step_t *st)
{
    st->kind = STEP_SLEEP;
    for (size_t i = 0; i < n->n; i++) {
        const ynode_t *k = ymap_key(n, i);
        if (k != sleep_key && strcmp(k->str, "name") != 0)
            return fail(L, k, "'%s' does not apply to a sleep step", SHOW(k->str));
    }
    return get_seconds(L, map_get(n, "sleep"), "sleep", true, &st->sleep_s);
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
    if (n->kind != Y_MAP)
        return fail(L, n, "a step must be a mapping like {get: /path}, got %s", ydescribe(n));
    if (check_keys(L, n, step_keys, "step"))
        return -1;

    const ynode_t *mkey = NULL, *mval = NULL, *sleep_key = NULL;
    int method = -1;
    for (size_t i = 0; i < n->n; i++) {
        const ynode_t *k = ymap_key(n, i);
        int m = -1;
        for (int j = 0; j < HTTP_METHOD_COUNT; j++)
            if (strcmp(k->str, method_keys[j]) == 0)
                m = j;
        bool is_sleep = strcmp(k->str, "sleep") == 0;
        if (m < 0 && !is_sleep)
            continue;
        const ynode_t *first = mkey ? mkey : sleep_key;
        if (first)
            return fail(L, k, "step has both '%s' and '%s'; a step makes one request or one "
                              "sleep", first->str, k->str);
        if (is_sleep) {
            sleep_key = k;
        } else {
            mkey = k;
            mval = ymap_val(n, i);
            method = m;
        }
    }
    if (sleep_key)
        return compile_sleep_step(L, n, sleep_key, st);
    if (!mkey)
        return fail(L, n, "step needs one of get, post, put, patch, delete, head, options or "
                          "sleep");

    st->kind = STEP_REQUEST;
    st->method = (http_method_t)method;
    if (mval->kind != Y_SCALAR || yis_null(mval))
        return fail(L, mval, "'%s' must be a path or URL, got %s", mkey->str, ydescribe(mval));
    if (check_step_url(L, mval, mkey->str, &st->url_absolute) || compile_tmpl(L, mval, &st->url))
        return -1;

    const ynode_t *name = map_get(n, "name");
    if (name) {
        if (dup_text(L, name, "name", &st->name))
            return -1;
    } else if (!(st->name = strdup(mval->str))) {   /* the path as written, templates and all */
        return fail_oom(L, mval);
    }
    if (!setup && add_row(L, name ? name : mval, st->method, st->name, &st->row))
        return -1;

    const ynode_t *headers = map_get(n, "headers");
    if (headers && check_headers(L, headers))
        return -1;
    const ynode_t *layers[3] = {L->defaults_headers, class_headers, headers};
    if (compile_headers(L, st, layers))
        return -1;

    const ynode_t *query = map_get(n, "query");
    if (query && compile_kv(L, query, "query", &st->query, &st->n_query))
        return -1;

    static const char *const body_keys[] = {"json", "body", "form"};
    const ynode_t *body_key = NULL;
    for (size_t i = 0; i < n->n; i++) {
        const ynode_t *k = ymap_key(n, i);
        for (int b = 0; b < 3; b++) {
            if (strcmp(k->str, body_keys[b]) != 0)
                continue;
            if (body_key)
                return fail(L, k, "step has both '%s' and '%s'; use one body", body_key->str,
                            k->str);
            body_key = k;
        }
    }
    const ynode_t *v;
    if ((v = map_get(n, "json"))) {
        st->body_kind = BODY_JSON;
        json_t *doc = yaml_to_json(L, v, true);
        if (!doc)
            return -1;
        tmpl_error_t e;
        memset(&e, 0, sizeof e);
        int rc = jtmpl_compile(doc, resolve_var, L, &st->body_json, &e);
        json_decref(doc);
        if (rc) {
            st->body_json = NULL;
            return fail(L, v, "%s", e.message[0] ? e.message : "bad JSON body");
        }
    } else if ((v = map_get(n, "body"))) {
        st->body_kind = BODY_RAW;
        if (v->kind != Y_SCALAR || yis_null(v))
            return fail(L, v, "'body' must be a string, got %s", ydescribe(v));
        if (compile_tmpl(L, v, &st->body_raw))
            return -1;
    } else if ((v = map_get(n, "form"))) {
        st->body_kind = BODY_FORM;
        if (compile_kv(L, v, "form", &st->form, &st->n_form))
            return -1;
    }

    const ynode_t *expect = map_get(n, "expect");
    if (!expect)
        expect = L->defaults_expect;
    if (expect && parse_expect(L, expect, &st->expect))
        return -1;

    const ynode_t *save = map_get(n, "save");
    if (save && compile_saves(L, save, st, setup))
        return -1;
    st->needs_json = st->n_saves > 0 || st->expect.n_json_keys > 0;

    const ynode_t *timeout = map_get(n, "timeout");
    if (timeout && get_seconds(L, timeout, "timeout", false, &st->timeout_s))
        return -1;
    return 0;
}

/* A list of steps (`setup`, `on_start`, `on_stop`, a task's `steps`). In setup, each step sees
 * the globals saved by the steps before it. */
static int compile_steps(loader_t *L, const ynode_t *n, const char *key, bool need_one,
                         const ynode_t *class_headers, bool setup, step_t **out, size_t *n_out)
{
    if (get_list(L, n, key, "steps"))
        return -1;
    if (need_one && n->n == 0)
        return fail(L, n, "'%s' must list at least one step", key);
    if (n->n == 0)
        return 0;
    L->n_steps += n->n;
    if (L->n_steps > MAX_STEPS)
        return fail(L, n, "more than %d steps in the file", MAX_STEPS);
    *out = calloc(n->n, sizeof **out);
    if (!*out)
        return fail_oom(L, n);
    for (size_t i = 0; i < n->n; i++) {
        *n_out = i + 1;
        if (setup)
            L->visible_globals = L->sc->n_globals;
        if (compile_step(L, n->items[i], &(*out)[i], class_headers, setup))
            return -1;
    }
    return 0;
}

/* ---- tasks and classes ------------------------------------------------------------------ */

static void task_free(task_t *t)
{
    free(t->name);
    for (size_t i = 0; i < t->n_tags; i++)
        free(t->tags[i]);
    free(t->tags);
    for (size_t i = 0; i < t->n_steps; i++)
        step_free(&t->steps[i]);
    free(t->steps);
}

static void class_free(user_class_t *uc)
{
    free(uc->name);
    free(uc->host);
    for (size_t i = 0; i < uc->n_on_start; i++)
        step_free(&uc->on_start[i]);
    free(uc->on_start);
    for (size_t i = 0; i < uc->n_on_stop; i++)
        step_free(&uc->on_stop[i]);
    free(uc->on_stop);
    for (size_t i = 0; i < uc->n_tasks; i++)
        task_free(&uc->tasks[i]);
    free(uc->tasks);
    for (uint32_t i = 0; i < uc->n_vars; i++)
        free(uc->var_names[i]);
    free(uc->var_names);
}

static int compile_task(loader_t *L, const ynode_t *n, task_t *t, size_t index,
                        const ynode_t *class_headers)
{
    t->weight = 1;
    t->enabled = true;
    if (n->kind != Y_MAP)
        return fail(L, n, "a task must be a mapping with 'steps', got %s", ydescribe(n));
    if (check_keys(L, n, task_keys, "task"))
        return -1;
    const ynode_t *v;
    if ((v = map_get(n, "name"))) {
        if (dup_text(L, v, "name", &t->name))
            return -1;
    } else {
        char buf[32];
        snprintf(buf, sizeof buf, "task%zu", index + 1);
        if (!(t->name = strdup(buf)))
            return fail_oom(L, n);
    }
    if ((v = map_get(n, "weight"))) {
        if (get_number(L, v, "weight", &t->weight))
            return -1;
        if (t->weight <= 0)
            return fail(L, v, "task 'weight' must be more than 0, got %g", t->weight);
    }
    if ((v = map_get(n, "tags"))) {
        if (get_list(L, v, "tags", "tag names"))
            return -1;
        t->tags = calloc(v->n ? v->n : 1, sizeof *t->tags);
        if (!t->tags)
            return fail_oom(L, v);
        for (size_t i = 0; i < v->n; i++) {
            t->n_tags = i + 1;
            if (dup_text(L, v->items[i], "tags", &t->tags[i]))
                return -1;
        }
    }
    if (!(v = map_get(n, "steps")))
        return fail(L, n, "task needs 'steps'");
    return compile_steps(L, v, "steps", true, class_headers, false, &t->steps, &t->n_steps);
}

static const char wait_msg[] =
    "wait must be 0, {constant: S}, {between: [A, B]}, {pacing: S} or {throughput: N}";

static int parse_wait(loader_t *L, const ynode_t *n, wait_spec_t *w)
{
    double d;
    memset(w, 0, sizeof *w);
    if (n->kind == Y_SCALAR) {
        if (yis_number(n, &d) && d == 0)
            return 0;
        return fail(L, n, "%s, got '%s'", wait_msg, SHOW(n->str));
    }
    if (n->kind != Y_MAP || n->n == 0)
        return fail(L, n, "%s, got %s", wait_msg, n->kind == Y_MAP ? "an empty mapping"
                                                                   : ydescribe(n));
    if (check_keys(L, n, wait_keys, "wait"))
        return -1;
    if (n->n > 1)
        return fail(L, ymap_key(n, 1), "wait takes one form, got both '%s' and '%s'",
                    ymap_key(n, 0)->str, ymap_key(n, 1)->str);
    const char *form = ymap_key(n, 0)->str;
    const ynode_t *v = ymap_val(n, 0);
    if (strcmp(form, "constant") == 0) {
        w->kind = WAIT_CONSTANT;
        return get_seconds(L, v, "constant", true, &w->a);
    }
    if (strcmp(form, "pacing") == 0) {
        w->kind = WAIT_PACING;
        return get_seconds(L, v, "pacing", false, &w->a);
    }
    if (strcmp(form, "throughput") == 0) {
        w->kind = WAIT_THROUGHPUT;
        if (get_number(L, v, "throughput", &w->a))
            return -1;
        if (w->a <= 0)
            return fail(L, v, "'throughput' must be more than 0 task runs per second, got %g",
                        w->a);
        return 0;
    }
    w->kind = WAIT_BETWEEN;
    if (v->kind != Y_SEQ || v->n != 2 || !yis_number(v->items[0], &w->a) ||
        !yis_number(v->items[1], &w->b))
        return fail(L, v, "'between' must be [A, B], two numbers of seconds, got %s",
                    ydescribe(v));
    if (w->a < 0 || w->b < w->a)
        return fail(L, v, "'between' must be [A, B] with 0 <= A <= B, got [%g, %g]", w->a, w->b);
    return 0;
}

static int compile_class(loader_t *L, const ynode_t *n, user_class_t *uc, size_t index)
{
    uc->line = n->line;
    uc->col = n->col;
    uc->weight = 1;
    uc->fixed_count = -1;
    if (n->kind != Y_MAP)
        return fail(L, n, "a user class must be a mapping with 'name' and 'tasks', got %s",
                    ydescribe(n));
    if (check_keys(L, n, class_keys, "user class"))
        return -1;
    const ynode_t *v;
    if (!(v = map_get(n, "name")))
        return fail(L, n, "user class needs 'name'");
    if (dup_text(L, v, "name", &uc->name))
        return -1;
    for (size_t i = 0; i < index; i++)
        if (strcmp(L->sc->classes[i].name, uc->name) == 0)
            return fail(L, v, "duplicate user class name '%s' (first at line %d)",
                        SHOW(uc->name), L->sc->classes[i].line);
    if ((v = map_get(n, "weight"))) {
        if (get_number(L, v, "weight", &uc->weight))
            return -1;
        if (uc->weight < 0)
            return fail(L, v, "'weight' must not be negative, got %g", uc->weight);
    }
    if ((v = map_get(n, "fixed_count"))) {
        long long c;
        if (v->kind != Y_SCALAR || !v->plain || !parse_integer(v->str, &c) || c < 0 ||
            c > 100000000)
            return fail(L, v, "'fixed_count' must be a whole number >= 0, got %s",
                        ydescribe(v));
        uc->fixed_count = (long)c;
    }
    if ((v = map_get(n, "host")) && check_host(L, v, &uc->host))
        return -1;
    const ynode_t *headers = map_get(n, "headers");
    if (headers && check_headers(L, headers))
        return -1;
    if ((v = map_get(n, "wait")) && parse_wait(L, v, &uc->wait))
        return -1;
    if ((v = map_get(n, "sequential")) && !yis_bool(v, &uc->sequential))
        return fail(L, v, "'sequential' must be true or false, got %s", ydescribe(v));

    const ynode_t *tasks = map_get(n, "tasks");
    if (!tasks)
        return fail(L, n, "user class needs 'tasks'");
    if (get_list(L, tasks, "tasks", "tasks"))
        return -1;
    if (tasks->n == 0)
        return fail(L, tasks, "'tasks' must list at least one task");

    /* Every save of the class first: templates anywhere in it may name them. */
    if (collect_saves(L, uc, map_get(n, "on_start")))
        return -1;
    for (size_t i = 0; i < tasks->n; i++)
        if (tasks->items[i]->kind == Y_MAP &&
            collect_saves(L, uc, map_get(tasks->items[i], "steps")))
            return -1;
    if (collect_saves(L, uc, map_get(n, "on_stop")))
        return -1;
    L->uc = uc;
    L->visible_globals = L->sc->n_globals;

    /* Keys in file order, so stats rows come out in file order. */
    for (size_t i = 0; i < n->n; i++) {
        const char *k = ymap_key(n, i)->str;
        v = ymap_val(n, i);
        if (strcmp(k, "on_start") == 0) {
            if (compile_steps(L, v, k, false, headers, false, &uc->on_start, &uc->n_on_start))
                return -1;
        } else if (strcmp(k, "on_stop") == 0) {
            if (compile_steps(L, v, k, false, headers, false, &uc->on_stop, &uc->n_on_stop))
                return -1;
        } else if (strcmp(k, "tasks") == 0) {
            uc->tasks = calloc(v->n, sizeof *uc->tasks);
            if (!uc->tasks)
                return fail_oom(L, v);
            for (size_t t = 0; t < v->n; t++) {
                uc->n_tasks = t + 1;
                if (compile_task(L, v->items[t], &uc->tasks[t], t, headers))
                    return -1;
            }
        }
    }
    L->uc = NULL;
    return 0;
}

/* ---- top level -------------------------------------------------------------------------- */

static int compile_defaults(loader_t *L, const ynode_t *n)
{
    if (get_map(L, n, "defaults", "headers, timeout and expect") ||
        check_keys(L, n, defaults_keys, "defaults"))
        return -1;
    const ynode_t *v;
    if ((v = map_get(n, "headers"))) {
        if (check_headers(L, v))
            return -1;
        L->defaults_headers = v;
    }
    if ((v = map_get(n, "timeout")) &&
        get_seconds(L, v, "timeout", false, &L->sc->default_timeout_s))
        return -1;
    if ((v = map_get(n, "expect"))) {
        /* Checked here once so its errors point at defaults even if every step overrides. */
        expect_t ex;
        memset(&ex, 0, sizeof ex);
        int rc = parse_expect(L, v, &ex);
        expect_free(&ex);
        if (rc)
            return -1;
        L->defaults_expect = v;
    }
    return 0;
}

static int compile_vars(loader_t *L, const ynode_t *n)
{
    if (get_map(L, n, "vars", "names to values"))
        return -1;
    for (size_t i = 0; i < n->n; i++) {
        const ynode_t *k = ymap_key(n, i);
        if (check_var_name(L, k, "vars"))
            return -1;
        json_t *value = yaml_to_json(L, ymap_val(n, i), false);
        uint32_t slot;
        if (!value || global_add(L, k, value, &slot))
            return -1;
    }
    L->n_var_globals = L->sc->n_globals;
    return 0;
}

static const char *const stage_keys[] = {"duration", "users", "spawn_rate", NULL};

/* stages: [{duration: 30s, users: 50, spawn_rate: 10}, ...] */
static int compile_stages(loader_t *L, const ynode_t *list)
{
    if (get_list(L, list, "stages", "{duration, users, spawn_rate} stages"))
        return -1;
    if (list->n == 0)
        return fail(L, list, "'stages' must list at least one stage");
    L->sc->stages = calloc(list->n, sizeof *L->sc->stages);
    if (!L->sc->stages)
        return fail_oom(L, list);
    for (size_t i = 0; i < list->n; i++) {
        const ynode_t *m = list->items[i];
        stage_t *st = &L->sc->stages[i];
        if (m->kind != Y_MAP)
            return fail(L, m, "a stage must be a mapping like {duration: 30s, users: 50}, got %s",
                        ydescribe(m));
        if (check_keys(L, m, stage_keys, "stage"))
            return -1;
        const ynode_t *d = map_get(m, "duration"), *u = map_get(m, "users"),
                      *r = map_get(m, "spawn_rate");
        if (!d)
            return fail(L, m, "stage needs 'duration'");
        if (!u)
            return fail(L, m, "stage needs 'users'");
        if (d->kind != Y_SCALAR || cli_parse_duration(d->str, &st->duration_s) < 0 ||
            st->duration_s <= 0)
            return fail(L, d, "'duration' must be a duration like 30s, 5m or 1h30m, got %s",
                        ydescribe(d));
        double users;
        if (get_number(L, u, "users", &users))
            return -1;
        if (users < 0 || users > 10000000 || users != floor(users))
            return fail(L, u, "'users' must be a whole number >= 0, got %g", users);
        st->users = (uint32_t)users;
        st->spawn_rate = -1;
        if (r) {
            if (get_number(L, r, "spawn_rate", &st->spawn_rate))
                return -1;
            if (st->spawn_rate <= 0)
                return fail(L, r, "'spawn_rate' must be more than 0, got %g", st->spawn_rate);
        }
        L->sc->n_stages = i + 1;
    }
    return 0;
}

/* thresholds: ["p95<300ms", "fail_ratio<0.01"] */
static int compile_thresholds(loader_t *L, const ynode_t *list)
{
    if (get_list(L, list, "thresholds", "threshold strings like 'p95<300ms'"))
        return -1;
    L->sc->thresholds = calloc(list->n ? list->n : 1, sizeof *L->sc->thresholds);
    if (!L->sc->thresholds)
        return fail_oom(L, list);
    for (size_t i = 0; i < list->n; i++) {
        const char *text = NULL;
        char msg[256];
        if (get_text(L, list->items[i], "thresholds", &text))
            return -1;
        if (threshold_parse(text, &L->sc->thresholds[i], msg, sizeof msg) < 0)
            return fail(L, list->items[i], "%s", msg);
        L->sc->n_thresholds = i + 1;
    }
    return 0;
}

static int compile_scenario(loader_t *L, const ynode_t *root)
{
    scenario_t *sc = L->sc;
    if (!root || yis_null(root))
        return fail_at(L, 1, 1, "the file is empty; a scenario needs at least 'users'");
    if (root->kind != Y_MAP)
        return fail(L, root, "the top level must be a mapping (description, host, defaults, "
                             "vars, setup, users), got %s", ydescribe(root));
    if (check_keys(L, root, top_keys, "the top level"))
        return -1;
    const ynode_t *v;
    if ((v = map_get(root, "description")) && dup_text(L, v, "description", &sc->description))
        return -1;
    if ((v = map_get(root, "host")) && check_host(L, v, &sc->host))
        return -1;
    if ((v = map_get(root, "defaults")) && compile_defaults(L, v))
        return -1;
    if ((v = map_get(root, "vars")) && compile_vars(L, v))
        return -1;
    if ((v = map_get(root, "setup"))) {
        L->uc = NULL;
        if (compile_steps(L, v, "setup", false, NULL, true, &sc->setup, &sc->n_setup))
            return -1;
    }
    if ((v = map_get(root, "stages")) && compile_stages(L, v))
        return -1;
    if ((v = map_get(root, "thresholds")) && compile_thresholds(L, v))
        return -1;
    const ynode_t *users = map_get(root, "users");
    if (!users)
        return fail(L, root, "the file needs 'users', a list of user classes");
    if (get_list(L, users, "users", "user classes"))
        return -1;
    if (users->n == 0)
        return fail(L, users, "'users' must list at least one user class");
    if (users->n > MAX_CLASSES)
        return fail(L, users, "more than %d user classes", MAX_CLASSES);
    sc->classes = calloc(users->n, sizeof *sc->classes);
    if (!sc->classes)
        return fail_oom(L, users);
    for (size_t i = 0; i < users->n; i++) {
        sc->n_classes = i + 1;
        if (compile_class(L, users->items[i], &sc->classes[i], i))
            return -1;
    }
    return 0;
}

int scenario_load_text(const char *text, size_t len, const char *name, scenario_t **out,
                       char *err, size_t errlen)
{
    loader_t L;
    memset(&L, 0, sizeof L);
    L.file = name ? name : "<scenario>";
    L.text = text ? text : "";
    L.len = text ? len : 0;
    L.err = err;
    L.errlen = errlen;
    if (errlen)
        err[0] = '\0';
    *out = NULL;
    if (L.len > SCENARIO_MAX_BYTES) {
        snprintf(err, errlen, "%s: file is too large (%zu bytes, the limit is %zu MiB)", L.file,
                 L.len, SCENARIO_MAX_BYTES >> 20);
        return -1;
    }
    L.sc = calloc(1, sizeof *L.sc);
    if (!L.sc || !(L.sc->file = strdup(L.file))) {
        free(L.sc);
        snprintf(err, errlen, "%s: out of memory", L.file);
        return -1;
    }
    L.sc->default_timeout_s = DEFAULT_TIMEOUT_S;

    ynode_t *root = NULL;
    int rc = yaml_to_tree(&L, &root);
    if (rc == 0)
        rc = compile_scenario(&L, root);
    ynode_free(root);
    if (rc) {
        scenario_free(L.sc);
        return -1;
    }
    *out = L.sc;
    return 0;
}

int scenario_load_file(const char *path, scenario_t **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    int rd_errno = 0;
    while (text) {
        if (len == cap) {
            if (cap > SCENARIO_MAX_BYTES)
                break;
            char *t = realloc(text, cap * 2);
            if (!t) {
                free(text);
                text = NULL;
                rd_errno = ENOMEM;
                break;
            }
            text = t;
            cap *= 2;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f))
                rd_errno = errno ? errno : EIO;
            break;
        }
    }
    if (!text && !rd_errno)
        rd_errno = ENOMEM;
    fclose(f);
    if (rd_errno) {
        free(text);
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(rd_errno));
        return -1;
    }
    if (len > SCENARIO_MAX_BYTES) {
        free(text);
        snprintf(err, errlen, "%s: file is too large (more than %zu MiB)", path,
                 SCENARIO_MAX_BYTES >> 20);
        return -1;
    }
    int rc = scenario_load_text(text, len, path, out, err, errlen);
    free(text);
    return rc;
}

void scenario_free(scenario_t *sc)
{
    if (!sc)
        return;
    free(sc->file);
    free(sc->description);
    free(sc->host);
    free(sc->stages);
    free(sc->thresholds);
    for (size_t i = 0; i < sc->n_setup; i++)
        step_free(&sc->setup[i]);
    free(sc->setup);
    for (size_t i = 0; i < sc->n_classes; i++)
        class_free(&sc->classes[i]);
    free(sc->classes);
    for (uint32_t i = 0; i < sc->n_globals; i++) {
        free(sc->global_names[i]);
        json_decref(sc->global_init[i]);
    }
    free(sc->global_names);
    free(sc->global_init);
    for (size_t i = 0; i < sc->n_rows; i++)
        free(sc->rows[i].name);
    free(sc->rows);
    free(sc);
}

/* ---- tags and hosts --------------------------------------------------------------------- */

static bool task_has_tag(const task_t *t, char *const *tags, size_t n)
{
    for (size_t i = 0; i < t->n_tags; i++)
        for (size_t j = 0; j < n; j++)
            if (strcmp(t->tags[i], tags[j]) == 0)
                return true;
    return false;
}

int scenario_filter_tags(scenario_t *sc, char *const *tags, size_t n_tags,
                         char *const *exclude, size_t n_exclude, char *err, size_t errlen)
{
    bool any = false;
    for (size_t c = 0; c < sc->n_classes; c++) {
        user_class_t *uc = &sc->classes[c];
        bool class_any = false;
        for (size_t t = 0; t < uc->n_tasks; t++) {
            task_t *task = &uc->tasks[t];
            task->enabled = (n_tags == 0 || task_has_tag(task, tags, n_tags)) &&
                            !task_has_tag(task, exclude, n_exclude);
            class_any |= task->enabled;
        }
        if (!class_any) {
            uc->weight = 0;
            uc->fixed_count = -1;
        }
        any |= class_any;
    }
    if (any)
        return 0;
    char list[256] = "";
    size_t off = 0;
    for (size_t i = 0; i < n_tags && off < sizeof list; i++)
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? "," : "", tags[i]);
    char xlist[256] = "";
    off = 0;
    for (size_t i = 0; i < n_exclude && off < sizeof xlist; i++)
        off += (size_t)snprintf(xlist + off, sizeof xlist - off, "%s%s", i ? "," : "",
                                exclude[i]);
    snprintf(err, errlen, "%s: no task left to run with --tags '%s' --exclude-tags '%s'",
             sc->file, list, xlist);
    return -1;
}

const char *scenario_class_host(const scenario_t *sc, const user_class_t *uc,
                                const char *override)
{
    if (uc && uc->host)
        return uc->host;
    if (override && *override)
        return override;
    return sc ? sc->host : NULL;
}
