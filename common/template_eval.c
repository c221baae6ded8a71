/*
 * template_eval — renders and evaluates compiled templates: the request-path half of the
 * template engine (contract: template.h; compiled form: template_internal.h; language:
 * scenarios/README.md, "Templates").
 *
 * Render: literal segments are copied; expressions write straight into the caller's buf_t.
 * Nothing on the render path allocates except that buffer growing: values are borrowed
 * (string constants from the compiled pool, saved jansson values, getenv), numbers are
 * formatted in a stack buffer, uuid() and random_string() write into the output directly (or,
 * when nested inside another expression, into a fixed scratch area on the C stack).
 * tmpl_eval is the exception: it builds a jansson value, so it allocates by design.
 *
 * Language decisions made here (the compiler's are in template_compile.c):
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
 *
 * Thread: the compiled template is only read; all mutable state is the caller's (env->rng,
 * the output buffer, the variables), except the fallback generator used when env->rng is
 * NULL, which is per thread. Random draws depend only on the generator state, so the same
 * state renders the same text.
 */
#include "template.h"
#include "template_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rng.h"

#define SCRATCH_BYTES 512        /* generated strings nested inside another expression */
#define RANDOM_STRING_MAX (1u << 20)
#define MAX_WHOLE 9007199254740992.0 /* 2^53: whole numbers beyond this are not exact */

/* ---- numbers -------------------------------------------------------------------------- */

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

/* ---- evaluation ----------------------------------------------------------------------- */

typedef enum { V_NUM, V_STR, V_JSON, V_BOOL, V_NULL } vkind_t;

/* A value while evaluating: borrowed, valid until the render call returns. */
typedef struct val {
    vkind_t kind;
    double num;        /* V_NUM; V_BOOL: 1 or 0 */
    const char *s;     /* V_STR */
    size_t len;
    const json_t *j;   /* V_JSON: a saved value or an element of one */
    const char *name;  /* variable it came from, for messages; NULL otherwise */
} val_t;

typedef enum { MODE_TEXT, MODE_JSON } mode_t_;

/* One render or eval call. It lives on the C stack of the public function, scratch included,
 * so rendering allocates nothing but the output buffer growing. */
typedef struct rctx {
    const tmpl_t *t;       /* the template being rendered */
    const tmpl_env_t *env;
    uint64_t *rng;         /* env->rng, or this thread's fallback generator */
    char *err;
    size_t errlen;
    char scratch[SCRATCH_BYTES]; /* strings generated inside another expression */
    size_t scratch_used;   /* bytes of scratch taken by the expression being rendered */
} rctx_t;

