/* wire: envelopes over a real ZeroMQ ROUTER/DEALER pair (inproc), version and garbage checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "../../common/hist.h"
#include "../../common/wire.h"

typedef struct pair {
    void *ctx, *router, *dealer;
} pair_t;

static int setup(void **state)
{
    static pair_t p;
    char err[128];
    p.ctx = zmq_ctx_new();
    p.router = zmq_socket(p.ctx, ZMQ_ROUTER);
    p.dealer = zmq_socket(p.ctx, ZMQ_DEALER);
    assert_int_equal(wire_socket_setup(p.router, err, sizeof err), 0);
    assert_int_equal(wire_socket_setup(p.dealer, err, sizeof err), 0);
    zmq_setsockopt(p.dealer, ZMQ_ROUTING_ID, "worker-1", 8);
    assert_int_equal(zmq_bind(p.router, "inproc://wire-test"), 0);
    assert_int_equal(zmq_connect(p.dealer, "inproc://wire-test"), 0);
    *state = &p;
    return 0;
}

static int teardown(void **state)
{
    pair_t *p = *state;
    zmq_close(p->router);
    zmq_close(p->dealer);
    zmq_ctx_term(p->ctx);
    return 0;
}

static Herd__Envelope *recv_wait(void *sock, bool router, char *id, size_t *id_len, char *err)
{
    for (int i = 0; i < 200; i++) {
        bool again;
        Herd__Envelope *e = wire_recv(sock, router, id, id_len, &again, err, 256);
        if (e || !again)
            return e;
        usleep(5000);
    }
    return NULL;
}

static void test_round_trip(void **state)
{
    pair_t *p = *state;
    char err[256];
    Herd__Hello h = HERD__HELLO__INIT;
    h.worker_id = "worker-1";
    h.hostname = "box";
    h.threads = 4;
    h.last_acked_seq = 77;
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    assert_int_equal(wire_send(p->dealer, NULL, 0, &env, err, sizeof err), 0);
    char id[WIRE_MAX_ID_BYTES + 1];
    size_t id_len = 0;
    Herd__Envelope *got = recv_wait(p->router, true, id, &id_len, err);
    assert_non_null(got);
    assert_int_equal(id_len, 8);
    assert_memory_equal(id, "worker-1", 8);
    assert_int_equal(got->version, HERD_PROTOCOL_VERSION);
    assert_int_equal(got->body_case, HERD__ENVELOPE__BODY_HELLO);
    assert_string_equal(got->hello->hostname, "box");
    assert_int_equal(got->hello->threads, 4);
    assert_int_equal(got->hello->last_acked_seq, 77);
    assert_string_equal(wire_body_name(got), "Hello");
    wire_free(got);

    /* and back, addressed by routing id */
    Herd__Ack ack = HERD__ACK__INIT;
    ack.seq = 9;
    Herd__Envelope back = HERD__ENVELOPE__INIT;
    back.body_case = HERD__ENVELOPE__BODY_ACK;
    back.ack = &ack;
    assert_int_equal(wire_send(p->router, id, id_len, &back, err, sizeof err), 0);
    got = recv_wait(p->dealer, false, NULL, NULL, err);
    assert_non_null(got);
    assert_int_equal(got->ack->seq, 9);
    wire_free(got);
}

/* A worker's log lines and its memory reach the master as sent. */
static void test_log_and_memory_round_trip(void **state)
{
    pair_t *p = *state;
    char err[256];
    Herd__LogLine l1 = HERD__LOG_LINE__INIT, l2 = HERD__LOG_LINE__INIT;
    l1.level = 2;
    l1.unix_s = 1700000000.125;
    l1.text = "Lost the master";
    l2.level = 3;
    l2.unix_s = 1700000001.5;
    l2.text = "setup step GET / failed: HTTP 500";
    Herd__LogLine *lines[] = {&l1, &l2};
    Herd__Log log = HERD__LOG__INIT;
    log.n_lines = 2;
    log.lines = lines;
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_LOG;
    env.log = &log;
    assert_int_equal(wire_send(p->dealer, NULL, 0, &env, err, sizeof err), 0);
    char id[WIRE_MAX_ID_BYTES + 1];
    size_t id_len = 0;
    Herd__Envelope *got = recv_wait(p->router, true, id, &id_len, err);
    assert_non_null(got);
    assert_int_equal(got->body_case, HERD__ENVELOPE__BODY_LOG);
    assert_string_equal(wire_body_name(got), "Log");
    assert_int_equal(got->log->n_lines, 2);
    assert_int_equal(got->log->lines[0]->level, 2);
    assert_true(got->log->lines[0]->unix_s == 1700000000.125);
    assert_string_equal(got->log->lines[0]->text, "Lost the master");
    assert_int_equal(got->log->lines[1]->level, 3);
    assert_string_equal(got->log->lines[1]->text, "setup step GET / failed: HTTP 500");
    wire_free(got);

    Herd__Heartbeat hb = HERD__HEARTBEAT__INIT;
    hb.memory_bytes = (uint64_t)5 << 30;
    env.body_case = HERD__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    assert_int_equal(wire_send(p->dealer, NULL, 0, &env, err, sizeof err), 0);
    got = recv_wait(p->router, true, id, &id_len, err);
    assert_non_null(got);
    assert_int_equal(got->heartbeat->memory_bytes, (uint64_t)5 << 30);
    wire_free(got);
}

