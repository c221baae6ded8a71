/*
 * report — the pieces every report writer shares: the history the master snapshots each
 * second, Locust's row order and percentiles (the same figures master/console.c prints),
 * how files are written (regular files replaced atomically, anything else written through;
 * see report.h) and checked before the run, and Locust-compatible number formatting. The
 * writers themselves are report_csv.c, report_json.c and report_html.c.
 */
#include "report.h"
#include "report_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/vec.h"

const char *const report_percentile_labels[REPORT_N_PCT] = { "50%", "66%", "75%",   "80%",
                                                             "90%", "95%", "98%",   "99%",
                                                             "99.9%", "99.99%", "100%" };

/* ---- history ------------------------------------------------------------------------------ */

void history_init(history_t *h)
{
    memset(h, 0, sizeof *h);
}

void history_free(history_t *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->snaps[i].points);
    free(h->snaps);
    history_init(h);
}

history_snapshot_t *history_add(history_t *h, int64_t unix_s, uint32_t users, size_t n_points)
{
    if (VEC_RESERVE(h->snaps, h->cap, h->n + 1) < 0)
        return NULL;
    history_point_t *points = calloc(n_points ? n_points : 1, sizeof *points);
    if (!points)
        return NULL;
    history_snapshot_t *s = &h->snaps[h->n++];
    s->unix_s = unix_s;
    s->users = users;
    s->points = points;
    s->n_points = n_points;
    return s;
}

/* ---- rows and percentiles ----------------------------------------------------------------- */

void report_entry_percentiles_us(const stats_entry_t *e, uint64_t out_us[REPORT_N_PCT])
{
    stats_entry_percentiles_us(e, stats_percentiles, REPORT_N_PCT, out_us);
}

long long report_us_to_ms_rounded(uint64_t us)
{
    return (long long)((us + 500) / 1000);
}

double report_duration_s(const report_run_t *run)
{
    double d = run ? run->end_unix - run->start_unix : 0;
    return d > 0 ? d : 0;
}

double report_stats_duration_s(const report_run_t *run)
{
    if (!run)
        return 0;
    double from = run->stats_start_unix > 0 ? run->stats_start_unix : run->start_unix;
    double d = run->end_unix - from;
    return d > 0 ? d : 0;
}

/* ---- files -------------------------------------------------------------------------------- */

/* A path that names a descriptor (report.h): "/dev/fd/N" and "/proc/self/fd/N". */
static int fd_in_path(const char *path, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (strncmp(path, prefix, pl) != 0 || !path[pl])
        return -1;
    long fd = 0;
    for (const char *p = path + pl; *p; p++) {
        if (*p < '0' || *p > '9' || fd > 65536)
            return -1;
        fd = fd * 10 + (*p - '0');
    }
    return (int)fd;
}

int report_path_fd(const char *path)
{
    if (!strcmp(path, "-") || !strcmp(path, "/dev/stdout"))
        return 1;
    if (!strcmp(path, "/dev/stderr"))
        return 2;
    int fd = fd_in_path(path, "/dev/fd/");
    return fd >= 0 ? fd : fd_in_path(path, "/proc/self/fd/");
}

/* Why no new file can be made at path (its directory is missing, not a directory, or takes
 * no new files), or NULL. why is scratch space for the answer. */
static const char *dir_problem(const char *path, char *why, size_t len)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            snprintf(why, len, "directory '%s' does not exist", dir);
        else
            snprintf(why, len, "directory '%s': %s", dir, strerror(errno));
        return why;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, len, "'%s' is not a directory", dir);
        return why;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(why, len, "cannot create files in '%s': %s", dir, strerror(errno));
        return why;
    }
    return NULL;
}

/* Why path cannot be written as a report, or NULL. */
static const char *path_problem(const char *path, char *why, size_t len)
{
    if (!*path)
        return "an empty name";
    int fd = report_path_fd(path);
    if (fd >= 0) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0)
            snprintf(why, len, "descriptor %d is not open", fd);
        else if ((fl & O_ACCMODE) == O_RDONLY)
            snprintf(why, len, "descriptor %d is open for reading only", fd);
        else
            return NULL;
        return why;
    }
    struct stat st, lst;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return "it is a directory (give a file name)";
        if (S_ISSOCK(st.st_mode))
            return "it is a socket";
        bool link = lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode);
        if (S_ISREG(st.st_mode) && !link)
            return dir_problem(path, why, len);   /* FILE.tmp is made beside it */
        if (access(path, W_OK) != 0) {
            snprintf(why, len, "%s", strerror(errno));
            return why;
        }
        return NULL;
    }
    if (errno != ENOENT) {
        snprintf(why, len, "%s", strerror(errno));
        return why;
    }
    /* A new file, or the missing target of a symlink: its directory must take new files. */
    char target[4096];
    ssize_t tl = readlink(path, target, sizeof target - 1);
    if (tl <= 0)
        return dir_problem(path, why, len);
    target[tl] = '\0';
    char joined[8192];
    const char *slash = strrchr(path, '/');
    if (target[0] != '/' && slash)
        snprintf(joined, sizeof joined, "%.*s/%s", (int)(slash - path), path, target);
    else
        snprintf(joined, sizeof joined, "%s", target);
    return dir_problem(joined, why, len);
}

int report_check_path(const char *option, const char *path, char *err, size_t errlen)
{
    char why[4200];
    const char *problem = path_problem(path, why, sizeof why);
    if (!problem)
        return 0;
    snprintf(err, errlen, "%s: cannot write '%s': %s", option, path, problem);
    return -1;
}

