/* cairn-train's MLflow client against a scripted HTTP server on a loopback
 * port: log-batch stays within MLflow's limits, 503s are retried, the
 * credentials from the environment are sent, and an unreachable server is
 * reported as offline. Compat tests run it against real servers. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/test.h"
#include "trainer/mlflow.h"

struct fake {
    int listen_fd, port, fail_first;   /* answer 503 to the first fail_first requests */
    int requests, batches, max_metrics, max_params, max_tags, max_total, total_metrics, total_params, total_tags;
    char last_auth[256], last_path[512];
    pthread_mutex_t lock;
};

static int count_array(cJSON *j, const char *key)
{
    return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, key));
}

static void handle(struct fake *fk, int fd)
{
    struct sbuf req;
    sb_init(&req);
    char buf[4096];
    ssize_t n;
    char *hdr_end = NULL;
    long clen = 0, head_len = -1;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        sb_add(&req, buf, (size_t)n);
        if (head_len < 0 && (hdr_end = strstr(req.data, "\r\n\r\n"))) {
            head_len = hdr_end - req.data;
            char *cl = strcasestr(req.data, "Content-Length:");
            if (cl && cl < hdr_end) clen = strtol(cl + 15, NULL, 10);
        }
        if (head_len >= 0 && req.len >= (size_t)head_len + 4 + (size_t)clen) break;
    }
    if (!req.data) { close(fd); return; }
    hdr_end = strstr(req.data, "\r\n\r\n");
    pthread_mutex_lock(&fk->lock);
    int idx = fk->requests++;
    sscanf(req.data, "%*s %511s", fk->last_path);
    char *auth = strcasestr(req.data, "Authorization: ");
    if (auth && hdr_end && auth < hdr_end) sscanf(auth + 15, "%255[^\r]", fk->last_auth);
    const char *reply = "{}";
    int status = 200;
    if (idx < fk->fail_first) status = 503;
    else if (strstr(fk->last_path, "/runs/log-batch") && hdr_end) {
        cJSON *j = cJSON_Parse(hdr_end + 4);
        int m = count_array(j, "metrics"), p = count_array(j, "params"), t = count_array(j, "tags");
        fk->batches++;
        fk->total_metrics += m; fk->total_params += p; fk->total_tags += t;
        if (m > fk->max_metrics) fk->max_metrics = m;
        if (p > fk->max_params) fk->max_params = p;
        if (t > fk->max_tags) fk->max_tags = t;
        if (m + p + t > fk->max_total) fk->max_total = m + p + t;
        cJSON_Delete(j);
    } else if (strstr(fk->last_path, "/experiments/get-by-name")) {
        reply = "{\"experiment\":{\"experiment_id\":\"7\",\"lifecycle_stage\":\"active\"}}";
    } else if (strstr(fk->last_path, "/runs/create")) {
        reply = "{\"run\":{\"info\":{\"run_id\":\"abc123\",\"artifact_uri\":\"mlflow-artifacts:/7/abc123/artifacts\"}}}";
    }
    pthread_mutex_unlock(&fk->lock);
    char head[256];
    int hl = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n", status, strlen(reply));
    if (write(fd, head, (size_t)hl) < 0 || write(fd, reply, strlen(reply)) < 0) { /* the client went away */ }
    sb_free(&req);
    close(fd);
}

static void *serve(void *arg)
{
    struct fake *fk = arg;
    for (;;) {
        int fd = accept(fk->listen_fd, NULL, NULL);
        if (fd < 0) return NULL;
        handle(fk, fd);
    }
}

static pthread_t start_fake(struct fake *fk)
{
    memset(fk, 0, sizeof *fk);
    pthread_mutex_init(&fk->lock, NULL);
    fk->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fk->listen_fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(fk->listen_fd, (struct sockaddr *)&a, &len);
    fk->port = ntohs(a.sin_port);
    listen(fk->listen_fd, 16);
    pthread_t t;
    pthread_create(&t, NULL, serve, fk);
    return t;
}

static void stop_fake(struct fake *fk, pthread_t t)
{
    shutdown(fk->listen_fd, SHUT_RDWR);
    close(fk->listen_fd);
    pthread_join(t, NULL);
    pthread_mutex_destroy(&fk->lock);
}

