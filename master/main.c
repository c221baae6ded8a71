/*
 * herd-master: parse the command line, load and check the scenario, run it (master_run),
 * and turn the outcome into an exit code: 0 no failed request, 1 failures (or
 * --exit-code-on-error) or a run that could not happen, 2 bad usage.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/file.h"
#include "../common/log.h"
#include "../common/scenario.h"
#include "local.h"
#include "master.h"
#include "options.h"

/* SIGINT and SIGTERM, counted: the first stops the run gracefully (Stop, --stop-timeout,
 * final reports), the next ends it at once (master.c, run_interrupt). Only the master gets
 * a terminal's Ctrl-C or a signal to its process group: local workers have groups of their
 * own (local.h) and are stopped through the protocol. */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted++;
}

static struct sigaction suspend_action;

/* Ctrl-Z: suspend the local workers, then the master as the default action would; on
 * SIGCONT (fg, bg) the master resumes here and resumes them. */
static void on_suspend(int sig)
{
    int saved = errno;
    local_workers_signal(SIGSTOP);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);   /* stopped here until SIGCONT */
    sigaction(sig, &suspend_action, NULL);
    local_workers_signal(SIGCONT);
    errno = saved;
}

/* A scenario file larger than this is refused: it travels to every worker inside one
 * message (wire.h allows 64 MiB) and is parsed on each. */
#define MASTER_MAX_SCENARIO_BYTES ((size_t)16 << 20)

int main(int argc, char **argv)
{
    char err[1024];
    master_options_t o;
    int r = master_options_parse(&o, argc, argv, err, sizeof err);
    if (r == 1) {
        master_options_free(&o);
        return 0;
    }
    if (r < 0) {
        fprintf(stderr, "herd-master: %s\n", err);
        master_options_free(&o);
        return 2;
    }
    if (log_setup("master", (log_level_t)log_level_parse(o.loglevel), o.logfile, err,
                  sizeof err) < 0) {
        fprintf(stderr, "herd-master: %s\n", err);
        master_options_free(&o);
        return 2;
    }

    size_t len = 0;
    char *text = file_read(o.file, MASTER_MAX_SCENARIO_BYTES, &len, err, sizeof err);
    scenario_t *sc = NULL;
    if (!text || scenario_load_text(text, len, o.file, &sc, err, sizeof err) < 0 ||
        scenario_filter_tags(sc, o.tags.items, o.tags.n, o.exclude_tags.items,
                             o.exclude_tags.n, err, sizeof err) < 0) {
        fprintf(stderr, "herd-master: %s\n", err);
        free(text);
        scenario_free(sc);
        master_options_free(&o);
        return 2;
    }
    for (size_t c = 0; c < sc->n_classes; c++) {
        if (!scenario_class_host(sc, &sc->classes[c], o.host)) {
            fprintf(stderr,
                    "herd-master: no host for user class '%s': pass -H/--host or set host: in %s\n",
                    sc->classes[c].name, o.file);
            free(text);
            scenario_free(sc);
            master_options_free(&o);
            return 2;
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    memset(&suspend_action, 0, sizeof suspend_action);
    suspend_action.sa_handler = on_suspend;
    sigaction(SIGTSTP, &suspend_action, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (sc->description)
        log_info("Starting herd-master: %s (%s)", o.file, sc->description);
    else
        log_info("Starting herd-master: %s", o.file);
    err[0] = '\0';
    int rc = master_run(&o, sc, text, &interrupted, err, sizeof err);
    if (rc != 0 && err[0])
        fprintf(stderr, "herd-master: %s\n", err);
    scenario_free(sc);
    free(text);
    master_options_free(&o);
    log_close();
    return rc;
}
