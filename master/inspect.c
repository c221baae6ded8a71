/*
 * inspect — -l and --show-task-ratio[-json]; see inspect.h. The text and JSON layouts are
 * Locust's (locust/user/inspectuser.py), so scripts that read Locust's output read ours.
 */
#include "inspect.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../common/dispatch.h"
#include "report.h"

void inspect_list(FILE *out, const scenario_t *sc)
{
    fprintf(out, "Available Users:\n");
    for (size_t c = 0; c < sc->n_classes; c++) {
        const user_class_t *uc = &sc->classes[c];
        fprintf(out, "    %s\n", uc->name);
        for (size_t t = 0; t < uc->n_tasks; t++) {
            const task_t *task = &uc->tasks[t];
            fprintf(out, "        %s", task->name);
            for (size_t g = 0; g < task->n_tags; g++)
                fprintf(out, "%s%s", g ? ", " : "  [tags: ", task->tags[g]);
            fprintf(out, "%s\n", task->n_tags ? "]" : "");
        }
    }
}

/* One row of the ratio tables: a class, or a task of the class before it. */
typedef struct ratio_row {
    const char *name;
    double ratio;        /* share of the users (class) or of the class's task runs (task) */
    double total;        /* share of every task run (tasks); the class's share (classes) */
    bool is_class;
} ratio_row_t;

static bool class_shown(const user_class_t *uc)
{
    if (!dispatch_class_runs(uc))
        return false;
    for (size_t t = 0; t < uc->n_tasks; t++)
        if (uc->tasks[t].enabled)
            return true;
    return false;
}

/* The rows, classes in file order each followed by its tasks; *n set. NULL on OOM. */
static ratio_row_t *ratio_rows(const scenario_t *sc, uint32_t users, size_t *n)
{
    size_t cap = 0;
    for (size_t c = 0; c < sc->n_classes; c++)
        cap += 1 + sc->classes[c].n_tasks;
    ratio_row_t *rows = calloc(cap ? cap : 1, sizeof *rows);
    double *share = calloc(sc->n_classes ? sc->n_classes : 1, sizeof *share);
    uint32_t *counts = calloc(sc->n_classes ? sc->n_classes : 1, sizeof *counts);
    if (!rows || !share || !counts) {
        free(rows);
        free(share);
        free(counts);
        return NULL;
    }
    if (users > 0)
        dispatch_class_counts(sc, users, counts);
    double user_count = 0;
    for (size_t c = 0; c < sc->n_classes; c++) {
        const user_class_t *uc = &sc->classes[c];
        if (!class_shown(uc))
            continue;
        share[c] = users > 0 ? (double)counts[c]
                   : uc->fixed_count >= 0 ? (double)uc->fixed_count : uc->weight;
        user_count += share[c];
    }
    if (user_count <= 0)
        user_count = 1;

    size_t k = 0;
    for (size_t c = 0; c < sc->n_classes; c++) {
        const user_class_t *uc = &sc->classes[c];
        if (!class_shown(uc))
            continue;
        double class_ratio = share[c] / user_count;
        rows[k++] = (ratio_row_t){.name = uc->name, .ratio = class_ratio, .total = class_ratio,
                                  .is_class = true};
        size_t first = k;
        double sum = 0;
        for (size_t t = 0; t < uc->n_tasks; t++) {
            const task_t *task = &uc->tasks[t];
            if (!task->enabled)
                continue;
            double w = uc->sequential ? 1.0 : task->weight;
            sum += w;
            size_t j = first;
            while (j < k && strcmp(rows[j].name, task->name) != 0)
                j++;
            if (j == k)
                rows[k++] = (ratio_row_t){.name = task->name};
            rows[j].ratio += w;   /* the task's weight until divided below */
        }
        for (size_t j = first; j < k; j++) {
            double w = rows[j].ratio;
            /* as Locust: occurrences * parent ratio / number of tasks */
            rows[j].ratio = w * 1.0 / sum;
            rows[j].total = w * class_ratio / sum;
        }
    }
    free(share);
    free(counts);
    *n = k;
    return rows;
}

/* Locust's _print_task_ratio: " %-10s %-50s" of the percentage ("%-6.1f") and the name, each
 * indented two spaces a level. */
static void print_row(FILE *out, int level, double ratio, const char *name)
{
    const char *pad = level ? "  " : "";
    char pct[64], left[80];
    snprintf(pct, sizeof pct, "%-6.1f", ratio * 100);
    snprintf(left, sizeof left, "%s%s", pad, pct);
    fprintf(out, " %-10s %s%-*s\n", left, pad, 50 - (int)strlen(pad), name);
}

static void print_json_string(FILE *out, const char *s)
{
    json_t *j = json_string(s);
    char *text = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;
    fputs(text ? text : "\"\"", out);
    free(text);
    json_decref(j);
}

/* One of Locust's two dicts ("per_class" or "total") at json.dumps(indent=4) layout. */
static void print_json_block(FILE *out, const ratio_row_t *rows, size_t n, bool total)
{
    char num[64];
    if (n == 0) {
        fputs("{}", out);
        return;
    }
    fputs("{\n", out);
    for (size_t i = 0; i < n;) {
        const ratio_row_t *cls = &rows[i++];
        fputs("        ", out);
        print_json_string(out, cls->name);
        report_format_pyfloat(num, sizeof num, cls->ratio);
        fprintf(out, ": {\n            \"ratio\": %s,\n            \"tasks\": {", num);
        bool any = false;
        for (; i < n && !rows[i].is_class; i++) {
            fputs(any ? ",\n                " : "\n                ", out);
            print_json_string(out, rows[i].name);
            report_format_pyfloat(num, sizeof num, total ? rows[i].total : rows[i].ratio);
            fprintf(out, ": {\n                    \"ratio\": %s\n                }", num);
            any = true;
        }
        fputs(any ? "\n            }\n        }" : "}\n        }", out);
        fputs(i < n ? ",\n" : "\n", out);
    }
    fputs("    }", out);
}

int inspect_task_ratio(FILE *out, const scenario_t *sc, uint32_t users, bool json)
{
    size_t n = 0;
    ratio_row_t *rows = ratio_rows(sc, users, &n);
    if (!rows)
        return -1;
    if (json) {
        fputs("{\n    \"per_class\": ", out);
        print_json_block(out, rows, n, false);
        fputs(",\n    \"total\": ", out);
        print_json_block(out, rows, n, true);
        fputs("\n}\n", out);
    } else {
        const char *titles[2] = {"\n Task ratio per User class\n", "\n Total task ratio\n"};
        for (int pass = 0; pass < 2; pass++) {
            fputs(titles[pass], out);
            for (int i = 0; i < 80; i++)
                fputc('-', out);
            fputc('\n', out);
            for (size_t i = 0; i < n; i++)
                print_row(out, rows[i].is_class ? 0 : 1,
                          rows[i].is_class ? rows[i].ratio : pass ? rows[i].total : rows[i].ratio,
                          rows[i].name);
        }
    }
    free(rows);
    return 0;
}
