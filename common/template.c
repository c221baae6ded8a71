/*
 * template — compiler and renderer for the `{{ expr }}` language and for JSON bodies whose
 * string leaves are templates (contract: template.h; language: ../shared/SCENARIOS.md).
 *
 * Compile: the source is cut into literal segments and expressions. An expression is parsed by
 * recursive descent into an immutable node array; each maximal arithmetic subtree is then
 * flattened into a postfix program that runs on a small stack of doubles. Variables are
 * resolved to (scope, slot) here, so rendering is an array lookup and an unknown name is a
 * load-time error.
 *
 * Render: literal segments are copied; expressions write straight into the caller's buf_t.
 * Nothing on the render path allocates except that buffer growing: values are borrowed
 * (string constants from the compiled pool, saved jansson values, getenv), numbers are
 * formatted in a stack buffer, uuid() and random_string() write into the output directly (or,
 * when nested inside another expression, into a fixed scratch area on the C stack).
 *
 * Language decisions the contract leaves open:
 * - `+ - * /` are numeric only. A string operand must parse entirely as a decimal number
 *   ("12.50", "-3", "1e3"), otherwise "'abc' is not a number". There is no string
 *   concatenation: write "{{ a }}{{ b }}".
 * - An arithmetic result is rounded to 15 significant digits (see round15), so
 *   "{{ price * 1.5 }}" with price 12.34 gives 18.51. Numbers print in the shortest form that
 *   reads back the same (tmpl_format_number).
 * - random_string(n, alphabet): the alphabet is ASCII; "x-y" is the inclusive range from x to
 *   y, a '-' first or last is literal, and a repeated character counts once. Default a-z0-9.
 * - random_int(a, b) and the n of random_string want whole numbers within +-2^53.
 * - random_float(a, b, digits): digits is a whole number 0..15; the result is clamped to
 *   [a, b] after rounding.
 * - choice() evaluates only the argument it picks.
 * - env(NAME): a bare identifier is the name itself (not a variable); any other argument must
 *   evaluate to a string.
 * - Literal text cannot contain "{{" except as {{ "{{" }}.
 */
#include "template.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ARGS 64              /* arguments of one call (choice) */
#define MAX_NEST 64              /* parser recursion: parentheses, calls, unary minus */
#define ARITH_STACK 32           /* postfix stack depth of one arithmetic subtree */
#define SCRATCH_BYTES 512        /* generated strings nested inside another expression */
#define RANDOM_STRING_MAX (1u << 20)
#define MAX_WHOLE 9007199254740992.0 /* 2^53: whole numbers beyond this are not exact */

/* ---- language tables ------------------------------------------------------------------ */

enum fn { FN_UUID, FN_RANDOM_STRING, FN_RANDOM_INT, FN_RANDOM_FLOAT, FN_CHOICE, FN_PICK, FN_ENV,
          FN_NOW, FN_COUNT };

static const struct fn_spec {
    const char *name;
    int min_args, max_args; /* max -1: any number */
} fn_specs[FN_COUNT] = {
    [FN_UUID] = {"uuid", 0, 0},
    [FN_RANDOM_STRING] = {"random_string", 1, 2},
    [FN_RANDOM_INT] = {"random_int", 2, 2},
    [FN_RANDOM_FLOAT] = {"random_float", 3, 3},
    [FN_CHOICE] = {"choice", 1, -1},
    [FN_PICK] = {"pick", 1, 1},
    [FN_ENV] = {"env", 1, 1},
    [FN_NOW] = {"now", 0, 0},
};

enum builtin { B_USER_ID, B_WORKER_ID, B_ITERATION, B_COUNT };
static const char *const builtin_names[B_COUNT] = {"user_id", "worker_id", "iteration"};

/* ---- compiled form -------------------------------------------------------------------- */

enum nkind { N_NUM, N_STR, N_VAR, N_BUILTIN, N_CALL, N_NEG, N_BIN, N_ARITH };

/* One expression node. N_NEG and N_BIN exist only while compiling: flattening turns every
 * arithmetic subtree into one N_ARITH. Field use by kind:
 *   N_NUM num | N_STR a=pool offset, b=length | N_VAR sub=scope, a=name offset, b=name length,
 *   c=slot | N_BUILTIN sub=which | N_CALL sub=fn, a=first index in args[], b=argc |
 *   N_NEG a=operand | N_BIN sub=operator char, a=lhs, b=rhs | N_ARITH a=code offset, b=length */
typedef struct node {
    uint8_t kind;
    uint8_t sub;
    uint32_t a, b, c;
    double num;
} node_t;

enum aop { A_NUM, A_NODE, A_ADD, A_SUB, A_MUL, A_DIV, A_NEG };
typedef struct arith {
    uint8_t op;
    uint32_t node; /* A_NODE: operand evaluated as a value, then as a number */
    double num;    /* A_NUM */
} arith_t;

typedef struct seg {
    bool is_expr;
    uint32_t off, len; /* literal: slice of src */
    uint32_t root;     /* expression: root node */
} seg_t;

