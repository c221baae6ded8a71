#include "options.h"

#include <stdio.h>
#include <string.h>

#include "../common/log.h"

#define BIG 1e18

/* The parsed table, kept for master_options_free (cli owns copies of some values). */
static cli_option_t table[40];
static size_t table_n;

void master_options_free(master_options_t *o)
{
    (void)o;
    cli_release(table, table_n);
    table_n = 0;
}

int master_options_parse(master_options_t *o, int argc, char **argv, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->users = 1;
    o->spawn_rate = 1;
    o->web_host = "*";
    o->web_port = 8089;
    o->bind_host = "*";
    o->bind_port = 5557;
    o->local_workers = 1;
    o->exit_code_on_error = 1;
    o->heartbeat_liveness = 3;
    o->loglevel = "INFO";

    cli_option_t opts[] = {
        {"locustfile", 'f', CLI_STRING, &o->file, "FILE", "scenario file (YAML) to run", 0, 0, false},
        {"host", 'H', CLI_STRING, &o->host, "URL", "base URL of the target, e.g. http://127.0.0.1:8080 (overrides the file's host)", 0, 0, false},
        {"users", 'u', CLI_INT, &o->users, "N", "peak number of concurrent users (default 1)", 0, 10000000, false},
        {"spawn-rate", 'r', CLI_DOUBLE, &o->spawn_rate, "RATE", "users started per second, over all workers (default 1)", 0.001, BIG, false},
        {"run-time", 't', CLI_DURATION, &o->run_time_s, "TIME", "stop after this long: 10s, 5m, 1h30m (default: until Ctrl-C)", 0, BIG, false},
        {"headless", 0, CLI_FLAG, &o->headless, NULL, "run without the web UI and start at once (required for now: the web UI is not built yet)", 0, 0, false},
        {"web-host", 0, CLI_STRING, &o->web_host, "HOST", "web UI address (default *; the web UI is not built yet)", 0, 0, false},
        {"web-port", 0, CLI_INT, &o->web_port, "PORT", "web UI port (default 8089; the web UI is not built yet)", 1, 65535, false},
        {"master-bind-host", 0, CLI_STRING, &o->bind_host, "HOST", "address workers connect to (default *)", 0, 0, false},
        {"master-bind-port", 0, CLI_INT, &o->bind_port, "PORT", "port workers connect to (default 5557; local mode without it: a free loopback port)", 1, 65535, false},
        {"expect-workers", 0, CLI_INT, &o->expect_workers, "N", "wait for N external herd-worker processes instead of starting local ones", 1, 100000, false},
        {"expect-workers-max-wait", 0, CLI_DURATION, &o->expect_workers_max_wait_s, "TIME", "give up (exit 1) if they have not all connected by then (default: wait forever)", 0, BIG, false},
        {"local-workers", 0, CLI_INT, &o->local_workers, "N", "herd-worker processes to start on this machine when not expecting workers (default 1)", 1, 1024, false},
        {"worker-threads", 0, CLI_INT, &o->worker_threads, "N", "engine threads of each local worker (default: one per core)", 1, 1024, false},
        {"stop-timeout", 0, CLI_DURATION, &o->stop_timeout_s, "TIME", "on stop, let users finish their task for this long (default 0: abort at once)", 0, BIG, false},
        {"only-summary", 0, CLI_FLAG, &o->only_summary, NULL, "print only the final summary, not the table every 2 s", 0, 0, false},
        {"exit-code-on-error", 0, CLI_INT, &o->exit_code_on_error, "N", "exit code when any request failed (default 1)", 0, 255, false},
        {"heartbeat-liveness", 0, CLI_INT, &o->heartbeat_liveness, "N", "seconds of silence before a worker is declared missing (default 3)", 1, 3600, false},
        {"tags", 'T', CLI_LIST, &o->tags, "TAG,...", "run only tasks with one of these tags", 0, 0, false},
        {"exclude-tags", 'E', CLI_LIST, &o->exclude_tags, "TAG,...", "skip tasks with any of these tags", 0, 0, false},
        {"csv", 0, CLI_STRING, &o->csv_prefix, "PREFIX", "write PREFIX_stats.csv, _stats_history.csv, _failures.csv, _exceptions.csv (Locust's format), updated during the run", 0, 0, false},
        {"csv-full-history", 0, CLI_FLAG, &o->csv_full_history, NULL, "_stats_history.csv gets a row per request name too, not only Aggregated", 0, 0, false},
        {"json", 0, CLI_STRING, &o->json_path, "FILE", "write the final statistics as JSON", 0, 0, false},
        {"html", 0, CLI_STRING, &o->html_path, "FILE", "write a self-contained HTML report with charts", 0, 0, false},
        {"reset-stats", 0, CLI_FLAG, &o->reset_stats, NULL, "reset the statistics once every user has been spawned", 0, 0, false},
        {"stages", 0, CLI_STRING, &o->stages, "SPEC", "load shape: DURATION:USERS[:RATE],... e.g. 30s:10,1m:50:5,30s:0 (overrides the file's stages:)", 0, 0, false},
        {"threshold", 0, CLI_LIST, &o->thresholds, "EXPR", "pass criterion, repeatable: p95<300ms, avg<100, fail_ratio<0.01, rps>=50; exit code 3 if one fails", 0, 0, false},
        {"loglevel", 'L', CLI_STRING, &o->loglevel, "LEVEL", "DEBUG, INFO, WARNING, ERROR or CRITICAL (default INFO)", 0, 0, false},
        {"logfile", 0, CLI_STRING, &o->logfile, "FILE", "write log lines to FILE instead of stderr", 0, 0, false},
        {"config", 0, CLI_STRING, &o->config, "FILE", "read options from FILE ('option = value' lines)", 0, 0, false},
    };
    size_t n = sizeof opts / sizeof opts[0];
    _Static_assert(sizeof opts <= sizeof table, "table too small");
    memcpy(table, opts, sizeof opts);
    table_n = n;
    bool help = false;
    if (cli_parse(table, n, argc, argv, &help, err, errlen) < 0)
        return -1;
    if (help) {
        cli_print_help(stdout, "herd-master -f FILE [-H URL] [-u N] [-r RATE] [-t TIME] --headless [options]",
                       "herd-master runs a scenario file against a target: it starts or waits for\n"
                       "herd-worker processes, hands them users, merges their statistics and prints\n"
                       "Locust-style tables. Exit code: 0 without failed requests, 1 (or\n"
                       "--exit-code-on-error) with any, 3 when a --threshold fails, 2 for bad usage.",
                       table, n);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        if (!strcmp(table[i].name, "master-bind-port"))
            o->bind_port_given = table[i].seen;
    if (!o->file) {
        snprintf(err, errlen, "-f/--locustfile: no scenario file given (e.g. -f scenarios/trading_server.yaml)");
        return -1;
    }
    if (log_level_parse(o->loglevel) < 0) {
        snprintf(err, errlen, "-L/--loglevel wants DEBUG, INFO, WARNING, ERROR or CRITICAL, got '%s'", o->loglevel);
        return -1;
    }
    if (o->host && strncmp(o->host, "http://", 7) && strncmp(o->host, "https://", 8)) {
        snprintf(err, errlen, "-H/--host wants a URL starting with http:// or https://, got '%s'", o->host);
        return -1;
    }
    if (!o->headless) {
        snprintf(err, errlen, "the web UI is not available yet: run with --headless (and -u, -r, -t)");
        return -1;
    }
    return 0;
}
