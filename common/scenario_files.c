/*
 * scenario_files — the files a scenario names (TLS certificates, data files, multipart
 * parts). The master reads each once, relative to the scenario file's directory, and keeps
 * it in sc->files; that list travels with the scenario text in every Spawn, and a worker's
 * loader takes the same names from it, so the same `sc_file` call serves both sides and a
 * worker host needs no files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file.h"
#include "scenario_internal.h"
#include "vec.h"

void scenario_dir(const char *path, char *out, size_t outlen)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (!slash)
        snprintf(out, outlen, ".");
    else if (slash == path)
        snprintf(out, outlen, "/");
    else
        snprintf(out, outlen, "%.*s", (int)(slash - path), path);
}

void sc_files_free(scenario_t *sc)
{
    for (size_t i = 0; i < sc->n_files; i++) {
        free(sc->files[i].name);
        free(sc->files[i].data);
    }
    free(sc->files);
    sc->files = NULL;
    sc->n_files = 0;
}

/* The file's bytes from the source: a copy of the shipped one, or read from disk. */
static char *fetch(loader_t *L, const ynode_t *n, const char *key, const char *name, size_t *len)
{
    const scenario_source_t *src = L->src;
    size_t left = SCENARIO_MAX_FILES_BYTES - L->files_bytes;
    if (src->shipped || !src->dir) {
        for (size_t i = 0; i < src->n_shipped; i++) {
            const scenario_file_t *f = &src->shipped[i];
            if (strcmp(f->name, name) != 0)
                continue;
            char *copy = f->len <= left ? malloc(f->len + 1) : NULL;
            if (!copy) {
                sc_fail(L, n, "'%s': %s: %s", key, SC_SHOW(name),
                        f->len <= left ? "out of memory" : "the scenario's files are too large");
                return NULL;
            }
            memcpy(copy, f->data, f->len);
            copy[f->len] = '\0';
            *len = f->len;
            return copy;
        }
        sc_fail(L, n, "'%s': %s was not sent with the scenario", key, SC_SHOW(name));
        return NULL;
    }
    char path[4096], why[4400];
    if (name[0] == '/')
        snprintf(path, sizeof path, "%s", name);
    else if ((size_t)snprintf(path, sizeof path, "%s/%s", src->dir, name) >= sizeof path) {
        sc_fail(L, n, "'%s': the path is too long", key);
        return NULL;
    }
    char *data = file_read(path, left, len, why, sizeof why);
    if (!data) {
        if (strstr(why, "too large"))
            sc_fail(L, n, "'%s': %s is too large: a scenario's files hold %zu MiB at most", key,
                    SC_SHOW(name), SCENARIO_MAX_FILES_BYTES >> 20);
        else
            sc_fail(L, n, "'%s': %s", key, why);
    }
    return data;
}

int sc_file(loader_t *L, const ynode_t *n, const char *key, const scenario_file_t **out)
{
    const char *name;
    if (sc_text(L, n, key, &name))
        return -1;
    if (!*name)
        return sc_fail(L, n, "'%s' must name a file, got an empty string", key);
    if (!L->src)
        return sc_fail(L, n, "'%s': this scenario names a file (%s), which cannot be read here",
                       key, SC_SHOW(name));
    scenario_t *sc = L->sc;
    for (size_t i = 0; i < sc->n_files; i++)
        if (strcmp(sc->files[i].name, name) == 0) {
            *out = &sc->files[i];
            return 0;
        }
    if (sc->n_files >= SCENARIO_MAX_FILES)
        return sc_fail(L, n, "'%s': a scenario names %d files at most", key, SCENARIO_MAX_FILES);
    /* All the room at once: sc->files never moves, so what *out points to stays put. */
    if (VEC_RESERVE_ZERO(sc->files, L->files_cap, SCENARIO_MAX_FILES) < 0)
        return sc_oom(L, n);
    size_t len = 0;
    char *data = fetch(L, n, key, name, &len);
    if (!data)
        return -1;
    scenario_file_t *f = &sc->files[sc->n_files];
    *f = (scenario_file_t){ .name = strdup(name), .data = data, .len = len };
    if (!f->name) {
        free(data);
        return sc_oom(L, n);
    }
    sc->n_files++;
    L->files_bytes += len;
    *out = f;
    return 0;
}
