/* Content-Type of an artifact download, as MLflow's server picks it. */
#ifndef CAIRN_MIME_H
#define CAIRN_MIME_H
/* By the file's name (the last path component counts): MLflow's text
 * extensions give "text/plain", else Python's mimetypes table with the
 * host's mime.types, else "application/octet-stream". Thread-safe. */
const char *mime_guess(const char *name);
#endif