static void test_batching(void)
{
    struct fake fk;
    pthread_t t = start_fake(&fk);
    char uri[64], err[ERR_LEN], exp_id[64], run_id[64];
    snprintf(uri, sizeof uri, "http://127.0.0.1:%d/", fk.port);
    setenv("MLFLOW_TRACKING_TOKEN", "sekrit", 1);
    struct mlflow *m = mlf_new(uri);
    unsetenv("MLFLOW_TRACKING_TOKEN");
    CHECK(mlf_experiment_id(m, "exp", exp_id, sizeof exp_id, err) == 0);
    CHECK_STR(exp_id, "7");
    CHECK_STR(fk.last_auth, "Bearer sekrit");
    char *art = NULL;
    CHECK(mlf_create_run(m, exp_id, "r", (const char *[]){"k", "v", NULL}, run_id, sizeof run_id, &art, err) == 0);
    CHECK_STR(run_id, "abc123");
    CHECK_STR(art, "mlflow-artifacts:/7/abc123/artifacts");
    free(art);
    for (int i = 0; i < 2500; i++) mlf_log_metric(m, run_id, "loss", 1.0 / (i + 1), i);
    for (int i = 0; i < 250; i++) {
        char k[32];
        snprintf(k, sizeof k, "p%d", i);
        mlf_log_param(m, run_id, k, "v");
        snprintf(k, sizeof k, "t%d", i);
        mlf_set_tag(m, run_id, k, "v");
    }
    CHECK_INT(mlf_flush(m), 0);
    CHECK_INT(fk.total_metrics, 2500);
    CHECK_INT(fk.total_params, 250);
    CHECK_INT(fk.total_tags, 250);
    CHECK(fk.max_metrics <= MLF_BATCH_METRICS);
    CHECK(fk.max_params <= MLF_BATCH_PARAMS);
    CHECK(fk.max_tags <= MLF_BATCH_TAGS);
    CHECK(fk.max_total <= MLF_BATCH_TOTAL);
    CHECK(fk.batches >= 5);
    struct mlf_stats st = mlf_stats(m);
    CHECK_INT(st.batches, fk.batches);
    CHECK(mlf_upload(m, "mlflow-artifacts:/7/abc123/artifacts", "dir/a b.json", "{}", 2, err) == 0);
    CHECK_STR(fk.last_path, "/api/2.0/mlflow-artifacts/artifacts/7/abc123/artifacts/dir/a%20b.json");
    CHECK(mlf_upload(m, "s3://bucket/x", "a", "{}", 2, err) != 0);
    mlf_free(m);
    stop_fake(&fk, t);
}

static void test_retries_and_offline(void)
{
    struct fake fk;
    pthread_t t = start_fake(&fk);
    fk.fail_first = 2;
    char uri[64], err[ERR_LEN], exp_id[64];
    snprintf(uri, sizeof uri, "http://127.0.0.1:%d", fk.port);
    setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3", 1);
    setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0.01", 1);
    setenv("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0", 1);
    setenv("MLFLOW_TRACKING_USERNAME", "u", 1);
    setenv("MLFLOW_TRACKING_PASSWORD", "p", 1);
    struct mlflow *m = mlf_new(uri);
    CHECK(mlf_experiment_id(m, "exp", exp_id, sizeof exp_id, err) == 0);   /* 503, 503, then 200 */
    CHECK_INT(fk.requests, 3);
    CHECK_STR(fk.last_auth, "Basic dTpw");
    CHECK(!mlf_offline(m));
    mlf_free(m);
    stop_fake(&fk, t);
    unsetenv("MLFLOW_TRACKING_USERNAME");
    unsetenv("MLFLOW_TRACKING_PASSWORD");
    /* nobody listens on the port any more: connection refused → offline, then fail fast */
    m = mlf_new(uri);
    CHECK(mlf_experiment_id(m, "exp", exp_id, sizeof exp_id, err) != 0);
    CHECK(mlf_offline(m));
    CHECK(strstr(err, "unreachable") != NULL);
    mlf_log_metric(m, "r", "k", 1, 0);
    CHECK_INT(mlf_flush(m), 1);   /* dropped, counted as failed */
    mlf_free(m);
    unsetenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES");
    unsetenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR");
    unsetenv("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER");
}

int main(void)
{
    test_batching();
    test_retries_and_offline();
    TEST_MAIN_END();
}
