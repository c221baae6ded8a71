/*
 * fuzz_jpath — what a scenario's `save:` and `check:` do with a response: a JSON path
 * (the input's first line, compiled) looked up in a JSON document (the rest, as a server
 * might answer), and the document compiled as a `json:` body template and rendered.
 * jpath_scan is checked against jansson on every input: it accepts exactly the documents
 * json_loadb accepts, and the span it finds parses to the value jpath_get returns.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
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
        jpath_t *root = NULL;
        if (jpath_compile("$", &root, &terr) < 0)
            abort();
        const jpath_t *paths[3] = { p, root, p };
        jspan_t spans[3];
        /* A text with a NUL byte is not jpath_scan's (jpath.h): the caller parses it whole. */
        bool scan = !memchr(doc_text, '\0', doc_len);
        int scanned = scan ? jpath_scan(doc_text, doc_len, paths, 3, spans) : -1;
        if (scan && (scanned == 0) != (doc != NULL)) {
            fprintf(stderr, "jpath_scan %s a document json_loadb %s\n",
                    scanned == 0 ? "accepted" : "refused", doc ? "accepted" : "refused");
            abort();
        }
        for (size_t i = 0; scan && doc && i < 3; i++) {
            json_t *want = jpath_get(paths[i], doc);
            json_t *got = spans[i].len ? json_loadb(doc_text + spans[i].off, spans[i].len,
                                                    JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)
                                       : NULL;
            if ((want == NULL) != (got == NULL) || (want && !json_equal(want, got))) {
                fprintf(stderr, "jpath_scan found another value for path %zu\n", i);
                abort();
            }
            json_decref(got);
        }
        jpath_free(root);
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
