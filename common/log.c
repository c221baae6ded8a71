#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};
static log_level_t min_level = LOG_INFO;
static FILE *log_file;        /* NULL: stderr */
static char log_who[32] = "herd";

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

void log_msg(log_level_t level, const char *fmt, ...)
{
    if (level < min_level)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    FILE *out = log_file ? log_file : stderr;
    fprintf(out, "[%s,%03ld] %s/%s: %s\n", stamp, (long)(tv.tv_usec / 1000), log_who,
            level_names[level], msg);
    fflush(out);
}
