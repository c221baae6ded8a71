/*
 * rowshare — unique data rows over workers; the contract is rowshare.h.
 */
#include "rowshare.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/vec.h"

int rowshare_init(rowshare_t *rs, const scenario_t *sc)
{
    memset(rs, 0, sizeof *rs);
    rs->sc = sc;
    size_t n = sc->n_data ? sc->n_data : 1;
    rs->next = calloc(n, sizeof *rs->next);
    rs->lacking = calloc(n, sizeof *rs->lacking);
    if (!rs->next || !rs->lacking) {
        rowshare_free(rs);
        return -1;
    }
    return 0;
}

static void workers_clear(rowshare_t *rs)
{
    for (size_t i = 0; i < rs->n_workers; i++) {
        free(rs->workers[i].id);
        free(rs->workers[i].owned);
        free(rs->workers[i].short_by);
        free(rs->workers[i].slices);
    }
    rs->n_workers = 0;
}

void rowshare_free(rowshare_t *rs)
{
    workers_clear(rs);
    free(rs->workers);
    free(rs->next);
    free(rs->lacking);
    memset(rs, 0, sizeof *rs);
}

void rowshare_reset(rowshare_t *rs)
{
    workers_clear(rs);
    size_t n = rs->sc && rs->sc->n_data ? rs->sc->n_data : 1;
    if (rs->next)
        memset(rs->next, 0, n * sizeof *rs->next);
    if (rs->lacking)
        memset(rs->lacking, 0, n * sizeof *rs->lacking);
}

static rowshare_worker_t *find_worker(rowshare_t *rs, const char *id)
{
    for (size_t i = 0; i < rs->n_workers; i++)
        if (strcmp(rs->workers[i].id, id) == 0)
            return &rs->workers[i];
    if (VEC_RESERVE(rs->workers, rs->cap_workers, rs->n_workers + 1) < 0)
        return NULL;
    rowshare_worker_t *w = &rs->workers[rs->n_workers];
    memset(w, 0, sizeof *w);
    w->id = strdup(id);
    size_t n = rs->sc->n_data ? rs->sc->n_data : 1;
    w->owned = calloc(n, sizeof *w->owned);
    w->short_by = calloc(n, sizeof *w->short_by);
    if (!w->id || !w->owned || !w->short_by) {
        free(w->id);
        free(w->owned);
        free(w->short_by);
        return NULL;
    }
    rs->n_workers++;
    return w;
}

static int add_slice(rowshare_worker_t *w, uint32_t set, uint32_t first, uint32_t count)
{
    if (w->n_slices) {
        rowslice_t *last = &w->slices[w->n_slices - 1];
        if (last->set == set && last->first + last->count == first) {
            last->count += count;
            return 0;
        }
    }
    if (VEC_RESERVE(w->slices, w->cap_slices, w->n_slices + 1) < 0)
        return -1;
    w->slices[w->n_slices++] = (rowslice_t){.set = set, .first = first, .count = count};
    return 0;
}

int rowshare_grant(rowshare_t *rs, const char *id, const uint32_t *target,
                   const rowslice_t **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    const scenario_t *sc = rs->sc;
    bool any = false;
    for (size_t s = 0; s < sc->n_data; s++)
        any |= sc->data[s].mode == DATA_UNIQUE;
    if (!any)
        return 0;
    rowshare_worker_t *w = find_worker(rs, id);
    if (!w)
        return -1;
    for (size_t s = 0; s < sc->n_data; s++) {
        const data_set_t *ds = &sc->data[s];
        if (ds->mode != DATA_UNIQUE)
            continue;
        uint64_t need = 0;
        for (size_t c = 0; c < sc->n_classes; c++)
            if (scenario_class_uses_data(&sc->classes[c], s))
                need += target[c];
        w->short_by[s] = 0;
        if (need <= w->owned[s])
            continue;
        uint64_t want = need - w->owned[s];
        uint64_t left = ds->n_rows - rs->next[s];
        uint32_t give = (uint32_t)(want < left ? want : left);
        if (give && add_slice(w, (uint32_t)s, rs->next[s], give) < 0)
            return -1;
        rs->next[s] += give;
        w->owned[s] += give;
        w->short_by[s] = (uint32_t)(want - give);
        uint64_t lacking = 0;
        for (size_t i = 0; i < rs->n_workers; i++)
            lacking += rs->workers[i].short_by[s];
        if (lacking > rs->lacking[s]) {
            rs->lacking[s] = (uint32_t)lacking;
            log_error("data set '%s' (mode unique) has run out of rows: all %zu are given out, "
                      "and %" PRIu64 " users have none; they do not start (add rows, or run "
                      "fewer users)", ds->name, ds->n_rows, lacking);
        }
    }
    *out = w->slices;
    *n_out = w->n_slices;
    return 0;
}
