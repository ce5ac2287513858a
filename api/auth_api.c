/* The basic-auth app's own routes (issue 16): users, per-user grants,
 * roles, the signup form — the 27 routes mlflow/server/auth/__init__.py
 * registers in create_app, with its request and reply shapes, so
 * mlflow.server.get_app_client("basic-auth", uri) works unchanged. */
#include "auth.h"
#include "common.h"
#include "handlers.h"
#include "../store/auth_store.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- parameters: body for POST/PATCH/DELETE, query for GET (_get_request_param) ---- */

static const cJSON *field(struct request *req, const char *name)
{
    return req->input ? cJSON_GetObjectItemCaseSensitive(req->input, name) : NULL;
}

static int str_param(struct request *req, const char *name, const char **out, struct error *err)
{
    const cJSON *v = field(req, name);
    if (!v)
        return json_missing(name, err);
    if (cJSON_IsArray(v))
        v = v->child;
    if (cJSON_IsString(v) || cJSON_IsNumber(v)) {
        *out = v->valuestring;
        return 0;
    }
    return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Parameter '%s' must be a string.", name);
}

static int int_param(struct request *req, const char *name, int64_t *out, struct error *err)
{
    const char *s;
    if (str_param(req, name, &s, err))
        return -1;
    if (parse_int64(s, out))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Parameter '%s' must be an integer. Got: '%s'", name, s);
    return 0;
}

static const char *opt_str(struct request *req, const char *name)
{
    const cJSON *v = field(req, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- writers ---- */

static void write_user(struct jw *w, const struct auth_user_row *u)
{
    jw_obj(w);
    jw_kint64(w, "id", u->id);
    jw_kstr(w, "username", u->username);
    jw_kbool(w, "is_admin", u->is_admin);
    jw_obj_end(w);
}

static void write_role_perm(struct jw *w, const struct auth_role_perm *p)
{
    jw_obj(w);
    jw_kint64(w, "id", p->id);
    jw_kint64(w, "role_id", p->role_id);
    jw_kstr(w, "resource_type", p->resource_type);
    jw_kstr(w, "resource_pattern", p->resource_pattern);
    jw_kstr(w, "permission", p->permission);
    jw_obj_end(w);
}

static void write_role(struct jw *w, const struct auth_role *ro)
{
    jw_obj(w);
    jw_kint64(w, "id", ro->id);
    jw_kstr(w, "name", ro->name);
    jw_kstr(w, "workspace", ro->workspace);
    jw_key(w, "description");
    if (ro->description)
        jw_str(w, ro->description);
    else
        sb_puts(w->sb, "null");   /* MLflow's to_json keeps the key */
    w->after_key = false;
    jw_karr(w, "permissions");
    for (size_t i = 0; i < ro->n_perms; i++)
        write_role_perm(w, &ro->perms[i]);
    jw_arr_end(w);
    jw_obj_end(w);
}

static void write_roles(struct jw *w, const char *key, const struct auth_role *roles, size_t n)
{
    jw_karr(w, key);
    for (size_t i = 0; i < n; i++)
        write_role(w, &roles[i]);
    jw_arr_end(w);
}

static int reply_role(struct response *resp, const struct auth_role *ro)
{
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "role");
    write_role(&w, ro);
    reply_end(&w);
    return 0;
}

static int reply_role_perm(struct response *resp, const struct auth_role_perm *p)
{
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "role_permission");
    write_role_perm(&w, p);
    reply_end(&w);
    return 0;
}

/* MLflow answers these with a bare text reply and status 400 */
static int text_400(struct response *resp, const char *msg)
{
    resp->status = 400;
    resp->content_type = "text/html; charset=utf-8";
    sb_puts(&resp->body, msg);
    return 0;
}

static bool json_request(struct request *req)
{
    const char *ct = req->content_type;
    return ct && !strncasecmp(ct, "application/json", 16);
}

/* ---- users ---- */

