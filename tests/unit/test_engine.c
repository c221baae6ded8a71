/*
 * test_engine — the engine against a real HTTP server (libmicrohttpd on 127.0.0.1, port
 * chosen by the kernel) that counts what it answers: what the engine counts must equal what
 * the server served, failures must carry the messages scenarios/README.md documents, saves
 * must flow into later requests, waits must pace, targets must be honoured; the last tests run
 * each case over both transports (native and HERD_TRANSPORT=curl).
 *
 * One file over 900 lines on purpose: every test here drives the whole engine against the one
 * in-process server defined at the top, whose counters are the truth the tests compare with;
 * splitting would mean two copies of that server.
 */
#include <stdarg.h>
#include <stddef.h>
#include <ctype.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../common/scenario.h"
#include "../../common/stats.h"
#include "../../worker/engine.h"
#include "scenario_fixture.h"
#include "../../worker/setup.h"

/* ---- the target server ------------------------------------------------------------------ */

static struct {
    struct MHD_Daemon *d;
    uint16_t port;
    char host[64];
    atomic_ulong total;       /* every request answered */
    atomic_ulong close_good;  /* /close/uuid-42 */
    atomic_ulong close_bad;   /* /close/<anything else> */
    atomic_ulong use_good;    /* /use/tok-7 */
    atomic_ulong use_bad;
    atomic_ulong echo_good;   /* POST /echo with the expected body */
    atomic_ulong redirects;   /* /redir answered with a 302 */
    pthread_mutex_t mu;       /* guards capture */
    char capture[4096];       /* the last /capture request: sorted "k: v" lines */
} srv = { .mu = PTHREAD_MUTEX_INITIALIZER };

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct lines {
    char *v[64];
    size_t n;
} lines_t;

static void lines_add(lines_t *l, const char *kind, const char *k, const char *v)
{
    if (l->n < 64 && asprintf(&l->v[l->n], "%s %s: %s", kind, k, v ? v : "") > 0)
        l->n++;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *k,
                                      const char *v)
{
    lines_add(cls, kind == MHD_HEADER_KIND ? "header" : "query", k, v);
    return MHD_YES;
}

/* What the server saw of a request, in an order-independent form. */
static void capture(struct MHD_Connection *c, const char *method, const char *url,
                    const char *body, size_t body_len)
{
    lines_t l = { .n = 0 };
    lines_add(&l, "request", method, url);
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, &l);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_header, &l);
    char b[300];
    snprintf(b, sizeof b, "%.*s", (int)body_len, body);
    lines_add(&l, "body", "", b);
    qsort(l.v, l.n, sizeof l.v[0], cmp_str);
    pthread_mutex_lock(&srv.mu);
    srv.capture[0] = '\0';
    for (size_t i = 0; i < l.n; i++) {
        strncat(srv.capture, l.v[i], sizeof srv.capture - strlen(srv.capture) - 2);
        strcat(srv.capture, "\n");
        free(l.v[i]);
    }
    pthread_mutex_unlock(&srv.mu);
}

/* A chunked body (unknown size), handed to MHD 8 bytes at a time. */
static const char chunked_body[] = "{\"gameUUID\": \"uuid-42\", \"n\": 1}";

static ssize_t chunked_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    size_t len = sizeof chunked_body - 1;
    if (pos >= len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = len - pos < 8 ? len - pos : 8;
    if (n > max)
        n = max;
    memcpy(buf, chunked_body + pos, n);
    return (ssize_t)n;
}

static int reply(struct MHD_Connection *c, unsigned status, const char *body, const char *type)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (type)
        MHD_add_response_header(r, "Content-Type", type);
    atomic_fetch_add(&srv.total, 1);
    int ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

