/*
 * herd-worker: connects to a herd-master, runs the users it is given and reports back.
 * Exit code 0 when the master says quit or after leaving on SIGINT/SIGTERM, 1 when the
 * master stays unreachable for --master-timeout, 2 for bad usage. --check checks the options,
 * prints what the worker would connect to and exits without connecting.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/cli.h"
#include "../common/curve.h"
#include "../common/log.h"
#include "control.h"

static worker_signals_t signals;

static void on_signal(int sig)
{
    signals.last = sig;
    signals.count++;
}

/* Why host cannot be the master's host name or address, or NULL. It goes into a ZeroMQ
 * endpoint (tcp://HOST:PORT): no scheme, no path, no port, no spaces. Not resolved here: the
 * name may exist only where the worker runs (a compose service, a Kubernetes Service). */
static const char *master_host_problem(const char *host)
{
    if (!*host)
        return "it is empty";
    if (strstr(host, "://"))
        return "give the host alone, without a scheme (--master-port takes the port)";
    if (strpbrk(host, "/ \t"))
        return "a host name or address has no '/' or spaces";
    const char *colon = strchr(host, ':');
    if (colon && !strchr(colon + 1, ':'))
        return "give the host alone (--master-port takes the port)";
    return NULL;
}

/* Why --logfile cannot be written, or NULL: an existing file must be writable, a new one's
 * folder must take files. Nothing is created. */
static const char *logfile_problem(const char *path, char *why, size_t len)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return "it is a directory (give a file name)";
        if (access(path, W_OK) != 0)
            goto errno_why;
        return NULL;
    }
    if (errno != ENOENT)
        goto errno_why;
    char dir[4096];
    const char *slash = strrchr(path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
    if (access(dir, W_OK | X_OK) == 0)
        return NULL;
errno_why:
    snprintf(why, len, "%s", strerror(errno));
    return why;
}

/* --check: the options a run would use, checked, and what it would connect to. */
static int check_print(FILE *out, const worker_options_t *o, char *err, size_t errlen)
{
    const char *why = master_host_problem(o->master_host);
    if (why) {
        snprintf(err, errlen, "--master-host '%s': %s", o->master_host, why);
        return -1;
    }
    char buf[128];
    if (o->logfile && (why = logfile_problem(o->logfile, buf, sizeof buf)) != NULL) {
        snprintf(err, errlen, "--logfile: cannot write '%s': %s", o->logfile, why);
        return -1;
    }
    fprintf(out, "Master: tcp://%s:%ld\n", o->master_host, o->master_port);
    if (o->threads > 0)
        fprintf(out, "Threads: %ld\n", o->threads);
    else
        fprintf(out, "Threads: one per core (%ld here)\n", sysconf(_SC_NPROCESSORS_ONLN));
    if (o->secure.on)
        fprintf(out, "Channel: CurveZMQ, this worker's key %s, the master's %s\n",
                o->secure.keys.public_txt, o->secure.master_txt);
    else
        fprintf(out, "Channel: not secured (no --curve-key): any master reached there may "
                     "command this worker\n");
    fprintf(out, "Master timeout: %g s (exit 1 when the master is unreachable this long)\n",
            o->master_timeout_s);
    fprintf(out, "Log: %s to %s\n", o->loglevel, o->logfile ? o->logfile : "stderr");
    fprintf(out, "The command line is good (--check: nothing was connected to).\n");
    return 0;
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
    bool check = false;
    cli_option_t opts[] = {
        {"master-host", 0, CLI_STRING, &o.master_host, "HOST", "the herd-master to connect to (default 127.0.0.1)", 0, 0, false},
        {"master-port", 0, CLI_INT, &o.master_port, "PORT", "its --master-bind-port (default 5557)", 1, 65535, false},
        {"threads", 0, CLI_INT, &o.threads, "N", "engine threads (default: one per core)", 1, 1024, false},
        {"master-timeout", 0, CLI_DURATION, &o.master_timeout_s, "TIME", "exit when the master has been unreachable this long (default 60s)", 0.1, 1e9, false},
        {"loglevel", 'L', CLI_STRING, &o.loglevel, "LEVEL", "DEBUG, INFO, WARNING, ERROR or CRITICAL (default INFO)", 0, 0, false},
        {"logfile", 0, CLI_STRING, &o.logfile, "FILE", "write log lines to FILE instead of stderr", 0, 0, false},
        {"curve-key", 0, CLI_STRING, &o.curve_key, "FILE", "talk to the master over CurveZMQ (encrypted, that master only): this worker's secret key from --gen-keys (with --curve-master)", 0, 0, false},
        {"curve-master", 0, CLI_STRING, &o.curve_master, "FILE", "the master's public key (its master.pub); a master without its secret key cannot command this worker", 0, 0, false},
        {"gen-keys", 0, CLI_STRING, &o.gen_keys, "DIR", "write a key pair, DIR/worker.key (secret, mode 0600) and DIR/worker.pub, then exit", 0, 0, false},
        {"config", 0, CLI_STRING, &config, "FILE", "read options from FILE ('option = value' lines)", 0, 0, false},
        {"check", 0, CLI_FLAG, &check, NULL, "check the options, print the master it would connect to and its settings, then exit 0, or 2 with the error; connects to nothing", 0, 0, false},
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
    if (o.gen_keys) {
        int rc = curve_gen_keys(o.gen_keys, "worker", "worker", stdout, err, sizeof err) < 0;
        if (rc)
            fprintf(stderr, "herd-worker: %s\n", err);
        cli_release(opts, n_opts, NULL);
        return rc;
    }
    int level = log_level_parse(o.loglevel);
    if (level < 0) {
        fprintf(stderr, "herd-worker: -L/--loglevel wants DEBUG, INFO, WARNING, ERROR or CRITICAL, got '%s'\n", o.loglevel);
        cli_release(opts, n_opts, NULL);
        return 2;
    }
    if (secure_load(&o.secure, o.curve_key, o.curve_master, err, sizeof err) < 0) {
        fprintf(stderr, "herd-worker: %s\n", err);
        cli_release(opts, n_opts, NULL);
        return 2;
    }
    if (check) {
        int rc = check_print(stdout, &o, err, sizeof err) < 0 ? 2 : 0;
        if (rc)
            fprintf(stderr, "herd-worker: %s\n", err);
        cli_release(opts, n_opts, NULL);
        return rc;
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
