/* /api/2.0/mlflow/registered-models/… and /api/2.0/mlflow/model-versions/…:
 * MLflow's model registry (server/handlers.py, store/model_registry/
 * sqlalchemy_store.py), prompts included. */
#include "common.h"
#include "registry.h"
#include "artifacts_api.h"
#include "../store/logged_models.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_MODEL_REGISTRY_TAG_KEY_LENGTH 250
#define MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH 100000
#define MAX_REGISTERED_MODEL_ALIAS_LENGTH 255
#define SEARCH_REGISTERED_MODELS_DEFAULT 100
#define SEARCH_REGISTERED_MODELS_MAX 1000
#define SEARCH_MODEL_VERSIONS_DEFAULT 200000   /* the proto default */
#define SEARCH_MODEL_VERSIONS_MAX 200000
#define PROMPT_TEXT_TAG_KEY "mlflow.prompt.text"

/* ---- input ---- */

/* _validate_model_name: required, no '/' or ':', not a path that normalises away */
static int validate_model_name(const char *name, const char *field, struct error *err)
{
    const char *p = name;
    while (isspace((unsigned char)*p))
        p++;
    if (!*p)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Missing value for required parameter '%s'.", field);
    if (strpbrk(name, "/:"))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "Invalid model name '%.500s'. Names cannot contain '/' or ':'.", name);
    /* without '/', posixpath.normpath only changes "." and names starting with ".." */
    if (!strcmp(name, ".") || !strncmp(name, "..", 2)) {
        char msg[320];
        snprintf(msg, sizeof msg, "Names may be treated as files in certain cases, and must not resolve to other "
                                  "names when treated as such. This name would resolve to '%.100s'", name);
        return invalid_value_error(err, "name", name, msg);
    }
    return 0;
}

static int get_model_name(const cJSON *in, const char *field, const char **name, struct error *err)
{
    return json_get_string(in, field, true, name, err) || validate_model_name(*name, field, err) ? -1 : 0;
}

/* int(version), as MLflow: the string field, or a JSON number */
static int get_version(const cJSON *in, int64_t *version, struct error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, "version");
    const char *s = NULL;
    if (v && cJSON_IsNumber(v))
        s = v->valuestring;
    else if (json_get_string(in, "version", true, &s, err))
        return -1;
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    char *end = NULL;
    bool ok = (isdigit((unsigned char)*p) || ((*p == '-' || *p == '+') && isdigit((unsigned char)p[1])));
    if (ok) {
        long long x = strtoll(p, &end, 10);
        while (end && isspace((unsigned char)*end))
            end++;
        ok = end && !*end && !strchr(p, '.');
        *version = x;
    }
    if (!ok)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Parameter 'version' must be an integer, got '%.200s'.", s);
    return 0;
}

/* _validate_model_alias_name (+ the reserved names when setting) */
static int validate_alias(const char *alias, bool setting, struct error *err)
{
    if (!*alias)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Registered model alias name cannot be empty.");
    for (const unsigned char *c = (const unsigned char *)alias; *c; c++)
        if (!(isalnum(*c) || *c == '_' || *c == '-' || *c >= 0x80))   /* Python's \w takes non-ASCII letters */
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid alias name: '%.300s'. Names may only contain "
                             "alphanumerics, underscores (_), and dashes (-).", alias);
    if (validate_length("Registered model alias name", alias, MAX_REGISTERED_MODEL_ALIAS_LENGTH, err))
        return -1;
    if (!setting)
        return 0;
    if (!strcasecmp(alias, "latest"))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "'latest' alias name (case insensitive) is reserved.");
    if ((alias[0] == 'v' || alias[0] == 'V') && alias[1] && strspn(alias + 1, "0123456789") == strlen(alias + 1))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Version alias name '%s' is reserved.", alias);
    return 0;
}

static int validate_tags(struct kv *tags, size_t n, bool version_tags, struct error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (!tags[i].key)
            tags[i].key = "";   /* protobuf's default: MLflow's name check refuses it */
        if (!tags[i].value)
            tags[i].value = "";
        if (validate_key_name(tags[i].key, "key", err) ||
            validate_length("key", tags[i].key, MAX_MODEL_REGISTRY_TAG_KEY_LENGTH, err))
            return -1;
        if (version_tags && !strcmp(tags[i].key, PROMPT_TEXT_TAG_KEY) &&
            utf8_len(tags[i].value) > MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Prompt text exceeds max length of %d characters.",
                             MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH);
        if (validate_length("value", tags[i].value, MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH, err))
            return -1;
    }
    return 0;
}

/* get_canonical_stage: None, Staging, Production, Archived, any case */
static int canonical_stage(const char *stage, const char **out, struct error *err)
{
    static const char *const stages[] = { "None", "Staging", "Production", "Archived" };
    for (size_t i = 0; i < 4; i++)
        if (!strcasecmp(stage, stages[i])) {
            *out = stages[i];
            return 0;
        }
    return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid Model Version stage: %.200s. Value must be one of "
                     "None, Staging, Production, Archived.", stage);
}

/* ---- output ---- */

