/* /api/2.0/mlflow/logged-models/… (MLflow 3 logged models) and the legacy
 * runs/log-model. The search filter has its own small grammar (MLflow's
 * search_logged_model_utils): comparisons joined by AND, entities
 * attributes/metrics/params/tags, IN lists as tuples of quoted strings. */
#include "common.h"
#include "pyfmt.h"
#include "handlers.h"
#include "artifacts_api.h"
#include "../store/logged_models.h"
#include "../store/paths.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LM_SEARCH_DEFAULT 50          /* the proto default the REST handler sees */
#define LM_SEARCH_MAX 50000

static const char *const status_names[] = { "LOGGED_MODEL_STATUS_UNSPECIFIED", "LOGGED_MODEL_PENDING",
                                             "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED" };

static void write_kv_list(struct jw *w, const char *key, const struct kv *v, size_t n)
{
    if (!n)
        return;
    jw_karr(w, key);
    for (size_t i = 0; i < n; i++) {
        jw_obj(w);
        jw_kstr(w, "key", v[i].key);
        jw_kstr(w, "value", v[i].value);
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

static void write_logged_model(struct jw *w, const struct logged_model *m)
{
    jw_obj(w);
    jw_kobj(w, "info");
    jw_kstr(w, "model_id", m->model_id);
    jw_kstr(w, "experiment_id", arena_printf(w->sb->arena, "%lld", (long long)m->experiment_id));
    jw_kstr(w, "name", m->name);
    jw_kstr(w, "artifact_uri", m->artifact_location);
    jw_kint64(w, "creation_timestamp_ms", m->creation_timestamp_ms);
    jw_kint64(w, "last_updated_timestamp_ms", m->last_updated_timestamp_ms);
    /* MLflow's REST create stores the proto default "" for these */
    jw_kstr(w, "model_type", m->model_type ? m->model_type : "");
    jw_kstr(w, "source_run_id", m->source_run_id ? m->source_run_id : "");
    jw_kstr(w, "status", status_names[m->status >= 0 && m->status <= 3 ? m->status : 0]);
    jw_kstr(w, "status_message", m->status_message);
    write_kv_list(w, "tags", m->tags, m->n_tags);
    jw_obj_end(w);
    jw_kobj(w, "data");
    write_kv_list(w, "params", m->params, m->n_params);
    if (m->n_metrics) {
        jw_karr(w, "metrics");
        for (size_t i = 0; i < m->n_metrics; i++)
            write_metric(w, &m->metrics[i]);
        jw_arr_end(w);
    }
    jw_obj_end(w);
    jw_obj_end(w);
}

static int reply_model(struct response *resp, const struct logged_model *m)
{
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "model");
    write_logged_model(&w, m);
    reply_end(&w);
    return 0;
}

static int read_kv(struct request *req, const char *field, struct kv **out, size_t *n, struct error *err)
{
    if (get_kv_list(req->arena, req->input, field, out, n, err))
        return -1;
    for (size_t i = 0; i < *n; i++) {
        if (!(*out)[i].key)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Missing value for required parameter '%s[%zu].key'. "
                             "See the API docs for more information about request parameters.", field, i);
        if (!(*out)[i].value)
            (*out)[i].value = "";
    }
    return 0;
}

static int model_id_param(struct request *req, const char **id)
{
    *id = req->path_params[0];
    return 0;
}

/* ---- create / get / finalize / delete ---- */

