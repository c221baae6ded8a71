/*
 * engine — one load-generating thread: its loop (loop.h), its transports (transport.h), and
 * virtual users as small state machines that execute a scenario's steps (scenarios/README.md
 * semantics), each sending its requests through its own client (client.h).
 *
 * The worker's control thread owns engines and talks to them only through this header:
 * commands are queued and the engine is woken (eventfd); statistics are handed over by
 * engine_collect. Nothing here takes a lock or allocates on the request path.
 *
 * Ownership: the engine borrows cfg->sc and cfg->globals (they must outlive it) and owns its
 * loop, transports, users and stats tables.
 */
#ifndef HERD_ENGINE_H
#define HERD_ENGINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/scenario.h"
#include "../common/stats.h"

typedef struct engine engine_t;

typedef struct engine_config {
    const scenario_t *sc;        /* read-only, shared by all engines */
    const char *host_override;   /* -H, or NULL */
    const char *worker_id;       /* UUID text, for templates */
    json_t *const *globals;      /* sc->n_globals values (vars + setup saves), read-only */
    unsigned index;              /* this engine's number, 0..n_engines-1 */
    unsigned n_engines;          /* user ids are index + 1 + k * n_engines: unique per worker */
    double stop_timeout_s;       /* how long a stopping user may finish its task (0: abort) */
    struct datarows *rows;       /* the worker's data rows (datarows.h), shared by engines;
                                    NULL when the scenario has no `data:` */
} engine_config_t;

/* Create the engine and start its thread. -1 with a message on failure. */
int engine_create(const engine_config_t *cfg, engine_t **out, char *err, size_t errlen);
/* Abort every user, join the thread, free everything. NULL is fine. What the engine counted
 * since the last collect is dropped: use engine_finish to keep it. */
void engine_destroy(engine_t *e);
/* Abort every user (in-flight requests are cancelled: counted as interrupted, not as
 * requests), join the thread, merge everything counted and not yet collected into dst, free
 * the engine. NULL is fine. -1 if the merge ran out of memory (the engine is freed all the
 * same). */
int engine_finish(engine_t *e, stats_table_t *dst);

/* Run users_per_class[c] users of class c (sc->n_classes entries): start missing users at
 * spawn_rate users/s (spread over classes in proportion), stop surplus users (gracefully up
 * to stop_timeout_s, like engine_stop). Thread-safe, returns at once. */
void engine_set_target(engine_t *e, const uint32_t *users_per_class, double spawn_rate);
/* Stop every user: each finishes its current task and on_stop within stop_timeout_s, then
 * is aborted (in-flight requests are cancelled: counted as interrupted, not as requests).
 * Thread-safe, returns at once; poll engine_user_count until 0. */
void engine_stop(engine_t *e);
/* Share of the time since the previous call (0..1) the engine's loop spent working rather
 * than waiting for sockets or timers; -1 on the first call. 1 means saturated: requests
 * queue behind the engine and response times include that wait. Control thread only. */
double engine_busy(engine_t *e);
/* Users currently alive (spawned and not yet stopped). Thread-safe. */
uint32_t engine_user_count(const engine_t *e);

/* Users that did not start for want of a unique data row, since the last target was set
 * (a new target retries them). Thread-safe. */
uint32_t engine_rowless_count(const engine_t *e);

/* Merge into dst everything the engine counted since the previous collect, rows named from
 * sc->rows. Waits at most timeout_ms for the engine to hand its table over; on timeout
 * returns -1 and nothing is lost (it comes with the next collect). */
int engine_collect(engine_t *e, stats_table_t *dst, int timeout_ms);

#endif
