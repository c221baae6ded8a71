/*
 * config — herd-sample-services' command line: the flags, their defaults and their checks.
 */
#ifndef HERD_SVC_CONFIG_H
#define HERD_SVC_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "http.h"
#include "state.h"

enum { SVC_PROFILE, SVC_MATCHMAKING, SVC_ITEM, SVC_TRADEPOST, SVC_COUNT };

typedef struct svc_config {
    const char *bind;          /* points into argv or a literal */
    uint16_t ports[SVC_COUNT]; /* 0 = any free port */
    state_seed_t seed;
    http_trouble_t trouble;
    unsigned threads;          /* libmicrohttpd pool size per service */
} svc_config_t;

enum { CONFIG_OK, CONFIG_HELP, CONFIG_VERSION, CONFIG_ERROR };

/* Fills cfg from argv (both "--flag value" and "--flag=value"). CONFIG_ERROR leaves one line
 * naming the flag and what it wants in err. */
int config_parse(int argc, char **argv, svc_config_t *cfg, char *err, size_t errlen);
void config_usage(FILE *f);

#endif
