#include "arena.h"
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK_MIN (16 * 1024)

struct arena_chunk {
    struct arena_chunk *prev;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

/* Issue 19: a request's bigger chunks (256 KiB and up: malloc maps and
 * unmaps them) came back from the kernel as fresh zeroed pages on every
 * request — 148 page faults a search page, most of the server's CPU on a
 * busy machine. Freed chunks of the arena's own sizes are kept, 4 MiB in
 * all, for the next request; arena_cache_trim() gives back those idle for a
 * while, so an idle server holds none. */
#define CACHE_MIN (CHUNK_MIN * 16)
#define CACHE_MAX (CHUNK_MIN * 64)
#define CACHE_BYTES (4u << 20)

static struct {
    pthread_mutex_t lock;
    struct arena_chunk *head;   /* linked by prev */
    size_t bytes;
    long long used_ms;          /* last taken from or given to */
} cache = { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0 };

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool cacheable(size_t size)
{
    return size >= CACHE_MIN && size <= CACHE_MAX && (size & (size - 1)) == 0;   /* the doubling sizes */
}

static struct arena_chunk *cache_take(size_t size)
{
    struct arena_chunk *c = NULL;
    if (!cacheable(size))
        return NULL;
    pthread_mutex_lock(&cache.lock);
    for (struct arena_chunk **pp = &cache.head; *pp; pp = &(*pp)->prev)
        if ((*pp)->size == size) {
            c = *pp;
            *pp = c->prev;
            cache.bytes -= c->size;
            cache.used_ms = mono_ms();
            break;
        }
    pthread_mutex_unlock(&cache.lock);
    return c;
}

static void chunk_free(struct arena_chunk *c)
{
    if (cacheable(c->size)) {
        pthread_mutex_lock(&cache.lock);
        if (cache.bytes + c->size <= CACHE_BYTES) {
            c->prev = cache.head;
            cache.head = c;
            cache.bytes += c->size;
            cache.used_ms = mono_ms();
            c = NULL;
        }
        pthread_mutex_unlock(&cache.lock);
    }
    free(c);
}

/* Issue 19: the free memory malloc keeps inside its heaps after a burst
 * of requests (it only gives back the top of a heap by itself) goes back
 * once per quiet spell: freeing an arena notes the time, and the first
 * trim idle_ms after the last one calls malloc_trim. */
static atomic_llong last_free_ms, last_trim_ms;

void arena_cache_trim(long idle_ms)
{
    long long now = mono_ms();
    pthread_mutex_lock(&cache.lock);
    struct arena_chunk *c = NULL;
    if (cache.head && now - cache.used_ms >= idle_ms) {
        c = cache.head;
        cache.head = NULL;
        cache.bytes = 0;
    }
    pthread_mutex_unlock(&cache.lock);
    while (c) {
        struct arena_chunk *p = c->prev;
        free(c);
        c = p;
    }
    long long freed = atomic_load(&last_free_ms);
    if (freed > atomic_load(&last_trim_ms) && now - freed >= idle_ms) {
        atomic_store(&last_trim_ms, now);
        malloc_trim(0);
    }
}

static struct arena_chunk *chunk_new(size_t size, struct arena_chunk *prev)
{
    struct arena_chunk *c = cache_take(size);
    if (c) {
        c->prev = prev;
        c->used = 0;
        return c;
    }
    c = malloc(sizeof *c + size);
    if (!c) {
        fputs("cairn: out of memory\n", stderr);
        abort();
    }
    c->prev = prev;
    c->size = size;
    c->used = 0;
    return c;
}

struct arena_cleanup {
    struct arena_cleanup *next;
    void (*fn)(void *);
    void *p;
};

void arena_init(struct arena *a)
{
    a->head = NULL;
    a->total = 0;
    a->cleanups = NULL;
}

static void run_cleanups(struct arena *a)
{
    /* the records live in the chunks freed next: take each before running it */
    while (a->cleanups) {
        struct arena_cleanup *c = a->cleanups;
        a->cleanups = c->next;
        c->fn(c->p);
    }
}

static void *alloc_raw(struct arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!a->head || a->head->size - a->head->used < n) {
        size_t size = n > CHUNK_MIN ? n : CHUNK_MIN;
        if (a->head && size < a->head->size * 2 && n <= CHUNK_MIN * 64)
            size = a->head->size * 2 > CHUNK_MIN * 64 ? CHUNK_MIN * 64 : a->head->size * 2;
        if (size < n)
            size = n;
        a->head = chunk_new(size, a->head);
    }
    void *p = a->head->data + a->head->used;
    a->head->used += n;
    a->total += n;
    return p;
}

void *arena_alloc(struct arena *a, size_t n)
{
    void *p = alloc_raw(a, n ? n : 1);
    memset(p, 0, n);
    return p;
}

void *arena_grow(struct arena *a, void *p, size_t old_n, size_t new_n)
{
    if (new_n <= old_n)
        return p;
    struct arena_chunk *c = a->head;
    size_t old_r = (old_n + 15) & ~(size_t)15, new_r = (new_n + 15) & ~(size_t)15;
    /* the last allocation can grow in place */
    if (p && c && (unsigned char *)p + old_r == c->data + c->used && c->size - c->used + old_r >= new_r) {
        c->used += new_r - old_r;
        a->total += new_r - old_r;
        return p;
    }
    void *q = alloc_raw(a, new_n);
    if (p && old_n)
        memcpy(q, p, old_n);
    return q;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *d = alloc_raw(a, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *d = alloc_raw(a, (size_t)n + 1);
    vsnprintf(d, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return d;
}

void arena_defer(struct arena *a, void (*fn)(void *), void *p)
{
    struct arena_cleanup *c = alloc_raw(a, sizeof *c);
    c->fn = fn;
    c->p = p;
    c->next = a->cleanups;
    a->cleanups = c;
}

void arena_reset(struct arena *a)
{
    run_cleanups(a);
    struct arena_chunk *c = a->head;
    if (!c)
        return;
    while (c->prev) {
        struct arena_chunk *p = c->prev;
        chunk_free(c);
        c = p;
    }
    /* keep the oldest chunk unless a big request inflated it */
    if (c->size > CHUNK_MIN * 4) {
        chunk_free(c);
        c = NULL;
    } else {
        c->used = 0;
    }
    a->head = c;
    a->total = 0;
}

void arena_free(struct arena *a)
{
    if (a->head)
        atomic_store(&last_free_ms, mono_ms());
    run_cleanups(a);
    struct arena_chunk *c = a->head;
    while (c) {
        struct arena_chunk *p = c->prev;
        chunk_free(c);
        c = p;
    }
    a->head = NULL;
    a->total = 0;
}

void sb_init(struct strbuf *sb, struct arena *a, size_t cap)
{
    sb->arena = a;
    sb->cap = cap ? cap : 64;
    sb->buf = alloc_raw(a, sb->cap);
    sb->buf[0] = '\0';
    sb->len = 0;
}

void sb_reserve(struct strbuf *sb, size_t extra)
{
    if (sb->len + extra + 1 <= sb->cap)
        return;
    size_t ncap = sb->cap * 2;
    while (ncap < sb->len + extra + 1)
        ncap *= 2;
    sb->buf = arena_grow(sb->arena, sb->buf, sb->cap, ncap);
    sb->cap = ncap;
}

void sb_putn(struct strbuf *sb, const char *s, size_t n)
{
    sb_reserve(sb, n);
    memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
}

void sb_puts(struct strbuf *sb, const char *s)
{
    sb_putn(sb, s, strlen(s));
}

void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    sb_reserve(sb, (size_t)n);
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    sb->len += (size_t)n;
}
