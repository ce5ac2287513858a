/* One arena per request: everything a request allocates lives until the
 * reply is sent, then the whole arena is reset. Never free arena memory by
 * hand. */
#ifndef CAIRN_ARENA_H
#define CAIRN_ARENA_H
#include <stddef.h>
#include <stdarg.h>

struct arena_chunk;
struct arena_cleanup;
struct arena {
    struct arena_chunk *head;   /* current chunk; older chunks behind it */
    size_t total;               /* bytes handed out, for limits and stats */
    struct arena_cleanup *cleanups;   /* run (newest first) by arena_reset / arena_free */
};

void  arena_init(struct arena *a);
void *arena_alloc(struct arena *a, size_t n);            /* zeroed, 16-aligned; aborts on OOM */
void *arena_grow(struct arena *a, void *p, size_t old_n, size_t new_n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* fn(p) runs when the arena is reset or freed: memory the arena's users
 * borrow from elsewhere (a database result) lives exactly as long. */
void  arena_defer(struct arena *a, void (*fn)(void *), void *p);
void  arena_reset(struct arena *a);                        /* keep the first chunk, drop the rest */
void  arena_free(struct arena *a);
/* Frees the chunks arenas gave back for reuse once none was used for idle_ms,
 * and malloc's free pages once per quiet spell of idle_ms after arenas were freed. */
void  arena_cache_trim(long idle_ms);

/* A growable byte buffer in an arena, always NUL-terminated. */
struct strbuf {
    struct arena *arena;
    char *buf;
    size_t len, cap;
};
void sb_init(struct strbuf *sb, struct arena *a, size_t cap);
void sb_putn(struct strbuf *sb, const char *s, size_t n);
void sb_puts(struct strbuf *sb, const char *s);
void sb_reserve(struct strbuf *sb, size_t extra);         /* room for extra more bytes */
static inline void sb_putc(struct strbuf *sb, char c)
{
    if (sb->len + 2 > sb->cap)
        sb_reserve(sb, 1);
    sb->buf[sb->len++] = c;
    sb->buf[sb->len] = '\0';
}
void sb_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