static void write_model_version(struct jw *w, const struct model_version *mv)
{
    jw_obj(w);
    jw_kstr(w, "name", mv->name);
    jw_key(w, "version");
    char v[24];
    snprintf(v, sizeof v, "%lld", (long long)mv->version);
    jw_str(w, v);
    jw_kint64(w, "creation_timestamp", mv->creation_time);
    jw_kint64(w, "last_updated_timestamp", mv->last_updated_time);
    jw_kstr(w, "user_id", mv->user_id);
    jw_kstr(w, "current_stage", mv->current_stage);
    jw_kstr(w, "description", mv->description);
    jw_kstr(w, "source", mv->source);
    jw_kstr(w, "run_id", mv->run_id);
    jw_kstr(w, "status", mv->status);   /* always READY: clients never poll */
    if (mv->status_message && *mv->status_message)
        jw_kstr(w, "status_message", mv->status_message);
    write_tags(w, "tags", mv->tags, mv->n_tags);
    jw_kstr(w, "run_link", mv->run_link);
    if (mv->n_aliases) {
        jw_karr(w, "aliases");
        for (size_t i = 0; i < mv->n_aliases; i++)
            jw_str(w, mv->aliases[i]);
        jw_arr_end(w);
    }
    jw_obj_end(w);
}

static void write_registered_model(struct jw *w, const struct registered_model *rm)
{
    jw_obj(w);
    jw_kstr(w, "name", rm->name);
    jw_kint64(w, "creation_timestamp", rm->creation_time);
    if (rm->last_updated_time)
        jw_kint64(w, "last_updated_timestamp", rm->last_updated_time);
    if (rm->description && *rm->description)   /* MLflow leaves an empty description out */
        jw_kstr(w, "description", rm->description);
    if (rm->n_latest) {
        jw_karr(w, "latest_versions");
        for (size_t i = 0; i < rm->n_latest; i++)
            write_model_version(w, &rm->latest[i]);
        jw_arr_end(w);
    }
    write_tags(w, "tags", rm->tags, rm->n_tags);
    if (rm->n_aliases) {
        jw_karr(w, "aliases");
        for (size_t i = 0; i < rm->n_aliases; i++) {
            char v[24];
            snprintf(v, sizeof v, "%lld", (long long)rm->aliases[i].version);
            jw_obj(w);
            jw_kstr(w, "alias", rm->aliases[i].alias);
            jw_kstr(w, "version", v);
            jw_obj_end(w);
        }
        jw_arr_end(w);
    }
    jw_obj_end(w);
}

static void registered_model_item(struct jw *w, const void *rm)
{
    write_registered_model(w, rm);
}

static int reply_registered_model(struct response *resp, const struct registered_model *rm)
{
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "registered_model");
    write_registered_model(&w, rm);
    reply_end(&w);
    return 0;
}

static int reply_model_version(struct response *resp, const struct model_version *mv)
{
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "model_version");
    write_model_version(&w, mv);
    reply_end(&w);
    return 0;
}

static int reply_model_versions(struct response *resp, const struct model_version *mvs, size_t n,
                                const char *next_page_token)
{
    struct jw w;
    reply_begin(resp, &w);
    if (n) {
        jw_karr(&w, "model_versions");
        for (size_t i = 0; i < n; i++)
            write_model_version(&w, &mvs[i]);
        jw_arr_end(&w);
    }
    jw_kstr(&w, "next_page_token", next_page_token);
    reply_end(&w);
    return 0;
}

/* ---- registered models ---- */

int api_create_registered_model(struct request *req, struct response *resp, struct error *err)
{
    const char *name, *description = NULL;
    struct kv *tags;
    size_t n_tags;
    struct registered_model rm;
    if (json_get_string(req->input, "name", true, &name, err) ||
        get_tag_list(req->arena, req->input, "tags", &tags, &n_tags, err) ||
        json_get_string(req->input, "description", false, &description, err) ||
        validate_model_name(name, "name", err) || validate_tags(tags, n_tags, false, err) ||
        store_create_registered_model(req->arena, name, description ? description : "", tags, n_tags, &rm, err))
        return -1;
    return reply_registered_model(resp, &rm);
}

int api_get_registered_model(struct request *req, struct response *resp, struct error *err)
{
    const char *name;
    struct registered_model rm;
    if (get_model_name(req->input, "name", &name, err) || store_get_registered_model(req->arena, name, &rm, err))
        return -1;
    return reply_registered_model(resp, &rm);
}

int api_rename_registered_model(struct request *req, struct response *resp, struct error *err)
{
    const char *name, *new_name;
    struct registered_model rm;
    if (json_get_string(req->input, "name", true, &name, err) ||
        json_get_string(req->input, "new_name", true, &new_name, err) ||
        validate_model_name(new_name, "new_name", err) || validate_model_name(name, "name", err) ||
        store_rename_registered_model(req->arena, name, new_name, &rm, err))
        return -1;
    return reply_registered_model(resp, &rm);
}

int api_update_registered_model(struct request *req, struct response *resp, struct error *err)
{
    const char *name, *description = NULL;
    struct registered_model rm;
    if (get_model_name(req->input, "name", &name, err) ||
        json_get_string(req->input, "description", false, &description, err) ||
        store_update_registered_model(req->arena, name, description ? description : "", &rm, err))
        return -1;
    return reply_registered_model(resp, &rm);
}

