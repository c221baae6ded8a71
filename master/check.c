/*
 * check — herd-master --check; see check.h.
 */
#include "check.h"

#include <inttypes.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/curve.h"
#include "../common/dispatch.h"
#include "../common/runplan.h"
#include "outputs.h"
#include "web_listen.h"

/* The web UI's test of a PEM file, as web_start reads it. */
static int check_pem(const char *option, const char *path, const char *what, char *err,
                     size_t errlen)
{
    char *text = web_read_pem(option, path, what, err, errlen);
    free(text);
    return text ? 0 : -1;
}

/* Everything a run checks after main's checks and before it starts: -1 with err.
 * *cli_stages: the parsed --stages (NULL without), malloc'ed, the caller's to free. */
static int check_rest(const master_options_t *o, const scenario_t *sc, stage_t **cli_stages,
                      size_t *n_cli_stages, char *err, size_t errlen)
{
    *cli_stages = NULL;
    *n_cli_stages = 0;
    if (o->stages && stages_parse(o->stages, cli_stages, n_cli_stages, err, errlen) < 0)
        return -1;
    outputs_t out;   /* parses --threshold as the run does; holds no file */
    int rc = outputs_init(&out, sc, &o->thresholds, err, errlen);
    outputs_free(&out);
    if (rc == 0 && o->tls_cert && !o->headless) {   /* a headless run serves no page */
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(err, errlen, "--tls-cert: this libmicrohttpd was built without TLS");
            rc = -1;
        } else if (check_pem("--tls-cert", o->tls_cert, "CERTIFICATE", err, errlen) < 0 ||
                   check_pem("--tls-key", o->tls_key, "PRIVATE KEY", err, errlen) < 0) {
            rc = -1;
        }
    }
    if (rc < 0) {
        free(*cli_stages);
        *cli_stages = NULL;
    }
    return rc;
}

static void print_classes(FILE *out, const master_options_t *o, const scenario_t *sc,
                          uint32_t users)
{
    uint32_t *counts = calloc(sc->n_classes ? sc->n_classes : 1, sizeof *counts);
    if (counts)
        dispatch_class_counts(sc, users, counts);
    size_t width = 0;
    for (size_t c = 0; c < sc->n_classes; c++)
        if (dispatch_class_runs(&sc->classes[c]) && strlen(sc->classes[c].name) > width)
            width = strlen(sc->classes[c].name);
    for (size_t c = 0; c < sc->n_classes; c++) {
        const user_class_t *uc = &sc->classes[c];
        if (!dispatch_class_runs(uc))
            continue;
        fprintf(out, "  %-*s  ", (int)width, uc->name);
        if (counts)
            fprintf(out, "%6u user%s  ", counts[c], counts[c] == 1 ? " " : "s");
        fprintf(out, "%s\n", scenario_class_host(sc, uc, o->host));
    }
    free(counts);
}

/* The `data:` sets, and for a unique one whether its rows cover the users that take one. */
static void print_data(FILE *out, const scenario_t *sc, uint32_t users)
{
    static const char *const modes[] = {
        [DATA_SEQUENTIAL] = "sequential", [DATA_UNIQUE] = "unique", [DATA_RANDOM] = "random",
    };
    if (!sc->n_data)
        return;
    uint32_t *counts = calloc(sc->n_classes ? sc->n_classes : 1, sizeof *counts);
    if (counts)
        dispatch_class_counts(sc, users, counts);
    fprintf(out, "Data sets:\n");
    for (size_t s = 0; s < sc->n_data; s++) {
        const data_set_t *ds = &sc->data[s];
        fprintf(out, "  %s: %s, %zu row%s (%s)", ds->name, modes[ds->mode], ds->n_rows,
                ds->n_rows == 1 ? "" : "s", ds->file);
        uint64_t need = 0;
        for (size_t c = 0; counts && c < sc->n_classes; c++)
            if (scenario_class_uses_data(&sc->classes[c], s))
                need += counts[c];
        if (ds->mode == DATA_UNIQUE && need > ds->n_rows)
            fprintf(out, ": %" PRIu64 " of the %" PRIu64 " users that take one will find none "
                    "and not start", need - ds->n_rows, need);
        fprintf(out, "\n");
    }
    free(counts);
}

static void print_outputs(FILE *out, const master_options_t *o)
{
    bool any = false;
    if (o->csv_prefix) {
        fprintf(out, "Output: --csv %s_stats.csv, %s_stats_history.csv, %s_failures.csv, "
                "%s_exceptions.csv\n", o->csv_prefix, o->csv_prefix, o->csv_prefix,
                o->csv_prefix);
        any = true;
    }
    const char *const options[] = {"--json", "--html", "--logfile"};
    const char *const paths[] = {o->json_path, o->html_path, o->logfile};
    for (size_t i = 0; i < 3; i++)
        if (paths[i]) {
            fprintf(out, "Output: %s %s\n", options[i], paths[i]);
            any = true;
        }
    if (!any)
        fprintf(out, "Output: the console only\n");
}

