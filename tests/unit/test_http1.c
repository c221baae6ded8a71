/*
 * test_http1 — the native HTTP/1.1 transport against a scripted server on 127.0.0.1 (raw
 * sockets, a thread per connection), so every response shape can be produced byte for byte:
 * Content-Length, chunked (with extensions and trailers, delivered in pieces), HEAD, 204,
 * 1xx, HTTP/1.0, Connection: close, a body cut short, garbage, and a server that closes a
 * reused keep-alive connection when the next request arrives, and bodies of megabytes
 * (Content-Length, chunked, until EOF). The last tests drive the client (client.h) over the
 * same server, on both transports: the re-send rule (GET once, never a POST, libcurl's own
 * retry stopped and counted) and max_body, and redirects across hops.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "../../common/scenario.h"
#include "../../worker/client.h"
#include "../../worker/http1.h"
#include "../../worker/loop.h"
#include "../../worker/transport.h"
#include "scenario_fixture.h"

/* ---- the scripted server ---------------------------------------------------------------- */

static struct {
    int lfd;
    uint16_t port;
    atomic_int connections;   /* accepted */
    atomic_int requests;      /* request heads read */
    char last_head[2048];     /* the last request head, for checking what was sent */
    pthread_mutex_t mu;
} srv = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

static void pause_ms(long ms)
{
    struct timespec ts = { 0, ms * 1000000L };
    nanosleep(&ts, NULL);
}

/* The big responses' body: BIG_BYTES of "0123456789abcdef", ending in "END". */
#define BIG_BYTES (3u * 1024u * 1024u)
static char big_body[BIG_BYTES];

static void big_init(void)
{
    for (size_t i = 0; i < BIG_BYTES; i++)
        big_body[i] = "0123456789abcdef"[i % 16];
    memcpy(big_body + BIG_BYTES - 3, "END", 3);
}

static void send_big(int fd, const char *path)
{
    if (strcmp(path, "/big") == 0) {
        char head[96];
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n", BIG_BYTES);
        send_str(fd, head);
        send_all(fd, big_body, BIG_BYTES);
    } else if (strcmp(path, "/bigchunked") == 0) {
        send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (size_t off = 0; off < BIG_BYTES; off += 100000) {
            size_t n = BIG_BYTES - off < 100000 ? BIG_BYTES - off : 100000;
            char size[32];
            snprintf(size, sizeof size, "%zx\r\n", n);
            send_str(fd, size);
            send_all(fd, big_body + off, n);
            send_str(fd, "\r\n");
        }
        send_str(fd, "0\r\n\r\n");
    } else { /* /bigeof */
        send_str(fd, "HTTP/1.1 200 OK\r\n\r\n");
        send_all(fd, big_body, BIG_BYTES);
    }
}

/* "/deflate"'s body: DEFLATED_TEXT, zlib-wrapped, as Content-Encoding: deflate. */
#define DEFLATED_TEXT "{\"a\": 1, \"pad\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}"
static unsigned char deflated[256];
static size_t deflated_len;

static void deflated_init(void)
{
    uLongf n = sizeof deflated;
    assert_int_equal(compress(deflated, &n, (const Bytef *)DEFLATED_TEXT,
                              sizeof DEFLATED_TEXT - 1), Z_OK);
    deflated_len = n;
}

