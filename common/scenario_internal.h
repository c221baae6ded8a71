/*
 * scenario_internal — what the scenario loader's files share, and nothing else includes:
 *
 *   scenario.c        the public API, the top level, user classes, tasks, waits, stages
 *   scenario_step.c   one step: request, headers, query/form, body, expect, saves, rows
 *   scenario_vars.c   variable slots, and templates compiled against them
 *   scenario_check.c  positioned errors, key checks with suggestions, typed values, URLs
 *   scenario_files.c  files the scenario names, read on the master and shipped to workers
 *   scenario_data.c   `data:` sets (CSV/JSON rows) and their `{{ set.column }}` names
 *   scenario_multipart.c  a step's `multipart:` body
 *
 * The language they compile is described in scenarios/README.md; the YAML underneath comes
 * from ytree.h.
 *
 * What must stay true: the first problem stops the load. A function here that takes the
 * loader and returns int returns 0, or -1 after writing one line "FILE:LINE:COLUMN: message"
 * into the loader's error buffer, and its caller only passes -1 on (the lookups
 * sc_resolve_var and sc_global_find write nothing). Whatever a function had put into the
 * scenario before failing stays reachable from L->sc (counts are raised as items are filled),
 * so scenario_free releases it.
 */
#ifndef HERD_SCENARIO_INTERNAL_H
#define HERD_SCENARIO_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scenario.h"
#include "template.h"
#include "ytree.h"

/* Bounds that keep the checks' linear searches (rows, variable names) far from quadratic
 * blow-ups on hostile input; real scenarios stay orders of magnitude below them. */
#define SC_MAX_STEPS 10000
#define SC_MAX_CLASSES 1000
#define SC_MAX_VARS 1024

/* The session options in force for the steps being compiled (scenarios/README.md, "Sessions"):
 * the defaults', then a class's over them. */
typedef struct sc_session {
    bool cookies;                   /* `cookies` (true unless turned off) */
    bool compress;                  /* `compress` (true unless turned off) */
    bool http2;                     /* `http2` (false unless turned on) */
    const ynode_t *auth;            /* `auth` mapping or NULL; borrowed from the tree */
} sc_session_t;

typedef struct loader {
    const char *file;               /* for messages; borrowed */
    const char *text;               /* the whole source, for positions inside scalars */
    size_t len;
    char *err;                      /* the caller's buffer */
    size_t errlen;
    scenario_t *sc;                 /* being built; freed by scenario_load_text on error */
    const scenario_source_t *src;   /* where named files come from; NULL: none may be named */
    size_t files_cap;               /* capacity of sc->files */
    size_t files_bytes;             /* bytes of sc->files, against SCENARIO_MAX_FILES_BYTES */
    const ynode_t *defaults_headers;   /* mapping or NULL; borrowed from the tree */
    const ynode_t *defaults_expect;    /* mapping or NULL; borrowed from the tree */
    sc_session_t defaults_session;  /* the defaults' session options */
    sc_session_t session;           /* those of the steps compiled now (a class's) */
    uint32_t n_var_globals;         /* global slots [0, n) come from `vars` */
    uint32_t visible_globals;       /* the resolver sees global slots [0, visible) */
    size_t n_steps;                 /* steps compiled so far, against SC_MAX_STEPS */
    user_class_t *uc;               /* the resolver's USER names; NULL while compiling setup */
    size_t rows_cap;                /* capacity of sc->rows */
    size_t global_names_cap;        /* capacity of sc->global_names */
    size_t global_init_cap;         /* capacity of sc->global_init */
    size_t class_vars_cap;          /* capacity of var_names of the class being compiled;
                                       compile_class sets it to 0 before the first save */
    char resolve_msg[256];          /* why sc_resolve_var refused a name, when it knows
                                       better than "undefined variable"; "" otherwise */
} loader_t;

/* ---- scenario_check.c: errors ----------------------------------------------------------- */

__attribute__((format(printf, 4, 5)))
int sc_fail_at(loader_t *L, int line, int col, const char *fmt, ...);
/* At node n (NULL: line 1, column 1). */
__attribute__((format(printf, 3, 4)))
int sc_fail(loader_t *L, const ynode_t *n, const char *fmt, ...);
/* At byte `off` of scalar n's text (a template's or a JSON path's own error offset). */
__attribute__((format(printf, 4, 5)))
int sc_fail_within(loader_t *L, const ynode_t *n, size_t off, const char *fmt, ...);
int sc_oom(loader_t *L, const ynode_t *n);

/* Text from the file quoted in a message: at most 68 characters, control characters as '?'. */
#define SC_SHOW(s) ytree_show_text((s), (char[72]){0}, 72)

/* ---- scenario_check.c: keys and typed values -------------------------------------------- */

/* Every key of map must be in allowed (NULL-terminated); else "unknown key 'x' in WHERE"
 * with the nearest allowed key, or the whole list when none is near. */
int sc_check_keys(loader_t *L, const ynode_t *map, const char *const *allowed,
                  const char *where);

/* `key` names the value in messages ("'weight' must be a number, got a list"). */
int sc_number(loader_t *L, const ynode_t *n, const char *key, double *out);
int sc_seconds(loader_t *L, const ynode_t *n, const char *key, bool allow_zero, double *out);
/* A size: bytes, or a number with B, KiB, MiB, GiB (or kB, MB, GB); more than 0. */
int sc_bytes(loader_t *L, const ynode_t *n, const char *key, uint64_t *out);
/* Any non-null scalar as written (so `name: 42` is "42"); *out points into the tree. */
int sc_text(loader_t *L, const ynode_t *n, const char *key, const char **out);
int sc_dup_text(loader_t *L, const ynode_t *n, const char *key, char **out);   /* owned */
int sc_list(loader_t *L, const ynode_t *n, const char *key, const char *of);
int sc_map(loader_t *L, const ynode_t *n, const char *key, const char *of);
/* A `vars` or `save` name: an identifier, and not a name templates define themselves. */
int sc_var_name(loader_t *L, const ynode_t *key, const char *what);

