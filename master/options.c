#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/scenario.h"

#define BIG 1e18

/* The parsed table, kept for master_options_free (cli owns copies of some values). */
static cli_option_t table[48];
static size_t table_n;
static cli_list_t *positional;   /* the options' user_classes, released with the table */
static char *host_copy;          /* -H with its scheme in lower case; o->host points here */
static char *tls_ca_abs;         /* --tls-ca made absolute; o->tls_ca points here */

void master_options_free(master_options_t *o)
{
    (void)o;
    cli_release(table, table_n, positional);
    table_n = 0;
    positional = NULL;
    free(host_copy);
    host_copy = NULL;
    free(tls_ca_abs);
    tls_ca_abs = NULL;
}

bool master_options_inspect_only(const master_options_t *o)
{
    return o->list || o->show_task_ratio || o->show_task_ratio_json;
}

static bool seen(const char *name)
{
    for (size_t i = 0; i < table_n; i++)
        if (!strcmp(table[i].name, name))
            return table[i].seen;
    return false;
}

const char *master_host_problem(const char *url)
{
    const char *why = scenario_url_problem(url);
    if (!why && strcspn(url, "?#") < strlen(url))
        why = "a base URL takes no query or fragment (each request adds its own path and query)";
    return why;
}

void master_host_normalize(char *url)
{
    for (char *p = url; *p && *p != ':'; p++)
        *p = (char)tolower((unsigned char)*p);
}

