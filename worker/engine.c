/*
 * engine — one load-generating thread. See engine.h for the contract.
 *
 * Shape: the thread runs a loop (loop.h: epoll, descriptor handlers, a timer heap) shared
 * with its transports (transport.h), which own the sockets. The engine owns the users, the
 * spawning and the statistics; each user sends its steps through its own client
 * (client.h), which brings back how each request ended. The control thread talks to us
 * through a mutex-guarded command queue plus an eventfd that wakes the loop; the request
 * path never touches that mutex.
 *
 * A virtual user is a state machine: a phase (on_start, task, on_stop), the step sequence
 * of that phase and a program counter. user_run advances it until it has to wait for
 * something (a request, a timer) or it is finished. Blocks (repeat, for_each, when) are
 * flattened into the sequence by the loader (scenario.h): a STEP_BLOCK starts a loop frame
 * at its depth, its STEP_END jumps back while iterations remain, and a false `when` jumps
 * past the block. Frames are fixed in the user: running a block allocates nothing.
 *
 * Statistics: the engine thread counts into `counting` (no lock). engine_collect asks for a
 * flush; at its next loop iteration the engine swaps `counting` with the spare table and
 * publishes the filled one; the collector merges it into its own table, resets it and gives
 * it back as the spare. Every record lands in exactly one published table: nothing is lost
 * or counted twice.
 */
#include "engine.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/rng.h"
#include "../common/vec.h"
#include "client.h"
#include "datarows.h"
#include "loop.h"
#include "transport.h"

typedef enum phase { PHASE_ON_START, PHASE_TASK, PHASE_ON_STOP } phase_t;

/* A task that fails before sending anything (a template error, a URL or header that cannot
 * be sent, a connection refused at once) costs microseconds: without a pause its user would
 * count millions of failures a second on a core of its own. It waits at least this back-off
 * before its next task, besides its class's wait. */
#define FAIL_BACKOFF_MIN_S 0.001
#define FAIL_BACKOFF_MAX_S 1.0

/* Steps a user runs in one go without waiting on I/O or a timer (blocks whose requests are
 * all skipped by `when`, repeat: 1000000 over a false `when`): past it the user yields to
 * the loop and goes on at its next turn, so it never holds the other users up. */
#define FLOW_STEPS_PER_TURN 1024

/* The state of one running block, at its nesting depth. */
typedef struct loop_frame {
    uint32_t done;         /* iterations finished */
    uint32_t count;        /* iterations to run */
    json_t *list;          /* for_each: the list walked (kept alive even if its variable is
                              saved again inside the block); owned reference */
} loop_frame_t;

typedef struct user {
    struct engine *e;
    size_t slot;           /* index in engine.users */
    uint32_t cls;
    const user_class_t *uc;
    phase_t phase;
    const step_t *steps;   /* the sequence being run: on_start, a task's steps, on_stop */
    size_t n_steps;
    size_t pc;             /* next step of `steps` to run */
    size_t next_task;      /* sequential classes: the task to run next */
    double task_start;     /* monotonic seconds the current task started */
    double intended;       /* pacing/throughput users: when the schedule wanted the current
                              task to start (<= task_start); 0: not on a schedule */
    double next_intended;  /* the schedule's start for the next task; 0: start a new one */
    bool waiting;          /* between tasks: `wake` is the wait */
    bool stopping;         /* no new task; on_stop next, aborted at `deadline` */
    bool did_io;           /* the current task sent a request */
    bool failed_unsent;    /* the current task failed before sending anything */
    double unsent_backoff_s; /* pause after such a task: doubles while its tasks keep failing
                              that way (FAIL_BACKOFF_MIN_S..MAX_S), 0 after one sends */
    json_t **vars;         /* uc->n_vars slots; owned references */
    uint32_t *rows;        /* per data set: the row this user took, DATAROWS_NONE if none;
                              NULL when the class uses no data; owned */
    loop_timer_t wake;     /* a wait between tasks, a sleep step */
    loop_timer_t deadline; /* the stop timeout */
    tmpl_env_t env;        /* user_vars points at vars; iteration = tasks started */
    client_t client;       /* the user's requests and connections */
    loop_frame_t frames[SCENARIO_MAX_NESTING]; /* the blocks being run, by depth */
} user_t;

typedef enum cmd_kind { CMD_TARGET, CMD_STOP } cmd_kind_t;

typedef struct cmd {
    cmd_kind_t kind;
    double rate;
    struct cmd *next;
    uint32_t targets[];    /* CMD_TARGET: n_classes entries */
} cmd_t;

struct engine {
    engine_config_t cfg;   /* cfg.worker_id points at worker_id below */
    char worker_id[64];    /* the worker's UUID text, the engine's own copy */
    const scenario_t *sc;
    size_t n_classes;

