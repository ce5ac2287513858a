/* The one path validator. Every artifact route, and every URI a client asks
 * the server to store as an artifact location, goes through here: decode
 * until stable, reject traversal tricks, then (for the filesystem) resolve
 * symlinks and require the real path to stay under the root. Callers use
 * only the canonical result, never the string they were given. */
#ifndef CAIRN_PATHS_H
#define CAIRN_PATHS_H
#include <stdbool.h>
#include <stddef.h>
#include "arena.h"
#include "error.h"

/* Canonicalises a client-supplied path relative to an artifact root:
 * percent-decodes until stable (at most 10 passes, as MLflow), rejects NUL
 * and control characters, '#', backslashes, absolute POSIX paths, Windows
 * drive letters, file: URIs and any ".." segment; drops empty and "."
 * segments. *out is "" for the root itself. MLflow answers every rejection
 * with 400 INVALID_PARAMETER_VALUE "Invalid path". */
int path_sanitize(struct arena *a, const char *path, const char **out, struct error *err);

/* Percent-decodes s until it stops changing; NULL if it has not settled
 * after 10 passes. */
const char *path_decode_stable(struct arena *a, const char *s);

/* root + "/" + rel (rel from path_sanitize), checked against symlink
 * escape: the real path of the deepest existing prefix (the leaf itself
 * when it exists) must be the real root or below it. A missing root is
 * fine (nothing under it exists yet). */
int path_resolve(struct arena *a, const char *root, const char *rel, const char **full, struct error *err);

/* The artifact-URI rule for locations clients ask the server to store
 * (experiment artifact_location, model sources): mlflow-artifacts: and
 * file: URIs / local paths must stay under one of roots (NULL entries are
 * skipped); other schemes (s3://, gs://, …) are stored as given and never
 * opened. Fragments, ";params", control characters and ".." segments
 * (also in a query) are refused everywhere. */
int artifact_uri_check(struct arena *a, const char *uri, const char *const *roots, size_t n_roots,
                       struct error *err);

/* Where a stored artifact URI (a run's artifact_uri, a logged model's
 * artifact location) lives on this server's disk: mlflow-artifacts:/x maps
 * to dest/x, a file: URI or path under one of roots to that root, an s3://
 * URI under an s3:// root to that root (issue 17; *root is then the s3://
 * root, which store/artifacts.c hands to store/s3.c). Returns 0 with *root
 * and *rel (canonical, via path_sanitize) set, 1 when the URI is not served
 * here (gs://, another bucket, …), -1 with err for a refused URI. */
int artifact_uri_to_local(struct arena *a, const char *uri, const char *dest, const char *const *roots,
                          size_t n_roots, const char **root, const char **rel, struct error *err);
/* issue 20: an experiment's relative artifact_location ("my_location",
 * "file:rel") is resolved under the default artifact root
 * ("mlflow-artifacts:/my_location", "file:///root/my_location"); MLflow
 * resolves it against its working directory. ".." and the other tricks
 * path_sanitize refuses are 400. Anything else comes back unchanged. */
int artifact_location_resolve_relative(struct arena *a, const char *location, const char *default_root,
                                       const char **out, struct error *err);

/* A configured root (--default-artifact-root, or --artifacts-destination
 * when destination) Cairn can store to: a local path or file: URI, an
 * s3://bucket[/prefix] URI (issue 17), and for
 * the default root also mlflow-artifacts: and this server's own http(s)
 * proxy route. -1 with a one-line message naming the scheme otherwise. */
int artifact_root_check(const char *flag, const char *uri, bool destination, char *msg, size_t msg_len);
#endif
