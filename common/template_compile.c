/*
 * template_compile — the `{{ expr }}` compiler: source text in, an immutable tmpl_t out
 * (contract: template.h; compiled form: template_internal.h; language: scenarios/README.md,
 * "Templates").
 *
 * Why a compiler: scenario files are loaded once and rendered millions of times, so every
 * question that has one answer per file — is this name a function, a variable, which slot —
 * is settled here, and an unknown name is an error at load time, not a failed request.
 *
 * How: the source is cut into literal segments and expressions. An expression is lexed and
 * parsed by recursive descent into a node array; each maximal arithmetic subtree is then
 * flattened into a postfix program that runs on a small stack of doubles. Variables are
 * resolved to (scope, slot) through the caller's callback, so rendering is an array lookup.
 *
 * Language decisions made here (the evaluator's are in template_eval.c):
 * - env(NAME): a bare identifier is the name itself (not a variable); any other argument must
 *   evaluate to a string.
 * - Literal text cannot contain "{{" except as {{ "{{" }}.
 * - What does not depend on the request is evaluated here (check_constants): constant
 *   arithmetic becomes a number, and constant arguments a function can never accept are a
 *   load error.
 *
 * What must stay true: everything tmpl_compile allocates belongs to the returned tmpl_t (or is
 * freed before an error return); the result is never written again (template_internal.h).
 * Thread: compiling is single-threaded per call and uses no global state.
 */
#include "template.h"
#include "suggest.h"
#include "template_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

#define MAX_ARGS 64              /* arguments of one call (choice) */
#define MAX_NEST 64              /* parser recursion: parentheses, calls, unary minus */

/* ---- language tables ------------------------------------------------------------------ */

const tmpl_fn_spec_t tmpl_fn_specs[FN_COUNT] = {
    [FN_UUID] = {"uuid", 0, 0},
    [FN_RANDOM_STRING] = {"random_string", 1, 2},
    [FN_RANDOM_INT] = {"random_int", 2, 2},
    [FN_RANDOM_FLOAT] = {"random_float", 3, 3},
    [FN_CHOICE] = {"choice", 1, -1},
    [FN_PICK] = {"pick", 1, 1},
    [FN_ENV] = {"env", 1, 1},
    [FN_NOW] = {"now", 0, 0},
};

static const char *const builtin_names[B_COUNT] = {"user_id", "worker_id", "iteration"};

/* ---- compiler ------------------------------------------------------------------------- */

enum tok { T_EOF, T_END, T_NUM, T_STR, T_IDENT, T_PLUS, T_MINUS, T_STAR, T_SLASH, T_LPAREN,
           T_RPAREN, T_COMMA, T_DOT, T_LBRACK, T_RBRACK, T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE };

typedef struct compiler {
    const char *src;
    size_t len;
    size_t pos;                 /* lexer position */
    tmpl_resolve_fn resolve;
    void *rctx;
    tmpl_t *t;                  /* being built */
    size_t cap_segs, cap_nodes, cap_args, cap_code;
    uint32_t *node_off;         /* per node: where its expression starts in src, for load-time
                                   errors; owned, freed when compiling ends */
    size_t cap_node_off;
    buf_t pool;
    tmpl_error_t *err;
    size_t open_off;            /* offset of the "{{" being parsed */
    int depth;
    int tok;                    /* current token */
    size_t tok_off, tok_len;
    double tok_num;
    uint32_t str_off, str_len;  /* T_STR: decoded into the pool */
} compiler_t;

static int cfail(compiler_t *c, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int cfail(compiler_t *c, size_t off, const char *fmt, ...)
{
    if (c->err) {
        va_list ap;
        va_start(ap, fmt);
        tmpl_vformat_error(c->err->message, sizeof c->err->message, fmt, ap);
        va_end(ap);
        c->err->offset = off;
    }
    return -1;
}

static int oom(compiler_t *c) { return cfail(c, c->tok_off, "out of memory"); }

static bool is_ident_start(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}
static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }
static bool is_ident_char(char ch) { return is_ident_start(ch) || is_digit(ch); }
static bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; }

/* Pool strings are NUL-terminated so getenv and messages can use them as C strings. */
static int pool_add(compiler_t *c, const char *s, size_t n, uint32_t *off)
{
    *off = (uint32_t)c->pool.len;
    if (buf_append(&c->pool, s, n) < 0 || buf_putc(&c->pool, '\0') < 0)
        return oom(c);
    return 0;
}

