/*
 * request — one HTTP request of a compiled step, on a reusable CURL easy handle, and the
 * verdict on its response (../shared/SCENARIOS.md, "What counts as a failure").
 *
 * A request_t belongs to one virtual user (or to engine_run_setup) and is reused for every
 * request it makes: the easy handle keeps its options between requests, the URL, body,
 * header and response buffers keep their memory, and the header list is built from nodes we
 * own pointing into our own buffer (curl only reads a curl_slist), so once the buffers have
 * grown to their working size a request allocates nothing (except jansson parsing a JSON
 * response when the step needs it).
 *
 * Use with curl: request_prepare (render URL, query, headers, body; set the handle's
 * options) → run the handle (multi or curl_easy_perform) → request_judge (status, expect,
 * saves). With the native transport (http1.h): request_render → request_wire (the bytes
 * curl would send) → http1 → request_check. Both transports share the verdict.
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
#include "../common/scenario.h"
#include "../common/template.h"

#define REQUEST_USER_AGENT "herd/1.0"

/* True when a proxy environment variable libcurl honours is set: for http URLs, or (https_too)
 * for https ones as well. The one place herd decides what curl would proxy. */
bool request_env_proxy(bool https_too);
/* Redirects followed per request (curl's CURLOPT_MAXREDIRS; the native transport too). */
#define REQUEST_MAX_REDIRS 30L

/* Message for a relative URL when neither the class, -H nor the file sets a host. */
#define REQUEST_NO_HOST_MESSAGE "no host: pass -H or set host in the scenario"

typedef struct request {
    CURL *easy;                /* owned; options persist between requests */
    buf_t url;                 /* rendered URL of the current request */
    buf_t body;                /* rendered request body */
    buf_t hdr;                 /* "Name: value\0Name: value\0..." for the header nodes */
    buf_t resp;                /* response body, kept only when the step needs it */
    buf_t scratch;             /* rendering of one template value */
    struct curl_slist *nodes;  /* header list nodes, data pointing into hdr; owned array */
    struct curl_slist *headers; /* the current request's list (nodes or NULL) */
    buf_t wire;                /* native transport: the request's bytes as sent */
    size_t cap_nodes;
    /* What the handle was last configured with, so request_prepare sets only what changed
     * (CURLOPT_URL costs curl a copy; the rest is skipped for the same step). */
    buf_t url_set;             /* the URL curl has (copy); empty: set it next time */
    const step_t *set_step;    /* step whose method, timeout and headers are set, or NULL */
    struct curl_slist *set_headers;
    const char *set_body;      /* POSTFIELDS pointer and size last set */
    size_t set_body_len;
    bool keep_body;            /* current step reads the body (JSON, contains) */
    uint64_t body_bytes;       /* response body bytes received by the current request */
} request_t;

typedef struct request_result {
    long status;               /* HTTP status, 0 when no response */
    uint64_t response_us;      /* CURLINFO_TOTAL_TIME_T */
    uint64_t bytes;            /* response body bytes */
} request_result_t;

/* Create the easy handle with the options that never change; `owner` goes to
 * CURLOPT_PRIVATE. -1 with a message on failure. */
int request_init(request_t *r, void *owner, char *err, size_t errlen);
void request_free(request_t *r);

/* Render st (a STEP_REQUEST) with env and set the handle up for it. host: base URL or NULL.
 * On a template error (or no host for a relative URL) returns -1 with the message in err:
 * nothing is to be sent. */
int request_prepare(request_t *r, const step_t *st, const char *host, const tmpl_env_t *env,
                    char *err, size_t errlen);

/* The two halves of request_prepare: render the step (URL, headers, body; resets the
 * response buffer), then set the curl handle up for what was rendered. */
int request_render(request_t *r, const step_t *st, const char *host, const tmpl_env_t *env,
                   char *err, size_t errlen);
void request_setup_curl(request_t *r, const step_t *st);
/* The handle was changed behind request_setup_curl's back (URL, method, timeout, redirect
 * limit): set everything again next time. */
void request_forget_curl(request_t *r);
/* The step sends a body (curl's POSTFIELDS): POST, PUT, PATCH, or any with a body. */
bool request_sends_body(const step_t *st);
/* Build into r->wire the HTTP/1.1 request curl would send for the rendered step to target
 * (path + query) with Host host_header: method, Host, User-Agent, Accept, the step's
 * headers, Content-Length and the default Content-Type for bodies, the body. drop_body: a
 * 301/302/303 redirect turned the request into a GET (curl keeps a custom method's name).
 * -1 when out of memory. */
int request_wire(request_t *r, const step_t *st, const char *host_header, const char *target,
                 size_t target_len, bool drop_body);

/* The verdict on a response, whichever transport got it: rc (CURLE_OK or the failure
 * curl has or would have reported), status, r->resp; stores the saves like request_judge.
 * 0 on success or -1 with the failure message in err. */
int request_check(request_t *r, const step_t *st, long status, CURLcode rc,
                  json_t **user_vars, json_t **globals, char *err, size_t errlen);

/* Judge a finished transfer (rc = its CURLcode): fills res, stores st's saves (USER scope
 * into user_vars, GLOBAL scope into globals; new references, old ones released). Returns 0
 * on success or -1 with the failure message in err. */
int request_judge(request_t *r, const step_t *st, CURLcode rc, json_t **user_vars,
                  json_t **globals, request_result_t *res, char *err, size_t errlen);

#endif
