#include "common.h"
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void reply_begin(struct response *resp, struct jw *w)
{
    jw_init(w, &resp->body);
    jw_obj(w);
}

void reply_end(struct jw *w)
{
    jw_obj_end(w);
}

int reply_empty(struct response *resp)
{
    sb_puts(&resp->body, "{}");
    return 0;
}

int get_run_id(const cJSON *in, const char **run_id, struct error *err)
{
    const char *id = NULL, *uuid = NULL;
    if (json_get_string(in, "run_id", false, &id, err) || json_get_string(in, "run_uuid", false, &uuid, err))
        return -1;
    if (id && *id) {
        *run_id = id;
    } else if (uuid && *uuid) {
        *run_id = uuid;
    } else {
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "Missing value for required parameter 'run_id'. "
                         "See the API docs for more information about request parameters.");
    }
    return 0;
}

int get_experiment_id(const cJSON *in, const char *field, int64_t *id, struct error *err)
{
    const char *s = NULL;
    if (json_get_string(in, field, true, &s, err))
        return -1;   /* a JSON number too: MLflow's schema wants a string (issue 20) */
    return parse_experiment_id(s, id, err);
}

int get_experiment_id_lenient(const cJSON *in, const char *field, int64_t *id, struct error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
    if (v && cJSON_IsNumber(v))
        return parse_experiment_id(v->valuestring, id, err);
    return get_experiment_id(in, field, id, err);
}

int get_string_list(const struct request *req, const char *field, const char ***out, size_t *n,
                    struct error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req->input, field);
    if (v && cJSON_IsString(v) && strcmp(req->method, "GET"))   /* a JSON body must give a list */
        return json_invalid_type(v, field, err);
    return json_get_string_array(req->arena, req->input, field, out, n, err);
}

int get_view_type(const cJSON *in, const char *field, enum view_type *out, struct error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
    *out = VIEW_ACTIVE_ONLY;
    if (!v || cJSON_IsNull(v))
        return 0;
    static const struct { const char *name; enum view_type t; } names[] = {
        { "ACTIVE_ONLY", VIEW_ACTIVE_ONLY }, { "DELETED_ONLY", VIEW_DELETED_ONLY }, { "ALL", VIEW_ALL },
        { "1", VIEW_ACTIVE_ONLY }, { "2", VIEW_DELETED_ONLY }, { "3", VIEW_ALL },
    };
    const char *s = cJSON_IsString(v) || cJSON_IsNumber(v) ? v->valuestring : NULL;
    for (size_t i = 0; s && i < sizeof names / sizeof *names; i++)
        if (!strcmp(s, names[i].name)) {
            *out = names[i].t;
            return 0;
        }
    return invalid_value_error(err, field, s ? s : "?", "must be one of ACTIVE_ONLY, DELETED_ONLY, ALL");
}

int get_kv_list(struct arena *a, const cJSON *in, const char *field, struct kv **out, size_t *n,
                struct error *err)
{
    const cJSON *first;
    if (json_get_object_array(in, field, &first, n, err))
        return -1;
    *out = arena_alloc(a, (*n ? *n : 1) * sizeof **out);
    size_t i = 0;
    for (const cJSON *e = first; e; e = e->next, i++) {
        const char *k = NULL, *v = NULL;
        if (json_get_string(e, "key", false, &k, err) || json_get_string(e, "value", false, &v, err))
            return -1;
        (*out)[i].key = k;
        (*out)[i].value = v;
    }
    return 0;
}

int get_tag_list(struct arena *a, const cJSON *in, const char *field, struct kv **out, size_t *n,
                 struct error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, field);
    *out = NULL;
    *n = 0;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsArray(v))
        return json_invalid_type(v, field, err);
    size_t count = (size_t)cJSON_GetArraySize(v), i = 0;
    *out = arena_alloc(a, (count ? count : 1) * sizeof **out);
    for (const cJSON *e = v->child; e; e = e->next) {
        struct kv *t = &(*out)[i++];
        t->key = "";
        t->value = "";
        if (!cJSON_IsObject(e))
            break;   /* protobuf stops here, the entry it started left empty */
        bool stop = false;
        for (const cJSON *f = e->child; f && !stop; f = f->next) {
            bool is_key = !strcmp(f->string, "key"), is_value = !strcmp(f->string, "value");
            if ((!is_key && !is_value) || cJSON_IsNull(f))
                continue;
            if (cJSON_IsString(f)) {
                *(is_key ? &t->key : &t->value) = f->valuestring;
            } else if (is_key || !*t->key) {
                t->key = "";   /* parsing stops before a key: MLflow's store sees "" */
                stop = true;
            } else {
                /* a bad value after a good key: MLflow keeps the tag with an
                 * empty value and answers 200; Cairn refuses it (DIFFERENCES.md) */
                return json_invalid_type(f, "value", err);
            }
        }
        if (stop)
            break;
    }
    *n = i;
    return 0;
}

