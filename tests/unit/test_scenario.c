/*
 * Unit tests for common/scenario.c: a full file loads into the right structure, every kind of
 * mistake gets its one-line message at the right line and column, tags filter, and garbage
 * never crashes the loader.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../../common/scenario.h"

static const char trading[] =
    "description: Players post and close orders on the trading post\n"
    "host: http://127.0.0.1:8083\n"
    "defaults:\n"
    "  headers: {Content-Type: application/json}\n"
    "users:\n"
    "  - name: TradeLoad\n"
    "    tasks:\n"
    "      - name: sellItem\n"
    "        steps:\n"
    "          - get: /trades/player_items\n"
    "            save: {player: PlayerUUID, item: PlayerItemUUID, price: Price}\n"
    "          - post: /trades/sell\n"
    "            json: {lister: \"{{ player }}\", playerItemUUID: \"{{ item }}\", "
    "list_price: \"{{ price * 1.5 }}\"}\n"
    "      - name: buyItem\n"
    "        steps:\n"
    "          - get: /trades/open\n"
    "            save: {order: OrderUUID, buyer: BuyerUUID}\n"
    "          - put: /trades/buy\n"
    "            json: {orderUUID: \"{{ order }}\", buyer: \"{{ buyer }}\"}\n";

static scenario_t *load_ok(const char *text)
{
    char err[1024] = "";
    scenario_t *sc = NULL;
    int rc = scenario_load_text(text, strlen(text), "t.yaml", &sc, err, sizeof err);
    if (rc != 0)
        print_error("unexpected load error: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(sc);
    return sc;
}

/* Loads text, which must fail with exactly `want`. */
static void expect_error(const char *text, const char *want)
{
    char err[1024] = "";
    scenario_t *sc = (scenario_t *)0x1;
    int rc = scenario_load_text(text, strlen(text), "t.yaml", &sc, err, sizeof err);
    if (rc == 0)
        scenario_free(sc);
    assert_int_equal(rc, -1);
    assert_null(sc);
    assert_string_equal(err, want);
}

static const char *literal(const tmpl_t *t)
{
    assert_true(tmpl_is_literal(t));
    return tmpl_literal(t, NULL);
}

static void test_trading_example(void **state)
{
    (void)state;
    scenario_t *sc = load_ok(trading);
    assert_string_equal(sc->description, "Players post and close orders on the trading post");
    assert_string_equal(sc->host, "http://127.0.0.1:8083");
    assert_int_equal(sc->n_classes, 1);
    assert_int_equal(sc->n_globals, 0);
    assert_int_equal(sc->n_setup, 0);

    user_class_t *uc = &sc->classes[0];
    assert_string_equal(uc->name, "TradeLoad");
    assert_true(uc->weight == 1.0);
    assert_int_equal(uc->fixed_count, -1);
    assert_null(uc->host);
    assert_int_equal(uc->wait.kind, WAIT_NONE);
    assert_false(uc->sequential);
    assert_int_equal(uc->n_tasks, 2);
    assert_int_equal(uc->line, 6);
    assert_int_equal(uc->col, 5);
    assert_int_equal(uc->n_vars, 5);
    const char *vars[] = {"player", "item", "price", "order", "buyer"};
    for (int i = 0; i < 5; i++)
        assert_string_equal(uc->var_names[i], vars[i]);

    task_t *sell = &uc->tasks[0], *buy = &uc->tasks[1];
    assert_string_equal(sell->name, "sellItem");
    assert_string_equal(buy->name, "buyItem");
    assert_true(sell->weight == 1.0 && buy->weight == 1.0);
    assert_true(sell->enabled && buy->enabled);
    assert_int_equal(sell->n_steps, 2);
    assert_int_equal(buy->n_steps, 2);

    step_t *s0 = &sell->steps[0];
    assert_int_equal(s0->kind, STEP_REQUEST);
    assert_int_equal(s0->method, HTTP_GET);
    assert_int_equal(s0->line, 10);
    assert_int_equal(s0->col, 13);
    assert_string_equal(s0->name, "/trades/player_items");
    assert_string_equal(literal(s0->url), "/trades/player_items");
    assert_false(s0->url_absolute);
    assert_int_equal(s0->body_kind, BODY_NONE);
    assert_int_equal(s0->n_saves, 3);
    assert_string_equal(s0->saves[0].var, "player");
    assert_int_equal(s0->saves[0].scope, TMPL_SCOPE_USER);
    assert_int_equal(s0->saves[0].slot, 0);
    assert_string_equal(jpath_source(s0->saves[0].path), "PlayerUUID");
    assert_int_equal(s0->saves[2].slot, 2);
    assert_true(s0->needs_json);
    assert_false(s0->expect.has_status);
    assert_true(s0->timeout_s == 60.0);
    assert_int_equal(s0->n_headers, 1);
    assert_string_equal(s0->headers[0].name, "Content-Type");
    assert_string_equal(literal(s0->headers[0].value), "application/json");
    assert_true(s0->has_content_type);

    step_t *s1 = &sell->steps[1];
    assert_int_equal(s1->method, HTTP_POST);
    assert_int_equal(s1->body_kind, BODY_JSON);
    assert_non_null(s1->body_json);
    assert_false(s1->needs_json);

    assert_int_equal(buy->steps[0].saves[0].slot, 3);
    assert_int_equal(buy->steps[0].saves[1].slot, 4);
    assert_int_equal(buy->steps[1].method, HTTP_PUT);

    assert_int_equal(sc->n_rows, 4);
    assert_int_equal(sc->rows[0].method, HTTP_GET);
    assert_string_equal(sc->rows[0].name, "/trades/player_items");
    assert_int_equal(sc->rows[1].method, HTTP_POST);
    assert_string_equal(sc->rows[1].name, "/trades/sell");
    assert_string_equal(sc->rows[2].name, "/trades/open");
    assert_int_equal(sc->rows[3].method, HTTP_PUT);
    assert_string_equal(sc->rows[3].name, "/trades/buy");
    assert_int_equal(s0->row, 0);
    assert_int_equal(s1->row, 1);
    assert_int_equal(buy->steps[1].row, 3);
    scenario_free(sc);
}