struct tmpl {
    char *src;      /* owned copy of the source, NUL-terminated */
    size_t src_len;
    seg_t *segs;    /* owned */
    size_t nsegs;
    node_t *nodes;  /* owned */
    size_t nnodes;
    uint32_t *args; /* owned: call arguments, node indices */
    size_t nargs;
    arith_t *code;  /* owned: postfix programs of every N_ARITH */
    size_t ncode;
    char *pool;     /* owned: decoded string constants and variable names, each NUL-ended */
    size_t pool_len;
};

/* ---- small helpers -------------------------------------------------------------------- */

static int grow(void *pp, size_t *cap, size_t need, size_t elem)
{
    void **p = pp;
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 8;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* Error messages are one line: control characters from quoted values become spaces. */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20)
            *s = ' ';
}

static void vfail(char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (!err || !errlen)
        return;
    vsnprintf(err, errlen, fmt, ap);
    one_line(err);
}

/* "'abc'" or "'abcdefgh...'" — a value quoted in a message, cut to keep the line short. */
#define QUOTE_MAX 40
#define QFMT "'%.*s%s'"
#define QARG(s, n) (int)((n) > QUOTE_MAX ? QUOTE_MAX : (n)), (s), ((n) > QUOTE_MAX ? "..." : "")

uint64_t tmpl_rng_next(uint64_t *state)
{
    uint64_t x = *state;
    if (x == 0)
        x = 0x9E3779B97F4A7C15ull; /* a zero state would stay zero forever */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

int tmpl_format_number(double v, char *out, size_t outlen)
{
    char tmp[40];
    int n;
    if (!isfinite(v))
        return -1;
    if (v == 0) {
        n = snprintf(tmp, sizeof tmp, "0"); /* also for -0 */
    } else if (v == floor(v) && fabs(v) < 1e21) {
        n = snprintf(tmp, sizeof tmp, "%.0f", v);
    } else {
        n = 0;
        for (int prec = 15; prec <= 17; prec++) {
            n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
            if (strtod(tmp, NULL) == v)
                break;
        }
    }
    if (n < 0 || (size_t)n >= outlen)
        return -1;
    memcpy(out, tmp, (size_t)n + 1);
    return n;
}

/* Parse a whole string as a decimal number: digits, sign, point, exponent — no "inf", hex or
 * spaces. */
static bool parse_decimal(const char *s, size_t len, double *out)
{
    char tmp[64];
    if (len == 0 || len >= sizeof tmp)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E'))
            return false;
    }
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    double d = strtod(tmp, &end);
    if (end != tmp + len || !isfinite(d))
        return false;
    *out = d;
    return true;
}

/* ---- compiler ------------------------------------------------------------------------- */

enum tok { T_EOF, T_END, T_NUM, T_STR, T_IDENT, T_PLUS, T_MINUS, T_STAR, T_SLASH, T_LPAREN,
           T_RPAREN, T_COMMA };

typedef struct compiler {
    const char *src;
    size_t len;
    size_t pos;                 /* lexer position */
    tmpl_resolve_fn resolve;
    void *rctx;
    tmpl_t *t;                  /* being built */
    size_t cap_segs, cap_nodes, cap_args, cap_code;
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
        vfail(c->err->message, sizeof c->err->message, fmt, ap);
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
    } else {
        static const char ops[] = "+-*/(),";
        static const int toks[] = {T_PLUS, T_MINUS, T_STAR, T_SLASH, T_LPAREN, T_RPAREN, T_COMMA};
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

static int add_node(compiler_t *c, node_t n, uint32_t *idx)
{
    if (grow(&c->t->nodes, &c->cap_nodes, c->t->nnodes + 1, sizeof(node_t)) < 0)
        return oom(c);
    *idx = (uint32_t)c->t->nnodes;
    c->t->nodes[c->t->nnodes++] = n;
    return 0;
}

static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
    size_t row[40];
    if (la >= 40 || lb >= 40)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const char *nearest_function(const char *name, size_t len)
{
    const char *best = NULL;
    size_t best_d = 4; /* suggest only close names */
    for (int i = 0; i < FN_COUNT; i++) {
        size_t d = edit_distance(name, len, fn_specs[i].name, strlen(fn_specs[i].name));
        if (d < best_d && d < len) {
            best_d = d;
            best = fn_specs[i].name;
        }
    }
    return best;
}

static int find_fn(const char *name, size_t len)
{
    for (int i = 0; i < FN_COUNT; i++)
        if (strlen(fn_specs[i].name) == len && memcmp(fn_specs[i].name, name, len) == 0)
            return i;
    return -1;
}

static int arg_count_error(compiler_t *c, size_t off, int fn, int got)
{
    const struct fn_spec *s = &fn_specs[fn];
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
                             fn_specs[fn].name, MAX_ARGS);
            size_t after = next_nonspace(c, c->pos);
            if (fn == FN_ENV && c->tok == T_IDENT && after < c->len &&
                (c->src[after] == ')' || c->src[after] == ',')) {
                /* env(NAME): the bare identifier is the variable's name, not a template
                 * variable. */
                node_t n = {.kind = N_STR};
                if (pool_add(c, c->src + c->tok_off, c->tok_len, &n.a) < 0)
                    return -1;
                n.b = (uint32_t)c->tok_len;
                if (add_node(c, n, &args[argc]) < 0 || lex(c) < 0)
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
                             fn_specs[fn].name, tok_desc(c, d, sizeof d));
            }
            if (lex(c) < 0)
                return -1;
        }
    }
    if (argc < fn_specs[fn].min_args || (fn_specs[fn].max_args >= 0 && argc > fn_specs[fn].max_args))
        return arg_count_error(c, name_off, fn, argc);
    if (grow(&c->t->args, &c->cap_args, c->t->nargs + (size_t)argc, sizeof(uint32_t)) < 0)
        return oom(c);
    node_t n = {.kind = N_CALL, .sub = (uint8_t)fn, .a = (uint32_t)c->t->nargs, .b = (uint32_t)argc};
    if (argc)
        memcpy(c->t->args + c->t->nargs, args, (size_t)argc * sizeof(uint32_t));
    c->t->nargs += (size_t)argc;
    if (add_node(c, n, out) < 0)
        return -1;
    return lex(c); /* past ')' */
}

