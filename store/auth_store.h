/* Users, roles and grants of the basic-auth app (issue 16), in the
 * cairn_auth schema of the backend database or of the database the auth
 * config's database_uri names. Passwords are PBKDF2-HMAC-SHA256 (OpenSSL),
 * compared in constant time. No HTTP or JSON here. */
#ifndef CAIRN_AUTH_STORE_H
#define CAIRN_AUTH_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arena.h"
#include "error.h"

#define AUTH_DEFAULT_WORKSPACE "default"
#define AUTH_MIN_PASSWORD_LEN 12   /* MLflow 3.17's _validate_password */

/* Connects (a small pool of its own), creates the schema if it is missing. */
int  auth_store_open(const char *conninfo, int cache_ttl_seconds, struct error *err);
void auth_store_close(void);
/* Bumped by every change to users, roles or grants (grant caches compare it),
 * and by changes to users only (password, admin flag, deletion: the credential cache). */
unsigned auth_store_generation(void);
unsigned auth_store_user_generation(void);

struct auth_user_row {
    int64_t id;
    const char *username;
    const char *password_hash;
    bool is_admin;
};
struct auth_role_perm {
    int64_t id, role_id;
    const char *resource_type, *resource_pattern, *permission;
};
struct auth_role {
    int64_t id;
    const char *name, *workspace, *description;   /* description may be NULL */
    struct auth_role_perm *perms;
    size_t n_perms;
};
struct auth_assignment { int64_t id, user_id, role_id; };
struct auth_grant { const char *resource_type, *resource_pattern, *permission; };

/* Users. Errors as MLflow's store raises them (RESOURCE_DOES_NOT_EXIST, …). */
int auth_user_get(struct arena *a, const char *username, struct auth_user_row *out, struct error *err);
int auth_user_get_by_id(struct arena *a, int64_t id, struct auth_user_row *out, struct error *err);
int auth_user_create(struct arena *a, const char *username, const char *password, bool is_admin,
                     struct auth_user_row *out, struct error *err);
int auth_user_set_password(const char *username, const char *password, struct error *err);
int auth_user_set_admin(const char *username, bool is_admin, struct error *err);
int auth_user_delete(const char *username, struct error *err);
int auth_user_count(int64_t *n, struct error *err);
int auth_users_list(struct arena *a, struct auth_user_row **users, size_t *n, struct error *err);
/* Roles assigned to a user (with their permissions). */
int auth_user_roles(struct arena *a, int64_t user_id, struct auth_role **out, size_t *n, struct error *err);

/* A user's grants in a workspace (every role's rows), cached for the TTL
 * and until the next change. */
int auth_user_grants(struct arena *a, int64_t user_id, const char *workspace, struct auth_grant **out,
                     size_t *n, struct error *err);
/* The synthetic per-user role "__user_<id>__" in the workspace holds direct grants.
 * insert_only: RESOURCE_ALREADY_EXISTS when the row exists (grant route); else upsert. */
int auth_grant_user(int64_t user_id, const char *username, const char *workspace, const char *type,
                    const char *pattern, const char *permission, bool insert_only, struct error *err);
int auth_revoke_user(int64_t user_id, const char *username, const char *workspace, const char *type,
                     const char *pattern, struct error *err);
/* Grants on synthetic roles only (admin-made roles are never touched). */
int auth_delete_grants_for_resource(const char *type, const char *pattern, struct error *err);
int auth_rename_grants_for_resource(const char *type, const char *old_pattern, const char *new_pattern,
                                    struct error *err);

/* Roles */
int auth_role_create(struct arena *a, const char *name, const char *workspace, const char *description,
                     struct auth_role *out, struct error *err);
int auth_role_get(struct arena *a, int64_t role_id, struct auth_role *out, struct error *err);
/* workspaces NULL: every role */
int auth_role_list(struct arena *a, const char *const *workspaces, size_t n_ws, struct auth_role **out,
                   size_t *n, struct error *err);
int auth_role_update(struct arena *a, int64_t role_id, const char *name, const char *description,
                     struct auth_role *out, struct error *err);
int auth_role_delete(int64_t role_id, struct error *err);
int auth_role_perm_add(struct arena *a, int64_t role_id, const char *type, const char *pattern,
                       const char *permission, struct auth_role_perm *out, struct error *err);
int auth_role_perm_get(struct arena *a, int64_t id, struct auth_role_perm *out, struct error *err);
int auth_role_perm_remove(int64_t id, struct error *err);
int auth_role_perm_update(struct arena *a, int64_t id, const char *permission, struct auth_role_perm *out,
                          struct error *err);
int auth_role_assign(int64_t user_id, int64_t role_id, struct auth_assignment *out, struct error *err);
int auth_role_unassign(int64_t user_id, int64_t role_id, struct error *err);
int auth_role_users(struct arena *a, int64_t role_id, struct auth_assignment **out, size_t *n,
                    struct error *err);
/* Workspaces where the user holds (workspace, *, MANAGE) / any role. */
int auth_admin_workspaces(struct arena *a, int64_t user_id, const char ***out, size_t *n, struct error *err);
int auth_present_workspaces(struct arena *a, int64_t user_id, const char ***out, size_t *n, struct error *err);

/* Passwords: "pbkdf2:sha256:ITER$salt_b64$hash_b64"; new hashes use the
 * configured iteration count (verification reads it from the hash). */
#define AUTH_DEFAULT_ITERATIONS 600000   /* OWASP's figure for PBKDF2-HMAC-SHA256 */
void auth_password_set_iterations(int n);
int  auth_password_hash(const char *password, char *out, size_t cap);
bool auth_password_verify(const char *password, const char *stored);
/* The same work as a verify, for unknown users (no timing oracle). */
void auth_password_burn(const char *password);

/* Look-ups in the tracking store, for permission checks: 1 found, 0 not, -1 error. */
int auth_lookup_run_experiment(const char *run_id, int64_t *experiment_id, struct error *err);
int auth_lookup_logged_model_experiment(const char *model_id, int64_t *experiment_id, struct error *err);
int auth_lookup_trace_experiment(const char *trace_id, int64_t *experiment_id, struct error *err);
int auth_lookup_experiment_by_name(const char *name, int64_t *experiment_id, struct error *err);
int auth_lookup_registered_model(const char *name, bool *is_prompt, struct error *err);
#endif
