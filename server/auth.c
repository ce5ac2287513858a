/* --app-name basic-auth (issue 16): configuration as MLflow 3.17 reads it
 * (mlflow/server/auth/config.py), HTTP Basic authentication with a cache of
 * verified credentials, and a per-address limit on failed logins. */
#include "auth.h"
#include "../api/auth.h"
#include "../store/auth_store.h"
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_AUTH_FUNCTION "mlflow.server.auth:authenticate_request_basic_auth"
#define LEGACY_ADMIN_PASSWORD "password1234"   /* GHSA-gq3w-7jj3-x7gr: never accepted for admins */
#define MAX_NAME 1024                           /* a longer user name cannot exist */

static struct {
    bool enabled;
    int ttl;                 /* seconds a verified credential is remembered */
    int fail_limit;          /* failed logins per address per minute */
    unsigned char key[32];   /* per-process HMAC key for cache entries */
} cfg;

bool auth_enabled(void) { return cfg.enabled; }

/* ---- basic_auth.ini (configparser: [section], key = value or key: value, # and ; comments) ---- */

struct ini { char *keys[32], *values[32]; int n; };

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int read_ini(const char *path, struct ini *ini)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cairn: cannot read the auth config %s (MLFLOW_AUTH_CONFIG_PATH): %s\n", path, strerror(errno));
        return -1;
    }
    char line[4096];
    bool in_mlflow = false, seen = false;
    while (fgets(line, sizeof line, f)) {
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            in_mlflow = !strcmp(s, "[mlflow]");
            seen |= in_mlflow;
            continue;
        }
        size_t k = strcspn(s, "=:");
        if (!in_mlflow || !s[k] || ini->n == 32)
            continue;
        s[k] = '\0';
        char *key = trim(s);
        for (char *p = key; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        ini->keys[ini->n] = strdup(key);
        ini->values[ini->n++] = strdup(trim(s + k + 1));
    }
    fclose(f);
    if (!seen) {
        fprintf(stderr, "cairn: the auth config %s has no [mlflow] section\n", path);
        return -1;
    }
    return 0;
}

static const char *ini_get(const struct ini *ini, const char *key)
{
    for (int i = ini->n - 1; i >= 0; i--)
        if (!strcmp(ini->keys[i], key))
            return ini->values[i];
    return NULL;
}

static void ini_free(struct ini *ini)
{
    for (int i = 0; i < ini->n; i++) {
        free(ini->keys[i]);
        free(ini->values[i]);
    }
}

/* An environment variable that is set wins even when empty (MLflow's rule); empty is none. */
static const char *env_or(const char *var, const char *file_value)
{
    const char *e = getenv(var);
    const char *v = e ? e : file_value;
    return v && *v ? v : NULL;
}

static int int_setting(const struct ini *ini, const char *key, int dflt, int lo, int hi, int *out)
{
    const char *v = ini_get(ini, key);
    char *end;
    long n = v ? strtol(v, &end, 10) : dflt;
    if (v && (*v == '\0' || *end != '\0' || n < lo || n > hi)) {
        fprintf(stderr, "cairn: auth config: %s must be a number from %d to %d, not '%s'\n", key, lo, hi, v);
        return -1;
    }
    *out = (int)n;
    return 0;
}

/* where users and grants live: the backend store, or another PostgreSQL database */
static char *auth_conninfo(const char *database_uri, const char *backend, const char *path)
{
    static const char *const schemes[] = { "postgresql://", "postgres://", "postgresql+psycopg2://",
                                           "postgresql+psycopg://", "postgresql+pg8000://" };
    if (!database_uri)
        return strdup(backend);
    for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++) {
        size_t n = strlen(schemes[i]);
        if (!strncmp(database_uri, schemes[i], n)) {
            char *out = malloc(strlen(database_uri) + 16);
            sprintf(out, "postgresql://%s", database_uri + n);
            return out;
        }
    }
    fprintf(stderr, "cairn: database_uri = %s in %s: Cairn keeps users and permissions in PostgreSQL; write "
                    "database_uri = postgresql://USER@HOST/DB, or remove the line to keep them in the backend "
                    "store's database (schema cairn_auth)\n", database_uri, path);
    return NULL;
}

