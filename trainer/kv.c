#include "kv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_escaped(struct sbuf *b, const char *s)
{
    if (!*s) { sb_puts(b, "%"); return; }  /* a lone % is the empty string */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= ' ' || *p == '%' || *p >= 0x7f) sb_printf(b, "%%%02X", *p);
        else sb_add(b, p, 1);
    }
}

static void put_double(struct sbuf *b, double v)
{
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.17g", v);
    sb_puts(b, tmp);
}

void kv_int(struct sbuf *b, const char *key, long v) { sb_printf(b, "%s i 1 %ld\n", key, v); }

void kv_str(struct sbuf *b, const char *key, const char *v)
{
    sb_printf(b, "%s s 1 ", key);
    put_escaped(b, v);
    sb_puts(b, "\n");
}

void kv_dbls(struct sbuf *b, const char *key, const double *v, int n)
{
    sb_printf(b, "%s d %d", key, n);
    for (int i = 0; i < n; i++) { sb_puts(b, " "); put_double(b, v[i]); }
    sb_puts(b, "\n");
}

void kv_ints(struct sbuf *b, const char *key, const int *v, int n)
{
    sb_printf(b, "%s d %d", key, n);
    for (int i = 0; i < n; i++) sb_printf(b, " %d", v[i]);
    sb_puts(b, "\n");
}

void kv_strs(struct sbuf *b, const char *key, char *const *v, int n)
{
    sb_printf(b, "%s s %d", key, n);
    for (int i = 0; i < n; i++) { sb_puts(b, " "); put_escaped(b, v[i]); }
    sb_puts(b, "\n");
}

static char *unescape(const char *s, size_t len)
{
    char *out = xmalloc(len + 1), *o = out;
    if (len == 1 && s[0] == '%') { *out = 0; return out; }
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        if (s[i] == '%' && i + 2 < len && sscanf(s + i + 1, "%2X", &v) == 1) { *o++ = (char)v; i += 2; continue; }
        *o++ = s[i];
    }
    *o = 0;
    return out;
}

int kv_parse(const char *text, struct kv *out, char *err)
{
    memset(out, 0, sizeof *out);
    int cap = 0, lineno = 0;
    const char *p = text;
    while (*p) {
        lineno++;
        const char *eol = strchr(p, '\n');
        if (!eol) eol = p + strlen(p);
        if (eol == p) { p = *eol ? eol + 1 : eol; continue; }
        char key[128], type;
        int n, used;
        if (sscanf(p, "%127s %c %d%n", key, &type, &n, &used) != 3 || n < 0 || (type != 'd' && type != 's' && type != 'i'))
            return kv_free(out), errf(err, "model file line %d is malformed", lineno);
        if (out->n == cap) { cap = cap ? cap * 2 : 32; out->e = xrealloc(out->e, (size_t)cap * sizeof *out->e); }
        struct kv_entry *e = &out->e[out->n++];
        memset(e, 0, sizeof *e);
        e->key = xstrdup(key);
        e->type = type == 'i' ? 'd' : type;
        e->n = n;
        const char *q = p + used;
        if (e->type == 'd') {
            e->d = xmalloc((size_t)(n ? n : 1) * sizeof *e->d);
            for (int i = 0; i < n; i++) {
                char *end;
                e->d[i] = strtod(q, &end);
                if (end == q || end > eol) return kv_free(out), errf(err, "model file line %d: bad number", lineno);
                q = end;
            }
        } else {
            e->s = xcalloc((size_t)(n ? n : 1), sizeof *e->s);
            for (int i = 0; i < n; i++) {
                while (q < eol && *q == ' ') q++;
                const char *st = q;
                while (q < eol && *q != ' ') q++;
                if (q == st) return kv_free(out), errf(err, "model file line %d: missing string", lineno);
                e->s[i] = unescape(st, (size_t)(q - st));
            }
        }
        p = *eol ? eol + 1 : eol;
    }
    return 0;
}

void kv_free(struct kv *kv)
{
    for (int i = 0; i < kv->n; i++) {
        free(kv->e[i].key);
        free(kv->e[i].d);
        if (kv->e[i].s) free_strs(kv->e[i].s, kv->e[i].n);
    }
    free(kv->e);
    memset(kv, 0, sizeof *kv);
}

void free_strs(char **v, int n)
{
    if (!v) return;
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static const struct kv_entry *find(const struct kv *kv, const char *key, char type, int expect_n, char *err)
{
    for (int i = 0; i < kv->n; i++)
        if (strcmp(kv->e[i].key, key) == 0) {
            if (kv->e[i].type != type) { errf(err, "model file: %s has the wrong type", key); return NULL; }
            if (expect_n >= 0 && kv->e[i].n != expect_n) {
                errf(err, "model file: %s has %d values, expected %d", key, kv->e[i].n, expect_n);
                return NULL;
            }
            return &kv->e[i];
        }
    errf(err, "model file: %s is missing", key);
    return NULL;
}

int kv_get_int(const struct kv *kv, const char *key, long *v, char *err)
{
    const struct kv_entry *e = find(kv, key, 'd', 1, err);
    if (!e) return -1;
    *v = (long)e->d[0];
    return 0;
}

int kv_get_str(const struct kv *kv, const char *key, const char **v, char *err)
{
    const struct kv_entry *e = find(kv, key, 's', 1, err);
    if (!e) return -1;
    *v = e->s[0];
    return 0;
}

int kv_get_dbls(const struct kv *kv, const char *key, int expect_n, double **v, int *n, char *err)
{
    const struct kv_entry *e = find(kv, key, 'd', expect_n, err);
    if (!e) return -1;
    *v = xmalloc((size_t)(e->n ? e->n : 1) * sizeof **v);
    if (e->n) memcpy(*v, e->d, (size_t)e->n * sizeof **v);
    if (n) *n = e->n;
    return 0;
}

int kv_get_ints(const struct kv *kv, const char *key, int expect_n, int **v, int *n, char *err)
{
    const struct kv_entry *e = find(kv, key, 'd', expect_n, err);
    if (!e) return -1;
    *v = xmalloc((size_t)(e->n ? e->n : 1) * sizeof **v);
    for (int i = 0; i < e->n; i++) (*v)[i] = (int)e->d[i];
    if (n) *n = e->n;
    return 0;
}

int kv_get_strs(const struct kv *kv, const char *key, int expect_n, char ***v, int *n, char *err)
{
    const struct kv_entry *e = find(kv, key, 's', expect_n, err);
    if (!e) return -1;
    *v = xcalloc((size_t)(e->n ? e->n : 1), sizeof **v);
    for (int i = 0; i < e->n; i++) (*v)[i] = xstrdup(e->s[i]);
    if (n) *n = e->n;
    return 0;
}
