/*
 * csv — a CSV file (RFC 4180) read whole into a table of strings, for the scenario's `data:`
 * sets (scenarios/README.md, "Data files").
 *
 * The first record is the header: it names the columns, each name non-empty and distinct.
 * Fields are separated by commas, records by CRLF or LF; a field in double quotes may hold
 * commas, line breaks and doubled quotes (""). Every record has as many fields as the header.
 * Blank lines are skipped; a UTF-8 byte order mark at the start is skipped.
 *
 * Written here rather than taken from a library: Debian's libcsv (libcsv-dev) parses but
 * reports no line and column, which is what a user needs to fix a file, and the format is
 * small enough to read in one screen.
 *
 * Ownership: the table owns its strings; csv_free releases them.
 */
#ifndef HERD_CSV_H
#define HERD_CSV_H

#include <stddef.h>

typedef struct csv_table {
    char **columns;    /* n_columns header names; owned */
    size_t n_columns;
    char **cells;      /* n_rows * n_columns values, row after row (row r, column c at
                          r * n_columns + c); owned */
    size_t n_rows;     /* records after the header */
} csv_table_t;

typedef struct csv_error {
    int line, col;     /* from 1; col counts bytes */
    char message[200];
} csv_error_t;

/* Parse len bytes of text. 0, or -1 with err filled (and *out left empty). */
int csv_parse(const char *text, size_t len, csv_table_t *out, csv_error_t *err);
void csv_free(csv_table_t *t);

#endif
