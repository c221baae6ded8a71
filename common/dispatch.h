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

#include <stddef.h>
#include <stdint.h>

#include "scenario.h"

/* out[c] for c < sc->n_classes. */
void dispatch_class_counts(const scenario_t *sc, uint32_t total_users, uint32_t *out);

/* out[w * n_classes + c]: users of class c on worker w. */
void dispatch_plan(const uint32_t *class_users, size_t n_classes, size_t n_workers,
                   uint32_t *out);

/* rates[w] = rate * users_w / total (0 for a worker without users); sums to rate. */
void dispatch_rates(double rate, const uint32_t *plan, size_t n_classes, size_t n_workers,
                    double *rates);

#endif