static void *serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[8192];
    size_t len = 0;
    int nth = 0; /* requests on this connection */
    for (;;) {
        char *end;
        while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
            if (len == sizeof buf)
                goto out;
            ssize_t n = recv(fd, buf + len, sizeof buf - len, 0);
            if (n <= 0)
                goto out;
            len += (size_t)n;
        }
        size_t head = (size_t)(end - buf) + 4;
        size_t body = 0;
        char *cl = strcasestr(buf, "\r\nContent-Length:");
        if (cl && cl < end)
            body = strtoul(cl + 17, NULL, 10);
        while (len < head + body) {
            ssize_t n = recv(fd, buf + len, sizeof buf - len, 0);
            if (n <= 0)
                goto out;
            len += (size_t)n;
        }
        nth++;
        atomic_fetch_add(&srv.requests, 1);
        pthread_mutex_lock(&srv.mu);
        size_t keep = head + body < sizeof srv.last_head ? head + body : sizeof srv.last_head - 1;
        memcpy(srv.last_head, buf, keep);
        srv.last_head[keep] = '\0';
        pthread_mutex_unlock(&srv.mu);
        char path[256] = "";
        sscanf(buf, "%*s %255s", path);
        bool is_head = strncmp(buf, "HEAD ", 5) == 0;
        memmove(buf, buf + head + body, len - head - body);
        len -= head + body;

        if (strcmp(path, "/len") == 0) {
            send_str(fd, is_head ? "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
                                 : "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        } else if (strcmp(path, "/chunked") == 0) {
            /* In pieces, cut inside the size line, the data and the trailers. */
            const char *parts[] = { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3",
                                    ";ext=1\r\nhe", "l\r\n2\r\nlo\r\n0\r\nX-Tr", "ailer: 1\r\n",
                                    "\r\n" };
            for (size_t i = 0; i < 5; i++) {
                send_str(fd, parts[i]);
                pause_ms(5);
            }
        } else if (strcmp(path, "/close") == 0) {
            send_str(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye");
            goto out;
        } else if (strcmp(path, "/eof") == 0) {
            send_str(fd, "HTTP/1.1 200 OK\r\n\r\nuntil the end");
            goto out;
        } else if (strcmp(path, "/http10") == 0) {
            send_str(fd, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
        } else if (strcmp(path, "/continue") == 0) {
            send_str(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        } else if (strcmp(path, "/204") == 0) {
            send_str(fd, "HTTP/1.1 204 No Content\r\n\r\n");
        } else if (strcmp(path, "/304") == 0) {
            send_str(fd, "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n");
        } else if (strcmp(path, "/partial") == 0) {
            send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
            goto out;
        } else if (strcmp(path, "/partialchunk") == 0) {
            send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
            goto out;
        } else if (strcmp(path, "/weird") == 0) {
            send_str(fd, "SPDY/9 what\r\n\r\n");
            goto out;
        } else if (strcmp(path, "/badstatus") == 0) {
            send_str(fd, "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n");
            goto out;
        } else if (strcmp(path, "/badlen") == 0) {
            send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n");
            goto out;
        } else if (strcmp(path, "/badchunk") == 0) {
            send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
            goto out;
        } else if (strcmp(path, "/headcut") == 0) {
            send_str(fd, "HTTP/1.1 200 OK\r\nContent-Len");
            goto out;
        } else if (strcmp(path, "/nothing") == 0) {
            goto out; /* close without a byte */
        } else if (strcmp(path, "/drop") == 0) {
            /* A keep-alive connection the server had given up on: closed when the next
             * request arrives. A fresh connection is served. */
            if (nth > 1)
                goto out;
            send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh");
        } else if (strcmp(path, "/big") == 0 || strcmp(path, "/bigchunked") == 0) {
            send_big(fd, path);
        } else if (strcmp(path, "/bigeof") == 0) {
            send_big(fd, path);
            goto out;
        } else if (strcmp(path, "/redirect") == 0) {
            send_str(fd, "HTTP/1.1 302 Found\r\nLocation: /len\r\nContent-Length: 4\r\n\r\nmove");
        } else if (strcmp(path, "/hdrs") == 0) {
            send_str(fd, "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
                         "HTTP/1.1 200 OK\r\nX-Token:  abc \r\nset-cookie: s=1; Path=/\r\n"
                         "Content-Length: 2\r\n\r\nok");
        } else if (strcmp(path, "/deflate") == 0) {
            char head[128];
            snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\n"
                     "Content-Length: %zu\r\n\r\n", deflated_len);
            send_str(fd, head);
            send_all(fd, (const char *)deflated, deflated_len);
        } else {
            send_str(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        }
    }
out:
    close(fd);
    return NULL;
}

static void *accept_loop(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(srv.lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        atomic_fetch_add(&srv.connections, 1);
        pthread_t t;
        pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
}

static int server_start(void **state)
{
    (void)state;
    big_init();
    srv.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(srv.lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(srv.lfd, 64) < 0 ||
        getsockname(srv.lfd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    srv.port = ntohs(a.sin_port);
    pthread_t t;
    pthread_create(&t, NULL, accept_loop, NULL);
    pthread_detach(t);
    return 0;
}

/* ---- client helpers --------------------------------------------------------------------- */

typedef struct driver {
    int epfd;
    http1_origin_t origin;
    http1_conn_t conn;
    buf_t body;
    uint64_t keep_max;        /* the sink's limit (UINT64_MAX unless a test sets it) */
    char req[1024];
    char scratch[64 * 1024];  /* where bodies not kept are read */
} driver_t;

static void driver_open(driver_t *cl, uint16_t port)
{
    char url[64], err[256] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)port);
    cl->epfd = epoll_create1(0);
    assert_true(cl->epfd >= 0);
    assert_int_equal(http1_origin_resolve(&cl->origin, url, err, sizeof err), 0);
    http1_init(&cl->conn, cl->epfd, cl->scratch, sizeof cl->scratch);
    buf_init(&cl->body);
    cl->keep_max = UINT64_MAX;
}

static void driver_close(driver_t *cl)
{
    http1_free(&cl->conn);
    buf_free(&cl->body);
    close(cl->epfd);
}

/* One request through the connection, driven by our own epoll loop (2 s at most). */
static CURLcode fetch(driver_t *cl, const char *method, const char *path)
{
    snprintf(cl->req, sizeof cl->req, "%s %s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n\r\n",
             method, path, cl->origin.host_header);
    buf_reset(&cl->body);
    http1_rc_t rc = http1_send(&cl->conn, &cl->origin, cl->req, strlen(cl->req),
                               strcmp(method, "HEAD") == 0, &cl->body, cl->keep_max);
    for (int rounds = 0; rc == HTTP1_PENDING && rounds < 2000; rounds++) {
        struct epoll_event ev[4];
        int n = epoll_wait(cl->epfd, ev, 4, 10);
        for (int i = 0; i < n && rc == HTTP1_PENDING; i++)
            if (ev[i].data.fd == cl->conn.fd)
                rc = http1_on_event(&cl->conn, ev[i].events);
    }
    assert_int_equal(rc, HTTP1_DONE);
    return cl->conn.rc;
}

static const char *body_of(const driver_t *cl)
{
    return cl->body.data ? cl->body.data : "";
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_content_length_and_keep_alive(void **state)
{
    (void)state;
    driver_t cl;
    driver_open(&cl, srv.port);
    int conns = atomic_load(&srv.connections);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(fetch(&cl, "GET", "/len"), CURLE_OK);
        assert_int_equal(cl.conn.status, 200);
        assert_string_equal(body_of(&cl), "hello");
        assert_int_equal(cl.conn.body_bytes, 5);
    }
    assert_int_equal(atomic_load(&srv.connections), conns + 1); /* one connection reused */
    driver_close(&cl);
}

static void test_chunked_in_pieces(void **state)
{
    (void)state;
    driver_t cl;
    driver_open(&cl, srv.port);
    int conns = atomic_load(&srv.connections);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(fetch(&cl, "GET", "/chunked"), CURLE_OK);
        assert_string_equal(body_of(&cl), "hello");
        assert_int_equal(cl.conn.body_bytes, 5);
    }
    /* Trailers consumed, connection still good. */
    assert_int_equal(fetch(&cl, "GET", "/len"), CURLE_OK);
    assert_int_equal(atomic_load(&srv.connections), conns + 1);
    driver_close(&cl);
}

static void test_bodiless_responses(void **state)
{
    (void)state;
    driver_t cl;
    driver_open(&cl, srv.port);
    int conns = atomic_load(&srv.connections);
    assert_int_equal(fetch(&cl, "HEAD", "/len"), CURLE_OK);
    assert_int_equal(cl.conn.status, 200);
    assert_int_equal(cl.conn.body_bytes, 0);
    assert_int_equal(fetch(&cl, "GET", "/204"), CURLE_OK);
    assert_int_equal(cl.conn.status, 204);
    assert_int_equal(fetch(&cl, "GET", "/304"), CURLE_OK);
    assert_int_equal(cl.conn.status, 304);
    assert_int_equal(fetch(&cl, "GET", "/continue"), CURLE_OK); /* 100 skipped */
    assert_int_equal(cl.conn.status, 200);
    assert_string_equal(body_of(&cl), "ok");
    assert_int_equal(fetch(&cl, "GET", "/len"), CURLE_OK);
    assert_string_equal(body_of(&cl), "hello");
    assert_int_equal(atomic_load(&srv.connections), conns + 1);
    driver_close(&cl);
}

static void test_close_eof_and_http10(void **state)
{
    (void)state;
    driver_t cl;
    driver_open(&cl, srv.port);
    int conns = atomic_load(&srv.connections);
    assert_int_equal(fetch(&cl, "GET", "/close"), CURLE_OK);
    assert_string_equal(body_of(&cl), "bye");
    assert_int_equal(cl.conn.fd, -1); /* Connection: close honoured */
    assert_int_equal(fetch(&cl, "GET", "/eof"), CURLE_OK); /* body delimited by EOF */
    assert_string_equal(body_of(&cl), "until the end");
    assert_int_equal(fetch(&cl, "GET", "/http10"), CURLE_OK);
    assert_string_equal(body_of(&cl), "ok");
    assert_int_equal(cl.conn.fd, -1); /* HTTP/1.0 without keep-alive: not reused */
    assert_int_equal(fetch(&cl, "GET", "/len"), CURLE_OK);
    assert_int_equal(atomic_load(&srv.connections), conns + 4);
    driver_close(&cl);
}

/* The connection reports a reused connection closed before any byte as resendable and does
 * not send again itself: that is the client's decision (test_client_resends_once). */
static void test_retry_on_closed_reused_connection(void **state)
{
    (void)state;
    driver_t cl;
    driver_open(&cl, srv.port);
    int conns = atomic_load(&srv.connections);
    assert_int_equal(fetch(&cl, "GET", "/drop"), CURLE_OK); /* 1st on its connection */
    assert_false(cl.conn.resendable);
    assert_int_equal(fetch(&cl, "GET", "/drop"), CURLE_GOT_NOTHING); /* closed by the server */
    assert_true(cl.conn.resendable);
    assert_int_equal(atomic_load(&srv.connections), conns + 1); /* not re-sent here */
    assert_int_equal(fetch(&cl, "GET", "/drop"), CURLE_OK); /* sent again: a new connection */
    assert_int_equal(cl.conn.status, 200);
    assert_string_equal(body_of(&cl), "fresh");
    assert_int_equal(atomic_load(&srv.connections), conns + 2);
    /* A fresh connection that closes without a byte is not resendable. */
    http1_close(&cl.conn);
    assert_int_equal(fetch(&cl, "GET", "/nothing"), CURLE_GOT_NOTHING);
    assert_false(cl.conn.resendable);
    driver_close(&cl);
}

static void test_failures_carry_curls_codes(void **state)
{
    (void)state;
    driver_t cl;
    driver_open(&cl, srv.port);
    assert_int_equal(fetch(&cl, "GET", "/partial"), CURLE_PARTIAL_FILE);
    assert_int_equal(fetch(&cl, "GET", "/partialchunk"), CURLE_PARTIAL_FILE);
    assert_int_equal(fetch(&cl, "GET", "/weird"), CURLE_UNSUPPORTED_PROTOCOL); /* HTTP/0.9 */
    assert_int_equal(fetch(&cl, "GET", "/len"), CURLE_OK); /* recovers on a new connection */
    driver_close(&cl);

    /* Nobody listening. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    driver_open(&cl, ntohs(a.sin_port));
    assert_int_equal(fetch(&cl, "GET", "/len"), CURLE_COULDNT_CONNECT);
    driver_close(&cl);
}

static size_t sink_nothing(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* The native transport's verdict on every odd response is the one libcurl gives for it. */
static void test_same_codes_as_curl(void **state)
{
    (void)state;
    static const char *const paths[] = { "/len", "/chunked", "/close", "/eof", "/http10",
                                         "/continue", "/204", "/partial", "/partialchunk",
                                         "/weird", "/nothing", "/badstatus", "/badlen",
                                         "/badchunk", "/headcut" };
    driver_t cl;
    driver_open(&cl, srv.port);
    CURL *h = curl_easy_init();
    assert_non_null(h);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_nothing);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        char url[128];
        snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)srv.port, paths[i]);
        curl_easy_setopt(h, CURLOPT_URL, url);
        CURLcode want = curl_easy_perform(h);
        http1_close(&cl.conn); /* a fresh connection, as curl's first transfer had */
        CURLcode got = fetch(&cl, "GET", paths[i]);
        if (got != want)
            print_error("%s: native %d (%s), curl %d (%s)\n", paths[i], got,
                        curl_easy_strerror(got), want, curl_easy_strerror(want));
        assert_int_equal(got, want);
    }
    curl_easy_cleanup(h);
    driver_close(&cl);
}

