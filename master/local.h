/*
 * local — herd-worker processes the master starts itself in local mode (no
 * --expect-workers): same binary directory as herd-master, connected over loopback.
 *
 * What must stay true:
 * - Each worker runs in a process group of its own, so a signal the terminal (Ctrl-C) or a
 *   supervisor (timeout, a CI runner) sends to the master's group reaches the master only:
 *   the master stops the workers through the protocol (Stop, final reports, Quit), which is
 *   how no count is lost. Killing the master's group therefore does not kill the workers;
 *   the next point does.
 * - A worker dies with the master: it is started with PR_SET_PDEATHSIG(SIGKILL), and exits
 *   at once if the master was already gone when that was set. Its users stop as soon as the
 *   master is gone, whatever killed it.
 * - Workers log where the master logs: with --logfile their stderr is the master's log file
 *   (log_fd()), which is close-on-exec for everything else.
 */
#ifndef HERD_LOCAL_H
#define HERD_LOCAL_H

#include <stddef.h>
#include <sys/types.h>

typedef struct local_workers {
    pid_t *pids;     /* 0 once reaped; owned. Each is also its process group's id */
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
/* Send sig to the process group of every worker of the last local_workers_start (none once
 * finished). Async-signal-safe: for the master's SIGTSTP handler, so that a Ctrl-Z, which
 * only the master gets, suspends (SIGSTOP) and resumes (SIGCONT) its workers with it. */
void local_workers_signal(int sig);

#endif
