/*
 * loop — an engine thread's event loop: one epoll set, a handler per file descriptor, a
 * min-heap of timers, and the loop's clock. The engine, the transports and the setup runner
 * share this one loop per thread instead of each polling on its own (Redis's ae, reduced to
 * what herd needs).
 *
 * File descriptors: whoever opens a socket registers it with epoll itself (loop->epfd, with
 * data.fd = the descriptor: transports change the wanted events on their hot path without
 * a call through here) and tells the loop who handles its events with loop_fd_set. Closing a
 * descriptor drops it from epoll; its owner calls loop_fd_clear before or after closing it.
 *
 * Timers: a loop_timer_t lives inside its owner (a user, a connection). loop_timer_init
 * reserves its place in the heap, so arming never allocates or fails on the request path;
 * loop_timer_release gives the place back (and disarms).
 *
 * Thread: a loop belongs to one thread. Only idle_us is read from another (engine_busy).
 */
#ifndef HERD_LOOP_H
#define HERD_LOOP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*loop_fd_fn)(void *arg, int fd, uint32_t events);
typedef void (*loop_timer_fn)(void *arg);

typedef struct loop_timer {
    double at;             /* monotonic seconds it fires at, when armed */
    size_t pos;            /* index in the heap; LOOP_TIMER_IDLE when not armed */
    loop_timer_fn fn;
    void *arg;
} loop_timer_t;

#define LOOP_TIMER_IDLE SIZE_MAX

typedef struct loop_fd {
    loop_fd_fn fn;         /* NULL: nobody handles this descriptor */
    void *arg;
} loop_fd_t;

typedef struct loop {
    int epfd;              /* the epoll set; owned */
    double now;            /* monotonic seconds, refreshed after every wait */
    int64_t now_wall_s;    /* unix seconds, refreshed with now (stats timeline) */
    loop_fd_t *fds;        /* indexed by descriptor; owned */
    size_t cap_fds;
    loop_timer_t **heap;   /* min-heap on at */
    size_t n_heap;
    size_t cap_heap;       /* >= n_timers: room for every initialised timer */
    size_t n_timers;       /* timers initialised and not released */
    _Atomic uint64_t idle_us; /* time spent waiting in epoll_wait (engine_busy) */
} loop_t;

/* -1 with a message when epoll cannot be created. */
int loop_init(loop_t *l, char *err, size_t errlen);
/* Close the epoll set and free the tables. Timers still initialised are forgotten. */
void loop_free(loop_t *l);
/* Read both clocks into now / now_wall_s. */
void loop_refresh_clock(loop_t *l);

/* fd's events go to fn(arg, fd, events). -1 when out of memory (fd cannot be served). */
int loop_fd_set(loop_t *l, int fd, loop_fd_fn fn, void *arg);
/* Nobody handles fd any more (it is closed or about to be). */
void loop_fd_clear(loop_t *l, int fd);
/* The handler of fd, or NULL. */
static inline const loop_fd_t *loop_fd_get(const loop_t *l, int fd)
{
    return fd >= 0 && (size_t)fd < l->cap_fds && l->fds[fd].fn ? &l->fds[fd] : NULL;
}

/* Make t a timer of l calling fn(arg). -1 when out of memory. */
int loop_timer_init(loop_t *l, loop_timer_t *t, loop_timer_fn fn, void *arg);
/* Disarm t and give its place back. Releasing a timer never initialised (all zero, as
 * calloc leaves it) or already released does nothing. */
void loop_timer_release(loop_t *l, loop_timer_t *t);
/* Fire t at `at` (monotonic seconds); re-arming moves it. Never allocates. */
void loop_timer_arm(loop_t *l, loop_timer_t *t, double at);
void loop_timer_disarm(loop_t *l, loop_timer_t *t);
static inline bool loop_timer_armed(const loop_timer_t *t) { return t->pos != LOOP_TIMER_IDLE; }

/* Wait at most max_wait_ms (and no longer than the earliest timer) for events, call their
 * handlers, then the timers due. A descriptor nobody handles is dropped from epoll, so it
 * cannot spin the loop. Returns the number of events, -1 on an epoll error other than
 * EINTR. */
int loop_run_once(loop_t *l, int max_wait_ms);

#endif
