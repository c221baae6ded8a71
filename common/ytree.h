/*
 * ytree — YAML text read into a small tree of scalars, mappings and sequences, each node
 * knowing the 1-based line and column where it starts.
 *
 * Why not libyaml's document API: it keeps anchors and aliases (a recursive or exponential
 * alias would hang whoever walks the tree) and silently accepts duplicate keys. Building the
 * tree from libyaml's event stream lets us refuse both at the point they occur, with a
 * position, and keep every node's position for the caller's own messages.
 *
 * What is refused: YAML syntax errors, aliases and anchors' use (an anchor alone is ignored),
 * duplicate keys, keys that are not scalars, NUL characters in text, a second document,
 * nesting deeper than YTREE_MAX_DEPTH and mappings with more than YTREE_MAX_MAP_KEYS keys
 * (the duplicate-key check is linear per key). Tags are ignored except `!!str`, which makes a
 * plain scalar a string.
 *
 * Ownership: ytree_parse returns a root the caller frees with ytree_free; every node owns its
 * children and its text. The tree does not keep the source text; functions that need it
 * (ytree_scalar_pos) take it again.
 * Errors: one ytree_error_t, its message one line without position; line and column say where.
 * Thread: a tree is plain data; read it from any thread once built.
 */
#ifndef HERD_YTREE_H
#define HERD_YTREE_H

#include <stdbool.h>
#include <stddef.h>

#define YTREE_MAX_DEPTH 64        /* deeper nesting is garbage or an attack */
#define YTREE_MAX_MAP_KEYS 4096   /* bounds the linear duplicate-key check */

typedef enum ynode_kind { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP } ynode_kind_t;

typedef struct ynode {
    ynode_kind_t kind;
    int line, col;          /* 1-based start of the node (a quoted scalar: its opening quote) */
    char *str;              /* YNODE_SCALAR: text, NUL-terminated, no NUL inside; owned */
    size_t len;             /* strlen(str) */
    bool plain;             /* plain style, no explicit !!str: may be a number, bool or null */
    bool quoted;            /* single- or double-quoted: text starts one column after col */
    bool block;             /* literal (|) or folded (>): text starts on the next line */
    struct ynode **items;   /* YNODE_SEQ: n items; YNODE_MAP: key 2i, value 2i+1; owned */
    size_t n;               /* YNODE_SEQ: items; YNODE_MAP: key-value pairs */
    size_t n_slots, cap;    /* ytree.c's building state: items filled (a map's key may wait
                               for its value) and allocated; readers use n */
} ynode_t;

/* What went wrong, for callers that word some cases their own way. */
typedef enum ytree_errcode {
    YTREE_ERR_SYNTAX,          /* not YAML (libyaml's words; a tab in an indentation says so) */
    YTREE_ERR_NOMEM,
    YTREE_ERR_ALIAS,           /* *alias used */
    YTREE_ERR_DUPLICATE_KEY,   /* at the second key; the message names the first one's line */
    YTREE_ERR_KEY_NOT_SCALAR,  /* a mapping or sequence used as a key */
    YTREE_ERR_NUL,             /* a NUL character inside a scalar */
    YTREE_ERR_SECOND_DOCUMENT, /* at the start of the second document */
    YTREE_ERR_TOO_DEEP,        /* at the collection one level too deep */
    YTREE_ERR_TOO_MANY_KEYS,   /* at the key one past YTREE_MAX_MAP_KEYS */
} ytree_errcode_t;

typedef struct ytree_error {
    ytree_errcode_t code;
    int line, col;             /* 1-based */
    char message[512];         /* one line, no position: "duplicate key 'a' (first at line 1)" */
} ytree_error_t;

/* Parse len bytes of text (UTF-8; need not be NUL-terminated). 0 with *root set: NULL when
 * the text holds no document (nothing, or only comments), a null scalar for an explicit empty
 * one (`---`). -1 with *root NULL and err filled. */
int ytree_parse(const char *text, size_t len, ynode_t **root, ytree_error_t *err);
void ytree_free(ynode_t *root);

/* A mapping's i-th key and value, i < map->n. */
static inline const ynode_t *ytree_key(const ynode_t *map, size_t i) { return map->items[2 * i]; }
static inline const ynode_t *ytree_val(const ynode_t *map, size_t i)
{
    return map->items[2 * i + 1];
}
/* The value under key in a mapping, or NULL. */
const ynode_t *ytree_get(const ynode_t *map, const char *key);

/* Plain scalars read as the YAML core schema reads them; quoted and !!str scalars are always
 * strings. Decimal numbers only: no hex, octal, inf or nan. */
bool ytree_is_null(const ynode_t *n);                 /* "", ~, null, Null, NULL */
bool ytree_bool(const ynode_t *n, bool *v);           /* true/True/TRUE, false/False/FALSE */
bool ytree_number(const ynode_t *n, double *v);       /* finite decimal */
bool ytree_integer(const ynode_t *n, long long *v);   /* [+-]digits, in range */
/* "a list", "a mapping", "nothing", "true/false", "a number" or "a string", for messages like
 * "'x' must be a list, got a number". */
const char *ytree_describe(const ynode_t *n);

/* Where byte `off` of scalar n's text sits in the source text the tree was parsed from (for
 * an error inside a template or a path). Exact for single-line plain and quoted scalars
 * without escapes, and for literal (|) block scalars. Folded (>) and multi-line plain or
 * quoted scalars lost their line breaks or gained escaped ones: the position stays near the
 * scalar but is approximate. Columns count characters, as libyaml's do. */
void ytree_scalar_pos(const char *text, size_t len, const ynode_t *n, size_t off, int *line,
                      int *col);

/* Text from the file quoted in a message: at most cap - 1 bytes, control characters as '?',
 * "..." when cut. Returns buf. */
const char *ytree_show_text(const char *s, char *buf, size_t cap);

#endif
