/*
 * auth — the master's side of CurveZMQ: its key pair on the workers' socket, czmq's zauth
 * admitting only the public keys in --curve-authorized (a ZAP handler in an actor thread,
 * reading the directory again when it changes), and a monitor of the socket that logs each
 * refused peer with its address: at once, then at most once a minute per address with the
 * number of attempts in between, so a flood costs a line a minute, not a line an attempt.
 *
 * A refused peer never completes the handshake: no message of it reaches the run, it is
 * never registered, never sent a scenario, and costs only its TCP connection. zauth must
 * share the socket's ZeroMQ context, so a secured master's context is czmq's (auth_context).
 */
#ifndef HERD_AUTH_H
#define HERD_AUTH_H

#include <stddef.h>

typedef struct auth auth_t;

/* Load the master's secret key and check the authorized directory; NULL with err. Logs a
 * warning when the key file may be read by others. */
auth_t *auth_new(const char *key_path, const char *authorized_dir, char *err, size_t errlen);
/* The ZeroMQ context to make the socket in (czmq's, which zauth uses). */
void *auth_context(auth_t *a);
/* Make router a CurveZMQ server with the master's keys and start zauth and the monitor.
 * Before zmq_bind. -1 with err. */
int auth_apply(auth_t *a, void *router, char *err, size_t errlen);
/* The monitor's socket, to poll for ZMQ_POLLIN beside the router. */
void *auth_monitor(auth_t *a);
/* Read the monitor's events and log the refusals due (call when it is readable, and now and
 * then to flush the counts of addresses that went quiet). */
void auth_on_monitor(auth_t *a, double now);
/* After the router is closed: stops zauth and the monitor, ends czmq's context. */
void auth_free(auth_t *a);

#endif
