/*
 * test_master — the master's run (master/run.h) driven as herd-worker would drive it, with
 * fake workers and a fake clock, no socket: who is sent what (Welcome, Spawn with its share
 * of the users and of the spawn rate, Ack, Stop, Quit), what is merged (request counts),
 * the phase, the log lines a user reads, and the exit code (master/results.h).
 *
 * The scenario has two classes, Browser (weight 4) and Buyer (weight 1), so -u 10 is 8 + 2
 * users. Time starts at T0 and moves in ticks of 1/8 s (the master's loop ticks about every
 * 0.1 s; an eighth is exact in binary, so times compare exactly); a fake worker that is
 * "beating" sends a heartbeat every second, as the worker's control thread does, and one
 * that is "flowing" completes a number of requests each tick and reports them every second,
 * out of step with the wall clock's seconds (as a real worker's reports are, by some
 * fraction), each with its per-second timeline.
 *
 * One file over 900 lines on purpose: every test drives the same run with the same fake
 * workers, clock and outbox defined at the top; splitting would copy that harness.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/log.h"
#include "../../common/scenario.h"
#include "../../common/stats.h"
#include "../../common/stats_wire.h"
#include "../../master/results.h"
#include "../../master/run.h"
#include "../../master/window.h"

#define T0 1000.0              /* the fake monotonic clock at the start */
#define TICKS_PER_S 8
#define TICK_S (1.0 / TICKS_PER_S)
#define WALL0 1700000000.0     /* the wall clock then */
#define N_FAKES 4
#define MAX_CLASSES 2

static const char SCENARIO[] =
    "host: http://127.0.0.1:9\n"
    "users:\n"
    "  - name: Browser\n"
    "    weight: 4\n"
    "    tasks:\n"
    "      - steps:\n"
    "          - get: /\n"
    "  - name: Buyer\n"
    "    weight: 1\n"
    "    tasks:\n"
    "      - steps:\n"
    "          - post: /buy\n";

/* One envelope the run sent, with what a worker would read from it. */
typedef struct sent {
    char to[WIRE_MAX_ID_BYTES + 1];
    Herd__Envelope__BodyCase what;
    uint64_t run_id;                   /* Spawn, Stop, Heartbeat */
    uint32_t class_users[MAX_CLASSES]; /* Spawn */
    uint32_t users;                    /* Spawn: all classes */
    double rate;                       /* Spawn */
    uint64_t seq;                      /* Ack: seq; Welcome: last_applied_seq */
    uint32_t liveness;                 /* Welcome */
} sent_t;

typedef struct fake {
    const char *id;
    bool beating;        /* sends a heartbeat every second */
    uint64_t session;    /* in its Hellos (0: none said, as an older worker) */
    uint32_t users;      /* its share from the last Spawn, reported in heartbeats */
    uint64_t run_id;     /* of the last Spawn or Stop it was sent, echoed as a worker does */
    unsigned per_tick;   /* flowing: GET / requests completed each tick (0: not flowing) */
    uint64_t seq;        /* flowing: the last report it sent */
    stats_table_t pending; /* flowing: counted since its last report */
} fake_t;

typedef struct fixture {
    scenario_t *sc;
    master_options_t o;
    stage_t stages[4];
    size_t n_stages;
    size_t expect;
    double connect_wait_s;
    run_t run;
    bool started;        /* run_init done */
    sent_t *sent;        /* everything sent since the last forget_sent; owned */
    size_t n_sent, cap_sent;
    long ticks;          /* now = T0 + ticks * TICK_S */
    fake_t fakes[N_FAKES];
    int64_t seconds[64]; /* each_second's unix seconds, in order */
    size_t n_seconds;
    double wall0;        /* the wall clock at T0; 0: WALL0 */
    bool web;            /* the web UI's run: IDLE between tests */
    results_t *results;  /* when set, each second of the run goes to results_second too */
} fixture_t;

static char log_path[] = "/tmp/herd-test-master-XXXXXX";

/* ---- the fake world --------------------------------------------------------------------- */

static double now_of(const fixture_t *f)
{
    return T0 + (double)f->ticks * TICK_S;
}

static void record_send(void *ctx, const worker_t *w, Herd__Envelope *env)
{
    fixture_t *f = ctx;
    if (f->n_sent == f->cap_sent) {
        f->cap_sent = f->cap_sent ? f->cap_sent * 2 : 64;
        f->sent = realloc(f->sent, f->cap_sent * sizeof *f->sent);
        assert_non_null(f->sent);
    }
    sent_t *s = &f->sent[f->n_sent++];
    memset(s, 0, sizeof *s);
    memcpy(s->to, w->id, w->id_len);
    s->what = env->body_case;
    switch (env->body_case) {
    case HERD__ENVELOPE__BODY_WELCOME:
        s->seq = env->welcome->last_applied_seq;
        s->liveness = env->welcome->heartbeat_liveness;
        break;
    case HERD__ENVELOPE__BODY_SPAWN:
        s->run_id = env->spawn->run_id;
        s->rate = env->spawn->spawn_rate;
        assert_int_equal(env->spawn->n_targets, MAX_CLASSES);
        for (size_t c = 0; c < env->spawn->n_targets; c++) {
            s->class_users[c] = env->spawn->targets[c]->users;
            s->users += env->spawn->targets[c]->users;
        }
        break;
    case HERD__ENVELOPE__BODY_STOP: s->run_id = env->stop->run_id; break;
    case HERD__ENVELOPE__BODY_HEARTBEAT: s->run_id = env->heartbeat->run_id; break;
    case HERD__ENVELOPE__BODY_ACK: s->seq = env->ack->seq; break;
    default: break;
    }
    for (int k = 0; k < N_FAKES; k++) {
        fake_t *fk = &f->fakes[k];
        if (!fk->id || strcmp(fk->id, s->to) != 0)
            continue;
        if (s->what == HERD__ENVELOPE__BODY_SPAWN)
            fk->users = s->users;
        if (s->what == HERD__ENVELOPE__BODY_SPAWN || s->what == HERD__ENVELOPE__BODY_STOP)
            fk->run_id = s->run_id;
    }
}

static void record_second(void *ctx, run_t *r, int64_t unix_second, double now)
{
    fixture_t *f = ctx;
    if (f->n_seconds < sizeof f->seconds / sizeof f->seconds[0])
        f->seconds[f->n_seconds++] = unix_second;
    if (f->results)
        results_second(f->results, r, unix_second, now);
}

static void forget_sent(fixture_t *f)
{
    f->n_sent = 0;
}

/* How many `what` went to worker w since the last forget_sent (w NULL: to anyone). */
static size_t count_sent(const fixture_t *f, const fake_t *w, Herd__Envelope__BodyCase what)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n_sent; i++)
        n += f->sent[i].what == what && (!w || strcmp(f->sent[i].to, w->id) == 0);
    return n;
}

static const sent_t *last_sent(const fixture_t *f, const fake_t *w,
                               Herd__Envelope__BodyCase what)
{
    for (size_t i = f->n_sent; i-- > 0;)
        if (f->sent[i].what == what && strcmp(f->sent[i].to, w->id) == 0)
            return &f->sent[i];
    return NULL;
}

static worker_t *registered(fixture_t *f, const fake_t *w)
{
    return registry_find(&f->run.reg, w->id, strlen(w->id));
}

static void deliver(fixture_t *f, const fake_t *w, Herd__Envelope *env)
{
    run_message(&f->run, w->id, strlen(w->id), env, now_of(f));
}

static void say_hello(fixture_t *f, fake_t *w)
{
    Herd__Hello h = HERD__HELLO__INIT;
    h.worker_id = (char *)w->id;
    h.hostname = "loadhost";
    h.threads = 2;
    h.pid = 4242;
    h.cores = 4;
    h.session = w->session;
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    deliver(f, w, &env);
    w->beating = true;
}

static void say_heartbeat(fixture_t *f, fake_t *w)
{
    Herd__Heartbeat hb = HERD__HEARTBEAT__INIT;
    hb.state = HERD__WORKER_STATE__WORKER_STATE_RUNNING;
    hb.users = w->users;
    hb.cpu_percent = 20;
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    deliver(f, w, &env);
}

/* Count `requests` GET / requests completed in unix second `second` into t, the first
 * `failures` of them failed. */
