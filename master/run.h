/*
 * run — the master's run as a state machine with no socket in it: the workers it knows (the
 * registry), the phases (waiting for workers → running → stopping → done), who runs how many
 * users (dispatch; rebalancing when a worker joins, goes missing or comes back; stages),
 * heartbeats and liveness, the merged statistics (each numbered report applied once, in
 * order, and acknowledged) and the stop protocol (Stop, final reports, Stopped with the final
 * seq, at most --stop-timeout + RUN_FINAL_REPORT_GRACE_S to wait).
 *
 * It exists so that what the master does can be driven and tested without ZeroMQ: the caller
 * decodes each message and hands it over with the sender's routing id, calls run_tick
 * several times a second and run_interrupt on Ctrl-C, always with `now` (monotonic seconds;
 * a fake clock in tests). The run answers through run_io_t: envelopes to workers, and the
 * moments for the history row and the live table. It logs (log.h) but prints no table and
 * writes no file.
 *
 * What must stay true:
 * - One thread calls every function, with a `now` that never goes back.
 * - The run owns its registry, statistics, window and class counts. The config's pointers
 *   (options, scenario, its text, stages) and io.ctx are the caller's and outlive the run.
 * - An envelope handed to io.send lives only for that call; a worker_t pointer is valid
 *   until the next message or tick (a Hello may grow the registry).
 * - Wall-clock times are the monotonic `now` plus an offset fixed by run_init, so the run's
 *   seconds, the window and the history agree even if the system clock is stepped.
 * - --reset-stats cuts at a second boundary R (the first whole second after all users
 *   spawned): the statistics hold the reports whose requests completed mostly at or after R,
 *   whole (a report cannot be split by row), and the rates count from R. The timeline keeps
 *   every second of the run, before R too: it is what happened, reset or not.
 */
#ifndef HERD_RUN_H
#define HERD_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/runplan.h"
#include "../common/scenario.h"
#include "../common/stats.h"
#include "herd.pb-c.h"
#include "options.h"
#include "registry.h"
#include "rowshare.h"
#include "window.h"

#define RUN_HEARTBEAT_INTERVAL_S 1.0
#define RUN_TABLE_INTERVAL_S 2.0
#define RUN_FINAL_REPORT_GRACE_S 10.0  /* beyond --stop-timeout, for final reports to arrive */
/* A second's counts are taken as complete this long after it ended: a worker reports every
 * second, and an engine too busy to hand over its counts in time hands them over a second
 * later (Locust waits 2 s too). */
#define RUN_SETTLE_S 2.0
#define RUN_CURRENT_SECONDS 10         /* the live figures' window, as Locust */

typedef enum run_phase {
    RUN_IDLE,      /* web UI: no test runs; workers connect and wait (ready before the first
                      test, stopped after one) */
    RUN_WAITING,   /* for the expected workers to connect */
    RUN_RUNNING,   /* users spawning or running */
    RUN_STOPPING,  /* Stop sent, collecting final reports */
    RUN_DONE,      /* over; the active workers were sent Quit */
} run_phase_t;

/* What one test runs: the command line's (-u -r -t -H, stages, -T -E), or the web form's. */
typedef struct run_params {
    uint32_t users;
    double spawn_rate;            /* > 0 */
    double run_time_s;            /* 0: until stopped */
    const char *host;             /* NULL: the scenario's */
    const stage_t *stages;        /* NULL: none (users at spawn_rate until the time limit) */
    size_t n_stages;
    char *const *tags;            /* tasks to run (-T); n_tags 0: all */
    size_t n_tags;
    char *const *exclude_tags;    /* tasks not to run (-E) */
    size_t n_exclude_tags;
} run_params_t;

typedef struct run run_t;

