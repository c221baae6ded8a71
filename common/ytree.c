/*
 * ytree — YAML text to a positioned tree. See ytree.h.
 *
 * The builder keeps a stack of the open collections (at most YTREE_MAX_DEPTH, so hostile
 * nesting is refused, not recursed into) and attaches each new node to the top one. A node is
 * owned by its parent from the moment it is attached, a map key even before its value
 * arrives (n_slots counts it), so freeing the root on any error releases everything.
 */
#include "ytree.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "vec.h"

__attribute__((format(printf, 5, 6)))
static int fail(ytree_error_t *err, ytree_errcode_t code, int line, int col, const char *fmt,
                ...)
{
    err->code = code;
    err->line = line;
    err->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    for (char *s = err->message; *s; s++)
        if (*s == '\n' || *s == '\r' || *s == '\t')
            *s = ' ';
    return -1;
}

const char *ytree_show_text(const char *s, char *buf, size_t cap)
{
    size_t i = 0, max = cap - 4;
    for (; s[i] && i < max; i++)
        buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
    if (s[i])
        memcpy(buf + i, "...", 3), i += 3;
    buf[i] = '\0';
    return buf;
}
#define SHOW(s) ytree_show_text((s), (char[72]){0}, 72)

/* ---- nodes ------------------------------------------------------------------------------ */

void ytree_free(ynode_t *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n_slots; i++)
        ytree_free(n->items[i]);
    free(n->items);
    free(n->str);
    free(n);
}

const ynode_t *ytree_get(const ynode_t *map, const char *key)
{
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(ytree_key(map, i)->str, key) == 0)
            return ytree_val(map, i);
    return NULL;
}

/* ---- scalar kinds ----------------------------------------------------------------------- */

static bool scalar_is(const ynode_t *n, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(n->str, *words) == 0)
            return true;
    return false;
}

bool ytree_is_null(const ynode_t *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    return n->kind == YNODE_SCALAR && n->plain && scalar_is(n, nulls);
}

bool ytree_bool(const ynode_t *n, bool *v)
{
    static const char *const t[] = {"true", "True", "TRUE", NULL};
    static const char *const f[] = {"false", "False", "FALSE", NULL};
    if (n->kind != YNODE_SCALAR || !n->plain)
        return false;
    if (scalar_is(n, t))
        return *v = true, true;
    if (scalar_is(n, f))
        return *v = false, true;
    return false;
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

bool ytree_number(const ynode_t *n, double *v)
{
    return n->kind == YNODE_SCALAR && n->plain && parse_number(n->str, v);
}

bool ytree_integer(const ynode_t *n, long long *v)
{
    return n->kind == YNODE_SCALAR && n->plain && parse_integer(n->str, v);
}

const char *ytree_describe(const ynode_t *n)
{
    double d;
    bool b;
    if (n->kind == YNODE_SEQ)
        return "a list";
    if (n->kind == YNODE_MAP)
        return "a mapping";
    if (ytree_is_null(n))
        return "nothing";
    if (ytree_bool(n, &b))
        return "true/false";
    if (ytree_number(n, &d))
        return "a number";
    return "a string";
}

/* ---- positions -------------------------------------------------------------------------- */

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

/* The first byte of 1-based line `line` of text (its end if text is shorter). */
static const char *line_start(const char *text, size_t len, int line)
{
    const char *p = text, *end = text + len;
    for (int l = 1; l < line && p < end; p++)
        if (*p == '\n')
            l++;
    return p;
}

void ytree_scalar_pos(const char *text, size_t len, const ynode_t *n, size_t off, int *line,
                      int *col)
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
    const char *p = line_start(text, len, *line), *end = text + len;
    int indent = 0;
    while (p < end && *p == ' ')
        p++, indent++;
    *col = indent + 1 + (int)chars;
}

/* ---- events to tree --------------------------------------------------------------------- */

