/* The registry's search grammar: clauses joined by AND, each
 * `identifier comparator value`, with MLflow's per-entity rules
 * (reference/mlflow-protocol.md §3.4–3.5). Small enough to lex by hand; the
 * run/experiment grammar in api/search_filter.c is a different language. */
#include "registry.h"
#include "json.h"
#include "validate.h"
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum tok_kind { TK_END, TK_IDENT, TK_STRING, TK_NUMBER, TK_OP, TK_LPAREN, TK_RPAREN, TK_COMMA, TK_BAD };

struct tok {
    enum tok_kind kind;
    const char *text;     /* raw text (IDENT, NUMBER, OP); contents for STRING */
    bool is_float;
};

struct lexer {
    struct arena *a;
    const char *s;
};

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '$' || c == '#' || c == '.' || (unsigned char)c >= 0x80;
}

/* A quoted run starting at *p (quote q): its contents, *p moved past it. A
 * doubled quote inside is part of the value and stays doubled, as sqlparse
 * leaves it (MLflow strips the outer quotes only). */
static const char *quoted(struct arena *a, const char **p, char q, bool *ok)
{
    const char *start = *p + 1, *e = start;
    for (;;) {
        e = strchr(e, q);
        if (!e || q == '`' || e[1] != q)
            break;
        e += 2;
    }
    *ok = e != NULL;
    if (!e)
        return NULL;
    *p = e + 1;
    return arena_strndup(a, start, (size_t)(e - start));
}

static struct tok next_tok(struct lexer *lx)
{
    struct tok t = { TK_END, NULL, false };
    while (isspace((unsigned char)*lx->s))
        lx->s++;
    const char *p = lx->s;
    bool ok;
    if (!*p)
        return t;
    if (*p == '(' || *p == ')' || *p == ',') {
        t.kind = *p == '(' ? TK_LPAREN : *p == ')' ? TK_RPAREN : TK_COMMA;
        lx->s++;
        return t;
    }
    if (*p == '\'' || *p == '"') {
        t.text = quoted(lx->a, &p, *p, &ok);
        t.kind = ok ? TK_STRING : TK_BAD;
        lx->s = ok ? p : p + strlen(p);
        return t;
    }
    static const char *const ops[] = { "<=", ">=", "!=", "<>", "=", "<", ">" };
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (!strncmp(p, ops[i], strlen(ops[i]))) {
            t.kind = TK_OP;
            t.text = strcmp(ops[i], "<>") ? ops[i] : "!=";
            lx->s += strlen(ops[i]);
            return t;
        }
    if (isdigit((unsigned char)*p) || ((*p == '-' || *p == '.') && isdigit((unsigned char)p[1]))) {
        const char *q = p + (*p == '-');
        while (isdigit((unsigned char)*q))
            q++;
        if (*q == '.') {
            t.is_float = true;
            for (q++; isdigit((unsigned char)*q);)
                q++;
        }
        if ((*q == 'e' || *q == 'E') && (isdigit((unsigned char)q[1]) || (q[1] == '-' && isdigit((unsigned char)q[2])))) {
            t.is_float = true;
            for (q += 2; isdigit((unsigned char)*q);)
                q++;
        }
        if (!ident_char(*q) || *q == '.') {
            t.kind = TK_NUMBER;
            t.text = arena_strndup(lx->a, p, (size_t)(q - p));
            lx->s = q;
            return t;
        }
    }
    /* identifiers: bare parts joined by '.', a part may be `quoted` or "quoted" */
    const char *start = p;
    while (*p) {
        if (ident_char(*p)) {
            p++;
        } else if ((*p == '`' || *p == '"') && p > start && p[-1] == '.') {
            quoted(lx->a, &p, *p, &ok);
            if (!ok)
                break;
        } else {
            break;
        }
    }
    if (p == start && *p == '`') {
        quoted(lx->a, &p, '`', &ok);
        if (!ok)
            p = start;
    }
    if (p == start) {
        t.kind = TK_BAD;
        t.text = arena_strndup(lx->a, p, 1);
        lx->s = p + 1;
        return t;
    }
    t.kind = TK_IDENT;
    t.text = arena_strndup(lx->a, start, (size_t)(p - start));
    lx->s = p;
    return t;
}

