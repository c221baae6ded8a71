/*
 * web_listen — the web UI's listening socket; see web_listen.h.
 */
#include "web_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/file.h"

#define WEB_TLS_MAX_BYTES (1024 * 1024)   /* a PEM file is read whole, up to this */

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return true;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}

int web_listen(const char *host, long port, web_listener_t *l, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    memset(&ss, 0, sizeof ss);
    l->all = !host || !*host || strcmp(host, "*") == 0 || strcmp(host, "::") == 0 ||
           strcmp(host, "0.0.0.0") == 0;
    if (l->all && strcmp(host ? host : "*", "0.0.0.0") != 0) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_any;
        in6->sin6_port = htons((uint16_t)port);
        sslen = sizeof *in6;
    } else if (l->all) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_ANY);
        in->sin_port = htons((uint16_t)port);
        sslen = sizeof *in;
    } else {
        struct addrinfo hints, *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE;
        int rc = getaddrinfo(host, NULL, &hints, &res);
        if (rc != 0 || !res) {
            snprintf(err, errlen, "--web-host '%s': %s", host,
                     rc ? gai_strerror(rc) : "no address");
            return -1;
        }
        memcpy(&ss, res->ai_addr, res->ai_addrlen);
        sslen = res->ai_addrlen;
        freeaddrinfo(res);
        if (ss.ss_family == AF_INET)
            ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
        else
            ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
    }
    l->loopback = !l->all && is_loopback((struct sockaddr *)&ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 && l->all && ss.ss_family == AF_INET6) {
        /* no IPv6 here: every IPv4 interface */
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        memset(&ss, 0, sizeof ss);
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_ANY);
        in->sin_port = htons((uint16_t)port);
        sslen = sizeof *in;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    }
    if (fd < 0) {
        snprintf(err, errlen, "--web-port %ld: cannot create a socket: %s", port,
                 strerror(errno));
        return -1;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6 && l->all)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, 64) < 0) {
        int e = errno;
        close(fd);
        if (e == EADDRINUSE)
            snprintf(err, errlen, "--web-port %ld: address already in use", port);
        else
            snprintf(err, errlen, "--web-host %s --web-port %ld: cannot listen: %s",
                     host ? host : "*", port, strerror(e));
        return -1;
    }
    l->family = ss.ss_family;
    l->port = port;
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0)
        l->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

char *web_read_pem(const char *option, const char *path, const char *what, char *err,
                   size_t errlen)
{
    char why[512];
    size_t len;
    char *text = file_read(path, WEB_TLS_MAX_BYTES, &len, why, sizeof why);
    if (!text) {
        snprintf(err, errlen, "%s: %s", option, why);
        return NULL;
    }
    if (!strstr(text, "-----BEGIN ") || !strstr(text, what)) {
        snprintf(err, errlen, "%s: '%s' is not a PEM %s", option, path,
                 strcmp(what, "CERTIFICATE") == 0 ? "certificate" : "private key");
        free(text);
        return NULL;
    }
    return text;
}