static void test_urls_and_locations(void **state)
{
    (void)state;
    http1_origin_t o;
    char err[256];
    assert_int_equal(http1_origin_resolve(&o, "http://127.0.0.1:8080/base", err, sizeof err), 0);
    assert_string_equal(o.host_header, "127.0.0.1:8080");
    assert_int_equal(http1_origin_resolve(&o, "http://[::1]:81", err, sizeof err), 0);
    assert_string_equal(o.host_header, "[::1]:81");
    assert_int_equal(http1_origin_resolve(&o, "http://localhost", err, sizeof err), 0);
    assert_string_equal(o.host_header, "localhost");
    assert_int_equal(http1_origin_resolve(&o, "ftp://127.0.0.1", err, sizeof err), -1);
    assert_int_equal(http1_origin_resolve(&o, "http://u:p@127.0.0.1", err, sizeof err), -1);
    assert_int_equal(http1_origin_resolve(&o, "https://u:p@127.0.0.1", err, sizeof err), -1);

    assert_int_equal(http1_origin_resolve(&o, "http://127.0.0.1:8080", err, sizeof err), 0);
    const char *t;
    size_t tl;
    assert_int_equal(http1_url_target(&o, "http://127.0.0.1:8080/a/b?x=1%20", &t, &tl), 0);
    assert_string_equal(t, "/a/b?x=1%20");
    assert_int_equal(http1_url_target(&o, "http://127.0.0.1:8081/a", &t, &tl), -1);
    assert_int_equal(http1_url_target(&o, "http://other:8080/a", &t, &tl), -1);
    assert_int_equal(http1_url_target(&o, "http://127.0.0.1:8080/a b", &t, &tl), -1);
    assert_int_equal(http1_url_target(&o, "http://127.0.0.1:8080/a/../b", &t, &tl), -1);
    assert_int_equal(http1_url_target(&o, "http://127.0.0.1:8080/a#f", &t, &tl), -1);
    assert_int_equal(http1_url_target(&o, "http://127.0.0.1:8080/a?p=../x", &t, &tl), 0);

    buf_t out;
    buf_init(&out);
    assert_int_equal(http1_resolve_location(&o, "/a/b?q", "/c", &out), 0);
    assert_string_equal(out.data, "/c");
    assert_int_equal(http1_resolve_location(&o, "/a/b?q", "c?d", &out), 0);
    assert_string_equal(out.data, "/a/c?d");
    assert_int_equal(http1_resolve_location(&o, "/a/b?q", "?z", &out), 0);
    assert_string_equal(out.data, "/a/b?z");
    assert_int_equal(http1_resolve_location(&o, "/a", "http://127.0.0.1:8080/x", &out), 0);
    assert_string_equal(out.data, "/x");
    assert_int_equal(http1_resolve_location(&o, "/a", "//127.0.0.1:8080/y", &out), 0);
    assert_string_equal(out.data, "/y");
    assert_int_equal(http1_resolve_location(&o, "/a", "http://elsewhere/x", &out), 1);
    assert_string_equal(out.data, "http://elsewhere/x");
    assert_int_equal(http1_resolve_location(&o, "/a", "https://127.0.0.1:8080/x", &out), 1);
    assert_int_equal(http1_resolve_location(&o, "/a/b", "/x:y", &out), 0);
    assert_string_equal(out.data, "/x:y");
    assert_int_equal(http1_resolve_location(&o, "/a/b", "c:d/e", &out), 1); /* a scheme */
    assert_int_equal(http1_resolve_location(&o, "/a/b", "../c", &out), 1);
    assert_string_equal(out.data, "http://127.0.0.1:8080/a/../c");
    buf_free(&out);
}