static const char full[] =
    "host: http://a.example:8080\n"                                    /* 1 */
    "defaults:\n"                                                      /* 2 */
    "  headers: {Accept: text/plain, X-Trace: d}\n"                    /* 3 */
    "  timeout: 5\n"                                                   /* 4 */
    "  expect: {status: 2xx}\n"                                        /* 5 */
    "vars:\n"                                                          /* 6 */
    "  region: eu\n"                                                   /* 7 */
    "  limits: [1, 2.5, true, null, \"7\"]\n"                          /* 8 */
    "setup:\n"                                                         /* 9 */
    "  - get: /players\n"                                              /* 10 */
    "    save: {players: $}\n"                                         /* 11 */
    "  - get: /items/{{ region }}\n"                                   /* 12 */
    "    save: {items: $, players: list}\n"                            /* 13 */
    "users:\n"                                                         /* 14 */
    "  - name: Reader\n"                                               /* 15 */
    "    weight: 3\n"                                                  /* 16 */
    "    host: https://b.example\n"                                    /* 17 */
    "    headers: {accept: application/json, X-Class: c}\n"           /* 18 */
    "    wait: {between: [0.5, 2]}\n"                                  /* 19 */
    "    on_stop:\n"                                                   /* 20 */
    "      - delete: /session/{{ token }}\n"                           /* 21 */
    "    on_start:\n"                                                  /* 22 */
    "      - post: /login\n"                                           /* 23 */
    "        form: {user: \"{{ random_string(8) }}\", pw: x}\n"        /* 24 */
    "        save: {token: token}\n"                                   /* 25 */
    "    tasks:\n"                                                     /* 26 */
    "      - name: read\n"                                             /* 27 */
    "        weight: 5\n"                                              /* 28 */
    "        tags: [read, fast]\n"                                     /* 29 */
    "        steps:\n"                                                 /* 30 */
    "          - get: /players/{{ pick(players) }}\n"                  /* 31 */
    "            headers: {ACCEPT: \"*/*\"}\n"                         /* 32 */
    "            query: {q: \"{{ region }}\", n: 10}\n"                /* 33 */
    "            expect: {status: [200, 404], json: [id, a.b], contains: ok}\n" /* 34 */
    "            timeout: 1.5\n"                                       /* 35 */
    "          - sleep: 0.25\n"                                        /* 36 */
    "          - get: /players/{{ pick(players) }}\n"                  /* 37 */
    "      - name: write\n"                                            /* 38 */
    "        tags: [write]\n"                                          /* 39 */
    "        steps:\n"                                                 /* 40 */
    "          - put: http://c.example/x\n"                            /* 41 */
    "            name: put-x\n"                                        /* 42 */
    "            body: \"raw {{ token }}\"\n"                          /* 43 */
    "            headers: {content-type: text/plain}\n"                /* 44 */
    "  - name: Pacer\n"                                                /* 45 */
    "    fixed_count: 2\n"                                             /* 46 */
    "    sequential: true\n"                                           /* 47 */
    "    wait: {pacing: 2}\n"                                          /* 48 */
    "    tasks:\n"                                                     /* 49 */
    "      - steps: [{get: \"/players/{{ pick(players) }}\"}, {get: /health}]\n" /* 50 */
    "        tags: [read]\n"                                           /* 51 */
    "  - name: Thru\n"                                                 /* 52 */
    "    weight: 0\n"                                                  /* 53 */
    "    wait: {throughput: 4}\n"                                      /* 54 */
    "    tasks: [{steps: [{sleep: 1}]}]\n"                             /* 55 */
    "  - name: Const\n"                                                /* 56 */
    "    wait: {constant: 0}\n"                                        /* 57 */
    "    tasks: [{steps: [{options: /}]}]\n";                          /* 58 */

static const char *header(const step_t *st, const char *name)
{
    for (size_t i = 0; i < st->n_headers; i++)
        if (strcasecmp(st->headers[i].name, name) == 0)
            return literal(st->headers[i].value);
    return NULL;
}

static void test_full_structure(void **state)
{
    (void)state;
    scenario_t *sc = load_ok(full);
    assert_null(sc->description);
    assert_true(sc->default_timeout_s == 5.0);

    /* vars first, then setup saves; a name saved twice in setup keeps its slot. */
    assert_int_equal(sc->n_globals, 4);
    assert_string_equal(sc->global_names[0], "region");
    assert_string_equal(sc->global_names[1], "limits");
    assert_string_equal(sc->global_names[2], "players");
    assert_string_equal(sc->global_names[3], "items");
    assert_string_equal(json_string_value(sc->global_init[0]), "eu");
    json_t *limits = sc->global_init[1];
    assert_true(json_is_array(limits));
    assert_true(json_is_integer(json_array_get(limits, 0)));
    assert_true(json_is_real(json_array_get(limits, 1)));
    assert_true(json_is_true(json_array_get(limits, 2)));
    assert_true(json_is_null(json_array_get(limits, 3)));
    assert_string_equal(json_string_value(json_array_get(limits, 4)), "7");
    assert_null(sc->global_init[2]);
    assert_null(sc->global_init[3]);

    assert_int_equal(sc->n_setup, 2);
    assert_int_equal(sc->setup[0].saves[0].scope, TMPL_SCOPE_GLOBAL);
    assert_int_equal(sc->setup[0].saves[0].slot, 2);
    assert_int_equal(sc->setup[1].saves[0].slot, 3);
    assert_int_equal(sc->setup[1].saves[1].slot, 2);
    assert_int_equal(sc->setup[0].row, UINT32_MAX);
    assert_string_equal(header(&sc->setup[0], "Accept"), "text/plain");
    assert_true(sc->setup[0].expect.has_status);

    assert_int_equal(sc->n_classes, 4);
    user_class_t *r = &sc->classes[0];
    assert_true(r->weight == 3.0);
    assert_string_equal(r->host, "https://b.example");
    assert_int_equal(r->wait.kind, WAIT_BETWEEN);
    assert_true(r->wait.a == 0.5 && r->wait.b == 2.0);
    assert_int_equal(r->n_vars, 1);
    assert_string_equal(r->var_names[0], "token");
    assert_int_equal(r->n_on_start, 1);
    assert_int_equal(r->n_on_stop, 1);
    assert_int_equal(r->on_start[0].body_kind, BODY_FORM);
    assert_int_equal(r->on_start[0].n_form, 2);
    assert_string_equal(r->on_start[0].form[1].name, "pw");
    assert_false(r->on_start[0].has_content_type);
    assert_int_equal(r->on_start[0].saves[0].scope, TMPL_SCOPE_USER);
    assert_int_equal(r->on_start[0].saves[0].slot, 0);
    /* Defaults' expect applies where the step has none. */
    assert_true(r->on_start[0].expect.has_status);
    assert_true(r->on_start[0].expect.status_ok[204]);
    assert_false(r->on_start[0].expect.status_ok[301]);
    assert_true(r->on_start[0].timeout_s == 5.0);

    task_t *read = &r->tasks[0];
    assert_true(read->weight == 5.0);
    assert_int_equal(read->n_tags, 2);
    assert_string_equal(read->tags[1], "fast");
    assert_int_equal(read->n_steps, 3);
    step_t *g = &read->steps[0];
    /* Headers merge defaults < class < step, case-insensitively, the step winning. */
    assert_int_equal(g->n_headers, 3);
    assert_string_equal(header(g, "accept"), "*/*");
    assert_string_equal(header(g, "x-trace"), "d");
    assert_string_equal(header(g, "x-class"), "c");
    assert_false(g->has_content_type);
    assert_string_equal(g->name, "/players/{{ pick(players) }}");
    assert_false(tmpl_is_literal(g->url));
    assert_int_equal(g->n_query, 2);
    assert_string_equal(g->query[0].name, "q");
    assert_string_equal(literal(g->query[1].value), "10");
    assert_true(g->expect.has_status);
    assert_true(g->expect.status_ok[200] && g->expect.status_ok[404]);
    assert_false(g->expect.status_ok[201]);
    assert_int_equal(g->expect.n_json_keys, 2);
    assert_string_equal(g->expect.contains, "ok");
    assert_int_equal(g->expect.contains_len, 2);
    assert_true(g->needs_json);
    assert_true(g->timeout_s == 1.5);
    assert_int_equal(read->steps[1].kind, STEP_SLEEP);
    assert_true(read->steps[1].sleep_s == 0.25);
    assert_int_equal(read->steps[2].row, g->row);

    step_t *p = &r->tasks[1].steps[0];
    assert_true(p->url_absolute);
    assert_string_equal(p->name, "put-x");
    assert_int_equal(p->body_kind, BODY_RAW);
    assert_true(p->has_content_type);
    assert_true(r->tasks[1].weight == 1.0);

    user_class_t *pc = &sc->classes[1];
    assert_int_equal(pc->fixed_count, 2);
    assert_true(pc->sequential);
    assert_int_equal(pc->wait.kind, WAIT_PACING);
    assert_true(pc->wait.a == 2.0);
    assert_string_equal(pc->tasks[0].name, "task1");
    assert_int_equal(pc->n_vars, 0);
    assert_int_equal(sc->classes[2].wait.kind, WAIT_THROUGHPUT);
    assert_true(sc->classes[2].wait.a == 4.0);
    assert_true(sc->classes[2].weight == 0.0);
    assert_int_equal(sc->classes[3].wait.kind, WAIT_CONSTANT);

    /* Rows: distinct (method, name), file order (on_stop is written before on_start). */
    const char *rows[] = {"DELETE /session/{{ token }}", "POST /login",
                          "GET /players/{{ pick(players) }}", "PUT put-x", "GET /health",
                          "OPTIONS /"};
    assert_int_equal(sc->n_rows, 6);
    for (size_t i = 0; i < 6; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, "%s %s", http_method_names[sc->rows[i].method],
                 sc->rows[i].name);
        assert_string_equal(buf, rows[i]);
    }
    assert_int_equal(pc->tasks[0].steps[0].row, 2);

    assert_string_equal(scenario_class_host(sc, r, "http://o"), "https://b.example");
    assert_string_equal(scenario_class_host(sc, pc, "http://o"), "http://o");
    assert_string_equal(scenario_class_host(sc, pc, NULL), "http://a.example:8080");
    scenario_free(sc);
}

