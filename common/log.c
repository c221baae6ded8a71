/*
 * log — see log.h. Lines are written with one fprintf each; the recent lines (when kept)
 * live in a fixed ring behind a mutex, so loggers on any thread and the web server's
 * readers share it without allocating per line.
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};
static log_level_t min_level = LOG_INFO;
static FILE *log_file;        /* NULL: stderr */
static char log_who[32] = "herd";

/* The recent lines: ring[(seq - 1) % LOG_RECENT_LINES] holds line seq, for the
 * LOG_RECENT_LINES highest seqs up to last_seq. last_seq and ring are guarded by
 * ring_lock; keeping is read without it, so a process that keeps nothing (a worker) takes
 * no lock per line. */
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool keeping;
static uint64_t last_seq;     /* seq of the newest line kept; 0: none yet */
static log_line_t ring[LOG_RECENT_LINES];

/* The forward hook, read by every log_msg without a lock. */
typedef void (*forward_fn_t)(log_level_t level, const char *text);
static _Atomic(forward_fn_t) forward_fn;   /* NULL: none */
static _Atomic int forward_level;

/* Set while this thread runs the forward hook: what the hook logs is not forwarded again. */
static _Thread_local bool in_forward;

int log_level_parse(const char *s)
{
    for (int i = 0; i < 5; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    if (strcasecmp(s, "WARN") == 0)
        return LOG_WARNING;
    return -1;
}

int log_setup(const char *who, log_level_t level, const char *path, char *err, size_t errlen)
{
    snprintf(log_who, sizeof log_who, "%s", who);
    min_level = level;
    if (path && *path) {
        FILE *f = fopen(path, "ae");   /* e: O_CLOEXEC */
        if (!f) {
            snprintf(err, errlen, "--logfile: cannot open '%s': %s", path, strerror(errno));
            return -1;
        }
        setvbuf(f, NULL, _IOLBF, 0);
        log_file = f;
    }
    return 0;
}

void log_close(void)
{
    if (log_file)
        fclose(log_file);
    log_file = NULL;
}

int log_fd(void)
{
    return log_file ? fileno(log_file) : -1;
}

static double now_unix_s(struct timeval *tv)
{
    gettimeofday(tv, NULL);
    return (double)tv->tv_sec + tv->tv_usec / 1e6;
}

static void write_line(const struct timeval *tv, log_level_t level, const char *msg)
{
    struct tm tm;
    localtime_r(&tv->tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
    FILE *out = log_file ? log_file : stderr;
    fprintf(out, "[%s,%03ld] %s/%s: %s\n", stamp, (long)(tv->tv_usec / 1000), log_who,
            level_names[level], msg);
    fflush(out);
}

/* Bytes of the UTF-8 sequence at s (at most n bytes there), 0 when it is not a valid one
 * (a stray continuation byte, an overlong form, a surrogate, beyond U+10FFFF, cut short). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (!len || len > n)
        return 0;
    unsigned char lo = 0x80, hi = 0xbf;   /* the second byte's range */
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* Copy src into dst (dstlen bytes) as valid UTF-8 on one line: control characters become
 * spaces, invalid bytes '?', and the cut falls between characters. What a kept line's
 * readers (the web UI's JSON) and a terminal can take, whatever a worker sent. */
static void copy_clean(char *dst, size_t dstlen, const char *src)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t n = strlen(src), o = 0;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_len(s + i, n - i);
        if (o + (len ? len : 1) >= dstlen)
            break;
        if (len == 1) {
            dst[o++] = s[i] < 0x20 || s[i] == 0x7f ? ' ' : (char)s[i];
            i++;
        } else if (len) {
            memcpy(dst + o, s + i, len);
            o += len;
            i += len;
        } else {
            dst[o++] = '?';
            i++;
        }
    }
    dst[o] = '\0';
}

/* Under ring_lock. */
static void ring_add(double unix_s, log_level_t level, const char *source, const char *text)
{
    log_line_t *l = &ring[last_seq % LOG_RECENT_LINES];
    l->seq = ++last_seq;
    l->unix_s = unix_s;
    l->level = level;
    copy_clean(l->source, sizeof l->source, source);
    copy_clean(l->text, sizeof l->text, text);
}

void log_msg(log_level_t level, const char *fmt, ...)
{
    forward_fn_t fn = in_forward || (int)level < atomic_load(&forward_level)
                          ? NULL : atomic_load(&forward_fn);
    if (level < min_level && !fn)
        return;
    struct timeval tv;
    double unix_s = now_unix_s(&tv);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (level >= min_level) {
        write_line(&tv, level, msg);
        if (atomic_load(&keeping)) {
            pthread_mutex_lock(&ring_lock);
            ring_add(unix_s, level, "master", msg);
            pthread_mutex_unlock(&ring_lock);
        }
    }
    /* Outside ring_lock: the hook takes locks of its own. */
    if (fn) {
        in_forward = true;
        fn(level, msg);
        in_forward = false;
    }
}

void log_keep_recent(void)
{
    atomic_store(&keeping, true);
}

void log_add_remote(const char *source, log_level_t level, double unix_s, const char *text)
{
    if ((int)level < LOG_DEBUG || level > LOG_CRITICAL)
        return;
    if (min_level <= LOG_DEBUG) {
        char src[sizeof ring[0].source], clean[sizeof ring[0].text];
        char line[sizeof src + sizeof clean + 16];
        copy_clean(src, sizeof src, source);
        copy_clean(clean, sizeof clean, text);
        snprintf(line, sizeof line, "%s/%s: %s", src, level_names[level], clean);
        struct timeval tv;
        now_unix_s(&tv);
        write_line(&tv, LOG_DEBUG, line);
    }
    if (atomic_load(&keeping)) {
        pthread_mutex_lock(&ring_lock);
        ring_add(unix_s, level, source, text);
        pthread_mutex_unlock(&ring_lock);
    }
}

size_t log_recent(log_line_t *out, size_t max, uint64_t after)
{
    pthread_mutex_lock(&ring_lock);
    uint64_t first = last_seq > LOG_RECENT_LINES ? last_seq - LOG_RECENT_LINES + 1 : 1;
    uint64_t seq = after + 1 > first ? after + 1 : first;
    size_t n = 0;
    for (; seq <= last_seq && n < max; seq++)
        out[n++] = ring[(seq - 1) % LOG_RECENT_LINES];
    pthread_mutex_unlock(&ring_lock);
    return n;
}

void log_set_forward(log_level_t level, void (*fn)(log_level_t level, const char *text))
{
    atomic_store(&forward_level, (int)level);
    atomic_store(&forward_fn, fn);
}
