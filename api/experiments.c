/* /api/2.0/mlflow/experiments/… */
#include "common.h"
#include "search_filter.h"
#include "artifacts_api.h"
#include "../store/paths.h"
#include <string.h>

#define SEARCH_EXPERIMENTS_MAX 50000

static int validate_tag_list(struct kv *tags, size_t n, struct error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (!tags[i].key)
            tags[i].key = "";   /* protobuf's default: MLflow's name check refuses it */
        if (!tags[i].value)
            tags[i].value = "";
        if (validate_key_name(tags[i].key, "key", err) ||
            validate_length("key", tags[i].key, MAX_EXPERIMENT_TAG_KEY_LENGTH, err) ||
            validate_length("value", tags[i].value, MAX_EXPERIMENT_TAG_VAL_LENGTH, err))
            return -1;
    }
    return 0;
}

int api_create_experiment(struct request *req, struct response *resp, struct error *err)
{
    const char *name = NULL, *location = NULL;
    struct kv *tags;
    size_t n_tags;
    if (json_get_string(req->input, "name", true, &name, err) ||
        json_get_string(req->input, "artifact_location", false, &location, err) ||
        get_tag_list(req->arena, req->input, "tags", &tags, &n_tags, err))
        return -1;
    if (validate_length("name", name, MAX_EXPERIMENT_NAME_LENGTH, err) || validate_tag_list(tags, n_tags, err))
        return -1;
    if (location && !*location)
        location = NULL;
    /* issue 20: MLflow refuses a location on a host other than the artifact root's */
    if (location && check_host_addressed(req->arena, location, "artifact_location", err))
        return -1;
    if (location && utf8_len(location) > MAX_ARTIFACT_LOCATION_LENGTH)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "Invalid artifact location: its length exceeds the maximum of %d characters.",
                         MAX_ARTIFACT_LOCATION_LENGTH);
    if (location && !strncmp(location, "runs:", 5))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "Artifact location cannot be a runs:/ URI. Given: '%s'", location);
    /* issue 20: a relative location lives under the default artifact root */
    if (location && artifact_location_resolve_relative(req->arena, location, api_config.default_artifact_root,
                                                       &location, err))
        return -1;
    /* issue 3: never let a client choose a server-local path outside the artifact roots */
    if (location && check_artifact_location(req->arena, location, err))
        return -1;
    int64_t id;
    if (store_create_experiment(req->arena, name, location, api_config.default_artifact_root, tags, n_tags, &id, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_kstr(&w, "experiment_id", arena_printf(req->arena, "%lld", (long long)id));
    reply_end(&w);
    return 0;
}

static int reply_experiment(struct response *resp, const struct experiment *e)
{
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "experiment");
    write_experiment(&w, e);
    reply_end(&w);
    return 0;
}

int api_get_experiment(struct request *req, struct response *resp, struct error *err)
{
    int64_t id;
    struct experiment e;
    if (get_experiment_id(req->input, "experiment_id", &id, err) || store_get_experiment(req->arena, id, &e, err))
        return -1;
    return reply_experiment(resp, &e);
}

int api_get_experiment_by_name(struct request *req, struct response *resp, struct error *err)
{
    const char *name;
    struct experiment e;
    if (json_get_string(req->input, "experiment_name", true, &name, err) ||
        store_get_experiment_by_name(req->arena, name, &e, err))
        return -1;
    return reply_experiment(resp, &e);
}

static void experiment_item(struct jw *w, const void *e)
{
    write_experiment(w, e);
}

int api_search_experiments(struct request *req, struct response *resp, struct error *err)
{
    struct experiment_search s = { 0 };
    const char *filter = NULL, *token = NULL;
    const char **order_by;
    size_t n_order;
    int64_t max_results;
    if (get_max_results(req->input, MAXR_EXPERIMENTS, 1000, SEARCH_EXPERIMENTS_MAX, &max_results, err) ||
        json_get_string(req->input, "filter", false, &filter, err) ||
        json_get_string(req->input, "page_token", false, &token, err) ||
        get_string_list(req, "order_by", &order_by, &n_order, err) ||
        get_view_type(req->input, "view_type", &s.view, err) ||
        page_token_decode(req->arena, token, &s.offset, err) ||
        sf_parse_experiment_filter(req->arena, filter, &s.filter, err) ||
        sf_parse_experiment_order_by(req->arena, order_by, n_order, &s.order, err))
        return -1;
    s.limit = max_results + 1;
    struct experiment *exps;
    size_t n;
    if (store_search_experiments(req->arena, &s, &exps, &n, err))
        return -1;
    return reply_page(req, resp, "experiments", exps, n, sizeof *exps, experiment_item, max_results, s.offset);
}

int api_update_experiment(struct request *req, struct response *resp, struct error *err)
{
    int64_t id;
    const char *eid, *name;
    /* MLflow's schema first (both required strings), then the id */
    if (json_get_string(req->input, "experiment_id", true, &eid, err) ||
        json_get_string(req->input, "new_name", true, &name, err) ||
        parse_experiment_id(eid, &id, err) ||
        validate_length("name", name, MAX_EXPERIMENT_NAME_LENGTH, err))
        return -1;
    if (store_rename_experiment(id, name, err)) {
        if (err->code == ERR_RESOURCE_ALREADY_EXISTS)
            err->code = ERR_BAD_REQUEST;   /* MLflow's rename fails on the unique index: BAD_REQUEST */
        return -1;
    }
    return reply_empty(resp);
}

static int set_lifecycle(struct request *req, struct response *resp, struct error *err, bool deleted)
{
    int64_t id;
    if (get_experiment_id(req->input, "experiment_id", &id, err) || store_set_experiment_lifecycle(id, deleted, err))
        return -1;
    return reply_empty(resp);
}

int api_delete_experiment(struct request *req, struct response *resp, struct error *err)
{
    return set_lifecycle(req, resp, err, true);
}

int api_restore_experiment(struct request *req, struct response *resp, struct error *err)
{
    return set_lifecycle(req, resp, err, false);
}

int api_set_experiment_tag(struct request *req, struct response *resp, struct error *err)
{
    int64_t id;
    struct kv tag = { 0 };
    const char *eid;
    if (json_get_string(req->input, "experiment_id", true, &eid, err) ||
        json_get_string(req->input, "key", true, &tag.key, err) ||
        json_get_string(req->input, "value", false, &tag.value, err) ||
        parse_experiment_id(eid, &id, err) ||
        validate_tag_list(&tag, 1, err) ||
        store_set_experiment_tag(id, tag.key, tag.value, err))
        return -1;
    return reply_empty(resp);
}

int api_delete_experiment_tag(struct request *req, struct response *resp, struct error *err)
{
    int64_t id;
    const char *key, *eid;
    if (json_get_string(req->input, "experiment_id", true, &eid, err) ||
        json_get_string(req->input, "key", true, &key, err) ||
        parse_experiment_id(eid, &id, err) ||
        store_delete_experiment_tag(id, key, err))
        return -1;
    return reply_empty(resp);
}
