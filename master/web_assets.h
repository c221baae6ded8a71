/*
 * web_assets — the web UI's files, embedded into herd-master at build time: the page under
 * master/web/ (HTML, CSS, JavaScript modules; no build step) and Chart.js from Debian's
 * libjs-chart.js. Served by master/web.c and inlined into the HTML report
 * (master/report_html.c), so the report and the live page are the same page.
 */
#ifndef HERD_WEB_ASSETS_H
#define HERD_WEB_ASSETS_H

#include <stddef.h>

typedef struct web_asset {
    const char *path;          /* URL path: "/", "/app.js", "/chart.umd.js", ... */
    const char *content_type;  /* "text/html; charset=utf-8", ... */
    const unsigned char *data;
    size_t len;
} web_asset_t;

/* The asset served at path, or NULL. "/" and "/index.html" are the page. */
const web_asset_t *web_asset_find(const char *path);

#endif