static void test_default_row_name_is_path_as_written(void **state)
{
    (void)state;
    scenario_t *sc = load_ok("vars: {players: [a, b]}\n"
                             "users:\n"
                             "  - name: U\n"
                             "    tasks:\n"
                             "      - steps:\n"
                             "          - get: '/players/{{pick(players)}}?x=1'\n"
                             "          - get: /players/{{ pick(players) }}\n"
                             "            name: /players/[playerUUID]\n");
    assert_int_equal(sc->n_rows, 2);
    assert_string_equal(sc->rows[0].name, "/players/{{pick(players)}}?x=1");
    assert_string_equal(sc->rows[1].name, "/players/[playerUUID]");
    assert_null(sc->host);
    assert_null(scenario_class_host(sc, &sc->classes[0], NULL));
    scenario_free(sc);
}

#define CLASS_HEAD "users:\n  - name: U\n"
#define ONE_TASK "    tasks:\n      - steps:\n          - get: /\n"

/* max_body: 16 MiB unless the defaults or the step say otherwise; sizes with units. */
static void test_max_body(void **state)
{
    (void)state;
    scenario_t *sc = load_ok(CLASS_HEAD ONE_TASK);
    assert_int_equal(sc->classes[0].tasks[0].steps[0].max_body_bytes, 16u << 20);
    scenario_free(sc);
    sc = load_ok("defaults: {max_body: 64KiB}\n" CLASS_HEAD ONE_TASK
                 "          - get: /b\n            max_body: 2 GB\n"
                 "          - get: /c\n            max_body: 1000\n");
    const step_t *st = sc->classes[0].tasks[0].steps;
    assert_int_equal(st[0].max_body_bytes, 65536);
    assert_int_equal(st[1].max_body_bytes, 2000000000ull);
    assert_int_equal(st[2].max_body_bytes, 1000);
    scenario_free(sc);
    expect_error(CLASS_HEAD ONE_TASK "            max_body: 16 MiBs\n",
                 "t.yaml:6:23: 'max_body' must be a size from 1 byte to 1024 GiB, like 16MiB or "
                 "65536, got '16 MiBs'");
    expect_error("defaults: {max_body: 0}\n" CLASS_HEAD ONE_TASK,
                 "t.yaml:1:22: 'max_body' must be a size from 1 byte to 1024 GiB, like 16MiB or "
                 "65536, got '0'");
}

