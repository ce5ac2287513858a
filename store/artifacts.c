/* The artifact store interface: an s3:// root goes to store/s3.c (issue
 * 17), anything else is the local store here: atomic streamed uploads,
 * streamed downloads, listings and deletes under one directory. No cJSON or
 * civetweb here: bytes arrive and leave through the read/write callbacks. */
#include "artifacts.h"
#include "paths.h"
#include "s3.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static int io_error(struct error *err, const char *what, int e)
{
    /* A full disk or an I/O error is not the client's fault and a retried
     * PUT is idempotent: 500 INTERNAL_ERROR, as MLflow answers, so the
     * client retries. */
    return error_set(err, ERR_INTERNAL_ERROR, "Failed to %s artifact: %s", what, strerror(e));
}

/* mkdir -p for the directories of rel under root (root included). *made
 * gets the outermost directory of rel this call created (NULL if none), so
 * a failed upload can take them away again. */
static int make_parents(struct arena *a, const char *root, const char *rel, const char **made,
                        struct error *err)
{
    *made = NULL;
    struct strbuf sb;
    sb_init(&sb, a, strlen(root) + strlen(rel) + 2);
    /* the root itself, component by component (it may not exist yet) */
    const char *p = root;
    do {
        size_t len = strcspn(p + 1, "/") + 1;
        sb_putn(&sb, p, len);
        p += len;
        if (sb.len > 1 && mkdir(sb.buf, 0755) && errno != EEXIST)
            return io_error(err, "create the directory of the", errno);
    } while (*p);
    const char *slash = strrchr(rel, '/');
    for (const char *s = rel; slash && s < slash;) {
        size_t len = strcspn(s, "/");
        sb_putc(&sb, '/');
        sb_putn(&sb, s, len);
        s += len + 1;
        if (mkdir(sb.buf, 0755) == 0) {
            if (!*made)
                *made = arena_strdup(a, sb.buf);
        } else if (errno != EEXIST) {
            return errno == ENOTDIR ? error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid path")
                                    : io_error(err, "create the directory of the", errno);
        }
        struct stat st;
        if (stat(sb.buf, &st) || !S_ISDIR(st.st_mode))
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid path");
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Copies the stream into fd: exactly want bytes when want >= 0. */
static int copy_in(int fd, artifact_read_fn read, void *ctx, long long want, struct error *err)
{
    char *buf = malloc(ARTIFACT_CHUNK);
    if (!buf)
        return error_set(err, ERR_INTERNAL_ERROR, "Out of memory");
    long long got = 0;
    int rc = 0;
    for (;;) {
        size_t ask = ARTIFACT_CHUNK;
        if (want >= 0 && want - got < (long long)ask)
            ask = (size_t)(want - got);
        if (want >= 0 && ask == 0)
            break;
        long long n = read(ctx, buf, ask);
        if (n < 0 || (n == 0 && want >= 0)) {
            rc = error_set(err, ERR_BAD_REQUEST, "Upload ended after %lld of %lld bytes", got, want);
            break;
        }
        if (n == 0)
            break;
        for (long long off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = io_error(err, "write", errno);
                goto out;
            }
            off += w;
        }
        got += n;
    }
out:
    free(buf);
    return rc;
}

/* issue 15: a failed upload takes away the directories it created (from
 * the deepest up to *made; rmdir leaves any another upload has filled since). */
static void remove_made(struct arena *a, const char *root, const char *rel, const char *made)
{
    if (!made)
        return;
    const char *slash = strrchr(rel, '/');
    if (!slash)
        return;
    char *dir = arena_printf(a, "%s/%.*s", root, (int)(slash - rel), rel);
    size_t stop = strlen(made);
    while (strlen(dir) >= stop) {
        if (rmdir(dir) != 0 && errno != ENOENT)
            break;   /* not empty: another upload's */
        char *cut = strrchr(dir, '/');
        if (!cut)
            break;
        *cut = '\0';
    }
}

int artifact_put(struct arena *a, const char *root, const char *rel, artifact_read_fn read, void *ctx,
                 long long content_length, struct error *err)
{
    const char *full, *made = NULL;
    if (!*rel)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid path");
    if (s3_is_uri(root))
        return s3_put(a, root, rel, read, ctx, content_length, err);
    /* check before creating directories (a symlinked parent must not make
     * us mkdir outside the root), and again after */
    if (path_resolve(a, root, rel, &full, err))
        return -1;
    if (make_parents(a, root, rel, &made, err) || path_resolve(a, root, rel, &full, err)) {
        remove_made(a, root, rel, made);
        return -1;
    }
    const char *slash = strrchr(full, '/');
    const char *dir = arena_strndup(a, full, (size_t)(slash - full));
    uint64_t rnd;
    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        rnd = (uint64_t)rand() << 32 ^ (uint64_t)rand();
    const char *tmp = arena_printf(a, "%s/" ARTIFACT_TMP_PREFIX "%016llx", dir, (unsigned long long)rnd);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        io_error(err, "store", errno);
        remove_made(a, root, rel, made);
        return -1;
    }
    int rc = copy_in(fd, read, ctx, content_length, err);
    /* never retry a failed fsync: the dirty pages may be gone (PostgreSQL's lesson) */
    if (!rc && fsync(fd))
        rc = io_error(err, "sync", errno);
    if (close(fd) && !rc)
        rc = io_error(err, "close", errno);
    if (!rc && rename(tmp, full)) {
        rc = errno == EISDIR || errno == ENOTDIR || errno == ENOTEMPTY || errno == EEXIST
                 ? error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid path")
                 : io_error(err, "store", errno);
    }
    if (rc) {
        unlink(tmp);
        remove_made(a, root, rel, made);
        return -1;
    }
    if (fsync_dir(dir))
        return io_error(err, "sync the directory of the", errno);
    return 0;
}

