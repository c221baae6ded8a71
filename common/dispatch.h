/*
 * dispatch — how many users of each class run where, and how fast they spawn.
 *
 * dispatch_class_counts turns -u into per-class counts: fixed_count classes first (in file
 * order, as far as the total allows), the rest split by weight with the largest-remainder
 * rule, so every class is within one user of its exact share and the counts sum to -u.
 * dispatch_plan spreads each class over the workers so that every worker's total is within
 * one user of every other's. dispatch_rates splits -r in proportion to each worker's users.
 * Pure functions: the master's loop calls them whenever the set of workers changes.
 */
#ifndef HERD_DISPATCH_H
#define HERD_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scenario.h"

/* Whether users of the class can ever run: a fixed_count above 0, or no fixed_count and a
 * weight above 0 (a class --tags left without tasks has weight 0). */
bool dispatch_class_runs(const user_class_t *uc);

/* Keep only the classes named (every class when n is 0): the others get weight 0 and no
 * fixed_count, so they get no users. -1 with "unknown user class 'X' (the file has A, B, C)"
 * when a name is not a class of the file. */
int dispatch_select_classes(scenario_t *sc, char *const *names, size_t n, char *err,
                            size_t errlen);

/* -1 with a message saying what to change when no class can get a user (every class has
 * weight 0 or fixed_count 0, or was deselected). */
int dispatch_check_classes(const scenario_t *sc, char *err, size_t errlen);

/* out[c] for c < sc->n_classes. */
void dispatch_class_counts(const scenario_t *sc, uint32_t total_users, uint32_t *out);

/* out[w * n_classes + c]: users of class c on worker w. */
void dispatch_plan(const uint32_t *class_users, size_t n_classes, size_t n_workers,
                   uint32_t *out);

/* rates[w] = rate * users_w / total (0 for a worker without users); sums to rate. */
void dispatch_rates(double rate, const uint32_t *plan, size_t n_classes, size_t n_workers,
                    double *rates);

#endif