/* ---- page tokens ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const char *page_token_encode(struct arena *a, int64_t offset)
{
    char json[48];
    int n = snprintf(json, sizeof json, "{\"offset\": %" PRId64 "}", offset);
    char *out = arena_alloc(a, (size_t)(n + 2) / 3 * 4 + 1);
    int o = 0;
    for (int i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)json[i] << 16;
        if (i + 1 < n) v |= (unsigned char)json[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)json[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

int page_token_decode(struct arena *a, const char *token, int64_t *offset, struct error *err)
{
    *offset = 0;
    if (!token || !*token)
        return 0;
    size_t len = strlen(token);
    char *dec = arena_alloc(a, len + 1);
    size_t o = 0;
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        char c = token[i];
        if (c == '=')
            break;
        const char *p = c ? strchr(b64, c) : NULL;
        if (c == '-') p = b64 + 62;     /* urlsafe alphabet too */
        if (c == '_') p = b64 + 63;
        if (!p)
            goto bad;
        v = (v << 6) | (unsigned)(p - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dec[o++] = (char)((v >> bits) & 0xFF);
        }
    }
    dec[o] = '\0';
    struct error perr;
    cJSON *j = json_parse(a, dec, o, &perr);
    int64_t off;
    bool present;
    if (!j || !cJSON_IsObject(j) || json_get_int64(j, "offset", true, &off, &present, &perr) || off <= 0)
        goto bad;
    *offset = off;
    return 0;
bad:
    return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid page token, could not base64-decode");
}

int get_max_results(const cJSON *in, enum max_results_rule rule, int64_t dflt, int64_t max, int64_t *out,
                    struct error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, "max_results");
    bool present;
    *out = dflt;
    if (v && cJSON_IsNull(v))
        v = NULL;
    if (rule == MAXR_EXPERIMENTS && (!v || cJSON_IsBool(v) || (cJSON_IsNumber(v) && parse_int64(v->valuestring, out)))) {
        /* SearchExperiments has no default: protobuf leaves the field 0 when
         * it is absent or unparsable (a bool, a fraction), and MLflow's store
         * refuses 0 */
        *out = 0;
    } else {
        if (json_get_int64(in, "max_results", false, out, &present, err))
            return -1;
        if (!present)
            *out = dflt;
    }
    if (*out > max) {
        if (rule == MAXR_EXPERIMENTS)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                             "Invalid value %" PRId64 " for parameter 'max_results' supplied. It must be at most %"
                             PRId64, *out, max);
        return json_invalid_type(v, "max_results", err);   /* the handler's own bound: the schema message */
    }
    if (*out < 1) {
        if (rule == MAXR_MODEL_VERSIONS)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                             "Invalid value for max_results. It must be a positive integer, but got %" PRId64, *out);
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "Invalid value %" PRId64 " for parameter 'max_results' supplied. It must be a positive integer",
                         *out);
    }
    return 0;
}

int reply_page(struct request *req, struct response *resp, const char *field, const void *items, size_t n,
               size_t item_size, item_writer write, int64_t max_results, int64_t offset)
{
    struct jw w;
    reply_begin(resp, &w);
    size_t shown = n > (size_t)max_results ? (size_t)max_results : n;
    if (shown) {
        jw_karr(&w, field);
        for (size_t i = 0; i < shown; i++)
            write(&w, (const char *)items + i * item_size);
        jw_arr_end(&w);
    }
    if (n > shown)
        jw_kstr(&w, "next_page_token", page_token_encode(req->arena, offset + max_results));
    reply_end(&w);
    return 0;
}

/* ---- entity writers ---- */

void write_tags(struct jw *w, const char *key, const struct kv *tags, size_t n)
{
    if (!n)
        return;   /* empty repeated fields are omitted, as protobuf does */
    jw_karr(w, key);
    for (size_t i = 0; i < n; i++) {
        jw_obj(w);
        jw_kstr(w, "key", tags[i].key);
        jw_kstr(w, "value", tags[i].value);
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

void write_experiment(struct jw *w, const struct experiment *e)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, e->experiment_id);
    jw_obj(w);
    jw_kstr(w, "experiment_id", id);
    jw_kstr(w, "name", e->name);
    jw_kstr(w, "artifact_location", e->artifact_location);
    jw_kstr(w, "lifecycle_stage", e->lifecycle_stage);
    jw_kint64(w, "last_update_time", e->last_update_time);
    jw_kint64(w, "creation_time", e->creation_time);
    write_tags(w, "tags", e->tags, e->n_tags);
    jw_kstr(w, "workspace", "default");   /* MLflow 3.17 names the (only) workspace */
    jw_obj_end(w);
}