/* -H: see master_host_problem; stored normalized. */
static int check_host(master_options_t *o, char *err, size_t errlen)
{
    const char *h = o->host;
    const char *why = master_host_problem(h);
    if (why) {
        snprintf(err, errlen, "-H/--host wants a base URL like http://127.0.0.1:8080, got '%s': %s",
                 h, why);
        return -1;
    }
    host_copy = strdup(h);
    if (!host_copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    master_host_normalize(host_copy);
    o->host = host_copy;
    return 0;
}

int master_options_parse(master_options_t *o, int argc, char **argv, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->users = 1;
    o->spawn_rate = 1;
    o->web_host = "127.0.0.1";
    o->web_port = 8089;
    o->bind_host = "*";
    o->bind_port = 5557;
    o->local_workers = 1;
    o->exit_code_on_error = 1;
    o->heartbeat_liveness = 3;
    o->loglevel = "INFO";

    cli_option_t opts[] = {
        {"locustfile", 'f', CLI_STRING, &o->file, "FILE", "scenario file (YAML) to run", 0, 0, false},
        {"host", 'H', CLI_STRING, &o->host, "URL", "base URL of the target, e.g. http://127.0.0.1:8080: replaces the file's host (a user class's own host: still wins)", 0, 0, false},
        {"users", 'u', CLI_INT, &o->users, "N", "peak number of concurrent users, 1 or more (default 1)", 0, 10000000, false},
        {"spawn-rate", 'r', CLI_DOUBLE, &o->spawn_rate, "RATE", "users started per second, over all workers (default 1)", 0.001, BIG, false},
        {"run-time", 't', CLI_DURATION, &o->run_time_s, "TIME", "stop after this long: 10s, 5m, 1h30m (default, or 0: until Ctrl-C)", 0, BIG, false},
        {"headless", 0, CLI_FLAG, &o->headless, NULL, "no web UI: start at once with -u -r -t, print tables, exit when the run ends", 0, 0, false},
        {"autostart", 0, CLI_FLAG, &o->autostart, NULL, "with the web UI: start the run at once with -u -r -t (the page still serves and can stop or change it)", 0, 0, false},
        {"autoquit", 0, CLI_DURATION, &o->autoquit_s, "SECONDS", "once a run is over, wait this long, then exit (the web UI stays up meanwhile; default: with the web UI, stay until Ctrl-C; headless, exit at once)", 0, BIG, false},
        {"web-host", 0, CLI_STRING, &o->web_host, "HOST", "address the web UI listens on (default 127.0.0.1; * or 0.0.0.0: every interface, which wants --web-auth)", 0, 0, false},
        {"web-port", 0, CLI_INT, &o->web_port, "PORT", "web UI port (default 8089)", 1, 65535, false},
        {"web-auth", 0, CLI_STRING, &o->web_auth, "USER:PASSWORD", "require HTTP basic authentication for the page, the API and /metrics", 0, 0, false},
        {"tls-cert", 0, CLI_STRING, &o->tls_cert, "FILE", "serve the web UI over HTTPS with this PEM certificate (with --tls-key)", 0, 0, false},
        {"tls-key", 0, CLI_STRING, &o->tls_key, "FILE", "the PEM private key of --tls-cert", 0, 0, false},
        {"tls-ca", 0, CLI_STRING, &o->tls_ca, "FILE", "https targets: trust the CA certificates in this PEM file instead of the system's (replaces every user class's tls.ca; read here and sent to the workers)", 0, 0, false},
        {"insecure", 0, CLI_FLAG, &o->insecure, NULL, "https targets: verify neither certificates nor host names (as curl -k; the run warns at start and in the summary)", 0, 0, false},
        {"master-bind-host", 0, CLI_STRING, &o->bind_host, "HOST", "address workers connect to (default *)", 0, 0, false},
        {"master-bind-port", 0, CLI_INT, &o->bind_port, "PORT", "port workers connect to (default 5557; local mode without it: a free loopback port)", 1, 65535, false},
        {"expect-workers", 0, CLI_INT, &o->expect_workers, "N", "wait for N external herd-worker processes instead of starting local ones", 1, 100000, false},
        {"expect-workers-max-wait", 0, CLI_DURATION, &o->expect_workers_max_wait_s, "TIME", "give up (exit 1) if they have not all connected by then (default: wait forever)", 0, BIG, false},
        {"curve-key", 0, CLI_STRING, &o->curve_key, "FILE", "secure the workers' channel with CurveZMQ (encrypted, only known workers): the master's secret key from --gen-keys (with --curve-authorized)", 0, 0, false},
        {"curve-authorized", 0, CLI_STRING, &o->curve_authorized, "DIR", "the public keys (.pub files) of the workers allowed to connect; every other peer is refused", 0, 0, false},
        {"gen-keys", 0, CLI_STRING, &o->gen_keys, "DIR", "write a key pair, DIR/master.key (secret, mode 0600) and DIR/master.pub, then exit", 0, 0, false},
        {"local-workers", 0, CLI_INT, &o->local_workers, "N", "herd-worker processes to start on this machine when not expecting workers (default 1)", 1, 1024, false},
        {"worker-threads", 0, CLI_INT, &o->worker_threads, "N", "engine threads of each local worker (default: one per core)", 1, 1024, false},
        {"stop-timeout", 's', CLI_DURATION, &o->stop_timeout_s, "TIME", "on stop, let users finish their task for this long (default 0: abort at once)", 0, BIG, false},
        {"only-summary", 0, CLI_FLAG, &o->only_summary, NULL, "print only the final summary, not the table every 2 s", 0, 0, false},
        {"exit-code-on-error", 0, CLI_INT, &o->exit_code_on_error, "N", "exit code when any request failed (default 1)", 0, 255, false},
        {"heartbeat-liveness", 0, CLI_INT, &o->heartbeat_liveness, "N", "seconds of silence before a worker is declared missing (default 3)", 1, 3600, false},
        {"tags", 'T', CLI_WORDS, &o->tags, "TAG ...", "run only tasks with one of these tags (-T a b or -T a,b)", 0, 0, false},
        {"exclude-tags", 'E', CLI_WORDS, &o->exclude_tags, "TAG ...", "skip tasks with any of these tags (-E a b or -E a,b)", 0, 0, false},
        {"csv", 0, CLI_STRING, &o->csv_prefix, "PREFIX", "write PREFIX_stats.csv, _stats_history.csv, _failures.csv, _exceptions.csv (Locust's format), updated during the run", 0, 0, false},
        {"csv-full-history", 0, CLI_FLAG, &o->csv_full_history, NULL, "_stats_history.csv gets a row per request name too, not only Aggregated", 0, 0, false},
        {"json", 0, CLI_STRING, &o->json_path, "FILE", "write the final statistics as JSON (- for stdout)", 0, 0, false},
        {"html", 0, CLI_STRING, &o->html_path, "FILE", "write a self-contained HTML report with charts (- for stdout)", 0, 0, false},
        {"reset-stats", 0, CLI_FLAG, &o->reset_stats, NULL, "reset the statistics once every user has been spawned", 0, 0, false},
        {"stages", 0, CLI_STRING, &o->stages, "SPEC", "load shape: DURATION:USERS[:RATE],... e.g. 30s:10,1m:50:5,30s:0 (overrides the file's stages:)", 0, 0, false},
        {"threshold", 0, CLI_LIST, &o->thresholds, "EXPR", "pass criterion, repeatable: p95<300ms, avg<100, fail_ratio<0.01, rps>=50; exit code 3 if one fails", 0, 0, false},
        {"loglevel", 'L', CLI_STRING, &o->loglevel, "LEVEL", "DEBUG, INFO, WARNING, ERROR or CRITICAL (default INFO)", 0, 0, false},
        {"logfile", 0, CLI_STRING, &o->logfile, "FILE", "write log lines to FILE instead of stderr", 0, 0, false},
        {"config", 0, CLI_STRING, &o->config, "FILE", "read options from FILE ('option = value' lines)", 0, 0, false},
        {"list", 'l', CLI_FLAG, &o->list, NULL, "print the file's user classes and their tasks, then exit", 0, 0, false},
        {"show-task-ratio", 0, CLI_FLAG, &o->show_task_ratio, NULL, "print each class's share of the users and each task's share of its class and of all tasks run, then exit", 0, 0, false},
        {"show-task-ratio-json", 0, CLI_FLAG, &o->show_task_ratio_json, NULL, "the same as JSON, then exit", 0, 0, false},
        {"check", 0, CLI_FLAG, &o->check, NULL, "check every option and the scenario as a run would, print what would run (classes, users, workers, web UI, files), then exit 0, or 2 with the error; starts nothing", 0, 0, false},
        {"version", 'V', CLI_FLAG, &o->version, NULL, "print herd-master's version and exit", 0, 0, false},
    };
    size_t n = sizeof opts / sizeof opts[0];
    _Static_assert(sizeof opts <= sizeof table, "table too small");
    memcpy(table, opts, sizeof opts);
    table_n = n;
    positional = &o->user_classes;
    bool help = false;
    if (cli_parse(table, n, argc, argv, positional, &help, err, errlen) < 0)
        return -1;
    if (help) {
        cli_print_help(stdout, "herd-master -f FILE [-H URL] [-u N] [-r RATE] [-t TIME] [--headless] [options] [UserClass ...]",
                       "herd-master runs a scenario file against a target: it starts or waits for\n"
                       "herd-worker processes, hands them users, merges their statistics and prints\n"
                       "Locust-style tables. Without --headless it serves a web UI (--web-port) to\n"
                       "start, watch, change and stop tests. UserClass names run only those classes.\n"
                       "Exit code: 0 without failed requests, 1 (or --exit-code-on-error) with any\n"
                       "or when a report file could not be written, 3 when a --threshold fails,\n"
                       "2 for bad usage.",
                       table, n);
        return 1;
    }
    if (o->version) {
        cli_print_version(stdout, "herd-master");
        return 1;
    }
    o->bind_port_given = seen("master-bind-port");
    o->users_given = seen("users");
    if (o->gen_keys)
        return 0;   /* nothing else is needed, or looked at */
    if (!o->curve_key != !o->curve_authorized) {
        snprintf(err, errlen, "%s needs %s too (%s)",
                 o->curve_key ? "--curve-key" : "--curve-authorized",
                 o->curve_key ? "--curve-authorized" : "--curve-key",
                 o->curve_key ? "the directory of the workers' public keys"
                              : "the master's secret key, from herd-master --gen-keys");
        return -1;
    }
    if (o->curve_key && !o->expect_workers) {
        snprintf(err, errlen, "--curve-key secures the channel to external workers: give "
                 "--expect-workers N (local workers talk over loopback and need no keys)");
        return -1;
    }
    if (!o->file) {
        snprintf(err, errlen, "-f/--locustfile: no scenario file given (e.g. -f scenarios/trading_server.yaml)");
        return -1;
    }
    if (log_level_parse(o->loglevel) < 0) {
        snprintf(err, errlen, "-L/--loglevel wants DEBUG, INFO, WARNING, ERROR or CRITICAL, got '%s'", o->loglevel);
        return -1;
    }
    if (o->users == 0) {
        snprintf(err, errlen, "-u/--users wants 1 or more: 0 users would send nothing (leave -u out "
                 "for 1; to see the classes and tasks without running, use -l or --show-task-ratio)");
        return -1;
    }
    if (o->host && check_host(o, err, errlen) < 0)
        return -1;
    if (o->web_auth && !strchr(o->web_auth, ':')) {
        snprintf(err, errlen, "--web-auth wants USER:PASSWORD, got no ':'");
        return -1;
    }
    if (o->tls_ca) {
        /* Absolute: it names the file among the scenario's (relative to the scenario's
         * folder) and on the workers, which look it up by this name. */
        tls_ca_abs = realpath(o->tls_ca, NULL);
        if (!tls_ca_abs) {
            snprintf(err, errlen, "--tls-ca: %s: %s", o->tls_ca,
                     errno == ENOMEM ? "out of memory" : strerror(errno));
            return -1;
        }
        o->tls_ca = tls_ca_abs;
    }
    if (!o->tls_cert != !o->tls_key) {
        snprintf(err, errlen, "%s needs %s too", o->tls_cert ? "--tls-cert" : "--tls-key",
                 o->tls_cert ? "--tls-key" : "--tls-cert");
        return -1;
    }
    return 0;
}

bool master_bind_is_loopback(const char *host)
{
    return host && (strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
                    strcmp(host, "[::1]") == 0 || strcmp(host, "localhost") == 0);
}
