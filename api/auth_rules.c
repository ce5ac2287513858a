/* Permission rules of the basic-auth app (issue 16), as MLflow 3.17's
 * mlflow/server/auth/__init__.py and requirements.py decide them, with
 * workspaces off (every grant lives in the "default" workspace). */
#include "auth.h"
#include "common.h"
#include "handlers.h"
#include "../store/auth_store.h"
#include "../store/eval_datasets.h"
#include "../store/scorers.h"
#include "../store/labeling.h"
#include "../store/mcp_servers.h"
#include "../store/paths.h"
#include "registry.h"
#include "search_filter.h"
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct auth_api_config auth_api_config = { .default_permission = PERM_READ, .basic = true };

static const struct {
    const char *name;
    int priority;   /* DENY never wins a max */
    bool read, use, update, del, manage;
} perms[PERM_COUNT] = {
    [PERM_NO_PERMISSIONS] = { "NO_PERMISSIONS", 0, false, false, false, false, false },
    [PERM_READ] = { "READ", 1, true, false, false, false, false },
    [PERM_USE] = { "USE", 2, true, true, false, false, false },
    [PERM_EDIT] = { "EDIT", 3, true, true, true, false, false },
    [PERM_MANAGE] = { "MANAGE", 4, true, true, true, true, true },
    [PERM_DENY] = { "DENY", -1, false, false, false, false, false },
};

int perm_from_name(const char *name)
{
    for (int i = 0; name && i < PERM_COUNT; i++)
        if (!strcmp(perms[i].name, name))
            return i;
    return -1;
}

const char *perm_name(enum perm p) { return perms[p].name; }

/* ---- resource types (permissions.py TYPE) ---- */

static const struct { const char *type; bool by_id; } types[] = {
    { "workspace", false }, { "experiment", true }, { "registered_model", true }, { "prompt", true },
    { "scorer", true }, { "gateway_secret", true }, { "gateway_endpoint", true },
    { "gateway_model_definition", true }, { "mcp_server", true }, { "run", false }, { "trace", false },
    { "assessment", false }, { "logged_model", false }, { "review_queue", false },
    { "registered_model_version", false }, { "prompt_version", false }, { "scorer_version", false },
    { "mcp_server_version", false },
};

static int type_index(const char *type)
{
    for (size_t i = 0; type && i < sizeof types / sizeof *types; i++)
        if (!strcmp(types[i].type, type))
            return (int)i;
    return -1;
}

bool auth_valid_resource_type(const char *type) { return type_index(type) >= 0; }

static bool pattern_matches(const char *pattern, const char *type, const char *id)
{
    int t = type_index(type);
    return t >= 0 && (!strcmp(pattern, "*") || (types[t].by_id && id && !strcmp(pattern, id)));
}

int auth_validate_grant(const char *type, const char *pattern, const char *permission, struct error *err)
{
    int p = perm_from_name(permission);
    if (p < 0)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid permission '%s'. Valid permissions are: "
                         "('READ', 'USE', 'EDIT', 'MANAGE', 'NO_PERMISSIONS', 'DENY')", permission);
    int t = type_index(type);
    if (t < 0)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid resource type '%s'.", type);
    if (!strcmp(type, "workspace")) {
        if (p != PERM_USE && p != PERM_MANAGE)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid permission '%s' for "
                             "resource_type='workspace'. Workspace-wide grants accept only: ('MANAGE', 'USE').",
                             permission);
    } else if (p == PERM_NO_PERMISSIONS) {
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid permission '%s' for resource_type='%s'. "
                         "Resource-level grants accept only: ('DENY', 'EDIT', 'MANAGE', 'READ', 'USE').",
                         permission, type);
    }
    if (strcmp(pattern, "*") && !types[t].by_id)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid resource_pattern '%s' for resource_type='%s'. "
                         "This resource type supports only wildcard ('*') grants.", pattern, type);
    return 0;
}

/* ---- requirements (requirements.py) ---- */

enum action { A_READ, A_USE, A_UPDATE, A_DELETE, A_MANAGE, A_CREATE, A_NOT_DENIED };

struct rung { const char *type, *id; enum action action; };
struct requirement {
    struct rung own;
    struct rung fallback;        /* type NULL: none */
};

static bool action_met(enum action a, enum perm p)
{
    switch (a) {
    case A_READ: return perms[p].read;
    case A_USE: case A_CREATE: return perms[p].use;
    case A_UPDATE: return perms[p].update;
    case A_DELETE: return perms[p].del;
    case A_MANAGE: return perms[p].manage;
    case A_NOT_DENIED: return p != PERM_DENY;
    }
    return false;
}

/* The caller's grants, loaded once per request. */
struct auth_grants {
    struct auth_grant *g;
    size_t n;
    bool workspace_admin;
};

static int load_grants(struct request *req, struct auth_grants *gs, struct error *err)
{
    memset(gs, 0, sizeof *gs);
    if (auth_user_grants(req->arena, req->user->id, AUTH_DEFAULT_WORKSPACE, &gs->g, &gs->n, err))
        return -1;
    for (size_t i = 0; i < gs->n; i++)
        if (!strcmp(gs->g[i].resource_type, "workspace") && !strcmp(gs->g[i].resource_pattern, "*") &&
            !strcmp(gs->g[i].permission, "MANAGE"))
            gs->workspace_admin = true;
    return 0;
}

/* -1: no grant at this key (silent) */
static int fold(const struct auth_grants *gs, const char *type, const char *id)
{
    if (gs->workspace_admin)
        return PERM_MANAGE;
    bool denied = false;
    int best = -1;
    for (size_t i = 0; i < gs->n; i++) {
        const struct auth_grant *g = &gs->g[i];
        if (strcmp(g->resource_type, type) || !pattern_matches(g->resource_pattern, type, id))
            continue;
        int p = perm_from_name(g->permission);
        if (p == PERM_DENY)
            denied = true;
        else if (p >= 0 && (best < 0 || perms[p].priority > perms[best].priority))
            best = p;
    }
    return denied ? PERM_DENY : best;
}

static enum perm floor_positive(enum perm p)
{
    enum perm d = auth_api_config.default_permission;
    if (p == PERM_NO_PERMISSIONS || p == PERM_DENY)
        return p;
    return perms[p].priority >= perms[d].priority ? p : d;
}

static bool requirement_met(const struct auth_grants *gs, const struct requirement *r)
{
    const struct rung *rungs[2] = { &r->own, r->fallback.type ? &r->fallback : NULL };
    const struct rung *last = &r->own;
    for (int i = 0; i < 2 && rungs[i]; i++) {
        last = rungs[i];
        int g = fold(gs, rungs[i]->type, rungs[i]->id ? rungs[i]->id : "*");
        if (g >= 0)
            return action_met(rungs[i]->action, g == PERM_DENY ? PERM_DENY : floor_positive(g));
    }
    /* workspaces off: an absent grant is default_permission */
    return action_met(last->action, floor_positive(auth_api_config.default_permission));
}

static bool authorize(const struct auth_grants *gs, const struct requirement *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!requirement_met(gs, &reqs[i]))
            return false;
    return true;
}

#define REQ(t, i, a) { { t, i, a }, { NULL, NULL, A_READ } }
#define REQ_FB(t, i, a, ft, fi) { { t, i, a }, { ft, fi, a } }

/* ---- request parameters (_get_request_param) ---- */

static const char *param(struct request *req, const char *name)
{
    const cJSON *v = req->input ? cJSON_GetObjectItemCaseSensitive(req->input, name) : NULL;
    if (!v && req->query)
        for (size_t i = 0; i < req->n_query; i++)
            if (!strcmp(req->query[i].key, name))
                return req->query[i].value;
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsNumber(v))
        return v->valuestring;   /* the literal text (json_parse keeps it) */
    if (cJSON_IsArray(v) && cJSON_IsString(v->child))
        return v->child->valuestring;
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v) ? "true" : "false";
    return NULL;
}

static int required(struct request *req, const char *name, const char **out, struct error *err)
{
    *out = param(req, name);
    if (!*out && !strcmp(name, "run_id"))
        *out = param(req, "run_uuid");
    if (!*out)
        return json_missing(name, err);
    return 0;
}

static const char *i64str(struct arena *a, int64_t v)
{
    return arena_printf(a, "%" PRId64, v);
}

/* ---- the rules ---- */

struct ctx {
    struct request *req;
    struct auth_grants gs;
    struct error *err;
};

static const char *const experiment_cascade[] = {
    "run", "trace", "logged_model", "assessment", "review_queue", "scorer", "scorer_version",
};

static int exp_rule(struct ctx *c, enum action a)
{
    const char *id;
    if (required(c->req, "experiment_id", &id, c->err))
        return -1;
    if (a != A_DELETE) {
        struct requirement r[] = { REQ("experiment", id, a) };
        return authorize(&c->gs, r, 1);
    }
    /* delete and restore reach every experiment-scoped tier */
    struct requirement r[8] = { REQ("experiment", id, A_DELETE) };
    for (size_t i = 0; i < 7; i++)
        r[i + 1] = (struct requirement)REQ_FB(experiment_cascade[i], "*", A_DELETE, "experiment", id);
    return authorize(&c->gs, r, 8);
}

static int exp_by_name(struct ctx *c)
{
    const char *name;
    int64_t exp;
    if (required(c->req, "experiment_name", &name, c->err))
        return -1;
    int found = auth_lookup_experiment_by_name(name, &exp, c->err);
    if (found < 0)
        return -1;
    if (!found)
        return error_set(c->err, ERR_RESOURCE_DOES_NOT_EXIST, "Could not find experiment with name %s", name);
    struct requirement r[] = { REQ("experiment", i64str(c->req->arena, exp), A_READ) };
    return authorize(&c->gs, r, 1);
}

