/*
 * web_listen — the web UI's listening socket on --web-host:--web-port, and its TLS files.
 * The socket: every interface for
 * "*", "::" (both IPv4 and IPv6 where there is IPv6) or "0.0.0.0" (IPv4), else the first
 * address the name resolves to. Made here rather than by libmicrohttpd so that a busy port
 * or a bad host gets one line that names the option.
 */
#ifndef HERD_WEB_LISTEN_H
#define HERD_WEB_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct web_listener {
    bool all;          /* every interface */
    bool loopback;     /* reachable from this machine only */
    int family;        /* AF_INET or AF_INET6 */
    long port;         /* the port bound (port 0 asks for a free one) */
} web_listener_t;

/* A listening socket (close-on-exec), or -1 with err: "--web-port 8089: address already in
 * use", "--web-host 'x': <why>". */
int web_listen(const char *host, long port, web_listener_t *l, char *err, size_t errlen);

/* --tls-cert or --tls-key (option) at path, read whole: readable, at most 1 MiB, and a PEM
 * block of the kind `what` ("CERTIFICATE", "PRIVATE KEY"). NULL with err naming the option
 * otherwise; the caller frees. Whether certificate and key match only the TLS library
 * knows, once it serves. */
char *web_read_pem(const char *option, const char *path, const char *what, char *err,
                   size_t errlen);

#endif