static int parse_ident(compiler_t *c, uint32_t *out)
{
    size_t off = c->tok_off, len = c->tok_len;
    const char *name = c->src + off;
    size_t after = next_nonspace(c, c->pos);
    if (after < c->len && c->src[after] == '(')
        return parse_call(c, off, len, out);
    for (int b = 0; b < B_COUNT; b++) {
        if (strlen(builtin_names[b]) == len && memcmp(builtin_names[b], name, len) == 0) {
            node_t n = {.kind = N_BUILTIN, .sub = (uint8_t)b};
            if (add_node(c, n, out) < 0)
                return -1;
            return lex(c);
        }
    }
    tmpl_scope_t scope = TMPL_SCOPE_GLOBAL;
    uint32_t slot = 0;
    if (!c->resolve || c->resolve(c->rctx, name, len, &scope, &slot) != 0) {
        if (find_fn(name, len) >= 0)
            return cfail(c, off, "undefined variable '%.*s': nothing saves it and vars does not "
                         "define it (did you mean '%.*s()'?)", (int)len, name, (int)len, name);
        return cfail(c, off, "undefined variable '%.*s': nothing saves it and vars does not "
                     "define it", (int)len, name);
    }
    node_t n = {.kind = N_VAR, .sub = (uint8_t)scope, .b = (uint32_t)len, .c = slot};
    if (pool_add(c, name, len, &n.a) < 0 || add_node(c, n, out) < 0)
        return -1;
    return lex(c);
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
            rc = add_node(c, n, out);
        }
        break;
    }
    case T_NUM: {
        node_t n = {.kind = N_NUM, .num = c->tok_num};
        rc = add_node(c, n, out) < 0 || lex(c) < 0 ? -1 : 0;
        break;
    }
    case T_STR: {
        node_t n = {.kind = N_STR, .a = c->str_off, .b = c->str_len};
        rc = add_node(c, n, out) < 0 || lex(c) < 0 ? -1 : 0;
        break;
    }
    case T_IDENT:
        rc = parse_ident(c, out);
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
        rc = lex(c);
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
        if (add_node(c, n, &lhs) < 0)
            return -1;
    }
    *out = lhs;
    return 0;
}

static int parse_expr(compiler_t *c, uint32_t *out) { return parse_binary(c, out, 0); }

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
    if (grow(&c->t->code, &c->cap_code, c->t->ncode + 1, sizeof(arith_t)) < 0)
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
        if (maxd > ARITH_STACK)
            return cfail(c, off, "arithmetic is nested too deeply (at most %d pending values)",
                         ARITH_STACK);
        n = &c->t->nodes[idx];
        n->kind = N_ARITH;
        n->a = start;
        n->b = (uint32_t)(c->t->ncode - start);
    } else if (n->kind == N_CALL) {
        uint32_t first = n->a, argc = n->b;
        for (uint32_t i = 0; i < argc; i++)
            if (flatten(c, c->t->args[first + i], off) < 0)
                return -1;
    }
    return 0;
}

static int add_seg(compiler_t *c, seg_t s)
{
    if (grow(&c->t->segs, &c->cap_segs, c->t->nsegs + 1, sizeof(seg_t)) < 0)
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
        tmpl_free(c.t);
        return -1;
    }
    c.t->pool = c.pool.data; /* ownership moves to the template */
    c.t->pool_len = c.pool.len;
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

/* ---- evaluation ----------------------------------------------------------------------- */

typedef enum { V_NUM, V_STR, V_JSON } vkind_t;

/* A value while evaluating: borrowed, valid until the render call returns. */
typedef struct val {
    vkind_t kind;
    double num;        /* V_NUM */
    const char *s;     /* V_STR */
    size_t len;
    const json_t *j;   /* V_JSON: a saved value or an element of one */
    const char *name;  /* variable it came from, for messages; NULL otherwise */
} val_t;

