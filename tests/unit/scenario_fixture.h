/*
 * scenario_fixture — a scenario from YAML text for the tests that run requests
 * (tests/unit/test_engine.c, tests/unit/test_http1.c): the test fails with the loader's
 * message when the text does not load. Include after cmocka.h.
 */
#ifndef HERD_TEST_SCENARIO_FIXTURE_H
#define HERD_TEST_SCENARIO_FIXTURE_H

#include <string.h>

#include "../../common/scenario.h"

static scenario_t *load(const char *yaml)
{
    scenario_t *sc = NULL;
    char err[512] = "";
    int rc = scenario_load_text(yaml, strlen(yaml), "test.yaml", &sc, err, sizeof err);
    if (rc != 0)
        print_error("scenario: %s\n", err);
    assert_int_equal(rc, 0);
    return sc;
}

#endif
