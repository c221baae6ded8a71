/*
 * datarows — the worker's hand-out of data rows; the contract is datarows.h.
 *
 * A unique set's pool is a stack of the free rows it owns plus a bit per row saying whether
 * the worker owns it (so a Spawn repeating its slices adds nothing twice).
 */
#include "datarows.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "../common/log.h"
#include "../common/rng.h"

typedef struct pool {
    uint8_t *owned;        /* a byte per row of the set: the master gave it to this worker */
    uint32_t *free_rows;   /* stack of owned rows no user holds; capacity n_rows */
    uint32_t n_free;
    uint32_t n_owned;
} pool_t;

struct datarows {
    const scenario_t *sc;         /* borrowed; not read by datarows_free (the scenario may
                                     be gone by then) */
    size_t n_sets;                /* sc->n_data */
    pthread_mutex_t mu;           /* guards pools */
    pool_t *pools;                /* per set; empty for sets that are not unique; owned */
    _Atomic uint64_t *next;       /* per set: sequential users started so far; owned */
};

datarows_t *datarows_new(const scenario_t *sc)
{
    datarows_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->sc = sc;
    d->n_sets = sc->n_data;
    pthread_mutex_init(&d->mu, NULL);
    size_t n = sc->n_data ? sc->n_data : 1;
    d->pools = calloc(n, sizeof *d->pools);
    d->next = calloc(n, sizeof *d->next);
    if (!d->pools || !d->next) {
        datarows_free(d);
        return NULL;
    }
    for (size_t s = 0; s < sc->n_data; s++) {
        if (sc->data[s].mode != DATA_UNIQUE)
            continue;
        pool_t *p = &d->pools[s];
        p->owned = calloc(sc->data[s].n_rows, 1);
        p->free_rows = calloc(sc->data[s].n_rows, sizeof *p->free_rows);
        if (!p->owned || !p->free_rows) {
            datarows_free(d);
            return NULL;
        }
    }
    return d;
}

void datarows_free(datarows_t *d)
{
    if (!d)
        return;
    for (size_t s = 0; d->pools && s < d->n_sets; s++) {
        free(d->pools[s].owned);
        free(d->pools[s].free_rows);
    }
    free(d->pools);
    free(d->next);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

int datarows_own(datarows_t *d, size_t set, uint32_t first, uint32_t count)
{
    if (set >= d->sc->n_data || d->sc->data[set].mode != DATA_UNIQUE)
        return 0;
    size_t n_rows = d->sc->data[set].n_rows;
    pool_t *p = &d->pools[set];
    pthread_mutex_lock(&d->mu);
    /* Pushed in reverse, so a slice's lowest rows are taken first. */
    for (uint64_t r = (uint64_t)first + count; r-- > first;) {
        if (r >= n_rows || p->owned[r])
            continue;
        p->owned[r] = 1;
        p->n_owned++;
        p->free_rows[p->n_free++] = (uint32_t)r;
    }
    pthread_mutex_unlock(&d->mu);
    return 0;
}

uint32_t datarows_owned(datarows_t *d, size_t set)
{
    pthread_mutex_lock(&d->mu);
    uint32_t n = set < d->sc->n_data ? d->pools[set].n_owned : 0;
    pthread_mutex_unlock(&d->mu);
    return n;
}

uint32_t datarows_take(datarows_t *d, size_t set, uint64_t *rng)
{
    const data_set_t *ds = &d->sc->data[set];
    switch (ds->mode) {
    case DATA_SEQUENTIAL:
        return (uint32_t)(atomic_fetch_add(&d->next[set], 1) % ds->n_rows);
    case DATA_RANDOM:
        return rng_below(rng, (uint32_t)ds->n_rows);
    case DATA_UNIQUE:
        break;
    }
    pthread_mutex_lock(&d->mu);
    pool_t *p = &d->pools[set];
    uint32_t row = p->n_free ? p->free_rows[--p->n_free] : DATAROWS_NONE;
    pthread_mutex_unlock(&d->mu);
    return row;
}

void datarows_give_back(datarows_t *d, size_t set, uint32_t row)
{
    if (row == DATAROWS_NONE || d->sc->data[set].mode != DATA_UNIQUE)
        return;
    pthread_mutex_lock(&d->mu);
    pool_t *p = &d->pools[set];
    if (p->owned[row] && p->n_free < p->n_owned)
        p->free_rows[p->n_free++] = row;
    pthread_mutex_unlock(&d->mu);
}

void datarows_user_end(datarows_t *d, const uint32_t *rows)
{
    for (size_t s = 0; rows && s < d->n_sets; s++)
        datarows_give_back(d, s, rows[s]);
}

int datarows_user_start(datarows_t *d, const user_class_t *uc, uint32_t *rows, json_t **vars,
                        uint64_t *rng)
{
    for (size_t s = 0; s < d->n_sets; s++)
        rows[s] = DATAROWS_NONE;
    for (size_t i = 0; i < uc->n_data_binds; i++) {
        const data_bind_t *b = &uc->data_binds[i];
        const data_set_t *ds = &d->sc->data[b->set];
        if (rows[b->set] == DATAROWS_NONE &&
            (rows[b->set] = datarows_take(d, b->set, rng)) == DATAROWS_NONE) {
            log_error("a user of class '%s' does not start: data set '%s' (mode unique) has "
                      "no row left for it (this worker holds %u of its %zu rows, all in use)",
                      uc->name, ds->name, datarows_owned(d, b->set), ds->n_rows);
            datarows_user_end(d, rows);
            return 1;
        }
        json_decref(vars[b->slot]);
        vars[b->slot] = json_incref(ds->cells[(size_t)rows[b->set] * ds->n_columns + b->column]);
    }
    return 0;
}
