#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"
#include "version.h"

int cli_parse_long(const char *s, long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_double(const char *s, double *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int cli_parse_duration(const char *s, double *seconds)
{
    if (!s || !*s)
        return -1;
    double v;
    if (cli_parse_double(s, &v) == 0) {   /* bare number: seconds */
        if (v < 0)
            return -1;
        *seconds = v;
        return 0;
    }
    double total = 0;
    const char *p = s;
    int last_rank = 99;   /* units must come in decreasing order, each once */
    while (*p) {
        if (!isdigit((unsigned char)*p) && *p != '.')
            return -1;
        char *end;
        errno = 0;
        double n = strtod(p, &end);
        if (errno || end == p)
            return -1;
        p = end;
        double mult;
        int rank;
        if (p[0] == 'm' && p[1] == 's') { mult = 0.001; rank = 0; p += 2; }
        else if (*p == 'h') { mult = 3600; rank = 3; p++; }
        else if (*p == 'm') { mult = 60; rank = 2; p++; }
        else if (*p == 's') { mult = 1; rank = 1; p++; }
        else return -1;
        if (rank >= last_rank)
            return -1;
        last_rank = rank;
        total += n * mult;
    }
    *seconds = total;
    return 0;
}

/* Strings copied from the config file and list values: they back option values until
 * cli_release. */
static char **owned;
static size_t n_owned, cap_owned;

static char *own_strdup(const char *s)
{
    if (VEC_RESERVE(owned, cap_owned, n_owned + 1) < 0)
        return NULL;
    char *d = strdup(s);
    if (d)
        owned[n_owned++] = d;
    return d;
}

static void list_release(cli_list_t *l)
{
    free(l->items);
    l->items = NULL;
    l->n = l->cap = 0;
}

void cli_release(cli_option_t *opts, size_t n, cli_list_t *positional)
{
    for (size_t i = 0; i < n; i++)
        if ((opts[i].type == CLI_LIST || opts[i].type == CLI_WORDS) && opts[i].target)
            list_release(opts[i].target);
    if (positional)
        list_release(positional);
    for (size_t i = 0; i < n_owned; i++)
        free(owned[i]);
    free(owned);
    owned = NULL;
    n_owned = cap_owned = 0;
}

/* Options parse_env and the config file leave alone: config is read before them (see
 * cli.h), version is the command line's only. */
static bool cmdline_only(const cli_option_t *o)
{
    return !strcmp(o->name, "config") || !strcmp(o->name, "version");
}

static int list_add(cli_list_t *l, char *item, char *err, size_t errlen)
{
    if (VEC_RESERVE(l->items, l->cap, l->n + 1) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    l->items[l->n++] = item;
    return 0;
}

static cli_option_t *find_long(cli_option_t *opts, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

static cli_option_t *find_short(cli_option_t *opts, size_t n, char c)
{
    for (size_t i = 0; i < n; i++)
        if (opts[i].short_name && opts[i].short_name == c)
            return &opts[i];
    return NULL;
}

static void opt_label(const cli_option_t *o, char *out, size_t len)
{
    if (o->short_name)
        snprintf(out, len, "-%c/--%s", o->short_name, o->name);
    else
        snprintf(out, len, "--%s", o->name);
}

static bool in_bounds(const cli_option_t *o, double v)
{
    return o->min == o->max || (v >= o->min && v <= o->max);
}

static void bounds_text(const cli_option_t *o, char *out, size_t len)
{
    if (o->min == o->max)
        out[0] = '\0';
    else if (o->max >= 1e15)
        snprintf(out, len, " (%g or more)", o->min);
    else
        snprintf(out, len, " (%g to %g)", o->min, o->max);
}

/* Store value (a string that outlives the process's parsing) into o. `src` names the source
 * for messages ("" for the command line). */
static int set_value(cli_option_t *o, const char *value, const char *src, char *err,
                     size_t errlen)
{
    char label[64], range[64];
    opt_label(o, label, sizeof label);
    bounds_text(o, range, sizeof range);
    switch (o->type) {
    case CLI_FLAG: {
        bool v;
        if (!value || !strcasecmp(value, "true") || !strcmp(value, "1") || !strcasecmp(value, "yes"))
            v = true;
        else if (!strcasecmp(value, "false") || !strcmp(value, "0") || !strcasecmp(value, "no"))
            v = false;
        else {
            snprintf(err, errlen, "%s%s takes no value (or true/false), got '%s'", src, label, value);
            return -1;
        }
        *(bool *)o->target = v;
        break;
    }
    case CLI_STRING:
        *(const char **)o->target = value;
        break;
    case CLI_INT: {
        long v;
        if (cli_parse_long(value, &v) < 0 || !in_bounds(o, (double)v)) {
            snprintf(err, errlen, "%s%s wants a whole number%s, got '%s'", src, label, range, value);
            return -1;
        }
        *(long *)o->target = v;
        break;
    }
    case CLI_DOUBLE: {
        double v;
        if (cli_parse_double(value, &v) < 0 || !in_bounds(o, v)) {
            snprintf(err, errlen, "%s%s wants a number%s, got '%s'", src, label, range, value);
            return -1;
        }
        *(double *)o->target = v;
        break;
    }
    case CLI_DURATION: {
        double v;
        if (cli_parse_duration(value, &v) < 0 || !in_bounds(o, v)) {
            snprintf(err, errlen,
                     "%s%s wants a duration like 10s, 5m, 1h30m or a number of seconds, got '%s'",
                     src, label, value);
            return -1;
        }
        *(double *)o->target = v;
        break;
    }
    case CLI_LIST:
    case CLI_WORDS: {
        cli_list_t *l = o->target;
        char *copy = own_strdup(value);
        if (!copy) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        const char *seps = o->type == CLI_WORDS ? ", \t\n" : ",";
        for (char *save = NULL, *tok = strtok_r(copy, seps, &save); tok;
             tok = strtok_r(NULL, seps, &save)) {
            while (isspace((unsigned char)*tok))
                tok++;
            size_t tl = strlen(tok);
            while (tl && isspace((unsigned char)tok[tl - 1]))
                tok[--tl] = '\0';
            if (!tl)
                continue;
            /* tok points into copy, kept until cli_release */
            if (list_add(l, tok, err, errlen) < 0)
                return -1;
        }
        break;
    }
    }
    o->seen = true;
    return 0;
}

static int parse_config_file(cli_option_t *opts, size_t n, const char *path, char *err,
                             size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "--config: cannot read '%s': %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || *p == '#' || *p == ';' || *p == '[')
            continue;
        char *eq = strchr(p, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d:1: expected 'option = value'", path, lineno);
            fclose(f);
            return -1;
        }
        char *key_end = eq;
        while (key_end > p && isspace((unsigned char)key_end[-1]))
            key_end--;
        char *val = eq + 1;
        while (isspace((unsigned char)*val))
            val++;
        size_t vl = strlen(val);
        while (vl && isspace((unsigned char)val[vl - 1]))
            val[--vl] = '\0';
        if (vl >= 2 && (val[0] == '"' || val[0] == '\'') && val[vl - 1] == val[0]) {
            val[vl - 1] = '\0';
            val++;
        }
        for (char *k = p; k < key_end; k++)
            if (*k == '_')
                *k = '-';
        cli_option_t *o = find_long(opts, n, p, (size_t)(key_end - p));
        if (!o || cmdline_only(o)) {
            snprintf(err, errlen, "%s:%d:1: unknown option '%.*s'", path, lineno,
                     (int)(key_end - p), p);
            fclose(f);
            return -1;
        }
        char src[64];
        snprintf(src, sizeof src, "%s:%d: ", path, lineno);
        char *copy = own_strdup(val);
        if (!copy || set_value(o, copy, src, err, errlen) < 0) {
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

static int parse_env(cli_option_t *opts, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        char var[96] = "HERD_";
        size_t k = 5;
        for (const char *p = opts[i].name; *p && k < sizeof var - 1; p++)
            var[k++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
        var[k] = '\0';
        const char *v = getenv(var);
        if (!v || cmdline_only(&opts[i]))
            continue;
        char src[112];
        snprintf(src, sizeof src, "%s: ", var);
        if (set_value(&opts[i], v, src, err, errlen) < 0)
            return -1;
    }
    return 0;
}

int cli_parse(cli_option_t *opts, size_t n, int argc, char **argv, cli_list_t *positional,
              bool *help, char *err, size_t errlen)
{
    *help = false;
    /* The config file first, wherever --config stands on the command line. */
    const char *config = getenv("HERD_CONFIG");
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            config = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            config = argv[i] + 9;
    }
    if (config && parse_config_file(opts, n, config, err, errlen) < 0)
        return -1;
    if (parse_env(opts, n, err, errlen) < 0)
        return -1;

    bool cmdline_lists[128] = {false};
    if (n > 128) {
        snprintf(err, errlen, "internal: too many options");
        return -1;
    }
    bool options_over = false;   /* after "--": every argument is positional */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        cli_option_t *o = NULL;
        const char *value = NULL;
        char label[64];
        if (!options_over && !strcmp(a, "--")) {
            options_over = true;
            continue;
        }
        if (!options_over && (!strcmp(a, "--help") || !strcmp(a, "-h"))) {
            *help = true;
            return 0;
        }
        if (!options_over && a[0] == '-' && a[1] == '-' && a[2]) {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            o = find_long(opts, n, name, len);
            if (!o) {
                snprintf(err, errlen, "unknown option '--%.*s' (see --help)", (int)len, name);
                return -1;
            }
            if (eq)
                value = eq + 1;
        } else if (!options_over && a[0] == '-' && a[1] && a[1] != '-') {
            o = find_short(opts, n, a[1]);
            if (!o) {
                snprintf(err, errlen, "unknown option '-%c' (see --help)", a[1]);
                return -1;
            }
            if (a[2] == '=')
                value = a + 3;
            else if (a[2])
                value = a + 2;
        } else if (positional) {
            if (list_add(positional, argv[i], err, errlen) < 0)
                return -1;
            continue;
        } else {
            snprintf(err, errlen, "unexpected argument '%s' (options start with -; see --help)", a);
            return -1;
        }
        opt_label(o, label, sizeof label);
        if (o->type == CLI_FLAG) {
            if (set_value(o, value, "", err, errlen) < 0)
                return -1;
            continue;
        }
        bool separate = !value;   /* the value is the next argument, not "=value" */
        if (!value) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "%s needs a value (%s)", label, o->metavar ? o->metavar : "VALUE");
                return -1;
            }
            value = argv[++i];
        }
        if ((o->type == CLI_LIST || o->type == CLI_WORDS) && !cmdline_lists[o - opts]) {
            /* the command line replaces a list given by the config file or environment */
            ((cli_list_t *)o->target)->n = 0;
            cmdline_lists[o - opts] = true;
        }
        if (set_value(o, value, "", err, errlen) < 0)
            return -1;
        /* nargs='*': the words that follow, up to the next option or "--" */
        while (o->type == CLI_WORDS && separate && i + 1 < argc && argv[i + 1][0] != '-')
            if (set_value(o, argv[++i], "", err, errlen) < 0)
                return -1;
    }
    return 0;
}

void cli_print_version(FILE *out, const char *program)
{
    fprintf(out, "%s %s\n", program, HERD_VERSION);
}

void cli_print_help(FILE *out, const char *usage, const char *intro, const cli_option_t *opts,
                    size_t n)
{
    fprintf(out, "Usage: %s\n\n%s\n\nOptions:\n", usage, intro);
    for (size_t i = 0; i < n; i++) {
        char left[80];
        const cli_option_t *o = &opts[i];
        const char *mv = o->type == CLI_FLAG ? "" : (o->metavar ? o->metavar : "VALUE");
        if (o->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name, *mv ? " " : "", mv);
        else
            snprintf(left, sizeof left, "    --%s%s%s", o->name, *mv ? " " : "", mv);
        if (strlen(left) > 30)
            fprintf(out, "  %s\n  %-30s %s\n", left, "", o->help);
        else
            fprintf(out, "  %-30s %s\n", left, o->help);
    }
    fprintf(out, "  %-30s %s\n", "-h, --help", "print this help and exit");
    fprintf(out, "\nEvery option but --version may also be set as HERD_<OPTION> in the environment\n"
                 "(HERD_RUN_TIME=10s) or as 'option = value' in a --config file; the command line wins.\n");
}