static int bootstrap_admin(const char *username, const char *password, const char *path)
{
    struct arena a;
    arena_init(&a);
    struct error err = { 0 };
    struct auth_user_row u;
    int rc = 0;
    if (!auth_user_get(&a, username, &u, &err)) {
        /* the configured password rotates a shipped default, as MLflow 3.17 does */
        if (password && strcmp(password, LEGACY_ADMIN_PASSWORD) &&
            auth_password_verify(LEGACY_ADMIN_PASSWORD, u.password_hash) &&
            !auth_user_set_password(username, password, &err))
            fprintf(stderr, "cairn: replaced the insecure default password of admin user '%s' with the "
                            "configured one\n", username);
        goto out;
    }
    if (err.code != ERR_RESOURCE_DOES_NOT_EXIST) {
        fprintf(stderr, "cairn: auth store: %s\n", err.message);
        rc = -1;
    } else if (!password) {
        fprintf(stderr, "cairn: MLflow Authentication needs a password to create the admin user '%s', but none "
                        "is configured: set MLFLOW_AUTH_ADMIN_PASSWORD or admin_password in %s (there is no "
                        "default password)\n", username, path);
        rc = -1;
    } else if (!strcmp(password, LEGACY_ADMIN_PASSWORD)) {
        fprintf(stderr, "cairn: refusing the insecure default password older MLflow versions shipped for the admin "
                        "user '%s'; set MLFLOW_AUTH_ADMIN_PASSWORD or admin_password to another one\n", username);
        rc = -1;
    } else if (strlen(password) < AUTH_MIN_PASSWORD_LEN) {
        fprintf(stderr, "cairn: the configured password for the admin user '%s' is invalid: Password must be at "
                        "least %d characters. Set MLFLOW_AUTH_ADMIN_PASSWORD or admin_password in %s\n",
                username, AUTH_MIN_PASSWORD_LEN, path);
        rc = -1;
    } else if (auth_user_create(&a, username, password, true, &u, &err) && err.code != ERR_RESOURCE_ALREADY_EXISTS) {
        fprintf(stderr, "cairn: creating the admin user '%s' failed: %s\n", username, err.message);
        rc = -1;   /* ALREADY_EXISTS: another server of the fleet created it first */
    } else {
        fprintf(stderr, "cairn: created admin user '%s'\n", username);
    }
out:
    arena_free(&a);
    return rc;
}

int auth_configure(const char *backend_conninfo)
{
    const char *path = getenv("MLFLOW_AUTH_CONFIG_PATH");
    struct ini ini = { .n = 0 };
    if (path && *path && read_ini(path, &ini)) {
        ini_free(&ini);
        return -1;
    }
    const char *where = path && *path ? path : "the default auth config";
    const char *fn = ini_get(&ini, "authorization_function");
    const char *dp = ini_get(&ini, "default_permission");
    const char *secret = getenv("MLFLOW_FLASK_SERVER_SECRET_KEY");
    const char *admin = env_or("MLFLOW_AUTH_ADMIN_USERNAME", ini.n ? ini_get(&ini, "admin_username") : "admin");
    const char *password = env_or("MLFLOW_AUTH_ADMIN_PASSWORD", ini_get(&ini, "admin_password"));
    int perm = dp ? perm_from_name(dp) : PERM_READ, iterations = AUTH_DEFAULT_ITERATIONS;
    char *conninfo = NULL;
    int rc = -1;
    if (fn && *fn && strcmp(fn, DEFAULT_AUTH_FUNCTION)) {
        fprintf(stderr, "cairn: authorization_function = %s in %s names Python code, which Cairn cannot run; "
                        "only MLflow's HTTP Basic function (%s) is supported\n", fn, where, DEFAULT_AUTH_FUNCTION);
    } else if (perm < 0 || perm == PERM_DENY) {
        fprintf(stderr, "cairn: default_permission = %s in %s: use one of READ, USE, EDIT, MANAGE, NO_PERMISSIONS\n",
                dp, where);
    } else if (!secret || !*secret) {
        fprintf(stderr, "cairn: a static secret key is needed for the signup form's CSRF protection: set "
                        "MLFLOW_FLASK_SERVER_SECRET_KEY (the same on every server of a fleet)\n");
    } else if (!admin) {
        fprintf(stderr, "cairn: MLflow Authentication needs a username for the admin user: set "
                        "MLFLOW_AUTH_ADMIN_USERNAME or admin_username in %s\n", where);
    } else if (int_setting(&ini, "auth_cache_ttl_seconds", 30, 0, 86400, &cfg.ttl) ||
               int_setting(&ini, "failed_login_limit_per_minute", 10, 1, 1000000, &cfg.fail_limit) ||
               int_setting(&ini, "password_hash_iterations", AUTH_DEFAULT_ITERATIONS, 10000, 10000000,
                           &iterations)) {
        /* message printed */
    } else if (auth_password_set_iterations(iterations),
               (conninfo = auth_conninfo(ini_get(&ini, "database_uri"), backend_conninfo, where))) {
        struct error err = { 0 };
        if (auth_store_open(conninfo, cfg.ttl, &err))
            fprintf(stderr, "cairn: auth database: %s\n", err.message);
        else if (!bootstrap_admin(admin, password, where))
            rc = 0;
    }
    if (!rc) {
        if (iterations < AUTH_DEFAULT_ITERATIONS)
            fprintf(stderr, "cairn: warning: password_hash_iterations = %d is below %d (OWASP's figure for "
                            "PBKDF2-HMAC-SHA256); use it for tests only\n", iterations, AUTH_DEFAULT_ITERATIONS);
        if (ini_get(&ini, "read_database_uri"))
            fprintf(stderr, "cairn: warning: read_database_uri is not used: the auth store reads from database_uri\n");
        auth_api_config.enabled = true;
        auth_api_config.default_permission = (enum perm)perm;
        auth_api_config.basic = true;
        auth_api_config.csrf_key = strdup(secret);
        RAND_bytes(cfg.key, sizeof cfg.key);
        cfg.enabled = true;
    }
    free(conninfo);
    ini_free(&ini);
    return rc;
}