static int lex_string(compiler_t *c)
{
    char q = c->src[c->pos];
    size_t start = c->pos++;
    buf_t *p = &c->pool;
    c->str_off = (uint32_t)p->len;
    while (c->pos < c->len && c->src[c->pos] != q) {
        char ch = c->src[c->pos];
        if (ch == '\\') {
            if (c->pos + 1 >= c->len)
                break;
            char e = c->src[c->pos + 1];
            switch (e) {
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case 'r': ch = '\r'; break;
            case '\\': case '\'': case '"': case '/': ch = e; break;
            default:
                return cfail(c, c->pos, "unknown escape '\\%c' in string (use \\\\ \\' \\\" \\n \\t \\r)", e);
            }
            c->pos++;
        }
        if (buf_putc(p, ch) < 0)
            return oom(c);
        c->pos++;
    }
    if (c->pos >= c->len)
        return cfail(c, start, "unterminated string: missing closing %c", q);
    c->pos++;
    c->str_len = (uint32_t)(p->len - c->str_off);
    if (buf_putc(p, '\0') < 0)
        return oom(c);
    c->tok = T_STR;
    return 0;
}

static int lex_number(compiler_t *c)
{
    size_t p = c->pos;
    while (p < c->len && is_digit(c->src[p]))
        p++;
    if (p < c->len && c->src[p] == '.') {
        p++;
        if (p >= c->len || !is_digit(c->src[p]))
            return cfail(c, p, "expected digits after the decimal point");
        while (p < c->len && is_digit(c->src[p]))
            p++;
    }
    if (p < c->len && (c->src[p] == 'e' || c->src[p] == 'E')) {
        size_t q = p + 1;
        if (q < c->len && (c->src[q] == '+' || c->src[q] == '-'))
            q++;
        if (q < c->len && is_digit(c->src[q])) {
            while (q < c->len && is_digit(c->src[q]))
                q++;
            p = q;
        }
    }
    char tmp[64];
    size_t n = p - c->pos;
    if (n >= sizeof tmp)
        return cfail(c, c->pos, "number too long");
    memcpy(tmp, c->src + c->pos, n);
    tmp[n] = '\0';
    c->tok_num = strtod(tmp, NULL);
    if (!isfinite(c->tok_num))
        return cfail(c, c->pos, "number '%s' is too large", tmp);
    c->pos = p;
    c->tok = T_NUM;
    return 0;
}

static int lex(compiler_t *c)
{
    while (c->pos < c->len && is_space(c->src[c->pos]))
        c->pos++;
    c->tok_off = c->pos;
    if (c->pos >= c->len) {
        c->tok = T_EOF;
        c->tok_len = 0;
        return 0;
    }
    char ch = c->src[c->pos];
    int rc = 0;
    if (ch == '}' && c->pos + 1 < c->len && c->src[c->pos + 1] == '}') {
        c->tok = T_END;
        c->pos += 2;
    } else if (is_ident_start(ch)) {
        while (c->pos < c->len && is_ident_char(c->src[c->pos]))
            c->pos++;
        c->tok = T_IDENT;
    } else if (is_digit(ch)) {
        rc = lex_number(c);
    } else if (ch == '\'' || ch == '"') {
        rc = lex_string(c);
    } else if (ch == '=' || ch == '!' || ch == '<' || ch == '>') {
        bool eq_next = c->pos + 1 < c->len && c->src[c->pos + 1] == '=';
        if (ch == '=' && !eq_next)
            return cfail(c, c->pos, "'=' alone is not an operator: compare with '=='");
        if (ch == '!' && !eq_next)
            return cfail(c, c->pos, "'!' alone is not an operator: write 'not' (or '!=')");
        c->tok = ch == '=' ? T_EQ : ch == '!' ? T_NE : ch == '<' ? (eq_next ? T_LE : T_LT)
                                                                 : (eq_next ? T_GE : T_GT);
        c->pos += eq_next ? 2 : 1;
    } else {
        static const char ops[] = "+-*/(),.[]";
        static const int toks[] = {T_PLUS, T_MINUS, T_STAR, T_SLASH, T_LPAREN, T_RPAREN, T_COMMA,
                                   T_DOT, T_LBRACK, T_RBRACK};
        const char *o = strchr(ops, ch);
        if (!o || ch == '\0') {
            if ((unsigned char)ch < 0x20 || (unsigned char)ch >= 0x7f)
                return cfail(c, c->pos, "unexpected byte 0x%02x in expression",
                             (unsigned char)ch);
            return cfail(c, c->pos, "unexpected character '%c' in expression", ch);
        }
        c->tok = toks[o - ops];
        c->pos++;
    }
    c->tok_len = c->pos - c->tok_off;
    return rc;
}

