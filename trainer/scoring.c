/* MLflow's scoring protocol (mlflow/pyfunc/scoring_server/__init__.py) over a Cairn pipeline.
 *
 * A request becomes a typed frame (row-major, one slot per signature input): numbers for the
 * double and long inputs (NaN = missing), strings for the string inputs (NULL = missing). The
 * conversions follow what MLflow does before the model sees the data: pandas' astype to the
 * signature's dtype (a long input truncates 2.5 to 2 and refuses null; a double input takes
 * "5.1" and true), then the pyfunc's check for missing inputs. Extra columns are ignored.
 * Every buffer is sized per request (rows × inputs); nothing is allocated per row. */
#include "scoring.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "metrics.h"

#define FORMATS "{'dataframe_records', 'dataframe_split', 'inputs', 'instances'}"
#define REQUIRED_INPUT_FORMAT "The input must be a JSON dictionary with exactly one of the input fields " FORMATS
#define PROTOCOL_CHANGE_INFO                                                                                        \
    "IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0. If you are seeing this "    \
    "error, you are likely using an outdated scoring request format. To resolve the error, either update your "  \
    "request format or adjust your MLflow Model's requirements file to specify an older version of MLflow (for " \
    "example, change the 'mlflow' requirement specifier to 'mlflow==1.30.0'). If you are making a request using " \
    "the MLflow client (e.g. via `mlflow.pyfunc.spark_udf()`), upgrade your MLflow client to a version >= 2.0 " \
    "in order to use the new request format. For more information about the updated MLflow Model scoring "      \
    "protocol in MLflow 2.0, see https://mlflow.org/docs/latest/models.html#deploy-mlflow-models."
#define CONTENT_TYPES "['text/csv', 'application/json', 'application/vnd.apache.parquet']"
#define MAX_JSON_DEPTH 64

/* ------------------------------------------------------------ numbers out */
static const double P10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static double pow10i(int k)
{
    if (k >= 0 && k <= 22) return P10[k];
    if (k < 0 && k >= -22) return 1.0 / P10[-k];
    return pow(10.0, k);
}

/* v × 10^(8-e); in two steps where 10^(8-e) alone would overflow (subnormal v) */
static double scale_digits(double v, int e)
{
    if (e >= 8) return v / pow10i(e - 8);
    if (8 - e > 300) return v * 1e300 * pow10i(8 - e - 300);
    return v * pow10i(8 - e);
}