void auth_shutdown(void)
{
    if (cfg.enabled)
        auth_store_close();
}

/* ---- the Authorization header ---- */

int auth_parse_basic(const char *header, struct arena *a, const char **username, const char **password)
{
    if (!header || strncasecmp(header, "Basic", 5) || (header[5] != ' ' && header[5] != '\t'))
        return -1;
    const char *b = header + 6;
    while (*b == ' ' || *b == '\t')
        b++;
    size_t n = strcspn(b, " \t\r\n");
    if (!n || n % 4 || n > 8192 || b[n + strspn(b + n, " \t\r\n")] != '\0')
        return -1;
    unsigned char *out = arena_alloc(a, n + 1);
    int len = EVP_DecodeBlock(out, (const unsigned char *)b, (int)n);
    if (len < 0)
        return -1;
    len -= (b[n - 1] == '=') + (b[n - 2] == '=');   /* EVP_DecodeBlock counts the padding */
    out[len] = '\0';
    if (memchr(out, '\0', (size_t)len))
        return -1;
    /* UTF-8 only, as werkzeug decodes it (anything else is not a credential) */
    for (int i = 0; i < len;) {
        unsigned char c = out[i];
        int extra = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
        if (extra < 0 || (extra == 1 && c < 0xC2) || i + extra >= len + (extra == 0))
            return -1;
        for (int k = 1; k <= extra; k++)
            if ((out[i + k] & 0xC0) != 0x80)
                return -1;
        i += extra + 1;
    }
    char *colon = strchr((char *)out, ':');
    if (!colon)
        return -1;
    *colon = '\0';
    *username = (const char *)out;
    *password = colon + 1;
    return 0;
}

/* ---- verified credentials: (user, HMAC(password)) → user, for the TTL ---- */

