/*
 * web_form — the values of a command from the web UI (POST /api/start, /api/edit, /swarm), from
 * a form or a JSON object, checked before anything reaches the master's loop: a wrong value is
 * answered 400 with one line naming the field ("user_count: 'abc' is not a whole number >= 1").
 */
#ifndef HERD_WEB_FORM_H
#define HERD_WEB_FORM_H

#include <stdbool.h>
#include <stddef.h>

#include "web.h"

enum web_field {
    WEB_FIELD_USER_COUNT, WEB_FIELD_SPAWN_RATE, WEB_FIELD_HOST, WEB_FIELD_RUN_TIME,
    WEB_FIELD_STAGES, WEB_FIELD_TAGS, WEB_FIELD_EXCLUDE_TAGS, WEB_N_FIELDS
};
extern const char *const web_field_names[WEB_N_FIELDS];   /* "user_count", ... */
#define WEB_FIELD_MAX 1024     /* as web_cmd_t's strings, with the NUL */
#define WEB_MAX_USERS 10000000L

/* The fields given, as text. */
typedef struct web_form {
    bool has[WEB_N_FIELDS];
    bool too_long[WEB_N_FIELDS];  /* given longer than WEB_FIELD_MAX - 1 bytes */
    size_t len[WEB_N_FIELDS];
    char val[WEB_N_FIELDS][WEB_FIELD_MAX];
} web_form_t;

/* The field a form key names, or -1 (other keys are ignored). */
int web_form_field(const char *key);
/* Append data to field k: new_value starts a value (a form streams one in pieces). A field
 * given twice: the last value, but tags and exclude_tags gather every value. */
void web_form_add(web_form_t *f, int k, const char *data, size_t size, bool new_value);
/* The fields of a JSON object: strings as they are, numbers written out, lists of strings
 * (tags) joined with commas. -1 with msg for anything else. */
int web_form_from_json(web_form_t *f, const char *text, size_t len, char *msg, size_t msglen);
/* -1 with msg when a field was too long. */
int web_form_check(const web_form_t *f, char *msg, size_t msglen);

/* A START (users 1 to WEB_MAX_USERS, spawn rate > 0, host http(s)://, run time a duration)
 * or an EDIT (users from 0) from the form; users and spawn rate left out are users_default
 * and rate_default, the rest is left empty (the command line's apply). 0, or -1 with msg. */
int web_form_start(web_form_t *f, web_cmd_t *c, long users_default, double rate_default,
                   char *msg, size_t msglen);
int web_form_edit(web_form_t *f, web_cmd_t *c, long users_now, double rate_now, char *msg,
                  size_t msglen);

#endif