typedef enum { MODE_TEXT, MODE_JSON } mode_t_;

typedef struct rctx {
    const tmpl_t *t;
    const tmpl_env_t *env;
    char *err;
    size_t errlen;
    char *scratch;       /* strings generated inside another expression */
    size_t scratch_used;
    uint64_t own_rng;    /* used only when env->rng is NULL */
} rctx_t;

static int rfail(rctx_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int rfail(rctx_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(r->err, r->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static uint64_t draw(rctx_t *r)
{
    return tmpl_rng_next(r->env->rng ? r->env->rng : &r->own_rng);
}

static uint64_t draw_below(rctx_t *r, uint64_t n) /* uniform in [0, n), n > 0 */
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = draw(r);
    while (x >= limit);
    return x % n;
}

static const char *json_kind_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: case JSON_REAL: return "a number";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    default: return "null";
    }
}

static int eval(rctx_t *r, uint32_t idx, val_t *v);

static int to_number(rctx_t *r, const val_t *v, double *out)
{
    const char *s = v->s;
    size_t len = v->len;
    switch (v->kind) {
    case V_NUM:
        *out = v->num;
        return 0;
    case V_JSON:
        if (json_is_integer(v->j)) {
            *out = (double)json_integer_value(v->j);
            return 0;
        }
        if (json_is_real(v->j)) {
            *out = json_real_value(v->j);
            return 0;
        }
        if (!json_is_string(v->j)) {
            if (v->name)
                return rfail(r, "'%s' holds %s, not a number", v->name, json_kind_name(v->j));
            return rfail(r, "%s is not a number", json_kind_name(v->j));
        }
        s = json_string_value(v->j);
        len = json_string_length(v->j);
        /* fall through */
    case V_STR:
        if (!parse_decimal(s, len, out))
            return rfail(r, QFMT " is not a number", QARG(s, len));
        return 0;
    }
    return -1;
}

/* A value as text, when it is one (string or JSON string). */
static bool as_text(const val_t *v, const char **s, size_t *len)
{
    if (v->kind == V_STR) {
        *s = v->s;
        *len = v->len;
        return true;
    }
    if (v->kind == V_JSON && json_is_string(v->j)) {
        *s = json_string_value(v->j);
        *len = json_string_length(v->j);
        return true;
    }
    return false;
}

static int eval_number(rctx_t *r, uint32_t idx, double *out)
{
    val_t v;
    if (eval(r, idx, &v) < 0)
        return -1;
    return to_number(r, &v, out);
}

/* A whole number argument within [lo, hi]. */
static int eval_whole(rctx_t *r, uint32_t idx, const char *what, double lo, double hi, double *out)
{
    if (eval_number(r, idx, out) < 0)
        return -1;
    if (*out != floor(*out) || *out < lo || *out > hi) {
        char num[40];
        tmpl_format_number(*out, num, sizeof num);
        return rfail(r, "%s must be a whole number from %.0f to %.0f, got %s", what, lo, hi, num);
    }
    return 0;
}

/* An arithmetic result keeps 15 significant digits — what a double carries for any decimal —
 * so the binary noise of one operation does not reach the output: 12.34 * 1.5 is 18.51, not
 * 18.509999999999998, and 0.1 + 0.2 is 0.3. Values read from responses are not touched. */
static double round15(double x)
{
    if (x == floor(x) && fabs(x) < 1e15)
        return x;
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.15g", x);
    return strtod(tmp, NULL);
}

static int run_arith(rctx_t *r, const node_t *n, double *out)
{
    double st[ARITH_STACK];
    int sp = 0;
    const arith_t *code = r->t->code + n->a;
    for (uint32_t i = 0; i < n->b; i++) {
        const arith_t *op = &code[i];
        double x, y;
        switch (op->op) {
        case A_NUM:
            st[sp++] = op->num;
            continue;
        case A_NODE:
            if (eval_number(r, op->node, &st[sp]) < 0)
                return -1;
            sp++;
            continue;
        case A_NEG:
            st[sp - 1] = -st[sp - 1];
            continue;
        default:
            break;
        }
        y = st[--sp];
        x = st[sp - 1];
        switch (op->op) {
        case A_ADD: x += y; break;
        case A_SUB: x -= y; break;
        case A_MUL: x *= y; break;
        default:
            if (y == 0)
                return rfail(r, "division by zero");
            x /= y;
        }
        st[sp - 1] = x;
    }
    if (!isfinite(st[0]))
        return rfail(r, "arithmetic result is too large to be a number");
    *out = round15(st[0]);
    return 0;
}

/* ---- uuid() and random_string(): written straight into their destination ----------- */

typedef struct strgen {
    int fn;
    size_t len;
    char alphabet[128];
    size_t alen;
} strgen_t;