void write_metric_value(struct jw *w, const struct metric *m)
{
    /* MLflow's SQL store keeps ±Inf as ±DBL_MAX and returns that number */
    double v = isinf(m->value) ? (m->value > 0 ? DBL_MAX : -DBL_MAX) : m->value;
    if (m->value_text && isfinite(m->value))
        jw_number_text(w, m->value_text);   /* PostgreSQL's text is already the shortest exact form */
    else
        jw_double(w, v);
}

void write_metric(struct jw *w, const struct metric *m)
{
    jw_obj(w);
    jw_kstr(w, "key", m->key);
    jw_key(w, "value");
    write_metric_value(w, m);
    jw_kint64(w, "timestamp", m->timestamp);
    jw_kint64(w, "step", m->step);
    jw_kstr(w, "dataset_name", m->dataset_name);
    jw_kstr(w, "dataset_digest", m->dataset_digest);
    jw_kstr(w, "model_id", m->model_id);
    jw_kstr(w, "run_id", m->run_id);
    jw_obj_end(w);
}

void write_run_info(struct jw *w, const struct run_info *ri)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, ri->experiment_id);
    jw_obj(w);
    jw_kstr(w, "run_uuid", ri->run_id);
    jw_kstr(w, "run_name", ri->run_name);
    jw_kstr(w, "experiment_id", id);
    jw_kstr(w, "user_id", ri->user_id);
    jw_kstr(w, "status", ri->status);
    jw_kint64(w, "start_time", ri->start_time);
    if (ri->has_end_time)
        jw_kint64(w, "end_time", ri->end_time);
    jw_kstr(w, "artifact_uri", ri->artifact_uri);
    jw_kstr(w, "lifecycle_stage", ri->lifecycle_stage);
    jw_kstr(w, "run_id", ri->run_id);
    jw_obj_end(w);
}

static void write_model_ios(struct jw *w, const char *key, const struct model_io *m, size_t n, bool with_step)
{
    if (!n)
        return;
    jw_karr(w, key);
    for (size_t i = 0; i < n; i++) {
        jw_obj(w);
        jw_kstr(w, "model_id", m[i].model_id);
        if (with_step)
            jw_kint64(w, "step", m[i].step);
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

void write_run(struct jw *w, const struct run *r, bool with_model_inputs, bool with_outputs)
{
    jw_obj(w);
    jw_key(w, "info");
    write_run_info(w, &r->info);
    jw_kobj(w, "data");
    if (r->n_metrics) {
        jw_karr(w, "metrics");
        for (size_t i = 0; i < r->n_metrics; i++)
            write_metric(w, &r->metrics[i]);
        jw_arr_end(w);
    }
    write_tags(w, "params", r->params, r->n_params);
    write_tags(w, "tags", r->tags, r->n_tags);
    jw_obj_end(w);
    jw_kobj(w, "inputs");
    if (r->n_inputs) {
        jw_karr(w, "dataset_inputs");
        for (size_t i = 0; i < r->n_inputs; i++) {
            const struct dataset_input *di = &r->inputs[i];
            jw_obj(w);
            write_tags(w, "tags", di->tags, di->n_tags);
            jw_kobj(w, "dataset");
            jw_kstr(w, "name", di->dataset.name);
            jw_kstr(w, "digest", di->dataset.digest);
            jw_kstr(w, "source_type", di->dataset.source_type);
            jw_kstr(w, "source", di->dataset.source);
            jw_kstr(w, "schema", di->dataset.schema);
            jw_kstr(w, "profile", di->dataset.profile);
            jw_obj_end(w);
            jw_obj_end(w);
        }
        jw_arr_end(w);
    }
    if (with_model_inputs)
        write_model_ios(w, "model_inputs", r->model_inputs, r->n_model_inputs, false);
    jw_obj_end(w);
    if (with_outputs) {
        jw_kobj(w, "outputs");
        write_model_ios(w, "model_outputs", r->model_outputs, r->n_model_outputs, true);
        jw_obj_end(w);
    }
    jw_obj_end(w);
}