/* How the run reaches the world. Only send is required. */
typedef struct run_io {
    void *ctx;   /* passed back to every callback; the caller's */
    /* Deliver env to worker w. Must not block; a send that fails is the heartbeats' business. */
    void (*send)(void *ctx, const worker_t *w, Herd__Envelope *env);
    /* Once per second of a running run, before a stage may move on or end it: unix_second is
     * the second of the run the history row stands for. */
    void (*each_second)(void *ctx, run_t *r, int64_t unix_second, double now);
    /* Every RUN_TABLE_INTERVAL_S while running: time for the live table. NULL: none
     * (--only-summary). */
    void (*live_table)(void *ctx, run_t *r, double now);
} run_io_t;

typedef struct run_config {
    const master_options_t *o;    /* -f, --stop-timeout, --heartbeat-liveness,
                                     --reset-stats (what a test runs: run_params_t) */
    const scenario_t *sc;         /* user classes, in the order Spawn lists them */
    const char *scenario_text;    /* the whole file, shipped in Spawn */
    size_t expect_workers;        /* the run starts once this many are connected */
    double connect_wait_s;        /* and fails if they are not within this long; 0: forever */
    const char *connect_wait_what; /* names that limit in the error ("local workers") */
    /* The web UI: the master begins IDLE (unless --autostart) and a test's end takes it
     * back to IDLE with the workers still connected; only run_quit (or an interrupt) ends
     * it. Without it (--headless), one test, then DONE. */
    bool web;
    bool idle_start;              /* the web UI without --autostart: IDLE until run_start */
} run_config_t;

struct run {
    run_config_t cfg;
    run_io_t io;
    run_params_t p;              /* the test in force (or the last one); an owned copy */
    registry_t reg;
    run_phase_t phase;
    uint64_t run_id;             /* in Spawn, Stop, Heartbeat; 0 until the run starts */
    double wall_offset_s;        /* wall clock = monotonic + this */
    double wait_started;         /* monotonic, as every time below unless named _wall/_unix */
    bool started;                /* workers were given users: there is something to report */
    double run_started;
    int64_t run_started_unix;
    double run_started_wall;
    bool stop_begun;             /* stop_started is set */
    double stop_started, stop_deadline;
    double run_ended, run_ended_wall; /* the stop (waiting for final reports is not part of
                                         the run), or the end when there was no stop */
    uint32_t *class_users;       /* users per class in force (-u or the stage's); owned */
    rowshare_t rows;             /* unique data rows granted to workers in this run */
    double rate;                 /* spawn rate in force (-r, or the stage's) */
    size_t stage_idx;            /* the stage in force */
    double stage_started;
    bool all_spawned_logged;
    bool reset_done;             /* --reset-stats applied */
    double stats_started_wall;   /* what the statistics count from: the run's start, or with
                                    --reset-stats the first whole second after all users
                                    spawned (then a whole number) */
    stats_table_t stats;         /* the run's merged statistics, from stats_started_wall */
    stats_table_t timeline;      /* requests and failures completed per second over the whole
                                    run, every report's, never reset: history and rates; only
                                    its seconds are used */
    window_t window;             /* the last seconds' reports, for current figures */
    stats_table_t incoming;      /* scratch: the report being applied */
    stats_table_t current_rates; /* scratch for run_current */
    stats_table_t current_times; /* scratch for run_current */
    uint32_t peak_users;
    uint32_t users_at_stop;      /* for the last history row, taken when the stop began */
    double next_heartbeat, next_snapshot, next_table;
    bool failed;                 /* a fatal error ended the run: exit code 1 */
    char err[512];               /* why, when failed */
    uint32_t tests_ended;        /* tests over: the caller writes their results when this
                                    moves */
    bool quitting;               /* an interrupt: the end of this test is the end (DONE) */
};

/* now_wall: the wall clock at the same instant. p: the command line's test, the one that
 * runs now (phase WAITING), or with cfg->idle_start the one a page shows until run_start
 * (phase IDLE). -1 with err when memory runs out. cfg, io and p are copied. */
int run_init(run_t *r, const run_config_t *cfg, const run_io_t *io, const run_params_t *p,
             double now, double now_wall, char *err, size_t errlen);
