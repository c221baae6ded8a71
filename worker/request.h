/*
 * request — one HTTP request of a compiled step, rendered into reusable buffers, and the
 * verdict on its response (scenarios/README.md, "What counts as a failure"). Transport-free:
 * the transports (transport.h) carry what is rendered here, and the client (client.h)
 * brings their result back to request_check.
 *
 * A request_t belongs to one virtual user (or to the setup runner) and is reused for every
 * request it makes: the URL, body, header and response buffers keep their memory, and the
 * header list is built from nodes we own pointing into our own buffer (a curl_slist, which
 * libcurl reads as is and the native transport walks), so once the buffers have grown to
 * their working size a request allocates nothing (except jansson parsing a JSON response
 * when the step needs it).
 *
 * Order: request_render (URL, query, headers, body; resets the response) → a transport
 * sends it (the native one with request_wire: the bytes curl would send) → request_check.
 *
 * Thread: a request_t is used by one thread at a time.
 */
#ifndef HERD_REQUEST_H
#define HERD_REQUEST_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/multipart.h"
#include "../common/scenario.h"
#include "../common/template.h"
#include "cookies.h"
#include "decode.h"

#define REQUEST_USER_AGENT "herd/1.0"

/* True when a proxy environment variable libcurl honours is set: for http URLs, or (https_too)
 * for https ones as well. The one place herd decides what curl would proxy. */
bool request_env_proxy(bool https_too);
/* What `compress` (on by default) asks for, as Locust's HttpUser (python-requests) does. */
#define REQUEST_ACCEPT_ENCODING "gzip, deflate"

/* Redirects followed per request (curl's CURLOPT_MAXREDIRS; the native transport too). */
#define REQUEST_MAX_REDIRS 30L

/* Message for a relative URL when neither the class, -H nor the file sets a host. */
#define REQUEST_NO_HOST_MESSAGE "no host: pass -H or set host in the scenario"

typedef struct request {
    buf_t url;                 /* rendered URL of the current request */
    buf_t body;                /* rendered request body */
    buf_t hdr;                 /* "Name: value\0Name: value\0..." for the header nodes */
    buf_t resp;                /* response body, kept only when the step needs it */
    buf_t scratch;             /* rendering of one template value */
    struct curl_slist *nodes;  /* header list nodes, data pointing into hdr; owned array */
    struct curl_slist *headers; /* the current request's list (nodes or NULL) */
    size_t cap_nodes;
    buf_t wire;                /* native transport: the request's bytes as sent */
    char boundary[MULTIPART_BOUNDARY_LEN + 1]; /* a multipart body's, new every request */
    bool keep_body;            /* current step reads the body (JSON, regex, contains) */
    uint64_t keep_max;         /* at most this many body bytes go to resp (step's max_body) */
    bool resp_over;            /* the body was bigger than keep_max: resp is incomplete and
                                  the rest was read and discarded (a step that reads the
                                  body fails) */
    uint64_t body_bytes;       /* response body bytes received by the current request, as
                                  they came (before any Content-Encoding is decoded) */
    /* Response headers, fed by both transports through request_on_header (the hop's): */
    bool keep_headers;         /* current step reads headers (st->needs_headers) */
    buf_t resp_headers;        /* the final response's header lines as received, "Name:
                                  value\r\n" each, no status line; kept when keep_headers */
    decode_kind_t encoding;    /* the response's Content-Encoding */
    char encoding_name[32];    /* its value when DECODE_UNKNOWN (cut), for the message */
    buf_t decoded;             /* the body decoded from r->encoding (request_check) */
    /* Cookies (cookies.h): */
    cookie_jar_t *jar;         /* the user's jar, NULL when the step has cookies off; borrowed */
    const char *hop_url;       /* URL of the hop in flight (Set-Cookie's origin); borrowed */
    double hop_wall_s;         /* wall-clock seconds when the hop began: cookies' "now" */
    buf_t cookie;              /* Cookie header value for the hop in flight; empty: none */
    const tmpl_env_t *env;     /* the current request's (request_render's), for expect
                                  templates in request_check; borrowed */
    void *regex_match;         /* pcre2_match_data for regex saves, made on first use and
                                  reused; owned */
} request_t;

void request_init(request_t *r);
void request_free(request_t *r);

/* Render st (a STEP_REQUEST) with env: URL (host: base URL or NULL), headers, body; resets
 * the response buffer. On a template error (or no host for a relative URL) returns -1 with
 * the message in err: nothing is to be sent. */
int request_render(request_t *r, const step_t *st, const char *host, const tmpl_env_t *env,
                   char *err, size_t errlen);
/* A hop to url begins (client.c, before offering it to a transport): the response's headers
 * and encoding are forgotten, and the Cookie value for url is taken from the jar at
 * now_wall_s (unless the step sets its own Cookie header). -1 when out of memory. */
int request_hop_begin(request_t *r, const char *url, double now_wall_s);
/* A response begins (a status line, also a 1xx's): the headers seen so far were not the
 * final response's. */
void request_on_status(request_t *r);
/* One response header line (len bytes, no line end) of the hop in flight, from either
 * transport: Content-Encoding is noted, Set-Cookie goes to the jar, the line is kept when
 * the step reads headers. */
void request_on_header(request_t *r, const char *line, size_t len);
/* The value of the final response's header `name` (case-insensitive; the first one),
 * trimmed, with its length in *len; NULL when absent or headers were not kept
 * (st->needs_headers). Not NUL-terminated. */
const char *request_header(const request_t *r, const char *name, size_t *len);

/* Keep n body bytes at p for the step (r->keep_body), within r->keep_max: past it, nothing
 * more is kept and r->resp_over is set. -1 when out of memory. */
int request_keep(request_t *r, const char *p, size_t n);
/* The step sends a body (curl's POSTFIELDS): POST, PUT, PATCH, or any with a body. */
bool request_sends_body(const step_t *st);
/* Build into r->wire the HTTP/1.1 request curl would send for the rendered step to target
 * (path + query) with Host host_header: method, Host, User-Agent, Accept, the step's
 * headers (with Accept-Encoding and Authorization from the session), the hop's Cookie,
 * Content-Length and the default Content-Type for bodies, the body. drop_body: a
 * 301/302/303 redirect turned the request into a GET (curl keeps a custom method's name).
 * -1 when out of memory. */
int request_wire(request_t *r, const step_t *st, const char *host_header, const char *target,
                 size_t target_len, bool drop_body);

/* The value of response header `name` (case-insensitive) in r->resp_headers, not
 * NUL-terminated, *len bytes, without surrounding spaces; NULL when absent. The first one
 * when it is repeated. */
const char *request_header(const request_t *r, const char *name, size_t *len);

/* The verdict on a response, whichever transport got it: rc (CURLE_OK or the failure
 * curl has or would have reported), status, r->resp (a step that reads the body fails when
 * r->resp_over: "Response body larger than max_body (16 MiB): ..."; a body in a
 * Content-Encoding is decoded first, and one that does not decode fails), r->resp_headers
 * for header saves, r->env for expect templates. Stores st's saves (USER scope into
 * user_vars, GLOBAL scope into globals, either may be NULL: not kept; new references, old
 * ones released). 0 on success or -1 with the failure message in err. */
int request_check(request_t *r, const step_t *st, long status, CURLcode rc,
                  json_t **user_vars, json_t **globals, char *err, size_t errlen);

#endif
