#include "validate.h"
#include "json.h"
#include "pyfmt.h"
#include <stdio.h>
#include <string.h>

size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

const char *utf8_truncate(struct arena *a, const char *s, size_t limit)
{
    size_t chars = 0;
    const char *p = s;
    for (; *p; p++) {
        if (((unsigned char)*p & 0xC0) != 0x80) {
            if (chars == limit)
                return arena_strndup(a, s, (size_t)(p - s));
            chars++;
        }
    }
    return s;
}

int invalid_value_error(struct error *err, const char *path, const char *value, const char *msg)
{
    /* json.dumps of the value, as MLflow quotes it */
    struct arena a;
    arena_init(&a);
    struct strbuf sb;
    sb_init(&sb, &a, 64);
    if (value)
        py_dumps_str(&sb, value);
    else
        sb_puts(&sb, "null");
    if (msg)
        error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid value %s for parameter '%s' supplied: %s",
                  sb.buf, path, msg);
    else
        error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid value %s for parameter '%s' supplied.",
                  sb.buf, path);
    arena_free(&a);
    return -1;
}

/* Python's \w is Unicode-aware: every non-ASCII byte is taken as part of a word character. */
static bool key_char_ok(unsigned char c)
{
    return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '/' || c == '.' || c == '-' || c == ' ' || c == ':';
}

/* posixpath.normpath(name) != name, or ".", or starts with ".." or "/" */
static bool path_not_unique(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || name[0] == '/' || name[n - 1] == '/' || strstr(name, "//") || !strncmp(name, "..", 2))
        return true;
    for (const char *seg = name; seg; ) {
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return true;
        seg = slash ? slash + 1 : NULL;
    }
    return false;
}

/* Python's posixpath.normpath */
static const char *posix_normpath(struct arena *a, const char *path)
{
    if (!*path)
        return ".";
    size_t lead = strspn(path, "/");
    if (lead > 2)
        lead = 1;
    size_t n = strlen(path);
    const char **parts = arena_alloc(a, (n + 1) * sizeof *parts);
    size_t *lens = arena_alloc(a, (n + 1) * sizeof *lens), k = 0;
    for (const char *p = path; *p; ) {
        size_t len = strcspn(p, "/");
        bool dot = len == 1 && p[0] == '.', dotdot = len == 2 && p[0] == '.' && p[1] == '.';
        if (len && !dot) {
            if (dotdot && k && !(lens[k - 1] == 2 && !strncmp(parts[k - 1], "..", 2)))
                k--;
            else if (!(dotdot && lead))
                parts[k] = p, lens[k++] = len;
        }
        p += len;
        while (*p == '/')
            p++;
    }
    struct strbuf sb;
    sb_init(&sb, a, n + 4);
    for (size_t i = 0; i < lead; i++)
        sb_putc(&sb, '/');
    for (size_t i = 0; i < k; i++) {
        if (i)
            sb_putc(&sb, '/');
        sb_putn(&sb, parts[i], lens[i]);
    }
    return sb.len ? sb.buf : ".";
}

int validate_key_name(const char *name, const char *path, struct error *err)
{
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        if (!key_char_ok(*c))
            return invalid_value_error(err, path, name,
                                       "Names may only contain alphanumerics, underscores (_), dashes (-), "
                                       "periods (.), spaces ( ), colon(:) and slashes (/).");
    if (path_not_unique(name)) {
        struct arena a;
        arena_init(&a);
        struct strbuf sb;
        sb_init(&sb, &a, 256);
        sb_puts(&sb, "Names may be treated as files in certain cases, and must not resolve "
                     "to other names when treated as such. This name would resolve to ");
        py_repr_str(&sb, posix_normpath(&a, name));   /* {posixpath.normpath(name)!r}, as MLflow */
        int rc = invalid_value_error(err, path, name, sb.buf);
        arena_free(&a);
        return rc;
    }
    return 0;
}

int validate_length(const char *what, const char *value, size_t limit, struct error *err)
{
    if (value && utf8_len(value) > limit)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "'%s' exceeds the maximum length of %zu characters",
                         what, limit);
    return 0;
}

bool valid_run_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 256)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!(alnum || (i > 0 && (c == '_' || c == '-'))))
            return false;
    }
    return true;
}

int parse_experiment_id(const char *s, int64_t *out, struct error *err)
{
    if (parse_int64(s, out) || strchr(s, '.') || strchr(s, 'e') || strchr(s, 'E'))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "Invalid experiment ID '%.100s'. Experiment ID must be a valid integer.", s);
    return 0;
}