static bool is_word(const struct tok *t, const char *w)
{
    return t->kind == TK_IDENT && !strcasecmp(t->text, w);
}

static int bad_filter(struct error *err, const char *filter)
{
    return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid clause(s) in filter string: '%.500s'", filter);
}

/* "`k`" or "'k'" or "\"k\"" → k */
static const char *unquote_key(struct arena *a, const char *k)
{
    size_t n = strlen(k);
    if (n >= 2 && (k[0] == '`' || k[0] == '"' || k[0] == '\'') && k[n - 1] == k[0])
        return arena_strndup(a, k + 1, n - 2);
    return k;
}

static const char *const model_attrs[] = { "name", NULL };
static const char *const version_attrs[] = { "name", "version_number", "run_id", "source_path", NULL };

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (!strcmp(*list, s))
            return true;
    return false;
}

/* Python's int(): optional sign, digits with single underscores between them */
static bool python_int(const char *s, int64_t *out)
{
    char buf[32];
    size_t n = 0;
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '+' || *s == '-')
        buf[n++] = *s++;
    if (!isdigit((unsigned char)*s))
        return false;
    for (; *s && !isspace((unsigned char)*s); s++) {
        if (*s == '_' && isdigit((unsigned char)s[1]) && n && isdigit((unsigned char)buf[n - 1]))
            continue;
        if (!isdigit((unsigned char)*s) || n >= sizeof buf - 1)
            return false;
        buf[n++] = *s;
    }
    while (isspace((unsigned char)*s))
        s++;
    buf[n] = '\0';
    return !*s && !parse_int64(buf, out);
}

static int check_clause(struct arena *a, enum registry_entity which, struct sf_clause *c, const struct tok *value,
                        struct error *err)
{
    const char *op = c->op == SF_EQ ? "=" : c->op == SF_NE ? "!=" : c->op == SF_LT ? "<" : c->op == SF_LE ? "<="
                   : c->op == SF_GT ? ">" : c->op == SF_GE ? ">=" : c->op == SF_LIKE ? "LIKE"
                   : c->op == SF_ILIKE ? "ILIKE" : c->op == SF_IN ? "IN" : "NOT IN";
    if (c->entity == SF_TAG) {
        if (c->kind != SF_VAL_STRING)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                             "Expected a quoted string value for tag (e.g. 'my-value'). Got value %.200s",
                             value->text ? value->text : "(list)");
        if (c->op != SF_EQ && c->op != SF_NE && c->op != SF_LIKE && c->op != SF_ILIKE)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid comparator for tag: %s", op);
        return 0;
    }
    bool numeric = !strcmp(c->key, "version_number");
    if (c->kind == SF_VAL_LIST && strcmp(c->key, "name") && (which == REG_MODELS || strcmp(c->key, "run_id")))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Only %s attributes support comparison with a list of "
                         "quoted string values.", which == REG_MODELS ? "['name']" : "['name', 'run_id']");
    if (c->kind == SF_VAL_NUMBER) {
        if (which == REG_MODELS)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Expected a quoted string value or a list of quoted "
                             "string values for attributes. Got value %.200s", value->text);
        if (!numeric)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Only the '{'version_number', 'creation_timestamp', "
                             "'last_updated_timestamp'}' attributes support comparison with numeric values.");
    }
    if (numeric) {
        if (c->op > SF_GE)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid comparator for attribute version_number: %s",
                             op);
        int64_t v;
        const char *text = c->kind == SF_VAL_NUMBER ? c->num_text : c->str;
        if (value->is_float || c->kind == SF_VAL_LIST || !text || !python_int(text, &v))
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid value for numeric attribute "
                             "'version_number': %.200s", text ? text : "(list)");
        c->kind = SF_VAL_STRING;
        c->str = arena_printf(a, "%lld", (long long)v);
        return 0;
    }
    if (c->op != SF_EQ && c->op != SF_NE && c->op != SF_LIKE && c->op != SF_ILIKE && c->op != SF_IN &&
        c->op != SF_NOT_IN)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid comparator for attribute: %s", op);
    if ((c->kind == SF_VAL_LIST) != (c->op == SF_IN || c->op == SF_NOT_IN))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid comparator for attribute: %s", op);
    return 0;
}