/* https origins: port 443 by default (and left out of Host), the scheme must match, and a
 * redirect keeps https. */
static void test_https_urls_and_locations(void **state)
{
    (void)state;
    http1_origin_t o;
    char err[256];
    assert_int_equal(http1_origin_resolve(&o, "https://127.0.0.1", err, sizeof err), 0);
    assert_true(o.tls);
    assert_int_equal(o.port, 443);
    assert_string_equal(o.host_header, "127.0.0.1");
    assert_int_equal(http1_origin_resolve(&o, "HTTPS://127.0.0.1:8443/base", err, sizeof err), 0);
    assert_true(o.tls);
    assert_string_equal(o.host_header, "127.0.0.1:8443");
    const char *t;
    size_t tl;
    assert_int_equal(http1_url_target(&o, "https://127.0.0.1:8443/a?b", &t, &tl), 0);
    assert_string_equal(t, "/a?b");
    assert_int_equal(http1_url_target(&o, "http://127.0.0.1:8443/a", &t, &tl), -1);
    assert_int_equal(http1_origin_resolve(&o, "http://127.0.0.1:443", err, sizeof err), 0);
    assert_false(o.tls);
    assert_string_equal(o.host_header, "127.0.0.1:443");
    assert_int_equal(http1_url_target(&o, "https://127.0.0.1/a", &t, &tl), -1);

    assert_int_equal(http1_origin_resolve(&o, "https://127.0.0.1:8443", err, sizeof err), 0);
    buf_t out;
    buf_init(&out);
    assert_int_equal(http1_resolve_location(&o, "/a", "//127.0.0.1:8443/y", &out), 0);
    assert_string_equal(out.data, "/y");
    assert_int_equal(http1_resolve_location(&o, "/a", "http://127.0.0.1:8443/x", &out), 1);
    assert_int_equal(http1_resolve_location(&o, "/a/b", "../c", &out), 1);
    assert_string_equal(out.data, "https://127.0.0.1:8443/a/../c");
    buf_free(&out);
}

