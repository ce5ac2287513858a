/* JSON in and out: exact int64, NaN/Infinity spellings, nesting limit,
 * MLflow-style reader errors, the writer, page tokens and key validation. */
#include "tests/test.h"
#include "api/common.h"
#include "api/json.h"
#include "api/validate.h"
#include <math.h>
#include <stdint.h>

static const char *write_double(struct arena *a, double v)
{
    struct strbuf sb;
    sb_init(&sb, a, 16);
    struct jw w;
    jw_init(&w, &sb);
    jw_double(&w, v);
    return sb.buf;
}

static void test_numbers(struct arena *a)
{
    struct error err;
    const char *body = "{\"step\": 9223372036854775807, \"neg\": -9223372036854775808, \"s\": \"123\","
                       " \"ts\": 1714000000123, \"f\": 1e3, \"bad\": 1.5, \"v\": \"NaN\", \"pi\": 3.141592653589793,"
                       " \"inf\": \"-Infinity\", \"word\": \"abc\"}";
    cJSON *j = json_parse(a, body, strlen(body), &err);
    CHECK(j != NULL);
    int64_t v = 0;
    bool present = false;
    CHECK_INT(json_get_int64(j, "step", true, &v, &present, &err), 0);
    CHECK(v == INT64_MAX && present);
    CHECK_INT(json_get_int64(j, "neg", true, &v, &present, &err), 0);
    CHECK(v == INT64_MIN);
    CHECK_INT(json_get_int64(j, "s", true, &v, &present, &err), 0);   /* decimal strings too */
    CHECK_INT(v, 123);
    CHECK_INT(json_get_int64(j, "ts", true, &v, &present, &err), 0);
    CHECK(v == 1714000000123LL);
    CHECK_INT(json_get_int64(j, "f", true, &v, &present, &err), 0);
    CHECK_INT(v, 1000);
    CHECK_INT(json_get_int64(j, "bad", true, &v, &present, &err), -1);
    CHECK_INT(err.code, ERR_INVALID_PARAMETER_VALUE);
    CHECK_INT(json_get_int64(j, "word", true, &v, &present, &err), -1);
    CHECK_INT(json_get_int64(j, "missing", false, &v, &present, &err), 0);
    CHECK(!present);
    CHECK_INT(json_get_int64(j, "missing", true, &v, &present, &err), -1);
    CHECK(strstr(err.message, "Missing value for required parameter 'missing'") != NULL);
    double d = 0;
    CHECK_INT(json_get_double(j, "v", true, &d, &present, &err), 0);
    CHECK(isnan(d));
    CHECK_INT(json_get_double(j, "inf", true, &d, &present, &err), 0);
    CHECK(isinf(d) && d < 0);
    CHECK_INT(json_get_double(j, "pi", true, &d, &present, &err), 0);
    CHECK(d == 3.141592653589793);
    CHECK_INT(json_get_double(j, "word", true, &d, &present, &err), -1);
}

static void test_writer(struct arena *a)
{
    CHECK_STR(write_double(a, 1.0), "1.0");
    CHECK_STR(write_double(a, 0.1), "0.1");
    CHECK_STR(write_double(a, 0.1 + 0.2), "0.30000000000000004");
    CHECK_STR(write_double(a, NAN), "\"NaN\"");
    CHECK_STR(write_double(a, INFINITY), "\"Infinity\"");
    CHECK_STR(write_double(a, -INFINITY), "\"-Infinity\"");
    CHECK_STR(write_double(a, 1e300), "1e+300");
    CHECK_STR(write_double(a, -2.5), "-2.5");
    /* every double of a sample round-trips through its text */
    uint64_t x = 88172645463325252ULL;
    int ok = 0;
    for (int i = 0; i < 10000; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (!isfinite(v)) { ok++; continue; }
        const char *s = write_double(a, v);
        ok += strtod(s, NULL) == v;
    }
    CHECK_INT(ok, 10000);

    struct strbuf sb;
    sb_init(&sb, a, 16);
    struct jw w;
    jw_init(&w, &sb);
    jw_obj(&w);
    jw_kstr(&w, "a", "x\"y\\z\n\x01");
    jw_kint64(&w, "n", INT64_MIN);
    jw_karr(&w, "l");
    jw_int64(&w, 1);
    jw_obj(&w);
    jw_obj_end(&w);
    jw_str(&w, "é");
    jw_arr_end(&w);
    jw_kstr(&w, "skipped", NULL);
    jw_kbool(&w, "b", false);
    jw_obj_end(&w);
    CHECK_STR(sb.buf, "{\"a\":\"x\\\"y\\\\z\\n\\u0001\",\"n\":-9223372036854775808,\"l\":[1,{},\"é\"],\"b\":false}");
}

