/*
 * scenario_multipart — a step's `multipart:` body (scenarios/README.md, "multipart:"):
 * text fields (templates) and file parts (a file the scenario names, shipped with it like
 * every such file), compiled into step_t.multipart. worker/request.c writes the body with
 * common/multipart.h.
 */
#include "scenario_internal.h"

#include <stdlib.h>
#include <string.h>

static const char *const file_part_keys[] = {"file", "content_type", "filename", NULL};

void sc_multipart_free(step_t *st)
{
    for (size_t i = 0; i < st->n_multipart; i++) {
        multipart_field_t *f = &st->multipart[i];
        free(f->name);
        if (f->value)
            tmpl_free(f->value);
        free(f->filename);
        free(f->content_type);
    }
    free(st->multipart);
    st->multipart = NULL;
    st->n_multipart = 0;
}

/* A single-line text of a file part (content_type, filename): *out owned. */
static int line_text(loader_t *L, const ynode_t *n, const char *key, char **out)
{
    if (sc_dup_text(L, n, key, out))
        return -1;
    if (!**out)
        return sc_fail(L, n, "'%s' must not be empty", key);
    if (strpbrk(*out, "\r\n"))
        return sc_fail(L, n, "'%s' must not contain a line break", key);
    return 0;
}

static int file_part(loader_t *L, const ynode_t *n, multipart_field_t *f)
{
    if (sc_check_keys(L, n, file_part_keys, "a multipart file part"))
        return -1;
    const ynode_t *v = ytree_get(n, "file");
    if (!v)
        return sc_fail(L, n, "multipart part '%s' needs 'file: PATH' (or give a text value "
                             "instead of a mapping)", SC_SHOW(f->name));
    if (sc_file(L, v, "file", &f->file))
        return -1;
    if ((v = ytree_get(n, "filename"))) {
        if (line_text(L, v, "filename", &f->filename))
            return -1;
    } else {
        const char *base = strrchr(f->file->name, '/');
        if (!(f->filename = strdup(base ? base + 1 : f->file->name)))
            return sc_oom(L, n);
    }
    if ((v = ytree_get(n, "content_type")))
        return line_text(L, v, "content_type", &f->content_type);
    if (!(f->content_type = strdup("application/octet-stream")))
        return sc_oom(L, n);
    return 0;
}

int sc_compile_multipart(loader_t *L, const ynode_t *n, step_t *st)
{
    if (sc_map(L, n, "multipart", "field names to text values or {file: PATH} parts"))
        return -1;
    st->multipart = calloc(n->n ? n->n : 1, sizeof *st->multipart);
    if (!st->multipart)
        return sc_oom(L, n);
    for (size_t i = 0; i < n->n; i++) {
        const ynode_t *k = ytree_key(n, i), *v = ytree_val(n, i);
        multipart_field_t *f = &st->multipart[i];
        st->n_multipart = i + 1;
        if (!k->str[0])
            return sc_fail(L, k, "a multipart field needs a name");
        if (strpbrk(k->str, "\r\n"))
            return sc_fail(L, k, "a multipart field name must not contain a line break");
        if (!(f->name = strdup(k->str)))
            return sc_oom(L, k);
        if (v->kind == YNODE_MAP) {
            if (file_part(L, v, f))
                return -1;
            continue;
        }
        if (v->kind != YNODE_SCALAR || ytree_is_null(v))
            return sc_fail(L, v, "multipart field '%s' must be a text value or a {file: PATH} "
                                 "mapping, got %s", SC_SHOW(f->name), ytree_describe(v));
        if (sc_compile_tmpl(L, v, &f->value))
            return -1;
    }
    return 0;
}
