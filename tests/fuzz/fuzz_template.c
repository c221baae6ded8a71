/*
 * fuzz_template — the template language of scenario values: any text compiled against a
 * fixed set of variables ({{ players }}, {{ obj.a[1] }}, ...), then rendered as text, as
 * JSON, evaluated and taken as a truth value, as a user's request and a `when:` would be.
 */
#include <stddef.h>
#include <stdint.h>

#include "../../common/buf.h"
#include "../../common/template.h"
#include "../unit/template_fixture.h"

static bool is_line_break(unsigned char ch)
{
    return ch == '\r' || ch == '\n';
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fixture_setup(NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tmpl_t *t = NULL;
    tmpl_error_t terr;
    if (tmpl_compile((const char *)data, size, resolve, NULL, &t, &terr) < 0)
        return 0;
    uint64_t seed = 0x9e3779b97f4a7c15ull;   /* the same output for the same input */
    env.rng = &seed;
    buf_t out;
    buf_init(&out);
    char err[512];
    tmpl_render(t, &env, &out, err, sizeof err);
    buf_reset(&out);
    tmpl_render_json(t, &env, &out, err, sizeof err);
    json_t *v = NULL;
    if (tmpl_eval(t, &env, &v, err, sizeof err) == 0)
        json_decref(v);
    bool truth;
    tmpl_truth(t, &env, &truth, err, sizeof err);   /* as a `when:` is */
    size_t off;
    tmpl_text_find(t, is_line_break, &off);   /* as a header value is checked */
    buf_free(&out);
    tmpl_free(t);
    return 0;
}
