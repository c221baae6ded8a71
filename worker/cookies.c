/*
 * cookies — a user's cookie jar with RFC 6265's rules. See cookies.h for the contract.
 */
#include "cookies.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/vec.h"

/* What a cookie's matching needs of a request URL. */
typedef struct url_parts {
    bool https;
    char host[256];        /* lower case, no port, IPv6 without brackets */
    bool host_is_ip;
    const char *path;      /* into the URL: "/..." up to '?' or '#', or "" */
    size_t path_len;
} url_parts_t;

static int parse_url(const char *url, url_parts_t *u)
{
    const char *a;
    if (strncasecmp(url, "http://", 7) == 0) {
        u->https = false;
        a = url + 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        u->https = true;
        a = url + 8;
    } else {
        return -1;
    }
    size_t alen = strcspn(a, "/?#");
    const char *at = memchr(a, '@', alen);
    if (at) {
        alen -= (size_t)(at + 1 - a);
        a = at + 1;
    }
    const char *h = a, *hend;
    u->host_is_ip = false;
    if (alen && a[0] == '[') {
        const char *rb = memchr(a, ']', alen);
        if (!rb)
            return -1;
        h = a + 1;
        hend = rb;
        u->host_is_ip = true;
    } else {
        const char *colon = memchr(a, ':', alen);
        hend = colon ? colon : a + alen;
    }
    size_t hl = (size_t)(hend - h);
    if (hl == 0 || hl >= sizeof u->host)
        return -1;
    bool digits_dots = true;
    for (size_t i = 0; i < hl; i++) {
        char ch = h[i];
        u->host[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        if (!(ch == '.' || (ch >= '0' && ch <= '9')))
            digits_dots = false;
    }
    if (hl && u->host[hl - 1] == '.') /* "example.com." is example.com */
        hl--;
    u->host[hl] = '\0';
    if (digits_dots)
        u->host_is_ip = true;
    u->path = a + alen;
    u->path_len = strcspn(u->path, "?#");
    return 0;
}

/* RFC 6265 5.1.3: host equals domain, or ends with "." domain and is not an IP address. */
static bool domain_match(const url_parts_t *u, const char *domain, size_t dl)
{
    size_t hl = strlen(u->host);
    if (hl == dl && memcmp(u->host, domain, dl) == 0)
        return true;
    return !u->host_is_ip && hl > dl && u->host[hl - dl - 1] == '.' &&
           memcmp(u->host + hl - dl, domain, dl) == 0;
}

/* RFC 6265 5.1.4: the request path is the cookie path, or under it as a directory. */
static bool path_match(const char *req, size_t rl, const char *cp, size_t cl)
{
    if (rl == 0) {
        req = "/";
        rl = 1;
    }
    if (cl > rl || memcmp(req, cp, cl) != 0)
        return false;
    return cl == rl || cp[cl - 1] == '/' || req[cl] == '/';
}

/* RFC 6265 5.1.4: the default path of a request path: its directory, "/" at least. */
static size_t default_path_len(const char *p, size_t n)
{
    if (n == 0 || p[0] != '/')
        return 0; /* "/" */
    size_t last = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] == '/')
            last = i;
    return last; /* 0: only the leading '/' */
}

static const char *cookie_name(const cookie_t *c) { return c->mem; }
static const char *cookie_value(const cookie_t *c) { return c->mem + c->name_len + 1; }
static const char *cookie_domain(const cookie_t *c)
{
    return c->mem + c->name_len + c->value_len + 2;
}
static const char *cookie_path(const cookie_t *c)
{
    return c->mem + c->name_len + c->value_len + c->domain_len + 3;
}

void cookie_jar_init(cookie_jar_t *j)
{
    memset(j, 0, sizeof *j);
}

void cookie_jar_clear(cookie_jar_t *j)
{
    j->n = 0;
}

void cookie_jar_free(cookie_jar_t *j)
{
    for (size_t i = 0; i < j->cap; i++)
        free(j->c[i].mem);
    free(j->c);
    free(j->order);
    memset(j, 0, sizeof *j);
}

size_t cookie_jar_count(const cookie_jar_t *j)
{
    return j->n;
}