int artifact_open(struct arena *a, const char *root, const char *rel, struct artifact_file *out,
                  struct error *err)
{
    const char *full;
    out->fd = -1;
    out->root = NULL;
    if (s3_is_uri(root)) {
        out->arena = a;
        out->root = root;
        out->rel = rel;
        return s3_stat(a, root, rel, &out->size, &out->etag, err);
    }
    if (path_resolve(a, root, rel, &full, err))
        return -1;
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "The artifact does not exist");
        return io_error(err, "open", errno);
    }
    struct stat st;
    if (fstat(fd, &st)) {
        int e = errno;
        close(fd);
        return io_error(err, "open", e);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "Artifact path refers to a directory, not a file: '%s'", rel);
    }
    out->fd = fd;
    out->size = st.st_size;
    return 0;
}

void artifact_close(struct artifact_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    f->root = NULL;
}

int artifact_send(struct artifact_file *f, artifact_write_fn write, void *ctx)
{
    if (f->root) {
        int rc = s3_get(f->arena, f->root, f->rel, f->etag, write, ctx);
        artifact_close(f);
        return rc;
    }
    char *buf = malloc(ARTIFACT_CHUNK);
    int rc = buf ? 0 : -1;
    long long left = f->size;
    while (!rc && left > 0) {
        ssize_t n = read(f->fd, buf, (size_t)(left < ARTIFACT_CHUNK ? left : ARTIFACT_CHUNK));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || write(ctx, buf, (size_t)n) < 0)
            rc = -1;     /* a shrunk file or a gone client: the reply is cut short */
        else
            left -= n;
    }
    free(buf);
    artifact_close(f);
    return rc;
}

static int cmp_entry(const void *x, const void *y)
{
    const struct artifact_entry *a = x, *b = y;
    return strcmp(a->name, b->name);
}

int artifact_list(struct arena *a, const char *root, const char *rel, struct artifact_entry **out, size_t *n,
                  struct error *err)
{
    const char *full;
    *out = NULL;
    *n = 0;
    if (s3_is_uri(root))
        return s3_list(a, root, rel, out, n, err);
    if (path_resolve(a, root, rel, &full, err))
        return -1;
    DIR *d = opendir(full);
    if (!d)
        return errno == ENOENT || errno == ENOTDIR ? 0 : io_error(err, "list", errno);
    size_t cap = 16;
    struct artifact_entry *v = arena_alloc(a, cap * sizeof *v);
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *name = de->d_name;
        if (!strcmp(name, ".") || !strcmp(name, "..") || !strncmp(name, ARTIFACT_TMP_PREFIX, strlen(ARTIFACT_TMP_PREFIX)))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), name, &st, 0))
            continue;   /* a dangling link or a file removed meanwhile */
        if (*n == cap) {
            v = arena_grow(a, v, cap * sizeof *v, 2 * cap * sizeof *v);
            cap *= 2;
        }
        v[*n].name = arena_strdup(a, name);
        v[*n].is_dir = S_ISDIR(st.st_mode);
        v[*n].size = S_ISDIR(st.st_mode) ? 0 : st.st_size;
        (*n)++;
    }
    closedir(d);
    qsort(v, *n, sizeof *v, cmp_entry);
    *out = v;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) && errno != ENOENT ? -1 : 0;
}

