/*
 * scenario — loads a scenario file (scenarios/README.md) into the immutable scenario_t the
 * engines run and the master dispatches. This file holds the public API (scenario.h), the top
 * level, user classes, tasks and waits.
 *
 * Two passes. First, ytree.h turns the text into a tree that keeps every node's line and
 * column and has already refused aliases and duplicate keys. Second, the compiler walks that
 * tree: checks keys (suggesting the nearest valid one), types and ranges, gives every variable
 * its slot, and compiles every template with a resolver over those slots, so an unknown
 * variable or function is a load-time error with a position. The compiler is spread over
 * scenario.c, scenario_step.c (steps), scenario_vars.c (slots and templates) and
 * scenario_check.c (errors and typed values); scenario_internal.h is what they share.
 *
 * The first problem stops the load with one line, "FILE:LINE:COLUMN: message"; the partly
 * built scenario is freed and nothing is returned.
 */
#include "scenario.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "file.h"
#include "scenario_internal.h"
#include "ytree.h"

#define SCENARIO_MAX_BYTES ((size_t)16 << 20)  /* a scenario is a page of YAML, not a dataset */
#define DEFAULT_TIMEOUT_S 60.0

const char *const http_method_names[HTTP_METHOD_COUNT] = {
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS",
};

static const char *const top_keys[] = {
    "description", "host", "defaults", "vars", "data", "setup", "users", "stages", "thresholds",
    NULL,
};
static const char *const defaults_keys[] = {
    "headers", "timeout", "expect", "max_body", "cookies", "compress", "http2", "auth", "tls",
    NULL,
};
static const char *const class_keys[] = {
    "name", "weight", "fixed_count", "host", "headers", "wait", "on_start", "on_stop", "tasks",
    "sequential", "cookies", "compress", "http2", "auth", "tls", NULL,
};
static const char *const task_keys[] = {"name", "weight", "tags", "steps", NULL};
static const char *const wait_keys[] = {"constant", "between", "pacing", "throughput", NULL};

/* ---- tasks and classes ------------------------------------------------------------------ */

static void task_free(task_t *t)
{
    free(t->name);
    for (size_t i = 0; i < t->n_tags; i++)
        free(t->tags[i]);
    free(t->tags);
    for (size_t i = 0; i < t->n_steps; i++)
        sc_step_free(&t->steps[i]);
    free(t->steps);
}

static void class_free(user_class_t *uc)
{
    free(uc->name);
    free(uc->host);
    for (size_t i = 0; i < uc->n_on_start; i++)
        sc_step_free(&uc->on_start[i]);
    free(uc->on_start);
    for (size_t i = 0; i < uc->n_on_stop; i++)
        sc_step_free(&uc->on_stop[i]);
    free(uc->on_stop);
    for (size_t i = 0; i < uc->n_tasks; i++)
        task_free(&uc->tasks[i]);
    free(uc->tasks);
    for (uint32_t i = 0; i < uc->n_vars; i++)
        free(uc->var_names[i]);
    free(uc->var_names);
    free(uc->data_binds);
}

static int compile_task(loader_t *L, const ynode_t *n, task_t *t, size_t index,
                        const ynode_t *class_headers)
{
    t->weight = 1;
    t->enabled = true;
    if (n->kind != YNODE_MAP)
        return sc_fail(L, n, "a task must be a mapping with 'steps', got %s", ytree_describe(n));
    if (sc_check_keys(L, n, task_keys, "task"))
        return -1;
    const ynode_t *v;
    if ((v = ytree_get(n, "name"))) {
        if (sc_dup_text(L, v, "name", &t->name))
            return -1;
    } else {
        char buf[32];
        snprintf(buf, sizeof buf, "task%zu", index + 1);
        if (!(t->name = strdup(buf)))
            return sc_oom(L, n);
    }
    if ((v = ytree_get(n, "weight"))) {
        if (sc_number(L, v, "weight", &t->weight))
            return -1;
        if (t->weight <= 0)
            return sc_fail(L, v, "task 'weight' must be more than 0, got %g", t->weight);
    }
    if ((v = ytree_get(n, "tags"))) {
        if (sc_list(L, v, "tags", "tag names"))
            return -1;
        t->tags = calloc(v->n ? v->n : 1, sizeof *t->tags);
        if (!t->tags)
            return sc_oom(L, v);
        for (size_t i = 0; i < v->n; i++) {
            t->n_tags = i + 1;
            if (sc_dup_text(L, v->items[i], "tags", &t->tags[i]))
                return -1;
        }
    }
    if (!(v = ytree_get(n, "steps")))
        return sc_fail(L, n, "task needs 'steps'");
    return sc_compile_steps(L, v, "steps", true, class_headers, false, &t->steps, &t->n_steps);
}

