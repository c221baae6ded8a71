/*
 * client — one user's requests over the thread's transports: hops, redirects, re-sends and
 * the verdict. See client.h for the rules and the contract.
 */
#include "client.h"

#include <stdio.h>
#include <string.h>

#include "../common/clock.h"

static void on_hop_done(void *owner, const hop_result_t *res);

void client_init(client_t *c, const client_config_t *cfg)
{
    memset(c, 0, sizeof *c);
    c->cfg = *cfg;
    request_init(&c->req);
    cookie_jar_init(&c->jar);
    c->wall_minus_mono_s = clock_wall_s() - clock_mono_s();
    buf_init(&c->url[0]);
    buf_init(&c->url[1]);
}

void client_free(client_t *c)
{
    for (size_t i = 0; i < TRANSPORTS_MAX; i++)
        if (c->conns[i])
            c->conns[i]->t->ops->conn_free(c->conns[i]);
    memset(c->conns, 0, sizeof c->conns);
    c->st = NULL;
    request_free(&c->req);
    cookie_jar_free(&c->jar);
    buf_free(&c->url[0]);
    buf_free(&c->url[1]);
}

/* Go's Request.isReplayable: a safe method without a body. The hop's method and body are
 * those after a redirect's change (a 301/302/303 turns a POST into a bodiless GET). */
static bool hop_replayable(const step_t *st, const hop_t *hop)
{
    if (request_sends_body(st) && !hop->drop_body)
        return false;
    http_method_t m = st->method == HTTP_POST && hop->drop_body ? HTTP_GET : st->method;
    return m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS;
}

bool client_may_resend(const client_t *c, const step_t *st, const hop_result_t *res)
{
    return res->rc != CURLE_OK && res->resendable && !c->resent && hop_replayable(st, &c->hop);
}

const step_t *client_in_flight(const client_t *c, uint32_t *resends)
{
    *resends = c->st ? c->resends : 0;
    return c->st;
}

/* Offer the current hop to the transports in order, from `from`. */
static transport_rc_t start_hop(client_t *c, size_t from, hop_result_t *res)
{
    const transports_t *ts = c->cfg.transports;
    double now_wall_s = ts->list[0]->loop->now + c->wall_minus_mono_s;
    if (request_hop_begin(&c->req, c->hop.url, now_wall_s) < 0) {
        *res = (hop_result_t){ .rc = CURLE_OUT_OF_MEMORY };
        return TRANSPORT_DONE;
    }
    for (size_t i = from; i < ts->n; i++) {
        if (!c->conns[i]) { /* made on first use: most users never need libcurl */
            transport_t *t = ts->list[i];
            c->conns[i] = t->ops->conn_new(t, c->cfg.host_slot, on_hop_done, c);
            if (!c->conns[i]) {
                *res = (hop_result_t){ .rc = CURLE_OUT_OF_MEMORY };
                return TRANSPORT_DONE;
            }
        }
        transport_rc_t rc = c->conns[i]->t->ops->start(c->conns[i], &c->req, c->st, &c->hop, res);
        if (rc != TRANSPORT_DECLINED) {
            c->via = i;
            return rc;
        }
    }
    *res = (hop_result_t){ .rc = CURLE_UNSUPPORTED_PROTOCOL };
    return TRANSPORT_DONE;
}

/* The verdict on the final hop. */
static inline void finish(client_t *c, const hop_result_t *hr, CURLcode rc, client_result_t *out)
{
    const step_t *st = c->st;
    c->st = NULL;
    char *msg = c->cfg.transports->failure;
    int ok = request_check(&c->req, st, hr->status, rc, c->cfg.vars, c->cfg.globals, msg,
                           sizeof c->cfg.transports->failure);
    *out = (client_result_t){
        .us = c->us + hr->us,
        .bytes = hr->bytes,
        .resends = c->resends,
        .failure = ok < 0 ? msg : NULL,
    };
}

/* A hop ended as hr says: send again, follow, or finish. */
static client_rc_t advance(client_t *c, const hop_result_t *hr, client_result_t *out)
{
    hop_result_t next;
    for (;;) {
        const step_t *st = c->st;
        if (client_may_resend(c, st, hr)) {
            c->resent = true;
            c->resends++;
            c->us += hr->us;
            if (start_hop(c, c->via, &next) == TRANSPORT_PENDING)
                return CLIENT_PENDING;
            hr = &next;
            continue;
        }
        if (hr->rc != CURLE_OK || hr->status < 300 || hr->status >= 400 || !hr->location) {
            finish(c, hr, hr->rc, out);
            return CLIENT_DONE;
        }
        if (c->redirects >= (uint32_t)REQUEST_MAX_REDIRS) {
            finish(c, hr, CURLE_TOO_MANY_REDIRECTS, out);
            return CLIENT_DONE;
        }
        /* curl (7.88) turns its POST (every step with POSTFIELDS: POST, PUT, PATCH, a
         * body) into a GET on 301, 302 and 303, keeping a custom method's name. */
        if (request_sends_body(st) && (hr->status == 301 || hr->status == 302 || hr->status == 303))
            c->hop.drop_body = true;
        c->redirects++;
        c->resent = false;
        c->us += hr->us;
        c->url_i ^= 1;
        buf_t *u = &c->url[c->url_i];
        buf_reset(u);
        if (buf_puts(u, hr->location) < 0) {
            hop_result_t oom = { .rc = CURLE_OUT_OF_MEMORY };
            finish(c, &oom, oom.rc, out);
            return CLIENT_DONE;
        }
        c->hop.url = u->data;
        c->hop.first = false;
        buf_reset(&c->req.resp); /* the 3xx's body is not the response */
        if (start_hop(c, 0, &next) == TRANSPORT_PENDING)
            return CLIENT_PENDING;
        hr = &next;
    }
}

static void on_hop_done(void *owner, const hop_result_t *res)
{
    client_t *c = owner;
    const step_t *st = c->st;
    client_result_t out;
    if (!st || advance(c, res, &out) == CLIENT_PENDING)
        return;
    c->cfg.done(c->cfg.owner, st, &out); /* may send again or free c: nothing after this */
}

client_rc_t client_send(client_t *c, const step_t *st, const tmpl_env_t *env,
                        client_result_t *res)
{
    char *msg = c->cfg.transports->failure;
    if (request_render(&c->req, st, c->cfg.host, env, msg, sizeof c->cfg.transports->failure) < 0) {
        /* Nothing was sent: a request and a failure, 0 ms, on the step's row. */
        *res = (client_result_t){ .failure = msg };
        return CLIENT_DONE;
    }
    const loop_t *l = c->cfg.transports->list[0]->loop;
    c->req.jar = st->cookies ? &c->jar : NULL;
    c->st = st;
    c->redirects = 0;
    c->resent = false;
    c->resends = 0;
    c->us = 0;
    c->hop = (hop_t){
        .url = c->req.url.data,
        .first = true,
        .deadline = l->now + (st->timeout_s > 0 ? st->timeout_s : 60.0),
    };
    hop_result_t hr;
    if (start_hop(c, 0, &hr) == TRANSPORT_PENDING)
        return CLIENT_PENDING;
    return advance(c, &hr, res);
}