typedef struct upload {
    char body[256];
    size_t len;
} upload_t;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *data, size_t *data_size, void **con_cls)
{
    (void)cls;
    (void)version;
    if (!*con_cls) {
        *con_cls = calloc(1, sizeof(upload_t));
        return MHD_YES;
    }
    upload_t *up = *con_cls;
    if (*data_size) {
        size_t n = *data_size;
        if (up->len + n < sizeof up->body) {
            memcpy(up->body + up->len, data, n);
            up->len += n;
        }
        *data_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/ok") == 0)
        return reply(c, 200, "ok", "text/plain");
    if (strcmp(url, "/capture") == 0) {
        capture(c, method, url, up->body, up->len);
        return reply(c, 200, "captured", "text/plain");
    }
    if (strcmp(url, "/chunked") == 0) {
        struct MHD_Response *r =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64, chunked_reader, NULL, NULL);
        atomic_fetch_add(&srv.total, 1);
        int ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strcmp(url, "/nocontent") == 0)
        return reply(c, 204, "", NULL);
    if (strcmp(url, "/redir") == 0 || strcmp(url, "/redir-abs") == 0 ||
        strcmp(url, "/redir-other") == 0) {
        char loc[80];
        if (strcmp(url, "/redir-other") == 0) /* another origin (name): curl takes over */
            snprintf(loc, sizeof loc, "http://localhost:%u/game", (unsigned)srv.port);
        else if (url[6])
            snprintf(loc, sizeof loc, "%s/game", srv.host);
        else
            snprintf(loc, sizeof loc, "game"); /* relative to /redir: /game */
        struct MHD_Response *r =
            MHD_create_response_from_buffer(5, (void *)"moved", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Location", loc);
        atomic_fetch_add(&srv.total, 1);
        atomic_fetch_add(&srv.redirects, 1);
        int ret = MHD_queue_response(c, 302, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strcmp(url, "/closeconn") == 0) {
        /* The server ends the connection after the response: every request a new socket. */
        struct MHD_Response *r =
            MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "Connection", "close");
        atomic_fetch_add(&srv.total, 1);
        int ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strcmp(url, "/missing") == 0)
        return reply(c, 404, "not found", "text/plain");
    if (strcmp(url, "/game") == 0)
        return reply(c, 200, "{\"gameUUID\": \"uuid-42\", \"n\": 1}", "application/json");
    if (strcmp(url, "/nokey") == 0)
        return reply(c, 200, "{\"other\": 1}", "application/json");
    if (strcmp(url, "/notjson") == 0)
        return reply(c, 200, "hello", "text/plain");
    if (strcmp(url, "/empty") == 0)
        return reply(c, 200, "[]", "application/json");
    if (strcmp(url, "/players") == 0)
        return reply(c, 200, "{\"token\": \"tok-7\"}", "application/json");
    if (strncmp(url, "/close/", 7) == 0) {
        atomic_fetch_add(strcmp(url + 7, "uuid-42") == 0 ? &srv.close_good : &srv.close_bad, 1);
        return reply(c, 200, "closed", "text/plain");
    }
    if (strncmp(url, "/use/", 5) == 0) {
        atomic_fetch_add(strcmp(url + 5, "tok-7") == 0 ? &srv.use_good : &srv.use_bad, 1);
        return reply(c, 200, "used", "text/plain");
    }
    if (strcmp(url, "/echo") == 0 && strcmp(method, "POST") == 0) {
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "q");
        if (up->len == strlen("{\"a\":\"uuid-42\"}") &&
            memcmp(up->body, "{\"a\":\"uuid-42\"}", up->len) == 0 && ct &&
            strcmp(ct, "application/json") == 0 && q && strcmp(q, "x y") == 0)
            atomic_fetch_add(&srv.echo_good, 1);
        return reply(c, 200, "{}", "application/json");
    }
    return reply(c, 500, "unknown route", "text/plain");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static void server_reset_counts(void)
{
    atomic_store(&srv.total, 0);
    atomic_store(&srv.close_good, 0);
    atomic_store(&srv.close_bad, 0);
    atomic_store(&srv.use_good, 0);
    atomic_store(&srv.use_bad, 0);
    atomic_store(&srv.echo_good, 0);
    atomic_store(&srv.redirects, 0);
}

/* idle_timeout_s > 0: the daemon closes keep-alive connections idle that long. */
static struct MHD_Daemon *daemon_start(unsigned idle_timeout_s, uint16_t *port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_request, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        NULL, MHD_OPTION_CONNECTION_LIMIT, 4000u, MHD_OPTION_THREAD_POOL_SIZE, 2u,
        MHD_OPTION_CONNECTION_TIMEOUT, idle_timeout_s, MHD_OPTION_END);
    if (d)
        *port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    return d;
}

static int server_start(void **state)
{
    (void)state;
    srv.d = daemon_start(0, &srv.port);
    if (!srv.d)
        return -1;
    snprintf(srv.host, sizeof srv.host, "http://127.0.0.1:%u", (unsigned)srv.port);
    return 0;
}

