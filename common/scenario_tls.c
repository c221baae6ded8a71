/*
 * scenario_tls — the `tls:` key (under defaults or a user class) and the master's --tls-ca /
 * --insecure over it. The certificate files are checked here, at load time, with OpenSSL's
 * own PEM readers, so a wrong file is a "FILE:LINE:COLUMN:" error on the master before any
 * worker starts, not a failed handshake on every request.
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>

#include "scenario_internal.h"

static const char *const tls_keys[] = {"ca", "insecure", "cert", "key", "min_version", NULL};

/* Certificates in f: how many PEM certificates OpenSSL reads from it. */
static int count_certs(const scenario_file_t *f)
{
    BIO *b = BIO_new_mem_buf(f->data, (int)f->len);
    if (!b)
        return -1;
    STACK_OF(X509_INFO) *inf = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL);
    int n = 0;
    for (int i = 0; inf && i < sk_X509_INFO_num(inf); i++)
        if (sk_X509_INFO_value(inf, i)->x509)
            n++;
    sk_X509_INFO_pop_free(inf, X509_INFO_free);
    BIO_free(b);
    ERR_clear_error();
    return n;
}

static X509 *first_cert(const scenario_file_t *f)
{
    BIO *b = BIO_new_mem_buf(f->data, (int)f->len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    ERR_clear_error();
    return x;
}

static EVP_PKEY *first_key(const scenario_file_t *f)
{
    BIO *b = BIO_new_mem_buf(f->data, (int)f->len);
    EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    ERR_clear_error();
    return k;
}

/* The client certificate and key of *tls go together: a certificate, a private key (in
 * `key`, or in the certificate's own file, as curl allows), and they match. Errors at the
 * node that set the last of them. */
static int check_pair(loader_t *L, const ynode_t *cert_n, const ynode_t *key_n,
                      const scenario_tls_t *tls)
{
    if (!tls->cert && !tls->key)
        return 0;
    const ynode_t *at = key_n ? key_n : cert_n;
    if (!tls->cert)
        return sc_fail(L, at, "'key' needs 'cert', the client certificate it belongs to");
    X509 *x = first_cert(tls->cert);
    if (!x)
        return sc_fail(L, cert_n ? cert_n : at, "'cert': %s holds no PEM certificate",
                       SC_SHOW(tls->cert->name));
    EVP_PKEY *k = first_key(tls->key ? tls->key : tls->cert);
    int rc = 0;
    if (!k && tls->key)
        rc = sc_fail(L, at, "'key': %s holds no PEM private key (an encrypted key is not "
                     "supported)", SC_SHOW(tls->key->name));
    else if (!k)
        rc = sc_fail(L, at, "'cert' needs 'key': %s holds no private key",
                     SC_SHOW(tls->cert->name));
    else if (X509_check_private_key(x, k) != 1)
        rc = sc_fail(L, at, "'key': %s is not the private key of 'cert' %s",
                     SC_SHOW(tls->key ? tls->key->name : tls->cert->name),
                     SC_SHOW(tls->cert->name));
    ERR_clear_error();
    EVP_PKEY_free(k);
    X509_free(x);
    return rc;
}

static int ca_file(loader_t *L, const ynode_t *n, const char *key, const scenario_file_t *f)
{
    if (count_certs(f) > 0)
        return 0;
    return sc_fail(L, n, "'%s': %s holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")",
                   key, SC_SHOW(f->name));
}

int sc_tls(loader_t *L, const ynode_t *n, scenario_tls_t *tls)
{
    if (sc_map(L, n, "tls", "ca, insecure, cert, key and min_version") ||
        sc_check_keys(L, n, tls_keys, "tls"))
        return -1;
    const ynode_t *v, *cert_n = NULL, *key_n = NULL;
    if ((v = ytree_get(n, "ca")) &&
        (sc_file(L, v, "ca", &tls->ca) || ca_file(L, v, "ca", tls->ca)))
        return -1;
    if ((v = ytree_get(n, "insecure")) && !ytree_bool(v, &tls->insecure))
        return sc_fail(L, v, "'insecure' must be true or false, got %s", ytree_describe(v));
    if ((v = ytree_get(n, "min_version"))) {
        const char *s;
        if (sc_text(L, v, "min_version", &s))
            return -1;
        if (strcmp(s, "1.2") == 0)
            tls->min_version = 12;
        else if (strcmp(s, "1.3") == 0)
            tls->min_version = 13;
        else
            return sc_fail(L, v, "'min_version' must be \"1.2\" or \"1.3\", got '%s'",
                           SC_SHOW(s));
    }
    if ((cert_n = ytree_get(n, "cert")) && sc_file(L, cert_n, "cert", &tls->cert))
        return -1;
    if ((key_n = ytree_get(n, "key")) && sc_file(L, key_n, "key", &tls->key))
        return -1;
    if (!cert_n && !key_n)
        return 0;
    return check_pair(L, cert_n ? cert_n : n, key_n, tls);
}

int sc_tls_command_line(loader_t *L, scenario_tls_t *tls)
{
    const scenario_source_t *src = L->src;
    if (!src)
        return 0;
    if (src->insecure)
        tls->insecure = true;
    if (!src->tls_ca)
        return 0;
    if (sc_file_named(L, NULL, src->tls_ca, "--tls-ca", &tls->ca))
        return -1;
    return ca_file(L, NULL, "--tls-ca", tls->ca);
}
