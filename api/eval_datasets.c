/* MLflow 3 evaluation datasets (issue 21): the 14 routes under
 * /api/3.0/mlflow/datasets and the UI's genai/evaluate/invoke, as MLflow
 * 3.17's handlers.py and SqlAlchemyStore answer them. JSON-in-a-string
 * fields (tags, schema, profile, records) are spelled as Python's json.dumps
 * spells them; record fields are stored in that spelling, so reading a page
 * copies text. */
#include "common.h"
#include "handlers.h"
#include "pyfmt.h"
#include "search_filter.h"
#include "../store/eval_datasets.h"
#include <inttypes.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#define BAD ERR_INVALID_PARAMETER_VALUE
/* Limits. MLflow's columns: name and tag keys String(255), tag values String(5000);
 * past them PostgreSQL refuses the row and MLflow answers 400 BAD_REQUEST. */
#define DATASET_NAME_MAX 255
#define DATASET_TAG_KEY_MAX 255
#define DATASET_TAG_VALUE_MAX 5000
#define DATASET_MAX_EXPERIMENTS 1000        /* experiment ids in one create / add / remove / search */
#define DATASET_SEARCH_MAX_RESULTS 50000    /* MLflow's SEARCH_MAX_RESULTS_THRESHOLD */
#define RECORDS_DEFAULT_PAGE 1000           /* MLflow's LOAD_DATASET_RECORDS_MAX_RESULTS */
#define RECORDS_MAX_PAGE 50000
#define RECORDS_MAX_PER_UPSERT 50000        /* the 16 MiB body bounds the rest */
#define RECORDS_MAX_DELETE 50000

static const char *dataset_id_param(struct request *req)
{
    return req->n_path_params ? req->path_params[0] : "";
}

/* ---- writers ---- */

static void write_tags_json(struct strbuf *sb, const struct kv *tags, size_t n)
{
    sb_putc(sb, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_puts(sb, ", ");
        py_dumps_str(sb, tags[i].key);
        sb_puts(sb, ": ");
        if (tags[i].value)
            py_dumps_str(sb, tags[i].value);
        else
            sb_puts(sb, "null");
    }
    sb_putc(sb, '}');
}

static void write_dataset(struct jw *w, struct arena *a, const struct eval_dataset *d)
{
    jw_obj(w);
    jw_kstr(w, "dataset_id", d->dataset_id);
    jw_kstr(w, "name", d->name);
    struct strbuf tags;
    sb_init(&tags, a, 64);
    write_tags_json(&tags, d->tags, d->n_tags);
    jw_kstr(w, "tags", tags.buf);
    jw_kstr(w, "schema", d->schema);
    jw_kstr(w, "profile", d->profile);
    jw_kstr(w, "digest", d->digest);
    jw_kint64(w, "created_time", d->created_time);
    jw_kint64(w, "last_update_time", d->last_update_time);
    jw_kstr(w, "created_by", d->created_by);
    jw_kstr(w, "last_updated_by", d->last_updated_by);
    if (d->n_experiment_ids) {
        jw_karr(w, "experiment_ids");
        for (size_t i = 0; i < d->n_experiment_ids; i++)
            jw_str(w, d->experiment_ids[i]);
        jw_arr_end(w);
    }
    jw_obj_end(w);
}

static int reply_dataset(struct request *req, struct response *resp, const struct eval_dataset *d)
{
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "dataset");
    write_dataset(&w, req->arena, d);
    reply_end(&w);
    return 0;
}

