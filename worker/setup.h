/*
 * setup — the scenario's `setup:` steps, run once per worker before any user starts, not
 * counted in any statistics: their saves become globals every user reads.
 *
 * The steps go through the same client and transports as users' requests (client.h), on a
 * private loop of the calling thread, one after the other, blocking until each is done.
 */
#ifndef HERD_SETUP_H
#define HERD_SETUP_H

#include <jansson.h>
#include <stddef.h>

#include "../common/scenario.h"

/* Run sc's setup steps. host_override: -H or NULL; worker_id: for templates. globals
 * (sc->n_globals slots, vars already filled by the caller) receive the saves (new
 * references). Returns -1 with "setup step METHOD NAME failed: <message>" on the first
 * failure, or another one-line reason when the run could not start. */
int setup_run(const scenario_t *sc, const char *host_override, const char *worker_id,
              json_t **globals, char *err, size_t errlen);

#endif
