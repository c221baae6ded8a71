/*
 * csv — RFC 4180 reader; the contract is csv.h.
 *
 * One pass over the text: each field is copied out (quotes undone) as it ends, the line and
 * column of the field's start kept for messages. Fields are gathered in one growing array;
 * the header's length fixes the stride.
 */
#include "csv.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "vec.h"

typedef struct reader {
    const char *s;
    size_t len, pos;
    int line;           /* of pos */
    size_t line_start;  /* offset of the line pos is on */
    char **fields;      /* every field so far, header first; owned until handed to the table */
    size_t n_fields, cap;
    csv_error_t *err;
} reader_t;

__attribute__((format(printf, 4, 5)))
static int fail(reader_t *r, int line, int col, const char *fmt, ...)
{
    r->err->line = line;
    r->err->col = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err->message, sizeof r->err->message, fmt, ap);
    va_end(ap);
    return -1;
}

static int col_of(const reader_t *r, size_t off) { return (int)(off - r->line_start) + 1; }

static int push(reader_t *r, buf_t *b)
{
    char *f = strndup(b->data ? b->data : "", b->len);
    if (!f || VEC_RESERVE(r->fields, r->cap, r->n_fields + 1) < 0) {
        free(f);
        return fail(r, r->line, 1, "out of memory");
    }
    r->fields[r->n_fields++] = f;
    return 0;
}

/* One field at r->pos into b; stops on the comma or line break after it (not consumed). */
static int read_field(reader_t *r, buf_t *b)
{
    buf_reset(b);
    if (r->pos < r->len && r->s[r->pos] == '"') {
        int line = r->line, col = col_of(r, r->pos);
        r->pos++;
        for (;;) {
            if (r->pos >= r->len)
                return fail(r, line, col, "unterminated quoted field: no closing '\"'");
            char ch = r->s[r->pos];
            if (ch == '"') {
                if (r->pos + 1 < r->len && r->s[r->pos + 1] == '"') {
                    if (buf_putc(b, '"') < 0)
                        return fail(r, line, col, "out of memory");
                    r->pos += 2;
                    continue;
                }
                r->pos++;
                break;
            }
            if (ch == '\n') {
                r->line++;
                r->line_start = r->pos + 1;
            }
            if (buf_putc(b, ch) < 0)
                return fail(r, line, col, "out of memory");
            r->pos++;
        }
        if (r->pos < r->len && r->s[r->pos] != ',' && r->s[r->pos] != '\n' &&
            !(r->s[r->pos] == '\r' && r->pos + 1 < r->len && r->s[r->pos + 1] == '\n') &&
            !(r->s[r->pos] == '\r' && r->pos + 1 == r->len))
            return fail(r, r->line, col_of(r, r->pos),
                        "text after a closing quote: a quoted field ends at a comma or the "
                        "end of the line (write \"\" for a quote inside it)");
        return 0;
    }
    while (r->pos < r->len) {
        char ch = r->s[r->pos];
        if (ch == ',' || ch == '\n' ||
            (ch == '\r' && (r->pos + 1 == r->len || r->s[r->pos + 1] == '\n')))
            break;
        if (ch == '"')
            return fail(r, r->line, col_of(r, r->pos),
                        "a quote inside an unquoted field: quote the whole field and double "
                        "the quote (\"a \"\"b\"\" c\")");
        if (ch == '\0')
            return fail(r, r->line, col_of(r, r->pos), "a NUL byte: not a text file");
        if (buf_putc(b, ch) < 0)
            return fail(r, r->line, 1, "out of memory");
        r->pos++;
    }
    return 0;
}

/* Past the line break at r->pos, if any. */
static void end_line(reader_t *r)
{
    if (r->pos < r->len && r->s[r->pos] == '\r')
        r->pos++;
    if (r->pos < r->len && r->s[r->pos] == '\n')
        r->pos++;
    r->line++;
    r->line_start = r->pos;
}

static bool at_blank_line(const reader_t *r)
{
    return r->s[r->pos] == '\n' ||
           (r->s[r->pos] == '\r' && (r->pos + 1 == r->len || r->s[r->pos + 1] == '\n'));
}

static int read_all(reader_t *r, size_t *n_columns)
{
    buf_t b;
    buf_init(&b);
    int rc = 0;
    *n_columns = 0;
    while (rc == 0 && r->pos < r->len) {
        if (at_blank_line(r)) {
            end_line(r);
            continue;
        }
        int line = r->line;
        size_t in_record = 0;
        for (;;) {
            int col = col_of(r, r->pos);
            if ((rc = read_field(r, &b)) || (rc = push(r, &b)))
                break;
            in_record++;
            if (*n_columns && in_record > *n_columns) {
                rc = fail(r, line, col, "this record has more fields than the header's %zu",
                          *n_columns);
                break;
            }
            if (r->pos < r->len && r->s[r->pos] == ',') {
                r->pos++;
                continue;
            }
            break;
        }
        if (rc)
            break;
        if (!*n_columns) {
            *n_columns = in_record;
        } else if (in_record < *n_columns) {
            rc = fail(r, r->line, col_of(r, r->pos),
                      "this record has %zu field%s, the header has %zu", in_record,
                      in_record == 1 ? "" : "s", *n_columns);
            break;
        }
        end_line(r);
    }
    buf_free(&b);
    return rc;
}

static int check_header(reader_t *r, size_t n_columns)
{
    if (n_columns == 0)
        return fail(r, 1, 1, "the file is empty: a CSV data file needs a header row naming "
                             "its columns");
    int col = 1;
    for (size_t i = 0; i < n_columns; i++) {
        const char *name = r->fields[i];
        if (!name[0])
            return fail(r, 1, col, "column %zu of the header has no name", i + 1);
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->fields[j], name) == 0)
                return fail(r, 1, col, "column '%s' is named twice in the header", name);
        col += (int)strlen(name) + 1; /* exact for unquoted headers, close for quoted ones */
    }
    return 0;
}

int csv_parse(const char *text, size_t len, csv_table_t *out, csv_error_t *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    reader_t r = {.s = text, .len = len, .line = 1, .err = err};
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        r.pos = r.line_start = 3;
    size_t n_columns = 0;
    int rc = read_all(&r, &n_columns);
    if (rc == 0)
        rc = check_header(&r, n_columns);
    if (rc) {
        for (size_t i = 0; i < r.n_fields; i++)
            free(r.fields[i]);
        free(r.fields);
        return -1;
    }
    out->n_columns = n_columns;
    out->n_rows = r.n_fields / n_columns - 1;
    out->columns = r.fields;
    out->cells = r.fields + n_columns;
    return 0;
}

void csv_free(csv_table_t *t)
{
    if (!t || !t->columns)
        return;
    for (size_t i = 0; i < t->n_columns * (t->n_rows + 1); i++)
        free(t->columns[i]);
    free(t->columns);
    memset(t, 0, sizeof *t);
}
