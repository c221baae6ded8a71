/*
 * scenario_check — the scenario loader's checks of single values, and its error reporting:
 * "FILE:LINE:COLUMN: message" for the first problem, unknown keys with the nearest valid one,
 * typed values (numbers, seconds, text, lists, mappings), variable names and URLs.
 *
 * Split from the compilers (scenario.c, scenario_step.c) so they read as the language's
 * structure, not as type checks. Declarations and the rules every function keeps are in
 * scenario_internal.h; the language is described in scenarios/README.md.
 */
#include "scenario_internal.h"
#include "suggest.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Names the template language defines itself; a variable may not take them. */
static const char *const builtin_names[] = {"user_id", "worker_id", "iteration", "true", "false",
                                            "null", "and", "or", "not", NULL};

static void one_line(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r' || *s == '\t')
            *s = ' ';
}

static int vfail_at(loader_t *L, int line, int col, const char *fmt, va_list ap)
{
    char msg[768];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (L->errlen) {
        snprintf(L->err, L->errlen, "%s:%d:%d: %s", L->file, line, col, msg);
        one_line(L->err);
    }
    return -1;
}

int sc_fail_at(loader_t *L, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at(L, line, col, fmt, ap);
    va_end(ap);
    return -1;
}

int sc_fail(loader_t *L, const ynode_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_at(L, n ? n->line : 1, n ? n->col : 1, fmt, ap);
    va_end(ap);
    return -1;
}

int sc_fail_within(loader_t *L, const ynode_t *n, size_t off, const char *fmt, ...)
{
    int line, col;
    ytree_scalar_pos(L->text, L->len, n, off, &line, &col);
    va_list ap;
    va_start(ap, fmt);
    vfail_at(L, line, col, fmt, ap);
    va_end(ap);
    return -1;
}

int sc_oom(loader_t *L, const ynode_t *n) { return sc_fail(L, n, "out of memory"); }

/* ---- key checks with suggestions -------------------------------------------------------- */

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static int unknown_key(loader_t *L, const ynode_t *key, const char *const *allowed,
                       const char *where)
{
    const char *near = suggest_nearest(key->str, strlen(key->str), allowed, 3);
    if (near)
        return sc_fail(L, key, "unknown key '%s' in %s (did you mean '%s'?)", SC_SHOW(key->str),
                       where, near);
    char list[512];
    size_t off = 0;
    for (const char *const *a = allowed; *a && off < sizeof list; a++)
        off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", a == allowed ? "" : ", ",
                                *a);
    return sc_fail(L, key, "unknown key '%s' in %s (expected one of: %s)", SC_SHOW(key->str),
                   where, list);
}

int sc_check_keys(loader_t *L, const ynode_t *map, const char *const *allowed,
                  const char *where)
{
    for (size_t i = 0; i < map->n; i++)
        if (!in_list(ytree_key(map, i)->str, allowed))
            return unknown_key(L, ytree_key(map, i), allowed, where);
    return 0;
}

/* ---- typed getters ---------------------------------------------------------------------- */

int sc_number(loader_t *L, const ynode_t *n, const char *key, double *out)
{
    if (!ytree_number(n, out))
        return sc_fail(L, n, "'%s' must be a number, got %s", key, ytree_describe(n));
    return 0;
}

int sc_seconds(loader_t *L, const ynode_t *n, const char *key, bool allow_zero, double *out)
{
    if (!ytree_number(n, out))
        return sc_fail(L, n, "'%s' must be a number of seconds, got %s", key, ytree_describe(n));
    if (*out < 0 || (!allow_zero && *out == 0))
        return sc_fail(L, n, "'%s' must be %s, got %g", key,
                       allow_zero ? "0 or more seconds" : "more than 0 seconds", *out);
    return 0;
}

int sc_bytes(loader_t *L, const ynode_t *n, const char *key, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {{"", 1}, {"B", 1}, {"KiB", 1ull << 10}, {"MiB", 1ull << 20},
                 {"GiB", 1ull << 30}, {"kB", 1000}, {"KB", 1000}, {"MB", 1000000},
                 {"GB", 1000000000}};
    const char *s = n->kind == YNODE_SCALAR ? n->str : NULL;
    char *end = NULL;
    double v = s && *s >= '0' && *s <= '9' ? strtod(s, &end) : -1;
    while (end && *end == ' ')
        end++;
    for (size_t i = 0; end && i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].unit) != 0)
            continue;
        double bytes = v * (double)units[i].mult;
        if (bytes < 1 || bytes > (double)(1ull << 40))
            break;
        *out = (uint64_t)bytes;
        return 0;
    }
    if (!s)
        return sc_fail(L, n, "'%s' must be a size from 1 byte to 1024 GiB, like 16MiB or "
                       "65536, got %s", key, ytree_describe(n));
    return sc_fail(L, n, "'%s' must be a size from 1 byte to 1024 GiB, like 16MiB or 65536, "
                   "got '%s'", key, SC_SHOW(s));
}

/* Any non-null scalar, as written (so `name: 42` is the string "42"). */
int sc_text(loader_t *L, const ynode_t *n, const char *key, const char **out)
{
    if (n->kind != YNODE_SCALAR || ytree_is_null(n))
        return sc_fail(L, n, "'%s' must be a string, got %s", key, ytree_describe(n));
    *out = n->str;
    return 0;
}

