/*
 * scenario — a scenario file (scenarios/README.md) parsed, checked and compiled into the
 * immutable structure the engines execute. The master parses the file to check it and to
 * dispatch users by class; it ships the *text* to workers, which parse it again.
 *
 * Every error is one line, "FILE:LINE:COLUMN: message" (line and column from 1), and nothing
 * is returned on error. Templates are compiled here, once.
 *
 * Ownership: scenario_t owns everything reachable from it; scenario_free releases it all.
 * Thread: immutable after load; shared read-only by every engine thread.
 */
#ifndef HERD_SCENARIO_H
#define HERD_SCENARIO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jpath.h"
#include "jtmpl.h"
#include "runplan.h"
#include "template.h"

typedef enum http_method {
    HTTP_GET, HTTP_POST, HTTP_PUT, HTTP_PATCH, HTTP_DELETE, HTTP_HEAD, HTTP_OPTIONS,
    HTTP_METHOD_COUNT
} http_method_t;

extern const char *const http_method_names[HTTP_METHOD_COUNT]; /* "GET", ... */

typedef struct kv_tmpl {
    char *name;        /* header name / query or form key (literal); owned */
    tmpl_t *value;     /* owned */
} kv_tmpl_t;

typedef enum body_kind { BODY_NONE, BODY_RAW, BODY_JSON, BODY_FORM, BODY_MULTIPART } body_kind_t;

struct scenario_file;

/* One part of a `multipart:` body: a text field (value) or a file (file). */
typedef struct multipart_field {
    char *name;                       /* the field's name; owned */
    tmpl_t *value;                    /* text field; NULL for a file part; owned */
    const struct scenario_file *file; /* file part: its bytes; borrowed from sc->files */
    char *filename;                   /* file part: the name sent; owned */
    char *content_type;               /* file part: its Content-Type; owned */
} multipart_field_t;

/* `expect: {json: {PATH: VALUE}}`: the value at path must equal a literal or a template. */
typedef struct json_value_check {
    jpath_t *path;         /* owned */
    json_t *literal;       /* the expected value when it has no {{ }}; owned reference */
    tmpl_t *value;         /* else the template, evaluated per request (tmpl_eval); owned */
} json_value_check_t;

typedef struct expect {
    /* Accepted statuses: status_ok[s] for s in 0..599. When has_status is false, success is
     * 100 <= status < 400 (Locust's rule) and status_ok is unused. */
    bool has_status;
    bool status_ok[600];
    jpath_t **json_keys;   /* each must be present in the JSON body; owned */
    size_t n_json_keys;
    json_value_check_t *json_values; /* each path must hold its value; owned */
    size_t n_json_values;
    char *contains;        /* body must contain this text; NULL: no check; owned */
    size_t contains_len;
} expect_t;

/* Where a save takes its value from. */
typedef enum save_kind {
    SAVE_JSON,             /* a JSON path into the body: `name: a.b` or `{json: a.b}` */
    SAVE_HEADER,           /* a response header's value, as a string: `{header: Location}` */
    SAVE_REGEX,            /* the first capture group (or the whole match) of a regular
                              expression over the body, as a string: `{regex: 'id=(\d+)'}` */
    SAVE_STATUS,           /* the response's status code, as a number: `{status: true}` */
} save_kind_t;

struct pcre2_real_code_8;  /* pcre2_code (8-bit) of <pcre2.h>, which needs a width macro */

typedef struct save {
    char *var;             /* owned */
    tmpl_scope_t scope;    /* GLOBAL for setup steps, USER otherwise */
    uint32_t slot;
    save_kind_t kind;
    jpath_t *path;         /* SAVE_JSON; owned */
    char *header;          /* SAVE_HEADER: the header's name; owned */
    struct pcre2_real_code_8 *regex; /* SAVE_REGEX: compiled (and JIT-compiled when the
                              platform allows) at load; owned */
    uint32_t regex_group;  /* SAVE_REGEX: the group saved: 1 when the pattern has one, else
                              0 (the whole match) */
} save_t;

/* STEP_BLOCK and STEP_END exist only inside a compiled list of steps: a block's body is
 * flattened between them (see the flow fields of step_t). */
typedef enum step_kind { STEP_REQUEST, STEP_SLEEP, STEP_BLOCK, STEP_END } step_kind_t;