static int parse_ident(struct arena *a, enum registry_entity which, const char *raw, struct sf_clause *c,
                       struct error *err)
{
    const char *dot = strchr(raw, '.');
    const char *key = raw;
    c->entity = SF_ATTR;
    if (dot && raw[0] != '`' && raw[0] != '"') {
        size_t plen = (size_t)(dot - raw);
        char *prefix = arena_strndup(a, raw, plen);
        key = dot + 1;
        if (!strcmp(prefix, "tag") || !strcmp(prefix, "tags"))
            c->entity = SF_TAG;
        else if (strcmp(prefix, "attribute"))
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid entity type '%.100s'. Valid entity types "
                             "are ('attribute', 'tag', 'tags')", prefix);
    }
    const char *const *attrs = which == REG_MODELS ? model_attrs : version_attrs;
    if (c->entity == SF_ATTR && !in_list(attrs, key))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid attribute key '%.200s' specified. Valid keys "
                         "are '%s'", key, which == REG_MODELS ? "{'name'}"
                         : "{'name', 'version_number', 'run_id', 'source_path'}");
    c->key = unquote_key(a, key);
    return 0;
}

static int parse_value(struct lexer *lx, struct tok *t, struct sf_clause *c, const char *filter, struct error *err)
{
    if (t->kind == TK_STRING) {
        c->kind = SF_VAL_STRING;
        c->str = t->text;
        return 0;
    }
    if (t->kind == TK_NUMBER) {
        c->kind = SF_VAL_NUMBER;
        c->num_text = t->text;
        parse_double(t->text, &c->num);
        return 0;
    }
    if (t->kind == TK_IDENT)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Parameter value is either not quoted or unidentified "
                         "quote types used for string value %.200s. Use either single or double quotes.", t->text);
    if (t->kind != TK_LPAREN)
        return bad_filter(err, filter);
    size_t cap = 4;
    c->list = arena_alloc(lx->a, cap * sizeof *c->list);
    c->list_len = 0;
    for (;;) {
        struct tok v = next_tok(lx);
        if (v.kind != TK_STRING)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "While parsing a list in the query, expected string "
                             "value, punctuation, or whitespace, but got different type in list: %.200s", filter);
        if (c->list_len == cap) {
            c->list = arena_grow(lx->a, c->list, cap * sizeof *c->list, 2 * cap * sizeof *c->list);
            cap *= 2;
        }
        c->list[c->list_len++] = v.text;
        struct tok sep = next_tok(lx);
        if (sep.kind == TK_RPAREN)
            break;
        if (sep.kind != TK_COMMA)
            return bad_filter(err, filter);
    }
    c->kind = SF_VAL_LIST;
    t->text = NULL;
    return 0;
}

static int parse_op(struct lexer *lx, struct tok *t, enum sf_op *op, const char *filter, struct error *err)
{
    static const struct { const char *text; enum sf_op op; } ops[] = {
        { "=", SF_EQ }, { "!=", SF_NE }, { "<", SF_LT }, { "<=", SF_LE }, { ">", SF_GT }, { ">=", SF_GE },
    };
    if (t->kind == TK_OP) {
        for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
            if (!strcmp(t->text, ops[i].text)) {
                *op = ops[i].op;
                return 0;
            }
    }
    if (is_word(t, "LIKE")) { *op = SF_LIKE; return 0; }
    if (is_word(t, "ILIKE")) { *op = SF_ILIKE; return 0; }
    if (is_word(t, "IN")) { *op = SF_IN; return 0; }
    if (is_word(t, "NOT")) {
        struct tok in = next_tok(lx);
        if (is_word(&in, "IN")) { *op = SF_NOT_IN; return 0; }
    }
    return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid comparison clause in filter string: '%.500s'", filter);
}

