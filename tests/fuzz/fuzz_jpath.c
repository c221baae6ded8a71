/*
 * fuzz_jpath — what a scenario's `save:` and `check:` do with a response: a JSON path
 * (the input's first line, compiled) looked up in a JSON document (the rest, as a server
 * might answer), and the document compiled as a `json:` body template and rendered.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/buf.h"
#include "../../common/jpath.h"
#include "../../common/jtmpl.h"
#include "../unit/template_fixture.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fixture_setup(NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t path_len = nl ? (size_t)(nl - data) : size;
    char *path = malloc(path_len + 1);
    if (!path)
        return 0;
    memcpy(path, data, path_len);
    path[path_len] = '\0';
    const char *doc_text = nl ? (const char *)nl + 1 : "";
    size_t doc_len = nl ? size - path_len - 1 : 0;

    json_t *doc = json_loadb(doc_text, doc_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    jpath_t *p = NULL;
    tmpl_error_t terr;
    if (jpath_compile(path, &p, &terr) == 0) {
        if (doc)
            jpath_get(p, doc);
        jpath_get(p, globals[2]);
        jpath_get(p, user_vars[2]);
        jpath_free(p);
    }
    free(path);

    if (doc) {
        jtmpl_t *j = NULL;
        if (jtmpl_compile(doc, resolve, NULL, &j, &terr) == 0) {
            uint64_t seed = 42;
            env.rng = &seed;
            buf_t out;
            buf_init(&out);
            char err[512];
            jtmpl_render(j, &env, &out, err, sizeof err);
            buf_free(&out);
            jtmpl_free(j);
        }
        json_decref(doc);
    }
    return 0;
}