    /* ---- engine thread only ---- */
    pthread_t thread;
    bool thread_started;
    loop_t loop;           /* the thread's loop: clock, sockets, timers */
    transports_t transports;
    int evfd;              /* eventfd: the control thread's doorbell */
    uint64_t rng;          /* xorshift64* state for templates, task choice, waits */
    bool quit;

    const char **class_host;  /* per class: base URL or NULL (borrowed from sc/cfg) */
    tls_opts_t *class_tls;    /* per class: its TLS options (files borrowed from sc); owned */
    double **task_cum;     /* per class: cumulative weights of enabled tasks; owned */
    uint32_t *target;      /* per class: wanted users */
    uint32_t *active;      /* per class: users alive and not stopping */
    double *credit;        /* per class: smooth weighted round-robin for spawning */
    double spawn_rate;     /* users/s; <= 0: all at once */
    double spawn_next;     /* monotonic time of the next spawn */
    loop_timer_t spawn;
    uint64_t spawned;      /* users ever spawned: k in user id = index + 1 + k * n_engines */

    user_t **users;        /* live users, any order; owned */
    size_t n_users, cap_users;

    stats_table_t tables[2];
    stats_table_t *counting;  /* the table the engine records into */

    /* ---- shared ---- */
    _Atomic uint32_t user_count;
    _Atomic uint32_t rowless; /* users given up for want of a unique row, since the target */
    double busy_mark_s;         /* engine_busy's previous call (control thread only) */
    uint64_t busy_mark_idle_us;
    atomic_bool quit_requested; /* engine_destroy: abort everything and leave the loop */
    pthread_mutex_t mu;    /* guards what follows */
    pthread_cond_t cond;   /* flush_done moved */
    cmd_t *cmd_head, *cmd_tail;
    uint64_t flush_req, flush_done;
    stats_table_t *published; /* filled table waiting for the collector, or NULL */
    stats_table_t *spare;     /* empty table the engine may swap in, or NULL */
    pthread_mutex_t collect_mu; /* one engine_collect at a time */
};

static void user_run(engine_t *e, user_t *u);
static void spawn_tick(void *arg);

/* ---- statistics ------------------------------------------------------------------------- */

static void record(engine_t *e, const user_t *u, const step_t *st, const client_result_t *res)
{
    uint64_t us = res->us;
    stats_record(e->counting, st->row, us, res->bytes, res->failure != NULL,
                 e->loop.now_wall_s);
    if (res->failure)
        stats_add_failure(e->counting, st->row, res->failure);
    if (res->resends)
        stats_record_resends(e->counting, st->row, res->resends);
    /* A user on a schedule was late by (task_start - intended): the request really took
     * that much longer from the schedule's point of view (wrk2's correction). */
    if (u->phase == PHASE_TASK && u->intended > 0)
        stats_record_corrected(e->counting, st->row,
                               us + (uint64_t)((u->task_start - u->intended) * 1e6));
}

static int table_init_rows(stats_table_t *t, const scenario_t *sc, char *err, size_t errlen)
{
    stats_init(t);
    for (size_t i = 0; i < sc->n_rows; i++) {
        long r = stats_row(t, http_method_names[sc->rows[i].method], sc->rows[i].name);
        if (r != (long)i) {
            snprintf(err, errlen, "cannot create stats row %zu (%s %s)", i,
                     http_method_names[sc->rows[i].method], sc->rows[i].name);
            return -1;
        }
    }
    return 0;
}

/* Engine thread: answer a pending flush request (see the file comment). */
static void serve_flush(engine_t *e)
{
    pthread_mutex_lock(&e->mu);
    if (e->flush_req > e->flush_done) {
        if (e->spare && !e->published) {
            e->published = e->counting;
            e->counting = e->spare;
            e->spare = NULL;
        }
        /* Without a spare, the previous (timed-out) flush is still published: the collector
         * takes that one, and what we count now comes with the next flush. */
        e->flush_done = e->flush_req;
        pthread_cond_broadcast(&e->cond);
    }
    pthread_mutex_unlock(&e->mu);
}

/* ---- flow: blocks and `when` ------------------------------------------------------------ */

static void frame_clear(loop_frame_t *f)
{
    json_decref(f->list);
    *f = (loop_frame_t){0};
}

static void flow_release(user_t *u)
{
    for (size_t d = 0; d < SCENARIO_MAX_NESTING; d++)
        if (u->frames[d].list)
            frame_clear(&u->frames[d]);
}

/* for_each: the element of the frame's current iteration into the block's `as` slot. */
static void frame_bind(user_t *u, const step_t *block, const loop_frame_t *f)
{
    json_t *old = u->vars[block->as_slot];
    u->vars[block->as_slot] = json_incref(json_array_get(f->list, f->done));
    json_decref(old);
}