/* How the current token reads in a message. */
static const char *tok_desc(compiler_t *c, char *buf, size_t n)
{
    if (c->tok == T_EOF)
        snprintf(buf, n, "the end of the text");
    else
        snprintf(buf, n, QFMT, QARG(c->src + c->tok_off, c->tok_len));
    return buf;
}

/* Add node n, whose expression starts at src offset off. */
static int add_node(compiler_t *c, node_t n, size_t off, uint32_t *idx)
{
    if (VEC_RESERVE(c->t->nodes, c->cap_nodes, c->t->nnodes + 1) < 0 ||
        VEC_RESERVE(c->node_off, c->cap_node_off, c->t->nnodes + 1) < 0)
        return oom(c);
    *idx = (uint32_t)c->t->nnodes;
    c->node_off[*idx] = (uint32_t)off;
    c->t->nodes[c->t->nnodes++] = n;
    return 0;
}

/* The function nearest to an unknown name, for "did you mean": close, and not a guess from
 * a name much shorter than what it would suggest. */
static const char *nearest_function(const char *name, size_t len)
{
    const char *names[FN_COUNT + 1];
    for (int i = 0; i < FN_COUNT; i++)
        names[i] = tmpl_fn_specs[i].name;
    names[FN_COUNT] = NULL;
    const char *best = suggest_nearest(name, len, names, 4);
    if (best && suggest_distance(name, len, best, strlen(best)) >= len)
        return NULL;
    return best;
}

static int find_fn(const char *name, size_t len)
{
    for (int i = 0; i < FN_COUNT; i++)
        if (strlen(tmpl_fn_specs[i].name) == len && memcmp(tmpl_fn_specs[i].name, name, len) == 0)
            return i;
    return -1;
}

static int arg_count_error(compiler_t *c, size_t off, int fn, int got)
{
    const tmpl_fn_spec_t *s = &tmpl_fn_specs[fn];
    if (s->max_args < 0)
        return cfail(c, off, "%s() takes at least %d argument%s, got %d", s->name, s->min_args,
                     s->min_args == 1 ? "" : "s", got);
    if (s->max_args == 0)
        return cfail(c, off, "%s() takes no arguments, got %d", s->name, got);
    if (s->min_args != s->max_args)
        return cfail(c, off, "%s() takes %d or %d arguments, got %d", s->name, s->min_args,
                     s->max_args, got);
    return cfail(c, off, "%s() takes %d argument%s, got %d", s->name, s->min_args,
                 s->min_args == 1 ? "" : "s", got);
}

static size_t next_nonspace(compiler_t *c, size_t p)
{
    while (p < c->len && is_space(c->src[p]))
        p++;
    return p;
}

static int parse_expr(compiler_t *c, uint32_t *out);

