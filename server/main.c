/* cairn-server: `mlflow server`'s flags, plus --data-dir. */
#include "embedded_pg.h"
#include "http.h"
#include "static.h"
#include "auth.h"
#include "../api/auth.h"
#include "../api/api.h"
#include "../api/json.h"
#include "../store/artifacts.h"
#include "../store/db.h"
#include "../store/migrate.h"
#include "../store/paths.h"
#include "../store/s3.h"
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CAIRN_VERSION "0.1.0"

static volatile sig_atomic_t stop_requested;

static void *sweep_thread(void *root)
{
    artifact_sweep_temp(root);
    free(root);
    return NULL;
}

/* issue 17: multipart uploads under an S3 destination that nobody will
 * finish (a server killed mid-upload, a client that opened a direct upload
 * and went away) are aborted at start-up and then every max_age/2 (1 s to
 * an hour), so no parts stay in the bucket */
struct upload_sweeper {
    const char *root;
    long long max_age_s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    volatile int stop;
};

static void *upload_sweep_thread(void *p)
{
    struct upload_sweeper *s = p;
    long long period = s->max_age_s / 2 < 1 ? 1 : s->max_age_s / 2 > 3600 ? 3600 : s->max_age_s / 2;
    while (!s->stop) {
        struct error err = { 0 };
        int n = s3_sweep_uploads(s->root, s->max_age_s, &s->stop, &err);
        if (n < 0)
            fprintf(stderr, "cairn: warning: sweeping abandoned multipart uploads: %s\n", err.message);
        else if (n > 0)
            fprintf(stderr, "cairn: aborted %d multipart upload%s under %s initiated more than %lld s ago "
                            "(left by a crash or an abandoned client)\n", n, n == 1 ? "" : "s", s->root,
                    s->max_age_s);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += period;
        pthread_mutex_lock(&s->mu);
        while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0)
            ;
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

struct config {
    struct http_options http;
    const char *backend_uri;
    const char *registry_uri;
    const char *default_artifact_root;
    const char *artifacts_destination;
    const char *data_dir;
    const char *ui_dir;
    int pool_size;
    int db_connect_s, db_statement_s, db_acquire_s;   /* issue 15 */
    const char *app_name;     /* issue 16: "basic-auth" or NULL */
    /* issue 17: read replicas, PgBouncer */
    const char *replica_uris[16];
    int n_replicas, replica_max_lag_ms;
    bool tx_pooler;
    int s3_upload_max_age_s;
};

static void usage(FILE *f)
{
    fputs("usage: cairn-server [options]\n"
          "  --host HOST                    address to listen on (default 127.0.0.1)\n"
          "  --port PORT                    port (default 5000; 0 picks a free one)\n"
          "  --backend-store-uri URI        postgresql://… (default: embedded cluster in --data-dir)\n"
          "  --registry-store-uri URI       must equal the backend store\n"
          "  --default-artifact-root URI    artifact root for new experiments\n"
          "  --artifacts-destination DIR    where mlflow-artifacts: files live (default DATA_DIR/artifacts)\n"
          "  --serve-artifacts / --no-serve-artifacts\n"
          "  --artifacts-only               serve only the artifact proxy\n"
          "  --workers N                    HTTP worker threads (default 96; a keep-alive connection holds one)\n"
          "  --db-pool-size N               PostgreSQL connections (default 8)\n"
          "  --db-connect-timeout S         seconds to open a database connection (default 5)\n"
          "  --db-statement-timeout S       seconds one SQL statement may take (default 30)\n"
          "  --db-acquire-timeout S         seconds to wait for a free pooled connection (default 10)\n"
          "  --static-prefix /PREFIX        serve every route under a prefix\n"
          "  --allowed-hosts H1,H2          Host header allow-list (fnmatch patterns)\n"
          "  --cors-allowed-origins O1,O2   origins allowed to make cross-origin requests\n"
          "  --max-body-size BYTES          JSON body limit (default 16 MiB)\n"
          "  --head-timeout S               seconds a client has to send its request head (default 10)\n"
          "  --body-timeout S               seconds to wait for more of a request body (default 30)\n"
          "  --max-client-connections N     open connections per client address (default 128; 0: no cap)\n"
          "  --data-dir DIR                 data directory (default ./var)\n"
          "  --ui-dir DIR                   MLflow's built web UI (default: build/ui beside the binary)\n"
          "  --read-replica-uri URI         a streaming replica for searches, histories and registry reads\n"
          "                                 (repeatable; a client's reads after its writes stay on the primary)\n"
          "  --read-replica-max-lag-ms N    skip a replica further behind than this (default 5000)\n"
          "  --db-transaction-pooler        the backend URI is PgBouncer in transaction mode\n"
          "  --s3-upload-max-age S          abort multipart uploads under an s3:// destination older than\n"
          "                                 this (default 86400; 0: never)\n"
          "  --app-name basic-auth          users and permissions, as MLflow's basic-auth app\n"
          "                                 (MLFLOW_AUTH_CONFIG_PATH, MLFLOW_AUTH_ADMIN_PASSWORD, …)\n"
          "  --version, --help\n", f);
}

static const char **split_list(const char *s, size_t *n)
{
    size_t cap = 1;
    for (const char *c = s; *c; c++)
        cap += *c == ',';
    const char **v = calloc(cap, sizeof *v);
    char *copy = strdup(s);
    *n = 0;
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
        while (*tok == ' ')
            tok++;
        if (*tok)
            v[(*n)++] = tok;
    }
    return v;
}

