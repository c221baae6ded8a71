/*
 * secure — a worker's side of CurveZMQ (--curve-key, --curve-master): its key pair and the
 * master's public key on the socket, so it talks to that master only and its traffic is
 * encrypted; and a monitor of the socket that says why a handshake failed (the master refused
 * this worker's key; the master is not the one whose key was given), at once and then at most
 * once a minute. Without keys the monitor still says when a master wants them.
 */
#ifndef HERD_SECURE_H
#define HERD_SECURE_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/curve.h"

typedef struct secure {
    bool on;
    curve_keys_t keys;              /* this worker's */
    char master_txt[CURVE_KEY_TXT]; /* the master's public key */
    void *mon;                      /* PAIR on the current socket's monitor; NULL: none */
    unsigned n_monitors;            /* for a fresh inproc name per socket */
    double last_line;               /* monotonic: the last failure logged */
    unsigned long failures;         /* handshakes failed since that line */
    bool ever_secured;              /* a handshake succeeded at least once */
    double retry_at;                /* monotonic: reconnect then (0: no need) */
} secure_t;

/* Load the keys (key_path and master_path both set, or both NULL: no security). -1 with err. */
int secure_load(secure_t *s, const char *key_path, const char *master_path, char *err,
                size_t errlen);
/* On a new DEALER, before zmq_connect: the keys, and the monitor. -1 with err. */
int secure_apply(secure_t *s, void *zctx, void *sock, char *err, size_t errlen);
/* The monitor to poll beside the socket (NULL: none). */
void *secure_monitor(const secure_t *s);
/* Read the monitor's events; log handshake failures (when it is readable). */
void secure_on_monitor(secure_t *s, double now);
/* True when the socket should be made anew: ZeroMQ does not reconnect by itself after a
 * master refused the key, which may be authorized since (the master reads its directory
 * again); every SECURE_RETRY_S then. Clears the request. */
bool secure_wants_retry(secure_t *s, double now);
/* Before the socket is closed. */
void secure_close(secure_t *s);

#endif