static int parse_call(compiler_t *c, size_t name_off, size_t name_len, uint32_t *out)
{
    const char *name = c->src + name_off;
    int fn = find_fn(name, name_len);
    if (fn < 0) {
        const char *near = nearest_function(name, name_len);
        if (near)
            return cfail(c, name_off, "unknown function '%.*s' (did you mean '%s'?)",
                         (int)name_len, name, near);
        return cfail(c, name_off,
                     "unknown function '%.*s' (functions: uuid random_string random_int "
                     "random_float choice pick env now)", (int)name_len, name);
    }
    uint32_t args[MAX_ARGS];
    int argc = 0;
    if (lex(c) < 0) /* '(' */
        return -1;
    if (lex(c) < 0)
        return -1;
    if (c->tok != T_RPAREN) {
        for (;;) {
            if (argc == MAX_ARGS)
                return cfail(c, c->tok_off, "too many arguments to %s() (at most %d)",
                             tmpl_fn_specs[fn].name, MAX_ARGS);
            size_t after = next_nonspace(c, c->pos);
            if (fn == FN_ENV && c->tok == T_IDENT && after < c->len &&
                (c->src[after] == ')' || c->src[after] == ',')) {
                /* env(NAME): the bare identifier is the variable's name, not a template
                 * variable. */
                node_t n = {.kind = N_STR};
                if (pool_add(c, c->src + c->tok_off, c->tok_len, &n.a) < 0)
                    return -1;
                n.b = (uint32_t)c->tok_len;
                if (add_node(c, n, c->tok_off, &args[argc]) < 0 || lex(c) < 0)
                    return -1;
            } else if (parse_expr(c, &args[argc]) < 0) {
                return -1;
            }
            argc++;
            if (c->tok == T_RPAREN)
                break;
            if (c->tok != T_COMMA) {
                char d[64];
                if (c->tok == T_EOF)
                    return cfail(c, c->open_off, "unclosed '{{': no matching '}}'");
                return cfail(c, c->tok_off, "expected ',' or ')' in the arguments of %s(), found %s",
                             tmpl_fn_specs[fn].name, tok_desc(c, d, sizeof d));
            }
            if (lex(c) < 0)
                return -1;
        }
    }
    const tmpl_fn_spec_t *spec = &tmpl_fn_specs[fn];
    if (argc < spec->min_args || (spec->max_args >= 0 && argc > spec->max_args))
        return arg_count_error(c, name_off, fn, argc);
    if (VEC_RESERVE(c->t->args, c->cap_args, c->t->nargs + (size_t)argc) < 0)
        return oom(c);
    node_t n = {.kind = N_CALL, .sub = (uint8_t)fn, .a = (uint32_t)c->t->nargs, .b = (uint32_t)argc};
    if (argc)
        memcpy(c->t->args + c->t->nargs, args, (size_t)argc * sizeof(uint32_t));
    c->t->nargs += (size_t)argc;
    if (add_node(c, n, name_off, out) < 0)
        return -1;
    return lex(c); /* past ')' */
}

static bool tok_is(const compiler_t *c, const char *word)
{
    return c->tok == T_IDENT && c->tok_len == strlen(word) &&
           memcmp(c->src + c->tok_off, word, c->tok_len) == 0;
}

static int parse_ident(compiler_t *c, uint32_t *out)
{
    size_t off = c->tok_off, len = c->tok_len;
    const char *name = c->src + off;
    if (tok_is(c, "true") || tok_is(c, "false") || tok_is(c, "null")) {
        node_t n = {.kind = tok_is(c, "null") ? N_NULL : N_BOOL, .sub = tok_is(c, "true")};
        if (add_node(c, n, off, out) < 0)
            return -1;
        return lex(c);
    }
    if (tok_is(c, "and") || tok_is(c, "or") || tok_is(c, "not"))
        return cfail(c, off, "expected a value, found '%.*s'", (int)len, name);
    size_t after = next_nonspace(c, c->pos);
    if (after < c->len && c->src[after] == '(')
        return parse_call(c, off, len, out);
    for (int b = 0; b < B_COUNT; b++) {
        if (strlen(builtin_names[b]) == len && memcmp(builtin_names[b], name, len) == 0) {
            node_t n = {.kind = N_BUILTIN, .sub = (uint8_t)b};
            if (add_node(c, n, off, out) < 0)
                return -1;
            return lex(c);
        }
    }
    tmpl_scope_t scope = TMPL_SCOPE_GLOBAL;
    uint32_t slot = 0;
    /* `set.column` may name one value of its own (a data set's column, which the resolver
     * checks at load): tried first, else `.column` is a member of the value `set` names. */
    bool resolved = false;
    if (c->resolve && c->pos + 1 < c->len && c->src[c->pos] == '.' &&
        is_ident_start(c->src[c->pos + 1])) {
        size_t end = c->pos + 1;
        while (end < c->len && is_ident_char(c->src[end]))
            end++;
        if (c->resolve(c->rctx, name, end - off, &scope, &slot) == 0) {
            len = end - off;
            c->pos = end;
            resolved = true;
        }
    }
    if (!resolved && (!c->resolve || c->resolve(c->rctx, name, len, &scope, &slot) != 0)) {
        if (find_fn(name, len) >= 0)
            return cfail(c, off, "undefined variable '%.*s': nothing saves it and vars does not "
                         "define it (did you mean '%.*s()'?)", (int)len, name, (int)len, name);
        return cfail(c, off, "undefined variable '%.*s': nothing saves it and vars does not "
                     "define it", (int)len, name);
    }
    node_t n = {.kind = N_VAR, .sub = (uint8_t)scope, .b = (uint32_t)len, .c = slot};
    if (pool_add(c, name, len, &n.a) < 0 || add_node(c, n, off, out) < 0)
        return -1;
    return lex(c);
}