static void test_errors(void **state)
{
    (void)state;
    /* unknown key, with the nearest valid one */
    expect_error(CLASS_HEAD "    wieght: 2\n" ONE_TASK,
                 "t.yaml:3:5: unknown key 'wieght' in user class (did you mean 'weight'?)");
    expect_error(CLASS_HEAD ONE_TASK "            hedaers: {a: b}\n",
                 "t.yaml:6:13: unknown key 'hedaers' in step (did you mean 'headers'?)");
    expect_error("usres: []\n",
                 "t.yaml:1:1: unknown key 'usres' in the top level (did you mean 'users'?)");
    expect_error(CLASS_HEAD ONE_TASK "            expect: {stauts: 200}\n",
                 "t.yaml:6:22: unknown key 'stauts' in expect (did you mean 'status'?)");
    expect_error(CLASS_HEAD "    zzz: 1\n" ONE_TASK,
                 "t.yaml:3:5: unknown key 'zzz' in user class (expected one of: name, weight, "
                 "fixed_count, host, headers, wait, on_start, on_stop, tasks, sequential, cookies, compress, http2, auth, tls)");
    /* wrong types */
    expect_error(CLASS_HEAD "    weight: [1]\n" ONE_TASK,
                 "t.yaml:3:13: 'weight' must be a number, got a list");
    expect_error(CLASS_HEAD "    weight: heavy\n" ONE_TASK,
                 "t.yaml:3:13: 'weight' must be a number, got a string");
    expect_error(CLASS_HEAD "    weight: -1\n" ONE_TASK,
                 "t.yaml:3:13: 'weight' must not be negative, got -1");
    expect_error(CLASS_HEAD "    tasks: {a: 1}\n",
                 "t.yaml:3:12: 'tasks' must be a list of tasks, got a mapping");
    expect_error(CLASS_HEAD "    sequential: 1\n" ONE_TASK,
                 "t.yaml:3:17: 'sequential' must be true or false, got a number");
    expect_error(CLASS_HEAD "    fixed_count: 1.5\n" ONE_TASK,
                 "t.yaml:3:18: 'fixed_count' must be a whole number >= 0, got a number");
    /* missing keys, empty lists */
    expect_error("users:\n  - name: U\n    weight: 2\n",
                 "t.yaml:2:5: user class needs 'tasks'");
    expect_error("users:\n  - weight: 2\n" ONE_TASK, "t.yaml:2:5: user class needs 'name'");
    expect_error("host: http://x\n", "t.yaml:1:1: the file needs 'users', a list of user classes");
    expect_error(CLASS_HEAD "    tasks: []\n",
                 "t.yaml:3:12: 'tasks' must list at least one task");
    expect_error("users: []\n", "t.yaml:1:8: 'users' must list at least one user class");
    expect_error(CLASS_HEAD "    tasks:\n      - name: t\n        steps: []\n",
                 "t.yaml:5:16: 'steps' must list at least one step");
    expect_error(CLASS_HEAD "    tasks:\n      - name: t\n",
                 "t.yaml:4:9: task needs 'steps'");
    /* YAML itself */
    expect_error("users:\n  - name: U\n   bad: [1\n",
                 "t.yaml:3:4: YAML syntax error: did not find expected '-' indicator (while "
                 "parsing a block collection at line 2, column 3)");
    expect_error("users: [a, b\n",
                 "t.yaml:2:1: YAML syntax error: did not find expected ',' or ']' "
                 "(while parsing a flow sequence at line 1, column 8)");
    expect_error("users:\n\t- name: U\n",
                 "t.yaml:2:1: YAML syntax error: found character that cannot start any token "
                 "(YAML indents with spaces, not tabs)");
    expect_error("users: 1\nusers: 2\n", "t.yaml:2:1: duplicate key 'users' (first at line 1)");
    expect_error("", "t.yaml:1:1: the file is empty; a scenario needs at least 'users'");
    expect_error("# only a comment\n",
                 "t.yaml:1:1: the file is empty; a scenario needs at least 'users'");
    expect_error("- a\n- b\n", "t.yaml:1:1: the top level must be a mapping (description, "
                               "host, defaults, vars, setup, users), got a list");
    expect_error("a: &x 1\nb: *x\n",
                 "t.yaml:2:4: YAML aliases (*x) are not supported; write the value out");
    expect_error("users: []\n---\nusers: []\n",
                 "t.yaml:2:1: a scenario file holds one YAML document, found a second one");
    /* classes */
    expect_error(CLASS_HEAD ONE_TASK "  - name: U\n" ONE_TASK,
                 "t.yaml:6:11: duplicate user class name 'U' (first at line 2)");
    /* steps */
    expect_error(CLASS_HEAD ONE_TASK "            expect: {status: 700}\n",
                 "t.yaml:6:30: expect status must be 100-599, a list of them, or a class like "
                 "2xx");
    expect_error(CLASS_HEAD ONE_TASK "            expect: {status: [200, abc]}\n",
                 "t.yaml:6:36: expect status must be 100-599, a list of them, or a class like "
                 "2xx");
    expect_error(CLASS_HEAD ONE_TASK "            post: /x\n",
                 "t.yaml:6:13: step has both 'get' and 'post'; a step makes one request or one "
                 "sleep");
    expect_error(CLASS_HEAD "    tasks:\n      - steps:\n          - name: x\n",
                 "t.yaml:5:13: step needs one of get, post, put, patch, delete, head, options "
                 "or sleep");
    expect_error(CLASS_HEAD ONE_TASK "            json: {a: 1}\n            body: x\n",
                 "t.yaml:7:13: step has both 'json' and 'body'; use one body");
    expect_error(CLASS_HEAD "    tasks:\n      - steps:\n          - sleep: 1\n"
                 "            headers: {a: b}\n",
                 "t.yaml:6:13: 'headers' does not apply to a sleep step");
    expect_error(CLASS_HEAD "    tasks:\n      - steps:\n          - sleep: -1\n",
                 "t.yaml:5:20: 'sleep' must be 0 or more seconds, got -1");
    /* URLs */
    expect_error(CLASS_HEAD "    tasks:\n      - steps:\n          - get: http://:80/x\n",
                 "t.yaml:5:18: bad URL 'http://:80/x': it has no host");
    expect_error(CLASS_HEAD "    tasks:\n      - steps:\n          - get: http://h:99999/\n",
                 "t.yaml:5:18: bad URL 'http://h:99999/': its port must be 1-65535");
    expect_error(CLASS_HEAD "    tasks:\n      - steps:\n          - get: ftp://h/x\n",
                 "t.yaml:5:18: bad URL 'ftp://h/x': scheme 'ftp' is not supported (http or "
                 "https)");
    expect_error(CLASS_HEAD "    tasks:\n      - steps:\n          - get: players\n",
                 "t.yaml:5:18: path 'players' must start with '/' (or be a full http:// or "
                 "https:// URL)");
    expect_error("host: 127.0.0.1:8080\n" CLASS_HEAD ONE_TASK,
                 "t.yaml:1:7: host '127.0.0.1:8080' must be a full URL like "
                 "http://127.0.0.1:8080");
    /* wait */
    expect_error(CLASS_HEAD "    wait: 3\n" ONE_TASK,
                 "t.yaml:3:11: wait must be 0, {constant: S}, {between: [A, B]}, {pacing: S} "
                 "or {throughput: N}, got '3'");
    expect_error(CLASS_HEAD "    wait: {between: [3, 1]}\n" ONE_TASK,
                 "t.yaml:3:21: 'between' must be [A, B] with 0 <= A <= B, got [3, 1]");
    expect_error(CLASS_HEAD "    wait: {pacnig: 1}\n" ONE_TASK,
                 "t.yaml:3:12: unknown key 'pacnig' in wait (did you mean 'pacing'?)");
    /* variables */
    expect_error("vars: {token: x}\n" CLASS_HEAD ONE_TASK "            save: {token: t}\n",
                 "t.yaml:7:20: save 'token' would shadow the global variable 'token' (from "
                 "vars); pick another name");
    expect_error(CLASS_HEAD ONE_TASK "            save: {user_id: t}\n",
                 "t.yaml:6:20: save name 'user_id' is a built-in template name; pick another");
    expect_error(CLASS_HEAD ONE_TASK "            save: {a-b: t}\n",
                 "t.yaml:6:20: save name 'a-b' is not a valid variable name (letters, digits "
                 "and _, not starting with a digit)");
}

