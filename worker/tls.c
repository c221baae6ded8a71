/*
 * tls — OpenSSL contexts and connections for the native transport, and the same options
 * on libcurl. See tls.h for the contract.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char alpn_http11[] = "\x08http/1.1";

tls_opts_t tls_opts_from(const scenario_tls_t *s)
{
    return (tls_opts_t){
        .ca = s->ca ? s->ca->data : NULL,
        .ca_len = s->ca ? s->ca->len : 0,
        .cert = s->cert ? s->cert->data : NULL,
        .cert_len = s->cert ? s->cert->len : 0,
        .key = s->key ? s->key->data : NULL,
        .key_len = s->key ? s->key->len : 0,
        .insecure = s->insecure,
        .min_version = s->min_version,
    };
}

const char *tls_env_ca_file(void)
{
    const char *v = getenv("CURL_CA_BUNDLE");
    if (v && *v)
        return v;
    v = getenv("SSL_CERT_FILE");
    return v && *v ? v : NULL;
}

const char *tls_env_ca_dir(void)
{
    const char *v = getenv("CURL_CA_BUNDLE");
    if (v && *v)
        return NULL; /* curl's tool: CURL_CA_BUNDLE alone, else SSL_CERT_DIR and _FILE */
    v = getenv("SSL_CERT_DIR");
    return v && *v ? v : NULL;
}

/* OpenSSL's reason for the last failure, for messages. */
static const char *ossl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    return r ? r : "unknown error";
}

/* The server gave a session (after the handshake in TLS 1.3): keep it for the next
 * connection of the same tls_conn_t. Returning 1 takes the reference. */
static int on_new_session(SSL *ssl, SSL_SESSION *s)
{
    tls_conn_t *t = SSL_get_app_data(ssl);
    if (!t)
        return 0;
    if (t->session)
        SSL_SESSION_free(t->session);
    t->session = s;
    return 1;
}

static int load_ca(SSL_CTX *ctx, const tls_opts_t *o, char *err, size_t errlen)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    if (o && o->ca) {
        BIO *b = BIO_new_mem_buf(o->ca, (int)o->ca_len);
        STACK_OF(X509_INFO) *inf = b ? PEM_X509_INFO_read_bio(b, NULL, NULL, NULL) : NULL;
        size_t added = 0;
        for (int i = 0; inf && i < sk_X509_INFO_num(inf); i++) {
            X509_INFO *xi = sk_X509_INFO_value(inf, i);
            if (xi->x509 && X509_STORE_add_cert(store, xi->x509) == 1)
                added++;
        }
        sk_X509_INFO_pop_free(inf, X509_INFO_free);
        BIO_free(b);
        if (added == 0) {
            snprintf(err, errlen, "error setting certificate verify locations: no certificate "
                     "in the CA file");
            return -1;
        }
        return 0;
    }
    const char *file = tls_env_ca_file(), *dir = tls_env_ca_dir();
    if (file || dir) {
        if (SSL_CTX_load_verify_locations(ctx, file, dir) != 1) {
            snprintf(err, errlen, "error setting certificate verify locations: CAfile: %s "
                     "CApath: %s", file ? file : "none", dir ? dir : "none");
            return -1;
        }
        return 0;
    }
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        snprintf(err, errlen, "error setting the system's certificate locations: %s",
                 ossl_reason());
        return -1;
    }
    return 0;
}

static int load_client_cert(SSL_CTX *ctx, const tls_opts_t *o, char *err, size_t errlen)
{
    BIO *b = BIO_new_mem_buf(o->cert, (int)o->cert_len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    if (!x || SSL_CTX_use_certificate(ctx, x) != 1) {
        snprintf(err, errlen, "could not load PEM client certificate: %s", ossl_reason());
        X509_free(x);
        BIO_free(b);
        return -1;
    }
    X509_free(x);
    X509 *extra; /* the rest of the file is the chain */
    while ((extra = PEM_read_bio_X509(b, NULL, NULL, NULL)))
        if (SSL_CTX_add0_chain_cert(ctx, extra) != 1)
            X509_free(extra);
    ERR_clear_error(); /* the end of the file */
    BIO_free(b);
    const char *kp = o->key ? o->key : o->cert; /* curl: the key may sit in the cert file */
    size_t kl = o->key ? o->key_len : o->cert_len;
    b = BIO_new_mem_buf(kp, (int)kl);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!k || SSL_CTX_use_PrivateKey(ctx, k) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "unable to set private key: %s", ossl_reason());
        EVP_PKEY_free(k);
        return -1;
    }
    EVP_PKEY_free(k);
    return 0;
}