/* After a value: `.name` (an object's member) and `[expr]` (a list's element, or a member
 * by a string), any number of them: item.id, players[0].name. */
static int parse_postfix(compiler_t *c, uint32_t *out)
{
    char d[64];
    while (c->tok == T_DOT || c->tok == T_LBRACK) {
        size_t off = c->node_off[*out];
        node_t n = {.kind = N_INDEX, .a = *out};
        if (c->tok == T_DOT) {
            if (lex(c) < 0)
                return -1;
            if (c->tok != T_IDENT)
                return cfail(c, c->tok_off, "expected a key name after '.', found %s",
                             tok_desc(c, d, sizeof d));
            node_t key = {.kind = N_STR, .b = (uint32_t)c->tok_len};
            if (pool_add(c, c->src + c->tok_off, c->tok_len, &key.a) < 0 ||
                add_node(c, key, c->tok_off, &n.b) < 0 || lex(c) < 0)
                return -1;
        } else {
            size_t open = c->tok_off;
            if (lex(c) < 0 || parse_expr(c, &n.b) < 0)
                return -1;
            if (c->tok == T_EOF)
                return cfail(c, c->open_off, "unclosed '{{': no matching '}}'");
            if (c->tok != T_RBRACK)
                return cfail(c, c->tok_off, "expected ']' to close the '[' at offset %zu, "
                             "found %s", open, tok_desc(c, d, sizeof d));
            if (lex(c) < 0)
                return -1;
        }
        if (add_node(c, n, off, out) < 0)
            return -1;
    }
    return 0;
}

static int parse_unary(compiler_t *c, uint32_t *out)
{
    char d[64];
    if (++c->depth > MAX_NEST)
        return cfail(c, c->tok_off, "expression is nested too deeply");
    int rc = 0;
    switch (c->tok) {
    case T_MINUS:
    case T_PLUS: {
        bool neg = c->tok == T_MINUS;
        size_t sign_off = c->tok_off;
        uint32_t operand;
        if (lex(c) < 0 || parse_unary(c, &operand) < 0)
            return -1;
        if (!neg) {
            *out = operand;
        } else if (c->t->nodes[operand].kind == N_NUM) {
            c->t->nodes[operand].num = -c->t->nodes[operand].num;
            *out = operand;
        } else {
            node_t n = {.kind = N_NEG, .a = operand};
            rc = add_node(c, n, sign_off, out);
        }
        break;
    }
    case T_NUM: {
        node_t n = {.kind = N_NUM, .num = c->tok_num};
        rc = add_node(c, n, c->tok_off, out) < 0 || lex(c) < 0 ? -1 : 0;
        break;
    }
    case T_STR: {
        node_t n = {.kind = N_STR, .a = c->str_off, .b = c->str_len};
        rc = add_node(c, n, c->tok_off, out) < 0 || lex(c) < 0 ? -1 : 0;
        break;
    }
    case T_IDENT:
        rc = parse_ident(c, out) < 0 || parse_postfix(c, out) < 0 ? -1 : 0;
        break;
    case T_LPAREN: {
        size_t open = c->tok_off;
        if (lex(c) < 0 || parse_expr(c, out) < 0)
            return -1;
        if (c->tok == T_EOF)
            return cfail(c, c->open_off, "unclosed '{{': no matching '}}'");
        if (c->tok != T_RPAREN)
            return cfail(c, c->tok_off, "expected ')' to close the '(' at offset %zu, found %s",
                         open, tok_desc(c, d, sizeof d));
        rc = lex(c) < 0 || parse_postfix(c, out) < 0 ? -1 : 0;
        break;
    }
    case T_EOF:
        return cfail(c, c->open_off, "unclosed '{{': no matching '}}'");
    default:
        return cfail(c, c->tok_off, "expected a value, found %s", tok_desc(c, d, sizeof d));
    }
    c->depth--;
    return rc;
}