/* create in an experiment: update on it, the created tier not denied */
static int create_in_experiment(struct ctx *c, const char *exp, const char *created)
{
    struct requirement r[] = { REQ("experiment", exp, A_UPDATE), REQ(created, "*", A_NOT_DENIED) };
    return authorize(&c->gs, r, 2);
}

/* a run: experiment READ baseline, the run tier carries the action; a missing run denies */
static int run_id_rule(struct ctx *c, const char *run_id, enum action a)
{
    int64_t exp;
    int found = auth_lookup_run_experiment(run_id, &exp, c->err);
    if (found <= 0)
        return found < 0 ? -1 : 0;
    const char *e = i64str(c->req->arena, exp);
    struct requirement r[] = { REQ("experiment", e, A_READ), REQ_FB("run", "*", a, "experiment", e) };
    return authorize(&c->gs, r, 2);
}

static int run_rule(struct ctx *c, enum action a)
{
    const char *run_id;
    if (required(c->req, "run_id", &run_id, c->err))
        return -1;
    return run_id_rule(c, run_id, a);
}

static int logged_model_id_rule(struct ctx *c, const char *model_id, enum action a)
{
    int64_t exp;
    int found = auth_lookup_logged_model_experiment(model_id, &exp, c->err);
    if (found <= 0)
        return found < 0 ? -1 : 0;
    const char *e = i64str(c->req->arena, exp);
    struct requirement r[] = { REQ("experiment", e, A_READ), REQ_FB("logged_model", "*", a, "experiment", e) };
    return authorize(&c->gs, r, 2);
}

static int logged_model_rule(struct ctx *c, enum action a)
{
    const char *id = c->req->n_path_params ? c->req->path_params[0] : param(c->req, "model_id");
    if (!id)
        return error_set(c->err, ERR_INVALID_PARAMETER_VALUE, "Missing value for required parameter 'model_id'.");
    return logged_model_id_rule(c, id, a);
}

/* log-metric / log-batch / log-inputs / log-outputs: the run, and every logged model written to */
static int run_log_rule(struct ctx *c)
{
    int ok = run_rule(c, A_UPDATE);
    if (ok != 1)
        return ok;
    const cJSON *in = c->req->input;
    const char *one = param(c->req, "model_id");
    if (one && *one && (ok = logged_model_id_rule(c, one, A_UPDATE)) != 1)
        return ok;
    static const char *const lists[] = { "metrics", "models" };
    for (size_t l = 0; l < 2; l++) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(in, lists[l]), *it;
        cJSON_ArrayForEach(it, (cJSON_IsArray(arr) ? arr : NULL)) {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(it, "model_id");
            if (cJSON_IsString(m) && *m->valuestring && (ok = logged_model_id_rule(c, m->valuestring, A_UPDATE)) != 1)
                return ok;
        }
    }
    return 1;
}

static int metric_bulk_rule(struct ctx *c)
{
    const char *field = cJSON_GetObjectItemCaseSensitive(c->req->input, "run_ids") ? "run_ids" : "run_id";
    const char **ids;
    size_t n;
    if (json_get_string_array(c->req->arena, c->req->input, field, &ids, &n, c->err))
        return -1;
    if (!n)
        return error_set(c->err, ERR_INVALID_PARAMETER_VALUE,
                         "GetMetricHistoryBulk request must specify at least one run_id.");
    for (size_t i = 0; i < n; i++) {
        int64_t exp;
        int found = auth_lookup_run_experiment(ids[i], &exp, c->err);
        if (found < 0)
            return -1;
        if (!found)   /* MLflow raises here rather than denying */
            return error_set(c->err, ERR_RESOURCE_DOES_NOT_EXIST, "Run with id=%s not found", ids[i]);
        const char *e = i64str(c->req->arena, exp);
        struct requirement r[] = { REQ("experiment", e, A_READ), REQ_FB("run", "*", A_READ, "experiment", e) };
        if (!authorize(&c->gs, r, 2))
            return 0;
    }
    return 1;
}

static int run_artifact_rule(struct ctx *c)
{
    const char *id = param(c->req, "run_id");
    if (!id || !*id)
        id = param(c->req, "run_uuid");
    if (!id || !*id)
        return error_set(c->err, ERR_INVALID_PARAMETER_VALUE, "Request must specify run_id or run_uuid parameter");
    return run_id_rule(c, id, A_READ);
}

/* ---- the artifact proxy: the experiment (and tier) a path belongs to ---- */

