/*
 * decode — response bodies in a Content-Encoding (gzip, deflate) turned back into what the
 * server encoded, with zlib. herd asks for compressed bodies by default (`compress`, as
 * Locust's HttpUser does) but decodes only when a step reads the body (save, contains,
 * expect.json): a body nobody reads is counted as received and dropped, costing no
 * inflation. Both transports receive the body as it came over the wire (curl with
 * CURLOPT_HTTP_CONTENT_DECODING off), so decoding happens here, once, for both.
 *
 * Thread: any; no state beyond the caller's buffers.
 */
#ifndef HERD_DECODE_H
#define HERD_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"

typedef enum decode_kind {
    DECODE_IDENTITY,   /* no Content-Encoding, or "identity": the body is the content */
    DECODE_GZIP,       /* gzip, x-gzip */
    DECODE_DEFLATE,    /* deflate: zlib-wrapped, or raw deflate as some servers send */
    DECODE_UNKNOWN,    /* anything else (br, zstd, a chain of codings): not decoded */
} decode_kind_t;

/* The coding a Content-Encoding value (len bytes, spaces around allowed) names. */
decode_kind_t decode_kind_of(const char *value, size_t len);

/* Decode n bytes at in (kind GZIP or DEFLATE) into out (reset first), at most max_bytes
 * (a bomb that inflates past it fails). 0, or -1 with a sentence in err ("Response body
 * could not be decoded (gzip): ..."). */
int decode_body(decode_kind_t kind, const char *in, size_t n, buf_t *out, uint64_t max_bytes,
                char *err, size_t errlen);

#endif