static int server_stop(void **state)
{
    (void)state;
    MHD_stop_daemon(srv.d);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool wait_users(engine_t *e, uint32_t n, double timeout_s)
{
    double end = now_s() + timeout_s;
    while (now_s() < end) {
        if (engine_user_count(e) == n)
            return true;
        sleep_ms(10);
    }
    return engine_user_count(e) == n;
}

static engine_t *start(const scenario_t *sc, const char *host, json_t *const *globals,
                       double stop_timeout_s)
{
    engine_config_t cfg = {
        .sc = sc,
        .host_override = host,
        .worker_id = "00000000-0000-0000-0000-000000000001",
        .globals = globals,
        .index = 0,
        .n_engines = 1,
        .stop_timeout_s = stop_timeout_s,
    };
    engine_t *e = NULL;
    char err[256] = "";
    int rc = engine_create(&cfg, &e, err, sizeof err);
    if (rc != 0)
        print_error("engine_create: %s\n", err);
    assert_int_equal(rc, 0);
    return e;
}

/* Run `users` users of class 0 for run_ms, stop gracefully, collect everything into out. */
static void run(const scenario_t *sc, const char *host, json_t *const *globals, uint32_t users,
                long run_ms, stats_table_t *out)
{
    engine_t *e = start(sc, host, globals, 1.0);
    uint32_t targets[8] = { users };
    engine_set_target(e, targets, 1000.0);
    sleep_ms(run_ms);
    engine_stop(e);
    assert_true(wait_users(e, 0, 3.0));
    assert_int_equal(engine_collect(e, out, 2000), 0);
    engine_destroy(e);
}

static const stats_entry_t *row(const stats_table_t *t, const char *method, const char *name)
{
    long i = stats_find(t, method, name);
    if (i < 0)
        print_error("no row %s %s\n", method, name);
    assert_true(i >= 0);
    return &t->entries[i];
}

static uint64_t failures_with(const stats_table_t *t, const char *message)
{
    uint64_t n = 0;
    for (size_t i = 0; i < t->n_failures; i++)
        if (strcmp(t->failures[i].message, message) == 0)
            n += t->failures[i].count;
    return n;
}

static void dump_failures(const stats_table_t *t)
{
    for (size_t i = 0; i < t->n_failures; i++)
        print_message("  failure %s %s: %s x%lu\n", t->failures[i].method, t->failures[i].name,
                      t->failures[i].message, (unsigned long)t->failures[i].count);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_count_equals_server(void **state)
{
    (void)state;
    server_reset_counts();
    scenario_t *sc = load("users:\n"
                          "  - name: U\n"
                          "    tasks:\n"
                          "      - name: t\n"
                          "        steps:\n"
                          "          - get: /ok\n");
    stats_table_t t;
    stats_init(&t);
    run(sc, srv.host, NULL, 20, 1000, &t);
    uint64_t served = atomic_load(&srv.total);
    dump_failures(&t);
    print_message("  20 users, 1 s: %lu requests\n", (unsigned long)served);
    assert_true(served > 100);
    assert_int_equal(stats_total_requests(&t), served);
    assert_int_equal(stats_total_failures(&t), 0);
    assert_int_equal(row(&t, "GET", "/ok")->requests, served);
    assert_true(row(&t, "GET", "/ok")->bytes == 2 * served);
    stats_free(&t);
    scenario_free(sc);
}

/* Sockets come and go (the server closes each connection) and their numbers are reused; the
 * engine keeps idle keep-alive sockets registered in epoll, so a new socket with an old
 * number must not be mistaken for the old one: every request is answered and counted. */
static void test_connection_close_each_request(void **state)
{
    (void)state;
    server_reset_counts();
    scenario_t *sc = load("users:\n"
                          "  - name: U\n"
                          "    tasks:\n"
                          "      - name: t\n"
                          "        steps:\n"
                          "          - get: /closeconn\n"
                          "          - get: /ok\n");
    stats_table_t t;
    stats_init(&t);
    run(sc, srv.host, NULL, 10, 1000, &t);
    uint64_t served = atomic_load(&srv.total);
    dump_failures(&t);
    assert_true(served > 20);
    assert_int_equal(stats_total_failures(&t), 0);
    assert_int_equal(stats_total_requests(&t), served);
    uint64_t closes = row(&t, "GET", "/closeconn")->requests;
    uint64_t oks = row(&t, "GET", "/ok")->requests;
    assert_int_equal(closes, oks); /* graceful stop: every task ran both steps */
    stats_free(&t);
    scenario_free(sc);
}

static void test_404_fails_with_status(void **state)
{
    (void)state;
    server_reset_counts();
    scenario_t *sc = load("users:\n"
                          "  - name: U\n"
                          "    wait: {constant: 0.01}\n"
                          "    tasks:\n"
                          "      - name: t\n"
                          "        steps:\n"
                          "          - get: /missing\n");
    stats_table_t t;
    stats_init(&t);
    run(sc, srv.host, NULL, 5, 500, &t);
    uint64_t served = atomic_load(&srv.total);
    assert_true(served > 10);
    assert_int_equal(row(&t, "GET", "/missing")->requests, served);
    assert_int_equal(row(&t, "GET", "/missing")->failures, served);
    assert_int_equal(failures_with(&t, "HTTP 404"), served);
    assert_int_equal(t.n_failures, 1);
    stats_free(&t);
    scenario_free(sc);
}

static void test_save_feeds_next_step(void **state)
{
    (void)state;
    server_reset_counts();
    scenario_t *sc = load("users:\n"
                          "  - name: U\n"
                          "    wait: {constant: 0.01}\n"
                          "    tasks:\n"
                          "      - name: t\n"
                          "        steps:\n"
                          "          - get: /game\n"
                          "            expect: {status: 200, json: [n]}\n"
                          "            save: {game: gameUUID}\n"
                          "          - get: \"/close/{{ game }}\"\n"
                          "            name: /close/[game]\n"
                          "          - post: /echo\n"
                          "            query: {q: x y}\n"
                          "            json: {a: \"{{ game }}\"}\n");
    stats_table_t t;
    stats_init(&t);
    run(sc, srv.host, NULL, 5, 500, &t);
    dump_failures(&t);
    uint64_t closes = row(&t, "GET", "/close/[game]")->requests;
    assert_true(closes > 5);
    assert_int_equal(atomic_load(&srv.close_good), closes);
    assert_int_equal(atomic_load(&srv.close_bad), 0);
    assert_int_equal(row(&t, "POST", "/echo")->requests, atomic_load(&srv.echo_good));
    assert_int_equal(stats_total_failures(&t), 0);
    assert_int_equal(stats_total_requests(&t), atomic_load(&srv.total));
    stats_free(&t);
    scenario_free(sc);
}

static void test_missing_key_and_not_json(void **state)
{
    (void)state;
    server_reset_counts();
    scenario_t *sc = load("users:\n"
                          "  - name: U\n"
                          "    wait: {constant: 0.01}\n"
                          "    sequential: true\n"
                          "    tasks:\n"
                          "      - name: a\n"
                          "        steps:\n"
                          "          - get: /nokey\n"
                          "            save: {game: gameUUID}\n"
                          "          - get: \"/close/{{ game }}\"\n"
                          "            name: /close\n"
                          "      - name: b\n"
                          "        steps:\n"
                          "          - get: /notjson\n"
                          "            save: {x: $}\n"
                          "          - get: /ok\n");
    stats_table_t t;
    stats_init(&t);
    run(sc, srv.host, NULL, 3, 500, &t);
    dump_failures(&t);
    uint64_t nokey = row(&t, "GET", "/nokey")->requests;
    uint64_t notjson = row(&t, "GET", "/notjson")->requests;
    assert_true(nokey > 3 && notjson > 3);
    assert_int_equal(row(&t, "GET", "/nokey")->failures, nokey);
    assert_int_equal(failures_with(&t, "Response did not contain expected key 'gameUUID'"),
                     nokey);
    assert_int_equal(failures_with(&t, "Response could not be decoded as JSON"), notjson);
    /* A failed step skips the rest of its task: nothing was sent after it. */
    assert_int_equal(row(&t, "GET", "/close")->requests, 0);
    assert_int_equal(row(&t, "GET", "/ok")->requests, 0);
    assert_int_equal(atomic_load(&srv.close_good) + atomic_load(&srv.close_bad), 0);
    assert_int_equal(stats_total_requests(&t), atomic_load(&srv.total));
    stats_free(&t);
    scenario_free(sc);
}

static void test_connection_refused(void **state)
{
    (void)state;
    /* A port nobody listens on: bind one, note it, close it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    char host[64];
    snprintf(host, sizeof host, "http://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));

    scenario_t *sc = load("users:\n"
                          "  - name: U\n"
                          "    wait: {constant: 0.02}\n"
                          "    tasks:\n"
                          "      - name: t\n"
                          "        steps:\n"
                          "          - get: /ok\n"
                          "          - get: /never\n");
    stats_table_t t;
    stats_init(&t);
    run(sc, host, NULL, 3, 400, &t);
    dump_failures(&t);
    uint64_t n = row(&t, "GET", "/ok")->requests;
    assert_true(n > 3);
    assert_int_equal(row(&t, "GET", "/ok")->failures, n);
    assert_int_equal(failures_with(&t, curl_easy_strerror(CURLE_COULDNT_CONNECT)), n);
    assert_int_equal(row(&t, "GET", "/never")->requests, 0);
    stats_free(&t);
    scenario_free(sc);
}

static void test_no_host(void **state)
{
    (void)state;
    scenario_t *sc = load("users:\n"
                          "  - name: U\n"
                          "    wait: {constant: 0.05}\n"
                          "    tasks:\n"
                          "      - name: t\n"
                          "        steps:\n"
                          "          - get: /ok\n");
    stats_table_t t;
    stats_init(&t);
    run(sc, NULL, NULL, 2, 300, &t);
    uint64_t n = row(&t, "GET", "/ok")->requests;
    assert_true(n >= 2);
    assert_int_equal(failures_with(&t, "no host: pass -H or set host in the scenario"), n);
    stats_free(&t);
    scenario_free(sc);
}

static void test_pacing(void **state)
{
    (void)state;
    server_reset_counts();
    scenario_t *sc = load("users:\n"
                          "  - name: U\n"
                          "    wait: {pacing: 0.2}\n"
                          "    tasks:\n"
                          "      - name: t\n"
                          "        steps:\n"
                          "          - get: /ok\n");
    stats_table_t t;
    stats_init(&t);
    run(sc, srv.host, NULL, 10, 1000, &t);
    uint64_t n = stats_total_requests(&t);
    print_message("  pacing: %lu requests (expect ~50-60)\n", (unsigned long)n);
    assert_true(n >= 35 && n <= 80);
    assert_int_equal(n, atomic_load(&srv.total));
    stats_free(&t);
    scenario_free(sc);
}

static void test_sleep_step_and_throughput(void **state)
{
    (void)state;
    server_reset_counts();
    /* throughput 2/s per user, 4 users, 1 s: ~8-12 tasks; the sleep step sits inside. */
    scenario_t *sc = load("users:\n"
                          "  - name: U\n"
                          "    wait: {throughput: 2}\n"
                          "    tasks:\n"
                          "      - name: t\n"
                          "        steps:\n"
                          "          - get: /ok\n"
                          "          - sleep: 0.1\n"
                          "          - get: /game\n");
    stats_table_t t;
    stats_init(&t);
    run(sc, srv.host, NULL, 4, 1000, &t);
    uint64_t a = row(&t, "GET", "/ok")->requests, b = row(&t, "GET", "/game")->requests;
    print_message("  throughput: %lu tasks\n", (unsigned long)a);
    assert_true(a >= 6 && a <= 16);
    assert_int_equal(a, b); /* the graceful stop let every started task finish */
    stats_free(&t);
    scenario_free(sc);
}

static void test_target_down(void **state)
{
    (void)state;
    scenario_t *sc = load("users:\n"
                          "  - name: U\n"
                          "    wait: {constant: 0.05}\n"
                          "    tasks:\n"
                          "      - name: t\n"
                          "        steps:\n"
                          "          - get: /ok\n");
    engine_t *e = start(sc, srv.host, NULL, 1.0);
    uint32_t ten[1] = { 10 }, three[1] = { 3 };
    engine_set_target(e, ten, 100.0);
    assert_true(wait_users(e, 10, 3.0));
    engine_set_target(e, three, 100.0);
    assert_true(wait_users(e, 3, 3.0));
    sleep_ms(200);
    assert_int_equal(engine_user_count(e), 3);
    engine_stop(e);
    assert_true(wait_users(e, 0, 3.0));
    engine_destroy(e);
    scenario_free(sc);
}

static void test_spawn_rate_and_classes(void **state)
{
    (void)state;
    scenario_t *sc = load("users:\n"
                          "  - name: A\n"
                          "    wait: {constant: 0.5}\n"
                          "    tasks:\n"
                          "      - name: t\n"
                          "        steps:\n"
                          "          - get: /ok\n"
                          "  - name: B\n"
                          "    wait: {constant: 0.5}\n"
                          "    tasks:\n"
                          "      - name: t\n"
                          "        steps:\n"
                          "          - get: /game\n");
    engine_t *e = start(sc, srv.host, NULL, 0);
    uint32_t targets[2] = { 4, 4 };
    engine_set_target(e, targets, 10.0); /* 8 users at 10/s: ~0.7 s */
    sleep_ms(250);
    uint32_t early = engine_user_count(e);
    assert_true(early >= 1 && early <= 6);
    assert_true(wait_users(e, 8, 3.0));
    engine_stop(e); /* stop_timeout 0: at once */
    assert_true(wait_users(e, 0, 1.0));
    stats_table_t t;
    stats_init(&t);
    assert_int_equal(engine_collect(e, &t, 2000), 0);
    /* Both classes ran. */
    assert_true(row(&t, "GET", "/ok")->requests >= 4);
    assert_true(row(&t, "GET", "/game")->requests >= 4);
    stats_free(&t);
    engine_destroy(e);
    scenario_free(sc);
}

static void test_setup_saves_global(void **state)
{
    (void)state;
    server_reset_counts();
    scenario_t *sc = load("setup:\n"
                          "  - get: /players\n"
                          "    save: {token: token}\n"
                          "users:\n"
                          "  - name: U\n"
                          "    wait: {constant: 0.02}\n"
                          "    tasks:\n"
                          "      - name: t\n"
                          "        steps:\n"
                          "          - get: \"/use/{{ token }}\"\n"
                          "            name: /use\n");
    json_t **globals = calloc(sc->n_globals ? sc->n_globals : 1, sizeof *globals);
    for (uint32_t i = 0; i < sc->n_globals; i++)
        globals[i] = sc->global_init[i] ? json_incref(sc->global_init[i]) : NULL;
    engine_config_t cfg = { .sc = sc, .host_override = srv.host, .worker_id = "w",
                            .globals = globals, .n_engines = 1, .stop_timeout_s = 1 };
    char err[256] = "";
    int rc = setup_run(cfg.sc, cfg.host_override, cfg.worker_id, globals, err, sizeof err);
    if (rc)
        print_error("setup: %s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(atomic_load(&srv.total), 1);

    stats_table_t t;
    stats_init(&t);
    run(sc, srv.host, globals, 3, 300, &t);
    uint64_t n = row(&t, "GET", "/use")->requests;
    assert_true(n > 3);
    assert_int_equal(atomic_load(&srv.use_good), n);
    assert_int_equal(atomic_load(&srv.use_bad), 0);
    /* Setup is not counted. */
    assert_int_equal(stats_total_requests(&t) + 1, atomic_load(&srv.total));
    stats_free(&t);

    /* A failing setup step says which one and why. */
    scenario_t *bad = load("setup:\n"
                           "  - get: /missing\n"
                           "users:\n"
                           "  - name: U\n"
                           "    tasks:\n"
                           "      - name: t\n"
                           "        steps:\n"
                           "          - get: /ok\n");
    cfg.sc = bad;
    assert_int_equal(setup_run(cfg.sc, cfg.host_override, cfg.worker_id, globals, err, sizeof err), -1);
    assert_string_equal(err, "setup step GET /missing failed: HTTP 404");
    scenario_free(bad);

    for (uint32_t i = 0; i < sc->n_globals; i++)
        json_decref(globals[i]);
    free(globals);
    scenario_free(sc);
}

static void test_template_error_sends_nothing(void **state)
{
    (void)state;
    server_reset_counts();
    scenario_t *sc = load("setup:\n"
                          "  - get: /empty\n"
                          "    save: {players: $}\n"
                          "users:\n"
                          "  - name: U\n"
                          "    wait: {constant: 0.02}\n"
                          "    tasks:\n"
                          "      - name: t\n"
                          "        steps:\n"
                          "          - get: \"/use/{{ pick(players) }}\"\n"
                          "            name: /use/[player]\n"
                          "          - get: /ok\n");
    json_t **globals = calloc(sc->n_globals ? sc->n_globals : 1, sizeof *globals);
    engine_config_t cfg = { .sc = sc, .host_override = srv.host, .worker_id = "w",
                            .globals = globals, .n_engines = 1, .stop_timeout_s = 1 };
    char err[256] = "";
    assert_int_equal(setup_run(cfg.sc, cfg.host_override, cfg.worker_id, globals, err, sizeof err), 0);
    stats_table_t t;
    stats_init(&t);
    run(sc, srv.host, globals, 2, 300, &t);
    dump_failures(&t);
    const stats_entry_t *r = row(&t, "GET", "/use/[player]");
    assert_true(r->requests >= 4);
    assert_int_equal(r->failures, r->requests);
    assert_int_equal(r->max_us, 0); /* nothing was sent: 0 response time */
    assert_int_equal(failures_with(&t, "pick() on an empty list 'players'"), r->requests);
    assert_int_equal(row(&t, "GET", "/ok")->requests, 0);
    assert_int_equal(atomic_load(&srv.total), 1); /* the setup request only */
    stats_free(&t);
    for (uint32_t i = 0; i < sc->n_globals; i++)
        json_decref(globals[i]);
    free(globals);
    scenario_free(sc);
}

static void test_on_start_on_stop(void **state)
{
    (void)state;
    server_reset_counts();
    scenario_t *sc = load("users:\n"
                          "  - name: U\n"
                          "    wait: {constant: 0.05}\n"
                          "    on_start:\n"
                          "      - get: /game\n"
                          "        save: {game: gameUUID}\n"
                          "    on_stop:\n"
                          "      - get: \"/close/{{ game }}\"\n"
                          "        name: /close\n"
                          "    tasks:\n"
                          "      - name: t\n"
                          "        steps:\n"
                          "          - get: /ok\n");
    stats_table_t t;
    stats_init(&t);
    run(sc, srv.host, NULL, 4, 400, &t);
    dump_failures(&t);
    assert_int_equal(row(&t, "GET", "/game")->requests, 4);  /* once per user */
    assert_int_equal(row(&t, "GET", "/close")->requests, 4); /* graceful stop ran on_stop */
    assert_int_equal(atomic_load(&srv.close_good), 4);
    assert_true(row(&t, "GET", "/ok")->requests >= 8);
    assert_int_equal(stats_total_requests(&t), atomic_load(&srv.total));
    assert_int_equal(stats_total_failures(&t), 0);
    stats_free(&t);
    scenario_free(sc);
}

static void test_repeated_collect_loses_nothing(void **state)
{
    (void)state;
    server_reset_counts();
    scenario_t *sc = load("users:\n"
                          "  - name: U\n"
                          "    tasks:\n"
                          "      - name: t\n"
                          "        steps:\n"
                          "          - get: /ok\n"
                          "          - get: /missing\n");
    engine_t *e = start(sc, srv.host, NULL, 1.0);
    uint32_t targets[1] = { 20 };
    engine_set_target(e, targets, 1000.0);
    stats_table_t sum;
    stats_init(&sum);
    int collects = 0;
    for (int i = 0; i < 40; i++) {
        sleep_ms(25);
        stats_table_t part;
        stats_init(&part);
        if (engine_collect(e, &part, 1000) == 0) {
            collects++;
            assert_int_equal(stats_merge(&sum, &part), 0);
        }
        stats_free(&part);
    }
    engine_stop(e);
    assert_true(wait_users(e, 0, 3.0));
    assert_int_equal(engine_collect(e, &sum, 2000), 0);
    /* Once more: nothing left, nothing counted twice. */
    assert_int_equal(engine_collect(e, &sum, 2000), 0);
    engine_destroy(e);
    uint64_t served = atomic_load(&srv.total);
    assert_true(collects >= 30);
    assert_true(served > 100);
    assert_int_equal(stats_total_requests(&sum), served);
    assert_int_equal(stats_total_failures(&sum), row(&sum, "GET", "/missing")->requests);
    assert_int_equal(failures_with(&sum, "HTTP 404"), row(&sum, "GET", "/missing")->requests);
    stats_free(&sum);
    scenario_free(sc);
}

static void test_stop_timeout_zero_aborts(void **state)
{
    (void)state;
    server_reset_counts();
    scenario_t *sc = load("users:\n"
                          "  - name: U\n"
                          "    on_stop:\n"
                          "      - get: /game\n"
                          "    tasks:\n"
                          "      - name: t\n"
                          "        steps:\n"
                          "          - sleep: 5\n"
                          "          - get: /ok\n");
    engine_t *e = start(sc, srv.host, NULL, 0);
    uint32_t targets[1] = { 5 };
    engine_set_target(e, targets, 1000.0);
    assert_true(wait_users(e, 5, 2.0));
    double t0 = now_s();
    engine_stop(e);
    assert_true(wait_users(e, 0, 1.0));
    assert_true(now_s() - t0 < 0.5);
    stats_table_t t;
    stats_init(&t);
    assert_int_equal(engine_collect(e, &t, 2000), 0);
    assert_int_equal(stats_total_requests(&t), 0); /* no on_stop on abort */
    stats_free(&t);
    engine_destroy(e);
    scenario_free(sc);
}


/* ---- both transports -------------------------------------------------------------------- */

/* The engine reads HERD_TRANSPORT when it is created. */
static void use_curl(bool curl)
{
    if (curl)
        setenv("HERD_TRANSPORT", "curl", 1);
    else
        unsetenv("HERD_TRANSPORT");
}

static bool curl_forced;  /* the whole run is HERD_TRANSPORT=curl */

static void restore_transport(void)
{
    use_curl(curl_forced);
}

/* What the server saw of the last request of `step` (one user, a few requests). */
static void capture_step(const char *step, bool curl, char *out, size_t cap)
{
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "defaults:\n"
             "  headers: {X-Default: d, X-Class-Wins: default}\n"
             "users:\n"
             "  - name: U\n"
             "    wait: {constant: 0.05}\n"
             "    headers: {X-Class-Wins: class, X-Step-Wins: class}\n"
             "    tasks:\n"
             "      - name: t\n"
             "        steps:\n"
             "%s",
             step);
    scenario_t *sc = load(yaml);
    use_curl(curl);
    pthread_mutex_lock(&srv.mu);
    srv.capture[0] = '\0';
    pthread_mutex_unlock(&srv.mu);
    stats_table_t t;
    stats_init(&t);
    run(sc, srv.host, NULL, 1, 150, &t);
    restore_transport();
    dump_failures(&t);
    assert_true(stats_total_requests(&t) >= 1);
    assert_int_equal(stats_total_failures(&t), 0);
    pthread_mutex_lock(&srv.mu);
    snprintf(out, cap, "%s", srv.capture);
    pthread_mutex_unlock(&srv.mu);
    stats_free(&t);
    scenario_free(sc);
}

/* A multipart boundary is new every request: "herd-" and 24 hex digits become "herd-B..."
 * of the same length, so two captures compare on everything else. */
static void mask_boundaries(char *s)
{
    for (char *p = s; (p = strstr(p, "herd-")) != NULL; p += 5) {
        size_t n = 0;
        while (n < 24 && isxdigit((unsigned char)p[5 + n]))
            n++;
        if (n == 24)
            memset(p + 5, 'B', 24);
    }
}

/* The native transport sends what curl sends: method, path, query, Host, Accept,
 * User-Agent, headers (defaults < class < step), Content-Type and Content-Length, body. */
static void test_same_request_both_transports(void **state)
{
    (void)state;
    static const char *const steps[] = {
        "          - post: /capture\n"
        "            query: {q: x y, r: \"a&b=c\"}\n"
        "            headers: {X-Step-Wins: step, X-Empty: \"\"}\n"
        "            json: {a: [1, \"two\"]}\n",
        "          - put: /capture\n"
        "            body: \"k=v&w=1\"\n",
        "          - patch: /capture\n"
        "            form: {k: v w}\n"
        "            headers: {Accept: application/json, User-Agent: mine}\n",
        "          - post: /capture\n",
        "          - delete: /capture\n",
        "          - head: /capture\n",
        "          - options: /capture\n"
        "            body: raw\n",
        "          - get: \"/capture?pre=1\"\n"
        "            query: {k: v}\n"
        "            headers: {Content-Type: text/plain}\n",
        "          - post: /capture\n"
        "            multipart: {title: \"t {{ 1 + 1 }}\", \"x\\\"y\": z}\n",
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        char native[4096], curl[4096];
        capture_step(steps[i], false, native, sizeof native);
        capture_step(steps[i], true, curl, sizeof curl);
        mask_boundaries(native);
        mask_boundaries(curl);
        if (strcmp(native, curl) != 0)
            print_error("step %zu:\n-- native --\n%s-- curl --\n%s", i, native, curl);
        assert_string_equal(native, curl);
        assert_non_null(strstr(native, "header Host: 127.0.0.1:"));
        if (strstr(steps[i], "multipart"))
            assert_non_null(strstr(native, "\r\n\r\nt 2\r\n--herd-BBBBBBBBBBBBBBBBBBBBBBBB\r\n"
                                           "Content-Disposition: form-data; name=\"x%22y\""));
    }
}

/* A redirect is followed (the server answers both requests), counted once on the step's
 * row, judged on the final response, whichever transport. */
static void test_redirect_followed(void **state)
{
    (void)state;
    for (int curl = 0; curl < 2; curl++) {
        server_reset_counts();
        use_curl(curl);
        scenario_t *sc = load("users:\n"
                              "  - name: U\n"
                              "    wait: {constant: 0.01}\n"
                              "    tasks:\n"
                              "      - name: t\n"
                              "        steps:\n"
                              "          - get: /redir\n"
                              "            expect: {status: 200, json: [n]}\n"
                              "            save: {game: gameUUID}\n"
                              "          - get: \"/close/{{ game }}\"\n"
                              "            name: /close\n"
                              "          - get: /redir-abs\n"
                              "            expect: {contains: uuid-42}\n"
                              "          - get: /redir-other\n"
                              "            expect: {contains: uuid-42}\n");
        stats_table_t t;
        stats_init(&t);
        run(sc, srv.host, NULL, 3, 400, &t);
        restore_transport();
        dump_failures(&t);
        uint64_t n = row(&t, "GET", "/redir")->requests;
        uint64_t abs_n = row(&t, "GET", "/redir-abs")->requests +
                         row(&t, "GET", "/redir-other")->requests;
        assert_true(n > 3);
        assert_int_equal(stats_total_failures(&t), 0);
        assert_int_equal(atomic_load(&srv.redirects), n + abs_n);
        assert_int_equal(atomic_load(&srv.close_good), row(&t, "GET", "/close")->requests);
        /* Server: two requests a redirecting step, one for the others. */
        assert_int_equal(atomic_load(&srv.total), stats_total_requests(&t) + n + abs_n);
        /* Bytes: the final body only (the 302's "moved" is not counted). */
        assert_int_equal(row(&t, "GET", "/redir")->bytes, n * strlen(chunked_body));
        assert_int_equal(row(&t, "GET", "/redir-other")->bytes,
                         row(&t, "GET", "/redir-other")->requests * strlen(chunked_body));
        stats_free(&t);
        scenario_free(sc);
    }
}

static void test_chunked_head_and_204(void **state)
{
    (void)state;
    for (int curl = 0; curl < 2; curl++) {
        server_reset_counts();
        use_curl(curl);
        scenario_t *sc = load("users:\n"
                              "  - name: U\n"
                              "    wait: {constant: 0.01}\n"
                              "    tasks:\n"
                              "      - name: t\n"
                              "        steps:\n"
                              "          - get: /chunked\n"
                              "            save: {game: gameUUID}\n"
                              "          - get: \"/close/{{ game }}\"\n"
                              "            name: /close\n"
                              "          - head: /ok\n"
                              "          - delete: /nocontent\n"
                              "            expect: {status: 204}\n");
        stats_table_t t;
        stats_init(&t);
        run(sc, srv.host, NULL, 3, 400, &t);
        restore_transport();
        dump_failures(&t);
        uint64_t n = row(&t, "GET", "/chunked")->requests;
        assert_true(n > 3);
        assert_int_equal(stats_total_failures(&t), 0);
        assert_int_equal(row(&t, "GET", "/chunked")->bytes, n * strlen(chunked_body));
        assert_int_equal(atomic_load(&srv.close_good), n);
        assert_int_equal(row(&t, "HEAD", "/ok")->bytes, 0);
        assert_int_equal(row(&t, "DELETE", "/nocontent")->requests, n);
        assert_int_equal(stats_total_requests(&t), atomic_load(&srv.total));
        stats_free(&t);
        scenario_free(sc);
    }
}

/* A server that accepts connections (the kernel does) and never answers: the step's
 * timeout fails each request with curl's message. */
static void test_timeout_message(void **state)
{
    (void)state;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 64), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    char host[64];
    snprintf(host, sizeof host, "http://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    for (int curl = 0; curl < 2; curl++) {
        use_curl(curl);
        scenario_t *sc = load("users:\n"
                              "  - name: U\n"
                              "    tasks:\n"
                              "      - name: t\n"
                              "        steps:\n"
                              "          - get: /hang\n"
                              "            timeout: 0.1\n"
                              "          - get: /never\n");
        stats_table_t t;
        stats_init(&t);
        run(sc, host, NULL, 2, 450, &t);
        restore_transport();
        dump_failures(&t);
        const stats_entry_t *r = row(&t, "GET", "/hang");
        /* 2 users, 450 ms, 100 ms timeouts: about 9; a loaded machine runs fewer, never
         * more than one per user per 95 ms (min_us below) plus the one the stop aborts */
        assert_true(r->requests >= 1 && r->requests <= 2 * (450 / 95 + 1));
        assert_int_equal(r->failures, r->requests);
        assert_int_equal(failures_with(&t, curl_easy_strerror(CURLE_OPERATION_TIMEDOUT)),
                         r->requests);
        assert_true(r->min_us >= 95000);
        assert_int_equal(row(&t, "GET", "/never")->requests, 0);
        stats_free(&t);
        scenario_free(sc);
    }
    close(lfd);
}

/* A server closing idle keep-alive connections (1 s) while users wait longer between
 * tasks: no false failures, every request counted as the server counted it. */
/* A server that takes connections and never answers: whether the stop aborts at once or
 * after --stop-timeout, each user's request in flight is counted as interrupted on its row
 * (not as a request), over both transports. */
static void test_in_flight_at_stop_counted(void **state)
{
    (void)state;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 64), 0); /* the kernel completes connects; nobody reads */
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    char host[64];
    snprintf(host, sizeof host, "http://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    scenario_t *sc = load("users:\n"
                          "  - name: U\n"
                          "    tasks:\n"
                          "      - name: t\n"
                          "        steps:\n"
                          "          - get: /ok\n"
                          "          - get: /never\n");
    for (int curl = 0; curl < 2; curl++) {
        for (int graceful = 0; graceful < 2; graceful++) {
            use_curl(curl);
            engine_t *e = start(sc, host, NULL, graceful ? 0.2 : 0);
            restore_transport();
            uint32_t targets[1] = { 3 };
            engine_set_target(e, targets, 1000.0);
            assert_true(wait_users(e, 3, 2.0));
            sleep_ms(100);
            engine_stop(e);
            assert_true(wait_users(e, 0, 2.0));
            stats_table_t t;
            stats_init(&t);
            assert_int_equal(engine_collect(e, &t, 2000), 0);
            assert_int_equal(stats_total_requests(&t), 0);
            assert_int_equal(row(&t, "GET", "/ok")->interrupted, 3);
            assert_int_equal(stats_total_interrupted(&t), 3);
            stats_free(&t);
            engine_destroy(e);
        }
    }
    scenario_free(sc);
    close(lfd);
}