static const char DIGIT_PAIRS[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

void sb_float9(struct sbuf *b, double v)
{
    if (isnan(v)) { sb_puts(b, "NaN"); return; }
    if (isinf(v)) { sb_puts(b, v > 0 ? "Infinity" : "-Infinity"); return; }
    char out[48], *o = out;
    if (signbit(v)) { *o++ = '-'; v = -v; }
    if (v == 0) { memcpy(o, "0.0", 4); sb_puts(b, out); return; }
    /* the decimal exponent, or one less: v is in [2^(e2-1), 2^e2) */
    int e2;
    frexp(v, &e2);
    int e = (int)floor((e2 - 1) * 0.30102999566398120);
    /* nine significant digits as an integer in [1e8, 1e9) */
    double m = nearbyint(scale_digits(v, e));
    if (m >= 1e9) { e++; m = nearbyint(scale_digits(v, e)); }
    else if (m < 1e8) { e--; m = nearbyint(scale_digits(v, e)); }
    if (m >= 1e9) { m /= 10; e++; }
    char d[10];
    unsigned mi = (unsigned)m;
    d[0] = (char)('0' + mi / 100000000);
    mi %= 100000000;
    for (int i = 7; i >= 1; i -= 2, mi /= 100) memcpy(d + i, DIGIT_PAIRS + 2 * (mi % 100), 2);
    int nd = 9;
    while (nd > 1 && d[nd - 1] == '0') nd--;
    if (e >= -4 && e < 16) {   /* Python's repr: positional in this range */
        if (e >= 0) {
            for (int i = 0; i <= e; i++) *o++ = i < nd ? d[i] : '0';
            *o++ = '.';
            if (nd > e + 1) for (int i = e + 1; i < nd; i++) *o++ = d[i];
            else *o++ = '0';
        } else {
            *o++ = '0'; *o++ = '.';
            for (int i = 0; i < -e - 1; i++) *o++ = '0';
            for (int i = 0; i < nd; i++) *o++ = d[i];
        }
    } else {
        *o++ = d[0];
        if (nd > 1) { *o++ = '.'; for (int i = 1; i < nd; i++) *o++ = d[i]; }
        int ae = e < 0 ? -e : e;
        *o++ = 'e';
        *o++ = e < 0 ? '-' : '+';
        if (ae >= 100) *o++ = (char)('0' + ae / 100);
        *o++ = (char)('0' + ae / 10 % 10);
        *o++ = (char)('0' + ae % 10);
    }
    sb_add(b, out, (size_t)(o - out));
}

/* ------------------------------------------------------------ errors */
void score_error_json(struct sbuf *b, const char *error_code, const char *message)
{
    sb_puts(b, "{\"error_code\": ");
    sb_json_str(b, error_code);
    sb_puts(b, ", \"message\": ");
    sb_json_str(b, message);
    sb_puts(b, "}");
}

__attribute__((format(printf, 4, 5)))
static void fail(struct score_reply *r, int status, const char *code, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->status = status;
    r->rows = 0;
    r->body.len = 0;
    if (r->body.data) r->body.data[0] = 0;
    if (!code) {   /* MLflow's 415s are plain text */
        r->content_type = "text/plain; charset=utf-8";
        sb_puts(&r->body, msg);
        return;
    }
    r->content_type = "application/json";
    score_error_json(&r->body, code, msg);
}

#define BAD_REQUEST(r, ...) fail(r, 400, "BAD_REQUEST", __VA_ARGS__)

/* ------------------------------------------------------------ the model */
static unsigned name_hash(const char *s, size_t n)
{
    unsigned h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* raw input index of a column name, or -1 */
static int raw_index(const struct scorer *s, const char *name, size_t n)
{
    unsigned mask = (unsigned)s->hash_size - 1;
    for (unsigned h = name_hash(name, n) & mask;; h = (h + 1) & mask) {
        int r = s->raw_hash[h];
        if (r < 0) return -1;
        const char *rn = s->pl.f.raw_names[r];
        if (strncmp(rn, name, n) == 0 && rn[n] == 0) return r;
    }
}

static const char *kind_name(int kind)
{
    return kind == COL_NUMERIC ? "double" : kind == COL_INTEGER ? "long" : "string";
}

int scorer_init(struct scorer *s, struct pipeline *pl, char *err)
{
    memset(s, 0, sizeof *s);
    s->pl = *pl;
    memset(pl, 0, sizeof *pl);
    if (s->pl.algo->compact) s->pl.algo->compact(s->pl.model);   /* a scorer only predicts */
    const struct featurizer *f = &s->pl.f;
    s->nout = pipeline_nout(&s->pl);
    s->hash_size = 8;
    while (s->hash_size < 2 * f->nraw) s->hash_size *= 2;
    s->raw_hash = xmalloc((size_t)s->hash_size * sizeof *s->raw_hash);
    for (int i = 0; i < s->hash_size; i++) s->raw_hash[i] = -1;
    for (int r = 0; r < f->nraw; r++) {
        const char *name = f->raw_names[r];
        if (raw_index(s, name, strlen(name)) >= 0) { scorer_free(s); return errf(err, "model: input \"%s\" twice", name); }
        unsigned mask = (unsigned)s->hash_size - 1, h = name_hash(name, strlen(name)) & mask;
        while (s->raw_hash[h] >= 0) h = (h + 1) & mask;
        s->raw_hash[h] = r;
    }
    s->feat_raw = xmalloc((size_t)(f->ncols ? f->ncols : 1) * sizeof *s->feat_raw);
    for (int k = 0; k < f->ncols; k++) {
        s->feat_raw[k] = raw_index(s, f->cols[k].name, strlen(f->cols[k].name));
        if (s->feat_raw[k] < 0) {
            errf(err, "model: feature column \"%s\" is not a signature input", f->cols[k].name);
            scorer_free(s);
            return -1;
        }
    }
    if (f->task == TASK_CLASSIFICATION) {
        s->row_head = xcalloc((size_t)f->nclasses, sizeof *s->row_head);
        s->prob_key = xcalloc((size_t)f->nclasses, sizeof *s->prob_key);
        for (int c = 0; c < f->nclasses; c++) {
            struct sbuf b, name;
            sb_init(&b);
            sb_init(&name);
            sb_puts(&b, "{\"prediction\": ");
            double v;
            if (f->classes_int && !parse_double(f->classes[c], &v)) sb_printf(&b, "%lld", (long long)v);
            else sb_json_str(&b, f->classes[c]);
            s->row_head[c] = b.data;
            sb_init(&b);
            sb_printf(&name, "prob_%s", f->classes[c]);
            sb_puts(&b, ", ");
            sb_json_str(&b, name.data);
            sb_puts(&b, ": ");
            s->prob_key[c] = b.data;
            sb_free(&name);
        }
    }
    struct sbuf sch;
    sb_init(&sch);
    sb_puts(&sch, "[");
    for (int r = 0; r < f->nraw; r++)
        sb_printf(&sch, "%s'%s': %s (required)", r ? ", " : "", f->raw_names[r], kind_name(f->raw_kinds[r]));
    sb_puts(&sch, "]");
    s->schema_text = sch.data;
    return 0;
}

void scorer_free(struct scorer *s)
{
    int K = s->pl.f.task == TASK_CLASSIFICATION ? s->pl.f.nclasses : 0;
    if (s->row_head) free_strs(s->row_head, K);
    if (s->prob_key) free_strs(s->prob_key, K);
    free(s->feat_raw);
    free(s->raw_hash);
    free(s->schema_text);
    pipeline_free(&s->pl);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------ the frame */
struct frame {
    const struct scorer *s;
    int nrows, nraw;
    double *num;            /* nrows × nraw; NaN = missing */
    const char **str;       /* nrows × nraw, string inputs only; NULL = missing */
    unsigned char *present; /* nraw: the request has this column */
    char **owned;           /* strings made from numbers, for string inputs */
    int nowned, capowned;
};

static void frame_init(struct frame *fr, const struct scorer *s, int nrows)
{
    memset(fr, 0, sizeof *fr);
    fr->s = s;
    fr->nrows = nrows;
    fr->nraw = s->pl.f.nraw;
    size_t cells = (size_t)(nrows ? nrows : 1) * (fr->nraw ? fr->nraw : 1);
    fr->num = xmalloc(cells * sizeof *fr->num);
    for (size_t i = 0; i < cells; i++) fr->num[i] = NAN;
    for (int r = 0; r < fr->nraw; r++)
        if (s->pl.f.raw_kinds[r] == COL_CATEGORICAL) { fr->str = xcalloc(cells, sizeof *fr->str); break; }
    fr->present = xcalloc((size_t)(fr->nraw ? fr->nraw : 1), 1);
}

static void frame_free(struct frame *fr)
{
    free(fr->num);
    free(fr->str);
    free(fr->present);
    free_strs(fr->owned, fr->nowned);
}

static const char *frame_own(struct frame *fr, char *s)
{
    if (fr->nowned == fr->capowned) {
        fr->capowned = fr->capowned ? 2 * fr->capowned : 16;
        fr->owned = xrealloc(fr->owned, (size_t)fr->capowned * sizeof *fr->owned);
    }
    return fr->owned[fr->nowned++] = s;
}

static const char *pandas_dtype(int kind)
{
    return kind == COL_NUMERIC ? "float64" : kind == COL_INTEGER ? "int64" : "object";
}

/* Python's float(str): surrounding blanks allowed, nothing else */
static int py_float(const char *s, double *v)
{
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return -1;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    if (end == s) return -1;
    while (isspace((unsigned char)*end)) end++;
    return *end ? -1 : 0;
}

/* Python's int(str): blanks, a sign, digits */
static int py_int(const char *s, double *v)
{
    while (isspace((unsigned char)*s)) s++;
    const char *p = s + (*s == '+' || *s == '-');
    if (!isdigit((unsigned char)*p)) return -1;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno == ERANGE) return -2;
    while (isspace((unsigned char)*end)) end++;
    if (*end) return -1;
    *v = (double)x;
    return 0;
}

/* One JSON value into cell (row i, input r), converted as pandas' astype to the signature dtype. */
static int put_json(struct frame *fr, int i, int r, const cJSON *v, struct score_reply *rep)
{
    const struct featurizer *f = &fr->s->pl.f;
    int kind = f->raw_kinds[r];
    size_t at = (size_t)i * fr->nraw + r;
    const char *why = NULL;
    char whybuf[160];
    if (kind == COL_CATEGORICAL) {
        if (cJSON_IsString(v)) fr->str[at] = v->valuestring;
        else if (cJSON_IsNumber(v)) {
            struct sbuf b;
            sb_init(&b);
            double d = v->valuedouble;
            if (d == floor(d) && fabs(d) < 1e15) sb_printf(&b, "%lld", (long long)d); else sb_double(&b, d);
            fr->str[at] = frame_own(fr, b.data);
        } else if (cJSON_IsBool(v)) fr->str[at] = cJSON_IsTrue(v) ? "True" : "False";
        else if (!cJSON_IsNull(v)) why = "a list or an object is not a string";
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (kind == COL_INTEGER) {
            if (!(fabs(d) < 9.2233720368547758e18)) why = "Python int too large to convert to C long";
            else d = trunc(d);
        }
        fr->num[at] = d;
    } else if (cJSON_IsBool(v)) fr->num[at] = cJSON_IsTrue(v);
    else if (cJSON_IsString(v)) {
        int rc = kind == COL_INTEGER ? py_int(v->valuestring, &fr->num[at]) : py_float(v->valuestring, &fr->num[at]);
        if (rc) {
            snprintf(whybuf, sizeof whybuf, kind == COL_INTEGER ? "invalid literal for int() with base 10: '%.80s'"
                                                                : "could not convert string to float: '%.80s'",
                     v->valuestring);
            why = whybuf;
        }
    } else if (!cJSON_IsNull(v)) why = "a list or an object is not a number";
    if (why) {
        BAD_REQUEST(rep, "Invalid input. Data is not compatible with model signature. Failed to convert column %s "
                         "to type '%s'. Error: '%s'", f->raw_names[r], pandas_dtype(kind), why);
        return -1;
    }
    return 0;
}

/* After the frame is filled: a long input with a missing value fails as pandas' astype does;
 * then MLflow's schema check names the inputs the request lacks. */
static int frame_check(struct frame *fr, struct score_reply *rep)
{
    const struct featurizer *f = &fr->s->pl.f;
    for (int r = 0; r < fr->nraw; r++) {
        if (!fr->present[r] || f->raw_kinds[r] != COL_INTEGER) continue;
        for (int i = 0; i < fr->nrows; i++)
            if (!isfinite(fr->num[(size_t)i * fr->nraw + r])) {
                BAD_REQUEST(rep, "Invalid input. Data is not compatible with model signature. Failed to convert "
                                 "column %s to type 'int64'. Error: 'Cannot convert non-finite values (NA or inf) "
                                 "to integer'", f->raw_names[r]);
                return -1;
            }
    }
    struct sbuf miss;
    sb_init(&miss);
    for (int r = 0; r < fr->nraw; r++)
        if (!fr->present[r]) sb_printf(&miss, "%s'%s'", miss.len ? ", " : "", f->raw_names[r]);
    if (miss.len) {
        fail(rep, 400, "INVALID_PARAMETER_VALUE", "Failed to enforce schema of data with schema '%s'. "
             "Error: Model is missing inputs [%s].", fr->s->schema_text, miss.data);
        sb_free(&miss);
        return -1;
    }
    sb_free(&miss);
    return 0;
}

static int too_many_rows(int n, const struct limits *lim, struct score_reply *rep)
{
    if (n <= lim->max_rows) return 0;
    BAD_REQUEST(rep, "The request has %d rows; this server scores at most %d rows per request (--max-rows)", n,
                lim->max_rows);
    return 1;
}

/* Column name → input index, remembering the last row's key order (records repeat it). */
struct keycache { const char *name; int raw; };

static int lookup_key(const struct scorer *s, struct keycache *kc, int nkc, int j, const char *name)
{
    if (j < nkc && kc[j].name && strcmp(kc[j].name, name) == 0) return kc[j].raw;
    int r = raw_index(s, name, strlen(name));
    if (j < nkc) { kc[j].name = name; kc[j].raw = r; }
    return r;
}

/* [{"col": v, …}, …]: dataframe_records, and instances/inputs in that shape */
static int parse_records(struct frame *fr, const cJSON *rows, struct score_reply *rep)
{
    int nkc = fr->nraw + 8, i = 0, rc = 0;
    struct keycache *kc = xcalloc((size_t)nkc, sizeof *kc);
    for (const cJSON *row = rows->child; row && !rc; row = row->next, i++) {
        if (!cJSON_IsObject(row)) {
            BAD_REQUEST(rep, "Invalid input. Provided dataframe_records field is not a valid dataframe "
                             "representation in 'records' format. Error: 'every record must be an object'");
            rc = -1;
            break;
        }
        int j = 0;
        for (const cJSON *v = row->child; v; v = v->next, j++) {
            int r = lookup_key(fr->s, kc, nkc, j, v->string);
            if (r < 0) continue;
            fr->present[r] = 1;
            if (put_json(fr, i, r, v, rep)) { rc = -1; break; }
        }
    }
    free(kc);
    return rc;
}

static int json_rows(const cJSON *a)
{
    int n = 0;
    for (const cJSON *c = a->child; c; c = c->next) n++;
    return n;
}

static int parse_split(const struct scorer *s, const struct limits *lim, const cJSON *split, struct frame *fr,
                       struct score_reply *rep)
{
    if (!cJSON_IsObject(split)) {
        BAD_REQUEST(rep, "Invalid input. Dataframe split format must be a dictionary. Got %s.",
                    cJSON_IsArray(split) ? "list" : "type <class 'str'>");
        return -1;
    }
    const cJSON *data = NULL, *columns = NULL;
    int extra = 0;
    for (const cJSON *c = split->child; c; c = c->next) {
        if (!strcmp(c->string, "data")) data = c;
        else if (!strcmp(c->string, "columns")) columns = c;
        else if (strcmp(c->string, "index") != 0) extra = 1;
    }
    if (!data || extra) {
        BAD_REQUEST(rep, "Invalid input. Dataframe split format must have 'data' field and optionally 'columns' "
                         "and 'index' fields.");
        return -1;
    }
    if (cJSON_IsNull(columns)) columns = NULL;
    if (!cJSON_IsArray(data) || (columns && !cJSON_IsArray(columns))) {
        BAD_REQUEST(rep, "Invalid input. Provided dataframe_split field is not a valid dataframe representation in "
                         "'split' format. Error: 'data and columns must be lists'");
        return -1;
    }
    int n = json_rows(data), ncols = columns ? json_rows(columns) : -1;
    if (too_many_rows(n, lim, rep)) return -1;
    frame_init(fr, s, n);
    int *map = xmalloc((size_t)(ncols > 0 ? ncols : 1) * sizeof *map), rc = 0, j = 0;
    if (ncols >= 0)
        for (const cJSON *c = columns->child; c; c = c->next, j++) {
            map[j] = cJSON_IsString(c) ? raw_index(s, c->valuestring, strlen(c->valuestring)) : -1;
            if (map[j] >= 0) fr->present[map[j]] = 1;
        }
    int i = 0;
    for (const cJSON *row = data->child; row && !rc; row = row->next, i++) {
        int width = cJSON_IsArray(row) ? json_rows(row) : 1;
        if (ncols < 0) { if (i == 0) ncols = width; }   /* no columns: 0..w-1, none an input */
        if (width != ncols) {
            BAD_REQUEST(rep, "Invalid input. Provided dataframe_split field is not a valid dataframe representation "
                             "in 'split' format. Error: '%d columns passed, passed data had %d columns'", ncols, width);
            rc = -1;
            break;
        }
        if (!columns) continue;
        if (!cJSON_IsArray(row)) { if (map[0] >= 0) rc = put_json(fr, i, map[0], row, rep); continue; }
        j = 0;
        for (const cJSON *v = row->child; v && !rc; v = v->next, j++)
            if (map[j] >= 0) rc = put_json(fr, i, map[j], v, rep);
    }
    free(map);
    return rc;
}

/* {"col": [v, …], …} or {"col": v, …} (one row): inputs (and instances) in column form */
static int parse_columns(const struct scorer *s, const struct limits *lim, const cJSON *obj, struct frame *fr,
                         struct score_reply *rep)
{
    int n = -1;
    for (const cJSON *c = obj->child; c; c = c->next) {
        if (raw_index(s, c->string, strlen(c->string)) < 0) continue;
        int len = cJSON_IsArray(c) ? json_rows(c) : 1;
        if (n >= 0 && len != n) {
            BAD_REQUEST(rep, "Invalid input. The length of values for each input/column name are not the same");
            return -1;
        }
        n = len;
    }
    if (n < 0) n = 0;
    if (too_many_rows(n, lim, rep)) return -1;
    frame_init(fr, s, n);
    for (const cJSON *c = obj->child; c; c = c->next) {
        int r = raw_index(s, c->string, strlen(c->string));
        if (r < 0) continue;
        fr->present[r] = 1;
        if (!cJSON_IsArray(c)) { if (put_json(fr, 0, r, c, rep)) return -1; continue; }
        int i = 0;
        for (const cJSON *v = c->child; v; v = v->next, i++)
            if (put_json(fr, i, r, v, rep)) return -1;
    }
    return 0;
}

/* instances / inputs: a list of records, a dict of columns, or a list of rows (unnamed: no input matches) */
static int parse_tf(const struct scorer *s, const struct limits *lim, const cJSON *v, struct frame *fr,
                    struct score_reply *rep)
{
    if (cJSON_IsObject(v)) return parse_columns(s, lim, v, fr, rep);
    if (cJSON_IsArray(v) && v->child && cJSON_IsObject(v->child)) {
        int n = json_rows(v);
        if (too_many_rows(n, lim, rep)) return -1;
        frame_init(fr, s, n);
        return parse_records(fr, v, rep);
    }
    /* a bare list: a model with one input takes it as that column, as MLflow does */
    if (cJSON_IsArray(v) && s->pl.f.nraw == 1) {
        int n = json_rows(v), i = 0;
        if (too_many_rows(n, lim, rep)) return -1;
        frame_init(fr, s, n);
        fr->present[0] = 1;
        for (const cJSON *c = v->child; c; c = c->next, i++) {
            const cJSON *x = cJSON_IsArray(c) && cJSON_GetArraySize(c) == 1 ? c->child : c;
            if (put_json(fr, i, 0, x, rep)) return -1;
        }
        return 0;
    }
    frame_init(fr, s, cJSON_IsArray(v) ? json_rows(v) : 1);
    return 0;   /* frame_check reports every input missing */
}

/* ------------------------------------------------------------ JSON in */
static int json_depth_ok(const char *p, size_t len)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
        } else if (c == '"') in_str = 1;
        else if (c == '[' || c == '{') { if (++depth > MAX_JSON_DEPTH) return 0; }
        else if (c == ']' || c == '}') depth--;
    }
    return 1;
}