int api_create_logged_model(struct request *req, struct response *resp, struct error *err)
{
    struct logged_model_create c = { 0 };
    struct kv *params, *tags;
    const char *eid;
    if (json_get_string(req->input, "experiment_id", true, &eid, err) ||
        json_get_string(req->input, "name", false, &c.name, err) ||
        json_get_string(req->input, "model_type", false, &c.model_type, err) ||
        json_get_string(req->input, "source_run_id", false, &c.source_run_id, err) ||
        read_kv(req, "params", &params, &c.n_params, err) || read_kv(req, "tags", &tags, &c.n_tags, err) ||
        parse_experiment_id(eid, &c.experiment_id, err))   /* after MLflow's schema checks */
        return -1;
    if (c.name && !*c.name)
        c.name = NULL;
    if (c.name && strpbrk(c.name, "/:.%\"'"))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "Invalid model name ('%s') provided. Model name must be a non-empty string and cannot "
                         "contain the following characters: ('/', ':', '.', '%%', '\"', \"'\")", c.name);
    if (c.name && validate_length("name", c.name, 500, err))
        return -1;
    if (!c.name)
        c.name = random_run_name(req->arena);
    c.params = params;
    c.tags = tags;
    struct logged_model m;
    if (store_create_logged_model(req->arena, &c, &m, err))
        return -1;
    return reply_model(resp, &m);
}

int api_get_logged_model(struct request *req, struct response *resp, struct error *err)
{
    const char *id, *allow = query_value(req, "allow_deleted");
    struct logged_model m;
    model_id_param(req, &id);
    if (store_get_logged_model(req->arena, id, allow && !strcasecmp(allow, "true"), &m, err))
        return -1;
    return reply_model(resp, &m);
}

int api_finalize_logged_model(struct request *req, struct response *resp, struct error *err)
{
    const char *id;
    model_id_param(req, &id);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(req->input, "status");
    if (!st || cJSON_IsNull(st))
        return json_missing("status", err);
    int status = -1;
    const char *s = cJSON_IsString(st) || cJSON_IsNumber(st) ? st->valuestring : "";
    for (int i = 0; i < 4; i++) {
        char num[4];
        snprintf(num, sizeof num, "%d", i & 3);
        if (!strcmp(s, status_names[i]) || !strcmp(s, num))
            status = i;
    }
    if (status < 0)
        return invalid_value_error(err, "status", s, "must be a LoggedModelStatus");
    struct logged_model m;
    if (store_finalize_logged_model(req->arena, id, status, &m, err))
        return -1;
    return reply_model(resp, &m);
}

int api_delete_logged_model(struct request *req, struct response *resp, struct error *err)
{
    const char *id;
    model_id_param(req, &id);
    if (store_delete_logged_model(req->arena, id, err))
        return -1;
    return reply_empty(resp);
}

int api_set_logged_model_tags(struct request *req, struct response *resp, struct error *err)
{
    const char *id;
    struct kv *tags;
    size_t n;
    model_id_param(req, &id);
    if (read_kv(req, "tags", &tags, &n, err))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (validate_length("key", tags[i].key, MAX_ENTITY_KEY_LENGTH, err))
            return -1;
    if (store_set_logged_model_tags(req->arena, id, tags, n, err))
        return -1;
    return reply_empty(resp);
}

int api_delete_logged_model_tag(struct request *req, struct response *resp, struct error *err)
{
    if (store_delete_logged_model_tag(req->arena, req->path_params[0], req->path_params[1], err))
        return -1;
    return reply_empty(resp);
}

int api_log_logged_model_params(struct request *req, struct response *resp, struct error *err)
{
    const char *id;
    struct kv *params;
    size_t n;
    model_id_param(req, &id);
    const char *body_id;   /* MLflow requires it in the body too (and then uses the path's) */
    if (json_get_string(req->input, "model_id", true, &body_id, err) || read_kv(req, "params", &params, &n, err))
        return -1;
    if (n && store_log_logged_model_params(req->arena, id, params, n, err))
        return -1;
    if (!n) {
        struct logged_model m;   /* MLflow still looks the model up */
        if (store_get_logged_model(req->arena, id, true, &m, err))
            return -1;
    }
    return reply_empty(resp);
}

/* ---- artifacts of a logged model ---- */

int api_list_logged_model_artifacts(struct request *req, struct response *resp, struct error *err)
{
    const char *sub = query_value(req, "artifact_directory_path");
    struct logged_model m;
    if (sub) {
        const char *canon;
        if (path_sanitize(req->arena, sub, &canon, err))
            return -1;
    }
    if (store_get_logged_model(req->arena, req->path_params[0], false, &m, err))
        return -1;
    return list_location(req, resp, m.artifact_location, sub, err);
}