static bool is_run_id(const char *s, size_t n)
{
    if (n != 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static int artifact_rule(struct ctx *c, enum action a)   /* A_READ, A_UPDATE, A_MANAGE (delete) */
{
    const char *raw = c->req->n_path_params ? c->req->path_params[0] : param(c->req, "path"), *path;
    struct error ignored;
    if (!raw || !*raw)
        return action_met(a, auth_api_config.default_permission);   /* no experiment: the default (workspaces off) */
    /* judged on the canonical path the handler will use; one that does not canonicalize denies */
    if (path_sanitize(c->req->arena, raw, &path, &ignored))
        return 0;
    size_t digits = strspn(path, "0123456789");
    if (!digits || (path[digits] != '/' && path[digits] != '\0'))
        return action_met(a, auth_api_config.default_permission);
    const char *exp = arena_strndup(c->req->arena, path, digits);
    const char *rest = path + digits + (path[digits] == '/');
    size_t s0 = strcspn(rest, "/");
    const char *child = NULL, *tiers[3];
    size_t n_tiers = 0;
    bool recursive = a == A_MANAGE;
    if (!*rest) {
        if (recursive) {
            tiers[0] = "run"; tiers[1] = "trace"; tiers[2] = "logged_model";
            n_tiers = 3;
        }
    } else if (s0 == 6 && !strncmp(rest, "models", 6)) {
        child = "logged_model";
    } else if (s0 == 6 && !strncmp(rest, "traces", 6)) {
        child = "trace";
    } else if ((rest[s0] == '/' && !strncmp(rest + s0 + 1, "artifacts", 9) &&
                (rest[s0 + 10] == '/' || rest[s0 + 10] == '\0')) || is_run_id(rest, s0) || recursive) {
        child = "run";
    }
    if (child)
        tiers[n_tiers++] = child;
    if (!n_tiers) {
        struct requirement r[] = { REQ("experiment", exp, a) };
        return authorize(&c->gs, r, 1);
    }
    struct requirement r[4] = { REQ("experiment", exp, A_READ) };
    for (size_t i = 0; i < n_tiers; i++)
        r[i + 1] = (struct requirement)REQ_FB(tiers[i], "*", a, "experiment", exp);
    return authorize(&c->gs, r, n_tiers + 1);
}

/* ---- the registry: registered models and prompts share routes ---- */

/* 1 with type set; 0 when the model does not exist */
static int registry_target(struct ctx *c, const char *name, const char **type, const char **vtype)
{
    bool prompt = false;
    int found = auth_lookup_registered_model(name, &prompt, c->err);
    if (found <= 0)
        return found;
    *type = prompt ? "prompt" : "registered_model";
    *vtype = prompt ? "prompt_version" : "registered_model_version";
    return 1;
}

/* get / update / rename / tags: the entity's own namespace, registered_model when missing */
static int rm_rule(struct ctx *c, enum action a)
{
    const char *name, *type = "registered_model", *vtype;
    if (required(c->req, "name", &name, c->err))
        return -1;
    if (registry_target(c, name, &type, &vtype) < 0)
        return -1;
    struct requirement r[] = { REQ(type, name, a) };
    return authorize(&c->gs, r, 1);
}

/* delete (cascades to versions), version reads/writes: a missing model denies */
static int rm_version_rule(struct ctx *c, enum action container_action, enum action version_action,
                           bool version_fallback)
{
    const char *name, *type, *vtype;
    if (required(c->req, "name", &name, c->err))
        return -1;
    int found = registry_target(c, name, &type, &vtype);
    if (found <= 0)
        return found;
    struct requirement r[2] = { REQ(type, name, container_action), REQ(vtype, "*", version_action) };
    if (version_fallback)
        r[1].fallback = (struct rung){ type, name, version_action };
    return authorize(&c->gs, r, 2);
}

static int alias_rule(struct ctx *c, enum action container_action)
{
    int ok = rm_rule(c, container_action);
    if (ok != 1)
        return ok;
    const char *name = param(c->req, "name"), *type, *vtype;
    int found = registry_target(c, name, &type, &vtype);
    if (found <= 0)
        return found;
    struct requirement r[] = { REQ_FB(vtype, "*", A_READ, type, name) };
    return authorize(&c->gs, r, 1);
}

static bool tags_mark_prompt(const cJSON *tags)
{
    const cJSON *t;
    bool prompt = false;
    cJSON_ArrayForEach(t, (cJSON_IsArray(tags) ? tags : NULL)) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(t, "key"), *v = cJSON_GetObjectItemCaseSensitive(t, "value");
        if (cJSON_IsString(k) && !strcmp(k->valuestring, "mlflow.prompt.is_prompt") && cJSON_IsString(v))
            prompt = !strcasecmp(v->valuestring, "true");
    }
    return prompt;
}

static int rm_create_rule(struct ctx *c)
{
    const char *name = param(c->req, "name");
    const char *type = tags_mark_prompt(cJSON_GetObjectItemCaseSensitive(c->req->input, "tags"))
                       ? "prompt" : "registered_model";
    struct requirement r[] = { REQ(type, name && *name ? name : "*", A_NOT_DENIED) };
    return authorize(&c->gs, r, 1);
}

static int mv_create_rule(struct ctx *c)
{
    int ok = rm_version_rule(c, A_UPDATE, A_NOT_DENIED, false);
    if (ok != 1)
        return ok;
    const char *run_id = param(c->req, "run_id"), *model_id = param(c->req, "model_id");
    const char *source = param(c->req, "source");
    if (source && !strncmp(source, "models:/", 8)) {
        const char *s = source + 8;
        if (!strncmp(s, "m-", 2)) {
            const char *id = arena_strndup(c->req->arena, s, strcspn(s, "/"));
            if ((ok = logged_model_id_rule(c, id, A_READ)) != 1)
                return ok;
        } else {
            const char *name = arena_strndup(c->req->arena, s, strcspn(s, "/@"));
            const char *type = "registered_model", *vtype;
            int found = registry_target(c, name, &type, &vtype);
            if (found <= 0)
                return found;
            struct requirement r[] = { REQ(type, name, A_READ) };
            return authorize(&c->gs, r, 1);
        }
    }
    if (cJSON_GetObjectItemCaseSensitive(c->req->input, "run_id") &&
        (!run_id || !*run_id || (ok = run_id_rule(c, run_id, A_READ)) != 1))
        return run_id && *run_id ? ok : 0;
    if (cJSON_GetObjectItemCaseSensitive(c->req->input, "model_id") &&
        (!model_id || !*model_id || (ok = logged_model_id_rule(c, model_id, A_READ)) != 1))
        return model_id && *model_id ? ok : 0;
    return 1;
}

static int mv_artifact_rule(struct ctx *c)
{
    const char *name = param(c->req, "name"), *type, *vtype;
    if (!name || !*name)
        return error_set(c->err, ERR_INVALID_PARAMETER_VALUE, "Request must specify name parameter");
    struct requirement pos[] = { REQ("registered_model", name, A_READ) };
    if (!authorize(&c->gs, pos, 1))
        return 0;
    int found = registry_target(c, name, &type, &vtype);
    if (found <= 0)
        return found;
    struct requirement r[] = { REQ_FB(vtype, "*", A_NOT_DENIED, type, name) };
    return authorize(&c->gs, r, 1);
}

/* ---- filter-key gates (issue 16): a search whose filter or sort reaches a tier the rows
 * themselves do not show is decided before the handler, as MLflow's validators do ---- */

/* search-logged-models / search-model-versions: a filter on the source run needs the run tier
 * not denied (a filter that does not parse counts as selecting it) */
static int run_filter_gate(struct ctx *c, bool logged_models)
{
    const char *filter = param(c->req, "filter");
    if (!filter || !*filter)
        return 1;
    bool selects = true;
    if (logged_models) {
        selects = lm_filter_selects_attribute(c->req->arena, filter, "source_run_id");
    } else {
        struct sf_filter f;
        struct error ignored;
        if (!registry_parse_filter(c->req->arena, REG_VERSIONS, filter, &f, &ignored)) {
            selects = false;
            for (size_t i = 0; i < f.n; i++)
                if (f.clauses[i].entity == SF_ATTR && !strcmp(f.clauses[i].key, "run_id"))
                    selects = true;
        }
    }
    struct requirement r[] = { REQ("run", "*", A_NOT_DENIED) };
    return !selects || authorize(&c->gs, r, 1);
}

enum { TIER_ASSESSMENT = 1, TIER_RUN = 2, TIER_LOGGED_MODEL = 4, TIER_ALL = 7 };

static unsigned metadata_tier(enum sf_entity e, const char *key)
{
    if (e != SF_TRACE_METADATA || !key)
        return 0;
    return !strcmp(key, "mlflow.sourceRun") ? TIER_RUN : !strcmp(key, "mlflow.modelId") ? TIER_LOGGED_MODEL : 0;
}

/* _trace_search_selects_on_tiers: the tiers a trace search's filters and sort reach */
static unsigned trace_search_tiers(struct ctx *c, const char *const *filters, size_t n_filters)
{
    unsigned tiers = 0;
    struct error ignored;
    for (size_t i = 0; i < n_filters; i++) {
        struct sf_filter f;
        if (!filters[i] || !*filters[i])
            continue;
        if (sf_parse_trace_filter(c->req->arena, filters[i], &f, &ignored))
            return TIER_ALL;
        for (size_t k = 0; k < f.n; k++) {
            const struct sf_clause *cl = &f.clauses[k];
            tiers |= cl->entity == SF_FEEDBACK || cl->entity == SF_EXPECTATION ? TIER_ASSESSMENT
                                                                             : metadata_tier(cl->entity, cl->key);
        }
    }
    const char **order;
    size_t n_order = 0;
    if (json_get_string_array(c->req->arena, c->req->input, "order_by", &order, &n_order, &ignored))
        return TIER_ALL;
    for (size_t i = 0; i < n_order; i++) {
        struct sf_order_list ol;
        if (!order[i] || !*order[i])
            continue;
        if (sf_parse_trace_order_by(c->req->arena, &order[i], 1, &ol, &ignored))
            return TIER_ALL;
        for (size_t k = 0; k < ol.n; k++)
            tiers |= metadata_tier(ol.items[k].entity, ol.items[k].key);
    }
    return tiers;
}

/* read on every reached tier in every experiment, the experiment as fallback */
static int tiers_readable(struct ctx *c, const char *const *exps, size_t n, unsigned tiers)
{
    static const struct { unsigned bit; const char *type; } names[] = {
        { TIER_ASSESSMENT, "assessment" }, { TIER_RUN, "run" }, { TIER_LOGGED_MODEL, "logged_model" },
    };
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < 3; t++) {
            struct requirement r[] = { REQ_FB(names[t].type, "*", A_READ, "experiment", exps[i]) };
            if ((tiers & names[t].bit) && !authorize(&c->gs, r, 1))
                return 0;
        }
    return 1;
}

/* ---- traces and assessments (issue 14's routes) ---- */

static int trace_experiment(struct ctx *c, const char *trace_id, const char **exp)
{
    int64_t e;
    int found = auth_lookup_trace_experiment(trace_id, &e, c->err);
    if (found == 1)
        *exp = i64str(c->req->arena, e);
    return found;
}

static const char *trace_id_of(struct ctx *c)
{
    if (c->req->n_path_params)
        return c->req->path_params[0];
    const char *id = param(c->req, "trace_id");
    return id ? id : param(c->req, "request_id");
}

/* a point route on one trace: experiment READ baseline, the trace tier carries the action;
 * assessment routes add the assessment tier */
static int trace_rule(struct ctx *c, enum action a, bool assessment, enum action assess_a, enum action assess_fb)
{
    const char *id = trace_id_of(c), *e = NULL;
    if (!id)
        return error_set(c->err, ERR_INVALID_PARAMETER_VALUE, "Missing value for required parameter 'trace_id'.");
    int found = trace_experiment(c, id, &e);
    if (found <= 0)
        return found;
    struct requirement r[3] = { REQ("experiment", e, A_READ), REQ_FB("trace", "*", a, "experiment", e),
                                { { "assessment", "*", assess_a }, { "experiment", e, assess_fb } } };
    return authorize(&c->gs, r, assessment ? 3 : 2);
}

static int assessment_create_rule(struct ctx *c)
{
    const char *id = trace_id_of(c), *e = NULL;
    if (!id)
        return error_set(c->err, ERR_INVALID_PARAMETER_VALUE, "Missing value for required parameter 'trace_id'.");
    int found = trace_experiment(c, id, &e);
    if (found <= 0)
        return found;
    /* experiment update with neither tier denied, or experiment read plus trace update */
    struct requirement base[] = { REQ("experiment", e, A_READ), REQ_FB("trace", "*", A_READ, "experiment", e),
                                  REQ("assessment", "*", A_NOT_DENIED) };
    struct requirement via_exp[] = { REQ("experiment", e, A_UPDATE) };
    struct requirement via_trace[] = { REQ_FB("trace", "*", A_UPDATE, "experiment", e) };
    return authorize(&c->gs, base, 3) && (authorize(&c->gs, via_exp, 1) || authorize(&c->gs, via_trace, 1));
}

/* read on the trace tier in every experiment named (none: denied) */
static int bulk_trace_read(struct ctx *c, const char *const *exps, size_t n)
{
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        struct requirement r[] = { REQ("experiment", exps[i], A_READ), REQ_FB("trace", "*", A_READ, "experiment", exps[i]) };
        if (!authorize(&c->gs, r, 2))
            return 0;
    }
    return 1;
}

static int traces_of_ids_rule(struct ctx *c)
{
    const char **ids;
    size_t n;
    if (json_get_string_array(c->req->arena, c->req->input, "trace_ids", &ids, &n, c->err))
        return -1;
    const char **exps = arena_alloc(c->req->arena, (n + 1) * sizeof *exps);
    for (size_t i = 0; i < n; i++) {
        int found = trace_experiment(c, ids[i], &exps[i]);
        if (found <= 0)
            return found;
    }
    return bulk_trace_read(c, exps, n);
}

static int trace_search_rule(struct ctx *c)
{
    const cJSON *locs = cJSON_GetObjectItemCaseSensitive(c->req->input, "locations"), *l;
    size_t n = 0;
    const char **exps = arena_alloc(c->req->arena, ((size_t)cJSON_GetArraySize(locs) + 1) * sizeof *exps);
    cJSON_ArrayForEach(l, (cJSON_IsArray(locs) ? locs : NULL)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(l, "mlflow_experiment");
        const cJSON *e = m ? cJSON_GetObjectItemCaseSensitive(m, "experiment_id") : NULL;
        if ((cJSON_IsString(e) || cJSON_IsNumber(e)) && e->valuestring && *e->valuestring)
            exps[n++] = e->valuestring;
    }
    if (bulk_trace_read(c, exps, n) != 1)
        return 0;
    const char *filter = param(c->req, "filter");
    return tiers_readable(c, exps, n, trace_search_tiers(c, &filter, 1));
}