static int parse_int(const char *flag, const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "cairn: %s takes a number from %d to %d, not '%s'\n", flag, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_args(int argc, char **argv, struct config *c)
{
    for (int i = 1; i < argc; i++) {
        char *arg = argv[i], *val = NULL;
        char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
        if (eq) {
            *eq = '\0';
            val = eq + 1;
        }
#define VALUE() (val ? val : (i + 1 < argc ? argv[++i] : (fprintf(stderr, "cairn: %s needs a value\n", arg), exit(2), "")))
        if (!strcmp(arg, "--help")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(arg, "--version")) {
            printf("cairn-server %s (MLflow protocol %s)\n", CAIRN_VERSION, api_config.version);
            exit(0);
        } else if (!strcmp(arg, "--host") || !strcmp(arg, "-h")) {
            c->http.host = VALUE();
        } else if (!strcmp(arg, "--port") || !strcmp(arg, "-p")) {
            if (parse_int(arg, VALUE(), 0, 65535, &c->http.port))
                return -1;
        } else if (!strcmp(arg, "--workers") || !strcmp(arg, "-w")) {
            if (parse_int(arg, VALUE(), 1, 1024, &c->http.workers))
                return -1;
        } else if (!strcmp(arg, "--db-pool-size")) {
            if (parse_int(arg, VALUE(), 1, 256, &c->pool_size))
                return -1;
        } else if (!strcmp(arg, "--db-connect-timeout")) {
            if (parse_int(arg, VALUE(), 1, 3600, &c->db_connect_s))
                return -1;
        } else if (!strcmp(arg, "--db-statement-timeout")) {
            if (parse_int(arg, VALUE(), 1, 86400, &c->db_statement_s))
                return -1;
        } else if (!strcmp(arg, "--db-acquire-timeout")) {
            if (parse_int(arg, VALUE(), 1, 3600, &c->db_acquire_s))
                return -1;
        } else if (!strcmp(arg, "--head-timeout")) {
            if (parse_int(arg, VALUE(), 1, 3600, &c->http.head_timeout_s))
                return -1;
        } else if (!strcmp(arg, "--body-timeout")) {
            if (parse_int(arg, VALUE(), 1, 3600, &c->http.body_timeout_s))
                return -1;
        } else if (!strcmp(arg, "--max-client-connections")) {
            if (parse_int(arg, VALUE(), 0, 1000000, &c->http.max_per_client))
                return -1;
        } else if (!strcmp(arg, "--max-body-size")) {
            int mb;
            if (parse_int(arg, VALUE(), 1024, INT_MAX, &mb))
                return -1;
            c->http.max_body = (size_t)mb;
        } else if (!strcmp(arg, "--backend-store-uri")) {
            c->backend_uri = VALUE();
        } else if (!strcmp(arg, "--registry-store-uri")) {
            c->registry_uri = VALUE();
        } else if (!strcmp(arg, "--default-artifact-root")) {
            c->default_artifact_root = VALUE();
        } else if (!strcmp(arg, "--artifacts-destination")) {
            c->artifacts_destination = VALUE();
        } else if (!strcmp(arg, "--serve-artifacts")) {
            c->http.serve_artifacts = true;
        } else if (!strcmp(arg, "--no-serve-artifacts")) {
            c->http.serve_artifacts = false;
        } else if (!strcmp(arg, "--artifacts-only")) {
            c->http.artifacts_only = true;
        } else if (!strcmp(arg, "--static-prefix")) {
            c->http.static_prefix = VALUE();
            if (c->http.static_prefix[0] != '/' || c->http.static_prefix[strlen(c->http.static_prefix) - 1] == '/') {
                fprintf(stderr, "cairn: --static-prefix must start with '/' and not end with one\n");
                return -1;
            }
        } else if (!strcmp(arg, "--allowed-hosts")) {
            c->http.allowed_hosts = split_list(VALUE(), &c->http.n_allowed_hosts);
        } else if (!strcmp(arg, "--cors-allowed-origins")) {
            c->http.cors_origins = split_list(VALUE(), &c->http.n_cors_origins);
        } else if (!strcmp(arg, "--data-dir")) {
            c->data_dir = VALUE();
        } else if (!strcmp(arg, "--ui-dir")) {
            c->ui_dir = VALUE();
        } else if (!strcmp(arg, "--read-replica-uri")) {   /* issue 17 */
            if (c->n_replicas == (int)(sizeof c->replica_uris / sizeof *c->replica_uris)) {
                fprintf(stderr, "cairn: at most 16 --read-replica-uri\n");
                return -1;
            }
            c->replica_uris[c->n_replicas++] = VALUE();
        } else if (!strcmp(arg, "--read-replica-max-lag-ms")) {
            if (parse_int(arg, VALUE(), 0, 3600000, &c->replica_max_lag_ms))
                return -1;
        } else if (!strcmp(arg, "--db-transaction-pooler")) {
            c->tx_pooler = true;
        } else if (!strcmp(arg, "--s3-upload-max-age")) {
            if (parse_int(arg, VALUE(), 0, INT_MAX, &c->s3_upload_max_age_s))
                return -1;
        } else if (!strcmp(arg, "--app-name")) {
            c->app_name = VALUE();
            if (strcmp(c->app_name, "basic-auth")) {
                fprintf(stderr, "cairn: --app-name %s is not supported: Cairn has only MLflow's 'basic-auth' "
                                "app; refusing to start rather than serve without it\n", c->app_name);
                return -1;
            }
        } else if (!strcmp(arg, "--gunicorn-opts") || !strcmp(arg, "--uvicorn-opts") ||
                   !strcmp(arg, "--waitress-opts") || !strcmp(arg, "--expose-prometheus")) {
            fprintf(stderr, "cairn: warning: ignoring %s %s (not applicable to Cairn)\n", arg, VALUE());
        } else if (!strcmp(arg, "--dev")) {
            fprintf(stderr, "cairn: warning: ignoring --dev\n");
        } else {
            fprintf(stderr, "cairn: unknown option '%s' (see --help)\n", arg);
            return -1;
        }
#undef VALUE
    }
    return 0;
}

/* MLflow users' URIs: postgresql://, postgres://, postgresql+psycopg2:// */
static char *normalize_backend_uri(const char *uri)
{
    static const char *const schemes[] = { "postgresql://", "postgres://", "postgresql+psycopg2://",
                                           "postgresql+psycopg://", "postgresql+pg8000://" };
    for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++) {
        size_t n = strlen(schemes[i]);
        if (!strncmp(uri, schemes[i], n)) {
            char *out = malloc(strlen(uri) + 16);
            sprintf(out, "postgresql://%s", uri + n);
            return out;
        }
    }
    fprintf(stderr, "cairn: unsupported --backend-store-uri '%s': Cairn stores everything in "
                    "PostgreSQL; give a postgresql://user@host/db URI, or none for the embedded cluster\n", uri);
    return NULL;
}

