/*
 * template_internal — the compiled form of a template, shared by the compiler
 * (template_compile.c, which builds it) and the evaluator (template_eval.c, which reads it).
 * Not part of the template contract: only those two files include it; everyone else goes
 * through template.h.
 *
 * What must stay true:
 * - A tmpl_t is immutable once tmpl_compile returns, so every engine thread may render the
 *   same one at once without locks.
 * - Every index in it is in range: node, argument and code indices point into the arrays of
 *   the same tmpl_t, pool offsets point at NUL-terminated strings in its pool. The evaluator
 *   does not re-check them.
 * - After compilation no N_NEG or N_BIN node is reachable from a segment root: every
 *   arithmetic subtree has been flattened into one N_ARITH program whose stack never holds
 *   more than TMPL_ARITH_STACK values; one over constants only has been folded into an
 *   N_NUM (its program stays in code[], unused).
 */
#ifndef HERD_TEMPLATE_INTERNAL_H
#define HERD_TEMPLATE_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "template.h"

/* Postfix stack depth of one arithmetic program: the compiler refuses deeper programs, the
 * evaluator sizes its stack with it. */
#define TMPL_ARITH_STACK 32

/* ---- language tables ------------------------------------------------------------------ */

enum fn { FN_UUID, FN_RANDOM_STRING, FN_RANDOM_INT, FN_RANDOM_FLOAT, FN_CHOICE, FN_PICK, FN_ENV,
          FN_NOW, FN_COUNT };

typedef struct tmpl_fn_spec {
    const char *name;
    int min_args, max_args; /* max -1: any number */
} tmpl_fn_spec_t;

/* Indexed by enum fn; defined in template_compile.c. */
extern const tmpl_fn_spec_t tmpl_fn_specs[FN_COUNT];

enum builtin { B_USER_ID, B_WORKER_ID, B_ITERATION, B_COUNT };

/* ---- compiled form -------------------------------------------------------------------- */

enum nkind { N_NUM, N_STR, N_VAR, N_BUILTIN, N_CALL, N_NEG, N_BIN, N_ARITH,
             N_BOOL, N_NULL, N_CMP, N_AND, N_OR, N_NOT, N_INDEX };

/* Comparison operators (N_CMP's sub). */
enum cmpop { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE };

/* One expression node. N_NEG and N_BIN exist only while compiling: flattening turns every
 * arithmetic subtree into one N_ARITH. Field use by kind:
 *   N_NUM num | N_STR a=pool offset, b=length | N_VAR sub=scope, a=name offset, b=name length,
 *   c=slot | N_BUILTIN sub=which | N_CALL sub=fn, a=first index in args[], b=argc |
 *   N_NEG a=operand | N_BIN sub=operator char, a=lhs, b=rhs | N_ARITH a=code offset, b=length |
 *   N_BOOL sub=0 or 1 | N_NULL | N_CMP sub=enum cmpop, a=lhs, b=rhs | N_AND, N_OR a=lhs,
 *   b=rhs (the rhs evaluated only when needed) | N_NOT a=operand | N_INDEX a=the value
 *   indexed, b=the key (x.name: an N_STR) or index (x[expr]) */
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

/* ---- load-time evaluation (template_eval.c, for the compiler) -------------------------- */

/* Evaluate node idx of t, whose operands are all constants (numbers and strings), as a
 * render would: an N_ARITH gives its value in *num; an N_CALL is tried once for the errors
 * its arguments alone cause (its value, random or the worker's environment, is dropped; no
 * environment variable is read). Draws come from a generator of its own. 0, or -1 with the
 * message in err. The compiler calls it once the pool is in place. */
int tmpl_eval_constant(const tmpl_t *t, uint32_t idx, double *num, char *err, size_t errlen);

/* ---- messages ------------------------------------------------------------------------- */

/* "'abc'" or "'abcdefgh...'" — a value quoted in a message, cut to keep the line short. */
#define TMPL_QUOTE_MAX 40
#define QFMT "'%.*s%s'"
#define QARG(s, n) (int)((n) > TMPL_QUOTE_MAX ? TMPL_QUOTE_MAX : (n)), (s), \
                   ((n) > TMPL_QUOTE_MAX ? "..." : "")

/* Format an error message into err. Messages are one line: control characters from quoted
 * values become spaces. */
static inline void tmpl_vformat_error(char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (!err || !errlen)
        return;
    vsnprintf(err, errlen, fmt, ap);
    for (char *s = err; *s; s++)
        if ((unsigned char)*s < 0x20)
            *s = ' ';
}

#endif