int sc_dup_text(loader_t *L, const ynode_t *n, const char *key, char **out)
{
    const char *s = NULL;
    if (sc_text(L, n, key, &s))
        return -1;
    *out = strdup(s);
    return *out ? 0 : sc_oom(L, n);
}

int sc_list(loader_t *L, const ynode_t *n, const char *key, const char *of)
{
    if (n->kind != YNODE_SEQ)
        return sc_fail(L, n, "'%s' must be a list of %s, got %s", key, of, ytree_describe(n));
    return 0;
}

int sc_map(loader_t *L, const ynode_t *n, const char *key, const char *of)
{
    if (n->kind != YNODE_MAP)
        return sc_fail(L, n, "'%s' must be a mapping of %s, got %s", key, of, ytree_describe(n));
    return 0;
}

static bool is_identifier(const char *s)
{
    if (!(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

int sc_var_name(loader_t *L, const ynode_t *key, const char *what)
{
    if (!is_identifier(key->str))
        return sc_fail(L, key, "%s name '%s' is not a valid variable name (letters, digits and "
                               "_, not starting with a digit)", what, SC_SHOW(key->str));
    if (in_list(key->str, builtin_names))
        return sc_fail(L, key, "%s name '%s' is a built-in template name; pick another", what,
                       key->str);
    return 0;
}

/* ---- URLs ------------------------------------------------------------------------------- */

static bool starts_with_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Why a literal http(s) URL does not parse, or NULL when it does. */
static const char *full_url_problem(const char *s)
{
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return "it contains a space or control character";
    const char *auth = strstr(s, "://") + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', alen);
    if (at) {
        alen -= (size_t)(at + 1 - auth);
        auth = at + 1;
    }
    if (alen == 0)
        return "it has no host";
    const char *host_end = auth + alen;
    const char *port = NULL;
    if (*auth == '[') {
        const char *close = memchr(auth, ']', alen);
        if (!close || close == auth + 1)
            return "its IPv6 address is not closed with ']'";
        for (const char *p = auth + 1; p < close; p++)
            if (!(isxdigit((unsigned char)*p) || *p == ':' || *p == '.'))
                return "its IPv6 address is not valid";
        if (close + 1 < host_end) {
            if (close[1] != ':')
                return "unexpected text after the IPv6 address";
            port = close + 2;
        }
    } else {
        const char *colon = memchr(auth, ':', alen);
        const char *hend = colon ? colon : host_end;
        if (hend == auth)
            return "it has no host";
        for (const char *p = auth; p < hend; p++)
            if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '.' || *p == '_' ||
                  *p == '%' || (unsigned char)*p >= 0x80))
                return "its host name has an invalid character";
        if (colon)
            port = colon + 1;
    }
    if (port) {
        if (port == host_end)
            return "the port after ':' is missing";
        long v = 0;
        for (const char *p = port; p < host_end; p++) {
            if (!isdigit((unsigned char)*p))
                return "its port is not a number";
            v = v * 10 + (*p - '0');
            if (v > 65535)
                break;
        }
        if (v < 1 || v > 65535)
            return "its port must be 1-65535";
    }
    return NULL;
}

const char *scenario_url_problem(const char *url)
{
    if (!starts_with_ci(url, "http://") && !starts_with_ci(url, "https://"))
        return "it does not start with http:// or https://";
    return full_url_problem(url);
}

int sc_host(loader_t *L, const ynode_t *n, char **out)
{
    const char *s = NULL;
    if (sc_text(L, n, "host", &s))
        return -1;
    if (!starts_with_ci(s, "http://") && !starts_with_ci(s, "https://"))
        return sc_fail(L, n, "host '%s' must be a full URL like http://127.0.0.1:8080",
                       SC_SHOW(s));
    const char *why = full_url_problem(s);
    if (why)
        return sc_fail(L, n, "bad host URL '%s': %s", SC_SHOW(s), why);
    *out = strdup(s);
    return *out ? 0 : sc_oom(L, n);
}

int sc_step_url(loader_t *L, const ynode_t *n, const char *method, bool *absolute)
{
    const char *s = n->str;
    *absolute = false;
    if (!*s)
        return sc_fail(L, n, "'%s' needs a path or URL, got an empty string", method);
    if (starts_with_ci(s, "http://") || starts_with_ci(s, "https://")) {
        *absolute = true;
        if (strstr(s, "{{"))
            return 0;   /* only known once rendered */
        const char *why = full_url_problem(s);
        if (why)
            return sc_fail(L, n, "bad URL '%s': %s", SC_SHOW(s), why);
        return 0;
    }
    if (s[0] == '/' || strncmp(s, "{{", 2) == 0)
        return 0;
    const char *sep = strstr(s, "://");
    if (sep && !strstr(s, "{{"))
        return sc_fail(L, n, "bad URL '%s': scheme '%.*s' is not supported (http or https)",
                       SC_SHOW(s), (int)(sep - s < 20 ? sep - s : 20), s);
    return sc_fail(L, n, "path '%s' must start with '/' (or be a full http:// or https:// URL)",
                   SC_SHOW(s));
}
