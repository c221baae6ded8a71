#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void config_usage(FILE *f)
{
    fputs("Usage: herd-sample-services [options]\n"
          "\n"
          "In-memory stand-in for the gaming services (profile, matchmaking, item, tradepost).\n"
          "\n"
          "Options:\n"
          "  --bind ADDR               address to listen on (default 127.0.0.1)\n"
          "  --profile-port N          profile service port (default 8080; 0 = any free port)\n"
          "  --matchmaking-port N      matchmaking service port (default 8081)\n"
          "  --item-port N             item service port (default 8082)\n"
          "  --tradepost-port N        tradepost service port (default 8083)\n"
          "  --seed-players N          players created at start, 1000.00 each (default 1000)\n"
          "  --seed-items N            items created at start (default 100)\n"
          "  --seed-games N            open games of up to 100 players at start (default 5)\n"
          "  --seed-player-items N     items owned by players in a game (default 1000)\n"
          "  --delay-ms N              latency added to every answer (default 0)\n"
          "  --delay-jitter-ms N       plus a random 0..N ms (default 0)\n"
          "  --error-rate P            share of requests answered 500 (0..1, default 0)\n"
          "  --drop-rate P             share of connections closed unanswered (0..1, default 0)\n"
          "  --threads N               HTTP threads per service (default: CPU cores)\n"
          "  -V, --version             print the version and exit\n"
          "  -h, --help                this text\n"
          "\n"
          "Prints 'herd-sample-services ready profile=P matchmaking=P item=P tradepost=P' once\n"
          "listening. Test routes on every port: GET /__stats, POST /__reset, GET /__invariants.\n",
          f);
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    if (!*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    errno = 0;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_rate(const char *s, double *out)
{
    if (!*s || *s == ' ')
        return -1;
    char *end;
    double v = strtod(s, &end);
    if (*end || !(v >= 0.0 && v <= 1.0))
        return -1;
    *out = v;
    return 0;
}

int config_parse(int argc, char **argv, svc_config_t *cfg, char *err, size_t errlen)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    *cfg = (svc_config_t){
        .bind = "127.0.0.1",
        .ports = {8080, 8081, 8082, 8083},
        .seed = {.players = 1000, .items = 100, .games = 5, .player_items = 1000},
        .threads = cores > 0 ? (unsigned)cores : 2,
    };
    static const char *const port_flags[SVC_COUNT] = {"--profile-port", "--matchmaking-port",
                                                      "--item-port", "--tradepost-port"};
    for (int i = 1; i < argc; i++) {
        char flag[64];
        const char *arg = argv[i], *value = NULL;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return CONFIG_HELP;
        if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0)
            return CONFIG_VERSION;
        const char *eq = strchr(arg, '=');
        size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
        if (strncmp(arg, "--", 2) != 0 || n >= sizeof flag) {
            snprintf(err, errlen, "unknown option '%s' (see --help)", arg);
            return CONFIG_ERROR;
        }
        memcpy(flag, arg, n);
        flag[n] = '\0';
        if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        }
        unsigned long u;
        int known = 1, bad = 0;
        const char *wants = "";
        int port = -1;
        for (int k = 0; k < SVC_COUNT; k++)
            if (strcmp(flag, port_flags[k]) == 0)
                port = k;
        if (!value) {
            known = strcmp(flag, "--bind") == 0 || port >= 0 || strncmp(flag, "--seed-", 7) == 0 ||
                    strcmp(flag, "--delay-ms") == 0 ||
                    strcmp(flag, "--delay-jitter-ms") == 0 || strcmp(flag, "--error-rate") == 0 ||
                    strcmp(flag, "--drop-rate") == 0 || strcmp(flag, "--threads") == 0;
            if (known) {
                snprintf(err, errlen, "option %s wants a value", flag);
                return CONFIG_ERROR;
            }
        } else if (strcmp(flag, "--bind") == 0) {
            bad = !*value, wants = "an address";
            cfg->bind = value;
        } else if (port >= 0) {
            bad = parse_uint(value, 65535, &u) < 0, wants = "a port number from 0 to 65535";
            cfg->ports[port] = (uint16_t)u;
        } else if (strncmp(flag, "--seed-", 7) == 0) {
            uint32_t *dst = strcmp(flag, "--seed-players") == 0        ? &cfg->seed.players
                            : strcmp(flag, "--seed-items") == 0        ? &cfg->seed.items
                            : strcmp(flag, "--seed-games") == 0        ? &cfg->seed.games
                            : strcmp(flag, "--seed-player-items") == 0 ? &cfg->seed.player_items
                                                                       : NULL;
            known = dst != NULL;
            bad = parse_uint(value, 10000000, &u) < 0, wants = "a count from 0 to 10000000";
            if (dst)
                *dst = (uint32_t)u;
        } else if (strcmp(flag, "--delay-ms") == 0 || strcmp(flag, "--delay-jitter-ms") == 0) {
            bad = parse_uint(value, 600000, &u) < 0, wants = "milliseconds from 0 to 600000";
            *(strcmp(flag, "--delay-jitter-ms") == 0 ? &cfg->trouble.delay_jitter_ms
                                                     : &cfg->trouble.delay_ms) =
                (unsigned)u;
        } else if (strcmp(flag, "--error-rate") == 0) {
            bad = parse_rate(value, &cfg->trouble.error_rate) < 0, wants = "a share from 0 to 1";
        } else if (strcmp(flag, "--drop-rate") == 0) {
            bad = parse_rate(value, &cfg->trouble.drop_rate) < 0, wants = "a share from 0 to 1";
        } else if (strcmp(flag, "--threads") == 0) {
            bad = parse_uint(value, 1024, &u) < 0 || u == 0, wants = "a number from 1 to 1024";
            cfg->threads = (unsigned)u;
        } else {
            known = 0;
        }
        if (!known) {
            snprintf(err, errlen, "unknown option '%s' (see --help)", flag);
            return CONFIG_ERROR;
        }
        if (bad) {
            snprintf(err, errlen, "option %s wants %s, got '%s'", flag, wants, value);
            return CONFIG_ERROR;
        }
    }
    return CONFIG_OK;
}
