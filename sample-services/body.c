#include "body.h"

#include <stdio.h>
#include <string.h>

#include "money.h"

json_t *body_parse_object(const char *data, size_t len, char *err, size_t errlen)
{
    if (len == 0) {
        snprintf(err, errlen, "request body must be a JSON object");
        return NULL;
    }
    json_error_t jerr;
    json_t *v = json_loadb(data, len, 0, &jerr);
    if (!v) {
        snprintf(err, errlen, "malformed JSON: %s", jerr.text);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        snprintf(err, errlen, "request body must be a JSON object");
        return NULL;
    }
    return v;
}

static json_t *required(json_t *obj, const char *field, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, field);
    if (!v || json_is_null(v))
        snprintf(err, errlen, "missing field '%s'", field);
    return v && !json_is_null(v) ? v : NULL;
}

int body_get_string(json_t *obj, const char *field, const char **out, char *err, size_t errlen)
{
    json_t *v = required(obj, field, err, errlen);
    if (!v)
        return -1;
    if (!json_is_string(v)) {
        snprintf(err, errlen, "field '%s' must be a string", field);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

int body_get_uuid(json_t *obj, const char *field, uuid_t out, char *err, size_t errlen)
{
    const char *s;
    if (body_get_string(obj, field, &s, err, errlen) < 0)
        return -1;
    if (strlen(s) != 36 || uuid_parse(s, out) != 0) {
        snprintf(err, errlen, "field '%s' must be a UUID", field);
        return -1;
    }
    return 0;
}

int body_get_money(json_t *obj, const char *field, int64_t *cents, char *err, size_t errlen)
{
    json_t *v = required(obj, field, err, errlen);
    if (!v)
        return -1;
    int rc = -1;
    if (json_is_number(v))
        rc = money_from_double(json_number_value(v), cents);
    else if (json_is_string(v))
        rc = money_parse(json_string_value(v), cents);
    if (rc < 0)
        snprintf(err, errlen, "field '%s' must be a number or a decimal string", field);
    return rc;
}