/* Loads text, which must fail with an error starting with `where` (FILE:LINE:COLUMN:) and
 * containing `what`: the wording after the position belongs to the template module. */
static void expect_error_at(const char *text, const char *where, const char *what)
{
    char err[1024] = "";
    scenario_t *sc = (scenario_t *)0x1;
    int rc = scenario_load_text(text, strlen(text), "t.yaml", &sc, err, sizeof err);
    if (rc == 0)
        scenario_free(sc);
    assert_int_equal(rc, -1);
    assert_null(sc);
    if (strncmp(err, where, strlen(where)) != 0 || !strstr(err, what))
        print_error("got \"%s\", want \"%s ...%s...\"\n", err, where, what);
    assert_int_equal(strncmp(err, where, strlen(where)), 0);
    assert_non_null(strstr(err, what));
    assert_null(strchr(err, '\n'));
}

#define STEPS_HEAD CLASS_HEAD "    tasks:\n      - steps:\n"

/* Template errors carry the template module's message, placed on the offending name inside
 * the scalar: plain, quoted, inside a json body, inside a block scalar. */
static void test_template_errors(void **state)
{
    (void)state;
    /* `/p/{{ nobody }}` starts at column 18, so `nobody` is at 24. */
    expect_error_at(STEPS_HEAD "          - get: /p/{{ nobody }}\n", "t.yaml:5:24: ",
                    "undefined variable 'nobody'");
    expect_error_at(STEPS_HEAD "          - get: /p/{{ uuidd() }}\n", "t.yaml:5:24: ",
                    "unknown function 'uuidd'");
    /* Quoted: the text starts one column after the quote at 18. */
    expect_error_at(STEPS_HEAD "          - get: \"/p/{{ random_int(1) }}\"\n", "t.yaml:5:25: ",
                    "random_int");
    expect_error_at(STEPS_HEAD "          - post: /x\n"
                               "            json: {a: [1, \"{{ nosuch_fn(1) }}\"]}\n",
                    "t.yaml:6:31: ", "unknown function 'nosuch_fn'");
    expect_error_at(STEPS_HEAD "          - post: /x\n"
                               "            body: |\n              line one\n"
                               "              two {{ missing }}\n",
                    "t.yaml:8:22: ", "undefined variable 'missing'");
    expect_error_at(STEPS_HEAD "          - get: /x\n            headers: {X-A: \"{{ ghost }}\"}\n",
                    "t.yaml:6:32: ", "undefined variable 'ghost'");
    /* Defaults' headers are compiled for each step, in its scope. */
    expect_error_at("defaults: {headers: {X-T: \"{{ tok }}\"}}\n" STEPS_HEAD
                    "          - get: /x\n",
                    "t.yaml:1:31: ", "undefined variable 'tok'");
    expect_error_at(STEPS_HEAD "          - get: /x\n            save: {a: \"b[\"}\n",
                    "t.yaml:6:26: ", "bad JSON path 'b['");
    /* A setup step sees vars and earlier setup saves, not later ones nor user saves. */
    expect_error_at("setup:\n  - get: /{{ b }}\n  - get: /b\n    save: {b: x}\n"
                    CLASS_HEAD ONE_TASK,
                    "t.yaml:2:14: ", "undefined variable 'b'");
    expect_error_at("setup:\n  - get: /{{ u }}\n" STEPS_HEAD
                    "          - get: /x\n            save: {u: x}\n",
                    "t.yaml:2:14: ", "undefined variable 'u'");
    /* A class does not see another class's saves. */
    expect_error_at(STEPS_HEAD "          - get: /x\n            save: {mine: x}\n"
                    "  - name: V\n    tasks: [{steps: [{get: \"/{{ mine }}\"}]}]\n",
                    "t.yaml:8:33: ", "undefined variable 'mine'");
}

/* A template that can never render — constant arguments a function refuses, constant
 * arithmetic that fails — is a load error at the failing expression, wherever it is. */
static void test_constant_template_errors(void **state)
{
    (void)state;
    /* `          - get: /p/{{ ` puts the expression at column 24 */
    expect_error_at(STEPS_HEAD "          - get: /p/{{ random_int(5, 1) }}\n", "t.yaml:5:24: ",
                    "random_int(a, b) needs a <= b, got 5 and 1");
    expect_error_at(STEPS_HEAD "          - get: /p/{{ random_string(-1) }}\n", "t.yaml:5:24: ",
                    "random_string() length must be a whole number from 0 to 1048576, got -1");
    expect_error_at(STEPS_HEAD "          - get: /p/{{ random_float(1, 2, 99) }}\n",
                    "t.yaml:5:24: ", "digits must be a whole number from 0 to 15, got 99");
    expect_error_at(STEPS_HEAD "          - get: /x\n            headers: {X-A: \"{{ 1/0 }}\"}\n",
                    "t.yaml:6:32: ", "division by zero");
    expect_error_at(STEPS_HEAD "          - get: /x\n            query: {q: \"{{ \\\"a\\\" * 2 }}\"}\n",
                    "t.yaml:6:28: ", "'a' is not a number");
    expect_error_at(STEPS_HEAD "          - post: /x\n            json: {a: [1, \"{{ 2 * (1 - 1) / 0 }}\"]}\n",
                    "t.yaml:6:31: ", "division by zero");
    expect_error_at(STEPS_HEAD "          - post: /x\n            form: {a: \"{{ choice(1, pick(2)) }}\"}\n",
                    "t.yaml:6:37: ", "pick() needs a list, got a number");
    expect_error_at(STEPS_HEAD "          - post: /x\n            body: \"{{ foo\"\n",
                    "t.yaml:6:20: ", "unclosed '{{'");
    /* a literal URL with a space or a control character could never be sent */
    expect_error_at(STEPS_HEAD "          - get: \"/a b/{{ uuid() }}\"\n", "t.yaml:5:21: ",
                    "a URL cannot contain a space (write it as %20)");
    expect_error_at(STEPS_HEAD "          - get: \"/a\\tb\"\n", "t.yaml:5:21: ",
                    "a URL cannot contain a control character");
    /* what depends on a saved value or a draw is left to the request */
    char err[512] = "";
    scenario_t *sc = NULL;
    const char *ok = STEPS_HEAD "          - get: \"/p/{{ 10 / random_int(0, 1) }}/{{ 1 + 2 }}\"\n"
                     "            name: /p\n"
                     "          - get: \"/q/{{ n / 0 }}?x={{ random_int(n, 1) }}\"\n"
                     "            name: /q\n"
                     "          - get: /s\n            save: {n: n}\n";
    assert_int_equal(scenario_load_text(ok, strlen(ok), "t.yaml", &sc, err, sizeof err), 0);
    scenario_free(sc);
}

