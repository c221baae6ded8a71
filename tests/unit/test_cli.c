/* cli: durations, numbers, the option table, config file and environment precedence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/cli.h"

static void test_durations(void **state)
{
    (void)state;
    struct { const char *s; double v; } ok[] = {
        {"10s", 10}, {"5m", 300}, {"1h30m", 5400}, {"2h", 7200}, {"90", 90}, {"1.5s", 1.5},
        {"250ms", 0.25}, {"1h2m3s", 3723}, {"0", 0}, {"0s", 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        double v = -1;
        assert_int_equal(cli_parse_duration(ok[i].s, &v), 0);
        assert_true(v > ok[i].v - 1e-9 && v < ok[i].v + 1e-9);
    }
    const char *bad[] = {"10x", "", "s", "m5", "5m1h", "1s1s", "-5s", "abc", "10 s", "1h 30m", "5mm"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v;
        assert_int_equal(cli_parse_duration(bad[i], &v), -1);
    }
}

static void test_numbers(void **state)
{
    (void)state;
    long l;
    double d;
    assert_int_equal(cli_parse_long("42", &l), 0);
    assert_int_equal(l, 42);
    assert_int_equal(cli_parse_long("4x", &l), -1);
    assert_int_equal(cli_parse_long("", &l), -1);
    assert_int_equal(cli_parse_double("2.5", &d), 0);
    assert_int_equal(cli_parse_double("nan", &d), -1);
    assert_int_equal(cli_parse_double(" 1", &d), -1);
}

typedef struct opts {
    long users;
    double rate, time;
    bool headless;
    const char *host;
    cli_list_t tags;
} opts_t;

static cli_option_t t[7];

/* Free what the previous parse allocated (its values die with it). */
static void release(void)
{
    cli_release(t, 7, NULL);
    memset(t, 0, sizeof t);   /* the lists it pointed at may be gone with their test */
}

static int parse(opts_t *o, int argc, char **argv, char *err)
{
    release();
    memset(o, 0, sizeof *o);
    o->users = 1;
    cli_option_t tt[] = {
        {"users", 'u', CLI_INT, &o->users, "N", "users", 0, 1000, false},
        {"spawn-rate", 'r', CLI_DOUBLE, &o->rate, "R", "rate", 0.001, 1e9, false},
        {"run-time", 't', CLI_DURATION, &o->time, "T", "time", 0, 1e9, false},
        {"headless", 0, CLI_FLAG, &o->headless, NULL, "x", 0, 0, false},
        {"host", 'H', CLI_STRING, &o->host, "URL", "x", 0, 0, false},
        {"tags", 'T', CLI_LIST, &o->tags, "T", "x", 0, 0, false},
        {"config", 0, CLI_STRING, NULL, "F", "x", 0, 0, false},
    };
    bool help;
    static const char *dummy;
    tt[6].target = &dummy;
    memcpy(t, tt, sizeof t);
    return cli_parse(t, 7, argc, argv, NULL, &help, err, 256);
}

static void test_forms(void **state)
{
    (void)state;
    opts_t o;
    char err[256];
    char *a1[] = {"p", "-u", "2", "-r=3", "--run-time=1h30m", "--headless", "-Hhttp://x", "--tags", "a,b", "-T", "c", NULL};
    assert_int_equal(parse(&o, 11, a1, err), 0);
    assert_int_equal(o.users, 2);
    assert_true(o.rate == 3.0);
    assert_true(o.time == 5400.0);
    assert_true(o.headless);
    assert_string_equal(o.host, "http://x");
    assert_int_equal(o.tags.n, 3);
    assert_string_equal(o.tags.items[2], "c");

    char *a2[] = {"p", "-u=abc", NULL};
    assert_int_equal(parse(&o, 2, a2, err), -1);
    assert_string_equal(err, "-u/--users wants a whole number (0 to 1000), got 'abc'");
    char *a3[] = {"p", "-t=10x", NULL};
    assert_int_equal(parse(&o, 2, a3, err), -1);
    assert_string_equal(err, "-t/--run-time wants a duration like 10s, 5m, 1h30m or a number of seconds, got '10x'");
    char *a4[] = {"p", "--nope", NULL};
    assert_int_equal(parse(&o, 2, a4, err), -1);
    assert_string_equal(err, "unknown option '--nope' (see --help)");
    char *a5[] = {"p", "-u", NULL};
    assert_int_equal(parse(&o, 2, a5, err), -1);
    assert_string_equal(err, "-u/--users needs a value (N)");
    char *a6[] = {"p", "stray", NULL};
    assert_int_equal(parse(&o, 2, a6, err), -1);
    char *a7[] = {"p", "-u", "5000", NULL};
    assert_int_equal(parse(&o, 3, a7, err), -1);
    release();
}

typedef struct more {
    cli_list_t tags, thresholds, positional;
    bool version;
    long users;
} more_t;

static cli_option_t m[4];

