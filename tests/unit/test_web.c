/*
 * test_web — the web UI's server (master/web.h) on a free loopback port, driven with libcurl
 * as a browser or a script would drive it, in front of a run with no worker (master/run.h)
 * and a fake loop: a thread that takes the queued commands, records them and answers with a
 * verdict the test chose.
 *
 * What a user would notice: a bad form answered 400 with the field named and nothing sent to
 * the loop; a good one reaching the loop with its values, whatever its encoding; the loop's
 * verdict as the answer; --web-auth on every path; Locust's /stats/requests field names;
 * /metrics counts; the Server-Sent Events stream; a body too large refused; a busy port
 * named; and web_stop returning while a client still listens to the events.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../common/clock.h"
#include "../../common/log.h"
#include "../../common/scenario.h"
#include "../../common/stats.h"
#include "../../master/results.h"
#include "../../master/run.h"
#include "../../master/web.h"

static const char SCENARIO[] =
    "host: http://127.0.0.1:9\n"
    "users:\n"
    "  - name: Browser\n"
    "    tasks:\n"
    "      - steps:\n"
    "          - get: /\n";

/* The loop's part, played by a thread: every command is recorded and answered with
 * (verdict_status, verdict_message). */
typedef struct fake_loop {
    pthread_t thread;
    bool quit;
    web_cmd_t seen[16];
    size_t n_seen;
    int verdict_status;
    const char *verdict_message;
} fake_loop_t;

typedef struct fixture {
    scenario_t *sc;
    master_options_t o;
    run_t run;
    results_t res;
    pthread_mutex_t lock;
    web_source_t src;
    web_t *web;
    long port;
    char base[64];
    fake_loop_t loop;
} fixture_t;

static void no_send(void *ctx, const worker_t *w, Herd__Envelope *env)
{
    (void)ctx, (void)w, (void)env;
}

static void *loop_main(void *arg)
{
    fixture_t *f = arg;
    for (;;) {
        pthread_mutex_lock(&f->lock);
        bool quit = f->loop.quit;
        web_cmd_t *c = quit ? NULL : web_next_command(f->web);
        if (c) {
            if (f->loop.n_seen < 16)
                f->loop.seen[f->loop.n_seen++] = *c;
            web_command_done(f->web, c, f->loop.verdict_status, f->loop.verdict_message);
            web_publish(f->web, clock_mono_s());
        }
        pthread_mutex_unlock(&f->lock);
        if (quit)
            return NULL;
        usleep(5000);
    }
}

static long free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void serve(fixture_t *f, const char *auth)
{
    f->o.web_auth = auth;
    f->port = free_port();
    f->o.web_port = f->port;
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%ld", f->port);
    char err[256];
    assert_int_equal(web_start(&f->web, &f->o, &f->src, err, sizeof err), 0);
    assert_int_equal(pthread_create(&f->loop.thread, NULL, loop_main, f), 0);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    char err[256];
    assert_int_equal(scenario_load_text(SCENARIO, strlen(SCENARIO), "test.yaml", &f->sc, err,
                                        sizeof err), 0);
    f->o.file = "test.yaml";
    f->o.users = 7;
    f->o.spawn_rate = 2;
    f->o.heartbeat_liveness = 3;
    f->o.web_host = "127.0.0.1";
    run_config_t cfg = { .o = &f->o, .sc = f->sc, .scenario_text = SCENARIO,
                         .expect_workers = 1, .web = true, .idle_start = true };
    run_io_t io = { .ctx = f, .send = no_send };
    run_params_t p = { .users = 7, .spawn_rate = 2 };
    assert_int_equal(run_init(&f->run, &cfg, &io, &p, clock_mono_s(), clock_wall_s(), err,
                              sizeof err), 0);
    assert_int_equal(results_init(&f->res, &f->o, f->sc, err, sizeof err), 0);
    pthread_mutex_init(&f->lock, NULL);
    f->src = (web_source_t){ .lock = &f->lock, .run = &f->run, .results = &f->res,
                             .o = &f->o, .sc = f->sc };
    f->loop.verdict_status = 200;
    f->loop.verdict_message = "";
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    if (f->web) {
        pthread_mutex_lock(&f->lock);
        f->loop.quit = true;
        pthread_mutex_unlock(&f->lock);
        pthread_join(f->loop.thread, NULL);
        web_stop(f->web);
    }
    results_free(&f->res);
    run_free(&f->run);
    scenario_free(f->sc);
    pthread_mutex_destroy(&f->lock);
    free(f);
    return 0;
}

