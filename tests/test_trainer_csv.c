/* cairn-train: the CSV reader under good and bad input, and the featurizer. */
#include <math.h>

#include "tests/test.h"
#include "trainer/csv.h"
#include "trainer/featurize.h"

static int parse(const char *text, struct csv *c, char *err)
{
    return csv_parse(text, strlen(text), "t.csv", c, err);
}

static void test_good(void)
{
    struct csv c;
    char err[ERR_LEN] = "";
    CHECK(parse("a,b,c\r\n1,\"x, \"\"y\"\"\",3\n\n4, 5 ,\n", &c, err) == 0);
    CHECK_INT(c.ncols, 3);
    CHECK_INT(c.nrows, 2);
    CHECK_STR(c.header[2], "c");
    CHECK_STR(csv_cell(&c, 0, 1), "x, \"y\"");
    CHECK_STR(csv_cell(&c, 1, 1), "5");
    CHECK_STR(csv_cell(&c, 1, 2), "");
    CHECK_INT(csv_column(&c, "b"), 1);
    CHECK_INT(csv_column(&c, "zz"), -1);
    csv_free(&c);
    /* no newline at the end, a trailing empty field, a BOM */
    CHECK(parse("\xEF\xBB\xBFx,y\n1,", &c, err) == 0);
    CHECK_STR(c.header[0], "x");
    CHECK_INT(c.nrows, 1);
    CHECK_STR(csv_cell(&c, 0, 1), "");
    csv_free(&c);
    /* a quoted newline */
    CHECK(parse("x,y\n\"multi\nline\",2\n", &c, err) == 0);
    CHECK_STR(csv_cell(&c, 0, 0), "multi\nline");
    csv_free(&c);
}

static void test_bad(void)
{
    struct csv c;
    char err[ERR_LEN];
    CHECK(parse("", &c, err) != 0);
    CHECK(strstr(err, "empty file") != NULL);
    CHECK(parse("a,b\n", &c, err) != 0);
    CHECK(strstr(err, "no data rows") != NULL);
    CHECK(parse("a,b\n1,2\n3\n", &c, err) != 0);
    CHECK_STR(err, "t.csv:3: row has 1 fields, the header has 2");
    CHECK(parse("a,b\n1,2,3\n", &c, err) != 0);
    CHECK(parse("a,b\n\"open,2\n", &c, err) != 0);
    CHECK(strstr(err, "unterminated") != NULL);
    CHECK(parse("a,a\n1,2\n", &c, err) != 0);
    CHECK(strstr(err, "duplicate column") != NULL);
    CHECK(parse("a,\n1,2\n", &c, err) != 0);
    CHECK(strstr(err, "no name") != NULL);
    CHECK(parse("a,b\n\"x\"y,2\n", &c, err) != 0);
    CHECK(csv_parse("a\0b\n", 4, "t.csv", &c, err) != 0);
    CHECK(csv_read("/nonexistent/x.csv", &c, err) != 0);
    CHECK(strstr(err, "cannot open") != NULL);
}

static int *all_rows(int n)
{
    int *r = xmalloc((size_t)n * sizeof *r);
    for (int i = 0; i < n; i++) r[i] = i;
    return r;
}

static void test_featurizer(void)
{
    struct csv c;
    char err[ERR_LEN];
    const char *text =
        "id,num,cat,const,y\n"
        "r1,1,red,5,a\nr2,,blue,5,b\nr3,3,red,5,a\nr4,4,,5,b\nr5,5,green,5,a\n"
        "r6,6,red,5,b\nr7,7,blue,5,a\nr8,8,red,5,b\nr9,9,blue,5,a\nr10,10,red,5,b\n"
        "r11,1,red,5,a\nr12,2,blue,5,b\nr13,3,red,5,a\nr14,4,red,5,b\nr15,5,green,5,a\n"
        "r16,6,red,5,b\nr17,7,blue,5,a\nr18,8,red,5,b\nr19,9,blue,5,a\nr20,10,red,5,b\n";
    CHECK(parse(text, &c, err) == 0);
    int *rows = all_rows(c.nrows);
    struct featurizer f = {0};
    CHECK(feat_target_fit(&f, &c, "y", TASK_AUTO, rows, c.nrows, err) == 0);
    CHECK_INT(f.task, TASK_CLASSIFICATION);
    CHECK_INT(f.nclasses, 2);
    CHECK_STR(f.classes[0], "a");
    CHECK(feat_fit(&f, &c, rows, c.nrows, 1, err) == 0);
    CHECK_INT(f.ndropped, 2);            /* id (identifier) and const */
    CHECK_INT(f.ncols, 2);               /* num, cat */
    CHECK_INT(f.nfeat, 1 + 3);           /* num + blue/green/red */
    CHECK_STR(f.feat_names[1], "cat=blue");
    CHECK_INT(f.nraw, 4);
    CHECK_INT(f.raw_kinds[0], COL_CATEGORICAL);
    CHECK_INT(f.raw_kinds[1], COL_NUMERIC);   /* a missing value: not integer-typed */
    CHECK_INT(f.raw_kinds[3], COL_INTEGER);
    double X[20 * 4];
    CHECK(feat_transform(&f, &c, rows, c.nrows, X, err) == 0);
    /* row 2: num missing → mean → 0 after scaling; row 4: cat missing → "red" (most frequent) */
    CHECK(fabs(X[1 * 4 + 0]) < 1e-12);
    CHECK(X[3 * 4 + 3] == 1.0 && X[3 * 4 + 1] == 0.0);
    double mean = 0, var = 0;
    for (int i = 0; i < 20; i++) mean += X[i * 4] / 20;
    for (int i = 0; i < 20; i++) var += (X[i * 4] - mean) * (X[i * 4] - mean) / 20;
    CHECK(fabs(mean) < 1e-12 && fabs(var - 1) < 1e-9);
    double y[20];
    CHECK(feat_target(&f, &c, rows, c.nrows, y, err) == 0);
    CHECK(y[0] == 0 && y[1] == 1);
    /* save → load gives the same transform */
    struct sbuf b;
    sb_init(&b);
    feat_save(&f, &b);
    struct kv kv;
    CHECK(kv_parse(b.data, &kv, err) == 0);
    struct featurizer g;
    CHECK(feat_load(&g, &kv, err) == 0);
    double X2[20 * 4];
    CHECK(feat_transform(&g, &c, rows, c.nrows, X2, err) == 0);
    CHECK(memcmp(X, X2, sizeof X) == 0);
    feat_free(&g);
    kv_free(&kv);
    sb_free(&b);
    feat_free(&f);
    /* regression needs a numeric target; 1 class is not classification */
    struct featurizer r = {0};
    CHECK(feat_target_fit(&r, &c, "y", TASK_REGRESSION, rows, c.nrows, err) != 0);
    CHECK(strstr(err, "not numeric") != NULL);
    feat_free(&r);
    CHECK(feat_target_fit(&r, &c, "const", TASK_CLASSIFICATION, rows, c.nrows, err) != 0);
    feat_free(&r);
    CHECK(feat_target_fit(&r, &c, "missing", TASK_AUTO, rows, c.nrows, err) != 0);
    feat_free(&r);
    free(rows);
    csv_free(&c);
}

