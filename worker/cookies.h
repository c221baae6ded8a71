/*
 * cookies — one virtual user's cookie jar, as Locust's HttpUser session keeps one: cookies a
 * response sets (Set-Cookie) are sent back on the user's later requests they match, with
 * RFC 6265's rules: Domain (a domain and its subdomains) or host-only, Path (default: the
 * request path's directory), Expires and Max-Age (Max-Age wins; zero or past deletes), Secure
 * (sent over https only), a cookie with the same name, domain and path replaced. Sent in
 * RFC 6265's order: longer paths first, then older cookies first. No public-suffix list: a
 * load test talks to the hosts it was pointed at.
 *
 * One jar serves both transports (client.c): the client asks it for the Cookie header of each
 * hop's URL and feeds it every Set-Cookie the hop's response carries, whichever transport
 * carried the hop, so a user's cookies are the same on the native client and on libcurl by
 * construction (libcurl's own cookie engine is left off).
 *
 * Bounds: at most COOKIE_JAR_MAX cookies, each at most COOKIE_MAX_BYTES of name and value
 * (RFC 6265 6.1's minimums); beyond, new cookies are ignored, so a hostile server cannot grow
 * a user's memory without end.
 *
 * Memory: a cookie's strings live in one block the jar owns; a removed cookie's block is kept
 * for the next, and cookie_jar_clear keeps every block, so a jar that has reached its working
 * size allocates nothing. Thread: a jar belongs to one user, on one thread.
 */
#ifndef HERD_COOKIES_H
#define HERD_COOKIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"

#define COOKIE_JAR_MAX 150
#define COOKIE_MAX_BYTES 4096

typedef struct cookie {
    char *mem;             /* "name\0value\0domain\0path\0"; owned (kept when removed) */
    size_t mem_cap;
    size_t name_len, value_len, domain_len, path_len;
    double expires_s;      /* wall-clock seconds; 0: a session cookie (lives with the jar) */
    uint64_t seq;          /* creation order (kept when replaced, as RFC 6265 5.3 says) */
    bool host_only;        /* no Domain attribute: sent to exactly this host */
    bool secure;           /* sent over https only */
} cookie_t;

typedef struct cookie_jar {
    cookie_t *c;           /* [0, n) live cookies; [n, cap) spare blocks; owned */
    size_t n, cap;
    uint64_t seq;          /* next creation number */
    size_t *order;         /* cookie_jar_header's sort space, cap entries; owned */
} cookie_jar_t;

void cookie_jar_init(cookie_jar_t *j);
/* Forget every cookie (a user stopped); the memory stays for the next. */
void cookie_jar_clear(cookie_jar_t *j);
void cookie_jar_free(cookie_jar_t *j);

/* A Set-Cookie header value (len bytes) received for a request to url (absolute http(s)
 * URL), at wall time now_s: store, replace, delete or ignore, as RFC 6265 5.2-5.3 say.
 * -1 only when out of memory. */
int cookie_jar_set(cookie_jar_t *j, const char *url, const char *value, size_t len,
                   double now_s);

/* Append to out the Cookie header value ("a=1; b=2") for a request to url at now_s, and
 * return how many cookies it holds (0: out unchanged, send no Cookie header); -1 when out
 * of memory. Expired cookies are dropped here. */
int cookie_jar_header(cookie_jar_t *j, const char *url, double now_s, buf_t *out);

/* Live cookies (expired ones may still count until the next cookie_jar_header). */
size_t cookie_jar_count(const cookie_jar_t *j);

#endif
