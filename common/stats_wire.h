/*
 * stats_wire — a stats table as it travels from a worker to the master: the Report message
 * of proto/herd.proto (entries with sparse histograms, the per-second timeline, the failure
 * groups). The worker packs its pending delta with stats_to_report; the master checks and
 * adds what arrives with stats_merge_report.
 *
 * Why a module of its own: stats.h is the in-memory table that the engine counts into on the
 * request path and the master sums; it has no business knowing protobuf. This is the one
 * place that converts between the two, and the one place that decides whether a report from
 * the network is believable: a worker is a peer, not trusted code, so a bad report costs the
 * master a log line, never a corrupt table or a crash.
 *
 * What must stay true:
 *   - stats_merge_report(t2, stats_to_report(t)) adds exactly t to t2: every row with
 *     requests, every second, every failure group, histograms bucket for bucket;
 *   - stats_merge_report checks the whole report before it changes anything, and is
 *     all-or-nothing, so the master's totals never hold half a report;
 *   - histogram bucket indices are hist.h's: the bucket layout is wire format (change it only
 *     together with HERD_PROTOCOL_VERSION in wire.h).
 *
 * The generated header is included rather than `struct Herd__Report` forward-declared: every
 * caller fills or reads a Report's own fields (the worker its sequence numbers, the master
 * the same to order reports), so each needs the generated types anyway, and the build puts
 * that header on every object's include path. stats.h, included by the engine, stays free of
 * it.
 */
#ifndef HERD_STATS_WIRE_H
#define HERD_STATS_WIRE_H

#include <stddef.h>

#include "herd.pb-c.h"
#include "stats.h"

/* Fill r's entries/seconds/failures from t (rows that counted nothing — no request, re-send
 * or interrupted request — are left out; other fields of r are not touched). Pointers inside r point into t (no copies), so t must outlive the
 * packing of r; free with stats_report_release (frees only what this function allocated).
 * Returns 0 or -1 on allocation failure. */
int stats_to_report(const stats_table_t *t, Herd__Report *r);
void stats_report_release(Herd__Report *r);

/* Rows a report may hold: a worker's rows are its scenario's (method, name) pairs, at most
 * one per step, and the scenario loader allows 10 000 steps. */
#define STATS_REPORT_MAX_ROWS 10000
/* Failure groups a report may hold. A worker does not bound the distinct messages it sees
 * (a template error quotes a value), but adding a group to a table looks the group up
 * among the table's (stats.c), so a report with a million of them would hold the master for
 * hours: more than this in one report (one second) is refused, logged. */
#define STATS_REPORT_MAX_FAILURE_GROUPS 10000

/* t += the report's contents, after checking every field: at most STATS_REPORT_MAX_ROWS
 * entries, each (method, name) once, and STATS_REPORT_MAX_FAILURE_GROUPS failure groups; strings non-empty and bounded; failures <= requests
 * (entries and seconds); min <= mean <= max; histogram indices valid and increasing, counts
 * non-zero and summing to requests, first/last bucket == bucket of min/max; seconds
 * increasing; failure groups unique, and those of a (method, name) not more than that
 * entry's failures; re-sends <= 31 x (requests + interrupted). Checking and building the delta are linear in the report's size (the
 * final stats_merge into t looks rows up in t as stats.c does). On a bad report returns -1
 * with err filled (one sentence) and t unchanged; also -1 on allocation failure. */
int stats_merge_report(stats_table_t *t, const Herd__Report *r, char *err, size_t errlen);

#endif