static const char wait_msg[] =
    "wait must be 0, {constant: S}, {between: [A, B]}, {pacing: S} or {throughput: N}";

static int parse_wait(loader_t *L, const ynode_t *n, wait_spec_t *w)
{
    double d;
    memset(w, 0, sizeof *w);
    if (n->kind == YNODE_SCALAR) {
        if (ytree_number(n, &d) && d == 0)
            return 0;
        return sc_fail(L, n, "%s, got '%s'", wait_msg, SC_SHOW(n->str));
    }
    if (n->kind != YNODE_MAP || n->n == 0)
        return sc_fail(L, n, "%s, got %s", wait_msg,
                       n->kind == YNODE_MAP ? "an empty mapping" : ytree_describe(n));
    if (sc_check_keys(L, n, wait_keys, "wait"))
        return -1;
    if (n->n > 1)
        return sc_fail(L, ytree_key(n, 1), "wait takes one form, got both '%s' and '%s'",
                       ytree_key(n, 0)->str, ytree_key(n, 1)->str);
    const char *form = ytree_key(n, 0)->str;
    const ynode_t *v = ytree_val(n, 0);
    if (strcmp(form, "constant") == 0) {
        w->kind = WAIT_CONSTANT;
        return sc_seconds(L, v, "constant", true, &w->a);
    }
    if (strcmp(form, "pacing") == 0) {
        w->kind = WAIT_PACING;
        return sc_seconds(L, v, "pacing", false, &w->a);
    }
    if (strcmp(form, "throughput") == 0) {
        w->kind = WAIT_THROUGHPUT;
        if (sc_number(L, v, "throughput", &w->a))
            return -1;
        if (w->a <= 0)
            return sc_fail(L, v, "'throughput' must be more than 0 task runs per second, got %g",
                           w->a);
        return 0;
    }
    w->kind = WAIT_BETWEEN;
    if (v->kind != YNODE_SEQ || v->n != 2 || !ytree_number(v->items[0], &w->a) ||
        !ytree_number(v->items[1], &w->b))
        return sc_fail(L, v, "'between' must be [A, B], two numbers of seconds, got %s",
                       ytree_describe(v));
    if (w->a < 0 || w->b < w->a)
        return sc_fail(L, v, "'between' must be [A, B] with 0 <= A <= B, got [%g, %g]", w->a,
                       w->b);
    return 0;
}