/* ---- a client ------------------------------------------------------------------------------ */

typedef struct reply {
    long status;
    char *body;
    size_t len;
    char www_authenticate[128];
    size_t stop_after;   /* end the transfer once this many bytes came (0: never) */
} reply_t;

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    reply_t *r = arg;
    size_t k = size * n;
    r->body = realloc(r->body, r->len + k + 1);
    memcpy(r->body + r->len, data, k);
    r->len += k;
    r->body[r->len] = '\0';
    if (r->stop_after && r->len >= r->stop_after)
        return 0;
    return k;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    reply_t *r = arg;
    size_t k = size * n;
    if (k > 18 && strncasecmp(data, "WWW-Authenticate: ", 18) == 0)
        snprintf(r->www_authenticate, sizeof r->www_authenticate, "%.*s", (int)(k - 18 - 2),
                 data + 18);
    return k;
}

/* Extra request headers for the next request() ("Origin: ...", "Host: ..."), then cleared. */
static const char *extra_headers[3];

/* method "GET" or "POST"; body NULL for none; type its Content-Type. */
static reply_t request(fixture_t *f, const char *method, const char *path, const char *type,
                       const char *body, size_t body_len, const char *userpwd)
{
    reply_t r;
    memset(&r, 0, sizeof r);
    char url[512];
    snprintf(url, sizeof url, "%s%s", f->base, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    if (userpwd)
        curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
    for (size_t i = 0; i < 3 && extra_headers[i]; i++)
        h = curl_slist_append(h, extra_headers[i]);
    memset(extra_headers, 0, sizeof extra_headers);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
        char ct[128];
        snprintf(ct, sizeof ct, "Content-Type: %s", type ? type : "");
        h = curl_slist_append(h, type ? ct : "Content-Type:");
        h = curl_slist_append(h, "Expect:");
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    CURLcode rc = curl_easy_perform(c);
    assert_true(rc == CURLE_OK || (r.stop_after && rc == CURLE_WRITE_ERROR));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
}

static reply_t get(fixture_t *f, const char *path)
{
    return request(f, "GET", path, NULL, NULL, 0, NULL);
}

static reply_t post_form(fixture_t *f, const char *path, const char *form)
{
    return request(f, "POST", path, "application/x-www-form-urlencoded", form, strlen(form),
                   NULL);
}

static json_t *json_of(const reply_t *r)
{
    json_error_t e;
    json_t *j = json_loadb(r->body ? r->body : "", r->len, 0, &e);
    if (!j)
        fail_msg("not JSON (%s): %.200s", e.text, r->body ? r->body : "");
    return j;
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static size_t commands_seen(fixture_t *f)
{
    pthread_mutex_lock(&f->lock);
    size_t n = f->loop.n_seen;
    pthread_mutex_unlock(&f->lock);
    return n;
}

/* Some requests on GET /x and POST /y in the run's statistics. */
static void add_stats(fixture_t *f)
{
    pthread_mutex_lock(&f->lock);
    int64_t now = (int64_t)clock_wall_s();
    long x = stats_row(&f->run.stats, "GET", "/x");
    long y = stats_row(&f->run.stats, "POST", "/y \"quoted\"");
    for (int i = 0; i < 10; i++)
        stats_record(&f->run.stats, (size_t)x, 1500 + (uint64_t)i * 100, 10, false, now);
    stats_record(&f->run.stats, (size_t)y, 2000000, 5, true, now);
    stats_add_failure(&f->run.stats, (size_t)y, "HTTP 500 <oops>");
    pthread_mutex_unlock(&f->lock);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_state_document_before_any_test(void **state)
{
    fixture_t *f = *state;
    serve(f, NULL);
    reply_t r = get(f, "/api/state");
    assert_int_equal(r.status, 200);
    json_t *doc = json_of(&r);
    assert_string_equal(jstr(doc, "mode"), "live");
    assert_string_equal(jstr(doc, "state"), "ready");
    json_t *d = json_object_get(doc, "defaults");
    assert_int_equal(json_integer_value(json_object_get(d, "user_count")), 7);
    assert_string_equal(jstr(d, "host"), "http://127.0.0.1:9");
    assert_true(json_is_object(json_object_get(json_object_get(doc, "ratio"), "per_class")));
    assert_int_equal(json_integer_value(json_object_get(doc, "expect_workers")), 1);
    json_decref(doc);
    free(r.body);

    r = get(f, "/health");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"ready\""));
    free(r.body);
    r = get(f, "/no/such/page");
    assert_int_equal(r.status, 404);
    free(r.body);
}

static void test_bad_form_is_400_naming_the_field_and_reaches_nobody(void **state)
{
    fixture_t *f = *state;
    serve(f, NULL);
    static const struct {
        const char *form, *message;
    } bad[] = {
        { "user_count=abc&spawn_rate=1", "user_count: 'abc' is not a whole number >= 1" },
        { "user_count=0&spawn_rate=1", "user_count: '0' is not a whole number >= 1" },
        { "user_count=5&spawn_rate=-1", "spawn_rate: '-1' is not a number > 0" },
        { "user_count=5&spawn_rate=nan", "spawn_rate: 'nan' is not a number > 0" },
        { "user_count=99999999&spawn_rate=1", "user_count: 99999999 is more than 10000000" },
        { "user_count=5&spawn_rate=1&run_time=soon", "run_time: 'soon' is not a duration" },
        { "user_count=5&spawn_rate=1&host=ftp://x", "host: 'ftp://x' must start with http" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        reply_t r = post_form(f, "/swarm", bad[i].form);
        assert_int_equal(r.status, 400);
        json_t *doc = json_of(&r);
        assert_false(json_is_true(json_object_get(doc, "success")));
        if (strncmp(jstr(doc, "message"), bad[i].message, strlen(bad[i].message)) != 0)
            fail_msg("%s: got '%s'", bad[i].form, jstr(doc, "message"));
        json_decref(doc);
        free(r.body);
    }
    char long_host[2100] = "user_count=5&spawn_rate=1&host=http://";
    memset(long_host + strlen(long_host), 'a', 2000);
    long_host[sizeof long_host - 1] = '\0';
    reply_t r = post_form(f, "/api/start", long_host);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "host: too long (1023 bytes at most)"));
    free(r.body);
    assert_int_equal(commands_seen(f), 0);
}