static void test_rejects_garbage_and_versions(void **state)
{
    pair_t *p = *state;
    char err[256], id[WIRE_MAX_ID_BYTES + 1];
    size_t id_len;
    /* not protobuf at all */
    zmq_send(p->dealer, "\xff\xff\xff\xff\x0f", 5, 0);
    Herd__Envelope *got = recv_wait(p->router, true, id, &id_len, err);
    assert_null(got);
    assert_non_null(strstr(err, "undecodable message"));

    /* a future protocol version */
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    Herd__Quit q = HERD__QUIT__INIT;
    env.body_case = HERD__ENVELOPE__BODY_QUIT;
    env.quit = &q;
    env.version = 99;
    uint8_t buf[64];
    size_t n = herd__envelope__pack(&env, buf);
    zmq_send(p->dealer, buf, n, 0);
    got = recv_wait(p->router, true, id, &id_len, err);
    assert_null(got);
    assert_string_equal(err, "protocol version 99, expected 1");

    /* an envelope without a body */
    Herd__Envelope empty = HERD__ENVELOPE__INIT;
    empty.version = HERD_PROTOCOL_VERSION;
    n = herd__envelope__pack(&empty, buf);
    zmq_send(p->dealer, buf, n, 0);
    got = recv_wait(p->router, true, id, &id_len, err);
    assert_null(got);
    assert_string_equal(err, "message without a body");

    /* extra frames are drained, and the next good message still arrives */
    zmq_send(p->dealer, "a", 1, ZMQ_SNDMORE);
    zmq_send(p->dealer, "b", 1, 0);
    got = recv_wait(p->router, true, id, &id_len, err);
    assert_null(got);
    assert_string_equal(err, "unexpected multipart message");
    char e2[256];
    assert_int_equal(wire_send(p->dealer, NULL, 0, &env, e2, sizeof e2), 0);
    got = recv_wait(p->router, true, id, &id_len, err);
    assert_non_null(got);
    assert_int_equal(got->body_case, HERD__ENVELOPE__BODY_QUIT);
    wire_free(got);
}

/* An Envelope holding a Report of n empty entries, packed by hand: each entry is the two
 * bytes 0x22 0x00 (field 4, length 0). */
static uint8_t *forged_empty_entries(size_t n, size_t *len)
{
    size_t report_len = 2 * n;
    uint8_t *p = malloc(report_len + 16), *o = p;
    assert_non_null(p);
    *o++ = 0x08; /* version = 1 */
    *o++ = 0x01;
    *o++ = 0x82; /* field 16 (report), length-delimited */
    *o++ = 0x01;
    for (size_t v = report_len; ; v >>= 7) { /* varint length */
        *o++ = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        if (v < 0x80)
            break;
    }
    for (size_t i = 0; i < n; i++) {
        *o++ = 0x22;
        *o++ = 0x00;
    }
    *len = (size_t)(o - p);
    return p;
}

/* 2 MB of empty entries decoded to 170 MB with protobuf-c's default allocator: now the
 * decode stops when its budget is spent, and says so. */
static void test_decode_budget(void **state)
{
    (void)state;
    char err[256] = "";
    size_t len;
    uint8_t *msg = forged_empty_entries(1000000, &len);
    assert_true(len < WIRE_MAX_TO_MASTER_BYTES); /* the size limit alone lets it through */
    assert_null(wire_decode(msg, len, err, sizeof err));
    assert_non_null(strstr(err, "would take more than 23 MiB to decode"));
    free(msg);
    /* a few empty entries decode (and are then refused by the report's checks, not here) */
    msg = forged_empty_entries(3, &len);
    Herd__Envelope *env = wire_decode(msg, len, err, sizeof err);
    assert_non_null(env);
    assert_int_equal(env->report->n_entries, 3);
    wire_free(env);
    free(msg);
    assert_int_equal(wire_decode_budget(1000),
                     WIRE_DECODE_BASE_BYTES + WIRE_DECODE_BYTES_PER_BYTE * 1000);
}

/* What a worker sends at the limits it applies decodes within the budget: the most rows a
 * report may have, each the smallest a row can be; and 100 rows with every bucket of both
 * histograms filled. */
