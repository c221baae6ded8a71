#include "delay.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/vec.h"

typedef struct delay_entry {
    uint64_t due_us;               /* CLOCK_MONOTONIC */
    struct MHD_Connection *conn;   /* suspended; owned by libmicrohttpd */
} delay_entry_t;

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond;        /* signalled on a new earliest entry or on stop */
static delay_entry_t *heap;        /* min-heap on due_us; guarded by mutex */
static size_t heap_len, heap_cap;
static int stopping;               /* guarded by mutex; once set, nothing is suspended */
static pthread_t thread;
static int running;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void heap_push(delay_entry_t e)
{
    size_t i = heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (heap[parent].due_us <= e.due_us)
            break;
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = e;
}

static delay_entry_t heap_pop(void)
{
    delay_entry_t top = heap[0], last = heap[--heap_len];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= heap_len)
            break;
        if (child + 1 < heap_len && heap[child + 1].due_us < heap[child].due_us)
            child++;
        if (last.due_us <= heap[child].due_us)
            break;
        heap[i] = heap[child];
        i = child;
    }
    if (heap_len)
        heap[i] = last;
    return top;
}

static void *delay_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mutex);
    for (;;) {
        uint64_t now = now_us();
        while (heap_len && (stopping || heap[0].due_us <= now))
            MHD_resume_connection(heap_pop().conn);
        if (stopping)
            break;
        if (heap_len) {
            struct timespec ts;
            uint64_t due = heap[0].due_us;
            ts.tv_sec = (time_t)(due / 1000000);
            ts.tv_nsec = (long)(due % 1000000) * 1000;
            pthread_cond_timedwait(&cond, &mutex, &ts);
        } else {
            pthread_cond_wait(&cond, &mutex);
        }
    }
    pthread_mutex_unlock(&mutex);
    return NULL;
}

int delay_start(char *err, size_t errlen)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&cond, &attr);
    pthread_condattr_destroy(&attr);
    int rc = pthread_create(&thread, NULL, delay_main, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the delay thread: %s", strerror(rc));
        return -1;
    }
    running = 1;
    return 0;
}

int delay_suspend(struct MHD_Connection *conn, uint64_t delay_us)
{
    pthread_mutex_lock(&mutex);
    if (stopping || !running) {
        pthread_mutex_unlock(&mutex);
        return -1;
    }
    if (VEC_RESERVE(heap, heap_cap, heap_len + 1) < 0) {
        pthread_mutex_unlock(&mutex);
        return -1;
    }
    MHD_suspend_connection(conn);
    delay_entry_t e = {now_us() + delay_us, conn};
    heap_push(e);
    if (heap[0].conn == conn)
        pthread_cond_signal(&cond);
    pthread_mutex_unlock(&mutex);
    return 0;
}

void delay_stop(void)
{
    if (!running)
        return;
    pthread_mutex_lock(&mutex);
    stopping = 1;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&mutex);
    pthread_join(thread, NULL);
    running = 0;
    free(heap);
    heap = NULL;
    heap_len = heap_cap = 0;
}
