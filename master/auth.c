#include "auth.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include "../common/clock.h"
#include "../common/curve.h"
#include "../common/log.h"

#define AUTH_MONITOR_EP "inproc://herd-auth-monitor"
#define AUTH_LOG_INTERVAL_S 60.0
#define AUTH_PEERS 64            /* addresses tracked at once; the rest share one entry */
#define AUTH_FAILED (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | \
                     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
#define AUTH_EVENTS (AUTH_FAILED | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED)
#define AUTH_CONNS 256           /* accepted connections remembered (fd -> peer address) */
#define AUTH_PENDING 256         /* handshake failures waiting for their disconnection */

typedef struct refused_peer {
    bool used;
    char addr[64];               /* the peer's IP address, without its port */
    double since;                /* its last line */
    uint64_t count;              /* refusals since then, not logged yet */
    char why[160];               /* the last one's reason */
} refused_peer_t;

/* libzmq names a bound socket's own address in its handshake events, not the peer's. So the
 * peer is read (getpeername) when libzmq says it accepted a connection (the event's value is
 * the socket), and a failed handshake is told to the log when that socket is disconnected,
 * which follows it. */
typedef struct accepted {
    int fd;                      /* -1: free */
    char addr[64];
} accepted_t;

struct auth {
    curve_keys_t keys;
    char dir[4096];
    void *ctx;                   /* czmq's */
    void *zauth;                 /* czmq's zauth actor (curve.h) */
    void *mon;                   /* PAIR connected to the router's monitor */
    refused_peer_t peers[AUTH_PEERS + 1]; /* the last: every address beyond AUTH_PEERS */
    accepted_t conns[AUTH_CONNS];        /* a ring: the oldest is forgotten first */
    size_t next_conn;
    const char *pending[AUTH_PENDING];   /* reasons of failed handshakes, oldest first */
    size_t n_pending;
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
    for (size_t i = 0; i < AUTH_CONNS; i++)
        a->conns[i].fd = -1;
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

/* The accepted connection fd's peer, or NULL; with forget, its entry is freed. */
static const char *conn_peer(auth_t *a, int fd, bool forget)
{
    for (size_t i = 0; i < AUTH_CONNS; i++) {
        accepted_t *c = &a->conns[(a->next_conn + AUTH_CONNS - 1 - i) % AUTH_CONNS];
        if (c->fd != fd)
            continue;
        if (forget)
            c->fd = -1;
        return c->addr;
    }
    return NULL;
}

static void on_accepted(auth_t *a, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "";
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0 ||
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, NULL, 0, NI_NUMERICHOST))
        return; /* gone already: its refusal, if any, names no address */
    accepted_t *c = &a->conns[a->next_conn];
    a->next_conn = (a->next_conn + 1) % AUTH_CONNS;
    c->fd = fd;
    snprintf(c->addr, sizeof c->addr, "%s", host);
}

void auth_on_monitor(auth_t *a, double now)
{
    uint16_t event;
    uint32_t value;
    char ep[128];
    for (int i = 0; a->mon && i < 10000 &&
                    curve_monitor_recv(a->mon, &event, &value, ep, sizeof ep) == 0; i++) {
        if (event == ZMQ_EVENT_ACCEPTED) {
            conn_peer(a, (int)value, true); /* a number the kernel gave again */
            on_accepted(a, (int)value);
        } else if (event & AUTH_FAILED) {
            if (a->n_pending == AUTH_PENDING) { /* no disconnection came: say it now */
                refusal(a, "an unknown address", a->pending[0], now);
                memmove(a->pending, a->pending + 1, (AUTH_PENDING - 1) * sizeof *a->pending);
                a->n_pending--;
            }
            a->pending[a->n_pending++] = reason(event, value);
        } else if (event == ZMQ_EVENT_DISCONNECTED) {
            const char *peer = conn_peer(a, (int)value, true);
            if (!a->n_pending)
                continue; /* a worker that had been let in went away */
            refusal(a, peer ? peer : "an unknown address", a->pending[0], now);
            memmove(a->pending, a->pending + 1, (a->n_pending - 1) * sizeof *a->pending);
            a->n_pending--;
        }
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