int api_get_logged_model_artifact(struct request *req, struct response *resp, struct error *err)
{
    (void)resp;
    const char *file = query_value(req, "artifact_file_path"), *rel;
    if (!file || !*file)
        return error_set(err, ERR_BAD_REQUEST, "Request must include the \"artifact_file_path\" query parameter.");
    if (path_sanitize(req->arena, file, &rel, err))
        return -1;
    struct logged_model m;
    if (store_get_logged_model(req->arena, req->path_params[0], false, &m, err))
        return -1;
    return send_location_file(req, m.artifact_location, rel, err);
}

/* ---- search ---- */

struct lexer {
    struct arena *a;
    const char *s, *filter;
    struct error *err;
};

#define NOT_COMPARISONS "Expected a list of comparisons separated by 'AND' (e.g. 'metrics.loss > 0.1 AND params.lr = 0.01')."

/* the filter as Python's repr() spells it, as MLflow's {filter_string!r} */
static int bad_filter(struct lexer *lx, const char *why)
{
    struct strbuf sb;
    sb_init(&sb, lx->a, 64);
    py_repr_str(&sb, lx->filter);
    return error_set(lx->err, ERR_INVALID_PARAMETER_VALUE, "Invalid filter string: %s. %s", sb.buf, why);
}

static void skip_ws(struct lexer *lx)
{
    while (isspace((unsigned char)*lx->s))
        lx->s++;
}

/* identifier: [A-Za-z0-9_.]+ with `backticked` parts */
static const char *lex_identifier(struct lexer *lx)
{
    struct strbuf sb;
    sb_init(&sb, lx->a, 32);
    skip_ws(lx);
    while (*lx->s) {
        char c = *lx->s;
        if (c == '`') {
            const char *end = strchr(lx->s + 1, '`');
            if (!end)
                return NULL;
            sb_putn(&sb, lx->s, (size_t)(end - lx->s + 1));
            lx->s = end + 1;
        } else if (isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-') {
            sb_putc(&sb, c);
            lx->s++;
        } else {
            break;
        }
    }
    return sb.len ? sb.buf : NULL;
}

static bool lex_word(struct lexer *lx, const char *w)
{
    size_t n = strlen(w);
    skip_ws(lx);
    if (strncasecmp(lx->s, w, n) || isalnum((unsigned char)lx->s[n]) || lx->s[n] == '_')
        return false;
    lx->s += n;
    return true;
}

static int lex_op(struct lexer *lx, enum lm_op *op)
{
    static const struct { const char *text; enum lm_op op; } ops[] = {
        { "<=", LM_LE }, { ">=", LM_GE }, { "!=", LM_NE }, { "<>", LM_NE }, { "=", LM_EQ }, { "<", LM_LT },
        { ">", LM_GT },
    };
    skip_ws(lx);
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (!strncmp(lx->s, ops[i].text, strlen(ops[i].text))) {
            lx->s += strlen(ops[i].text);
            *op = ops[i].op;
            return 0;
        }
    if (lex_word(lx, "LIKE")) { *op = LM_LIKE; return 0; }
    if (lex_word(lx, "ILIKE")) { *op = LM_ILIKE; return 0; }
    if (lex_word(lx, "IN")) { *op = LM_IN; return 0; }
    if (lex_word(lx, "NOT")) {
        if (lex_word(lx, "IN")) { *op = LM_NOT_IN; return 0; }
    }
    return bad_filter(lx, NOT_COMPARISONS);   /* sqlparse found no comparison */
}

static const char *lex_string(struct lexer *lx)
{
    skip_ws(lx);
    char q = *lx->s;
    if (q != '\'' && q != '"')
        return NULL;
    struct strbuf sb;
    sb_init(&sb, lx->a, 32);
    for (lx->s++; *lx->s; lx->s++) {
        if (*lx->s == q) {
            if (lx->s[1] == q) {     /* '' inside a quoted string */
                sb_putc(&sb, q);
                lx->s++;
                continue;
            }
            lx->s++;
            return sb.buf;
        }
        if (*lx->s == '\\' && lx->s[1])
            lx->s++;
        sb_putc(&sb, *lx->s);
    }
    return NULL;
}

