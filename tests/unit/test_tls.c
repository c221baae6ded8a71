/*
 * Unit tests for worker/tls.c: a context is built from the TLS options, and bad files fail
 * with the CURLcode libcurl gives for them (a CA file with no certificate:
 * CURLE_SSL_CACERT_BADFILE; a client certificate or key that does not load or match:
 * CURLE_SSL_CERTPROBLEM); the environment's CA file is taken as curl's tool takes it.
 * The PEM texts were made for these tests with the openssl CLI (EC P-256, self-signed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../worker/tls.h"

static const char CA_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBhTCCASugAwIBAgIUbUpovPGYVmIfXi3RRYC5QqqIL54wCgYIKoZIzj0EAwIw\n"
    "FzEVMBMGA1UEAwwMaGVyZC11bml0LWNhMCAXDTI2MTEzMDAyNTIxNloYDzIxMjYx\n"
    "MTA2MDI1MjE2WjAXMRUwEwYDVQQDDAxoZXJkLXVuaXQtY2EwWTATBgcqhkjOPQIB\n"
    "BggqhkjOPQMBBwNCAAT9ZPTH4f3GpNiHoe1TM4eYGbiIoKhfOS7dRrIv0p9cZBMw\n"
    "gMMoVQfz/uvpaegez1+5/Zs76XcGDjUUUbMo9oJzo1MwUTAdBgNVHQ4EFgQURX0u\n"
    "EK/xisR/I2eQEnSkWMwtCDcwHwYDVR0jBBgwFoAURX0uEK/xisR/I2eQEnSkWMwt\n"
    "CDcwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiACRUK/Nh3MPqj1\n"
    "TCbh1SYLD/FElKNb9H2k8IiderF6IAIhALpaxIu9gpLDJk2rzgk2Dt+nG3uTSWkU\n"
    "f8vK4WAJDQSW\n"
    "-----END CERTIFICATE-----\n"
    ;
static const char CLIENT_PEM[] =
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
    ;
static const char CLIENT_KEY[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgvzQqS/9p5ujiGObE\n"
    "76LH7zevCi5CbEopTfxVNJCNweOhRANCAAQIopG5PJ1gg5V5Jv45ib2Ge5TerOcd\n"
    "kN9vhooaiKZfcFRzl1FMGOlLsPCyi/RoeU9Oi3rRoln7M3DLIgXrvnFw\n"
    "-----END PRIVATE KEY-----\n"
    ;
static const char OTHER_KEY[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgP8pNAaDH+/rMcfYI\n"
    "InAsClWJG2/jdHSpl/qTiY0lXf+hRANCAASoSI/Jfw4mPGUQ6dOBaa1JE5I/Z4dK\n"
    "5khqOyOeTzXHuEl/+kXduxspO4jtTwEg41G2NuOAIQWGP5LAttq/1tEv\n"
    "-----END PRIVATE KEY-----\n"
    ;

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
