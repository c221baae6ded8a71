#include "tally.h"

#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#define TALLY_MAX_ROWS 512   /* distinct (service, route) rows; later ones share "(other)" */
#define TALLY_KEY_BYTES 96

typedef struct tally_row {
    int service;
    char route[TALLY_KEY_BYTES];
    uint64_t by_status[600];  /* index = HTTP status; 0 holds anything out of 100..599 */
    uint64_t dropped;         /* closed unanswered (--drop-rate) */
} tally_row_t;

static pthread_mutex_t tally_mutex = PTHREAD_MUTEX_INITIALIZER;
static tally_row_t rows[TALLY_MAX_ROWS];  /* guarded by tally_mutex */
static int n_rows;
static const char *const *service_names;
static int n_services;

void tally_init(const char *const *names, int n)
{
    service_names = names;
    n_services = n < TALLY_MAX_SERVICES ? n : TALLY_MAX_SERVICES;
}

static tally_row_t *row_for(int service, const char *route)
{
    for (int i = 0; i < n_rows; i++)
        if (rows[i].service == service && strcmp(rows[i].route, route) == 0)
            return &rows[i];
    if (n_rows >= TALLY_MAX_ROWS - 1 && strcmp(route, "(other)") != 0)
        return row_for(service, "(other)");
    if (n_rows >= TALLY_MAX_ROWS)
        return &rows[TALLY_MAX_ROWS - 1];
    tally_row_t *r = &rows[n_rows++];
    memset(r, 0, sizeof *r);
    r->service = service;
    snprintf(r->route, sizeof r->route, "%s", route);
    return r;
}

void tally_record(int service, const char *route, int status)
{
    char key[TALLY_KEY_BYTES];
    snprintf(key, sizeof key, "%s", route);
    pthread_mutex_lock(&tally_mutex);
    row_for(service, key)->by_status[status >= 100 && status < 600 ? status : 0]++;
    pthread_mutex_unlock(&tally_mutex);
}

void tally_drop(int service, const char *route)
{
    char key[TALLY_KEY_BYTES];
    snprintf(key, sizeof key, "%s", route);
    pthread_mutex_lock(&tally_mutex);
    row_for(service, key)->dropped++;
    pthread_mutex_unlock(&tally_mutex);
}

void tally_reset(void)
{
    pthread_mutex_lock(&tally_mutex);
    n_rows = 0;
    pthread_mutex_unlock(&tally_mutex);
}

static int put_statuses(buf_t *b, const uint64_t *by_status)
{
    int rc = buf_putc(b, '{');
    int first = 1;
    for (int s = 0; s < 600; s++) {
        if (!by_status[s])
            continue;
        rc |= buf_printf(b, "%s\"%d\": %llu", first ? "" : ", ", s,
                         (unsigned long long)by_status[s]);
        first = 0;
    }
    return rc | buf_putc(b, '}');
}

static uint64_t sum(const uint64_t *by_status)
{
    uint64_t n = 0;
    for (int s = 0; s < 600; s++)
        n += by_status[s];
    return n;
}

int tally_json(buf_t *b)
{
    static uint64_t acc[600];  /* scratch, used under tally_mutex only */
    int rc = 0;
    pthread_mutex_lock(&tally_mutex);
    uint64_t total = 0;
    for (int i = 0; i < n_rows; i++)
        total += sum(rows[i].by_status);
    rc |= buf_printf(b, "{\"total\": %llu, \"services\": {", (unsigned long long)total);
    for (int sv = 0; sv < n_services; sv++) {
        memset(acc, 0, sizeof acc);
        for (int i = 0; i < n_rows; i++)
            if (rows[i].service == sv)
                for (int s = 0; s < 600; s++)
                    acc[s] += rows[i].by_status[s];
        rc |= buf_printf(b, "%s\"%s\": {\"total\": %llu, \"status\": ", sv ? ", " : "",
                         service_names[sv], (unsigned long long)sum(acc));
        rc |= put_statuses(b, acc);
        rc |= buf_puts(b, ", \"routes\": {");
        int first = 1;
        for (int i = 0; i < n_rows; i++) {
            if (rows[i].service != sv)
                continue;
            rc |= buf_printf(b, "%s\"", first ? "" : ", ");
            rc |= buf_put_json_escaped(b, rows[i].route, strlen(rows[i].route));
            rc |= buf_puts(b, "\": ");
            rc |= put_statuses(b, rows[i].by_status);
            first = 0;
        }
        rc |= buf_puts(b, "}}");
    }
    /* "routes": the same rows merged across services by route name. */
    rc |= buf_puts(b, "}, \"routes\": {");
    int first = 1;
    for (int i = 0; i < n_rows; i++) {
        int seen_before = 0;
        for (int j = 0; j < i && !seen_before; j++)
            seen_before = strcmp(rows[j].route, rows[i].route) == 0;
        if (seen_before)
            continue;
        memset(acc, 0, sizeof acc);
        for (int j = i; j < n_rows; j++)
            if (strcmp(rows[j].route, rows[i].route) == 0)
                for (int s = 0; s < 600; s++)
                    acc[s] += rows[j].by_status[s];
        rc |= buf_printf(b, "%s\"", first ? "" : ", ");
        rc |= buf_put_json_escaped(b, rows[i].route, strlen(rows[i].route));
        rc |= buf_puts(b, "\": ");
        rc |= put_statuses(b, acc);
        first = 0;
    }
    uint64_t dropped = 0;
    for (int i = 0; i < n_rows; i++)
        dropped += rows[i].dropped;
    rc |= buf_printf(b, "}, \"dropped\": {\"total\": %llu, \"routes\": {",
                     (unsigned long long)dropped);
    first = 1;
    for (int i = 0; i < n_rows; i++) {
        uint64_t n = 0;
        int seen_before = 0;
        for (int j = 0; j < i && !seen_before; j++)
            seen_before = strcmp(rows[j].route, rows[i].route) == 0;
        for (int j = i; j < n_rows && !seen_before; j++)
            if (strcmp(rows[j].route, rows[i].route) == 0)
                n += rows[j].dropped;
        if (!n)
            continue;
        rc |= buf_printf(b, "%s\"", first ? "" : ", ");
        rc |= buf_put_json_escaped(b, rows[i].route, strlen(rows[i].route));
        rc |= buf_printf(b, "\": %llu", (unsigned long long)n);
        first = 0;
    }
    rc |= buf_puts(b, "}}}");
    pthread_mutex_unlock(&tally_mutex);
    return rc ? -1 : 0;
}
