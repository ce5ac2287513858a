/* Cairn's native model file: one entry per line, "key type count values…",
 * doubles printed with 17 significant digits (exact round trip, and the same
 * bytes for the same model), strings percent-escaped. */
#ifndef CAIRN_TRAINER_KV_H
#define CAIRN_TRAINER_KV_H
#include "util.h"

void kv_int(struct sbuf *b, const char *key, long v);
void kv_str(struct sbuf *b, const char *key, const char *v);
void kv_dbls(struct sbuf *b, const char *key, const double *v, int n);
void kv_ints(struct sbuf *b, const char *key, const int *v, int n);
void kv_strs(struct sbuf *b, const char *key, char *const *v, int n);

struct kv_entry { char *key; char type; int n; double *d; char **s; };
struct kv { int n; struct kv_entry *e; };
int kv_parse(const char *text, struct kv *out, char *err);
void kv_free(struct kv *kv);
/* Lookups: return 0 on success; on a missing/mistyped key, fill err. */
int kv_get_int(const struct kv *kv, const char *key, long *v, char *err);
int kv_get_str(const struct kv *kv, const char *key, const char **v, char *err);
/* Arrays are copied into fresh memory the caller owns. expect_n < 0: any length. */
int kv_get_dbls(const struct kv *kv, const char *key, int expect_n, double **v, int *n, char *err);
int kv_get_ints(const struct kv *kv, const char *key, int expect_n, int **v, int *n, char *err);
int kv_get_strs(const struct kv *kv, const char *key, int expect_n, char ***v, int *n, char *err);
void free_strs(char **v, int n);
#endif