int api_delete_registered_model(struct request *req, struct response *resp, struct error *err)
{
    const char *name;
    if (get_model_name(req->input, "name", &name, err) || store_delete_registered_model(req->arena, name, err))
        return -1;
    return reply_empty(resp);
}

static int get_search(struct request *req, enum registry_entity which, struct registry_search *s,
                      int64_t *max_results, struct error *err)
{
    const char *filter = NULL, *token = NULL;
    const char **order_by;
    size_t n_order;
    int64_t dflt = which == REG_MODELS ? SEARCH_REGISTERED_MODELS_DEFAULT : SEARCH_MODEL_VERSIONS_DEFAULT;
    int64_t max = which == REG_MODELS ? SEARCH_REGISTERED_MODELS_MAX : SEARCH_MODEL_VERSIONS_MAX;
    memset(s, 0, sizeof *s);
    if (get_max_results(req->input, which == REG_MODELS ? MAXR_RUNS : MAXR_MODEL_VERSIONS, dflt, max, max_results, err) ||
        json_get_string(req->input, "filter", false, &filter, err) ||
        json_get_string(req->input, "page_token", false, &token, err) ||
        get_string_list(req, "order_by", &order_by, &n_order, err) ||
        registry_parse_filter(req->arena, which, filter, &s->filter, err) ||
        page_token_decode(req->arena, token, &s->offset, err))
        return -1;
    if (which == REG_VERSIONS && n_order == 0) {
        static const char *const dflt_order[] = { "last_updated_timestamp DESC", "name ASC", "version_number DESC" };
        order_by = (const char **)dflt_order;
        n_order = 3;
    }
    if (registry_parse_order_by(req->arena, which, order_by, n_order, &s->order, err))
        return -1;
    s->limit = *max_results + 1;
    return 0;
}

int api_search_registered_models(struct request *req, struct response *resp, struct error *err)
{
    struct registry_search s;
    int64_t max_results;
    struct registered_model *rms;
    size_t n;
    if (get_search(req, REG_MODELS, &s, &max_results, err) ||
        store_search_registered_models(req->arena, &s, &rms, &n, err))
        return -1;
    return reply_page(req, resp, "registered_models", rms, n, sizeof *rms, registered_model_item, max_results,
                      s.offset);
}

int api_get_latest_versions(struct request *req, struct response *resp, struct error *err)
{
    const char *name;
    const char **stages;
    size_t n_stages;
    if (get_model_name(req->input, "name", &name, err) ||
        get_string_list(req, "stages", &stages, &n_stages, err))
        return -1;
    for (size_t i = 0; i < n_stages; i++)
        if (canonical_stage(stages[i], &stages[i], err))
            return -1;
    struct model_version *mvs;
    size_t n;
    if (store_get_latest_versions(req->arena, name, stages, n_stages, &mvs, &n, err))
        return -1;
    return reply_model_versions(resp, mvs, n, NULL);
}

int api_set_registered_model_tag(struct request *req, struct response *resp, struct error *err)
{
    const char *name;
    struct kv tag = { 0 };
    if (json_get_string(req->input, "name", true, &name, err) ||
        json_get_string(req->input, "key", true, &tag.key, err) ||
        json_get_string(req->input, "value", false, &tag.value, err) ||
        validate_model_name(name, "name", err) || validate_tags(&tag, 1, false, err) ||
        store_set_registered_model_tag(req->arena, name, tag.key, tag.value, err))
        return -1;
    return reply_empty(resp);
}

int api_delete_registered_model_tag(struct request *req, struct response *resp, struct error *err)
{
    const char *name, *key;
    if (json_get_string(req->input, "name", true, &name, err) ||
        json_get_string(req->input, "key", true, &key, err) ||
        validate_model_name(name, "name", err) || validate_key_name(key, "key", err) ||
        store_delete_registered_model_tag(req->arena, name, key, err))
        return -1;
    return reply_empty(resp);
}

/* ---- aliases ---- */

int api_set_registered_model_alias(struct request *req, struct response *resp, struct error *err)
{
    const char *name, *alias;
    int64_t version;
    if (json_get_string(req->input, "name", true, &name, err) ||
        json_get_string(req->input, "alias", true, &alias, err) ||
        get_version(req->input, &version, err) ||
        validate_model_name(name, "name", err) || validate_alias(alias, true, err) ||
        store_set_model_alias(req->arena, name, alias, version, err))
        return -1;
    return reply_empty(resp);
}

int api_delete_registered_model_alias(struct request *req, struct response *resp, struct error *err)
{
    const char *name, *alias;
    if (json_get_string(req->input, "name", true, &name, err) ||
        json_get_string(req->input, "alias", true, &alias, err) ||
        validate_model_name(name, "name", err) || validate_alias(alias, false, err) ||
        store_delete_model_alias(req->arena, name, alias, err))
        return -1;
    return reply_empty(resp);
}

