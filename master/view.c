/*
 * view — the web UI's documents; see view.h.
 */
#include "view.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "inspect.h"
#include "json_out.h"

void view_cache_free(view_cache_t *c)
{
    json_decref(c->ratio);
    memset(c, 0, sizeof *c);
}

history_t view_history(const web_source_t *src)
{
    const outputs_t *out = &src->results->out;
    history_t h = out->history;
    h.n = out->n_settled < out->history.n ? out->n_settled : out->history.n;
    h.cap = h.n;
    return h;
}

bool view_facts(const web_source_t *src, double now, report_run_t *run,
                report_worker_t **workers)
{
    const run_t *r = src->run;
    *workers = calloc(r->reg.n ? r->reg.n : 1, sizeof **workers);
    if (!*workers)
        return false;
    *run = results_facts(src->results, r, *workers, now);
    return true;
}

/* ---- the live parts ---------------------------------------------------------------------- */

/* Each stats row's current_rps and current_fail_per_sec (the Aggregated row last); the
 * document's totals too. */
static bool add_current(json_t *doc, const run_current_t *cur)
{
    json_t *stats = json_object_get(doc, "stats");
    size_t n = json_array_size(stats);
    for (size_t i = 0; i < n; i++) {
        json_t *row = json_array_get(stats, i);
        double rps, fps;
        bool aggregated = i + 1 == n;
        run_current_row(cur, aggregated ? NULL : json_string_value(json_object_get(row, "method")),
                        json_string_value(json_object_get(row, "name")), &rps, &fps);
        if (!json_out_put(row, "current_rps", json_real(rps)) ||
            !json_out_put(row, "current_fail_per_sec", json_real(fps)))
            return false;
        if (i + 1 == n && (!json_out_put(doc, "current_rps", json_real(rps)) ||
                           !json_out_put(doc, "current_fail_per_sec", json_real(fps))))
            return false;
    }
    return true;
}

/* The task ratio for the users in force: Locust's --show-task-ratio-json document. */
static json_t *ratio_json(const web_source_t *src, view_cache_t *cache)
{
    const run_t *r = src->run;
    uint32_t users = r->p.users;
    if (!cache->ratio || cache->ratio_users != users) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (!f)
            return NULL;
        int rc = inspect_task_ratio(f, src->sc, users, true);
        if (fclose(f) != 0 || rc < 0) {
            free(text);
            return NULL;
        }
        json_t *j = json_loadb(text, len, 0, NULL);
        free(text);
        if (!j)
            return NULL;
        json_decref(cache->ratio);
        cache->ratio = j;
        cache->ratio_users = users;
    }
    return json_incref(cache->ratio);
}

static json_t *list_json(char *const *items, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, json_out_str(items[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* What the start form shows: the test in force or the last one (before any, the command
 * line's: the run holds them from the start). */
static json_t *defaults_json(const web_source_t *src)
{
    const run_params_t *p = &src->run->p;
    json_t *d = json_object();
    bool ok = d && json_out_put(d, "user_count", json_integer(p->users)) &&
              json_out_put(d, "spawn_rate", json_real(p->spawn_rate)) &&
              json_out_put(d, "host", json_out_str(p->host ? p->host : src->sc->host)) &&
              json_out_put(d, "run_time", p->run_time_s > 0 ? json_real(p->run_time_s)
                                                            : json_null()) &&
              json_out_put(d, "tags", list_json(p->tags, p->n_tags)) &&
              json_out_put(d, "exclude_tags", list_json(p->exclude_tags, p->n_exclude_tags)) &&
              json_out_put(d, "stages", json_out_str(src->o->stages));
    if (!ok) {
        json_decref(d);
        return NULL;
    }
    return d;
}

static const char *level_name(log_level_t l)
{
    switch (l) {
    case LOG_DEBUG: return "DEBUG";
    case LOG_INFO: return "INFO";
    case LOG_WARNING: return "WARNING";
    case LOG_ERROR: return "ERROR";
    case LOG_CRITICAL: return "CRITICAL";
    }
    return "INFO";
}

json_t *view_log_lines(uint64_t after, size_t max)
{
    /* log_recent gives the oldest lines after `after`: ask for all it keeps, show the last
     * max of them (the newest) when after is 0. */
    size_t cap = after ? max : LOG_RECENT_LINES;
    log_line_t *lines = malloc(cap * sizeof *lines);
    json_t *arr = json_array();
    if (!lines || !arr) {
        free(lines);
        json_decref(arr);
        return NULL;
    }
    size_t n = log_recent(lines, cap, after);
    size_t from = n > max ? n - max : 0;
    for (size_t i = from; i < n; i++) {
        const log_line_t *l = &lines[i];
        json_t *o = json_object();
        bool ok = o && json_out_put(o, "seq", json_integer((json_int_t)l->seq)) &&
                  json_out_put(o, "time", json_real(l->unix_s)) &&
                  json_out_put(o, "level", json_string(level_name(l->level))) &&
                  json_out_put(o, "source", json_out_str(l->source)) && json_out_put(o, "message", json_out_str(l->text));
        if (!ok || json_array_append_new(arr, o) != 0) {
            if (!ok)
                json_decref(o);
            json_decref(arr);
            arr = NULL;
            break;
        }
    }
    free(lines);
    return arr;
}

json_t *view_state(const web_source_t *src, view_cache_t *cache, view_kind_t kind, double now)
{
    run_t *r = src->run;
    report_run_t facts;
    report_worker_t *workers;
    if (!view_facts(src, now, &facts, &workers))
        return NULL;
    history_t h = view_history(src);
    size_t total_rows = h.n;
    if (kind == VIEW_EVENT && h.n > VIEW_EVENT_HISTORY_ROWS) {
        /* only the tail: a view of the last rows, not a copy */
        h.snaps += h.n - VIEW_EVENT_HISTORY_ROWS;
        h.n = h.cap = VIEW_EVENT_HISTORY_ROWS;
    }
    json_t *doc = report_json_document(&r->stats, &h, &facts);
    free(workers);
    if (!doc)
        return NULL;

    run_current_t cur;
    bool live = run_is_live(r);
    if (live)
        cur = run_current(r, now);
    uint64_t requests = stats_total_requests(&r->stats);
    uint64_t failures = stats_total_failures(&r->stats);
    size_t expect = r->cfg.expect_workers ? r->cfg.expect_workers : 1;
    bool ok = json_out_put(doc, "mode", json_string("live")) &&
              json_out_put(doc, "state", json_string(run_state_name(r))) &&
              json_out_put(doc, "message", json_out_str(r->failed ? r->err : "")) &&
              json_out_put(doc, "user_count", json_integer(run_users(r))) &&
              json_out_put(doc, "worker_count", json_integer((json_int_t)registry_count_active(&r->reg))) &&
              json_out_put(doc, "expect_workers", json_integer((json_int_t)expect)) &&
              json_out_put(doc, "current_rps", json_real(0)) &&
              json_out_put(doc, "current_fail_per_sec", json_real(0)) &&
              json_out_put(doc, "fail_ratio",
                  json_real(requests ? (double)failures / (double)requests : 0)) &&
              add_current(doc, live ? &cur : NULL) &&
              json_out_put(doc, "history_total", json_integer((json_int_t)total_rows)) &&
              json_out_put(doc, "ratio", ratio_json(src, cache)) &&
              json_out_put(doc, "defaults", defaults_json(src)) &&
              json_out_put(doc, "logs", view_log_lines(0, kind == VIEW_EVENT ? VIEW_EVENT_LOG_LINES
                                                                    : VIEW_STATE_LOG_LINES));
    if (!ok) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}
