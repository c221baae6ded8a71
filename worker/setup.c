/*
 * setup — the setup steps on a private loop. See setup.h.
 */
#include "setup.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "../common/rng.h"
#include "client.h"
#include "loop.h"
#include "transport.h"

typedef struct pending {
    bool done;
    client_result_t res;
    char msg[512];         /* the failure message, copied out of the client */
} pending_t;

static void on_done(void *owner, const step_t *st, const client_result_t *res)
{
    (void)st;
    pending_t *p = owner;
    p->done = true;
    p->res = *res;
    if (res->failure) {
        snprintf(p->msg, sizeof p->msg, "%s", res->failure);
        p->res.failure = p->msg;
    }
}

static void sleep_s(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - floor(s)) * 1e9) };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int setup_run(const scenario_t *sc, const char *host_override, const char *worker_id,
              json_t **globals, char *err, size_t errlen)
{
    if (sc->n_setup == 0)
        return 0;
    char msg[512];
    const char *host = scenario_class_host(sc, NULL, host_override);
    tls_opts_t tls = tls_opts_from(&sc->tls);
    loop_t loop;
    transports_t ts = { .n = 0 };
    client_t cl;
    bool have_client = false;
    int ret = -1;
    if (loop_init(&loop, msg, sizeof msg) < 0) {
        snprintf(err, errlen, "setup: %s", msg);
        return -1;
    }
    pending_t p = { 0 };
    client_config_t cfg = {
        .transports = &ts,
        .host_slot = 0,
        .host = host,
        .vars = NULL,
        .globals = globals,
        .done = on_done,
        .owner = &p,
    };
    if (transports_create(&ts, &loop, &host, &tls, 1, msg, sizeof msg) < 0) {
        snprintf(err, errlen, "setup: %s", msg);
        goto out;
    }
    client_init(&cl, &cfg);
    have_client = true;
    uint64_t rng = rng_seed((uintptr_t)&cl);
    tmpl_env_t env = {
        .globals = globals,
        .user_vars = NULL,
        .user_id = 0,
        .worker_id = worker_id,
        .iteration = 0,
        .rng = &rng,
    };
    for (size_t i = 0; i < sc->n_setup; i++) {
        const step_t *st = &sc->setup[i];
        if (st->kind == STEP_SLEEP) {
            sleep_s(st->sleep_s);
            continue;
        }
        p.done = false;
        if (client_send(&cl, st, &env, &p.res) == CLIENT_PENDING) {
            while (!p.done)
                if (loop_run_once(&loop, 100) < 0) {
                    snprintf(err, errlen, "setup: epoll_wait failed");
                    goto out;
                }
        }
        if (p.res.failure) {
            snprintf(err, errlen, "setup step %s %s failed: %s", http_method_names[st->method],
                     st->name, p.res.failure);
            goto out;
        }
    }
    ret = 0;
out:
    if (have_client)
        client_free(&cl);
    transports_destroy(&ts);
    loop_free(&loop);
    return ret;
}