static const char *op_text(enum lm_op op)
{
    static const char *const t[] = { "=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN" };
    return t[op];
}

static int parse_comparison(struct lexer *lx, struct lm_condition *c)
{
    const char *ident = lex_identifier(lx);
    if (!ident)
        return bad_filter(lx, NOT_COMPARISONS);
    /* an identifier with no operator after it is no comparison: MLflow says so
     * before it looks at the identifier */
    const char *after_ident = lx->s;
    if (lex_op(lx, &c->op))
        return -1;
    lx->s = after_ident;
    const char *dot = strchr(ident, '.');
    bool lower = dot && dot > ident;
    for (const char *p = ident; lower && p < dot; p++)
        lower = *p >= 'a' && *p <= 'z';
    char *key;
    if (lower) {
        size_t n = (size_t)(dot - ident);
        static const struct { const char *name; enum lm_entity e; } ents[] = {
            { "attributes", LM_ATTRIBUTE }, { "metrics", LM_METRIC }, { "params", LM_PARAM }, { "tags", LM_TAG } };
        bool found = false;
        for (size_t i = 0; i < 4; i++)
            if (strlen(ents[i].name) == n && !strncmp(ident, ents[i].name, n)) {
                c->entity = ents[i].e;
                found = true;
            }
        if (!found)
            return error_set(lx->err, ERR_INVALID_PARAMETER_VALUE, "Invalid entity type: '%.*s'. Expected one of "
                             "['attributes', 'metrics', 'params', 'tags'].", (int)n, ident);
        key = arena_strdup(lx->a, dot + 1);
    } else {
        c->entity = LM_ATTRIBUTE;
        key = arena_strdup(lx->a, ident);
    }
    /* backticks around the key are stripped */
    size_t kn = strlen(key);
    while (kn && key[kn - 1] == '`')
        key[--kn] = '\0';
    while (*key == '`')
        key++;
    c->key = key;
    c->numeric = c->entity == LM_METRIC;
    if (c->entity == LM_ATTRIBUTE) {
        bool numeric;
        c->key = lm_attribute_column(key, &numeric);
        if (!c->key)
            return error_set(lx->err, ERR_INVALID_PARAMETER_VALUE, "Invalid attribute key '%s'", key);
        c->numeric = numeric;
    }
    if (lex_op(lx, &c->op))
        return -1;
    bool numeric_op = c->op <= LM_GE;
    bool string_op = c->op <= LM_NE || c->op >= LM_LIKE;
    if ((c->numeric && !numeric_op) || (!c->numeric && !string_op))
        return error_set(lx->err, ERR_INVALID_PARAMETER_VALUE,
                         "Invalid comparison operator for %s: '%s'. Expected one of %s.", ident, op_text(c->op),
                         c->numeric ? "('<', '<=', '>', '>=', '=', '!=')"
                                    : "('=', '!=', 'LIKE', 'ILIKE', 'IN', 'NOT IN')");
    skip_ws(lx);
    if (c->numeric) {
        char *end;
        const char *start = lx->s;
        size_t len = strcspn(start, " \t\r\n");
        char *num = arena_strndup(lx->a, start, len);
        c->number = strtod(num, &end);
        if (!len || *end)
            return bad_filter(lx, "Expected a number.");
        lx->s += len;
        return 0;
    }
    if (c->op == LM_IN || c->op == LM_NOT_IN) {
        if (*lx->s != '(')
            return bad_filter(lx, "Expected a parenthesised list of strings after IN.");
        lx->s++;
        size_t cap = 4;
        c->values = arena_alloc(lx->a, cap * sizeof *c->values);
        for (;;) {
            const char *v = lex_string(lx);
            if (!v)
                return bad_filter(lx, "Expected a quoted string in the IN list.");
            if (c->n_values == cap) {
                c->values = arena_grow(lx->a, c->values, cap * sizeof *c->values, 2 * cap * sizeof *c->values);
                cap *= 2;
            }
            c->values[c->n_values++] = v;
            skip_ws(lx);
            if (*lx->s == ',') {
                lx->s++;
                skip_ws(lx);
                if (*lx->s == ')')   /* a Python tuple may end with a comma */
                    break;
                continue;
            }
            break;
        }
        if (*lx->s != ')')
            return bad_filter(lx, "Expected ')' after the IN list.");
        lx->s++;
        return 0;
    }
    const char *v = lex_string(lx);
    if (!v) {   /* an unquoted value, as sqlparse passes it through */
        size_t len = strcspn(lx->s, " \t\r\n");
        if (!len)
            return bad_filter(lx, "Expected a value.");
        v = arena_strndup(lx->a, lx->s, len);
        lx->s += len;
    }
    c->values = arena_alloc(lx->a, sizeof *c->values);
    c->values[0] = v;
    c->n_values = 1;
    return 0;
}