int api_get_model_version_by_alias(struct request *req, struct response *resp, struct error *err)
{
    const char *name, *alias;
    struct model_version mv;
    if (json_get_string(req->input, "name", true, &name, err) ||
        json_get_string(req->input, "alias", true, &alias, err) ||
        validate_model_name(name, "name", err) || validate_alias(alias, false, err) ||
        store_get_model_version_by_alias(req->arena, name, alias, &mv, err))
        return -1;
    return reply_model_version(resp, &mv);
}

/* ---- model version sources ----
 *
 * MLflow's rules (handlers._validate_source_run / _validate_source_model and
 * friends): runs:/ needs the matching run_id, models:/<id> the matching
 * model_id, mlflow-artifacts: URIs must lie in that run's or logged model's
 * artifact root, local paths likewise and (Cairn's rule) under the server's
 * artifact roots; hosts the server would connect to are refused; other
 * schemes (s3://, gs://, …) are stored as given and never opened. */

struct uri_parts {
    const char *scheme;     /* lower case; "" when none */
    const char *netloc;     /* "" when none */
    const char *path;
};

/* urllib.parse.urlparse, the parts we need: scheme, netloc, path (no query/fragment) */
static void split_uri(struct arena *a, const char *uri, struct uri_parts *u)
{
    const char *p = uri;
    u->scheme = "";
    u->netloc = "";
    if (isalpha((unsigned char)*p)) {
        const char *q = p;
        while (isalnum((unsigned char)*q) || *q == '+' || *q == '-' || *q == '.')
            q++;
        if (*q == ':') {
            char *s = arena_strndup(a, p, (size_t)(q - p));
            for (char *c = s; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            u->scheme = s;
            p = q + 1;
        }
    }
    if (p[0] == '/' && p[1] == '/') {
        size_t n = strcspn(p + 2, "/?#");
        u->netloc = arena_strndup(a, p + 2, n);
        p += 2 + n;
    }
    u->path = arena_strndup(a, p, strcspn(p, "?#"));
}

static int hexval(char c)
{
    return isdigit((unsigned char)c) ? c - '0' : isxdigit((unsigned char)c) ? (tolower((unsigned char)c) - 'a' + 10) : -1;
}

/* one pass of unquote (plus: '+' is a space too) */
static char *unquote_once(struct arena *a, const char *s, bool plus)
{
    char *out = arena_alloc(a, strlen(s) + 1), *o = out;
    for (; *s; s++) {
        if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
            *o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
            s += 2;
        } else {
            *o++ = plus && *s == '+' ? ' ' : *s;
        }
    }
    *o = '\0';
    return out;
}

/* decode until stable (bounded: each pass that changes something shortens the string) */
static const char *unquote_all(struct arena *a, const char *s, bool plus)
{
    for (;;) {
        const char *next = unquote_once(a, s, plus);
        if (!strcmp(next, s))
            return s;
        s = next;
    }
}

static int relative_source_error(struct error *err, const char *source)
{
    return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid model version source: '%.500s'. If supplying a source "
                     "as an http, https, local file path, ftp, objectstore, or mlflow-artifacts uri, an absolute path "
                     "must be provided without relative path references present. Please provide an absolute path.",
                     source);
}

static int invalid_source(struct error *err, const char *source, const char *id_name)
{
    return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid model version source: '%.500s'. The %s request "
                     "parameter must identify the resource that contains the source.", source, id_name);
}

/* _validate_non_local_source_contains_relative_paths: after decoding, no NUL,
 * no ".." segment, and the path must already be absolute and normalised. */
static int check_no_relative_paths(struct arena *a, const char *source, struct error *err)
{
    const char *dec = unquote_all(a, source, true);
    for (const char *seg = dec; seg; ) {
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        if (len == 2 && seg[0] == '.' && seg[1] == '.')
            return relative_source_error(err, source);
        seg = slash ? slash + 1 : NULL;
    }
    struct uri_parts u;
    split_uri(a, dec, &u);
    /* collapse repeated slashes, drop trailing ones */
    char *path = arena_strdup(a, u.path), *o = path;
    for (const char *c = u.path; *c; c++)
        if (!(*c == '/' && o > path && o[-1] == '/'))
            *o++ = *c;
    while (o > path && o[-1] == '/')
        o--;
    *o = '\0';
    if (path[0] != '/')
        return relative_source_error(err, source);
    for (const char *seg = path + 1; seg; ) {
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        if (len == 1 && seg[0] == '.')
            return relative_source_error(err, source);
        seg = slash ? slash + 1 : NULL;
    }
    return 0;
}

static bool is_local_uri(const struct uri_parts *u)
{
    if (!*u->scheme || !strcmp(u->scheme, "file"))
        return true;
    return false;
}

/* The local filesystem path of a file: URI or plain path, normalised
 * lexically; NULL when it names a remote host. */
