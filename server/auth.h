/* --app-name basic-auth (issue 16): MLflow's basic_auth.ini and
 * environment, HTTP Basic on every request, a short-lived cache of verified
 * credentials, and a per-address limit on failed logins. */
#ifndef CAIRN_SERVER_AUTH_H
#define CAIRN_SERVER_AUTH_H
#include <stdbool.h>
#include "../api/api.h"

/* Reads the config, opens the auth store, creates the admin on first start.
 * -1 with a one-line reason on stderr. */
int  auth_configure(const char *backend_conninfo);
void auth_shutdown(void);
bool auth_enabled(void);

enum auth_outcome { AUTH_OK, AUTH_UNAUTHENTICATED, AUTH_RATE_LIMITED, AUTH_UNAVAILABLE };
/* Checks an Authorization header (may be NULL) from client_addr; on AUTH_OK
 * fills *user (strings in the arena). *retry_after: seconds, when rate-limited. */
enum auth_outcome auth_authenticate(const char *authorization, const char *client_addr, struct arena *a,
                                    struct auth_user *user, int *retry_after);
/* For tests: parse "Basic <base64(user:password)>"; 0 on success (strings in the arena). */
int auth_parse_basic(const char *header, struct arena *a, const char **username, const char **password);
#endif