/* The server's connection count once connections opened by earlier tests (a libcurl
 * connection closing late, an accept still queued) have all been counted. */
static int settled_connections(void)
{
    int n = atomic_load(&srv.connections);
    for (int i = 0; i < 100; i++) {
        pause_ms(20);
        int m = atomic_load(&srv.connections);
        if (m == n)
            return m;
        n = m;
    }
    return n;
}

/* Megabyte bodies, whatever delimits them, are counted and kept whole, and the connection
 * stays usable; past the sink's limit nothing more is kept, everything is still read and
 * counted, and a delimited body leaves the connection reusable. */
static void test_big_bodies_kept_or_capped(void **state)
{
    (void)state;
    static const char *const paths[] = { "/big", "/bigchunked", "/bigeof" };
    driver_t *cl = malloc(sizeof *cl);
    assert_non_null(cl);
    for (int capped = 0; capped < 2; capped++) {
        for (size_t i = 0; i < 3; i++) {
            driver_open(cl, srv.port);
            cl->keep_max = capped ? 1024 * 1024 : UINT64_MAX;
            int conns = settled_connections();
            assert_int_equal(fetch(cl, "GET", paths[i]), CURLE_OK);
            assert_int_equal(cl->conn.body_bytes, BIG_BYTES);
            assert_int_equal(cl->conn.sink_over, capped);
            if (capped) {
                assert_true(cl->body.len <= 1024 * 1024);
            } else {
                assert_int_equal(cl->body.len, BIG_BYTES);
                assert_memory_equal(cl->body.data, big_body, BIG_BYTES);
            }
            assert_int_equal(fetch(cl, "GET", "/len"), CURLE_OK);
            assert_string_equal(body_of(cl), "hello");
            /* Content-Length and chunked bodies leave the connection to the next request. */
            assert_int_equal(atomic_load(&srv.connections), conns + (i == 2 ? 2 : 1));
            driver_close(cl);
        }
    }
    /* Not kept at all (no sink): counted. */
    driver_open(cl, srv.port);
    snprintf(cl->req, sizeof cl->req, "GET /bigchunked HTTP/1.1\r\nHost: x\r\n\r\n");
    http1_rc_t rc = http1_send(&cl->conn, &cl->origin, cl->req, strlen(cl->req), false, NULL, 0);
    for (int rounds = 0; rc == HTTP1_PENDING && rounds < 2000; rounds++) {
        struct epoll_event ev[4];
        int n = epoll_wait(cl->epfd, ev, 4, 10);
        for (int k = 0; k < n && rc == HTTP1_PENDING; k++)
            rc = http1_on_event(&cl->conn, ev[k].events);
    }
    assert_int_equal(rc, HTTP1_DONE);
    assert_int_equal(cl->conn.rc, CURLE_OK);
    assert_int_equal(cl->conn.body_bytes, BIG_BYTES);
    driver_close(cl);
    free(cl);
}