static int expand_alphabet(rctx_t *r, const char *s, size_t n, strgen_t *g)
{
    bool seen[128] = {false};
    g->alen = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char lo = (unsigned char)s[i], hi = lo;
        if (lo >= 128)
            return rfail(r, "random_string() alphabet must be ASCII");
        if (i + 2 < n && s[i + 1] == '-') {
            hi = (unsigned char)s[i + 2];
            if (hi >= 128)
                return rfail(r, "random_string() alphabet must be ASCII");
            if (hi < lo)
                return rfail(r, "random_string() alphabet has a backwards range '%c-%c'", lo, hi);
            i += 2;
        }
        for (unsigned ch = lo; ch <= hi; ch++) {
            if (!seen[ch]) {
                seen[ch] = true;
                g->alphabet[g->alen++] = (char)ch;
            }
        }
    }
    if (g->alen == 0)
        return rfail(r, "random_string() alphabet is empty");
    return 0;
}

/* Evaluate the arguments of a uuid()/random_string() call: how long, which characters. */
static int strgen_prepare(rctx_t *r, const node_t *n, strgen_t *g)
{
    g->fn = n->sub;
    if (n->sub == FN_UUID) {
        g->len = 36;
        return 0;
    }
    const uint32_t *args = r->t->args + n->a;
    double len;
    if (eval_whole(r, args[0], "random_string() length", 0, RANDOM_STRING_MAX, &len) < 0)
        return -1;
    g->len = (size_t)len;
    if (n->b < 2)
        return expand_alphabet(r, "a-z0-9", 6, g);
    val_t a;
    const char *s;
    size_t alen;
    if (eval(r, args[1], &a) < 0)
        return -1;
    if (!as_text(&a, &s, &alen))
        return rfail(r, "random_string() alphabet must be a string like \"a-z0-9\"");
    return expand_alphabet(r, s, alen, g);
}

static void strgen_fill(rctx_t *r, const strgen_t *g, char *dst)
{
    if (g->fn == FN_UUID) {
        static const char hex[] = "0123456789abcdef";
        unsigned char b[16];
        uint64_t hi = draw(r), lo = draw(r);
        for (int i = 0; i < 8; i++) {
            b[i] = (unsigned char)(hi >> (56 - 8 * i));
            b[8 + i] = (unsigned char)(lo >> (56 - 8 * i));
        }
        b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
        b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
        for (int i = 0; i < 16; i++) {
            if (i == 4 || i == 6 || i == 8 || i == 10)
                *dst++ = '-';
            *dst++ = hex[b[i] >> 4];
            *dst++ = hex[b[i] & 15];
        }
        return;
    }
    for (size_t i = 0; i < g->len; i++)
        dst[i] = g->alphabet[draw_below(r, g->alen)];
}

/* Grow b by n bytes and return where they start (NULL on OOM). */
static char *buf_extend(buf_t *b, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return NULL;
    char *p = b->data + b->len;
    b->len += n;
    b->data[b->len] = '\0';
    return p;
}

/* Escape b[start..len) as the inside of a JSON string, in place, growing b as needed; the
 * result is the same as buf_put_json_escaped on the original bytes. */
static int json_escape_in_place(buf_t *b, size_t start)
{
    size_t extra = 0;
    for (size_t i = start; i < b->len; i++) {
        unsigned char ch = (unsigned char)b->data[i];
        if (ch == '"' || ch == '\\' || ch == '\n' || ch == '\r' || ch == '\t')
            extra += 1;
        else if (ch < 0x20)
            extra += 5;
    }
    if (!extra)
        return 0;
    if (buf_reserve(b, extra) < 0)
        return -1;
    static const char hex[] = "0123456789abcdef";
    char *d = b->data;
    size_t src = b->len, dst = b->len + extra;
    while (src > start) {
        unsigned char ch = (unsigned char)d[--src];
        char e = ch == '"' ? '"' : ch == '\\' ? '\\' : ch == '\n' ? 'n' : ch == '\r' ? 'r'
               : ch == '\t' ? 't' : 0;
        if (e) {
            d[--dst] = e;
            d[--dst] = '\\';
        } else if (ch < 0x20) {
            d[--dst] = hex[ch & 15];
            d[--dst] = hex[ch >> 4];
            d[--dst] = '0';
            d[--dst] = '0';
            d[--dst] = 'u';
            d[--dst] = '\\';
        } else {
            d[--dst] = (char)ch;
        }
    }
    b->len += extra;
    d[b->len] = '\0';
    return 0;
}

