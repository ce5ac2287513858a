/* Small helpers shared by the trainer: checked allocation, a growable
 * string buffer, a seeded RNG, timing, and the one-line error convention
 * (a message in a caller-owned char[ERR_LEN], non-zero return). */
#ifndef CAIRN_TRAINER_UTIL_H
#define CAIRN_TRAINER_UTIL_H
#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#define ERR_LEN 512

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
int errf(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Growable buffer; data is always NUL-terminated. */
struct sbuf { char *data; size_t len, cap; };
void sb_init(struct sbuf *b);
void sb_free(struct sbuf *b);
void sb_add(struct sbuf *b, const void *p, size_t n);
void sb_puts(struct sbuf *b, const char *s);
void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Shortest round-trip decimal of a double; NaN/Inf spelled as MLflow does. */
void sb_double(struct sbuf *b, double v);
void sb_json_str(struct sbuf *b, const char *s);

/* xoshiro256** seeded through splitmix64: same seed, same stream everywhere. */
struct rng { uint64_t s[4]; };
void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
double rng_uniform(struct rng *r);           /* [0, 1) */
uint64_t rng_below(struct rng *r, uint64_t n); /* [0, n) */
double rng_normal(struct rng *r);
void rng_shuffle(struct rng *r, int *a, int n);

/* CPU features for the SIMD paths (every path gives the same bits); cpu_generic_only set makes them
 * all 0, so the tests can hold the SIMD paths against the generic ones */
extern int cpu_generic_only;
int cpu_avx2(void);
int cpu_avx512f(void);
int cpu_fma(void);

double now_seconds(void);            /* monotonic */
int64_t now_millis_epoch(void);      /* wall clock, for MLflow timestamps */
long peak_rss_kb(void);

int read_file(const char *path, char **data, size_t *len, char *err);
int write_file(const char *path, const void *data, size_t len, char *err);
int mkdir_p(const char *path, char *err);
int parse_double(const char *s, double *out);  /* whole string, no junk */
int parse_long(const char *s, long *out);
void sha256_hex(const void *data, size_t len, char out[65]);
#endif
