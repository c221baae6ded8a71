#include "secure.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "../common/log.h"

#define SECURE_LOG_INTERVAL_S 60.0
#define SECURE_RETRY_S 2.0
#define SECURE_EVENTS (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | \
                       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | \
                       ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED)

int secure_load(secure_t *s, const char *key_path, const char *master_path, char *err,
                size_t errlen)
{
    memset(s, 0, sizeof *s);
    if (!key_path && !master_path)
        return 0;
    if (!key_path || !master_path) {
        snprintf(err, errlen, "%s needs %s too (%s)", key_path ? "--curve-key" : "--curve-master",
                 key_path ? "--curve-master" : "--curve-key",
                 key_path ? "the master's public key, its master.pub"
                          : "this worker's secret key, from herd-worker --gen-keys");
        return -1;
    }
    bool loose = false;
    if (curve_load_secret(key_path, &s->keys, &loose, err, errlen) < 0 ||
        curve_load_public(master_path, s->master_txt, err, errlen) < 0)
        return -1;
    if (loose)
        log_warn("--curve-key %s may be read by other users of this host: chmod 600 it",
                 key_path);
    s->on = true;
    return 0;
}

int secure_apply(secure_t *s, void *zctx, void *sock, char *err, size_t errlen)
{
    if (s->on && (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, s->master_txt, 40) < 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, s->keys.public_txt, 40) < 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, s->keys.secret_txt, 40) < 0)) {
        snprintf(err, errlen, "cannot set the CurveZMQ keys: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://herd-worker-monitor-%u", ++s->n_monitors);
    if (zmq_socket_monitor(sock, ep, SECURE_EVENTS) < 0 ||
        !(s->mon = zmq_socket(zctx, ZMQ_PAIR)) || zmq_connect(s->mon, ep) < 0) {
        snprintf(err, errlen, "cannot watch the master's socket: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

void *secure_monitor(const secure_t *s)
{
    return s->mon;
}

static const char *reason(const secure_t *s, uint16_t event, uint32_t value)
{
    if (!s->on)
        return event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
                       value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                   ? "the master requires CurveZMQ: give this worker --curve-key and "
                     "--curve-master"
                   : "the master closed the connection during the handshake (a master with "
                     "--curve-key refuses workers without keys: give this worker --curve-key "
                     "and --curve-master)";
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        return "the master refused this worker's key (copy this worker's .pub into the "
               "master's --curve-authorized directory)";
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
        value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        return "the master does not use CurveZMQ (it has no --curve-key)";
    return "the master did not complete the secure handshake (is --curve-master this "
           "master's public key?)";
}

void secure_on_monitor(secure_t *s, double now)
{
    uint16_t event;
    uint32_t value;
    char ep[8];
    for (int i = 0; s->mon && i < 1000 &&
                    curve_monitor_recv(s->mon, &event, &value, ep, sizeof ep) == 0; i++) {
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            s->ever_secured = true;
            s->failures = 0;
            continue;
        }
        /* A connection the master closes before any handshake succeeded: what a master that
         * cannot decrypt this worker's hello (another master's key) does. */
        if (event == ZMQ_EVENT_DISCONNECTED && s->ever_secured)
            continue;
        if (event == ZMQ_EVENT_DISCONNECTED)
            event = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
        s->failures++;
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            s->retry_at = now + SECURE_RETRY_S;
        if (s->last_line == 0 || now - s->last_line >= SECURE_LOG_INTERVAL_S) {
            log_error("Secure handshake with the master failed%s: %s",
                      s->failures > 1 ? " again" : "", reason(s, event, value));
            s->last_line = now;
        }
    }
}

bool secure_wants_retry(secure_t *s, double now)
{
    if (s->retry_at == 0 || now < s->retry_at)
        return false;
    s->retry_at = 0;
    return true;
}

void secure_close(secure_t *s)
{
    if (s->mon) {
        zmq_close(s->mon);
        s->mon = NULL;
    }
}