SSL_CTX *tls_ctx_new(const tls_opts_t *o, CURLcode *rc, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        *rc = CURLE_OUT_OF_MEMORY;
        snprintf(err, errlen, "SSL_CTX_new: %s", ossl_reason());
        return NULL;
    }
    /* Partial writes keep the request's bytes where they are between retries; read-ahead
     * takes a response's records in one recv; an EOF without close_notify is an EOF (a
     * body that runs to the end of the connection), as for curl. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_alpn_protos(ctx, alpn_http11, sizeof alpn_http11 - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    if (o && o->min_version) {
        SSL_CTX_set_min_proto_version(ctx, o->min_version == 13 ? TLS1_3_VERSION
                                                               : TLS1_2_VERSION);
    }
    if (o && o->insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (load_ca(ctx, o, err, errlen) < 0) {
            *rc = CURLE_SSL_CACERT_BADFILE;
            goto fail;
        }
    }
    if (o && o->cert && load_client_cert(ctx, o, err, errlen) < 0) {
        *rc = CURLE_SSL_CERTPROBLEM;
        goto fail;
    }
    ERR_clear_error();
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

void tls_ctx_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}

void tls_curl_apply(CURL *h, const tls_opts_t *o)
{
    if (o && o->ca) {
        struct curl_blob b = { .data = (void *)o->ca, .len = o->ca_len,
                               .flags = CURL_BLOB_NOCOPY };
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
    } else {
        const char *file = tls_env_ca_file(), *dir = tls_env_ca_dir();
        if (file)
            curl_easy_setopt(h, CURLOPT_CAINFO, file);
        if (dir)
            curl_easy_setopt(h, CURLOPT_CAPATH, dir);
    }
    if (!o)
        return;
    if (o->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (o->cert) {
        struct curl_blob b = { .data = (void *)o->cert, .len = o->cert_len,
                               .flags = CURL_BLOB_NOCOPY };
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &b);
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (o->key) {
        struct curl_blob b = { .data = (void *)o->key, .len = o->key_len,
                               .flags = CURL_BLOB_NOCOPY };
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &b);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (o->min_version)
        curl_easy_setopt(h, CURLOPT_SSLVERSION,
                         o->min_version == 13 ? CURL_SSLVERSION_TLSv1_3 : CURL_SSLVERSION_TLSv1_2);
}

/* ---- connections ------------------------------------------------------------------------ */

int tls_conn_open(tls_conn_t *t, SSL_CTX *ctx, int fd, const char *host)
{
    tls_conn_close(t);
    SSL *ssl = SSL_new(ctx);
    if (!ssl)
        return -1;
    SSL_set_app_data(ssl, t);
    SSL_set_fd(ssl, fd);
    /* host may be "[::1]": the address inside the brackets. */
    char name[256];
    size_t hl = strlen(host);
    if (host[0] == '[' && hl >= 2 && hl - 2 < sizeof name) {
        memcpy(name, host + 1, hl - 2);
        name[hl - 2] = '\0';
    } else {
        snprintf(name, sizeof name, "%s", host);
    }
    unsigned char addr[16];
    bool is_ip = inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
    if (SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
        int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, name)
                       : X509_VERIFY_PARAM_set1_host(vp, name, 0);
        if (ok != 1) {
            SSL_free(ssl);
            return -1;
        }
    }
    if (!is_ip)
        SSL_set_tlsext_host_name(ssl, name);
    if (t->session)
        SSL_set_session(ssl, t->session);
    SSL_set_connect_state(ssl);
    t->ssl = ssl;
    t->handshaken = false;
    t->failed = false;
    return 0;
}

/* What SSL_get_error says about ret, as a tls_io_t. */
static tls_io_t io_result(tls_conn_t *t, int ret)
{
    switch (SSL_get_error(t->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        return TLS_IO_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return TLS_IO_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return TLS_IO_EOF;
    default: /* SSL_ERROR_SYSCALL, SSL_ERROR_SSL: the connection is unusable */
        t->failed = true;
        ERR_clear_error();
        return TLS_IO_ERROR;
    }
}

tls_io_t tls_conn_handshake(tls_conn_t *t, CURLcode *rc)
{
    int ret = SSL_connect(t->ssl);
    if (ret == 1) {
        t->handshaken = true;
        return TLS_IO_OK;
    }
    tls_io_t io = io_result(t, ret);
    if (io == TLS_IO_WANT_READ || io == TLS_IO_WANT_WRITE)
        return io;
    /* curl (openssl.c): a certificate that failed verification is "peer failed
     * verification", anything else (reset, alert, EOF) an SSL connect error. */
    *rc = SSL_get_verify_result(t->ssl) != X509_V_OK ? CURLE_PEER_FAILED_VERIFICATION
                                                     : CURLE_SSL_CONNECT_ERROR;
    return TLS_IO_ERROR;
}

tls_io_t tls_conn_write(tls_conn_t *t, const void *p, size_t len, size_t *n)
{
    size_t done = 0;
    int ret = SSL_write_ex(t->ssl, p, len, &done);
    *n = done;
    return ret == 1 ? TLS_IO_OK : io_result(t, ret);
}

tls_io_t tls_conn_read(tls_conn_t *t, void *p, size_t len, size_t *n)
{
    size_t done = 0;
    int ret = SSL_read_ex(t->ssl, p, len, &done);
    *n = done;
    return ret == 1 ? TLS_IO_OK : io_result(t, ret);
}

bool tls_conn_pending(const tls_conn_t *t)
{
    return t->ssl && SSL_has_pending(t->ssl);
}

void tls_conn_close(tls_conn_t *t)
{
    if (t->ssl) {
        /* A close_notify (one write, not waited for): OpenSSL forgets the session of a
         * connection freed without one, and the next connection could not resume. */
        if (t->handshaken && !t->failed)
            SSL_shutdown(t->ssl);
        SSL_free(t->ssl);
        ERR_clear_error();
    }
    t->ssl = NULL;
    t->handshaken = false;
    t->failed = false;
}

void tls_conn_free(tls_conn_t *t)
{
    tls_conn_close(t);
    if (t->session)
        SSL_SESSION_free(t->session);
    t->session = NULL;
}
