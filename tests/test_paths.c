/* The path validator (store/paths.c): canonical forms, the traversal
 * corpus, symlink escape, and the artifact-URI rule; plus an atomic upload
 * that ends early leaving nothing behind (store/artifacts.c). */
#include "test.h"
#include "../store/paths.h"
#include "../store/artifacts.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *sanitize(struct arena *a, const char *in)
{
    struct error err;
    const char *out;
    return path_sanitize(a, in, &out, &err) ? NULL : out;
}

static const char *const rejected[] = {
    "..", "../x", "a/../b", "a/..", "/etc/passwd", "//etc/passwd", "%2e%2e/x", "%2E%2E%2Fx", "a/%2e%2e/%2e%2e/b",
    "%252e%252e/x", "%25252e%25252e%25252fx", "..%2fx", "..%252fx", "a\\..\\b", "a%5c..%5cb", "%5c%5cserver",
    "C:/windows", "c:\\x", "C:x", "file:///etc/passwd", "file:/etc", "a#/../b", "a%23b", "a\x01" "b", "a%00b",
    "a%0ab", "a%7fb", "%2fetc%2fpasswd", "%252fetc", "a/./../../b", "./..", "x/%2E./y",
    "%25%32%65%25%32%65/x",     /* %2e%2e once decoded */
    "%2525252525252525252525252e", /* never settles within 10 passes */
};

static void test_sanitize(void)
{
    struct arena a;
    arena_init(&a);
    CHECK_STR(sanitize(&a, "a/b.txt"), "a/b.txt");
    CHECK_STR(sanitize(&a, "a//b/./c/"), "a/b/c");
    CHECK_STR(sanitize(&a, ""), "");
    CHECK_STR(sanitize(&a, "1/abc/artifacts/model/MLmodel"), "1/abc/artifacts/model/MLmodel");
    CHECK_STR(sanitize(&a, "a%20b"), "a b");
    CHECK_STR(sanitize(&a, "a..b/..c/d.."), "a..b/..c/d..");
    CHECK_STR(sanitize(&a, "what?.txt"), "what?.txt");
    CHECK_STR(sanitize(&a, "100%zz"), "100%zz");    /* an invalid escape stays */
    for (size_t i = 0; i < sizeof rejected / sizeof *rejected; i++) {
        const char *got = sanitize(&a, rejected[i]);
        if (got)
            fprintf(stderr, "accepted: %s -> %s\n", rejected[i], got);
        CHECK(got == NULL);
    }
    struct error err;
    const char *out;
    CHECK(path_sanitize(&a, "../x", &out, &err) == -1);
    CHECK_INT(err.code, ERR_INVALID_PARAMETER_VALUE);
    CHECK_STR(err.message, "Invalid path");
    arena_free(&a);
}

static long long read_short(void *ctx, char *buf, size_t len)
{
    int *calls = ctx;
    if ((*calls)++)
        return 0;            /* the client went away after 5 bytes */
    memcpy(buf, "hello", len < 5 ? len : 5);
    return 5;
}