static int parse_binary(compiler_t *c, uint32_t *out, int level)
{
    uint32_t lhs;
    if ((level == 0 ? parse_binary(c, &lhs, 1) : parse_unary(c, &lhs)) < 0)
        return -1;
    for (;;) {
        char op;
        if (level == 0 && (c->tok == T_PLUS || c->tok == T_MINUS))
            op = c->tok == T_PLUS ? '+' : '-';
        else if (level == 1 && (c->tok == T_STAR || c->tok == T_SLASH))
            op = c->tok == T_STAR ? '*' : '/';
        else
            break;
        uint32_t rhs;
        if (lex(c) < 0 || (level == 0 ? parse_binary(c, &rhs, 1) : parse_unary(c, &rhs)) < 0)
            return -1;
        node_t n = {.kind = N_BIN, .sub = (uint8_t)op, .a = lhs, .b = rhs};
        if (add_node(c, n, c->node_off[lhs], &lhs) < 0)
            return -1;
    }
    *out = lhs;
    return 0;
}

/* Comparison: arithmetic, then at most one operator; a < b < c is refused (Python would
 * chain it, C would compare a boolean: write `a < b and b < c`). */
static int parse_compare(compiler_t *c, uint32_t *out)
{
    uint32_t lhs;
    if (parse_binary(c, &lhs, 0) < 0)
        return -1;
    if (c->tok < T_EQ || c->tok > T_GE) {
        *out = lhs;
        return 0;
    }
    static const uint8_t ops[] = {C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE};
    node_t n = {.kind = N_CMP, .sub = ops[c->tok - T_EQ], .a = lhs};
    if (lex(c) < 0 || parse_binary(c, &n.b, 0) < 0)
        return -1;
    if (c->tok >= T_EQ && c->tok <= T_GE)
        return cfail(c, c->tok_off, "comparisons cannot be chained: write 'a < b and b < c'");
    return add_node(c, n, c->node_off[lhs], out);
}

/* `not` binds tighter than `and`, which binds tighter than `or`; all looser than
 * comparisons. */
static int parse_not(compiler_t *c, uint32_t *out)
{
    if (!tok_is(c, "not"))
        return parse_compare(c, out);
    size_t off = c->tok_off;
    if (++c->depth > MAX_NEST)
        return cfail(c, off, "expression is nested too deeply");
    node_t n = {.kind = N_NOT};
    if (lex(c) < 0 || parse_not(c, &n.a) < 0)
        return -1;
    c->depth--;
    return add_node(c, n, off, out);
}

static int parse_logic(compiler_t *c, uint32_t *out, bool is_or)
{
    uint32_t lhs;
    if ((is_or ? parse_logic(c, &lhs, false) : parse_not(c, &lhs)) < 0)
        return -1;
    while (tok_is(c, is_or ? "or" : "and")) {
        node_t n = {.kind = is_or ? N_OR : N_AND, .a = lhs};
        if (lex(c) < 0 || (is_or ? parse_logic(c, &n.b, false) : parse_not(c, &n.b)) < 0)
            return -1;
        if (add_node(c, n, c->node_off[lhs], &lhs) < 0)
            return -1;
    }
    *out = lhs;
    return 0;
}

static int parse_expr(compiler_t *c, uint32_t *out) { return parse_logic(c, out, true); }

static int flatten(compiler_t *c, uint32_t idx, size_t off);

static int emit(compiler_t *c, uint32_t idx, int *depth, int *maxd, size_t off)
{
    node_t n = c->t->nodes[idx];
    arith_t op = {0};
    if (n.kind == N_BIN) {
        if (emit(c, n.a, depth, maxd, off) < 0 || emit(c, n.b, depth, maxd, off) < 0)
            return -1;
        op.op = n.sub == '+' ? A_ADD : n.sub == '-' ? A_SUB : n.sub == '*' ? A_MUL : A_DIV;
        (*depth)--;
    } else if (n.kind == N_NEG) {
        if (emit(c, n.a, depth, maxd, off) < 0)
            return -1;
        op.op = A_NEG;
    } else {
        if (n.kind == N_NUM) {
            op.op = A_NUM;
            op.num = n.num;
        } else {
            if (flatten(c, idx, off) < 0)
                return -1;
            op.op = A_NODE;
            op.node = idx;
        }
        if (++*depth > *maxd)
            *maxd = *depth;
    }
    if (VEC_RESERVE(c->t->code, c->cap_code, c->t->ncode + 1) < 0)
        return oom(c);
    c->t->code[c->t->ncode++] = op;
    return 0;
}

