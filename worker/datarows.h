/*
 * datarows — which row of each `data:` set (scenario.h) a worker's new user takes
 * (scenarios/README.md, "Data files"):
 *   sequential  the worker's users in the order they start: rows 1, 2, ..., wrapping around;
 *   random      a row drawn with the engine's generator;
 *   unique      a row of the slices the master gave this worker (Spawn.data_slices) that no
 *               user of the worker holds now. None free: the user does not start.
 *
 * A user takes its rows when it starts and gives unique rows back when it ends, so a worker
 * whose users come and go reuses its own rows and never another worker's.
 *
 * Thread: the control thread adds slices, engine threads take and give back; a mutex guards
 * the unique pools (taken once per user start and end, never per request).
 * Ownership: borrows the scenario, which must outlive it.
 */
#ifndef HERD_DATAROWS_H
#define HERD_DATAROWS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/scenario.h"

#define DATAROWS_NONE UINT32_MAX

typedef struct datarows datarows_t;

datarows_t *datarows_new(const scenario_t *sc);
void datarows_free(datarows_t *d);

/* Unique set `set` (an index into sc->data): this worker owns rows [first, first + count)
 * besides those it owned. Rows already owned or past the set's end are skipped. -1 on out of
 * memory. Control thread. */
int datarows_own(datarows_t *d, size_t set, uint32_t first, uint32_t count);
/* Rows of unique set `set` this worker owns. */
uint32_t datarows_owned(datarows_t *d, size_t set);

/* A row of set `set` for a user starting now, or DATAROWS_NONE (unique: none free). rng is
 * the caller's rng.h state. Engine threads. */
uint32_t datarows_take(datarows_t *d, size_t set, uint64_t *rng);
/* The user that took row ends. Only unique rows go back; others are a no-op. */
void datarows_give_back(datarows_t *d, size_t set, uint32_t row);

/* A user of class uc starts: take its row of every set the class names into rows
 * (sc->n_data entries, the caller's) and put the bound cells into vars (the user's slots;
 * references taken). 0; 1 when a unique set has no row left (logged, nothing kept: the
 * user must not start); -1 out of memory. Engine threads. */
int datarows_user_start(datarows_t *d, const user_class_t *uc, uint32_t *rows, json_t **vars,
                        uint64_t *rng);
/* The user ends: its unique rows go back (rows as datarows_user_start filled them). */
void datarows_user_end(datarows_t *d, const uint32_t *rows);

#endif
