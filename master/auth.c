#include "auth.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "../common/clock.h"
#include "../common/curve.h"
#include "../common/log.h"

#define AUTH_MONITOR_EP "inproc://herd-auth-monitor"
#define AUTH_LOG_INTERVAL_S 60.0
#define AUTH_PEERS 64            /* addresses tracked at once; the rest share one entry */
#define AUTH_EVENTS (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | \
                     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)

typedef struct refused_peer {
    bool used;
    char addr[64];               /* the peer's IP address, without its port */
    double since;                /* its last line */
    uint64_t count;              /* refusals since then, not logged yet */
    char why[160];               /* the last one's reason */
} refused_peer_t;

struct auth {
    curve_keys_t keys;
    char dir[4096];
    void *ctx;                   /* czmq's */
    void *zauth;                 /* czmq's zauth actor (curve.h) */
    void *mon;                   /* PAIR connected to the router's monitor */
    refused_peer_t peers[AUTH_PEERS + 1]; /* the last: every address beyond AUTH_PEERS */
};

auth_t *auth_new(const char *key_path, const char *authorized_dir, char *err, size_t errlen)
{
    auth_t *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    bool loose = false;
    long n;
    if (curve_load_secret(key_path, &a->keys, &loose, err, errlen) < 0 ||
        (n = curve_count_authorized(authorized_dir, err, errlen)) < 0) {
        free(a);
        return NULL;
    }
    if (loose)
        log_warn("--curve-key %s may be read by other users of this host: chmod 600 it",
                 key_path);
    snprintf(a->dir, sizeof a->dir, "%s", authorized_dir);
    a->ctx = curve_czmq_context();
    if (!a->ctx) {
        snprintf(err, errlen, "cannot start ZeroMQ (czmq)");
        free(a);
        return NULL;
    }
    log_info("Workers' channel secured with CurveZMQ: master key %.8s..., %ld authorized "
             "worker key%s in %s", a->keys.public_txt, n, n == 1 ? "" : "s", authorized_dir);
    return a;
}

void *auth_context(auth_t *a)
{
    return a->ctx;
}

int auth_apply(auth_t *a, void *router, char *err, size_t errlen)
{
    a->zauth = curve_zauth_start(a->dir);
    if (!a->zauth) {
        snprintf(err, errlen, "cannot start the authentication of workers (czmq zauth)");
        return -1;
    }
    int one = 1;
    if (zmq_setsockopt(router, ZMQ_CURVE_SERVER, &one, sizeof one) < 0 ||
        zmq_setsockopt(router, ZMQ_CURVE_SECRETKEY, a->keys.secret_txt, 40) < 0 ||
        zmq_setsockopt(router, ZMQ_CURVE_PUBLICKEY, a->keys.public_txt, 40) < 0 ||
        zmq_setsockopt(router, ZMQ_ZAP_DOMAIN, "herd", 4) < 0) {
        snprintf(err, errlen, "cannot secure the workers' socket: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    if (zmq_socket_monitor(router, AUTH_MONITOR_EP, AUTH_EVENTS) < 0 ||
        !(a->mon = zmq_socket(a->ctx, ZMQ_PAIR)) || zmq_connect(a->mon, AUTH_MONITOR_EP) < 0) {
        snprintf(err, errlen, "cannot watch the workers' socket: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

void *auth_monitor(auth_t *a)
{
    return a->mon;
}

/* "tcp://10.1.2.3:40000" -> "10.1.2.3", "tcp://[::1]:40000" -> "::1". */
static void peer_address(const char *ep, size_t len, char *out, size_t outlen)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf - 1 ? len : sizeof buf - 1), ep);
    char *s = strstr(buf, "://");
    s = s ? s + 3 : buf;
    char *colon = strrchr(s, ':');
    if (colon && strchr(s, ':') != colon && s[0] != '[')
        colon = NULL;   /* a bare IPv6 address without a port */
    if (colon)
        *colon = '\0';
    if (s[0] == '[') {
        s++;
        char *b = strchr(s, ']');
        if (b)
            *b = '\0';
    }
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    snprintf(out, outlen, "%.63s", *s ? s : "an unknown address");
}

static const char *reason(uint16_t event, uint32_t value)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        return value == 400 ? "its key is not in --curve-authorized"
                            : "its key was not accepted (ZAP refused it)";
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
            return "it offered no CurveZMQ key (a herd-worker without --curve-key?)";
        if (value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC)
            return "its handshake could not be decrypted (a worker whose --curve-master is "
                   "another master's key?)";
        return "its handshake broke ZeroMQ's protocol";
    }
    return "its handshake failed";
}

static void refusal(auth_t *a, const char *addr, const char *why, double now)
{
    refused_peer_t *p = NULL, *free_slot = NULL;
    for (size_t i = 0; i < AUTH_PEERS && !p; i++) {
        if (a->peers[i].used && strcmp(a->peers[i].addr, addr) == 0)
            p = &a->peers[i];
        else if (!a->peers[i].used && !free_slot)
            free_slot = &a->peers[i];
    }
    if (!p && !(p = free_slot))
        p = &a->peers[AUTH_PEERS];
    if (p->used) {
        p->count++;
        snprintf(p->why, sizeof p->why, "%s", why);
        if (p == &a->peers[AUTH_PEERS])
            snprintf(p->addr, sizeof p->addr, "%s", addr);
        return;
    }
    *p = (refused_peer_t){.used = true, .since = now};
    snprintf(p->addr, sizeof p->addr, "%s", addr);
    log_warn("Refused a worker connection from %s%s: %s (more from it are counted and logged "
             "once a minute)", p == &a->peers[AUTH_PEERS] ? "another address, " : "", addr, why);
}

static void auth_flush(auth_t *a, double now, bool all)
{
    for (size_t i = 0; i <= AUTH_PEERS; i++) {
        refused_peer_t *p = &a->peers[i];
        if (!p->used || (!all && now - p->since < AUTH_LOG_INTERVAL_S))
            continue;
        if (p->count) {
            log_warn("%" PRIu64 " more refused worker connection%s from %s%s%s in the last "
                     "%.0f s (the last: %s)", p->count, p->count == 1 ? "" : "s",
                     i == AUTH_PEERS ? "other addresses (the last from " : "", p->addr,
                     i == AUTH_PEERS ? ")" : "", now - p->since, p->why);
            p->count = 0;
            p->since = now;
        } else {
            p->used = false;
        }
    }
}

void auth_on_monitor(auth_t *a, double now)
{
    uint16_t event;
    uint32_t value;
    char ep[128];
    for (int i = 0; a->mon && i < 10000 &&
                    curve_monitor_recv(a->mon, &event, &value, ep, sizeof ep) == 0; i++) {
        char peer[64];
        peer_address(ep, strlen(ep), peer, sizeof peer);
        if (event & AUTH_EVENTS)
            refusal(a, peer, reason(event, value), now);
    }
    auth_flush(a, now, false);
}

void auth_free(auth_t *a)
{
    if (!a)
        return;
    auth_flush(a, clock_mono_s(), true);
    if (a->mon)
        zmq_close(a->mon);
    void *zauth = a->zauth;
    free(a);
    curve_zauth_stop_all(zauth);
}