static void test_budget_fits_real_reports(void **state)
{
    (void)state;
    enum { ROWS = 10000, FULL_ROWS = 100 };
    uint32_t nb = hist_index_count();
    Herd__StatEntry *e = calloc(ROWS, sizeof *e);
    Herd__StatEntry **ep = calloc(ROWS, sizeof *ep);
    Herd__Histogram *h = calloc(2 * ROWS, sizeof *h);
    uint32_t *index = calloc(nb, sizeof *index);
    uint64_t *count = calloc(nb, sizeof *count);
    char (*names)[16] = calloc(ROWS, sizeof *names);
    assert_true(e && ep && h && index && count && names);
    for (uint32_t i = 0; i < nb; i++) {
        index[i] = i;
        count[i] = 1;
    }
    for (int pass = 0; pass < 2; pass++) {
        size_t rows = pass == 0 ? ROWS : FULL_ROWS;
        for (size_t i = 0; i < rows; i++) {
            herd__stat_entry__init(&e[i]);
            snprintf(names[i], sizeof names[i], "/%zu", i);
            e[i].method = "GET";
            e[i].name = names[i];
            e[i].hist = &h[2 * i];
            herd__histogram__init(&h[2 * i]);
            h[2 * i].index = index;
            h[2 * i].count = count;
            if (pass == 0) { /* one request, 0 us: the smallest row */
                e[i].requests = 1;
                h[2 * i].n_index = h[2 * i].n_count = 1;
            } else {
                e[i].requests = e[i].corrected_requests = nb;
                h[2 * i].n_index = h[2 * i].n_count = nb;
                herd__histogram__init(&h[2 * i + 1]);
                h[2 * i + 1] = h[2 * i];
                e[i].corrected_hist = &h[2 * i + 1];
            }
            ep[i] = &e[i];
        }
        Herd__Report r = HERD__REPORT__INIT;
        r.entries = ep;
        r.n_entries = rows;
        Herd__Envelope env = HERD__ENVELOPE__INIT;
        env.version = HERD_PROTOCOL_VERSION;
        env.body_case = HERD__ENVELOPE__BODY_REPORT;
        env.report = &r;
        size_t len = herd__envelope__get_packed_size(&env);
        assert_true(len <= WIRE_MAX_TO_MASTER_BYTES);
        print_message("%zu rows: %zu bytes, decoded within %zu MiB\n", rows, len,
                      wire_decode_budget(len) >> 20);
        uint8_t *buf = malloc(len);
        assert_non_null(buf);
        herd__envelope__pack(&env, buf);
        char err[256] = "";
        Herd__Envelope *got = wire_decode(buf, len, err, sizeof err);
        if (!got)
            fail_msg("%zu rows, %zu bytes: %s", rows, len, err);
        assert_int_equal(got->report->n_entries, rows);
        wire_free(got);
        free(buf);
    }
    free(e);
    free(ep);
    free(h);
    free(index);
    free(count);
    free(names);
}

/* A message over the limit is refused unread, whichever side sends it: wire_send will not
 * send it, wire_recv will not decode it. */
static void test_size_limits(void **state)
{
    pair_t *p = *state;
    char err[256] = "", id[WIRE_MAX_ID_BYTES + 1];
    size_t id_len;
    size_t big = WIRE_MAX_TO_MASTER_BYTES + 1;
    char *text = malloc(big + 1);
    assert_non_null(text);
    memset(text, 'x', big);
    text[big] = '\0';
    Herd__Error e = HERD__ERROR__INIT;
    e.message = text;
    Herd__Envelope env = HERD__ENVELOPE__INIT;
    env.body_case = HERD__ENVELOPE__BODY_ERROR;
    env.error = &e;
    assert_int_equal(wire_send(p->dealer, NULL, 0, &env, err, sizeof err), -1);
    assert_non_null(strstr(err, "Error of 16777"));
    assert_non_null(strstr(err, "not sent: over the 16 MiB the peer accepts"));
    /* sent raw (a peer that is not herd): refused on receipt */
    uint8_t *raw = calloc(1, big);
    assert_non_null(raw);
    assert_int_equal(zmq_send(p->dealer, raw, big, 0), (int)big);
    assert_null(recv_wait(p->router, true, id, &id_len, err));
    assert_string_equal(err, "message of 16777217 bytes is over the 16 MiB limit");
    /* the master may send more: a scenario of 16 MiB goes to workers */
    assert_int_equal(wire_send(p->router, "worker-1", 8, &env, err, sizeof err), 0);
    Herd__Envelope *got = recv_wait(p->dealer, false, NULL, NULL, err);
    assert_non_null(got);
    assert_int_equal(strlen(got->error->message), big);
    wire_free(got);
    free(raw);
    free(text);
}

static void test_show_id(void **state)
{
    (void)state;
    char out[4 * 64 + 8];
    assert_string_equal(wire_show_id("worker-1", 8, 64, out, sizeof out), "worker-1");
    assert_string_equal(wire_show_id("\x01" "ev\\il\xff\n", 8, 64, out, sizeof out),
                        "\\x01ev\\x5cil\\xff\\x0a");
    assert_string_equal(wire_show_id("a\0b", 3, 64, out, sizeof out), "a\\x00b");
    assert_string_equal(wire_show_id("abcdef", 6, 4, out, sizeof out), "abcd...");
    char small[6];
    assert_string_equal(wire_show_id("\x01\x02", 2, 64, small, sizeof small), "\\x01");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_log_and_memory_round_trip),
        cmocka_unit_test(test_rejects_garbage_and_versions),
        cmocka_unit_test(test_decode_budget),
        cmocka_unit_test(test_budget_fits_real_reports),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_show_id),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
