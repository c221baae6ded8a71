/*
 * prep — the two jobs herd-worker's control thread must never wait for, each on a thread of
 * its own, so that its heartbeats go on whatever they cost:
 *   - preparing a run: the scenario's setup steps, then the engines (creating one resolves
 *     the target hosts: a slow DNS);
 *   - draining engines: engine_finish joins an engine's thread, which may be deep in a long
 *     loop turn, and frees thousands of users; what they counted is handed back as stats.
 * The control thread starts a job and polls it; nothing here talks to the master.
 *
 * Ownership. A prep borrows its run's scenario, text, host and globals (prep_run_t) while
 * the control thread holds the run. The control thread may abandon a prep still running (a
 * new run, the worker leaving): from then on the prep owns those and frees them, with its
 * engines and itself, when it ends. A drain owns the engines it is given.
 */
#ifndef HERD_PREP_H
#define HERD_PREP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "../common/scenario.h"
#include "../common/stats.h"
#include "engine.h"

/* What a run is made of; the control thread's until a prep that has it is abandoned. */
typedef struct prep_run {
    scenario_t *sc;
    char *scenario_text;
    char *host;                /* -H, or NULL */
    json_t **globals;          /* sc->n_globals slots */
} prep_run_t;

/* Free what a run is made of (NULL members are fine) and clear it. */
void prep_run_free(prep_run_t *run);

typedef struct prep prep_t;

/* Start preparing `run` on a thread: its setup steps (unless run_setup is false: a run
 * resumed after a lost master), then `threads` engines configured from ecfg (its sc, host
 * and globals are taken from run). NULL with err when the thread cannot start. */
prep_t *prep_start(const prep_run_t *run, const engine_config_t *ecfg, unsigned threads,
                   bool run_setup, char *err, size_t errlen);
/* True once the prep has finished (prep_take returns at once then). */
bool prep_done(const prep_t *p);
/* A finished prep: its engines (threads entries, the caller's now) or NULL and -1 with err
 * when the setup or an engine failed. Frees p. */
int prep_take(prep_t *p, engine_t ***engines, char *err, size_t errlen);
/* Let go of p without waiting. Returns true when it was still running: it keeps the run's
 * members (the caller must forget them) and frees everything when it ends. Returns false
 * when it had just finished: *engines gets its engines (NULL if it failed), p is freed. */
bool prep_abandon(prep_t *p, engine_t ***engines);
/* Abandoned preps still running: their threads use libcurl, so no curl_global_cleanup
 * while this is not 0. */
int prep_abandoned_running(void);

typedef struct drain drain_t;

/* Finish n engines (taking ownership of the array) on a thread, or here when no thread can
 * be started. NULL when out of memory: the engines are destroyed and their last counts are
 * lost (logged). */
drain_t *drain_start(engine_t **engines, unsigned n);
bool drain_done(const drain_t *d);
/* Wait for d, merge what its engines counted into dst, free d. -1 when some counts were lost
 * (out of memory). */
int drain_take(drain_t *d, stats_table_t *dst);

#endif
