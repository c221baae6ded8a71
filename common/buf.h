/*
 * buf — a growable byte buffer, always NUL-terminated. Used for request URLs, bodies and
 * rendered templates; owners keep one and buf_reset it per use, so the request path stops
 * allocating once buffers have grown to their working size.
 */
#ifndef HERD_BUF_H
#define HERD_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
    char *data;   /* NUL-terminated when cap > 0; owned */
    size_t len;   /* bytes used, excluding the NUL */
    size_t cap;   /* bytes allocated */
} buf_t;

void buf_init(buf_t *b);
void buf_free(buf_t *b);
static inline void buf_reset(buf_t *b) { b->len = 0; if (b->cap) b->data[0] = '\0'; }
int buf_reserve(buf_t *b, size_t extra);            /* 0, or -1 on OOM */
int buf_append(buf_t *b, const void *p, size_t n);
int buf_puts(buf_t *b, const char *s);
int buf_putc(buf_t *b, char c);
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s percent-encoded for a URL query component (RFC 3986 unreserved kept). */
int buf_put_urlencoded(buf_t *b, const char *s, size_t n);
/* Append s as the inside of a JSON string (escapes, no quotes). */
int buf_put_json_escaped(buf_t *b, const char *s, size_t n);

#endif
