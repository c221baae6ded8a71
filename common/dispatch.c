#include "dispatch.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

bool dispatch_class_runs(const user_class_t *uc)
{
    return uc->fixed_count > 0 || (uc->fixed_count < 0 && uc->weight > 0);
}

/* "A, B, C" into out, shortened with ", ..." when it does not fit. */
static void class_names(const scenario_t *sc, char *out, size_t len)
{
    size_t at = 0;
    out[0] = '\0';
    for (size_t c = 0; c < sc->n_classes && at < len; c++) {
        int w = snprintf(out + at, len - at, "%s%s", c ? ", " : "", sc->classes[c].name);
        if (w < 0 || (size_t)w >= len - at) {
            snprintf(out + (at < len - 6 ? at : len - 6), 6, ", ...");
            return;
        }
        at += (size_t)w;
    }
}

int dispatch_select_classes(scenario_t *sc, char *const *names, size_t n, char *err,
                            size_t errlen)
{
    if (n == 0)
        return 0;
    bool keep[sc->n_classes ? sc->n_classes : 1];
    memset(keep, 0, sizeof keep);
    for (size_t i = 0; i < n; i++) {
        size_t c = 0;
        while (c < sc->n_classes && strcmp(sc->classes[c].name, names[i]) != 0)
            c++;
        if (c == sc->n_classes) {
            char all[512];
            class_names(sc, all, sizeof all);
            snprintf(err, errlen, "unknown user class '%s' (the file has %s)", names[i], all);
            return -1;
        }
        keep[c] = true;
    }
    for (size_t c = 0; c < sc->n_classes; c++) {
        if (!keep[c]) {
            sc->classes[c].weight = 0;
            sc->classes[c].fixed_count = -1;
        }
    }
    return 0;
}

int dispatch_check_classes(const scenario_t *sc, char *err, size_t errlen)
{
    for (size_t c = 0; c < sc->n_classes; c++)
        if (dispatch_class_runs(&sc->classes[c]))
            return 0;
    snprintf(err, errlen, "%s: no user would run: every user class to run has weight 0 or "
             "fixed_count 0 (give one a weight above 0, or a fixed_count above 0)",
             sc->file ? sc->file : "the scenario");
    return -1;
}

void dispatch_class_counts(const scenario_t *sc, uint32_t total, uint32_t *out)
{
    size_t n = sc->n_classes;
    uint32_t left = total;
    double weight_sum = 0;
    for (size_t c = 0; c < n; c++) {
        out[c] = 0;
        const user_class_t *uc = &sc->classes[c];
        if (uc->fixed_count >= 0) {
            uint32_t k = (uint32_t)uc->fixed_count < left ? (uint32_t)uc->fixed_count : left;
            out[c] = k;
            left -= k;
        } else {
            weight_sum += uc->weight;
        }
    }
    if (left == 0 || weight_sum <= 0)
        return;
    /* Largest remainder: floor of each exact share, then one more to the biggest remainders
     * (earlier classes win ties, so the result is stable). */
    double rem[n];
    uint32_t given = 0;
    for (size_t c = 0; c < n; c++) {
        rem[c] = -1;
        const user_class_t *uc = &sc->classes[c];
        if (uc->fixed_count >= 0 || uc->weight <= 0)
            continue;
        double exact = (double)left * uc->weight / weight_sum;
        uint32_t fl = (uint32_t)floor(exact);
        out[c] = fl;
        given += fl;
        rem[c] = exact - fl;
    }
    while (given < left) {
        size_t best = n;
        for (size_t c = 0; c < n; c++)
            if (rem[c] >= 0 && (best == n || rem[c] > rem[best]))
                best = c;
        if (best == n)
            break;
        out[best]++;
        rem[best] = -1;
        given++;
    }
}

void dispatch_plan(const uint32_t *class_users, size_t n_classes, size_t n_workers,
                   uint32_t *out)
{
    if (n_workers == 0)
        return;
    memset(out, 0, n_workers * n_classes * sizeof *out);
    /* Deal users like cards: one running position over all classes, so remainders of one
     * class land on the workers that got fewer of the previous ones. */
    size_t pos = 0;
    for (size_t c = 0; c < n_classes; c++) {
        uint32_t k = class_users[c];
        uint32_t base = (uint32_t)(k / n_workers);
        uint32_t extra = (uint32_t)(k % n_workers);
        for (size_t w = 0; w < n_workers; w++)
            out[w * n_classes + c] = base;
        for (uint32_t i = 0; i < extra; i++)
            out[((pos + i) % n_workers) * n_classes + c]++;
        pos = (pos + extra) % n_workers;
    }
}

void dispatch_rates(double rate, const uint32_t *plan, size_t n_classes, size_t n_workers,
                    double *rates)
{
    uint64_t total = 0;
    for (size_t w = 0; w < n_workers; w++) {
        uint64_t u = 0;
        for (size_t c = 0; c < n_classes; c++)
            u += plan[w * n_classes + c];
        rates[w] = (double)u;
        total += u;
    }
    if (total == 0) {
        for (size_t w = 0; w < n_workers; w++)
            rates[w] = 0;
        return;
    }
    double assigned = 0;
    size_t last = n_workers;
    for (size_t w = 0; w < n_workers; w++) {
        if (rates[w] > 0)
            last = w;
    }
    for (size_t w = 0; w < n_workers; w++) {
        if (rates[w] <= 0)
            continue;
        if (w == last) {
            rates[w] = rate - assigned;
        } else {
            rates[w] = rate * rates[w] / (double)total;
            assigned += rates[w];
        }
    }
}
