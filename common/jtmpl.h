/*
 * jtmpl — a `json:` request body: a JSON document whose string leaves are templates
 * (scenarios/README.md, "Templates"), compiled once at load and rendered per request as
 * JSON text.
 *
 * Why its own module: a body is mostly constant JSON. Compiling it once turns every constant
 * stretch (keys, numbers, literal strings, punctuation) into ready text, so rendering copies
 * those and renders only the templated leaves, with no jansson tree built per request.
 *
 * Thread: a compiled jtmpl_t is immutable and shared by every engine thread, like a tmpl_t;
 * all mutable state comes in through tmpl_env_t and buf_t.
 */
#ifndef HERD_JTMPL_H
#define HERD_JTMPL_H

#include <jansson.h>

#include "buf.h"
#include "template.h"

typedef struct jtmpl jtmpl_t;

/* Build from a jansson value in which every string leaf is compiled as a template (object
 * keys are literal). The result does not refer to doc. On error returns -1 and fills err; a
 * template error names its leaf at the end of the message ("(in json field 'items[1].name')")
 * and err->offset is then the offset within that leaf's string (0 for other errors). */
int jtmpl_compile(const json_t *doc, tmpl_resolve_fn resolve, void *ctx, jtmpl_t **out,
                  tmpl_error_t *err);
void jtmpl_free(jtmpl_t *j);
/* Append the JSON text. A string leaf that is a single {{ expr }} keeps its value's type
 * (a number stays a number); any other string leaf renders as a JSON string. On a runtime
 * error returns -1 with the message in err (as tmpl_render) and leaves out as it was. */
int jtmpl_render(const jtmpl_t *j, const tmpl_env_t *env, buf_t *out, char *err, size_t errlen);

#endif