int artifact_delete(struct arena *a, const char *root, const char *rel, struct error *err)
{
    const char *full;
    if (s3_is_uri(root))
        return s3_delete(a, root, rel, err);
    if (path_resolve(a, root, rel, &full, err))
        return -1;
    struct stat st;
    if (lstat(full, &st))
        return errno == ENOENT || errno == ENOTDIR ? 0 : io_error(err, "delete", errno);
    int rc = S_ISDIR(st.st_mode) ? nftw(full, rm_entry, 16, FTW_DEPTH | FTW_PHYS) : unlink(full);
    return rc ? io_error(err, "delete", errno) : 0;
}

/* Only temp files untouched for an hour: another server sharing the store
 * (behind a load balancer) may be writing a fresh one right now. */
static int sweep_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (flag == FTW_F && !strncmp(path + ftw->base, ARTIFACT_TMP_PREFIX, strlen(ARTIFACT_TMP_PREFIX)) &&
        st->st_mtime < time(NULL) - 3600)
        unlink(path);
    return 0;
}

void artifact_sweep_temp(const char *root)
{
    if (root && !s3_is_uri(root))
        nftw(root, sweep_entry, 16, FTW_PHYS);
}

/* ---- issue 17: what only object storage does ---- */

bool artifact_root_is_remote(const char *root)
{
    return s3_is_uri(root);
}

static int no_multipart(struct error *err)
{
    /* MLflow's _UnsupportedMultipartUploadException message: the client
     * matches its start to fall back to one proxied PUT */
    return error_set(err, ERR_NOT_IMPLEMENTED, "Multipart upload is not supported for the current artifact repository");
}

int artifact_mpu_create(struct arena *a, const char *root, const char *rel, long long n_parts,
                        const char **upload_id, struct artifact_mpu_url **urls, struct error *err)
{
    if (!s3_is_uri(root))
        return no_multipart(err);
    if (n_parts < 1 || n_parts > 10000)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "num_parts must be between 1 and 10000, got %lld", n_parts);
    if (s3_mpu_create(a, root, rel, upload_id, err))
        return -1;
    struct artifact_mpu_url *v = arena_alloc(a, (size_t)n_parts * sizeof *v);
    for (long long i = 0; i < n_parts; i++) {
        v[i].part_number = i + 1;
        /* botocore's default lifetime of a presigned URL: one hour */
        struct s3_presign_opts o = { .put = true, .upload_id = *upload_id, .part_number = i + 1, .expires_s = 3600 };
        v[i].url = s3_presign(a, root, rel, &o);
    }
    *urls = v;
    return 0;
}

int artifact_mpu_complete(struct arena *a, const char *root, const char *rel, const char *upload_id,
                          const struct artifact_part *parts, size_t n, struct error *err)
{
    return s3_is_uri(root) ? s3_mpu_complete(a, root, rel, upload_id, parts, n, err) : no_multipart(err);
}

int artifact_mpu_abort(struct arena *a, const char *root, const char *rel, const char *upload_id,
                       struct error *err)
{
    return s3_is_uri(root) ? s3_mpu_abort(a, root, rel, upload_id, err) : no_multipart(err);
}

int artifact_presign_get(struct arena *a, const char *root, const char *rel, long long expires_s,
                         const char **url, long long *size, struct error *err)
{
    if (!s3_is_uri(root))
        return error_set(err, ERR_NOT_IMPLEMENTED,
                         "Multipart download is not supported for the current artifact repository");
    const char *etag;
    if (s3_stat(a, root, rel, size, &etag, err))
        return -1;
    const char *slash = strrchr(rel, '/');
    const char *base = slash ? slash + 1 : rel;
    struct strbuf sb;
    sb_init(&sb, a, strlen(base) + 32);
    sb_puts(&sb, "attachment; filename=\"");
    for (const char *p = base; *p; p++) {
        if (*p == '"' || *p == '\\')
            sb_putc(&sb, '\\');
        sb_putc(&sb, *p);
    }
    sb_putc(&sb, '"');
    struct s3_presign_opts o = { .disposition = sb.buf, .expires_s = expires_s };
    *url = s3_presign(a, root, rel, &o);
    return 0;
}

int artifact_presign_put(struct arena *a, const char *root, const char *rel, const char *content_type,
                         long long expires_s, const char **url, struct error *err)
{
    if (!s3_is_uri(root))
        return error_set(err, ERR_NOT_IMPLEMENTED, "The artifact repository does not support presigned uploads.");
    struct s3_presign_opts o = { .put = true, .content_type = content_type, .expires_s = expires_s };
    *url = s3_presign(a, root, rel, &o);
    return 0;
}
