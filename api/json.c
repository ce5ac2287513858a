#include "json.h"
#include "pyfmt.h"
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static __thread struct arena *tl_arena;

static void *hook_malloc(size_t n)
{
    if (tl_arena)
        return arena_alloc(tl_arena, n);
    return malloc(n);
}

static void hook_free(void *p)
{
    if (!tl_arena)
        free(p);   /* arena memory goes with the request */
}

void json_init(void)
{
    cJSON_Hooks hooks = { hook_malloc, hook_free };
    cJSON_InitHooks(&hooks);
}

void json_set_thread_arena(struct arena *a)
{
    tl_arena = a;
}

/* One pass over the text: the nesting depth, and where every number literal
 * starts and ends (cJSON keeps numbers as doubles, which lose int64 digits). */
struct num_span { const char *start; size_t len; };

/* issue 15: a parsed value costs about 100 bytes (a cJSON node, its text),
 * 50 times a "0," in the body; so a body may hold at most one value per 64
 * bytes of the body limit, counted here before any tree is built. */
static size_t max_values = (16u << 20) / 64;

void json_set_max_values(size_t n)
{
    max_values = n;
}

static int too_many_values(struct error *err)
{
    return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                     "Request body has more than %zu JSON values (one per 64 bytes of the body limit)",
                     max_values);
}

static int scan_json(struct arena *a, const char *s, size_t len, struct num_span **spans,
                     size_t *n_spans, struct error *err)
{
    int depth = 0;
    size_t cap = 16, n = 0, values = 0;
    struct num_span *v = arena_alloc(a, cap * sizeof *v);
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if ((c == '"' || c == '[' || c == '{' || c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' ||
             c == 'n') && ++values > max_values)
            return too_many_values(err);
        if (c == 't' || c == 'f' || c == 'n') {
            while (i + 1 < len && s[i + 1] >= 'a' && s[i + 1] <= 'z')
                i++;
        } else if (c == '"') {
            for (i++; i < len && s[i] != '"'; i++) {
                if (s[i] == '\\') {
                    /* cJSON would cut the string at an escaped NUL: refuse it */
                    if (i + 5 < len && !strncmp(s + i + 1, "u0000", 5))
                        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                                         "Invalid value: strings must not contain NUL (\\u0000)");
                    i++;
                }
            }
        } else if (c == '[' || c == '{') {
            if (++depth > JSON_MAX_DEPTH)
                return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                                 "Request body is nested deeper than %d levels", JSON_MAX_DEPTH);
        } else if (c == ']' || c == '}') {
            depth--;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i;
            while (j < len && (strchr("+-.eE", s[j]) || (s[j] >= '0' && s[j] <= '9')))
                j++;
            if (n == cap) {
                v = arena_grow(a, v, cap * sizeof *v, cap * 2 * sizeof *v);
                cap *= 2;
            }
            v[n].start = s + i;
            v[n].len = j - i;
            n++;
            i = j - 1;
        }
    }
    *spans = v;
    *n_spans = n;
    return 0;
}

static void attach_numbers(struct arena *a, cJSON *node, struct num_span *spans, size_t n, size_t *k,
                           bool *ok)
{
    for (; node; node = node->next) {
        if (cJSON_IsNumber(node)) {
            if (*k >= n) {
                *ok = false;
                return;
            }
            node->valuestring = arena_strndup(a, spans[*k].start, spans[*k].len);
            (*k)++;
        }
        if (node->child)
            attach_numbers(a, node->child, spans, n, k, ok);
    }
}

cJSON *json_parse(struct arena *a, const char *text, size_t len, struct error *err)
{
    struct num_span *spans = NULL;
    size_t n_spans = 0, k = 0;
    if (scan_json(a, text, len, &spans, &n_spans, err))
        return NULL;
    /* cJSON wants a NUL-terminated buffer */
    char *copy = arena_strndup(a, text, len);
    struct arena *saved = tl_arena;
    tl_arena = a;
    cJSON *root = cJSON_ParseWithLengthOpts(copy, len + 1, NULL, true);
    if (!root) {
        /* a body with a NUL byte inside parses short: try without the terminator */
        root = cJSON_ParseWithLengthOpts(copy, len, NULL, true);
    }
    tl_arena = saved;
    if (!root) {
        error_set(err, ERR_INVALID_PARAMETER_VALUE, "Malformed JSON in request body");
        return NULL;
    }
    bool ok = true;
    attach_numbers(a, root, spans, n_spans, &k, &ok);
    if (!ok || k != n_spans) {
        error_set(err, ERR_INVALID_PARAMETER_VALUE, "Malformed JSON in request body");
        return NULL;
    }
    return root;
}

/* ---- readers ---- */

int json_missing(const char *field, struct error *err)
{
    return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                     "Missing value for required parameter '%s'. "
                     "See the API docs for more information about request parameters.", field);
}

/* MLflow's schema check (_validate_param_against_schema): the value as
 * json.dumps spells it, then Python's type name (two spaces after the colon,
 * as MLflow's message has them) */
