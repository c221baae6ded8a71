/*
 * web — herd-master's web UI and HTTP API (libmicrohttpd), served without --headless on
 * --web-host:--web-port: the page (master/web/, embedded at build time), herd's JSON under
 * /api/, Locust's endpoints (/swarm, /stop, /stats/reset, /stats/requests, the CSV files,
 * /stats/report), Server-Sent Events (/api/events) and Prometheus text (/metrics), behind
 * --web-auth when given, over HTTPS with --tls-cert/--tls-key.
 *
 * Threads: libmicrohttpd's (one per connection, a bounded number). They never change the
 * run: what they read (the run, the results), they read holding src.lock, which the
 * master's loop holds whenever it is not waiting on its socket; what they want done
 * (start, edit, stop, reset) goes to the loop as a web_cmd_t, and the HTTP answer waits for
 * the loop's verdict. Server-Sent Events carry the one event the loop publishes each second
 * (web_publish): every client gets the same bytes, so ten browsers cost what one does.
 */
#ifndef HERD_WEB_H
#define HERD_WEB_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/scenario.h"
#include "options.h"
#include "results.h"
#include "run.h"

/* What the web threads read, under *lock. Everything is the loop's. */
typedef struct web_source {
    pthread_mutex_t *lock;
    run_t *run;
    results_t *results;
    const master_options_t *o;
    const scenario_t *sc;
} web_source_t;

typedef enum web_cmd_kind {
    WEB_CMD_START,   /* a new test: the form, POST /swarm */
    WEB_CMD_EDIT,    /* users and/or spawn rate of the running test */
    WEB_CMD_STOP,    /* GET /stop */
    WEB_CMD_RESET,   /* GET /stats/reset */
} web_cmd_kind_t;

/* A command from a web thread to the loop. The web thread fills the request part (values
 * already parsed and range-checked: a bad form is answered 400 without reaching the loop),
 * queues it, and waits; the loop applies it and fills the answer (web_command_done). */
typedef struct web_cmd {
    web_cmd_kind_t kind;
    /* START and EDIT */
    long users;                 /* >= 0 (EDIT may set 0) */
    double spawn_rate;          /* > 0 */
    /* START only; empty strings and 0: not given (the command line's apply) */
    char host[1024];            /* a base URL, checked by the loop */
    double run_time_s;          /* 0: until stopped */
    char stages[1024];          /* --stages syntax */
    char tags[1024];            /* -T syntax: names separated by commas or spaces */
    char exclude_tags[1024];
    /* answer, from the loop */
    int status;                 /* HTTP status: 200, or 400/409 with message */
    char message[512];          /* one line for the page, "" on success */
    bool done;
    struct web_cmd *next;       /* the queue's */
} web_cmd_t;

typedef struct web web_t;

/* Listen on --web-host:--web-port (TLS and auth as the options say). Logs the URL, and
 * warns when bound beyond loopback without --web-auth. -1 with err (a busy port, a bad
 * certificate, ...). */
int web_start(web_t **out, const master_options_t *o, const web_source_t *src, char *err,
              size_t errlen);
/* Stop listening and end every connection (SSE clients get an end event first; commands
 * still waiting are answered 503). Call it without holding src.lock (the web threads may be
 * waiting for it), once the loop takes no more commands. */
void web_stop(web_t *w);

/* Loop thread, holding src.lock: build this second's event (GET /api/state's document
 * with the history's last rows) and hand it to every Server-Sent Events client. Also call
 * it at once after a command changed the state, so the page follows without waiting. */
void web_publish(web_t *w, double now);

/* Loop thread: the next command waiting, or NULL. Answer each with web_command_done (the
 * message may be c->message itself); the web thread waits WEB_COMMAND_WAIT_S (10 s) at most,
 * then answers 503 and forgets it. */
web_cmd_t *web_next_command(web_t *w);
void web_command_done(web_t *w, web_cmd_t *c, int status, const char *message);

#endif
