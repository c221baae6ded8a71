/*
 * control — herd-worker's control thread (the process's main thread): the DEALER socket to
 * the master, hello/welcome, heartbeats every second whatever the engines are doing, the
 * Spawn/Stop/Quit commands, and the report stream.
 *
 * Reports are deltas numbered by seq. Each stays queued until the master acknowledges it
 * (cumulative Ack); after a reconnect the master's Welcome says what it has applied, and
 * everything after that is merged into one report and sent again. So nothing counted is lost
 * and nothing is counted twice, whatever happens to the connection.
 *
 * Engines are driven only through worker/engine.h.
 */
#ifndef HERD_CONTROL_H
#define HERD_CONTROL_H

#include <signal.h>

typedef struct worker_options {
    const char *master_host;
    long master_port;
    long threads;              /* engine threads; 0: one per core */
    double master_timeout_s;   /* exit when the master has been unreachable this long */
    const char *loglevel;
    const char *logfile;
} worker_options_t;

/* Run until Quit (returns 0), the master timeout (1), or a signal (0). */
int control_run(const worker_options_t *o, volatile sig_atomic_t *interrupted);

#endif
