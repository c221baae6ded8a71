/*
 * scenario_vars — the scenario's variables and the templates compiled against them.
 *
 * Every name a template may use gets a slot when the file is loaded: GLOBAL slots for `vars`
 * (first) and setup saves, shared read-only by every user of a worker; USER slots for what a
 * class's steps save, one set per user. Templates are compiled here through template.h with a
 * resolver over the slots visible at that point, so an unknown variable is a load-time error
 * with a position, never a run-time surprise.
 *
 * What must stay true: a name resolves to at most one slot; a user save never takes the name
 * of a global (sc_shadow_check); the resolver sees only globals [0, L->visible_globals) (a
 * setup step sees the saves of the steps before it) and the USER names of L->uc. The language
 * is described in scenarios/README.md; the rules shared by the loader's files in
 * scenario_internal.h.
 */
#include "scenario_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

/* ---- templates -------------------------------------------------------------------------- */

int sc_resolve_var(void *ctx, const char *name, size_t len, tmpl_scope_t *scope,
                   uint32_t *slot)
{
    loader_t *L = ctx;
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
    if (memchr(name, '.', len) && sc_data_resolve(L, name, len, slot) == 0) {
        *scope = TMPL_SCOPE_USER;
        return 0;
    }
    return -1;
}

int sc_compile_tmpl(loader_t *L, const ynode_t *n, tmpl_t **out)
{
    tmpl_error_t e;
    memset(&e, 0, sizeof e);
    L->resolve_msg[0] = '\0';
    if (tmpl_compile(n->str, n->len, sc_resolve_var, L, out, &e) == 0)
        return 0;
    *out = NULL;
    if (L->resolve_msg[0])
        return sc_fail_within(L, n, e.offset, "%s", L->resolve_msg);
    return sc_fail_within(L, n, e.offset, "%s", e.message[0] ? e.message : "bad template");
}

/* jtmpl_compile then compiles the whole document; the leaves are test-compiled first only
 * for their positions, which a JSON document no longer has. */
json_t *sc_yaml_to_json(loader_t *L, const ynode_t *n, bool check_tmpl)
{
    if (n->kind == YNODE_SEQ) {
        json_t *a = json_array();
        if (!a)
            return sc_oom(L, n), NULL;
        for (size_t i = 0; i < n->n; i++) {
            json_t *v = sc_yaml_to_json(L, n->items[i], check_tmpl);
            if (!v || json_array_append_new(a, v)) {
                json_decref(a);
                return v ? (sc_oom(L, n), NULL) : NULL;
            }
        }
        return a;
    }
    if (n->kind == YNODE_MAP) {
        json_t *o = json_object();
        if (!o)
            return sc_oom(L, n), NULL;
        for (size_t i = 0; i < n->n; i++) {
            json_t *v = sc_yaml_to_json(L, ytree_val(n, i), check_tmpl);
            if (!v || json_object_set_new(o, ytree_key(n, i)->str, v)) {
                json_decref(o);
                return v ? (sc_fail(L, ytree_key(n, i), "bad JSON key"), NULL) : NULL;
            }
        }
        return o;
    }
    json_t *v = NULL;
    bool b;
    long long iv;
    double d;
    if (ytree_is_null(n))
        v = json_null();
    else if (ytree_bool(n, &b))
        v = json_boolean(b);
    else if (ytree_integer(n, &iv))
        v = json_integer((json_int_t)iv);
    else if (ytree_number(n, &d))
        v = json_real(d);
    else {
        if (check_tmpl) {
            tmpl_t *t;
            if (sc_compile_tmpl(L, n, &t))
                return NULL;
            tmpl_free(t);
        }
        v = json_stringn(n->str, n->len);
        if (!v)
            return sc_fail(L, n, "text is not valid UTF-8"), NULL;
    }
    if (!v)
        sc_oom(L, n);
    return v;
}

/* ---- variables -------------------------------------------------------------------------- */

int sc_global_find(const scenario_t *sc, const char *name)
{
    for (uint32_t i = 0; i < sc->n_globals; i++)
        if (strcmp(sc->global_names[i], name) == 0)
            return (int)i;
    return -1;
}

int sc_global_add(loader_t *L, const ynode_t *key, json_t *init, uint32_t *slot)
{
    scenario_t *sc = L->sc;
    size_t n = sc->n_globals;
    if (n >= SC_MAX_VARS) {
        json_decref(init);
        return sc_fail(L, key, "more than %d global variables", SC_MAX_VARS);
    }
    if (VEC_RESERVE(sc->global_names, L->global_names_cap, n + 1) < 0 ||
        VEC_RESERVE(sc->global_init, L->global_init_cap, n + 1) < 0 ||
        !(sc->global_names[n] = strdup(key->str)))
        return json_decref(init), sc_oom(L, key);
    sc->global_init[n] = init;
    *slot = sc->n_globals++;
    return 0;
}

