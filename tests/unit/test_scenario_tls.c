/*
 * Unit tests for common/scenario_tls.c: the `tls:` key under defaults and a class (class
 * wins key by key), the master's --tls-ca / --insecure over both, the certificate files
 * checked at load, and every mistake reported as one "FILE:LINE:COLUMN:" line.
 * The PEM texts are tls_fixture.h's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/scenario.h"

#include "tls_fixture.h"
static const char BOTH_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBjDCCATOgAwIBAgIUQRwvN0c3vUuUfTLUCPO1sJa81ogwCgYIKoZIzj0EAwIw\n"
    "GzEZMBcGA1UEAwwQaGVyZC11bml0LWNsaWVudDAgFw0yNjExMzAwMjUyMTZaGA8y\n"
    "MTI2MTEwNjAyNTIxNlowGzEZMBcGA1UEAwwQaGVyZC11bml0LWNsaWVudDBZMBMG\n"
    "ByqGSM49AgEGCCqGSM49AwEHA0IABAiikbk8nWCDlXkm/jmJvYZ7lN6s5x2Q32+G\n"
    "ihqIpl9wVHOXUUwY6Uuw8LKL9Gh5T06LetGiWfszcMsiBeu+cXCjUzBRMB0GA1Ud\n"
    "DgQWBBTMKc7VPByXkaCZQUKdCAbLIMlD3zAfBgNVHSMEGDAWgBTMKc7VPByXkaCZ\n"
    "QUKdCAbLIMlD3zAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIHoh\n"
    "o5VLiXO4MEEQfspv8/GZHCsR8dgifzH3p+rOG/jQAiACDaqsXqn8OAf0eBXujMRC\n"
    "eGtBWq3XMxmlc+iHuUh0dg==\n"
    "-----END CERTIFICATE-----\n"
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgvzQqS/9p5ujiGObE\n"
    "76LH7zevCi5CbEopTfxVNJCNweOhRANCAAQIopG5PJ1gg5V5Jv45ib2Ge5TerOcd\n"
    "kN9vhooaiKZfcFRzl1FMGOlLsPCyi/RoeU9Oi3rRoln7M3DLIgXrvnFw\n"
    "-----END PRIVATE KEY-----\n"
    ;

/* The files a worker would get: every name these tests use. */
static const scenario_file_t shipped[] = {
    { .name = "ca.pem", .data = (char *)CA_PEM, .len = sizeof CA_PEM - 1 },
    { .name = "client.pem", .data = (char *)CLIENT_PEM, .len = sizeof CLIENT_PEM - 1 },
    { .name = "client.key", .data = (char *)CLIENT_KEY, .len = sizeof CLIENT_KEY - 1 },
    { .name = "other.key", .data = (char *)OTHER_KEY, .len = sizeof OTHER_KEY - 1 },
    { .name = "both.pem", .data = (char *)BOTH_PEM, .len = sizeof BOTH_PEM - 1 },
    { .name = "junk.pem", .data = (char *)"not PEM\n", .len = 8 },
    { .name = "/abs/cli-ca.pem", .data = (char *)CA_PEM, .len = sizeof CA_PEM - 1 },
};

static scenario_source_t source(const char *tls_ca, bool insecure)
{
    return (scenario_source_t){ .shipped = shipped,
                                .n_shipped = sizeof shipped / sizeof shipped[0],
                                .tls_ca = tls_ca, .insecure = insecure };
}

static scenario_t *load_ok(const char *text, const scenario_source_t *src)
{
    scenario_t *sc = NULL;
    char err[512] = "";
    int rc = scenario_load(text, strlen(text), "s.yaml", src, &sc, err, sizeof err);
    if (rc != 0)
        fail_msg("unexpected error: %s", err);
    return sc;
}

