#include "wire.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

int wire_socket_setup(void *sock, char *err, size_t errlen)
{
    int linger = 0;
    int64_t max = WIRE_MAX_MESSAGE_BYTES;
    int hwm = 100000;
    if (zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &max, sizeof max) ||
        zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm)) {
        snprintf(err, errlen, "zmq_setsockopt: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

int wire_send(void *sock, const void *id, size_t id_len, Herd__Envelope *env, char *err,
              size_t errlen)
{
    env->version = HERD_PROTOCOL_VERSION;
    size_t len = herd__envelope__get_packed_size(env);
    uint8_t stackbuf[4096];
    uint8_t *p = len <= sizeof stackbuf ? stackbuf : malloc(len);
    if (!p) {
        snprintf(err, errlen, "out of memory packing a %zu-byte message", len);
        return -1;
    }
    herd__envelope__pack(env, p);
    int rc = 0;
    if (id && zmq_send(sock, id, id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        rc = -1;
    if (rc == 0 && zmq_send(sock, p, len, ZMQ_DONTWAIT) < 0)
        rc = -1;
    if (rc < 0)
        snprintf(err, errlen, "send %s: %s", wire_body_name(env), zmq_strerror(zmq_errno()));
    if (p != stackbuf)
        free(p);
    return rc;
}

/* Read and discard the rest of a multipart message. */
static void drain(void *sock)
{
    int more = 0;
    size_t sz = sizeof more;
    while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        zmq_msg_recv(&m, sock, ZMQ_DONTWAIT);
        zmq_msg_close(&m);
        sz = sizeof more;
    }
}

Herd__Envelope *wire_recv(void *sock, bool router, char *id, size_t *id_len, bool *again,
                          char *err, size_t errlen)
{
    *again = false;
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (router) {
        if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
            *again = zmq_errno() == EAGAIN;
            snprintf(err, errlen, "receive: %s", zmq_strerror(zmq_errno()));
            zmq_msg_close(&m);
            return NULL;
        }
        size_t n = zmq_msg_size(&m);
        if (n > WIRE_MAX_ID_BYTES)
            n = WIRE_MAX_ID_BYTES;
        memcpy(id, zmq_msg_data(&m), n);
        id[n] = '\0';
        *id_len = n;
        int more = zmq_msg_more(&m);
        zmq_msg_close(&m);
        if (!more) {
            snprintf(err, errlen, "message without a body");
            return NULL;
        }
        zmq_msg_init(&m);
    }
    if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
        *again = !router && zmq_errno() == EAGAIN;
        snprintf(err, errlen, "receive: %s", zmq_strerror(zmq_errno()));
        zmq_msg_close(&m);
        return NULL;
    }
    if (zmq_msg_more(&m)) {
        zmq_msg_close(&m);
        drain(sock);
        snprintf(err, errlen, "unexpected multipart message");
        return NULL;
    }
    Herd__Envelope *env =
        herd__envelope__unpack(NULL, zmq_msg_size(&m), (const uint8_t *)zmq_msg_data(&m));
    size_t size = zmq_msg_size(&m);
    zmq_msg_close(&m);
    if (!env) {
        snprintf(err, errlen, "undecodable message (%zu bytes)", size);
        return NULL;
    }
    if (env->version != HERD_PROTOCOL_VERSION) {
        snprintf(err, errlen, "protocol version %u, expected %u", env->version,
                 HERD_PROTOCOL_VERSION);
        herd__envelope__free_unpacked(env, NULL);
        return NULL;
    }
    if (env->body_case == HERD__ENVELOPE__BODY__NOT_SET) {
        snprintf(err, errlen, "message without a body");
        herd__envelope__free_unpacked(env, NULL);
        return NULL;
    }
    return env;
}

void wire_free(Herd__Envelope *env)
{
    if (env)
        herd__envelope__free_unpacked(env, NULL);
}

const char *wire_body_name(const Herd__Envelope *env)
{
    switch (env->body_case) {
    case HERD__ENVELOPE__BODY_HELLO: return "Hello";
    case HERD__ENVELOPE__BODY_WELCOME: return "Welcome";
    case HERD__ENVELOPE__BODY_SPAWN: return "Spawn";
    case HERD__ENVELOPE__BODY_STOP: return "Stop";
    case HERD__ENVELOPE__BODY_QUIT: return "Quit";
    case HERD__ENVELOPE__BODY_HEARTBEAT: return "Heartbeat";
    case HERD__ENVELOPE__BODY_REPORT: return "Report";
    case HERD__ENVELOPE__BODY_ACK: return "Ack";
    case HERD__ENVELOPE__BODY_SPAWNED: return "Spawned";
    case HERD__ENVELOPE__BODY_STOPPED: return "Stopped";
    case HERD__ENVELOPE__BODY_ERROR: return "Error";
    default: return "?";
    }
}