static int syntax_error(const char *text, size_t len, const yaml_parser_t *p,
                        ytree_error_t *err)
{
    const char *problem = p->problem ? p->problem : "cannot parse";
    if (p->error == YAML_MEMORY_ERROR)
        return fail(err, YTREE_ERR_NOMEM, 1, 1, "out of memory while reading YAML");
    if (p->error == YAML_READER_ERROR) {
        int line, col;
        offset_to_mark(text, len, p->problem_offset, &line, &col);
        return fail(err, YTREE_ERR_SYNTAX, line, col, "YAML syntax error: %s", problem);
    }
    int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
    /* libyaml's words for a tab in the indentation do not say "tab". */
    const char *src = line_start(text, len, line), *end = text + len;
    while (src < end && *src == ' ')
        src++;
    if (src < end && *src == '\t')
        return fail(err, YTREE_ERR_SYNTAX, line, col,
                    "YAML syntax error: %s (YAML indents with spaces, not tabs)", problem);
    if (p->context)
        return fail(err, YTREE_ERR_SYNTAX, line, col,
                    "YAML syntax error: %s (%s at line %d, column %d)", problem, p->context,
                    (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    return fail(err, YTREE_ERR_SYNTAX, line, col, "YAML syntax error: %s", problem);
}

static ynode_t *node_new(ynode_kind_t kind, const yaml_mark_t *m)
{
    ynode_t *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->kind = kind;
    n->line = (int)m->line + 1;
    n->col = (int)m->column + 1;
    return n;
}

/* Attach child to parent (NULL parent: it is the root). Checks map keys as they arrive. The
 * child belongs to the tree afterwards, even on error. */
static int attach(ynode_t *parent, ynode_t **root, ynode_t *child, ytree_error_t *err)
{
    if (!parent) {
        *root = child;
        return 0;
    }
    if (VEC_RESERVE(parent->items, parent->cap, parent->n_slots + 1) < 0) {
        ytree_free(child);
        return fail(err, YTREE_ERR_NOMEM, parent->line, parent->col, "out of memory");
    }
    parent->items[parent->n_slots++] = child;
    if (parent->kind == YNODE_SEQ) {
        parent->n++;
        return 0;
    }
    if (parent->n_slots % 2 == 0) {   /* a value: the pair is complete */
        parent->n++;
        return 0;
    }
    if (parent->n >= YTREE_MAX_MAP_KEYS)
        return fail(err, YTREE_ERR_TOO_MANY_KEYS, child->line, child->col,
                    "a mapping with more than %d keys", YTREE_MAX_MAP_KEYS);
    if (child->kind != YNODE_SCALAR)
        return fail(err, YTREE_ERR_KEY_NOT_SCALAR, child->line, child->col,
                    "a mapping key must be a plain word, got %s", ytree_describe(child));
    for (size_t i = 0; i < parent->n; i++)
        if (strcmp(ytree_key(parent, i)->str, child->str) == 0)
            return fail(err, YTREE_ERR_DUPLICATE_KEY, child->line, child->col,
                        "duplicate key '%s' (first at line %d)", SHOW(child->str),
                        ytree_key(parent, i)->line);
    return 0;
}

static ynode_t *scalar_new(const yaml_event_t *ev, ytree_error_t *err)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    ynode_t *node = node_new(YNODE_SCALAR, &ev->start_mark);
    if (node)
        node->str = malloc(ev->data.scalar.length + 1);
    if (!node || !node->str) {
        ytree_free(node);
        fail(err, YTREE_ERR_NOMEM, line, col, "out of memory");
        return NULL;
    }
    memcpy(node->str, ev->data.scalar.value, ev->data.scalar.length);
    node->str[ev->data.scalar.length] = '\0';
    node->len = ev->data.scalar.length;
    yaml_scalar_style_t style = ev->data.scalar.style;
    node->quoted = style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                   style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    node->block = style == YAML_LITERAL_SCALAR_STYLE || style == YAML_FOLDED_SCALAR_STYLE;
    node->plain = style == YAML_PLAIN_SCALAR_STYLE &&
                  (!ev->data.scalar.tag ||
                   strcmp((const char *)ev->data.scalar.tag, YAML_STR_TAG) != 0);
    if (memchr(node->str, '\0', node->len)) {
        ytree_free(node);
        fail(err, YTREE_ERR_NUL, line, col, "text must not contain a NUL character");
        return NULL;
    }
    return node;
}

int ytree_parse(const char *text, size_t len, ynode_t **root, ytree_error_t *err)
{
    memset(err, 0, sizeof *err);
    *root = NULL;
    if (!text)
        text = "", len = 0;
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return fail(err, YTREE_ERR_NOMEM, 1, 1, "out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);

    ynode_t *stack[YTREE_MAX_DEPTH];   /* open collections, innermost last */
    int depth = 0, docs = 0, rc = 0;
    for (bool done = false; !done && rc == 0;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = syntax_error(text, len, &p, err);
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
                rc = fail(err, YTREE_ERR_SECOND_DOCUMENT, line, col,
                          "found a second YAML document; one was expected");
            break;
        case YAML_ALIAS_EVENT:
            rc = fail(err, YTREE_ERR_ALIAS, line, col,
                      "YAML aliases (*%s) are not supported; write the value out",
                      SHOW((const char *)ev.data.alias.anchor));
            break;
        case YAML_SCALAR_EVENT:
            node = scalar_new(&ev, err);
            rc = node ? attach(parent, root, node, err) : -1;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth == YTREE_MAX_DEPTH) {
                rc = fail(err, YTREE_ERR_TOO_DEEP, line, col, "nested more than %d levels deep",
                          YTREE_MAX_DEPTH);
                break;
            }
            node = node_new(ev.type == YAML_SEQUENCE_START_EVENT ? YNODE_SEQ : YNODE_MAP,
                            &ev.start_mark);
            if (!node) {
                rc = fail(err, YTREE_ERR_NOMEM, line, col, "out of memory");
                break;
            }
            rc = attach(parent, root, node, err);
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
        ytree_free(*root);
        *root = NULL;
    }
    return rc;
}