static const char *local_path(struct arena *a, const char *uri)
{
    struct uri_parts u;
    split_uri(a, uri, &u);
    if (*u.netloc && strcmp(u.netloc, "localhost") && strncmp(u.netloc, "127.0.0.1", 9))
        return NULL;
    const char *raw = !strcmp(u.scheme, "file") ? unquote_all(a, u.path, false) : uri;
    if (raw[0] != '/')
        return NULL;
    char *out = arena_alloc(a, strlen(raw) + 2);
    size_t n = 0;
    for (const char *seg = raw; seg; ) {
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        if (len == 0 || (len == 1 && seg[0] == '.')) {
            /* skip */
        } else if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
        } else {
            out[n++] = '/';
            memcpy(out + n, seg, len);
            n += len;
        }
        seg = slash ? slash + 1 : NULL;
    }
    if (!n)
        out[n++] = '/';
    out[n] = '\0';
    return out;
}

static bool path_within(const char *path, const char *root)
{
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    return !strncmp(path, root, n) && (path[n] == '\0' || path[n] == '/' || n == 1);
}

/* Until the artifact engineer's artifact_uri_check (store/paths.h) lands:
 * a local source must lie under one of the server's artifact roots. */
static bool registry_local_source_under_artifact_roots(struct arena *a, const char *path)
{
    const char *roots[2] = { api_config.artifacts_destination, api_config.default_artifact_root };
    for (size_t i = 0; i < 2; i++) {
        if (!roots[i] || !*roots[i])
            continue;
        struct uri_parts u;
        split_uri(a, roots[i], &u);
        if (!is_local_uri(&u))
            continue;
        const char *root = local_path(a, roots[i]);
        if (root && path_within(path, root))
            return true;
    }
    return false;
}

/* _is_uri_within_root: same scheme and authority, root's decoded path parts a prefix */
static bool uri_within_root(struct arena *a, const char *source, const char *root)
{
    struct uri_parts s, r;
    split_uri(a, source, &s);
    split_uri(a, root, &r);
    if (strcmp(s.scheme, r.scheme) || strcasecmp(s.netloc, r.netloc))
        return false;
    const char *sp = s.path, *rp = r.path;
    bool any_root_part = false;
    for (;;) {
        while (*rp == '/')
            rp++;
        while (*sp == '/')
            sp++;
        if (!*rp)
            return any_root_part;
        size_t rl = strcspn(rp, "/"), sl = strcspn(sp, "/");
        const char *rpart = unquote_all(a, arena_strndup(a, rp, rl), false);
        const char *spart = unquote_all(a, arena_strndup(a, sp, sl), false);
        if (!sl || strcmp(rpart, spart))
            return false;
        any_root_part = true;
        rp += rl;
        sp += sl;
    }
}

/* host_policy.rejected_host_addressed_scheme: schemes whose artifact
 * repositories connect to the host in the URI, unless it is the host of the
 * server's own default artifact root. */
int check_host_addressed(struct arena *a, const char *source, const char *field, struct error *err)
{
    static const char *const schemes[] = { "ftp", "sftp", "hdfs", "viewfs", "http", "https", "mlflow-artifacts",
                                           "r2", "b2", "abfss" };
    struct uri_parts u;
    split_uri(a, source, &u);
    bool hosted = false;
    for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++)
        hosted |= !strcmp(u.scheme, schemes[i]);
    if (!hosted || (!strcmp(u.scheme, "mlflow-artifacts") && !*u.netloc))
        return 0;
    if (api_config.default_artifact_root) {
        struct uri_parts root;
        split_uri(a, api_config.default_artifact_root, &root);
        if (*root.netloc && !strcmp(root.scheme, u.scheme) && !strcasecmp(root.netloc, u.netloc))
            return 0;
    }
    return error_set(err, ERR_INVALID_PARAMETER_VALUE, "'%s' cannot use the '%s' scheme: the '%s' scheme addresses "
                     "a host other than the tracking server's configured artifact storage, so the server would "
                     "connect to the host named in the URI. Set the MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES "
                     "environment variable on the server to allow it.", field, u.scheme, u.scheme);
}

/* models:/… URIs (_parse_model_uri) */
struct model_uri {
    const char *model_id;            /* models:/<id> */
    const char *name;
    const char *version, *stage, *alias;   /* at most one; none: latest */
};

static bool parse_model_uri(struct arena *a, const struct uri_parts *u, struct model_uri *m)
{
    memset(m, 0, sizeof *m);
    const char *path = u->path;
    if (path[0] != '/' || !path[1])
        return false;
    path++;
    const char *slash = strchr(path, '/');
    if (slash) {
        if (strchr(slash + 1, '/') || slash == path)
            return false;
        const char *suffix = slash + 1;
        const char *t = suffix;
        while (isspace((unsigned char)*t))
            t++;
        if (!*t)
            return false;
        m->name = arena_strndup(a, path, (size_t)(slash - path));
        for (const char *c = m->name; *c && isspace((unsigned char)*c); c++)
            if (!c[1])
                return false;
        if (strspn(suffix, "0123456789") == strlen(suffix))
            m->version = suffix;
        else if (strcasecmp(suffix, "latest"))
            m->stage = suffix;
        return true;
    }
    const char *at = strrchr(path, '@');
    if (at) {
        if (!at[1])
            return false;
        m->name = arena_strndup(a, path, (size_t)(at - path));
        m->alias = at + 1;
        return true;
    }
    m->model_id = path;
    return true;
}

