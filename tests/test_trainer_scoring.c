/* cairn-train serve's scoring protocol without HTTP: every input format gives the predictions
 * `cairn-train predict` gives for the same rows; MLflow's conversions (a long input truncates, a
 * double input takes "5.1"); MLflow's error codes; the limits; number spelling; and mutated bodies
 * never crash (ASan/UBSan). */
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>

#include "tests/test.h"
#include "trainer/csv.h"
#include "trainer/featurize.h"
#include "trainer/model.h"
#include "trainer/pipeline.h"
#include "trainer/scoring.h"

static const struct limits LIM = {1 << 20, 1000, NULL};

static int fit(const struct csv *c, const char *target, const char *algo, struct pipeline *pl)
{
    char err[ERR_LEN];
    int n = c->nrows, *rows = xmalloc((size_t)n * sizeof *rows);
    for (int i = 0; i < n; i++) rows[i] = i;
    memset(pl, 0, sizeof *pl);
    pl->algo = algo_find(algo);
    hparams_defaults(pl->algo, &pl->hp);
    int rc = feat_target_fit(&pl->f, c, target, TASK_AUTO, rows, n, err) ||
             feat_fit(&pl->f, c, rows, n, pl->algo->needs_scaling, err);
    int p = pl->f.nfeat, K = pl->f.task == TASK_CLASSIFICATION ? pl->f.nclasses : 0;
    double *X = xmalloc((size_t)n * (p ? p : 1) * sizeof *X), *y = xmalloc((size_t)n * sizeof *y);
    if (!rc) rc = feat_transform(&pl->f, c, rows, n, X, err) || feat_target(&pl->f, c, rows, n, y, err);
    if (!rc) {
        struct train_data d = {n, p, K, X, y, 0, NULL, NULL, 7, NULL, NULL};
        pl->model = pl->algo->fit(&d, &pl->hp, err);
        rc = !pl->model;
    }
    if (rc) fprintf(stderr, "fit: %s\n", err);
    free(rows); free(X); free(y);
    return rc;
}

static struct score_reply post(const struct scorer *s, const char *ct, const char *body)
{
    struct score_reply r;
    score_request(s, &LIM, ct, body, strlen(body), &r);
    return r;
}

static const char *error_code(const struct score_reply *r)
{
    static char code[64];
    code[0] = 0;
    cJSON *j = cJSON_Parse(r->body.data);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "error_code");
    if (cJSON_IsString(c)) snprintf(code, sizeof code, "%s", c->valuestring);
    cJSON_Delete(j);
    return code;
}

/* rows first..first+n of the CSV as each input format */
static void body_split(const struct csv *c, const char *target, int first, int n, struct sbuf *b)
{
    sb_puts(b, "{\"dataframe_split\": {\"columns\": [");
    int k = 0;
    for (int col = 0; col < c->ncols; col++) {
        if (!strcmp(c->header[col], target)) continue;
        if (k++) sb_puts(b, ", ");
        sb_json_str(b, c->header[col]);
    }
    sb_puts(b, "], \"data\": [");
    for (int i = first; i < first + n; i++) {
        sb_puts(b, i > first ? ", [" : "[");
        k = 0;
        for (int col = 0; col < c->ncols; col++) {
            if (!strcmp(c->header[col], target)) continue;
            if (k++) sb_puts(b, ", ");
            const char *v = csv_cell(c, i, col);
            double d;
            if (csv_is_missing(v)) sb_puts(b, "null");
            else if (!parse_double(v, &d)) sb_puts(b, v);
            else sb_json_str(b, v);
        }
        sb_puts(b, "]");
    }
    sb_puts(b, "]}, \"params\": {\"ignored\": 1}}");
}

static void body_records(const struct csv *c, const char *target, int first, int n, const char *key, struct sbuf *b)
{
    sb_printf(b, "{\"%s\": [", key);
    for (int i = first; i < first + n; i++) {
        sb_puts(b, i > first ? ", {" : "{");
        int k = 0;
        for (int col = c->ncols - 1; col >= 0; col--) {   /* key order differs from the signature's */
            const char *v = csv_cell(c, i, col);
            if (!strcmp(c->header[col], target) || csv_is_missing(v)) continue;   /* absent key = missing */
            if (k++) sb_puts(b, ", ");
            sb_json_str(b, c->header[col]);
            sb_puts(b, ": ");
            double d;
            if (!parse_double(v, &d)) sb_puts(b, v); else sb_json_str(b, v);
        }
        sb_puts(b, "}");
    }
    sb_puts(b, "]}");
}