static void test_templates_that_resolve(void **state)
{
    (void)state;
    /* Setup saves feed later setup steps and users; a task may use what a later task or
     * on_stop saves (the user keeps its variables between tasks). */
    scenario_t *sc = load_ok("vars: {n: 3}\n"
                             "setup:\n  - get: /a\n    save: {a: x}\n  - get: /{{ a }}\n"
                             STEPS_HEAD "          - get: /{{ uuid() }}/{{ a }}/{{ later }}\n"
                             "            headers: {X-Id: \"{{ random_int(1, n) }}\"}\n"
                             "      - steps:\n          - get: /later\n"
                             "            save: {later: id}\n");
    step_t *st = &sc->classes[0].tasks[0].steps[0];
    assert_false(tmpl_is_literal(st->url));
    assert_false(tmpl_is_literal(st->headers[0].value));
    assert_string_equal(sc->classes[0].var_names[0], "later");
    scenario_free(sc);
}

static void test_tag_filter(void **state)
{
    (void)state;
    char err[256];
    scenario_t *sc = load_ok(full);
    char *read[] = {"read"}, *write[] = {"write"}, *fast[] = {"fast"}, *none[] = {"nope"};

    assert_int_equal(scenario_filter_tags(sc, read, 1, NULL, 0, err, sizeof err), 0);
    assert_true(sc->classes[0].tasks[0].enabled);
    assert_false(sc->classes[0].tasks[1].enabled);
    assert_true(sc->classes[1].tasks[0].enabled);
    assert_false(sc->classes[3].tasks[0].enabled);       /* untagged: not in --tags read */
    assert_true(sc->classes[3].weight == 0.0);
    assert_true(sc->classes[0].weight == 3.0);
    assert_int_equal(sc->classes[1].fixed_count, 2);
    scenario_free(sc);

    sc = load_ok(full);
    assert_int_equal(scenario_filter_tags(sc, NULL, 0, fast, 1, err, sizeof err), 0);
    assert_false(sc->classes[0].tasks[0].enabled);
    assert_true(sc->classes[0].tasks[1].enabled);
    assert_true(sc->classes[3].tasks[0].enabled);       /* untagged survives an exclusion */
    assert_true(sc->classes[3].weight == 1.0);
    scenario_free(sc);

    sc = load_ok(full);
    assert_int_equal(scenario_filter_tags(sc, read, 1, read, 1, err, sizeof err), -1);
    assert_string_equal(err, "t.yaml: no task left to run with --tags 'read' --exclude-tags "
                             "'read'");
    scenario_free(sc);

    sc = load_ok(full);
    assert_int_equal(scenario_filter_tags(sc, write, 1, NULL, 0, err, sizeof err), 0);
    assert_true(sc->classes[0].tasks[1].enabled);
    assert_int_equal(sc->classes[1].fixed_count, -1);   /* Pacer lost its only task */
    assert_true(sc->classes[1].weight == 0.0);
    assert_int_equal(scenario_filter_tags(sc, none, 1, NULL, 0, err, sizeof err), -1);
    scenario_free(sc);
}

static void test_load_file(void **state)
{
    (void)state;
    char err[512];
    scenario_t *sc = NULL;
    assert_int_equal(scenario_load_file("/nonexistent/x.yaml", &sc, err, sizeof err), -1);
    assert_null(sc);
    assert_string_equal(err, "/nonexistent/x.yaml: cannot read: No such file or directory");
    assert_int_equal(scenario_load_file("/", &sc, err, sizeof err), -1);
    assert_string_equal(err, "/: cannot read: Is a directory");

    char path[] = "/tmp/herd_test_scenario_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(trading, f);
    fclose(f);
    assert_int_equal(scenario_load_file(path, &sc, err, sizeof err), 0);
    assert_string_equal(sc->file, path);
    assert_int_equal(sc->n_rows, 4);
    scenario_free(sc);

    f = fopen(path, "w");
    fputs("users:\n  - name: A\n    tasks: 7\n", f);
    fclose(f);
    assert_int_equal(scenario_load_file(path, &sc, err, sizeof err), -1);
    char want[256];
    snprintf(want, sizeof want, "%s:3:12: 'tasks' must be a list of tasks, got a number", path);
    assert_string_equal(err, want);
    unlink(path);
}

/* Mutated and truncated versions of valid files: every one loads or fails with one line
 * naming the file; none crashes (run under ASan/UBSan too). */
static void test_garbage_never_crashes(void **state)
{
    (void)state;
    const char *seeds[] = {trading, full};
    const char junk[] = "{}[]:-,&*!|>'\"%@`#? \n\t\\x0{}";
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    char err[512];
    for (int s = 0; s < 2; s++) {
        size_t len = strlen(seeds[s]);
        char *buf = malloc(len + 1);
        for (int iter = 0; iter < 3000; iter++) {
            memcpy(buf, seeds[s], len + 1);
            int edits = 1 + iter % 4;
            for (int e = 0; e < edits; e++) {
                rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                buf[rng % len] = junk[(rng >> 32) % (sizeof junk - 1)];
            }
            size_t use = iter % 7 == 0 ? (size_t)(rng >> 40) % len : len;
            scenario_t *sc = NULL;
            int rc = scenario_load_text(buf, use, "g.yaml", &sc, err, sizeof err);
            if (rc == 0) {
                assert_non_null(sc);
                scenario_free(sc);
            } else {
                assert_null(sc);
                assert_int_equal(strncmp(err, "g.yaml:", 7), 0);
                assert_null(strchr(err, '\n'));
            }
        }
        free(buf);
    }
    /* Raw bytes, NULs and invalid UTF-8 included. */
    char raw[256];
    for (int iter = 0; iter < 2000; iter++) {
        for (size_t i = 0; i < sizeof raw; i++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            raw[i] = (char)(rng & 0xff);
        }
        scenario_t *sc = NULL;
        if (scenario_load_text(raw, (size_t)(iter % 256), "g.yaml", &sc, err, sizeof err) == 0)
            scenario_free(sc);
    }
    /* Deep nesting is refused, not recursed into. */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    scenario_t *sc = NULL;
    assert_int_equal(scenario_load_text(deep, 2 * depth, "g.yaml", &sc, err, sizeof err), -1);
    assert_string_equal(err, "g.yaml:1:65: nested more than 64 levels deep");
    free(deep);
}


