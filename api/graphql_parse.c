/* GraphQL executable documents (see graphql_parse.h). A hand-written
 * lexer and recursive-descent parser; recursion is bounded by
 * GQL_MAX_NESTING, and every node counts against GQL_MAX_NODES. Type
 * system definitions (schema, type, directive …) are refused: a client
 * sends only operations and fragments. */
#include "graphql_parse.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tok { T_EOF, T_PUNCT, T_NAME, T_INT, T_FLOAT, T_STRING, T_BLOCK_STRING, T_ERROR };

struct parser {
    struct arena *a;
    const char *src;
    size_t len, pos;
    size_t line, line_start;
    /* the current token */
    enum tok kind;
    char punct;                 /* '.' stands for "..." */
    const char *text;           /* names and numbers: points into src; strings: decoded copy */
    size_t text_len;
    size_t tok_line, tok_col;
    int depth;
    size_t nodes;
    char *msg;
    size_t msg_len;
    bool failed;
};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parser *p, const char *fmt, ...)
{
    if (!p->failed) {
        va_list ap;
        va_start(ap, fmt);
        int n = snprintf(p->msg, p->msg_len, "Syntax Error: ");
        if (n >= 0 && (size_t)n < p->msg_len)
            vsnprintf(p->msg + n, p->msg_len - (size_t)n, fmt, ap);
        va_end(ap);
        p->failed = true;
    }
    return -1;
}