/* ---- the client over the transports ----------------------------------------------------- */

typedef struct outcome {
    int calls;
    client_result_t res;
    char msg[256];
} outcome_t;

static void on_client_done(void *owner, const step_t *st, const client_result_t *res)
{
    (void)st;
    outcome_t *o = owner;
    o->calls++;
    o->res = *res;
    snprintf(o->msg, sizeof o->msg, "%s", res->failure ? res->failure : "");
}

/* Send step `i` of the only task of sc through a client on its own loop; the outcome. */
static void client_step(client_t *c, loop_t *l, const step_t *st, outcome_t *o)
{
    uint64_t rng = 1;
    tmpl_env_t env = { .rng = &rng, .worker_id = "w" };
    o->calls = 0;
    client_result_t res;
    if (client_send(c, st, &env, &res) == CLIENT_DONE) {
        on_client_done(o, st, &res);
        return;
    }
    for (int i = 0; i < 300 && o->calls == 0; i++)
        loop_run_once(l, 10);
    assert_int_equal(o->calls, 1);
}

typedef struct rig {
    loop_t loop;
    transports_t ts;
    client_t client;
    outcome_t out;
    char host[64];
    const char *hostp;
    scenario_t *sc;
} rig_t;

/* curl: every hop through libcurl (HERD_TRANSPORT=curl when the transports are made). */
static void rig_open_via(rig_t *r, const char *yaml, bool curl)
{
    char err[256];
    memset(r, 0, sizeof *r);
    snprintf(r->host, sizeof r->host, "http://127.0.0.1:%u", (unsigned)srv.port);
    r->hostp = r->host;
    r->sc = load(yaml);
    assert_int_equal(loop_init(&r->loop, err, sizeof err), 0);
    const char *was = getenv("HERD_TRANSPORT");
    char saved[32];
    snprintf(saved, sizeof saved, "%s", was ? was : "");
    if (curl)
        setenv("HERD_TRANSPORT", "curl", 1);
    assert_int_equal(transports_create(&r->ts, &r->loop, &r->hostp, NULL, 1, err, sizeof err), 0);
    if (!was)
        unsetenv("HERD_TRANSPORT");
    else
        setenv("HERD_TRANSPORT", saved, 1);
    client_config_t cfg = { .transports = &r->ts, .host_slot = 0, .host = r->host,
                            .done = on_client_done, .owner = &r->out };
    client_init(&r->client, &cfg);
}

static void rig_open(rig_t *r, const char *yaml)
{
    rig_open_via(r, yaml, false);
}