/* DatasetRecord.to_dict(), in its key order, as json.dumps writes it */
static void write_record(struct strbuf *sb, const struct eval_record *r)
{
    sb_puts(sb, "{\"dataset_record_id\": ");
    py_dumps_str(sb, r->dataset_record_id);
    sb_puts(sb, ", \"dataset_id\": ");
    py_dumps_str(sb, r->dataset_id);
    sb_printf(sb, ", \"inputs\": %s", r->inputs);
    if (r->expectations)
        sb_printf(sb, ", \"expectations\": %s", r->expectations);
    sb_printf(sb, ", \"tags\": %s", r->tags);
    if (r->source)
        sb_printf(sb, ", \"source\": %s", r->source);
    if (r->source_id) {
        sb_puts(sb, ", \"source_id\": ");
        py_dumps_str(sb, r->source_id);
    }
    if (r->source_type) {
        sb_puts(sb, ", \"source_type\": ");
        py_dumps_str(sb, r->source_type);
    }
    sb_printf(sb, ", \"created_time\": %" PRId64 ", \"last_update_time\": %" PRId64, r->created_time,
              r->last_update_time);
    if (r->created_by) {
        sb_puts(sb, ", \"created_by\": ");
        py_dumps_str(sb, r->created_by);
    }
    if (r->last_updated_by) {
        sb_puts(sb, ", \"last_updated_by\": ");
        py_dumps_str(sb, r->last_updated_by);
    }
    if (r->outputs)
        sb_printf(sb, ", \"outputs\": %s", r->outputs);
    sb_putc(sb, '}');
}

/* ---- readers ---- */

/* a request field holding JSON text: parsed, NULL when absent or "" */
static int json_string_field(struct request *req, const char *field, bool required, cJSON **out, struct error *err)
{
    const char *text = NULL;
    *out = NULL;
    if (json_get_string(req->input, field, required, &text, err))
        return -1;
    if (!text || !*text)
        return 0;
    struct error perr;
    *out = json_parse(req->arena, text, strlen(text), &perr);
    if (!*out)
        return error_set(err, BAD, "Invalid JSON in '%s': %s", field, perr.message);
    return 0;
}

/* a tag value as MLflow keeps it: str(value) (create keeps None) */
static const char *tag_value_text(struct arena *a, const cJSON *v)
{
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsNull(v))
        return NULL;
    struct strbuf sb;
    sb_init(&sb, a, 16);
    if (cJSON_IsBool(v))
        sb_puts(&sb, cJSON_IsTrue(v) ? "True" : "False");
    else
        py_repr(&sb, v);
    return sb.buf;
}

static int tags_from_object(struct arena *a, const cJSON *obj, bool skip_null, struct kv **out, size_t *n,
                            struct error *err)
{
    *out = NULL;
    *n = 0;
    if (!obj)
        return 0;
    if (!cJSON_IsObject(obj))
        return error_set(err, BAD, "Dataset tags must be a JSON object");
    size_t cnt = (size_t)cJSON_GetArraySize(obj), k = 0;
    struct kv *t = arena_alloc(a, (cnt ? cnt : 1) * sizeof *t);
    for (const cJSON *e = obj->child; e; e = e->next) {
        if (skip_null && cJSON_IsNull(e))
            continue;
        const char *v = tag_value_text(a, e);
        if (strlen(e->string) > DATASET_TAG_KEY_MAX || (v && strlen(v) > DATASET_TAG_VALUE_MAX))
            return error_set(err, ERR_BAD_REQUEST, "Dataset tag '%.100s' exceeds the limit: keys %d characters, "
                             "values %d", e->string, DATASET_TAG_KEY_MAX, DATASET_TAG_VALUE_MAX);
        t[k++] = (struct kv){ e->string, v };
    }
    *out = t;
    *n = k;
    return 0;
}

static int experiment_ids_field(struct request *req, const char ***ids, size_t *n, struct error *err)
{
    if (get_string_list(req, "experiment_ids", ids, n, err))
        return -1;
    if (*n > DATASET_MAX_EXPERIMENTS)
        return error_set(err, BAD, "At most %d experiment_ids are accepted in one request; got %zu",
                         DATASET_MAX_EXPERIMENTS, *n);
    return 0;
}

/* ---- dataset routes ---- */