static bool is_name_start(int c)
{
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_name_char(int c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static const char *describe(struct parser *p)
{
    switch (p->kind) {
    case T_EOF:
        return "<EOF>";
    case T_PUNCT:
        return p->punct == '.' ? "\"...\"" : arena_printf(p->a, "\"%c\"", p->punct);
    case T_NAME:
        return arena_printf(p->a, "Name \"%.*s\"", (int)(p->text_len > 64 ? 64 : p->text_len), p->text);
    case T_INT:
        return "Int";
    case T_FLOAT:
        return "Float";
    case T_STRING:
    case T_BLOCK_STRING:
        return "String";
    default:
        return "invalid token";
    }
}

static void put_utf8(struct strbuf *sb, unsigned cp)
{
    if (cp < 0x80) {
        sb_putc(sb, (char)cp);
    } else if (cp < 0x800) {
        sb_putc(sb, (char)(0xC0 | (cp >> 6)));
        sb_putc(sb, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        sb_putc(sb, (char)(0xE0 | (cp >> 12)));
        sb_putc(sb, (char)(0x80 | ((cp >> 6) & 0x3F)));
        sb_putc(sb, (char)(0x80 | (cp & 0x3F)));
    } else {
        sb_putc(sb, (char)(0xF0 | (cp >> 18)));
        sb_putc(sb, (char)(0x80 | ((cp >> 12) & 0x3F)));
        sb_putc(sb, (char)(0x80 | ((cp >> 6) & 0x3F)));
        sb_putc(sb, (char)(0x80 | (cp & 0x3F)));
    }
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)s[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + (unsigned)d;
    }
    *out = v;
    return 0;
}

static int lex_string(struct parser *p)
{
    struct strbuf sb;
    sb_init(&sb, p->a, 32);
    size_t i = p->pos + 1;
    for (;;) {
        if (i >= p->len)
            return fail(p, "Unterminated string.");
        unsigned char c = (unsigned char)p->src[i];
        if (c == '"')
            break;
        if (c == '\n' || c == '\r')
            return fail(p, "Unterminated string.");
        if (c < 0x20 && c != '\t')
            return fail(p, "Invalid character within String.");
        if (c != '\\') {
            sb_putc(&sb, (char)c);
            i++;
            continue;
        }
        if (i + 1 >= p->len)
            return fail(p, "Unterminated string.");
        char e = p->src[i + 1];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            sb_putc(&sb, map[simple - "\"\\/bfnrt"]);
            i += 2;
        } else if (e == 'u') {
            unsigned cp;
            if (i + 6 > p->len || hex4(p->src + i + 2, &cp))
                return fail(p, "Invalid Unicode escape sequence.");
            i += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {   /* a surrogate pair */
                unsigned lo;
                if (i + 6 > p->len || p->src[i] != '\\' || p->src[i + 1] != 'u' || hex4(p->src + i + 2, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return fail(p, "Invalid Unicode escape sequence.");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return fail(p, "Invalid Unicode escape sequence.");
            }
            if (cp == 0)
                return fail(p, "Invalid Unicode escape sequence.");   /* would cut the C string */
            put_utf8(&sb, cp);
        } else {
            return fail(p, "Invalid character escape sequence.");
        }
    }
    p->kind = T_STRING;
    p->text = sb.buf;
    p->text_len = sb.len;
    p->pos = i + 1;
    return 0;
}

/* Block strings keep their raw text, with \""" unescaped; the common
 * indentation is not removed (no operation we serve takes one). */
static int lex_block_string(struct parser *p)
{
    struct strbuf sb;
    sb_init(&sb, p->a, 32);
    size_t i = p->pos + 3;
    for (;;) {
        if (i + 3 > p->len)
            return fail(p, "Unterminated string.");
        if (!memcmp(p->src + i, "\"\"\"", 3))
            break;
        if (i + 4 <= p->len && !memcmp(p->src + i, "\\\"\"\"", 4)) {
            sb_puts(&sb, "\"\"\"");
            i += 4;
            continue;
        }
        if (p->src[i] == '\n') {
            p->line++;
            p->line_start = i + 1;
        }
        sb_putc(&sb, p->src[i]);
        i++;
    }
    p->kind = T_BLOCK_STRING;
    p->text = sb.buf;
    p->text_len = sb.len;
    p->pos = i + 3;
    return 0;
}

static int lex_number(struct parser *p)
{
    size_t i = p->pos;
    bool is_float = false;
    if (p->src[i] == '-')
        i++;
    if (i < p->len && p->src[i] == '0') {
        i++;
        if (i < p->len && is_digit(p->src[i]))
            return fail(p, "Invalid number, unexpected digit after 0: \"%c\".", p->src[i]);
    } else {
        if (i >= p->len || !is_digit(p->src[i]))
            return fail(p, "Invalid number, expected digit.");
        while (i < p->len && is_digit(p->src[i]))
            i++;
    }
    if (i < p->len && p->src[i] == '.') {
        is_float = true;
        i++;
        if (i >= p->len || !is_digit(p->src[i]))
            return fail(p, "Invalid number, expected digit.");
        while (i < p->len && is_digit(p->src[i]))
            i++;
    }
    if (i < p->len && (p->src[i] == 'e' || p->src[i] == 'E')) {
        is_float = true;
        i++;
        if (i < p->len && (p->src[i] == '+' || p->src[i] == '-'))
            i++;
        if (i >= p->len || !is_digit(p->src[i]))
            return fail(p, "Invalid number, expected digit.");
        while (i < p->len && is_digit(p->src[i]))
            i++;
    }
    if (i < p->len && (is_name_start(p->src[i]) || p->src[i] == '.'))
        return fail(p, "Invalid number, expected digit.");
    p->kind = is_float ? T_FLOAT : T_INT;
    p->text = arena_strndup(p->a, p->src + p->pos, i - p->pos);
    p->text_len = i - p->pos;
    p->pos = i;
    return 0;
}

/* Advances to the next token. */
static int next(struct parser *p)
{
    if (p->failed)
        return -1;
    for (;;) {   /* ignored: whitespace, commas, comments, a BOM */
        if (p->pos >= p->len)
            break;
        unsigned char c = (unsigned char)p->src[p->pos];
        if (c == ' ' || c == '\t' || c == ',' || c == '\r') {
            p->pos++;
        } else if (c == '\n') {
            p->pos++;
            p->line++;
            p->line_start = p->pos;
        } else if (c == '#') {
            while (p->pos < p->len && p->src[p->pos] != '\n' && p->src[p->pos] != '\r')
                p->pos++;
        } else if (c == 0xEF && p->pos + 2 < p->len && (unsigned char)p->src[p->pos + 1] == 0xBB &&
                   (unsigned char)p->src[p->pos + 2] == 0xBF) {
            p->pos += 3;
        } else {
            break;
        }
    }
    p->tok_line = p->line;
    p->tok_col = p->pos - p->line_start + 1;
    if (p->pos >= p->len) {
        p->kind = T_EOF;
        return 0;
    }
    char c = p->src[p->pos];
    if (strchr("!$&()@:=[]{}|", c) && c) {
        p->kind = T_PUNCT;
        p->punct = c;
        p->pos++;
        return 0;
    }
    if (c == '.') {
        if (p->pos + 2 < p->len && p->src[p->pos + 1] == '.' && p->src[p->pos + 2] == '.') {
            p->kind = T_PUNCT;
            p->punct = '.';
            p->pos += 3;
            return 0;
        }
        return fail(p, "Unexpected character: \".\".");
    }
    if (is_name_start(c)) {
        size_t i = p->pos;
        while (i < p->len && is_name_char(p->src[i]))
            i++;
        p->kind = T_NAME;
        p->text = p->src + p->pos;
        p->text_len = i - p->pos;
        p->pos = i;
        return 0;
    }
    if (c == '-' || is_digit(c))
        return lex_number(p);
    if (c == '"') {
        if (p->pos + 2 < p->len && p->src[p->pos + 1] == '"' && p->src[p->pos + 2] == '"')
            return lex_block_string(p);
        return lex_string(p);
    }
    unsigned char u = (unsigned char)c;
    if (u < 0x20 || u == 0x7f)
        return fail(p, "Invalid character: U+%04X.", u);
    return fail(p, "Unexpected character: \"%c\".", u < 0x80 ? c : '?');
}

static bool at_punct(struct parser *p, char c)
{
    return !p->failed && p->kind == T_PUNCT && p->punct == c;
}

static bool at_name(struct parser *p, const char *name)
{
    return !p->failed && p->kind == T_NAME && p->text_len == strlen(name) && !memcmp(p->text, name, p->text_len);
}

static int expect_punct(struct parser *p, char c)
{
    if (!at_punct(p, c))
        return c == '.' ? fail(p, "Expected \"...\", found %s.", describe(p))
                        : fail(p, "Expected \"%c\", found %s.", c, describe(p));
    return next(p);
}

static int expect_name(struct parser *p, const char **out)
{
    if (p->failed || p->kind != T_NAME)
        return fail(p, "Expected Name, found %s.", describe(p));
    *out = arena_strndup(p->a, p->text, p->text_len);
    return next(p);
}

static int count_node(struct parser *p)
{
    if (++p->nodes > GQL_MAX_NODES)
        return fail(p, "Document exceeds the limit of %d nodes.", GQL_MAX_NODES);
    return 0;
}

static int enter(struct parser *p)
{
    if (++p->depth > GQL_MAX_NESTING)
        return fail(p, "Document nesting exceeds the limit of %d levels.", GQL_MAX_NESTING);
    return 0;
}

/* A growable array in the arena. */
static void *push(struct parser *p, void *arr, size_t *n, size_t *cap, size_t size)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        arr = arena_grow(p->a, arr, *cap * size, ncap * size);
        *cap = ncap;
    }
    (*n)++;
    return arr;
}

static struct gql_value *parse_value(struct parser *p, bool is_const);

static int parse_list_value(struct parser *p, struct gql_value *v, bool is_const)
{
    size_t cap = 0;
    if (next(p) || enter(p))
        return -1;
    while (!at_punct(p, ']')) {
        if (p->failed || p->kind == T_EOF)
            return fail(p, "Expected \"]\", found %s.", describe(p));
        struct gql_value *item = parse_value(p, is_const);
        if (!item)
            return -1;
        v->items = push(p, v->items, &v->n, &cap, sizeof *v->items);
        v->items[v->n - 1] = item;
    }
    p->depth--;
    return next(p);
}

static int parse_object_value(struct parser *p, struct gql_value *v, bool is_const)
{
    size_t cap = 0, kcap = 0, kn = 0;
    if (next(p) || enter(p))
        return -1;
    while (!at_punct(p, '}')) {
        const char *key;
        if (expect_name(p, &key) || expect_punct(p, ':'))
            return -1;
        struct gql_value *item = parse_value(p, is_const);
        if (!item)
            return -1;
        v->items = push(p, v->items, &v->n, &cap, sizeof *v->items);
        v->items[v->n - 1] = item;
        v->keys = push(p, v->keys, &kn, &kcap, sizeof *v->keys);
        v->keys[kn - 1] = key;
    }
    p->depth--;
    return next(p);
}

static struct gql_value *parse_value(struct parser *p, bool is_const)
{
    if (count_node(p))
        return NULL;
    struct gql_value *v = arena_alloc(p->a, sizeof *v);
    if (at_punct(p, '$')) {
        if (is_const) {
            fail(p, "Unexpected variable in a constant value.");
            return NULL;
        }
        v->kind = GV_VARIABLE;
        if (next(p) || expect_name(p, &v->text))
            return NULL;
        return v;
    }
    if (at_punct(p, '['))
        return v->kind = GV_LIST, parse_list_value(p, v, is_const) ? NULL : v;
    if (at_punct(p, '{'))
        return v->kind = GV_OBJECT, parse_object_value(p, v, is_const) ? NULL : v;
    switch (p->failed ? T_ERROR : p->kind) {
    case T_INT:
    case T_FLOAT:
        v->kind = p->kind == T_INT ? GV_INT : GV_FLOAT;
        v->text = p->text;
        break;
    case T_STRING:
    case T_BLOCK_STRING:
        v->kind = GV_STRING;
        v->text = p->text;
        break;
    case T_NAME:
        if (at_name(p, "true") || at_name(p, "false")) {
            v->kind = GV_BOOL;
            v->boolean = at_name(p, "true");
        } else if (at_name(p, "null")) {
            v->kind = GV_NULL;
        } else {
            v->kind = GV_ENUM;
            v->text = arena_strndup(p->a, p->text, p->text_len);
        }
        break;
    default:
        fail(p, "Unexpected %s.", describe(p));
        return NULL;
    }
    return next(p) ? NULL : v;
}

static int parse_arguments(struct parser *p, struct gql_arg **args, size_t *n, bool is_const)
{
    size_t cap = 0;
    if (!at_punct(p, '('))
        return 0;
    if (next(p))
        return -1;
    if (at_punct(p, ')'))
        return fail(p, "Expected Name, found \")\".");
    while (!at_punct(p, ')')) {
        const char *name;
        if (count_node(p) || expect_name(p, &name) || expect_punct(p, ':'))
            return -1;
        struct gql_value *v = parse_value(p, is_const);
        if (!v)
            return -1;
        *args = push(p, *args, n, &cap, sizeof **args);
        (*args)[*n - 1] = (struct gql_arg){ name, v };
    }
    return next(p);
}

static int parse_directives(struct parser *p, struct gql_directive **dirs, size_t *n, bool is_const)
{
    size_t cap = 0;
    while (at_punct(p, '@')) {
        struct gql_directive d = { 0 };
        if (count_node(p) || next(p) || expect_name(p, &d.name) ||
            parse_arguments(p, &d.args, &d.n_args, is_const))
            return -1;
        *dirs = push(p, *dirs, n, &cap, sizeof **dirs);
        (*dirs)[*n - 1] = d;
    }
    return p->failed ? -1 : 0;
}

static struct gql_selection_set *parse_selection_set(struct parser *p);

static int parse_selection(struct parser *p, struct gql_selection *s)
{
    s->line = p->tok_line;
    s->column = p->tok_col;
    if (count_node(p))
        return -1;
    if (at_punct(p, '.')) {
        if (next(p))
            return -1;
        if (p->kind == T_NAME && !at_name(p, "on")) {
            s->kind = GS_SPREAD;
            return expect_name(p, &s->name) || parse_directives(p, &s->directives, &s->n_directives, false);
        }
        s->kind = GS_INLINE;
        if (at_name(p, "on") && (next(p) || expect_name(p, &s->type_condition)))
            return -1;
        if (parse_directives(p, &s->directives, &s->n_directives, false))
            return -1;
        s->set = parse_selection_set(p);
        return s->set ? 0 : -1;
    }
    s->kind = GS_FIELD;
    if (expect_name(p, &s->name))
        return -1;
    if (at_punct(p, ':')) {
        s->alias = s->name;
        if (next(p) || expect_name(p, &s->name))
            return -1;
    }
    if (parse_arguments(p, &s->args, &s->n_args, false) ||
        parse_directives(p, &s->directives, &s->n_directives, false))
        return -1;
    if (at_punct(p, '{')) {
        s->set = parse_selection_set(p);
        return s->set ? 0 : -1;
    }
    return 0;
}

static struct gql_selection_set *parse_selection_set(struct parser *p)
{
    if (expect_punct(p, '{') || enter(p))
        return NULL;
    struct gql_selection_set *set = arena_alloc(p->a, sizeof *set);
    size_t cap = 0;
    do {
        if (p->failed || p->kind == T_EOF || at_punct(p, '}')) {
            fail(p, "Expected Name, found %s.", describe(p));
            return NULL;
        }
        set->items = push(p, set->items, &set->n, &cap, sizeof *set->items);
        struct gql_selection *s = &set->items[set->n - 1];
        memset(s, 0, sizeof *s);
        if (parse_selection(p, s))
            return NULL;
    } while (!at_punct(p, '}'));
    p->depth--;
    return next(p) ? NULL : set;
}

/* a type reference, as written: Name, [Type], Type! */
static int parse_type(struct parser *p, struct strbuf *sb, bool *non_null)
{
    *non_null = false;
    if (at_punct(p, '[')) {
        bool inner;
        if (enter(p) || next(p))
            return -1;
        sb_putc(sb, '[');
        if (parse_type(p, sb, &inner) || expect_punct(p, ']'))
            return -1;
        sb_putc(sb, ']');
        p->depth--;
    } else {
        const char *name;
        if (expect_name(p, &name))
            return -1;
        sb_puts(sb, name);
    }
    if (at_punct(p, '!')) {
        sb_putc(sb, '!');
        *non_null = true;
        return next(p);
    }
    return 0;
}

static int parse_variable_defs(struct parser *p, struct gql_operation *op)
{
    size_t cap = 0;
    if (!at_punct(p, '('))
        return 0;
    if (next(p))
        return -1;
    if (at_punct(p, ')'))
        return fail(p, "Expected \"$\", found \")\".");
    while (!at_punct(p, ')')) {
        struct gql_var_def d = { 0 };
        struct strbuf sb;
        sb_init(&sb, p->a, 32);
        if (count_node(p) || expect_punct(p, '$') || expect_name(p, &d.name) || expect_punct(p, ':') ||
            parse_type(p, &sb, &d.non_null))
            return -1;
        d.type = sb.buf;
        if (at_punct(p, '=')) {
            if (next(p) || !(d.default_value = parse_value(p, true)))
                return -1;
        }
        struct gql_directive *dirs = NULL;
        size_t nd = 0;
        if (parse_directives(p, &dirs, &nd, true))
            return -1;
        op->vars = push(p, op->vars, &op->n_vars, &cap, sizeof *op->vars);
        op->vars[op->n_vars - 1] = d;
    }
    return next(p);
}

static int parse_operation(struct parser *p, struct gql_operation *op)
{
    if (at_punct(p, '{')) {
        op->kind = "query";
        op->set = parse_selection_set(p);
        return op->set ? 0 : -1;
    }
    if (at_name(p, "query") || at_name(p, "mutation") || at_name(p, "subscription")) {
        op->kind = at_name(p, "query") ? "query" : at_name(p, "mutation") ? "mutation" : "subscription";
        if (next(p))
            return -1;
    }
    if (p->kind == T_NAME && expect_name(p, &op->name))
        return -1;
    struct gql_directive *dirs = NULL;
    size_t nd = 0;
    if (parse_variable_defs(p, op) || parse_directives(p, &dirs, &nd, false))
        return -1;
    op->set = parse_selection_set(p);
    return op->set ? 0 : -1;
}

static int parse_fragment(struct parser *p, struct gql_fragment *f)
{
    if (next(p) || expect_name(p, &f->name))
        return -1;
    if (!strcmp(f->name, "on"))
        return fail(p, "Unexpected Name \"on\".");
    if (!at_name(p, "on"))
        return fail(p, "Expected \"on\", found %s.", describe(p));
    struct gql_directive *dirs = NULL;
    size_t nd = 0;
    if (next(p) || expect_name(p, &f->type_condition) || parse_directives(p, &dirs, &nd, false))
        return -1;
    f->set = parse_selection_set(p);
    return f->set ? 0 : -1;
}

int gql_parse(struct arena *a, const char *src, size_t len, struct gql_document **out, char *msg,
              size_t msg_len)
{
    struct parser p = { .a = a, .src = src, .len = len, .line = 1, .msg = msg, .msg_len = msg_len };
    if (msg_len)
        msg[0] = '\0';
    if (len > GQL_MAX_SOURCE) {
        snprintf(msg, msg_len, "Query exceeds the limit of %d bytes.", GQL_MAX_SOURCE);
        return -1;
    }
    if (memchr(src, '\0', len)) {
        snprintf(msg, msg_len, "Syntax Error: Invalid character: U+0000.");
        return -1;
    }
    struct gql_document *doc = arena_alloc(a, sizeof *doc);
    size_t ocap = 0, fcap = 0;
    if (next(&p))
        return -1;
    if (p.kind == T_EOF)
        return fail(&p, "Unexpected <EOF>.");
    while (p.kind != T_EOF) {
        if (at_name(&p, "fragment")) {
            doc->frags = push(&p, doc->frags, &doc->n_frags, &fcap, sizeof *doc->frags);
            struct gql_fragment *f = &doc->frags[doc->n_frags - 1];
            memset(f, 0, sizeof *f);
            if (parse_fragment(&p, f))
                return -1;
        } else if (at_punct(&p, '{') || at_name(&p, "query") || at_name(&p, "mutation") ||
                   at_name(&p, "subscription")) {
            doc->ops = push(&p, doc->ops, &doc->n_ops, &ocap, sizeof *doc->ops);
            struct gql_operation *op = &doc->ops[doc->n_ops - 1];
            memset(op, 0, sizeof *op);
            if (parse_operation(&p, op))
                return -1;
        } else {
            return fail(&p, "Unexpected %s.", describe(&p));
        }
        if (p.failed)
            return -1;
    }
    *out = doc;
    return 0;
}