#define CRED_SLOTS 4096
static struct cred {
    char username[128];
    unsigned char digest[32];
    int64_t user_id;
    bool is_admin;
    unsigned gen;
    time_t expires;
} creds[CRED_SLOTS];
static pthread_mutex_t cred_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned cred_slot(const char *username, const unsigned char *digest)
{
    unsigned h = 2166136261u;
    for (const char *s = username; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    for (int i = 0; i < 8; i++)
        h = (h ^ digest[i]) * 16777619u;
    return h % CRED_SLOTS;
}

static bool cred_lookup(const char *username, const unsigned char *digest, struct auth_user *u)
{
    struct cred *c = &creds[cred_slot(username, digest)];
    bool hit = false;
    pthread_mutex_lock(&cred_lock);
    if (c->expires > time(NULL) && c->gen == auth_store_user_generation() && !strcmp(c->username, username) &&
        !memcmp(c->digest, digest, 32)) {
        u->id = c->user_id;
        u->is_admin = c->is_admin;
        hit = true;
    }
    pthread_mutex_unlock(&cred_lock);
    return hit;
}

static void cred_store(const char *username, const unsigned char *digest, const struct auth_user *u, unsigned gen)
{
    if (cfg.ttl <= 0 || strlen(username) >= sizeof creds[0].username)
        return;
    struct cred *c = &creds[cred_slot(username, digest)];
    pthread_mutex_lock(&cred_lock);
    snprintf(c->username, sizeof c->username, "%s", username);
    memcpy(c->digest, digest, 32);
    c->user_id = u->id;
    c->is_admin = u->is_admin;
    c->gen = gen;
    c->expires = time(NULL) + cfg.ttl;
    pthread_mutex_unlock(&cred_lock);
}

/* ---- failed logins per client address ---- */

#define RATE_SLOTS 1024
static struct { char addr[48]; time_t window; int failures; } rates[RATE_SLOTS];
static pthread_mutex_t rate_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned addr_slot(const char *addr)
{
    unsigned h = 2166136261u;
    for (; *addr; addr++)
        h = (h ^ (unsigned char)*addr) * 16777619u;
    return h % RATE_SLOTS;
}

/* seconds to wait, 0 when the address may try */
static int rate_blocked(const char *addr)
{
    unsigned s = addr_slot(addr);
    time_t now = time(NULL);
    int wait = 0;
    pthread_mutex_lock(&rate_lock);
    if (!strcmp(rates[s].addr, addr) && now - rates[s].window < 60 && rates[s].failures >= cfg.fail_limit)
        wait = (int)(60 - (now - rates[s].window));
    pthread_mutex_unlock(&rate_lock);
    return wait;
}

static void rate_failed(const char *addr)
{
    unsigned s = addr_slot(addr);
    time_t now = time(NULL);
    pthread_mutex_lock(&rate_lock);
    if (strcmp(rates[s].addr, addr) || now - rates[s].window >= 60) {
        snprintf(rates[s].addr, sizeof rates[s].addr, "%s", addr);
        rates[s].window = now;
        rates[s].failures = 0;
    }
    rates[s].failures++;
    pthread_mutex_unlock(&rate_lock);
}

/* at most as many hashes at once as there are cores' worth of work to spare */
static pthread_mutex_t hash_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hash_cond = PTHREAD_COND_INITIALIZER;
static int hashing;
#define MAX_HASHING 2

static void hash_enter(void)
{
    pthread_mutex_lock(&hash_lock);
    while (hashing >= MAX_HASHING)
        pthread_cond_wait(&hash_cond, &hash_lock);
    hashing++;
    pthread_mutex_unlock(&hash_lock);
}

static void hash_leave(void)
{
    pthread_mutex_lock(&hash_lock);
    hashing--;
    pthread_cond_signal(&hash_cond);
    pthread_mutex_unlock(&hash_lock);
}

/* a user name as it may appear in a log line: printable ASCII, the rest escaped, bounded */
static void log_failure(const char *username, const char *addr)
{
    char safe[200];
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)(username ? username : ""); *p && o + 5 < sizeof safe; p++)
        o += (size_t)(*p >= 0x20 && *p < 0x7f && *p != '\\' ? snprintf(safe + o, 2, "%c", *p)
                                                              : snprintf(safe + o, 5, "\\x%02x", *p));
    safe[o] = '\0';
    fprintf(stderr, "cairn: auth: failed login%s%s%s from %s\n", username ? " as '" : "", safe,
            username ? "'" : "", addr);
}

enum auth_outcome auth_authenticate(const char *authorization, const char *client_addr, struct arena *a,
                                    struct auth_user *user, int *retry_after)
{
    const char *username = NULL, *password = NULL;
    *retry_after = 0;
    if (!authorization)
        return AUTH_UNAUTHENTICATED;   /* no attempt: not counted */
    if (auth_parse_basic(authorization, a, &username, &password)) {
        if ((*retry_after = rate_blocked(client_addr)))
            return AUTH_RATE_LIMITED;
        rate_failed(client_addr);
        log_failure(NULL, client_addr);
        return AUTH_UNAUTHENTICATED;
    }
    unsigned char digest[32];
    unsigned int dl = 0;
    HMAC(EVP_sha256(), cfg.key, sizeof cfg.key, (const unsigned char *)password, strlen(password), digest, &dl);
    user->username = username;
    if (cred_lookup(username, digest, user))
        return AUTH_OK;
    /* only what would cost a hash is limited: a verified credential passes */
    if ((*retry_after = rate_blocked(client_addr)))
        return AUTH_RATE_LIMITED;
    unsigned gen = auth_store_user_generation();
    struct auth_user_row row;
    struct error err = { 0 };
    bool known = strlen(username) <= MAX_NAME && !auth_user_get(a, username, &row, &err);
    if (!known && err.code != ERR_RESOURCE_DOES_NOT_EXIST && err.code != ERR_NONE &&
        err.code != ERR_INVALID_PARAMETER_VALUE)
        return AUTH_UNAVAILABLE;
    hash_enter();
    bool ok;
    if (known) {
        ok = auth_password_verify(password, row.password_hash);
    } else {
        auth_password_burn(password);   /* an unknown user costs the same time */
        ok = false;
    }
    hash_leave();
    if (ok && row.is_admin && !strcmp(password, LEGACY_ADMIN_PASSWORD)) {
        fprintf(stderr, "cairn: auth: rejected a login by admin user '%s' with the insecure default password\n",
                username);
        ok = false;
    }
    if (!ok) {
        rate_failed(client_addr);
        log_failure(username, client_addr);
        return AUTH_UNAUTHENTICATED;
    }
    user->id = row.id;
    user->is_admin = row.is_admin;
    cred_store(username, digest, user, gen);
    return AUTH_OK;
}