HANDLER(api_auth_create_user)
{
    if (!json_request(req))
        return text_400(resp, "Invalid content type. Must be application/json");
    const char *username, *password;
    if (str_param(req, "username", &username, err) || str_param(req, "password", &password, err))
        return -1;
    if (!*username || !*password)
        return text_400(resp, "Username and password cannot be empty.");
    struct auth_user_row u;
    if (auth_user_create(req->arena, username, password, false, &u, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "user");
    write_user(&w, &u);
    reply_end(&w);
    return 0;
}

HANDLER(api_auth_get_user)
{
    const char *username;
    struct auth_user_row u;
    if (str_param(req, "username", &username, err) || auth_user_get(req->arena, username, &u, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "user");
    write_user(&w, &u);
    reply_end(&w);
    return 0;
}

static bool in_list(const char *s, const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], s))
            return true;
    return false;
}

/* the roles a caller may see of another user: all for admins and oneself, else
 * those in workspaces the caller administers (NULL: all) */
static int visible_workspaces(struct request *req, const char *target, const char ***ws, size_t *n,
                              struct error *err)
{
    *ws = NULL;
    *n = 0;
    if (req->user->is_admin || !strcmp(req->user->username, target))
        return 0;
    return auth_admin_workspaces(req->arena, req->user->id, ws, n, err);
}