/* Enter block st (its `when` already true): 0, or -1 with the failure in err. */
static int flow_enter(user_t *u, const step_t *st, char *err, size_t errlen)
{
    loop_frame_t *f = &u->frames[st->depth];
    frame_clear(f);
    switch (st->block) {
    case BLOCK_ONCE:
        f->count = 1;
        break;
    case BLOCK_REPEAT:
        f->count = st->repeat;
        break;
    case BLOCK_FOR_EACH: {
        char msg[256];
        json_t *list = NULL;
        size_t len;
        const char *src = tmpl_literal(st->for_each, &len);
        if (tmpl_eval(st->for_each, &u->env, &list, msg, sizeof msg) < 0) {
            snprintf(err, errlen, "for_each %.*s: %s", (int)len, src, msg);
            return -1;
        }
        if (!json_is_array(list) || json_array_size(list) > UINT32_MAX) {
            snprintf(err, errlen, "for_each %.*s needs a list, got %s", (int)len, src,
                     json_is_object(list) ? "an object" : json_is_string(list) ? "a string"
                     : json_is_number(list) ? "a number" : json_is_null(list) ? "null"
                     : json_is_array(list) ? "a list too long" : "a boolean");
            json_decref(list);
            return -1;
        }
        f->list = list;
        f->count = (uint32_t)json_array_size(list);
        break;
    }
    }
    if (f->count && st->block == BLOCK_FOR_EACH)
        frame_bind(u, st, f);
    return 0;
}

/* Run one flow decision at u->pc - 1 (st): a `when`, a block's start or end. Returns true
 * when st is a request or sleep to run now, false when the program counter moved on. A
 * failure (a `when` that cannot be evaluated, a for_each over something not a list) is
 * counted on st's row and ends the task, as a failed request does. */
static bool flow_step(engine_t *e, user_t *u, const step_t *st)
{
    char msg[512];
    if (st->kind == STEP_END) {
        loop_frame_t *f = &u->frames[st->depth];
        const step_t *block = &u->steps[st->end];
        if (++f->done < f->count) {
            if (block->block == BLOCK_FOR_EACH)
                frame_bind(u, block, f);
            u->pc = st->end + 1;
        } else {
            frame_clear(f);
        }
        return false;
    }
    bool go = true;
    char why[400];
    if (st->when && tmpl_truth(st->when, &u->env, &go, why, sizeof why) < 0) {
        snprintf(msg, sizeof msg, "when: %s", why);
        goto fail;
    }
    if (st->kind != STEP_BLOCK)
        return go;
    if (go && flow_enter(u, st, msg, sizeof msg) < 0)
        goto fail;
    if (!go || u->frames[st->depth].count == 0)
        u->pc = st->end + 1; /* skip the block */
    return false;
fail:;
    client_result_t res = {.failure = msg};
    record(e, u, st, &res);
    u->pc = u->n_steps; /* skip the rest of the task */
    u->failed_unsent = true;
    return false;
}

/* ---- users ------------------------------------------------------------------------------ */

static void user_free(engine_t *e, user_t *u)
{
    flow_release(u);
    loop_timer_release(&e->loop, &u->wake);
    loop_timer_release(&e->loop, &u->deadline);
    client_free(&u->client); /* an in-flight request is dropped (user_exit counted it) */
    for (uint32_t i = 0; i < u->uc->n_vars; i++)
        json_decref(u->vars[i]);
    free(u->vars);
    /* A finishing engine may outlive its worker's rows (a drain): it gives nothing back. */
    if (u->rows && !atomic_load(&e->quit_requested))
        datarows_user_end(e->cfg.rows, u->rows);
    free(u->rows);
    free(u);
}

/* The user is gone: an in-flight request is cancelled and counted as interrupted (not as a
 * request: nobody knows how it would have ended), memory released. */
static void user_exit(engine_t *e, user_t *u)
{
    if (!u->stopping)
        e->active[u->cls]--;
    uint32_t resends;
    const step_t *st = client_in_flight(&u->client, &resends);
    if (st) {
        stats_record_interrupted(e->counting, st->row);
        stats_record_resends(e->counting, st->row, resends);
    }
    user_t *last = e->users[--e->n_users];
    e->users[u->slot] = last;
    last->slot = u->slot;
    user_free(e, u);
    atomic_store_explicit(&e->user_count, (uint32_t)e->n_users, memory_order_relaxed);
}