/* Turn each maximal arithmetic subtree under idx into one N_ARITH postfix program. */
static int flatten(compiler_t *c, uint32_t idx, size_t off)
{
    node_t *n = &c->t->nodes[idx];
    if (n->kind == N_BIN || n->kind == N_NEG) {
        uint32_t start = (uint32_t)c->t->ncode;
        int depth = 0, maxd = 0;
        if (emit(c, idx, &depth, &maxd, off) < 0)
            return -1;
        if (maxd > TMPL_ARITH_STACK)
            return cfail(c, off, "arithmetic is nested too deeply (at most %d pending values)",
                         TMPL_ARITH_STACK);
        n = &c->t->nodes[idx];
        n->kind = N_ARITH;
        n->a = start;
        n->b = (uint32_t)(c->t->ncode - start);
    } else if (n->kind == N_CALL) {
        uint32_t first = n->a, argc = n->b;
        for (uint32_t i = 0; i < argc; i++)
            if (flatten(c, c->t->args[first + i], off) < 0)
                return -1;
    } else if (n->kind == N_CMP || n->kind == N_AND || n->kind == N_OR ||
               n->kind == N_INDEX) {
        uint32_t a = n->a, b = n->b;
        if (flatten(c, a, off) < 0 || flatten(c, b, off) < 0)
            return -1;
    } else if (n->kind == N_NOT) {
        return flatten(c, n->a, off);
    }
    return 0;
}

static int add_seg(compiler_t *c, seg_t s)
{
    if (VEC_RESERVE(c->t->segs, c->cap_segs, c->t->nsegs + 1) < 0)
        return oom(c);
    c->t->segs[c->t->nsegs++] = s;
    return 0;
}

static const char *find_open(const char *s, size_t from, size_t len)
{
    for (size_t i = from; i + 1 < len; i++)
        if (s[i] == '{' && s[i + 1] == '{')
            return s + i;
    return NULL;
}

static int compile_all(compiler_t *c)
{
    size_t i = 0;
    char d[64];
    while (i < c->len) {
        const char *open = find_open(c->src, i, c->len);
        size_t p = open ? (size_t)(open - c->src) : c->len;
        if (p > i && add_seg(c, (seg_t){.off = (uint32_t)i, .len = (uint32_t)(p - i)}) < 0)
            return -1;
        if (!open)
            break;
        c->open_off = p;
        if (!memmem(c->src + p + 2, c->len - p - 2, "}}", 2)) /* before its names: "{{ foo" */
            return cfail(c, p, "unclosed '{{': no matching '}}'");
        c->pos = p + 2;
        c->depth = 0;
        if (lex(c) < 0)
            return -1;
        if (c->tok == T_END)
            return cfail(c, p, "empty expression: '{{ }}' needs something inside");
        uint32_t root;
        if (parse_expr(c, &root) < 0)
            return -1;
        if (c->tok == T_EOF)
            return cfail(c, p, "unclosed '{{': no matching '}}'");
        if (c->tok != T_END)
            return cfail(c, c->tok_off, "unexpected %s after the expression (expected '}}')",
                         tok_desc(c, d, sizeof d));
        if (flatten(c, root, p) < 0)
            return -1;
        if (add_seg(c, (seg_t){.is_expr = true, .root = root}) < 0)
            return -1;
        i = c->pos;
    }
    return 0;
}

/* ---- constants: evaluated at load -------------------------------------------------------
 *
 * Whatever does not depend on the request is evaluated once here, so a template that can
 * never render is a load error with its position, not a failure on every request:
 * arithmetic over constants is folded into a number ("{{ 1/0 }}", "{{ 'a' * 2 }}" fail
 * here), and a call whose arguments are all constants is tried once for the errors those
 * arguments alone cause (random_int(5, 1), random_string(-1), random_float(1, 2, 99),
 * pick('x'), env('')). Its value is not kept: it is random (or, for env(), the worker's).
 * choice() is not tried as a whole (it picks); each of its arguments is.
 */

/* Check node idx and what is under it. Returns 1 when its value is a constant (a number or
 * a string, the same on every render), 0 when it is not, -1 with the error set. */
