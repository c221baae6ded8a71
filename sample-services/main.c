/*
 * herd-sample-services — one process serving the four gaming services from one in-memory
 * state, so herd can be tried and tested on one machine. main owns the lifecycle: flags,
 * seeding, listening (every port is bound before anything is served, so a port in use fails
 * fast), the ready line tests wait for, and a clean stop on SIGINT/SIGTERM.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "../common/cli.h"
#include "config.h"
#include "delay.h"
#include "http.h"
#include "service.h"
#include "state.h"
#include "tally.h"

static const svc_service_t *const services[SVC_COUNT] = {&svc_profile, &svc_matchmaking,
                                                          &svc_item, &svc_tradepost};

/* Thousands of keep-alive connections need file descriptors; take what the hard limit allows. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    svc_config_t cfg;
    char err[256];
    switch (config_parse(argc, argv, &cfg, err, sizeof err)) {
    case CONFIG_HELP:
        config_usage(stdout);
        return 0;
    case CONFIG_VERSION:
        cli_print_version(stdout, "herd-sample-services");
        return 0;
    case CONFIG_ERROR:
        fprintf(stderr, "herd-sample-services: %s\n", err);
        return 2;
    }

    /* Signals are taken by sigwait below; every thread started from here inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    http_server_t servers[SVC_COUNT];
    const char *names[SVC_COUNT];
    for (int i = 0; i < SVC_COUNT; i++) {
        servers[i] = (http_server_t){.service = services[i], .service_index = i, .fd = -1};
        names[i] = services[i]->name;
    }
    int rc = 1, i;
    for (i = 0; i < SVC_COUNT; i++)
        if (http_listen(&servers[i], cfg.bind, cfg.ports[i], err, sizeof err) < 0)
            goto fail;
    if (state_init(&cfg.seed, err, sizeof err) < 0)
        goto fail;
    tally_init(names, SVC_COUNT);
    http_configure(&cfg.trouble);
    if (delay_start(err, sizeof err) < 0)
        goto fail;
    for (i = 0; i < SVC_COUNT; i++)
        if (http_start(&servers[i], cfg.threads, err, sizeof err) < 0)
            goto fail;

    printf("herd-sample-services ready profile=%u matchmaking=%u item=%u tradepost=%u\n",
           servers[SVC_PROFILE].port, servers[SVC_MATCHMAKING].port, servers[SVC_ITEM].port,
           servers[SVC_TRADEPOST].port);
    fflush(stdout);

    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;
    rc = 0;
    goto stop;
fail:
    fprintf(stderr, "herd-sample-services: %s\n", err);
stop:
    /* Resume delayed connections first: MHD must not be stopped with suspended ones. */
    delay_stop();
    for (i = 0; i < SVC_COUNT; i++)
        http_stop(&servers[i]);
    state_free();
    return rc;
}
