/*
 * options — herd-master's command line (Locust's flags; see README "Command line").
 * master_options_parse fills the struct from herd.conf, HERD_* variables and argv, checks
 * what can be checked without the scenario, and returns a one-line error otherwise.
 */
#ifndef HERD_MASTER_OPTIONS_H
#define HERD_MASTER_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/cli.h"

typedef struct master_options {
    const char *file;             /* -f: scenario file */
    const char *host;             /* -H: base URL override, NULL: the file's */
    long users;                   /* -u */
    double spawn_rate;            /* -r users per second, over all workers */
    double run_time_s;            /* -t, 0: until interrupted */
    bool headless;
    const char *web_host;
    long web_port;
    const char *bind_host;        /* --master-bind-host */
    long bind_port;               /* --master-bind-port */
    bool bind_port_given;         /* else local mode binds an ephemeral loopback port */
    long expect_workers;          /* 0: local mode */
    double expect_workers_max_wait_s; /* 0: wait forever */
    long local_workers;
    long worker_threads;          /* --worker-threads for local workers, 0: cores */
    double stop_timeout_s;
    bool only_summary;
    long exit_code_on_error;
    long heartbeat_liveness;      /* intervals (1 s each) of silence before a worker is missing */
    const char *loglevel;
    const char *logfile;
    const char *config;
    cli_list_t tags, exclude_tags;
    const char *csv_prefix;       /* --csv */
    bool csv_full_history;
    const char *json_path;        /* --json */
    const char *html_path;        /* --html */
    bool reset_stats;             /* reset once every user is spawned */
    const char *stages;           /* --stages spec, overrides the file's */
    cli_list_t thresholds;        /* --threshold, added to the file's */
} master_options_t;

/* Returns 0, 1 when --help was printed, -1 with err on bad input. */
int master_options_parse(master_options_t *o, int argc, char **argv, char *err, size_t errlen);
/* Release what parsing allocated; o's strings and lists are invalid afterwards. */
void master_options_free(master_options_t *o);

#endif