static char *absolute(const char *path)
{
    char buf[PATH_MAX];
    if (path[0] == '/')
        return strdup(path);
    if (!getcwd(buf, sizeof buf))
        return strdup(path);
    while (path[0] == '.' && path[1] == '/')
        path += 2;
    char *out = malloc(strlen(buf) + strlen(path) + 2);
    sprintf(out, "%s/%s", buf, path);
    return out;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    long long t0 = mono_ms();
    struct config c = {
        .http = { .host = "127.0.0.1", .port = 5000, .workers = 96, .max_body = 16u << 20,
                  .static_prefix = "", .serve_artifacts = true,
                  .head_timeout_s = 10, .body_timeout_s = 30, .max_per_client = 128 },
        .data_dir = "./var",
        .pool_size = 8,
        .db_connect_s = 5, .db_statement_s = 30, .db_acquire_s = 10,
        .replica_max_lag_ms = 5000,
        .s3_upload_max_age_s = 86400,
    };
    if (parse_args(argc, argv, &c))
        return 2;
    /* issue 20: a root Cairn cannot store to stops the start, never a silent local fallback */
    char root_msg[512];
    if ((c.artifacts_destination &&
         artifact_root_check("--artifacts-destination", c.artifacts_destination, true, root_msg, sizeof root_msg)) ||
        (c.default_artifact_root &&
         artifact_root_check("--default-artifact-root", c.default_artifact_root, false, root_msg, sizeof root_msg))) {
        fprintf(stderr, "cairn: %s\n", root_msg);
        return 2;
    }
    /* issue 17: an s3:// root needs the store's settings and its bucket, checked before anything starts */
    const char *s3_roots[2] = { s3_is_uri(c.artifacts_destination) ? c.artifacts_destination : NULL,
                                s3_is_uri(c.default_artifact_root) ? c.default_artifact_root : NULL };
    for (int i = 0; i < 2; i++) {
        if (s3_roots[i] && (s3_configure(root_msg, sizeof root_msg) || s3_check_root(s3_roots[i], root_msg,
                                                                                      sizeof root_msg))) {
            fprintf(stderr, "cairn: %s %s: %s\n", i ? "--default-artifact-root" : "--artifacts-destination",
                    s3_roots[i], root_msg);
            return 2;
        }
    }
    if (c.artifacts_destination && !strncmp(c.artifacts_destination, "file:", 5)) {
        const char *p = c.artifacts_destination + 5;   /* file:///dir, file:/dir */
        if (!strncmp(p, "//", 2))
            p += 2 + (strncmp(p + 2, "localhost/", 10) ? 0 : 9);
        c.artifacts_destination = p;
    }
    int ui = static_init(c.ui_dir);
    if (ui < 0)
        return 2;
    if (ui > 0)
        fprintf(stderr, "cairn: warning: no MLflow UI found beside the binary (run `make build` or pass "
                        "--ui-dir); \"/\" says how to get it\n");
    if (auth_check_route_table())   /* issue 16: fail closed on a route without a rule */
        return 2;
    /* Memory goes back after a burst: few malloc arenas (not one per worker
     * thread), big blocks (request arenas of large replies) mmapped and
     * unmapped on free, and the heap trimmed above 512 KiB of free space. */
    mallopt(M_ARENA_MAX, 2);
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_TRIM_THRESHOLD, 512 * 1024);
    setvbuf(stdout, NULL, _IOLBF, 0);
    json_init();
    json_set_max_values(c.http.max_body / 64 > 4096 ? c.http.max_body / 64 : 4096);   /* issue 15 */

    char *data_dir = absolute(c.data_dir), *dest = NULL, *file_root = NULL;
    char conninfo[4096];
    int rc = 1;
    bool embedded = c.backend_uri == NULL, pg_started = false, db_up = false;
    struct error err = { 0 };
    if (c.registry_uri && (!c.backend_uri || strcmp(c.registry_uri, c.backend_uri))) {
        fprintf(stderr, "cairn: --registry-store-uri must equal --backend-store-uri (one database)\n");
        rc = 2;
        goto out;
    }
    if (embedded) {
        if (data_dir_lock(data_dir))
            goto out;
        pg_started = true;   /* stop whatever embedded_pg_start got to */
        if (embedded_pg_start(data_dir, conninfo, sizeof conninfo))
            goto out;
    } else {
        char *uri = normalize_backend_uri(c.backend_uri);
        if (!uri) {
            rc = 2;
            goto out;
        }
        snprintf(conninfo, sizeof conninfo, "%s", uri);
        free(uri);
    }

    /* artifact roots, as mlflow server resolves them */
    if (s3_is_uri(c.artifacts_destination)) {
        dest = strdup(c.artifacts_destination);
    } else if (c.artifacts_destination) {
        dest = absolute(c.artifacts_destination);
    } else {
        dest = malloc(strlen(data_dir) + 16);
        sprintf(dest, "%s/artifacts", data_dir);
    }
    if (!s3_is_uri(dest))
        mkdir(dest, 0755);
    api_config.artifacts_destination = dest;
    api_config.serve_artifacts = c.http.serve_artifacts;
    if (c.default_artifact_root) {
        api_config.default_artifact_root = c.default_artifact_root;
    } else if (c.http.serve_artifacts) {
        api_config.default_artifact_root = "mlflow-artifacts:";
    } else {
        file_root = malloc(strlen(dest) + 16);
        sprintf(file_root, "%s%s", s3_is_uri(dest) ? "" : "file://", dest);
        api_config.default_artifact_root = file_root;
    }

    db_set_timeouts(c.db_connect_s, c.db_statement_s * 1000, c.db_acquire_s * 1000);
    if (migrate(conninfo, api_config.default_artifact_root, &err) || db_init(conninfo, c.pool_size, &err)) {
        fprintf(stderr, "cairn: %s\n", err.message);
        goto out;
    }
    db_up = true;
    db_set_transaction_pooler(c.tx_pooler);   /* issue 17 */
    if (c.n_replicas) {
        char *uris[16];
        for (int i = 0; i < c.n_replicas; i++)
            if (!(uris[i] = normalize_backend_uri(c.replica_uris[i]))) {
                while (i--)
                    free(uris[i]);
                rc = 2;
                goto out;
            }
        int bad = db_replicas_init((const char *const *)uris, c.n_replicas, c.pool_size, c.replica_max_lag_ms, &err);
        for (int i = 0; i < c.n_replicas; i++)
            free(uris[i]);
        if (bad) {
            fprintf(stderr, "cairn: %s\n", err.message);
            goto out;
        }
    }
    if (embedded && embedded_pg_supervise(db_reconnect_all))
        fprintf(stderr, "cairn: warning: cannot watch the embedded PostgreSQL\n");
    if (c.app_name && auth_configure(conninfo))   /* issue 16 */
        goto out;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int port = http_start(&c.http);
    if (port < 0)
        goto out;
    printf("listening on http://%s:%d\n", c.http.host, port);
    /* uploads a crash interrupted leave temp files; the walk can be long on
     * a big store, so it runs beside the server rather than before it */
    pthread_t sweeper;
    char *sweep_root = strdup(dest);
    if (pthread_create(&sweeper, NULL, sweep_thread, sweep_root) == 0)
        pthread_detach(sweeper);
    else
        free(sweep_root);
    struct upload_sweeper uploads = { .root = dest, .max_age_s = c.s3_upload_max_age_s,
                                      .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
    bool sweeping_uploads = s3_is_uri(dest) && c.s3_upload_max_age_s > 0 &&
                            pthread_create(&uploads.thread, NULL, upload_sweep_thread, &uploads) == 0;
    fprintf(stderr, "cairn: ready in %lld ms (%s PostgreSQL, artifacts in %s)\n", mono_ms() - t0,
            embedded ? "embedded" : "external", dest);

    struct timespec tick = { 0, 50 * 1000000L };
    while (!stop_requested) {
        nanosleep(&tick, NULL);
        arena_cache_trim(500);   /* issue 19: request memory kept for reuse goes back when idle */
    }

    fprintf(stderr, "cairn: stopping: draining in-flight requests\n");
    http_drain_and_stop(30000);
    if (sweeping_uploads) {
        pthread_mutex_lock(&uploads.mu);
        uploads.stop = 1;
        pthread_cond_signal(&uploads.cv);
        pthread_mutex_unlock(&uploads.mu);
        pthread_join(uploads.thread, NULL);
    }
    rc = 0;
out:
    auth_shutdown();
    if (db_up)
        db_shutdown();
    if (pg_started)
        embedded_pg_stop();
    free(data_dir);
    free(dest);
    free(file_root);
    if (rc == 0)
        fprintf(stderr, "cairn: stopped\n");
    return rc;
}
