/*
 * Unit tests for common/ytree.c: positions (1-based line:column) of keys, values and sequence
 * items; nesting; what is refused (aliases, duplicate keys, non-scalar keys, NULs, a second
 * document, deep nesting, huge mappings, bad YAML) with a code, a position and a one-line
 * message; empty documents; scalar typing; positions inside scalars.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/ytree.h"

static ynode_t *parse_ok(const char *text)
{
    ynode_t *root = (ynode_t *)0x1;
    ytree_error_t e;
    int rc = ytree_parse(text, strlen(text), &root, &e);
    if (rc != 0)
        print_error("unexpected error %d:%d: %s\n", e.line, e.col, e.message);
    assert_int_equal(rc, 0);
    return root;
}

/* text must fail with code at line:col and exactly `message` (NULL: only a one-liner). */
static void expect_error(const char *text, size_t len, ytree_errcode_t code, int line, int col,
                         const char *message)
{
    ynode_t *root = (ynode_t *)0x1;
    ytree_error_t e;
    assert_int_equal(ytree_parse(text, len, &root, &e), -1);
    assert_null(root);
    if (e.code != code || e.line != line || e.col != col)
        print_error("got code %d at %d:%d: %s\n", (int)e.code, e.line, e.col, e.message);
    assert_int_equal(e.code, code);
    assert_int_equal(e.line, line);
    assert_int_equal(e.col, col);
    if (message)
        assert_string_equal(e.message, message);
    assert_true(e.message[0] != '\0');
    assert_null(strchr(e.message, '\n'));
}
#define EXPECT_ERROR(text, code, line, col, message) \
    expect_error((text), strlen(text), (code), (line), (col), (message))

static void assert_at(const ynode_t *n, ynode_kind_t kind, int line, int col)
{
    assert_non_null(n);
    if (n->kind != kind || n->line != line || n->col != col)
        print_error("node kind %d at %d:%d, want kind %d at %d:%d\n", (int)n->kind, n->line,
                    n->col, (int)kind, line, col);
    assert_int_equal(n->kind, kind);
    assert_int_equal(n->line, line);
    assert_int_equal(n->col, col);
}

static void assert_scalar(const ynode_t *n, const char *text, int line, int col)
{
    assert_at(n, YNODE_SCALAR, line, col);
    assert_string_equal(n->str, text);
    assert_int_equal(n->len, strlen(text));
}

static const char nested[] =
    "a: 1\n"                       /* 1 */
    "b:\n"                         /* 2 */
    "  c: \"x y\"\n"               /* 3 */
    "  d: [p, 'q']\n"              /* 4 */
    "e:\n"                         /* 5 */
    "  - f\n"                      /* 6 */
    "  - g: h\n"                   /* 7 */
    "    i: {j: [k]}\n"            /* 8 */
    "  - - l\n";                   /* 9 */

static void test_positions_and_nesting(void **state)
{
    (void)state;
    ynode_t *root = parse_ok(nested);
    assert_at(root, YNODE_MAP, 1, 1);
    assert_int_equal(root->n, 3);

    assert_scalar(ytree_key(root, 0), "a", 1, 1);
    assert_scalar(ytree_val(root, 0), "1", 1, 4);
    assert_true(ytree_val(root, 0)->plain);

    assert_scalar(ytree_key(root, 1), "b", 2, 1);
    const ynode_t *b = ytree_val(root, 1);
    assert_at(b, YNODE_MAP, 3, 3);
    assert_int_equal(b->n, 2);
    assert_scalar(ytree_key(b, 0), "c", 3, 3);
    const ynode_t *c = ytree_val(b, 0);
    assert_scalar(c, "x y", 3, 6);            /* a quoted scalar starts at its quote */
    assert_true(c->quoted);
    assert_false(c->plain);
    const ynode_t *d = ytree_get(b, "d");
    assert_at(d, YNODE_SEQ, 4, 6);
    assert_int_equal(d->n, 2);
    assert_scalar(d->items[0], "p", 4, 7);
    assert_scalar(d->items[1], "q", 4, 10);
    assert_true(d->items[1]->quoted);

    const ynode_t *e = ytree_get(root, "e");
    assert_at(e, YNODE_SEQ, 6, 3);
    assert_int_equal(e->n, 3);
    assert_scalar(e->items[0], "f", 6, 5);
    const ynode_t *g = e->items[1];
    assert_at(g, YNODE_MAP, 7, 5);
    assert_int_equal(g->n, 2);
    assert_scalar(ytree_key(g, 0), "g", 7, 5);
    assert_scalar(ytree_get(g, "g"), "h", 7, 8);
    const ynode_t *i = ytree_get(g, "i");
    assert_at(i, YNODE_MAP, 8, 8);
    const ynode_t *j = ytree_get(i, "j");
    assert_at(j, YNODE_SEQ, 8, 12);
    assert_scalar(j->items[0], "k", 8, 13);
    const ynode_t *inner = e->items[2];
    assert_at(inner, YNODE_SEQ, 9, 5);
    assert_scalar(inner->items[0], "l", 9, 7);

    assert_null(ytree_get(root, "z"));
    assert_null(ytree_get(b, "a"));           /* lookups do not descend */
    ytree_free(root);
}

