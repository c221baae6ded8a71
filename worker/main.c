/*
 * herd-worker: connects to a herd-master, runs the users it is given and reports back.
 * Exit code 0 when the master says quit or after leaving on SIGINT/SIGTERM, 1 when the
 * master stays unreachable for --master-timeout, 2 for bad usage.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "../common/cli.h"
#include "../common/log.h"
#include "control.h"

static worker_signals_t signals;

static void on_signal(int sig)
{
    signals.last = sig;
    signals.count++;
}

int main(int argc, char **argv)
{
    worker_options_t o = {
        .master_host = "127.0.0.1",
        .master_port = 5557,
        .threads = 0,
        .master_timeout_s = 60,
        .loglevel = "INFO",
    };
    const char *config = NULL;
    bool version = false;
    cli_option_t opts[] = {
        {"master-host", 0, CLI_STRING, &o.master_host, "HOST", "the herd-master to connect to (default 127.0.0.1)", 0, 0, false},
        {"master-port", 0, CLI_INT, &o.master_port, "PORT", "its --master-bind-port (default 5557)", 1, 65535, false},
        {"threads", 0, CLI_INT, &o.threads, "N", "engine threads (default: one per core)", 1, 1024, false},
        {"master-timeout", 0, CLI_DURATION, &o.master_timeout_s, "TIME", "exit when the master has been unreachable this long (default 60s)", 0.1, 1e9, false},
        {"loglevel", 'L', CLI_STRING, &o.loglevel, "LEVEL", "DEBUG, INFO, WARNING, ERROR or CRITICAL (default INFO)", 0, 0, false},
        {"logfile", 0, CLI_STRING, &o.logfile, "FILE", "write log lines to FILE instead of stderr", 0, 0, false},
        {"config", 0, CLI_STRING, &config, "FILE", "read options from FILE ('option = value' lines)", 0, 0, false},
        {"version", 'V', CLI_FLAG, &version, NULL, "print herd-worker's version and exit", 0, 0, false},
    };
    char err[512];
    bool help;
    const size_t n_opts = sizeof opts / sizeof opts[0];
    if (cli_parse(opts, n_opts, argc, argv, NULL, &help, err, sizeof err) < 0) {
        fprintf(stderr, "herd-worker: %s\n", err);
        cli_release(opts, n_opts, NULL);
        return 2;
    }
    if (help) {
        cli_print_help(stdout, "herd-worker [--master-host HOST] [--master-port PORT] [--threads N]",
                       "herd-worker connects to a herd-master, runs the virtual users it is given\n"
                       "(plain http:// through its own HTTP/1.1 client, everything else through\n"
                       "libcurl) and streams statistics back. It needs no scenario file: the master\n"
                       "sends it. Exit code: 0 when the master says quit, 1 when the master stays\n"
                       "unreachable for --master-timeout, 2 for bad usage.\n"
                       "\n"
                       "SIGINT or SIGTERM: the worker stops its users as the master's stop would\n"
                       "(each finishes its task and on_stop within the run's --stop-timeout), sends\n"
                       "its final report, waits for the master to acknowledge it and exits 0; a\n"
                       "second signal exits at once. A worker that loses its master (no message for\n"
                       "the master's --heartbeat-liveness seconds, 3 by default) stops its users and\n"
                       "reconnects; after --master-timeout without one it exits 1. Each user needs\n"
                       "a socket: a share of users beyond the file descriptor limit (ulimit -n) is\n"
                       "refused, and the run fails with a message saying how to raise it.",
                       opts, n_opts);
        cli_release(opts, n_opts, NULL);
        return 0;
    }
    if (version) {
        cli_print_version(stdout, "herd-worker");
        cli_release(opts, n_opts, NULL);
        return 0;
    }
    int level = log_level_parse(o.loglevel);
    if (level < 0) {
        fprintf(stderr, "herd-worker: -L/--loglevel wants DEBUG, INFO, WARNING, ERROR or CRITICAL, got '%s'\n", o.loglevel);
        cli_release(opts, n_opts, NULL);
        return 2;
    }
    if (log_setup("worker", (log_level_t)level, o.logfile, err, sizeof err) < 0) {
        fprintf(stderr, "herd-worker: %s\n", err);
        cli_release(opts, n_opts, NULL);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* One socket per connection: thousands of users need more than the default 1024. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int rc = control_run(&o, &signals);
    cli_release(opts, n_opts, NULL);
    log_close();
    return rc;
}
