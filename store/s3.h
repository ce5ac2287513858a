/* S3-compatible object storage behind s3://bucket/prefix artifact roots
 * (issue 17). A client on libcurl: requests signed by libcurl's own AWS
 * SigV4 (CURLOPT_AWS_SIGV4), path-style URLs (self-hosted stores), bodies
 * streamed through fixed-size buffers. The settings are the ones MLflow
 * users already have: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN, AWS_DEFAULT_REGION (or AWS_REGION),
 * MLFLOW_S3_ENDPOINT_URL, MLFLOW_S3_IGNORE_TLS, AWS_CA_BUNDLE.
 * store/artifacts.c calls this file for roots s3_is_uri() accepts; nothing
 * above store/ knows which backend holds the bytes. */
#ifndef CAIRN_S3_H
#define CAIRN_S3_H
#include "artifacts.h"

bool s3_is_uri(const char *uri);
/* Reads the settings from the environment; once, at start-up, before any
 * other call. -1 with a one-line message in msg when they cannot work. */
int s3_configure(char *msg, size_t msg_len);
/* Start-up: the bucket of root answers (HEAD bucket); -1 with a message
 * naming the bucket and what the store said otherwise. */
int s3_check_root(const char *root, char *msg, size_t msg_len);

/* The store operations of artifacts.h for an s3:// root (rel from
 * path_sanitize, relative to the root's prefix). */
int s3_put(struct arena *a, const char *root, const char *rel, artifact_read_fn read, void *ctx,
           long long content_length, struct error *err);
/* HEAD: size and ETag of an object; a "directory" (a key prefix) is
 * INVALID_PARAMETER_VALUE as the local store answers */
int s3_stat(struct arena *a, const char *root, const char *rel, long long *size, const char **etag,
            struct error *err);
/* GET streamed to write; etag (may be NULL) pins the object s3_stat saw */
int s3_get(struct arena *a, const char *root, const char *rel, const char *etag, artifact_write_fn write,
           void *ctx);
int s3_list(struct arena *a, const char *root, const char *rel, struct artifact_entry **out, size_t *n,
            struct error *err);
int s3_delete(struct arena *a, const char *root, const char *rel, struct error *err);

/* MLflow's direct multipart upload: the server opens and closes the
 * upload, the client PUTs each part to a presigned URL. */
int s3_mpu_create(struct arena *a, const char *root, const char *rel, const char **upload_id, struct error *err);
int s3_mpu_complete(struct arena *a, const char *root, const char *rel, const char *upload_id,
                    const struct artifact_part *parts, size_t n, struct error *err);
int s3_mpu_abort(struct arena *a, const char *root, const char *rel, const char *upload_id, struct error *err);
/* Aborts the multipart uploads under root's prefix that the store says
 * were initiated more than max_age_s ago, except those this process is
 * streaming: a crash leaves them behind. The number aborted, or -1 (err)
 * when the uploads could not be listed; stops early when *stop is set. */
int s3_sweep_uploads(const char *root, long long max_age_s, const volatile int *stop, struct error *err);
/* A presigned URL (SigV4 query signing): a PUT (UploadPart when upload_id
 * is set, else PutObject with content_type signed) or a GetObject
 * (response-content-disposition when disposition is set). */
struct s3_presign_opts {
    bool put;
    const char *upload_id;
    long long part_number;
    const char *content_type, *disposition;
    long long expires_s;
};
const char *s3_presign(struct arena *a, const char *root, const char *rel, const struct s3_presign_opts *o);
#endif
