/*
 * test_logship — a worker's warnings and errors queued for the master (worker/logship.h):
 * only WARNING and above, oldest first, a full queue drops and counts, the count starts
 * again after each take, and lines from other threads arrive whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "../../common/log.h"
#include "../../worker/logship.h"

static logship_line_t out[LOGSHIP_QUEUE_LINES + 10];

static void drain(void)
{
    uint64_t dropped;
    while (logship_take(out, LOGSHIP_QUEUE_LINES, &dropped) > 0)
        ;
}

static void test_warnings_and_errors_queued_in_order(void **state)
{
    (void)state;
    drain();
    struct timeval tv;
    gettimeofday(&tv, NULL);
    double before = (double)tv.tv_sec + tv.tv_usec / 1e6;
    log_info("info: not shipped");
    log_warn("a warning %d", 1);
    log_error("an error");
    log_msg(LOG_CRITICAL, "critical");
    uint64_t dropped = 99;
    size_t n = logship_take(out, 10, &dropped);
    assert_int_equal(n, 3);
    assert_int_equal(dropped, 0);
    assert_int_equal(out[0].level, LOG_WARNING);
    assert_string_equal(out[0].text, "a warning 1");
    assert_int_equal(out[1].level, LOG_ERROR);
    assert_string_equal(out[1].text, "an error");
    assert_int_equal(out[2].level, LOG_CRITICAL);
    assert_true(out[0].unix_s >= before - 0.001 && out[0].unix_s < before + 10);
    assert_int_equal(logship_take(out, 10, &dropped), 0);
    /* A long line is cut to fit. */
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    log_warn("%s", big);
    assert_int_equal(logship_take(out, 10, &dropped), 1);
    assert_int_equal(strlen(out[0].text), sizeof out[0].text - 1);
}

static void test_full_queue_drops_and_counts(void **state)
{
    (void)state;
    drain();
    for (int i = 0; i < LOGSHIP_QUEUE_LINES + 25; i++)
        log_warn("line %d", i);
    uint64_t dropped = 0;
    /* Taken in two batches, as the control thread does at its rate. */
    size_t n = logship_take(out, 50, &dropped);
    assert_int_equal(n, 50);
    assert_int_equal(dropped, 25);
    assert_string_equal(out[0].text, "line 0");
    assert_string_equal(out[49].text, "line 49");
    log_warn("after the first take");   /* room again */
    n = logship_take(out, LOGSHIP_QUEUE_LINES + 10, &dropped);
    assert_int_equal(n, 51);
    assert_int_equal(dropped, 0);   /* said once */
    assert_string_equal(out[0].text, "line 50");
    assert_string_equal(out[49].text, "line 99");
    assert_string_equal(out[50].text, "after the first take");
}

static void *warner(void *arg)
{
    (void)arg;
    for (int i = 0; i < 40; i++)
        log_warn("from a thread %d", i);
    return NULL;
}

static void test_lines_from_other_threads(void **state)
{
    (void)state;
    drain();
    pthread_t t[2];
    for (int k = 0; k < 2; k++)
        assert_int_equal(pthread_create(&t[k], NULL, warner, NULL), 0);
    for (int k = 0; k < 2; k++)
        pthread_join(t[k], NULL);
    uint64_t dropped;
    size_t n = logship_take(out, LOGSHIP_QUEUE_LINES, &dropped);
    assert_int_equal(n, 80);
    assert_int_equal(dropped, 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(strncmp(out[i].text, "from a thread ", 14), 0);
}

static void test_stop_queues_no_more(void **state)
{
    (void)state;
    drain();
    logship_stop();
    log_error("not queued");
    uint64_t dropped;
    assert_int_equal(logship_take(out, 10, &dropped), 0);
    logship_start();
}

int main(void)
{
    char err[256];
    if (log_setup("worker", LOG_CRITICAL, "/dev/null", err, sizeof err) < 0)
        return 1;
    logship_start();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_warnings_and_errors_queued_in_order),
        cmocka_unit_test(test_full_queue_drops_and_counts),
        cmocka_unit_test(test_lines_from_other_threads),
        cmocka_unit_test(test_stop_queues_no_more),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    logship_stop();
    log_close();
    return rc;
}