/* GET /traces (v2 search), traces/metrics, traces/calculate-filter-correlation */
static int trace_search_ids_rule(struct ctx *c, api_handler h)
{
    const char **exps;
    size_t n;
    if (json_get_string_array(c->req->arena, c->req->input, "experiment_ids", &exps, &n, c->err))
        return -1;
    if (bulk_trace_read(c, exps, n) != 1)
        return 0;
    if (h == api_query_trace_metrics) {
        const char *view = param(c->req, "view_type");
        return tiers_readable(c, exps, n, view && !strcmp(view, "ASSESSMENTS") ? TIER_ASSESSMENT : 0);
    }
    const char *filters[3] = { param(c->req, "filter"), NULL, NULL };
    if (h == api_calculate_trace_filter_correlation) {
        filters[0] = param(c->req, "filter_string1");
        filters[1] = param(c->req, "filter_string2");
        filters[2] = param(c->req, "base_filter");
    }
    return tiers_readable(c, exps, n, trace_search_tiers(c, filters, 3));
}

/* search-datasets: read on every experiment named; none named is 400, as MLflow's validator raises
 * (any other route with this rule: none named is denied) */
static int experiment_ids_read_rule(struct ctx *c, api_handler h)
{
    const char **exps;
    size_t n;
    if (json_get_string_array(c->req->arena, c->req->input, "experiment_ids", &exps, &n, c->err))
        return -1;
    if (!n && h == api_search_datasets)
        return error_set(c->err, ERR_INVALID_PARAMETER_VALUE,
                         "SearchDatasets request must specify at least one experiment_id.");
    if (!n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        struct requirement r[] = { REQ("experiment", exps[i], A_READ) };
        if (!authorize(&c->gs, r, 1))
            return 0;
    }
    return 1;
}

/* exactly one of run_id and model_id, as the handler insists (400 before any look-up) */
static int presigned_upload_rule(struct ctx *c)
{
    const char *run_id = param(c->req, "run_id"), *model_id = param(c->req, "model_id");
    bool has_run = run_id && *run_id, has_model = model_id && *model_id;
    if (has_run == has_model)
        return error_set(c->err, ERR_INVALID_PARAMETER_VALUE, "Exactly one of run_id and model_id must be provided.");
    return has_model ? logged_model_id_rule(c, model_id, A_UPDATE) : run_id_rule(c, run_id, A_UPDATE);
}

static int trace_start_rule(struct ctx *c, const char *exp, bool with_assessments)
{
    if (!exp || !*exp)
        return 0;
    struct requirement r[] = { REQ("experiment", exp, A_UPDATE), REQ("trace", "*", A_NOT_DENIED),
                               REQ("assessment", "*", A_NOT_DENIED) };
    return authorize(&c->gs, r, with_assessments ? 3 : 2);
}

static int trace_start_v3_rule(struct ctx *c)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(c->req->input, "trace");
    const cJSON *info = t ? cJSON_GetObjectItemCaseSensitive(t, "trace_info") : NULL;
    const cJSON *loc = info ? cJSON_GetObjectItemCaseSensitive(info, "trace_location") : NULL;
    const cJSON *m = loc ? cJSON_GetObjectItemCaseSensitive(loc, "mlflow_experiment") : NULL;
    const cJSON *e = m ? cJSON_GetObjectItemCaseSensitive(m, "experiment_id") : NULL;
    const cJSON *as = info ? cJSON_GetObjectItemCaseSensitive(info, "assessments") : NULL;
    return trace_start_rule(c, (cJSON_IsString(e) || cJSON_IsNumber(e)) ? e->valuestring : NULL,
                            cJSON_GetArraySize(as) > 0);
}

static int otlp_rule(struct ctx *c)
{
    const char *e = c->req->header ? c->req->header(c->req, "x-mlflow-experiment-id") : NULL;
    if (!e || !*e)
        return error_set(c->err, ERR_BAD_REQUEST, "Missing required header: X-Mlflow-Experiment-Id");
    return trace_start_rule(c, e, false);
}

static int trace_delete_rule(struct ctx *c)
{
    const char *e;
    if (required(c->req, "experiment_id", &e, c->err))
        return -1;
    struct requirement r[] = { REQ("experiment", e, A_READ),
                               { { "trace", "*", A_DELETE }, { "experiment", e, A_DELETE } },
                               { { "assessment", "*", A_DELETE }, { "experiment", e, A_UPDATE } } };
    return authorize(&c->gs, r, 3);
}

static int trace_link_run_rule(struct ctx *c)
{
    int ok = run_rule(c, A_UPDATE);
    return ok == 1 ? traces_of_ids_rule(c) : ok;
}

/* ---- users and roles ---- */

static bool in_list(const char *s, const char *const *v, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (!strcmp(v[i], s))
            return true;
    return false;
}

static int is_workspace_admin(struct ctx *c, const char *ws)
{
    const char **v;
    size_t n;
    if (auth_admin_workspaces(c->req->arena, c->req->user->id, &v, &n, c->err))
        return -1;
    return in_list(ws, v, n);
}

/* the workspace a role request targets; NULL with *missing when the role does not exist */
static int role_workspace(struct ctx *c, const char **ws)
{
    const char *s;
    int64_t id;
    *ws = NULL;
    if ((s = param(c->req, "role_id"))) {
        struct auth_role ro;
        if (parse_int64(s, &id))
            return error_set(c->err, ERR_INVALID_PARAMETER_VALUE, "Parameter 'role_id' must be an integer. Got: '%s'", s);
        if (auth_role_get(c->req->arena, id, &ro, c->err))
            return c->err->code == ERR_RESOURCE_DOES_NOT_EXIST ? 0 : -1;
        *ws = ro.workspace;
        return 0;
    }
    if ((s = param(c->req, "role_permission_id"))) {
        struct auth_role_perm rp;
        struct auth_role ro;
        if (parse_int64(s, &id))
            return error_set(c->err, ERR_INVALID_PARAMETER_VALUE,
                             "Parameter 'role_permission_id' must be an integer. Got: '%s'", s);
        if (auth_role_perm_get(c->req->arena, id, &rp, c->err) || auth_role_get(c->req->arena, rp.role_id, &ro, c->err))
            return c->err->code == ERR_RESOURCE_DOES_NOT_EXIST ? 0 : -1;
        *ws = ro.workspace;
        return 0;
    }
    if ((s = param(c->req, "workspace"))) {
        if (!*s)
            return error_set(c->err, ERR_INVALID_PARAMETER_VALUE, "Parameter 'workspace' must be a non-empty string.");
        *ws = s;
        return 0;
    }
    return error_set(c->err, ERR_INVALID_PARAMETER_VALUE,
                     "Request must include one of: role_id, role_permission_id, workspace.");
}

static int roles_rule(struct ctx *c, bool manage)
{
    const char *ws;
    if (role_workspace(c, &ws))
        return -1;
    if (!ws)
        return 0;
    if (manage)
        return is_workspace_admin(c, ws);
    const char **v;
    size_t n;
    if (auth_present_workspaces(c->req->arena, c->req->user->id, &v, &n, c->err))
        return -1;
    return in_list(ws, v, n);
}

static int roles_list_rule(struct ctx *c)
{
    const char **present;
    size_t n_present, asked = 0;
    if (auth_present_workspaces(c->req->arena, c->req->user->id, &present, &n_present, c->err))
        return -1;
    for (size_t i = 0; i < c->req->n_query; i++) {
        if (strcmp(c->req->query[i].key, "workspace") || !*c->req->query[i].value)
            continue;
        asked++;
        if (!in_list(c->req->query[i].value, present, n_present))
            return 0;
    }
    return asked > 0;
}

static int user_roles_view_rule(struct ctx *c)
{
    const char *target;
    if (required(c->req, "username", &target, c->err))
        return -1;
    if (!strcmp(target, c->req->user->username))
        return 1;
    struct auth_user_row u;
    if (auth_user_get(c->req->arena, target, &u, c->err))
        return c->err->code == ERR_RESOURCE_DOES_NOT_EXIST ? 0 : -1;
    const char **mine, **theirs;
    size_t n_mine, n_theirs;
    if (auth_admin_workspaces(c->req->arena, c->req->user->id, &mine, &n_mine, c->err) ||
        auth_present_workspaces(c->req->arena, u.id, &theirs, &n_theirs, c->err))
        return -1;
    for (size_t i = 0; i < n_mine; i++)
        if (in_list(mine[i], theirs, n_theirs))
            return 1;
    return 0;
}

static int reject_workspace_type(const char *type, struct error *err)
{
    if (type && !strcmp(type, "workspace"))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "resource_type 'workspace' is not supported by the "
                         "per-user permission convenience APIs. Use set_workspace_permission / "
                         "delete_workspace_permission for workspace-wide grants.");
    return 0;
}

/* the types get_user_permission and grant resolve (MLflow's _RESOURCE_WORKSPACE_FETCHER, plus scorer) */
static bool resolvable_type(const char *type)
{
    static const char *const v[] = { "experiment", "registered_model", "gateway_secret", "gateway_endpoint",
                                     "gateway_model_definition", "mcp_server", "scorer" };
    return in_list(type, v, sizeof v / sizeof *v);
}

