/*
 * decode — Content-Encoding bodies through zlib. See decode.h for the contract.
 */
#include "decode.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* Output grows by at least this much per inflate round. */
#define DECODE_STEP_BYTES (64u * 1024u)

decode_kind_t decode_kind_of(const char *value, size_t len)
{
    while (len && (*value == ' ' || *value == '\t')) {
        value++;
        len--;
    }
    while (len && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    static const struct {
        const char *name;
        decode_kind_t kind;
    } names[] = {
        {"identity", DECODE_IDENTITY}, {"gzip", DECODE_GZIP}, {"x-gzip", DECODE_GZIP},
        {"deflate", DECODE_DEFLATE},
    };
    if (len == 0)
        return DECODE_IDENTITY;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == len && strncasecmp(value, names[i].name, len) == 0)
            return names[i].kind;
    return DECODE_UNKNOWN;
}

/* Inflate with zlib's window_bits (31: gzip, 15: zlib, -15: raw deflate). Z_STREAM_END, or
 * the zlib error; Z_BUF_ERROR for input that ends early; Z_MEM_ERROR past max_bytes too
 * (*over set). */
static int inflate_all(const char *in, size_t n, int window_bits, buf_t *out,
                       uint64_t max_bytes, bool *over, const char **msg)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, window_bits) != Z_OK)
        return Z_MEM_ERROR;
    buf_reset(out);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)(n > UINT32_MAX ? UINT32_MAX : n);
    size_t fed = z.avail_in;
    int rc = Z_OK;
    for (;;) {
        if (out->len >= max_bytes) {
            *over = true;
            rc = Z_MEM_ERROR;
            break;
        }
        if (buf_reserve(out, DECODE_STEP_BYTES) < 0) {
            rc = Z_MEM_ERROR;
            break;
        }
        size_t room = out->cap - 1 - out->len;
        if (room > max_bytes - out->len)
            room = (size_t)(max_bytes - out->len);
        if (room > UINT32_MAX)
            room = UINT32_MAX;
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = (uInt)room;
        rc = inflate(&z, Z_NO_FLUSH);
        out->len += room - z.avail_out;
        out->data[out->len] = '\0';
        if (rc == Z_STREAM_END || (rc != Z_OK && rc != Z_BUF_ERROR))
            break;
        if (z.avail_in == 0 && fed < n) { /* more than 4 GiB in: feed the rest */
            size_t more = n - fed > UINT32_MAX ? UINT32_MAX : n - fed;
            z.next_in = (Bytef *)(uintptr_t)(in + fed);
            z.avail_in = (uInt)more;
            fed += more;
            continue;
        }
        if (z.avail_out == 0)
            continue; /* output full: grow and go on */
        rc = Z_BUF_ERROR; /* all input taken, room left, no end: the stream was cut */
        break;
    }
    *msg = z.msg;
    inflateEnd(&z);
    return rc;
}

int decode_body(decode_kind_t kind, const char *in, size_t n, buf_t *out, uint64_t max_bytes,
                char *err, size_t errlen)
{
    const char *name = kind == DECODE_GZIP ? "gzip" : "deflate";
    if (kind != DECODE_GZIP && kind != DECODE_DEFLATE) {
        snprintf(err, errlen, "Response body has a Content-Encoding herd cannot decode");
        return -1;
    }
    bool over = false;
    const char *msg = NULL;
    int rc = inflate_all(in ? in : "", n, kind == DECODE_GZIP ? 15 + 16 : 15, out, max_bytes,
                         &over, &msg);
    /* "deflate" is meant to be zlib-wrapped (RFC 9110), but some servers send raw deflate;
     * curl and browsers accept both. */
    if (rc == Z_DATA_ERROR && kind == DECODE_DEFLATE && !over)
        rc = inflate_all(in ? in : "", n, -15, out, max_bytes, &over, &msg);
    if (rc == Z_STREAM_END)
        return 0;
    if (over)
        snprintf(err, errlen, "Response body (%s) decodes to more than max_body (%llu bytes): "
                 "raise max_body in the scenario", name, (unsigned long long)max_bytes);
    else if (rc == Z_MEM_ERROR)
        snprintf(err, errlen, "out of memory decoding the response body (%s)", name);
    else if (rc == Z_BUF_ERROR)
        snprintf(err, errlen, "Response body could not be decoded (%s): it ends early", name);
    else
        snprintf(err, errlen, "Response body could not be decoded (%s): %s", name,
                 msg ? msg : "bad data");
    return -1;
}