struct source_in {
    const char *source, *run_id, *model_id;
    bool has_run_id, has_model_id;
};

/* _resolve_registered_model_source_lineage: a models:/<name>/<ref> source
 * becomes models:/<name>/<version>, inheriting run_id and model_id, and is
 * downloaded from that version's location. */
static int resolve_lineage(struct request *req, struct source_in *in, const char **storage_location,
                           struct error *err)
{
    struct arena *a = req->arena;
    struct uri_parts u;
    split_uri(a, in->source, &u);
    if (strcmp(u.scheme, "models"))
        return 0;
    if (*u.netloc)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid model version source: '%.500s'. Registered "
                         "model sources must use the active model registry.", in->source);
    struct model_uri m;
    if (!parse_model_uri(a, &u, &m))
        return invalid_source(err, in->source, "model_id");
    if (m.model_id)
        return 0;
    store_reads_from_primary();   /* issue 17: the source decides the write */
    bool prompt;
    if (store_registered_model_is_prompt(a, m.name, &prompt, err))
        return -1;
    if (prompt)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid model version source: '%.500s'. Prompt versions "
                         "cannot be used as model version sources.", in->source);
    struct model_version src;
    if (m.alias) {
        if (store_get_model_version_by_alias(a, m.name, m.alias, &src, err))
            return -1;
    } else {
        int64_t version = 0;
        if (m.version) {
            version = strtoll(m.version, NULL, 10);
        } else {
            const char *stage = NULL;
            struct model_version *mvs;
            size_t n;
            if ((m.stage && canonical_stage(m.stage, &stage, err)) ||
                store_get_latest_versions(a, m.name, stage ? &stage : NULL, stage ? 1 : 0, &mvs, &n, err))
                return -1;
            for (size_t i = 0; i < n; i++)
                if (mvs[i].version > version)
                    version = mvs[i].version;
            if (!n)
                return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "No versions of model with name '%s' and stage "
                                 "'%s' found", m.name, stage ? stage : "None");
        }
        if (store_get_model_version(a, m.name, version, &src, err))
            return -1;
    }
    const char *src_run = src.run_id ? src.run_id : "", *src_model = src.model_id ? src.model_id : "";
    if ((in->has_run_id && strcmp(in->run_id ? in->run_id : "", src_run)) ||
        (in->has_model_id && strcmp(in->model_id ? in->model_id : "", src_model)))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid model version source: '%.500s'. The run_id and "
                         "model_id request parameters must match the referenced model version.", in->source);
    in->source = arena_printf(a, "models:/%s/%lld", src.name, (long long)src.version);
    if (!in->has_run_id)
        in->run_id = src.run_id;
    if (!in->has_model_id)
        in->model_id = src.model_id;
    *storage_location = src.storage_location ? src.storage_location : src.source;
    return 0;
}

static int local_source_error(struct error *err, const char *source, bool by_model)
{
    return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid model version source: '%.500s'. To use a local path "
                     "as a model version source, the %s request parameter has to be specified and the local path has "
                     "to be contained within the artifact directory of the run specified by the %s.", source,
                     by_model ? "model_id" : "run_id", by_model ? "model_id" : "run_id");
}

/* The artifact root that must contain a local or mlflow-artifacts source:
 * the run's artifact_uri, or the logged model's artifact_location. NULL
 * with no error when the id is unknown (the caller reports it). */
static int owner_root(struct request *req, const char *run_id, const char *model_id, const char **root,
                      struct error *err)
{
    *root = NULL;
    struct error lookup;
    if (model_id && *model_id) {
        struct logged_model lm;
        if (store_get_logged_model(req->arena, model_id, false, &lm, &lookup)) {
            if (lookup.code != ERR_RESOURCE_DOES_NOT_EXIST)
                return *err = lookup, -1;
            return 0;
        }
        *root = lm.artifact_location;
        return 0;
    }
    if (run_id && *run_id) {
        struct run run;
        if (store_get_run(req->arena, run_id, &run, &lookup)) {
            if (lookup.code != ERR_RESOURCE_DOES_NOT_EXIST)
                return *err = lookup, -1;
            return 0;
        }
        *root = run.info.artifact_uri;
    }
    return 0;
}

