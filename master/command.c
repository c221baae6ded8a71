/*
 * command — the web UI's commands applied to the run; see command.h.
 */
#include "command.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/dispatch.h"
#include "../common/log.h"
#include "../common/runplan.h"

#define MAX_FORM_TAGS 64

/* The form's words (commas and/or spaces) into buf's storage: words[i] point into buf. */
static size_t split_words(char *buf, char **words, size_t max)
{
    size_t n = 0;
    for (char *tok = strtok(buf, ", \t"); tok && n < max; tok = strtok(NULL, ", \t"))
        words[n++] = tok;
    return n;
}

/* The tags leave at least one class with tasks, as the command line's must. */
static int check_tags(const command_ctx_t *ctx, const run_params_t *p, char *err, size_t errlen)
{
    if (!p->n_tags && !p->n_exclude_tags)
        return 0;
    const master_options_t *o = ctx->o;
    const char *text = ctx->scenario_text;
    scenario_t *sc = NULL;
    char why[300];
    int rc = -1;
    char dir[4096];
    scenario_dir(o->file, dir, sizeof dir);
    if (scenario_load(text, strlen(text), o->file, &(scenario_source_t){ .dir = dir }, &sc, why,
                      sizeof why) == 0 &&
        dispatch_select_classes(sc, o->user_classes.items, o->user_classes.n, why,
                                sizeof why) == 0 &&
        scenario_filter_tags(sc, p->tags, p->n_tags, p->exclude_tags, p->n_exclude_tags, why,
                             sizeof why) == 0 &&
        dispatch_check_classes(sc, why, sizeof why) == 0)
        rc = 0;
    else
        snprintf(err, errlen, "tags: %s", why);
    scenario_free(sc);
    return rc;
}

/* A form's host, as -H is checked; normalized in place. */
static int check_host(char *host, char *err, size_t errlen)
{
    const char *why = master_host_problem(host);
    if (why) {
        snprintf(err, errlen, "host: wants a base URL like http://127.0.0.1:8080, got '%.200s': %s",
                 host, why);
        return -1;
    }
    master_host_normalize(host);
    return 0;
}

static void start(const command_ctx_t *ctx, web_cmd_t *c, double now)
{
    const master_options_t *o = ctx->o;
    run_t *r = ctx->run;
    char err[400];
    run_params_t p = {
        .users = (uint32_t)c->users,
        .spawn_rate = c->spawn_rate,
        .run_time_s = c->run_time_s > 0 ? c->run_time_s : o->run_time_s,
        .host = o->host,
        .stages = ctx->stages,
        .n_stages = ctx->n_stages,
        .tags = o->tags.items,
        .n_tags = o->tags.n,
        .exclude_tags = o->exclude_tags.items,
        .n_exclude_tags = o->exclude_tags.n,
    };
    stage_t *stages = NULL;
    char *tags[MAX_FORM_TAGS], *exclude[MAX_FORM_TAGS];
    c->status = 400;
    if (c->users < 1) {
        snprintf(c->message, sizeof c->message, "user_count: a test needs 1 user or more");
        return;
    }
    if (c->host[0]) {
        if (check_host(c->host, err, sizeof err) < 0)
            goto refuse;
        p.host = c->host;
    }
    if (c->stages[0]) {
        if (stages_parse(c->stages, &stages, &p.n_stages, err, sizeof err) < 0) {
            snprintf(c->message, sizeof c->message, "stages: %s", err);
            return;
        }
        p.stages = stages;
    }
    if (c->tags[0]) {
        p.tags = tags;
        p.n_tags = split_words(c->tags, tags, MAX_FORM_TAGS);
    }
    if (c->exclude_tags[0]) {
        p.exclude_tags = exclude;
        p.n_exclude_tags = split_words(c->exclude_tags, exclude, MAX_FORM_TAGS);
    }
    if (check_tags(ctx, &p, err, sizeof err) < 0)
        goto refuse;
    if (!p.host)
        for (size_t k = 0; k < r->cfg.sc->n_classes; k++)
            if (dispatch_class_runs(&r->cfg.sc->classes[k]) &&
                !scenario_class_host(r->cfg.sc, &r->cfg.sc->classes[k], NULL)) {
                snprintf(err, sizeof err, "host: user class '%s' has no host: give one",
                         r->cfg.sc->classes[k].name);
                goto refuse;
            }
    if (run_start(r, &p, now, err, sizeof err) < 0) {
        c->status = 409;
        goto refuse;
    }
    results_new_test(ctx->results);
    c->status = 200;
    free(stages);
    return;
refuse:
    snprintf(c->message, sizeof c->message, "%s", err);
    free(stages);
}

void command_apply(const command_ctx_t *ctx, web_cmd_t *c, double now)
{
    run_t *r = ctx->run;
    char err[512] = "";
    int rc = -1;
    c->message[0] = '\0';
    switch (c->kind) {
    case WEB_CMD_START:
        start(ctx, c, now);
        if (c->status != 200)
            log_warn("Start from the web UI refused: %s", c->message);
        return;
    case WEB_CMD_EDIT: {
        double rate = c->spawn_rate > 0 ? c->spawn_rate : r->p.spawn_rate;
        rc = run_edit(r, (uint32_t)c->users, rate, now, err, sizeof err);
        break;
    }
    case WEB_CMD_STOP:
        rc = run_stop(r, now, err, sizeof err);
        break;
    case WEB_CMD_RESET:
        rc = run_reset_stats(r, now, err, sizeof err);
        break;
    }
    c->status = rc == 0 ? 200 : 409;
    snprintf(c->message, sizeof c->message, "%s", rc == 0 ? "" : err);
}
