/*
 * transport — the set of transports of one thread, and the process-wide set-up they need.
 * See transport.h.
 */
#include "transport.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    /* A peer closing a keep-alive connection must not kill the worker. */
    signal(SIGPIPE, SIG_IGN);
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Plain http requests skip curl unless HERD_TRANSPORT=curl or curl would send them to a
 * proxy. */
static bool native_allowed(void)
{
    const char *t = getenv("HERD_TRANSPORT");
    if (t && strcmp(t, "curl") == 0)
        return false;
    return !request_env_proxy(false);
}

int transports_create(transports_t *ts, loop_t *loop, const char *const *hosts,
                      const tls_opts_t *tls, size_t n_hosts, char *err, size_t errlen)
{
    memset(ts, 0, sizeof *ts);
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        snprintf(err, errlen, "curl_global_init failed: %s", curl_easy_strerror(global_rc));
        return -1;
    }
    if (native_allowed()) {
        transport_t *t = transport_http1_create(loop, hosts, tls, n_hosts);
        if (t)
            ts->list[ts->n++] = t;
    }
    transport_t *t = transport_curl_create(loop, tls, n_hosts, err, errlen);
    if (!t) {
        transports_destroy(ts);
        return -1;
    }
    ts->list[ts->n++] = t; /* last: it carries whatever the others decline */
    return 0;
}

void transports_destroy(transports_t *ts)
{
    for (size_t i = ts->n; i-- > 0;)
        ts->list[i]->ops->destroy(ts->list[i]);
    ts->n = 0;
}
