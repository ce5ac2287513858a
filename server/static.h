/* MLflow's built web UI, served as static files: index.html at "/", the
 * build under "/static-files/…" (both under --static-prefix), as MLflow's
 * Flask app serves them. Validators (ETag, Last-Modified) answer 304s;
 * hashed assets are cached for 28 days (MLflow's max_age), index.html is
 * revalidated every time; a precompressed "X.gz" beside a file is sent to
 * clients that accept gzip. */
#ifndef CAIRN_STATIC_H
#define CAIRN_STATIC_H
#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "../store/arena.h"

struct mg_connection;

/* The UI directory: ui_dir if given (must hold index.html), else "ui" or
 * "../ui" beside the executable (make build unpacks it into build/ui).
 * Returns 0 when a UI was found, 1 when there is none (the "/" page then
 * says how to get it), -1 when an explicit ui_dir is unusable. */
int static_init(const char *ui_dir);
const char *static_root(void);   /* NULL without a UI */

/* true for the paths the UI owns: "/", "" (the bare prefix) and "/static-files/…" */
bool static_is_ui_path(const char *path);

/* Answers a GET or HEAD for a UI path; returns the status sent. prefix is
 * --static-prefix ("" for none), used for the bare-prefix redirect. */
int static_serve(struct mg_connection *conn, struct arena *a, const char *path, const char *prefix);

/* ---- pure helpers (unit-tested) ---- */
const char *static_mime_type(const char *path);
bool static_is_hashed_asset(const char *rel);
/* "\"<size hex>-<mtime ns hex>[-gz]\"" */
void static_etag(char *out, size_t n, long long size, long long mtime_ns, bool gz);
/* If-None-Match: "*", a list of entity tags, weak ones (W/) compared weakly */
bool static_etag_matches(const char *if_none_match, const char *etag);
/* Accept-Encoding names gzip (or *) with a non-zero q */
bool static_accepts_gzip(const char *accept_encoding);
void static_http_date(char *out, size_t n, time_t t);
/* -1 when not an IMF-fixdate */
time_t static_parse_http_date(const char *s);
#endif
