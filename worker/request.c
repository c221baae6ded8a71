/*
 * request — building one request from a compiled step and judging its response.
 * See request.h for the contract.
 */
#include "request.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/jpath.h"
#include "../common/jtmpl.h"
#include "../common/rng.h"
#include "../common/vec.h"

/* Response buffers above this are released after the request, so a user that once received
 * a huge body does not keep it for the rest of the run (50 000 users × big bodies). */
#define RESP_KEEP_MAX_BYTES (256u * 1024u)

bool request_env_proxy(bool https_too)
{
    /* The variables libcurl reads (it ignores upper-case HTTP_PROXY on purpose). */
    static const struct {
        const char *name;
        bool https_only;
    } vars[] = {
        {"http_proxy", false}, {"all_proxy", false}, {"ALL_PROXY", false},
        {"https_proxy", true}, {"HTTPS_PROXY", true},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i].name);
        if (v && *v && (https_too || !vars[i].https_only))
            return true;
    }
    return false;
}

void request_init(request_t *r)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->url);
    buf_init(&r->body);
    buf_init(&r->hdr);
    buf_init(&r->resp);
    buf_init(&r->scratch);
    buf_init(&r->wire);
    buf_init(&r->resp_headers);
    buf_init(&r->decoded);
    buf_init(&r->cookie);
}

void request_free(request_t *r)
{
    buf_free(&r->url);
    buf_free(&r->body);
    buf_free(&r->hdr);
    buf_free(&r->resp);
    buf_free(&r->scratch);
    buf_free(&r->wire);
    buf_free(&r->resp_headers);
    pcre2_match_data_free(r->regex_match);
    r->regex_match = NULL;
    buf_free(&r->decoded);
    buf_free(&r->cookie);
    free(r->nodes);
    r->nodes = NULL;
    r->headers = NULL;
    r->cap_nodes = 0;
}

