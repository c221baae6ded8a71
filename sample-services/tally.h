/*
 * tally — the server's own count of what it answered, per service, per route and per status:
 * the truth herd's numbers are checked against (GET /__stats, zeroed by POST /__reset).
 * Thread-safe; one short mutex per answered request.
 */
#ifndef HERD_SVC_TALLY_H
#define HERD_SVC_TALLY_H

#include "../common/buf.h"

#define TALLY_MAX_SERVICES 8

/* Names the services; index i in tally_record is names[i]. Call once before any request. */
void tally_init(const char *const *names, int n);
/* Counts one answered request. route is "METHOD /pattern" (any text; long ones are cut). */
void tally_record(int service, const char *route, int status);
/* Counts one request dropped by --drop-rate (closed unanswered; not in the answered counts). */
void tally_drop(int service, const char *route);
void tally_reset(void);
/* {"total": N, "services": {name: {"total", "status": {..}, "routes": {..}}}, "routes": {..},
 *  "dropped": {"total": N, "routes": {route: n}}} — "total" counts answered requests only. */
int tally_json(buf_t *b);

#endif
