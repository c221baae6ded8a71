/*
 * file — the one way herd reads a whole file: scenario files, and files a scenario names.
 */
#ifndef HERD_FILE_H
#define HERD_FILE_H

#include <stddef.h>

/* Read path into a new NUL-terminated buffer (the caller frees it); *len gets its size
 * without the NUL. A file larger than max_bytes is refused. NULL with one line in err:
 * "PATH: cannot read: <reason>" or "PATH: file too large (N MiB at most)" (bytes when
 * max_bytes is not a whole number of MiB). */
char *file_read(const char *path, size_t max_bytes, size_t *len, char *err, size_t errlen);

#endif
