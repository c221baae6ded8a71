/*
 * registry — the workers the master knows, keyed by their ZeroMQ routing id (the worker's
 * UUID). Owned by the run (master/run.h) and touched only by the master's loop thread.
 */
#ifndef HERD_REGISTRY_H
#define HERD_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/wire.h"

typedef enum worker_state {
    WORKER_READY,     /* said hello, has no users */
    WORKER_SPAWNING,  /* told to run users, not all started yet */
    WORKER_RUNNING,   /* all its users started */
    WORKER_STOPPING,  /* told to stop, final report not in yet */
    WORKER_STOPPED,   /* sent Stopped */
    WORKER_MISSING,   /* silent for --heartbeat-liveness seconds */
} worker_state_t;

typedef struct worker {
    char id[WIRE_MAX_ID_BYTES + 1];   /* routing id == UUID text */
    size_t id_len;
    char hostname[128];
    uint32_t pid;
    uint32_t threads;
    uint32_t cores;            /* of the worker's host */
    uint64_t session;          /* from its last Hello that was taken (0: none said) */
    bool cpu_warned;           /* the CPU warning was logged for this worker */
    worker_state_t state;
    double last_seen;          /* monotonic seconds of the last message */
    uint32_t users;            /* as last reported */
    double cpu_percent;        /* as last reported */
    uint64_t memory_bytes;     /* resident set size as last reported; 0: unknown */
    uint64_t last_applied;     /* every report seq up to here is merged into the run */
    uint64_t final_seq;        /* from Stopped */
    bool stopped;              /* Stopped received for the current run */
    bool in_run;               /* was sent a Spawn of this run: has users, or counts to
                                  account for, so a Stop gets an answer (Stopped) */
    uint32_t *target;          /* users per class last sent (n_classes); owned */
    double rate;               /* spawn rate last sent */
    uint64_t requests, failures; /* applied so far, for per-worker totals */
} worker_t;

typedef struct registry {
    worker_t *workers;         /* owned */
    size_t n, cap;
    size_t n_classes;          /* length of every worker's target */
} registry_t;

void registry_init(registry_t *r, size_t n_classes);
void registry_free(registry_t *r);
worker_t *registry_find(registry_t *r, const char *id, size_t id_len);
/* Add a worker in state READY; NULL on allocation failure. Pointers into the registry are
 * invalidated by the next add. */
worker_t *registry_add(registry_t *r, const char *id, size_t id_len);
/* Workers that take users: neither missing nor gone. */
bool worker_is_active(const worker_t *w);
size_t registry_count_active(const registry_t *r);
const char *worker_state_name(worker_state_t s);
/* Short form of the id for messages: its first 8 characters. */
const char *worker_short_id(const worker_t *w);

#endif