/* What a STEP_BLOCK does with its body. */
typedef enum block_kind {
    BLOCK_ONCE,            /* `steps:` alone (with a `when:`): the body runs once */
    BLOCK_REPEAT,          /* `repeat: N`: the body runs N times */
    BLOCK_FOR_EACH,        /* `for_each: "{{ list }}"`: once per element, bound to `as:` */
} block_kind_t;

#define SCENARIO_MAX_REPEAT 1000000   /* `repeat:` at most */
#define SCENARIO_MAX_NESTING 16       /* blocks inside blocks at most */

typedef struct step {
    step_kind_t kind;
    int line, col;           /* of the step in the file */
    double sleep_s;          /* STEP_SLEEP */

    http_method_t method;
    tmpl_t *url;             /* path (joined to the host) or full http(s) URL; owned */
    bool url_absolute;       /* url's literal text starts with http:// or https:// */
    char *name;              /* stats row name: `name:` or the path as written; owned */
    uint32_t row;            /* index into scenario_t.rows; a STEP_BLOCK: the row of the first
                                request in its body, which counts the block's own failures
                                (a for_each over something not a list) */
    kv_tmpl_t *headers;      /* defaults < class < step, merged, step wins; owned */
    size_t n_headers;
    kv_tmpl_t *query;        /* appended as ?k=v&..., URL-encoded; owned */
    size_t n_query;
    body_kind_t body_kind;
    tmpl_t *body_raw;        /* BODY_RAW; owned */
    jtmpl_t *body_json;      /* BODY_JSON; owned */
    kv_tmpl_t *form;         /* BODY_FORM; owned */
    size_t n_form;
    multipart_field_t *multipart; /* BODY_MULTIPART, in file order; owned */
    size_t n_multipart;
    bool has_content_type;   /* headers include Content-Type (else json/form set theirs) */
    expect_t expect;         /* defaults' expect unless the step has its own */
    save_t *saves;           /* owned */
    size_t n_saves;
    bool needs_json;         /* JSON saves or expect.json: the body must parse as JSON */
    bool needs_body;         /* something reads the body (JSON, a regex save, contains): the
                                transports keep it, within max_body_bytes */
    double timeout_s;        /* step > defaults > 60 */
    uint64_t max_body_bytes; /* `max_body`: response bytes kept for save/expect; a bigger
                                body is read to the end, counted, and fails such a step;
                                step > defaults > SCENARIO_MAX_BODY_DEFAULT */
    bool needs_headers;      /* a save reads a response header: the transports keep the
                                final response's header lines (request_t.resp_headers) */

    /* Flow (scenarios/README.md, "Flow"). A block is flattened into the list it sits in:
     * its STEP_BLOCK, its body, its STEP_END; `end` links the two, so the engine runs a
     * block by moving its program counter, with one loop frame per nesting depth. */
    tmpl_t *when;            /* any step: a single {{ expr }}; the step (a block: the whole
                                block) runs only when it is true; NULL: always; owned */
    block_kind_t block;      /* STEP_BLOCK */
    uint32_t repeat;         /* BLOCK_REPEAT: 1..SCENARIO_MAX_REPEAT */
    tmpl_t *for_each;        /* BLOCK_FOR_EACH: a single {{ expr }} giving a list; owned */
    char *as;                /* BLOCK_FOR_EACH: the variable bound to each element; owned */
    uint32_t as_slot;        /* its USER slot */
    uint32_t end;            /* STEP_BLOCK: index of its STEP_END; STEP_END: of its STEP_BLOCK
                                (indices in the same list) */
    uint32_t depth;          /* STEP_BLOCK/STEP_END: nesting depth, 0 outermost: the user's
                                loop frame; < SCENARIO_MAX_NESTING */
    /* Session (class > defaults): */
    bool cookies;            /* `cookies`: the user's cookie jar is sent and filled (default
                                true, as Locust's HttpUser session) */
    bool compress;           /* `compress`: send Accept-Encoding: gzip, deflate (default true;
                                false when the step's headers carry their own) */
    bool http2;              /* `http2`: HTTP/2 through libcurl (default false) */
    tmpl_t *auth_user;       /* `auth: {basic: [user, password]}` (step > class > defaults);
                                NULL: no Authorization added (none, or the step's headers
                                carry their own); owned */
    tmpl_t *auth_pass;       /* owned; set exactly when auth_user is */
} step_t;