/* POST datasets/create */
int api_create_eval_dataset(struct request *req, struct response *resp, struct error *err)
{
    const char *name = NULL;
    const char **exp_ids;
    size_t n_exp, n_tags;
    cJSON *tags_json;
    struct kv *tags;
    if (json_get_string(req->input, "name", true, &name, err) ||
        experiment_ids_field(req, &exp_ids, &n_exp, err) ||
        json_string_field(req, "tags", false, &tags_json, err) ||
        tags_from_object(req->arena, tags_json, false, &tags, &n_tags, err))
        return -1;
    if (strlen(name) > DATASET_NAME_MAX)
        return error_set(err, ERR_BAD_REQUEST, "Dataset name exceeds the maximum length of %d characters",
                         DATASET_NAME_MAX);
    const char *user = NULL;
    for (size_t i = 0; i < n_tags; i++)
        if (!strcmp(tags[i].key, "mlflow.user"))
            user = tags[i].value;
    struct eval_dataset d;
    if (store_create_eval_dataset(req->arena, name, tags, n_tags, exp_ids, n_exp, user, &d, err))
        return -1;
    return reply_dataset(req, resp, &d);
}

/* GET datasets/{dataset_id} */
int api_get_eval_dataset(struct request *req, struct response *resp, struct error *err)
{
    struct eval_dataset d;
    if (store_get_eval_dataset(req->arena, dataset_id_param(req), &d, err))
        return -1;
    return reply_dataset(req, resp, &d);
}

/* DELETE datasets/{dataset_id}: {} also for an unknown id */
int api_delete_eval_dataset(struct request *req, struct response *resp, struct error *err)
{
    if (store_delete_eval_dataset(dataset_id_param(req), err))
        return -1;
    return reply_empty(resp);
}

