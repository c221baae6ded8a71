#include "runplan.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vec.h"

int stages_parse(const char *spec, stage_t **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    char *copy = strdup(spec ? spec : "");
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t cap = 0;
    int rc = 0;
    for (char *save = NULL, *part = strtok_r(copy, ",", &save); part;
         part = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*part))
            part++;
        char *f[4] = {0};
        int k = 0;
        for (char *s2 = NULL, *x = strtok_r(part, ":", &s2); x && k < 4; x = strtok_r(NULL, ":", &s2))
            f[k++] = x;
        stage_t st = {0, 0, -1};
        long users;
        if (k < 2 || k > 3 || cli_parse_duration(f[0], &st.duration_s) < 0 ||
            st.duration_s <= 0 || cli_parse_long(f[1], &users) < 0 || users < 0 ||
            users > 10000000 ||
            (k == 3 && (cli_parse_double(f[2], &st.spawn_rate) < 0 || st.spawn_rate <= 0))) {
            snprintf(err, errlen,
                     "--stages: '%s' is not DURATION:USERS[:SPAWN_RATE] (e.g. 30s:50:10)", part);
            rc = -1;
            break;
        }
        st.users = (uint32_t)users;
        if (VEC_RESERVE(*out, cap, *n + 1) < 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        (*out)[(*n)++] = st;
    }
    if (rc == 0 && *n == 0) {
        snprintf(err, errlen, "--stages: no stage given (e.g. 30s:50:10,1m:100)");
        rc = -1;
    }
    free(copy);
    if (rc < 0) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static const struct {
    const char *name;
    th_metric_t metric;
} metrics[] = {
    {"avg", TH_AVG}, {"med", TH_MEDIAN}, {"median", TH_MEDIAN}, {"min", TH_MIN},
    {"max", TH_MAX}, {"fail_ratio", TH_FAIL_RATIO}, {"rps", TH_RPS},
    {"requests", TH_REQUESTS}, {"failures", TH_FAILURES},
};

static bool is_time(th_metric_t m)
{
    return m == TH_PERCENTILE || m == TH_AVG || m == TH_MEDIAN || m == TH_MIN || m == TH_MAX;
}

int threshold_parse(const char *text, threshold_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *p = text ? text : "";
    while (isspace((unsigned char)*p))
        p++;
    snprintf(out->text, sizeof out->text, "%s", p);
    size_t tl = strlen(out->text);
    while (tl && isspace((unsigned char)out->text[tl - 1]))
        out->text[--tl] = '\0';
    p = out->text;
#define BAD(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)
    const char *m = p;
    while (*p && (isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '(' || *p == ')'))
        p++;
    size_t ml = (size_t)(p - m);
    bool found = false;
    if (ml >= 2 && (m[0] == 'p' || m[0] == 'P')) {
        char num[32];
        const char *a = m + 1, *b = m + ml;
        if (*a == '(' && b[-1] == ')') {
            a++;
            b--;
        }
        if ((size_t)(b - a) < sizeof num && b > a) {
            memcpy(num, a, (size_t)(b - a));
            num[b - a] = '\0';
            double pv;
            if (cli_parse_double(num, &pv) == 0 && pv > 0 && pv <= 100) {
                out->metric = TH_PERCENTILE;
                out->percentile = pv;
                found = true;
            }
        }
    }
    for (size_t i = 0; !found && i < sizeof metrics / sizeof metrics[0]; i++)
        if (strlen(metrics[i].name) == ml && strncmp(m, metrics[i].name, ml) == 0) {
            out->metric = metrics[i].metric;
            found = true;
        }
    if (!found)
        BAD("threshold '%s': unknown metric '%.*s' (p95, p(99.9), avg, median, min, max, "
            "fail_ratio, rps, requests, failures)", out->text, (int)ml, m);
    while (isspace((unsigned char)*p))
        p++;
    if (p[0] == '<' && p[1] == '=') { out->op = TH_LE; p += 2; }
    else if (p[0] == '>' && p[1] == '=') { out->op = TH_GE; p += 2; }
    else if (p[0] == '=' && p[1] == '=') { out->op = TH_EQ; p += 2; }
    else if (p[0] == '<') { out->op = TH_LT; p++; }
    else if (p[0] == '>') { out->op = TH_GT; p++; }
    else
        BAD("threshold '%s': expected <, <=, >, >= or == after the metric", out->text);
    while (isspace((unsigned char)*p))
        p++;
    char *end;
    double v = strtod(p, &end);
    if (end == p || !isfinite(v))
        BAD("threshold '%s': expected a number after the operator", out->text);
    while (isspace((unsigned char)*end))
        end++;
    double scale = 1;
    if (is_time(out->metric)) {
        if (!strcmp(end, "ms") || !*end) scale = 1;
        else if (!strcmp(end, "s")) scale = 1000;
        else if (!strcmp(end, "us")) scale = 0.001;
        else BAD("threshold '%s': time unit must be ms, s or us, got '%s'", out->text, end);
    } else if (out->metric == TH_FAIL_RATIO && !strcmp(end, "%")) {
        scale = 0.01;
    } else if (*end) {
        BAD("threshold '%s': unexpected '%s' after the number", out->text, end);
    }
    out->value = v * scale;
    return 0;
#undef BAD
}

const char *threshold_unit(const threshold_t *t)
{
    if (is_time(t->metric))
        return "ms";
    if (t->metric == TH_RPS)
        return "req/s";
    return "";
}

bool threshold_check(const threshold_t *t, const th_figures_t *f, double *observed)
{
    double x = 0;
    switch (t->metric) {
    case TH_PERCENTILE: x = f->percentile_ms(t->percentile, f->ctx); break;
    case TH_MEDIAN: x = f->percentile_ms(50, f->ctx); break;
    case TH_AVG: x = f->avg_ms; break;
    case TH_MIN: x = f->min_ms; break;
    case TH_MAX: x = f->max_ms; break;
    case TH_FAIL_RATIO: x = f->requests > 0 ? f->failures / f->requests : 0; break;
    case TH_RPS: x = f->duration_s > 0 ? f->requests / f->duration_s : 0; break;
    case TH_REQUESTS: x = f->requests; break;
    case TH_FAILURES: x = f->failures; break;
    }
    *observed = x;
    switch (t->op) {
    case TH_LT: return x < t->value;
    case TH_LE: return x <= t->value;
    case TH_GT: return x > t->value;
    case TH_GE: return x >= t->value;
    case TH_EQ: return fabs(x - t->value) < 1e-9;
    }
    return false;
}
