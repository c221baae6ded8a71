/*
 * check — herd-master --check: what main has not checked yet of a real run's setup (--stages,
 * --threshold, --tls-cert/--tls-key), then a plain-text account of what the command line
 * would run: the scenario, each class that gets users with its host and its share of them,
 * the stages, spawn rate, run time, the workers, the web UI or headless, the output files.
 *
 * It starts nothing: no socket is bound, no worker started, no file created or opened for
 * writing. main has already parsed the options, checked the output paths, loaded the
 * scenario and chosen the classes (the same calls as a run).
 */
#ifndef HERD_CHECK_H
#define HERD_CHECK_H

#include <stddef.h>
#include <stdio.h>

#include "../common/scenario.h"
#include "options.h"

/* 0 after printing to out, -1 with a one-line err (bad usage: exit 2). */
int check_print(FILE *out, const master_options_t *o, const scenario_t *sc, char *err,
                size_t errlen);

#endif
