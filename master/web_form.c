/*
 * web_form — a web command's values, parsed and checked; see web_form.h.
 */
#include "web_form.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../common/cli.h"

const char *const web_field_names[WEB_N_FIELDS] = {
    "user_count", "spawn_rate", "host", "run_time", "stages", "tags", "exclude_tags",
};

int web_form_field(const char *key)
{
    for (int i = 0; i < WEB_N_FIELDS; i++)
        if (strcmp(key, web_field_names[i]) == 0)
            return i;
    return -1;
}

/* Append data to a field; a repeated tags field adds to the list. */
void web_form_add(web_form_t *f, int k, const char *data, size_t size, bool new_value)
{
    if (new_value && f->has[k]) {
        if (k == WEB_FIELD_TAGS || k == WEB_FIELD_EXCLUDE_TAGS)
            web_form_add(f, k, ",", 1, false);
        else
            f->len[k] = 0;   /* the last one given wins */
    }
    f->has[k] = true;
    if (f->len[k] + size >= WEB_FIELD_MAX) {
        f->too_long[k] = true;
        return;
    }
    memcpy(f->val[k] + f->len[k], data, size);
    f->len[k] += size;
    f->val[k][f->len[k]] = '\0';
}

/* A JSON body's fields as text: strings as they are, numbers written out, lists of strings
 * (tags) joined with commas. -1 with msg for anything else. */
int web_form_from_json(web_form_t *f, const char *text, size_t len, char *msg, size_t msglen)
{
    json_error_t jerr;
    json_t *root = json_loadb(text ? text : "", len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        snprintf(msg, msglen, "the body is not a JSON object%s%s", root ? "" : ": ",
                 root ? "" : jerr.text);
        json_decref(root);
        return -1;
    }
    for (int k = 0; k < WEB_N_FIELDS; k++) {
        json_t *v = json_object_get(root, web_field_names[k]);
        char num[64];
        if (!v || json_is_null(v))
            continue;
        if (json_is_string(v)) {
            web_form_add(f, k, json_string_value(v), json_string_length(v), true);
        } else if (json_is_integer(v)) {
            snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            web_form_add(f, k, num, strlen(num), true);
        } else if (json_is_real(v)) {
            snprintf(num, sizeof num, "%.17g", json_real_value(v));
            web_form_add(f, k, num, strlen(num), true);
        } else if (json_is_array(v) && (k == WEB_FIELD_TAGS || k == WEB_FIELD_EXCLUDE_TAGS)) {
            size_t i;
            json_t *item;
            json_array_foreach(v, i, item) {
                if (!json_is_string(item)) {
                    snprintf(msg, msglen, "%s: a list of names is expected", web_field_names[k]);
                    json_decref(root);
                    return -1;
                }
                web_form_add(f, k, json_string_value(item), json_string_length(item), true);
            }
        } else {
            snprintf(msg, msglen, "%s: a %s is expected", web_field_names[k],
                     k <= WEB_FIELD_SPAWN_RATE ? "number" : "string");
            json_decref(root);
            return -1;
        }
    }
    json_decref(root);
    return 0;
}

/* The field's text with surrounding blanks cut (in place); NULL when not given or empty. */
static const char *field_text(web_form_t *f, int k)
{
    if (!f->has[k])
        return NULL;
    char *s = f->val[k];
    size_t n = f->len[k];
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    s[n] = '\0';
    while (*s == ' ' || *s == '\t')
        s++;
    return *s ? s : NULL;
}

/* What a command's numbers and texts must be. 0, or -1 with a message naming the field. */
static int check_users(const char *text, long min, long *out, char *msg, size_t msglen)
{
    long v;
    if (cli_parse_long(text, &v) < 0 || v < min) {
        snprintf(msg, msglen, "user_count: '%.40s' is not a whole number >= %ld", text, min);
        return -1;
    }
    if (v > WEB_MAX_USERS) {
        snprintf(msg, msglen, "user_count: %ld is more than %ld", v, WEB_MAX_USERS);
        return -1;
    }
    *out = v;
    return 0;
}

static int check_rate(const char *text, double *out, char *msg, size_t msglen)
{
    double v;
    if (cli_parse_double(text, &v) < 0 || !isfinite(v) || !(v > 0)) {
        snprintf(msg, msglen, "spawn_rate: '%.40s' is not a number > 0", text);
        return -1;
    }
    *out = v;
    return 0;
}

int web_form_check(const web_form_t *f, char *msg, size_t msglen)
{
    for (int k = 0; k < WEB_N_FIELDS; k++) {
        if (f->too_long[k]) {
            snprintf(msg, msglen, "%s: too long (%d bytes at most)", web_field_names[k],
                     WEB_FIELD_MAX - 1);
            return -1;
        }
    }
    return 0;
}

/* START (or EDIT) from the form; what it leaves out is the defaults' (the last test's, or
 * the command line's): users and spawn rate from `users_default` and `rate_default`. */
int web_form_start(web_form_t *f, web_cmd_t *c, long users_default, double rate_default,
                       char *msg, size_t msglen)
{
    const char *s;
    c->kind = WEB_CMD_START;
    c->users = users_default;
    c->spawn_rate = rate_default;
    if ((s = field_text(f, WEB_FIELD_USER_COUNT)) && check_users(s, 1, &c->users, msg, msglen) < 0)
        return -1;
    if ((s = field_text(f, WEB_FIELD_SPAWN_RATE)) && check_rate(s, &c->spawn_rate, msg, msglen) < 0)
        return -1;
    if ((s = field_text(f, WEB_FIELD_HOST))) {
        if (strncasecmp(s, "http://", 7) != 0 && strncasecmp(s, "https://", 8) != 0) {
            snprintf(msg, msglen, "host: '%.80s' must start with http:// or https://", s);
            return -1;
        }
        snprintf(c->host, sizeof c->host, "%s", s);
    }
    if ((s = field_text(f, WEB_FIELD_RUN_TIME)) &&
        (cli_parse_duration(s, &c->run_time_s) < 0 || !(c->run_time_s >= 0))) {
        snprintf(msg, msglen, "run_time: '%.40s' is not a duration (20, 20s, 3m, 2h, 1h20m)",
                 s);
        return -1;
    }
    if ((s = field_text(f, WEB_FIELD_STAGES)))
        snprintf(c->stages, sizeof c->stages, "%s", s);
    if ((s = field_text(f, WEB_FIELD_TAGS)))
        snprintf(c->tags, sizeof c->tags, "%s", s);
    if ((s = field_text(f, WEB_FIELD_EXCLUDE_TAGS)))
        snprintf(c->exclude_tags, sizeof c->exclude_tags, "%s", s);
    return 0;
}

int web_form_edit(web_form_t *f, web_cmd_t *c, long users_now, double rate_now, char *msg,
                      size_t msglen)
{
    const char *s;
    c->kind = WEB_CMD_EDIT;
    c->users = users_now;
    c->spawn_rate = rate_now;
    if ((s = field_text(f, WEB_FIELD_USER_COUNT)) && check_users(s, 0, &c->users, msg, msglen) < 0)
        return -1;
    if ((s = field_text(f, WEB_FIELD_SPAWN_RATE)) && check_rate(s, &c->spawn_rate, msg, msglen) < 0)
        return -1;
    return 0;
}

