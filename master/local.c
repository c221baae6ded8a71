#include "local.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/log.h"

/* herd-worker next to our own executable, else on the PATH. */
static int find_worker(char *out, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(out, len, "%s/herd-worker", self);
            if (access(out, X_OK) == 0)
                return 0;
        }
    }
    snprintf(out, len, "herd-worker");
    return 0;
}

/* The workers local_workers_signal reaches (a signal handler cannot be handed them). */
static local_workers_t *volatile signal_target;

void local_workers_signal(int sig)
{
    local_workers_t *lw = signal_target;
    for (size_t i = 0; lw && i < lw->n; i++) {
        pid_t pid = lw->pids[i];
        if (pid > 0)
            kill(-pid, sig);
    }
}

int local_workers_start(local_workers_t *lw, size_t n, int port, long threads,
                        const char *loglevel, char *err, size_t errlen)
{
    lw->pids = calloc(n, sizeof *lw->pids);
    lw->n = 0;
    if (!lw->pids) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    signal_target = lw;
    char path[PATH_MAX + 16];
    find_worker(path, sizeof path);
    char port_s[16], threads_s[24];
    snprintf(port_s, sizeof port_s, "%d", port);
    snprintf(threads_s, sizeof threads_s, "%ld", threads);
    pid_t master = getpid();
    int log_out = log_fd();
    for (size_t i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            snprintf(err, errlen, "cannot start a local worker: %s", strerror(errno));
            return -1;
        }
        if (pid == 0) {
            /* Between fork and exec: async-signal-safe calls only (ZeroMQ has threads). */
            setpgid(0, 0);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != master)
                _exit(1);   /* the master died before PDEATHSIG was set: nobody to serve */
            if (log_out >= 0 && log_out != STDERR_FILENO)
                dup2(log_out, STDERR_FILENO);   /* the copy is not close-on-exec */
            char *argv[12];
            int k = 0;
            argv[k++] = path;
            argv[k++] = "--master-host";
            argv[k++] = "127.0.0.1";
            argv[k++] = "--master-port";
            argv[k++] = port_s;
            argv[k++] = "--loglevel";
            argv[k++] = (char *)loglevel;
            argv[k++] = "--master-timeout";
            argv[k++] = "10";
            if (threads > 0) {
                argv[k++] = "--threads";
                argv[k++] = threads_s;
            }
            argv[k] = NULL;
            execvp(path, argv);
            static const char msg[] = "herd-master: cannot run ";
            ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
            w += write(STDERR_FILENO, path, strlen(path));
            w += write(STDERR_FILENO, "\n", 1);
            (void)w;
            _exit(127);
        }
        setpgid(pid, 0);   /* the child does it too: whichever runs first, the worker is in
                              its own group before the master's loop (and Ctrl-C) begins */
        lw->pids[lw->n++] = pid;
    }
    return 0;
}

int local_workers_poll(local_workers_t *lw, int *status)
{
    int exited = 0;
    for (size_t i = 0; i < lw->n; i++) {
        if (!lw->pids[i])
            continue;
        int st;
        if (waitpid(lw->pids[i], &st, WNOHANG) == lw->pids[i]) {
            lw->pids[i] = 0;
            *status = st;
            exited++;
        }
    }
    return exited;
}

void local_workers_finish(local_workers_t *lw, double timeout_s)
{
    if (signal_target == lw)
        signal_target = NULL;
    double deadline = clock_mono_s() + timeout_s;
    int st;
    for (;;) {
        size_t alive = 0;
        local_workers_poll(lw, &st);
        for (size_t i = 0; i < lw->n; i++)
            alive += lw->pids[i] != 0;
        if (!alive || clock_mono_s() >= deadline)
            break;
        usleep(20000);
    }
    for (size_t i = 0; i < lw->n; i++) {
        if (lw->pids[i]) {
            kill(lw->pids[i], SIGKILL);
            waitpid(lw->pids[i], &st, 0);
        }
    }
    free(lw->pids);
    lw->pids = NULL;
    lw->n = 0;
}