int auth_resolve_user_permission(struct request *req, int64_t user_id, const char *type, const char *id,
                                 enum perm *out, struct error *err)
{
    if (reject_workspace_type(type, err))
        return -1;
    if (!auth_valid_resource_type(type))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid resource type '%s'.", type);
    if (strcmp(id, "*") && !resolvable_type(type))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "resource_type '%s' is not supported by the per-user "
                         "permission convenience APIs.", type);
    if (!strcmp(type, "scorer") && strcmp(id, "*") && !strchr(id, '/'))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "Invalid scorer resource_id. Expected '<experiment_id>/<scorer_name>'.");
    struct auth_grants gs;
    struct auth_user u = { .id = user_id };
    const struct auth_user *saved = req->user;
    req->user = &u;
    int rc = load_grants(req, &gs, err);
    req->user = saved;
    if (rc)
        return -1;
    int g = fold(&gs, type, id);
    *out = g < 0 ? auth_api_config.default_permission : floor_positive(g);
    return 1;
}

static int resource_manage_rule(struct ctx *c)
{
    const char *type, *id;
    if (required(c->req, "resource_type", &type, c->err) || required(c->req, "resource_id", &id, c->err))
        return -1;
    if (!strcmp(id, "*")) {
        if (reject_workspace_type(type, c->err))
            return -1;
        if (!auth_valid_resource_type(type))
            return error_set(c->err, ERR_INVALID_PARAMETER_VALUE, "Invalid resource type '%s'.", type);
        return is_workspace_admin(c, AUTH_DEFAULT_WORKSPACE);
    }
    enum perm p;
    if (auth_resolve_user_permission(c->req, c->req->user->id, type, id, &p, c->err) < 0)
        return -1;
    return perms[p].manage;
}

static int user_permission_get_rule(struct ctx *c)
{
    const char *type, *target, *id;
    if (required(c->req, "resource_type", &type, c->err) || reject_workspace_type(type, c->err) ||
        required(c->req, "username", &target, c->err))
        return -1;
    if (!strcmp(target, c->req->user->username))
        return 1;
    struct auth_user_row u;
    if (auth_user_get(c->req->arena, target, &u, c->err))
        return c->err->code == ERR_RESOURCE_DOES_NOT_EXIST ? 0 : -1;
    if (required(c->req, "resource_id", &id, c->err))
        return -1;
    /* the resource's workspace: only known types that exist resolve (workspaces off: default) */
    if (strcmp(id, "*")) {
        int64_t e;
        bool prompt;
        int found = !strcmp(type, "experiment") ? (parse_int64(id, &e) ? 0 : 1)
                  : !strcmp(type, "registered_model") ? auth_lookup_registered_model(id, &prompt, c->err)
                  : resolvable_type(type) ? 1 : 0;
        if (found <= 0)
            return found;
    }
    return is_workspace_admin(c, AUTH_DEFAULT_WORKSPACE);
}

static int user_create_rule(struct ctx *c)
{
    const char **v;
    size_t n;
    if (auth_admin_workspaces(c->req->arena, c->req->user->id, &v, &n, c->err))
        return -1;
    return n > 0;
}

static int user_self_rule(struct ctx *c)
{
    const char *u;
    if (required(c->req, "username", &u, c->err))
        return -1;
    return !strcmp(u, c->req->user->username);
}

/* ---- issue 21: evaluation datasets (_dataset_experiment_permissions) ---- */

/* the action on every experiment the dataset is linked to; none linked: denied */
static int dataset_rule(struct ctx *c, enum action a)
{
    const char *id = c->req->n_path_params ? c->req->path_params[0] : param(c->req, "dataset_id");
    const char **exps;
    size_t n;
    if (!id)
        return 0;
    if (store_eval_dataset_experiment_ids(c->req->arena, id, &exps, &n, c->err))
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct requirement r[] = { REQ("experiment", exps[i], a) };
        if (!authorize(&c->gs, r, 1))
            return 0;
    }
    return n > 0;
}

/* the action on every experiment_ids of the request; none: denied */
static int dataset_experiments_rule(struct ctx *c, enum action a)
{
    const char **exps;
    size_t n;
    if (json_get_string_array(c->req->arena, c->req->input, "experiment_ids", &exps, &n, c->err))
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct requirement r[] = { REQ("experiment", exps[i], a) };
        if (!authorize(&c->gs, r, 1))
            return 0;
    }
    return n > 0;
}

static int dataset_add_experiments_rule(struct ctx *c)
{
    int ok = dataset_rule(c, A_UPDATE);
    return ok == 1 ? dataset_experiments_rule(c, A_UPDATE) : ok;
}

/* ---- issue 21: registered scorers: the scorer tier, keyed "<experiment_id>/<quoted name>" ---- */

/* SqlAlchemyStore._scorer_pattern: the name URL-quoted with nothing safe (Python's
 * quote(name, safe=''): letters, digits and "_.-~" stay, every other byte is %XX) */
const char *auth_scorer_pattern(struct arena *a, const char *experiment_id, const char *name)
{
    struct strbuf sb;
    sb_init(&sb, a, strlen(experiment_id) + 3 * strlen(name) + 2);
    sb_puts(&sb, experiment_id);
    sb_putc(&sb, '/');
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("_.-~", *p))
            sb_putc(&sb, (char)*p);
        else
            sb_printf(&sb, "%%%02X", *p);
    }
    return sb.buf;
}

/* experiment_id and name (both required, as _get_request_param reads them) → the scorer key */
static int scorer_key(struct ctx *c, const char **exp, const char **key)
{
    const char *name;
    if (required(c->req, "experiment_id", exp, c->err) || required(c->req, "name", &name, c->err))
        return -1;
    *key = auth_scorer_pattern(c->req->arena, *exp, name);
    return 0;
}

/* validate_can_register_scorer: update on the experiment, neither the scorer nor the version tier denied */
static int scorer_register_rule(struct ctx *c)
{
    const char *e, *key;
    if (scorer_key(c, &e, &key))
        return -1;
    struct requirement r[] = { REQ("experiment", e, A_UPDATE), REQ("scorer", key, A_NOT_DENIED),
                               REQ("scorer_version", "*", A_NOT_DENIED) };
    return authorize(&c->gs, r, 3);
}

/* get-scorer and list-scorer-versions (validate_can_read_scorer): read on the scorer itself (its own
 * grant, else default_permission: the experiment's grant does not reach it), the version tier not
 * denied; delete-scorer: delete on the scorer (read when one version is named), delete on the
 * version tier with the scorer as fallback */
static int scorer_rule(struct ctx *c, bool deleting)
{
    const char *e, *key, *version = deleting ? param(c->req, "version") : NULL;
    if (scorer_key(c, &e, &key))
        return -1;
    enum action own = !deleting || version ? A_READ : A_DELETE;
    struct requirement r[] = { REQ("scorer", key, own),
                               REQ_FB("scorer_version", "*", deleting ? A_DELETE : A_NOT_DENIED, "scorer", key) };
    return authorize(&c->gs, r, 2);
}

/* list-scorers: read on experiment_id when given; without it the rows are filtered (auth_after) */
static int scorer_list_rule(struct ctx *c)
{
    const char *e = param(c->req, "experiment_id");
    if (!e || !*e)
        return 1;
    struct requirement r[] = { REQ("experiment", e, A_READ) };
    return authorize(&c->gs, r, 1);
}

/* online-configs: read on the experiment of every config the scorer_ids have */
static int scorer_configs_rule(struct ctx *c)
{
    const char **ids;
    size_t n, n_configs;
    struct online_scoring_config *configs;
    if (json_get_string_array(c->req->arena, c->req->input, "scorer_ids", &ids, &n, c->err))
        return -1;
    if (!n)
        return 1;
    if (store_get_online_scoring_configs(c->req->arena, ids, n, &configs, &n_configs, c->err))
        return -1;
    for (size_t i = 0; i < n_configs; i++) {
        struct requirement r[] = { REQ("experiment", i64str(c->req->arena, configs[i].experiment_id), A_READ) };
        if (!authorize(&c->gs, r, 1))
            return 0;
    }
    return 1;
}

/* online-config (PUT): update on the body's experiment_id; none: denied */
static int scorer_config_update_rule(struct ctx *c)
{
    const char *e = param(c->req, "experiment_id");
    if (!e || !*e)
        return 0;
    struct requirement r[] = { REQ("experiment", e, A_UPDATE) };
    return authorize(&c->gs, r, 1);
}

/* scorer/invoke (validate_can_invoke_scorer): update on the experiment, the trace tier (and the
 * assessment tier when assessments are logged) not denied; a named scorer not denied, nor its
 * version tier (the scorer as fallback); an inline one: the version tier not denied */
static int scorer_invoke_rule(struct ctx *c)
{
    const char *e;
    if (required(c->req, "experiment_id", &e, c->err))
        return -1;
    const cJSON *in = c->req->input;
    const cJSON *name = in ? cJSON_GetObjectItemCaseSensitive(in, "scorer_name") : NULL;
    const char *key = cJSON_IsString(name) && *name->valuestring ?
                      auth_scorer_pattern(c->req->arena, e, name->valuestring) : NULL;
    struct requirement r[5] = { REQ("experiment", e, A_UPDATE), REQ("trace", "*", A_NOT_DENIED),
                                REQ("scorer_version", "*", A_NOT_DENIED) };
    size_t n = 3;
    if (key) {
        r[2].fallback = (struct rung){ "scorer", key, A_NOT_DENIED };
        r[n++] = (struct requirement)REQ("scorer", key, A_NOT_DENIED);
    }
    const cJSON *log = in ? cJSON_GetObjectItemCaseSensitive(in, "log_assessments") : NULL;
    if (cJSON_IsTrue(log) || (cJSON_IsNumber(log) && log->valuedouble != 0) ||   /* Python truthiness */
        (cJSON_IsString(log) && *log->valuestring) || ((cJSON_IsArray(log) || cJSON_IsObject(log)) && log->child))
        r[n++] = (struct requirement)REQ("assessment", "*", A_NOT_DENIED);
    return authorize(&c->gs, r, n);
}

