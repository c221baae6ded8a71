/*
 * service — what a sample service is to the HTTP layer: a name and a table of routes, each a
 * method, a path pattern and a handler. A handler gets the request, writes a JSON body into
 * `out` and returns the HTTP status; it never touches the connection, counting, delays or
 * injected trouble (http.c does those), so the four services are plain functions of the
 * shared state (state.h). Also the two helpers they all use: svc_error and svc_rng.
 */
#ifndef HERD_SVC_SERVICE_H
#define HERD_SVC_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"

typedef struct svc_request {
    const char *method;
    const char *path_arg;  /* the text matched by "{uuid}" in the pattern, else NULL */
    const char *body;      /* NUL-terminated; body_len bytes */
    size_t body_len;
} svc_request_t;

typedef int (*svc_handler_fn)(const svc_request_t *rq, buf_t *out);

typedef struct svc_route {
    const char *method;
    const char *pattern;   /* "/players", or "/players/{uuid}": one trailing path segment */
    svc_handler_fn handler;
} svc_route_t;

typedef struct svc_service {
    const char *name;      /* "profile", "matchmaking", "item", "tradepost" */
    const svc_route_t *routes;
    size_t n_routes;
} svc_service_t;

extern const svc_service_t svc_profile, svc_matchmaking, svc_item, svc_tradepost;

enum svc_match { SVC_NO_ROUTE, SVC_WRONG_METHOD, SVC_ROUTE };

/* Finds the route for method and path. SVC_ROUTE: *route and *arg (the {uuid} segment, pointing
 * into path, or NULL) are set. SVC_WRONG_METHOD: *route is a route with that path, for naming. */
enum svc_match svc_match(const svc_service_t *s, const char *method, const char *path,
                         const svc_route_t **route, const char **arg);

/* Writes {"message": message} into out (reset first) and returns status. */
int svc_error(buf_t *out, int status, const char *message);

/* The calling thread's random generator for common/rng.h (rng_below(svc_rng(), n), ...):
 * random players, winners, injected trouble. Each thread has its own, seeded on first use,
 * so service threads never share or lock one. Not cryptographic. */
uint64_t *svc_rng(void);

#endif
