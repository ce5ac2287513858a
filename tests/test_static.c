/* The web UI's static-file helpers (server/static.c): MIME types, cache
 * policy, entity tags and If-None-Match, Accept-Encoding, HTTP dates, the
 * UI directory lookup. Serving over HTTP (304s, gzip, traversal) is
 * driven end to end by compat/test_ui.py. */
#include "test.h"
#include "../server/static.h"
#include <sys/stat.h>
#include <unistd.h>

static void test_mime(void)
{
    CHECK_STR(static_mime_type("index.html"), "text/html; charset=utf-8");
    CHECK_STR(static_mime_type("static/js/main.c2f5f8d4.js"), "text/javascript; charset=utf-8");
    CHECK_STR(static_mime_type("static/css/main.b0f58ef9.CSS"), "text/css; charset=utf-8");
    CHECK_STR(static_mime_type("favicon.ico"), "image/vnd.microsoft.icon");
    CHECK_STR(static_mime_type("static/media/x.svg"), "image/svg+xml");
    CHECK_STR(static_mime_type("static/media/font.woff2"), "font/woff2");
    CHECK_STR(static_mime_type("manifest.json"), "application/json");
    CHECK_STR(static_mime_type("LICENSE"), "application/octet-stream");
    CHECK_STR(static_mime_type("dir.js/file"), "application/octet-stream");
    CHECK(static_is_hashed_asset("static/js/main.c2f5f8d4.js"));
    CHECK(!static_is_hashed_asset("index.html"));
}

static void test_etags(void)
{
    char e[64], g[64];
    static_etag(e, sizeof e, 701, 0x18edad723768ed27LL, false);
    static_etag(g, sizeof g, 701, 0x18edad723768ed27LL, true);
    CHECK_STR(e, "\"2bd-18edad723768ed27\"");
    CHECK_STR(g, "\"2bd-18edad723768ed27-gz\"");
    CHECK(static_etag_matches(e, e));
    CHECK(static_etag_matches("*", e));
    CHECK(static_etag_matches("\"x\", \"2bd-18edad723768ed27\"", e));
    CHECK(static_etag_matches("W/\"2bd-18edad723768ed27\"", e));   /* weak comparison */
    CHECK(!static_etag_matches(g, e));
    CHECK(!static_etag_matches("\"2bd-18edad723768ed2\"", e));
    CHECK(!static_etag_matches("", e));
    CHECK(!static_etag_matches(NULL, e));
    CHECK(!static_etag_matches("\"unterminated", e));
    CHECK(!static_etag_matches(",,,  ,", e));
}

static void test_accept_encoding(void)
{
    CHECK(static_accepts_gzip("gzip, deflate, br"));
    CHECK(static_accepts_gzip("br;q=1.0, GZIP;q=0.5"));
    CHECK(static_accepts_gzip("*"));
    CHECK(!static_accepts_gzip("gzip;q=0"));
    CHECK(!static_accepts_gzip("gzip; q=0.0, br"));
    CHECK(!static_accepts_gzip("deflate, br"));
    CHECK(!static_accepts_gzip("x-gzip2"));
    CHECK(!static_accepts_gzip(""));
    CHECK(!static_accepts_gzip(NULL));
}

static void test_dates(void)
{
    char d[64];
    static_http_date(d, sizeof d, 784111777);
    CHECK_STR(d, "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK_INT(static_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
    CHECK_INT(static_parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), -1);
    CHECK_INT(static_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT trailing"), -1);
    CHECK_INT(static_parse_http_date(""), -1);
    CHECK_INT(static_parse_http_date(NULL), -1);
}

static void test_ui_paths(void)
{
    CHECK(static_is_ui_path("/"));
    CHECK(static_is_ui_path(""));
    CHECK(static_is_ui_path("/static-files/static/js/main.js"));
    CHECK(!static_is_ui_path("/static-files"));
    CHECK(!static_is_ui_path("/api/2.0/mlflow/runs/get"));
    CHECK(!static_is_ui_path("/index.html"));
}

static void test_init(void)
{
    char dir[] = "/tmp/cairn-ui-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    CHECK_INT(static_init(dir), -1);          /* no index.html there */
    CHECK(static_root() == NULL);
    char p[64];
    snprintf(p, sizeof p, "%s/index.html", dir);
    FILE *f = fopen(p, "w");
    fputs("<html></html>", f);
    fclose(f);
    CHECK_INT(static_init(dir), 0);
    CHECK(static_root() != NULL && strstr(static_root(), "cairn-ui-") != NULL);
    CHECK_INT(static_init("/nonexistent/ui"), -1);
    unlink(p);
    rmdir(dir);
}

int main(void)
{
    test_mime();
    test_etags();
    test_accept_encoding();
    test_dates();
    test_ui_paths();
    test_init();
    TEST_MAIN_END();
}