static int rfail(rctx_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int rfail(rctx_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tmpl_vformat_error(r->err, r->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Uniform in [0, n), n > 0, without bias: random_int ranges reach 2^54, beyond
 * rng_below's 32 bits, so one 64-bit rejection draw serves every function. */
static uint64_t draw_below(rctx_t *r, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = rng_next(r->rng);
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
    case V_BOOL:
        return rfail(r, "%s is not a number", v->num ? "true" : "false");
    case V_NULL:
        return rfail(r, "null is not a number");
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
    double st[TMPL_ARITH_STACK];
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
        uint64_t hi = rng_next(r->rng), lo = rng_next(r->rng);
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

#define ENV_NAME_MAX 256

/* The NAME of env(NAME), into name (ENV_NAME_MAX bytes). */
static int env_name(rctx_t *r, uint32_t arg, char *name)
{
    val_t nv;
    const char *s;
    size_t len;
    if (eval(r, arg, &nv) < 0)
        return -1;
    if (!as_text(&nv, &s, &len))
        return rfail(r, "env() needs the name of an environment variable");
    if (len == 0 || len >= ENV_NAME_MAX || memchr(s, '\0', len))
        return rfail(r, "env() got a bad variable name " QFMT, QARG(s, len));
    memcpy(name, s, len);
    name[len] = '\0';
    return 0;
}

/* ---- comparisons, logic, indexing ------------------------------------------------------
 *
 * Language decisions:
 * - == and != never fail. Numbers compare by value; a number and a string that reads
 *   entirely as a decimal number ("3", "2.50") compare as numbers (a saved header or regex
 *   capture is text); two strings byte for byte; true/false and null only equal themselves;
 *   saved lists and objects member by member. Values of different kinds are unequal.
 * - < <= > >= compare numbers (numeric strings as above) or two strings (byte order);
 *   anything else is an error naming both kinds.
 * - and, or, not and `when:` take a value's truth: false, null, 0, "" and an empty list or
 *   object are false, everything else true. and/or evaluate their right side only when
 *   needed and give true or false.
 * - x.name and x[i] look into saved objects and lists; a missing member or an index out of
 *   range is an error (never a silent null).
 */

static const char *val_kind_name(const val_t *v)
{
    switch (v->kind) {
    case V_NUM: return "a number";
    case V_STR: return "a string";
    case V_BOOL: return v->num ? "true" : "false";
    case V_NULL: return "null";
    case V_JSON: return json_kind_name(v->j);
    }
    return "a value";
}

/* A JSON leaf seen as the plain kinds: numbers, strings, booleans and null become V_NUM,
 * V_STR, V_BOOL and V_NULL; lists and objects stay V_JSON. */
static val_t val_plain(const val_t *v)
{
    val_t p = *v;
    if (v->kind != V_JSON)
        return p;
    switch (json_typeof(v->j)) {
    case JSON_INTEGER: case JSON_REAL:
        p.kind = V_NUM;
        p.num = json_number_value(v->j);
        break;
    case JSON_STRING:
        p.kind = V_STR;
        p.s = json_string_value(v->j);
        p.len = json_string_length(v->j);
        break;
    case JSON_TRUE: case JSON_FALSE:
        p.kind = V_BOOL;
        p.num = json_is_true(v->j);
        break;
    case JSON_NULL:
        p.kind = V_NULL;
        break;
    default:
        break;
    }
    return p;
}

static bool val_truth(const val_t *v)
{
    val_t p = val_plain(v);
    switch (p.kind) {
    case V_NUM: case V_BOOL: return p.num != 0;
    case V_STR: return p.len > 0;
    case V_NULL: return false;
    case V_JSON: return json_is_array(p.j) ? json_array_size(p.j) > 0 : json_object_size(p.j) > 0;
    }
    return false;
}

/* Both as numbers, when one is a number and the other a number or a numeric string. */
static bool numeric_pair(const val_t *a, const val_t *b, double *x, double *y)
{
    if (a->kind != V_NUM && b->kind != V_NUM)
        return false;
    if (a->kind == V_NUM)
        *x = a->num;
    else if (a->kind != V_STR || !parse_decimal(a->s, a->len, x))
        return false;
    if (b->kind == V_NUM)
        *y = b->num;
    else if (b->kind != V_STR || !parse_decimal(b->s, b->len, y))
        return false;
    return true;
}

static int bytes_cmp(const val_t *a, const val_t *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->s, b->s, n) : 0;
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int eval_compare(rctx_t *r, const node_t *n, val_t *v)
{
    val_t a, b;
    if (eval(r, n->a, &a) < 0)
        return -1;
    a = val_plain(&a);
    /* Scratch strings of the left side stay valid: the right side takes what is after. */
    if (eval(r, n->b, &b) < 0)
        return -1;
    b = val_plain(&b);
    double x, y;
    int c = 0;
    bool ordered = true;
    if (numeric_pair(&a, &b, &x, &y))
        c = (x > y) - (x < y);
    else if (a.kind == V_STR && b.kind == V_STR)
        c = bytes_cmp(&a, &b);
    else
        ordered = false;
    v->kind = V_BOOL;
    if (n->sub == C_EQ || n->sub == C_NE) {
        bool eq;
        if (ordered)
            eq = c == 0;
        else if (a.kind != b.kind)
            eq = false;
        else if (a.kind == V_BOOL)
            eq = a.num == b.num;
        else if (a.kind == V_NULL)
            eq = true;
        else if (a.kind == V_JSON)
            eq = json_equal((json_t *)a.j, (json_t *)b.j);
        else
            eq = false; /* a number and a string that is not one */
        v->num = eq == (n->sub == C_EQ);
        return 0;
    }
    if (!ordered)
        return rfail(r, "cannot order %s and %s: < <= > >= compare numbers or strings",
                     val_kind_name(&a), val_kind_name(&b));
    v->num = n->sub == C_LT ? c < 0 : n->sub == C_LE ? c <= 0 : n->sub == C_GT ? c > 0 : c >= 0;
    return 0;
}

static int eval_index(rctx_t *r, const node_t *n, val_t *v)
{
    val_t base, key;
    if (eval(r, n->a, &base) < 0 || eval(r, n->b, &key) < 0)
        return -1;
    const char *bname = base.name;
    const bool keyed = r->t->nodes[n->b].kind == N_STR; /* x.name */
    if (base.kind != V_JSON || !(json_is_object(base.j) || json_is_array(base.j))) {
        if (bname)
            return rfail(r, "'%s' holds %s, which has no %s", bname, val_kind_name(&base),
                         keyed ? "members" : "elements");
        return rfail(r, "%s has no %s", val_kind_name(&base), keyed ? "members" : "elements");
    }
    const char *ks;
    size_t klen;
    const json_t *got;
    if (json_is_object(base.j)) {
        if (!as_text(&key, &ks, &klen))
            return rfail(r, "an object's member is named by a string, got %s",
                         val_kind_name(&key));
        got = json_object_getn(base.j, ks, klen);
        if (!got)
            return bname ? rfail(r, "'%s' has no member " QFMT, bname, QARG(ks, klen))
                         : rfail(r, "no member " QFMT " in the object", QARG(ks, klen));
    } else {
        double i;
        val_t k = val_plain(&key);
        if (k.kind != V_NUM || k.num != floor(k.num) || k.num < 0)
            return rfail(r, "a list's element is numbered by a whole number from 0, got %s",
                         keyed ? "a name" : val_kind_name(&k));
        i = k.num;
        size_t size = json_array_size(base.j);
        if (i >= (double)size)
            return bname ? rfail(r, "index %.0f is past the end of '%s' (%zu elements)", i,
                                 bname, size)
                         : rfail(r, "index %.0f is past the end of the list (%zu elements)",
                                 i, size);
        got = json_array_get(base.j, (size_t)i);
    }
    v->kind = V_JSON;
    v->j = got;
    v->name = NULL;
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
                         tmpl_fn_specs[n->sub].name, SCRATCH_BYTES / 2);
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
        double u = rng_unit(r->rng);
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
        char name[ENV_NAME_MAX];
        if (env_name(r, args[0], name) < 0)
            return -1;
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
    case N_BOOL:
        v->kind = V_BOOL;
        v->num = n->sub;
        return 0;
    case N_NULL:
        v->kind = V_NULL;
        return 0;
    case N_CMP:
        return eval_compare(r, n, v);
    case N_AND:
    case N_OR: {
        val_t x;
        if (eval(r, n->a, &x) < 0)
            return -1;
        bool t = val_truth(&x);
        if (t == (n->kind == N_AND) && eval(r, n->b, &x) < 0)
            return -1;
        if (t == (n->kind == N_AND))
            t = val_truth(&x);
        v->kind = V_BOOL;
        v->num = t;
        v->name = NULL;
        return 0;
    }
    case N_NOT: {
        val_t x;
        if (eval(r, n->a, &x) < 0)
            return -1;
        v->kind = V_BOOL;
        v->num = !val_truth(&x);
        v->name = NULL;
        return 0;
    }
    case N_INDEX:
        return eval_index(r, n, v);
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
    case V_BOOL:
        rc = buf_puts(out, v->num ? "true" : "false");
        break;
    case V_NULL:
        rc = buf_puts(out, "null");
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

/* Render r->t's segments as text. */
static int render_segs(rctx_t *r, buf_t *out)
{
    const tmpl_t *t = r->t;
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

/* Used when a caller passes no generator: one per thread, seeded on first use, so two
 * renders (or two leaves of a JSON body) do not repeat each other's draws. */
static _Thread_local uint64_t fallback_rng;

/* What a zero state becomes: xorshift would stay at 0 forever, and every uuid() would be the
 * same. Callers seed with rng_seed, which never gives 0; this guards those that forgot. */
#define RNG_ZERO_REPLACEMENT 0x9E3779B97F4A7C15ull

static void rctx_init(rctx_t *r, const tmpl_t *t, const tmpl_env_t *env, char *err,
                      size_t errlen)
{
    r->t = t;
    r->env = env;
    r->err = err;
    r->errlen = errlen;
    r->scratch_used = 0;
    if (env && env->rng) {
        r->rng = env->rng;
    } else {
        if (fallback_rng == 0)
            fallback_rng = rng_seed((uint64_t)(uintptr_t)&fallback_rng);
        r->rng = &fallback_rng;
    }
    if (*r->rng == 0)
        *r->rng = RNG_ZERO_REPLACEMENT;
}

int tmpl_eval_constant(const tmpl_t *t, uint32_t idx, double *num, char *err, size_t errlen)
{
    uint64_t own_rng = RNG_ZERO_REPLACEMENT; /* no draw touches a caller's generator */
    const tmpl_env_t no_env = {.rng = &own_rng}; /* constants read no variable */
    rctx_t r;
    rctx_init(&r, t, &no_env, err, errlen);
    const node_t *n = &t->nodes[idx];
    if (n->kind == N_ARITH) {
        double v;
        if (run_arith(&r, n, &v) < 0)
            return -1;
        if (num)
            *num = v;
        return 0;
    }
    if (n->kind != N_CALL)
        return 0;
    strgen_t g;
    char name[ENV_NAME_MAX];
    val_t v;
    switch (n->sub) {
    case FN_UUID:
    case FN_RANDOM_STRING:
        return strgen_prepare(&r, n, &g); /* the length limit nested in another expression
                                             depends on where it is: left to the render */
    case FN_ENV:
        return env_name(&r, t->args[n->a], name);
    default:
        return eval_call(&r, n, &v);
    }
}

/* Drop whatever a failed call appended: the caller's buffer is as it was. */
static void truncate_to(buf_t *out, size_t len)
{
    out->len = len;
    if (out->cap)
        out->data[len] = '\0';
}

int tmpl_render(const tmpl_t *t, const tmpl_env_t *env, buf_t *out, char *err, size_t errlen)
{
    rctx_t r;
    rctx_init(&r, t, env, err, errlen);
    size_t start = out->len;
    if (render_segs(&r, out) < 0) {
        truncate_to(out, start); /* leave no partial rendering behind */
        return -1;
    }
    if (!out->cap) { /* an empty rendering is still a C string */
        if (buf_reserve(out, 0) < 0)
            return rfail(&r, "out of memory");
        out->data[0] = '\0';
    }
    return 0;
}

int tmpl_render_json(const tmpl_t *t, const tmpl_env_t *env, buf_t *out, char *err,
                     size_t errlen)
{
    rctx_t r;
    rctx_init(&r, t, env, err, errlen);
    size_t start = out->len;
    int rc;
    if (tmpl_is_single_expr(t)) {
        rc = render_node(&r, t->segs[0].root, out, MODE_JSON);
    } else if (buf_putc(out, '"') < 0) {
        rc = rfail(&r, "out of memory");
    } else {
        size_t text = out->len;
        rc = render_segs(&r, out);
        if (rc == 0 && (json_escape_in_place(out, text) < 0 || buf_putc(out, '"') < 0))
            rc = rfail(&r, "out of memory");
    }
    if (rc < 0)
        truncate_to(out, start);
    return rc;
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
    case V_BOOL:
        *out = json_boolean(v.num != 0);
        break;
    case V_NULL:
        *out = json_null();
        break;
    }
    return *out ? 0 : rfail(r, "out of memory");
}

int tmpl_eval(const tmpl_t *t, const tmpl_env_t *env, json_t **out, char *err, size_t errlen)
{
    rctx_t r;
    rctx_init(&r, t, env, err, errlen);
    *out = NULL;
    if (tmpl_is_literal(t))
        return make_string(&r, t->src, t->src_len, out);
    if (tmpl_is_single_expr(t))
        return eval_typed(&r, t->segs[0].root, out);
    buf_t tmp;
    buf_init(&tmp);
    int rc = render_segs(&r, &tmp);
    if (rc == 0)
        rc = make_string(&r, tmp.data ? tmp.data : "", tmp.len, out);
    buf_free(&tmp);
    return rc;
}

int tmpl_truth(const tmpl_t *t, const tmpl_env_t *env, bool *out, char *err, size_t errlen)
{
    rctx_t r;
    rctx_init(&r, t, env, err, errlen);
    if (!tmpl_is_single_expr(t)) {
        *out = t->src_len > 0; /* the loader gives only single expressions */
        return 0;
    }
    val_t v;
    if (eval(&r, t->segs[0].root, &v) < 0)
        return -1;
    *out = val_truth(&v);
    return 0;
}