static int user_pick_task(engine_t *e, user_t *u)
{
    const user_class_t *uc = u->uc;
    if (uc->sequential) {
        for (size_t k = 0; k < uc->n_tasks; k++) {
            size_t i = (u->next_task + k) % uc->n_tasks;
            if (uc->tasks[i].enabled) {
                u->next_task = (i + 1) % uc->n_tasks;
                return (int)i;
            }
        }
        return -1;
    }
    const double *cum = e->task_cum[u->cls];
    double total = cum[uc->n_tasks - 1];
    if (total <= 0)
        return -1;
    double x = rng_unit(&e->rng) * total;
    size_t lo = 0, hi = uc->n_tasks - 1;
    while (lo < hi) { /* first i with cum[i] > x */
        size_t mid = (lo + hi) / 2;
        if (cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    while (lo < uc->n_tasks && !uc->tasks[lo].enabled)
        lo++;
    return lo < uc->n_tasks ? (int)lo : -1;
}

static void user_begin(user_t *u, phase_t phase, const step_t *steps, size_t n)
{
    flow_release(u);
    u->phase = phase;
    u->steps = steps;
    u->n_steps = n;
    u->pc = 0;
}

/* Start the next task, or (no enabled task: a filtered-out class) idle a second. Returns
 * false when the user must wait on its wake timer. */
static bool user_start_task(engine_t *e, user_t *u)
{
    int t = user_pick_task(e, u);
    if (t < 0) {
        user_begin(u, PHASE_TASK, NULL, 0);
        u->waiting = true;
        loop_timer_arm(&e->loop, &u->wake, e->loop.now + 1.0);
        return false;
    }
    u->env.iteration++;
    u->task_start = e->loop.now;
    if (u->uc->wait.kind == WAIT_PACING || u->uc->wait.kind == WAIT_THROUGHPUT) {
        /* A fixed schedule: task k is due at the first task's start + k intervals. A user
         * that fell behind runs its tasks back to back until it is on time again. */
        u->intended = u->next_intended > 0 && u->next_intended <= e->loop.now ? u->next_intended
                                                                         : e->loop.now;
        u->next_intended = 0;
    }
    u->did_io = false;
    u->failed_unsent = false;
    user_begin(u, PHASE_TASK, u->uc->tasks[t].steps, u->uc->tasks[t].n_steps);
    return true;
}

/* When the next task may start, per the class's wait. */
static double user_next_task_at(engine_t *e, user_t *u)
{
    const wait_spec_t *w = &u->uc->wait;
    switch (w->kind) {
    case WAIT_NONE:
        return e->loop.now;
    case WAIT_CONSTANT:
        return e->loop.now + w->a;
    case WAIT_BETWEEN:
        return e->loop.now + w->a + rng_unit(&e->rng) * (w->b - w->a);
    case WAIT_PACING:
        return u->next_intended = u->intended + w->a;
    case WAIT_THROUGHPUT:
        return u->next_intended = w->a > 0 ? u->intended + 1.0 / w->a : e->loop.now;
    }
    return e->loop.now;
}

/* Advance u until it waits on a request or a timer, or is gone (freed: do not touch u
 * after this returns unless you know it still exists). */
static void user_run(engine_t *e, user_t *u)
{
    unsigned steps_this_turn = 0;
    for (;;) {
        if (u->pc < u->n_steps) {
            if (++steps_this_turn > FLOW_STEPS_PER_TURN) {
                loop_timer_arm(&e->loop, &u->wake, e->loop.now); /* user_wake goes on */
                return;
            }
            const step_t *st = &u->steps[u->pc++];
            if ((st->when || st->kind == STEP_BLOCK || st->kind == STEP_END) &&
                !flow_step(e, u, st))
                continue;
            if (st->kind == STEP_SLEEP) {
                if (st->sleep_s > 0) {
                    loop_timer_arm(&e->loop, &u->wake, e->loop.now + st->sleep_s);
                    return;
                }
                continue;
            }
            client_result_t res;
            if (client_send(&u->client, st, &u->env, &res) == CLIENT_PENDING) {
                u->did_io = true;
                return;
            }
            /* Finished at once (a template error, a refused connection). */
            record(e, u, st, &res);
            if (res.failure) {
                u->pc = u->n_steps; /* skip the rest of the task */
                u->failed_unsent = true;
            }
            continue;
        }
        /* The sequence is over. */
        if (u->phase == PHASE_ON_STOP) {
            user_exit(e, u);
            return;
        }
        if (u->stopping) {
            user_begin(u, PHASE_ON_STOP, u->uc->on_stop, u->uc->n_on_stop);
            continue;
        }
        if (u->phase == PHASE_TASK) {
            double at = user_next_task_at(e, u);
            if (u->did_io || !u->failed_unsent) {
                u->unsent_backoff_s = 0;
            } else {
                double b = u->unsent_backoff_s * 2;
                u->unsent_backoff_s = b < FAIL_BACKOFF_MIN_S ? FAIL_BACKOFF_MIN_S
                                    : b > FAIL_BACKOFF_MAX_S ? FAIL_BACKOFF_MAX_S : b;
                if (at < e->loop.now + u->unsent_backoff_s) {
                    at = e->loop.now + u->unsent_backoff_s;
                    u->next_intended = 0; /* a schedule starts again after the pause: no
                                             burst to catch up with the failed tasks */
                }
            }
            /* A task that sent nothing yields to the loop at least once, so a user
             * failing without I/O cannot starve the others. */
            if (at > e->loop.now || !u->did_io) {
                u->waiting = true;
                loop_timer_arm(&e->loop, &u->wake, at > e->loop.now ? at : e->loop.now);
                return;
            }
        }
        if (!user_start_task(e, u))
            return;
    }
}

/* The user's wake timer: a wait between tasks or a sleep step is over. */
static void user_wake(void *arg)
{
    user_t *u = arg;
    engine_t *e = u->e;
    if (u->waiting) {
        u->waiting = false;
        if (!user_start_task(e, u))
            return;
    }
    user_run(e, u);
}

/* The client finished the user's request. */
static void user_request_done(void *owner, const step_t *st, const client_result_t *res)
{
    user_t *u = owner;
    engine_t *e = u->e;
    record(e, u, st, res);
    if (res->failure)
        u->pc = u->n_steps; /* skip the rest of the task */
    user_run(e, u);
}

/* The stop timeout is reached: abort; a request in flight is counted as interrupted. */
static void user_deadline(void *arg)
{
    user_t *u = arg;
    user_exit(u->e, u);
}

/* Stop u: at once when timeout_s <= 0, else after its task and on_stop, aborted at the
 * deadline. May free u. */
static void user_stop(engine_t *e, user_t *u, double timeout_s)
{
    if (!u->stopping) {
        u->stopping = true;
        e->active[u->cls]--;
    } else if (timeout_s > 0) {
        return; /* already stopping gracefully: keep its deadline */
    }
    if (timeout_s <= 0) {
        user_exit(e, u);
        return;
    }
    loop_timer_arm(&e->loop, &u->deadline, e->loop.now + timeout_s);
    if (u->waiting) {
        loop_timer_disarm(&e->loop, &u->wake);
        u->waiting = false;
        user_begin(u, PHASE_ON_STOP, u->uc->on_stop, u->uc->n_on_stop);
        user_run(e, u);
    }
}

static int user_spawn(engine_t *e, uint32_t cls)
{
    if (VEC_RESERVE(e->users, e->cap_users, e->n_users + 1) < 0)
        return -1;
    const user_class_t *uc = &e->sc->classes[cls];
    user_t *u = calloc(1, sizeof *u);
    if (!u)
        return -1;
    u->e = e;
    u->cls = cls;
    u->uc = uc;
    u->vars = calloc(uc->n_vars ? uc->n_vars : 1, sizeof *u->vars);
    client_config_t cc = {
        .transports = &e->transports,
        .host_slot = cls,
        .host = e->class_host[cls],
        .vars = u->vars,
        .globals = NULL, /* users never write globals */
        .done = user_request_done,
        .owner = u,
    };
    if (!u->vars || loop_timer_init(&e->loop, &u->wake, user_wake, u) < 0 ||
        loop_timer_init(&e->loop, &u->deadline, user_deadline, u) < 0) {
        loop_timer_release(&e->loop, &u->wake);
        loop_timer_release(&e->loop, &u->deadline);
        free(u->vars);
        free(u);
        return -1;
    }
    /* Its data rows (datarows.h): a user with no unique row left does not start. */
    int rows = 0;
    if (uc->n_data_binds && e->cfg.rows) {
        u->rows = malloc(e->sc->n_data * sizeof *u->rows);
        rows = u->rows ? datarows_user_start(e->cfg.rows, uc, u->rows, u->vars, &e->rng) : -1;
    }
    if (rows) {
        free(u->rows);
        for (uint32_t i = 0; i < uc->n_vars; i++)
            json_decref(u->vars[i]);
        loop_timer_release(&e->loop, &u->wake);
        loop_timer_release(&e->loop, &u->deadline);
        free(u->vars);
        free(u);
        if (rows < 0)
            return -1;
        /* Given up until the next target: spawning must not spin on it. */
        e->target[cls]--;
        atomic_fetch_add(&e->rowless, 1);
        return 0;
    }
    client_init(&u->client, &cc);
    u->env = (tmpl_env_t){
        .globals = e->cfg.globals,
        .user_vars = u->vars,
        .user_id = e->cfg.index + 1 + e->spawned * e->cfg.n_engines,
        .worker_id = e->cfg.worker_id,
        .iteration = 0,
        .rng = &e->rng,
    };
    e->spawned++;
    u->slot = e->n_users;
    e->users[e->n_users++] = u;
    e->active[cls]++;
    atomic_store_explicit(&e->user_count, (uint32_t)e->n_users, memory_order_relaxed);
    user_begin(u, PHASE_ON_START, uc->on_start, uc->n_on_start);
    user_run(e, u);
    return 0;
}

/* ---- spawning --------------------------------------------------------------------------- */

static uint64_t missing_users(const engine_t *e)
{
    uint64_t n = 0;
    for (size_t c = 0; c < e->n_classes; c++)
        if (e->target[c] > e->active[c])
            n += e->target[c] - e->active[c];
    return n;
}

/* Smooth weighted round-robin over the missing counts: classes interleave in proportion. */
static int spawn_pick_class(engine_t *e)
{
    double total = 0;
    int best = -1;
    for (size_t c = 0; c < e->n_classes; c++) {
        if (e->target[c] <= e->active[c])
            continue;
        double miss = (double)(e->target[c] - e->active[c]);
        total += miss;
        e->credit[c] += miss;
        if (best < 0 || e->credit[c] > e->credit[best])
            best = (int)c;
    }
    if (best >= 0)
        e->credit[best] -= total;
    return best;
}

/* Users started in one loop iteration at most. Users due beyond it wait for the next
 * iteration, so a large spawn (-r 100000, or a loop that fell behind) never holds the loop:
 * running users' requests, commands and statistics hand-over go on between batches. */
#define SPAWN_BATCH 256

static void spawn_tick(void *arg)
{
    engine_t *e = arg;
    double interval = e->spawn_rate > 0 ? 1.0 / e->spawn_rate : 0;
    unsigned batch = 0;
    while (missing_users(e) > 0 && e->spawn_next <= e->loop.now && batch++ < SPAWN_BATCH) {
        int c = spawn_pick_class(e);
        if (c < 0 || user_spawn(e, (uint32_t)c) < 0) {
            e->spawn_next = e->loop.now + 1.0; /* out of memory: retry later */
            break;
        }
        e->spawn_next += interval;
    }
    /* Still behind: strictly after now, or this same round of timers would run us again. */
    if (missing_users(e) > 0)
        loop_timer_arm(&e->loop, &e->spawn,
                       e->spawn_next > e->loop.now ? e->spawn_next : e->loop.now + 1e-6);
    else
        loop_timer_disarm(&e->loop, &e->spawn);
}

static void apply_target(engine_t *e, const uint32_t *targets, double rate)
{
    memcpy(e->target, targets, e->n_classes * sizeof *e->target);
    atomic_store(&e->rowless, 0);
    e->spawn_rate = rate;
    /* Surplus users: the most recently spawned first (the array is roughly spawn order). */
    for (size_t c = 0; c < e->n_classes; c++) {
        for (size_t i = e->n_users; i-- > 0 && e->active[c] > e->target[c];) {
            if (i >= e->n_users)
                continue;
            user_t *u = e->users[i];
            if (u->cls == c && !u->stopping)
                user_stop(e, u, e->cfg.stop_timeout_s);
        }
    }
    if (missing_users(e) == 0) {
        loop_timer_disarm(&e->loop, &e->spawn);
        return;
    }
    if (!loop_timer_armed(&e->spawn)) {
        memset(e->credit, 0, e->n_classes * sizeof *e->credit);
        e->spawn_next = e->loop.now; /* the first user at once */
        spawn_tick(e);
    } else {
        /* Already spawning: a faster rate takes effect now, not after the old interval. */
        double next = rate > 0 ? e->loop.now + 1.0 / rate : e->loop.now;
        if (next < e->spawn_next) {
            e->spawn_next = next;
            loop_timer_arm(&e->loop, &e->spawn, next);
        }
    }
}

static void stop_all(engine_t *e, double timeout_s)
{
    memset(e->target, 0, e->n_classes * sizeof *e->target);
    loop_timer_disarm(&e->loop, &e->spawn);
    /* From the end: a user that exits is replaced by the last one, already visited. */
    for (size_t i = e->n_users; i-- > 0;) {
        if (i >= e->n_users)
            continue;
        user_stop(e, e->users[i], timeout_s);
    }
}

/* ---- commands --------------------------------------------------------------------------- */

static void post_cmd(engine_t *e, cmd_t *c)
{
    pthread_mutex_lock(&e->mu);
    if (e->cmd_tail)
        e->cmd_tail->next = c;
    else
        e->cmd_head = c;
    e->cmd_tail = c;
    pthread_mutex_unlock(&e->mu);
    uint64_t one = 1;
    ssize_t n = write(e->evfd, &one, sizeof one);
    (void)n; /* EAGAIN: the counter is already non-zero, the engine will wake anyway */
}

static void process_commands(engine_t *e)
{
    uint64_t v;
    ssize_t n = read(e->evfd, &v, sizeof v);
    (void)n;
    pthread_mutex_lock(&e->mu);
    cmd_t *c = e->cmd_head;
    e->cmd_head = e->cmd_tail = NULL;
    pthread_mutex_unlock(&e->mu);
    while (c) {
        cmd_t *next = c->next;
        switch (c->kind) {
        case CMD_TARGET:
            apply_target(e, c->targets, c->rate);
            break;
        case CMD_STOP:
            stop_all(e, e->cfg.stop_timeout_s);
            break;
        }
        free(c);
        c = next;
    }
    serve_flush(e);
    if (atomic_load(&e->quit_requested))
        e->quit = true;
}

/* ---- the thread ------------------------------------------------------------------------- */

static void on_doorbell(void *arg, int fd, uint32_t events)
{
    (void)fd;
    (void)events;
    process_commands(arg);
}

static void *engine_main(void *arg)
{
    engine_t *e = arg;
    loop_refresh_clock(&e->loop);
    while (!e->quit)
        loop_run_once(&e->loop, 1000);
    stop_all(e, 0);
    return NULL;
}

/* ---- public ----------------------------------------------------------------------------- */

static void engine_free(engine_t *e)
{
    if (!e)
        return;
    /* Users before the transports (their conns live on them), transports before the loop
     * (curl closes its cached connections through it). */
    for (size_t i = e->n_users; i-- > 0;)
        user_free(e, e->users[i]);
    free(e->users);
    transports_destroy(&e->transports);
    loop_timer_release(&e->loop, &e->spawn);
    if (e->loop.epfd >= 0)
        loop_free(&e->loop);
    if (e->evfd >= 0)
        close(e->evfd);
    for (cmd_t *c = e->cmd_head; c;) {
        cmd_t *next = c->next;
        free(c);
        c = next;
    }
    if (e->task_cum)
        for (size_t c = 0; c < e->n_classes; c++)
            free(e->task_cum[c]);
    free(e->task_cum);
    free(e->class_host);
    free(e->class_tls);
    free(e->target);
    free(e->active);
    free(e->credit);
    stats_free(&e->tables[0]);
    stats_free(&e->tables[1]);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->collect_mu);
    pthread_cond_destroy(&e->cond);
    free(e);
}

int engine_create(const engine_config_t *cfg, engine_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg || !cfg->sc || cfg->sc->n_classes == 0 || cfg->n_engines == 0) {
        snprintf(err, errlen, "engine: invalid configuration");
        return -1;
    }
    engine_t *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    e->cfg = *cfg;
    /* The caller's text may not outlive the engine (prep.c's copy goes with the prep). */
    snprintf(e->worker_id, sizeof e->worker_id, "%s", cfg->worker_id ? cfg->worker_id : "");
    e->cfg.worker_id = e->worker_id;
    e->sc = cfg->sc;
    e->n_classes = cfg->sc->n_classes;
    e->loop.epfd = e->evfd = -1;
    e->rng = rng_seed((uintptr_t)e ^ (cfg->index + 1));
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->collect_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cond, &ca);
    pthread_condattr_destroy(&ca);

    size_t nc = e->n_classes;
    e->class_host = calloc(nc, sizeof *e->class_host);
    e->class_tls = calloc(nc, sizeof *e->class_tls);
    e->task_cum = calloc(nc, sizeof *e->task_cum);
    e->target = calloc(nc, sizeof *e->target);
    e->active = calloc(nc, sizeof *e->active);
    e->credit = calloc(nc, sizeof *e->credit);
    if (!e->class_host || !e->class_tls || !e->task_cum || !e->target || !e->active || !e->credit)
        goto oom;
    for (size_t c = 0; c < nc; c++) {
        const user_class_t *uc = &e->sc->classes[c];
        e->class_host[c] = scenario_class_host(e->sc, uc, cfg->host_override);
        e->class_tls[c] = tls_opts_from(&uc->tls);
        e->task_cum[c] = calloc(uc->n_tasks ? uc->n_tasks : 1, sizeof(double));
        if (!e->task_cum[c])
            goto oom;
        double sum = 0;
        for (size_t t = 0; t < uc->n_tasks; t++) {
            if (uc->tasks[t].enabled && uc->tasks[t].weight > 0)
                sum += uc->tasks[t].weight;
            e->task_cum[c][t] = sum;
        }
    }
    if (table_init_rows(&e->tables[0], e->sc, err, errlen) < 0 ||
        table_init_rows(&e->tables[1], e->sc, err, errlen) < 0) {
        engine_free(e);
        return -1;
    }
    e->counting = &e->tables[0];
    e->spare = &e->tables[1];

    char msg[256];
    if (loop_init(&e->loop, msg, sizeof msg) < 0) {
        e->loop.epfd = -1;
        snprintf(err, errlen, "engine: %s", msg);
        engine_free(e);
        return -1;
    }
    /* Host slot c is class c: the native transport resolves each class's host once. */
    if (loop_timer_init(&e->loop, &e->spawn, spawn_tick, e) < 0)
        goto oom;
    if (transports_create(&e->transports, &e->loop, e->class_host, e->class_tls, nc, msg,
                          sizeof msg) < 0) {
        snprintf(err, errlen, "engine: %s", msg);
        engine_free(e);
        return -1;
    }
    e->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = e->evfd };
    if (e->evfd < 0 || loop_fd_set(&e->loop, e->evfd, on_doorbell, e) < 0 ||
        epoll_ctl(e->loop.epfd, EPOLL_CTL_ADD, e->evfd, &ev) < 0) {
        snprintf(err, errlen, "engine: eventfd: %s", strerror(errno));
        engine_free(e);
        return -1;
    }

    int rc = pthread_create(&e->thread, NULL, engine_main, e);
    if (rc != 0) {
        snprintf(err, errlen, "engine: pthread_create: %s", strerror(rc));
        engine_free(e);
        return -1;
    }
    e->thread_started = true;
    *out = e;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    engine_free(e);
    return -1;
}

