/*
 * web_assets — the page's files (master/web/) and Chart.js (Debian's libjs-chart.js), copied
 * into herd-master's read-only data by the assembler's .incbin when this file is compiled.
 *
 * Paths are the assembler's: relative to the directory make runs in (the repository's top),
 * and HERD_CHARTJS absolute. The Makefile names every file here as a prerequisite of this
 * object, so changing one rebuilds herd-master (the compiler's .d files do not see .incbin).
 * Each file is followed by a NUL byte that is not part of its length, so the page's text can
 * be searched as a C string (report_html.c does).
 */
#include "web_assets.h"

#include <pthread.h>
#include <string.h>

#ifndef HERD_WEB_DIR
#define HERD_WEB_DIR "master/web"
#endif
#ifndef HERD_CHARTJS
#define HERD_CHARTJS "/usr/share/javascript/chart.js/chart.min.js"
#endif

/* ASSET(sym, file): the bytes of file between sym and sym_end, then a NUL. Hidden symbols:
 * referenced from this object only, without a GOT entry (position-independent builds). */
#define ASSET(sym, file)                                                                       \
    ".section .rodata.herd_web,\"a\",@progbits\n"                                              \
    ".balign 16\n"                                                                             \
    ".globl " #sym "\n.hidden " #sym "\n"                                                      \
    ".globl " #sym "_end\n.hidden " #sym "_end\n" #sym ":\n"                                   \
    ".incbin \"" file "\"\n" #sym "_end:\n"                                                    \
    ".byte 0\n"                                                                                \
    ".previous\n"

__asm__(ASSET(herd_web_index_html, HERD_WEB_DIR "/index.html")
        ASSET(herd_web_app_js, HERD_WEB_DIR "/app.js")
        ASSET(herd_web_style_css, HERD_WEB_DIR "/style.css")
        ASSET(herd_web_chart_js, HERD_CHARTJS));

extern const unsigned char herd_web_index_html[], herd_web_index_html_end[];
extern const unsigned char herd_web_app_js[], herd_web_app_js_end[];
extern const unsigned char herd_web_style_css[], herd_web_style_css_end[];
extern const unsigned char herd_web_chart_js[], herd_web_chart_js_end[];

#define HTML "text/html; charset=utf-8"
#define JS "text/javascript; charset=utf-8"
#define CSS "text/css; charset=utf-8"

/* data and len are filled once (web_asset_find): the symbols' difference is not a constant C
 * expression. Read-only afterwards. */
static web_asset_t assets[] = {
    { "/", HTML, NULL, 0 },
    { "/index.html", HTML, NULL, 0 },
    { "/app.js", JS, NULL, 0 },
    { "/style.css", CSS, NULL, 0 },
    { "/chart.umd.js", JS, NULL, 0 },
};

static void set(web_asset_t *a, const unsigned char *start, const unsigned char *end)
{
    a->data = start;
    a->len = (size_t)(end - start);
}

static void assets_fill(void)
{
    set(&assets[0], herd_web_index_html, herd_web_index_html_end);
    set(&assets[1], herd_web_index_html, herd_web_index_html_end);
    set(&assets[2], herd_web_app_js, herd_web_app_js_end);
    set(&assets[3], herd_web_style_css, herd_web_style_css_end);
    set(&assets[4], herd_web_chart_js, herd_web_chart_js_end);
}

const web_asset_t *web_asset_find(const char *path)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;   /* web threads may call it together */
    pthread_once(&once, assets_fill);
    if (!path)
        return NULL;
    for (size_t i = 0; i < sizeof assets / sizeof assets[0]; i++)
        if (strcmp(assets[i].path, path) == 0)
            return &assets[i];
    return NULL;
}