static int utf8_ok(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (i + 8 <= len) {   /* ASCII runs eight bytes at a time */
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ULL)) { i += 8; continue; }
        }
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t n = c >= 0xC2 && c <= 0xDF ? 1 : (c & 0xF0) == 0xE0 ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : 0;
        if (!n || i + n >= len) return 0;
        for (size_t k = 1; k <= n; k++)
            if ((s[i + k] & 0xC0) != 0x80) return 0;
        i += n + 1;
    }
    return 1;
}

/* ------------------------------------------------------------ dataframe_split, fast
 * {"dataframe_split": {"columns": [names], "data": [[numbers], …], "index": [numbers]}} read
 * straight into the frame, without a cJSON tree (a node per value: 1.3 MB for 1,000 rows of 16),
 * in two passes over the body: the first checks the shape and counts the rows, the second converts
 * the numbers. It is the shape clients send for a numeric frame. Anything else (another key, a
 * string, null or boolean value, an escape, "data" before "columns", a string input, a row of the
 * wrong width) answers 1 and the request takes the general path, which fills the same frame or
 * gives MLflow's error; so this path only ever accepts what that one would accept, with the same
 * values. */
struct fast { const char *p, *end; };

int score_fast_split = 1;

static void fast_ws(struct fast *z)
{
    while (z->p < z->end && (*z->p == ' ' || *z->p == '\n' || *z->p == '\r' || *z->p == '\t')) z->p++;
}