int sc_user_var_slot(loader_t *L, user_class_t *uc, const char *name, size_t len,
                     uint32_t *slot)
{
    for (uint32_t i = 0; i < uc->n_vars; i++)
        if (strlen(uc->var_names[i]) == len && memcmp(uc->var_names[i], name, len) == 0)
            return *slot = i, 0;
    if (uc->n_vars >= SC_MAX_VARS) {
        snprintf(L->resolve_msg, sizeof L->resolve_msg, "user class '%s' uses more than %d "
                 "variables", SC_SHOW(uc->name), SC_MAX_VARS);
        return -1;
    }
    if (VEC_RESERVE(uc->var_names, L->class_vars_cap, uc->n_vars + 1) < 0 ||
        !(uc->var_names[uc->n_vars] = strndup(name, len))) {
        snprintf(L->resolve_msg, sizeof L->resolve_msg, "out of memory");
        return -1;
    }
    *slot = uc->n_vars++;
    return 0;
}

static int user_var_add(loader_t *L, user_class_t *uc, const ynode_t *key)
{
    for (uint32_t i = 0; i < uc->n_vars; i++)
        if (strcmp(uc->var_names[i], key->str) == 0)
            return 0;
    if (uc->n_vars >= SC_MAX_VARS)
        return sc_fail(L, key, "user class '%s' saves more than %d variables", SC_SHOW(uc->name),
                       SC_MAX_VARS);
    if (VEC_RESERVE(uc->var_names, L->class_vars_cap, uc->n_vars + 1) < 0 ||
        !(uc->var_names[uc->n_vars] = strdup(key->str)))
        return sc_oom(L, key);
    uc->n_vars++;
    return 0;
}

int sc_shadow_check(loader_t *L, const ynode_t *key)
{
    int g = sc_global_find(L->sc, key->str);
    if (g < 0)
        return 0;
    return sc_fail(L, key, "save '%s' would shadow the global variable '%s' (from %s); pick "
                           "another name", key->str, key->str,
                   (uint32_t)g < L->n_var_globals ? "vars" : "a setup save");
}

/* The default `as:` of a for_each block. */
#define FOR_EACH_DEFAULT_AS "item"

static int collect_saves(loader_t *L, user_class_t *uc, const ynode_t *steps, int depth)
{
    if (!steps || steps->kind != YNODE_SEQ || depth > SCENARIO_MAX_NESTING)
        return 0; /* the step compiler reports the nesting */
    for (size_t i = 0; i < steps->n; i++) {
        const ynode_t *st = steps->items[i];
        if (st->kind != YNODE_MAP)
            continue;
        if (ytree_get(st, "for_each")) {
            /* The element variable is a USER slot like a save's, bound per element. */
            const ynode_t *as = ytree_get(st, "as");
            ynode_t dflt = {.kind = YNODE_SCALAR, .str = (char *)FOR_EACH_DEFAULT_AS,
                            .len = strlen(FOR_EACH_DEFAULT_AS), .line = st->line,
                            .col = st->col};
            if (as && (as->kind != YNODE_SCALAR || sc_var_name(L, as, "for_each 'as'")))
                continue; /* left for the step compiler to report in order */
            const ynode_t *name = as ? as : &dflt;
            if (sc_global_find(L->sc, name->str) >= 0)
                return sc_fail(L, name, "for_each 'as' '%s' would shadow the global variable "
                                        "'%s'; pick another name (as: ...)", name->str,
                               name->str);
            if (user_var_add(L, uc, name))
                return -1;
        }
        if (collect_saves(L, uc, ytree_get(st, "steps"), depth + 1) < 0)
            return -1;
        const ynode_t *save = ytree_get(st, "save");
        if (!save || save->kind != YNODE_MAP)
            continue;
        for (size_t k = 0; k < save->n; k++) {
            const ynode_t *key = ytree_key(save, k);
            if (sc_var_name(L, key, "save") || sc_shadow_check(L, key) ||
                user_var_add(L, uc, key))
                return -1;
        }
    }
    return 0;
}

int sc_collect_saves(loader_t *L, user_class_t *uc, const ynode_t *steps)
{
    return collect_saves(L, uc, steps, 0);
}
