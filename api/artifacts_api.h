/* Artifact helpers shared by api/artifacts.c and api/logged_models.c. */
#ifndef CAIRN_ARTIFACTS_API_H
#define CAIRN_ARTIFACTS_API_H
#include "api.h"
#include "json.h"
#include "../store/artifacts.h"

/* the first value of a query parameter, or NULL */
const char *query_value(const struct request *req, const char *key);
/* the configured local roots: artifacts destination and default root */
size_t artifact_roots(const char *roots[2]);
/* The stored-location rule (store/paths.h artifact_uri_check) against the
 * configured roots: experiments/create calls it for artifact_location. */
int check_artifact_location(struct arena *a, const char *uri, struct error *err);
/* Streams root/rel to the client as an attachment (sets req->streamed). */
int send_artifact(struct request *req, const char *root, const char *rel, struct error *err);
/* Streams file path (client text; sanitised here) of the stored location
 * (a run's artifact_uri, a logged model's or model version's location). */
int send_location_file(struct request *req, const char *location, const char *path, struct error *err);
/* {"root_uri", "files":[…]} for the directory sub (may be NULL) of a stored location. */
int list_location(struct request *req, struct response *resp, const char *root_uri, const char *sub,
                  struct error *err);
void write_file_infos(struct jw *w, const char *prefix, const struct artifact_entry *e, size_t n);
/* host_policy.rejected_host_addressed_scheme (api/registry.c): 400 naming
 * field for ftp/http(s)/hdfs/… URIs whose host is not the default artifact
 * root's (MLflow's default, without MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES) */
int check_host_addressed(struct arena *a, const char *uri, const char *field, struct error *err);
#endif
