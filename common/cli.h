/*
 * cli — one option table per program drives parsing, --help, herd.conf and HERD_* variables.
 *
 * Sources, weakest first: the config file (--config FILE, `key = value` lines, `#` comments,
 * keys are long option names without dashes), then HERD_<OPTION> environment variables
 * (upper case, dashes as underscores: HERD_RUN_TIME=10s), then the command line. Both
 * `-u 2` and `-u=2`, `--users 2` and `--users=2` are accepted. `config` is read first (the
 * command line's, else HERD_CONFIG) and a config file cannot set it; `version` comes from the
 * command line only (HERD_VERSION is too common a variable name to mean "print the version
 * and exit").
 *
 * Arguments that are not options (and everything after `--`) are positional: an error unless
 * the caller asks for them.
 *
 * Errors are one line naming the option and what it wants; callers print them and exit 2.
 */
#ifndef HERD_CLI_H
#define HERD_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum cli_type {
    CLI_FLAG,      /* bool *, no value */
    CLI_STRING,    /* char ** (points into argv/env, or a copy cli owns until cli_release) */
    CLI_INT,       /* long *, within [min, max] */
    CLI_DOUBLE,    /* double *, within [min, max] */
    CLI_DURATION,  /* double * seconds: 10s, 5m, 1h30m, 90 (seconds), 1.5s */
    CLI_LIST,      /* cli_list_t *: comma-separated and/or repeated */
    CLI_WORDS,     /* cli_list_t *: as CLI_LIST, also split at spaces, and on the command line
                      the words after a separate value up to the next option belong to it too
                      (argparse's nargs='*': `-T a b c`, `-T a,b`; not `-T=a b`) */
} cli_type_t;

typedef struct cli_list {
    char **items;   /* owned by cli until cli_release */
    size_t n;
    size_t cap;     /* slots allocated in items */
} cli_list_t;

typedef struct cli_option {
    const char *name;     /* long name without dashes: "users" */
    char short_name;      /* 'u', or 0 */
    cli_type_t type;
    void *target;
    const char *metavar;  /* shown in --help: "N" */
    const char *help;
    double min, max;      /* CLI_INT / CLI_DOUBLE / CLI_DURATION bounds (ignored if min == max) */
    bool seen;            /* set by cli_parse when the option was given by any source */
} cli_option_t;

/* Parse every source into the table. --help/-h sets *help. Positional arguments go to
 * `positional` (pointing into argv; items owned by cli until cli_release), or are an error
 * when it is NULL. Returns 0, or -1 with err filled. */
int cli_parse(cli_option_t *opts, size_t n_opts, int argc, char **argv, cli_list_t *positional,
              bool *help, char *err, size_t errlen);
/* Free what cli_parse allocated for the table and the positional list (config-file strings,
 * list items). The option values that pointed at them are gone after this: call it when the
 * program is done. */
void cli_release(cli_option_t *opts, size_t n_opts, cli_list_t *positional);
void cli_print_help(FILE *out, const char *usage, const char *intro, const cli_option_t *opts,
                    size_t n_opts);
/* "herd-master 0.1.0" (the program's name and HERD_VERSION): what -V/--version prints. */
void cli_print_version(FILE *out, const char *program);

/* "10s" "5m" "1h30m" "2h" "90" "1.5s" "250ms" -> seconds. -1 on anything else. */
int cli_parse_duration(const char *s, double *seconds);
/* Whole text must be a number. */
int cli_parse_long(const char *s, long *out);
int cli_parse_double(const char *s, double *out);

#endif
