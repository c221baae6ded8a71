/*
 * fuzz_wire — what the master does with bytes that reach its port: the envelope decoded
 * under the decoding budget (wire_decode, as wire_recv after receiving), then handed to a
 * running test (run_message) as a message from a worker it knows and from one it does not:
 * a Report's rows are validated and merged into the statistics, a Log's lines kept, a
 * Hello registers. Between inputs the run is made anew, so every input meets the same test.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/log.h"
#include "../../common/scenario.h"
#include "../../common/wire.h"
#include "../../master/options.h"
#include "../../master/run.h"

static const char SCENARIO[] =
    "host: http://127.0.0.1:9\n"
    "users:\n"
    "  - name: Browser\n"
    "    weight: 4\n"
    "    tasks:\n"
    "      - steps:\n"
    "          - get: /\n"
    "          - post: /buy\n"
    "  - name: Buyer\n"
    "    weight: 1\n"
    "    tasks:\n"
    "      - steps:\n"
    "          - get: /items\n";

#define T0 1000.0
#define WALL0 1700000000.0
static const char KNOWN[] = "aaaaaaaa-1111-4111-8111-111111111111";
static const char OTHER[] = "bbbbbbbb-2222-4222-8222-222222222222";

static scenario_t *sc;
static master_options_t o;

static void no_send(void *ctx, const worker_t *w, Herd__Envelope *env)
{
    (void)ctx;
    (void)w;
    (void)env;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[512];
    if (log_setup("master", LOG_DEBUG, "/dev/null", err, sizeof err) < 0 ||
        scenario_load_text(SCENARIO, strlen(SCENARIO), "fuzz.yaml", &sc, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz_wire: %s\n", err);
        exit(1);
    }
    log_keep_recent();   /* as the web UI's master: Log messages are kept */
    o.file = "fuzz.yaml";
    o.users = 10;
    o.spawn_rate = 5;
    o.heartbeat_liveness = 3;
    o.exit_code_on_error = 1;
    return 0;
}

static void hello(run_t *r, const char *id, double now)
{
    Herd__Hello h = HERD__HELLO__INIT;
    h.worker_id = (char *)id;
    h.hostname = "loadhost";
    h.threads = 2;
    h.pid = 4242;
    h.cores = 4;
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    run_message(r, id, strlen(id), &env, now);
}

/* Run id 1 in a message stands for the run in force (a fuzzer would not guess it). */
static void fix_run_id(Herd__Envelope *env, uint64_t id)
{
    uint64_t *p = NULL;
    switch (env->body_case) {
    case HERD__ENVELOPE__BODY_REPORT: p = &env->report->run_id; break;
    case HERD__ENVELOPE__BODY_HEARTBEAT: p = &env->heartbeat->run_id; break;
    case HERD__ENVELOPE__BODY_SPAWNED: p = &env->spawned->run_id; break;
    case HERD__ENVELOPE__BODY_STOPPED: p = &env->stopped->run_id; break;
    default: break;
    }
    if (p && *p == 1)
        *p = id;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    Herd__Envelope *env = wire_decode(data, size, err, sizeof err);
    if (!env)
        return 0;
    run_config_t cfg = {.o = &o, .sc = sc, .scenario_text = SCENARIO, .expect_workers = 1,
                        .connect_wait_what = "--expect-workers-max-wait"};
    run_io_t io = {.send = no_send};
    run_params_t p = {.users = 10, .spawn_rate = 5};
    run_t r;
    double now = T0;
    if (run_init(&r, &cfg, &io, &p, now, WALL0, err, sizeof err) < 0) {
        wire_free(env);
        return 0;
    }
    hello(&r, KNOWN, now);
    for (int i = 0; i < 8; i++)
        run_tick(&r, now += 0.125);          /* running: the worker has its users */
    fix_run_id(env, r.run_id);
    run_message(&r, KNOWN, sizeof KNOWN - 1, env, now);
    run_tick(&r, now += 0.125);
    run_message(&r, OTHER, sizeof OTHER - 1, env, now);
    run_message(&r, KNOWN, sizeof KNOWN - 1, env, now);   /* again: a duplicate */
    for (int i = 0; i < 16; i++)
        run_tick(&r, now += 0.125);
    run_stop(&r, now, err, sizeof err);
    for (int i = 0; i < 8; i++)
        run_tick(&r, now += 0.125);
    run_free(&r);
    wire_free(env);
    return 0;
}
