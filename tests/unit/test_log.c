/*
 * test_log — the log's recent lines (common/log.h), what the web UI's Logs tab shows: their
 * order, the ring's wrap-around after LOG_RECENT_LINES, paging with log_recent(after), the
 * workers' lines beside the master's (cleaned of what a terminal or JSON cannot take), and
 * the forward hook a worker ships its warnings with: its level filter, no recursion, and
 * threads logging while a reader pages.
 *
 * The log is process-wide state: each test works on the lines after the newest one it found
 * (newest_seq), whatever the tests before it kept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "../../common/log.h"

static char log_path[] = "/tmp/herd-test-log-XXXXXX";
static log_line_t lines[LOG_RECENT_LINES + 10];

static uint64_t newest_seq(void)
{
    uint64_t after = 0;
    size_t n;
    while ((n = log_recent(lines, LOG_RECENT_LINES, after)) > 0)
        after = lines[n - 1].seq;
    return after;
}

static double now_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* (Re)open the log at level, appending to log_path. */
static void log_at(log_level_t level)
{
    char err[256];
    log_close();
    assert_int_equal(log_setup("master", level, log_path, err, sizeof err), 0);
}

static char *log_text(void)
{
    FILE *fp = fopen(log_path, "r");
    assert_non_null(fp);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void test_lines_in_order_with_level_and_time(void **state)
{
    (void)state;
    uint64_t base = newest_seq();
    double before = now_s();
    log_info("first %d", 1);
    log_warn("second");
    log_debug("below the level: neither written nor kept");
    log_error("third");
    double after = now_s();
    size_t n = log_recent(lines, 10, base);
    assert_int_equal(n, 3);
    const char *texts[] = {"first 1", "second", "third"};
    log_level_t levels[] = {LOG_INFO, LOG_WARNING, LOG_ERROR};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(lines[i].seq, base + 1 + i);
        assert_string_equal(lines[i].text, texts[i]);
        assert_int_equal(lines[i].level, levels[i]);
        assert_string_equal(lines[i].source, "master");
        assert_true(lines[i].unix_s >= before - 0.001 && lines[i].unix_s <= after + 0.001);
    }
    assert_null(strstr(log_text(), "below the level"));
    assert_non_null(strstr(log_text(), "master/WARNING: second\n"));
}

static void test_ring_wraps_oldest_first(void **state)
{
    (void)state;
    uint64_t base = newest_seq();
    for (int i = 0; i < LOG_RECENT_LINES + 10; i++)
        log_info("line %d", i);
    /* Only the newest LOG_RECENT_LINES are kept, whatever `after` asks for. */
    size_t n = log_recent(lines, LOG_RECENT_LINES + 10, 0);
    assert_int_equal(n, LOG_RECENT_LINES);
    assert_string_equal(lines[0].text, "line 10");
    assert_int_equal(lines[0].seq, base + 11);
    assert_string_equal(lines[n - 1].text, "line 1009");
    assert_int_equal(lines[n - 1].seq, base + LOG_RECENT_LINES + 10);
    for (size_t i = 1; i < n; i++)
        assert_int_equal(lines[i].seq, lines[i - 1].seq + 1);
    assert_int_equal(log_recent(lines, LOG_RECENT_LINES, base + 5), LOG_RECENT_LINES);
    assert_string_equal(lines[0].text, "line 10");
}

static void test_paging_with_after(void **state)
{
    (void)state;
    uint64_t base = newest_seq();
    for (int i = 0; i < 250; i++)
        log_info("page line %d", i);
    /* Pages of 100 as a client polling with the last seq it has: each line once, in order. */
    uint64_t after = base;
    int seen = 0;
    size_t n;
    while ((n = log_recent(lines, 100, after)) > 0) {
        assert_true(n <= 100);
        for (size_t i = 0; i < n; i++) {
            char want[32];
            snprintf(want, sizeof want, "page line %d", seen++);
            assert_string_equal(lines[i].text, want);
        }
        after = lines[n - 1].seq;
    }
    assert_int_equal(seen, 250);
    assert_int_equal(after, base + 250);
    /* Nothing new: nothing. A seq from the future: nothing. max 0: nothing. */
    assert_int_equal(log_recent(lines, 100, after), 0);
    assert_int_equal(log_recent(lines, 100, after + 1000), 0);
    assert_int_equal(log_recent(lines, 0, base), 0);
    log_info("one more");
    assert_int_equal(log_recent(lines, 100, after), 1);
    assert_string_equal(lines[0].text, "one more");
}