static void test_server_closes_idle_connections(void **state)
{
    (void)state;
    uint16_t port = 0;
    struct MHD_Daemon *d = daemon_start(1, &port);
    assert_non_null(d);
    char host[64];
    snprintf(host, sizeof host, "http://127.0.0.1:%u", (unsigned)port);
    for (int curl = 0; curl < 2; curl++) {
        server_reset_counts();
        use_curl(curl);
        scenario_t *sc = load("users:\n"
                              "  - name: U\n"
                              "    wait: {between: [0.9, 1.3]}\n"
                              "    tasks:\n"
                              "      - name: t\n"
                              "        steps:\n"
                              "          - get: /ok\n"
                              "          - get: /game\n");
        stats_table_t t;
        stats_init(&t);
        run(sc, host, NULL, 10, 3500, &t);
        restore_transport();
        dump_failures(&t);
        assert_true(stats_total_requests(&t) >= 40);
        assert_int_equal(stats_total_failures(&t), 0);
        assert_int_equal(stats_total_requests(&t), atomic_load(&srv.total));
        stats_free(&t);
        scenario_free(sc);
    }
    MHD_stop_daemon(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_equals_server),
        cmocka_unit_test(test_connection_close_each_request),
        cmocka_unit_test(test_404_fails_with_status),
        cmocka_unit_test(test_save_feeds_next_step),
        cmocka_unit_test(test_missing_key_and_not_json),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_no_host),
        cmocka_unit_test(test_pacing),
        cmocka_unit_test(test_sleep_step_and_throughput),
        cmocka_unit_test(test_target_down),
        cmocka_unit_test(test_spawn_rate_and_classes),
        cmocka_unit_test(test_setup_saves_global),
        cmocka_unit_test(test_template_error_sends_nothing),
        cmocka_unit_test(test_on_start_on_stop),
        cmocka_unit_test(test_repeated_collect_loses_nothing),
        cmocka_unit_test(test_stop_timeout_zero_aborts),
        cmocka_unit_test(test_same_request_both_transports),
        cmocka_unit_test(test_redirect_followed),
        cmocka_unit_test(test_chunked_head_and_204),
        cmocka_unit_test(test_timeout_message),
        cmocka_unit_test(test_server_closes_idle_connections),
        cmocka_unit_test(test_in_flight_at_stop_counted),
    };
    const char *t = getenv("HERD_TRANSPORT");
    curl_forced = t && strcmp(t, "curl") == 0;
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