static int eval_call(rctx_t *r, const node_t *n, val_t *v)
{
    const uint32_t *args = n->b ? r->t->args + n->a : NULL;
    double a, b;
    v->kind = V_NUM;
    switch (n->sub) {
    case FN_UUID:
    case FN_RANDOM_STRING: {
        strgen_t g;
        if (strgen_prepare(r, n, &g) < 0)
            return -1;
        if (g.len + 1 > SCRATCH_BYTES - r->scratch_used)
            return rfail(r, "%s() inside another expression is limited to %d characters",
                         fn_specs[n->sub].name, SCRATCH_BYTES / 2);
        char *dst = r->scratch + r->scratch_used;
        strgen_fill(r, &g, dst);
        dst[g.len] = '\0';
        r->scratch_used += g.len + 1;
        v->kind = V_STR;
        v->s = dst;
        v->len = g.len;
        return 0;
    }
    case FN_RANDOM_INT:
        if (eval_whole(r, args[0], "random_int() lower bound", -MAX_WHOLE, MAX_WHOLE, &a) < 0 ||
            eval_whole(r, args[1], "random_int() upper bound", -MAX_WHOLE, MAX_WHOLE, &b) < 0)
            return -1;
        if (a > b)
            return rfail(r, "random_int(a, b) needs a <= b, got %.0f and %.0f", a, b);
        v->num = a + (double)draw_below(r, (uint64_t)(int64_t)(b - a) + 1);
        return 0;
    case FN_RANDOM_FLOAT: {
        static const double pow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8,
                                       1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
        double digits;
        if (eval_number(r, args[0], &a) < 0 || eval_number(r, args[1], &b) < 0 ||
            eval_whole(r, args[2], "random_float() digits", 0, 15, &digits) < 0)
            return -1;
        if (a > b) {
            char sa[40], sb[40];
            tmpl_format_number(a, sa, sizeof sa);
            tmpl_format_number(b, sb, sizeof sb);
            return rfail(r, "random_float(a, b, digits) needs a <= b, got %s and %s", sa, sb);
        }
        double p = pow10[(int)digits];
        double u = (double)(draw(r) >> 11) * 0x1.0p-53; /* [0, 1) */
        double x = round((a + (b - a) * u) * p) / p;
        if (x > b)
            x = floor(b * p) / p;
        if (x < a)
            x = ceil(a * p) / p;
        v->num = x;
        return 0;
    }
    case FN_CHOICE:
        return eval(r, args[draw_below(r, n->b)], v);
    case FN_PICK: {
        val_t list;
        if (eval(r, args[0], &list) < 0)
            return -1;
        if (list.kind != V_JSON || !json_is_array(list.j)) {
            const char *kind = list.kind == V_JSON ? json_kind_name(list.j)
                             : list.kind == V_NUM ? "a number" : "a string";
            if (list.name)
                return rfail(r, "pick() needs a list, but '%s' holds %s", list.name, kind);
            return rfail(r, "pick() needs a list, got %s", kind);
        }
        size_t size = json_array_size(list.j);
        if (size == 0) {
            if (list.name)
                return rfail(r, "pick() on an empty list '%s'", list.name);
            return rfail(r, "pick() on an empty list");
        }
        v->kind = V_JSON;
        v->j = json_array_get(list.j, draw_below(r, size));
        v->name = NULL;
        return 0;
    }
    case FN_ENV: {
        val_t nv;
        const char *s;
        size_t len;
        char name[256];
        if (eval(r, args[0], &nv) < 0)
            return -1;
        if (!as_text(&nv, &s, &len))
            return rfail(r, "env() needs the name of an environment variable");
        if (len == 0 || len >= sizeof name || memchr(s, '\0', len))
            return rfail(r, "env() got a bad variable name " QFMT, QARG(s, len));
        memcpy(name, s, len);
        name[len] = '\0';
        const char *value = getenv(name);
        if (!value)
            return rfail(r, "environment variable '%s' is not set", name);
        v->kind = V_STR;
        v->s = value;
        v->len = strlen(value);
        return 0;
    }
    case FN_NOW: {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v->num = (double)ts.tv_sec * 1000.0 + (double)(ts.tv_nsec / 1000000);
        return 0;
    }
    }
    return rfail(r, "internal error: unknown function");
}

static int eval(rctx_t *r, uint32_t idx, val_t *v)
{
    const node_t *n = &r->t->nodes[idx];
    v->name = NULL;
    switch (n->kind) {
    case N_NUM:
        v->kind = V_NUM;
        v->num = n->num;
        return 0;
    case N_STR:
        v->kind = V_STR;
        v->s = r->t->pool + n->a;
        v->len = n->b;
        return 0;
    case N_VAR: {
        json_t *const *vars = n->sub == TMPL_SCOPE_USER ? r->env->user_vars : r->env->globals;
        const json_t *j = vars ? vars[n->c] : NULL;
        v->name = r->t->pool + n->a;
        if (!j)
            return rfail(r, "variable '%s' has not been saved yet", v->name);
        v->kind = V_JSON;
        v->j = j;
        return 0;
    }
    case N_BUILTIN:
        v->kind = V_NUM;
        if (n->sub == B_USER_ID) {
            v->num = (double)r->env->user_id;
        } else if (n->sub == B_ITERATION) {
            v->num = (double)r->env->iteration;
        } else {
            v->kind = V_STR;
            v->s = r->env->worker_id ? r->env->worker_id : "";
            v->len = strlen(v->s);
        }
        return 0;
    case N_ARITH:
        v->kind = V_NUM;
        return run_arith(r, n, &v->num);
    case N_CALL:
        return eval_call(r, n, v);
    }
    return rfail(r, "internal error: bad expression node");
}

/* ---- output --------------------------------------------------------------------------- */