static int parse_filter(struct arena *a, const char *filter, struct lm_condition **out, size_t *n, struct error *err)
{
    *out = NULL;
    *n = 0;
    if (!filter || !*filter)
        return 0;
    struct lexer lx = { a, filter, filter, err };
    size_t cap = 4;
    *out = arena_alloc(a, cap * sizeof **out);
    for (;;) {
        if (*n == cap) {
            *out = arena_grow(a, *out, cap * sizeof **out, 2 * cap * sizeof **out);
            cap *= 2;
        }
        memset(&(*out)[*n], 0, sizeof **out);
        if (parse_comparison(&lx, &(*out)[*n]))
            return -1;
        (*n)++;
        skip_ws(&lx);
        if (!*lx.s)
            return 0;
        if (!lex_word(&lx, "AND"))
            return bad_filter(&lx, NOT_COMPARISONS);
        skip_ws(&lx);
        if (!*lx.s)
            return 0;   /* a trailing AND: MLflow's sqlparse drops it */
    }
}

bool lm_filter_selects_attribute(struct arena *a, const char *filter, const char *column)
{
    struct lm_condition *conds;
    size_t n;
    struct error ignored;
    if (parse_filter(a, filter, &conds, &n, &ignored))
        return true;
    for (size_t i = 0; i < n; i++)
        if (conds[i].entity == LM_ATTRIBUTE && conds[i].key && !strcmp(conds[i].key, column))
            return true;
    return false;
}

static int parse_order(struct request *req, struct lm_order **out, size_t *n, struct error *err)
{
    const cJSON *first;
    if (json_get_object_array(req->input, "order_by", &first, n, err))
        return -1;
    *out = arena_alloc(req->arena, (*n + 1) * sizeof **out);
    size_t i = 0;
    for (const cJSON *o = first; o; o = o->next, i++) {
        struct lm_order *ob = &(*out)[i];
        const char *field;
        bool present;
        ob->ascending = true;
        if (json_get_string(o, "field_name", true, &ob->field_name, err) || json_get_bool(o, "ascending", &ob->ascending, &present, err) ||
            json_get_string(o, "dataset_name", false, &ob->dataset_name, err) ||
            json_get_string(o, "dataset_digest", false, &ob->dataset_digest, err))
            return -1;
        if (ob->dataset_name && !*ob->dataset_name)
            ob->dataset_name = NULL;
        if (ob->dataset_digest && !*ob->dataset_digest)
            ob->dataset_digest = NULL;
        if (ob->dataset_digest && !ob->dataset_name)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                             "`dataset_digest` can only be specified if `dataset_name` is also specified.");
        field = ob->field_name;
        const char *dot = strchr(field, '.');
        if (!dot) {
            bool numeric;
            ob->field = lm_attribute_column(field, &numeric);
            if (!ob->field)
                return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid order by field name: %s", field);
            continue;
        }
        if (strncmp(field, "metrics.", 8))
            return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                             "Invalid order by field name: %s. Only metrics are supported.", field);
        ob->is_metric = true;
        ob->field = dot + 1;
    }
    return 0;
}

