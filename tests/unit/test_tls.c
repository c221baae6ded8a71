/*
 * Unit tests for worker/tls.c: a context is built from the TLS options, and bad files fail
 * with the CURLcode libcurl gives for them (a CA file with no certificate:
 * CURLE_SSL_CACERT_BADFILE; a client certificate or key that does not load or match:
 * CURLE_SSL_CERTPROBLEM); the environment's CA file is taken as curl's tool takes it.
 * The PEM texts are tls_fixture.h's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../worker/tls.h"

#include "tls_fixture.h"

#define PEM(x) x, sizeof x - 1

static void test_contexts_from_options(void **state)
{
    (void)state;
    CURLcode rc = CURLE_OK;
    char err[300];
    SSL_CTX *ctx = tls_ctx_new(NULL, &rc, err, sizeof err);
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER);
    tls_ctx_free(ctx);

    tls_opts_t o = { .ca = PEM(CA_PEM), .cert = PEM(CLIENT_PEM), .key = PEM(CLIENT_KEY),
                     .min_version = 13 };
    ctx = tls_ctx_new(&o, &rc, err, sizeof err);
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
    assert_non_null(SSL_CTX_get0_certificate(ctx));
    tls_ctx_free(ctx);

    tls_opts_t insecure = { .insecure = true, .ca = "junk", .ca_len = 4 };
    ctx = tls_ctx_new(&insecure, &rc, err, sizeof err);  /* no CA is read: none is used */
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_NONE);
    tls_ctx_free(ctx);
}

static void test_bad_files_fail_as_curl(void **state)
{
    (void)state;
    CURLcode rc = CURLE_OK;
    char err[300];
    tls_opts_t o = { .ca = "junk", .ca_len = 4 };
    assert_null(tls_ctx_new(&o, &rc, err, sizeof err));
    assert_int_equal(rc, CURLE_SSL_CACERT_BADFILE);
    tls_opts_t mismatch = { .cert = PEM(CLIENT_PEM), .key = PEM(OTHER_KEY) };
    assert_null(tls_ctx_new(&mismatch, &rc, err, sizeof err));
    assert_int_equal(rc, CURLE_SSL_CERTPROBLEM);
    tls_opts_t nokey = { .cert = PEM(CLIENT_PEM) };
    assert_null(tls_ctx_new(&nokey, &rc, err, sizeof err));
    assert_int_equal(rc, CURLE_SSL_CERTPROBLEM);
}

static void test_environment_ca(void **state)
{
    (void)state;
    unsetenv("CURL_CA_BUNDLE");
    unsetenv("SSL_CERT_FILE");
    unsetenv("SSL_CERT_DIR");
    assert_null(tls_env_ca_file());
    assert_null(tls_env_ca_dir());
    setenv("SSL_CERT_FILE", "/b.pem", 1);
    assert_string_equal(tls_env_ca_file(), "/b.pem");
    setenv("CURL_CA_BUNDLE", "/a.pem", 1);   /* curl's tool: CURL_CA_BUNDLE first */
    assert_string_equal(tls_env_ca_file(), "/a.pem");
    setenv("SSL_CERT_DIR", "/certs", 1);
    assert_null(tls_env_ca_dir());           /* ... and alone */
    unsetenv("CURL_CA_BUNDLE");
    assert_string_equal(tls_env_ca_dir(), "/certs");
    assert_string_equal(tls_env_ca_file(), "/b.pem");
    /* A CA file that cannot be read fails as curl's does. */
    CURLcode rc = CURLE_OK;
    char err[300];
    setenv("CURL_CA_BUNDLE", "/nonexistent/ca.pem", 1);
    unsetenv("SSL_CERT_DIR");
    assert_null(tls_ctx_new(NULL, &rc, err, sizeof err));
    assert_int_equal(rc, CURLE_SSL_CACERT_BADFILE);
    unsetenv("CURL_CA_BUNDLE");
    unsetenv("SSL_CERT_FILE");
}

static void test_scenario_options(void **state)
{
    (void)state;
    scenario_file_t ca = { .name = "ca.pem", .data = (char *)CA_PEM, .len = sizeof CA_PEM - 1 };
    scenario_tls_t s = { .ca = &ca, .insecure = true, .min_version = 12 };
    tls_opts_t o = tls_opts_from(&s);
    assert_ptr_equal(o.ca, CA_PEM);
    assert_int_equal(o.ca_len, sizeof CA_PEM - 1);
    assert_null(o.cert);
    assert_null(o.key);
    assert_true(o.insecure);
    assert_int_equal(o.min_version, 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contexts_from_options),
        cmocka_unit_test(test_bad_files_fail_as_curl),
        cmocka_unit_test(test_environment_ca),
        cmocka_unit_test(test_scenario_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