#define SCENARIO_MAX_BODY_DEFAULT (16ull * 1024 * 1024)

typedef struct task {
    char *name;              /* owned */
    double weight;           /* > 0, default 1 */
    char **tags;             /* owned */
    size_t n_tags;
    step_t *steps;           /* at least one; owned */
    size_t n_steps;
    bool enabled;            /* false when filtered out by --tags / --exclude-tags */
} task_t;

typedef enum wait_kind {
    WAIT_NONE,        /* 0: go straight on */
    WAIT_CONSTANT,    /* a = seconds after each task */
    WAIT_BETWEEN,     /* uniform in [a, b] seconds after each task */
    WAIT_PACING,      /* a = seconds from task start to next task start */
    WAIT_THROUGHPUT,  /* a = task runs per second per user (pacing 1/a) */
} wait_kind_t;

typedef struct wait_spec {
    wait_kind_t kind;
    double a, b;
} wait_spec_t;

typedef struct scenario_file scenario_file_t;

/* `tls:` (scenarios/README.md): defaults' keys, then the class's over them key by key, then
 * the master's --tls-ca / --insecure over both (the command line wins). How https requests
 * trust the server and prove who they are; the files are the scenario's (sc->files). */
typedef struct scenario_tls {
    const scenario_file_t *ca;   /* PEM certificates to trust instead of the defaults; NULL:
                                    none (the environment's, else the system's) */
    const scenario_file_t *cert; /* client certificate (PEM); NULL: none */
    const scenario_file_t *key;  /* its private key (PEM); NULL: in the cert file, or none */
    bool insecure;               /* verify neither the certificate nor the host name */
    int min_version;             /* 12: TLS 1.2, 13: TLS 1.3, 0: the libraries' default */
} scenario_tls_t;
/* `data:` (scenarios/README.md, "Data files"): a named table of rows a user takes one of. */
typedef enum data_mode {
    DATA_SEQUENTIAL,  /* the worker's users take rows in order, wrapping around */
    DATA_UNIQUE,      /* each user over all workers its own row (the master partitions) */
    DATA_RANDOM,      /* a row at random per user */
} data_mode_t;

typedef struct data_set {
    char *name;              /* as templates write it: {{ name.column }}; owned */
    data_mode_t mode;
    char *file;              /* as the scenario names it; owned */
    char **columns;          /* n_columns names; owned */
    size_t n_columns;
    json_t **cells;          /* n_rows * n_columns values, row after row (row r, column c at
                                r * n_columns + c): strings from CSV, any JSON value from JSON;
                                owned references, never changed after load */
    size_t n_rows;           /* >= 1 */
    int line, col;           /* of the set's name in the scenario */
} data_set_t;

/* A user slot filled from the user's row of a data set when the user starts. */
typedef struct data_bind {
    uint32_t slot;           /* TMPL_SCOPE_USER slot of the class */
    uint32_t set;            /* index into scenario_t.data */
    uint32_t column;         /* index into that set's columns */
} data_bind_t;

typedef struct user_class {
    char *name;              /* unique; owned */
    double weight;           /* >= 0, default 1 */
    long fixed_count;        /* -1: none (share by weight) */
    char *host;              /* NULL: -H, else the file's host; owned */
    wait_spec_t wait;
    bool sequential;         /* run tasks in order instead of at random by weight */
    step_t *on_start;        /* owned */
    size_t n_on_start;
    step_t *on_stop;         /* owned */
    size_t n_on_stop;
    task_t *tasks;           /* at least one; owned */
    size_t n_tasks;
    uint32_t n_vars;         /* TMPL_SCOPE_USER slots this class's users need */
    char **var_names;        /* n_vars names, for messages; owned */
    scenario_tls_t tls;      /* defaults' tls, the class's over it, the command line's over
                                both */
    data_bind_t *data_binds; /* the `{{ set.column }}` names its templates use; owned */
    size_t n_data_binds;
    int line, col;
} user_class_t;

/* A file the scenario names (a CA, a data file, a multipart part): read once by the master,
 * shipped to workers with the scenario text, so a worker host needs no files. */
struct scenario_file {
    char *name;              /* as the scenario writes it; owned */
    char *data;              /* the whole file, NUL-terminated (len does not count it); owned */
    size_t len;
};

