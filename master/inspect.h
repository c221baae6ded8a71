/*
 * inspect — what a scenario would run, printed without running anything: -l/--list (the
 * file's user classes and their tasks, as Locust's "Available Users:") and
 * --show-task-ratio / --show-task-ratio-json (Locust's tables: each class's share of the
 * users, each task's share of its class and of every task run).
 *
 * Shares follow what herd would do: the classes that can get users (dispatch_class_runs,
 * after class names and --tags), their users as dispatch_class_counts gives them for -u
 * (without -u: in proportion to weight, or fixed_count), the enabled tasks by weight (a
 * sequential class runs each once a round). Tasks of one class with the same name are one.
 */
#ifndef HERD_INSPECT_H
#define HERD_INSPECT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/scenario.h"

void inspect_list(FILE *out, const scenario_t *sc);

/* users: -u when it was given, 0 for shares by weight. json: Locust's
 * --show-task-ratio-json layout ({"per_class": ..., "total": ...}, indent 4). -1 on OOM. */
int inspect_task_ratio(FILE *out, const scenario_t *sc, uint32_t users, bool json);

#endif