static void test_columns_count_characters(void **state)
{
    (void)state;
    ynode_t *root = parse_ok("\xc3\xa9t\xc3\xa9: [\xe2\x82\xac, x]\n");   /* été: [€, x] */
    assert_scalar(ytree_key(root, 0), "\xc3\xa9t\xc3\xa9", 1, 1);
    const ynode_t *v = ytree_val(root, 0);
    assert_at(v, YNODE_SEQ, 1, 6);
    assert_scalar(v->items[0], "\xe2\x82\xac", 1, 7);
    assert_scalar(v->items[1], "x", 1, 10);
    ytree_free(root);
}

static void test_aliases_refused(void **state)
{
    (void)state;
    EXPECT_ERROR("a: &x 1\nb: *x\n", YTREE_ERR_ALIAS, 2, 4,
                 "YAML aliases (*x) are not supported; write the value out");
    EXPECT_ERROR("a: &big [1, 2]\nb: [*big, *big]\n", YTREE_ERR_ALIAS, 2, 5,
                 "YAML aliases (*big) are not supported; write the value out");
    EXPECT_ERROR("- &a [*a]\n", YTREE_ERR_ALIAS, 1, 7, NULL);   /* recursive */
    /* An anchor nothing refers to is harmless and kept as the plain value. */
    ynode_t *root = parse_ok("a: &x 1\n");
    assert_scalar(ytree_get(root, "a"), "1", 1, 4);
    ytree_free(root);
}

static void test_duplicate_keys_refused(void **state)
{
    (void)state;
    EXPECT_ERROR("a: 1\na: 2\n", YTREE_ERR_DUPLICATE_KEY, 2, 1,
                 "duplicate key 'a' (first at line 1)");
    EXPECT_ERROR("top:\n  x: 1\n  y: [1, {k: 1, j: 2, k: 3}]\n", YTREE_ERR_DUPLICATE_KEY, 3, 23,
                 "duplicate key 'k' (first at line 3)");
    /* Equal text, different quoting: the same key. */
    EXPECT_ERROR("a: 1\n'a': 2\n", YTREE_ERR_DUPLICATE_KEY, 2, 1, NULL);
    /* The same key in different mappings is fine. */
    ynode_t *root = parse_ok("a: {a: 1}\nb: [{a: 1}, {a: 2}]\n");
    assert_int_equal(root->n, 2);
    ytree_free(root);
}

