#include "service.h"

#include <stdint.h>
#include <string.h>

#include "../common/rng.h"

/* Length of a pattern's fixed prefix when it ends in "{uuid}", else 0. */
static size_t param_prefix(const char *pattern)
{
    const char *brace = strchr(pattern, '{');
    return brace ? (size_t)(brace - pattern) : 0;
}

static int path_matches(const char *pattern, const char *path, const char **arg)
{
    size_t pre = param_prefix(pattern);
    if (pre == 0) {
        *arg = NULL;
        return strcmp(pattern, path) == 0;
    }
    if (strncmp(pattern, path, pre) != 0 || path[pre] == '\0' || strchr(path + pre, '/'))
        return 0;
    *arg = path + pre;
    return 1;
}

enum svc_match svc_match(const svc_service_t *s, const char *method, const char *path,
                         const svc_route_t **route, const char **arg)
{
    /* Exact paths win over "{uuid}" ones, so "/players/balance" is never a player UUID. */
    for (int pass = 0; pass < 2; pass++) {
        const svc_route_t *same_path = NULL;
        for (size_t i = 0; i < s->n_routes; i++) {
            const svc_route_t *r = &s->routes[i];
            if ((param_prefix(r->pattern) != 0) != (pass == 1))
                continue;
            const char *a;
            if (!path_matches(r->pattern, path, &a))
                continue;
            if (strcmp(r->method, method) == 0) {
                *route = r;
                *arg = a;
                return SVC_ROUTE;
            }
            if (!same_path)
                same_path = r;
        }
        if (same_path) {
            *route = same_path;
            *arg = NULL;
            return SVC_WRONG_METHOD;
        }
    }
    return SVC_NO_ROUTE;
}

int svc_error(buf_t *out, int status, const char *message)
{
    buf_reset(out);
    buf_puts(out, "{\"message\": \"");
    buf_put_json_escaped(out, message, strlen(message));
    buf_puts(out, "\"}");
    return status;
}

uint64_t *svc_rng(void)
{
    static _Thread_local uint64_t state;   /* 0 until this thread's first call */
    if (state == 0)
        state = rng_seed((uint64_t)(uintptr_t)&state);   /* never 0, and stays non-zero */
    return &state;
}
