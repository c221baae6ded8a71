/*
 * wire_seeds — writes the seed corpus of fuzz_wire: one envelope of each kind a worker sends
 * (Hello, Heartbeat, Report with rows, seconds and failures, Spawned, Stopped, Error, Log),
 * packed as wire_send would. Run id 1 stands for "the run in force" (fuzz_wire substitutes
 * it). Usage: wire_seeds DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/stats.h"
#include "../../common/stats_wire.h"
#include "../../common/wire.h"

static const char *dir;

static void put(const char *name, Herd__Envelope *env)
{
    env->version = HERD_PROTOCOL_VERSION;
    size_t n = herd__envelope__get_packed_size(env);
    uint8_t *b = malloc(n ? n : 1);
    herd__envelope__pack(env, b);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    free(b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: wire_seeds DIR\n");
        return 2;
    }
    dir = argv[1];
    Herd__Envelope env = HERD__ENVELOPE__INIT;

    Herd__Hello h = HERD__HELLO__INIT;
    h.worker_id = "aaaaaaaa-1111-4111-8111-111111111111";
    h.hostname = "loadhost";
    h.threads = 2;
    h.pid = 4242;
    h.cores = 4;
    env.body_case = HERD__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    put("hello", &env);

    Herd__Heartbeat hb = HERD__HEARTBEAT__INIT;
    hb.state = HERD__WORKER_STATE__WORKER_STATE_RUNNING;
    hb.users = 10;
    hb.cpu_percent = 20;
    hb.run_id = 1;
    hb.memory_bytes = 1 << 20;
    env.body_case = HERD__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    put("heartbeat", &env);

    stats_table_t t;
    stats_init(&t);
    long a = stats_row(&t, "GET", "/");
    long b = stats_row(&t, "POST", "/buy");
    for (uint64_t i = 0; i < 50; i++)
        stats_record(&t, (size_t)a, 1000 + i * 37, 512, false, 1700000001);
    stats_record(&t, (size_t)b, 250000, 0, true, 1700000001);
    stats_add_failure(&t, (size_t)b, "HTTP 500: Internal Server Error");
    stats_add_second(&t, 1700000001, 51, 1);
    Herd__Report rep = HERD__REPORT__INIT;
    if (stats_to_report(&t, &rep) < 0)
        return 1;
    rep.first_seq = rep.last_seq = 1;
    rep.run_id = 1;
    rep.users = 10;
    env.body_case = HERD__ENVELOPE__BODY_REPORT;
    env.report = &rep;
    put("report", &env);
    rep.first_seq = 2;
    rep.last_seq = 3;
    put("report-2-3", &env);
    stats_report_release(&rep);
    stats_free(&t);

    Herd__Spawned sp = HERD__SPAWNED__INIT;
    sp.run_id = 1;
    sp.users = 10;
    env.body_case = HERD__ENVELOPE__BODY_SPAWNED;
    env.spawned = &sp;
    put("spawned", &env);

    Herd__Stopped st = HERD__STOPPED__INIT;
    st.run_id = 1;
    st.final_seq = 1;
    env.body_case = HERD__ENVELOPE__BODY_STOPPED;
    env.stopped = &st;
    put("stopped", &env);

    Herd__Error er = HERD__ERROR__INIT;
    er.message = "scenario failed: fuzz.yaml:3:5: something";
    er.fatal = true;
    env.body_case = HERD__ENVELOPE__BODY_ERROR;
    env.error = &er;
    put("error", &env);

    Herd__LogLine l1 = HERD__LOG_LINE__INIT, l2 = HERD__LOG_LINE__INIT;
    l1.level = 2;
    l1.unix_s = 1700000001.5;
    l1.text = "connection refused";
    l2.level = 4;
    l2.unix_s = 1700000002;
    l2.text = "bad \xff\x01 bytes\nand a line break";
    Herd__LogLine *lines[] = {&l1, &l2};
    Herd__Log lg = HERD__LOG__INIT;
    lg.n_lines = 2;
    lg.lines = lines;
    env.body_case = HERD__ENVELOPE__BODY_LOG;
    env.log = &lg;
    put("log", &env);
    return 0;
}