/* ---- issue 21: labelling (MLflow's auth app: issues and label schemas from
 * their experiment; review queues from the review_queue tier of their
 * experiment, with ownership and membership) ---- */

static int issue_rule(struct ctx *c, enum action a)
{
    struct issue is;
    struct error e2;
    if (store_get_issue(c->req->arena, c->req->path_params[0], &is, &e2))
        return e2.code == ERR_RESOURCE_DOES_NOT_EXIST ? 0 : (*c->err = e2, -1);   /* unknown: denied */
    struct requirement r[] = { REQ("experiment", i64str(c->req->arena, is.experiment_id), a) };
    return authorize(&c->gs, r, 1);
}

static int issue_search_rule(struct ctx *c)
{
    const char *e = param(c->req, "experiment_id"), *f = param(c->req, "filter_string");
    if (!e || !*e)
        return 0;
    struct requirement r[] = { REQ("experiment", e, A_READ) };
    if (!authorize(&c->gs, r, 1))
        return 0;
    struct sf_filter flt;
    struct error e2;
    bool names_run = false;   /* source_run_id names a run: the run tier must not be denied */
    if (f && !sf_parse_issue_filter(c->req->arena, f, &flt, &e2))
        for (size_t i = 0; i < flt.n; i++)
            names_run = names_run || !strcmp(flt.clauses[i].key, "source_run_id");
    return names_run ? !auth_tier_denied(&c->gs, "run") : 1;
}

static int label_schema_rule(struct ctx *c, enum action a)
{
    const char *id;
    struct label_schema s;
    if (required(c->req, "schema_id", &id, c->err) || store_get_label_schema(c->req->arena, id, &s, c->err))
        return -1;
    struct requirement r[] = { REQ("experiment", i64str(c->req->arena, s.experiment_id), a) };
    return authorize(&c->gs, r, 1);
}

/* _review_queue_permission_in_experiment: experiment READ, then the review_queue tier */
static bool rq_can(struct ctx *c, const char *exp, enum action a)
{
    struct requirement r[] = { REQ("experiment", exp, A_READ), REQ_FB("review_queue", "*", a, "experiment", exp) };
    return authorize(&c->gs, r, 2);
}

