#include "window.h"

#include "../common/stats_wire.h"

void window_init(window_t *w)
{
    for (int i = 0; i < WINDOW_SLOTS; i++) {
        stats_init(&w->slot[i]);
        w->second[i] = -1;
    }
}

void window_free(window_t *w)
{
    for (int i = 0; i < WINDOW_SLOTS; i++)
        stats_free(&w->slot[i]);
}

void window_clear(window_t *w)
{
    for (int i = 0; i < WINDOW_SLOTS; i++) {
        stats_clear(&w->slot[i]);
        w->second[i] = -1;
    }
}

int window_add_report(window_t *w, int64_t now_s, const Herd__Report *r, char *err,
                      size_t errlen)
{
    int i = (int)(((now_s % WINDOW_SLOTS) + WINDOW_SLOTS) % WINDOW_SLOTS);
    if (w->second[i] != now_s) {
        stats_clear(&w->slot[i]);   /* an older second's data: out of the window */
        w->second[i] = now_s;
    }
    return stats_merge_report(&w->slot[i], r, err, errlen);
}

int window_sum(const window_t *w, int64_t from_s, int64_t to_s, stats_table_t *out)
{
    stats_clear(out);
    for (int i = 0; i < WINDOW_SLOTS; i++)
        if (w->second[i] >= from_s && w->second[i] < to_s &&
            stats_merge(out, &w->slot[i]) < 0)
            return -1;
    return 0;
}
