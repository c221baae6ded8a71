/*
 * suggest — "did you mean ...?": the nearest of a list of known names to a name that is not
 * one of them, for the messages about scenario keys and template functions. One module so
 * that both spell distances the same way.
 *
 * Distance: optimal string alignment (Levenshtein plus adjacent transpositions, so
 * "wieght" is one edit from "weight"), case-insensitive. Names longer than
 * SUGGEST_MAX_LEN are compared on their first SUGGEST_MAX_LEN characters.
 */
#ifndef HERD_SUGGEST_H
#define HERD_SUGGEST_H

#include <stddef.h>

#define SUGGEST_MAX_LEN 32

size_t suggest_distance(const char *a, size_t la, const char *b, size_t lb);

/* The candidate nearest to name (len bytes) at a distance below max_distance and below the
 * candidate's own length (so "x" never suggests "y"), or NULL. candidates ends with NULL;
 * the first of equally near ones wins. */
const char *suggest_nearest(const char *name, size_t len, const char *const *candidates,
                            size_t max_distance);

#endif