/* ---- flow and richer saves ------------------------------------------------------------ */

/* Blocks are flattened: BLOCK, body, END, with `end` linking the two and depth per nesting;
 * rows stay one per (method, name); for_each's `as` is a USER variable. */
static void test_blocks_flatten(void **state)
{
    (void)state;
    scenario_t *sc = load_ok(STEPS_HEAD
        "          - get: /list\n"
        "            save: {items: items, level: level}\n"
        "          - repeat: 3\n"
        "            steps:\n"
        "              - get: /a\n"
        "              - for_each: \"{{ items }}\"\n"
        "                as: it\n"
        "                when: \"{{ level > 2 }}\"\n"
        "                steps:\n"
        "                  - get: /i/{{ it.id }}\n"
        "                    name: /i\n"
        "                  - get: /a\n"
        "                    when: \"{{ it.id != 3 and not (level < 0) }}\"\n"
        "          - when: \"{{ level == 1 }}\"\n"
        "            steps: [{sleep: 0}, {get: /b}]\n");
    const task_t *t = &sc->classes[0].tasks[0];
    /* get, BLOCK, get, BLOCK, get, get, END, END, BLOCK, sleep, get, END */
    assert_int_equal(t->n_steps, 12);
    static const step_kind_t kinds[] = {STEP_REQUEST, STEP_BLOCK, STEP_REQUEST, STEP_BLOCK,
                                        STEP_REQUEST, STEP_REQUEST, STEP_END, STEP_END,
                                        STEP_BLOCK, STEP_SLEEP, STEP_REQUEST, STEP_END};
    for (size_t i = 0; i < 12; i++)
        assert_int_equal(t->steps[i].kind, kinds[i]);
    const step_t *rep = &t->steps[1], *each = &t->steps[3], *once = &t->steps[8];
    assert_int_equal(rep->block, BLOCK_REPEAT);
    assert_int_equal(rep->repeat, 3);
    assert_int_equal(rep->end, 7);
    assert_int_equal(t->steps[7].end, 1);
    assert_int_equal(rep->depth, 0);
    assert_int_equal(each->block, BLOCK_FOR_EACH);
    assert_int_equal(each->end, 6);
    assert_int_equal(each->depth, 1);
    assert_int_equal(t->steps[6].depth, 1);
    assert_string_equal(each->as, "it");
    assert_non_null(each->when);
    assert_non_null(t->steps[5].when);
    assert_int_equal(once->block, BLOCK_ONCE);
    assert_int_equal(once->end, 11);
    /* a block counts its own failures on its first request's row */
    assert_int_equal(rep->row, t->steps[2].row);
    assert_int_equal(each->row, t->steps[4].row);
    assert_int_equal(t->steps[2].row, t->steps[5].row); /* GET /a twice: one row */
    assert_int_equal(sc->n_rows, 4);                     /* /list, /a, /i, /b */
    /* `it` has a user slot, as saves do */
    const user_class_t *uc = &sc->classes[0];
    assert_string_equal(uc->var_names[each->as_slot], "it");
    scenario_free(sc);

    /* for_each without `as` binds `item` */
    sc = load_ok(STEPS_HEAD "          - get: /l\n            save: {xs: $}\n"
                 "          - for_each: \"{{ xs }}\"\n            steps: [{get: \"/{{ item }}\"}]\n");
    assert_string_equal(sc->classes[0].tasks[0].steps[1].as, "item");
    scenario_free(sc);
}

static void test_flow_errors(void **state)
{
    (void)state;
    expect_error(STEPS_HEAD "          - repeat: 3\n",
                 "t.yaml:5:13: block needs 'steps': the list of steps it runs");
    expect_error(STEPS_HEAD "          - repeat: 1000001\n            steps: [{get: /}]\n",
                 "t.yaml:5:21: 'repeat' must be a whole number from 0 to 1000000, got a number");
    expect_error(STEPS_HEAD "          - repeat: many\n            steps: [{get: /}]\n",
                 "t.yaml:5:21: 'repeat' must be a whole number from 0 to 1000000, got a string");
    expect_error(STEPS_HEAD "          - repeat: 2\n            get: /x\n            steps: [{get: /}]\n",
                 "t.yaml:6:13: 'get' does not go in a block (repeat, for_each, when, steps): "
                 "put the request in its 'steps'");
    expect_error(STEPS_HEAD "          - repeat: 2\n            steps: []\n",
                 "t.yaml:6:20: 'steps' must list at least one step");
    expect_error(STEPS_HEAD "          - repeat: 2\n            steps: [{sleep: 1}]\n",
                 "t.yaml:6:20: a block needs at least one request in its 'steps'");
    expect_error(STEPS_HEAD "          - repeat: 2\n            for_each: \"{{ user_id }}\"\n"
                 "            steps: [{get: /}]\n",
                 "t.yaml:6:23: a block has 'repeat' or 'for_each', not both; nest one block in "
                 "the other");
    expect_error(STEPS_HEAD "          - repeat: 2\n            as: x\n            steps: [{get: /}]\n",
                 "t.yaml:6:17: 'as' names the element of a 'for_each'; this block has none");
    expect_error(STEPS_HEAD "          - get: /\n            as: x\n",
                 "t.yaml:6:17: 'as' names the element of a 'for_each' block; this step has no "
                 "for_each");
    expect_error(STEPS_HEAD "          - for_each: /items\n            steps: [{get: /}]\n",
                 "t.yaml:5:23: 'for_each' must be one {{ expression }} like \"{{ items }}\", got "
                 "a string");
    expect_error(STEPS_HEAD "          - for_each: \"x{{ user_id }}\"\n            steps: [{get: /}]\n",
                 "t.yaml:5:23: 'for_each' must be exactly one {{ expression }} with no text "
                 "around it, like \"{{ items }}\"");
    expect_error(STEPS_HEAD "          - get: /\n            when: yes\n",
                 "t.yaml:6:19: 'when' must be one {{ expression }} like \"{{ level > 3 }}\", "
                 "got a string");
    expect_error(STEPS_HEAD "          - sleep: 1\n            when: \"{{ true }}\"\n",
                 "t.yaml:6:13: 'when' does not apply to a sleep step: put the sleep in a "
                 "block, {when: ..., steps: [...]}");
    expect_error("setup:\n  - repeat: 2\n    steps: [{get: /}]\n" CLASS_HEAD ONE_TASK,
                 "t.yaml:2:5: 'repeat' is not supported in setup steps");
    expect_error("setup:\n  - get: /\n    when: \"{{ true }}\"\n" CLASS_HEAD ONE_TASK,
                 "t.yaml:3:11: 'when' is not supported in setup steps");
    expect_error(STEPS_HEAD "          - for_each: \"{{ user_id }}\"\n            as: user_id\n"
                 "            steps: [{get: /}]\n",
                 "t.yaml:6:17: for_each 'as' name 'user_id' is a built-in template name; pick "
                 "another");
    expect_error("vars: {item: 1}\n" STEPS_HEAD "          - for_each: \"{{ user_id }}\"\n"
                 "            steps: [{get: /}]\n",
                 "t.yaml:6:13: for_each 'as' 'item' would shadow the global variable 'item'; "
                 "pick another name (as: ...)");
    /* template errors inside when: at the offending token */
    expect_error_at(STEPS_HEAD "          - get: /\n            when: \"{{ 1 < 2 < 3 }}\"\n",
                    "t.yaml:6:29: ", "comparisons cannot be chained");
    expect_error_at(STEPS_HEAD "          - get: /\n            when: \"{{ user_id = 3 }}\"\n",
                    "t.yaml:6:31: ", "'=' alone is not an operator");
    expect_error_at(STEPS_HEAD "          - get: /\n            when: \"{{ ghost > 1 }}\"\n",
                    "t.yaml:6:23: ", "undefined variable 'ghost'");
    /* nesting is bounded */
    char deep[8192] = STEPS_HEAD;
    for (int i = 0; i <= SCENARIO_MAX_NESTING; i++) {
        char line[256];
        snprintf(line, sizeof line, "%*s- repeat: 1\n%*s  steps:\n", 10 + 4 * i, "",
                 10 + 4 * i, "");
        strcat(deep, line);
    }
    char last[128];
    snprintf(last, sizeof last, "%*s- get: /\n", 10 + 4 * (SCENARIO_MAX_NESTING + 1), "");
    strcat(deep, last);
    expect_error_at(deep, "t.yaml:37:77: ", "blocks nest more than 16 deep");
}