static void expect_error(const char *text, const scenario_source_t *src, const char *want)
{
    scenario_t *sc = NULL;
    char err[512] = "";
    assert_int_equal(scenario_load(text, strlen(text), "s.yaml", src, &sc, err, sizeof err), -1);
    assert_null(sc);
    if (strcmp(err, want) != 0)
        fail_msg("got:  %s\nwant: %s", err, want);
}

static void test_class_wins_key_by_key(void **state)
{
    (void)state;
    scenario_source_t src = source(NULL, false);
    scenario_t *sc = load_ok("defaults:\n"
                             "  tls: {ca: ca.pem, insecure: true, min_version: \"1.2\"}\n"
                             "users:\n"
                             "  - name: A\n"
                             "    tls: {insecure: false, min_version: \"1.3\"}\n"
                             "    tasks: [{name: t, steps: [{get: /}]}]\n"
                             "  - name: B\n"
                             "    tasks: [{name: t, steps: [{get: /}]}]\n",
                             &src);
    const scenario_tls_t *a = &sc->classes[0].tls, *b = &sc->classes[1].tls;
    assert_non_null(a->ca);
    assert_string_equal(a->ca->name, "ca.pem");
    assert_false(a->insecure);
    assert_int_equal(a->min_version, 13);
    assert_ptr_equal(b->ca, a->ca);   /* one file, named twice */
    assert_true(b->insecure);
    assert_int_equal(b->min_version, 12);
    assert_true(sc->tls.insecure);    /* the setup's */
    assert_int_equal(sc->n_files, 1);
    scenario_free(sc);
}

static void test_client_certificate(void **state)
{
    (void)state;
    scenario_source_t src = source(NULL, false);
    scenario_t *sc = load_ok("users:\n"
                             "  - name: A\n"
                             "    tls: {cert: client.pem, key: client.key}\n"
                             "    tasks: [{name: t, steps: [{get: /}]}]\n"
                             "  - name: B\n"
                             "    tls: {cert: both.pem}\n"
                             "    tasks: [{name: t, steps: [{get: /}]}]\n",
                             &src);
    assert_string_equal(sc->classes[0].tls.cert->name, "client.pem");
    assert_string_equal(sc->classes[0].tls.key->name, "client.key");
    assert_string_equal(sc->classes[1].tls.cert->name, "both.pem"); /* key in the same file */
    assert_null(sc->classes[1].tls.key);
    assert_null(sc->tls.cert);
    scenario_free(sc);
}

static void test_command_line_wins(void **state)
{
    (void)state;
    scenario_source_t src = source("/abs/cli-ca.pem", true);
    scenario_t *sc = load_ok("defaults: {tls: {insecure: false}}\n"
                             "users:\n"
                             "  - name: A\n"
                             "    tls: {ca: ca.pem, insecure: false}\n"
                             "    tasks: [{name: t, steps: [{get: /}]}]\n"
                             "  - name: B\n"
                             "    tasks: [{name: t, steps: [{get: /}]}]\n",
                             &src);
    for (size_t i = 0; i < 2; i++) {
        assert_true(sc->classes[i].tls.insecure);
        assert_string_equal(sc->classes[i].tls.ca->name, "/abs/cli-ca.pem");
    }
    assert_string_equal(sc->tls.ca->name, "/abs/cli-ca.pem");
    /* Both files travel: the scenario's and the command line's. */
    assert_int_equal(sc->n_files, 2);
    scenario_free(sc);
}

static void test_no_tls_means_defaults(void **state)
{
    (void)state;
    scenario_source_t src = source(NULL, false);
    scenario_t *sc = load_ok("users: [{name: A, tasks: [{name: t, steps: [{get: /}]}]}]\n", &src);
    const scenario_tls_t *t = &sc->classes[0].tls;
    assert_null(t->ca);
    assert_null(t->cert);
    assert_false(t->insecure);
    assert_int_equal(t->min_version, 0);
    assert_int_equal(sc->n_files, 0);
    scenario_free(sc);
}

