/*
 * Unit tests for common/scenario_files.c: a file a scenario names is read once on the
 * master (relative to the scenario's directory), taken from the shipped files on a worker,
 * refused where no source is given, and every failure is one line at the naming scalar.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../common/scenario_internal.h"

typedef struct fixture {
    char dir[64];
    ynode_t *root;
    loader_t L;
    char err[512];
} fixture_t;

/* A loader over `text` (a mapping whose values name files) with src. */
static void start(fixture_t *f, const char *text, const scenario_source_t *src)
{
    ytree_error_t e;
    assert_int_equal(ytree_parse(text, strlen(text), &f->root, &e), 0);
    memset(&f->L, 0, sizeof f->L);
    f->L.file = "s.yaml";
    f->L.text = text;
    f->L.len = strlen(text);
    f->L.err = f->err;
    f->L.errlen = sizeof f->err;
    f->L.src = src;
    f->L.sc = calloc(1, sizeof *f->L.sc);
    assert_non_null(f->L.sc);
}

static void finish(fixture_t *f)
{
    sc_files_free(f->L.sc);
    free(f->L.sc);
    ytree_free(f->root);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_master_reads_relative_to_dir_once(void **state)
{
    (void)state;
    fixture_t f;
    snprintf(f.dir, sizeof f.dir, "/tmp/herd-sf-XXXXXX");
    assert_non_null(mkdtemp(f.dir));
    char path[128];
    snprintf(path, sizeof path, "%s/ca.pem", f.dir);
    write_file(path, "PEM\n");
    scenario_source_t src = { .dir = f.dir };
    start(&f, "a: ca.pem\nb: ca.pem\n", &src);
    const scenario_file_t *a = NULL, *b = NULL;
    assert_int_equal(sc_file(&f.L, ytree_get(f.root, "a"), "ca", &a), 0);
    assert_int_equal(sc_file(&f.L, ytree_get(f.root, "b"), "ca", &b), 0);
    assert_ptr_equal(a, b);
    assert_int_equal(f.L.sc->n_files, 1);
    assert_string_equal(a->name, "ca.pem");
    assert_int_equal(a->len, 4);
    assert_string_equal(a->data, "PEM\n");
    finish(&f);
    unlink(path);
    rmdir(f.dir);
}

static void test_master_missing_file_is_positioned(void **state)
{
    (void)state;
    fixture_t f;
    scenario_source_t src = { .dir = "/nonexistent-dir" };
    start(&f, "a: 1\nca: nope.pem\n", &src);
    const scenario_file_t *out = NULL;
    assert_int_equal(sc_file(&f.L, ytree_get(f.root, "ca"), "ca", &out), -1);
    assert_string_equal(f.err, "s.yaml:2:5: 'ca': /nonexistent-dir/nope.pem: cannot read: "
                               "No such file or directory");
    finish(&f);
}

static void test_worker_takes_shipped_files(void **state)
{
    (void)state;
    fixture_t f;
    scenario_file_t shipped[] = {
        { .name = "x.csv", .data = "id\n1\n", .len = 5 },
        { .name = "data/p.csv", .data = "a,b\n", .len = 4 },
    };
    scenario_source_t src = { .shipped = shipped, .n_shipped = 2 };
    start(&f, "p: data/p.csv\nq: other.csv\n", &src);
    const scenario_file_t *out = NULL;
    assert_int_equal(sc_file(&f.L, ytree_get(f.root, "p"), "csv", &out), 0);
    assert_string_equal(out->data, "a,b\n");
    assert_ptr_not_equal(out->data, shipped[1].data); /* a copy: the message is freed */
    assert_int_equal(sc_file(&f.L, ytree_get(f.root, "q"), "csv", &out), -1);
    assert_string_equal(f.err, "s.yaml:2:4: 'csv': other.csv was not sent with the scenario");
    finish(&f);
}

static void test_no_source_refuses(void **state)
{
    (void)state;
    fixture_t f;
    start(&f, "ca: x.pem\n", NULL);
    const scenario_file_t *out = NULL;
    assert_int_equal(sc_file(&f.L, ytree_get(f.root, "ca"), "ca", &out), -1);
    assert_string_equal(f.err, "s.yaml:1:5: 'ca': this scenario names a file (x.pem), which "
                               "cannot be read here");
    finish(&f);
}

static void test_empty_name_refused(void **state)
{
    (void)state;
    fixture_t f;
    scenario_source_t src = { .dir = "." };
    start(&f, "ca: ''\n", &src);
    const scenario_file_t *out = NULL;
    assert_int_equal(sc_file(&f.L, ytree_get(f.root, "ca"), "ca", &out), -1);
    assert_string_equal(f.err, "s.yaml:1:5: 'ca' must name a file, got an empty string");
    finish(&f);
}

static void test_scenario_dir(void **state)
{
    (void)state;
    char d[64];
    scenario_dir("gaming.yaml", d, sizeof d);
    assert_string_equal(d, ".");
    scenario_dir("scenarios/gaming.yaml", d, sizeof d);
    assert_string_equal(d, "scenarios");
    scenario_dir("/gaming.yaml", d, sizeof d);
    assert_string_equal(d, "/");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_master_reads_relative_to_dir_once),
        cmocka_unit_test(test_master_missing_file_is_positioned),
        cmocka_unit_test(test_worker_takes_shipped_files),
        cmocka_unit_test(test_no_source_refuses),
        cmocka_unit_test(test_empty_name_refused),
        cmocka_unit_test(test_scenario_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