HANDLER(api_auth_list_users)
{
    struct auth_user_row *users;
    size_t n;
    const char **admin_ws = NULL;
    size_t n_ws = 0;
    if (auth_users_list(req->arena, &users, &n, err) ||
        (!req->user->is_admin && auth_admin_workspaces(req->arena, req->user->id, &admin_ws, &n_ws, err)))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_karr(&w, "users");
    for (size_t i = 0; i < n; i++) {
        struct auth_role *roles;
        size_t nr;
        if (auth_user_roles(req->arena, users[i].id, &roles, &nr, err))
            return -1;
        bool all = req->user->is_admin || !strcmp(users[i].username, req->user->username);
        jw_obj(&w);
        jw_kint64(&w, "id", users[i].id);
        jw_kstr(&w, "username", users[i].username);
        jw_kbool(&w, "is_admin", users[i].is_admin);
        jw_karr(&w, "roles");
        for (size_t k = 0; k < nr; k++)
            if (all || in_list(roles[k].workspace, admin_ws, n_ws))
                write_role(&w, &roles[k]);
        jw_arr_end(&w);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    reply_end(&w);
    return 0;
}

HANDLER(api_auth_get_current_user)
{
    struct auth_user_row u;
    if (auth_user_get(req->arena, req->user->username, &u, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "user");
    write_user(&w, &u);
    jw_kbool(&w, "is_basic_auth", auth_api_config.basic);
    reply_end(&w);
    return 0;
}

/* every grant on every role the user holds, scoped to what the caller may see */
static int reply_user_permissions(struct request *req, struct response *resp, const char *username,
                                  struct error *err)
{
    struct auth_user_row u;
    struct auth_role *roles;
    size_t nr, n_ws;
    const char **ws;
    if (auth_user_get(req->arena, username, &u, err) || auth_user_roles(req->arena, u.id, &roles, &nr, err) ||
        visible_workspaces(req, username, &ws, &n_ws, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_kbool(&w, "is_admin", u.is_admin);
    jw_karr(&w, "permissions");
    for (size_t i = 0; i < nr; i++) {
        if (ws && !in_list(roles[i].workspace, ws, n_ws))
            continue;
        for (size_t k = 0; k < roles[i].n_perms; k++) {
            const struct auth_role_perm *p = &roles[i].perms[k];
            jw_obj(&w);
            jw_kint64(&w, "role_id", roles[i].id);
            jw_kstr(&w, "role_name", roles[i].name);
            jw_kstr(&w, "workspace", roles[i].workspace);
            jw_kstr(&w, "resource_type", p->resource_type);
            jw_kstr(&w, "resource_pattern", p->resource_pattern);
            jw_kstr(&w, "permission", p->permission);
            jw_obj_end(&w);
        }
    }
    jw_arr_end(&w);
    reply_end(&w);
    return 0;
}

HANDLER(api_auth_list_current_user_permissions)
{
    return reply_user_permissions(req, resp, req->user->username, err);
}

HANDLER(api_auth_list_user_permissions)
{
    const char *username;
    if (str_param(req, "username", &username, err))
        return -1;
    return reply_user_permissions(req, resp, username, err);
}

HANDLER(api_auth_update_user_password)
{
    const char *username, *password;
    if (str_param(req, "username", &username, err) || str_param(req, "password", &password, err))
        return -1;
    if (!strcmp(username, req->user->username)) {
        /* self-service re-asserts the current password; admins changing others' do not */
        const char *current = opt_str(req, "current_password");
        struct auth_user_row u;
        if (!current || !*current)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                             "Current password is required when changing your own password.");
        if (auth_user_get(req->arena, username, &u, err))
            return -1;
        if (!auth_password_verify(current, u.password_hash))
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Current password does not match.");
        if (!strcmp(password, current))
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "New password must differ from the current password.");
    }
    if (auth_user_set_password(username, password, err))
        return -1;
    return reply_empty(resp);
}

HANDLER(api_auth_update_user_admin)
{
    const char *username;
    const cJSON *v = field(req, "is_admin");
    if (str_param(req, "username", &username, err))
        return -1;
    if (!v)
        return json_missing("is_admin", err);
    bool is_admin = cJSON_IsTrue(v) || (cJSON_IsString(v) && !strcasecmp(v->valuestring, "true"));
    if (auth_user_set_admin(username, is_admin, err))
        return -1;
    return reply_empty(resp);
}

HANDLER(api_auth_delete_user)
{
    const char *username;
    if (str_param(req, "username", &username, err))
        return -1;
    if (!strcmp(username, req->user->username))
        return error_set(err, ERR_BAD_REQUEST, "Users cannot delete their own account. Ask another admin to "
                         "delete this user instead.");
    if (auth_user_delete(username, err))
        return -1;
    return reply_empty(resp);
}

/* ---- per-user grants ---- */

static int grant_params(struct request *req, struct auth_user_row *u, const char **type, const char **id,
                        struct error *err)
{
    const char *username;
    if (str_param(req, "username", &username, err) || str_param(req, "resource_type", type, err) ||
        str_param(req, "resource_id", id, err) || auth_user_get(req->arena, username, u, err))
        return -1;
    if (!strcmp(*type, "workspace"))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "resource_type 'workspace' is not supported by the "
                         "per-user permission convenience APIs. Use set_workspace_permission / "
                         "delete_workspace_permission for workspace-wide grants.");
    return 0;
}

HANDLER(api_auth_grant_user_permission)
{
    struct auth_user_row u;
    const char *type, *id, *permission;
    if (grant_params(req, &u, &type, &id, err) || str_param(req, "permission", &permission, err) ||
        auth_validate_grant(type, id, permission, err) ||
        auth_grant_user(u.id, u.username, AUTH_DEFAULT_WORKSPACE, type, id, permission, true, err))
        return -1;
    return reply_empty(resp);
}

HANDLER(api_auth_revoke_user_permission)
{
    struct auth_user_row u;
    const char *type, *id;
    if (grant_params(req, &u, &type, &id, err))
        return -1;
    if (!auth_valid_resource_type(type))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid resource type '%s'.", type);
    if (auth_revoke_user(u.id, u.username, AUTH_DEFAULT_WORKSPACE, type, id, err))
        return -1;
    return reply_empty(resp);
}

HANDLER(api_auth_get_user_permission)
{
    struct auth_user_row u;
    const char *type, *id;
    enum perm p;
    if (grant_params(req, &u, &type, &id, err) || auth_resolve_user_permission(req, u.id, type, id, &p, err) < 0)
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_kbool(&w, "allowed", p == PERM_USE || p == PERM_EDIT || p == PERM_MANAGE);   /* can_use */
    jw_kstr(&w, "permission", perm_name(p));
    reply_end(&w);
    return 0;
}

/* ---- roles ---- */

HANDLER(api_auth_list_user_roles)
{
    const char *username, **ws;
    size_t n_ws, n;
    struct auth_user_row u;
    struct auth_role *roles;
    if (str_param(req, "username", &username, err) || auth_user_get(req->arena, username, &u, err) ||
        auth_user_roles(req->arena, u.id, &roles, &n, err) || visible_workspaces(req, username, &ws, &n_ws, err))
        return -1;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (!ws || in_list(roles[i].workspace, ws, n_ws))
            roles[kept++] = roles[i];
    struct jw w;
    reply_begin(resp, &w);
    write_roles(&w, "roles", roles, kept);
    reply_end(&w);
    return 0;
}

static bool blank(const char *s)
{
    return !s || !s[strspn(s, " \t\r\n")];
}

HANDLER(api_auth_create_role)
{
    const char *name, *workspace;
    if (str_param(req, "name", &name, err) || str_param(req, "workspace", &workspace, err))
        return -1;
    if (!cJSON_IsString(field(req, "name")) || blank(name))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Role name cannot be empty.");
    if (!cJSON_IsString(field(req, "workspace")) || blank(workspace))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Workspace cannot be empty.");
    const cJSON *d = field(req, "description");
    if (d && !cJSON_IsNull(d) && !cJSON_IsString(d))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Role description must be a string or null.");
    struct auth_role ro;
    if (auth_role_create(req->arena, name, workspace, cJSON_IsString(d) ? d->valuestring : NULL, &ro, err))
        return -1;
    return reply_role(resp, &ro);
}

HANDLER(api_auth_get_role)
{
    int64_t id;
    struct auth_role ro;
    if (int_param(req, "role_id", &id, err) || auth_role_get(req->arena, id, &ro, err))
        return -1;
    return reply_role(resp, &ro);
}

HANDLER(api_auth_list_roles)
{
    const char **ws = arena_alloc(req->arena, (req->n_query + 1) * sizeof *ws);
    size_t n_ws = 0, n;
    for (size_t i = 0; i < req->n_query; i++) {
        if (strcmp(req->query[i].key, "workspace"))
            continue;
        if (blank(req->query[i].value))
            return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                             "Parameter 'workspace' must be a non-empty string when provided.");
        ws[n_ws++] = req->query[i].value;
    }
    struct auth_role *roles;
    if (auth_role_list(req->arena, n_ws ? ws : NULL, n_ws, &roles, &n, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    write_roles(&w, "roles", roles, n);
    reply_end(&w);
    return 0;
}

HANDLER(api_auth_update_role)
{
    int64_t id;
    if (int_param(req, "role_id", &id, err))
        return -1;
    const cJSON *name = field(req, "name"), *d = field(req, "description");
    if ((!name || cJSON_IsNull(name)) && (!d || cJSON_IsNull(d)))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "At least one of 'name' or 'description' must be provided to update a role.");
    if (name && !cJSON_IsNull(name) && (!cJSON_IsString(name) || blank(name->valuestring)))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Role name cannot be empty.");
    if (d && !cJSON_IsNull(d) && !cJSON_IsString(d))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Role description must be a string.");
    struct auth_role ro;
    if (auth_role_update(req->arena, id, cJSON_IsString(name) ? name->valuestring : NULL,
                         cJSON_IsString(d) ? d->valuestring : NULL, &ro, err))
        return -1;
    return reply_role(resp, &ro);
}

HANDLER(api_auth_delete_role)
{
    int64_t id;
    if (int_param(req, "role_id", &id, err) || auth_role_delete(id, err))
        return -1;
    return reply_empty(resp);
}

HANDLER(api_auth_add_role_permission)
{
    int64_t id;
    const char *type, *pattern, *permission;
    struct auth_role_perm p;
    if (int_param(req, "role_id", &id, err) || str_param(req, "resource_type", &type, err) ||
        str_param(req, "resource_pattern", &pattern, err) || str_param(req, "permission", &permission, err) ||
        auth_validate_grant(type, pattern, permission, err) ||
        auth_role_perm_add(req->arena, id, type, pattern, permission, &p, err))
        return -1;
    return reply_role_perm(resp, &p);
}

HANDLER(api_auth_remove_role_permission)
{
    int64_t id;
    if (int_param(req, "role_permission_id", &id, err) || auth_role_perm_remove(id, err))
        return -1;
    return reply_empty(resp);
}

HANDLER(api_auth_list_role_permissions)
{
    int64_t id;
    struct auth_role ro;
    if (int_param(req, "role_id", &id, err) || auth_role_get(req->arena, id, &ro, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_karr(&w, "role_permissions");
    for (size_t i = 0; i < ro.n_perms; i++)
        write_role_perm(&w, &ro.perms[i]);
    jw_arr_end(&w);
    reply_end(&w);
    return 0;
}

HANDLER(api_auth_update_role_permission)
{
    int64_t id;
    const char *permission;
    struct auth_role_perm cur, p;
    if (int_param(req, "role_permission_id", &id, err) || str_param(req, "permission", &permission, err) ||
        auth_role_perm_get(req->arena, id, &cur, err) ||
        auth_validate_grant(cur.resource_type, cur.resource_pattern, permission, err) ||
        auth_role_perm_update(req->arena, id, permission, &p, err))
        return -1;
    return reply_role_perm(resp, &p);
}

static void write_assignment(struct jw *w, const struct auth_assignment *a)
{
    jw_obj(w);
    jw_kint64(w, "id", a->id);
    jw_kint64(w, "user_id", a->user_id);
    jw_kint64(w, "role_id", a->role_id);
    jw_obj_end(w);
}

HANDLER(api_auth_assign_role)
{
    const char *username;
    int64_t role_id;
    struct auth_user_row u;
    struct auth_assignment a;
    if (str_param(req, "username", &username, err) || int_param(req, "role_id", &role_id, err) ||
        auth_user_get(req->arena, username, &u, err) || auth_role_assign(u.id, role_id, &a, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_key(&w, "assignment");
    write_assignment(&w, &a);
    reply_end(&w);
    return 0;
}

HANDLER(api_auth_unassign_role)
{
    const char *username;
    int64_t role_id;
    struct auth_user_row u;
    if (str_param(req, "username", &username, err) || int_param(req, "role_id", &role_id, err) ||
        auth_user_get(req->arena, username, &u, err) || auth_role_unassign(u.id, role_id, err))
        return -1;
    return reply_empty(resp);
}

HANDLER(api_auth_list_role_users)
{
    int64_t id;
    struct auth_assignment *a;
    size_t n;
    if (int_param(req, "role_id", &id, err) || auth_role_users(req->arena, id, &a, &n, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_karr(&w, "assignments");
    for (size_t i = 0; i < n; i++)
        write_assignment(&w, &a[i]);
    jw_arr_end(&w);
    reply_end(&w);
    return 0;
}

/* ---- the signup form (CSRF token: HMAC of the user and an hour, keyed by
 * MLFLOW_FLASK_SERVER_SECRET_KEY, so every server of a fleet accepts it) ---- */

static const char *csrf_token(struct arena *a, const char *username, long hour)
{
    unsigned char mac[32];
    unsigned int len = 0;
    char msg[512];
    snprintf(msg, sizeof msg, "%ld:%s", hour, username);
    const char *key = auth_api_config.csrf_key ? auth_api_config.csrf_key : "";
    HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)msg, strlen(msg), mac, &len);
    char *hex = arena_alloc(a, 2 * len + 24);
    int off = sprintf(hex, "%ld.", hour);
    for (unsigned i = 0; i < len; i++)
        off += sprintf(hex + off, "%02x", mac[i]);
    return hex;
}

static bool csrf_ok(struct arena *a, const char *username, const char *token)
{
    long now = (long)(time(NULL) / 3600), hour = token ? strtol(token, NULL, 10) : 0;
    if (!token || (hour != now && hour != now - 1))
        return false;
    const char *want = csrf_token(a, username, hour);
    return strlen(want) == strlen(token) && CRYPTO_memcmp(want, token, strlen(want)) == 0;
}

HANDLER(api_auth_signup)
{
    resp->content_type = "text/html; charset=utf-8";
    sb_printf(&resp->body,
              "<!doctype html><title>Sign up</title>\n"
              "<form action=\"/api/2.0/mlflow/users/create-ui\" method=\"post\" "
              "style=\"max-width:400px;margin:0 auto;font-family:Arial,sans-serif\">\n"
              "  <input type=\"hidden\" name=\"csrf_token\" value=\"%s\"/>\n"
              "  <label for=\"username\">Username:</label><br>\n"
              "  <input type=\"text\" id=\"username\" name=\"username\" minlength=\"4\"><br>\n"
              "  <label for=\"password\">Password:</label><br>\n"
              "  <input type=\"password\" id=\"password\" name=\"password\" minlength=\"%d\"><br><br>\n"
              "  <input type=\"submit\" value=\"Sign up\">\n</form>\n",
              csrf_token(req->arena, req->user->username, (long)(time(NULL) / 3600)), AUTH_MIN_PASSWORD_LEN);
    return 0;
}

/* application/x-www-form-urlencoded, read from the stream (small: 8 KiB at most) */
static const char *form_value(struct arena *a, const char *body, const char *key)
{
    size_t kl = strlen(key);
    for (const char *s = body; s && *s;) {
        const char *amp = strchr(s, '&');
        size_t len = amp ? (size_t)(amp - s) : strlen(s);
        if (len > kl && s[kl] == '=' && !strncmp(s, key, kl)) {
            char *out = arena_alloc(a, len - kl);
            size_t o = 0;
            for (size_t i = kl + 1; i < len; i++) {
                char c = s[i];
                if (c == '+') {
                    c = ' ';
                } else if (c == '%' && i + 2 < len + 0 && s[i + 1] && s[i + 2]) {
                    char hx[3] = { s[i + 1], s[i + 2], 0 };
                    c = (char)strtol(hx, NULL, 16);
                    i += 2;
                }
                if (c == '\0')
                    return NULL;
                out[o++] = c;
            }
            return out;
        }
        s = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static int html_reply(struct request *req, int status, const char *message, const char *href)
{
    struct strbuf sb;
    sb_init(&sb, req->arena, 256);
    sb_puts(&sb, "<script type=\"text/javascript\">alert(\"");
    for (const char *p = message; *p; p++) {
        if (strchr("<>&\"'\\", *p))
            sb_printf(&sb, "\\x%02x", (unsigned char)*p);
        else
            sb_putc(&sb, *p);
    }
    sb_printf(&sb, "\");\nwindow.location.href = \"%s\";\n</script>\n", href);
    if (req->out.begin(req->out.ctx, status, "text/html; charset=utf-8", (long long)sb.len, NULL) ||
        req->out.write(req->out.ctx, sb.buf, sb.len))
        return -1;
    req->streamed = true;
    return 0;
}

HANDLER(api_auth_create_user_ui)
{
    const char *ct = req->content_type;
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33)) {
        resp->status = 400;
        resp->content_type = "text/html; charset=utf-8";
        sb_puts(&resp->body, "Invalid content type. Must be application/x-www-form-urlencoded");
        return 0;
    }
    char *body = arena_alloc(req->arena, 8193);
    size_t used = 0;
    for (;;) {
        long long n = req->body.read(req->body.ctx, body + used, 8192 - used);
        if (n < 0)
            return error_set(err, ERR_BAD_REQUEST, "Failed to read the request body");
        if (n == 0)
            break;
        used += (size_t)n;
        if (used >= 8192)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Request body exceeds the limit of 8192 bytes");
    }
    body[used] = '\0';
    if (!csrf_ok(req->arena, req->user->username, form_value(req->arena, body, "csrf_token"))) {
        resp->status = 400;
        resp->content_type = "text/html; charset=utf-8";
        sb_puts(&resp->body, "The CSRF token is missing or invalid.");
        return 0;
    }
    const char *username = form_value(req->arena, body, "username"), *password = form_value(req->arena, body, "password");
    if (!username || !password || !*username || !*password) {
        resp->status = 400;
        resp->content_type = "text/html; charset=utf-8";
        sb_puts(&resp->body, "Username and password cannot be empty.");
        return 0;
    }
    struct auth_user_row u;
    if (auth_user_create(req->arena, username, password, false, &u, err)) {
        if (err->code != ERR_RESOURCE_ALREADY_EXISTS)
            return -1;
        return html_reply(req, 200, arena_printf(req->arena, "Username has already been taken: %s", username),
                          "/signup");
    }
    return html_reply(req, 200, arena_printf(req->arena, "Successfully signed up user: %s", username), "/");
}