/* _validate_source_run / _validate_source_model */
static int validate_source(struct request *req, const struct source_in *in, struct error *err)
{
    struct arena *a = req->arena;
    bool by_model = in->model_id && *in->model_id;
    const char *id_name = by_model ? "model_id" : "run_id";
    struct uri_parts u;
    split_uri(a, in->source, &u);
    if (is_local_uri(&u)) {
        const char *root, *path = local_path(a, in->source);
        if (owner_root(req, in->run_id, in->model_id, &root, err))
            return -1;
        const char *root_path = NULL;
        if (root) {
            struct uri_parts ru;
            split_uri(a, root, &ru);
            root_path = is_local_uri(&ru) ? local_path(a, root) : NULL;
        }
        if (path && root_path && path_within(path, root_path) && registry_local_source_under_artifact_roots(a, path))
            return 0;
        return local_source_error(err, in->source, by_model);
    }
    if (check_no_relative_paths(a, in->source, err))
        return -1;
    if (!strcmp(u.scheme, "runs")) {
        if (by_model || *u.netloc)
            return invalid_source(err, in->source, id_name);
        const char *p = u.path;
        while (*p == '/')
            p++;
        size_t n = strcspn(p, "/");
        if (in->run_id && *in->run_id && n && strlen(in->run_id) == n && !strncmp(p, in->run_id, n))
            return 0;
        return invalid_source(err, in->source, "run_id");
    }
    if (!strcmp(u.scheme, "models")) {
        struct model_uri m;
        if (*u.netloc || !parse_model_uri(a, &u, &m))
            return invalid_source(err, in->source, "model_id");
        if (m.model_id) {
            if (by_model && !strcmp(m.model_id, in->model_id))
                return 0;
            return invalid_source(err, in->source, "model_id");
        }
    }
    if (!strcmp(u.scheme, "mlflow-artifacts")) {
        const char *root;
        if (owner_root(req, in->run_id, in->model_id, &root, err))
            return -1;
        if (root && uri_within_root(a, in->source, root))
            return 0;
        return invalid_source(err, in->source, id_name);
    }
    return 0;
}

static bool is_prompt_tags(const struct kv *tags, size_t n)
{
    bool prompt = false;
    for (size_t i = 0; i < n; i++)   /* the last value wins, as MLflow's dict */
        if (!strcmp(tags[i].key, PROMPT_TAG_KEY))
            prompt = !strcasecmp(tags[i].value, "true");
    return prompt;
}

/* ---- model versions ---- */

/* MLflow's set_model_versions_tags: the logged model's mlflow.modelVersions
 * tag lists every registered version made from it, as JSON. */
static int link_logged_model(struct arena *a, const char *model_id, const char *name, int64_t version,
                             struct error *err)
{
    struct logged_model lm;
    if (store_get_logged_model(a, model_id, false, &lm, err))
        return -1;
    const char *existing = NULL;
    for (size_t i = 0; i < lm.n_tags; i++)
        if (!strcmp(lm.tags[i].key, "mlflow.modelVersions"))
            existing = lm.tags[i].value;
    struct strbuf entry, list;
    sb_init(&entry, a, 64);
    sb_puts(&entry, "{\"name\": ");
    json_escape(&entry, name, strlen(name));
    sb_printf(&entry, ", \"version\": %lld}", (long long)version);   /* an int, as MLflow's server writes it */
    sb_init(&list, a, 128);
    size_t n = existing ? strlen(existing) : 0;
    if (n >= 2 && existing[0] == '[' && existing[n - 1] == ']') {
        if (strstr(existing, entry.buf))
            return 0;
        sb_putn(&list, existing, n - 1);
        if (n > 2)
            sb_puts(&list, ", ");
    } else {
        sb_putc(&list, '[');
    }
    sb_puts(&list, entry.buf);
    sb_putc(&list, ']');
    struct kv tag = { "mlflow.modelVersions", list.buf };
    return store_set_logged_model_tags(a, model_id, &tag, 1, err);
}

int api_create_model_version(struct request *req, struct response *resp, struct error *err)
{
    struct model_version_create c = { 0 };
    struct source_in in = { 0 };
    struct kv *tags;
    size_t n_tags;
    if (json_get_string(req->input, "name", true, &c.name, err) ||
        json_get_string(req->input, "source", true, &in.source, err) ||
        json_get_string(req->input, "run_id", false, &in.run_id, err) ||
        get_tag_list(req->arena, req->input, "tags", &tags, &n_tags, err) ||
        json_get_string(req->input, "run_link", false, &c.run_link, err) ||
        json_get_string(req->input, "description", false, &c.description, err) ||
        json_get_string(req->input, "model_id", false, &in.model_id, err))
        return -1;
    in.has_run_id = in.run_id != NULL;
    in.has_model_id = in.model_id != NULL;
    bool prompt = is_prompt_tags(tags, n_tags);
    if (prompt && strcmp(in.source, "dummy-source") && strcmp(in.source, "prompt-template"))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid prompt source: '%.500s'. Prompt sources must use "
                         "an MLflow placeholder.", in.source);
    if (check_host_addressed(req->arena, in.source, "source", err))
        return -1;
    const char *storage = NULL;
    if (!prompt && (resolve_lineage(req, &in, &storage, err) || validate_source(req, &in, err)))
        return -1;
    /* where the artifacts are: a logged model's location, else the source itself */
    struct uri_parts u;
    struct model_uri m = { 0 };
    split_uri(req->arena, in.source, &u);
    const char *lm_id = !strcmp(u.scheme, "models") && parse_model_uri(req->arena, &u, &m) && m.model_id
                            ? m.model_id : NULL;
    if (!lm_id && (!in.run_id || !*in.run_id) && in.model_id && *in.model_id && !prompt)
        lm_id = in.model_id;
    if (lm_id) {
        struct logged_model lm;
        if (store_get_logged_model(req->arena, lm_id, false, &lm, err))
            return -1;
        if (!strcmp(u.scheme, "models") && m.model_id)
            storage = lm.artifact_location;
        if (!in.run_id || !*in.run_id)
            in.run_id = lm.source_run_id;
    }
    /* MLflow's store checks the name and tags after the handler checked the source */
    if (validate_model_name(c.name, "name", err) || validate_tags(tags, n_tags, true, err))
        return -1;
    c.source = in.source;
    c.storage_location = storage;
    c.run_id = in.run_id ? in.run_id : "";
    c.model_id = in.model_id && *in.model_id ? in.model_id : NULL;
    c.run_link = c.run_link ? c.run_link : "";
    c.description = c.description ? c.description : "";
    c.tags = tags;
    c.n_tags = n_tags;
    struct model_version mv;
    if (store_create_model_version(req->arena, &c, &mv, err) ||
        (!prompt && c.model_id && link_logged_model(req->arena, c.model_id, mv.name, mv.version, err)))
        return -1;
    return reply_model_version(resp, &mv);
}

