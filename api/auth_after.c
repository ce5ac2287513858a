/* After-request work of the basic-auth app (issue 16), as MLflow's
 * AFTER_REQUEST_HANDLERS do it: the creator of an experiment, registered
 * model or prompt gets MANAGE; a deleted or renamed model's grants follow it;
 * search results are filtered to what the caller may read, re-fetching
 * pages to fill max_results as MLflow does. */
#include "auth.h"
#include "common.h"
#include "handlers.h"
#include "../store/auth_store.h"
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
            if (r->rule == AUTH_RM_SEARCH) {
                /* a readable model may still embed versions the version tier withholds */
                bool prompt = entity_is_prompt(row);
                if (!can(r, prompt ? "prompt" : "registered_model", str_at(row, "name") ? str_at(row, "name") : "",
                         prompt ? "prompt_version" : "registered_model_version"))
                    cJSON_DeleteItemFromObjectCaseSensitive(row, "latest_versions");
            }
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

static int grant_creator(struct request *req, const char *type, const char *id, struct error *err)
{
    return id ? auth_grant_user(req->user->id, req->user->username, AUTH_DEFAULT_WORKSPACE, type, id, "MANAGE",
                                false, err) : 0;
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
        if (route->handler != api_rename_registered_model || !old_name || !new_name)
            return 0;
        if (auth_rename_grants_for_resource("registered_model", old_name, new_name, err) ||
            auth_rename_grants_for_resource("prompt", old_name, new_name, err))
            return -1;
        return 0;
    }
    case AUTH_EXP_SEARCH: case AUTH_LM_SEARCH: case AUTH_RM_SEARCH: case AUTH_MV_SEARCH:
        return req->user->is_admin ? 0 : filter_search(route, req, resp, err);
    default:
        return 0;
    }
}
