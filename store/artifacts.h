/* The local artifact store behind mlflow-artifacts: URIs. Bytes stream in
 * fixed-size heap chunks between a caller-supplied reader/writer and the
 * filesystem; nothing is ever held whole in memory. Every path argument is
 * relative to root and must come from path_sanitize(); each function runs
 * path_resolve() itself (symlink escape) before touching the filesystem. */
#ifndef CAIRN_ARTIFACTS_H
#define CAIRN_ARTIFACTS_H
#include <stdbool.h>
#include <stddef.h>
#include "arena.h"
#include "error.h"

#define ARTIFACT_CHUNK (256 * 1024)
/* in-progress uploads; hidden from listings, removed at start-up */
#define ARTIFACT_TMP_PREFIX ".artifact.uploading."

typedef long long (*artifact_read_fn)(void *ctx, char *buf, size_t len);   /* <0 error, 0 end */
typedef int (*artifact_write_fn)(void *ctx, const char *buf, size_t len);  /* <0: reader gone */

/* Atomic upload: a temp file in the destination directory receives the
 * stream; exactly content_length bytes are required when it is >= 0; then
 * fsync, rename over the destination, fsync the directory. On any failure
 * the temp file is removed and nothing appears at rel. */
int artifact_put(struct arena *a, const char *root, const char *rel, artifact_read_fn read, void *ctx,
                 long long content_length, struct error *err);

struct artifact_file {
    int fd;
    long long size;
    /* an s3:// root's object (fd is -1): what artifact_send GETs */
    struct arena *arena;
    const char *root, *rel, *etag;
};
/* Opens a regular file for download: RESOURCE_DOES_NOT_EXIST when missing,
 * INVALID_PARAMETER_VALUE for a directory (MLflow's message). */
int artifact_open(struct arena *a, const char *root, const char *rel, struct artifact_file *out,
                  struct error *err);
/* Sends the open file to write in ARTIFACT_CHUNK pieces and closes it. -1
 * when the reader went away or the file could not be read. */
int artifact_send(struct artifact_file *f, artifact_write_fn write, void *ctx);
void artifact_close(struct artifact_file *f);

struct artifact_entry {
    const char *name;        /* basename */
    bool is_dir;
    long long size;          /* files only */
};
/* Entries of directory rel, sorted by name. A missing path or a file lists as empty. */
int artifact_list(struct arena *a, const char *root, const char *rel, struct artifact_entry **out, size_t *n,
                  struct error *err);
/* Removes a file or a whole directory tree; a missing path is fine. */
int artifact_delete(struct arena *a, const char *root, const char *rel, struct error *err);
/* issue 17: the backend is chosen by the root: a local directory, or an
 * s3://bucket/prefix URI (store/s3.c). */
bool artifact_root_is_remote(const char *root);

/* MLflow's direct multipart upload (mlflow-artifacts/mpu/…) and presigned
 * downloads: object storage only; a local root answers NOT_IMPLEMENTED with
 * MLflow's message, on which the client falls back to one proxied PUT. */
struct artifact_part {
    long long part_number;
    const char *etag;
};
struct artifact_mpu_url {
    long long part_number;
    const char *url;
};
/* Opens an upload for rel and presigns n_parts part URLs (1..10000). */
int artifact_mpu_create(struct arena *a, const char *root, const char *rel, long long n_parts,
                        const char **upload_id, struct artifact_mpu_url **urls, struct error *err);
int artifact_mpu_complete(struct arena *a, const char *root, const char *rel, const char *upload_id,
                          const struct artifact_part *parts, size_t n, struct error *err);
int artifact_mpu_abort(struct arena *a, const char *root, const char *rel, const char *upload_id,
                       struct error *err);
/* A presigned GET of the file rel (attachment named for its basename), its size in *size. */
int artifact_presign_get(struct arena *a, const char *root, const char *rel, long long expires_s,
                         const char **url, long long *size, struct error *err);
/* A presigned PUT of rel; the uploader must send content_type (signed) as its Content-Type. */
int artifact_presign_put(struct arena *a, const char *root, const char *rel, const char *content_type,
                         long long expires_s, const char **url, struct error *err);

/* Removes temp files a crash left behind (start-up). */
void artifact_sweep_temp(const char *root);
#endif