void run_free(run_t *r);

/* A decoded message from the worker whose routing id is id[0..id_len). A worker is known
 * once it said Hello; anything else from an unknown id is ignored. */
void run_message(run_t *r, const char *id, size_t id_len, const Herd__Envelope *env,
                 double now);
/* Timers: heartbeats, liveness, the start, the time limit, stages, the history second, the
 * live table, the stop's deadline. Call every 100 ms or so. */
void run_tick(run_t *r, double now);
/* Ctrl-C: the first stops the run (waiting: ends it); one while stopping ends it at once,
 * without the final reports still missing. */
void run_interrupt(run_t *r, double now);
/* The run cannot go on (why: one sentence, kept in err): it ends while waiting, stops
 * while running. The exit code will be 1. */
void run_fail(run_t *r, double now, const char *why);

/* ---- what the web UI asks (cfg.web); each returns 0, or -1 with one line in err ---- */

/* IDLE: a new test with p: fresh statistics, history and run id. It starts at once when
 * the expected workers are connected, else it waits for them (WAITING) as a headless run
 * does; past the connect limit it is given up (IDLE, failed, err says why). Refused while
 * a test runs. */
int run_start(run_t *r, const run_params_t *p, double now, char *err, size_t errlen);
/* RUNNING without stages: users and spawn rate from now on, through the same dispatch as
 * -u (users 0 stops every user but not the test). */
int run_edit(run_t *r, uint32_t users, double spawn_rate, double now, char *err,
             size_t errlen);
/* WAITING or RUNNING: stop the test (Stop, final reports), then IDLE. */
int run_stop(run_t *r, double now, char *err, size_t errlen);
/* A test has run: its statistics count again from the next whole second (the cut
 * --reset-stats makes). The timeline and the history keep every second. */
int run_reset_stats(run_t *r, double now, char *err, size_t errlen);
/* IDLE: DONE, the workers told to quit. */
void run_quit(run_t *r, double now);

/* "ready", "waiting", "spawning", "running", "stopping", "stopped", "done": Locust's names
 * for what the page and /stats/requests show ("waiting": for --expect-workers). */
const char *run_state_name(const run_t *r);

/* Users on the active workers, as they last reported. */
uint32_t run_users(const run_t *r);

/* The current figures, in tables the run owns (valid until the next run_current). */
typedef struct run_current {
    /* Per row, the requests and failures that completed in the last `seconds` complete
     * seconds: at most RUN_CURRENT_SECONDS, none before the statistics start, the last one
     * ended RUN_SETTLE_S ago (or before the stop, once done). Their sums are the timeline's,
     * exact; a row's part is its share of `times`. Counts only (window_apportion). */
    const stats_table_t *rates;
    double seconds;                 /* 0: no complete second yet (rates empty) */
    /* The reports that arrived over the last seconds (at most RUN_CURRENT_SECONDS, none
     * before the statistics start): current response times. */
    const stats_table_t *times;
} run_current_t;
run_current_t run_current(run_t *r, double now);
/* Whether a test's users run or are stopping: what the current figures are shown for. */
bool run_is_live(const run_t *r);
/* One row's current requests and failures per second from cur (method NULL: all rows
 * together); 0 when cur is NULL or has no complete second yet. */
void run_current_row(const run_current_t *cur, const char *method, const char *name,
                     double *rps, double *fps);
/* The last second whose counts are complete at now: RUN_SETTLE_S after it ended while the
 * run goes on; once done, every report is in (INT64_MAX). */
int64_t run_settled_through(const run_t *r, double now);
/* How long the statistics have counted: from stats_started_wall to the stop (to now while
 * running), 0 if not yet. Every rate over the whole run divides by this. */
double run_stats_duration_s(const run_t *r, double now);
/* The wall clock at monotonic time now. */
double run_wall_s(const run_t *r, double now);
const char *run_phase_name(run_phase_t p);

#endif