static void body_columns(const struct csv *c, const char *target, int first, int n, struct sbuf *b)
{
    sb_puts(b, "{\"inputs\": {");
    int k = 0;
    for (int col = 0; col < c->ncols; col++) {
        if (!strcmp(c->header[col], target)) continue;
        if (k++) sb_puts(b, ", ");
        sb_json_str(b, c->header[col]);
        sb_puts(b, ": [");
        for (int i = first; i < first + n; i++) {
            if (i > first) sb_puts(b, ", ");
            const char *v = csv_cell(c, i, col);
            double d;
            if (csv_is_missing(v)) sb_puts(b, "null");
            else if (!parse_double(v, &d)) sb_puts(b, v);
            else sb_json_str(b, v);
        }
        sb_puts(b, "]");
    }
    sb_puts(b, "}}");
}

static void body_csv(const struct csv *c, const char *target, int first, int n, struct sbuf *b)
{
    int k = 0;
    for (int col = 0; col < c->ncols; col++)
        if (strcmp(c->header[col], target)) { if (k++) sb_puts(b, ","); sb_puts(b, c->header[col]); }
    sb_puts(b, "\r\n");
    for (int i = first; i < first + n; i++) {
        k = 0;
        for (int col = 0; col < c->ncols; col++)
            if (strcmp(c->header[col], target)) { if (k++) sb_puts(b, ","); sb_puts(b, csv_cell(c, i, col)); }
        sb_puts(b, "\n");
    }
}

/* The reply's predictions against pipeline_predict_csv on the same rows. */
static int same_as_native(const struct scorer *s, const struct csv *c, int first, int n, const char *body)
{
    char err[ERR_LEN];
    double *P;
    if (pipeline_predict_csv(&s->pl, c, &P, err)) { fprintf(stderr, "%s\n", err); return 0; }
    cJSON *j = cJSON_Parse(body);
    const cJSON *preds = cJSON_GetObjectItemCaseSensitive(j, "predictions");
    int ok = cJSON_GetArraySize(preds) == n, K = s->pl.f.task == TASK_CLASSIFICATION ? s->pl.f.nclasses : 0;
    for (int i = 0; ok && i < n; i++) {
        const cJSON *row = cJSON_GetArrayItem(preds, i), *pred = cJSON_GetObjectItemCaseSensitive(row, "prediction");
        const double *p = P + (size_t)(first + i) * (K ? K : 1);
        if (!K) { ok = cJSON_IsNumber(pred) && fabs(pred->valuedouble - p[0]) <= 1e-7 * fabs(p[0]) + 1e-12; continue; }
        int best = 0;
        for (int k = 1; k < K; k++) if (p[k] > p[best]) best = k;
        if (s->pl.f.classes_int) ok = cJSON_IsNumber(pred) && pred->valuedouble == atof(s->pl.f.classes[best]);
        else ok = cJSON_IsString(pred) && !strcmp(pred->valuestring, s->pl.f.classes[best]);
        for (int k = 0; ok && k < K; k++) {
            char key[300];
            snprintf(key, sizeof key, "prob_%s", s->pl.f.classes[k]);
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);
            ok = cJSON_IsNumber(v) && fabs(v->valuedouble - p[k]) <= 1e-8 * fabs(p[k]) + 1e-15;
        }
        if (!ok) fprintf(stderr, "row %d differs: %.300s\n", i, cJSON_PrintUnformatted(row));
    }
    cJSON_Delete(j);
    free(P);
    return ok;
}

