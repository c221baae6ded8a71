/*
 * tls_fixture — the PEM texts of the TLS unit tests (tests/unit/test_tls.c,
 * test_scenario_tls.c), made for them with the openssl CLI (EC P-256, self-signed): a CA, a
 * client certificate and its key, and a key that matches neither.
 */
#ifndef HERD_TEST_TLS_FIXTURE_H
#define HERD_TEST_TLS_FIXTURE_H

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

#endif
