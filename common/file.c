/*
 * file — whole-file reads. See file.h.
 */
#include "file.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

char *file_read(const char *path, size_t max_bytes, size_t *len, char *err, size_t errlen)
{
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    int rd_errno = 0;
    bool too_large = false;
    for (;;) {
        if (n > max_bytes) { /* one byte past the limit was read */
            too_large = true;
            break;
        }
        if (VEC_RESERVE(buf, cap, n + 4096 + 1) < 0) {
            rd_errno = ENOMEM;
            break;
        }
        size_t want = cap - n - 1;
        if (want > max_bytes + 1 - n)
            want = max_bytes + 1 - n;
        size_t got = fread(buf + n, 1, want, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                rd_errno = errno ? errno : EIO;
            break;
        }
    }
    fclose(f);
    if (too_large) {
        free(buf);
        if (max_bytes >= (1u << 20) && max_bytes % (1u << 20) == 0)
            snprintf(err, errlen, "%s: file too large (%zu MiB at most)", path, max_bytes >> 20);
        else
            snprintf(err, errlen, "%s: file too large (%zu bytes at most)", path, max_bytes);
        return NULL;
    }
    if (rd_errno) {
        free(buf);
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(rd_errno));
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}