static void test_good_forms_reach_the_loop_whatever_their_encoding(void **state)
{
    fixture_t *f = *state;
    serve(f, NULL);
    reply_t r = post_form(f, "/swarm", "user_count=5&spawn_rate=2.5&host=http%3A%2F%2Fa%3A1"
                                       "&run_time=1m30s");
    assert_int_equal(r.status, 200);
    json_t *doc = json_of(&r);
    assert_true(json_is_true(json_object_get(doc, "success")));
    assert_string_equal(jstr(doc, "message"), "Swarming started");
    assert_string_equal(jstr(doc, "host"), "http://a:1");
    json_decref(doc);
    free(r.body);

    static const char json_body[] =
        "{\"user_count\": 3, \"spawn_rate\": \"1.5\", \"tags\": [\"a\", \"b\"]}";
    r = request(f, "POST", "/api/start", "application/json", json_body, strlen(json_body), NULL);
    assert_int_equal(r.status, 200);
    free(r.body);

    static const char multipart[] =
        "--XyZ\r\nContent-Disposition: form-data; name=\"user_count\"\r\n\r\n0\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"spawn_rate\"\r\n\r\n4\r\n--XyZ--\r\n";
    r = request(f, "POST", "/api/edit", "multipart/form-data; boundary=XyZ", multipart,
                strlen(multipart), NULL);
    assert_int_equal(r.status, 200);
    free(r.body);

    r = get(f, "/stop");
    assert_int_equal(r.status, 200);
    free(r.body);

    assert_int_equal(commands_seen(f), 4);
    web_cmd_t *s = f->loop.seen;
    assert_int_equal(s[0].kind, WEB_CMD_START);
    assert_int_equal(s[0].users, 5);
    assert_true(s[0].spawn_rate == 2.5);
    assert_string_equal(s[0].host, "http://a:1");
    assert_true(s[0].run_time_s == 90);
    assert_int_equal(s[1].kind, WEB_CMD_START);
    assert_int_equal(s[1].users, 3);
    assert_true(s[1].spawn_rate == 1.5);
    assert_string_equal(s[1].tags, "a,b");
    assert_string_equal(s[1].host, "");
    assert_int_equal(s[2].kind, WEB_CMD_EDIT);
    assert_int_equal(s[2].users, 0);
    assert_true(s[2].spawn_rate == 4);
    assert_int_equal(s[3].kind, WEB_CMD_STOP);
}

