/*
 * control — herd-worker's control thread (the process's main thread): the DEALER socket to
 * the master, hello/welcome, heartbeats every second whatever the engines are doing, the
 * Spawn/Stop/Quit commands, the report stream, and the worker's warnings and errors on their
 * way to the master (logship.h).
 *
 * Reports are deltas numbered by seq. Each stays queued until the master acknowledges it
 * (cumulative Ack); after a reconnect the master's Welcome says what it has applied, and
 * everything after that is merged into one report and sent again. So nothing counted is lost
 * and nothing is counted twice, whatever happens to the connection.
 *
 * Engines are driven only through worker/engine.h.
 *
 * What must stay true: this thread never blocks for long, so its heartbeats go on whatever
 * happens. A run's setup steps and the creation of its engines (which resolves the target
 * hosts) run on a prep thread it only polls, and abandons without waiting when the run
 * changes or the worker exits; the master's host is resolved by ZeroMQ's I/O thread;
 * collecting statistics waits COLLECT_BUDGET_MS at most over all engines.
 *
 * Signals: the first SIGINT or SIGTERM makes the worker leave gracefully (users stopped
 * within the run's --stop-timeout, on_stop run, final report sent and acknowledged, then
 * exit 0); a second one exits at once.
 */
#ifndef HERD_CONTROL_H
#define HERD_CONTROL_H

#include <signal.h>

#include "secure.h"

typedef struct worker_options {
    const char *master_host;
    long master_port;
    long threads;              /* engine threads; 0: one per core */
    double master_timeout_s;   /* exit when the master has been unreachable this long */
    const char *loglevel;
    const char *logfile;
    const char *curve_key;     /* --curve-key: this worker's secret key */
    const char *curve_master;  /* --curve-master: the master's public key */
    const char *gen_keys;      /* --gen-keys DIR */
    secure_t secure;           /* the keys loaded (secure.on) */
} worker_options_t;

/* Set by main's SIGINT/SIGTERM handler. */
typedef struct worker_signals {
    volatile sig_atomic_t count;   /* signals received so far */
    volatile sig_atomic_t last;    /* the last one's number */
} worker_signals_t;

/* Run until Quit (returns 0), the master timeout (1), or a signal (0, once the worker has
 * left: see above). */
int control_run(const worker_options_t *o, const worker_signals_t *signals);

#endif
