/*
 * multipart — a multipart/form-data body (RFC 7578), written into a buffer: the one
 * encoder both transports send (scenarios/README.md, "multipart:").
 *
 *     --BOUNDARY\r\n
 *     Content-Disposition: form-data; name="title"\r\n
 *     \r\n
 *     value\r\n
 *     --BOUNDARY\r\n
 *     Content-Disposition: form-data; name="avatar"; filename="avatar.png"\r\n
 *     Content-Type: image/png\r\n
 *     \r\n
 *     <the file's bytes>\r\n
 *     --BOUNDARY--\r\n
 *
 * Names and file names are quoted as browsers do (WHATWG HTML): '"' as %22, CR as %0D,
 * LF as %0A. Nothing here allocates beyond the buffer's growth.
 */
#ifndef HERD_MULTIPART_H
#define HERD_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Boundaries are "herd-" and 24 hex digits: MULTIPART_BOUNDARY_LEN characters and a NUL. */
#define MULTIPART_BOUNDARY_LEN 29

/* A fresh boundary from the rng.h state. */
void multipart_boundary(uint64_t *rng, char out[MULTIPART_BOUNDARY_LEN + 1]);
/* The headers of a part and the blank line after them: filename and content_type NULL for a
 * text field. The part's content follows, then the next part or multipart_end. */
int multipart_part(buf_t *b, const char *boundary, const char *name, const char *filename,
                   const char *content_type);
/* After the last part's content: the closing delimiter. A body with no part is the closing
 * delimiter alone. */
int multipart_end(buf_t *b, const char *boundary);
/* Whether the boundary's delimiter occurs in the n bytes at p (then the body must be made
 * again with another boundary). */
int multipart_collides(const char *p, size_t n, const char *boundary);

#endif