#define CLASS_WITH(tls) "users:\n  - name: A\n    tls: " tls "\n    tasks: [{name: t, steps: [{get: /}]}]\n"

static void test_errors(void **state)
{
    (void)state;
    scenario_source_t src = source(NULL, false);
    expect_error(CLASS_WITH("yes"), &src,
                 "s.yaml:3:10: 'tls' must be a mapping of ca, insecure, cert, key and "
                 "min_version, got a string");
    expect_error(CLASS_WITH("{verify: false}"), &src,
                 "s.yaml:3:11: unknown key 'verify' in tls (expected one of: ca, insecure, cert, "
                 "key, min_version)");
    expect_error(CLASS_WITH("{insecure: maybe}"), &src,
                 "s.yaml:3:21: 'insecure' must be true or false, got a string");
    expect_error(CLASS_WITH("{min_version: 1.1}"), &src,
                 "s.yaml:3:24: 'min_version' must be \"1.2\" or \"1.3\", got '1.1'");
    expect_error(CLASS_WITH("{ca: junk.pem}"), &src,
                 "s.yaml:3:15: 'ca': junk.pem holds no PEM certificate (\"-----BEGIN "
                 "CERTIFICATE-----\")");
    expect_error(CLASS_WITH("{ca: gone.pem}"), &src,
                 "s.yaml:3:15: 'ca': gone.pem was not sent with the scenario");
    expect_error(CLASS_WITH("{key: client.key}"), &src,
                 "s.yaml:3:16: 'key' needs 'cert', the client certificate it belongs to");
    expect_error(CLASS_WITH("{cert: client.pem}"), &src,
                 "s.yaml:3:17: 'cert' needs 'key': client.pem holds no private key");
    expect_error(CLASS_WITH("{cert: client.pem, key: other.key}"), &src,
                 "s.yaml:3:34: 'key': other.key is not the private key of 'cert' client.pem");
    expect_error(CLASS_WITH("{cert: ca.pem, key: junk.pem}"), &src,
                 "s.yaml:3:30: 'key': junk.pem holds no PEM private key (an encrypted key is "
                 "not supported)");
    expect_error(CLASS_WITH("{cert: junk.pem, key: client.key}"), &src,
                 "s.yaml:3:17: 'cert': junk.pem holds no PEM certificate");
    expect_error("defaults: {tls: {ca: [a]}}\nusers: [{name: A, tasks: [{name: t, steps: "
                 "[{get: /}]}]}]\n", &src,
                 "s.yaml:1:22: 'ca' must be a string, got a list");
    scenario_source_t bad = source("junk.pem", false);
    expect_error("users: [{name: A, tasks: [{name: t, steps: [{get: /}]}]}]\n", &bad,
                 "s.yaml:1:1: '--tls-ca': junk.pem holds no PEM certificate (\"-----BEGIN "
                 "CERTIFICATE-----\")");
}

static void test_no_source_refuses_files(void **state)
{
    (void)state;
    const char *text = CLASS_WITH("{ca: ca.pem}");
    scenario_t *sc = NULL;
    char err[512];
    assert_int_equal(scenario_load_text(text, strlen(text), "s.yaml", &sc, err, sizeof err), -1);
    assert_string_equal(err, "s.yaml:3:15: 'ca': this scenario names a file (ca.pem), which "
                             "cannot be read here");
    /* insecure and min_version need no file */
    text = CLASS_WITH("{insecure: true, min_version: \"1.3\"}");
    assert_int_equal(scenario_load_text(text, strlen(text), "s.yaml", &sc, err, sizeof err), 0);
    assert_true(sc->classes[0].tls.insecure);
    scenario_free(sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_class_wins_key_by_key),
        cmocka_unit_test(test_client_certificate),
        cmocka_unit_test(test_command_line_wins),
        cmocka_unit_test(test_no_tls_means_defaults),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_no_source_refuses_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
