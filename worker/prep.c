/*
 * prep — a run's preparation and the draining of engines, off the control thread. See
 * prep.h.
 *
 * What must stay true: a prep's state goes RUNNING → DONE (the thread finished first) or
 * RUNNING → ABANDONED (the control thread let go first), by one compare-exchange each side;
 * whoever loses it knows the other side owns the prep.
 */
#include "prep.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "setup.h"

typedef enum prep_state { PREP_RUNNING, PREP_DONE, PREP_ABANDONED } prep_state_t;

struct prep {
    pthread_t thread;
    _Atomic int state;           /* prep_state_t */
    bool run_setup;
    prep_run_t run;              /* borrowed; owned once ABANDONED */
    char worker_id[37];
    engine_config_t ecfg;        /* borrows run and worker_id */
    unsigned threads;
    engine_t **engines;          /* threads entries once DONE with rc 0 */
    int rc;                      /* -1: err says why */
    char err[512];
};

struct drain {
    pthread_t thread;
    atomic_int done;
    engine_t **engines;          /* n entries; owned, freed by the thread */
    unsigned n;
    stats_table_t stats;         /* what they counted that no collect took */
    bool lost;                   /* a merge ran out of memory: some counts are lost */
    bool inline_done;            /* finished on the caller's thread: no thread to join */
};

static atomic_int preps_abandoned;

void prep_run_free(prep_run_t *run)
{
    if (run->globals) {
        for (uint32_t i = 0; run->sc && i < run->sc->n_globals; i++)
            if (run->globals[i])
                json_decref(run->globals[i]);
        free(run->globals);
    }
    scenario_free(run->sc);
    free(run->scenario_text);
    free(run->host);
    memset(run, 0, sizeof *run);
}

static void destroy_engine_array(engine_t **engines, unsigned n)
{
    if (!engines)
        return;
    for (unsigned i = 0; i < n; i++)
        engine_destroy(engines[i]);
    free(engines);
}

/* ---- preparing a run -------------------------------------------------------------------- */

typedef struct engine_start {
    engine_config_t cfg;
    engine_t *engine;
    int rc;
    char err[512];
} engine_start_t;

static void *start_one_engine(void *arg)
{
    engine_start_t *s = arg;
    s->rc = engine_create(&s->cfg, &s->engine, s->err, sizeof s->err);
    return NULL;
}

/* Create p's engines side by side: each resolves the target hosts, and a slow DNS should
 * cost its delay once, not once per engine. */
static int start_engines(prep_t *p)
{
    engine_start_t *s = calloc(p->threads, sizeof *s);
    pthread_t *tids = calloc(p->threads, sizeof *tids);
    bool *started = calloc(p->threads, sizeof *started);
    p->engines = calloc(p->threads, sizeof *p->engines);
    int rc = 0;
    if (!s || !tids || !started || !p->engines) {
        snprintf(p->err, sizeof p->err, "out of memory");
        rc = -1;
    }
    for (unsigned i = 0; rc == 0 && i < p->threads; i++) {
        s[i].cfg = p->ecfg;
        s[i].cfg.index = i;
        started[i] = pthread_create(&tids[i], NULL, start_one_engine, &s[i]) == 0;
        if (!started[i])
            start_one_engine(&s[i]);
    }
    for (unsigned i = 0; s && started && i < p->threads; i++) {
        if (started[i])
            pthread_join(tids[i], NULL);
        if (rc == 0 && s[i].rc < 0) {
            snprintf(p->err, sizeof p->err, "%s", s[i].err);
            rc = -1;
        }
        if (p->engines)
            p->engines[i] = s[i].engine;
        else
            engine_destroy(s[i].engine);
    }
    if (rc < 0) {
        destroy_engine_array(p->engines, p->threads);
        p->engines = NULL;
    }
    free(s);
    free(tids);
    free(started);
    return rc;
}