/* parse_double's decimal fast path returns strtod's value bit for bit, and falls back to
 * strtod for everything else (exponents, long mantissas, inf/nan, junk) */
static void test_parse_double(void)
{
    static const char *const cases[] = {
        "0", "-0", "+0", "1.", "-.5", ".5", "00012.3400", "0.1", "0.3", "2.675", "1e5", "-1.5E-3", "inf", "nan",
        "9007199254740992", "9007199254740993", "123456789012345.6", "1.0000000000000000000001", "0.0000000000000000000001",
        "4503599627370497.5", "  1", "1 ", "-", "+", ".", "1.2.3", "0x10", "12a", "--1", "1,5", "",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double a = 0, b;
        char *end;
        int ra = parse_double(cases[i], &a);
        b = strtod(cases[i], &end);
        while (*end == ' ') end++;
        int rb = *end || end == cases[i] ? -1 : 0;
        CHECK_INT(ra, rb);
        if (!ra && !rb) CHECK(memcmp(&a, &b, sizeof a) == 0);
    }
    struct rng r;
    rng_seed(&r, 7);
    int bad = 0;
    for (int t = 0; t < 300000; t++) {   /* random decimals, up to 19 digits, the point anywhere */
        char buf[32], *q = buf;
        int nd = 1 + (int)rng_below(&r, 19), dp = (int)rng_below(&r, (uint64_t)nd + 1);
        if (rng_below(&r, 3) == 0) *q++ = '-';
        for (int i = 0; i < nd; i++) {
            if (i == dp && i) *q++ = '.';
            *q++ = (char)('0' + rng_below(&r, 10));
        }
        *q = 0;
        double a, b = strtod(buf, NULL);
        if (parse_double(buf, &a) || memcmp(&a, &b, sizeof a)) bad++;
    }
    CHECK_INT(bad, 0);
    /* missing-value tokens, and near misses that are values or text */
    CHECK(csv_is_missing("") && csv_is_missing("NA") && csv_is_missing("-nan") && csv_is_missing("?"));
    CHECK(csv_is_missing("None") && csv_is_missing("null"));
    CHECK(!csv_is_missing("-1") && !csv_is_missing("Nan1") && !csv_is_missing("0") && !csv_is_missing("na"));
}

/* a numeric column is constant by value: "5" and "5.0" are one value */
static void test_constant_by_value(void)
{
    struct csv c;
    char err[ERR_LEN];
    CHECK(parse("k,x,y\n5,1,a\n5.0,2,b\n5.00,3,a\n5,4,b\n", &c, err) == 0);
    int *rows = all_rows(c.nrows);
    struct featurizer f = {0};
    CHECK(feat_target_fit(&f, &c, "y", TASK_AUTO, rows, c.nrows, err) == 0);
    CHECK(feat_fit(&f, &c, rows, c.nrows, 0, err) == 0);
    CHECK_INT(f.ndropped, 1);
    CHECK(f.ndropped == 1 && strstr(f.dropped[0], "k: constant") != NULL);
    CHECK_INT(f.nfeat, 1);
    feat_free(&f);
    free(rows);
    csv_free(&c);
}

static void test_shipped_data(void)
{
    static const char *const files[] = {"iris", "wine", "breast_cancer", "digits", "diabetes", "mixed"};
    static const int rows[] = {150, 178, 569, 1797, 442, 300};
    for (int i = 0; i < 6; i++) {
        char path[128], err[ERR_LEN];
        snprintf(path, sizeof path, "tests/data/%s.csv", files[i]);
        struct csv c;
        CHECK(csv_read(path, &c, err) == 0);
        CHECK_INT(c.nrows, rows[i]);
        csv_free(&c);
    }
}

int main(void)
{
    test_good();
    test_bad();
    test_featurizer();
    test_parse_double();
    test_constant_by_value();
    test_shipped_data();
    TEST_MAIN_END();
}