/* Files a scenario may name, over all of them (they travel in one Spawn message). */
#define SCENARIO_MAX_FILES_BYTES ((size_t)32 << 20)
#define SCENARIO_MAX_FILES 256

/* Where the files a scenario names come from: the disk (dir: relative names are taken from
 * there, the scenario file's own directory on the master) or, on a worker, the files the
 * master shipped (looked up by name). */
typedef struct scenario_source {
    const char *dir;
    const scenario_file_t *shipped;
    size_t n_shipped;
    /* The master's --tls-ca and --insecure, over every class's `tls` (and the setup's).
     * tls_ca names a file like the scenario's own names do: on the master an absolute path
     * (read and recorded in sc->files, so it is shipped), on a worker the same name, found
     * among the shipped files. NULL / false: none. */
    const char *tls_ca;
    bool insecure;
} scenario_source_t;

typedef struct scenario_row {
    http_method_t method;
    char *name;              /* owned */
} scenario_row_t;

typedef struct scenario {
    char *file;              /* as given to the loader, for messages; owned */
    char *description;       /* NULL if none; owned */
    char *host;              /* NULL if none; owned */
    double default_timeout_s;
    uint64_t default_max_body_bytes;
    step_t *setup;           /* run once per worker; saves into global slots; owned */
    size_t n_setup;
    user_class_t *classes;   /* at least one; owned */
    size_t n_classes;
    uint32_t n_globals;      /* TMPL_SCOPE_GLOBAL slots: vars first, then setup saves */
    char **global_names;     /* owned */
    json_t **global_init;    /* value of each `vars` slot; NULL for setup slots; owned refs */
    stage_t *stages;         /* `stages:` (load shape), NULL if none; owned */
    size_t n_stages;
    threshold_t *thresholds; /* `thresholds:`, checked at the end of the run; owned */
    size_t n_thresholds;
    scenario_row_t *rows;    /* distinct (method, name) over every counted step: stats rows,
                                in file order; setup steps have no row; owned */
    size_t n_rows;
    data_set_t *data;        /* `data:` sets, in file order; owned */
    size_t n_data;
    scenario_file_t *files;  /* every file the scenario names, once each, in file order; owned */
    size_t n_files;
    scenario_tls_t tls;      /* defaults' tls with the command line's over it: the setup's,
                                and what classes start from */
} scenario_t;

/* Parse and compile. `name` is used in messages (the file path). On error returns -1 and
 * writes "FILE:LINE:COLUMN: message" into err; scenario_load_file also fails with file.h's
 * "PATH: cannot read: <reason>" or "PATH: file too large (N bytes at most)" (16 MiB).
 * scenario_load_file reads the files the scenario names relative to path's directory;
 * scenario_load takes them from src (NULL: a scenario that names a file is refused);
 * scenario_load_text is scenario_load without files. */
int scenario_load_file(const char *path, scenario_t **out, char *err, size_t errlen);
int scenario_load(const char *text, size_t len, const char *name, const scenario_source_t *src,
                  scenario_t **out, char *err, size_t errlen);
int scenario_load_text(const char *text, size_t len, const char *name, scenario_t **out,
                       char *err, size_t errlen);
/* The directory a scenario at path reads its files from ("." for a bare name), into out. */
void scenario_dir(const char *path, char *out, size_t outlen);
void scenario_free(scenario_t *sc);

/* Apply --tags / --exclude-tags (either may be empty): a task runs when it has one of `tags`
 * (or tags is empty) and none of `exclude`. A class left with no enabled task gets weight 0
 * and fixed_count -1 (it gets no users). Returns -1 with a message when no class has an
 * enabled task left. */
int scenario_filter_tags(scenario_t *sc, char *const *tags, size_t n_tags,
                         char *const *exclude, size_t n_exclude, char *err, size_t errlen);

/* Why url is not a full http:// or https:// URL as a file's host: must be (no host, a port
 * outside 1-65535, a space, ...), or NULL when it is one. The scheme's case is free. */
const char *scenario_url_problem(const char *url);

/* The base URL a class's requests use: class host, else override (-H), else the file's
 * host; NULL when none is set. */
const char *scenario_class_host(const scenario_t *sc, const user_class_t *uc,
                                const char *override);

/* Whether users of class uc take a row of data set `set` (their templates name it). */
bool scenario_class_uses_data(const user_class_t *uc, size_t set);

#endif
