/*
 * command — what the web UI asks of the run (start, edit, stop, reset), applied by the
 * master's loop: the form's values become a test's parameters the way the command line's
 * do (a host is checked and its scheme put in lower case, stages parsed, tags checked
 * against the scenario), empty values take the command line's, and the run decides whether
 * the state allows it. The answer goes back into the command (status and message).
 *
 * Loop thread only; no socket, so it is tested as the run is.
 */
#ifndef HERD_COMMAND_H
#define HERD_COMMAND_H

#include "../common/scenario.h"
#include "options.h"
#include "results.h"
#include "run.h"
#include "web.h"

typedef struct command_ctx {
    run_t *run;
    results_t *results;
    const master_options_t *o;
    const char *scenario_text;       /* the file, to check a form's tags against */
    const stage_t *stages;           /* the command line's or the file's; NULL: none */
    size_t n_stages;
} command_ctx_t;

/* Apply c: on success status 200 and an empty message; else 400 (a bad value, named) or
 * 409 (the state does not allow it) with one line. */
void command_apply(const command_ctx_t *ctx, web_cmd_t *c, double now);

#endif
