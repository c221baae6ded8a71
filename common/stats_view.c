/* stats_view — how every output (console, CSV, JSON, HTML, history, thresholds) reads a
 * stats table: Locust's row order and the percentiles as shown. One place, so every file
 * and table agrees on the same number. */
#include <stdlib.h>
#include <string.h>

#include "stats.h"

const double stats_percentiles[STATS_N_PERCENTILES] = {50, 66, 75, 80, 90, 95, 98, 99, 99.9,
                                                        99.99, 100};

static int entry_cmp(const void *a, const void *b)
{
    const stats_entry_t *x = *(const stats_entry_t *const *)a;
    const stats_entry_t *y = *(const stats_entry_t *const *)b;
    int c = strcmp(x->name ? x->name : "", y->name ? y->name : "");
    return c ? c : strcmp(x->method ? x->method : "", y->method ? y->method : "");
}

const stats_entry_t **stats_sorted_entries(const stats_table_t *t)
{
    const stats_entry_t **rows = malloc((t->n_entries ? t->n_entries : 1) * sizeof *rows);
    if (!rows)
        return NULL;
    for (size_t i = 0; i < t->n_entries; i++)
        rows[i] = &t->entries[i];
    qsort(rows, t->n_entries, sizeof *rows, entry_cmp);
    return rows;
}

static uint64_t clamp_to_entry(const stats_entry_t *e, uint64_t v)
{
    if (e->requests == 0)
        return 0;
    if (v < e->min_us)
        return e->min_us;
    if (v > e->max_us)
        return e->max_us;
    return v;
}

void stats_entry_percentiles_us(const stats_entry_t *e, const double *ps, size_t n,
                                uint64_t *out_us)
{
    if (e->requests == 0) {
        memset(out_us, 0, n * sizeof *out_us);
        return;
    }
    hist_percentiles(&e->hist, ps, n, out_us);
    for (size_t i = 0; i < n; i++)
        out_us[i] = ps[i] >= 100 ? e->max_us : clamp_to_entry(e, out_us[i]);
}

uint64_t stats_entry_percentile_us(const stats_entry_t *e, double p)
{
    uint64_t v;
    stats_entry_percentiles_us(e, &p, 1, &v);
    return v;
}
