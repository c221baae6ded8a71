/*
 * json_out — see json_out.h.
 */
#include "json_out.h"

#include <stdlib.h>
#include <string.h>

json_t *json_out_str(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

bool json_out_put(json_t *obj, const char *key, json_t *v)
{
    return v && json_object_set_new(obj, key, v) == 0;
}

bool json_out_append(json_t *arr, json_t *v)
{
    return v && json_array_append_new(arr, v) == 0;
}