static int get_name_version(struct request *req, const char **name, int64_t *version, struct error *err)
{
    return json_get_string(req->input, "name", true, name, err) || get_version(req->input, version, err) ||
           validate_model_name(*name, "name", err) ? -1 : 0;
}

int api_get_model_version(struct request *req, struct response *resp, struct error *err)
{
    const char *name;
    int64_t version;
    struct model_version mv;
    if (get_name_version(req, &name, &version, err) || store_get_model_version(req->arena, name, version, &mv, err))
        return -1;
    return reply_model_version(resp, &mv);
}

int api_update_model_version(struct request *req, struct response *resp, struct error *err)
{
    const char *name, *description = NULL;
    int64_t version;
    struct model_version mv;
    if (get_name_version(req, &name, &version, err) ||
        json_get_string(req->input, "description", false, &description, err) ||
        store_update_model_version(req->arena, name, version, description, &mv, err))
        return -1;
    return reply_model_version(resp, &mv);
}

int api_transition_model_version_stage(struct request *req, struct response *resp, struct error *err)
{
    const char *name, *stage;
    int64_t version;
    bool archive = false;
    struct model_version mv;
    if (get_name_version(req, &name, &version, err) ||
        json_get_string(req->input, "stage", true, &stage, err) ||
        json_get_bool(req->input, "archive_existing_versions", &archive, NULL, err) ||
        canonical_stage(stage, &stage, err))
        return -1;
    if (archive && strcmp(stage, "Staging") && strcmp(stage, "Production"))   /* MLflow: 500; a 400 is honest */
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Model version transition cannot archive existing model "
                         "versions because '%s' is not an Active stage. Valid stages are ['Staging', 'Production']",
                         stage);
    if (store_transition_model_version_stage(req->arena, name, version, stage, archive, &mv, err))
        return -1;
    return reply_model_version(resp, &mv);
}

int api_delete_model_version(struct request *req, struct response *resp, struct error *err)
{
    const char *name;
    int64_t version;
    if (get_name_version(req, &name, &version, err) || store_delete_model_version(req->arena, name, version, err))
        return -1;
    return reply_empty(resp);
}

int api_get_model_version_download_uri(struct request *req, struct response *resp, struct error *err)
{
    const char *name;
    int64_t version;
    struct model_version mv;
    if (get_name_version(req, &name, &version, err) || store_get_model_version(req->arena, name, version, &mv, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_kstr(&w, "artifact_uri", mv.storage_location && *mv.storage_location ? mv.storage_location : mv.source);
    reply_end(&w);
    return 0;
}

int api_search_model_versions(struct request *req, struct response *resp, struct error *err)
{
    struct registry_search s;
    int64_t max_results;
    struct model_version *mvs;
    size_t n;
    if (get_search(req, REG_VERSIONS, &s, &max_results, err) ||
        store_search_model_versions(req->arena, &s, &mvs, &n, err))
        return -1;
    size_t shown = n > (size_t)max_results ? (size_t)max_results : n;
    return reply_model_versions(resp, mvs, shown,
                                n > shown ? page_token_encode(req->arena, s.offset + max_results) : NULL);
}

int api_set_model_version_tag(struct request *req, struct response *resp, struct error *err)
{
    const char *name;
    int64_t version;
    struct kv tag = { 0 };
    if (json_get_string(req->input, "name", true, &name, err) || get_version(req->input, &version, err) ||
        json_get_string(req->input, "key", true, &tag.key, err) ||
        json_get_string(req->input, "value", false, &tag.value, err) ||
        validate_model_name(name, "name", err) || validate_tags(&tag, 1, true, err) ||
        store_set_model_version_tag(req->arena, name, version, tag.key, tag.value, err))
        return -1;
    return reply_empty(resp);
}

int api_delete_model_version_tag(struct request *req, struct response *resp, struct error *err)
{
    const char *name, *key;
    int64_t version;
    if (json_get_string(req->input, "name", true, &name, err) || get_version(req->input, &version, err) ||
        json_get_string(req->input, "key", true, &key, err) ||
        validate_model_name(name, "name", err) || validate_key_name(key, "key", err) ||
        store_delete_model_version_tag(req->arena, name, version, key, err))
        return -1;
    return reply_empty(resp);
}