static int fast_char(struct fast *z, char c)
{
    fast_ws(z);
    if (z->p >= z->end || *z->p != c) return 0;
    z->p++;
    return 1;
}

/* a string without escapes or control characters: its bytes in [*s, *s + *n) */
static int fast_string(struct fast *z, const char **s, size_t *n)
{
    if (!fast_char(z, '"')) return 0;
    const char *b = z->p;
    while (z->p < z->end && *z->p != '"') {
        if (*z->p == '\\' || (unsigned char)*z->p < 0x20) return 0;
        z->p++;
    }
    if (z->p >= z->end) return 0;
    *s = b;
    *n = (size_t)(z->p++ - b);
    return 1;
}

static int fast_key(struct fast *z, const char **s, size_t *n)
{
    return fast_string(z, s, n) && fast_char(z, ':');
}

/* A JSON number (RFC 8259's grammar, at most 63 characters: cJSON reads no more) as strtod reads
 * it: exactly, by integer arithmetic when its digits fit 2^53 and its power of ten 10^22. */
static int fast_number(struct fast *z, double *v)
{
    fast_ws(z);
    const char *b = z->p, *q = b, *e = z->end;
    int neg = q < e && *q == '-';
    q += neg;
    if (q >= e || !isdigit((unsigned char)*q)) return 0;
    uint64_t w = 0;
    int digits = 0, scale = 0;
    if (*q == '0') q++;
    else
        for (; q < e && isdigit((unsigned char)*q); q++, digits++) w = w * 10 + (uint64_t)(*q - '0');
    if (q < e && *q == '.') {
        q++;
        if (q >= e || !isdigit((unsigned char)*q)) return 0;
        for (; q < e && isdigit((unsigned char)*q); q++, scale--)
            if (digits || *q != '0') { w = w * 10 + (uint64_t)(*q - '0'); digits++; }
    }
    int ex = 0, exact = 1;
    if (q < e && (*q == 'e' || *q == 'E')) {
        q++;
        int eneg = q < e && (*q == '-' || *q == '+') ? *q++ == '-' : 0;
        if (q >= e || !isdigit((unsigned char)*q)) return 0;
        for (; q < e && isdigit((unsigned char)*q); q++)
            if (ex < 10000) ex = ex * 10 + (*q - '0');
        if (eneg) ex = -ex;
    }
    if (q - b > 63) return 0;
    z->p = q;
    scale += ex;
    if (digits > 15 || scale > 22 || scale < -22) exact = 0;
    if (exact) {
        double d = (double)w;
        d = scale >= 0 ? d * P10[scale] : d / P10[-scale];
        *v = neg ? -d : d;
        return 1;
    }
    char buf[64];
    memcpy(buf, b, (size_t)(q - b));
    buf[q - b] = 0;
    *v = strtod(buf, NULL);
    return 1;
}