/* GET|POST datasets/search */
int api_search_eval_datasets(struct request *req, struct response *resp, struct error *err)
{
    struct eval_dataset_search s = { 0 };
    const char **exp_ids = NULL, **order = NULL;
    size_t n_exp = 0, n_order = 0;
    const char *filter = NULL, *token = NULL;
    int64_t max_results = 1000;   /* the proto's default */
    bool present;
    if (experiment_ids_field(req, &exp_ids, &n_exp, err) ||
        json_get_string(req->input, "filter_string", false, &filter, err) ||
        json_get_int64(req->input, "max_results", false, &max_results, &present, err) ||
        get_string_list(req, "order_by", &order, &n_order, err) ||
        json_get_string(req->input, "page_token", false, &token, err))
        return -1;
    /* MLflow passes `max_results or None`: 0 reaches the store as None */
    if (max_results == 0)
        return error_set(err, BAD, "Invalid value None for parameter 'max_results' supplied. It must be a "
                         "positive integer");
    if (max_results < 0)
        return error_set(err, BAD, "Invalid value %" PRId64 " for parameter 'max_results' supplied. It must be "
                         "a positive integer", max_results);
    if (max_results > DATASET_SEARCH_MAX_RESULTS)
        return error_set(err, BAD, "Invalid value %" PRId64 " for parameter 'max_results' supplied. It must be "
                         "at most %d", max_results, DATASET_SEARCH_MAX_RESULTS);
    if (page_token_decode(req->arena, token, &s.offset, err) ||
        sf_parse_eval_dataset_filter(req->arena, filter, &s.filter, err) ||
        sf_parse_eval_dataset_order_by(req->arena, order, n_order, &s.order, err))
        return -1;
    s.experiment_ids = exp_ids;
    s.n_experiment_ids = n_exp;
    s.limit = max_results + 1;
    struct eval_dataset *ds;
    size_t n;
    if (store_search_eval_datasets(req->arena, &s, &ds, &n, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    size_t shown = n > (size_t)max_results ? (size_t)max_results : n;
    if (shown) {
        jw_karr(&w, "datasets");
        for (size_t i = 0; i < shown; i++)
            write_dataset(&w, req->arena, &ds[i]);
        jw_arr_end(&w);
    }
    if (n > shown)
        jw_kstr(&w, "next_page_token", page_token_encode(req->arena, s.offset + max_results));
    reply_end(&w);
    return 0;
}

/* PATCH datasets/{dataset_id}/tags: merged in; a null value leaves the tag alone */
int api_set_eval_dataset_tags(struct request *req, struct response *resp, struct error *err)
{
    cJSON *tags_json;
    struct kv *tags;
    size_t n;
    if (json_string_field(req, "tags", true, &tags_json, err) ||
        tags_from_object(req->arena, tags_json, true, &tags, &n, err))
        return -1;
    if (store_set_eval_dataset_tags(dataset_id_param(req), tags, n, err))
        return -1;
    return reply_empty(resp);
}

/* DELETE datasets/{dataset_id}/tags/{key}: idempotent */
int api_delete_eval_dataset_tag(struct request *req, struct response *resp, struct error *err)
{
    const char *key = req->n_path_params > 1 ? req->path_params[1] : "";
    if (store_delete_eval_dataset_tag(dataset_id_param(req), key, err))
        return -1;
    return reply_empty(resp);
}

/* GET datasets/{dataset_id}/experiment-ids */
int api_get_eval_dataset_experiment_ids(struct request *req, struct response *resp, struct error *err)
{
    const char **ids;
    size_t n;
    if (store_eval_dataset_experiment_ids(req->arena, dataset_id_param(req), &ids, &n, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    if (n) {
        jw_karr(&w, "experiment_ids");
        for (size_t i = 0; i < n; i++)
            jw_str(&w, ids[i]);
        jw_arr_end(&w);
    }
    reply_end(&w);
    return 0;
}

/* POST datasets/{dataset_id}/add-experiments */
int api_add_eval_dataset_experiments(struct request *req, struct response *resp, struct error *err)
{
    const char **ids;
    size_t n;
    struct eval_dataset d;
    if (experiment_ids_field(req, &ids, &n, err) ||
        store_add_eval_dataset_experiments(req->arena, dataset_id_param(req), ids, n, &d, err))
        return -1;
    return reply_dataset(req, resp, &d);
}

/* POST datasets/{dataset_id}/remove-experiments */
int api_remove_eval_dataset_experiments(struct request *req, struct response *resp, struct error *err)
{
    const char **ids;
    size_t n;
    struct eval_dataset d;
    if (experiment_ids_field(req, &ids, &n, err) ||
        store_remove_eval_dataset_experiments(req->arena, dataset_id_param(req), ids, n, &d, err))
        return -1;
    return reply_dataset(req, resp, &d);
}

/* ---- records ---- */

static const char *dumps(struct arena *a, const cJSON *v)
{
    struct strbuf sb;
    sb_init(&sb, a, 64);
    py_dumps_opts(&sb, v, false, true);
    return sb.buf;
}

/* sha256(json.dumps(inputs, sort_keys=True)).hexdigest(): MLflow's record identity */
static const char *input_hash(struct arena *a, const cJSON *inputs)
{
    struct strbuf sb;
    sb_init(&sb, a, 64);
    if (inputs)
        py_dumps_opts(&sb, inputs, true, true);
    else
        sb_puts(&sb, "{}");   /* record_dict.get("inputs", {}) */
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)sb.buf, sb.len, h);
    char *hex = arena_alloc(a, 2 * SHA256_DIGEST_LENGTH + 1);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
    return hex;
}

static bool nonempty_object(const cJSON *v)
{
    return cJSON_IsObject(v) && v->child;
}

static const char *const source_types[] = { "UNSPECIFIED", "TRACE", "HUMAN", "DOCUMENT", "CODE", NULL };

/* DatasetRecordSource.from_dict: {source_type, source_data}, the type upper-cased and checked */
static int record_source(struct arena *a, const cJSON *src, struct eval_record *rec, struct error *err)
{
    if (!src || cJSON_IsNull(src) || cJSON_IsFalse(src) || (cJSON_IsString(src) && !*src->valuestring) ||
        (cJSON_IsObject(src) && !src->child))
        return 0;   /* a falsy source: none */
    if (!cJSON_IsObject(src))
        return error_set(err, BAD, "A record's source must be a JSON object with 'source_type' and "
                         "'source_data'");
    const cJSON *type = NULL, *data = NULL;
    for (const cJSON *e = src->child; e; e = e->next) {
        if (!strcmp(e->string, "source_type"))
            type = e;
        else if (!strcmp(e->string, "source_data"))
            data = e;
        else
            return error_set(err, BAD, "Unexpected field '%.100s' in a record's source", e->string);
    }
    if (!cJSON_IsString(type))
        return error_set(err, BAD, "A record's source needs a string 'source_type'");
    char *upper = arena_strdup(a, type->valuestring);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    size_t t = 0;
    while (source_types[t] && strcmp(source_types[t], upper))
        t++;
    if (!source_types[t])
        return error_set(err, BAD, "Invalid dataset record source type: %s. Valid source types: ['UNSPECIFIED', "
                         "'TRACE', 'HUMAN', 'DOCUMENT', 'CODE']", upper);
    if (data && !cJSON_IsNull(data) && !cJSON_IsObject(data))
        return error_set(err, BAD, "A record's source_data must be a JSON object");
    struct strbuf sb;
    sb_init(&sb, a, 64);
    sb_printf(&sb, "{\"source_type\": \"%s\", \"source_data\": ", source_types[t]);
    if (data && cJSON_IsObject(data))
        py_dumps_opts(&sb, data, false, true);
    else
        sb_puts(&sb, "{}");
    sb_putc(&sb, '}');
    rec->source = sb.buf;
    rec->source_type = source_types[t];
    /* DatasetRecord.__post_init__: the trace id, or source_data.source_id */
    const cJSON *sid = data && cJSON_IsObject(data)
        ? cJSON_GetObjectItemCaseSensitive(data, t == 1 ? "trace_id" : "source_id") : NULL;
    rec->source_id = cJSON_IsString(sid) && *sid->valuestring ? sid->valuestring : NULL;
    return 0;
}

static int prepare_record(struct arena *a, const cJSON *r, size_t i, struct eval_record_upsert *u,
                          struct error *err)
{
    if (!cJSON_IsObject(r))
        return error_set(err, BAD, "Record %zu is not a JSON object", i);
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(r, "inputs");
    const cJSON *outputs = cJSON_GetObjectItemCaseSensitive(r, "outputs");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(r, "expectations");
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(r, "tags");
    if (inputs && !cJSON_IsObject(inputs))
        return error_set(err, BAD, "Record %zu: 'inputs' must be a JSON object", i);
    if (exp && !cJSON_IsNull(exp) && !cJSON_IsObject(exp))
        return error_set(err, BAD, "Record %zu: 'expectations' must be a JSON object", i);
    if (tags && !cJSON_IsNull(tags) && !cJSON_IsObject(tags))
        return error_set(err, BAD, "Record %zu: 'tags' must be a JSON object", i);
    memset(u, 0, sizeof *u);
    u->rec.inputs = inputs ? dumps(a, inputs) : "{}";
    u->input_hash = input_hash(a, inputs);
    u->outputs_given = outputs != NULL;
    u->rec.outputs = !outputs ? "{}" : cJSON_IsNull(outputs) ? NULL : dumps(a, outputs);
    u->rec.expectations = exp && cJSON_IsObject(exp) ? dumps(a, exp) : NULL;
    u->rec.tags = tags && cJSON_IsObject(tags) ? dumps(a, tags) : "{}";
    u->merge_expectations = nonempty_object(exp);
    u->merge_tags = nonempty_object(tags);
    const cJSON *user = tags ? cJSON_GetObjectItemCaseSensitive(tags, "mlflow.user") : NULL;
    u->user = cJSON_IsString(user) ? user->valuestring : NULL;
    return record_source(a, cJSON_GetObjectItemCaseSensitive(r, "source"), &u->rec, err);
}

/* dict.update on two JSON objects' text */
static const char *merge_object(struct arena *a, const char *old, const char *upd)
{
    struct error perr;
    json_set_thread_arena(a);
    cJSON *o = old ? json_parse(a, old, strlen(old), &perr) : NULL;
    cJSON *u = json_parse(a, upd, strlen(upd), &perr);
    if (!cJSON_IsObject(o))
        o = cJSON_CreateObject();
    for (cJSON *e = u ? u->child : NULL, *next; e; e = next) {
        next = e->next;
        cJSON *item = cJSON_DetachItemViaPointer(u, e);
        if (cJSON_GetObjectItemCaseSensitive(o, item->string))
            cJSON_ReplaceItemInObjectCaseSensitive(o, item->string, item);
        else
            cJSON_AddItemToObject(o, item->string, item);
    }
    const char *out = dumps(a, o);
    json_set_thread_arena(NULL);
    return out;
}

static const char *py_type(const cJSON *v)
{
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsBool(v)) return "boolean";
    if (cJSON_IsNumber(v)) return strcmp(py_type_name(v), "float") ? "integer" : "float";
    if (cJSON_IsString(v)) return "string";
    if (cJSON_IsArray(v)) return "array";
    if (cJSON_IsObject(v)) return "object";
    return "unknown";
}

static void schema_add_keys(cJSON *section, const cJSON *values)
{
    for (const cJSON *e = values->child; e; e = e->next)
        if (!cJSON_GetObjectItemCaseSensitive(section, e->string))
            cJSON_AddItemToObject(section, e->string, cJSON_CreateString(py_type(e)));
}

static cJSON *schema_section(cJSON *schema, const char *name)
{
    cJSON *s = cJSON_GetObjectItemCaseSensitive(schema, name);
    if (!s) {
        s = cJSON_CreateObject();
        cJSON_AddItemToObject(schema, name, s);
    }
    return s;
}

/* SqlAlchemyStore._update_dataset_schema over this request's records */
static const char *update_schema(void *ctx, struct arena *a, const char *old)
{
    const cJSON *records = ctx;
    if (!records->child && !old)
        return NULL;
    struct error perr;
    json_set_thread_arena(a);
    cJSON *schema = old ? json_parse(a, old, strlen(old), &perr) : NULL;
    if (!cJSON_IsObject(schema)) {
        schema = cJSON_CreateObject();
        cJSON_AddItemToObject(schema, "inputs", cJSON_CreateObject());
        cJSON_AddItemToObject(schema, "outputs", cJSON_CreateObject());
        cJSON_AddItemToObject(schema, "expectations", cJSON_CreateObject());
        cJSON_AddItemToObject(schema, "version", cJSON_CreateString("1.0"));
    }
    for (const cJSON *r = records->child; r; r = r->next) {
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(r, "inputs");
        const cJSON *out = cJSON_GetObjectItemCaseSensitive(r, "outputs");
        const cJSON *ex = cJSON_GetObjectItemCaseSensitive(r, "expectations");
        if (nonempty_object(in))
            schema_add_keys(schema_section(schema, "inputs"), in);
        if (out && !cJSON_IsNull(out)) {
            cJSON *so = schema_section(schema, "outputs");
            if (cJSON_IsObject(out)) {
                if (cJSON_IsObject(so))
                    schema_add_keys(so, out);
            } else if ((cJSON_IsObject(so) && !so->child) || (cJSON_IsString(so) && !*so->valuestring)) {
                cJSON_ReplaceItemInObjectCaseSensitive(schema, "outputs", cJSON_CreateString(py_type(out)));
            }
        }
        if (nonempty_object(ex))
            schema_add_keys(schema_section(schema, "expectations"), ex);
    }
    const char *text = dumps(a, schema);
    json_set_thread_arena(NULL);
    return text;
}

/* POST datasets/{dataset_id}/records */
int api_upsert_eval_records(struct request *req, struct response *resp, struct error *err)
{
    cJSON *records;
    if (json_string_field(req, "records", true, &records, err))
        return -1;
    if (!cJSON_IsArray(records))
        return error_set(err, BAD, "'records' must be a JSON list of record objects");
    size_t n = (size_t)cJSON_GetArraySize(records), i = 0;
    if (n > RECORDS_MAX_PER_UPSERT)
        return error_set(err, BAD, "At most %d records are accepted in one upsert; got %zu",
                         RECORDS_MAX_PER_UPSERT, n);
    struct eval_record_upsert *u = arena_alloc(req->arena, (n ? n : 1) * sizeof *u);
    for (const cJSON *r = records->child; r; r = r->next, i++)
        if (prepare_record(req->arena, r, i, &u[i], err))
            return -1;
    struct eval_upsert_hooks hooks = { merge_object, update_schema, records };
    int64_t inserted, updated;
    if (store_upsert_eval_records(req->arena, dataset_id_param(req), u, n, &hooks, &inserted, &updated, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_kint64(&w, "inserted_count", inserted);
    jw_kint64(&w, "updated_count", updated);
    reply_end(&w);
    return 0;
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static const char *b64encode(struct arena *a, const char *s)
{
    size_t n = strlen(s);
    char *out = arena_alloc(a, (n + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)s[i] << 16;
        if (i + 1 < n) v |= (unsigned char)s[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)s[i + 2];
        *o++ = b64chars[(v >> 18) & 63];
        *o++ = b64chars[(v >> 12) & 63];
        *o++ = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? b64chars[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* base64 (standard alphabet, padding optional); NULL when not base64 */
static char *b64decode(struct arena *a, const char *s)
{
    size_t n = strlen(s);
    char *out = arena_alloc(a, n + 1);
    size_t o = 0;
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=') {
            for (; i < n; i++)
                if (s[i] != '=')
                    return NULL;
            break;
        }
        const char *p = strchr(b64chars, s[i]);
        if (!p || !s[i])
            return NULL;
        v = (v << 6) | (unsigned)(p - b64chars);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((v >> bits) & 0xFF);
        }
    }
    out[o] = '\0';
    return memchr(out, '\0', o) ? NULL : out;
}

/* MLflow's records cursor: base64("created_time:dataset_record_id"), or a plain offset */
static int records_token(struct arena *a, const char *token, int64_t *after_time, const char **after_id,
                         int64_t *offset, struct error *err)
{
    *after_time = -1;
    *after_id = NULL;
    *offset = 0;
    if (!token || !*token)
        return 0;
    char *dec = b64decode(a, token);
    char *colon = dec ? strchr(dec, ':') : NULL;
    if (colon) {
        *colon = '\0';
        if (!parse_int64(dec, after_time) && *after_time >= 0) {
            *after_id = colon + 1;
            return 0;
        }
    }
    if (!parse_int64(token, offset) && *offset >= 0 && strspn(token, "0123456789") == strlen(token))
        return 0;
    return error_set(err, BAD, "Invalid page token '%.100s' for dataset records", token);
}

/* GET datasets/{dataset_id}/records: [] for an unknown dataset, as MLflow */
int api_get_eval_records(struct request *req, struct response *resp, struct error *err)
{
    int64_t max_results = RECORDS_DEFAULT_PAGE, after_time, offset;
    const char *token = NULL, *after_id;
    bool present;
    if (json_get_int64(req->input, "max_results", false, &max_results, &present, err) ||
        json_get_string(req->input, "page_token", false, &token, err))
        return -1;
    if (max_results == 0)   /* `max_results or 1000` */
        max_results = RECORDS_DEFAULT_PAGE;
    if (max_results < 0 || max_results > RECORDS_MAX_PAGE)
        return error_set(err, BAD, "Invalid value %" PRId64 " for parameter 'max_results' supplied. It must be "
                         "a positive integer no greater than %d", max_results, RECORDS_MAX_PAGE);
    if (records_token(req->arena, token, &after_time, &after_id, &offset, err))
        return -1;
    struct eval_record *recs;
    size_t n;
    if (store_get_eval_records(req->arena, dataset_id_param(req), after_time, after_id, offset, max_results + 1,
                               &recs, &n, err))
        return -1;
    size_t shown = n > (size_t)max_results ? (size_t)max_results : n;
    struct strbuf inner;
    sb_init(&inner, req->arena, 1024);
    sb_putc(&inner, '[');
    for (size_t i = 0; i < shown; i++) {
        if (i)
            sb_puts(&inner, ", ");
        write_record(&inner, &recs[i]);
    }
    sb_putc(&inner, ']');
    struct jw w;
    reply_begin(resp, &w);
    jw_kstr(&w, "records", inner.buf);
    if (n > shown) {
        const struct eval_record *last = &recs[shown - 1];
        jw_kstr(&w, "next_page_token", b64encode(req->arena, arena_printf(req->arena, "%" PRId64 ":%s",
                                                                          last->created_time,
                                                                          last->dataset_record_id)));
    }
    reply_end(&w);
    return 0;
}

/* DELETE datasets/{dataset_id}/records */
int api_delete_eval_records(struct request *req, struct response *resp, struct error *err)
{
    const char **ids;
    size_t n;
    int64_t deleted = 0;
    if (get_string_list(req, "dataset_record_ids", &ids, &n, err))
        return -1;
    if (n > RECORDS_MAX_DELETE)
        return error_set(err, BAD, "At most %d dataset_record_ids are accepted in one request; got %zu",
                         RECORDS_MAX_DELETE, n);
    if (n && store_delete_eval_records(dataset_id_param(req), ids, n, &deleted, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_kint64(&w, "deleted_count", deleted);
    reply_end(&w);
    return 0;
}

/* ---- the UI's "Run evaluation" (POST ajax-api/3.0/mlflow/genai/evaluate/invoke) ----
 * MLflow validates the request, then hands mlflow.genai.evaluate to its job
 * runner. Cairn runs no Python scorers: after the same validation it answers
 * as MLflow does with job execution off, without first creating the run
 * that MLflow then marks FAILED. */
int api_genai_evaluate_invoke(struct request *req, struct response *resp, struct error *err)
{
    if (strncmp(req->original_path, "/ajax-api/", 10))   /* MLflow serves it under ajax-api only */
        return error_set(err, ERR_ENDPOINT_NOT_FOUND, "Not Found");
    const char *exp = NULL;
    const char **trace_ids;
    size_t n_traces;
    const cJSON *scorers = cJSON_GetObjectItemCaseSensitive(req->input, "serialized_scorers");
    const cJSON *versions = cJSON_GetObjectItemCaseSensitive(req->input, "scorer_versions");
    if (json_get_string(req->input, "experiment_id", true, &exp, err))
        return -1;
    if (!cJSON_GetObjectItemCaseSensitive(req->input, "trace_ids"))
        return json_missing("trace_ids", err);
    if (get_string_list(req, "trace_ids", &trace_ids, &n_traces, err))
        return -1;
    if (!scorers)
        return json_missing("serialized_scorers", err);
    if (!cJSON_IsArray(scorers) || (versions && !cJSON_IsArray(versions)))
        return json_invalid_type(cJSON_IsArray(scorers) ? versions : scorers,
                                 cJSON_IsArray(scorers) ? "scorer_versions" : "serialized_scorers", err);
    if (!n_traces)
        return error_set(err, BAD, "Please select at least one trace to evaluate.");
    if (!scorers->child)
        return error_set(err, BAD, "Please select at least one judge.");
    if (versions && cJSON_GetArraySize(versions) != cJSON_GetArraySize(scorers))
        return error_set(err, BAD, "scorer_versions must have the same length as serialized_scorers");
    return error_set(err, ERR_NOT_IMPLEMENTED, "Mlflow server job execution feature is not enabled, please set "
                     "environment variable 'MLFLOW_SERVER_ENABLE_JOB_EXECUTION' to 'true' to enable it. (Cairn "
                     "does not run evaluation jobs: run mlflow.genai.evaluate from a client.)");
}
