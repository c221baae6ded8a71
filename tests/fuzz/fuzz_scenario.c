/*
 * fuzz_scenario — the scenario loader: YAML text in (what -f reads, and what a worker is sent
 * by its master), parsed, checked and compiled, or refused with a FILE:LINE:COLUMN message.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../common/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scenario_t *sc = NULL;
    char err[1024];
    if (scenario_load_text((const char *)data, size, "fuzz.yaml", &sc, err, sizeof err) == 0) {
        /* What --tags does to a loaded scenario. */
        char *tags[] = {"a"};
        scenario_filter_tags(sc, tags, 1, NULL, 0, err, sizeof err);
        scenario_free(sc);
    } else if (memchr(err, '\0', sizeof err) == NULL) {
        __builtin_trap();   /* the message must be a string */
    }
    return 0;
}
