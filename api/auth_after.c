/* After-request work of the basic-auth app (issue 16), as MLflow's
 * AFTER_REQUEST_HANDLERS do it: the creator of an experiment, registered
 * model or prompt gets MANAGE; a deleted or renamed model's grants follow it;
 * search results are filtered to what the caller may read, re-fetching
 * pages to fill max_results as MLflow does. */
#include "auth.h"
#include "common.h"
#include "handlers.h"
#include "../store/auth_store.h"
#include "../store/mcp_servers.h"
#include "../store/paths.h"
#include <stdio.h>
#include <string.h>

/* ---- a cJSON tree back to text, numbers as their literal text ---- */

static void write_node(struct strbuf *sb, const cJSON *n)
{
    if (cJSON_IsObject(n) || cJSON_IsArray(n)) {
        bool obj = cJSON_IsObject(n);
        sb_putc(sb, obj ? '{' : '[');
        for (const cJSON *c = n->child; c; c = c->next) {
            if (c != n->child)
                sb_putc(sb, ',');
            if (obj) {
                json_escape(sb, c->string, strlen(c->string));   /* quotes included */
                sb_putc(sb, ':');
            }
            write_node(sb, c);
        }
        sb_putc(sb, obj ? '}' : ']');
    } else if (cJSON_IsString(n)) {
        json_escape(sb, n->valuestring, strlen(n->valuestring));
    } else if (cJSON_IsNumber(n)) {
        if (n->valuestring)
            sb_puts(sb, n->valuestring);
        else
            sb_printf(sb, "%.17g", n->valuedouble);
    } else if (cJSON_IsBool(n)) {
        sb_puts(sb, cJSON_IsTrue(n) ? "true" : "false");
    } else {
        sb_puts(sb, "null");
    }
}

static cJSON *parse_body(struct request *req, const struct response *resp, struct error *err)
{
    return json_parse(req->arena, resp->body.buf, resp->body.len, err);
}

