/*
 * fuzz_cookies — a user's cookie jar (worker/cookies.c) fed Set-Cookie values a server
 * chose: each input line is one Set-Cookie value, received for a URL its first byte picks;
 * after each, the Cookie header for a few URLs is built (expired cookies dropped, order).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../worker/cookies.h"

static const char *const urls[] = {
    "http://example.com/", "https://a.b.example.com/app/x?q=1", "http://127.0.0.1:8080/login",
    "http://[::1]:9/p/q/r", "https://EXAMPLE.com./", "http://u:p@h/x#f",
};
#define N_URLS (sizeof urls / sizeof urls[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cookie_jar_t j;
    cookie_jar_init(&j);
    buf_t out;
    buf_init(&out);
    const char *p = (const char *)data, *end = p + size;
    double now = 1700000000.0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *lend = nl ? nl : end;
        if (lend > p) {
            const char *url = urls[(unsigned char)p[0] % N_URLS];
            cookie_jar_set(&j, url, p + 1, (size_t)(lend - p - 1), now);
            for (size_t i = 0; i < N_URLS; i++) {
                buf_reset(&out);
                cookie_jar_header(&j, urls[i], now, &out);
            }
            now += 0.75;
        }
        p = nl ? nl + 1 : end;
    }
    if (size > 100000)
        cookie_jar_clear(&j);
    buf_free(&out);
    cookie_jar_free(&j);
    return 0;
}
