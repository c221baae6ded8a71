/* Unit tests for master/web_assets: the page's files and Chart.js are in the binary, at the
 * paths the page names them by, with their content types; the page names exactly the three
 * files the HTML report inlines (master/report_html.c looks for those tags). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "../../master/web_assets.h"

/* Whether the asset's bytes contain s. */
static int has(const web_asset_t *a, const char *s)
{
    return memmem(a->data, a->len, s, strlen(s)) != NULL;
}

static void test_paths_and_types(void **state)
{
    (void)state;
    const web_asset_t *root = web_asset_find("/");
    const web_asset_t *index = web_asset_find("/index.html");
    assert_non_null(root);
    assert_non_null(index);
    assert_ptr_equal(root->data, index->data);
    assert_int_equal(root->len, index->len);
    assert_string_equal(root->content_type, "text/html; charset=utf-8");
    assert_true(root->len > 1000);
    assert_memory_equal(root->data, "<!DOCTYPE html>", 15);

    const web_asset_t *app = web_asset_find("/app.js");
    assert_non_null(app);
    assert_string_equal(app->content_type, "text/javascript; charset=utf-8");
    assert_true(has(app, "herdCharts"));
    const web_asset_t *css = web_asset_find("/style.css");
    assert_non_null(css);
    assert_string_equal(css->content_type, "text/css; charset=utf-8");
    assert_true(has(css, "prefers-color-scheme: dark"));
    const web_asset_t *chart = web_asset_find("/chart.umd.js");
    assert_non_null(chart);
    assert_string_equal(chart->content_type, "text/javascript; charset=utf-8");
    assert_true(has(chart, "Chart.js v3"));
    assert_true(chart->len > 100000);
    /* each file ends where it should: a NUL follows, outside its length */
    assert_int_equal(app->data[app->len], 0);
    assert_int_not_equal(app->data[app->len - 1], 0);

    assert_null(web_asset_find("/nope.js"));
    assert_null(web_asset_find("/app.js/"));
    assert_null(web_asset_find(""));
    assert_null(web_asset_find(NULL));
}

static void test_page_names_its_files(void **state)
{
    (void)state;
    const web_asset_t *page = web_asset_find("/");
    assert_true(has(page, "<link rel=\"stylesheet\" href=\"style.css\">"));
    assert_true(has(page, "<script src=\"chart.umd.js\"></script>"));
    assert_true(has(page, "<script src=\"app.js\"></script>"));
    /* nothing from elsewhere */
    assert_false(has(page, "src=\"http"));
    assert_false(has(page, "href=\"http"));
    /* the scripts can be inlined: nothing in them ends a script element */
    assert_false(has(web_asset_find("/app.js"), "</script"));
    assert_false(has(web_asset_find("/chart.umd.js"), "</script"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths_and_types),
        cmocka_unit_test(test_page_names_its_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