static int parse_datasets(struct request *req, struct lm_dataset **out, size_t *n, struct error *err)
{
    const cJSON *first;
    if (json_get_object_array(req->input, "datasets", &first, n, err))
        return -1;
    *out = arena_alloc(req->arena, (*n + 1) * sizeof **out);
    size_t i = 0;
    for (const cJSON *d = first; d; d = d->next, i++) {
        if (json_get_string(d, "dataset_name", false, &(*out)[i].name, err) ||
            json_get_string(d, "dataset_digest", false, &(*out)[i].digest, err))
            return -1;
        if (!(*out)[i].name || !*(*out)[i].name)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                             "`dataset_name` in the `datasets` clause must be specified.");
        if ((*out)[i].digest && !*(*out)[i].digest)
            (*out)[i].digest = NULL;
    }
    return 0;
}

/* ---- page tokens: MLflow's SearchLoggedModelsPaginationToken, base64 of
 * {"experiment_ids", "filter_string", "order_by", "offset"}. A token is only
 * good for the query that produced it: the server re-checks the three
 * fields against the request and answers 400 on a mismatch. ---- */

struct lm_query {
    const char **exp_ids; size_t n_exp;
    const char *filter;                        /* NULL when absent or "" */
    const struct lm_order *order; size_t n_order;
};

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static const char *b64_encode(struct arena *a, const char *s, size_t n)
{
    char *out = arena_alloc(a, (n + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)(unsigned char)s[i] << 16;
        if (i + 1 < n) v |= (unsigned)(unsigned char)s[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)s[i + 2];
        *o++ = b64_alphabet[(v >> 18) & 63];
        *o++ = b64_alphabet[(v >> 12) & 63];
        *o++ = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? b64_alphabet[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* NULL on a character outside the alphabet */
static char *b64_decode(struct arena *a, const char *s, size_t *len)
{
    size_t n = strlen(s), o = 0;
    char *out = arena_alloc(a, n + 1);
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        const char *p = strchr(b64_alphabet, s[i]);
        if (!p || !s[i])
            return NULL;
        v = (v << 6) | (unsigned)(p - b64_alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((v >> bits) & 0xFF);
        }
    }
    out[o] = '\0';
    *len = o;
    return out;
}

static const char *lm_token_encode(struct arena *a, const struct lm_query *q, int64_t offset)
{
    struct strbuf sb;
    struct jw w;
    sb_init(&sb, a, 256);
    jw_init(&w, &sb);
    jw_obj(&w);
    jw_karr(&w, "experiment_ids");
    for (size_t i = 0; i < q->n_exp; i++)
        jw_str(&w, q->exp_ids[i]);
    jw_arr_end(&w);
    jw_kstr(&w, "filter_string", q->filter);     /* absent: None */
    if (q->n_order) {
        jw_karr(&w, "order_by");
        for (size_t i = 0; i < q->n_order; i++) {
            jw_obj(&w);
            jw_kstr(&w, "field_name", q->order[i].field_name);
            jw_kbool(&w, "ascending", q->order[i].ascending);
            jw_kstr(&w, "dataset_name", q->order[i].dataset_name);
            jw_kstr(&w, "dataset_digest", q->order[i].dataset_digest);
            jw_obj_end(&w);
        }
        jw_arr_end(&w);
    }
    jw_kint64(&w, "offset", offset);
    jw_obj_end(&w);
    return b64_encode(a, sb.buf, sb.len);
}

/* a string field of the token, NULL when absent, null or "" (MLflow's `or None`) */
static const char *token_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && *v->valuestring ? v->valuestring : NULL;
}

static bool same_str(const char *x, const char *y)
{
    return x == y || (x && y && !strcmp(x, y));
}

static bool token_order_matches(const cJSON *arr, const struct lm_query *q)
{
    if (!arr || cJSON_IsNull(arr) || (cJSON_IsArray(arr) && !arr->child))
        return q->n_order == 0;
    if (!cJSON_IsArray(arr) || (size_t)cJSON_GetArraySize(arr) != q->n_order)
        return false;
    size_t i = 0;
    for (const cJSON *o = arr->child; o; o = o->next, i++) {
        const cJSON *asc = cJSON_GetObjectItemCaseSensitive(o, "ascending");
        if (!cJSON_IsObject(o) || !same_str(token_str(o, "field_name"), q->order[i].field_name) ||
            !cJSON_IsBool(asc) || cJSON_IsTrue(asc) != q->order[i].ascending ||
            !same_str(token_str(o, "dataset_name"), q->order[i].dataset_name) ||
            !same_str(token_str(o, "dataset_digest"), q->order[i].dataset_digest))
            return false;
    }
    return true;
}

static int lm_token_decode(struct arena *a, const char *token, const struct lm_query *q, int64_t *offset,
                           struct error *err)
{
    *offset = 0;
    if (!token || !*token)
        return 0;
    size_t len;
    struct error perr;
    char *text = b64_decode(a, token, &len);
    cJSON *t = text ? json_parse(a, text, len, &perr) : NULL;
    const cJSON *ids = t ? cJSON_GetObjectItemCaseSensitive(t, "experiment_ids") : NULL;
    const cJSON *off = t ? cJSON_GetObjectItemCaseSensitive(t, "offset") : NULL;
    if (!cJSON_IsObject(t) || !cJSON_IsArray(ids) || (off && !cJSON_IsNumber(off)) ||
        (off && (off->valuedouble < 0 || off->valuedouble > 9e15)))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid page token: %s", token);
    bool ids_match = (size_t)cJSON_GetArraySize(ids) == q->n_exp;
    size_t i = 0;
    for (const cJSON *id = ids->child; ids_match && id; id = id->next, i++)
        ids_match = cJSON_IsString(id) && !strcmp(id->valuestring, q->exp_ids[i]);
    /* MLflow's messages print both sides as Python values (issue 20) */
    struct strbuf want, got;
    sb_init(&want, a, 256);
    sb_init(&got, a, 256);
    if (!ids_match) {
        sb_putc(&want, '[');
        for (i = 0; i < q->n_exp; i++) {
            if (i)
                sb_puts(&want, ", ");
            py_repr_str(&want, q->exp_ids[i]);
        }
        sb_putc(&want, ']');
        py_repr(&got, ids);
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Experiment IDs in the page token do not match the "
                         "requested experiment IDs. Expected: %s. Found: %s", want.buf, got.buf);
    }
    const char *token_filter = token_str(t, "filter_string");
    if (!same_str(token_filter, q->filter))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Filter string in the page token does not match the "
                         "requested filter string. Expected: %s. Found: %s", q->filter ? q->filter : "None",
                         token_filter ? token_filter : "None");
    const cJSON *token_order = cJSON_GetObjectItemCaseSensitive(t, "order_by");
    if (!token_order_matches(token_order, q)) {
        if (!q->n_order)
            sb_puts(&want, "None");
        for (i = 0; i < q->n_order; i++) {
            sb_puts(&want, i ? ", {'field_name': " : "[{'field_name': ");
            py_repr_str(&want, q->order[i].field_name);
            sb_printf(&want, ", 'ascending': %s, 'dataset_name': ", q->order[i].ascending ? "True" : "False");
            if (q->order[i].dataset_name)
                py_repr_str(&want, q->order[i].dataset_name);
            else
                sb_puts(&want, "None");
            sb_puts(&want, ", 'dataset_digest': ");
            if (q->order[i].dataset_digest)
                py_repr_str(&want, q->order[i].dataset_digest);
            else
                sb_puts(&want, "None");
            sb_puts(&want, i + 1 == q->n_order ? "}]" : "}");
        }
        bool falsy = !token_order || cJSON_IsNull(token_order) || (cJSON_IsArray(token_order) && !token_order->child);
        if (falsy)
            sb_puts(&got, "None");
        else
            py_repr(&got, token_order);
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Order by in the page token does not match the "
                         "requested order by. Expected: %s. Found: %s", want.buf, got.buf);
    }
    *offset = off ? (int64_t)off->valuedouble : 0;
    return 0;
}