static const char *str_at(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool entity_is_prompt(const cJSON *entity)
{
    const cJSON *t, *tags = cJSON_GetObjectItemCaseSensitive(entity, "tags");
    bool prompt = false;
    cJSON_ArrayForEach(t, (cJSON_IsArray(tags) ? tags : NULL)) {
        const char *k = str_at(t, "key"), *v = str_at(t, "value");
        if (k && v && !strcmp(k, "mlflow.prompt.is_prompt"))
            prompt = !strcasecmp(v, "true");
    }
    return prompt;
}

/* ---- redaction of sibling references (MLflow's redact_* after-request handlers) ----
 * A row the caller may read can still name a run, logged model or assessment whose tier a
 * DENY withholds; those fields are cleared, as MLflow clears them. A body that names none of
 * the watched fields is not parsed. */

struct redactor {
    struct request *req;
    struct error *err;
    const struct auth_grants *gs;
    bool failed, changed;
};

static const struct auth_grants *grants(struct redactor *r)
{
    if (!r->gs && !r->failed) {
        r->gs = auth_load_grants(r->req, r->err);
        r->failed = !r->gs;
    }
    return r->gs;
}

static bool denied(struct redactor *r, const char *tier)
{
    const struct auth_grants *gs = grants(r);
    return gs && auth_tier_denied(gs, tier);
}

/* clears a field that carries a value (an empty one is absent on the wire too) */
static bool clear_field(struct redactor *r, cJSON *obj, const char *key)
{
    cJSON *v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    if (!v || (cJSON_IsString(v) && !*v->valuestring) || ((cJSON_IsArray(v) || cJSON_IsObject(v)) && !v->child))
        return false;
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    r->changed = true;
    return true;
}

static cJSON *at(cJSON *o, const char *k)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

#define EACH(it, arr) for (cJSON *it = cJSON_IsArray(arr) ? (arr)->child : NULL; it; it = it->next)

/* _withhold_denied_version_siblings */
static void version_siblings(struct redactor *r, cJSON *v)
{
    static const char *const run_fields[] = { "run_id", "run_link" };
    static const char *const model_fields[] = { "model_id", "model_params", "model_metrics" };
    bool has_run = false, has_model = false;
    for (size_t i = 0; i < 2; i++)
        has_run |= at(v, run_fields[i]) != NULL;
    for (size_t i = 0; i < 3; i++)
        has_model |= at(v, model_fields[i]) != NULL;
    if (has_run && denied(r, "run"))
        for (size_t i = 0; i < 2; i++)
            clear_field(r, v, run_fields[i]);
    if (has_model && denied(r, "logged_model"))
        for (size_t i = 0; i < 3; i++)
            clear_field(r, v, model_fields[i]);
}

/* _withhold_denied_latest_versions, then the siblings of the versions that stay */
static void registered_model(struct redactor *r, cJSON *rm)
{
    const char *name = str_at(rm, "name");
    cJSON *lv = at(rm, "latest_versions");
    if (!lv || !lv->child)
        return;
    bool prompt = entity_is_prompt(rm);
    const struct auth_grants *gs = grants(r);
    if (gs && !auth_row_readable(gs, prompt ? "prompt" : "registered_model", name ? name : "",
                                 prompt ? "prompt_version" : "registered_model_version")) {
        clear_field(r, rm, "latest_versions");
        return;
    }
    EACH(v, lv)
        version_siblings(r, v);
}

/* _withhold_denied_metric_references: metric.<field> when tier is denied */
static void metric_refs(struct redactor *r, cJSON *metrics, const char *field, const char *tier)
{
    bool named = false;
    EACH(m, metrics)
        named |= str_at(m, field) && *str_at(m, field);
    if (named && denied(r, tier))
        EACH(m, metrics)
            clear_field(r, m, field);
}

/* a logged model's source run and its metrics' run ids (run tier) */
static void logged_model(struct redactor *r, cJSON *m)
{
    metric_refs(r, at(at(m, "data"), "metrics"), "run_id", "run");
    cJSON *info = at(m, "info");
    if (str_at(info, "source_run_id") && *str_at(info, "source_run_id") && denied(r, "run"))
        clear_field(r, info, "source_run_id");
}

/* _withhold_denied_run_model_links (logged_model tier) */
static void run_model_links(struct redactor *r, cJSON *run)
{
    cJSON *in = at(at(run, "inputs"), "model_inputs"), *out = at(at(run, "outputs"), "model_outputs");
    cJSON *metrics = at(at(run, "data"), "metrics");
    bool linked = (in && in->child) || (out && out->child);
    EACH(m, metrics)
        linked |= str_at(m, "model_id") && *str_at(m, "model_id");
    if (!linked || !denied(r, "logged_model"))
        return;
    clear_field(r, at(run, "inputs"), "model_inputs");
    clear_field(r, at(run, "outputs"), "model_outputs");
    EACH(m, metrics)
        clear_field(r, m, "model_id");
}

/* _withhold_denied_trace_metadata_siblings: v2's [{key, value}] list or v3's map */
static void trace_metadata(struct redactor *r, cJSON *md)
{
    static const char *const keys[] = { "mlflow.sourceRun", "mlflow.modelId" };
    static const char *const tiers[] = { "run", "logged_model" };
    if (!md || !md->child)
        return;
    for (size_t k = 0; k < 2; k++) {
        bool present = false;
        if (cJSON_IsObject(md))
            present = cJSON_GetObjectItemCaseSensitive(md, keys[k]) != NULL;
        else
            EACH(e, md)
                present |= str_at(e, "key") && !strcmp(str_at(e, "key"), keys[k]);
        if (!present || !denied(r, tiers[k]))
            continue;
        if (cJSON_IsObject(md)) {
            cJSON_DeleteItemFromObjectCaseSensitive(md, keys[k]);
        } else {
            for (cJSON *e = md->child, *next; e; e = next) {
                next = e->next;
                if (str_at(e, "key") && !strcmp(str_at(e, "key"), keys[k]))
                    cJSON_Delete(cJSON_DetachItemViaPointer(md, e));
            }
        }
        r->changed = true;
    }
}

/* _withhold_denied_assessments (the trace's experiment as fallback), then the metadata */
static void trace_info_v3(struct redactor *r, cJSON *info)
{
    cJSON *as = at(info, "assessments");
    if (as && as->child) {
        const char *exp = str_at(at(at(info, "trace_location"), "mlflow_experiment"), "experiment_id");
        const struct auth_grants *gs = grants(r);
        if (gs && !auth_tier_readable_in(gs, "assessment", exp ? exp : ""))
            clear_field(r, info, "assessments");
    }
    trace_metadata(r, at(info, "trace_metadata"));
}

/* filter_list_artifacts_proxy: an experiment root lists one directory per run */
static void artifact_listing(struct redactor *r, cJSON *body)
{
    const char *raw = NULL, *path;
    struct error ignored;
    for (size_t i = 0; i < r->req->n_query; i++)
        if (!strcmp(r->req->query[i].key, "path"))
            raw = r->req->query[i].value;
    if (!raw || !*raw || path_sanitize(r->req->arena, raw, &path, &ignored))
        return;
    size_t digits = strspn(path, "0123456789");
    if (!digits || path[digits + strspn(path + digits, "/")] != '\0')
        return;
    const struct auth_grants *gs = grants(r);
    if (!gs || auth_tier_readable_in(gs, "run", arena_strndup(r->req->arena, path, digits)))
        return;
    cJSON *files = at(body, "files");
    for (cJSON *f = cJSON_IsArray(files) ? files->child : NULL, *next; f; f = next) {
        next = f->next;
        const char *p = str_at(f, "path");
        if (p && strlen(p) == 32 && strspn(p, "0123456789abcdef") == 32) {
            cJSON_Delete(cJSON_DetachItemViaPointer(files, f));
            r->changed = true;
        }
    }
}

/* ---- readability of one search row (the same rules as the point routes) ---- */

struct reader {
    struct request *req;
    struct error *err;
    enum auth_rule rule;
    const struct auth_grants *gs;
};

static bool can(struct reader *r, const char *type, const char *id, const char *tier)
{
    return auth_row_readable(r->gs, type, id, tier);
}

static bool keep_row(struct reader *r, const cJSON *row)
{
    switch (r->rule) {
    case AUTH_EXP_SEARCH:
        return can(r, "experiment", str_at(row, "experiment_id") ? str_at(row, "experiment_id") : "", NULL);
    case AUTH_LM_SEARCH: {
        const char *e = str_at(cJSON_GetObjectItemCaseSensitive(row, "info"), "experiment_id");
        return can(r, "experiment", e ? e : "", "logged_model");
    }
    case AUTH_RM_SEARCH: {
        const char *name = str_at(row, "name");
        return can(r, entity_is_prompt(row) ? "prompt" : "registered_model", name ? name : "", NULL);
    }
    case AUTH_MV_SEARCH: {
        const char *name = str_at(row, "name");
        bool prompt = entity_is_prompt(row);
        return can(r, prompt ? "prompt" : "registered_model", name ? name : "",
                   prompt ? "prompt_version" : "registered_model_version");
    }
    default:
        return true;
    }
}

static const char *rows_field(enum auth_rule rule)
{
    switch (rule) {
    case AUTH_EXP_SEARCH: return "experiments";
    case AUTH_LM_SEARCH: return "models";
    case AUTH_RM_SEARCH: return "registered_models";
    case AUTH_MV_SEARCH: return "model_versions";
    default: return NULL;
    }
}

/* Moves the readable rows of page into out; returns how many rows the page had. */
static size_t take_readable(struct reader *r, cJSON *page, const char *field, cJSON *out, size_t limit)
{
    cJSON *arr = cJSON_GetObjectItemCaseSensitive(page, field);
    size_t seen = 0;
    cJSON *row = cJSON_IsArray(arr) ? arr->child : NULL;
    while (row) {
        cJSON *next = row->next;
        seen++;
        if ((size_t)cJSON_GetArraySize(out) < limit && keep_row(r, row)) {
            cJSON_DetachItemViaPointer(arr, row);
            cJSON_AddItemToArray(out, row);
        }
        row = next;
    }
    return seen;
}

static void set_input(struct request *req, const char *key, const char *value)
{
    if (cJSON_GetObjectItemCaseSensitive(req->input, key))
        cJSON_ReplaceItemInObjectCaseSensitive(req->input, key, cJSON_CreateString(value));
    else
        cJSON_AddItemToObject(req->input, key, cJSON_CreateString(value));
}

static int filter_search(const struct route *route, struct request *req, struct response *resp,
                         struct error *err)
{
    const char *field = rows_field(route->auth);
    struct reader r = { req, err, route->auth, auth_load_grants(req, err) };
    if (!r.gs)
        return -1;
    cJSON *page = parse_body(req, resp, err);
    if (!page)
        return -1;
    json_set_thread_arena(req->arena);
    cJSON *kept = cJSON_CreateArray();
    const char *token = str_at(page, "next_page_token");
    size_t page_size = (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(page, field));
    take_readable(&r, page, field, kept, (size_t)-1);
    /* a full page came back (there is a next one): fill it up to its size, as MLflow re-fetches */
    while (token && route->auth != AUTH_MV_SEARCH && (size_t)cJSON_GetArraySize(kept) < page_size) {
        size_t want = page_size - (size_t)cJSON_GetArraySize(kept);
        set_input(req, "page_token", token);
        set_input(req, "max_results", arena_printf(req->arena, "%zu", want));
        struct response more = { .status = 200, .content_type = "application/json" };
        sb_init(&more.body, req->arena, 1024);
        json_set_thread_arena(NULL);
        if (route->handler(req, &more, err))
            return -1;
        cJSON *next = parse_body(req, &more, err);
        if (!next)
            return -1;
        json_set_thread_arena(req->arena);
        if (!take_readable(&r, next, field, kept, page_size)) {
            token = NULL;
            break;
        }
        token = str_at(next, "next_page_token");
    }
    /* the rows that stay still withhold what a denied tier would show (MLflow's second pass) */
    struct redactor rd = { .req = req, .err = err, .gs = r.gs };
    EACH(row, kept) {
        if (route->auth == AUTH_RM_SEARCH)
            registered_model(&rd, row);
        else if (route->auth == AUTH_MV_SEARCH)
            version_siblings(&rd, row);
        else if (route->auth == AUTH_LM_SEARCH)
            logged_model(&rd, row);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(page, field);
    cJSON_DeleteItemFromObjectCaseSensitive(page, "next_page_token");
    if (cJSON_GetArraySize(kept))
        cJSON_AddItemToObject(page, field, kept);
    if (token && route->auth != AUTH_MV_SEARCH)
        cJSON_AddItemToObject(page, "next_page_token", cJSON_CreateString(token));
    json_set_thread_arena(NULL);
    sb_init(&resp->body, req->arena, resp->body.len + 16);
    write_node(&resp->body, page);
    return 0;
}

static bool mentions(const struct response *resp, const char *const *words)
{
    for (; *words; words++)
        if (memmem(resp->body.buf, resp->body.len, *words, strlen(*words)))
            return true;
    return false;
}

static int redact(const struct route *route, struct request *req, struct response *resp, struct error *err)
{
    static const char *const version_words[] = { "\"run_id\"", "\"run_link\"", "\"model_id\"",
                                                 "\"model_params\"", "\"model_metrics\"", NULL };
    static const char *const lm_words[] = { "\"run_id\"", "\"source_run_id\"", NULL };
    static const char *const run_words[] = { "\"model_inputs\"", "\"model_outputs\"", "\"model_id\"", NULL };
    static const char *const model_id_words[] = { "\"model_id\"", NULL };
    static const char *const trace_words[] = { "mlflow.sourceRun", "mlflow.modelId", "\"assessments\"", NULL };
    static const char *const files_words[] = { "\"files\"", NULL };
    api_handler h = route->handler;
    const char *const *words =
        h == api_get_model_version || h == api_create_model_version || h == api_update_model_version ||
        h == api_transition_model_version_stage || h == api_get_model_version_by_alias ||
        h == api_get_latest_versions || h == api_get_registered_model || h == api_update_registered_model ||
        h == api_rename_registered_model ? version_words
        : h == api_get_logged_model || h == api_create_logged_model || h == api_finalize_logged_model ||
          h == api_set_logged_model_tags ? lm_words
        : h == api_get_run || h == api_search_runs ? run_words
        : h == api_get_metric_history ? model_id_words
        : h == api_start_trace_v2 || h == api_end_trace_v2 || h == api_get_trace_info_v2 ||
          h == api_search_traces_v2 || h == api_start_trace_v3 || h == api_get_trace ||
          h == api_get_trace_info_v3 || h == api_batch_get_traces || h == api_batch_get_trace_infos ||
          h == api_search_traces_v3 ? trace_words
        : h == api_artifact_list ? files_words : NULL;
    if (!words || !resp->body.len || !mentions(resp, words))
        return 0;
    cJSON *body = parse_body(req, resp, err);
    if (!body)
        return -1;
    struct redactor r = { .req = req, .err = err };
    json_set_thread_arena(req->arena);
    if (h == api_get_latest_versions) {
        EACH(v, at(body, "model_versions"))
            version_siblings(&r, v);
    } else if (words == version_words && at(body, "registered_model")) {
        registered_model(&r, at(body, "registered_model"));
    } else if (words == version_words) {
        version_siblings(&r, at(body, "model_version"));
    } else if (words == lm_words) {
        logged_model(&r, at(body, "model"));
    } else if (h == api_get_run) {
        run_model_links(&r, at(body, "run"));
    } else if (h == api_search_runs) {
        EACH(run, at(body, "runs"))
            run_model_links(&r, run);
    } else if (h == api_get_metric_history) {
        metric_refs(&r, at(body, "metrics"), "model_id", "logged_model");
    } else if (h == api_start_trace_v2 || h == api_end_trace_v2 || h == api_get_trace_info_v2) {
        trace_metadata(&r, at(at(body, "trace_info"), "request_metadata"));
    } else if (h == api_search_traces_v2) {
        EACH(t, at(body, "traces"))
            trace_metadata(&r, at(t, "request_metadata"));
    } else if (h == api_start_trace_v3) {
        trace_metadata(&r, at(at(at(body, "trace"), "trace_info"), "trace_metadata"));
    } else if (h == api_get_trace || h == api_get_trace_info_v3) {
        trace_info_v3(&r, at(at(body, "trace"), "trace_info"));
    } else if (h == api_batch_get_traces) {
        EACH(t, at(body, "traces"))
            trace_info_v3(&r, at(t, "trace_info"));
    } else if (h == api_batch_get_trace_infos || h == api_search_traces_v3) {
        EACH(t, at(body, h == api_search_traces_v3 ? "traces" : "trace_infos"))
            trace_info_v3(&r, t);
    } else if (h == api_artifact_list) {
        artifact_listing(&r, body);
    }
    json_set_thread_arena(NULL);
    if (r.failed)
        return -1;
    if (r.changed) {
        sb_init(&resp->body, req->arena, resp->body.len + 16);
        write_node(&resp->body, body);
    }
    return 0;
}

/* a string, or a number as its literal text (an experiment id sent either way) */
static const char *scalar_at(const cJSON *o, const char *k)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    return cJSON_IsString(v) || cJSON_IsNumber(v) ? v->valuestring : NULL;
}

/* filter_list_scorers: a row stays when its experiment and the scorer itself are readable (the
 * workspace tier as fallback) and the version tier is not denied */
static int filter_scorers(struct request *req, struct response *resp, struct error *err)
{
    static const char *const words[] = { "\"scorers\"", NULL };
    if (!resp->body.len || !mentions(resp, words))
        return 0;
    const struct auth_grants *gs = auth_load_grants(req, err);
    cJSON *body = gs ? parse_body(req, resp, err) : NULL;
    if (!body)
        return -1;
    cJSON *rows = cJSON_GetObjectItemCaseSensitive(body, "scorers");
    bool changed = false;
    for (cJSON *row = cJSON_IsArray(rows) ? rows->child : NULL, *next; row; row = next) {
        next = row->next;
        const char *e = scalar_at(row, "experiment_id"), *name = str_at(row, "scorer_name");
        if (e && name && auth_row_readable(gs, "experiment", e, "scorer_version") &&
            auth_row_readable(gs, "scorer", auth_scorer_pattern(req->arena, e, name), NULL))
            continue;
        cJSON_DetachItemViaPointer(rows, row);
        changed = true;
    }
    if (!changed)
        return 0;
    if (!cJSON_GetArraySize(rows))
        cJSON_DetachItemFromObjectCaseSensitive(body, "scorers");   /* arena memory: never freed one by one */
    sb_init(&resp->body, req->arena, resp->body.len);
    write_node(&resp->body, body);
    return 0;
}

static int grant_creator(struct request *req, const char *type, const char *id, struct error *err)
{
    return id ? auth_grant_user(req->user->id, req->user->username, AUTH_DEFAULT_WORKSPACE, type, id, "MANAGE",
                                false, err) : 0;
}

/* ---- issue 12: the MCP server registry (MLflow's FastAPI after-request handlers and
 * response filters for mcp_server_api.py) ---- */

/* _withhold_denied_mcp_version_passengers: an endpoint of a server whose version tier is
 * denied shows no version (only the fields it carries are cleared) */
static void mcp_withhold(const struct auth_grants *gs, cJSON *endpoint)
{
    static const char *const fields[] = { "resolved_version", "tools", "server_version", "server_alias" };
    const char *server = str_at(endpoint, "server_name");
    if (!server || auth_mcp_versions_open(gs, server))
        return;
    for (size_t i = 0; i < 4; i++)
        if (cJSON_GetObjectItemCaseSensitive(endpoint, fields[i]))
            cJSON_ReplaceItemInObjectCaseSensitive(endpoint, fields[i], cJSON_CreateNull());
}

/* _permission_to_allowed_actions, and the server's endpoints withheld */
static void mcp_stamp_server(const struct auth_grants *gs, cJSON *server)
{
    const char *name = str_at(server, "name");
    if (!name)
        return;
    enum perm p = auth_mcp_server_perm(gs, name);
    cJSON *actions = cJSON_CreateArray();
    if (p == PERM_USE || p == PERM_EDIT || p == PERM_MANAGE)
        cJSON_AddItemToArray(actions, cJSON_CreateString("USE"));
    if (p == PERM_EDIT || p == PERM_MANAGE)
        cJSON_AddItemToArray(actions, cJSON_CreateString("UPDATE"));
    if (p == PERM_MANAGE) {
        cJSON_AddItemToArray(actions, cJSON_CreateString("DELETE"));
        cJSON_AddItemToArray(actions, cJSON_CreateString("MANAGE"));
    }
    cJSON_DeleteItemFromObjectCaseSensitive(server, "allowed_actions");
    cJSON_AddItemToObject(server, "allowed_actions", actions);
    EACH(e, cJSON_GetObjectItemCaseSensitive(server, "access_endpoints"))
        mcp_withhold(gs, e);
}

static void mcp_set_query(struct request *req, const char *key, const char *value)
{
    for (size_t i = 0; i < req->n_query; i++)
        if (!strcmp(req->query[i].key, key)) {
            req->query[i].value = value;
            return;
        }
    struct query_param *q = arena_alloc(req->arena, (req->n_query + 1) * sizeof *q);
    if (req->n_query)
        memcpy(q, req->query, req->n_query * sizeof *q);
    q[req->n_query++] = (struct query_param){ key, value };
    req->query = q;
}

static bool mcp_readable(const struct auth_grants *gs, const char *name)
{
    enum perm p = name ? auth_mcp_server_perm(gs, name) : PERM_DENY;
    return p != PERM_DENY && p != PERM_NO_PERMISSIONS;
}

/* _filter_search_mcp_servers / _filter_search_mcp_endpoints: readable rows, pages refilled to
 * max_results as _backfill_readable_mcp_results does */
static int mcp_filter_search(const struct route *route, struct request *req, struct response *resp,
                             const struct auth_grants *gs, struct error *err)
{
    bool servers = route->handler == api_mcp_search_servers;
    const char *field = servers ? "mcp_servers" : "mcp_access_endpoints";
    const char *key = servers ? "name" : "server_name";
    cJSON *page = parse_body(req, resp, err);
    if (!page)
        return -1;
    int64_t max_results = 100;
    for (size_t i = 0; i < req->n_query; i++)
        if (!strcmp(req->query[i].key, "max_results"))
            parse_int64(req->query[i].value, &max_results);
    json_set_thread_arena(req->arena);
    cJSON *kept = cJSON_CreateArray();
    cJSON *rows = cJSON_GetObjectItemCaseSensitive(page, field);
    for (cJSON *row = cJSON_IsArray(rows) ? rows->child : NULL, *next; row; row = next) {
        next = row->next;
        if (mcp_readable(gs, str_at(row, key)))
            cJSON_AddItemToArray(kept, cJSON_DetachItemViaPointer(rows, row));
    }
    const char *token = str_at(page, "next_page_token");
    while (token && cJSON_GetArraySize(kept) < max_results) {
        int64_t start;
        if (page_token_decode(req->arena, token, &start, err))
            return -1;
        mcp_set_query(req, "page_token", token);
        struct response more = { .status = 200, .content_type = "application/json" };
        sb_init(&more.body, req->arena, 1024);
        json_set_thread_arena(NULL);
        if (route->handler(req, &more, err))
            return -1;
        cJSON *next_page = parse_body(req, &more, err);
        if (!next_page)
            return -1;
        json_set_thread_arena(req->arena);
        cJSON *more_rows = cJSON_GetObjectItemCaseSensitive(next_page, field);
        int total = cJSON_GetArraySize(more_rows), consumed = 0;
        if (!total) {
            token = NULL;
            break;
        }
        for (cJSON *row = more_rows->child, *next; row && cJSON_GetArraySize(kept) < max_results; row = next) {
            next = row->next;
            consumed++;
            if (mcp_readable(gs, str_at(row, key)))
                cJSON_AddItemToArray(kept, cJSON_DetachItemViaPointer(more_rows, row));
        }
        token = consumed < total ? page_token_encode(req->arena, start + consumed) : str_at(next_page, "next_page_token");
    }
    EACH(row, kept) {
        if (servers)
            mcp_stamp_server(gs, row);
        else
            mcp_withhold(gs, row);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(page, field);
    cJSON_DeleteItemFromObjectCaseSensitive(page, "next_page_token");
    cJSON_AddItemToObject(page, field, kept);
    cJSON_AddItemToObject(page, "next_page_token", token ? cJSON_CreateString(token) : cJSON_CreateNull());
    json_set_thread_arena(NULL);
    sb_init(&resp->body, req->arena, resp->body.len + 16);
    write_node(&resp->body, page);
    return 0;
}

/* the path's "<namespace>/<slug>" when it names exactly a server (delete) */
static const char *mcp_path_server(struct request *req)
{
    const char *p = strstr(req->path, "/mcp-servers/");
    if (!p)
        return NULL;
    p += strlen("/mcp-servers/");
    const char *slash = strchr(p, '/');
    return slash && !strchr(slash + 1, '/') ? p : NULL;
}

static int mcp_after(const struct route *route, struct request *req, struct response *resp, struct error *err)
{
    if (route->handler == api_mcp_create_server) {   /* the creator manages it */
        const char *name = str_at(req->input, "name");
        return req->user->is_admin ? 0 : grant_creator(req, "mcp_server", name, err);
    }
    if (route->handler == api_mcp_create_version) {   /* a parent made on the way is the creator's */
        cJSON *v = parse_body(req, resp, err);
        if (!v || req->user->is_admin)
            return v ? 0 : -1;
        const char *name = str_at(v, "name");
        struct mcp_server s;
        struct error e2 = { 0 };
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(v, "creation_timestamp");
        if (!name || !cJSON_IsNumber(ts) || store_mcp_get_server(req->arena, name, &s, &e2))
            return 0;
        int64_t created;
        if (parse_int64(ts->valuestring, &created) || s.created_at != created || !s.created_by ||
            strcmp(s.created_by, req->user->username))
            return 0;
        return grant_creator(req, "mcp_server", name, err);
    }
    if (route->handler == api_mcp_delete_server) {
        const char *name = mcp_path_server(req);
        return name ? auth_delete_grants_for_resource("mcp_server", name, err) : 0;
    }
    if (req->user->is_admin)
        return 0;
    const struct auth_grants *gs = auth_load_grants(req, err);
    if (!gs)
        return -1;
    if (route->handler == api_mcp_search_servers || route->handler == api_mcp_search_all_endpoints)
        return mcp_filter_search(route, req, resp, gs, err);
    bool server = route->handler == api_mcp_get_server || route->handler == api_mcp_update_server;
    bool endpoint = route->handler == api_mcp_get_endpoint || route->handler == api_mcp_create_endpoint ||
                    route->handler == api_mcp_update_endpoint;
    bool endpoints = route->handler == api_mcp_search_endpoints;
    if (!server && !endpoint && !endpoints)
        return 0;
    cJSON *o = parse_body(req, resp, err);
    if (!o)
        return -1;
    json_set_thread_arena(req->arena);
    if (server)
        mcp_stamp_server(gs, o);
    else if (endpoint)
        mcp_withhold(gs, o);
    else
        EACH(e, cJSON_GetObjectItemCaseSensitive(o, "mcp_access_endpoints"))
            mcp_withhold(gs, e);
    json_set_thread_arena(NULL);
    sb_init(&resp->body, req->arena, resp->body.len + 64);
    write_node(&resp->body, o);
    return 0;
}

int auth_after(const struct route *route, struct request *req, struct response *resp, struct error *err)
{
    if (!req->user || req->streamed || resp->status != 200)
        return 0;
    switch (route->auth) {
    case AUTH_EXP_CREATE: {
        cJSON *o = parse_body(req, resp, err);
        return o ? grant_creator(req, "experiment", str_at(o, "experiment_id"), err) : -1;
    }
    case AUTH_RM_CREATE: {
        cJSON *o = parse_body(req, resp, err);
        const cJSON *rm = o ? cJSON_GetObjectItemCaseSensitive(o, "registered_model") : NULL;
        if (!o)
            return -1;
        return grant_creator(req, entity_is_prompt(rm) ? "prompt" : "registered_model", str_at(rm, "name"), err);
    }
    case AUTH_RM_DELETE: {
        const char *name = str_at(req->input, "name");
        if (name && (auth_delete_grants_for_resource("registered_model", name, err) ||
                     auth_delete_grants_for_resource("prompt", name, err)))
            return -1;
        return 0;
    }
    case AUTH_RM_UPDATE: {
        const char *old_name = str_at(req->input, "name"), *new_name = str_at(req->input, "new_name");
        if (route->handler == api_rename_registered_model && old_name && new_name &&
            (auth_rename_grants_for_resource("registered_model", old_name, new_name, err) ||
             auth_rename_grants_for_resource("prompt", old_name, new_name, err)))
            return -1;
        break;   /* the model that comes back is redacted as get's */
    }
    case AUTH_EXP_SEARCH: case AUTH_LM_SEARCH: case AUTH_RM_SEARCH: case AUTH_MV_SEARCH:
        return req->user->is_admin ? 0 : filter_search(route, req, resp, err);
    case AUTH_SCORER_REGISTER: {   /* set_can_manage_scorer_permission: the registrant manages it */
        cJSON *o = parse_body(req, resp, err);
        const char *e = o ? scalar_at(o, "experiment_id") : NULL, *name = o ? str_at(o, "name") : NULL;
        if (!o)
            return -1;
        return e && name ? grant_creator(req, "scorer", auth_scorer_pattern(req->arena, e, name), err) : 0;
    }
    case AUTH_SCORER_DELETE: {   /* delete_scorer_permissions_cascade (also when one version goes) */
        const char *e = scalar_at(req->input, "experiment_id"), *name = str_at(req->input, "name");
        return e && *e && name && *name ?
               auth_delete_grants_for_resource("scorer", auth_scorer_pattern(req->arena, e, name), err) : 0;
    }
    case AUTH_SCORER_LIST:
        return req->user->is_admin ? 0 : filter_scorers(req, resp, err);
    case AUTH_MCP:
        return mcp_after(route, req, resp, err);
    default:
        break;
    }
    return req->user->is_admin ? 0 : redact(route, req, resp, err);
}
