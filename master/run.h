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
    RUN_WAITING,   /* for the expected workers to connect */
    RUN_RUNNING,   /* users spawning or running */
    RUN_STOPPING,  /* Stop sent, collecting final reports */
    RUN_DONE,      /* over; the active workers were sent Quit */
} run_phase_t;

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
    const master_options_t *o;    /* -u, -r, -t, -H, -f, tags, --stop-timeout,
                                     --heartbeat-liveness, --reset-stats */
    const scenario_t *sc;         /* user classes, in the order Spawn lists them */
    const char *scenario_text;    /* the whole file, shipped in Spawn */
    const stage_t *stages;        /* load shape; NULL: none (-u at -r until -t or Ctrl-C) */
    size_t n_stages;
    size_t expect_workers;        /* the run starts once this many are connected */
    double connect_wait_s;        /* and fails if they are not within this long; 0: forever */
    const char *connect_wait_what; /* names that limit in the error ("local workers") */
} run_config_t;

struct run {
    run_config_t cfg;
    run_io_t io;
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
};

/* Phase WAITING from now. now_wall: the wall clock at the same instant. -1 with err when
 * memory runs out. io is copied. */
int run_init(run_t *r, const run_config_t *cfg, const run_io_t *io, double now,
             double now_wall, char *err, size_t errlen);
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