/* [n, n, …] for "index": anything else goes the general way */
static int fast_numbers(struct fast *z)
{
    double v;
    if (!fast_char(z, '[')) return 0;
    if (fast_char(z, ']')) return 1;
    do { if (!fast_number(z, &v)) return 0; } while (fast_char(z, ','));
    return fast_char(z, ']');
}

/* fr == NULL: the first pass (shape, *nrows, the column map); else the second, filling fr. */
static int fast_split_pass(const struct scorer *s, struct fast *z, int **map, int *ncols, int *nrows,
                           struct frame *fr)
{
    const char *k;
    size_t kn;
    if (!fast_char(z, '{') || !fast_key(z, &k, &kn) || kn != 15 || memcmp(k, "dataframe_split", 15) ||
        !fast_char(z, '{'))
        return 0;
    int have_cols = 0, have_data = 0, have_index = 0;
    do {
        if (!fast_key(z, &k, &kn)) return 0;
        if (kn == 7 && !memcmp(k, "columns", 7) && !have_cols && !have_data) {
            have_cols = 1;
            if (!fast_char(z, '[')) return 0;
            int j = 0;
            if (!fast_char(z, ']')) {
                do {
                    const char *c;
                    size_t cn;
                    if (!fast_string(z, &c, &cn)) return 0;
                    if (!fr) {
                        int r = raw_index(s, c, cn);
                        if (r >= 0 && s->pl.f.raw_kinds[r] == COL_CATEGORICAL) return 0;
                        if (j % 64 == 0) *map = xrealloc(*map, (size_t)(j + 64) * sizeof **map);
                        (*map)[j] = r;
                    }
                    j++;
                } while (fast_char(z, ','));
                if (!fast_char(z, ']')) return 0;
            }
            if (!j) return 0;
            *ncols = j;
        } else if (kn == 4 && !memcmp(k, "data", 4) && have_cols && !have_data) {
            have_data = 1;
            if (!fast_char(z, '[')) return 0;
            int i = 0;
            if (!fast_char(z, ']')) {
                do {
                    if (!fast_char(z, '[')) return 0;
                    double *row = fr ? fr->num + (size_t)i * fr->nraw : NULL;
                    int j = 0;
                    do {
                        double v;
                        if (j >= *ncols || !fast_number(z, &v)) return 0;
                        int r = (*map)[j++];
                        if (r < 0) continue;
                        if (s->pl.f.raw_kinds[r] == COL_INTEGER) {
                            if (!(fabs(v) < 9.2233720368547758e18)) return 0;
                            v = trunc(v);
                        }
                        if (row) row[r] = v;
                    } while (fast_char(z, ','));
                    if (j != *ncols || !fast_char(z, ']')) return 0;
                    if (++i > 100000000) return 0;
                } while (fast_char(z, ','));
                if (!fast_char(z, ']')) return 0;
            }
            *nrows = i;
        } else if (kn == 5 && !memcmp(k, "index", 5) && !have_index) {
            have_index = 1;
            if (!fast_numbers(z)) return 0;
        } else
            return 0;
    } while (fast_char(z, ','));
    if (!have_data || !fast_char(z, '}') || !fast_char(z, '}')) return 0;
    fast_ws(z);
    return z->p == z->end;
}