void engine_destroy(engine_t *e)
{
    engine_finish(e, NULL);
}

int engine_finish(engine_t *e, stats_table_t *dst)
{
    if (!e)
        return 0;
    if (e->thread_started) {
        atomic_store(&e->quit_requested, true);
        uint64_t one = 1;
        ssize_t n = write(e->evfd, &one, sizeof one);
        (void)n;
        pthread_join(e->thread, NULL);
        e->thread_started = false;
    }
    /* The thread is gone: whatever it counted and nobody collected is ours to hand over. */
    int rc = 0;
    if (dst && e->published && stats_merge(dst, e->published) < 0)
        rc = -1;
    if (dst && e->counting && e->counting != e->published && stats_merge(dst, e->counting) < 0)
        rc = -1;
    engine_free(e);
    return rc;
}

void engine_set_target(engine_t *e, const uint32_t *users_per_class, double spawn_rate)
{
    cmd_t *c = calloc(1, sizeof *c + e->n_classes * sizeof(uint32_t));
    if (!c)
        return;
    c->kind = CMD_TARGET;
    c->rate = isfinite(spawn_rate) ? spawn_rate : 0;
    memcpy(c->targets, users_per_class, e->n_classes * sizeof(uint32_t));
    post_cmd(e, c);
}

void engine_stop(engine_t *e)
{
    cmd_t *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->kind = CMD_STOP;
    post_cmd(e, c);
}