static void count_into(stats_table_t *t, int64_t second, unsigned requests, unsigned failures)
{
    long row = stats_row(t, "GET", "/");
    assert_true(row >= 0);
    for (unsigned i = 0; i < requests; i++) {
        stats_record(t, (size_t)row, 1000 + i, 100, i < failures, second);
        if (i < failures)
            assert_int_equal(stats_add_failure(t, (size_t)row, "HTTP 500"), 0);
    }
}

/* Reports seqs first..last with what t counted in run run_id. */
static void say_table_of_run(fixture_t *f, fake_t *w, uint64_t first, uint64_t last,
                             const stats_table_t *t, uint64_t run_id)
{
    Herd__Report rep = HERD__REPORT__INIT;
    rep.first_seq = first;
    rep.last_seq = last;
    rep.run_id = run_id;
    rep.users = w->users;
    assert_int_equal(stats_to_report(t, &rep), 0);
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_REPORT;
    env.report = &rep;
    deliver(f, w, &env);
    stats_report_release(&rep);
}

/* Reports seqs first..last with what t counted in the run in force. */
static void say_table(fixture_t *f, fake_t *w, uint64_t first, uint64_t last,
                      const stats_table_t *t)
{
    say_table_of_run(f, w, first, last, t, f->run.run_id);
}

/* Reports seqs first..last: `requests` GET / requests completed this second, the first
 * `failures` of them failed. */
static void say_report(fixture_t *f, fake_t *w, uint64_t first, uint64_t last,
                       unsigned requests, unsigned failures)
{
    stats_table_t t;
    stats_init(&t);
    count_into(&t, (int64_t)run_wall_s(&f->run, now_of(f)), requests, failures);
    say_table(f, w, first, last, &t);
    stats_free(&t);
}

/* A report whose requests completed over two seconds: n1 in s1, n2 in s2. */
static void say_report_over(fixture_t *f, fake_t *w, uint64_t seq, int64_t s1, unsigned n1,
                            int64_t s2, unsigned n2)
{
    stats_table_t t;
    stats_init(&t);
    count_into(&t, s1, n1, 0);
    count_into(&t, s2, n2, 0);
    say_table(f, w, seq, seq, &t);
    stats_free(&t);
}

/* Spawned, for the run it was last told about. */
static void say_spawned(fixture_t *f, fake_t *w)
{
    Herd__Spawned s = HERD__SPAWNED__INIT;
    s.run_id = w->run_id;
    s.users = w->users;
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_SPAWNED;
    env.spawned = &s;
    deliver(f, w, &env);
}

/* Stopped, for the run it was last told about; its final report is seq final_seq. */
static void say_stopped(fixture_t *f, fake_t *w, uint64_t final_seq)
{
    Herd__Stopped s = HERD__STOPPED__INIT;
    s.run_id = w->run_id;
    s.final_seq = final_seq;
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_STOPPED;
    env.stopped = &s;
    deliver(f, w, &env);
}

static void say_error(fixture_t *f, fake_t *w, const char *message, bool fatal)
{
    Herd__Error e = HERD__ERROR__INIT;
    e.message = (char *)message;
    e.fatal = fatal;
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_ERROR;
    env.error = &e;
    deliver(f, w, &env);
}

/* Let `seconds` (a whole number of ticks) pass; beating workers send a heartbeat each whole
 * second. */
static void advance(fixture_t *f, double seconds)
{
    long n = lround(seconds * TICKS_PER_S);
    assert_float_equal((double)n * TICK_S, seconds, 1e-12);
    for (long i = 0; i < n; i++) {
        f->ticks++;
        for (int k = 0; k < N_FAKES; k++) {
            fake_t *w = &f->fakes[k];
            if (w->beating && f->ticks % TICKS_PER_S == 0)
                say_heartbeat(f, w);
            if (!w->per_tick)
                continue;
            /* the tick just gone lies within one wall second (the walls are eighths) */
            int64_t second = (int64_t)floor(run_wall_s(&f->run, now_of(f)) - TICK_S / 2);
            count_into(&w->pending, second, w->per_tick, 0);
            if (f->ticks % TICKS_PER_S == TICKS_PER_S / 2) {
                w->seq++;
                say_table(f, w, w->seq, w->seq, &w->pending);
                stats_reset(&w->pending);
            }
        }
        run_tick(&f->run, now_of(f));
    }
}

/* Advance until the phase is no longer `phase`, at most max_s; returns the seconds it took. */
static double advance_while(fixture_t *f, run_phase_t phase, double max_s)
{
    double from = now_of(f);
    while (f->run.phase == phase && now_of(f) - from < max_s)
        advance(f, TICK_S);
    return now_of(f) - from;
}

static void start_as(fixture_t *f, bool idle)
{
    run_config_t cfg = {
        .web = f->web,
        .idle_start = idle,
        .o = &f->o,
        .sc = f->sc,
        .scenario_text = SCENARIO,
        .expect_workers = f->expect,
        .connect_wait_s = f->connect_wait_s,
        .connect_wait_what = "--expect-workers-max-wait",
    };
    run_io_t io = {.ctx = f, .send = record_send, .each_second = record_second};
    run_params_t p = {
        .users = (uint32_t)f->o.users,
        .spawn_rate = f->o.spawn_rate,
        .run_time_s = f->o.run_time_s,
        .host = f->o.host,
        .stages = f->n_stages ? f->stages : NULL,
        .n_stages = f->n_stages,
    };
    char err[256];
    assert_int_equal(run_init(&f->run, &cfg, &io, &p, now_of(f),
                              f->wall0 ? f->wall0 : WALL0, err, sizeof err), 0);
    f->started = true;
}

static void start(fixture_t *f)
{
    start_as(f, false);
}

/* Every fake says hello, the run starts, every worker reports all its users spawned. */
static void start_running(fixture_t *f, int n_workers)
{
    f->expect = (size_t)n_workers;
    start(f);
    for (int k = 0; k < n_workers; k++)
        say_hello(f, &f->fakes[k]);
    advance(f, TICK_S);
    assert_int_equal(f->run.phase, RUN_RUNNING);
    for (int k = 0; k < n_workers; k++)
        say_spawned(f, &f->fakes[k]);
}

