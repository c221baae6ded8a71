/*
 * runplan — how a run's load changes over time (stages) and what it must achieve
 * (thresholds). Both come from the command line (--stages, --threshold) or the scenario file
 * (stages:, thresholds:); the parsers here are the only ones.
 *
 * Stages are k6's stages / Locust's LoadTestShape: each holds for `duration_s`, moving to
 * `users` at `spawn_rate` users/s (< 0: the run's -r). After the last stage the run stops.
 *
 * Thresholds: METRIC OP VALUE, e.g. "p95<300ms", "p(99.9)<=1s", "avg<200", "max<2s",
 * "fail_ratio<0.01", "rps>=100", "requests>1000", "failures==0". Times take ms (default), s or
 * us. They are checked against the Aggregated figures at the end of the run.
 */
#ifndef HERD_RUNPLAN_H
#define HERD_RUNPLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct stage {
    double duration_s;
    uint32_t users;
    double spawn_rate;    /* < 0: use -r */
} stage_t;

/* "10s:5,30s:50:10,1m:0" -> stages (duration:users[:spawn_rate], comma-separated). *out is
 * malloc'ed. -1 with a one-line message naming the bad part. */
int stages_parse(const char *spec, stage_t **out, size_t *n, char *err, size_t errlen);

typedef enum th_metric {
    TH_PERCENTILE, TH_AVG, TH_MEDIAN, TH_MIN, TH_MAX, TH_FAIL_RATIO, TH_RPS, TH_REQUESTS,
    TH_FAILURES,
} th_metric_t;

typedef enum th_op { TH_LT, TH_LE, TH_GT, TH_GE, TH_EQ } th_op_t;

typedef struct threshold {
    char text[128];       /* as written, trimmed */
    th_metric_t metric;
    double percentile;    /* TH_PERCENTILE */
    th_op_t op;
    double value;         /* times in ms, ratio, req/s or a count */
} threshold_t;

int threshold_parse(const char *text, threshold_t *out, char *err, size_t errlen);
/* The figures thresholds are checked against. Times in ms. */
typedef struct th_figures {
    double requests, failures, duration_s;
    double avg_ms, min_ms, max_ms;
    double (*percentile_ms)(double p, void *ctx);
    void *ctx;
} th_figures_t;
/* True when met; *observed gets the figure compared (in the threshold's unit). */
bool threshold_check(const threshold_t *t, const th_figures_t *f, double *observed);
const char *threshold_unit(const threshold_t *t);

#endif
