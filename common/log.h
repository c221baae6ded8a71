/*
 * log — leveled log lines to stderr or a file (--loglevel, --logfile).
 * Format: "[2026-11-25 12:00:00,123] master/INFO: message". Thread-safe (one fprintf per
 * line). Console tables are not logs: they go to stdout through master/console.
 *
 * The log file is opened for appending and close-on-exec: no program the process starts
 * inherits it by accident. One that should log into it (the master's local workers) is
 * handed log_fd() as its stderr on purpose; appends from several processes do not tear lines.
 */
#ifndef HERD_LOG_H
#define HERD_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR, LOG_CRITICAL } log_level_t;

/* who: "master" or "worker". Returns -1 if the file cannot be opened (err filled). */
int log_setup(const char *who, log_level_t level, const char *path, char *err, size_t errlen);
void log_close(void);
/* The log file's descriptor, or -1 when logging to stderr. */
int log_fd(void);
/* "DEBUG".."CRITICAL" (case-insensitive) -> level; -1 if unknown. */
int log_level_parse(const char *s);
void log_msg(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- recent lines, for the web UI's Logs tab ----------------------------------------- */

#define LOG_RECENT_LINES 1000   /* kept, the oldest dropped first */

typedef struct log_line {
    uint64_t seq;               /* 1, 2, ... in the order kept */
    double unix_s;              /* wall clock */
    log_level_t level;
    char source[64];            /* "master", or "worker <8-char id> (<hostname>)" */
    char text[512];             /* the message, cut at 511 bytes */
} log_line_t;
/* source and text are valid UTF-8 on one line (control characters become spaces, invalid
 * bytes '?', cut between characters), whatever a worker sent. */

/* Keep every line logged from now on (at the log level or above) for log_recent. */
void log_keep_recent(void);
/* A line a worker sent: kept beside the master's own whatever its level (the worker chose
 * what to send), and logged at DEBUG as "<source>/<LEVEL>: text". */
void log_add_remote(const char *source, log_level_t level, double unix_s, const char *text);
/* Up to max kept lines with seq > after, oldest first, copied into out; returns how many. */
size_t log_recent(log_line_t *out, size_t max, uint64_t after);

/* Call fn (from whatever thread logs) for each line at level or above, after it is written
 * (also when --loglevel is above it and it is not written): how a worker ships its warnings
 * and errors to the master. NULL: none. fn is called outside the log's lock; a line it logs
 * itself is written but not forwarded again. */
void log_set_forward(log_level_t level, void (*fn)(log_level_t level, const char *text));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
