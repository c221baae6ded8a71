/*
 * web_api — the documents of the web UI's compatibility endpoints: Locust's GET
 * /stats/requests (the JSON locust/web.py serves, field for field, so scripts written for
 * Locust read it unchanged) and Prometheus' text exposition format 0.0.4 for GET /metrics.
 * The CSV and HTML downloads are the report writers' (report.h).
 *
 * Called holding the web source's lock, like view.h; what they return is a copy.
 */
#ifndef HERD_WEB_API_H
#define HERD_WEB_API_H

#include <stdio.h>

#include "web.h"

struct json_t;

/* Locust's /stats/requests document; NULL when memory ran out. */
struct json_t *web_api_locust_stats(const web_source_t *src, double now);

/* The /metrics text into f. -1 when memory ran out. */
int web_api_metrics(FILE *f, const web_source_t *src, double now);

/* The upper bounds of herd_response_time_seconds' buckets, in seconds (+Inf not listed). */
#define WEB_API_N_BUCKETS 15
extern const double web_api_buckets_s[WEB_API_N_BUCKETS];

#endif