int registry_parse_filter(struct arena *a, enum registry_entity which, const char *filter, struct sf_filter *out,
                          struct error *err)
{
    out->clauses = NULL;
    out->n = 0;
    if (!filter || !*filter)
        return 0;
    struct lexer lx = { a, filter };
    size_t cap = 4;
    out->clauses = arena_alloc(a, cap * sizeof *out->clauses);
    for (;;) {
        struct tok id = next_tok(&lx);
        if (id.kind == TK_END)
            return 0;   /* only whitespace, or a trailing AND (MLflow's sqlparse drops it) */
        if (id.kind != TK_IDENT || is_word(&id, "AND"))
            return bad_filter(err, filter);
        if (out->n == cap) {
            out->clauses = arena_grow(a, out->clauses, cap * sizeof *out->clauses, 2 * cap * sizeof *out->clauses);
            cap *= 2;
        }
        struct sf_clause *c = &out->clauses[out->n];
        memset(c, 0, sizeof *c);
        struct tok op = next_tok(&lx), value;
        /* no comparison: MLflow names the tokens sqlparse left over, unquoted
         * (a lone identifier; "name foo" is one identifier with an alias) */
        if (op.kind == TK_END || is_word(&op, "AND"))
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid clause(s) in filter string: %.500s", id.text);
        if (op.kind == TK_IDENT && !is_word(&op, "LIKE") && !is_word(&op, "ILIKE") && !is_word(&op, "IN") &&
            !is_word(&op, "NOT"))
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid clause(s) in filter string: %.200s %.200s",
                             id.text, op.text);
        if (parse_op(&lx, &op, &c->op, filter, err) || parse_ident(a, which, id.text, c, err))
            return -1;
        value = next_tok(&lx);
        if (parse_value(&lx, &value, c, filter, err) || check_clause(a, which, c, &value, err))
            return -1;
        out->n++;
        struct tok sep = next_tok(&lx);
        if (sep.kind == TK_END)
            return 0;
        if (sep.kind == TK_IDENT && !is_word(&sep, "AND"))   /* OR, …: the stray keyword, as MLflow */
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid clause(s) in filter string: %.200s",
                             sep.text);
        if (!is_word(&sep, "AND"))
            return bad_filter(err, filter);
    }
}

int registry_parse_order_by(struct arena *a, enum registry_entity which, const char *const *order_by, size_t n,
                            struct sf_order_list *out, struct error *err)
{
    out->items = arena_alloc(a, (n ? n : 1) * sizeof *out->items);
    out->n = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = order_by[i];
        char *words[3] = { 0 };
        int nw = 0;
        for (const char *p = s; *p && nw < 3;) {
            while (isspace((unsigned char)*p))
                p++;
            if (!*p)
                break;
            const char *start = p;
            if (*p == '`' || *p == '"' || *p == '\'') {
                const char *e = strchr(p + 1, *p);
                if (!e)
                    return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                                     "Invalid order_by clause '%.200s'. Could not be parsed.", s);
                words[nw++] = arena_strndup(a, start + 1, (size_t)(e - start - 1));
                p = e + 1;
                continue;
            }
            while (*p && !isspace((unsigned char)*p))
                p++;
            words[nw++] = arena_strndup(a, start, (size_t)(p - start));
        }
        if (nw == 0 || nw > 2)
            return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid order_by clause '%.200s'. Could not be parsed.",
                             s);
        bool asc = true;
        if (nw == 2) {
            if (strcasecmp(words[1], "asc") && strcasecmp(words[1], "desc"))
                return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                                 "Invalid ordering key in order_by clause '%.200s'.", s);
            asc = !strcasecmp(words[1], "asc");
        }
        const char *key = words[0];
        if (which == REG_MODELS) {
            if (!strcmp(key, "timestamp"))
                key = "last_updated_timestamp";
            else if (strcmp(key, "name") && strcmp(key, "last_updated_timestamp"))
                return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid order by key '%.200s' specified. Valid "
                                 "keys are '{'name', 'timestamp'}'", words[0]);
        } else {
            if (!strncmp(key, "attribute.", 10))
                key = unquote_key(a, key + 10);
            if (strcmp(key, "name") && strcmp(key, "version_number") && strcmp(key, "creation_timestamp") &&
                strcmp(key, "last_updated_timestamp"))
                return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid order by key '%.200s' specified. Valid "
                                 "keys are {'name', 'version_number', 'creation_timestamp', "
                                 "'last_updated_timestamp'}", key);
        }
        for (size_t j = 0; j < out->n; j++)
            if (!strcmp(out->items[j].key, key))   /* MLflow answers 500 here; a 400 is the honest code */
                return error_set(err, ERR_INVALID_PARAMETER_VALUE, "`order_by` contains duplicate fields: %.200s", s);
        out->items[out->n].entity = SF_ATTR;
        out->items[out->n].key = key;
        out->items[out->n].ascending = asc;
        out->n++;
    }
    return 0;
}
