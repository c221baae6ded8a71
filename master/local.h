/*
 * local — herd-worker processes the master starts itself in local mode (no
 * --expect-workers): same binary directory as herd-master, connected over loopback.
 */
#ifndef HERD_LOCAL_H
#define HERD_LOCAL_H

#include <stddef.h>
#include <sys/types.h>

typedef struct local_workers {
    pid_t *pids;     /* 0 once reaped; owned */
    size_t n;
} local_workers_t;

/* Start n workers connecting to 127.0.0.1:port. Returns -1 with err if herd-worker cannot
 * be found or started. */
int local_workers_start(local_workers_t *lw, size_t n, int port, long threads,
                        const char *loglevel, char *err, size_t errlen);
/* Reap any that exited; returns how many exited since the last call, with the status of
 * one in *status (as waitpid). */
int local_workers_poll(local_workers_t *lw, int *status);
/* Wait up to timeout_s for all to exit, then SIGKILL the rest. Frees lw. */
void local_workers_finish(local_workers_t *lw, double timeout_s);

#endif
