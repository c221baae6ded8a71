/*
 * curl_loop — the floor herd is measured against: a plain libcurl multi-socket loop (epoll,
 * CURLOPT_NOSIGNAL, keep-alive, easy handles reused, epoll_ctl only when curl's wishes
 * change, no statistics, no templates) doing GETs on N connections for S seconds. It prints
 * the number of requests completed with status 200.
 *
 * make bench (tests/bench/bench.py) compiles it with `cc ... -lcurl` and runs it beside wrk
 * and herd, so the profile claim "herd costs what libcurl costs" is a figure in every run.
 *
 * Use: curl_loop URL CONNECTIONS SECONDS
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>

static int epfd;
static CURLM *multi;
static long timeout_ms = -1; /* what curl asked for last; -1: none */

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)userp;
    int prev = (int)(intptr_t)socketp;
    if (what == CURL_POLL_REMOVE) {
        if (prev)
            epoll_ctl(epfd, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    if (prev == what)
        return 0;
    struct epoll_event ev = {
        .events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u),
        .data.fd = s,
    };
    if (epoll_ctl(epfd, prev ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev) == 0)
        curl_multi_assign(multi, s, (void *)(intptr_t)what);
    return 0;
}

static int on_timer(CURLM *m, long ms, void *userp)
{
    (void)m;
    (void)userp;
    timeout_ms = ms;
    return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: curl_loop URL CONNECTIONS SECONDS\n");
        return 2;
    }
    const char *url = argv[1];
    int conns = atoi(argv[2]);
    double secs = atof(argv[3]);
    if (conns <= 0 || secs <= 0) {
        fprintf(stderr, "curl_loop: CONNECTIONS and SECONDS must be positive\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    epfd = epoll_create1(0);
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)conns);
    for (int i = 0; i < conns; i++) {
        CURL *h = curl_easy_init();
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_multi_add_handle(multi, h);
    }
    uint64_t ok = 0, failed = 0;
    int running;
    struct epoll_event evs[512];
    double end = now_s() + secs;
    bool stopping = false;
    for (;;) {
        int wait = timeout_ms < 0 || timeout_ms > 100 ? 100 : (int)timeout_ms;
        int n = epoll_wait(epfd, evs, 512, wait);
        for (int i = 0; i < n; i++) {
            int flags = ((evs[i].events & (EPOLLIN | EPOLLHUP)) ? CURL_CSELECT_IN : 0) |
                        ((evs[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                        ((evs[i].events & EPOLLERR) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(multi, evs[i].data.fd, flags, &running);
        }
        if (n == 0 || timeout_ms == 0)
            curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
        if (!stopping && now_s() >= end)
            stopping = true;
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            CURL *h = m->easy_handle;
            long status = 0;
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
            if (m->data.result == CURLE_OK && status == 200)
                ok++;
            else
                failed++;
            curl_multi_remove_handle(multi, h);
            if (stopping)
                curl_easy_cleanup(h);
            else
                curl_multi_add_handle(multi, h);
        }
        if (stopping && running == 0)
            break;
    }
    printf("%llu requests, %llu failed\n", (unsigned long long)ok, (unsigned long long)failed);
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    return 0;
}
