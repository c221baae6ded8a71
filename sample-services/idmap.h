/*
 * idmap — an open-addressing hash from a 16-byte key (a UUID, or a 128-bit hash of a string)
 * to a 32-bit record index. The sample services keep every record in an array and find it
 * by UUID through one of these. Not thread-safe: the state lock guards it.
 */
#ifndef HERD_SVC_IDMAP_H
#define HERD_SVC_IDMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct idmap_slot {
    unsigned char key[16];
    uint32_t value;  /* record index + 1; 0 marks an empty slot */
} idmap_slot_t;

typedef struct idmap {
    idmap_slot_t *slots;  /* owned; cap is a power of two */
    size_t cap;
    size_t len;
} idmap_t;

void idmap_init(idmap_t *m);
void idmap_free(idmap_t *m);
/* Makes room so that the next `extra` puts cannot fail: 0, or -1 on OOM. */
int idmap_reserve(idmap_t *m, size_t extra);
/* 0, or -1 on OOM. The key must not be present yet (the caller looked it up). */
int idmap_put(idmap_t *m, const unsigned char key[16], uint32_t value);
/* 1 and *value when found, else 0. */
int idmap_get(const idmap_t *m, const unsigned char key[16], uint32_t *value);

#endif