int api_search_logged_models(struct request *req, struct response *resp, struct error *err)
{
    struct logged_model_search s = { 0 };
    const char **exp_ids, *filter = NULL, *token = NULL;
    size_t n_exp;
    int64_t max_results = 0;
    bool present;
    struct lm_condition *conds;
    struct lm_order *order;
    struct lm_dataset *datasets;
    if (!cJSON_GetObjectItemCaseSensitive(req->input, "experiment_ids"))
        return json_missing("experiment_ids", err);
    if (get_string_list(req, "experiment_ids", &exp_ids, &n_exp, err) ||
        json_get_string(req->input, "filter", false, &filter, err) ||
        json_get_string(req->input, "page_token", false, &token, err) ||
        json_get_int64(req->input, "max_results", false, &max_results, &present, err) ||
        parse_datasets(req, &datasets, &s.n_datasets, err) || parse_order(req, &order, &s.n_order, err) ||
        parse_filter(req->arena, filter, &conds, &s.n_conds, err))
        return -1;
    struct lm_query q = { exp_ids, n_exp, filter && *filter ? filter : NULL, order, s.n_order };
    if (lm_token_decode(req->arena, token, &q, &s.offset, err))
        return -1;
    if (!present || max_results == 0)
        max_results = LM_SEARCH_DEFAULT;
    if (max_results < 0 || max_results > LM_SEARCH_MAX)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "Invalid value %lld for parameter 'max_results' supplied.", (long long)max_results);
    int64_t *ids = arena_alloc(req->arena, (n_exp + 1) * sizeof *ids);
    for (size_t i = 0; i < n_exp; i++)
        if (parse_experiment_id(exp_ids[i], &ids[i], err))
            return -1;
    s.experiment_ids = ids;
    s.n_experiments = n_exp;
    s.conds = conds;
    s.order = order;
    s.datasets = datasets;
    s.limit = max_results + 1;
    struct logged_model *models = NULL;
    size_t n = 0;
    if (n_exp && store_search_logged_models(req->arena, &s, &models, &n, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    size_t shown = n > (size_t)max_results ? (size_t)max_results : n;
    if (shown) {
        jw_karr(&w, "models");
        for (size_t i = 0; i < shown; i++)
            write_logged_model(&w, &models[i]);
        jw_arr_end(&w);
    }
    if (n > (size_t)max_results)
        jw_kstr(&w, "next_page_token", lm_token_encode(req->arena, &q, s.offset + max_results));
    reply_end(&w);
    return 0;
}

/* ---- POST /api/2.0/mlflow/runs/log-model (2.x clients) ---- */

int api_log_model(struct request *req, struct response *resp, struct error *err)
{
    const char *run_id, *model_json;
    if (json_get_string(req->input, "run_id", true, &run_id, err) ||
        json_get_string(req->input, "model_json", true, &model_json, err))
        return -1;
    cJSON *model = json_parse(req->arena, model_json, strlen(model_json), err);
    if (!model || !cJSON_IsObject(model))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Malformed model info. \n %s \n is not a valid JSON.",
                         model_json);
    static const char *const required[] = { "artifact_path", "flavors", "utc_time_created", "run_id" };
    struct strbuf missing;
    sb_init(&missing, req->arena, 64);
    for (size_t i = 0; i < 4; i++)
        if (!cJSON_GetObjectItemCaseSensitive(model, required[i]))
            sb_printf(&missing, "%s'%s'", missing.len ? ", " : "", required[i]);
    if (missing.len)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Model json is missing mandatory fields: {%s}", missing.buf);
    if (store_append_log_model_history(req->arena, run_id, model_json, err))
        return -1;
    return reply_empty(resp);
}