static void test_formats(const char *file, const char *target, const char *algo)
{
    char err[ERR_LEN];
    struct csv c;
    CHECK(csv_read(file, &c, err) == 0);
    struct pipeline pl;
    struct scorer s;
    CHECK(fit(&c, target, algo, &pl) == 0);
    CHECK(scorer_init(&s, &pl, err) == 0);
    int n = c.nrows < 120 ? c.nrows : 120;
    struct sbuf b[5];
    for (int f = 0; f < 5; f++) sb_init(&b[f]);
    body_split(&c, target, 0, n, &b[0]);
    body_records(&c, target, 0, n, "dataframe_records", &b[1]);
    body_records(&c, target, 0, n, "instances", &b[2]);
    body_columns(&c, target, 0, n, &b[3]);
    body_csv(&c, target, 0, n, &b[4]);
    struct score_reply first = {0};
    for (int f = 0; f < 5; f++) {
        struct score_reply r = post(&s, f == 4 ? "text/csv; charset=UTF-8" : "application/json", b[f].data);
        CHECK_INT(r.status, 200);
        if (r.status != 200) fprintf(stderr, "%s %s format %d: %s\n", file, algo, f, r.body.data);
        CHECK_INT(r.rows, n);
        CHECK(r.status == 200 && same_as_native(&s, &c, 0, n, r.body.data));
        if (f == 0) first = r;
        else { CHECK_STR(r.body.data, first.body.data); score_reply_free(&r); }
        sb_free(&b[f]);
    }
    /* the streamed reply (score_compute + pieces) is the same bytes, its length exact, for 0 rows,
     * one, and around the piece size */
    for (int k = 0; k < 6; k++) {
        static const int counts[] = {0, 1, 31, 32, 33, 65};
        int m = counts[k] < c.nrows ? counts[k] : c.nrows;
        struct sbuf body, joined, chunk;
        sb_init(&body); sb_init(&joined); sb_init(&chunk);
        body_split(&c, target, 0, m, &body);
        struct score_reply whole = post(&s, "application/json", body.data), r;
        score_compute(&s, &LIM, "application/json", body.data, body.len, &r);
        CHECK_INT(r.status, 200);
        CHECK(r.P != NULL && r.body.len == 0);
        size_t len = score_body_length(&s, &r);
        int next = 0, pieces = 0;
        while (score_body_chunk(&s, &r, &next, &chunk) && pieces < 100) { sb_add(&joined, chunk.data, chunk.len); pieces++; }
        CHECK(pieces >= 1 && pieces <= m / 32 + 1);
        CHECK_INT((long)len, (long)whole.body.len);
        CHECK(joined.len == whole.body.len && memcmp(joined.data, whole.body.data, joined.len) == 0);
        score_reply_free(&r);
        score_reply_free(&whole);
        sb_free(&body); sb_free(&joined); sb_free(&chunk);
    }
    /* an error through score_compute: its body, in one piece */
    {
        struct score_reply r;
        struct sbuf chunk;
        sb_init(&chunk);
        score_compute(&s, &LIM, "application/json", "{", 1, &r);
        CHECK_INT(r.status, 400);
        CHECK(r.P == NULL && score_body_length(&s, &r) == r.body.len);
        int next = 0;
        CHECK(score_body_chunk(&s, &r, &next, &chunk) == 1 && chunk.len == r.body.len);
        CHECK(score_body_chunk(&s, &r, &next, &chunk) == 0);
        score_reply_free(&r);
        sb_free(&chunk);
    }
    score_reply_free(&first);
    scorer_free(&s);
    csv_free(&c);
}

/* a logreg scorer fitted on the CSV text (target y) */
static struct scorer scorer_on(const char *text)
{
    struct csv c;
    char err[ERR_LEN];
    csv_parse(text, strlen(text), "t", &c, err);
    struct pipeline pl;
    struct scorer s;
    CHECK(fit(&c, "y", "logreg", &pl) == 0);
    CHECK(scorer_init(&s, &pl, err) == 0);
    csv_free(&c);
    return s;
}

static struct scorer letter_like(void)
{
    /* x: double, k: long, c: string (categorical) */
    return scorer_on("x,k,c,y\n"
                     "1.5,1,red,a\n2.5,2,blue,b\n0.5,3,red,a\n3.5,4,green,b\n1.0,5,red,a\n2.0,6,blue,b\n"
                     "0.7,7,red,a\n3.1,8,green,b\n1.2,9,red,a\n2.9,10,blue,b\n0.1,11,red,a\n3.3,12,green,b\n");
}