static int put_number(rctx_t *r, buf_t *out, double d)
{
    char num[40];
    int n = tmpl_format_number(d, num, sizeof num);
    if (n < 0)
        return rfail(r, "arithmetic result is too large to be a number");
    return buf_append(out, num, (size_t)n);
}

/* Compact JSON text of a saved value, written without building an intermediate string. */
static int put_json(buf_t *out, const json_t *j)
{
    char num[40];
    int rc = 0;
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        bool first = true;
        rc |= buf_putc(out, '{');
        json_object_foreach((json_t *)j, key, val) {
            if (!first)
                rc |= buf_putc(out, ',');
            first = false;
            rc |= buf_putc(out, '"');
            rc |= buf_put_json_escaped(out, key, strlen(key));
            rc |= buf_append(out, "\":", 2);
            rc |= put_json(out, val);
        }
        return rc | buf_putc(out, '}');
    }
    case JSON_ARRAY:
        rc |= buf_putc(out, '[');
        for (size_t i = 0; i < json_array_size(j); i++) {
            if (i)
                rc |= buf_putc(out, ',');
            rc |= put_json(out, json_array_get(j, i));
        }
        return rc | buf_putc(out, ']');
    case JSON_STRING:
        rc |= buf_putc(out, '"');
        rc |= buf_put_json_escaped(out, json_string_value(j), json_string_length(j));
        return rc | buf_putc(out, '"');
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        return buf_puts(out, num);
    case JSON_REAL:
        if (tmpl_format_number(json_real_value(j), num, sizeof num) < 0)
            return buf_puts(out, "null");
        return buf_puts(out, num);
    case JSON_TRUE:
        return buf_puts(out, "true");
    case JSON_FALSE:
        return buf_puts(out, "false");
    default:
        return buf_puts(out, "null");
    }
}

/* Text mode: strings raw, numbers formatted, other JSON compact. JSON mode: a JSON value. */
static int put_value(rctx_t *r, const val_t *v, buf_t *out, mode_t_ mode)
{
    int rc;
    switch (v->kind) {
    case V_NUM:
        return put_number(r, out, v->num);
    case V_STR:
        if (mode == MODE_TEXT)
            rc = buf_append(out, v->s, v->len);
        else
            rc = buf_putc(out, '"') | buf_put_json_escaped(out, v->s, v->len) | buf_putc(out, '"');
        break;
    case V_JSON:
        if (mode == MODE_TEXT && json_is_string(v->j))
            rc = buf_append(out, json_string_value(v->j), json_string_length(v->j));
        else
            rc = put_json(out, v->j);
        break;
    default:
        rc = -1;
    }
    return rc < 0 ? rfail(r, "out of memory") : 0;
}

/* Render one expression; generated strings go straight into out. */
static int render_node(rctx_t *r, uint32_t idx, buf_t *out, mode_t_ mode)
{
    const node_t *n = &r->t->nodes[idx];
    if (n->kind == N_CALL && n->sub == FN_CHOICE)
        return render_node(r, r->t->args[n->a + draw_below(r, n->b)], out, mode);
    if (n->kind == N_CALL && (n->sub == FN_UUID || n->sub == FN_RANDOM_STRING)) {
        strgen_t g;
        if (strgen_prepare(r, n, &g) < 0)
            return -1;
        if (mode == MODE_JSON && buf_putc(out, '"') < 0)
            return rfail(r, "out of memory");
        size_t start = out->len;
        char *dst = buf_extend(out, g.len);
        if (!dst)
            return rfail(r, "out of memory");
        strgen_fill(r, &g, dst);
        if (mode == MODE_JSON &&
            (json_escape_in_place(out, start) < 0 || buf_putc(out, '"') < 0))
            return rfail(r, "out of memory");
        return 0;
    }
    val_t v;
    if (eval(r, idx, &v) < 0)
        return -1;
    return put_value(r, &v, out, mode);
}

static int render_segs(rctx_t *r, const tmpl_t *t, buf_t *out)
{
    r->t = t;
    for (size_t i = 0; i < t->nsegs; i++) {
        const seg_t *s = &t->segs[i];
        if (!s->is_expr) {
            if (buf_append(out, t->src + s->off, s->len) < 0)
                return rfail(r, "out of memory");
            continue;
        }
        r->scratch_used = 0;
        if (render_node(r, s->root, out, MODE_TEXT) < 0)
            return -1;
    }
    return 0;
}

static void rctx_init(rctx_t *r, const tmpl_env_t *env, char *err, size_t errlen, char *scratch)
{
    r->t = NULL;
    r->env = env;
    r->err = err;
    r->errlen = errlen;
    r->scratch = scratch;
    r->scratch_used = 0;
    r->own_rng = 0x853C49E6748FEA9Bull ^ (uint64_t)(uintptr_t)scratch;
}