int check_print(FILE *out, const master_options_t *o, const scenario_t *sc, char *err,
                size_t errlen)
{
    stage_t *cli_stages;
    size_t n_cli;
    if (check_rest(o, sc, &cli_stages, &n_cli, err, errlen) < 0)
        return -1;
    const stage_t *stages = o->stages ? cli_stages : sc->stages;
    size_t n_stages = o->stages ? n_cli : sc->n_stages;

    fprintf(out, "Scenario: %s\n", o->file);
    if (sc->description)
        fprintf(out, "Description: %s\n", sc->description);
    uint32_t users = (uint32_t)o->users;
    double stages_s = 0;
    if (n_stages) {
        users = 0;
        for (size_t i = 0; i < n_stages; i++) {
            users = stages[i].users > users ? stages[i].users : users;
            stages_s += stages[i].duration_s;
        }
        fprintf(out, "User classes (at the stages' peak of %u user%s):\n", users,
                users == 1 ? "" : "s");
    } else {
        fprintf(out, "User classes (%u user%s, -u):\n", users, users == 1 ? "" : "s");
    }
    print_classes(out, o, sc, users);
    print_data(out, sc, users);
    if (n_stages) {
        fprintf(out, "Stages (%s):\n", o->stages ? "--stages" : "the file's stages:");
        for (size_t i = 0; i < n_stages; i++) {
            fprintf(out, "  %zu. %g s: to %u users at ", i + 1, stages[i].duration_s,
                    stages[i].users);
            if (stages[i].spawn_rate < 0)
                fprintf(out, "%g users/s (-r)\n", o->spawn_rate);
            else
                fprintf(out, "%g users/s\n", stages[i].spawn_rate);
        }
    } else {
        fprintf(out, "Spawn rate: %g users/s\n", o->spawn_rate);
    }
    if (n_stages && o->run_time_s > 0 && o->run_time_s < stages_s)
        fprintf(out, "Run time: %g s (-t; the stages last %g s)\n", o->run_time_s, stages_s);
    else if (n_stages)
        fprintf(out, "Run time: %g s (the stages)\n", stages_s);
    else if (o->run_time_s > 0)
        fprintf(out, "Run time: %g s\n", o->run_time_s);
    else
        fprintf(out, "Run time: no limit (until Ctrl-C%s)\n", o->headless ? "" : " or the web UI's Stop");
    if (o->stop_timeout_s > 0)
        fprintf(out, "Stop timeout: %g s\n", o->stop_timeout_s);

    if (o->expect_workers > 0) {
        fprintf(out, "Workers: %ld herd-worker process%s expected on %s:%ld", o->expect_workers,
                o->expect_workers == 1 ? "" : "es", o->bind_host, o->bind_port);
        if (o->expect_workers_max_wait_s > 0)
            fprintf(out, " (giving up after %g s)\n", o->expect_workers_max_wait_s);
        else
            fprintf(out, " (waiting for them as long as it takes)\n");
    } else {
        fprintf(out, "Workers: %ld local herd-worker process%s", o->local_workers,
                o->local_workers == 1 ? "" : "es");
        if (o->worker_threads > 0)
            fprintf(out, " of %ld thread%s", o->worker_threads, o->worker_threads == 1 ? "" : "s");
        if (o->bind_port_given)
            fprintf(out, ", on %s:%ld\n", o->bind_host, o->bind_port);
        else
            fprintf(out, ", on a free loopback port\n");
    }

    if (o->curve_key) {
        curve_keys_t k;
        bool loose;
        long n;
        if (curve_load_secret(o->curve_key, &k, &loose, err, errlen) < 0 ||
            (n = curve_count_authorized(o->curve_authorized, err, errlen)) < 0)
            return -1;
        fprintf(out, "Workers' channel: CurveZMQ, master key %s, %ld authorized worker key%s "
                     "in %s%s\n", k.public_txt, n, n == 1 ? "" : "s", o->curve_authorized,
                loose ? " (the secret key file may be read by others: chmod 600 it)" : "");
    } else if (o->expect_workers > 0 && !master_bind_is_loopback(o->bind_host)) {
        fprintf(out, "Workers' channel: not secured (no --curve-key): %s\n",
                MASTER_INSECURE_WHY);
    }

    if (o->headless) {
        fprintf(out, "Web UI: none (--headless)\n");
    } else {
        const char *scheme = o->tls_cert ? "https" : "http";
        const char *h = o->web_host;
        bool all = !*h || !strcmp(h, "*") || !strcmp(h, "::") || !strcmp(h, "0.0.0.0");
        bool v6 = !all && strchr(h, ':') != NULL;
        fprintf(out, "Web UI: %s://%s%s%s:%ld%s%s%s\n", scheme, v6 ? "[" : "",
                all ? "127.0.0.1" : h, v6 ? "]" : "", o->web_port,
                all ? " (listening on every interface)" : "",
                o->web_auth ? ", with --web-auth" : "",
                o->autostart ? ", starting the test at once (--autostart)"
                             : ", the test starts from the page");
    }
    if (o->autoquit_s > 0)
        fprintf(out, "Exit: %g s after the run (--autoquit)\n", o->autoquit_s);

    print_outputs(out, o);
    if (sc->n_thresholds || o->thresholds.n) {
        fprintf(out, "Thresholds:");
        for (size_t i = 0; i < sc->n_thresholds; i++)
            fprintf(out, " %s", sc->thresholds[i].text);
        for (size_t i = 0; i < o->thresholds.n; i++)
            fprintf(out, " %s", o->thresholds.items[i]);
        fprintf(out, "\n");
    }
    fprintf(out, "The command line is good (--check: nothing was started).\n");
    free(cli_stages);
    return 0;
}
