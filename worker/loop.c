/*
 * loop — epoll, descriptor handlers and a timer heap for one thread. See loop.h.
 */
#include "loop.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/vec.h"

#define LOOP_MAX_EVENTS 512

int loop_init(loop_t *l, char *err, size_t errlen)
{
    memset(l, 0, sizeof *l);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
        return -1;
    }
    loop_refresh_clock(l);
    return 0;
}

void loop_free(loop_t *l)
{
    if (l->epfd >= 0)
        close(l->epfd);
    l->epfd = -1;
    free(l->fds);
    free(l->heap);
    l->fds = NULL;
    l->heap = NULL;
    l->cap_fds = l->cap_heap = l->n_heap = l->n_timers = 0;
}

void loop_refresh_clock(loop_t *l)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    l->now = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    clock_gettime(CLOCK_REALTIME, &ts);
    l->now_wall_s = (int64_t)ts.tv_sec;
}

/* ---- descriptors ------------------------------------------------------------------------ */

int loop_fd_set(loop_t *l, int fd, loop_fd_fn fn, void *arg)
{
    if (fd < 0 || VEC_RESERVE_ZERO(l->fds, l->cap_fds, (size_t)fd + 1) < 0)
        return -1;
    l->fds[fd] = (loop_fd_t){ .fn = fn, .arg = arg };
    return 0;
}

void loop_fd_clear(loop_t *l, int fd)
{
    if (fd >= 0 && (size_t)fd < l->cap_fds)
        l->fds[fd] = (loop_fd_t){ 0 };
}

/* ---- timers ----------------------------------------------------------------------------- */

static void heap_set(loop_t *l, size_t i, loop_timer_t *t)
{
    l->heap[i] = t;
    t->pos = i;
}

static void heap_up(loop_t *l, size_t i)
{
    loop_timer_t *t = l->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (l->heap[p]->at <= t->at)
            break;
        heap_set(l, i, l->heap[p]);
        i = p;
    }
    heap_set(l, i, t);
}

static void heap_down(loop_t *l, size_t i)
{
    loop_timer_t *t = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->n_heap)
            break;
        if (c + 1 < l->n_heap && l->heap[c + 1]->at < l->heap[c]->at)
            c++;
        if (t->at <= l->heap[c]->at)
            break;
        heap_set(l, i, l->heap[c]);
        i = c;
    }
    heap_set(l, i, t);
}

int loop_timer_init(loop_t *l, loop_timer_t *t, loop_timer_fn fn, void *arg)
{
    if (VEC_RESERVE(l->heap, l->cap_heap, l->n_timers + 1) < 0)
        return -1;
    l->n_timers++;
    *t = (loop_timer_t){ .pos = LOOP_TIMER_IDLE, .fn = fn, .arg = arg };
    return 0;
}

void loop_timer_release(loop_t *l, loop_timer_t *t)
{
    if (!t->fn)
        return;
    loop_timer_disarm(l, t);
    t->fn = NULL;
    l->n_timers--;
}

void loop_timer_arm(loop_t *l, loop_timer_t *t, double at)
{
    t->at = at;
    if (t->pos != LOOP_TIMER_IDLE) {
        heap_up(l, t->pos);
        heap_down(l, t->pos);
        return;
    }
    heap_set(l, l->n_heap++, t); /* room reserved by loop_timer_init */
    heap_up(l, t->pos);
}

void loop_timer_disarm(loop_t *l, loop_timer_t *t)
{
    if (t->pos == LOOP_TIMER_IDLE)
        return;
    size_t i = t->pos;
    loop_timer_t *last = l->heap[--l->n_heap];
    t->pos = LOOP_TIMER_IDLE;
    if (last != t) {
        heap_set(l, i, last);
        heap_up(l, i);
        heap_down(l, last->pos);
    }
}

static void run_timers(loop_t *l)
{
    /* Only timers due now and present at the start: one re-armed at `now` waits for the next
     * iteration, so sockets and commands are served in between. */
    size_t budget = l->n_heap;
    while (budget-- > 0 && l->n_heap > 0 && l->heap[0]->at <= l->now) {
        loop_timer_t *t = l->heap[0];
        loop_timer_disarm(l, t);
        t->fn(t->arg);
    }
}

static int wait_ms(const loop_t *l, int max_wait_ms)
{
    if (l->n_heap == 0)
        return max_wait_ms;
    double d = (l->heap[0]->at - clock_mono_s()) * 1000.0;
    if (d <= 0)
        return 0;
    if (d >= max_wait_ms)
        return max_wait_ms;
    return (int)ceil(d);
}

/* ---- the loop --------------------------------------------------------------------------- */

int loop_run_once(loop_t *l, int max_wait_ms)
{
    struct epoll_event evs[LOOP_MAX_EVENTS];
    int timeout = wait_ms(l, max_wait_ms);
    /* A saturated loop never waits (timeout 0): it pays nothing for this accounting. */
    double before = timeout ? clock_mono_s() : 0;
    int n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, timeout);
    loop_refresh_clock(l);
    if (timeout)
        atomic_fetch_add_explicit(&l->idle_us, (uint64_t)((l->now - before) * 1e6),
                                  memory_order_relaxed);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        const loop_fd_t *h = loop_fd_get(l, fd);
        if (h)
            h->fn(h->arg, fd, evs[i].events);
        else
            epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    }
    run_timers(l);
    return n;
}