static void test_other_refusals(void **state)
{
    (void)state;
    EXPECT_ERROR("? [1]\n: 2\n", YTREE_ERR_KEY_NOT_SCALAR, 1, 3,
                 "a mapping key must be a plain word, got a list");
    EXPECT_ERROR("{? {a: 1} : 2}\n", YTREE_ERR_KEY_NOT_SCALAR, 1, 4,
                 "a mapping key must be a plain word, got a mapping");
    EXPECT_ERROR("a: \"x\\0y\"\n", YTREE_ERR_NUL, 1, 4, "text must not contain a NUL character");
    EXPECT_ERROR("a: 1\n---\nb: 2\n", YTREE_ERR_SECOND_DOCUMENT, 2, 1,
                 "found a second YAML document; one was expected");

    /* YTREE_MAX_DEPTH levels are accepted, one more is not (and is not recursed into). */
    char deep[2 * (YTREE_MAX_DEPTH + 1) + 1];
    memset(deep, '[', YTREE_MAX_DEPTH);
    memset(deep + YTREE_MAX_DEPTH, ']', YTREE_MAX_DEPTH);
    deep[2 * YTREE_MAX_DEPTH] = '\0';
    ynode_t *root = parse_ok(deep);
    ytree_free(root);
    memset(deep, '[', YTREE_MAX_DEPTH + 1);
    memset(deep + YTREE_MAX_DEPTH + 1, ']', YTREE_MAX_DEPTH + 1);
    deep[2 * (YTREE_MAX_DEPTH + 1)] = '\0';
    EXPECT_ERROR(deep, YTREE_ERR_TOO_DEEP, 1, YTREE_MAX_DEPTH + 1,
                 "nested more than 64 levels deep");

    /* YTREE_MAX_MAP_KEYS keys are accepted, one more is not. */
    size_t cap = (YTREE_MAX_MAP_KEYS + 1) * 16;
    char *many = malloc(cap);
    assert_non_null(many);
    size_t off = 0;
    for (int i = 0; i < YTREE_MAX_MAP_KEYS; i++)
        off += (size_t)snprintf(many + off, cap - off, "k%d: 1\n", i);
    root = parse_ok(many);
    assert_int_equal(root->n, YTREE_MAX_MAP_KEYS);
    ytree_free(root);
    snprintf(many + off, cap - off, "last: 1\n");
    EXPECT_ERROR(many, YTREE_ERR_TOO_MANY_KEYS, YTREE_MAX_MAP_KEYS + 1, 1,
                 "a mapping with more than 4096 keys");
    free(many);
}

static void test_malformed_yaml(void **state)
{
    (void)state;
    EXPECT_ERROR("a: [1, 2\n", YTREE_ERR_SYNTAX, 2, 1,
                 "YAML syntax error: did not find expected ',' or ']' (while parsing a flow "
                 "sequence at line 1, column 4)");
    EXPECT_ERROR("a:\n  - b\n c: 1\n", YTREE_ERR_SYNTAX, 3, 2, NULL);
    EXPECT_ERROR("a: 'open\n", YTREE_ERR_SYNTAX, 2, 1, NULL);
    EXPECT_ERROR("a:\n\tb: 1\n", YTREE_ERR_SYNTAX, 2, 1,
                 "YAML syntax error: found character that cannot start any token (YAML indents "
                 "with spaces, not tabs)");
    /* Bytes that are not UTF-8: the position of the bad byte, in characters. */
    EXPECT_ERROR("a: \xc3\xa9\xff\n", YTREE_ERR_SYNTAX, 1, 5,
                 "YAML syntax error: invalid leading UTF-8 octet");
    /* len is honoured: the text need not end with a NUL, and a cut is a cut (libyaml places
     * the end of the text on the next line). */
    expect_error("a: [1, 2]", 6, YTREE_ERR_SYNTAX, 2, 1, NULL);
}

static void test_empty_documents(void **state)
{
    (void)state;
    assert_null(parse_ok(""));
    assert_null(parse_ok("# only a comment\n\n"));
    ynode_t *root = parse_ok("---\n");
    assert_at(root, YNODE_SCALAR, 2, 1);     /* where libyaml puts the missing content */
    assert_true(ytree_is_null(root));
    ytree_free(root);
    root = parse_ok("{}");
    assert_at(root, YNODE_MAP, 1, 1);
    assert_int_equal(root->n, 0);
    ytree_free(root);
}