static void test_filesystem(void)
{
    struct arena a;
    arena_init(&a);
    char base[] = "/tmp/cairn-paths-XXXXXX";
    CHECK(mkdtemp(base) != NULL);
    const char *root = arena_printf(&a, "%s/root", base), *outside = arena_printf(&a, "%s/outside", base);
    CHECK(mkdir(root, 0755) == 0);
    CHECK(mkdir(outside, 0755) == 0);
    CHECK(symlink(outside, arena_printf(&a, "%s/escape", root)) == 0);
    CHECK(symlink("/nonexistent/zzz", arena_printf(&a, "%s/dangling", root)) == 0);
    CHECK(mkdir(arena_printf(&a, "%s/inside", root), 0755) == 0);
    CHECK(symlink(arena_printf(&a, "%s/inside", root), arena_printf(&a, "%s/alias", root)) == 0);
    struct error err;
    const char *full;
    CHECK(path_resolve(&a, root, "escape", &full, &err) == -1);
    CHECK(path_resolve(&a, root, "escape/new/file", &full, &err) == -1);
    CHECK(path_resolve(&a, root, "dangling", &full, &err) == -1);
    CHECK(path_resolve(&a, root, "alias/x", &full, &err) == 0);
    CHECK(path_resolve(&a, root, "inside/a/b/c", &full, &err) == 0);
    CHECK_STR(full, arena_printf(&a, "%s/inside/a/b/c", root));
    CHECK(path_resolve(&a, arena_printf(&a, "%s/missing", base), "x", &full, &err) == 0);

    /* a write through the escaping symlink creates nothing outside */
    int calls = 0;
    CHECK(artifact_put(&a, root, "escape/sub/f", read_short, &calls, 5, &err) == -1);
    struct stat st;
    CHECK(stat(arena_printf(&a, "%s/sub", outside), &st) == -1);

    /* an upload that ends before Content-Length leaves nothing behind */
    calls = 0;
    CHECK(artifact_put(&a, root, "inside/t.bin", read_short, &calls, 100, &err) == -1);
    CHECK(stat(arena_printf(&a, "%s/inside/t.bin", root), &st) == -1);
    struct artifact_entry *e;
    size_t n;
    CHECK(artifact_list(&a, root, "inside", &e, &n, &err) == 0);
    CHECK_INT(n, 0);
    /* and a complete one lands */
    calls = 0;
    CHECK(artifact_put(&a, root, "inside/t.bin", read_short, &calls, 5, &err) == 0);
    CHECK(stat(arena_printf(&a, "%s/inside/t.bin", root), &st) == 0 && st.st_size == 5);
    CHECK(artifact_list(&a, root, "inside", &e, &n, &err) == 0);
    CHECK_INT(n, 1);
    CHECK(artifact_delete(&a, root, "inside", &err) == 0);
    CHECK(stat(arena_printf(&a, "%s/inside", root), &st) == -1);
    CHECK(stat(outside, &st) == 0);

    /* the stored-location rule */
    const char *roots[2] = { root, "mlflow-artifacts:" };
    CHECK(artifact_uri_check(&a, "mlflow-artifacts:/x/y", roots, 2, &err) == 0);
    CHECK(artifact_uri_check(&a, "s3://bucket/prefix", roots, 2, &err) == 0);
    CHECK(artifact_uri_check(&a, arena_printf(&a, "file://%s/exp", root), roots, 2, &err) == 0);
    CHECK(artifact_uri_check(&a, arena_printf(&a, "%s/exp", root), roots, 2, &err) == 0);
    CHECK(artifact_uri_check(&a, "/etc", roots, 2, &err) == -1);
    CHECK(artifact_uri_check(&a, "file:///etc", roots, 2, &err) == -1);
    CHECK(artifact_uri_check(&a, "relative/dir", roots, 2, &err) == -1);
    CHECK(artifact_uri_check(&a, arena_printf(&a, "%s/../outside", root), roots, 2, &err) == -1);
    CHECK(artifact_uri_check(&a, arena_printf(&a, "%s/escape", root), roots, 2, &err) == -1);
    CHECK(artifact_uri_check(&a, "http:///#/../../etc/", roots, 2, &err) == -1);
    CHECK(artifact_uri_check(&a, "http://foo/bar?../../etc", roots, 2, &err) == -1);
    CHECK(artifact_uri_check(&a, "s3://b/x%23/..", roots, 2, &err) == -1);
    CHECK(artifact_uri_check(&a, "mlflow-artifacts:/a/../../etc", roots, 2, &err) == -1);

    const char *r, *rel;
    CHECK(artifact_uri_to_local(&a, "mlflow-artifacts:/1/abc/artifacts", root, roots, 2, &r, &rel, &err) == 0);
    CHECK_STR(rel, "1/abc/artifacts");
    CHECK(artifact_uri_to_local(&a, "mlflow-artifacts://h:5000/1/m", root, roots, 2, &r, &rel, &err) == 0);
    CHECK_STR(rel, "1/m");
    CHECK(artifact_uri_to_local(&a, "s3://b/x", root, roots, 2, &r, &rel, &err) == 1);
    CHECK(artifact_uri_to_local(&a, "file:///etc", root, roots, 2, &r, &rel, &err) == -1);

    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    CHECK(system(cmd) == 0);
    arena_free(&a);
}

/* issue 17: s3:// roots: which URIs they serve, and what start-up accepts */
static void test_s3_roots(void)
{
    struct arena a;
    arena_init(&a);
    struct error err;
    const char *roots[2] = { "s3://bkt/pre/fix/", "s3://other" }, *r, *rel;
    CHECK(artifact_uri_to_local(&a, "s3://bkt/pre/fix/1/abc/artifacts", NULL, roots, 2, &r, &rel, &err) == 0);
    CHECK_STR(r, "s3://bkt/pre/fix/");
    CHECK_STR(rel, "1/abc/artifacts");
    CHECK(artifact_uri_to_local(&a, "s3://bkt/pre/fix", NULL, roots, 2, &r, &rel, &err) == 0);
    CHECK_STR(rel, "");
    CHECK(artifact_uri_to_local(&a, "s3://bkt/pre/fixture/x", NULL, roots, 2, &r, &rel, &err) == 1);
    CHECK(artifact_uri_to_local(&a, "s3://bkt/pre/x", NULL, roots, 2, &r, &rel, &err) == 1);
    CHECK(artifact_uri_to_local(&a, "s3://bkt2/pre/fix/x", NULL, roots, 2, &r, &rel, &err) == 1);
    CHECK(artifact_uri_to_local(&a, "s3://other/5/x", NULL, roots, 2, &r, &rel, &err) == 0);
    CHECK_STR(r, "s3://other");
    CHECK_STR(rel, "5/x");
    CHECK(artifact_uri_to_local(&a, "s3://bkt/pre/fix/a/../../x", NULL, roots, 2, &r, &rel, &err) == -1);
    CHECK(artifact_uri_to_local(&a, "gs://bkt/pre/fix/x", NULL, roots, 2, &r, &rel, &err) == 1);
    char msg[256];
    CHECK(artifact_root_check("--artifacts-destination", "s3://bucket/prefix", true, msg, sizeof msg) == 0);
    CHECK(artifact_root_check("--default-artifact-root", "s3://bucket", false, msg, sizeof msg) == 0);
    CHECK(artifact_root_check("--artifacts-destination", "s3:///nobucket", true, msg, sizeof msg) == -1);
    CHECK(artifact_root_check("--artifacts-destination", "gs://bucket/p", true, msg, sizeof msg) == -1);
    arena_free(&a);
}

int main(void)
{
    test_sanitize();
    test_filesystem();
    test_s3_roots();
    TEST_MAIN_END();
}