static void rig_close(rig_t *r)
{
    client_free(&r->client);
    transports_destroy(&r->ts);
    loop_free(&r->loop);
    scenario_free(r->sc);
}

static const step_t *task_step(const rig_t *r, size_t i)
{
    return &r->sc->classes[0].tasks[0].steps[i];
}

/* A request lost to a keep-alive connection the server closed is sent once more, on a new
 * connection, and counted once; a second loss is a failure. */
static void test_client_resends_once(void **state)
{
    (void)state;
    rig_t r;
    rig_open(&r, "users:\n  - name: U\n    tasks:\n      - name: t\n        steps:\n"
                 "          - get: /drop\n          - get: /len\n");
    int conns = atomic_load(&srv.connections);
    int reqs = atomic_load(&srv.requests);
    client_step(&r.client, &r.loop, task_step(&r, 0), &r.out); /* fresh connection */
    assert_null(r.out.res.failure);
    assert_int_equal(r.out.res.resends, 0);
    client_step(&r.client, &r.loop, task_step(&r, 0), &r.out); /* lost, sent again */
    assert_null(r.out.res.failure);
    assert_int_equal(r.out.res.resends, 1);
    assert_int_equal(r.out.res.bytes, 5);
    assert_int_equal(atomic_load(&srv.connections), conns + 2);
    assert_int_equal(atomic_load(&srv.requests), reqs + 3); /* the server saw the re-send */
    client_step(&r.client, &r.loop, task_step(&r, 1), &r.out);
    assert_null(r.out.res.failure);
    rig_close(&r);
}

/* The re-send rule on both transports: a GET lost to a reused connection the server closed
 * is sent once more and counted (libcurl's own retry is stopped, so the client decides and
 * counts); a POST or a DELETE lost the same way is never sent again: it fails, and the
 * server saw it once. */
static void test_resend_rule_both_transports(void **state)
{
    (void)state;
    for (int curl = 0; curl < 2; curl++) {
        rig_t r;
        rig_open_via(&r, "users:\n  - name: U\n    tasks:\n      - name: t\n        steps:\n"
                         "          - get: /close\n"
                         "          - get: /drop\n          - post: /drop\n            body: x\n"
                         "          - delete: /drop\n", curl);
        for (size_t step = 1; step < 4; step++) {
            client_step(&r.client, &r.loop, task_step(&r, 0), &r.out); /* closes the conn */
            assert_null(r.out.res.failure);
            client_step(&r.client, &r.loop, task_step(&r, step), &r.out); /* a fresh conn */
            assert_null(r.out.res.failure);
            int reqs = atomic_load(&srv.requests);
            client_step(&r.client, &r.loop, task_step(&r, step), &r.out); /* reused: dropped */
            if (step == 1) {
                assert_null(r.out.res.failure);
                assert_int_equal(r.out.res.resends, 1);
                assert_int_equal(r.out.res.bytes, 5);
                assert_int_equal(atomic_load(&srv.requests), reqs + 2);
            } else {
                if (!r.out.res.failure)
                    print_error("%s: step %zu sent again\n", curl ? "curl" : "native", step);
                assert_string_equal(r.out.msg, "Server returned nothing (no headers, no data)");
                assert_int_equal(r.out.res.resends, 0);
                assert_int_equal(atomic_load(&srv.requests), reqs + 1); /* once, never twice */
            }
        }
        rig_close(&r);
    }
}

/* max_body caps what is kept for save/expect, on both transports: a bigger body is read to
 * its end and counted, and a step that reads it fails with a message naming the key; a
 * body within it is kept whole. */
static void test_max_body_both_transports(void **state)
{
    (void)state;
    for (int curl = 0; curl < 2; curl++) {
        rig_t r;
        rig_open_via(&r, "defaults: {max_body: 1MiB}\n"
                         "users:\n  - name: U\n    tasks:\n      - name: t\n        steps:\n"
                         "          - get: /big\n            save: {x: a}\n"
                         "          - get: /bigchunked\n            expect: {contains: END}\n"
                         "          - get: /bigchunked\n            expect: {contains: END}\n"
                         "            max_body: 4MiB\n"
                         "          - get: /big\n", curl);
        client_step(&r.client, &r.loop, task_step(&r, 0), &r.out);
        assert_string_equal(r.out.msg, "Response body larger than max_body (1 MiB): not kept "
                                       "for save; raise max_body in the scenario");
        assert_int_equal(r.out.res.bytes, BIG_BYTES);
        client_step(&r.client, &r.loop, task_step(&r, 1), &r.out);
        assert_string_equal(r.out.msg, "Response body larger than max_body (1 MiB): not kept "
                                       "for expect; raise max_body in the scenario");
        assert_int_equal(r.out.res.bytes, BIG_BYTES);
        client_step(&r.client, &r.loop, task_step(&r, 2), &r.out);
        assert_null(r.out.res.failure);
        assert_int_equal(r.out.res.bytes, BIG_BYTES);
        client_step(&r.client, &r.loop, task_step(&r, 3), &r.out); /* nothing to keep */
        assert_null(r.out.res.failure);
        assert_int_equal(r.out.res.bytes, BIG_BYTES);
        rig_close(&r);
    }
}

