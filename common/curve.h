/*
 * curve — the CurveZMQ keys of the control channel, in ZeroMQ's usual certificate format
 * (czmq's zcert: a text file with a `curve` section holding `public-key` and, in a secret
 * file, `secret-key`, both Z85, 40 characters).
 *
 * `--gen-keys DIR` writes NAME.key (both keys, mode 0600) and NAME.pub (the public key) into
 * DIR; the master reads its NAME.key (--curve-key) and a directory of workers' .pub files
 * (--curve-authorized), a worker its own NAME.key and the master's .pub (--curve-master).
 * czmq is only used here and in master/auth.c: nothing else includes its headers.
 */
#ifndef HERD_CURVE_H
#define HERD_CURVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CURVE_KEY_TXT 41   /* Z85 text of a key plus NUL */

typedef struct curve_keys {
    char public_txt[CURVE_KEY_TXT];
    char secret_txt[CURVE_KEY_TXT];   /* empty for a public key */
} curve_keys_t;

/* Write DIR/NAME.key and DIR/NAME.pub (DIR made with mode 0700 if missing), telling `out`
 * what went where and what to do with each; an existing file is never overwritten. -1 with
 * err ("DIR/NAME.key already exists: ...") otherwise. */
int curve_gen_keys(const char *dir, const char *name, const char *role, FILE *out, char *err,
                   size_t errlen);

/* A secret key file (NAME.key): both keys, or -1 with "PATH: ..." in err (unreadable, not a
 * certificate, a public key only). *loose set when group or others may read it. */
int curve_load_secret(const char *path, curve_keys_t *k, bool *loose, char *err, size_t errlen);

/* A public key file (NAME.pub, or a .key, whose public half is taken). */
int curve_load_public(const char *path, char public_txt[CURVE_KEY_TXT], char *err,
                      size_t errlen);

/* The directory of authorized public keys: -1 with err when it is not a readable directory
 * or holds no certificate; else the number of certificates it holds. */
long curve_count_authorized(const char *dir, char *err, size_t errlen);

/* The next event of a socket monitor (zmq_socket_monitor's PAIR), without waiting: 0 with
 * the event, its value and the endpoint (cut to addrlen - 1 bytes, "" when absent), or -1
 * when none is waiting. */
int curve_monitor_recv(void *mon, uint16_t *event, uint32_t *value, char *addr,
                       size_t addrlen);

/* czmq's side of the master's security, kept here so that no other file includes czmq's
 * headers (they bring syslog.h's LOG_* macros, which log.h's levels share names with). */
/* czmq's ZeroMQ context (its signal handling off): the one zauth's handler lives in. */
void *curve_czmq_context(void);
/* Start zauth admitting the CURVE clients whose public key is in dir: an opaque handle, or
 * NULL. */
void *curve_zauth_start(const char *dir);
/* Stop zauth, then end czmq's context (after every socket in it is closed). */
void curve_zauth_stop_all(void *zauth);

#endif