static void test_the_loops_verdict_is_the_answer(void **state)
{
    fixture_t *f = *state;
    f->loop.verdict_status = 409;
    f->loop.verdict_message = "a test is running";
    serve(f, NULL);
    reply_t r = post_form(f, "/api/start", "user_count=5&spawn_rate=1");
    assert_int_equal(r.status, 409);
    json_t *doc = json_of(&r);
    assert_false(json_is_true(json_object_get(doc, "success")));
    assert_string_equal(jstr(doc, "message"), "a test is running");
    json_decref(doc);
    free(r.body);
    /* Locust's /stop: stopping what is not running is no error */
    r = get(f, "/stop");
    assert_int_equal(r.status, 200);
    free(r.body);
}

static void test_web_auth_guards_every_path(void **state)
{
    fixture_t *f = *state;
    serve(f, "admin:s3cret");
    static const char *const paths[] = { "/", "/api/state", "/api/events", "/metrics",
                                         "/stats/requests", "/stats/requests/csv", "/stop",
                                         "/no/such/page", "/health/" };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        reply_t r = get(f, paths[i]);
        assert_int_equal(r.status, 401);
        assert_string_equal(r.www_authenticate, "Basic realm=\"herd\"");
        free(r.body);
        r = request(f, "GET", paths[i], NULL, NULL, 0, "admin:s3cre");
        assert_int_equal(r.status, 401);
        free(r.body);
        r = request(f, "GET", paths[i], NULL, NULL, 0, "admin:s3cret!");
        assert_int_equal(r.status, 401);
        free(r.body);
    }
    reply_t r = request(f, "POST", "/swarm", "application/x-www-form-urlencoded",
                        "user_count=1&spawn_rate=1", 25, NULL);
    assert_int_equal(r.status, 401);
    free(r.body);
    assert_int_equal(commands_seen(f), 0);
    r = request(f, "GET", "/api/state", NULL, NULL, 0, "admin:s3cret");
    assert_int_equal(r.status, 200);
    free(r.body);
    /* GET /health, a probe's, tells the state without credentials; another method asks */
    r = get(f, "/health");
    assert_int_equal(r.status, 200);
    free(r.body);
    r = request(f, "GET", "/health", NULL, NULL, 0, "admin:wrong");
    assert_int_equal(r.status, 200);
    free(r.body);
    r = request(f, "POST", "/health", "application/x-www-form-urlencoded", "x=1", 3, NULL);
    assert_int_equal(r.status, 401);
    free(r.body);
}

