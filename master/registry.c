#include "registry.h"

#include <stdlib.h>
#include <string.h>

#include "../common/vec.h"

void registry_init(registry_t *r, size_t n_classes)
{
    memset(r, 0, sizeof *r);
    r->n_classes = n_classes;
}

void registry_free(registry_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->workers[i].target);
    free(r->workers);
    memset(r, 0, sizeof *r);
}

worker_t *registry_find(registry_t *r, const char *id, size_t id_len)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->workers[i].id_len == id_len && memcmp(r->workers[i].id, id, id_len) == 0)
            return &r->workers[i];
    return NULL;
}

worker_t *registry_add(registry_t *r, const char *id, size_t id_len)
{
    if (id_len > WIRE_MAX_ID_BYTES)
        return NULL;
    if (VEC_RESERVE(r->workers, r->cap, r->n + 1) < 0)
        return NULL;
    worker_t *w = &r->workers[r->n];
    memset(w, 0, sizeof *w);
    w->target = calloc(r->n_classes ? r->n_classes : 1, sizeof *w->target);
    if (!w->target)
        return NULL;
    memcpy(w->id, id, id_len);
    w->id[id_len] = '\0';
    w->id_len = id_len;
    w->state = WORKER_READY;
    r->n++;
    return w;
}

bool worker_is_active(const worker_t *w)
{
    return w->state != WORKER_MISSING;
}

size_t registry_count_active(const registry_t *r)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += worker_is_active(&r->workers[i]);
    return n;
}

const char *worker_state_name(worker_state_t s)
{
    static const char *const names[] = {"ready", "spawning", "running", "stopping", "stopped",
                                        "missing"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

const char *worker_short_id(const worker_t *w)
{
    static __thread char buf[9];
    memcpy(buf, w->id, 8);
    buf[8] = '\0';
    return buf;
}