static void test_rich_saves_and_checks(void **state)
{
    (void)state;
    scenario_t *sc = load_ok(STEPS_HEAD
        "          - get: /x\n"
        "            save:\n"
        "              a: b.c\n"
        "              loc: {header: Location}\n"
        "              id: {regex: 'id=(\\d+)'}\n"
        "              code: {status: true}\n"
        "              j: {json: \"$.k[0]\"}\n"
        "            expect:\n"
        "              json: {\"$.player.level\": 3, name: \"{{ a }}\", ok: true, tag: '3'}\n");
    const step_t *st = &sc->classes[0].tasks[0].steps[0];
    assert_int_equal(st->n_saves, 5);
    assert_int_equal(st->saves[0].kind, SAVE_JSON);
    assert_int_equal(st->saves[1].kind, SAVE_HEADER);
    assert_string_equal(st->saves[1].header, "Location");
    assert_int_equal(st->saves[2].kind, SAVE_REGEX);
    assert_non_null(st->saves[2].regex);
    assert_int_equal(st->saves[3].kind, SAVE_STATUS);
    assert_int_equal(st->saves[4].kind, SAVE_JSON);
    assert_true(st->needs_json);
    assert_true(st->needs_body);
    assert_true(st->needs_headers);
    assert_int_equal(st->expect.n_json_values, 4);
    assert_true(json_is_integer(st->expect.json_values[0].literal));
    assert_null(st->expect.json_values[1].literal);
    assert_non_null(st->expect.json_values[1].value);
    assert_true(json_is_true(st->expect.json_values[2].literal));
    assert_true(json_is_string(st->expect.json_values[3].literal)); /* quoted: a string */
    scenario_free(sc);

    /* Only what is read is kept: a status save reads neither body nor headers. */
    sc = load_ok(STEPS_HEAD "          - get: /x\n            save: {code: {status: true}}\n");
    st = &sc->classes[0].tasks[0].steps[0];
    assert_false(st->needs_body);
    assert_false(st->needs_headers);
    assert_false(st->needs_json);
    scenario_free(sc);

    /* The regex's own error, at its offset inside the pattern (col 30 + 4). */
    expect_error_at(STEPS_HEAD "          - get: /x\n            save: {id: {regex: 'id=(\\d+'}}\n",
                    "t.yaml:6:", "bad regex 'id=(\\d+': missing closing parenthesis");
    expect_error(STEPS_HEAD "          - get: /x\n            save: {id: {regex: '(['}}\n",
                 "t.yaml:6:35: bad regex '([': missing terminating ] for character class");
    expect_error(STEPS_HEAD "          - get: /x\n            save: {h: {header: 'a b'}}\n",
                 "t.yaml:6:32: bad header name 'a b'");
    expect_error(STEPS_HEAD "          - get: /x\n            save: {c: {status: 1}}\n",
                 "t.yaml:6:32: save 'c': write {status: true} to save the status code");
    expect_error(STEPS_HEAD "          - get: /x\n            save: {c: {stauts: true}}\n",
                 "t.yaml:6:24: unknown key 'stauts' in save (did you mean 'status'?)");
    expect_error(STEPS_HEAD "          - get: /x\n            save: {c: {header: A, regex: b}}\n",
                 "t.yaml:6:23: save 'c' needs a JSON path like a.b, or one of {json: PATH}, "
                 "{header: NAME}, {regex: PATTERN}, {status: true}, got a mapping");
    expect_error(STEPS_HEAD "          - get: /x\n            save: {c: {header: ''}}\n",
                 "t.yaml:6:32: save 'c': 'header' must not be empty");
    expect_error(STEPS_HEAD "          - get: /x\n            save: {c: {regex: [a]}}\n",
                 "t.yaml:6:31: save 'c': 'regex' needs a string, got a list");
    expect_error_at(STEPS_HEAD "          - get: /x\n            expect: {json: {\"a[\": 1}}\n",
                    "t.yaml:6:", "bad JSON path 'a['");
    expect_error_at(STEPS_HEAD "          - get: /x\n            expect: {json: {a: \"{{ nope }}\"}}\n",
                    "t.yaml:6:", "undefined variable 'nope'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trading_example),
        cmocka_unit_test(test_full_structure),
        cmocka_unit_test(test_default_row_name_is_path_as_written),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_max_body),
        cmocka_unit_test(test_template_errors),
        cmocka_unit_test(test_constant_template_errors),
        cmocka_unit_test(test_templates_that_resolve),
        cmocka_unit_test(test_tag_filter),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_garbage_never_crashes),
        cmocka_unit_test(test_blocks_flatten),
        cmocka_unit_test(test_flow_errors),
        cmocka_unit_test(test_rich_saves_and_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