int tmpl_render(const tmpl_t *t, const tmpl_env_t *env, buf_t *out, char *err, size_t errlen)
{
    char scratch[SCRATCH_BYTES];
    rctx_t r;
    rctx_init(&r, env, err, errlen, scratch);
    size_t start = out->len;
    if (render_segs(&r, t, out) < 0) {
        out->len = start; /* leave no partial rendering behind */
        if (out->cap)
            out->data[start] = '\0';
        return -1;
    }
    if (!out->cap) { /* an empty rendering is still a C string */
        if (buf_reserve(out, 0) < 0)
            return rfail(&r, "out of memory");
        out->data[0] = '\0';
    }
    return 0;
}

static int make_string(rctx_t *r, const char *s, size_t len, json_t **out)
{
    *out = json_stringn(s, len);
    if (!*out)
        return rfail(r, "the result is not valid UTF-8 text");
    return 0;
}

static int eval_typed(rctx_t *r, uint32_t idx, json_t **out)
{
    const node_t *n = &r->t->nodes[idx];
    if (n->kind == N_CALL && n->sub == FN_CHOICE)
        return eval_typed(r, r->t->args[n->a + draw_below(r, n->b)], out);
    if (n->kind == N_CALL && (n->sub == FN_UUID || n->sub == FN_RANDOM_STRING)) {
        buf_t tmp;
        buf_init(&tmp);
        int rc = render_node(r, idx, &tmp, MODE_TEXT);
        if (rc == 0)
            rc = make_string(r, tmp.data, tmp.len, out);
        buf_free(&tmp);
        return rc;
    }
    val_t v;
    if (eval(r, idx, &v) < 0)
        return -1;
    switch (v.kind) {
    case V_NUM:
        if (!isfinite(v.num))
            return rfail(r, "arithmetic result is too large to be a number");
        if (v.num == floor(v.num) && fabs(v.num) < 9.2e18)
            *out = json_integer((json_int_t)v.num);
        else
            *out = json_real(v.num);
        break;
    case V_STR:
        return make_string(r, v.s, v.len, out);
    case V_JSON:
        *out = json_incref((json_t *)v.j);
        break;
    }
    return *out ? 0 : rfail(r, "out of memory");
}

int tmpl_eval(const tmpl_t *t, const tmpl_env_t *env, json_t **out, char *err, size_t errlen)
{
    char scratch[SCRATCH_BYTES];
    rctx_t r;
    rctx_init(&r, env, err, errlen, scratch);
    r.t = t;
    *out = NULL;
    if (tmpl_is_literal(t))
        return make_string(&r, t->src, t->src_len, out);
    if (tmpl_is_single_expr(t))
        return eval_typed(&r, t->segs[0].root, out);
    buf_t tmp;
    buf_init(&tmp);
    int rc = render_segs(&r, t, &tmp);
    if (rc == 0)
        rc = make_string(&r, tmp.data ? tmp.data : "", tmp.len, out);
    buf_free(&tmp);
    return rc;
}

/* ---- jtmpl ---------------------------------------------------------------------------- */

enum jop_kind { J_RAW, J_STRING, J_TYPED };

typedef struct jop {
    uint8_t kind;
    uint32_t off, len; /* J_RAW: slice of raw */
    tmpl_t *t;         /* J_STRING, J_TYPED: owned */
} jop_t;

struct jtmpl {
    jop_t *ops;  /* owned */
    size_t nops;
    char *raw;   /* owned: the constant JSON text between templated leaves */
    size_t raw_len;
};

typedef struct jbuild {
    jtmpl_t *j;
    size_t cap_ops;
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
        if (grow(&j->ops, &b->cap_ops, j->nops + 1, sizeof(jop_t)) < 0)
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
        if (grow(&j->ops, &b->cap_ops, j->nops + 1, sizeof(jop_t)) < 0) {
            tmpl_free(t);
            return jfail(b, "out of memory");
        }
        j->ops[j->nops++] = (jop_t){.kind = tmpl_is_single_expr(t) ? J_TYPED : J_STRING, .t = t};
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
    char scratch[SCRATCH_BYTES];
    rctx_t r;
    rctx_init(&r, env, err, errlen, scratch);
    size_t start = out->len;
    int rc = 0;
    for (size_t i = 0; i < j->nops && rc == 0; i++) {
        const jop_t *op = &j->ops[i];
        switch (op->kind) {
        case J_RAW:
            if (buf_append(out, j->raw + op->off, op->len) < 0)
                rc = rfail(&r, "out of memory");
            break;
        case J_TYPED:
            r.t = op->t;
            r.scratch_used = 0;
            rc = render_node(&r, op->t->segs[0].root, out, MODE_JSON);
            break;
        case J_STRING: {
            if (buf_putc(out, '"') < 0) {
                rc = rfail(&r, "out of memory");
                break;
            }
            size_t s = out->len;
            rc = render_segs(&r, op->t, out);
            if (rc == 0 && (json_escape_in_place(out, s) < 0 || buf_putc(out, '"') < 0))
                rc = rfail(&r, "out of memory");
            break;
        }
        }
    }
    if (rc < 0) {
        out->len = start;
        if (out->cap)
            out->data[start] = '\0';
    }
    return rc;
}
