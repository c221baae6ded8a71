/*
 * wire — envelopes on ZeroMQ sockets: limits, the decoding budget, bad-message reasons
 * (contract and the reasoning behind each limit: wire.h).
 */
#include "wire.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static int socket_type(void *sock)
{
    int type = -1;
    size_t len = sizeof type;
    if (zmq_getsockopt(sock, ZMQ_TYPE, &type, &len) < 0)
        return -1;
    return type;
}

/* The size limit of what sock receives, and of what it sends. */
static size_t receive_limit(void *sock)
{
    return socket_type(sock) == ZMQ_ROUTER ? WIRE_MAX_TO_MASTER_BYTES : WIRE_MAX_TO_WORKER_BYTES;
}

static size_t send_limit(void *sock)
{
    return socket_type(sock) == ZMQ_ROUTER ? WIRE_MAX_TO_WORKER_BYTES : WIRE_MAX_TO_MASTER_BYTES;
}

int wire_socket_setup(void *sock, char *err, size_t errlen)
{
    int linger = 0;
    int64_t max = (int64_t)receive_limit(sock);
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
    size_t limit = send_limit(sock);
    if (len > limit) {
        snprintf(err, errlen, "%s of %zu bytes not sent: over the %zu MiB the peer accepts",
                 wire_body_name(env), len, limit >> 20);
        return -1;
    }
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
    size_t size = zmq_msg_size(&m), limit = receive_limit(sock);
    if (size > limit) { /* ZeroMQ enforces it on TCP; inproc peers come here */
        zmq_msg_close(&m);
        snprintf(err, errlen, "message of %zu bytes is over the %zu MiB limit", size,
                 limit >> 20);
        return NULL;
    }
    Herd__Envelope *env = wire_decode((const uint8_t *)zmq_msg_data(&m), size, err, errlen);
    zmq_msg_close(&m);
    return env;
}

/* ---- decoding with a budget ---------------------------------------------------------- */

/* protobuf-c's allocator for one decode: malloc, until `left` is spent. Memory comes from
 * malloc, so an envelope it built is freed by protobuf-c's default allocator (wire_free). */
typedef struct budget {
    size_t left;   /* bytes this decode may still allocate */
    bool spent;    /* an allocation was refused: the decode fails */
} budget_t;

static void *budget_alloc(void *data, size_t size)
{
    budget_t *b = data;
    if (size > b->left) {
        b->spent = true;
        return NULL;
    }
    void *p = malloc(size);
    if (p)
        b->left -= size;
    return p;
}

static void budget_free(void *data, void *p)
{
    (void)data;
    free(p);
}

size_t wire_decode_budget(size_t len)
{
    return WIRE_DECODE_BASE_BYTES + WIRE_DECODE_BYTES_PER_BYTE * len;
}

Herd__Envelope *wire_decode(const uint8_t *data, size_t len, char *err, size_t errlen)
{
    budget_t b = {.left = wire_decode_budget(len)};
    ProtobufCAllocator a = {.alloc = budget_alloc, .free = budget_free, .allocator_data = &b};
    Herd__Envelope *env = herd__envelope__unpack(&a, len, data);
    if (!env) {
        if (b.spent)
            snprintf(err, errlen, "message of %zu bytes would take more than %zu MiB to decode",
                     len, wire_decode_budget(len) >> 20);
        else
            snprintf(err, errlen, "undecodable message (%zu bytes)", len);
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

char *wire_show_id(const char *id, size_t id_len, size_t max_bytes, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (!outlen)
        return out;
    for (size_t i = 0; i < id_len && i < max_bytes && o + 5 < outlen; i++) {
        unsigned char ch = (unsigned char)id[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    if (id_len > max_bytes && o + 4 <= outlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
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
    case HERD__ENVELOPE__BODY_LOG: return "Log";
    default: return "?";
    }
}
