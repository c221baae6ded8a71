/*
 * logship — see logship.h. A ring of LOGSHIP_QUEUE_LINES lines behind a mutex, filled by
 * log.h's forward hook and emptied by the control thread.
 */
#include "logship.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

/* Everything below is guarded by lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static logship_line_t queue[LOGSHIP_QUEUE_LINES];
static size_t head;        /* index of the oldest queued line */
static size_t count;       /* lines queued */
static uint64_t dropped;   /* lines dropped since the last logship_take */

/* log.h's forward hook: must not log (a line it logged would only be written, not queued). */
static void on_line(log_level_t level, const char *text)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    pthread_mutex_lock(&lock);
    if (count == LOGSHIP_QUEUE_LINES) {
        dropped++;
    } else {
        logship_line_t *l = &queue[(head + count) % LOGSHIP_QUEUE_LINES];
        l->level = level;
        l->unix_s = (double)tv.tv_sec + tv.tv_usec / 1e6;
        snprintf(l->text, sizeof l->text, "%s", text);
        count++;
    }
    pthread_mutex_unlock(&lock);
}

void logship_start(void)
{
    log_set_forward(LOG_WARNING, on_line);
}

void logship_stop(void)
{
    log_set_forward(LOG_WARNING, NULL);
}

size_t logship_take(logship_line_t *out, size_t max, uint64_t *dropped_out)
{
    pthread_mutex_lock(&lock);
    size_t n = 0;
    for (; n < max && count; n++, count--) {
        out[n] = queue[head];
        head = (head + 1) % LOGSHIP_QUEUE_LINES;
    }
    *dropped_out = dropped;
    dropped = 0;
    pthread_mutex_unlock(&lock);
    return n;
}