static void test_parse_limits(struct arena *a)
{
    struct error err;
    char deep[300];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    deep[200] = '\0';
    CHECK(json_parse(a, deep, 200, &err) == NULL);
    CHECK_INT(err.code, ERR_INVALID_PARAMETER_VALUE);
    memset(deep, '[', 64);
    memset(deep + 64, ']', 64);
    CHECK(json_parse(a, deep, 128, &err) != NULL);
    /* brackets inside strings don't count */
    const char *s = "{\"k\": \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}";
    CHECK(json_parse(a, s, strlen(s), &err) != NULL);
    CHECK(json_parse(a, "{\"a\":", 5, &err) == NULL);
    CHECK(json_parse(a, "{\"a\":\"x\\u0000y\"}", 16, &err) == NULL);
    CHECK(json_parse(a, "", 0, &err) == NULL);
    CHECK(json_parse(a, "[1,2,3] x", 9, &err) == NULL);
    cJSON *j = json_parse(a, "{\"l\":[\"a\",\"b\"],\"one\":\"c\",\"bad\":[1]}", 35, &err);
    CHECK(j != NULL);
    const char **arr;
    size_t n;
    CHECK_INT(json_get_string_array(a, j, "l", &arr, &n, &err), 0);
    CHECK_INT(n, 2);
    CHECK_STR(arr[1], "b");
    CHECK_INT(json_get_string_array(a, j, "one", &arr, &n, &err), 0);
    CHECK_INT(n, 1);
    CHECK_INT(json_get_string_array(a, j, "bad", &arr, &n, &err), -1);
    const char *str;
    CHECK_INT(json_get_string(j, "l", true, &str, &err), -1);
    CHECK(strstr(err.message, "Hint: Value was of type 'list'") != NULL);
}

static void test_page_tokens(struct arena *a)
{
    struct error err;
    int64_t off = -1;
    const char *t = page_token_encode(a, 100);
    CHECK_STR(t, "eyJvZmZzZXQiOiAxMDB9");   /* base64 of {"offset": 100}, as MLflow makes it */
    CHECK_INT(page_token_decode(a, t, &off, &err), 0);
    CHECK_INT(off, 100);
    CHECK_INT(page_token_decode(a, page_token_encode(a, 123456789012LL), &off, &err), 0);
    CHECK(off == 123456789012LL);
    CHECK_INT(page_token_decode(a, "", &off, &err), 0);
    CHECK_INT(off, 0);
    CHECK_INT(page_token_decode(a, "not base64!", &off, &err), -1);
    CHECK_INT(page_token_decode(a, page_token_encode(a, 0), &off, &err), -1);   /* offset 0 is invalid */
    CHECK_INT(page_token_decode(a, "eyJvZmZzZXQiOiAiYSJ9", &off, &err), -1);   /* {"offset": "a"} */
    CHECK_INT(page_token_decode(a, "W10=", &off, &err), -1);                   /* [] */
}

static void test_keys(void)
{
    struct error err;
    const char *good[] = { "loss", "a/b", "a.b-c d:e", "ünïcödé", "x_1", "a..b" };
    const char *bad[] = { "", "/a", "a/", "a//b", "a/./b", "a/../b", "..a", ".", "a\\b", "a#b", "a\nb", "a$b" };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        CHECK_INT(validate_key_name(good[i], "key", &err), 0);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_INT(validate_key_name(bad[i], "key", &err), -1);
        CHECK_INT(err.code, ERR_INVALID_PARAMETER_VALUE);
    }
    CHECK_INT(utf8_len("ünï"), 3);
    struct arena a;
    arena_init(&a);
    CHECK_STR(utf8_truncate(&a, "ünïcödé", 3), "ünï");
    CHECK_STR(utf8_truncate(&a, "abc", 3), "abc");
    arena_free(&a);
    CHECK(valid_run_id("0123abcdef"));
    CHECK(!valid_run_id("-abc"));
    CHECK(!valid_run_id("a b"));
    int64_t id;
    CHECK_INT(parse_experiment_id("12", &id, &err), 0);
    CHECK_INT(id, 12);
    CHECK_INT(parse_experiment_id("abc", &id, &err), -1);
    CHECK(strstr(err.message, "Experiment ID must be a valid integer") != NULL);
}

static void test_arena(void)
{
    struct arena a;
    arena_init(&a);
    char *p = NULL;
    for (int i = 0; i < 10000; i++) {
        p = arena_alloc(&a, (size_t)(i % 300) + 1);
        p[0] = 'x';
    }
    struct strbuf sb;
    sb_init(&sb, &a, 4);
    for (int i = 0; i < 100000; i++)
        sb_putc(&sb, 'a');
    CHECK_INT(sb.len, 100000);
    CHECK_INT(strlen(sb.buf), 100000);
    arena_reset(&a);
    CHECK_INT(a.total, 0);
    CHECK_STR(arena_printf(&a, "%d-%s", 5, "x"), "5-x");
    arena_free(&a);
}

/* issue 19: the big chunks of one request's arena serve the next (no fresh
 * pages from the kernel each time), zeroed by arena_alloc all the same */
static void test_arena_cache(void)
{
    enum { N = 200, SZ = 8 * 1024 };
    static void *first[N];
    struct arena a;
    arena_init(&a);
    for (int i = 0; i < N; i++) {
        first[i] = arena_alloc(&a, SZ);
        memset(first[i], 'x', SZ);
    }
    arena_free(&a);
    arena_init(&a);
    int reused = 0, dirty = 0;
    for (int i = 0; i < N; i++) {
        unsigned char *p = arena_alloc(&a, SZ);
        for (int j = 0; j < N; j++)
            reused += p == first[j];
        dirty += p[0] != 0 || p[SZ - 1] != 0;
    }
    CHECK(reused > 0);
    CHECK_INT(dirty, 0);
    arena_free(&a);
    arena_cache_trim(0);   /* everything back: LeakSanitizer sees nothing held */
}

int main(void)
{
    json_init();
    struct arena a;
    arena_init(&a);
    json_set_thread_arena(&a);
    test_numbers(&a);
    test_writer(&a);
    test_parse_limits(&a);
    test_page_tokens(&a);
    json_set_thread_arena(NULL);
    test_keys();
    test_arena();
    test_arena_cache();
    arena_free(&a);
    TEST_MAIN_END();
}
