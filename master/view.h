/*
 * view — the documents the web UI serves, built from the master's run and results: the
 * state document (GET /api/state, each Server-Sent Event) and the facts every download
 * shows (results_facts, so the page and the files agree).
 *
 * The state document is the --json report (report_json_document) plus what only a live
 * page needs: the state, the current figures, the workers' users, CPU and memory, the task
 * ratio, the start form's defaults and the recent log lines (README, "Web UI: HTTP API and
 * /metrics").
 *
 * What must stay true: every function here is called holding the web source's lock (the
 * loop's data is read, never changed, run_current's scratch tables aside), and what it
 * returns owns copies of what it shows, so it can be serialized after the lock is released.
 */
#ifndef HERD_VIEW_H
#define HERD_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "report.h"
#include "web.h"

struct json_t;

/* What does not change during a test, computed once: the task ratio for its users. */
typedef struct view_cache {
    struct json_t *ratio;       /* owned; NULL until computed */
    uint32_t ratio_users;       /* the users it was computed for */
} view_cache_t;

void view_cache_free(view_cache_t *c);

typedef enum view_kind {
    VIEW_STATE,   /* GET /api/state: the whole history, the last 200 log lines */
    VIEW_EVENT,   /* a Server-Sent Event: the history's last 10 rows, the last 50 lines */
} view_kind_t;

#define VIEW_EVENT_HISTORY_ROWS 10
#define VIEW_STATE_LOG_LINES 200
#define VIEW_EVENT_LOG_LINES 50

/* The state document; NULL when memory ran out. now: the loop's monotonic clock. */
struct json_t *view_state(const web_source_t *src, view_cache_t *cache, view_kind_t kind,
                          double now);

/* The history rows whose per-second columns are final (outputs' settled rows): what the
 * page charts and /api/history serves. A view into the results' history, not a copy. */
history_t view_history(const web_source_t *src);

/* results_facts with the workers array allocated (*workers, the caller's to free); false
 * when memory ran out. */
bool view_facts(const web_source_t *src, double now, report_run_t *run,
                report_worker_t **workers);

/* A log line as the page shows it: {seq, time, level, source, message}. */
struct json_t *view_log_lines(uint64_t after, size_t max);

#endif
