/*
 * herd-master: parse the command line, check everything that can be checked before a run
 * (options, output paths, the scenario, the classes to run), answer -l and
 * --show-task-ratio[-json] without running, answer --check (check.h) without starting
 * anything, run the scenario (master_run), and turn the
 * outcome into an exit code: 0 no failed request, 1 failures (or --exit-code-on-error), a
 * run that could not happen or a report file that could not be written, 2 bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/dispatch.h"
#include "../common/file.h"
#include "../common/log.h"
#include "../common/scenario.h"
#include "../common/curve.h"
#include "check.h"
#include "inspect.h"
#include "local.h"
#include "master.h"
#include "options.h"
#include "outputs.h"

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

/* Which classes run and how: the ones named on the command line, their tasks --tags and
 * --exclude-tags leave, and at least one class that gets users. Each class's host: its own
 * wins over -H (logged), -H over the file's. -1 with err (usage) otherwise. */
static int choose_classes(scenario_t *sc, const master_options_t *o, char *err, size_t errlen)
{
    if (dispatch_select_classes(sc, o->user_classes.items, o->user_classes.n, err, errlen) < 0 ||
        scenario_filter_tags(sc, o->tags.items, o->tags.n, o->exclude_tags.items,
                             o->exclude_tags.n, err, errlen) < 0 ||
        dispatch_check_classes(sc, err, errlen) < 0)
        return -1;
    if (master_options_inspect_only(o))
        return 0;
    for (size_t c = 0; c < sc->n_classes; c++) {
        const user_class_t *uc = &sc->classes[c];
        if (!scenario_class_host(sc, uc, o->host)) {
            snprintf(err, errlen, "no host for user class '%s': pass -H/--host or set host: in %s",
                     uc->name, o->file);
            return -1;
        }
        if (o->host && uc->host && dispatch_class_runs(uc))
            log_warn("User class '%s' keeps its own host %s: -H %s applies only to classes "
                     "without host: (unlike Locust, where -H replaces every class's host)",
                     uc->name, uc->host, o->host);
    }
    return 0;
}

/* A report on stdout ("-", /dev/stdout) gets stdout to itself: the tables and the summary
 * go to stderr, and the report is written to a copy of the original stdout (path_buf). */
static int give_stdout_to_report(master_options_t *o, char *path_buf, size_t len, char *err,
                                 size_t errlen)
{
    const char **report = o->json_path && report_path_fd(o->json_path) == 1   ? &o->json_path
                           : o->html_path && report_path_fd(o->html_path) == 1 ? &o->html_path
                                                                               : NULL;
    if (!report)
        return 0;
    fflush(stdout);
    int keep = fcntl(1, F_DUPFD_CLOEXEC, 3);
    if (keep < 0 || dup2(2, 1) < 0) {
        snprintf(err, errlen, "%s: cannot write to stdout: %s",
                 report == &o->json_path ? "--json" : "--html", strerror(errno));
        return -1;
    }
    snprintf(path_buf, len, "/dev/fd/%d", keep);
    *report = path_buf;
    log_info("The %s report goes to stdout; the tables go to stderr",
             report == &o->json_path ? "JSON" : "HTML");
    return 0;
}

/* --autoquit without the web UI: stay this long after the run (a wrapper may still read
 * the files); a signal ends the wait. With the web UI the loop waits, serving the page. */
static void autoquit_wait(double seconds)
{
    sig_atomic_t seen = interrupted;
    double end = clock_mono_s() + seconds;
    log_info("The run is over; exiting in %g s (--autoquit)", seconds);
    for (double left = seconds; left > 0 && interrupted == seen; left = end - clock_mono_s()) {
        double nap = left < 0.1 ? left : 0.1;
        struct timespec ts = {0, (long)(nap * 1e9)};
        nanosleep(&ts, NULL);
    }
}

int main(int argc, char **argv)
{
    char err[1024];
    master_options_t o;
    char *text = NULL;
    scenario_t *sc = NULL;
    int rc = 2;
    int r = master_options_parse(&o, argc, argv, err, sizeof err);
    if (r == 1) {   /* --help or --version printed */
        rc = 0;
        goto out;
    }
    if (r < 0)
        goto fail;
    if (o.gen_keys) {
        rc = curve_gen_keys(o.gen_keys, "master", "master", stdout, err, sizeof err) < 0 ? 1 : 0;
        if (rc)
            goto fail;
        goto out;
    }
    if (!master_options_inspect_only(&o) && outputs_check_paths(&o, err, sizeof err) < 0)
        goto fail;
    /* --check creates no file: its log, if any, goes to stderr */
    if (log_setup("master", (log_level_t)log_level_parse(o.loglevel), o.check ? NULL : o.logfile,
                  err, sizeof err) < 0)
        goto fail;
    if (!o.headless && !o.check)
        log_keep_recent();

    size_t len = 0;
    text = file_read(o.file, MASTER_MAX_SCENARIO_BYTES, &len, err, sizeof err);
    char dir[4096];
    scenario_dir(o.file, dir, sizeof dir);
    if (!text || scenario_load(text, len, o.file, &(scenario_source_t){ .dir = dir }, &sc, err,
                               sizeof err) < 0)
        goto fail;
    if (o.list) {
        inspect_list(stdout, sc);
        rc = 0;
        goto out;
    }
    if (choose_classes(sc, &o, err, sizeof err) < 0)
        goto fail;
    if (o.show_task_ratio || o.show_task_ratio_json) {
        uint32_t users = o.users_given ? (uint32_t)o.users : 0;
        if ((o.show_task_ratio && inspect_task_ratio(stdout, sc, users, false) < 0) ||
            (o.show_task_ratio_json && inspect_task_ratio(stdout, sc, users, true) < 0)) {
            snprintf(err, sizeof err, "out of memory");
            rc = 1;
            goto fail;
        }
        rc = 0;
        goto out;
    }
    if (o.check) {
        if (check_print(stdout, &o, sc, err, sizeof err) < 0)
            goto fail;
        rc = 0;
        goto out;
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
    if (o.headless && o.run_time_s <= 0 && !o.stages && !sc->n_stages)
        log_info("No run time limit set, use CTRL+C to interrupt");
    char stdout_report[64];
    if (give_stdout_to_report(&o, stdout_report, sizeof stdout_report, err, sizeof err) < 0)
        goto fail;
    err[0] = '\0';
    rc = master_run(&o, sc, text, &interrupted, err, sizeof err);
    if (rc != 0 && err[0])
        fprintf(stderr, "herd-master: %s\n", err);
    if (rc != 2 && o.autoquit_s > 0 && o.headless)   /* the web UI's: master_run's */
        autoquit_wait(o.autoquit_s);
    goto out;
fail:   /* err says why; rc is 2 (usage) unless set otherwise */
    fprintf(stderr, "herd-master: %s\n", err);
out:
    scenario_free(sc);
    free(text);
    master_options_free(&o);
    log_close();
    return rc;
}
