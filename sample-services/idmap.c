#include "idmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t key_hash(const unsigned char k[16])
{
    uint64_t a, b;
    memcpy(&a, k, 8);
    memcpy(&b, k + 8, 8);
    uint64_t h = a ^ (b * 0x9E3779B97F4A7C15ull);
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    return h;
}

void idmap_init(idmap_t *m) { m->slots = NULL; m->cap = m->len = 0; }

void idmap_free(idmap_t *m)
{
    free(m->slots);
    idmap_init(m);
}

static void insert_slot(idmap_slot_t *slots, size_t cap, const unsigned char key[16],
                        uint32_t stored)
{
    size_t i = key_hash(key) & (cap - 1);
    while (slots[i].value != 0)
        i = (i + 1) & (cap - 1);
    memcpy(slots[i].key, key, 16);
    slots[i].value = stored;
}

static int grow(idmap_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    idmap_slot_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].value != 0)
            insert_slot(slots, cap, m->slots[i].key, m->slots[i].value);
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int idmap_reserve(idmap_t *m, size_t extra)
{
    while ((m->len + extra) * 10 > m->cap * 7)
        if (grow(m) < 0)
            return -1;
    return 0;
}

int idmap_put(idmap_t *m, const unsigned char key[16], uint32_t value)
{
    if (idmap_reserve(m, 1) < 0)
        return -1;
    insert_slot(m->slots, m->cap, key, value + 1);
    m->len++;
    return 0;
}

int idmap_get(const idmap_t *m, const unsigned char key[16], uint32_t *value)
{
    if (m->cap == 0)
        return 0;
    size_t i = key_hash(key) & (m->cap - 1);
    while (m->slots[i].value != 0) {
        if (memcmp(m->slots[i].key, key, 16) == 0) {
            *value = m->slots[i].value - 1;
            return 1;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return 0;
}
