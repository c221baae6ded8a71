/* Unit tests for common/csv.h: RFC 4180 records, and errors at the CSV's own line:column. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../common/csv.h"

static csv_table_t parse_ok(const char *text)
{
    csv_table_t t;
    csv_error_t e;
    if (csv_parse(text, strlen(text), &t, &e) != 0)
        fail_msg("'%s': %d:%d: %s", text, e.line, e.col, e.message);
    return t;
}

static const char *cell(const csv_table_t *t, size_t r, size_t c)
{
    return t->cells[r * t->n_columns + c];
}

static void test_records(void **state)
{
    (void)state;
    csv_table_t t = parse_ok("id,email,name\r\n1,a@x,\"Ann, Jr\"\r\n2,,\"say \"\"hi\"\"\"\r\n"
                             "3,c@x,\"two\nlines\"");
    assert_int_equal(t.n_columns, 3);
    assert_int_equal(t.n_rows, 3);
    assert_string_equal(t.columns[1], "email");
    assert_string_equal(cell(&t, 0, 2), "Ann, Jr");
    assert_string_equal(cell(&t, 1, 1), "");
    assert_string_equal(cell(&t, 1, 2), "say \"hi\"");
    assert_string_equal(cell(&t, 2, 2), "two\nlines");
    csv_free(&t);

    /* LF endings, a BOM, blank lines skipped, a header only */
    t = parse_ok("\xEF\xBB\xBFk\n\nv1\n\nv2\n");
    assert_string_equal(t.columns[0], "k");
    assert_int_equal(t.n_rows, 2);
    assert_string_equal(cell(&t, 1, 0), "v2");
    csv_free(&t);
    t = parse_ok("a,b\n");
    assert_int_equal(t.n_rows, 0);
    csv_free(&t);
    /* a trailing empty field */
    t = parse_ok("a,b\n1,\n");
    assert_string_equal(cell(&t, 0, 1), "");
    csv_free(&t);
}

static void assert_csv_error(const char *text, int line, int col, const char *msg)
{
    csv_table_t t;
    csv_error_t e;
    if (csv_parse(text, strlen(text), &t, &e) == 0) {
        csv_free(&t);
        fail_msg("'%s' parsed, want an error", text);
    }
    if (e.line != line || e.col != col || !strstr(e.message, msg))
        fail_msg("'%s': %d:%d: %s; want %d:%d: %s", text, e.line, e.col, e.message, line, col,
                 msg);
    assert_null(t.columns);
}

static void test_errors(void **state)
{
    (void)state;
    assert_csv_error("", 1, 1, "the file is empty");
    assert_csv_error("a,b\n1,\"x\n", 2, 3, "unterminated quoted field");
    assert_csv_error("a,b\n1,x\"y\n", 2, 4, "a quote inside an unquoted field");
    assert_csv_error("a,b\n1,\"x\"y\n", 2, 6, "text after a closing quote");
    assert_csv_error("a,b\n1\n", 2, 2, "this record has 1 field, the header has 2");
    assert_csv_error("a,b\n1,2,3\n", 2, 5, "more fields than the header's 2");
    assert_csv_error("a,,c\n1,2,3\n", 1, 3, "column 2 of the header has no name");
    assert_csv_error("a,b,a\n1,2,3\n", 1, 5, "column 'a' is named twice");
    /* a quoted field's line breaks count: the error is on the line it is */
    assert_csv_error("a,b\n\"x\ny\",1\n2\n", 4, 2, "this record has 1 field");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
