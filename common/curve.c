#include "curve.h"

#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The Z85 text of an all-zero key: what zcert has for a secret it was not given. */
static const char ZERO_KEY[] = "0000000000000000000000000000000000000000";

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int curve_gen_keys(const char *dir, const char *name, const char *role, FILE *out, char *err,
                   size_t errlen)
{
    char key[4096], pub[4096];
    if ((size_t)snprintf(key, sizeof key, "%s/%s.key", dir, name) >= sizeof key ||
        (size_t)snprintf(pub, sizeof pub, "%s/%s.pub", dir, name) >= sizeof pub) {
        snprintf(err, errlen, "--gen-keys '%s': path too long", dir);
        return -1;
    }
    /* The directory and its parents, as mkdir -p (keys/master with no keys/ yet). */
    char part[4096];
    snprintf(part, sizeof part, "%s", dir);
    for (char *p = part + 1;; p++) {
        bool last = *p == '\0';
        if (*p != '/' && !last)
            continue;
        *p = '\0';
        if (mkdir(part, 0700) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "--gen-keys: cannot create directory %s: %s", part,
                     strerror(errno));
            return -1;
        }
        if (last)
            break;
        *p = '/';
    }
    const char *taken = exists(key) ? key : exists(pub) ? pub : NULL;
    if (taken) {
        snprintf(err, errlen, "--gen-keys: %s already exists (never overwritten): remove it or "
                 "choose another directory", taken);
        return -1;
    }
    zcert_t *cert = zcert_new();
    if (!cert) {
        snprintf(err, errlen, "--gen-keys: cannot make a key pair");
        return -1;
    }
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    zcert_set_meta(cert, "role", "%s", role);
    zcert_set_meta(cert, "host", "%s", host);
    /* The secret file is created 0600 before a byte is written to it. */
    mode_t old = umask(077);
    int rc = zcert_save_secret(cert, key);
    umask(old);
    if (rc == 0 && chmod(key, 0600) < 0)
        rc = -1;
    if (rc == 0)
        rc = zcert_save_public(cert, pub);
    zcert_destroy(&cert);
    if (rc != 0) {
        snprintf(err, errlen, "--gen-keys: cannot write %s and %s: %s", key, pub, strerror(errno));
        unlink(key);
        unlink(pub);
        return -1;
    }
    if (strcmp(role, "master") == 0)
        fprintf(out, "Wrote %s (the master's secret key, mode 0600: --curve-key on the master)\n"
                     "  and %s (its public key: --curve-master on every worker)\n", key, pub);
    else
        fprintf(out, "Wrote %s (this worker's secret key, mode 0600: --curve-key on the worker)\n"
                     "  and %s (its public key: copy it into the master's --curve-authorized "
                     "directory, under a name of its own if several workers have keys)\n",
                key, pub);
    return 0;
}

/* zcert_load reads PATH_secret when there is one, else PATH itself. */
static zcert_t *load(const char *path, const char *what, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(err, errlen, "%s %s: cannot read: %s", what, path, strerror(errno));
        return NULL;
    }
    struct stat st;
    bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    if (!regular) {
        snprintf(err, errlen, "%s %s: not a file", what, path);
        return NULL;
    }
    if (st.st_size > 64 * 1024) {
        snprintf(err, errlen, "%s %s: not a key file (%lld bytes; a key file is a few hundred)",
                 what, path, (long long)st.st_size);
        return NULL;
    }
    zcert_t *cert = zcert_load(path);
    if (!cert)
        snprintf(err, errlen, "%s %s: not a ZeroMQ certificate (a file written by --gen-keys, "
                 "with a curve section holding public-key)", what, path);
    return cert;
}

int curve_load_secret(const char *path, curve_keys_t *k, bool *loose, char *err, size_t errlen)
{
    zcert_t *cert = load(path, "--curve-key", err, errlen);
    if (!cert)
        return -1;
    int rc = 0;
    if (strcmp(zcert_secret_txt(cert), ZERO_KEY) == 0) {
        snprintf(err, errlen, "--curve-key %s: holds a public key only; give the secret key "
                 "file (NAME.key from --gen-keys)", path);
        rc = -1;
    } else {
        snprintf(k->public_txt, sizeof k->public_txt, "%s", zcert_public_txt(cert));
        snprintf(k->secret_txt, sizeof k->secret_txt, "%s", zcert_secret_txt(cert));
        struct stat st;
        *loose = stat(path, &st) == 0 && (st.st_mode & 077);
    }
    zcert_destroy(&cert);
    return rc;
}

int curve_load_public(const char *path, char public_txt[CURVE_KEY_TXT], char *err,
                      size_t errlen)
{
    zcert_t *cert = load(path, "--curve-master", err, errlen);
    if (!cert)
        return -1;
    snprintf(public_txt, CURVE_KEY_TXT, "%s", zcert_public_txt(cert));
    zcert_destroy(&cert);
    return 0;
}

long curve_count_authorized(const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "--curve-authorized %s: %s", dir,
                 errno == ENOTDIR ? "not a directory (give the directory of the workers' "
                                    ".pub files)"
                                  : strerror(errno));
        return -1;
    }
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        struct stat st;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path ||
            stat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > 64 * 1024)
            continue;
        zcert_t *cert = zcert_load(path);
        if (cert) {
            n++;
            zcert_destroy(&cert);
        }
    }
    closedir(d);
    if (n == 0)
        snprintf(err, errlen, "--curve-authorized %s: holds no public key (the workers' .pub "
                 "files from herd-worker --gen-keys): no worker could connect", dir);
    return n ? n : -1;
}

void *curve_czmq_context(void)
{
    zsys_handler_set(NULL);
    return zsys_init();
}

void *curve_zauth_start(const char *dir)
{
    zactor_t *a = zactor_new(zauth, NULL);
    if (a && (zstr_sendx(a, "CURVE", dir, NULL) < 0 || zsock_wait(a) < 0))
        zactor_destroy(&a);
    return a;
}

void curve_zauth_stop_all(void *zauth)
{
    zactor_t *a = zauth;
    if (a)
        zactor_destroy(&a);
    zsys_shutdown();
}

int curve_monitor_recv(void *mon, uint16_t *event, uint32_t *value, char *addr, size_t addrlen)
{
    zmq_msg_t head;
    zmq_msg_init(&head);
    if (zmq_msg_recv(&head, mon, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&head);
        return -1;
    }
    *event = 0;
    *value = 0;
    if (zmq_msg_size(&head) >= 6) {
        memcpy(event, zmq_msg_data(&head), 2);
        memcpy(value, (char *)zmq_msg_data(&head) + 2, 4);
    }
    bool more = zmq_msg_more(&head);
    zmq_msg_close(&head);
    if (addrlen)
        addr[0] = '\0';
    if (more) {
        zmq_msg_t a;
        zmq_msg_init(&a);
        if (zmq_msg_recv(&a, mon, ZMQ_DONTWAIT) >= 0 && addrlen) {
            size_t n = zmq_msg_size(&a) < addrlen - 1 ? zmq_msg_size(&a) : addrlen - 1;
            memcpy(addr, zmq_msg_data(&a), n);
            addr[n] = '\0';
        }
        zmq_msg_close(&a);
    }
    return 0;
}