/* 0: the frame is filled (or *rep holds the too-many-rows error, -1); 1: take the general path */
static int fast_split(const struct scorer *s, const struct limits *lim, const char *body, size_t len,
                      struct frame *fr, struct score_reply *rep)
{
    struct fast z = {body, body + len};
    int *map = NULL, ncols = 0, n = 0;
    if (!fast_split_pass(s, &z, &map, &ncols, &n, NULL)) { free(map); return 1; }
    if (too_many_rows(n, lim, rep)) { free(map); return -1; }
    frame_init(fr, s, n);
    for (int j = 0; j < ncols; j++)
        if (map[j] >= 0) fr->present[map[j]] = 1;
    z.p = body;
    int ok = fast_split_pass(s, &z, &map, &ncols, &n, fr);
    free(map);
    return ok ? 0 : 1;   /* the second pass reads what the first accepted */
}

static int parse_json_frame(const struct scorer *s, const struct limits *lim, const char *body, size_t len,
                            struct frame *fr, cJSON **root, struct score_reply *rep)
{
    if (!utf8_ok((const unsigned char *)body, len)) {
        BAD_REQUEST(rep, "Invalid input. Ensure that input is a valid JSON formatted string. Error: "
                         "'UnicodeDecodeError: the body is not valid UTF-8'");
        return -1;
    }
    if (!json_depth_ok(body, len)) {
        BAD_REQUEST(rep, "Invalid input. Ensure that input is a valid JSON formatted string. Error: 'nesting "
                         "deeper than %d levels'", MAX_JSON_DEPTH);
        return -1;
    }
    int fast = score_fast_split ? fast_split(s, lim, body, len, fr, rep) : 1;
    if (fast <= 0) return fast;
    if (fr->num) frame_free(fr);
    memset(fr, 0, sizeof *fr);
    char *copy = xmalloc(len + 1);
    memcpy(copy, body, len);
    copy[len] = 0;
    const char *end = NULL;
    *root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 1);
    if (!*root) {
        size_t at = end && end >= copy ? (size_t)(end - copy) : 0;
        free(copy);
        BAD_REQUEST(rep, "Invalid input. Ensure that input is a valid JSON formatted string. Error: "
                         "'JSONDecodeError: invalid JSON at char %zu'", at);
        return -1;
    }
    free(copy);
    const cJSON *j = *root;
    if (cJSON_IsArray(j)) { BAD_REQUEST(rep, "Invalid input. " REQUIRED_INPUT_FORMAT ". Received a list."); return -1; }
    if (!cJSON_IsObject(j)) {
        BAD_REQUEST(rep, "Invalid input. " REQUIRED_INPUT_FORMAT ". Received unexpected input type '%s'.",
                    cJSON_IsString(j) ? "<class 'str'>" : cJSON_IsNumber(j) ? "<class 'int'>" : "<class 'NoneType'>");
        return -1;
    }
    const cJSON *fmt = NULL;
    int nfmt = 0;
    struct sbuf keys;
    sb_init(&keys);
    for (const cJSON *c = j->child; c; c = c->next)
        if (!strcmp(c->string, "dataframe_split") || !strcmp(c->string, "dataframe_records") ||
            !strcmp(c->string, "instances") || !strcmp(c->string, "inputs")) {
            fmt = c;
            nfmt++;
            sb_printf(&keys, "%s'%s'", keys.len ? ", " : "", c->string);
        }
    if (nfmt != 1) {
        BAD_REQUEST(rep, REQUIRED_INPUT_FORMAT ". Received dictionary with input fields: [%s]. " PROTOCOL_CHANGE_INFO,
                    keys.data ? keys.data : "");
        sb_free(&keys);
        return -1;
    }
    sb_free(&keys);
    /* "params": this model's signature has no params schema, so MLflow ignores them with a warning */
    if (!strcmp(fmt->string, "dataframe_split")) return parse_split(s, lim, fmt, fr, rep);
    if (!strcmp(fmt->string, "dataframe_records")) {
        if (!cJSON_IsArray(fmt)) {
            BAD_REQUEST(rep, "Invalid input. Dataframe records format must be a list of records. Got %s.",
                        cJSON_IsObject(fmt) ? "dictionary" : "type <class 'str'>");
            return -1;
        }
        int n = json_rows(fmt);
        if (too_many_rows(n, lim, rep)) return -1;
        frame_init(fr, s, n);
        return parse_records(fr, fmt, rep);
    }
    return parse_tf(s, lim, fmt, fr, rep);
}