static void test_conversions_and_errors(void)
{
    struct scorer s = letter_like();
    const char *J = "application/json";
    struct score_reply a = post(&s, J, "{\"dataframe_split\": {\"columns\": [\"x\", \"k\", \"c\"], \"data\": [[1.5, 2, \"red\"]]}}");
    CHECK_INT(a.status, 200);
    /* a long input truncates 2.9 and reads "2"; a double input reads "1.5" and true */
    struct score_reply b = post(&s, J, "{\"dataframe_records\": [{\"c\": \"red\", \"k\": 2.9, \"x\": \"1.5\"}]}");
    CHECK_STR(b.body.data, a.body.data);
    score_reply_free(&b);
    b = post(&s, J, "{\"inputs\": {\"x\": 1.5, \"k\": \"2\", \"c\": \"red\", \"extra\": [1, 2, 3]}}");
    CHECK_STR(b.body.data, a.body.data);
    score_reply_free(&b);
    b = post(&s, J, "{\"dataframe_split\": {\"columns\": [\"x\", \"k\", \"c\"], \"data\": [[true, 1, \"red\"]]}}");
    struct score_reply b2 = post(&s, J, "{\"dataframe_split\": {\"columns\": [\"x\", \"k\", \"c\"], \"data\": [[1, 1, \"red\"]]}}");
    CHECK_INT(b.status, 200);
    CHECK_STR(b.body.data, b2.body.data);
    score_reply_free(&b); score_reply_free(&b2);
    /* null in a double input is imputed like an absent record key */
    b = post(&s, J, "{\"dataframe_records\": [{\"x\": null, \"k\": 2, \"c\": \"red\"}, {\"x\": 1.5, \"k\": 2, \"c\": \"red\"}]}");
    b2 = post(&s, J, "{\"dataframe_records\": [{\"k\": 2, \"c\": \"red\"}, {\"x\": 1.5, \"k\": 2, \"c\": \"red\"}]}");
    CHECK_INT(b.status, 200);
    CHECK_STR(b.body.data, b2.body.data);
    score_reply_free(&b); score_reply_free(&b2);
    score_reply_free(&a);

    struct { const char *ct, *body; int status; const char *code; } cases[] = {
        {J, "{\"dataframe_split\": {\"columns\": [\"x\", \"k\"], \"data\": [[1.5, 2]]}}", 400, "INVALID_PARAMETER_VALUE"},
        {J, "{\"dataframe_records\": []}", 400, "INVALID_PARAMETER_VALUE"},
        {J, "{\"instances\": [[1.5, 2, \"red\"]]}", 400, "INVALID_PARAMETER_VALUE"},
        {J, "{\"dataframe_split\": {\"columns\": [\"x\", \"k\", \"c\"], \"data\": [[\"a\", 2, \"red\"]]}}", 400, "BAD_REQUEST"},
        {J, "{\"dataframe_split\": {\"columns\": [\"x\", \"k\", \"c\"], \"data\": [[1.5, null, \"red\"]]}}", 400, "BAD_REQUEST"},
        {J, "{\"dataframe_split\": {\"columns\": [\"x\", \"k\", \"c\"], \"data\": [[1.5, \"2.5\", \"red\"]]}}", 400, "BAD_REQUEST"},
        {J, "{\"dataframe_split\": {\"columns\": [\"x\", \"k\", \"c\"], \"data\": [[1.5, 1e300, \"red\"]]}}", 400, "BAD_REQUEST"},
        {J, "{\"dataframe_split\": {\"columns\": [\"x\", \"k\", \"c\"], \"data\": [[1.5, 2]]}}", 400, "BAD_REQUEST"},
        {J, "{\"dataframe_split\": {\"columns\": [\"x\"], \"data\": [[1]], \"other\": 1}}", 400, "BAD_REQUEST"},
        {J, "{\"dataframe_split\": [1, 2]}", 400, "BAD_REQUEST"},
        {J, "{\"dataframe_records\": {\"x\": 1}}", 400, "BAD_REQUEST"},
        {J, "{\"dataframe_records\": [{\"x\": 1}], \"inputs\": {\"x\": [1]}}", 400, "BAD_REQUEST"},
        {J, "{\"params\": {}}", 400, "BAD_REQUEST"},
        {J, "[1, 2]", 400, "BAD_REQUEST"},
        {J, "\"text\"", 400, "BAD_REQUEST"},
        {J, "{nope", 400, "BAD_REQUEST"},
        {J, "", 400, "BAD_REQUEST"},
        {J, "{\"inputs\": \"\xff\xfe\"}", 400, "BAD_REQUEST"},
        {J, "{\"inputs\": {\"x\": [1, 2], \"k\": [1], \"c\": [\"a\", \"b\"]}}", 400, "BAD_REQUEST"},
        {"text/csv", "x,k,c\nabc,1,red\n", 400, "BAD_REQUEST"},
        {"text/csv", "x,k,c\n1.5,,red\n", 400, "BAD_REQUEST"},
        {"text/csv", "x,k,c\n1.5,2.5,red\n", 400, "BAD_REQUEST"},
        {"text/csv", "x,c\n1.5,red\n", 400, "INVALID_PARAMETER_VALUE"},
        {"text/csv", "x,k,c\n\"unterminated,1,red\n", 400, "BAD_REQUEST"},
        {"text/plain", "x", 415, ""},
        {NULL, "x", 415, ""},
        {"application/json; charset=latin-1", "{}", 415, ""},
        {"application/json; format=pandas-split", "{}", 415, ""},
        {"application/vnd.apache.parquet", "PAR1", 415, ""},
        {"Application/JSON", "{}", 415, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct score_reply r = post(&s, cases[i].ct, cases[i].body);
        CHECK_INT(r.status, cases[i].status);
        CHECK_STR(error_code(&r), cases[i].code);
        if (r.status != cases[i].status || strcmp(error_code(&r), cases[i].code))
            fprintf(stderr, "  case %zu: %s\n", i, r.body.data);
        score_reply_free(&r);
    }
    /* empty frame with the columns: no predictions */
    struct score_reply e = post(&s, J, "{\"dataframe_split\": {\"columns\": [\"x\", \"k\", \"c\"], \"data\": []}}");
    CHECK_INT(e.status, 200);
    CHECK_STR(e.body.data, "{\"predictions\": []}");
    score_reply_free(&e);
    /* limits: rows, body, nesting */
    struct sbuf big;
    sb_init(&big);
    sb_puts(&big, "{\"inputs\": {\"x\": [");
    for (int i = 0; i < 1001; i++) sb_printf(&big, "%s1", i ? "," : "");
    sb_puts(&big, "], \"k\": 1, \"c\": \"red\"}}");
    e = post(&s, J, big.data);
    CHECK_INT(e.status, 400);   /* lengths differ, or too many rows: either way a 400 */
    score_reply_free(&e);
    sb_free(&big);
    sb_puts(&big, "{\"dataframe_records\": [");
    for (int i = 0; i < 1001; i++) sb_printf(&big, "%s{\"x\": 1, \"k\": 1, \"c\": \"red\"}", i ? "," : "");
    sb_puts(&big, "]}");
    e = post(&s, J, big.data);
    CHECK_INT(e.status, 400);
    CHECK(strstr(e.body.data, "--max-rows") != NULL);
    score_reply_free(&e);
    sb_free(&big);
    for (int i = 0; i < 100; i++) sb_puts(&big, "[");
    e = post(&s, J, big.data);
    CHECK_INT(e.status, 400);
    CHECK_STR(error_code(&e), "BAD_REQUEST");
    score_reply_free(&e);
    sb_free(&big);
    struct limits small = {64, 10, NULL};
    score_request(&s, &small, J, "{\"dataframe_split\": {\"columns\": [\"x\", \"k\", \"c\"], \"data\": [[1.5, 2, \"red\"]]}}",
                  80, &e);
    CHECK_INT(e.status, 413);
    score_reply_free(&e);
    scorer_free(&s);
}

/* Bytes flipped, dropped and duplicated in valid bodies: any status but never a crash or a 5xx. */
static void test_mutations(void)
{
    struct scorer s = letter_like();
    const char *seeds[] = {
        "{\"dataframe_split\": {\"columns\": [\"x\", \"k\", \"c\"], \"data\": [[1.5, 2, \"red\"], [2, 3, \"blue\"]]}}",
        "{\"dataframe_records\": [{\"c\": \"red\", \"k\": 2.9, \"x\": \"1.5\"}, {\"x\": 1}]}",
        "{\"inputs\": {\"x\": [1.5, 2], \"k\": [\"2\", 3], \"c\": [\"red\", null]}}",
        "{\"instances\": [{\"x\": 1, \"k\": 1, \"c\": \"u\\u00e9\"}]}",
        "x,k,c\n1.5,2,red\n\"2\",3,\"bl\"\"ue\"\n",
    };
    struct rng rng;
    rng_seed(&rng, 11);
    const char *chars = "{}[]\",:0123456789.-eE ntfrux\\\n";
    int bad = 0;
    for (int it = 0; it < 6000; it++) {
        int si = (int)rng_below(&rng, 5);
        char buf[512];
        size_t len = strlen(seeds[si]);
        memcpy(buf, seeds[si], len);
        int edits = 1 + (int)rng_below(&rng, 4);
        for (int e = 0; e < edits && len > 2; e++) {
            size_t at = rng_below(&rng, len);
            int op = (int)rng_below(&rng, 3);
            if (op == 0) buf[at] = chars[rng_below(&rng, strlen(chars))];
            else if (op == 1) { memmove(buf + at, buf + at + 1, len - at - 1); len--; }
            else if (len < sizeof buf - 1) { memmove(buf + at + 1, buf + at, len - at); len++; }
        }
        struct score_reply r;
        score_request(&s, &LIM, si == 4 ? "text/csv" : "application/json", buf, len, &r);
        if (r.status != 200 && r.status != 400) bad++;
        score_reply_free(&r);
    }
    CHECK_INT(bad, 0);
    scorer_free(&s);
}

/* The dataframe_split fast path (no cJSON tree) answers exactly as the general path: number
 * spellings, whitespace, "index", columns that are not inputs, repeated columns, row limits; and
 * on mutated bodies (which it must decline or read identically) the same status and bytes. */
static struct score_reply post_path(const struct scorer *s, int fast, const char *body, size_t len)
{
    struct score_reply r;
    score_fast_split = fast;
    score_request(s, &LIM, "application/json", body, len, &r);
    score_fast_split = 1;
    return r;
}

static int same_both_ways(const struct scorer *s, const char *body, size_t len)
{
    struct score_reply a = post_path(s, 1, body, len), b = post_path(s, 0, body, len);
    int ok = a.status == b.status && a.body.len == b.body.len && !memcmp(a.body.data, b.body.data, a.body.len);
    if (!ok) fprintf(stderr, "fast %d / general %d on %.*s\n  %.300s\n  %.300s\n", a.status, b.status, (int)len,
                     body, a.body.data, b.body.data);
    score_reply_free(&a);
    score_reply_free(&b);
    return ok;
}

static int halves_run;

static void *run_fn(void *arg)
{
    void **fa = arg;
    ((void (*)(void *))fa[0])(fa[1]);
    return NULL;
}

static void run_on_two_threads(void (*fn)(void *), void *a, void *b)
{
    pthread_t t;
    void *fa[2] = {(void *)fn, b};
    CHECK(pthread_create(&t, NULL, run_fn, fa) == 0);
    fn(a);
    pthread_join(t, NULL);
    halves_run++;
}

static void test_fast_split(void)
{
    /* x: double, k: long */
    struct scorer s = scorer_on("x,k,y\n1.5,1,a\n2.5,2,b\n0.5,3,a\n3.5,4,b\n1.0,5,a\n2.0,6,b\n0.7,7,a\n3.1,8,b\n");
    const char *bodies[] = {
        "{\"dataframe_split\": {\"columns\": [\"x\", \"k\"], \"data\": [[1.5, 2], [-0.25, 3]]}}",
        "{\"dataframe_split\":{\"columns\":[\"k\",\"x\"],\"data\":[[2,1.5]]}}",
        " \r\n\t{ \"dataframe_split\" : { \"index\" : [ 0 , 1 ] , \"columns\" : [ \"x\" , \"k\" ] , \"data\" : "
        "[ [ 1e0 , 2.9 ] , [ -0 , -2.9 ] ] } } \n",
        "{\"dataframe_split\": {\"columns\": [\"x\", \"k\", \"zz\"], \"data\": [[0.1, 2, 7], [1e-7, 1E+2, 8]]}}",
        "{\"dataframe_split\": {\"columns\": [\"x\", \"k\", \"x\"], \"data\": [[1, 2, 3]]}}",
        "{\"dataframe_split\": {\"columns\": [\"x\", \"k\"], \"data\": [[123456789012345678901234567890, 1],"
        " [0.30000000000000004441, 2], [1.7976931348623157e308, 3], [4.9e-324, 4], [2.5e-3, 5], [1e23, 6],"
        " [9007199254740993, 7], [0.000000000000000000000000001, 8], [1e400, 9], [-1e-400, 10]]}}",
        "{\"dataframe_split\": {\"columns\": [\"x\", \"k\"], \"data\": []}}",
        "{\"dataframe_split\": {\"columns\": [\"x\", \"k\"], \"data\": [[1, 9.3e18]]}}",
        "{\"dataframe_split\": {\"columns\": [\"x\", \"k\"], \"data\": [[1, 2, 3]]}}",
        "{\"dataframe_split\": {\"columns\": [\"x\"], \"data\": [[1]]}}",
        "{\"dataframe_split\": {\"data\": [[1, 2]], \"columns\": [\"x\", \"k\"]}}",
        "{\"dataframe_split\": {\"columns\": [\"x\", \"k\"], \"data\": [[01, 2]]}}",
        "{\"dataframe_split\": {\"columns\": [\"x\", \"k\"], \"data\": [[1., 2]]}}",
        "{\"dataframe_split\": {\"columns\": [\"x\", \"k\"], \"data\": [[null, 2]]}}",
        "{\"dataframe_split\": {\"columns\": [\"x\", \"k\"], \"data\": [[1, 2]]}} x",
        "{\"dataframe_split\": {\"columns\": [\"x\", \"k\"], \"data\": [[1, 2]], \"data\": [[3, 4]]}}",
        "{\"dataframe_split\": {\"columns\": [\"x\", \"k\"], \"data\": [[1, 2]]}, \"dataframe_split\": 1}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) CHECK(same_both_ways(&s, bodies[i], strlen(bodies[i])));
    /* the row limit: the same error both ways */
    struct sbuf big;
    sb_init(&big);
    sb_puts(&big, "{\"dataframe_split\": {\"columns\": [\"x\", \"k\"], \"data\": [");
    for (int i = 0; i < 1001; i++) sb_printf(&big, "%s[%d.5, %d]", i ? "," : "", i, i);
    sb_puts(&big, "]}}");
    struct score_reply r = post_path(&s, 1, big.data, big.len);
    CHECK_INT(r.status, 400);
    CHECK(strstr(r.body.data, "--max-rows") != NULL);
    score_reply_free(&r);
    CHECK(same_both_ways(&s, big.data, big.len));
    sb_free(&big);
    /* random number spellings and mutated bodies */
    struct rng rng;
    rng_seed(&rng, 23);
    const char *chars = "{}[]\",:0123456789.-+eE nul\\\t";
    int differ = 0;
    for (int it = 0; it < 4000; it++) {
        char buf[600];
        int len = snprintf(buf, sizeof buf, "{\"dataframe_split\": {\"columns\": [\"x\", \"k\"], \"data\": [");
        for (int row = 0; row < 3; row++) {
            double v = (rng_uniform(&rng) - 0.5) * pow(10, (int)rng_below(&rng, 40) - 20);
            static const char *const fmts[] = {"%.17g", "%.3f", "%g", "%.15e", "%.0f", "%.20f"};
            len += snprintf(buf + len, sizeof buf - (size_t)len, "%s[", row ? ", " : "");
            len += snprintf(buf + len, sizeof buf - (size_t)len, fmts[rng_below(&rng, 6)], v);
            len += snprintf(buf + len, sizeof buf - (size_t)len, ", %d]", (int)rng_below(&rng, 20) - 5);
        }
        len += snprintf(buf + len, sizeof buf - (size_t)len, "]}}");
        if (it % 2) {
            int edits = 1 + (int)rng_below(&rng, 3);
            for (int e = 0; e < edits && len > 2; e++) {
                int at = (int)rng_below(&rng, (unsigned)len), op = (int)rng_below(&rng, 3);
                if (op == 0) buf[at] = chars[rng_below(&rng, strlen(chars))];
                else if (op == 1) { memmove(buf + at, buf + at + 1, (size_t)(len - at - 1)); len--; }
                else if (len < (int)sizeof buf - 1) { memmove(buf + at + 1, buf + at, (size_t)(len - at)); len++; }
            }
        }
        if (!same_both_ways(&s, buf, (size_t)len) && ++differ > 5) break;
    }
    CHECK_INT(differ, 0);
    /* a large request scored in two halves on two threads: the same bytes as in one piece */
    sb_init(&big);
    sb_puts(&big, "{\"dataframe_split\": {\"columns\": [\"x\", \"k\"], \"data\": [");
    for (int i = 0; i < 777; i++) sb_printf(&big, "%s[%g, %d]", i ? "," : "", rng_uniform(&rng) * 4, i % 13);
    sb_puts(&big, "]}}");
    struct limits two = LIM;
    two.run_halves = run_on_two_threads;
    struct score_reply one = post_path(&s, 1, big.data, big.len);
    score_request(&s, &two, "application/json", big.data, big.len, &r);
    CHECK_INT(r.status, 200);
    CHECK_INT(halves_run, 1);
    CHECK(r.body.len == one.body.len && !memcmp(r.body.data, one.body.data, r.body.len));
    score_reply_free(&r);
    score_reply_free(&one);
    sb_free(&big);
    scorer_free(&s);
}

static void test_float9(void)
{
    struct { double v; const char *s; } cases[] = {
        {0.5, "0.5"}, {1.0, "1.0"}, {0, "0.0"}, {-0.25, "-0.25"}, {1e-05, "1e-05"}, {0.0001, "0.0001"},
        {2.914266872267035e-08, "2.91426687e-08"}, {181.05453491210938, "181.054535"}, {0.9999717473983765, "0.999971747"},
        {123456789012.0, "123456789000.0"}, {1e16, "1e+16"}, {9.999999999e15, "1e+16"}, {151.0, "151.0"},
        {0.1 + 0.2, "0.3"}, {1.5e-300, "1.5e-300"}, {1e300, "1e+300"}, {NAN, "NaN"}, {INFINITY, "Infinity"},
        {-INFINITY, "-Infinity"}, {99999.99995, "100000.0"}, {4.9406564584124654e-324, "4.94065646e-324"},
        {2.2250738585072014e-308, "2.22507386e-308"}, {1.7976931348623157e308, "1.79769313e+308"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct sbuf b;
        sb_init(&b);
        sb_float9(&b, cases[i].v);
        CHECK_STR(b.data, cases[i].s);
        sb_free(&b);
    }
    /* every printed value reads back within float32 precision */
    struct rng rng;
    rng_seed(&rng, 5);
    int worst_ok = 1;
    for (int i = 0; i < 20000; i++) {
        double v = (rng_uniform(&rng) - 0.5) * pow(10, (int)rng_below(&rng, 620) - 320);
        struct sbuf b;
        sb_init(&b);
        sb_float9(&b, v);
        double back = strtod(b.data, NULL);
        if (!(fabs(back - v) <= 5e-9 * fabs(v) || (fabs(v) < 1e-300 && fabs(back - v) <= 1e-9 * 1e-300))) { worst_ok = 0; fprintf(stderr, "%.17g -> %s\n", v, b.data); }
        sb_free(&b);
    }
    CHECK(worst_ok);
}

int main(void)
{
    test_float9();
    test_formats("tests/data/mixed.csv", "label", "gbdt");
    test_formats("tests/data/mixed.csv", "label", "logreg");
    test_formats("tests/data/iris.csv", "target", "rf");
    test_formats("tests/data/diabetes.csv", "target", "gbdt");
    test_formats("tests/data/wine.csv", "target", "knn");
    test_formats("tests/data/breast_cancer.csv", "target", "mlp");
    test_conversions_and_errors();
    test_mutations();
    test_fast_split();
    TEST_MAIN_END();
}
