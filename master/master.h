/*
 * master — herd-master's event loop: one ROUTER socket and the local worker processes
 * around the run (master/run.h: registry, dispatch, stop protocol, merged statistics) and
 * its results (master/results.h: tables, files, exit code). A single thread owns all of
 * it; nothing here is shared.
 */
#ifndef HERD_MASTER_H
#define HERD_MASTER_H

#include <signal.h>

#include "../common/scenario.h"
#include "options.h"

/* Run the whole job described by the options and the loaded scenario. `scenario_text` (a
 * C string) is shipped to workers. Returns the process exit code; err gets a one-line reason
 * for errors that prevented a run (exit 1). */
int master_run(const master_options_t *o, scenario_t *sc, const char *scenario_text,
               volatile sig_atomic_t *interrupted, char *err, size_t errlen);

#endif
