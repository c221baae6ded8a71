/*
 * fuzz_csv — a `data:` CSV file (common/csv.h) as anyone may write it: parsed, and on
 * success every cell read; on failure the position must lie inside the text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    csv_table_t t;
    csv_error_t e;
    if (csv_parse((const char *)data, size, &t, &e) != 0) {
        if (e.line < 1 || e.col < 1 || !memchr(e.message, '\0', sizeof e.message))
            abort();
        return 0;
    }
    if (t.n_columns == 0)
        abort();
    size_t total = 0;
    for (size_t i = 0; i < t.n_columns; i++)
        total += strlen(t.columns[i]);
    for (size_t i = 0; i < t.n_columns * t.n_rows; i++)
        total += strlen(t.cells[i]);
    if (total > size)
        abort();
    csv_free(&t);
    return 0;
}
