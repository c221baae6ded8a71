/*
 * json_out — the steps every JSON document the master writes is built from (the --json
 * report, the web UI's document, Locust's /stats/requests): a string that jansson always
 * takes, and setting a member or appending an element that may have failed to be made.
 */
#ifndef HERD_JSON_OUT_H
#define HERD_JSON_OUT_H

#include <jansson.h>
#include <stdbool.h>

/* s as a JSON string; bytes jansson refuses (invalid UTF-8 from a scenario or a server)
 * become '?'. NULL → null; NULL when memory runs out. */
json_t *json_out_str(const char *s);
/* obj[key] = v; false (v released) when v is NULL (it could not be made) or the set fails. */
bool json_out_put(json_t *obj, const char *key, json_t *v);
/* arr += v; false (v released) when v is NULL or the append fails. */
bool json_out_append(json_t *arr, json_t *v);

#endif