static void test_scalar_types(void **state)
{
    (void)state;
    ynode_t *root = parse_ok("[~, null, '', \"null\", true, False, 'true', 12, -3, 1.5, 2e3, "
                             "0x10, .inf, '7', !!str 8, 99999999999999999999, 1e400, text, "
                             "[], {}]");
    const ynode_t *const *it = (const ynode_t *const *)root->items;
    bool b;
    double d;
    long long i;
    assert_true(ytree_is_null(it[0]) && ytree_is_null(it[1]));
    assert_false(ytree_is_null(it[2]));          /* quoted: a string, even empty */
    assert_false(ytree_is_null(it[3]));
    assert_true(ytree_bool(it[4], &b) && b);
    assert_true(ytree_bool(it[5], &b) && !b);
    assert_false(ytree_bool(it[6], &b));
    assert_true(ytree_integer(it[7], &i) && i == 12);
    assert_true(ytree_integer(it[8], &i) && i == -3);
    assert_true(ytree_number(it[8], &d) && d == -3.0);
    assert_false(ytree_integer(it[9], &i));
    assert_true(ytree_number(it[9], &d) && d == 1.5);
    assert_true(ytree_number(it[10], &d) && d == 2000.0);
    assert_false(ytree_number(it[11], &d));      /* no hex */
    assert_false(ytree_number(it[12], &d));      /* no inf */
    assert_false(ytree_number(it[13], &d));      /* quoted */
    assert_false(ytree_number(it[14], &d));      /* !!str */
    assert_false(ytree_integer(it[15], &i));     /* out of range */
    assert_false(ytree_number(it[16], &d));
    assert_string_equal(ytree_describe(it[0]), "nothing");
    assert_string_equal(ytree_describe(it[4]), "true/false");
    assert_string_equal(ytree_describe(it[7]), "a number");
    assert_string_equal(ytree_describe(it[13]), "a string");
    assert_string_equal(ytree_describe(it[17]), "a string");
    assert_string_equal(ytree_describe(it[18]), "a list");
    assert_string_equal(ytree_describe(it[19]), "a mapping");
    assert_false(ytree_is_null(it[18]) || ytree_number(it[18], &d) || ytree_bool(it[19], &b));
    ytree_free(root);
}

/* Where byte `off` of the value under `key` sits. */
static void assert_pos(const char *text, const char *key, const char *at, int line, int col)
{
    ynode_t *root = parse_ok(text);
    const ynode_t *n = ytree_get(root, key);
    assert_non_null(n);
    const char *p = strstr(n->str, at);
    assert_non_null(p);
    int l = 0, c = 0;
    ytree_scalar_pos(text, strlen(text), n, (size_t)(p - n->str), &l, &c);
    if (l != line || c != col)
        print_error("'%s' in %s at %d:%d, want %d:%d\n", at, key, l, c, line, col);
    assert_int_equal(l, line);
    assert_int_equal(c, col);
    ytree_free(root);
}

static void test_positions_inside_scalars(void **state)
{
    (void)state;
    assert_pos("k: ab{{ x }}\n", "k", "{{", 1, 6);
    assert_pos("k: \"ab{{ x }}\"\n", "k", "{{", 1, 7);                /* after the quote */
    assert_pos("k: '\xc3\xa9{{ x }}'\n", "k", "{{", 1, 6);            /* characters */
    assert_pos("a: 1\nk: |\n  line one\n  two {{ x }}\n", "k", "{{", 4, 7);
    assert_pos("k: |\n    \xc3\xa9\n    \xc3\xa9 {{ x }}\n", "k", "{{", 3, 7);
    /* Folded and multi-line plain scalars lost their line breaks: the position stays within
     * the scalar but is approximate (here the first line, counting on). */
    assert_pos("k: >\n    one\n    two {{ x }}\n", "k", "{{", 2, 13);
    assert_pos("k: one\n  two {{ x }}\n", "k", "{{", 1, 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positions_and_nesting),
        cmocka_unit_test(test_columns_count_characters),
        cmocka_unit_test(test_aliases_refused),
        cmocka_unit_test(test_duplicate_keys_refused),
        cmocka_unit_test(test_other_refusals),
        cmocka_unit_test(test_malformed_yaml),
        cmocka_unit_test(test_empty_documents),
        cmocka_unit_test(test_scalar_types),
        cmocka_unit_test(test_positions_inside_scalars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
