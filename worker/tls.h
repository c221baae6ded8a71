/*
 * tls — TLS for herd's two transports: the OpenSSL context of the native transport's
 * https:// connections (http1.h), and the same options applied to a libcurl easy handle, so
 * a request is verified the same way whichever transport carries it.
 *
 * Options (tls_opts_t) come from the scenario's `tls:` key and the master's --tls-ca /
 * --insecure; when no CA is given, the CA file the environment names is trusted as curl's
 * command-line tool does: CURL_CA_BUNDLE, else SSL_CERT_FILE (and SSL_CERT_DIR as a
 * directory), else the system's store.
 *
 * Failures are libcurl's CURLcodes for the same situation (curl_easy_strerror gives the
 * message): an untrusted or mismatched certificate is CURLE_PEER_FAILED_VERIFICATION, any
 * other handshake failure CURLE_SSL_CONNECT_ERROR, a bad CA file CURLE_SSL_CACERT_BADFILE,
 * a bad client certificate or key CURLE_SSL_CERTPROBLEM.
 *
 * Sessions: the native transport keeps one session per connection (tls_conn_t below) and
 * offers it on reconnect, so a user's reconnects resume (TLS 1.3 tickets included) without
 * a shared cache and so without a lock.
 *
 * Thread: a context is built and used by one engine thread (one per transport per host
 * slot); options are read-only.
 */
#ifndef HERD_TLS_H
#define HERD_TLS_H

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "../common/scenario.h"

/* How one host slot's TLS is set up. Byte arrays are borrowed (the scenario's files). */
typedef struct tls_opts {
    const char *ca;          /* PEM certificates to trust instead of the defaults; NULL: none */
    size_t ca_len;
    const char *cert;        /* client certificate (PEM, chain after it); NULL: none */
    size_t cert_len;
    const char *key;         /* the client certificate's private key (PEM) */
    size_t key_len;
    bool insecure;           /* verify neither the certificate nor the host name */
    int min_version;         /* 12: TLS 1.2, 13: TLS 1.3, 0: the libraries' default */
} tls_opts_t;

/* The options a scenario's `tls` (with the command line's) compiles to; files borrowed. */
tls_opts_t tls_opts_from(const scenario_tls_t *s);

/* The CA file curl's tool would use from the environment (CURL_CA_BUNDLE, then
 * SSL_CERT_FILE), or NULL. */
const char *tls_env_ca_file(void);
/* The CA directory from the environment (SSL_CERT_DIR, unless CURL_CA_BUNDLE is set), or
 * NULL. */
const char *tls_env_ca_dir(void);

/* A client context for o (NULL: defaults): verification, CAs, client certificate, minimum
 * version, ALPN http/1.1, session callback for tls_conn_t. NULL with *rc and a message on
 * failure. */
SSL_CTX *tls_ctx_new(const tls_opts_t *o, CURLcode *rc, char *err, size_t errlen);
void tls_ctx_free(SSL_CTX *ctx);

/* The same options on an easy handle (o NULL: only the environment's CA). */
void tls_curl_apply(CURL *h, const tls_opts_t *o);

/* One TLS connection's state in the native transport. */
typedef struct tls_conn {
    SSL *ssl;                /* NULL: no TLS on the socket now; owned */
    SSL_SESSION *session;    /* the last session the server gave: offered on reconnect; owned */
    bool handshaken;         /* the handshake finished on ssl */
    bool failed;             /* a fatal error on ssl: no close_notify, the session is spoilt */
} tls_conn_t;

typedef enum tls_io {
    TLS_IO_OK,               /* done (bytes moved, or handshake finished) */
    TLS_IO_WANT_READ,        /* wait for the socket to be readable */
    TLS_IO_WANT_WRITE,       /* wait for the socket to be writable */
    TLS_IO_EOF,              /* the peer closed (read) */
    TLS_IO_ERROR,            /* failed: *rc says how */
} tls_io_t;

/* Start TLS on a connected socket fd to `host` (SNI and name check; an IP address is checked
 * as one and gets no SNI), offering the connection's last session. -1 when out of memory. */
int tls_conn_open(tls_conn_t *t, SSL_CTX *ctx, int fd, const char *host);
/* Drive the handshake. On TLS_IO_ERROR *rc is curl's code for it. */
tls_io_t tls_conn_handshake(tls_conn_t *t, CURLcode *rc);
/* SSL_write / SSL_read with the results above; *n is the bytes moved. */
tls_io_t tls_conn_write(tls_conn_t *t, const void *p, size_t len, size_t *n);
tls_io_t tls_conn_read(tls_conn_t *t, void *p, size_t len, size_t *n);
/* Bytes OpenSSL holds that the socket will not signal again. */
bool tls_conn_pending(const tls_conn_t *t);
/* Drop the TLS state of a closed socket (the session is kept for the next one). */
void tls_conn_close(tls_conn_t *t);
/* tls_conn_close and forget the session (another origin, or the end). */
void tls_conn_free(tls_conn_t *t);

#endif
