/*
 * scenario_data — the top-level `data:` section: named tables of rows (CSV with a header, or
 * a JSON array of objects) whose columns templates use as `{{ set.column }}`, one row per
 * user (scenarios/README.md, "Data files").
 *
 * Each file comes through sc_file (read by the master, shipped to workers) and is checked
 * when the scenario loads: it parses, it has rows, and every
 * column a template names exists (an unknown column is an error at the template). A dotted
 * name binds a USER slot of the class to a column (user_class_t.data_binds); the engine fills
 * those slots from the user's row when the user starts, so rendering is the ordinary slot
 * lookup.
 *
 * What must stay true: cells are never changed after load (engines share them, and take
 * references on them across threads, which jansson counts atomically).
 */
#include "scenario_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

#define SC_MAX_DATA_SETS 64

static const char *const set_keys[] = {"csv", "json", "mode", NULL};

static const char *const mode_names[] = {
    [DATA_SEQUENTIAL] = "sequential", [DATA_UNIQUE] = "unique", [DATA_RANDOM] = "random",
};

bool scenario_class_uses_data(const user_class_t *uc, size_t set)
{
    for (size_t i = 0; i < uc->n_data_binds; i++)
        if (uc->data_binds[i].set == set)
            return true;
    return false;
}

static int set_cells(loader_t *L, const ynode_t *n, data_set_t *ds, size_t n_rows)
{
    size_t count = n_rows * ds->n_columns;
    ds->cells = calloc(count ? count : 1, sizeof *ds->cells);
    if (!ds->cells)
        return sc_oom(L, n);
    ds->n_rows = n_rows;
    return 0;
}

static int set_columns(loader_t *L, const ynode_t *n, data_set_t *ds, char *const *names,
                       size_t count)
{
    ds->columns = calloc(count ? count : 1, sizeof *ds->columns);
    if (!ds->columns)
        return sc_oom(L, n);
    for (size_t i = 0; i < count; i++) {
        if (!(ds->columns[i] = strdup(names[i])))
            return sc_oom(L, n);
        ds->n_columns = i + 1;
    }
    return 0;
}

static int load_csv(loader_t *L, const ynode_t *n, data_set_t *ds, const char *text,
                    size_t len)
{
    csv_table_t t;
    csv_error_t e;
    if (csv_parse(text, len, &t, &e))
        return sc_fail(L, n, "%s:%d:%d: %s", ds->file, e.line, e.col, e.message);
    int rc;
    if (t.n_rows == 0)
        rc = sc_fail(L, n, "data file %s has a header and no rows", SC_SHOW(ds->file));
    else
        rc = set_columns(L, n, ds, t.columns, t.n_columns);
    if (rc == 0)
        rc = set_cells(L, n, ds, t.n_rows);
    for (size_t i = 0; rc == 0 && i < t.n_rows * t.n_columns; i++)
        if (!(ds->cells[i] = json_string(t.cells[i])))
            rc = sc_fail(L, n, "%s: row %zu is not valid UTF-8", ds->file, i / t.n_columns + 1);
    csv_free(&t);
    return rc;
}

static int load_json(loader_t *L, const ynode_t *n, data_set_t *ds, const char *text,
                     size_t len)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return sc_fail(L, n, "%s:%d:%d: %s", ds->file, je.line, je.column, je.text);
    int rc = 0;
    const char **names = NULL;
    if (!json_is_array(doc) || json_array_size(doc) == 0 ||
        !json_is_object(json_array_get(doc, 0))) {
        rc = sc_fail(L, n, "data file %s must hold a JSON array of objects, one per row, "
                           "with at least one", SC_SHOW(ds->file));
        goto out;
    }
    json_t *first = json_array_get(doc, 0);
    size_t nk = json_object_size(first);
    if (nk == 0) {
        rc = sc_fail(L, n, "%s: the first object has no keys: nothing to use", ds->file);
        goto out;
    }
    names = calloc(nk, sizeof *names);
    if (!names) {
        rc = sc_oom(L, n);
        goto out;
    }
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(first, key, v)
        names[k++] = key;
    if ((rc = set_columns(L, n, ds, (char *const *)names, nk)) ||
        (rc = set_cells(L, n, ds, json_array_size(doc))))
        goto out;
    for (size_t r = 0; r < ds->n_rows; r++) {
        json_t *o = json_array_get(doc, r);
        if (!json_is_object(o)) {
            rc = sc_fail(L, n, "%s: element %zu of the array is not an object", ds->file, r + 1);
            goto out;
        }
        for (size_t c = 0; c < nk; c++) {
            json_t *cell = json_object_get(o, names[c]);
            if (!cell) {
                rc = sc_fail(L, n, "%s: element %zu has no key '%s' (the first element has "
                                   "it; every row needs the same keys)", ds->file, r + 1,
                             SC_SHOW(names[c]));
                goto out;
            }
            ds->cells[r * nk + c] = json_incref(cell);
        }
    }
out:
    free(names);
    json_decref(doc);
    return rc;
}