static int compile_class(loader_t *L, const ynode_t *n, user_class_t *uc, size_t index)
{
    uc->line = n->line;
    uc->col = n->col;
    uc->weight = 1;
    uc->fixed_count = -1;
    if (n->kind != YNODE_MAP)
        return sc_fail(L, n, "a user class must be a mapping with 'name' and 'tasks', got %s",
                       ytree_describe(n));
    if (sc_check_keys(L, n, class_keys, "user class"))
        return -1;
    const ynode_t *v;
    if (!(v = ytree_get(n, "name")))
        return sc_fail(L, n, "user class needs 'name'");
    if (sc_dup_text(L, v, "name", &uc->name))
        return -1;
    for (size_t i = 0; i < index; i++)
        if (strcmp(L->sc->classes[i].name, uc->name) == 0)
            return sc_fail(L, v, "duplicate user class name '%s' (first at line %d)",
                           SC_SHOW(uc->name), L->sc->classes[i].line);
    if ((v = ytree_get(n, "weight"))) {
        if (sc_number(L, v, "weight", &uc->weight))
            return -1;
        if (uc->weight < 0)
            return sc_fail(L, v, "'weight' must not be negative, got %g", uc->weight);
    }
    if ((v = ytree_get(n, "fixed_count"))) {
        long long c;
        if (!ytree_integer(v, &c) || c < 0 || c > 100000000)
            return sc_fail(L, v, "'fixed_count' must be a whole number >= 0, got %s",
                           ytree_describe(v));
        uc->fixed_count = (long)c;
    }
    if ((v = ytree_get(n, "host")) && sc_host(L, v, &uc->host))
        return -1;
    uc->tls = L->sc->tls; /* the command line's are in it already, and win again below */
    if ((v = ytree_get(n, "tls")) && (sc_tls(L, v, &uc->tls) || sc_tls_command_line(L, &uc->tls)))
        return -1;
    const ynode_t *headers = ytree_get(n, "headers");
    if (headers && sc_check_headers(L, headers))
        return -1;
    if ((v = ytree_get(n, "wait")) && parse_wait(L, v, &uc->wait))
        return -1;
    if ((v = ytree_get(n, "sequential")) && !ytree_bool(v, &uc->sequential))
        return sc_fail(L, v, "'sequential' must be true or false, got %s", ytree_describe(v));
    /* The class's session options over the defaults', for its steps. */
    L->session = L->defaults_session;
    if (sc_session_keys(L, n, &L->session))
        return -1;

    const ynode_t *tasks = ytree_get(n, "tasks");
    if (!tasks)
        return sc_fail(L, n, "user class needs 'tasks'");
    if (sc_list(L, tasks, "tasks", "tasks"))
        return -1;
    if (tasks->n == 0)
        return sc_fail(L, tasks, "'tasks' must list at least one task");

    /* Every save of the class first: templates anywhere in it may name them. */
    L->class_vars_cap = 0;
    if (sc_collect_saves(L, uc, ytree_get(n, "on_start")))
        return -1;
    for (size_t i = 0; i < tasks->n; i++)
        if (tasks->items[i]->kind == YNODE_MAP &&
            sc_collect_saves(L, uc, ytree_get(tasks->items[i], "steps")))
            return -1;
    if (sc_collect_saves(L, uc, ytree_get(n, "on_stop")))
        return -1;
    L->uc = uc;
    L->visible_globals = L->sc->n_globals;

    /* Keys in file order, so stats rows come out in file order. */
    for (size_t i = 0; i < n->n; i++) {
        const char *k = ytree_key(n, i)->str;
        v = ytree_val(n, i);
        if (strcmp(k, "on_start") == 0) {
            if (sc_compile_steps(L, v, k, false, headers, false, &uc->on_start, &uc->n_on_start))
                return -1;
        } else if (strcmp(k, "on_stop") == 0) {
            if (sc_compile_steps(L, v, k, false, headers, false, &uc->on_stop, &uc->n_on_stop))
                return -1;
        } else if (strcmp(k, "tasks") == 0) {
            uc->tasks = calloc(v->n, sizeof *uc->tasks);
            if (!uc->tasks)
                return sc_oom(L, v);
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
    if (sc_map(L, n, "defaults", "headers, timeout, expect, max_body, session keys and tls") ||
        sc_check_keys(L, n, defaults_keys, "defaults") || sc_session_keys(L, n, &L->session))
        return -1;
    L->defaults_session = L->session;
    const ynode_t *v;
    if ((v = ytree_get(n, "headers"))) {
        if (sc_check_headers(L, v))
            return -1;
        L->defaults_headers = v;
    }
    if ((v = ytree_get(n, "timeout")) &&
        sc_seconds(L, v, "timeout", false, &L->sc->default_timeout_s))
        return -1;
    if ((v = ytree_get(n, "max_body")) &&
        sc_bytes(L, v, "max_body", &L->sc->default_max_body_bytes))
        return -1;
    if ((v = ytree_get(n, "expect"))) {
        /* Checked here once so its errors point at defaults even if every step overrides. */
        expect_t ex;
        memset(&ex, 0, sizeof ex);
        int rc = sc_expect_parse(L, v, &ex);
        sc_expect_free(&ex);
        if (rc)
            return -1;
        L->defaults_expect = v;
    }
    if ((v = ytree_get(n, "tls")) && sc_tls(L, v, &L->sc->tls))
        return -1;
    return 0;
}

static int compile_vars(loader_t *L, const ynode_t *n)
{
    if (sc_map(L, n, "vars", "names to values"))
        return -1;
    for (size_t i = 0; i < n->n; i++) {
        const ynode_t *k = ytree_key(n, i);
        if (sc_var_name(L, k, "vars"))
            return -1;
        json_t *value = sc_yaml_to_json(L, ytree_val(n, i), false);
        uint32_t slot;
        if (!value || sc_global_add(L, k, value, &slot))
            return -1;
    }
    L->n_var_globals = L->sc->n_globals;
    return 0;
}

static const char *const stage_keys[] = {"duration", "users", "spawn_rate", NULL};

/* stages: [{duration: 30s, users: 50, spawn_rate: 10}, ...] */
static int compile_stages(loader_t *L, const ynode_t *list)
{
    if (sc_list(L, list, "stages", "{duration, users, spawn_rate} stages"))
        return -1;
    if (list->n == 0)
        return sc_fail(L, list, "'stages' must list at least one stage");
    L->sc->stages = calloc(list->n, sizeof *L->sc->stages);
    if (!L->sc->stages)
        return sc_oom(L, list);
    for (size_t i = 0; i < list->n; i++) {
        const ynode_t *m = list->items[i];
        stage_t *st = &L->sc->stages[i];
        if (m->kind != YNODE_MAP)
            return sc_fail(L, m, "a stage must be a mapping like {duration: 30s, users: 50}, "
                                 "got %s", ytree_describe(m));
        if (sc_check_keys(L, m, stage_keys, "stage"))
            return -1;
        const ynode_t *d = ytree_get(m, "duration"), *u = ytree_get(m, "users"),
                      *r = ytree_get(m, "spawn_rate");
        if (!d)
            return sc_fail(L, m, "stage needs 'duration'");
        if (!u)
            return sc_fail(L, m, "stage needs 'users'");
        if (d->kind != YNODE_SCALAR || cli_parse_duration(d->str, &st->duration_s) < 0 ||
            st->duration_s <= 0)
            return sc_fail(L, d, "'duration' must be a duration like 30s, 5m or 1h30m, got %s",
                           ytree_describe(d));
        double users;
        if (sc_number(L, u, "users", &users))
            return -1;
        if (users < 0 || users > 10000000 || users != floor(users))
            return sc_fail(L, u, "'users' must be a whole number >= 0, got %g", users);
        st->users = (uint32_t)users;
        st->spawn_rate = -1;
        if (r) {
            if (sc_number(L, r, "spawn_rate", &st->spawn_rate))
                return -1;
            if (st->spawn_rate <= 0)
                return sc_fail(L, r, "'spawn_rate' must be more than 0, got %g", st->spawn_rate);
        }
        L->sc->n_stages = i + 1;
    }
    return 0;
}

/* thresholds: ["p95<300ms", "fail_ratio<0.01"] */
static int compile_thresholds(loader_t *L, const ynode_t *list)
{
    if (sc_list(L, list, "thresholds", "threshold strings like 'p95<300ms'"))
        return -1;
    L->sc->thresholds = calloc(list->n ? list->n : 1, sizeof *L->sc->thresholds);
    if (!L->sc->thresholds)
        return sc_oom(L, list);
    for (size_t i = 0; i < list->n; i++) {
        const char *text = NULL;
        char msg[256];
        if (sc_text(L, list->items[i], "thresholds", &text))
            return -1;
        if (threshold_parse(text, &L->sc->thresholds[i], msg, sizeof msg) < 0)
            return sc_fail(L, list->items[i], "%s", msg);
        L->sc->n_thresholds = i + 1;
    }
    return 0;
}

static int compile_scenario(loader_t *L, const ynode_t *root)
{
    scenario_t *sc = L->sc;
    if (!root || ytree_is_null(root))
        return sc_fail_at(L, 1, 1, "the file is empty; a scenario needs at least 'users'");
    if (root->kind != YNODE_MAP)
        return sc_fail(L, root, "the top level must be a mapping (description, host, defaults, "
                                "vars, setup, users), got %s", ytree_describe(root));
    if (sc_check_keys(L, root, top_keys, "the top level"))
        return -1;
    const ynode_t *v;
    if ((v = ytree_get(root, "description")) &&
        sc_dup_text(L, v, "description", &sc->description))
        return -1;
    if ((v = ytree_get(root, "host")) && sc_host(L, v, &sc->host))
        return -1;
    if ((v = ytree_get(root, "defaults")) && compile_defaults(L, v))
        return -1;
    if (sc_tls_command_line(L, &sc->tls))
        return -1;
    if ((v = ytree_get(root, "vars")) && compile_vars(L, v))
        return -1;
    if ((v = ytree_get(root, "data")) && sc_compile_data(L, v))
        return -1;
    if ((v = ytree_get(root, "setup"))) {
        L->uc = NULL;
        if (sc_compile_steps(L, v, "setup", false, NULL, true, &sc->setup, &sc->n_setup))
            return -1;
    }
    if ((v = ytree_get(root, "stages")) && compile_stages(L, v))
        return -1;
    if ((v = ytree_get(root, "thresholds")) && compile_thresholds(L, v))
        return -1;
    const ynode_t *users = ytree_get(root, "users");
    if (!users)
        return sc_fail(L, root, "the file needs 'users', a list of user classes");
    if (sc_list(L, users, "users", "user classes"))
        return -1;
    if (users->n == 0)
        return sc_fail(L, users, "'users' must list at least one user class");
    if (users->n > SC_MAX_CLASSES)
        return sc_fail(L, users, "more than %d user classes", SC_MAX_CLASSES);
    sc->classes = calloc(users->n, sizeof *sc->classes);
    if (!sc->classes)
        return sc_oom(L, users);
    for (size_t i = 0; i < users->n; i++) {
        sc->n_classes = i + 1;
        if (compile_class(L, users->items[i], &sc->classes[i], i))
            return -1;
    }
    return 0;
}

/* The text as a tree, its errors in the loader's words. */
static int parse_tree(loader_t *L, ynode_t **root)
{
    ytree_error_t e;
    if (ytree_parse(L->text, L->len, root, &e) == 0)
        return 0;
    if (e.code == YTREE_ERR_SECOND_DOCUMENT)
        return sc_fail_at(L, e.line, e.col, "a scenario file holds one YAML document, found a "
                                            "second one");
    if (e.code == YTREE_ERR_TOO_MANY_KEYS)
        return sc_fail_at(L, e.line, e.col, "a mapping with more than %d keys is not a scenario",
                          YTREE_MAX_MAP_KEYS);
    return sc_fail_at(L, e.line, e.col, "%s", e.message);
}

int scenario_load(const char *text, size_t len, const char *name, const scenario_source_t *src,
                  scenario_t **out, char *err, size_t errlen)
{
    loader_t L;
    memset(&L, 0, sizeof L);
    L.src = src;
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
    L.sc->default_max_body_bytes = SCENARIO_MAX_BODY_DEFAULT;
    L.session = L.defaults_session = (sc_session_t){ .cookies = true, .compress = true };

    ynode_t *root = NULL;
    int rc = parse_tree(&L, &root);
    if (rc == 0)
        rc = compile_scenario(&L, root);
    ytree_free(root);
    if (rc) {
        scenario_free(L.sc);
        return -1;
    }
    *out = L.sc;
    return 0;
}

int scenario_load_text(const char *text, size_t len, const char *name, scenario_t **out,
                       char *err, size_t errlen)
{
    return scenario_load(text, len, name, NULL, out, err, errlen);
}

int scenario_load_file(const char *path, scenario_t **out, char *err, size_t errlen)
{
    *out = NULL;
    size_t len;
    char *text = file_read(path, SCENARIO_MAX_BYTES, &len, err, errlen);
    if (!text)
        return -1;
    char dir[4096];
    scenario_dir(path, dir, sizeof dir);
    scenario_source_t src = { .dir = dir };
    int rc = scenario_load(text, len, path, &src, out, err, errlen);
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
        sc_step_free(&sc->setup[i]);
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
    sc_data_free(sc);
    sc_files_free(sc);
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