static void test_remote_lines_beside_the_masters(void **state)
{
    (void)state;
    uint64_t base = newest_seq();
    log_info("mine");
    log_add_remote("worker abcdef12 (box)", LOG_ERROR, 1700000000.25, "setup failed");
    log_add_remote("worker abcdef12 (box)", LOG_WARNING, 1700000001.5,
                   "two\nlines\x1b[31m and a bad byte \xff here");
    log_add_remote("worker abcdef12 (box)", (log_level_t)9, 1.0, "bad level: not kept");
    size_t n = log_recent(lines, 10, base);
    assert_int_equal(n, 3);
    assert_string_equal(lines[0].source, "master");
    assert_string_equal(lines[1].source, "worker abcdef12 (box)");
    assert_int_equal(lines[1].level, LOG_ERROR);
    assert_true(lines[1].unix_s == 1700000000.25);   /* the worker's time */
    assert_string_equal(lines[1].text, "setup failed");
    /* One line, no escape sequences, valid UTF-8. */
    assert_string_equal(lines[2].text, "two lines [31m and a bad byte ? here");
    /* A long line of 2-byte characters is cut between characters. */
    char big[1200] = "";
    for (int i = 0; i < 500; i++)
        strcat(big, "\xc3\xa9");   /* é */
    log_add_remote("worker abcdef12 (box)", LOG_WARNING, 1.0, big);
    assert_int_equal(log_recent(lines, 10, base + 3), 1);
    assert_int_equal(strlen(lines[0].text), 510);
    /* Written at DEBUG only: this log is at INFO. */
    assert_null(strstr(log_text(), "setup failed"));
    log_at(LOG_DEBUG);
    log_add_remote("worker abcdef12 (box)", LOG_CRITICAL, 1.0, "out of\nmemory");
    log_at(LOG_INFO);
    assert_non_null(strstr(log_text(),
                           "master/DEBUG: worker abcdef12 (box)/CRITICAL: out of memory\n"));
}

/* ---- the forward hook ------------------------------------------------------------------- */

static int forwarded;
static log_level_t forwarded_level;
static char forwarded_text[256];
static bool hook_logs;   /* the hook logs a line itself */

static void hook(log_level_t level, const char *text)
{
    forwarded++;
    forwarded_level = level;
    snprintf(forwarded_text, sizeof forwarded_text, "%s", text);
    if (hook_logs)
        log_error("logged from the hook");
}

static void test_forward_filters_by_level(void **state)
{
    (void)state;
    forwarded = 0;
    hook_logs = false;
    log_set_forward(LOG_WARNING, hook);
    log_info("not forwarded");
    log_debug("nor this");
    assert_int_equal(forwarded, 0);
    log_warn("forwarded %s", "too");
    assert_int_equal(forwarded, 1);
    assert_int_equal(forwarded_level, LOG_WARNING);
    assert_string_equal(forwarded_text, "forwarded too");
    log_msg(LOG_CRITICAL, "critical");
    assert_int_equal(forwarded, 2);
    assert_int_equal(forwarded_level, LOG_CRITICAL);
    /* Forwarded even when the local level is above it and it is not written. */
    log_at(LOG_ERROR);
    log_warn("quiet here, shipped anyway");
    log_at(LOG_INFO);
    assert_int_equal(forwarded, 3);
    assert_string_equal(forwarded_text, "quiet here, shipped anyway");
    assert_null(strstr(log_text(), "quiet here"));
    log_set_forward(LOG_WARNING, NULL);
    log_error("after the hook is gone");
    assert_int_equal(forwarded, 3);
}