static int parse_more(more_t *o, int argc, char **argv, bool positional, char *err)
{
    cli_release(m, 4, NULL);
    memset(m, 0, sizeof m);
    if (o->positional.items)
        cli_release(NULL, 0, &o->positional);
    memset(o, 0, sizeof *o);
    cli_option_t mm[] = {
        {"tags", 'T', CLI_WORDS, &o->tags, "TAG ...", "x", 0, 0, false},
        {"threshold", 0, CLI_LIST, &o->thresholds, "EXPR", "x", 0, 0, false},
        {"version", 'V', CLI_FLAG, &o->version, NULL, "x", 0, 0, false},
        {"users", 'u', CLI_INT, &o->users, "N", "x", 0, 100, false},
    };
    memcpy(m, mm, sizeof m);
    bool help;
    return cli_parse(m, 4, argc, argv, positional ? &o->positional : NULL, &help, err, 256);
}

static void test_words_and_positional(void **state)
{
    (void)state;
    more_t o;
    memset(&o, 0, sizeof o);
    char err[256];
    /* -T takes the words after it up to the next option, and commas; "--" ends the options */
    char *a1[] = {"p", "Alpha", "-T", "a", "b,c", "-u", "3", "-T", "d", "--", "-Beta", "Gamma", NULL};
    assert_int_equal(parse_more(&o, 12, a1, true, err), 0);
    assert_int_equal(o.tags.n, 4);
    assert_string_equal(o.tags.items[0], "a");
    assert_string_equal(o.tags.items[2], "c");
    assert_string_equal(o.tags.items[3], "d");
    assert_int_equal(o.users, 3);
    assert_int_equal(o.positional.n, 3);
    assert_string_equal(o.positional.items[0], "Alpha");
    assert_string_equal(o.positional.items[1], "-Beta");
    assert_string_equal(o.positional.items[2], "Gamma");

    /* "=value" or an attached value takes that value only (as argparse) */
    char *a2[] = {"p", "--tags=a", "Alpha", "-Tb", "Beta", NULL};
    assert_int_equal(parse_more(&o, 5, a2, true, err), 0);
    assert_int_equal(o.tags.n, 2);
    assert_int_equal(o.positional.n, 2);

    /* a plain list stays one value per option */
    char *a3[] = {"p", "--threshold", "p95<300ms", "avg<100", NULL};
    assert_int_equal(parse_more(&o, 4, a3, false, err), -1);
    assert_string_equal(err, "unexpected argument 'avg<100' (options start with -; see --help)");

    /* the environment and config files split CLI_WORDS at spaces too; never set --version */
    setenv("HERD_TAGS", "x y,z", 1);
    setenv("HERD_VERSION", "1.2.3", 1);
    char *a4[] = {"p", NULL};
    assert_int_equal(parse_more(&o, 1, a4, false, err), 0);
    assert_int_equal(o.tags.n, 3);
    assert_false(o.version);
    unsetenv("HERD_TAGS");
    unsetenv("HERD_VERSION");
    char *a5[] = {"p", "-V", NULL};
    assert_int_equal(parse_more(&o, 2, a5, false, err), 0);
    assert_true(o.version);
    cli_release(m, 4, &o.positional);
    memset(m, 0, sizeof m);
}

static void test_precedence(void **state)
{
    (void)state;
    char path[] = "/tmp/herd-cli-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *conf = "# comment\nusers = 7\nspawn_rate = 2\nrun-time = 5m\nheadless = true\n";
    assert_int_equal(write(fd, conf, strlen(conf)), (ssize_t)strlen(conf));
    close(fd);
    setenv("HERD_SPAWN_RATE", "4", 1);
    opts_t o;
    char err[256];
    char *a1[] = {"p", "--config", path, "-t", "10s", NULL};
    assert_int_equal(parse(&o, 5, a1, err), 0);
    assert_int_equal(o.users, 7);        /* config */
    assert_true(o.rate == 4.0);          /* env beats config */
    assert_true(o.time == 10.0);         /* command line beats both */
    assert_true(o.headless);
    unsetenv("HERD_SPAWN_RATE");

    setenv("HERD_USERS", "lots", 1);
    char *a2[] = {"p", NULL};
    assert_int_equal(parse(&o, 1, a2, err), -1);
    assert_non_null(strstr(err, "HERD_USERS: -u/--users wants a whole number"));
    unsetenv("HERD_USERS");

    FILE *f = fopen(path, "w");
    fputs("users = 1\nbogus = 3\n", f);
    fclose(f);
    char *a3[] = {"p", "--config=x", NULL};
    a3[1] = malloc(strlen(path) + 10);
    sprintf(a3[1], "--config=%s", path);
    assert_int_equal(parse(&o, 2, a3, err), -1);
    char want[300];
    snprintf(want, sizeof want, "%s:2:1: unknown option 'bogus'", path);
    assert_string_equal(err, want);
    free(a3[1]);
    unlink(path);
    release();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_words_and_positional),
        cmocka_unit_test(test_precedence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