static void *prep_main(void *arg)
{
    prep_t *p = arg;
    p->rc = 0;
    if (p->run_setup && p->run.sc->n_setup)
        p->rc = setup_run(p->run.sc, p->run.host, p->worker_id, p->run.globals, p->err,
                          sizeof p->err);
    if (p->rc == 0)
        p->rc = start_engines(p);
    int expected = PREP_RUNNING;
    if (!atomic_compare_exchange_strong(&p->state, &expected, PREP_DONE)) {
        /* Abandoned: the run it prepared is over, and everything here is ours to free. */
        destroy_engine_array(p->engines, p->threads);
        prep_run_free(&p->run);
        free(p);
        atomic_fetch_sub(&preps_abandoned, 1);
    }
    return NULL;
}

prep_t *prep_start(const prep_run_t *run, const engine_config_t *ecfg, unsigned threads,
                   bool run_setup, char *err, size_t errlen)
{
    prep_t *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    atomic_init(&p->state, PREP_RUNNING);
    p->run_setup = run_setup;
    p->run = *run;
    p->threads = threads;
    snprintf(p->worker_id, sizeof p->worker_id, "%s", ecfg->worker_id ? ecfg->worker_id : "");
    p->ecfg = *ecfg;
    p->ecfg.sc = run->sc;
    p->ecfg.host_override = run->host;
    p->ecfg.globals = run->globals;
    p->ecfg.worker_id = p->worker_id;
    p->ecfg.n_engines = threads;
    if (run_setup && run->sc->n_setup)
        log_info("Running %zu setup step(s)", run->sc->n_setup);
    int rc = pthread_create(&p->thread, NULL, prep_main, p);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the setup thread: %s", strerror(rc));
        free(p);
        return NULL;
    }
    return p;
}

bool prep_done(const prep_t *p)
{
    return atomic_load(&((prep_t *)p)->state) == PREP_DONE;
}

int prep_take(prep_t *p, engine_t ***engines, char *err, size_t errlen)
{
    pthread_join(p->thread, NULL);   /* DONE: the thread is returning */
    int rc = p->rc;
    *engines = NULL;
    if (rc < 0)
        snprintf(err, errlen, "%s", p->err);
    else
        *engines = p->engines;
    free(p);
    return rc;
}

bool prep_abandon(prep_t *p, engine_t ***engines)
{
    *engines = NULL;
    atomic_fetch_add(&preps_abandoned, 1);
    int expected = PREP_RUNNING;
    if (atomic_compare_exchange_strong(&p->state, &expected, PREP_ABANDONED)) {
        pthread_detach(p->thread);
        return true;
    }
    atomic_fetch_sub(&preps_abandoned, 1);
    pthread_join(p->thread, NULL);   /* DONE: returns at once */
    *engines = p->engines;
    free(p);
    return false;
}

int prep_abandoned_running(void)
{
    return atomic_load(&preps_abandoned);
}

/* ---- draining engines ------------------------------------------------------------------- */

static void *drain_main(void *arg)
{
    drain_t *d = arg;
    for (unsigned i = 0; i < d->n; i++)
        if (engine_finish(d->engines[i], &d->stats) < 0)
            d->lost = true;
    free(d->engines);
    d->engines = NULL;
    atomic_store(&d->done, 1);
    return NULL;
}

drain_t *drain_start(engine_t **engines, unsigned n)
{
    drain_t *d = calloc(1, sizeof *d);
    if (!d) {
        log_error("out of memory: the engines' last counts are lost");
        destroy_engine_array(engines, n);
        return NULL;
    }
    stats_init(&d->stats);
    d->engines = engines;
    d->n = n;
    if (pthread_create(&d->thread, NULL, drain_main, d) != 0) {
        drain_main(d);   /* no thread to spare: finish them here */
        d->inline_done = true;
    }
    return d;
}

bool drain_done(const drain_t *d)
{
    return atomic_load(&((drain_t *)d)->done) != 0;
}

int drain_take(drain_t *d, stats_table_t *dst)
{
    if (!d->inline_done)
        pthread_join(d->thread, NULL);
    int rc = d->lost ? -1 : 0;
    if (stats_merge(dst, &d->stats) < 0)
        rc = -1;
    stats_free(&d->stats);
    free(d);
    return rc;
}
