/*
 * fuzz_decode — a response body in a Content-Encoding a server chose (worker/decode.c): the
 * first byte picks gzip or deflate, the rest is the body, decoded within a 1 MiB max_body.
 */
#include <stddef.h>
#include <stdint.h>

#include "../../worker/decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    buf_t out;
    buf_init(&out);
    char err[256];
    decode_kind_t kind = data[0] & 1 ? DECODE_GZIP : DECODE_DEFLATE;
    decode_body(kind, (const char *)data + 1, size - 1, &out, 1u << 20, err, sizeof err);
    buf_free(&out);
    return 0;
}