static void test_locust_stats_and_metrics(void **state)
{
    fixture_t *f = *state;
    add_stats(f);
    serve(f, NULL);
    reply_t r = get(f, "/stats/requests");
    assert_int_equal(r.status, 200);
    json_t *doc = json_of(&r);
    json_t *stats = json_object_get(doc, "stats");
    assert_int_equal(json_array_size(stats), 3);
    json_t *x = json_array_get(stats, 0), *agg = json_array_get(stats, 2);
    assert_string_equal(jstr(x, "name"), "/x");
    assert_int_equal(json_integer_value(json_object_get(x, "num_requests")), 10);
    assert_int_equal(json_integer_value(json_object_get(x, "min_response_time")), 2);
    static const char *const keys[] = {
        "method", "name", "safe_name", "num_requests", "num_failures", "avg_response_time",
        "min_response_time", "max_response_time", "current_rps", "current_fail_per_sec",
        "median_response_time", "ninetieth_response_time", "ninety_ninth_response_time",
        "avg_content_length", "response_time_percentile_0.95", "response_time_percentile_0.99",
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!json_object_get(agg, keys[i]))
            fail_msg("no %s in a row", keys[i]);
    assert_string_equal(jstr(agg, "name"), "Aggregated");
    assert_true(json_is_null(json_object_get(agg, "method")));   /* Locust's None */
    assert_int_equal(json_integer_value(json_object_get(agg, "num_requests")), 11);
    assert_int_equal(json_integer_value(json_object_get(agg, "num_failures")), 1);
    json_t *err = json_array_get(json_object_get(doc, "errors"), 0);
    assert_string_equal(jstr(err, "error"), "HTTP 500 &lt;oops&gt;");
    assert_int_equal(json_integer_value(json_object_get(err, "occurrences")), 1);
    static const char *const top[] = { "total_rps", "total_fail_per_sec", "fail_ratio",
                                       "current_response_time_percentiles", "state",
                                       "user_count", "workers" };
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (!json_object_get(doc, top[i]))
            fail_msg("no %s in /stats/requests", top[i]);
    json_decref(doc);
    free(r.body);

    r = get(f, "/metrics");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "herd_requests_total{method=\"GET\",name=\"/x\"} 10\n"));
    assert_non_null(strstr(r.body, "herd_failures_total{method=\"POST\","
                                   "name=\"/y \\\"quoted\\\"\"} 1\n"));
    assert_non_null(strstr(r.body, "herd_response_time_seconds_bucket{method=\"GET\","
                                   "name=\"/x\",le=\"0.001\"} 0\n"));
    assert_non_null(strstr(r.body, "herd_response_time_seconds_bucket{method=\"GET\","
                                   "name=\"/x\",le=\"0.0025\"} 10\n"));
    assert_non_null(strstr(r.body, "herd_response_time_seconds_count{method=\"POST\","
                                   "name=\"/y \\\"quoted\\\"\"} 1\n"));
    assert_non_null(strstr(r.body, "herd_state{state=\"ready\"} 1\n"));
    free(r.body);

    r = get(f, "/stats/requests/csv");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "GET,/x,10,0,"));
    assert_non_null(strstr(r.body, ",Aggregated,11,1,"));
    free(r.body);
    r = get(f, "/stats/failures/csv");
    assert_non_null(strstr(r.body, "POST,\"/y \"\"quoted\"\"\",HTTP 500 <oops>,1\r\n"));
    free(r.body);
}

typedef struct sse_client {
    fixture_t *f;
    reply_t r;
    int events;
    bool done;
} sse_client_t;

static size_t on_event_bytes(char *data, size_t size, size_t n, void *arg)
{
    sse_client_t *c = arg;
    size_t k = size * n;
    c->r.body = realloc(c->r.body, c->r.len + k + 1);
    memcpy(c->r.body + c->r.len, data, k);
    c->r.len += k;
    c->r.body[c->r.len] = '\0';
    int events = 0;
    for (const char *p = c->r.body; (p = strstr(p, "event: state\ndata: ")); p++)
        events++;
    __atomic_store_n(&c->events, events, __ATOMIC_SEQ_CST);
    return k;
}

static void *sse_main(void *arg)
{
    sse_client_t *c = arg;
    char url[128];
    snprintf(url, sizeof url, "%s/api/events", c->f->base);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_event_bytes);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_perform(h);
    curl_easy_cleanup(h);
    __atomic_store_n(&c->done, true, __ATOMIC_SEQ_CST);
    return NULL;
}

static bool wait_until(int *v, int at_least, double seconds)
{
    double until = clock_mono_s() + seconds;
    while (__atomic_load_n(v, __ATOMIC_SEQ_CST) < at_least && clock_mono_s() < until)
        usleep(10000);
    return __atomic_load_n(v, __ATOMIC_SEQ_CST) >= at_least;
}

static void test_events_stream_and_stop_ends_it(void **state)
{
    fixture_t *f = *state;
    serve(f, NULL);
    sse_client_t c = { .f = f };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, sse_main, &c), 0);
    assert_true(wait_until(&c.events, 1, 5));   /* at once, before any publish */
    assert_non_null(strstr(c.r.body, "retry: 3000\n"));
    pthread_mutex_lock(&f->lock);
    web_publish(f->web, clock_mono_s());
    pthread_mutex_unlock(&f->lock);
    assert_true(wait_until(&c.events, 2, 5));
    /* one line of JSON per event */
    const char *data = strstr(c.r.body, "data: ") + 6;
    json_error_t e;
    json_t *doc = json_loadb(data, (size_t)(strchr(data, '\n') - data), 0, &e);
    assert_non_null(doc);
    assert_string_equal(jstr(doc, "state"), "ready");
    json_decref(doc);

    /* web_stop returns promptly, and the client's stream ends */
    pthread_mutex_lock(&f->lock);
    f->loop.quit = true;
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->loop.thread, NULL);
    double t0 = clock_mono_s();
    web_stop(f->web);
    f->web = NULL;
    assert_true(clock_mono_s() - t0 < 3);
    pthread_join(t, NULL);
    assert_true(c.done);
    assert_non_null(strstr(c.r.body, "event: end\n"));
    free(c.r.body);
}