/* Redirects are followed by the client, whichever transport carries each hop: same origin
 * stays native; the final response is judged; too many is curl's failure. */
static void test_client_follows_redirects(void **state)
{
    (void)state;
    rig_t r;
    rig_open(&r, "users:\n  - name: U\n    tasks:\n      - name: t\n        steps:\n"
                 "          - get: /redirect\n            expect: {contains: hello}\n"
                 "          - post: /redirect\n            body: x\n");
    int reqs = atomic_load(&srv.requests);
    client_step(&r.client, &r.loop, task_step(&r, 0), &r.out);
    assert_null(r.out.res.failure);
    assert_int_equal(r.out.res.bytes, 5); /* "hello", not the 302's "move" */
    assert_int_equal(atomic_load(&srv.requests), reqs + 2);
    /* A POST redirected by a 302 becomes a GET without its body (curl's rule). */
    client_step(&r.client, &r.loop, task_step(&r, 1), &r.out);
    assert_null(r.out.res.failure);
    pthread_mutex_lock(&srv.mu);
    assert_non_null(strstr(srv.last_head, "GET /len HTTP/1.1"));
    assert_null(strstr(srv.last_head, "Content-Length"));
    pthread_mutex_unlock(&srv.mu);
    rig_close(&r);
}

/* Sessions on both transports: the final response's headers are kept for a step that reads
 * them (not a 1xx's), its Set-Cookie goes to the user's jar and comes back on the next
 * request; a deflate body is decoded for the step that reads it and counted as received. */
static void test_session_both_transports(void **state)
{
    (void)state;
    deflated_init();
    for (int curl = 0; curl < 2; curl++) {
        rig_t r;
        rig_open_via(&r, "users:\n  - name: U\n    tasks:\n      - name: t\n        steps:\n"
                         "          - get: /hdrs\n          - get: /len\n"
                         "          - get: /deflate\n            expect: {contains: '\"a\": 1'}\n",
                         curl);
        r.sc->classes[0].tasks[0].steps[0].needs_headers = true; /* the loader's, for save */
        client_step(&r.client, &r.loop, task_step(&r, 0), &r.out);
        assert_null(r.out.res.failure);
        size_t len;
        const char *v = request_header(&r.client.req, "x-token", &len);
        assert_non_null(v);
        assert_int_equal(len, 3);
        assert_memory_equal(v, "abc", 3);
        assert_null(request_header(&r.client.req, "X-Interim", &len));
        assert_int_equal(cookie_jar_count(&r.client.jar), 1);
        client_step(&r.client, &r.loop, task_step(&r, 1), &r.out);
        assert_null(r.out.res.failure);
        pthread_mutex_lock(&srv.mu);
        bool sent = strstr(srv.last_head, "\r\nCookie: s=1\r\n") != NULL;
        bool asked = strstr(srv.last_head, "\r\nAccept-Encoding: gzip, deflate\r\n") != NULL;
        pthread_mutex_unlock(&srv.mu);
        assert_true(sent);
        assert_true(asked);
        assert_null(request_header(&r.client.req, "X-Token", &len)); /* not kept for /len */
        client_step(&r.client, &r.loop, task_step(&r, 2), &r.out);
        if (r.out.res.failure)
            print_error("%s: %s\n", curl ? "curl" : "native", r.out.msg);
        assert_null(r.out.res.failure);
        assert_int_equal(r.out.res.bytes, deflated_len);
        rig_close(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length_and_keep_alive),
        cmocka_unit_test(test_chunked_in_pieces),
        cmocka_unit_test(test_bodiless_responses),
        cmocka_unit_test(test_close_eof_and_http10),
        cmocka_unit_test(test_retry_on_closed_reused_connection),
        cmocka_unit_test(test_client_resends_once),
        cmocka_unit_test(test_resend_rule_both_transports),
        cmocka_unit_test(test_big_bodies_kept_or_capped),
        cmocka_unit_test(test_max_body_both_transports),
        cmocka_unit_test(test_client_follows_redirects),
        cmocka_unit_test(test_session_both_transports),
        cmocka_unit_test(test_failures_carry_curls_codes),
        cmocka_unit_test(test_same_codes_as_curl),
        cmocka_unit_test(test_urls_and_locations),
        cmocka_unit_test(test_https_urls_and_locations),
    };
    return cmocka_run_group_tests(tests, server_start, NULL);
}
