/*
 * logship — a worker's warnings and errors on their way to the master (its web UI's Logs
 * tab). log.h's forward hook, called on whatever thread logs, puts each line at WARNING or
 * above into a bounded queue; the control thread, which owns the socket, takes them a batch
 * at a time and sends them as a Log message (control.c).
 *
 * What must stay true: a logging thread (an engine's) never waits for the network or for
 * the control thread beyond a copy under a mutex. A full queue drops the line and counts it;
 * the count goes to the master as one line of its own.
 */
#ifndef HERD_LOGSHIP_H
#define HERD_LOGSHIP_H

#include <stddef.h>
#include <stdint.h>

#include "../common/log.h"

#define LOGSHIP_QUEUE_LINES 100   /* lines waiting at most; more are dropped and counted */

typedef struct logship_line {
    log_level_t level;
    double unix_s;               /* when it was logged */
    char text[512];              /* cut at 511 bytes */
} logship_line_t;

/* Queue every line logged at WARNING or above from now on (log_set_forward). */
void logship_start(void);
/* Queue no more; what is queued stays for logship_take. */
void logship_stop(void);
/* Move up to max queued lines, oldest first, into out; returns how many. *dropped gets the
 * lines dropped since the last call (the count starts again at 0). */
size_t logship_take(logship_line_t *out, size_t max, uint64_t *dropped);

#endif