static void test_forward_does_not_recurse(void **state)
{
    (void)state;
    forwarded = 0;
    hook_logs = true;
    uint64_t base = newest_seq();
    log_set_forward(LOG_WARNING, hook);
    log_error("outer");
    log_set_forward(LOG_WARNING, NULL);
    hook_logs = false;
    /* The hook ran once, for the outer line; its own line is written and kept, not
     * forwarded. */
    assert_int_equal(forwarded, 1);
    assert_string_equal(forwarded_text, "outer");
    assert_int_equal(log_recent(lines, 10, base), 2);
    assert_string_equal(lines[0].text, "outer");
    assert_string_equal(lines[1].text, "logged from the hook");
    assert_non_null(strstr(log_text(), "master/ERROR: logged from the hook\n"));
    /* And the thread can forward again afterwards. */
    log_set_forward(LOG_WARNING, hook);
    log_warn("next");
    log_set_forward(LOG_WARNING, NULL);
    assert_int_equal(forwarded, 2);
}

/* ---- threads ---------------------------------------------------------------------------- */

#define WRITERS 4
#define PER_WRITER 2000

static atomic_int writers_done;

static void *writer(void *arg)
{
    long k = (long)arg;
    for (int i = 0; i < PER_WRITER; i++)
        log_info("writer %ld line %d", k, i);
    atomic_fetch_add(&writers_done, 1);
    return NULL;
}

/* Lines from several threads while a reader pages: seqs rise with no gap within a page (a
 * reader that falls behind loses the oldest lines, never one between two it gets), every
 * line is either read whole or lost that way, each writer's lines come in its order. */
static void test_threads_log_while_a_reader_pages(void **state)
{
    (void)state;
    log_close();   /* to /dev/null: 8 000 lines */
    char err[256];
    assert_int_equal(log_setup("master", LOG_INFO, "/dev/null", err, sizeof err), 0);
    uint64_t after = newest_seq();
    atomic_store(&writers_done, 0);
    pthread_t t[WRITERS];
    for (long k = 0; k < WRITERS; k++)
        assert_int_equal(pthread_create(&t[k], NULL, writer, (void *)k), 0);
    int next[WRITERS] = {0};
    uint64_t read = 0, lost = 0;
    static log_line_t page[64];
    for (;;) {
        bool done = atomic_load(&writers_done) == WRITERS;   /* before the read */
        size_t n = log_recent(page, 64, after);
        for (size_t i = 0; i < n; i++) {
            long k;
            int line;
            if (i == 0)
                lost += page[0].seq - after - 1;   /* overwritten before this read */
            else
                assert_int_equal(page[i].seq, page[i - 1].seq + 1);
            after = page[i].seq;
            assert_int_equal(sscanf(page[i].text, "writer %ld line %d", &k, &line), 2);
            assert_true(k >= 0 && k < WRITERS);
            assert_true(line >= next[k] && line < PER_WRITER);
            next[k] = line + 1;
            read++;
        }
        if (n == 0 && done)
            break;
    }
    for (int k = 0; k < WRITERS; k++)
        pthread_join(t[k], NULL);
    assert_int_equal(read + lost, WRITERS * PER_WRITER);
    assert_true(read >= LOG_RECENT_LINES);   /* at least the newest ring's worth */
    log_at(LOG_INFO);
}

int main(void)
{
    int fd = mkstemp(log_path);
    if (fd < 0)
        return 1;
    close(fd);
    char err[256];
    if (log_setup("master", LOG_INFO, log_path, err, sizeof err) < 0)
        return 1;
    log_info("before keeping: not kept");
    if (log_recent(lines, 10, 0) != 0)
        return 1;
    log_keep_recent();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_in_order_with_level_and_time),
        cmocka_unit_test(test_ring_wraps_oldest_first),
        cmocka_unit_test(test_paging_with_after),
        cmocka_unit_test(test_remote_lines_beside_the_masters),
        cmocka_unit_test(test_forward_filters_by_level),
        cmocka_unit_test(test_forward_does_not_recurse),
        cmocka_unit_test(test_threads_log_while_a_reader_pages),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    log_close();
    unlink(log_path);
    return rc;
}
