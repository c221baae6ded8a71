/*
 * Unit tests for the scenario's `data:` sets (common/scenario_data.c) and `multipart:` parts
 * (common/scenario_multipart.c): rows and columns as loaded, `{{ set.column }}` bound to user
 * slots, and every mistake one line at its position (the scenario's, or the CSV's own).
 * Files come from a shipped list, as on a worker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../common/scenario.h"

static const char PLAYERS[] = "id,email\n1,a@x\n2,\"b,@x\"\n";
static const char ITEMS[] = "[{\"sku\": \"s1\", \"price\": 2.5}, {\"sku\": \"s2\", \"price\": 3}]";

static int load_with(const char *yaml, const char *csv, scenario_t **sc, char *err, size_t n)
{
    scenario_file_t files[] = {
        {.name = "players.csv", .data = (char *)csv, .len = strlen(csv)},
        {.name = "items.json", .data = (char *)ITEMS, .len = strlen(ITEMS)},
        {.name = "a.bin", .data = "\0\1x", .len = 3},
    };
    scenario_source_t src = {.shipped = files, .n_shipped = 3};
    return scenario_load(yaml, strlen(yaml), "s.yaml", &src, sc, err, n);
}

static const char GOOD[] =
    "data:\n"
    "  players: {csv: players.csv, mode: unique}\n"
    "  items: {json: items.json}\n"
    "users:\n"
    "  - name: U\n"
    "    tasks:\n"
    "      - steps:\n"
    "          - get: /p/{{ players.email }}/{{ items.price }}/{{ players.email }}\n"
    "          - post: /up\n"
    "            multipart: {t: \"{{ players.id }}\", f: {file: a.bin}}\n";

static void test_sets_and_binds(void **state)
{
    (void)state;
    scenario_t *sc = NULL;
    char err[512] = "";
    if (load_with(GOOD, PLAYERS, &sc, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(sc->n_data, 2);
    const data_set_t *p = &sc->data[0], *it = &sc->data[1];
    assert_string_equal(p->name, "players");
    assert_int_equal(p->mode, DATA_UNIQUE);
    assert_int_equal(it->mode, DATA_SEQUENTIAL); /* the default */
    assert_int_equal(p->n_rows, 2);
    assert_int_equal(p->n_columns, 2);
    assert_string_equal(json_string_value(p->cells[1 * 2 + 1]), "b,@x");
    assert_true(json_is_number(it->cells[0 * 2 + 1])); /* JSON keeps its types */
    assert_string_equal(it->columns[0], "sku");
    /* three names bound, each once: players.email, items.price, players.id */
    const user_class_t *uc = &sc->classes[0];
    assert_int_equal(uc->n_data_binds, 3);
    assert_true(scenario_class_uses_data(uc, 0));
    assert_true(scenario_class_uses_data(uc, 1));
    assert_string_equal(uc->var_names[uc->data_binds[0].slot], "players.email");
    assert_int_equal(uc->data_binds[0].column, 1);
    assert_int_equal(uc->data_binds[1].set, 1);
    /* the multipart step */
    const step_t *st = &uc->tasks[0].steps[1];
    assert_int_equal(st->body_kind, BODY_MULTIPART);
    assert_int_equal(st->n_multipart, 2);
    assert_non_null(st->multipart[0].value);
    assert_int_equal(st->multipart[1].file->len, 3);
    assert_string_equal(st->multipart[1].filename, "a.bin");
    assert_string_equal(st->multipart[1].content_type, "application/octet-stream");
    scenario_free(sc);
}

static void assert_load_error(const char *yaml, const char *csv, const char *want)
{
    scenario_t *sc = NULL;
    char err[512] = "";
    if (load_with(yaml, csv, &sc, err, sizeof err) == 0) {
        scenario_free(sc);
        fail_msg("loaded; want \"%s\"", want);
    }
    if (!strstr(err, want))
        fail_msg("got \"%s\"; want \"%s\"", err, want);
}

static void test_errors(void **state)
{
    (void)state;
    char y[2048];
    /* a column no row has: at the template's name */
    snprintf(y, sizeof y, "%s", GOOD);
    memcpy(strstr(y, "items.price"), "items.prize", 11);
    assert_load_error(y, PLAYERS, "s.yaml:8:44: data set 'items' has no column 'prize' "
                                  "(items.json has: sku, price)");
    /* the CSV's own position */
    assert_load_error(GOOD, "id,email\n1,\"a\n", "s.yaml:2:18: players.csv:2:3: unterminated");
    assert_load_error(GOOD, "id,email\n", "data file players.csv has a header and no rows");
    assert_load_error(GOOD, "", "players.csv:1:1: the file is empty");
    /* the set itself */
    assert_load_error("data:\n  p: {csv: players.csv, mode: once}\nusers: []\n", PLAYERS,
                      "s.yaml:2:31: 'mode' must be unique, sequential or random, got 'once'");
    assert_load_error("data:\n  p: {csv: players.csv, json: items.json}\nusers: []\n", PLAYERS,
                      "s.yaml:2:6: data set 'p' needs exactly one of");
    assert_load_error("data:\n  p: {cvs: players.csv}\nusers: []\n", PLAYERS,
                      "s.yaml:2:7: unknown key 'cvs' in a data set");
    assert_load_error("data:\n  p: {csv: nope.csv}\nusers: []\n", PLAYERS,
                      "s.yaml:2:12: 'csv': nope.csv was not sent with the scenario");
    assert_load_error("data:\n  p: {json: players.csv}\nusers: []\n", PLAYERS,
                      "s.yaml:2:13: players.csv:1:2: '[' or '{' expected");
    assert_load_error("vars: {p: 1}\ndata:\n  p: {csv: players.csv}\nusers: []\n", PLAYERS,
                      "s.yaml:3:3: data set 'p' has the name of a variable in vars");
    assert_load_error("data:\n  my-set: {csv: players.csv}\nusers: []\n", PLAYERS,
                      "s.yaml:2:3: ");
    /* setup has no row */
    assert_load_error("data:\n  p: {csv: players.csv}\nsetup:\n  - get: /{{ p.id }}\n"
                      "users: []\n", PLAYERS, "s.yaml:4:14: 'p.id': a data row belongs to a user");
    /* an unknown dotted name that is no set stays an undefined variable */
    assert_load_error("users:\n  - name: U\n    tasks:\n      - steps:\n"
                      "          - get: /{{ q.id }}\n",
                      PLAYERS, "s.yaml:5:22: undefined variable 'q'");
}

static void test_json_errors(void **state)
{
    (void)state;
    static const char y[] = "data:\n  i: {json: items.json}\nusers: []\n";
    scenario_file_t bad[] = {
        {.name = "items.json", .data = "[{\"a\": 1}, {\"b\": 2}]", .len = 20},
    };
    scenario_source_t src = {.shipped = bad, .n_shipped = 1};
    scenario_t *sc = NULL;
    char err[512];
    assert_int_equal(scenario_load(y, strlen(y), "s.yaml", &src, &sc, err, sizeof err), -1);
    assert_non_null(strstr(err, "items.json: element 2 has no key 'a'"));
    bad[0].data = "{\"a\": 1}";
    bad[0].len = strlen(bad[0].data);
    assert_int_equal(scenario_load(y, strlen(y), "s.yaml", &src, &sc, err, sizeof err), -1);
    assert_non_null(strstr(err, "must hold a JSON array of objects"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sets_and_binds),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_json_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