static const char *me(struct ctx *c)
{
    const char *u = c->req->user->username;
    while (*u == ' ')
        u++;
    char *o = arena_strdup(c->req->arena, u);
    for (char *p = o + strlen(o); p > o && p[-1] == ' ';)
        *--p = '\0';
    for (char *p = o; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return o;
}

static bool rq_member(struct ctx *c, const struct review_queue *q)
{
    const char *u = me(c);
    for (size_t i = 0; i < q->n_users; i++)
        if (!strcmp(q->users[i], u))
            return true;
    return false;
}

static bool rq_owner(struct ctx *c, const struct review_queue *q)
{
    if (!q->created_by)
        return false;
    const char *o = q->created_by;
    while (*o == ' ')
        o++;
    size_t n = strlen(o);
    while (n && o[n - 1] == ' ')
        n--;
    return n && strlen(me(c)) == n && !strncasecmp(o, me(c), n);
}

enum rq_op { RQ_VIEW, RQ_UPDATE, RQ_DELETE, RQ_ADD, RQ_REVIEW };

static int rq_rule(struct ctx *c, enum rq_op op)
{
    const char *id;
    struct review_queue q;
    if (required(c->req, "queue_id", &id, c->err) || store_get_review_queue(c->req->arena, id, &q, c->err))
        return -1;
    const char *e = i64str(c->req->arena, q.experiment_id);
    bool manage = rq_can(c, e, A_MANAGE), update = rq_can(c, e, A_UPDATE);
    switch (op) {
    case RQ_VIEW:
        return rq_can(c, e, A_READ) && (manage || rq_member(c, &q) || (update && rq_owner(c, &q)));
    case RQ_UPDATE:
        if (param(c->req, "new_owner"))
            return manage;
        return manage || (update && rq_owner(c, &q));
    case RQ_DELETE:
        return manage || (update && rq_owner(c, &q) && !strcmp(q.queue_type, "custom"));
    case RQ_ADD:
        return update;
    case RQ_REVIEW:
        return update && rq_member(c, &q);
    }
    return 0;
}

static int rq_by_name_rule(struct ctx *c)
{
    const char *e, *name;
    int64_t exp;
    if (required(c->req, "experiment_id", &e, c->err))
        return -1;
    if (!rq_can(c, e, A_READ))
        return 0;
    if (rq_can(c, e, A_MANAGE))
        return 1;
    struct review_queue q;
    if (required(c->req, "name", &name, c->err) || parse_experiment_id(e, &exp, c->err) ||
        store_get_review_queue_by_name(c->req->arena, exp, name, &q, c->err))
        return -1;
    return rq_member(c, &q) || (rq_can(c, e, A_UPDATE) && rq_owner(c, &q));
}

/* list: experiment READ; a caller without EDIT sees only the queues assigned to it
 * (filter_list_review_queues; the handler narrows by the "cairn.member" input) */
static int rq_list_rule(struct ctx *c)
{
    const char *e;
    if (required(c->req, "experiment_id", &e, c->err))
        return -1;
    struct requirement r[] = { REQ("experiment", e, A_READ) };
    if (!authorize(&c->gs, r, 1))
        return 0;
    json_set_thread_arena(c->req->arena);   /* the request's input lives in its arena */
    cJSON_DeleteItemFromObjectCaseSensitive(c->req->input, "cairn.member");
    if (!(rq_can(c, e, A_READ) && rq_can(c, e, A_UPDATE))) {
        const char *v = rq_can(c, e, A_READ) ? me(c) : "";
        cJSON_AddItemToObject(c->req->input, "cairn.member", cJSON_CreateString(v));
    }
    json_set_thread_arena(NULL);
    return 1;
}

static int labeling_rule(struct ctx *c, enum auth_rule rule)
{
    const char *e;
    switch (rule) {
    case AUTH_ISSUE_CREATE:
        e = param(c->req, "experiment_id");
        return e && *e ? exp_rule(c, A_UPDATE) : 0;
    case AUTH_ISSUE_SEARCH: return issue_search_rule(c);
    case AUTH_ISSUE_READ: return issue_rule(c, A_READ);
    case AUTH_ISSUE_UPDATE: return issue_rule(c, A_UPDATE);
    case AUTH_ISSUE_INVOKE: case AUTH_RQ_CREATE:
        if (required(c->req, "experiment_id", &e, c->err))
            return -1;
        return create_in_experiment(c, e, rule == AUTH_ISSUE_INVOKE ? "run" : "review_queue");
    case AUTH_LABEL_SCHEMA_CREATE: return exp_rule(c, A_MANAGE);
    case AUTH_LABEL_SCHEMA_READ: return label_schema_rule(c, A_READ);
    case AUTH_LABEL_SCHEMA_MANAGE: return label_schema_rule(c, A_MANAGE);
    case AUTH_LABELING_EXP_READ: return exp_rule(c, A_READ);
    case AUTH_RQ_VIEW: return rq_rule(c, RQ_VIEW);
    case AUTH_RQ_VIEW_BY_NAME: return rq_by_name_rule(c);
    case AUTH_RQ_LIST: return rq_list_rule(c);
    case AUTH_RQ_UPDATE: return rq_rule(c, RQ_UPDATE);
    case AUTH_RQ_DELETE: return rq_rule(c, RQ_DELETE);
    case AUTH_RQ_ADD_ITEMS: return rq_rule(c, RQ_ADD);
    case AUTH_RQ_REVIEW: return rq_rule(c, RQ_REVIEW);
    default: return 0;
    }
}

/* ---- issue 12: the MCP server registry (_get_mcp_server_validator) ----
 * The path names the server in its first two segments after the prefix; the
 * version tier ("mcp_server_version", wildcard only) falls back to the server. */

#define MCP_PREFIX "/api/3.0/mlflow/mcp-servers"

static const char *str_field(const cJSON *o, const char *k)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* _mcp_server_version_action_allowed */
static int mcp_version_allowed(struct ctx *c, const char *name, enum action a)
{
    struct requirement r[] = { REQ("mcp_server", name, A_READ),
                               REQ_FB("mcp_server_version", "*", a, "mcp_server", name) };
    return authorize(&c->gs, r, 2);
}

/* _mcp_request_selects_a_version: selectors in the query, a status filter, or a body selector */
static bool mcp_selects_version(struct ctx *c)
{
    struct request *req = c->req;
    const char *filter = NULL;
    for (size_t i = 0; i < req->n_query; i++) {
        const char *k = req->query[i].key, *v = req->query[i].value;
        if ((!strcmp(k, "server_version") || !strcmp(k, "server_alias")) && *v)
            return true;
        if (!strcmp(k, "filter_string"))
            filter = v;
    }
    if (filter && *filter) {
        struct sf_filter f;
        struct error e;
        if (sf_parse_mcp_filter(req->arena, filter, SF_MCP_ENDPOINT, &f, &e))
            return true;   /* MLflow: a filter that does not parse selects */
        for (size_t i = 0; i < f.n; i++)
            if (f.clauses[i].entity == SF_ATTR && !strcmp(f.clauses[i].key, "status"))
                return true;
    }
    if (strcmp(req->method, "POST") && strcmp(req->method, "PATCH"))
        return false;
    const char *v = str_field(req->input, "server_version"), *al = str_field(req->input, "server_alias");
    return (v && *v) || (al && *al);
}

static int mcp_rule(struct ctx *c)
{
    struct request *req = c->req;
    const char *p = strstr(req->path, MCP_PREFIX);
    const char *suffix = p ? p + strlen(MCP_PREFIX) : "";
    while (*suffix == '/')
        suffix++;
    size_t len = strlen(suffix);
    while (len && suffix[len - 1] == '/')
        len--;
    /* parts[0..2] of suffix.split("/") */
    const char *parts[3] = { NULL, NULL, NULL };
    size_t part_len[3] = { 0, 0, 0 }, n_parts = 0;
    for (const char *s = suffix, *end = suffix + len; len && s <= end && n_parts < 3;) {
        const char *slash = memchr(s, '/', (size_t)(end - s));
        const char *e = slash ? slash : end;
        parts[n_parts] = s;
        part_len[n_parts++] = (size_t)(e - s);
        if (!slash)
            break;
        s = slash + 1;
    }
    const char *method = req->method;
    if (n_parts < 2) {
        if (!strcmp(method, "POST")) {   /* validate_can_create_mcp_server(body name) */
            const char *name = str_field(req->input, "name");
            struct requirement r[] = { REQ("mcp_server", name && *name ? name : "*", A_NOT_DENIED) };
            return authorize(&c->gs, r, 1);
        }
        if (n_parts == 1 && part_len[0] == 9 && !strncmp(parts[0], "endpoints", 9) && mcp_selects_version(c)) {
            struct requirement r[] = { REQ("mcp_server_version", "*", A_NOT_DENIED) };
            return authorize(&c->gs, r, 1);
        }
        return 1;
    }
    const char *name = arena_printf(req->arena, "%.*s/%.*s", (int)part_len[0], parts[0], (int)part_len[1], parts[1]);
    const char *sub = n_parts == 3 ? arena_strndup(req->arena, parts[2], part_len[2]) : "";
    bool versions = !strcmp(sub, "versions");
    /* the version create: "<ns>/<slug>/versions" exactly */
    bool create_path = versions && parts[2] + part_len[2] == suffix + len;
    if (!strcmp(method, "POST") && create_path) {
        int exists = store_mcp_server_exists(req->arena, name, c->err);
        if (exists < 0)
            return -1;
        if (!exists) {   /* the parent is created too: creating, not denied on either tier */
            struct requirement r[] = { REQ("mcp_server", "*", A_NOT_DENIED), REQ("mcp_server", name, A_NOT_DENIED),
                                       REQ("mcp_server_version", "*", A_NOT_DENIED) };
            return authorize(&c->gs, r, 3);
        }
        struct requirement r[] = { REQ("mcp_server", name, A_UPDATE), REQ("mcp_server_version", "*", A_NOT_DENIED) };
        return authorize(&c->gs, r, 2);
    }
    bool get = !strcmp(method, "GET"), del = !strcmp(method, "DELETE");
    bool write = !strcmp(method, "POST") || !strcmp(method, "PATCH");
    if (!get && !del && !write)
        return 0;
    if (versions)   /* the version is the subject: the server's read, the version tier's action */
        return mcp_version_allowed(c, name, del ? A_DELETE : write ? A_UPDATE : A_READ);
    struct requirement own[] = { REQ("mcp_server", name, del ? A_DELETE : write ? A_UPDATE : A_READ) };
    if (!authorize(&c->gs, own, 1))
        return 0;
    if (!strcmp(sub, "aliases"))   /* an alias discloses the version it names */
        return mcp_version_allowed(c, name, A_READ);
    if (!strcmp(sub, "endpoints") && mcp_selects_version(c))
        return mcp_version_allowed(c, name, A_NOT_DENIED);
    if (del)
        return mcp_version_allowed(c, name, A_DELETE);
    return 1;
}

/* ---- dispatch ---- */

static int apply(const struct route *route, struct ctx *c)
{
    enum auth_rule rule = route->auth;
    switch (rule) {
    case AUTH_RULE_MISSING: case AUTH_RULE_COUNT: case AUTH_ADMIN: return 0;
    case AUTH_PUBLIC: case AUTH_ANY_USER: case AUTH_USER_LIST: return 1;
    /* search routes authorize by filtering (auth_after / the experiment_ids list) */
    case AUTH_EXP_SEARCH: case AUTH_RM_SEARCH: case AUTH_RUN_SEARCH:
        return 1;
    case AUTH_MV_SEARCH: return run_filter_gate(c, false);
    case AUTH_LM_SEARCH: return run_filter_gate(c, true);
    case AUTH_EXP_CREATE: {
        struct requirement r[] = { REQ("experiment", "*", A_NOT_DENIED) };
        return authorize(&c->gs, r, 1);
    }
    case AUTH_EXP_READ: return exp_rule(c, A_READ);
    case AUTH_EXP_READ_BY_NAME: return exp_by_name(c);
    case AUTH_EXP_UPDATE: return exp_rule(c, A_UPDATE);
    case AUTH_EXP_DELETE: return exp_rule(c, A_DELETE);
    case AUTH_RUN_CREATE: {
        const char *e;
        if (required(c->req, "experiment_id", &e, c->err))
            return -1;
        return create_in_experiment(c, e, "run");
    }
    case AUTH_RUN_READ: return run_rule(c, A_READ);
    case AUTH_RUN_UPDATE: return run_rule(c, A_UPDATE);
    case AUTH_RUN_DELETE: return run_rule(c, A_DELETE);
    case AUTH_RUN_LOG: return run_log_rule(c);
    case AUTH_METRIC_BULK: return metric_bulk_rule(c);
    case AUTH_RUN_ARTIFACT_READ: return run_artifact_rule(c);
    case AUTH_MV_ARTIFACT_READ: return mv_artifact_rule(c);
    case AUTH_ARTIFACT_READ: return artifact_rule(c, A_READ);
    case AUTH_ARTIFACT_UPDATE: return artifact_rule(c, A_UPDATE);
    case AUTH_ARTIFACT_DELETE: return artifact_rule(c, A_MANAGE);
    case AUTH_LM_CREATE: {
        const char *e, *src = param(c->req, "source_run_id");
        if (required(c->req, "experiment_id", &e, c->err))
            return -1;
        int ok = create_in_experiment(c, e, "logged_model");
        return ok == 1 && src && *src ? run_id_rule(c, src, A_READ) : ok;
    }
    case AUTH_LM_READ: return logged_model_rule(c, A_READ);
    case AUTH_LM_UPDATE: return logged_model_rule(c, A_UPDATE);
    case AUTH_LM_DELETE: return logged_model_rule(c, A_DELETE);
    case AUTH_RM_CREATE: return rm_create_rule(c);
    case AUTH_RM_READ: return rm_rule(c, A_READ);
    case AUTH_RM_UPDATE: return rm_rule(c, A_UPDATE);
    case AUTH_RM_DELETE: return rm_version_rule(c, A_DELETE, A_DELETE, true);
    case AUTH_MV_CREATE: return mv_create_rule(c);
    case AUTH_MV_READ: return rm_version_rule(c, A_READ, A_NOT_DENIED, false);
    case AUTH_MV_UPDATE: return rm_version_rule(c, A_READ, A_UPDATE, true);
    case AUTH_MV_DELETE: return rm_version_rule(c, A_READ, A_DELETE, true);
    case AUTH_ALIAS_SET: return alias_rule(c, A_UPDATE);
    case AUTH_ALIAS_DELETE: return alias_rule(c, A_DELETE);
    case AUTH_USER_SELF: return user_self_rule(c);
    case AUTH_USER_CREATE: return user_create_rule(c);
    case AUTH_ROLES_MANAGE: return roles_rule(c, true);
    case AUTH_ROLES_VIEW: return roles_rule(c, false);
    case AUTH_ROLES_LIST: return roles_list_rule(c);
    case AUTH_USER_ROLES_VIEW: return user_roles_view_rule(c);
    case AUTH_RESOURCE_MANAGE: return resource_manage_rule(c);
    case AUTH_USER_PERMISSION_GET: return user_permission_get_rule(c);
    case AUTH_OTLP_TRACES: return otlp_rule(c);
    case AUTH_TRACE_START: return trace_start_v3_rule(c);
    case AUTH_TRACE_READ: return trace_rule(c, A_READ, false, A_READ, A_READ);
    case AUTH_TRACE_UPDATE: return trace_rule(c, A_UPDATE, false, A_READ, A_READ);
    case AUTH_TRACE_DELETE: return trace_delete_rule(c);
    case AUTH_TRACE_BATCH_READ: return traces_of_ids_rule(c);
    case AUTH_TRACE_SEARCH: return trace_search_rule(c);
    case AUTH_TRACE_LINK_RUN: return trace_link_run_rule(c);
    case AUTH_TRACE_START_V2: return trace_start_rule(c, param(c->req, "experiment_id"), false);
    case AUTH_TRACE_SEARCH_IDS: return trace_search_ids_rule(c, route->handler);
    case AUTH_EXP_IDS_READ: return experiment_ids_read_rule(c, route->handler);
    case AUTH_PRESIGNED_UPLOAD: return presigned_upload_rule(c);
    case AUTH_ASSESSMENT_CREATE: return assessment_create_rule(c);
    case AUTH_ASSESSMENT_READ: return trace_rule(c, A_READ, true, A_READ, A_READ);
    case AUTH_ASSESSMENT_UPDATE: return trace_rule(c, A_READ, true, A_UPDATE, A_UPDATE);
    case AUTH_ASSESSMENT_DELETE: return trace_rule(c, A_READ, true, A_DELETE, A_UPDATE);
    case AUTH_DATASET_CREATE: return dataset_experiments_rule(c, A_UPDATE);
    case AUTH_DATASET_SEARCH: return dataset_experiments_rule(c, A_READ);
    case AUTH_DATASET_READ: return dataset_rule(c, A_READ);
    case AUTH_DATASET_UPDATE: return dataset_rule(c, A_UPDATE);
    case AUTH_DATASET_DELETE: return dataset_rule(c, A_DELETE);
    case AUTH_DATASET_ADD_EXPERIMENTS: return dataset_add_experiments_rule(c);
    case AUTH_SCORER_REGISTER: return scorer_register_rule(c);
    case AUTH_SCORER_INVOKE: return scorer_invoke_rule(c);
    case AUTH_SCORER_LIST: return scorer_list_rule(c);
    case AUTH_SCORER_READ: return scorer_rule(c, false);
    case AUTH_SCORER_DELETE: return scorer_rule(c, true);
    case AUTH_SCORER_CONFIGS_READ: return scorer_configs_rule(c);
    case AUTH_SCORER_CONFIG_UPDATE: return scorer_config_update_rule(c);
    case AUTH_ISSUE_CREATE: case AUTH_ISSUE_SEARCH: case AUTH_ISSUE_READ: case AUTH_ISSUE_UPDATE:
    case AUTH_ISSUE_INVOKE: case AUTH_LABEL_SCHEMA_CREATE: case AUTH_LABEL_SCHEMA_READ:
    case AUTH_LABEL_SCHEMA_MANAGE: case AUTH_LABELING_EXP_READ: case AUTH_RQ_CREATE: case AUTH_RQ_VIEW:
    case AUTH_RQ_VIEW_BY_NAME: case AUTH_RQ_LIST: case AUTH_RQ_UPDATE: case AUTH_RQ_DELETE:
    case AUTH_RQ_ADD_ITEMS: case AUTH_RQ_REVIEW:
        return labeling_rule(c, rule);   /* issue 21 */
    case AUTH_MCP: return mcp_rule(c);
    case AUTH_GENAI_EVALUATE_INVOKE: {
        const char *e;
        if (required(c->req, "experiment_id", &e, c->err))
            return -1;
        return create_in_experiment(c, e, "run");
    }
    }
    return 0;
}

const struct auth_grants *auth_load_grants(struct request *req, struct error *err)
{
    struct auth_grants *gs = arena_alloc(req->arena, sizeof *gs);
    return load_grants(req, gs, err) ? NULL : gs;
}

bool auth_tier_denied(const struct auth_grants *gs, const char *type)
{
    struct requirement r[] = { REQ(type, "*", A_NOT_DENIED) };
    return !authorize(gs, r, 1);
}

bool auth_tier_readable_in(const struct auth_grants *gs, const char *type, const char *experiment_id)
{
    struct requirement r[] = { REQ_FB(type, "*", A_READ, "experiment", experiment_id) };
    return authorize(gs, r, 1);
}

/* issue 12: the caller's permission on one MCP server, and whether its version tier is open to them */
enum perm auth_mcp_server_perm(const struct auth_grants *gs, const char *name)
{
    int g = fold(gs, "mcp_server", name);
    return g < 0 ? auth_api_config.default_permission : g == PERM_DENY ? PERM_DENY : floor_positive(g);
}

bool auth_mcp_versions_open(const struct auth_grants *gs, const char *name)
{
    struct requirement r[] = { REQ("mcp_server", name, A_READ),
                               REQ_FB("mcp_server_version", "*", A_NOT_DENIED, "mcp_server", name) };
    return authorize(gs, r, 2);
}

bool auth_row_readable(const struct auth_grants *gs, const char *type, const char *id, const char *tier)
{
    struct requirement r[2] = { REQ_FB(type, id, A_READ, "workspace", "*"), REQ(tier, "*", A_NOT_DENIED) };
    return authorize(gs, r, tier ? 2 : 1);
}

/* search-runs: experiment_ids reduced to the readable ones (filter_experiment_ids; runs: the run tier
 * not denied too); *given / *kept count them */
static void keep_readable_experiments(struct ctx *c, bool runs, size_t *given, size_t *kept_n)
{
    cJSON *ids = cJSON_GetObjectItemCaseSensitive(c->req->input, "experiment_ids");
    struct requirement run_ok[] = { REQ("run", "*", A_NOT_DENIED) };
    bool visible = !runs || authorize(&c->gs, run_ok, 1);
    json_set_thread_arena(c->req->arena);
    cJSON *kept = cJSON_CreateArray();
    const cJSON *it;
    *given = 0;
    cJSON_ArrayForEach(it, (cJSON_IsArray(ids) ? ids : NULL)) {
        const char *id = cJSON_IsString(it) || cJSON_IsNumber(it) ? it->valuestring : NULL;
        struct requirement r[] = { REQ_FB("experiment", id, A_READ, "workspace", "*") };
        ++*given;
        if (id && visible && authorize(&c->gs, r, 1))
            cJSON_AddItemToArray(kept, cJSON_CreateString(id));
    }
    if (cJSON_IsString(ids)) {   /* a GET with one experiment_ids */
        struct requirement r[] = { REQ_FB("experiment", ids->valuestring, A_READ, "workspace", "*") };
        ++*given;
        if (visible && authorize(&c->gs, r, 1))
            cJSON_AddItemToArray(kept, cJSON_CreateString(ids->valuestring));
    }
    *kept_n = (size_t)cJSON_GetArraySize(kept);
    if (ids)
        cJSON_ReplaceItemInObjectCaseSensitive(c->req->input, "experiment_ids", kept);
    json_set_thread_arena(NULL);
}

static int filter_run_search(struct ctx *c)
{
    size_t given, kept;
    keep_readable_experiments(c, true, &given, &kept);
    return 1;
}

int auth_check(const struct route *route, struct request *req, struct error *err)
{
    if (!req->user || req->user->is_admin || route->auth == AUTH_PUBLIC)
        return 0;
    struct ctx c = { .req = req, .err = err };
    if (route->auth == AUTH_ANY_USER || route->auth == AUTH_USER_LIST)
        return 0;
    if (load_grants(req, &c.gs, err))
        return -1;
    int ok = apply(route, &c);
    if (ok == 1 && route->auth == AUTH_RUN_SEARCH && req->input)
        ok = filter_run_search(&c);
    return ok < 0 ? -1 : ok == 1 ? 0 : 1;
}

static const struct route *route_of(api_handler h, const char *method)
{
    const struct route *route = NULL;
    for (size_t i = 0; i < api_routes_count; i++)
        if (api_routes[i].handler == h && (!route || !strcmp(api_routes[i].method, method)))
            route = &api_routes[i];
    return route;
}

int auth_call_handler(api_handler h, struct request *req, struct response *resp, struct error *err)
{
    const struct route *route = route_of(h, req->method);
    if (req->user && !req->user->is_admin) {
        int denied = route ? auth_check(route, req, err) : 1;
        if (denied < 0)
            return -1;
        if (denied)
            return error_set(err, ERR_PERMISSION_DENIED, "Permission denied");
    }
    if (h(req, resp, err))
        return -1;
    return req->user && route ? auth_after(route, req, resp, err) : 0;
}

/* GraphQLAuthorizationMiddleware._check_authorization: a field names no resource (no id) passes */
static int graphql_gate(struct ctx *c, api_handler h)
{
    if (h == api_get_experiment) {
        const char *id = param(c->req, "experiment_id");
        return !id || !*id ? 1 : exp_rule(c, A_READ);
    }
    if (h == api_get_run || h == api_list_artifacts) {
        const char *id = param(c->req, "run_id");
        if (!id || !*id)
            id = param(c->req, "run_uuid");
        return !id || !*id ? 1 : run_id_rule(c, id, A_READ);
    }
    if (h == api_get_metric_history_bulk_interval) {
        const char **ids;
        size_t n;
        if (json_get_string_array(c->req->arena, c->req->input, "run_ids", &ids, &n, c->err))
            return -1;
        for (size_t i = 0; i < n; i++) {
            int ok = run_id_rule(c, ids[i], A_READ);
            if (ok != 1)
                return ok;
        }
        return 1;
    }
    if (h == api_search_runs || h == api_search_datasets) {   /* none readable of those named: withheld */
        size_t given, kept;
        keep_readable_experiments(c, h == api_search_runs, &given, &kept);
        return !given || kept;
    }
    if (h == api_search_model_versions)
        return run_filter_gate(c, false);
    return 0;
}

int auth_graphql_call(api_handler h, enum auth_graphql_field field, struct request *req, struct response *resp,
                      bool *withheld, struct error *err)
{
    const struct route *route = route_of(h, req->method);
    *withheld = false;
    if (!req->user || field == AUTH_GQL_OPEN)
        return auth_call_handler(h, req, resp, err);
    if (req->user->is_admin) {   /* the middleware resolves an admin's field inside its try: an error is null */
        if (auth_call_handler(h, req, resp, err)) {
            *err = (struct error){ 0 };
            *withheld = true;
        }
        return 0;
    }
    if (!route) {
        *withheld = true;
        return 0;
    }
    if (field == AUTH_GQL_CHECKED) {
        struct error ignored = { 0 };   /* MLflow's middleware turns a failed check into null, silently */
        struct ctx c = { .req = req, .err = &ignored };
        if (load_grants(req, &c.gs, &ignored) || graphql_gate(&c, h) != 1) {
            *withheld = true;
            return 0;
        }
    }
    if (h(req, resp, err))
        return -1;
    return auth_after(route, req, resp, err);
}

int auth_check_route_table(void)
{
    int bad = 0;
    for (size_t i = 0; i < api_routes_count; i++) {
        const struct route *r = &api_routes[i];
        if (r->auth <= AUTH_RULE_MISSING || r->auth >= AUTH_RULE_COUNT) {
            fprintf(stderr, "cairn: route %s %s has no permission rule: give it one in api/routes.c "
                            "(see enum auth_rule in api/api.h)\n", r->method, r->pattern);
            bad = 1;
        }
    }
    return bad ? -1 : 0;
}
