/* wire: envelopes over a real ZeroMQ ROUTER/DEALER pair (inproc), version and garbage checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_rejects_garbage_and_versions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
