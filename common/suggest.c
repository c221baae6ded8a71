/*
 * suggest — nearest known name. See suggest.h.
 */
#include "suggest.h"

#include <ctype.h>
#include <string.h>

size_t suggest_distance(const char *a, size_t la, const char *b, size_t lb)
{
    enum { MAXL = SUGGEST_MAX_LEN };
    if (la > MAXL)
        la = MAXL;
    if (lb > MAXL)
        lb = MAXL;
    size_t d[MAXL + 1][MAXL + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
            size_t v = d[i - 1][j - 1] + (ca != cb);
            if (d[i - 1][j] + 1 < v)
                v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

const char *suggest_nearest(const char *name, size_t len, const char *const *candidates,
                            size_t max_distance)
{
    const char *best = NULL;
    size_t best_d = max_distance;
    for (; *candidates; candidates++) {
        size_t cl = strlen(*candidates);
        size_t d = suggest_distance(name, len, *candidates, cl);
        if (d < best_d && d < cl) {
            best = *candidates;
            best_d = d;
        }
    }
    return best;
}
