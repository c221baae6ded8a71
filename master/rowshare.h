/*
 * rowshare — the master's partition of `mode: unique` data rows over workers
 * (scenarios/README.md, "Data files"): every user over all workers gets its own row.
 *
 * Each worker is granted rows for the users it is told to run: the users of the classes that
 * use the set. What it lacks is cut from the rows nobody was given yet, lowest first, and
 * added to its slices; rows are never taken back (a worker whose share shrinks keeps its
 * rows and reuses them when its share grows again; a worker that went missing may come back
 * with users holding them). So a run needs as many rows as users at their peak, plus the
 * users that move when a worker joins or goes missing. When rows run out the worker gets
 * fewer than its users: the users without one do not start (the worker logs each), and the
 * master logs how many users over all workers lack a row, when that number grows.
 *
 * Single thread (the master's loop). Ownership: the table owns its slices; it borrows the
 * scenario.
 */
#ifndef HERD_ROWSHARE_H
#define HERD_ROWSHARE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/scenario.h"

typedef struct rowslice {
    uint32_t set;     /* index into sc->data */
    uint32_t first;   /* first row, from 0 */
    uint32_t count;
} rowslice_t;

typedef struct rowshare_worker {
    char *id;              /* the worker's id; owned */
    uint32_t *owned;       /* per set: rows granted; owned */
    uint32_t *short_by;    /* per set: its users at the last grant that got no row; owned */
    rowslice_t *slices;    /* every slice granted, in order; owned */
    size_t n_slices, cap_slices;
} rowshare_worker_t;

typedef struct rowshare {
    const scenario_t *sc;
    uint32_t *next;        /* per set: first row nobody was granted; owned */
    uint32_t *lacking;     /* per set: users without a row over all workers, last logged;
                              owned */
    rowshare_worker_t *workers;  /* owned */
    size_t n_workers, cap_workers;
} rowshare_t;

/* -1 on out of memory. */
int rowshare_init(rowshare_t *rs, const scenario_t *sc);
void rowshare_free(rowshare_t *rs);
/* A new run: every row free again, no worker holds any. */
void rowshare_reset(rowshare_t *rs);

/* Grant worker id the rows its users need (target[c]: its users of class c) and point *out
 * at every slice it holds (valid until the next call). -1 on out of memory. */
int rowshare_grant(rowshare_t *rs, const char *id, const uint32_t *target,
                   const rowslice_t **out, size_t *n_out);

#endif