double engine_busy(engine_t *e)
{
    double now = clock_mono_s();
    uint64_t idle = atomic_load_explicit(&e->loop.idle_us, memory_order_relaxed);
    double busy = -1;
    if (e->busy_mark_s > 0 && now > e->busy_mark_s) {
        double idle_s = (double)(idle - e->busy_mark_idle_us) / 1e6;
        busy = 1.0 - idle_s / (now - e->busy_mark_s);
        busy = busy < 0 ? 0 : busy > 1 ? 1 : busy;
    }
    e->busy_mark_s = now;
    e->busy_mark_idle_us = idle;
    return busy;
}

uint32_t engine_rowless_count(const engine_t *e)
{
    return atomic_load(&((engine_t *)e)->rowless);
}

uint32_t engine_user_count(const engine_t *e)
{
    return atomic_load_explicit(&((engine_t *)e)->user_count, memory_order_relaxed);
}

int engine_collect(engine_t *e, stats_table_t *dst, int timeout_ms)
{
    pthread_mutex_lock(&e->collect_mu);
    pthread_mutex_lock(&e->mu);
    uint64_t want = ++e->flush_req;
    pthread_mutex_unlock(&e->mu);
    uint64_t one = 1;
    ssize_t w = write(e->evfd, &one, sizeof one);
    (void)w;

    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    if (timeout_ms < 0)
        timeout_ms = 0;
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    stats_table_t *t = NULL;
    pthread_mutex_lock(&e->mu);
    while (e->flush_done < want) {
        if (pthread_cond_timedwait(&e->cond, &e->mu, &dl) == ETIMEDOUT)
            break;
    }
    if (e->flush_done >= want) {
        t = e->published;
        e->published = NULL;
    }
    pthread_mutex_unlock(&e->mu);
    if (!t) {
        pthread_mutex_unlock(&e->collect_mu);
        return -1;
    }
    int rc = stats_merge(dst, t);
    pthread_mutex_lock(&e->mu);
    if (rc == 0) {
        stats_reset(t);
        e->spare = t;
    } else {
        e->published = t; /* merge failed (out of memory): hand it over again next time */
    }
    pthread_mutex_unlock(&e->mu);
    pthread_mutex_unlock(&e->collect_mu);
    return rc == 0 ? 0 : -1;
}

