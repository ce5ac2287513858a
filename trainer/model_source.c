#include "model_source.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int model_source_is_remote(const char *spec)
{
    return !strncmp(spec, "models:/", 8) || !strncmp(spec, "runs:/", 6);
}

/* pipeline_load reads a file: the downloaded text goes through a private temporary directory */
static int load_text(const char *text, size_t len, const char *what, struct pipeline *pl, char *err)
{
    const char *tmp = getenv("TMPDIR");
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/cairn-model-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) return errf(err, "cannot create a temporary directory under %s", tmp && *tmp ? tmp : "/tmp");
    snprintf(path, sizeof path, "%s/model.cairn", dir);
    int rc = write_file(path, text, len, err);
    if (!rc && pipeline_load(path, pl, err)) {
        char e2[ERR_LEN];
        snprintf(e2, sizeof e2, "%s: %s", what, err);
        snprintf(err, ERR_LEN, "%s", e2);
        rc = -1;
    }
    unlink(path);
    rmdir(dir);
    return rc;
}

static int download_load(struct mlflow *m, const char *artifact_uri, const char *rel, const char *what,
                         struct pipeline *pl, char *err)
{
    char *data = NULL;
    size_t len = 0;
    if (mlf_download(m, artifact_uri, rel, &data, &len, err)) return -1;
    int rc = load_text(data, len, what, pl, err);
    free(data);
    return rc;
}

static char *url_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0), *r = xstrdup(e ? e : "");
    curl_free(e);
    return r;
}

static cJSON *get_json(struct mlflow *m, const char *path, char *err)
{
    struct mlf_reply r;
    if (mlf_request(m, "GET", path, NULL, NULL, 0, &r, err)) { mlf_reply_free(&r); return NULL; }
    cJSON *j = cJSON_Parse(r.body);
    mlf_reply_free(&r);
    if (!j) errf(err, "GET %s: the reply is not JSON", path);
    return j;
}

static const char *str_at(const cJSON *o, const char *a, const char *b, const char *c)
{
    o = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b) o = cJSON_GetObjectItemCaseSensitive(o, b);
    if (c) o = cJSON_GetObjectItemCaseSensitive(o, c);
    return cJSON_IsString(o) ? o->valuestring : NULL;
}

/* runs:/ID/PATH: the run's artifacts at PATH, else (MLflow 3) the run's logged model named PATH */
static int load_run_model(struct mlflow *m, const char *spec, struct pipeline *pl, char *err)
{
    const char *rest = spec + 6, *slash = strchr(rest, '/');
    if (!slash || slash == rest || !slash[1]) return errf(err, "%s: expected runs:/<run_id>/<path>", spec);
    char run_id[256], path[4096];
    snprintf(run_id, sizeof run_id, "%.*s", (int)(slash - rest), rest);
    snprintf(path, sizeof path, "%s", slash + 1);
    size_t n = strlen(path);
    while (n && path[n - 1] == '/') path[--n] = 0;
    char *eid = url_escape(run_id), q[512];
    snprintf(q, sizeof q, "/api/2.0/mlflow/runs/get?run_id=%s", eid);
    free(eid);
    cJSON *run = get_json(m, q, err);
    if (!run) return -1;
    int rc = -1;
    const char *art = str_at(run, "run", "info", "artifact_uri");
    char rel[4200], e1[ERR_LEN];
    snprintf(rel, sizeof rel, "%s/model.cairn", path);
    if (art && !download_load(m, art, rel, spec, pl, e1)) { rc = 0; goto out; }
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(run, "run"), "outputs"), "model_outputs");
    const cJSON *o;
    cJSON_ArrayForEach(o, outs) {
        const char *id = str_at(o, "model_id", NULL, NULL);
        if (!id) continue;
        char *eid2 = url_escape(id);
        snprintf(q, sizeof q, "/api/2.0/mlflow/logged-models/%s", eid2);
        free(eid2);
        cJSON *lm = get_json(m, q, err);
        if (!lm) continue;
        const char *name = str_at(lm, "model", "info", "name"), *lart = str_at(lm, "model", "info", "artifact_uri");
        if (name && lart && !strcmp(name, path)) rc = download_load(m, lart, "model.cairn", spec, pl, err);
        cJSON_Delete(lm);
        if (!rc) goto out;
    }
    if (rc) snprintf(err, ERR_LEN, "%.200s: no Cairn model there (%.280s)", spec, e1);
out:
    cJSON_Delete(run);
    return rc;
}

int model_source_load(struct mlflow *m, const char *spec, struct pipeline *pl, char *version, size_t vlen,
                      char *err)
{
    if (version && vlen) version[0] = 0;
    if (!model_source_is_remote(spec)) {
        const char *dir = !strncmp(spec, "file://", 7) ? spec + 7 : !strncmp(spec, "file:", 5) ? spec + 5 : spec;
        char path[4200];
        snprintf(path, sizeof path, "%s/model.cairn", dir);
        if (access(path, R_OK)) return errf(err, "%s: no model.cairn in this directory", dir);
        return pipeline_load(path, pl, err);
    }
    if (!m) return errf(err, "%s needs --tracking-uri or MLFLOW_TRACKING_URI", spec);
    if (!strncmp(spec, "runs:/", 6)) return load_run_model(m, spec, pl, err);
    char *art = NULL;
    if (mlf_resolve_model_version(m, spec, &art, version, vlen, err)) return -1;
    int rc = download_load(m, art, "model.cairn", spec, pl, err);
    free(art);
    return rc;
}

int model_source_version(struct mlflow *m, const char *spec, char *version, size_t vlen, char *err)
{
    if (strncmp(spec, "models:/", 8) != 0) return errf(err, "%s is not a models:/ URI", spec);
    char *art = NULL;
    int rc = mlf_resolve_model_version(m, spec, &art, version, vlen, err);
    free(art);
    return rc;
}
