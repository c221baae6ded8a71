/*
 * Unit tests for master/options.c's TLS options: --tls-ca (made absolute, so it names the
 * same file on the master and on the workers; a missing file is a usage error) and
 * --insecure, from the command line, HERD_* variables and the config file alike.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../master/options.h"

static int parse(master_options_t *o, char **argv, char *err, size_t errlen)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    return master_options_parse(o, argc, argv, err, errlen);
}

static void test_tls_ca_is_made_absolute(void **state)
{
    (void)state;
    char dir[] = "/tmp/herd-opt-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[PATH_MAX], cwd[PATH_MAX];
    snprintf(path, sizeof path, "%s/ca.pem", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("PEM\n", f);
    fclose(f);
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    master_options_t o;
    char err[512] = "";
    char *argv[] = {"herd-master", "-f", "s.yaml", "--tls-ca", "ca.pem", NULL};
    assert_int_equal(parse(&o, argv, err, sizeof err), 0);
    char *want = realpath(path, NULL);
    assert_string_equal(o.tls_ca, want);
    assert_false(o.insecure);
    free(want);
    master_options_free(&o);
    assert_int_equal(chdir(cwd), 0);
    unlink(path);
    rmdir(dir);
}

static void test_missing_tls_ca_is_a_usage_error(void **state)
{
    (void)state;
    master_options_t o;
    char err[512] = "";
    char *argv[] = {"herd-master", "-f", "s.yaml", "--tls-ca", "/nonexistent/ca.pem", NULL};
    assert_int_equal(parse(&o, argv, err, sizeof err), -1);
    assert_string_equal(err, "--tls-ca: /nonexistent/ca.pem: No such file or directory");
    master_options_free(&o);
}

static void test_insecure_from_every_source(void **state)
{
    (void)state;
    master_options_t o;
    char err[512] = "";
    char *argv[] = {"herd-master", "-f", "s.yaml", "--insecure", NULL};
    assert_int_equal(parse(&o, argv, err, sizeof err), 0);
    assert_true(o.insecure);
    assert_null(o.tls_ca);
    master_options_free(&o);

    setenv("HERD_INSECURE", "true", 1);
    setenv("HERD_TLS_CA", "/etc/hostname", 1);
    char *plain[] = {"herd-master", "-f", "s.yaml", NULL};
    assert_int_equal(parse(&o, plain, err, sizeof err), 0);
    assert_true(o.insecure);
    assert_non_null(o.tls_ca);
    assert_string_equal(o.tls_ca, "/etc/hostname");
    master_options_free(&o);
    unsetenv("HERD_INSECURE");
    unsetenv("HERD_TLS_CA");

    char conf[] = "/tmp/herd-opt-conf-XXXXXX";
    int fd = mkstemp(conf);
    assert_true(fd >= 0);
    const char *text = "insecure = true\ntls-ca = /etc/hostname\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char *with_conf[] = {"herd-master", "-f", "s.yaml", "--config", conf, NULL};
    assert_int_equal(parse(&o, with_conf, err, sizeof err), 0);
    assert_true(o.insecure);
    assert_string_equal(o.tls_ca, "/etc/hostname");
    master_options_free(&o);
    unlink(conf);
}

int main(void)
{
    unsetenv("HERD_INSECURE");
    unsetenv("HERD_TLS_CA");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_ca_is_made_absolute),
        cmocka_unit_test(test_missing_tls_ca_is_a_usage_error),
        cmocka_unit_test(test_insecure_from_every_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