static int invalid(const cJSON *v, const char *field, struct error *err)
{
    struct arena a;
    arena_init(&a);
    struct strbuf sb;
    sb_init(&sb, &a, 128);
    py_dumps(&sb, v);
    error_set(err, ERR_INVALID_PARAMETER_VALUE,
              "Invalid value %s for parameter '%s' supplied:  Hint: Value was of type '%s'. "
              "See the API docs for more information about request parameters.",
              sb.buf, field, py_type_name(v));
    arena_free(&a);
    return -1;
}

int json_invalid_type(const cJSON *v, const char *field, struct error *err)
{
    return invalid(v, field, err);
}

static const cJSON *field_of(const cJSON *obj, const char *field)
{
    if (!obj || !cJSON_IsObject(obj))
        return NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    return (v && cJSON_IsNull(v)) ? NULL : v;
}

int json_get_string(const cJSON *obj, const char *field, bool required, const char **out,
                    struct error *err)
{
    const cJSON *v = field_of(obj, field);
    if (!v)
        return required ? json_missing(field, err) : 0;
    if (!cJSON_IsString(v))
        return invalid(v, field, err);
    if (required && v->valuestring[0] == '\0')
        return json_missing(field, err);
    *out = v->valuestring;
    return 0;
}

int parse_int64(const char *s, int64_t *out)
{
    if (!s || !*s)
        return -1;
    errno = 0;
    char *end;
    long long x = strtoll(s, &end, 10);
    if (errno || *end != '\0') {
        /* protobuf also accepts integral floats such as 1e3 or 5.0 */
        double d;
        if (parse_double(s, &d) || !isfinite(d) || d != floor(d) || fabs(d) > 9.2e18)
            return -1;
        x = (long long)d;
    }
    *out = x;
    return 0;
}

int parse_double(const char *s, double *out)
{
    if (!s || !*s)
        return -1;
    if (!strcmp(s, "NaN") || !strcmp(s, "nan")) { *out = NAN; return 0; }
    if (!strcmp(s, "Infinity") || !strcmp(s, "inf")) { *out = INFINITY; return 0; }
    if (!strcmp(s, "-Infinity") || !strcmp(s, "-inf")) { *out = -INFINITY; return 0; }
    errno = 0;
    char *end;
    double d = strtod(s, &end);
    if (*end != '\0' || end == s)
        return -1;
    if (isnan(d) || (isinf(d) && errno != ERANGE))
        return -1;   /* spelled some other way than MLflow's */
    *out = d;
    return 0;
}

int json_get_int64(const cJSON *obj, const char *field, bool required, int64_t *out, bool *present,
                   struct error *err)
{
    const cJSON *v = field_of(obj, field);
    if (present)
        *present = false;
    if (!v)
        return required ? json_missing(field, err) : 0;
    const char *text = cJSON_IsNumber(v) || cJSON_IsString(v) ? v->valuestring : NULL;
    if (!text || parse_int64(text, out))
        return invalid(v, field, err);
    if (present)
        *present = true;
    return 0;
}

int json_get_double(const cJSON *obj, const char *field, bool required, double *out, bool *present,
                    struct error *err)
{
    const cJSON *v = field_of(obj, field);
    if (present)
        *present = false;
    if (!v)
        return required ? json_missing(field, err) : 0;
    const char *text = cJSON_IsNumber(v) || cJSON_IsString(v) ? v->valuestring : NULL;
    if (!text || parse_double(text, out))
        return invalid(v, field, err);
    if (present)
        *present = true;
    return 0;
}

int json_get_bool(const cJSON *obj, const char *field, bool *out, bool *present, struct error *err)
{
    const cJSON *v = field_of(obj, field);
    if (present)
        *present = false;
    if (!v)
        return 0;
    if (cJSON_IsBool(v)) {
        *out = cJSON_IsTrue(v);
    } else if (cJSON_IsString(v) && !strcasecmp(v->valuestring, "true")) {
        *out = true;
    } else if (cJSON_IsString(v) && !strcasecmp(v->valuestring, "false")) {
        *out = false;
    } else if (cJSON_IsString(v)) {
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "Invalid boolean value: %.100s, must be 'true' or 'false'.", v->valuestring);
    } else {
        return invalid(v, field, err);
    }
    if (present)
        *present = true;
    return 0;
}

int json_get_string_array(struct arena *a, const cJSON *obj, const char *field, const char ***out,
                          size_t *n, struct error *err)
{
    const cJSON *v = field_of(obj, field);
    *out = NULL;
    *n = 0;
    if (!v)
        return 0;
    if (cJSON_IsString(v)) {
        const char **arr = arena_alloc(a, sizeof *arr);
        arr[0] = v->valuestring;
        *out = arr;
        *n = 1;
        return 0;
    }
    if (!cJSON_IsArray(v))
        return invalid(v, field, err);
    size_t count = (size_t)cJSON_GetArraySize(v), i = 0;
    const char **arr = arena_alloc(a, (count + 1) * sizeof *arr);
    for (const cJSON *e = v->child; e; e = e->next) {
        if (!cJSON_IsString(e))
            return invalid(v, field, err);
        arr[i++] = e->valuestring;
    }
    *out = arr;
    *n = i;
    return 0;
}