/* ---- scenario_check.c: URLs ------------------------------------------------------------- */

/* `host:` of the file or of a class: a literal full http(s) URL; *out is a copy (owned). */
int sc_host(loader_t *L, const ynode_t *n, char **out);
/* A step's path or URL (`method` is its key, for messages), checked as far as its literal text
 * allows; *absolute when it starts with http:// or https://. */
int sc_step_url(loader_t *L, const ynode_t *n, const char *method, bool *absolute);

/* ---- scenario_files.c ------------------------------------------------------------------- */

/* The file that scalar n names (`key` names it in messages), read once (from the disk on the
 * master, relative to the scenario's directory; from the shipped files on a worker) and
 * recorded in sc->files; *out stays valid as long as the scenario (sc->files never moves). */
int sc_file(loader_t *L, const ynode_t *n, const char *key, const scenario_file_t **out);
/* The same for a name that is not in the tree (the master's --tls-ca); errors at n, which
 * may be NULL (line 1, column 1). */
int sc_file_named(loader_t *L, const ynode_t *n, const char *name, const char *key,
                  const scenario_file_t **out);
void sc_files_free(scenario_t *sc);

/* ---- scenario_tls.c --------------------------------------------------------------------- */

/* A `tls:` mapping over *tls: each key it has replaces that field (defaults, then a class
 * over a copy of the defaults'), and the certificate files are checked (PEM that OpenSSL
 * reads, a key that matches its certificate). */
int sc_tls(loader_t *L, const ynode_t *n, scenario_tls_t *tls);
/* The source's --tls-ca / --insecure over *tls. */
int sc_tls_command_line(loader_t *L, scenario_tls_t *tls);

/* ---- scenario_vars.c -------------------------------------------------------------------- */

/* The template resolver over the loader's visible globals and L->uc's names (ctx is L). */
int sc_resolve_var(void *ctx, const char *name, size_t len, tmpl_scope_t *scope,
                   uint32_t *slot);
int sc_compile_tmpl(loader_t *L, const ynode_t *n, tmpl_t **out);
/* YAML to JSON: plain scalars become ints, floats, booleans, null or strings; quoted ones are
 * strings. With check_tmpl, every string leaf is test-compiled so a template error points at
 * its leaf. NULL on error (reported). */
json_t *sc_yaml_to_json(loader_t *L, const ynode_t *n, bool check_tmpl);

/* Global slot of name, or -1. */
int sc_global_find(const scenario_t *sc, const char *name);
/* A new global slot named key->str holding init (reference taken, even on error). */
int sc_global_add(loader_t *L, const ynode_t *key, json_t *init, uint32_t *slot);
/* Fails when a user save named key->str would hide a global. */
int sc_shadow_check(loader_t *L, const ynode_t *key);
/* Give every name a list of steps saves (blocks included, and each for_each's `as:`) a
 * USER slot of uc, before any template of the class
 * is compiled (a task may use what another task saves). Shape errors are left for the step
 * compiler to report in order. */
int sc_collect_saves(loader_t *L, user_class_t *uc, const ynode_t *steps);

/* A USER slot of uc named name (len bytes), added unless it exists. -1 with a message in
 * L->resolve_msg when the class has too many names or memory runs out. */
int sc_user_var_slot(loader_t *L, user_class_t *uc, const char *name, size_t len,
                     uint32_t *slot);

/* ---- scenario_data.c -------------------------------------------------------------------- */

/* The top-level `data:` mapping: every set's file read (relative to the scenario's
 * directory), parsed and checked into sc->data. */
int sc_compile_data(loader_t *L, const ynode_t *n);
/* A dotted name `set.column` a template uses: 0 with the USER slot of L->uc the column is
 * bound to (bound now if it was not), -1 when name is no column of a set (L->resolve_msg
 * says why when name starts with a set's name, or when L->uc is NULL: setup has no row). */
int sc_data_resolve(loader_t *L, const char *name, size_t len, uint32_t *slot);
void sc_data_free(scenario_t *sc);

/* ---- scenario_multipart.c --------------------------------------------------------------- */

/* A step's `multipart:` mapping into st->multipart (BODY_MULTIPART is the caller's to set);
 * sc_multipart_free releases it (also after an error). */
int sc_compile_multipart(loader_t *L, const ynode_t *n, step_t *st);
void sc_multipart_free(step_t *st);

/* ---- scenario_step.c -------------------------------------------------------------------- */

/* A list of steps (`setup`, `on_start`, `on_stop`, a task's `steps`) into *out (owned by the
 * caller's struct; *n_out counts the steps to free, even on error). class_headers is NULL for
 * setup steps, which get no stats row and save into global slots; in setup each step sees the
 * globals saved by the steps before it. */
int sc_compile_steps(loader_t *L, const ynode_t *n, const char *key, bool need_one,
                     const ynode_t *class_headers, bool setup, step_t **out, size_t *n_out);
void sc_step_free(step_t *st);
/* An `expect:` mapping into ex; sc_expect_free releases it (also after an error). */
int sc_expect_parse(loader_t *L, const ynode_t *n, expect_t *ex);
void sc_expect_free(expect_t *ex);
/* The session keys of a defaults or class mapping n (cookies, compress, http2, auth), over
 * what *s holds. */
int sc_session_keys(loader_t *L, const ynode_t *n, sc_session_t *s);
/* Check a `headers:` mapping: names are HTTP tokens, values single-line scalars. */
int sc_check_headers(loader_t *L, const ynode_t *n);

#endif
