/*
 * jpath — the paths of `save:` and `expect.json` in scenario files (scenarios/README.md):
 * `$` (the whole document), `key`, `a.b`, `list[0]`, `a.list[2].b`, `[0].id`, `m[1][0]`.
 * Compiled once at load, so looking a path up in a response is a walk with no parsing.
 *
 * Errors use template.h's tmpl_error_t: a bad path is reported by the scenario loader exactly
 * like a bad template (FILE:LINE:COLUMN from the offset), through the same code, and a second
 * struct of the same shape would only need converting.
 *
 * Thread: a compiled jpath_t is immutable; any number of threads may look it up at once.
 */
#ifndef HERD_JPATH_H
#define HERD_JPATH_H

#include <jansson.h>

#include "template.h"

typedef struct jpath jpath_t;

/* Compile src (a NUL-terminated path). On a bad path returns -1 and fills err: offset is
 * where in src the problem is, the message does not repeat the path. */
int jpath_compile(const char *src, jpath_t **out, tmpl_error_t *err);
void jpath_free(jpath_t *p);
/* Borrowed reference into doc, or NULL when the path is missing: a key absent or looked up
 * in something not an object, an index out of range or applied to something not a list. */
json_t *jpath_get(const jpath_t *p, json_t *doc);
/* The path as written. */
const char *jpath_source(const jpath_t *p);

/* Where a path's value is in a JSON text: bytes [off, off + len); len 0 when missing. */
typedef struct jspan {
    size_t off, len;
} jspan_t;

#define JPATH_SCAN_MAX 64   /* paths one jpath_scan looks up at most */

/* Look up n paths (at most JPATH_SCAN_MAX) in the JSON text buf[0, len) without building it:
 * one pass that accepts exactly what json_loadb(JSON_DECODE_ANY | JSON_ALLOW_NUL) accepts
 * (RFC 8259, valid UTF-8 and escapes, integers within long long, finite reals, no NUL in a
 * key, nesting depth at most 2048) and finds for each path the span of the value jpath_get
 * would return from the parsed document (where an object repeats a key, the last one, as
 * jansson keeps it). Allocates nothing; a response's few saved values can then be parsed
 * alone. 0, or -1 when the text is not JSON. A text holding a NUL byte is not for this
 * function (jansson reads a NUL after a number or a word as the end of its input, a quirk not
 * worth copying): the caller gives such a text to json_loadb. */
int jpath_scan(const char *buf, size_t len, const jpath_t *const *paths, size_t n,
               jspan_t *spans);

#endif