static bool starts_with_scheme(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* Append "key=value" pairs, URL-encoded, separated by '&'. */
static int put_pairs(buf_t *out, buf_t *scratch, const kv_tmpl_t *kv, size_t n,
                     const tmpl_env_t *env, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        buf_reset(scratch);
        if (tmpl_render(kv[i].value, env, scratch, err, errlen) < 0)
            return -1;
        if ((i && buf_putc(out, '&') < 0) ||
            buf_put_urlencoded(out, kv[i].name, strlen(kv[i].name)) < 0 ||
            buf_putc(out, '=') < 0 ||
            buf_put_urlencoded(out, scratch->data ? scratch->data : "", scratch->len) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* A rendered value that would change the request's framing if sent: CR or LF end a line
 * of the request head (a saved response value could add headers of its own), NUL ends the C
 * string (the rest would be cut silently). NULL when v is clean, else what is wrong. */
static const char *framing_break(const char *v, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (v[i] == '\r' || v[i] == '\n')
            return "a line break (CR or LF)";
        if (v[i] == '\0')
            return "a NUL byte";
    }
    return NULL;
}

/* The rendered text of a URL template: nothing curl would refuse or the native transport
 * would send broken. Control characters and spaces are not sent (curl refuses them with
 * "URL using bad/illegal format"; here the message says why); a value with them must be
 * URL-encoded first. Only templated text needs this: the file's literal text is checked at
 * load, -H and class hosts before the run, and query pairs are URL-encoded. */
static int check_url_text(const char *s, size_t len, char *err, size_t errlen)
{
    const char *why = NULL;
    for (size_t i = 0; !why && i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch > ' ' && ch != 0x7f)
            continue;
        why = ch == ' ' ? "a space" : framing_break(s + i, 1);
        if (!why)
            why = "a control character";
    }
    if (!why)
        return 0;
    snprintf(err, errlen, "URL contains %s after its templates were rendered: not sent", why);
    return -1;
}

static int build_url(request_t *r, const step_t *st, const char *host, const tmpl_env_t *env,
                     char *err, size_t errlen)
{
    buf_t *u = &r->url;
    buf_reset(u);
    buf_reset(&r->scratch);
    if (tmpl_render(st->url, env, &r->scratch, err, errlen) < 0)
        return -1;
    const char *path = r->scratch.data ? r->scratch.data : "";
    if (!tmpl_is_literal(st->url) && check_url_text(path, r->scratch.len, err, errlen) < 0)
        return -1;
    if (!st->url_absolute && !starts_with_scheme(path)) {
        if (!host || !*host) {
            snprintf(err, errlen, "%s", REQUEST_NO_HOST_MESSAGE);
            return -1;
        }
        size_t hl = strlen(host);
        if (hl && host[hl - 1] == '/' && path[0] == '/')
            hl--;
        if (buf_append(u, host, hl) < 0)
            goto oom;
    }
    if (buf_append(u, path, r->scratch.len) < 0)
        goto oom;
    if (st->n_query) {
        if (buf_putc(u, strchr(u->data, '?') ? '&' : '?') < 0)
            goto oom;
        if (put_pairs(u, &r->scratch, st->query, st->n_query, env, err, errlen) < 0)
            return -1;
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* The step's own headers (defaults, class, step) name `name`. */
/* Append base64 (RFC 4648, with padding) of n bytes at p. */
static int put_base64(buf_t *out, const unsigned char *p, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {tab[(v >> 18) & 63], tab[(v >> 12) & 63],
                     i + 1 < n ? tab[(v >> 6) & 63] : '=', i + 2 < n ? tab[v & 63] : '='};
        if (buf_append(out, q, 4) < 0)
            return -1;
    }
    return 0;
}

/* "Authorization: Basic base64(user:password)\0" into r->hdr (RFC 7617), the two rendered
 * with env. */
static int put_basic_auth(request_t *r, const step_t *st, const tmpl_env_t *env, char *err,
                          size_t errlen)
{
    buf_reset(&r->scratch);
    if (tmpl_render(st->auth_user, env, &r->scratch, err, errlen) < 0)
        return -1;
    if (memchr(r->scratch.data ? r->scratch.data : "", ':', r->scratch.len)) {
        snprintf(err, errlen, "auth user contains ':' after its templates were rendered: "
                 "not sent (RFC 7617)");
        return -1;
    }
    if (buf_putc(&r->scratch, ':') < 0 ||
        tmpl_render(st->auth_pass, env, &r->scratch, err, errlen) < 0)
        return -1;
    if (buf_puts(&r->hdr, "Authorization: Basic ") < 0 ||
        put_base64(&r->hdr, (const unsigned char *)r->scratch.data, r->scratch.len) < 0 ||
        buf_append(&r->hdr, "", 1) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Render the headers into r->hdr as NUL-separated "Name: value" lines, then link our own
 * curl_slist nodes over them (pointers are taken only after hdr stops growing). */
static int build_headers(request_t *r, const step_t *st, const tmpl_env_t *env,
                         struct curl_slist **out, char *err, size_t errlen)
{
    buf_t *h = &r->hdr;
    buf_reset(h);
    size_t n = 0;
    for (size_t i = 0; i < st->n_headers; i++) {
        /* A multipart body's Content-Type carries its boundary: only ours is right. */
        if (st->body_kind == BODY_MULTIPART && strcasecmp(st->headers[i].name, "Content-Type") == 0)
            continue;
        buf_reset(&r->scratch);
        if (tmpl_render(st->headers[i].value, env, &r->scratch, err, errlen) < 0)
            return -1;
        /* Literal values were checked at load; a template's output may carry anything. */
        const char *why = tmpl_is_literal(st->headers[i].value)
                              ? NULL
                              : framing_break(r->scratch.data, r->scratch.len);
        if (why) {
            snprintf(err, errlen, "header '%s' contains %s after its templates were rendered: "
                     "not sent", st->headers[i].name, why);
            return -1;
        }
        /* "Name:" would make curl drop the header; "Name;" sends it empty. */
        if (r->scratch.len)
            buf_printf(h, "%s: %s", st->headers[i].name, r->scratch.data);
        else
            buf_printf(h, "%s;", st->headers[i].name);
        if (buf_append(h, "", 1) < 0) /* keep the NUL as a separator */
            goto oom;
        n++;
    }
    if (st->compress) { /* false when the step has its own (the loader decided) */
        buf_puts(h, "Accept-Encoding: " REQUEST_ACCEPT_ENCODING);
        buf_append(h, "", 1);
        n++;
    }
    if (st->auth_user) { /* NULL when the step has its own */
        if (put_basic_auth(r, st, env, err, errlen) < 0)
            return -1;
        n++;
    }
    if (!st->has_content_type && st->body_kind == BODY_JSON) {
        buf_puts(h, "Content-Type: application/json");
        buf_append(h, "", 1);
        n++;
    } else if (!st->has_content_type && st->body_kind == BODY_FORM) {
        buf_puts(h, "Content-Type: application/x-www-form-urlencoded");
        buf_append(h, "", 1);
        n++;
    } else if (st->body_kind == BODY_MULTIPART) {
        buf_printf(h, "Content-Type: multipart/form-data; boundary=%s", r->boundary);
        buf_append(h, "", 1);
        n++;
    }
    if (st->body_kind != BODY_NONE) {
        /* No "Expect: 100-continue" round trip for large bodies. */
        if (buf_puts(h, "Expect:") < 0 || buf_append(h, "", 1) < 0)
            goto oom;
        n++;
    }
    if (n == 0) {
        *out = NULL;
        return 0;
    }
    if (VEC_RESERVE(r->nodes, r->cap_nodes, n) < 0)
        goto oom;
    char *s = h->data;
    for (size_t i = 0; i < n; i++) {
        r->nodes[i].data = s;
        r->nodes[i].next = i + 1 < n ? &r->nodes[i + 1] : NULL;
        s += strlen(s) + 1;
    }
    *out = r->nodes;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* The parts into r->body with a fresh boundary in r->boundary, drawn again in the
 * unlikely case a part's content holds it. */
static int build_multipart(request_t *r, const step_t *st, const tmpl_env_t *env, char *err,
                           size_t errlen)
{
    static _Thread_local uint64_t fallback_rng;
    uint64_t *rng = env->rng;
    if (!rng) {
        if (!fallback_rng)
            fallback_rng = rng_seed((uint64_t)(uintptr_t)&fallback_rng);
        rng = &fallback_rng;
    }
    for (int attempt = 0; attempt < 8; attempt++) {
        buf_reset(&r->body);
        multipart_boundary(rng, r->boundary);
        bool collided = false;
        for (size_t i = 0; i < st->n_multipart && !collided; i++) {
            const multipart_field_t *f = &st->multipart[i];
            if (multipart_part(&r->body, r->boundary, f->name, f->file ? f->filename : NULL,
                               f->file ? f->content_type : NULL) < 0)
                goto oom;
            size_t start = r->body.len;
            if (f->file) {
                if (buf_append(&r->body, f->file->data, f->file->len) < 0)
                    goto oom;
            } else if (tmpl_render(f->value, env, &r->body, err, errlen) < 0) {
                return -1;
            }
            collided = multipart_collides(r->body.data + start, r->body.len - start,
                                          r->boundary);
        }
        if (!collided) {
            if (multipart_end(&r->body, r->boundary) < 0)
                goto oom;
            return 0;
        }
    }
    snprintf(err, errlen, "multipart body: every boundary drawn occurs in its content");
    return -1;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

static int build_body(request_t *r, const step_t *st, const tmpl_env_t *env, char *err,
                      size_t errlen)
{
    buf_reset(&r->body);
    switch (st->body_kind) {
    case BODY_NONE:
        return 0;
    case BODY_RAW:
        return tmpl_render(st->body_raw, env, &r->body, err, errlen);
    case BODY_JSON:
        return jtmpl_render(st->body_json, env, &r->body, err, errlen);
    case BODY_FORM:
        return put_pairs(&r->body, &r->scratch, st->form, st->n_form, env, err, errlen);
    case BODY_MULTIPART:
        return build_multipart(r, st, env, err, errlen);
    }
    return 0;
}

int request_render(request_t *r, const step_t *st, const char *host, const tmpl_env_t *env,
                   char *err, size_t errlen)
{
    /* The body before the headers: a multipart body's boundary goes into Content-Type. */
    if (build_url(r, st, host, env, err, errlen) < 0 ||
        build_body(r, st, env, err, errlen) < 0 ||
        build_headers(r, st, env, &r->headers, err, errlen) < 0)
        return -1;
    r->keep_body = st->needs_body;
    r->env = env;
    r->keep_headers = st->needs_headers;
    r->encoding = DECODE_IDENTITY;
    buf_reset(&r->resp_headers);
    r->keep_max = st->max_body_bytes;
    r->resp_over = false;
    r->body_bytes = 0;
    buf_reset(&r->resp);
    return 0;
}

/* Header name of a rendered "Name: value" / "Name;" line equals name (case-insensitive). */
static bool hdr_named(const char *line, const char *name)
{
    size_t n = strlen(name);
    return strncasecmp(line, name, n) == 0 && (line[n] == ':' || line[n] == ';');
}

static bool user_has_header(const request_t *r, const char *name)
{
    for (const struct curl_slist *n = r->headers; n; n = n->next)
        if (hdr_named(n->data, name))
            return true;
    return false;
}

int request_hop_begin(request_t *r, const char *url, double now_wall_s)
{
    r->hop_url = url;
    r->hop_wall_s = now_wall_s;
    request_on_status(r);
    buf_reset(&r->cookie);
    if (!r->jar || cookie_jar_count(r->jar) == 0 || user_has_header(r, "Cookie"))
        return 0;
    return cookie_jar_header(r->jar, url, now_wall_s, &r->cookie) < 0 ? -1 : 0;
}

void request_on_status(request_t *r)
{
    r->encoding = DECODE_IDENTITY;
    buf_reset(&r->resp_headers);
}

/* The value of a header line if it is named name (len bytes), trimmed. */
static bool line_named(const char *line, size_t len, const char *name, const char **v,
                       size_t *vlen)
{
    size_t nl = strlen(name);
    if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
        return false;
    const char *p = line + nl + 1, *end = line + len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    *v = p;
    *vlen = (size_t)(end - p);
    return true;
}

void request_on_header(request_t *r, const char *line, size_t len)
{
    const char *v;
    size_t vl;
    if (line_named(line, len, "Content-Encoding", &v, &vl)) {
        r->encoding = decode_kind_of(v, vl);
        if (r->encoding == DECODE_UNKNOWN)
            snprintf(r->encoding_name, sizeof r->encoding_name, "%.*s", (int)vl, v);
    }
    else if (r->jar && r->hop_url && line_named(line, len, "Set-Cookie", &v, &vl))
        cookie_jar_set(r->jar, r->hop_url, v, vl, r->hop_wall_s); /* OOM: not kept */
    if (r->keep_headers && (buf_append(&r->resp_headers, line, len) < 0 ||
                            buf_append(&r->resp_headers, "\r\n", 2) < 0))
        r->keep_headers = false; /* out of memory: the step finds no header */
}

const char *request_header(const request_t *r, const char *name, size_t *len)
{
    const char *p = r->resp_headers.data, *end = p + r->resp_headers.len;
    while (p && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *lend = eol ? eol : end;
        size_t n = (size_t)(lend - p);
        if (n && p[n - 1] == '\r')
            n--;
        const char *v;
        if (line_named(p, n, name, &v, len))
            return v;
        p = eol ? eol + 1 : end;
    }
    *len = 0;
    return NULL;
}

int request_keep(request_t *r, const char *p, size_t n)
{
    if (r->resp_over)
        return 0;
    if (n > r->keep_max - r->resp.len) { /* resp.len <= keep_max always */
        r->resp_over = true;
        return 0;
    }
    return buf_append(&r->resp, p, n);
}

bool request_sends_body(const step_t *st)
{
    http_method_t m = st->method;
    return m != HTTP_HEAD &&
           (st->body_kind != BODY_NONE || m == HTTP_POST || m == HTTP_PUT || m == HTTP_PATCH);
}

int request_wire(request_t *r, const step_t *st, const char *host_header, const char *target,
                 size_t target_len, bool drop_body)
{
    buf_t *w = &r->wire;
    buf_reset(w);
    http_method_t m = st->method;
    bool with_body = request_sends_body(st) && !drop_body;
    /* curl's method: CUSTOMREQUEST wins (also after a redirect turned it into a GET), else
     * HEAD for NOBODY, POST for POSTFIELDS, GET. */
    const char *method = http_method_names[m];
    if (m == HTTP_POST && drop_body)
        method = "GET";
    buf_puts(w, method);
    buf_putc(w, ' ');
    buf_append(w, target, target_len);
    buf_puts(w, " HTTP/1.1\r\n");
    if (!user_has_header(r, "Host")) {
        buf_puts(w, "Host: ");
        buf_puts(w, host_header);
        buf_puts(w, "\r\n");
    }
    if (!user_has_header(r, "User-Agent"))
        buf_puts(w, "User-Agent: " REQUEST_USER_AGENT "\r\n");
    if (!user_has_header(r, "Accept"))
        buf_puts(w, "Accept: */*\r\n");
    for (const struct curl_slist *n = r->headers; n; n = n->next) {
        const char *line = n->data;
        size_t len = strlen(line);
        if (len && line[len - 1] == ';') { /* "Name;": sent empty */
            buf_append(w, line, len - 1);
            buf_puts(w, ":\r\n");
            continue;
        }
        const char *colon = strchr(line, ':');
        const char *v = colon ? colon + 1 : line + len;
        while (*v == ' ')
            v++;
        if (!*v)
            continue; /* "Name:" removes a header (our "Expect:") */
        buf_append(w, line, len);
        buf_puts(w, "\r\n");
    }
    if (r->cookie.len) {
        buf_puts(w, "Cookie: ");
        buf_append(w, r->cookie.data, r->cookie.len);
        buf_puts(w, "\r\n");
    }
    if (with_body) {
        if (!user_has_header(r, "Content-Length")) {
            char cl[48];
            int n = snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", r->body.len);
            buf_append(w, cl, (size_t)n);
        }
        if (!user_has_header(r, "Content-Type"))
            buf_puts(w, "Content-Type: application/x-www-form-urlencoded\r\n");
    }
    buf_puts(w, "\r\n");
    if (with_body && r->body.len)
        buf_append(w, r->body.data, r->body.len);
    if (!w->data || w->len == 0)
        return -1;
    return 0;
}

/* "16 MiB", "1000 bytes": as a max_body is most likely written. */
static void format_size(char *out, size_t len, uint64_t bytes)
{
    static const char *const units[] = {"GiB", "MiB", "KiB"};
    for (int i = 0; i < 3; i++) {
        uint64_t m = 1ull << (10 * (3 - i));
        if (bytes >= m && bytes % m == 0) {
            snprintf(out, len, "%llu %s", (unsigned long long)(bytes / m), units[i]);
            return;
        }
    }
    snprintf(out, len, "%llu bytes", (unsigned long long)bytes);
}

/* The value at each of n paths in the JSON body b: vals[i] a new reference, NULL when the
 * path is missing. Most responses are scanned once for the paths' spans and only those are
 * parsed (jpath_scan: nothing built for the rest of the document, which is most of the cost
 * of a save); a body with a NUL byte, or more paths than one scan takes, is parsed whole
 * into *doc (the caller releases it). -1 when the body is not JSON. */
static int body_values(const buf_t *b, const jpath_t *const *paths, size_t n, json_t **vals,
                       json_t **doc)
{
    const char *body = b->data ? b->data : "";
    size_t len = b->len;
    if (n <= JPATH_SCAN_MAX && !memchr(body, '\0', len)) {
        jspan_t spans[n ? n : 1];
        if (jpath_scan(body, len, paths, n, spans) < 0)
            return -1;
        for (size_t i = 0; i < n; i++)
            vals[i] = spans[i].len ? json_loadb(body + spans[i].off, spans[i].len,
                                                JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)
                                   : NULL;
        return 0;
    }
    *doc = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!*doc)
        return -1;
    for (size_t i = 0; i < n; i++)
        vals[i] = json_incref(jpath_get(paths[i], *doc));
    return 0;
}

static void release_values(json_t **vals, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(vals[i]);
}

static bool status_expected(const expect_t *x, long status)
{
    if (!x->has_status)
        return status >= 100 && status < 400;
    return status >= 0 && status < 600 && x->status_ok[status];
}

/* ---- checks and saves -------------------------------------------------------------------- */

/* Two JSON values as a user compares them: numbers by value (3 equals 3.0), the rest by
 * jansson's equality (strings byte for byte, lists and objects member by member). */
static bool json_same(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal((json_t *)a, (json_t *)b);
}

/* A value quoted in a failure message, compact and cut short. */
static void show_json(const json_t *v, char *out, size_t len)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(out, len, "%s", s ? s : "?");
    if (s && strlen(s) >= len && len > 4)
        memcpy(out + len - 4, "...", 4);
    free(s);
}

/* expect.json's mapping form: each path holds its value (found[i]: what the response has at
 * the i-th path, NULL when missing). */
static int check_json_values(request_t *r, const expect_t *x, json_t *const *found, char *err,
                             size_t errlen)
{
    for (size_t i = 0; i < x->n_json_values; i++) {
        const json_value_check_t *jv = &x->json_values[i];
        const char *path = jpath_source(jv->path);
        json_t *got = found[i], *want = jv->literal, *made = NULL;
        if (!got) {
            snprintf(err, errlen, "Response did not contain expected key '%s'", path);
            return -1;
        }
        if (!want) {
            char msg[256];
            if (tmpl_eval(jv->value, r->env, &made, msg, sizeof msg) < 0) {
                snprintf(err, errlen, "expect json '%s': %s", path, msg);
                return -1;
            }
            want = made;
        }
        bool same = json_same(got, want);
        if (!same) {
            char g[80], w[80];
            show_json(got, g, sizeof g);
            show_json(want, w, sizeof w);
            snprintf(err, errlen, "Response JSON '%s' was %s, expected %s", path, g, w);
        }
        json_decref(made);
        if (!same)
            return -1;
    }
    return 0;
}

/* The value a save takes, as a new reference; NULL with the failure in err. body is the
 * response body as the step reads it; found, for a JSON save, the value at its path (a
 * reference the save takes over; NULL when missing). */
static json_t *save_value(request_t *r, const save_t *sv, const buf_t *body, json_t *found,
                          long status, char *err, size_t errlen)
{
    const char *s = NULL;
    size_t len = 0;
    switch (sv->kind) {
    case SAVE_JSON:
        if (!found)
            snprintf(err, errlen, "Response did not contain expected key '%s'",
                     jpath_source(sv->path));
        return found;
    case SAVE_STATUS:
        return json_integer(status);
    case SAVE_HEADER:
        s = request_header(r, sv->header, &len);
        if (!s) {
            snprintf(err, errlen, "Response did not contain header '%s'", sv->header);
            return NULL;
        }
        break;
    case SAVE_REGEX: {
        pcre2_code *re = (pcre2_code *)sv->regex;
        if (!r->regex_match &&
            !(r->regex_match = pcre2_match_data_create(2, NULL))) { /* match, group 1 */
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        pcre2_match_data *md = r->regex_match;
        /* 0: more groups than the match data holds, the first two are still set. */
        int rc = pcre2_match(re, (PCRE2_SPTR)(body->data ? body->data : ""), body->len, 0, 0,
                             md, NULL);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        int g = (int)sv->regex_group;
        if (rc < 0 || (rc > 0 && rc <= g) || ov[2 * g] == PCRE2_UNSET) {
            snprintf(err, errlen, "Response did not match regex for save '%s'", sv->var);
            return NULL;
        }
        s = body->data + ov[2 * g];
        len = ov[2 * g + 1] - ov[2 * g];
        break;
    }
    }
    json_t *v = json_stringn(s ? s : "", len);
    if (!v)
        snprintf(err, errlen, "save '%s': the value is not valid UTF-8 text", sv->var);
    return v;
}

/* expect.json and the saves over the body (decoded): 0, or -1 with the failure in err. */
static int check_and_save(request_t *r, const step_t *st, const buf_t *body, long status,
                          json_t **user_vars, json_t **globals, char *err, size_t errlen)
{
    const expect_t *x = &st->expect;
    json_t *doc = NULL;
    size_t n_vals = 0;
    int ret = -1;
    /* Every JSON path the step reads, found in one scan of the body: expect.json's keys,
     * then its values, then the JSON saves. */
    size_t cap = x->n_json_keys + x->n_json_values + st->n_saves;
    const jpath_t *paths[cap ? cap : 1];
    json_t *vals[cap ? cap : 1];
    size_t nk = x->n_json_keys, nv = x->n_json_values;
    for (size_t i = 0; i < nk; i++)
        paths[n_vals++] = x->json_keys[i];
    for (size_t i = 0; i < nv; i++)
        paths[n_vals++] = x->json_values[i].path;
    for (size_t i = 0; i < st->n_saves; i++)
        if (st->saves[i].kind == SAVE_JSON)
            paths[n_vals++] = st->saves[i].path;
    memset(vals, 0, sizeof vals);
    if (st->needs_json && body_values(body, paths, n_vals, vals, &doc) < 0) {
        snprintf(err, errlen, "Response could not be decoded as JSON");
        goto done;
    }
    for (size_t i = 0; i < nk; i++) {
        if (!vals[i]) {
            snprintf(err, errlen, "Response did not contain expected key '%s'",
                     jpath_source(paths[i]));
            goto done;
        }
    }
    if (check_json_values(r, x, vals + nk, err, errlen) < 0)
        goto done;
    json_t **next_json = vals + nk + nv;
    for (size_t i = 0; i < st->n_saves; i++) {
        const save_t *sv = &st->saves[i];
        json_t *jv = NULL;
        if (sv->kind == SAVE_JSON) { /* the value found for it, taken over */
            jv = *next_json;
            *next_json++ = NULL;
        }
        json_t *v = save_value(r, sv, body, jv, status, err, errlen);
        if (!v)
            goto done;
        json_t **slots = sv->scope == TMPL_SCOPE_GLOBAL ? globals : user_vars;
        if (!slots) {
            json_decref(v);
            continue;
        }
        json_t *old = slots[sv->slot];
        slots[sv->slot] = v;
        json_decref(old);
    }
    ret = 0;
done:
    release_values(vals, n_vals);
    json_decref(doc);
    return ret;
}

int request_check(request_t *r, const step_t *st, long status, CURLcode rc,
                  json_t **user_vars, json_t **globals, char *err, size_t errlen)
{
    int ret = -1;
    if (rc != CURLE_OK) {
        /* curl_easy_strerror, not the error buffer: the buffer's text carries timings and
         * ports ("after 3 ms"), which would split one failure into many rows. */
        snprintf(err, errlen, "%s", curl_easy_strerror(rc));
        goto out;
    }
    if (!status_expected(&st->expect, status)) {
        snprintf(err, errlen, "HTTP %ld", status);
        goto out;
    }
    const expect_t *x = &st->expect;
    bool reads_body = st->needs_body;
    if (r->resp_over && reads_body) {
        char size[32];
        format_size(size, sizeof size, r->keep_max);
        snprintf(err, errlen, "Response body larger than max_body (%s): not kept for %s; "
                 "raise max_body in the scenario", size, st->n_saves ? "save" : "expect");
        goto out;
    }
    /* The body as the server meant it: decoded only now that a step reads it. */
    const buf_t *body = &r->resp;
    if (reads_body && r->encoding == DECODE_UNKNOWN && r->resp.len) {
        snprintf(err, errlen, "Response body has Content-Encoding '%s', which herd cannot "
                 "decode (it asks for gzip or deflate)", r->encoding_name);
        goto out;
    }
    if (reads_body && r->encoding != DECODE_IDENTITY && r->resp.len) {
        if (decode_body(r->encoding, r->resp.data, r->resp.len, &r->decoded, r->keep_max, err,
                        errlen) < 0)
            goto out;
        body = &r->decoded;
    }
    if (x->contains &&
        (!body->data || !memmem(body->data, body->len, x->contains, x->contains_len))) {
        snprintf(err, errlen, "Response did not contain expected text '%s'", x->contains);
        goto out;
    }
    if (check_and_save(r, st, body, status, user_vars, globals, err, errlen) < 0)
        goto out;
    ret = 0;
out:
    if (r->resp.cap > RESP_KEEP_MAX_BYTES)
        buf_free(&r->resp);
    if (r->decoded.cap > RESP_KEEP_MAX_BYTES)
        buf_free(&r->decoded);
    return ret;
}
