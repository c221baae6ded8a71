/*
 * multipart — multipart/form-data bodies; the contract is multipart.h.
 *
 * A part's content is written by the caller right after multipart_part, so the content
 * (a rendered template, a file's bytes) goes into the buffer once, without a copy in
 * between; the CRLF that ends it is written by the next multipart_part or multipart_end.
 */
#include "multipart.h"

#include <string.h>

#include "rng.h"

void multipart_boundary(uint64_t *rng, char out[MULTIPART_BOUNDARY_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "herd-", 5);
    uint64_t a = rng_next(rng), b = rng_next(rng);
    for (int i = 0; i < 16; i++)
        out[5 + i] = hex[(a >> (4 * i)) & 15];
    for (int i = 0; i < 8; i++)
        out[21 + i] = hex[(b >> (4 * i)) & 15];
    out[MULTIPART_BOUNDARY_LEN] = '\0';
}

static int put_quoted(buf_t *b, const char *s)
{
    for (; *s; s++) {
        int rc;
        if (*s == '"')
            rc = buf_puts(b, "%22");
        else if (*s == '\r')
            rc = buf_puts(b, "%0D");
        else if (*s == '\n')
            rc = buf_puts(b, "%0A");
        else
            rc = buf_putc(b, *s);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Before a delimiter: the CRLF ending the previous part's content (none before the first). */
static int delimiter(buf_t *b, const char *boundary)
{
    if (b->len && buf_puts(b, "\r\n") < 0)
        return -1;
    if (buf_puts(b, "--") < 0 || buf_puts(b, boundary) < 0)
        return -1;
    return 0;
}

int multipart_part(buf_t *b, const char *boundary, const char *name, const char *filename,
                   const char *content_type)
{
    if (delimiter(b, boundary) < 0 ||
        buf_puts(b, "\r\nContent-Disposition: form-data; name=\"") < 0 ||
        put_quoted(b, name) < 0 || buf_putc(b, '"') < 0)
        return -1;
    if (filename && (buf_puts(b, "; filename=\"") < 0 || put_quoted(b, filename) < 0 ||
                     buf_putc(b, '"') < 0))
        return -1;
    if (content_type && (buf_puts(b, "\r\nContent-Type: ") < 0 || buf_puts(b, content_type) < 0))
        return -1;
    return buf_puts(b, "\r\n\r\n");
}

int multipart_end(buf_t *b, const char *boundary)
{
    if (delimiter(b, boundary) < 0 || buf_puts(b, "--\r\n") < 0)
        return -1;
    return 0;
}

int multipart_collides(const char *p, size_t n, const char *boundary)
{
    char delim[MULTIPART_BOUNDARY_LEN + 3] = "--";
    size_t bl = strlen(boundary);
    if (bl > MULTIPART_BOUNDARY_LEN)
        bl = MULTIPART_BOUNDARY_LEN;
    memcpy(delim + 2, boundary, bl);
    return n && memmem(p, n, delim, bl + 2) != NULL;
}