static char *log_text(void)
{
    FILE *fp = fopen(log_path, "r");
    assert_non_null(fp);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static int exit_code(fixture_t *f)
{
    results_t res;
    char err[256];
    assert_int_equal(results_init(&res, &f->o, f->sc, err, sizeof err), 0);
    int rc = results_exit_code(&res, &f->run);
    results_free(&res);
    return rc;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    char err[256];
    assert_int_equal(scenario_load_text(SCENARIO, strlen(SCENARIO), "test.yaml", &f->sc, err,
                                        sizeof err), 0);
    f->o.file = "test.yaml";
    f->o.users = 10;
    f->o.spawn_rate = 5;
    f->o.heartbeat_liveness = 3;
    f->o.exit_code_on_error = 1;
    f->fakes[0].id = "aaaaaaaa-1111-4111-8111-111111111111";
    f->fakes[1].id = "bbbbbbbb-2222-4222-8222-222222222222";
    f->fakes[2].id = "cccccccc-3333-4333-8333-333333333333";
    f->fakes[3].id = "dddddddd-4444-4444-8444-444444444444";
    assert_int_equal(truncate(log_path, 0), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    if (f->started)
        run_free(&f->run);
    for (int k = 0; k < N_FAKES; k++)
        stats_free(&f->fakes[k].pending);
    scenario_free(f->sc);
    free(f->sent);
    free(f);
    return 0;
}

/* ---- waiting and starting ---------------------------------------------------------------- */

static void test_hello_registers_and_welcomes(void **state)
{
    fixture_t *f = *state;
    fake_t *a = &f->fakes[0];
    f->expect = 2;
    start(f);
    say_hello(f, a);
    worker_t *w = registered(f, a);
    assert_non_null(w);
    assert_string_equal(w->hostname, "loadhost");
    assert_int_equal(w->state, WORKER_READY);
    const sent_t *wel = last_sent(f, a, HERD__ENVELOPE__BODY_WELCOME);
    assert_non_null(wel);
    assert_int_equal(wel->liveness, 3);
    assert_int_equal(wel->seq, 0);
    /* One of two: still waiting, nobody has users. */
    advance(f, 2);
    assert_int_equal(f->run.phase, RUN_WAITING);
    assert_int_equal(count_sent(f, NULL, HERD__ENVELOPE__BODY_SPAWN), 0);
    assert_true(count_sent(f, a, HERD__ENVELOPE__BODY_HEARTBEAT) >= 1);
    assert_non_null(strstr(log_text(), "Worker aaaaaaaa (loadhost, pid 4242, 2 threads) connected"));
}

static void test_expected_workers_start_the_run_with_shares(void **state)
{
    fixture_t *f = *state;
    f->expect = 3;
    start(f);
    for (int k = 0; k < 3; k++)
        say_hello(f, &f->fakes[k]);
    assert_int_equal(f->run.phase, RUN_WAITING);
    advance(f, TICK_S);
    assert_int_equal(f->run.phase, RUN_RUNNING);
    /* -u 10 over three workers: 4, 3, 3; the classes 8 + 2; -r 5 split in proportion. */
    uint32_t users[3], browsers = 0, buyers = 0;
    double rate = 0;
    for (int k = 0; k < 3; k++) {
        assert_int_equal(count_sent(f, &f->fakes[k], HERD__ENVELOPE__BODY_SPAWN), 1);
        const sent_t *sp = last_sent(f, &f->fakes[k], HERD__ENVELOPE__BODY_SPAWN);
        assert_int_equal(sp->run_id, f->run.run_id);
        users[k] = sp->users;
        browsers += sp->class_users[0];
        buyers += sp->class_users[1];
        rate += sp->rate;
        assert_float_equal(sp->rate, 5.0 * sp->users / 10, 1e-9);
    }
    assert_int_equal(users[0] + users[1] + users[2], 10);
    for (int k = 0; k < 3; k++)
        assert_true(users[k] == 3 || users[k] == 4);
    assert_int_equal(browsers, 8);
    assert_int_equal(buyers, 2);
    assert_float_equal(rate, 5.0, 1e-9);
    assert_non_null(strstr(log_text(), "Ramping to 10 users at a rate of 5.00 per second"));
}

static void test_spawned_from_all_is_all_users_spawned(void **state)
{
    fixture_t *f = *state;
    f->o.reset_stats = true;
    f->expect = 2;
    start(f);
    say_hello(f, &f->fakes[0]);
    say_hello(f, &f->fakes[1]);
    advance(f, TICK_S);
    say_report(f, &f->fakes[0], 1, 1, 7, 0);   /* counted during the ramp-up */
    say_spawned(f, &f->fakes[0]);
    assert_int_equal(registered(f, &f->fakes[0])->state, WORKER_RUNNING);
    assert_false(f->run.all_spawned_logged);
    assert_int_equal(stats_total_requests(&f->run.stats), 7);

    /* A Spawned of another run changes nothing. */
    Herd__Spawned s = HERD__SPAWNED__INIT;
    s.run_id = f->run.run_id + 1;
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_SPAWNED;
    env.spawned = &s;
    deliver(f, &f->fakes[1], &env);
    assert_int_equal(registered(f, &f->fakes[1])->state, WORKER_SPAWNING);

    say_spawned(f, &f->fakes[1]);
    assert_true(f->run.all_spawned_logged);
    const char *log = log_text();
    assert_non_null(strstr(log, "All users spawned: {\"Browser\": 8, \"Buyer\": 2} (10 total users)"));
    /* --reset-stats: the ramp-up is gone from the statistics and the worker's totals. */
    assert_non_null(strstr(log, "Resetting stats"));
    assert_int_equal(stats_total_requests(&f->run.stats), 0);
    assert_int_equal(registered(f, &f->fakes[0])->requests, 0);
}

static void test_workers_that_never_come_fail_the_run(void **state)
{
    fixture_t *f = *state;
    f->expect = 2;
    f->connect_wait_s = 5;
    start(f);
    say_hello(f, &f->fakes[0]);
    double took = advance_while(f, RUN_WAITING, 30);
    assert_int_equal(f->run.phase, RUN_DONE);
    assert_float_equal(took, 5 + TICK_S, 1e-12);   /* more than 5 s */
    assert_true(f->run.failed);
    assert_false(f->run.started);
    assert_string_equal(f->run.err,
                        "--expect-workers-max-wait: only 1 of 2 worker(s) connected within 5 s");
    assert_int_equal(count_sent(f, &f->fakes[0], HERD__ENVELOPE__BODY_QUIT), 1);
    assert_int_equal(exit_code(f), 1);
}

/* ---- reports ------------------------------------------------------------------------------ */

static void test_reports_merged_once_and_acknowledged(void **state)
{
    fixture_t *f = *state;
    fake_t *a = &f->fakes[0], *b = &f->fakes[1];
    start_running(f, 2);
    forget_sent(f);

    say_report(f, a, 1, 1, 10, 0);
    assert_int_equal(last_sent(f, a, HERD__ENVELOPE__BODY_ACK)->seq, 1);
    say_report(f, a, 2, 2, 5, 1);
    assert_int_equal(last_sent(f, a, HERD__ENVELOPE__BODY_ACK)->seq, 2);
    say_report(f, b, 1, 1, 20, 0);
    assert_int_equal(last_sent(f, b, HERD__ENVELOPE__BODY_ACK)->seq, 1);
    assert_int_equal(stats_total_requests(&f->run.stats), 35);
    assert_int_equal(stats_total_failures(&f->run.stats), 1);

    /* A resend of seq 2 (its Ack was lost): acknowledged again, not counted again. */
    say_report(f, a, 2, 2, 5, 1);
    assert_int_equal(count_sent(f, a, HERD__ENVELOPE__BODY_ACK), 3);
    assert_int_equal(last_sent(f, a, HERD__ENVELOPE__BODY_ACK)->seq, 2);
    assert_int_equal(stats_total_requests(&f->run.stats), 35);

    /* Seq 4 before 3: not applied; the Ack says what the master has, so the worker resends. */
    say_report(f, a, 4, 4, 8, 0);
    assert_int_equal(last_sent(f, a, HERD__ENVELOPE__BODY_ACK)->seq, 2);
    assert_int_equal(stats_total_requests(&f->run.stats), 35);

    /* The worker merges what is unacknowledged into one report 3..4. */
    say_report(f, a, 3, 4, 11, 2);
    assert_int_equal(last_sent(f, a, HERD__ENVELOPE__BODY_ACK)->seq, 4);
    assert_int_equal(stats_total_requests(&f->run.stats), 46);
    assert_int_equal(stats_total_failures(&f->run.stats), 3);
    assert_int_equal(registered(f, a)->requests, 26);
    assert_int_equal(registered(f, a)->failures, 3);
    assert_int_equal(registered(f, b)->requests, 20);

    /* A worker that reconnects is welcomed with what was applied, so it resends the rest. */
    say_hello(f, a);
    assert_int_equal(last_sent(f, a, HERD__ENVELOPE__BODY_WELCOME)->seq, 4);

    /* Nothing from an unknown worker is counted or answered. */
    fake_t stranger = {.id = "eeeeeeee-5555-4555-8555-555555555555"};
    size_t before = f->n_sent;
    say_report(f, &stranger, 1, 1, 99, 0);
    assert_int_equal(f->n_sent, before);
    assert_int_equal(stats_total_requests(&f->run.stats), 46);
}

/* ---- missing workers ---------------------------------------------------------------------- */

static void test_silent_worker_goes_missing_and_comes_back(void **state)
{
    fixture_t *f = *state;
    fake_t *a = &f->fakes[0], *b = &f->fakes[1], *c = &f->fakes[2];
    start_running(f, 3);
    forget_sent(f);

    /* c falls silent: after --heartbeat-liveness seconds it is missing, its users go to a, b. */
    c->beating = false;
    advance(f, 3.0);
    assert_int_equal(registered(f, c)->state, WORKER_RUNNING);   /* 3 s is not more than 3 */
    assert_int_equal(count_sent(f, NULL, HERD__ENVELOPE__BODY_SPAWN), 0);
    advance(f, TICK_S);
    worker_t *wc = registered(f, c);
    assert_int_equal(wc->state, WORKER_MISSING);
    assert_int_equal(last_sent(f, a, HERD__ENVELOPE__BODY_SPAWN)->users, 5);
    assert_int_equal(last_sent(f, b, HERD__ENVELOPE__BODY_SPAWN)->users, 5);
    assert_int_equal(count_sent(f, c, HERD__ENVELOPE__BODY_SPAWN), 0);
    assert_non_null(strstr(log_text(), "Worker cccccccc missing: no heartbeat for"));
    assert_non_null(strstr(log_text(), "users go to the remaining 2 worker(s)"));

    /* It speaks again: a share again, and the others give theirs back. */
    forget_sent(f);
    c->beating = true;
    say_heartbeat(f, c);
    assert_int_equal(registered(f, c)->state, WORKER_SPAWNING);
    assert_int_equal(count_sent(f, c, HERD__ENVELOPE__BODY_SPAWN), 1);
    uint32_t total = 0;
    for (int k = 0; k < 3; k++) {
        const sent_t *sp = last_sent(f, &f->fakes[k], HERD__ENVELOPE__BODY_SPAWN);
        assert_non_null(sp);
        assert_true(sp->users == 3 || sp->users == 4);
        total += sp->users;
    }
    assert_int_equal(total, 10);
    assert_non_null(strstr(log_text(), "Worker cccccccc is back after being missing"));
}

/* Hellos of one session (what a worker sent while its connection was being made, arriving
 * together) are one connection: Welcome each, but the users are not reset and no Spawn goes.
 * A new session (the worker lost the master and reopened its socket) is a reconnection: one
 * Spawn. Back from missing, its first Hello gives one Spawn whatever the session. Hellos
 * without a session (an older worker) are each a reconnection, as before. */
static void test_duplicate_hellos_of_one_session_give_one_spawn(void **state)
{
    fixture_t *f = *state;
    fake_t *a = &f->fakes[0], *b = &f->fakes[1];
    a->session = 0x1111;
    b->session = 0x2222;
    start_running(f, 2);
    assert_int_equal(registered(f, a)->state, WORKER_RUNNING);

    forget_sent(f);
    for (int i = 0; i < 6; i++)
        say_hello(f, a);
    assert_int_equal(count_sent(f, a, HERD__ENVELOPE__BODY_WELCOME), 6);
    assert_int_equal(count_sent(f, NULL, HERD__ENVELOPE__BODY_SPAWN), 0);
    assert_int_equal(registered(f, a)->state, WORKER_RUNNING);
    assert_int_equal(registered(f, a)->target[0] + registered(f, a)->target[1], 5);
    assert_null(strstr(log_text(), "reconnected"));

    /* It lost the master and reconnects: a new session, a burst of its Hellos. */
    a->session = 0x1112;
    forget_sent(f);
    for (int i = 0; i < 6; i++)
        say_hello(f, a);
    assert_int_equal(count_sent(f, a, HERD__ENVELOPE__BODY_WELCOME), 6);
    assert_int_equal(count_sent(f, a, HERD__ENVELOPE__BODY_SPAWN), 1);
    assert_int_equal(last_sent(f, a, HERD__ENVELOPE__BODY_SPAWN)->users, 5);
    assert_int_equal(count_sent(f, b, HERD__ENVELOPE__BODY_SPAWN), 0);   /* its share kept */
    assert_non_null(strstr(log_text(), "Worker aaaaaaaa reconnected"));
    say_spawned(f, a);

    /* Missing, then back with the same session: one Spawn for the lot. */
    a->beating = false;
    advance(f, 3 + TICK_S);
    assert_int_equal(registered(f, a)->state, WORKER_MISSING);
    forget_sent(f);
    a->beating = true;
    for (int i = 0; i < 6; i++)
        say_hello(f, a);
    assert_int_equal(count_sent(f, a, HERD__ENVELOPE__BODY_SPAWN), 1);
    assert_int_equal(last_sent(f, a, HERD__ENVELOPE__BODY_SPAWN)->users, 5);
    assert_int_equal(registered(f, a)->state, WORKER_SPAWNING);

    /* An older worker says no session: every Hello is a reconnection, as it always was. */
    b->session = 0;
    say_hello(f, b);
    forget_sent(f);
    say_hello(f, b);
    say_hello(f, b);
    assert_int_equal(count_sent(f, b, HERD__ENVELOPE__BODY_SPAWN), 2);
}

/* A report of another run is acknowledged (the worker drops it) and never counted: a late
 * one of an earlier test, or, after a master was killed and started again, what its workers
 * resend of the old master's run. */
static void test_report_of_another_run_is_acknowledged_not_counted(void **state)
{
    fixture_t *f = *state;
    fake_t *a = &f->fakes[0], *b = &f->fakes[1];
    f->expect = 2;
    start(f);
    /* A worker that outlived the last master: its unacknowledged counts of run 77 come
     * before this run starts. */
    say_hello(f, a);
    stats_table_t t;
    stats_init(&t);
    count_into(&t, (int64_t)run_wall_s(&f->run, now_of(f)), 40, 0);
    forget_sent(f);
    say_table_of_run(f, a, 1, 12, &t, 77);
    assert_int_equal(last_sent(f, a, HERD__ENVELOPE__BODY_ACK)->seq, 12);
    assert_int_equal(stats_total_requests(&f->run.stats), 0);
    assert_non_null(strstr(log_text(), "report 12 counted in another run (77); left out"));

    say_hello(f, b);
    advance(f, TICK_S);
    assert_int_equal(f->run.phase, RUN_RUNNING);
    say_report(f, a, 13, 13, 5, 0);
    assert_int_equal(stats_total_requests(&f->run.stats), 5);
    /* the same again, late, labelled with the old run: acknowledged, not counted */
    forget_sent(f);
    say_table_of_run(f, a, 14, 14, &t, 77);
    assert_int_equal(last_sent(f, a, HERD__ENVELOPE__BODY_ACK)->seq, 14);
    assert_int_equal(stats_total_requests(&f->run.stats), 5);
    say_report(f, a, 15, 15, 3, 0);
    assert_int_equal(stats_total_requests(&f->run.stats), 8);
    stats_free(&t);
}

/* ---- stopping ----------------------------------------------------------------------------- */

static void test_run_time_limit_stops_the_active_workers(void **state)
{
    fixture_t *f = *state;
    fake_t *a = &f->fakes[0], *b = &f->fakes[1], *c = &f->fakes[2];
    f->o.run_time_s = 10;
    start_running(f, 3);
    c->beating = false;   /* missing by the time the limit is reached */
    double took = advance_while(f, RUN_RUNNING, 60);
    assert_float_equal(took, 10.0, 1e-12);
    assert_int_equal(f->run.phase, RUN_STOPPING);
    assert_int_equal(count_sent(f, a, HERD__ENVELOPE__BODY_STOP), 1);
    assert_int_equal(count_sent(f, b, HERD__ENVELOPE__BODY_STOP), 1);
    assert_int_equal(count_sent(f, c, HERD__ENVELOPE__BODY_STOP), 0);
    assert_int_equal(last_sent(f, a, HERD__ENVELOPE__BODY_STOP)->run_id, f->run.run_id);
    assert_int_equal(registered(f, a)->state, WORKER_STOPPING);
    assert_non_null(strstr(log_text(), "--run-time limit reached, stopping test"));
    /* One history row per second of the run, none skipped or doubled. */
    assert_int_equal(f->n_seconds, 9);
    for (size_t i = 0; i < f->n_seconds; i++)
        assert_int_equal(f->seconds[i], (int64_t)WALL0 + 1 + (int64_t)i);
}

static void test_final_reports_and_stopped_end_the_run(void **state)
{
    fixture_t *f = *state;
    fake_t *a = &f->fakes[0], *b = &f->fakes[1];
    f->o.run_time_s = 5;
    start_running(f, 2);
    say_report(f, a, 1, 1, 10, 0);
    say_report(f, b, 1, 1, 10, 0);
    advance_while(f, RUN_RUNNING, 60);
    assert_int_equal(f->run.phase, RUN_STOPPING);
    double stop_at = now_of(f);

    /* a: Stopped before its final report arrived; b: the other way round. */
    say_stopped(f, a, 2);
    say_report(f, b, 2, 2, 3, 1);
    advance(f, TICK_S);
    assert_int_equal(f->run.phase, RUN_STOPPING);
    say_stopped(f, b, 2);
    advance(f, TICK_S);
    assert_int_equal(f->run.phase, RUN_STOPPING);   /* a's seq 2 is still missing */
    assert_int_equal(count_sent(f, NULL, HERD__ENVELOPE__BODY_QUIT), 0);
    say_report(f, a, 2, 2, 4, 0);
    advance(f, TICK_S);
    assert_int_equal(f->run.phase, RUN_DONE);
    assert_int_equal(count_sent(f, a, HERD__ENVELOPE__BODY_QUIT), 1);
    assert_int_equal(count_sent(f, b, HERD__ENVELOPE__BODY_QUIT), 1);
    assert_int_equal(stats_total_requests(&f->run.stats), 27);
    assert_int_equal(stats_total_failures(&f->run.stats), 1);
    /* The run lasted until the stop, not until the last final report. */
    assert_float_equal(f->run.run_ended - f->run.run_started, 5.0, 1e-12);
    assert_float_equal(f->run.run_ended, stop_at, 1e-12);
    assert_int_equal(exit_code(f), 1);   /* a request failed */
    f->o.exit_code_on_error = 0;
    assert_int_equal(exit_code(f), 0);
}

static void test_final_report_timeout_ends_with_a_warning(void **state)
{
    fixture_t *f = *state;
    fake_t *a = &f->fakes[0], *b = &f->fakes[1];
    f->o.run_time_s = 5;
    f->o.stop_timeout_s = 2;
    start_running(f, 2);
    advance_while(f, RUN_RUNNING, 60);
    say_stopped(f, a, 0);   /* a has nothing more to report; b never answers */
    double took = advance_while(f, RUN_STOPPING, 60);
    /* --stop-timeout plus the grace for final reports. */
    assert_float_equal(took, 2 + RUN_FINAL_REPORT_GRACE_S, 1e-12);
    assert_int_equal(f->run.phase, RUN_DONE);
    const char *log = log_text();
    assert_non_null(strstr(log, "Worker bbbbbbbb sent no final report within 12 s; its last "
                                "second may be missing from the summary"));
    assert_null(strstr(log, "Worker aaaaaaaa sent no final report"));
    assert_int_equal(count_sent(f, b, HERD__ENVELOPE__BODY_QUIT), 1);
    assert_false(f->run.failed);
    assert_int_equal(exit_code(f), 1);   /* not failed, but no request completed */
    assert_non_null(strstr(log_text(), "No request completed during the run"));
}

static void test_interrupt_stops_and_a_second_ends_at_once(void **state)
{
    fixture_t *f = *state;
    fake_t *a = &f->fakes[0], *b = &f->fakes[1];
    start_running(f, 2);
    advance(f, 3);
    run_interrupt(&f->run, now_of(f));
    assert_int_equal(f->run.phase, RUN_STOPPING);
    assert_int_equal(count_sent(f, a, HERD__ENVELOPE__BODY_STOP), 1);
    assert_int_equal(count_sent(f, b, HERD__ENVELOPE__BODY_STOP), 1);
    advance(f, 1);
    assert_int_equal(f->run.phase, RUN_STOPPING);
    run_interrupt(&f->run, now_of(f));
    assert_int_equal(f->run.phase, RUN_DONE);
    assert_int_equal(count_sent(f, a, HERD__ENVELOPE__BODY_QUIT), 1);
    assert_int_equal(count_sent(f, b, HERD__ENVELOPE__BODY_QUIT), 1);
    assert_float_equal(f->run.run_ended - f->run.run_started, 3.0, 1e-12);
    const char *log = log_text();
    assert_non_null(strstr(log, "Interrupted: stopping the test"));
    assert_non_null(strstr(log, "Interrupted again: not waiting for final reports"));
    assert_int_equal(exit_code(f), 1);   /* no request completed */
}

static void test_interrupt_while_waiting_ends_the_run(void **state)
{
    fixture_t *f = *state;
    f->expect = 2;
    start(f);
    say_hello(f, &f->fakes[0]);
    run_interrupt(&f->run, now_of(f));
    assert_int_equal(f->run.phase, RUN_DONE);
    assert_false(f->run.started);
    assert_false(f->run.failed);
    assert_int_equal(count_sent(f, &f->fakes[0], HERD__ENVELOPE__BODY_QUIT), 1);
    assert_int_equal(count_sent(f, NULL, HERD__ENVELOPE__BODY_STOP), 0);
}

static void test_fatal_error_stops_the_run(void **state)
{
    fixture_t *f = *state;
    fake_t *a = &f->fakes[0], *b = &f->fakes[1];
    start_running(f, 2);
    say_error(f, b, "Spawn message with 1 class targets", false);   /* a warning only */
    assert_int_equal(f->run.phase, RUN_RUNNING);
    assert_false(f->run.failed);

    say_error(f, b, "test.yaml:3:5: setup failed: HTTP 500", true);
    assert_int_equal(f->run.phase, RUN_STOPPING);
    assert_true(f->run.failed);
    assert_string_equal(f->run.err, "worker bbbbbbbb: test.yaml:3:5: setup failed: HTTP 500");
    assert_int_equal(count_sent(f, a, HERD__ENVELOPE__BODY_STOP), 1);
    assert_int_equal(count_sent(f, b, HERD__ENVELOPE__BODY_STOP), 1);
    assert_non_null(strstr(log_text(), "Stopping: the run cannot go on"));
    say_stopped(f, a, 0);
    say_stopped(f, b, 0);
    advance(f, TICK_S);
    assert_int_equal(f->run.phase, RUN_DONE);
    assert_int_equal(exit_code(f), 1);
}

/* A worker's Log message of n lines, each at level with the text "<text> <i>". */
static void say_log(fixture_t *f, fake_t *w, size_t n, uint32_t level, const char *text)
{
    static Herd__LogLine lines[WIRE_MAX_LOG_LINES + 1];
    static Herd__LogLine *ptrs[WIRE_MAX_LOG_LINES + 1];
    static char texts[WIRE_MAX_LOG_LINES + 1][64];
    assert_true(n <= WIRE_MAX_LOG_LINES + 1);
    for (size_t i = 0; i < n; i++) {
        herd__log_line__init(&lines[i]);
        lines[i].level = level;
        lines[i].unix_s = WALL0 + (double)i;
        snprintf(texts[i], sizeof texts[i], "%s %zu", text, i);
        lines[i].text = texts[i];
        ptrs[i] = &lines[i];
    }
    Herd__Log log = HERD__LOG__INIT;
    log.n_lines = n;
    log.lines = ptrs;
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_LOG;
    env.log = &log;
    deliver(f, w, &env);
}

/* A worker's warnings and errors are kept beside the master's lines, named by the worker;
 * a Log message beyond the limits is dropped whole. Heartbeats carry the worker's memory. */
static void test_worker_log_lines_and_memory(void **state)
{
    fixture_t *f = *state;
    fake_t *a = &f->fakes[0];
    log_keep_recent();
    static log_line_t kept[LOG_RECENT_LINES];
    start_running(f, 1);
    uint64_t base = 0;   /* the newest line kept so far */
    for (size_t n; (n = log_recent(kept, LOG_RECENT_LINES, base)) > 0;)
        base = kept[n - 1].seq;

    say_log(f, a, 2, LOG_ERROR, "setup failed");
    size_t n = log_recent(kept, LOG_RECENT_LINES, base);
    assert_int_equal(n, 2);
    assert_string_equal(kept[0].source, "worker aaaaaaaa (loadhost)");
    assert_int_equal(kept[0].level, LOG_ERROR);
    assert_string_equal(kept[0].text, "setup failed 0");
    assert_true(kept[1].unix_s == WALL0 + 1);
    base = kept[1].seq;

    say_log(f, a, 1, 5, "bad level");
    say_log(f, a, WIRE_MAX_LOG_LINES + 1, LOG_WARNING, "flood");
    n = log_recent(kept, LOG_RECENT_LINES, base);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(kept[i].source, "master");   /* only the master's warnings */
    assert_non_null(strstr(log_text(), "worker aaaaaaaa: invalid Log message dropped: a level "
                                       "out of range"));
    assert_non_null(strstr(log_text(), "worker aaaaaaaa: invalid Log message dropped: too many "
                                       "lines"));
    say_log(f, a, WIRE_MAX_LOG_LINES, LOG_WARNING, "many");
    assert_int_equal(log_recent(kept, LOG_RECENT_LINES, base), n + WIRE_MAX_LOG_LINES);
    assert_int_equal(f->run.phase, RUN_RUNNING);   /* none of it changes the run */

    assert_int_equal(registered(f, a)->memory_bytes, 0);
    Herd__Heartbeat hb = HERD__HEARTBEAT__INIT;
    hb.state = HERD__WORKER_STATE__WORKER_STATE_RUNNING;
    hb.memory_bytes = 123456789;
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    deliver(f, a, &env);
    assert_int_equal(registered(f, a)->memory_bytes, 123456789);
}

/* The fix: a worker that joins while the run stops has no users in it, and a Stop of a run
 * it never ran goes unanswered (worker/control.c), so it must not be waited for. */
static void test_worker_joining_while_stopping_is_not_waited_for(void **state)
{
    fixture_t *f = *state;
    fake_t *a = &f->fakes[0], *b = &f->fakes[1], *late = &f->fakes[3];
    f->o.run_time_s = 5;
    f->o.stop_timeout_s = 30;
    start_running(f, 2);
    advance_while(f, RUN_RUNNING, 60);
    assert_int_equal(f->run.phase, RUN_STOPPING);
    double stop_at = now_of(f);

    forget_sent(f);
    say_hello(f, late);
    assert_int_equal(count_sent(f, late, HERD__ENVELOPE__BODY_WELCOME), 1);
    assert_int_equal(count_sent(f, late, HERD__ENVELOPE__BODY_SPAWN), 0);
    advance(f, 0.5);
    say_report(f, a, 1, 1, 6, 0);
    say_stopped(f, a, 1);
    say_stopped(f, b, 0);
    advance(f, TICK_S);
    assert_int_equal(f->run.phase, RUN_DONE);
    assert_true(now_of(f) - stop_at < 1.0);   /* not --stop-timeout + grace = 40 s */
    assert_int_equal(count_sent(f, late, HERD__ENVELOPE__BODY_QUIT), 1);
    assert_int_equal(stats_total_requests(&f->run.stats), 6);
    assert_null(strstr(log_text(), "sent no final report"));
}

/* A worker of the run that reconnects (Hello) or comes back from missing while the run
 * stops is asked for its final report, and the run waits for it. */
static void test_worker_of_the_run_returning_while_stopping_is_asked_to_stop(void **state)
{
    fixture_t *f = *state;
    fake_t *a = &f->fakes[0], *b = &f->fakes[1], *c = &f->fakes[2];
    f->o.run_time_s = 10;
    start_running(f, 3);
    advance(f, 5);
    c->beating = false;   /* missing before the stop */
    advance_while(f, RUN_RUNNING, 60);
    assert_int_equal(f->run.phase, RUN_STOPPING);
    assert_int_equal(registered(f, c)->state, WORKER_MISSING);
    assert_int_equal(count_sent(f, c, HERD__ENVELOPE__BODY_STOP), 0);

    /* b lost the master and says Hello again; c speaks after being missing. */
    forget_sent(f);
    say_hello(f, b);
    assert_int_equal(count_sent(f, b, HERD__ENVELOPE__BODY_WELCOME), 1);
    assert_int_equal(count_sent(f, b, HERD__ENVELOPE__BODY_STOP), 1);
    c->beating = true;
    say_heartbeat(f, c);
    assert_int_equal(count_sent(f, c, HERD__ENVELOPE__BODY_STOP), 1);
    assert_int_equal(count_sent(f, NULL, HERD__ENVELOPE__BODY_SPAWN), 0);

    say_stopped(f, a, 0);
    advance(f, 1);
    assert_int_equal(f->run.phase, RUN_STOPPING);   /* b and c still owe their final reports */
    say_report(f, b, 1, 1, 4, 0);
    say_stopped(f, b, 1);
    advance(f, 1);
    assert_int_equal(f->run.phase, RUN_STOPPING);
    say_report(f, c, 1, 1, 9, 0);
    say_stopped(f, c, 1);
    advance(f, TICK_S);
    assert_int_equal(f->run.phase, RUN_DONE);
    assert_int_equal(stats_total_requests(&f->run.stats), 13);
    assert_null(strstr(log_text(), "sent no final report"));
}

/* ---- the web UI: tests one after another ------------------------------------------------- */

static uint32_t spawned_users(const fixture_t *f, const fake_t *a, const fake_t *b)
{
    const sent_t *sa = last_sent(f, a, HERD__ENVELOPE__BODY_SPAWN);
    const sent_t *sb = last_sent(f, b, HERD__ENVELOPE__BODY_SPAWN);
    assert_non_null(sa);
    assert_non_null(sb);
    assert_int_equal(sa->run_id, sb->run_id);
    assert_int_equal(sa->run_id, f->run.run_id);
    return sa->users + sb->users;
}

static void test_web_tests_start_change_stop_and_start_again(void **state)
{
    fixture_t *f = *state;
    fake_t *a = &f->fakes[0], *b = &f->fakes[1];
    char err[256];
    f->web = true;
    f->expect = 2;
    start_as(f, true);
    assert_int_equal(f->run.phase, RUN_IDLE);
    assert_string_equal(run_state_name(&f->run), "ready");
    say_hello(f, a);
    say_hello(f, b);
    advance(f, 1.0);
    assert_int_equal(f->run.phase, RUN_IDLE);   /* a test starts when asked, not by itself */
    assert_int_equal(count_sent(f, NULL, HERD__ENVELOPE__BODY_SPAWN), 0);

    run_params_t p = {.users = 4, .spawn_rate = 2};
    assert_int_equal(run_start(&f->run, &p, now_of(f), err, sizeof err), 0);
    assert_int_equal(f->run.phase, RUN_RUNNING);
    assert_string_equal(run_state_name(&f->run), "spawning");
    assert_int_equal(spawned_users(f, a, b), 4);
    uint64_t first_run = f->run.run_id;
    assert_int_equal(run_start(&f->run, &p, now_of(f), err, sizeof err), -1);   /* running */
    say_spawned(f, a);
    say_spawned(f, b);
    assert_string_equal(run_state_name(&f->run), "running");

    /* Edit: the same dispatch as -u, the new rate shared too. */
    assert_int_equal(run_edit(&f->run, 10, 6, now_of(f), err, sizeof err), 0);
    assert_int_equal(spawned_users(f, a, b), 10);
    assert_float_equal(last_sent(f, a, HERD__ENVELOPE__BODY_SPAWN)->rate +
                       last_sent(f, b, HERD__ENVELOPE__BODY_SPAWN)->rate, 6.0, 1e-9);
    say_report(f, a, 1, 1, 10, 1);
    advance(f, 1.0);

    /* Stop: final reports, then IDLE with the workers kept. */
    assert_int_equal(run_stop(&f->run, now_of(f), err, sizeof err), 0);
    assert_int_equal(f->run.phase, RUN_STOPPING);
    say_stopped(f, a, 1);
    say_stopped(f, b, 0);
    advance(f, TICK_S);
    assert_int_equal(f->run.phase, RUN_IDLE);
    assert_string_equal(run_state_name(&f->run), "stopped");
    assert_int_equal(f->run.tests_ended, 1);
    assert_int_equal(count_sent(f, NULL, HERD__ENVELOPE__BODY_QUIT), 0);
    assert_int_equal(stats_total_requests(&f->run.stats), 10);
    assert_int_equal(exit_code(f), 1);   /* a request failed */
    assert_int_equal(run_stop(&f->run, now_of(f), err, sizeof err), -1);
    assert_int_equal(run_edit(&f->run, 3, 1, now_of(f), err, sizeof err), -1);
    advance(f, 2.0);   /* heartbeats go on between tests: nobody goes missing */
    assert_int_equal(registry_count_active(&f->run.reg), 2);

    /* A new test at once (the same second): its own run id, nothing of the last one. */
    run_params_t q = {.users = 2, .spawn_rate = 1};
    forget_sent(f);
    assert_int_equal(run_start(&f->run, &q, now_of(f), err, sizeof err), 0);
    assert_true(f->run.run_id > first_run);
    assert_int_equal(spawned_users(f, a, b), 2);
    assert_int_equal(stats_total_requests(&f->run.stats), 0);
    assert_int_equal(registered(f, a)->requests, 0);
    assert_int_equal(stats_total_failures(&f->run.stats), 0);
    say_report(f, a, 2, 2, 5, 0);
    assert_int_equal(stats_total_requests(&f->run.stats), 5);

    /* Ctrl-C while a test runs: it stops, and its end is the end. */
    run_interrupt(&f->run, now_of(f));
    assert_int_equal(f->run.phase, RUN_STOPPING);
    say_stopped(f, a, 2);
    say_stopped(f, b, 0);
    advance(f, TICK_S);
    assert_int_equal(f->run.phase, RUN_DONE);
    assert_int_equal(f->run.tests_ended, 2);
    assert_int_equal(count_sent(f, a, HERD__ENVELOPE__BODY_QUIT), 1);
    assert_int_equal(count_sent(f, b, HERD__ENVELOPE__BODY_QUIT), 1);
}

/* A start before the workers are there waits for them, as a headless run does; past the
 * connect limit the test is given up and the page stays. */
static void test_web_start_waits_for_workers(void **state)
{
    fixture_t *f = *state;
    fake_t *a = &f->fakes[0], *b = &f->fakes[1];
    char err[256];
    f->web = true;
    f->expect = 2;
    f->connect_wait_s = 5;
    start_as(f, true);
    say_hello(f, a);
    run_params_t p = {.users = 4, .spawn_rate = 2};
    assert_int_equal(run_start(&f->run, &p, now_of(f), err, sizeof err), 0);
    assert_int_equal(f->run.phase, RUN_WAITING);
    assert_string_equal(run_state_name(&f->run), "waiting");
    advance(f, 1.0);
    assert_int_equal(count_sent(f, NULL, HERD__ENVELOPE__BODY_SPAWN), 0);
    say_hello(f, b);
    advance(f, TICK_S);
    assert_int_equal(f->run.phase, RUN_RUNNING);
    assert_int_equal(spawned_users(f, a, b), 4);
    assert_int_equal(run_stop(&f->run, now_of(f), err, sizeof err), 0);
    say_stopped(f, a, 0);
    say_stopped(f, b, 0);
    advance(f, TICK_S);
    assert_int_equal(f->run.phase, RUN_IDLE);

    /* b is gone; the next test waits 5 s for it, then is given up. */
    b->beating = false;
    advance(f, 5.0);
    assert_int_equal(registry_count_active(&f->run.reg), 1);
    assert_int_equal(run_start(&f->run, &p, now_of(f), err, sizeof err), 0);
    assert_int_equal(f->run.phase, RUN_WAITING);
    advance(f, 6.0);
    assert_int_equal(f->run.phase, RUN_IDLE);
    assert_true(f->run.failed);
    assert_non_null(strstr(f->run.err, "only 1 of 2 worker(s) connected within 5 s"));
    assert_int_equal(count_sent(f, NULL, HERD__ENVELOPE__BODY_QUIT), 0);   /* the page stays */
    f->connect_wait_s = 0;
}

static void test_web_interrupt_while_idle_quits(void **state)
{
    fixture_t *f = *state;
    fake_t *a = &f->fakes[0];
    f->web = true;
    f->expect = 1;
    start_as(f, true);
    say_hello(f, a);
    advance(f, 1.0);
    run_interrupt(&f->run, now_of(f));
    assert_int_equal(f->run.phase, RUN_DONE);
    assert_int_equal(count_sent(f, a, HERD__ENVELOPE__BODY_QUIT), 1);
    assert_int_equal(f->run.tests_ended, 0);
    assert_int_equal(exit_code(f), 0);   /* no test ran: nothing failed */
}

/* ---- stages ------------------------------------------------------------------------------- */

static void test_stages_change_the_shares_then_stop(void **state)
{
    fixture_t *f = *state;
    fake_t *a = &f->fakes[0], *b = &f->fakes[1];
    f->stages[0] = (stage_t){.duration_s = 3, .users = 4, .spawn_rate = 2};
    f->stages[1] = (stage_t){.duration_s = 2, .users = 10, .spawn_rate = -1};
    f->n_stages = 2;
    start_running(f, 2);
    assert_int_equal(last_sent(f, a, HERD__ENVELOPE__BODY_SPAWN)->users, 2);
    assert_int_equal(last_sent(f, b, HERD__ENVELOPE__BODY_SPAWN)->users, 2);
    assert_float_equal(last_sent(f, a, HERD__ENVELOPE__BODY_SPAWN)->rate, 1.0, 1e-9);
    forget_sent(f);
    advance(f, 3 - TICK_S);
    assert_int_equal(count_sent(f, NULL, HERD__ENVELOPE__BODY_SPAWN), 0);
    advance(f, TICK_S);
    /* Stage 2: 10 users at -r (5/s). */
    assert_int_equal(last_sent(f, a, HERD__ENVELOPE__BODY_SPAWN)->users, 5);
    assert_int_equal(last_sent(f, b, HERD__ENVELOPE__BODY_SPAWN)->users, 5);
    assert_float_equal(last_sent(f, a, HERD__ENVELOPE__BODY_SPAWN)->rate, 2.5, 1e-9);
    double took = advance_while(f, RUN_RUNNING, 60);
    assert_float_equal(took, 2.0, 1e-12);
    assert_int_equal(f->run.phase, RUN_STOPPING);
    assert_non_null(strstr(log_text(), "The last stage is over, stopping test"));
}


/* ---- current figures, history and --reset-stats ------------------------------------------ */

#define X ((int64_t)WALL0)   /* a whole wall-clock second */

static double wall_of(fixture_t *f)
{
    return run_wall_s(&f->run, now_of(f));
}

/* Advance until the wall clock reads `wall`. */
static void advance_to_wall(fixture_t *f, double wall)
{
    advance(f, wall - wall_of(f));
}

static double current_rps(fixture_t *f)
{
    run_current_t cur = run_current(&f->run, now_of(f));
    return cur.seconds > 0 ? (double)stats_total_requests(cur.rates) / cur.seconds : 0;
}

/* results_finish prints the summary: keep it out of the test's output. */
static void finish_quietly(results_t *res, fixture_t *f)
{
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    FILE *null = fopen("/dev/null", "w");
    assert_non_null(null);
    dup2(fileno(null), STDOUT_FILENO);
    results_finish(res, &f->run, now_of(f));
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    fclose(null);
}

/* The fix: a steady rate read low for the first ten seconds (the window of arrival seconds
 * divided by a second it had no reports for, and jittered as reports drifted across its
 * seconds). Now the rates are the timeline's complete seconds: none until the first
 * complete second is in, then exactly 80. */
static void test_current_rates_exact_from_the_first_complete_second(void **state)
{
    fixture_t *f = *state;
    fake_t *a = &f->fakes[0];
    f->wall0 = WALL0 + 0.375;   /* the run starts at X + 0.5 */
    start_running(f, 1);
    assert_float_equal(f->run.run_started_wall, (double)X + 0.5, 1e-9);
    a->per_tick = 10;           /* 80 requests a second */

    /* The first complete second, X+1, ends at X+2 and is taken RUN_SETTLE_S later. */
    advance_to_wall(f, (double)X + 1 + 1 + RUN_SETTLE_S - TICK_S);
    run_current_t cur = run_current(&f->run, now_of(f));
    assert_float_equal(cur.seconds, 0, 0);
    assert_int_equal(stats_total_requests(cur.rates), 0);
    advance(f, TICK_S);
    cur = run_current(&f->run, now_of(f));
    assert_float_equal(cur.seconds, 1, 0);
    assert_int_equal(stats_total_requests(cur.rates), 80);
    /* the row is there, with the rate's requests (its share of them: all) */
    assert_int_equal(cur.rates->n_entries, 1);
    assert_string_equal(cur.rates->entries[0].name, "/");
    assert_int_equal(cur.rates->entries[0].requests, 80);
    /* and the response times of the reports so far */
    assert_true(stats_total_requests(cur.times) > 0);

    /* Exact at every tick from then on; the window grows to 10 seconds and slides. */
    for (int i = 0; i < 16 * TICKS_PER_S; i++) {
        advance(f, TICK_S);
        cur = run_current(&f->run, now_of(f));
        int64_t last = (int64_t)floor(wall_of(f) - 1 - RUN_SETTLE_S);
        double expect_s = (double)(last - X < 10 ? last - X : 10);
        assert_float_equal(cur.seconds, expect_s, 0);
        assert_float_equal(current_rps(f), 80.0, 1e-12);
    }
}

/* History rows carry what completed in their second, so a step in load is a step; a row is
 * shown once its second is complete; the last one covers the run's end. */
static void test_history_rows_are_the_timeline_and_a_step_is_a_step(void **state)
{
    fixture_t *f = *state;
    fake_t *a = &f->fakes[0];
    results_t res;
    char err[256];
    assert_int_equal(results_init(&res, &f->o, f->sc, err, sizeof err), 0);
    f->results = &res;
    f->o.run_time_s = 10;
    f->wall0 = WALL0 + 0.375;   /* the run starts at X + 0.5, stops at X + 10.5 */
    start_running(f, 1);
    a->per_tick = 10;           /* 80/s, then 160/s from X + 6 */

    advance_to_wall(f, (double)X + 6);
    a->per_tick = 20;
    /* Rows are taken at X+k+0.5 for second X+k; at X+7.5 seconds up to X+4 are complete. */
    advance_to_wall(f, (double)X + 7.5);
    assert_int_equal(res.out.history.n, 7);
    assert_int_equal(res.out.n_settled, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(res.out.history.snaps[i].unix_s, X + 1 + (int64_t)i);
        assert_float_equal(res.out.history.snaps[i].points[0].rps, 80.0, 1e-12);
    }

    advance_while(f, RUN_RUNNING, 60);
    assert_float_equal(wall_of(f), (double)X + 10.5, 1e-9);
    a->per_tick = 0;
    say_table(f, a, a->seq + 1, a->seq + 1, &a->pending);   /* the final report */
    say_stopped(f, a, a->seq + 1);
    advance(f, TICK_S);
    assert_int_equal(f->run.phase, RUN_DONE);
    finish_quietly(&res, f);

    /* Rows X+1 .. X+9 each second, then the stop's row (X+10). */
    const history_t *h = &res.out.history;
    assert_int_equal(h->n, 10);
    assert_int_equal(res.out.n_settled, 10);
    for (size_t i = 0; i < h->n; i++) {
        const history_point_t *p = &h->snaps[i].points[0];
        assert_int_equal(h->snaps[i].unix_s, X + 1 + (int64_t)i);
        assert_string_equal(p->name, "Aggregated");
        /* 80 a second until X+6, 160 after; the stop's row: X+9 and X+10 until the stop */
        assert_float_equal(p->rps, i < 5 ? 80.0 : 160.0, 1e-9);
        assert_float_equal(p->fails_per_s, 0, 0);
        /* the per-name row gets its share: all of it */
        assert_int_equal(h->snaps[i].n_points, 2);
        assert_float_equal(h->snaps[i].points[1].rps, p->rps, 1e-9);
    }
    assert_int_equal(h->snaps[9].points[0].total_requests, 80 * 5.5 + 160 * 4.5);
    results_free(&res);
}

static bool log_has(const char *s)
{
    return strstr(log_text(), s) != NULL;
}

/* The fix: requests counted before the reset leaked into the totals (reports in flight at
 * the reset) and the final rates divided by the whole run. Now the statistics count from
 * the first whole second after all users spawned: a report goes in when most of its
 * requests completed from then on, and the rates divide by the time since then. */
static void test_reset_counts_from_the_next_whole_second(void **state)
{
    fixture_t *f = *state;
    fake_t *a = &f->fakes[0];
    f->o.reset_stats = true;
    f->o.run_time_s = 10;
    char *th[] = { "rps>=5.3" };   /* 40 requests in 7.5 s: 5.33/s; in the whole 10 s: 4 */
    f->o.thresholds = (cli_list_t){ .items = th, .n = 1, .cap = 1 };
    f->wall0 = WALL0 + 0.375;       /* the run starts at X + 0.5 */
    f->expect = 1;
    start(f);
    say_hello(f, a);
    advance(f, TICK_S);
    assert_int_equal(f->run.phase, RUN_RUNNING);
    advance_to_wall(f, (double)X + 1.5);
    say_report(f, a, 1, 1, 7, 0);   /* the ramp-up */
    advance_to_wall(f, (double)X + 2.5);
    say_spawned(f, a);              /* all spawned at X + 2.5: the cut is X + 3 */
    assert_true(f->run.reset_done);
    assert_float_equal(f->run.stats_started_wall, (double)(X + 3), 0);
    assert_true(log_has("Resetting stats: counting the requests completed from"));
    assert_true(log_has("(unix 1700000003), the first whole second after all users spawned"));
    assert_int_equal(stats_total_requests(&f->run.stats), 0);

    /* In flight at the reset, mostly before the cut: left out (but acknowledged). */
    forget_sent(f);
    say_report_over(f, a, 2, X + 2, 30, X + 3, 10);
    assert_int_equal(last_sent(f, a, HERD__ENVELOPE__BODY_ACK)->seq, 2);
    assert_int_equal(stats_total_requests(&f->run.stats), 0);
    assert_int_equal(registered(f, a)->requests, 0);
    /* Mostly after: in, whole (a report cannot be split by row), its earlier second out of
     * the statistics' timeline. */
    say_report_over(f, a, 3, X + 2, 5, X + 3, 15);
    assert_int_equal(stats_total_requests(&f->run.stats), 20);
    assert_int_equal(f->run.stats.n_seconds, 1);
    assert_int_equal(f->run.stats.seconds[0].unix_second, X + 3);
    say_report_over(f, a, 4, X + 3, 10, X + 4, 10);
    assert_int_equal(stats_total_requests(&f->run.stats), 40);
    assert_int_equal(registered(f, a)->requests, 40);

    /* The timeline is what completed, reset or not: every report is in it. */
    uint64_t req, fail;
    window_timeline_counts(&f->run.timeline, X, X + 10, &req, &fail);
    assert_int_equal(req, 7 + 40 + 20 + 20);
    /* Current rates count from the cut: its second is complete at X + 6. */
    advance_to_wall(f, (double)X + 6 - TICK_S);
    assert_float_equal(run_current(&f->run, now_of(f)).seconds, 0, 0);
    advance(f, TICK_S);
    assert_float_equal(run_current(&f->run, now_of(f)).seconds, 1, 0);
    assert_float_equal(current_rps(f), 35.0, 0);   /* X+3: 10 + 15 + 10 */

    advance_while(f, RUN_RUNNING, 60);
    say_stopped(f, a, 4);
    advance(f, TICK_S);
    assert_int_equal(f->run.phase, RUN_DONE);
    /* Counting lasted from X + 3 until the stop at X + 10.5. */
    assert_float_equal(run_stats_duration_s(&f->run, now_of(f)), 7.5, 1e-9);
    results_t res;
    char err[256];
    assert_int_equal(results_init(&res, &f->o, f->sc, err, sizeof err), 0);
    assert_int_equal(results_exit_code(&res, &f->run), 0);
    assert_true(res.out.verdicts[0].passed);
    assert_float_equal(res.out.verdicts[0].observed, 40 / 7.5, 1e-9);
    results_free(&res);
}

int main(void)
{
    int fd = mkstemp(log_path);
    if (fd < 0)
        return 1;
    close(fd);
    char err[256];
    if (log_setup("master", LOG_INFO, log_path, err, sizeof err) < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hello_registers_and_welcomes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expected_workers_start_the_run_with_shares, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_spawned_from_all_is_all_users_spawned, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_workers_that_never_come_fail_the_run, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reports_merged_once_and_acknowledged, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_silent_worker_goes_missing_and_comes_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_hellos_of_one_session_give_one_spawn,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_of_another_run_is_acknowledged_not_counted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_time_limit_stops_the_active_workers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_final_reports_and_stopped_end_the_run, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_final_report_timeout_ends_with_a_warning, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_stops_and_a_second_ends_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_while_waiting_ends_the_run, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fatal_error_stops_the_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_log_lines_and_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_joining_while_stopping_is_not_waited_for,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_worker_of_the_run_returning_while_stopping_is_asked_to_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stages_change_the_shares_then_stop, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_web_tests_start_change_stop_and_start_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_web_start_waits_for_workers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_web_interrupt_while_idle_quits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_current_rates_exact_from_the_first_complete_second,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_rows_are_the_timeline_and_a_step_is_a_step,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_counts_from_the_next_whole_second, setup,
                                        teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    log_close();
    unlink(log_path);
    return rc;
}