static int check_constants(compiler_t *c, uint32_t idx)
{
    node_t *n = &c->t->nodes[idx];
    char msg[sizeof c->err->message];
    bool all_const = true;
    switch (n->kind) {
    case N_NUM:
    case N_STR:
        return 1;
    case N_ARITH:
        for (uint32_t i = 0; i < n->b; i++) {
            const arith_t *op = &c->t->code[n->a + i];
            int k = op->op == A_NODE ? check_constants(c, op->node) : 1;
            if (k < 0)
                return -1;
            all_const = all_const && k == 1;
        }
        if (!all_const)
            return 0;
        double v;
        if (tmpl_eval_constant(c->t, idx, &v, msg, sizeof msg) < 0)
            return cfail(c, c->node_off[idx], "%s", msg);
        *n = (node_t){.kind = N_NUM, .num = v}; /* folded: its program is no longer run */
        return 1;
    case N_CALL:
        for (uint32_t i = 0; i < n->b; i++) {
            int k = check_constants(c, c->t->args[n->a + i]);
            if (k < 0)
                return -1;
            all_const = all_const && k == 1;
        }
        if (all_const && n->sub != FN_CHOICE &&
            tmpl_eval_constant(c->t, idx, NULL, msg, sizeof msg) < 0)
            return cfail(c, c->node_off[idx], "%s", msg);
        return 0;
    case N_CMP:
    case N_AND:
    case N_OR:
    case N_INDEX:
        /* Not folded (nothing gains from it): their operands are checked. */
        if (check_constants(c, n->a) < 0 || check_constants(c, n->b) < 0)
            return -1;
        return 0;
    case N_NOT:
        return check_constants(c, n->a) < 0 ? -1 : 0;
    default: /* variables, built-ins, literals: nothing to check */
        return 0;
    }
}

static int check_all_constants(compiler_t *c)
{
    for (size_t i = 0; i < c->t->nsegs; i++)
        if (c->t->segs[i].is_expr && check_constants(c, c->t->segs[i].root) < 0)
            return -1;
    return 0;
}

void tmpl_free(tmpl_t *t)
{
    if (!t)
        return;
    free(t->src);
    free(t->segs);
    free(t->nodes);
    free(t->args);
    free(t->code);
    free(t->pool);
    free(t);
}

int tmpl_compile(const char *src, size_t len, tmpl_resolve_fn resolve, void *ctx, tmpl_t **out,
                 tmpl_error_t *err)
{
    *out = NULL;
    compiler_t c = {.src = src, .len = len, .resolve = resolve, .rctx = ctx, .err = err};
    buf_init(&c.pool);
    if (len > UINT32_MAX / 2)
        return cfail(&c, 0, "template is too long");
    c.t = calloc(1, sizeof *c.t);
    if (!c.t || !(c.t->src = malloc(len + 1))) {
        free(c.t);
        return cfail(&c, 0, "out of memory");
    }
    if (len)
        memcpy(c.t->src, src, len);
    c.t->src[len] = '\0';
    c.t->src_len = len;
    if (compile_all(&c) < 0) {
        buf_free(&c.pool);
        free(c.node_off);
        tmpl_free(c.t);
        return -1;
    }
    c.t->pool = c.pool.data; /* ownership moves to the template */
    c.t->pool_len = c.pool.len;
    int rc = check_all_constants(&c); /* after the move: evaluating reads the pool */
    free(c.node_off);
    if (rc < 0) {
        tmpl_free(c.t);
        return -1;
    }
    *out = c.t;
    return 0;
}

bool tmpl_is_literal(const tmpl_t *t)
{
    for (size_t i = 0; i < t->nsegs; i++)
        if (t->segs[i].is_expr)
            return false;
    return true;
}

const char *tmpl_literal(const tmpl_t *t, size_t *len)
{
    if (len)
        *len = t->src_len;
    return t->src;
}

bool tmpl_is_single_expr(const tmpl_t *t) { return t->nsegs == 1 && t->segs[0].is_expr; }

bool tmpl_text_find(const tmpl_t *t, bool (*match)(unsigned char ch), size_t *offset)
{
    for (size_t i = 0; i < t->nsegs; i++) {
        const seg_t *s = &t->segs[i];
        for (uint32_t k = 0; !s->is_expr && k < s->len; k++) {
            if (match((unsigned char)t->src[s->off + k])) {
                *offset = s->off + k;
                return true;
            }
        }
    }
    return false;
}