/* Written through: the descriptor the path names, else the path opened as it is (a FIFO
 * without a reader fails with ENXIO instead of blocking the master). */
static int open_through(report_file_t *rf, int fd, char *err, size_t errlen)
{
    int d;
    if (fd >= 0) {
        fflush(stdout);   /* what the console printed comes first */
        fflush(stderr);
        d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    } else {
        d = open(rf->path, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_CLOEXEC, 0666);
        if (d >= 0) {
            int fl = fcntl(d, F_GETFL);
            if (fl >= 0)
                fcntl(d, F_SETFL, fl & ~O_NONBLOCK);
        }
    }
    if (d >= 0) {
        rf->f = fdopen(d, "w");
        if (rf->f)
            return 0;
        int saved = errno;
        close(d);
        errno = saved;
    }
    if (errno == ENXIO)
        snprintf(err, errlen, "%s: cannot write '%s': no process is reading the FIFO",
                 rf->option, rf->path);
    else
        snprintf(err, errlen, "%s: cannot write '%s': %s", rf->option, rf->path,
                 strerror(errno));
    return -1;
}

int report_file_open(report_file_t *rf, const char *option, const char *path, char *err,
                     size_t errlen)
{
    memset(rf, 0, sizeof *rf);
    rf->path = path;
    rf->option = option;
    int fd = report_path_fd(path);
    struct stat lst;
    if (fd >= 0 || (lstat(path, &lst) == 0 && !S_ISREG(lst.st_mode)))
        return open_through(rf, fd, err, errlen);
    size_t n = strlen(path) + sizeof ".tmp";
    rf->tmp_path = malloc(n);
    if (!rf->tmp_path) {
        snprintf(err, errlen, "%s: cannot write '%s': out of memory", option, path);
        return -1;
    }
    snprintf(rf->tmp_path, n, "%s.tmp", path);
    rf->f = fopen(rf->tmp_path, "w");
    if (!rf->f) {
        snprintf(err, errlen, "%s: cannot write '%s': %s", option, path, strerror(errno));
        free(rf->tmp_path);
        rf->tmp_path = NULL;
        return -1;
    }
    return 0;
}

int report_file_commit(report_file_t *rf, char *err, size_t errlen)
{
    int rc = 0;
    int saved = 0;
    errno = 0;
    if (fflush(rf->f) != 0 || ferror(rf->f)) {
        saved = errno ? errno : EIO;
        rc = -1;
    }
    if (fclose(rf->f) != 0 && rc == 0) {
        saved = errno;
        rc = -1;
    }
    rf->f = NULL;
    if (rc == 0 && rf->tmp_path && rename(rf->tmp_path, rf->path) != 0) {
        saved = errno;
        rc = -1;
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot write '%s': %s", rf->option, rf->path,
                 strerror(saved));
        if (rf->tmp_path)
            unlink(rf->tmp_path);
    }
    free(rf->tmp_path);
    rf->tmp_path = NULL;
    return rc;
}

void report_file_abort(report_file_t *rf)
{
    if (rf->f)
        fclose(rf->f);
    rf->f = NULL;
    if (rf->tmp_path)
        unlink(rf->tmp_path);
    free(rf->tmp_path);
    rf->tmp_path = NULL;
}

/* ---- formatting --------------------------------------------------------------------------- */

void report_format_pyfloat(char *buf, size_t len, double v)
{
    if (isnan(v)) {
        snprintf(buf, len, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, len, v < 0 ? "-inf" : "inf");
        return;
    }
    if (v == 0) {
        snprintf(buf, len, signbit(v) ? "-0.0" : "0.0");
        return;
    }
    /* Shortest round-tripping significand, as Python's repr. */
    char sci[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec - 1, v);
        if (strtod(sci, NULL) == v)
            break;
    }
    /* sci is "[-]d[.ddd]e[+-]XX": split into sign, digits and exponent. */
    const char *p = sci;
    bool negative = *p == '-';
    if (negative)
        p++;
    char digits[24];
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.' && nd < sizeof digits - 1)
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    int exp = *p == 'e' ? atoi(p + 1) : 0;

    char out[64];
    size_t o = 0;
    if (negative)
        out[o++] = '-';
    if (exp >= -4 && exp < 16) {
        if (exp >= 0) {
            for (int i = 0; i <= exp; i++)
                out[o++] = (size_t)i < nd ? digits[i] : '0';
            out[o++] = '.';
            if ((size_t)exp + 1 < nd)
                for (size_t i = (size_t)exp + 1; i < nd; i++)
                    out[o++] = digits[i];
            else
                out[o++] = '0';
        } else {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = 0; i < -exp - 1; i++)
                out[o++] = '0';
            for (size_t i = 0; i < nd; i++)
                out[o++] = digits[i];
        }
        out[o] = '\0';
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (size_t i = 1; i < nd; i++)
                out[o++] = digits[i];
        }
        snprintf(out + o, sizeof out - o, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    snprintf(buf, len, "%s", out);
}

void report_format_iso8601(char *buf, size_t len, double unix_s)
{
    if (!(unix_s > 0)) {
        snprintf(buf, len, "%s", "");
        return;
    }
    time_t secs = (time_t)floor(unix_s);
    int ms = (int)llround((unix_s - (double)secs) * 1000);
    if (ms >= 1000) {
        secs++;
        ms -= 1000;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", date, ms);
}
