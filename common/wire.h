/*
 * wire — one protobuf Envelope per ZeroMQ message (proto/herd.proto), with the protocol
 * version checked and a size limit, so a bad peer costs a log line, never a crash.
 *
 * A ROUTER side passes the peer's routing id; a DEALER side passes NULL. Sends never block:
 * a full or unroutable peer makes wire_send return -1 (the heartbeat logic notices a peer
 * that stays unreachable).
 */
#ifndef HERD_WIRE_H
#define HERD_WIRE_H

#include <stdbool.h>
#include <stddef.h>

#include "herd.pb-c.h"

#define HERD_PROTOCOL_VERSION 1
#define WIRE_MAX_MESSAGE_BYTES (64L << 20)   /* also set as ZMQ_MAXMSGSIZE */
#define WIRE_MAX_ID_BYTES 255

/* Apply herd's socket options: linger 0, max message size, heartbeat-friendly queues. */
int wire_socket_setup(void *sock, char *err, size_t errlen);

/* Pack env (its version is set here) and send it, preceded by the identity frame when id
 * is not NULL. Returns 0 or -1 (err filled). */
int wire_send(void *sock, const void *id, size_t id_len, Herd__Envelope *env, char *err,
              size_t errlen);

/* Receive one message (non-blocking: call when zmq_poll says readable). When router is
 * true the first frame is the identity, copied to id (WIRE_MAX_ID_BYTES + 1 bytes) with its
 * length in *id_len. Returns the unpacked envelope (free with wire_free), or NULL:
 * *again set when nothing was waiting, otherwise the message was bad and err says why. */
Herd__Envelope *wire_recv(void *sock, bool router, char *id, size_t *id_len, bool *again,
                          char *err, size_t errlen);
void wire_free(Herd__Envelope *env);

/* The body's name for logs: "Hello", "Report", ... */
const char *wire_body_name(const Herd__Envelope *env);

#endif
