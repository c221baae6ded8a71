/*
 * body — reading a request's JSON body: parse it as an object and take typed, required fields
 * out of it. Each getter returns 0, or -1 after writing the 400 message a client should see
 * ("missing field 'email'", "field 'amount' must be a number or a decimal string") into err.
 */
#ifndef HERD_SVC_BODY_H
#define HERD_SVC_BODY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uuid/uuid.h>

/* A new reference the caller json_decref()s, or NULL with err filled. */
json_t *body_parse_object(const char *data, size_t len, char *err, size_t errlen);
/* *out points into obj; valid while obj lives. Empty strings are accepted. */
int body_get_string(json_t *obj, const char *field, const char **out, char *err, size_t errlen);
int body_get_uuid(json_t *obj, const char *field, uuid_t out, char *err, size_t errlen);
/* A JSON number or a decimal string, rounded to cents. */
int body_get_money(json_t *obj, const char *field, int64_t *cents, char *err, size_t errlen);

#endif