/* ------------------------------------------------------------ CSV in */
static int parse_csv_frame(const struct scorer *s, const struct limits *lim, const char *body, size_t len,
                           struct frame *fr, struct csv *c, struct score_reply *rep)
{
    char err[ERR_LEN];
#define CSV_FAIL(...) do { char m_[600]; snprintf(m_, sizeof m_, __VA_ARGS__); \
        BAD_REQUEST(rep, "Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid " \
                         "CSV-formatted Pandas DataFrame produced using the `pandas.DataFrame.to_csv()` method. " \
                         "Error: '%s'", m_); return -1; } while (0)
    if (!utf8_ok((const unsigned char *)body, len)) CSV_FAIL("the body is not valid UTF-8");
    if (csv_parse(body, len, "input", c, err)) CSV_FAIL("%s", err);
    if (too_many_rows(c->nrows, lim, rep)) return -1;
    frame_init(fr, s, c->nrows);
    const struct featurizer *f = &s->pl.f;
    for (int col = 0; col < c->ncols; col++) {
        int r = raw_index(s, c->header[col], strlen(c->header[col]));
        if (r < 0 || fr->present[r]) continue;
        fr->present[r] = 1;
        int kind = f->raw_kinds[r];
        for (int i = 0; i < c->nrows; i++) {
            const char *v = csv_cell(c, i, col);
            size_t at = (size_t)i * fr->nraw + r;
            if (kind == COL_CATEGORICAL) { fr->str[at] = csv_is_missing(v) ? NULL : v; continue; }
            if (csv_is_missing(v)) {
                if (kind == COL_INTEGER) CSV_FAIL("Integer column has NA values in column %d", col);
                continue;
            }
            double d;
            if (kind == COL_NUMERIC ? py_float(v, &d) : py_int(v, &d)) {
                if (kind == COL_INTEGER && !py_float(v, &d))
                    CSV_FAIL("cannot safely convert passed user dtype of int64 for float64 dtyped data in column %d", col);
                CSV_FAIL("could not convert string to %s: '%.80s'", kind == COL_INTEGER ? "int" : "float", v);
            }
            fr->num[at] = d;
        }
    }
#undef CSV_FAIL
    return 0;
}

/* ------------------------------------------------------------ features, predictions, reply */
static int level_of(const struct fcol *fc, const char *v)
{
    int lo = 0, hi = fc->nlevels - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(fc->levels[mid], v);
        if (!c) return mid;
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
}

/* The featurizer's transform (numeric columns first, then one-hot blocks) on rows [i0, i1) of the
 * typed frame. */
static void frame_features(const struct frame *fr, int i0, int i1, double *X)
{
    const struct scorer *s = fr->s;
    const struct featurizer *f = &s->pl.f;
    int p = f->nfeat, nnum = 0;
    for (int k = 0; k < f->ncols; k++) nnum += f->cols[k].kind == COL_NUMERIC;
    for (int i = i0; i < i1; i++) {
        double *x = X + (size_t)i * p;
        const double *num = fr->num + (size_t)i * fr->nraw;
        const char *const *str = fr->str ? fr->str + (size_t)i * fr->nraw : NULL;
        memset(x + nnum, 0, (size_t)(p - nnum) * sizeof *x);
        int j = 0, off = nnum;
        for (int k = 0; k < f->ncols; k++) {
            const struct fcol *fc = &f->cols[k];
            int r = s->feat_raw[k];
            if (fc->kind == COL_NUMERIC) {
                double v = num[r];
                if (isnan(v)) v = fc->fill;
                x[j++] = (v - fc->center) * fc->scale;
            } else {
                /* a numeric column read as categorical in training has no string slot */
                const char *v = str ? str[r] : NULL;
                int l = !v || csv_is_missing(v) ? fc->fill_level : level_of(fc, v);
                if (l >= 0) x[off + l] = 1.0;
                off += fc->nlevels;
            }
        }
    }
}

/* Rows [i0, i1) featurized and predicted: X and P are the whole request's. */
struct rows_task { const struct frame *fr; int i0, i1; double *X, *P; };

static void score_rows(void *arg)
{
    const struct rows_task *t = arg;
    const struct scorer *s = t->fr->s;
    int p = s->pl.f.nfeat;
    if (t->i1 <= t->i0) return;
    frame_features(t->fr, t->i0, t->i1, t->X);
    s->pl.algo->predict(s->pl.model, t->X + (size_t)t->i0 * p, t->i1 - t->i0, t->P + (size_t)t->i0 * s->nout);
}

/* Rows [i0, i1) of {"predictions": [...]}: the head before row 0, the tail after the last. */
static void write_rows(const struct scorer *s, const double *P, int n, int i0, int i1, struct sbuf *b)
{
    const struct featurizer *f = &s->pl.f;
    int K = f->task == TASK_CLASSIFICATION ? f->nclasses : 0;
    size_t need = b->len + 32 + (size_t)(i1 - i0) * (K ? 24 + (size_t)K * (strlen(s->prob_key[0]) + 16) : 40);
    if (need > b->cap) { b->data = xrealloc(b->data, need); b->cap = need; }
    if (i0 == 0) sb_puts(b, "{\"predictions\": [");
    for (int i = i0; i < i1; i++) {
        if (i) sb_add(b, ", ", 2);
        if (!K) {
            sb_add(b, "{\"prediction\": ", 15);
            sb_float9(b, P[i]);
            sb_add(b, "}", 1);
            continue;
        }
        const double *p = P + (size_t)i * K;
        sb_puts(b, s->row_head[argmax_row(p, K)]);
        for (int k = 0; k < K; k++) {
            sb_puts(b, s->prob_key[k]);
            sb_float9(b, p[k]);
        }
        sb_add(b, "}", 1);
    }
    if (i1 == n) sb_puts(b, "]}");
}

enum { CHUNK_ROWS = 32 };
/* a request of at least this many rows may be scored in two halves (lim->run_halves) */
enum { SPLIT_ROWS = 256 };

