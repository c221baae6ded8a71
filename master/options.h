/*
 * options — herd-master's command line (Locust's flags; see README "Command line").
 * master_options_parse fills the struct from herd.conf, HERD_* variables and argv, checks
 * what can be checked without the scenario (-u, -H, --loglevel, --headless), and returns a
 * one-line error otherwise. What needs the scenario (class names, weights, hosts) and the
 * output paths are checked by main before anything starts.
 */
#ifndef HERD_MASTER_OPTIONS_H
#define HERD_MASTER_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/cli.h"

typedef struct master_options {
    const char *file;             /* -f: scenario file */
    const char *host;             /* -H: base URL with its scheme in lower case, NULL: the
                                     file's; owned by the options */
    long users;                   /* -u, 1 or more */
    bool users_given;             /* -u came from some source (else the default 1) */
    double spawn_rate;            /* -r users per second, over all workers */
    double run_time_s;            /* -t, 0 (or not given): until interrupted */
    bool headless;
    const char *web_host;         /* --web-host, default 127.0.0.1 */
    long web_port;
    const char *web_auth;         /* --web-auth USER:PASSWORD, NULL: none */
    const char *tls_cert, *tls_key; /* --tls-cert/--tls-key: the web UI over HTTPS */
    const char *tls_ca;           /* --tls-ca: absolute path of the CA file for https targets */
    bool insecure;                /* --insecure: no certificate or host name check */
    const char *bind_host;        /* --master-bind-host */
    long bind_port;               /* --master-bind-port */
    bool bind_port_given;         /* else local mode binds an ephemeral loopback port */
    long expect_workers;          /* 0: local mode */
    double expect_workers_max_wait_s; /* 0: wait forever */
    const char *curve_key;        /* --curve-key: the master's secret key (CurveZMQ) */
    const char *curve_authorized; /* --curve-authorized: the workers' public keys */
    const char *gen_keys;         /* --gen-keys DIR: write a key pair, run nothing */
    long local_workers;
    long worker_threads;          /* --worker-threads for local workers, 0: cores */
    double stop_timeout_s;        /* -s */
    bool only_summary;
    long exit_code_on_error;
    long heartbeat_liveness;      /* intervals (1 s each) of silence before a worker is missing */
    const char *loglevel;
    const char *logfile;
    const char *config;
    cli_list_t tags, exclude_tags; /* -T, -E: commas and/or words (-T a b) */
    cli_list_t user_classes;      /* positional: run only these classes (all when empty) */
    const char *csv_prefix;       /* --csv */
    bool csv_full_history;
    const char *json_path;        /* --json */
    const char *html_path;        /* --html */
    bool reset_stats;             /* reset once every user is spawned */
    const char *stages;           /* --stages spec, overrides the file's */
    cli_list_t thresholds;        /* --threshold, added to the file's */
    bool list;                    /* -l: print the classes and tasks, run nothing */
    bool show_task_ratio;         /* print the task ratios (Locust's table), run nothing */
    bool show_task_ratio_json;    /* the same as JSON */
    bool autostart;               /* with the web UI: start at once with -u -r -t */
    double autoquit_s;            /* --autoquit: linger this long after the run, then exit */
    bool check;                   /* --check: check everything, print what would run, start
                                     nothing (check.h) */
    bool version;                 /* -V */
} master_options_t;

/* Returns 0, 1 when --help or --version was printed, -1 with err on bad input. */
int master_options_parse(master_options_t *o, int argc, char **argv, char *err, size_t errlen);
/* True when the options only ask about the file (-l, --show-task-ratio[-json]): no run, no
 * output files, no --headless needed. */
bool master_options_inspect_only(const master_options_t *o);
/* Why url is not a base URL the workers can put a path after (http or https in any case, a
 * host, a port in range, no query or fragment), or NULL: -H and the web form's host. */
const char *master_host_problem(const char *url);
/* The scheme in lower case, in place, as the native transport expects it. */
void master_host_normalize(char *url);
/* Whether --master-bind-host keeps the workers' port on this host (127.x, ::1, localhost). */
bool master_bind_is_loopback(const char *host);
/* What an unsecured workers' port beyond loopback puts at stake (the warning's text). */
#define MASTER_INSECURE_WHY                                                                    \
    "anyone who reaches this port can join as a worker, receive the scenario (with every "   \
    "token and password in it) and a share of the users, and read all traffic; secure it "  \
    "with --curve-key and --curve-authorized (herd-master --gen-keys)"

/* Release what parsing allocated; o's strings and lists are invalid afterwards. */
void master_options_free(master_options_t *o);

#endif