static void test_a_huge_body_or_an_odd_type_is_refused(void **state)
{
    fixture_t *f = *state;
    serve(f, NULL);
    size_t n = 10u << 20;
    char *big = malloc(n);
    memset(big, 'a', n);
    memcpy(big, "user_count=", 11);
    reply_t r = request(f, "POST", "/swarm", "application/x-www-form-urlencoded", big, n, NULL);
    assert_int_equal(r.status, 413);
    free(r.body);
    free(big);
    r = request(f, "POST", "/swarm", "text/plain", "user_count=1", 12, NULL);
    assert_int_equal(r.status, 415);
    free(r.body);
    r = request(f, "POST", "/api/start", "application/json", "{nope", 5, NULL);
    assert_int_equal(r.status, 400);
    free(r.body);
    r = request(f, "POST", "/api/start", "application/json", "{\"user_count\": true}", 20,
                NULL);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "user_count: a number is expected"));
    free(r.body);
    assert_int_equal(commands_seen(f), 0);
    r = post_form(f, "/metrics", "a=b");
    assert_int_equal(r.status, 405);
    free(r.body);
}

static void test_other_sites_pages_cannot_command(void **state)
{
    fixture_t *f = *state;
    serve(f, NULL);
    char own[128];
    snprintf(own, sizeof own, "Origin: http://127.0.0.1:%ld", f->port);
    /* a form another site's page makes the browser send */
    extra_headers[0] = "Origin: http://evil.example";
    reply_t r = post_form(f, "/swarm", "user_count=5&spawn_rate=1");
    assert_int_equal(r.status, 403);
    free(r.body);
    /* a name of another site pointed at 127.0.0.1 (DNS rebinding) */
    char rebound[128];
    snprintf(rebound, sizeof rebound, "Host: evil.example:%ld", f->port);
    extra_headers[0] = rebound;
    r = get(f, "/api/state");
    assert_int_equal(r.status, 403);
    free(r.body);
    assert_int_equal(commands_seen(f), 0);
    /* the page itself, a script, localhost */
    extra_headers[0] = own;
    r = post_form(f, "/swarm", "user_count=5&spawn_rate=1");
    assert_int_equal(r.status, 200);
    free(r.body);
    r = post_form(f, "/swarm", "user_count=5&spawn_rate=1");
    assert_int_equal(r.status, 200);
    free(r.body);
    extra_headers[0] = "Host: localhost";
    r = get(f, "/api/state");
    assert_int_equal(r.status, 200);
    free(r.body);
    assert_int_equal(commands_seen(f), 2);
}

static void test_a_busy_port_is_named(void **state)
{
    fixture_t *f = *state;
    serve(f, NULL);
    web_t *second = NULL;
    char err[256];
    assert_int_equal(web_start(&second, &f->o, &f->src, err, sizeof err), -1);
    char want[128];
    snprintf(want, sizeof want, "--web-port %ld: address already in use", f->port);
    assert_string_equal(err, want);
    master_options_t o = f->o;
    o.tls_cert = "/nonexistent/cert.pem";
    o.tls_key = "/nonexistent/key.pem";
    o.web_port = free_port();
    assert_int_equal(web_start(&second, &o, &f->src, err, sizeof err), -1);
    assert_non_null(strstr(err, "--tls-cert: /nonexistent/cert.pem"));
}

int main(void)
{
    char log_path[] = "/tmp/herd-test-web-XXXXXX";
    int fd = mkstemp(log_path);
    if (fd < 0)
        return 1;
    close(fd);
    char err[256];
    if (log_setup("master", LOG_INFO, log_path, err, sizeof err) < 0)
        return 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_state_document_before_any_test, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_form_is_400_naming_the_field_and_reaches_nobody,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_good_forms_reach_the_loop_whatever_their_encoding,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_loops_verdict_is_the_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_web_auth_guards_every_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locust_stats_and_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_stream_and_stop_ends_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_huge_body_or_an_odd_type_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_other_sites_pages_cannot_command, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_busy_port_is_named, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    log_close();
    unlink(log_path);
    return rc;
}