size_t score_body_length(const struct scorer *s, const struct score_reply *r)
{
    if (!r->P) return r->body.len;
    struct sbuf b;
    sb_init(&b);
    size_t total = 0;
    for (int i = 0; i < r->rows || i == 0; i += CHUNK_ROWS) {
        b.len = 0;
        write_rows(s, r->P, r->rows, i, i + CHUNK_ROWS < r->rows ? i + CHUNK_ROWS : r->rows, &b);
        total += b.len;
    }
    sb_free(&b);
    return total;
}

int score_body_chunk(const struct scorer *s, const struct score_reply *r, int *next_row, struct sbuf *chunk)
{
    chunk->len = 0;
    if (!r->P) {
        if (*next_row) return 0;
        *next_row = 1;
        sb_add(chunk, r->body.data ? r->body.data : "", r->body.len);
        return r->body.len > 0;
    }
    if (*next_row > r->rows || (*next_row == r->rows && r->rows)) return 0;
    int i1 = *next_row + CHUNK_ROWS < r->rows ? *next_row + CHUNK_ROWS : r->rows;
    write_rows(s, r->P, r->rows, *next_row, i1, chunk);
    *next_row = i1 ? i1 : 1;   /* no rows: the one chunk "{"predictions": []}" */
    return 1;
}

/* ------------------------------------------------------------ the request */
static int content_type_ok(const char *ct, int *is_csv, struct score_reply *r)
{
    if (!ct) ct = "";
    const char *semi = strchr(ct, ';');
    size_t n = semi ? (size_t)(semi - ct) : strlen(ct);
    while (n && isspace((unsigned char)ct[n - 1])) n--;
    const char *mime = ct;
    while (n && isspace((unsigned char)*mime)) { mime++; n--; }
    /* parameters: only charset=utf-8 */
    struct sbuf unknown;
    sb_init(&unknown);
    int bad_charset = 0;
    for (const char *p = semi; p && *p;) {
        p++;
        const char *next = strchr(p, ';');
        size_t plen = next ? (size_t)(next - p) : strlen(p);
        while (plen && isspace((unsigned char)*p)) { p++; plen--; }
        while (plen && isspace((unsigned char)p[plen - 1])) plen--;
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        if (klen == 7 && !strncmp(p, "charset", 7)) {
            const char *v = eq ? eq + 1 : "";
            size_t vlen = eq ? plen - klen - 1 : 0;
            if (!(vlen == 5 && !strncasecmp(v, "utf-8", 5))) bad_charset = 1;
        } else sb_printf(&unknown, "%s%.*s", unknown.len ? ", " : "", (int)klen, p);
        p = next;
    }
    int rc = 0;
    if (bad_charset) { fail(r, 415, NULL, "The scoring server only supports UTF-8"); rc = -1; }
    else if (unknown.len) {
        fail(r, 415, NULL, "Unrecognized content type parameters: %s. " PROTOCOL_CHANGE_INFO, unknown.data);
        rc = -1;
    } else if (n == 8 && !strncmp(mime, "text/csv", 8)) *is_csv = 1;
    else if (n == 16 && !strncmp(mime, "application/json", 16)) *is_csv = 0;
    else if (n == 30 && !strncmp(mime, "application/vnd.apache.parquet", 30)) {
        fail(r, 415, NULL, "Parquet input is not supported by cairn-train serve; send application/json or text/csv.");
        rc = -1;
    } else {
        fail(r, 415, NULL, "This predictor only supports the following content types: Types: " CONTENT_TYPES
             ". Got '%.200s'.", *ct ? ct : "None");
        rc = -1;
    }
    sb_free(&unknown);
    return rc;
}

void score_request(const struct scorer *s, const struct limits *lim, const char *content_type, const char *body,
                   size_t len, struct score_reply *r)
{
    score_compute(s, lim, content_type, body, len, r);
    if (!r->P) return;
    write_rows(s, r->P, r->rows, 0, r->rows, &r->body);
    free(r->P);
    r->P = NULL;
}

void score_compute(const struct scorer *s, const struct limits *lim, const char *content_type, const char *body,
                   size_t len, struct score_reply *r)
{
    memset(r, 0, sizeof *r);
    sb_init(&r->body);
    int is_csv = 0;
    if (content_type_ok(content_type, &is_csv, r)) return;
    if (len > lim->max_body) {
        fail(r, 413, "BAD_REQUEST", "The request body has %zu bytes; this server accepts at most %zu (--max-body)",
             len, lim->max_body);
        return;
    }
    struct frame fr;
    memset(&fr, 0, sizeof fr);
    cJSON *root = NULL;
    struct csv c;
    memset(&c, 0, sizeof c);
    int rc = is_csv ? parse_csv_frame(s, lim, body, len, &fr, &c, r) : parse_json_frame(s, lim, body, len, &fr, &root, r);
    if (!rc && !fr.num) frame_init(&fr, s, 0);
    if (!rc) rc = frame_check(&fr, r);
    if (!rc) {
        int n = fr.nrows, p = s->pl.f.nfeat;
        double *X = xmalloc((size_t)(n ? n : 1) * (p ? p : 1) * sizeof *X);
        double *P = xmalloc((size_t)(n ? n : 1) * s->nout * sizeof *P);
        /* rows are scored independently: a large request goes out in two halves */
        struct rows_task all = {&fr, 0, n, X, P}, lo = {&fr, 0, n / 2, X, P}, hi = {&fr, n / 2, n, X, P};
        if (n >= SPLIT_ROWS && lim->run_halves) lim->run_halves(score_rows, &lo, &hi);
        else score_rows(&all);
        r->status = 200;
        r->content_type = "application/json";
        r->rows = n;
        r->P = P;
        free(X);
    }
    if (fr.num) frame_free(&fr);
    cJSON_Delete(root);
    csv_free(&c);
}

void score_reply_free(struct score_reply *r)
{
    free(r->P);
    r->P = NULL;
    sb_free(&r->body);
}