/* Remove live cookie i, keeping its block among the spares. */
static void remove_at(cookie_jar_t *j, size_t i)
{
    cookie_t gone = j->c[i];
    j->c[i] = j->c[j->n - 1];
    j->c[j->n - 1] = gone;
    j->n--;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* Max-Age's value: an optional '-' and digits; clamped to ±1e10 seconds. */
static bool parse_max_age(const char *v, size_t n, double *out)
{
    bool neg = n && v[0] == '-';
    size_t i = neg ? 1 : 0;
    if (i == n)
        return false;
    double x = 0;
    for (; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        if (x < 1e10)
            x = x * 10 + (v[i] - '0');
    }
    *out = neg ? -x : x;
    return true;
}

int cookie_jar_set(cookie_jar_t *j, const char *url, const char *value, size_t len,
                   double now_s)
{
    url_parts_t u;
    if (parse_url(url, &u) < 0)
        return 0;
    const char *end = value + len;
    const char *semi = memchr(value, ';', len);
    const char *pair_end = semi ? semi : end;
    const char *eq = memchr(value, '=', (size_t)(pair_end - value));
    if (!eq)
        return 0; /* RFC 6265 5.2: no '=': ignored */
    const char *name = value, *val = eq + 1;
    size_t name_len = (size_t)(eq - value), val_len = (size_t)(pair_end - val);
    trim(&name, &name_len);
    trim(&val, &val_len);
    if (name_len == 0 || name_len + val_len > COOKIE_MAX_BYTES)
        return 0;

    bool has_max_age = false, has_expires = false, secure = false;
    double max_age = 0, expires = 0;
    const char *domain = NULL, *path = NULL;
    size_t domain_len = 0, path_len = 0;
    for (const char *p = semi; p && p < end;) {
        p++; /* past ';' */
        const char *next = memchr(p, ';', (size_t)(end - p));
        const char *aend = next ? next : end;
        const char *aeq = memchr(p, '=', (size_t)(aend - p));
        const char *an = p, *av = aeq ? aeq + 1 : aend;
        size_t anl = (size_t)((aeq ? aeq : aend) - p), avl = (size_t)(aend - av);
        trim(&an, &anl);
        trim(&av, &avl);
        if (anl == 7 && strncasecmp(an, "expires", 7) == 0) {
            char date[128];
            if (avl && avl < sizeof date) {
                memcpy(date, av, avl);
                date[avl] = '\0';
                time_t t = curl_getdate(date, NULL);
                if (t != -1) {
                    has_expires = true;
                    expires = (double)t;
                }
            }
        } else if (anl == 7 && strncasecmp(an, "max-age", 7) == 0) {
            if (parse_max_age(av, avl, &max_age))
                has_max_age = true;
        } else if (anl == 6 && strncasecmp(an, "domain", 6) == 0) {
            if (avl && av[0] == '.') {
                av++;
                avl--;
            }
            if (avl) {
                domain = av;
                domain_len = avl;
            }
        } else if (anl == 4 && strncasecmp(an, "path", 4) == 0) {
            if (avl && av[0] == '/') {
                path = av;
                path_len = avl;
            } else {
                path = NULL; /* RFC 6265 5.2.4: the default path */
            }
        } else if (anl == 6 && strncasecmp(an, "secure", 6) == 0) {
            secure = true;
        }
        p = next;
    }

    /* Domain: lower case; it must cover the request's host, else the cookie is ignored. */
    char dom[256];
    bool host_only = domain == NULL;
    if (host_only) {
        domain = u.host;
        domain_len = strlen(u.host);
    } else {
        if (domain_len >= sizeof dom)
            return 0;
        for (size_t i = 0; i < domain_len; i++)
            dom[i] = (char)(domain[i] >= 'A' && domain[i] <= 'Z' ? domain[i] + 32 : domain[i]);
        if (domain_len && dom[domain_len - 1] == '.')
            domain_len--;
        dom[domain_len] = '\0';
        domain = dom;
        if (domain_len == 0 || !domain_match(&u, dom, domain_len))
            return 0;
    }
    if (!path) {
        path = u.path;
        path_len = default_path_len(u.path, u.path_len);
        if (path_len == 0) {
            path = "/";
            path_len = 1;
        }
    }
    /* Max-Age wins over Expires; 0 or negative, or a past date, means delete. */
    double expiry = 0;
    bool expired = false;
    if (has_max_age) {
        expiry = now_s + max_age;
        expired = max_age <= 0;
    } else if (has_expires) {
        expiry = expires;
        expired = expires <= now_s;
    }

    size_t found = j->n;
    for (size_t i = 0; i < j->n; i++) {
        const cookie_t *c = &j->c[i];
        if (c->name_len == name_len && c->domain_len == domain_len && c->path_len == path_len &&
            memcmp(cookie_name(c), name, name_len) == 0 &&
            memcmp(cookie_domain(c), domain, domain_len) == 0 &&
            memcmp(cookie_path(c), path, path_len) == 0) {
            found = i;
            break;
        }
    }
    if (expired) {
        if (found < j->n)
            remove_at(j, found);
        return 0;
    }
    uint64_t seq;
    if (found < j->n) {
        seq = j->c[found].seq;
    } else {
        if (j->n >= COOKIE_JAR_MAX)
            return 0;
        if (j->n == j->cap) {
            size_t cap = j->cap;
            if (VEC_RESERVE_ZERO(j->c, cap, j->n + 1) < 0)
                return -1;
            size_t *order = realloc(j->order, cap * sizeof *order);
            if (!order)
                return -1;
            j->order = order;
            j->cap = cap;
        }
        found = j->n++;
        seq = j->seq++;
    }
    cookie_t *c = &j->c[found];
    size_t need = name_len + val_len + domain_len + path_len + 4;
    if (c->mem_cap < need) {
        char *mem = realloc(c->mem, need);
        if (!mem) {
            remove_at(j, found);
            return -1;
        }
        c->mem = mem;
        c->mem_cap = need;
    }
    char *m = c->mem;
    memcpy(m, name, name_len);
    m += name_len;
    *m++ = '\0';
    memcpy(m, val, val_len);
    m += val_len;
    *m++ = '\0';
    memcpy(m, domain, domain_len);
    m += domain_len;
    *m++ = '\0';
    memcpy(m, path, path_len);
    m[path_len] = '\0';
    c->name_len = name_len;
    c->value_len = val_len;
    c->domain_len = domain_len;
    c->path_len = path_len;
    c->expires_s = expiry;
    c->seq = seq;
    c->host_only = host_only;
    c->secure = secure;
    return 0;
}

/* RFC 6265 5.4 step 2: longer paths first, then earlier creation. */
static bool sends_before(const cookie_t *a, const cookie_t *b)
{
    if (a->path_len != b->path_len)
        return a->path_len > b->path_len;
    return a->seq < b->seq;
}

int cookie_jar_header(cookie_jar_t *j, const char *url, double now_s, buf_t *out)
{
    if (j->n == 0)
        return 0;
    url_parts_t u;
    if (parse_url(url, &u) < 0)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < j->n;) {
        const cookie_t *c = &j->c[i];
        if (c->expires_s != 0 && c->expires_s <= now_s) {
            remove_at(j, i); /* the last live cookie moved to i: look at it next */
            continue;
        }
        bool host_ok = c->host_only ? strcmp(u.host, cookie_domain(c)) == 0
                                    : domain_match(&u, cookie_domain(c), c->domain_len);
        if (host_ok && (!c->secure || u.https) &&
            path_match(u.path, u.path_len, cookie_path(c), c->path_len)) {
            /* Insertion sort: a user holds a handful of cookies. */
            size_t k = n++;
            while (k > 0 && sends_before(c, &j->c[j->order[k - 1]])) {
                j->order[k] = j->order[k - 1];
                k--;
            }
            j->order[k] = i;
        }
        i++;
    }
    for (size_t k = 0; k < n; k++) {
        const cookie_t *c = &j->c[j->order[k]];
        if ((k && buf_append(out, "; ", 2) < 0) ||
            buf_append(out, cookie_name(c), c->name_len) < 0 || buf_putc(out, '=') < 0 ||
            buf_append(out, cookie_value(c), c->value_len) < 0)
            return -1;
    }
    return (int)n;
}