int json_get_object_array(const cJSON *obj, const char *field, const cJSON **first, size_t *n,
                          struct error *err)
{
    const cJSON *v = field_of(obj, field);
    *first = NULL;
    *n = 0;
    if (!v)
        return 0;
    if (!cJSON_IsArray(v))
        return invalid(v, field, err);
    for (const cJSON *e = v->child; e; e = e->next)
        if (!cJSON_IsObject(e))
            return invalid(v, field, err);
    *first = v->child;
    *n = (size_t)cJSON_GetArraySize(v);
    return 0;
}

/* ---- writer ---- */

void jw_init(struct jw *w, struct strbuf *sb)
{
    w->sb = sb;
    w->has_item = 0;
    w->depth = 0;
    w->after_key = false;
}

static void sep(struct jw *w)
{
    uint64_t bit = (uint64_t)1 << (w->depth & 63);
    if (w->has_item & bit)
        sb_putc(w->sb, ',');
    w->has_item |= bit;
}

void jw_key(struct jw *w, const char *key)
{
    sep(w);
    json_escape(w->sb, key, strlen(key));
    sb_putc(w->sb, ':');
    w->after_key = true;
}

static void value_prefix(struct jw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    sep(w);
}

static void open(struct jw *w, char c)
{
    value_prefix(w);
    sb_putc(w->sb, c);
    w->depth++;
    w->has_item &= ~((uint64_t)1 << (w->depth & 63));
}

static void close_(struct jw *w, char c)
{
    w->depth--;
    sb_putc(w->sb, c);
}

void jw_obj(struct jw *w) { open(w, '{'); }
void jw_obj_end(struct jw *w) { close_(w, '}'); }
void jw_arr(struct jw *w) { open(w, '['); }
void jw_arr_end(struct jw *w) { close_(w, ']'); }

void json_escape(struct strbuf *sb, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    sb_putc(sb, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sb_putn(sb, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': sb_putn(sb, "\\\"", 2); break;
        case '\\': sb_putn(sb, "\\\\", 2); break;
        case '\n': sb_putn(sb, "\\n", 2); break;
        case '\r': sb_putn(sb, "\\r", 2); break;
        case '\t': sb_putn(sb, "\\t", 2); break;
        default: {
            char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            sb_putn(sb, u, 6);
        }
        }
    }
    sb_putn(sb, s + run, n - run);
    sb_putc(sb, '"');
}

void jw_strn(struct jw *w, const char *s, size_t n)
{
    value_prefix(w);
    json_escape(w->sb, s, n);
}

void jw_str(struct jw *w, const char *s) { jw_strn(w, s, strlen(s)); }

void jw_null(struct jw *w)
{
    value_prefix(w);
    sb_puts(w->sb, "null");
}

void jw_int64(struct jw *w, int64_t v)
{
    value_prefix(w);
    /* by hand: snprintf was a tenth of a search page's CPU (issue 19) */
    char buf[24], *p = buf + sizeof buf;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    sb_putn(w->sb, p, (size_t)(buf + sizeof buf - p));
}

/* The shortest text that reads back as the same double, always with a '.'
 * or an exponent so that clients see a float, as MLflow's server sends. */
static int format_double(char *buf, size_t size, double v)
{
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (!strpbrk(buf, ".eE")) {
        buf[n++] = '.';
        buf[n++] = '0';
        buf[n] = '\0';
    }
    return n;
}

void jw_double(struct jw *w, double v)
{
    value_prefix(w);
    if (isnan(v)) {
        sb_puts(w->sb, "\"NaN\"");
    } else if (isinf(v)) {
        sb_puts(w->sb, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    } else {
        char buf[40];
        int n = format_double(buf, sizeof buf, v);
        sb_putn(w->sb, buf, (size_t)n);
    }
}

void jw_number_text(struct jw *w, const char *text)
{
    value_prefix(w);
    sb_puts(w->sb, text);
    if (!strpbrk(text, ".eE"))
        sb_putn(w->sb, ".0", 2);
}

/* issue 14: an already-encoded JSON value (stored span content), written as is */
void jw_raw(struct jw *w, const char *json, size_t n)
{
    value_prefix(w);
    sb_putn(w->sb, json, n);
}

void jw_bool(struct jw *w, bool v)
{
    value_prefix(w);
    sb_puts(w->sb, v ? "true" : "false");
}

void jw_kstr(struct jw *w, const char *key, const char *s)
{
    if (!s)
        return;
    jw_key(w, key);
    jw_str(w, s);
}

void jw_kint64(struct jw *w, const char *key, int64_t v) { jw_key(w, key); jw_int64(w, v); }
void jw_kdouble(struct jw *w, const char *key, double v) { jw_key(w, key); jw_double(w, v); }
void jw_kbool(struct jw *w, const char *key, bool v) { jw_key(w, key); jw_bool(w, v); }
void jw_kobj(struct jw *w, const char *key) { jw_key(w, key); jw_obj(w); }
void jw_karr(struct jw *w, const char *key) { jw_key(w, key); jw_arr(w); }