static int compile_set(loader_t *L, const ynode_t *key, const ynode_t *n, data_set_t *ds)
{
    ds->line = key->line;
    ds->col = key->col;
    if (sc_var_name(L, key, "data"))
        return -1;
    if (!(ds->name = strdup(key->str)))
        return sc_oom(L, key);
    if (sc_global_find(L->sc, ds->name) >= 0)
        return sc_fail(L, key, "data set '%s' has the name of a variable in vars; pick another "
                               "name", SC_SHOW(ds->name));
    if (n->kind != YNODE_MAP)
        return sc_fail(L, n, "data set '%s' must be a mapping like {csv: FILE, mode: unique}, "
                             "got %s", SC_SHOW(ds->name), ytree_describe(n));
    if (sc_check_keys(L, n, set_keys, "a data set"))
        return -1;
    const ynode_t *csv = ytree_get(n, "csv"), *json = ytree_get(n, "json");
    if (!csv == !json)
        return sc_fail(L, n, "data set '%s' needs exactly one of 'csv: FILE' or 'json: FILE'",
                       SC_SHOW(ds->name));
    const ynode_t *fn = csv ? csv : json;
    if (sc_dup_text(L, fn, csv ? "csv" : "json", &ds->file))
        return -1;
    ds->mode = DATA_SEQUENTIAL;
    const ynode_t *m = ytree_get(n, "mode");
    if (m) {
        const char *t;
        if (sc_text(L, m, "mode", &t))
            return -1;
        size_t i = 0;
        while (i < sizeof mode_names / sizeof *mode_names && strcmp(mode_names[i], t) != 0)
            i++;
        if (i == sizeof mode_names / sizeof *mode_names)
            return sc_fail(L, m, "'mode' must be unique, sequential or random, got '%s'",
                           SC_SHOW(t));
        ds->mode = (data_mode_t)i;
    }
    const scenario_file_t *f;
    if (sc_file(L, fn, csv ? "csv" : "json", &f))
        return -1;
    return csv ? load_csv(L, fn, ds, f->data, f->len) : load_json(L, fn, ds, f->data, f->len);
}

int sc_compile_data(loader_t *L, const ynode_t *n)
{
    if (sc_map(L, n, "data", "data set names to {csv: FILE} or {json: FILE}"))
        return -1;
    if (n->n > SC_MAX_DATA_SETS)
        return sc_fail(L, n, "more than %d data sets", SC_MAX_DATA_SETS);
    scenario_t *sc = L->sc;
    sc->data = calloc(n->n ? n->n : 1, sizeof *sc->data);
    if (!sc->data)
        return sc_oom(L, n);
    for (size_t i = 0; i < n->n; i++) {
        sc->n_data = i + 1;
        if (compile_set(L, ytree_key(n, i), ytree_val(n, i), &sc->data[i]))
            return -1;
    }
    return 0;
}

static int bind_column(loader_t *L, user_class_t *uc, const char *name, size_t len,
                       uint32_t set, uint32_t column, uint32_t *slot)
{
    if (sc_user_var_slot(L, uc, name, len, slot))
        return -1;
    data_bind_t *b = realloc(uc->data_binds, (uc->n_data_binds + 1) * sizeof *b);
    if (!b) {
        snprintf(L->resolve_msg, sizeof L->resolve_msg, "out of memory");
        return -1;
    }
    uc->data_binds = b;
    b[uc->n_data_binds++] = (data_bind_t){.slot = *slot, .set = set, .column = column};
    return 0;
}

int sc_data_resolve(loader_t *L, const char *name, size_t len, uint32_t *slot)
{
    const char *dot = memchr(name, '.', len);
    if (!dot)
        return -1;
    size_t set_len = (size_t)(dot - name);
    const char *col = dot + 1;
    size_t col_len = len - set_len - 1;
    const scenario_t *sc = L->sc;
    for (size_t s = 0; s < sc->n_data; s++) {
        const data_set_t *ds = &sc->data[s];
        if (strlen(ds->name) != set_len || memcmp(ds->name, name, set_len) != 0)
            continue;
        if (!L->uc) {
            snprintf(L->resolve_msg, sizeof L->resolve_msg, "'%.*s': a data row belongs to a "
                     "user; setup runs before any user and cannot use one", (int)len, name);
            return -1;
        }
        for (size_t c = 0; c < ds->n_columns; c++)
            if (strlen(ds->columns[c]) == col_len && memcmp(ds->columns[c], col, col_len) == 0)
                return bind_column(L, L->uc, name, len, (uint32_t)s, (uint32_t)c, slot);
        char cols[160];
        size_t used = 0;
        cols[0] = '\0';
        for (size_t c = 0; c < ds->n_columns && used + 1 < sizeof cols; c++)
            used += (size_t)snprintf(cols + used, sizeof cols - used, "%s%s", c ? ", " : "",
                                     ds->columns[c]);
        if (used >= sizeof cols)
            memcpy(cols + sizeof cols - 5, "...", 4);
        snprintf(L->resolve_msg, sizeof L->resolve_msg, "data set '%s' has no column '%.*s' "
                 "(%s has: %s)", ds->name, (int)col_len, col, ds->file, cols);
        return -1;
    }
    return -1;
}

void sc_data_free(scenario_t *sc)
{
    for (size_t s = 0; s < sc->n_data; s++) {
        data_set_t *ds = &sc->data[s];
        free(ds->name);
        free(ds->file);
        for (size_t c = 0; c < ds->n_columns; c++)
            free(ds->columns[c]);
        free(ds->columns);
        if (ds->cells)
            for (size_t i = 0; i < ds->n_rows * ds->n_columns; i++)
                json_decref(ds->cells[i]);
        free(ds->cells);
    }
    free(sc->data);
    sc->data = NULL;
    sc->n_data = 0;
}
