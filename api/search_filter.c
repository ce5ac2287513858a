/* Lexer and parser for MLflow search filters and order_by clauses.
 *
 * MLflow tokenizes with sqlparse and then validates the token stream; we
 * accept the same language with a small hand-written lexer. Quirks kept on
 * purpose (each checked against mlflow 3.17 SearchUtils):
 *   - clauses are joined by AND, but MLflow also accepts leading, trailing,
 *     repeated or even missing ANDs (`a > 1 b > 2`), so we do too;
 *   - string values keep their quoting as written: 'it''s' stays it''s;
 *   - an identifier is split at its FIRST '.', before quotes are stripped;
 *   - a double-quoted token is an identifier to sqlparse, and MLflow accepts
 *     it as a string value.
 * Departures: MLflow answers 500 for a duplicate order_by field and lets
 * `run_id = ('a')` reach the database; we answer INVALID_PARAMETER_VALUE. */
#include "search_filter.h"
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BAD ERR_INVALID_PARAMETER_VALUE

/* ---- lexer ------------------------------------------------------------ */

enum tok_kind {
    T_END,
    T_IDENT,    /* bare / `quoted` / "quoted" parts joined by '.' */
    T_STRING,   /* '…' */
    T_NUMBER,
    T_OP,       /* a run of < > = ! ~ */
    T_PAREN,    /* ( … ), the whole balanced group */
    T_OTHER,    /* anything else: one bad token */
};

enum num_kind { NUM_INT, NUM_FLOAT };

struct tok {
    enum tok_kind kind;
    const char *s;
    size_t len;
    enum num_kind num;
    bool bare;          /* T_IDENT of a single unquoted part */
};

struct lexer {
    const char *p, *end;
};

static bool is_word(unsigned char c)
{
    return isalnum(c) || c == '_' || c >= 0x80;
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Scans a quoted run starting at p (p[0] is the quote) the way sqlparse's
 * '(''|\\'|[^'])*' does, backtracking to "backslash is not special" when the
 * escaped form never closes. Returns the end (past the closing quote) or
 * NULL when unterminated. */
static const char *scan_quoted(const char *p, const char *end, char q, bool backslash)
{
    for (int pass = 0; pass < 2; pass++) {
        const char *s = p + 1;
        bool esc = backslash && pass == 0;
        while (s < end) {
            if (s[0] == q && s + 1 < end && s[1] == q)
                s += 2;
            else if (esc && s[0] == '\\' && s + 1 < end && s[1] == q)
                s += 2;
            else if (s[0] == q)
                return s + 1;
            else
                s++;
        }
        if (!backslash)
            break;
    }
    return NULL;
}

/* One identifier part: bare word, `backticked` or "double quoted". */
static const char *scan_ident_part(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '`')
        return scan_quoted(p, end, '`', false);
    if (*p == '"')
        return scan_quoted(p, end, '"', true);
    if (!is_word((unsigned char)*p))
        return NULL;
    while (p < end && is_word((unsigned char)*p))
        p++;
    return p;
}

/* sqlparse's number rules: -?d+(.d+)?E-?d+ | -?(d+.d* | .d+) | -?d+, none of
 * them followed by a letter or '_'. Returns the end, or NULL. */
static const char *scan_number(const char *p, const char *end, enum num_kind *kind)
{
    const char *s = p;
    if (s < end && *s == '-')
        s++;
    const char *digits = s;
    while (s < end && isdigit((unsigned char)*s))
        s++;
    bool int_part = s > digits;
    *kind = NUM_INT;
    if (int_part) {
        /* exponent form first */
        const char *e = s;
        if (e + 1 < end && e[0] == '.' && isdigit((unsigned char)e[1])) {
            e++;
            while (e < end && isdigit((unsigned char)*e))
                e++;
        }
        if (e < end && (*e == 'e' || *e == 'E')) {
            const char *x = e + 1;
            if (x < end && *x == '-')
                x++;
            const char *xd = x;
            while (x < end && isdigit((unsigned char)*x))
                x++;
            if (x > xd) {
                *kind = NUM_FLOAT;
                s = x;
                goto tail;
            }
        }
        if (s < end && *s == '.') {
            s++;
            while (s < end && isdigit((unsigned char)*s))
                s++;
            *kind = NUM_FLOAT;
        }
    } else {
        if (!(s + 1 < end && s[0] == '.' && isdigit((unsigned char)s[1])))
            return NULL;
        s++;
        while (s < end && isdigit((unsigned char)*s))
            s++;
        *kind = NUM_FLOAT;
    }
tail:
    if (s < end && (isalpha((unsigned char)*s) || *s == '_' || (unsigned char)*s >= 0x80))
        return NULL;
    return s;
}

static const char *scan_paren(const char *p, const char *end)
{
    int depth = 0;
    while (p < end) {
        if (*p == '\'' || *p == '"' || *p == '`') {
            const char *q = scan_quoted(p, end, *p, *p != '`');
            if (!q)
                return NULL;
            p = q;
            continue;
        }
        if (*p == '(')
            depth++;
        else if (*p == ')' && --depth == 0)
            return p + 1;
        p++;
    }
    return NULL;
}

/* Extent of a bad token, for the error message: up to the next space. */
static const char *scan_junk(const char *p, const char *end)
{
    const char *s = p + 1;
    while (s < end && !is_space((unsigned char)*s) && is_word((unsigned char)*s))
        s++;
    return s;
}

static void lex_next(struct lexer *lx, struct tok *t)
{
    while (lx->p < lx->end && is_space((unsigned char)*lx->p))
        lx->p++;
    const char *p = lx->p, *end = lx->end, *q = NULL;
    memset(t, 0, sizeof *t);
    t->s = p;
    if (p >= end) {
        t->kind = T_END;
        return;
    }
    unsigned char c = (unsigned char)*p;
    if (c == '\'') {
        q = scan_quoted(p, end, '\'', true);
        t->kind = T_STRING;
    } else if (isdigit(c) || ((c == '-' || c == '.') && p + 1 < end)) {
        q = scan_number(p, end, &t->num);
        t->kind = T_NUMBER;
    } else if (c == '<' || c == '>' || c == '=' || c == '!' || c == '~') {
        q = p;
        while (q < end && strchr("<>=!~", *q) && *q)
            q++;
        t->kind = T_OP;
    } else if (c == '(') {
        q = scan_paren(p, end);
        t->kind = T_PAREN;
    } else if (c == '`' || c == '"' || is_word(c)) {
        q = scan_ident_part(p, end);
        bool single = true;
        while (q && q < end && *q == '.') {
            const char *n = scan_ident_part(q + 1, end);
            const char *d = q + 1;
            while (n && d < n && isdigit((unsigned char)*d))
                d++;
            if (n && d == n)
                break;  /* sqlparse reads ".5" as a number, not a key */
            if (!n) {
                q++;    /* "metrics." is the metric with the empty key, as in MLflow */
                single = false;
                break;
            }
            q = n;
            single = false;
        }
        t->kind = T_IDENT;
        t->bare = q && single && c != '`' && c != '"';
    }
    if (!q) {
        t->kind = T_OTHER;
        q = (c == '\'' || c == '"' || c == '`' || c == '(') ? end : scan_junk(p, end);
    }
    t->len = (size_t)(q - p);
    lx->p = q;
}

static bool tok_is_kw(const struct tok *t, const char *kw)
{
    return t->kind == T_IDENT && t->bare && strlen(kw) == t->len &&
           strncasecmp(t->s, kw, t->len) == 0;
}

/* ---- identifiers ------------------------------------------------------ */

static bool quoted_with(const char *s, size_t n, char q)
{
    return n >= 2 && s[0] == q && s[n - 1] == q;
}

/* MLflow's _strip_quotes then _trim_backticks on a key. */
static char *strip_key(struct arena *a, const char *s, size_t n)
{
    if (quoted_with(s, n, '\'') || quoted_with(s, n, '"')) {
        s++;
        n -= 2;
    }
    if (quoted_with(s, n, '`')) {
        s++;
        n -= 2;
    }
    return arena_strndup(a, s, n);
}

struct alias {
    const char *name;
    int value;
};

static int lookup(const struct alias *t, const char *s, size_t n)
{
    for (; t->name; t++)
        if (strlen(t->name) == n && memcmp(t->name, s, n) == 0)
            return t->value;
    return -1;
}

static const struct alias run_entities[] = {
    {"metric", SF_METRIC}, {"metrics", SF_METRIC},
    {"parameter", SF_PARAM}, {"parameters", SF_PARAM}, {"param", SF_PARAM}, {"params", SF_PARAM},
    {"tag", SF_TAG}, {"tags", SF_TAG},
    {"attribute", SF_ATTR}, {"attributes", SF_ATTR}, {"attr", SF_ATTR}, {"run", SF_ATTR},
    {"dataset", SF_DATASET}, {"datasets", SF_DATASET},
    {NULL, 0},
};

/* Canonical run attribute names; the aliases map onto them. */
static const char *const run_attr_canon[] = {
    "run_id", "run_name", "status", "user_id", "artifact_uri", "start_time", "end_time",
};
enum { RA_RUN_ID, RA_RUN_NAME, RA_STATUS, RA_USER_ID, RA_ARTIFACT_URI, RA_START, RA_END };

static const struct alias run_attrs[] = {
    {"run_id", RA_RUN_ID}, {"run_name", RA_RUN_NAME}, {"run name", RA_RUN_NAME},
    {"Run name", RA_RUN_NAME}, {"Run Name", RA_RUN_NAME}, {"status", RA_STATUS},
    {"user_id", RA_USER_ID}, {"artifact_uri", RA_ARTIFACT_URI}, {"start_time", RA_START},
    {"created", RA_START}, {"Created", RA_START}, {"end_time", RA_END},
    {NULL, 0},
};
/* order_by does not take the "run name" spellings (MLflow's orderable set) */
static const struct alias run_order_attrs[] = {
    {"run_id", RA_RUN_ID}, {"run_name", RA_RUN_NAME}, {"status", RA_STATUS},
    {"user_id", RA_USER_ID}, {"artifact_uri", RA_ARTIFACT_URI}, {"start_time", RA_START},
    {"created", RA_START}, {"Created", RA_START}, {"end_time", RA_END},
    {NULL, 0},
};
#define RUN_SEARCH_KEYS "{'Created', 'Run Name', 'Run name', 'artifact_uri', 'created', " \
    "'end_time', 'run name', 'run_id', 'run_name', 'start_time', 'status', 'user_id'}"
#define RUN_ORDER_KEYS "{'Created', 'artifact_uri', 'created', 'end_time', 'run_id', " \
    "'run_name', 'start_time', 'status', 'user_id'}"

static const char *const exp_attr_canon[] = {
    "name", "experiment_id", "creation_time", "last_update_time",
};
enum { EA_NAME, EA_EXPERIMENT_ID, EA_CREATION, EA_LAST_UPDATE };
static const struct alias exp_attrs[] = {
    {"name", EA_NAME}, {"experiment_id", EA_EXPERIMENT_ID},
    {"creation_time", EA_CREATION}, {"last_update_time", EA_LAST_UPDATE},
    {NULL, 0},
};
#define EXP_KEYS "{'creation_time', 'experiment_id', 'last_update_time', 'name'}"

static const struct alias dataset_keys[] = {
    {"name", 0}, {"digest", 1}, {"context", 2}, {NULL, 0},
};
static const char *const dataset_canon[] = {"name", "digest", "context"};

struct ident {
    enum sf_entity entity;
    const char *key;
    int attr;           /* index into the canonical attribute table, or -1 */
};

/* Run identifiers: "<prefix>.<key>" or "<attribute>" (SearchUtils._get_identifier). */
/* The "<entity>." prefix of a run-style identifier (SearchUtils._valid_entity_type):
 * sets id->entity and moves *s past it. */
static int split_entity(const char **s, size_t *n, struct ident *id, struct error *err)
{
    const char *dot = memchr(*s, '.', *n);
    id->entity = SF_ATTR;
    id->attr = -1;
    if (!dot)
        return 0;
    const char *e = *s;
    size_t en = (size_t)(dot - *s);
    if (quoted_with(e, en, '`')) {
        e++;
        en -= 2;
    }
    int ent = lookup(run_entities, e, en);
    if (ent < 0)
        return error_set(err, BAD, "Invalid entity type '%.*s'. Valid values are "
                         "['metric', 'parameter', 'tag', 'attribute', 'dataset']", (int)en, e);
    id->entity = (enum sf_entity)ent;
    *n -= (size_t)(dot + 1 - *s);
    *s = dot + 1;
    return 0;
}

static int run_ident(struct arena *a, const char *s, size_t n, const struct alias *attrs,
                     const char *attr_keys, struct ident *id, struct error *err)
{
    if (split_entity(&s, &n, id, err))
        return -1;
    char *key = strip_key(a, s, n);
    if (id->entity == SF_ATTR) {
        id->attr = lookup(attrs, key, strlen(key));
        if (id->attr < 0)
            return error_set(err, BAD, "Invalid attribute key '%s' specified. Valid keys are '%s'",
                             key, attr_keys);
        key = (char *)run_attr_canon[id->attr];
    } else if (id->entity == SF_DATASET) {
        int k = lookup(dataset_keys, key, strlen(key));
        if (k < 0)
            return error_set(err, BAD, "Invalid dataset key '%s' specified. Valid keys are "
                             "'{'context', 'digest', 'name'}'", key);
        key = (char *)dataset_canon[k];
    }
    id->key = key;
    return 0;
}

/* Experiment identifiers: only "attribute", "tag", "tags" prefixes, no
 * backtick trimming of the prefix (SearchExperimentsUtils._get_identifier). */
static int exp_ident(struct arena *a, const char *s, size_t n, struct ident *id,
                     struct error *err)
{
    const char *dot = memchr(s, '.', n);
    id->entity = SF_ATTR;
    id->attr = -1;
    if (dot) {
        size_t en = (size_t)(dot - s);
        if (en == 9 && memcmp(s, "attribute", 9) == 0)
            id->entity = SF_ATTR;
        else if ((en == 3 && memcmp(s, "tag", 3) == 0) || (en == 4 && memcmp(s, "tags", 4) == 0))
            id->entity = SF_TAG;
        else
            return error_set(err, BAD, "Invalid entity type '%.*s'. Valid entity types are "
                             "('attribute', 'tag', 'tags')", (int)en, s);
        n -= (size_t)(dot + 1 - s);
        s = dot + 1;
    }
    char *key = strip_key(a, s, n);
    if (id->entity == SF_ATTR) {
        id->attr = lookup(exp_attrs, key, strlen(key));
        if (id->attr < 0)
            return error_set(err, BAD, "Invalid attribute key '%s' specified. Valid keys are '%s'",
                             key, EXP_KEYS);
        key = (char *)exp_attr_canon[id->attr];
    }
    id->key = key;
    return 0;
}

/* ---- values ----------------------------------------------------------- */

enum val_kind { V_STRING, V_NUMBER, V_LIST, V_OTHER };

struct value {
    enum val_kind kind;
    const struct tok *tok;
};

static enum val_kind classify(const struct tok *t)
{
    switch (t->kind) {
    case T_STRING: return V_STRING;
    case T_NUMBER: return V_NUMBER;
    case T_PAREN: return V_LIST;
    /* sqlparse makes any identifier-like token an Identifier, which MLflow
     * takes as a string value if it happens to be quoted */
    case T_IDENT: return V_STRING;
    default: return V_OTHER;
    }
}

/* _strip_quotes(expect_quoted_value=True) */
static int string_value(struct arena *a, const struct tok *t, const char **out, struct error *err)
{
    if (quoted_with(t->s, t->len, '\'') || quoted_with(t->s, t->len, '"')) {
        *out = arena_strndup(a, t->s + 1, t->len - 2);
        return 0;
    }
    return error_set(err, BAD, "Parameter value is either not quoted or unidentified quote "
                     "types used for string value %.*s. Use either single or double quotes.",
                     (int)t->len, t->s);
}

/* One Python string literal (MLflow reads IN lists with ast.literal_eval). */
static const char *py_string(struct strbuf *sb, const char *p, const char *end)
{
    char q = *p++;
    while (p < end && *p != q) {
        if (*p == '\\' && p + 1 < end) {
            char c = p[1];
            switch (c) {
            case '\\': case '\'': case '"': sb_putc(sb, c); break;
            case 'n': sb_putc(sb, '\n'); break;
            case 't': sb_putc(sb, '\t'); break;
            case 'r': sb_putc(sb, '\r'); break;
            case '\n': break;
            default: sb_putc(sb, '\\'); sb_putc(sb, c); break;
            }
            p += 2;
            continue;
        }
        if (*p == '\n')
            return NULL;
        sb_putc(sb, *p++);
    }
    return p < end ? p + 1 : NULL;
}

#define ILL_FORMED "While parsing a list in the query, expected a non-empty list of string " \
    "values, but got ill-formed list."

/* "( 'a' , "b" 'c' , )": a tuple (or one parenthesised string) of strings;
 * adjacent literals concatenate as in Python. */
static int list_value(struct arena *a, const struct tok *t, const char ***out, size_t *n,
                      struct error *err)
{
    const char *p = t->s + 1, *end = t->s + t->len - 1;
    size_t cap = 4, len = 0;
    const char **items = arena_alloc(a, cap * sizeof *items);
    for (;;) {
        while (p < end && is_space((unsigned char)*p))
            p++;
        if (p >= end)
            break;
        if (*p != '\'' && *p != '"') {
            if (len == 0 && (isdigit((unsigned char)*p) || *p == '-' || *p == '.'))
                return error_set(err, BAD, "While parsing a list in the query, expected string "
                                 "value, punctuation, or whitespace, but got different type in "
                                 "list: %.*s", (int)t->len, t->s);
            return error_set(err, BAD, ILL_FORMED);
        }
        struct strbuf sb;
        sb_init(&sb, a, 32);
        while (p < end && (*p == '\'' || *p == '"')) {
            p = py_string(&sb, p, end);
            if (!p)
                return error_set(err, BAD, ILL_FORMED);
            while (p < end && is_space((unsigned char)*p))
                p++;
        }
        if (len == cap) {
            items = arena_grow(a, items, cap * sizeof *items, cap * 2 * sizeof *items);
            cap *= 2;
        }
        items[len++] = sb.buf;
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end)
            return error_set(err, BAD, ILL_FORMED);
    }
    if (len == 0)
        return error_set(err, BAD, "While parsing a list in the query, expected a non-empty "
                         "list of string values, but got empty list");
    *out = items;
    *n = len;
    return 0;
}

static void number_value(struct arena *a, const struct tok *t, struct sf_clause *c)
{
    c->kind = SF_VAL_NUMBER;
    c->num_text = arena_strndup(a, t->s, t->len);
    errno = 0;
    c->num = strtod(c->num_text, NULL);
}

/* ---- comparators ------------------------------------------------------ */

static const struct alias ops[] = {
    {"=", SF_EQ}, {"!=", SF_NE}, {"<", SF_LT}, {"<=", SF_LE}, {">", SF_GT}, {">=", SF_GE},
    {"LIKE", SF_LIKE}, {"ILIKE", SF_ILIKE}, {"IN", SF_IN}, {"NOT IN", SF_NOT_IN},
    {"IS NULL", SF_IS_NULL}, {"IS NOT NULL", SF_IS_NOT_NULL}, {"RLIKE", SF_RLIKE},
    {NULL, 0},
};

#define OPS_NUMERIC    ((1u << SF_EQ) | (1u << SF_NE) | (1u << SF_LT) | (1u << SF_LE) | \
                        (1u << SF_GT) | (1u << SF_GE))
#define OPS_STRING     ((1u << SF_EQ) | (1u << SF_NE) | (1u << SF_LIKE) | (1u << SF_ILIKE))
#define OPS_STRING_IN  (OPS_STRING | (1u << SF_IN) | (1u << SF_NOT_IN))
#define OPS_NULLABLE   (OPS_STRING | (1u << SF_IS_NULL) | (1u << SF_IS_NOT_NULL))

#define SET_NUMERIC   "{'!=', '<', '<=', '=', '>', '>='}"
#define SET_STRING_IN "{'!=', '=', 'ILIKE', 'IN', 'LIKE', 'NOT IN'}"
#define SET_NULLABLE  "{'!=', '=', 'ILIKE', 'IS NOT NULL', 'IS NULL', 'LIKE'}"

/* The comparison as written: ident, operator text, value token. */
struct comparison {
    struct tok ident;
    char op_text[32];
    char op_raw[32];        /* the comparator as written (op_text is upper-cased) */
    int op;                 /* enum sf_op, or -1 for one MLflow has no use for */
    bool op_lower;          /* written in lowercase: only the runs filter upcases */
    struct tok value;       /* T_END for IS [NOT] NULL */
};

static int check_op(const struct comparison *cmp, unsigned allowed, const char *set,
                    struct error *err)
{
    if (cmp->op < 0 || !(allowed & (1u << cmp->op)))
        return error_set(err, BAD, "Invalid comparator '%s' not one of '%s'", cmp->op_text, set);
    return 0;
}

/* Reads "ident op value" | "ident [NOT] IN (…)" | "ident IS [NOT] NULL". */
static int read_comparison(struct lexer *lx, const struct tok *ident, struct comparison *cmp,
                           struct error *err)
{
    struct tok t;
    memset(cmp, 0, sizeof *cmp);
    cmp->ident = *ident;
    lex_next(lx, &t);
    if (t.kind == T_OP || tok_is_kw(&t, "LIKE") || tok_is_kw(&t, "ILIKE") || tok_is_kw(&t, "RLIKE")) {
        snprintf(cmp->op_text, sizeof cmp->op_text, "%.*s", (int)(t.len < 16 ? t.len : 16), t.s);
    } else if (tok_is_kw(&t, "IN")) {
        snprintf(cmp->op_text, sizeof cmp->op_text, "%.2s", t.s);
    } else if (tok_is_kw(&t, "NOT")) {
        lex_next(lx, &t);
        if (tok_is_kw(&t, "IN"))
            snprintf(cmp->op_text, sizeof cmp->op_text, "NOT IN");
        else if (tok_is_kw(&t, "LIKE") || tok_is_kw(&t, "ILIKE") || tok_is_kw(&t, "RLIKE"))
            snprintf(cmp->op_text, sizeof cmp->op_text, "NOT %.*s", (int)t.len, t.s);
        else
            return error_set(err, BAD, "Invalid clause(s) in filter string: '%.*s', 'NOT'",
                             (int)ident->len, ident->s);
    } else if (tok_is_kw(&t, "IS")) {
        lex_next(lx, &t);
        bool not = tok_is_kw(&t, "NOT");
        if (not)
            lex_next(lx, &t);
        if (!tok_is_kw(&t, "NULL"))
            return error_set(err, BAD, "Invalid clause(s) in filter string: '%.*s', 'IS'",
                             (int)ident->len, ident->s);
        snprintf(cmp->op_text, sizeof cmp->op_text, not ? "IS NOT NULL" : "IS NULL");
    } else if (t.kind == T_IDENT && !tok_is_kw(&t, "AND") && !tok_is_kw(&t, "OR")) {
        /* "name foo": sqlparse reads one identifier with an alias */
        return error_set(err, BAD, "Invalid clause(s) in filter string: '%.*s'",
                         (int)(t.s + t.len - ident->s), ident->s);
    } else {
        return error_set(err, BAD, "Invalid clause(s) in filter string: '%.*s'",
                         (int)ident->len, ident->s);
    }
    memcpy(cmp->op_raw, cmp->op_text, sizeof cmp->op_raw);
    for (char *c = cmp->op_text; *c; c++) {
        /* sqlparse's joined "NOT IN" / "IS NULL" tokens are always upper case */
        if (islower((unsigned char)*c) && strncmp(cmp->op_text, "NOT IN", 6) != 0 &&
            strncmp(cmp->op_text, "IS ", 3) != 0)
            cmp->op_lower = true;
        *c = (char)toupper((unsigned char)*c);
    }
    cmp->op = lookup(ops, cmp->op_text, strlen(cmp->op_text));
    if (cmp->op == SF_IS_NULL || cmp->op == SF_IS_NOT_NULL) {
        cmp->value.kind = T_END;
        return 0;
    }
    lex_next(lx, &cmp->value);
    if (cmp->value.kind == T_END || cmp->value.kind == T_OTHER)
        return error_set(err, BAD, "Invalid clause(s) in filter string: '%.*s', '%s'%s%.*s%s",
                         (int)ident->len, ident->s, cmp->op_text,
                         cmp->value.len ? ", '" : "", (int)cmp->value.len, cmp->value.s,
                         cmp->value.len ? "'" : "");
    if ((cmp->op == SF_IN || cmp->op == SF_NOT_IN) && cmp->value.kind != T_PAREN)
        return error_set(err, BAD, "Invalid clause(s) in filter string: '%.*s', '%s', '%.*s'",
                         (int)ident->len, ident->s, cmp->op_text,
                         (int)cmp->value.len, cmp->value.s);
    return 0;
}

/* A run id is lowercase hex; MLflow (mysql workaround) drops list values
 * with uppercase letters, which on a case-sensitive compare changes nothing
 * but keeps the lists short. */
static void drop_uppercase(struct sf_clause *c)
{
    size_t j = 0;
    for (size_t i = 0; i < c->list_len; i++) {
        bool upper = false;
        for (const char *s = c->list[i]; *s && !upper; s++)
            upper = isupper((unsigned char)*s);
        if (!upper)
            c->list[j++] = c->list[i];
    }
    c->list_len = j;
}

static int list_or_error(struct arena *a, const struct comparison *cmp, struct sf_clause *c,
                         struct error *err)
{
    c->kind = SF_VAL_LIST;
    if (list_value(a, &cmp->value, &c->list, &c->list_len, err))
        return -1;
    if (cmp->op != SF_IN && cmp->op != SF_NOT_IN)
        return error_set(err, BAD, "Invalid comparator '%s': a list of values needs IN or "
                         "NOT IN", cmp->op_text);
    return 0;
}

static const char *entity_name(enum sf_entity e)
{
    static const char *const names[] = {"attribute", "metric", "parameter", "tag", "dataset"};
    return (size_t)e < sizeof names / sizeof *names ? names[e] : "unknown";
}

/* SearchUtils._get_comparison + _get_value + the comparator checks of
 * _get_sqlalchemy_filter_clauses, in MLflow's order. */
static int run_clause(struct arena *a, const struct comparison *cmp, struct sf_clause *c,
                      struct error *err)
{
    struct ident id;
    if (run_ident(a, cmp->ident.s, cmp->ident.len, run_attrs, RUN_SEARCH_KEYS, &id, err))
        return -1;
    c->entity = id.entity;
    c->key = id.key;
    c->op = cmp->op < 0 ? SF_EQ : (enum sf_op)cmp->op;
    const struct tok *v = &cmp->value;
    if (cmp->op == SF_IS_NULL || cmp->op == SF_IS_NOT_NULL) {
        if (id.entity != SF_TAG && id.entity != SF_PARAM)
            return error_set(err, BAD, "IS NULL / IS NOT NULL is only supported for tags and "
                             "params, not for '%s' '%s'", entity_name(id.entity), id.key);
        c->kind = SF_VAL_NONE;
        return 0;
    }
    enum val_kind vk = classify(v);
    switch (id.entity) {
    case SF_METRIC:
        if (vk != V_NUMBER)
            return error_set(err, BAD, "Expected numeric value type for metric. Found %.*s",
                             (int)v->len, v->s);
        number_value(a, v, c);
        return check_op(cmp, OPS_NUMERIC, SET_NUMERIC, err);
    case SF_PARAM:
    case SF_TAG:
        if (vk != V_STRING)
            return error_set(err, BAD, "Expected a quoted string value for %s (e.g. "
                             "'my-value'). Got value %.*s", entity_name(id.entity),
                             (int)v->len, v->s);
        c->kind = SF_VAL_STRING;
        if (string_value(a, v, &c->str, err))
            return -1;
        return check_op(cmp, OPS_NULLABLE, SET_NULLABLE, err);
    case SF_ATTR:
        if (id.attr == RA_START || id.attr == RA_END) {
            if (vk != V_NUMBER)
                return error_set(err, BAD, "Expected numeric value type for numeric attribute: "
                                 "%s. Found %.*s", id.key, (int)v->len, v->s);
            number_value(a, v, c);
            return check_op(cmp, OPS_NUMERIC, SET_STRING_IN, err);
        }
        if (vk == V_STRING) {
            c->kind = SF_VAL_STRING;
            if (string_value(a, v, &c->str, err))
                return -1;
        } else if (vk == V_LIST) {
            if (id.attr != RA_RUN_ID)
                return error_set(err, BAD, "Only ['run_id'] attributes support comparison with "
                                 "a list of quoted string values.");
            if (list_or_error(a, cmp, c, err))
                return -1;
            drop_uppercase(c);
        } else {
            return error_set(err, BAD, "Expected a quoted string value for attributes. "
                             "Got value %.*s", (int)v->len, v->s);
        }
        if (check_op(cmp, OPS_STRING_IN, SET_STRING_IN, err))
            return -1;
        if (c->kind == SF_VAL_STRING && (c->op == SF_IN || c->op == SF_NOT_IN))
            return error_set(err, BAD, "Invalid clause(s) in filter string: IN needs a list");
        return 0;
    case SF_DATASET:
        if (vk == V_STRING) {
            c->kind = SF_VAL_STRING;
            if (string_value(a, v, &c->str, err))
                return -1;
        } else if (vk == V_LIST) {
            if (list_or_error(a, cmp, c, err))
                return -1;
        } else {
            return error_set(err, BAD, "Expected a quoted string value for dataset attributes. "
                             "Got value %.*s", (int)v->len, v->s);
        }
        return check_op(cmp, OPS_STRING_IN, SET_STRING_IN, err);
    default:   /* trace-only entities (issue 14) */
        break;
    }
    return error_set(err, BAD, "Invalid search expression type '%s'", entity_name(id.entity));
}

/* int() of a Python string: optional spaces and sign, digits with single
 * underscores between them. Normalised to plain decimal int64 text. */
static const char *parse_experiment_id(struct arena *a, const char *s)
{
    const char *p = s;
    while (is_space((unsigned char)*p))
        p++;
    bool neg = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    if (!isdigit((unsigned char)*p))
        return NULL;
    uint64_t v = 0;
    for (; *p; p++) {
        if (*p == '_' && isdigit((unsigned char)p[1]) && p > s && isdigit((unsigned char)p[-1]))
            continue;
        if (!isdigit((unsigned char)*p))
            break;
        if (v > (UINT64_MAX - 9) / 10)
            return NULL;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    while (is_space((unsigned char)*p))
        p++;
    if (*p || v > (uint64_t)INT64_MAX + (neg ? 1 : 0))
        return NULL;
    if (neg)
        return v == (uint64_t)INT64_MAX + 1 ? arena_strdup(a, "-9223372036854775808")
                                            : arena_printf(a, "-%" PRIu64, v);
    return arena_printf(a, "%" PRIu64, v);
}

static int experiment_id_value(struct arena *a, const char **v, struct error *err)
{
    const char *n = parse_experiment_id(a, *v);
    if (!n)
        return error_set(err, BAD, "Invalid experiment ID '%s'. Experiment ID must be a valid "
                         "integer.", *v);
    *v = n;
    return 0;
}

/* SearchExperimentsUtils._get_comparison + _get_search_experiments_filter_clauses */
static int experiment_clause(struct arena *a, const struct comparison *cmp, struct sf_clause *c,
                             struct error *err)
{
    /* SearchExperiments compares the comparator as written: 'like' is refused */
    struct comparison exact = *cmp;
    if (exact.op_lower)
        exact.op = -1;
    cmp = &exact;
    struct ident id;
    if (exp_ident(a, cmp->ident.s, cmp->ident.len, &id, err))
        return -1;
    c->entity = id.entity;
    c->key = id.key;
    c->op = cmp->op < 0 ? SF_EQ : (enum sf_op)cmp->op;
    const struct tok *v = &cmp->value;
    if (cmp->op == SF_IS_NULL || cmp->op == SF_IS_NOT_NULL) {
        if (id.entity != SF_TAG)
            return error_set(err, BAD, "IS NULL / IS NOT NULL is only supported for tags, not "
                             "for attribute '%s'", id.key);
        c->kind = SF_VAL_NONE;
        return 0;
    }
    enum val_kind vk = classify(v);
    if (id.entity == SF_TAG) {
        if (vk != V_STRING)
            return error_set(err, BAD, "Expected a quoted string value for tag (e.g. "
                             "'my-value'). Got value %.*s", (int)v->len, v->s);
        c->kind = SF_VAL_STRING;
        if (string_value(a, v, &c->str, err))
            return -1;
        if (cmp->op < 0 || !(OPS_STRING & (1u << cmp->op)))
            return error_set(err, BAD, "Invalid comparator for tag: %s", cmp->op_text);
        return 0;
    }
    if (id.attr == EA_CREATION || id.attr == EA_LAST_UPDATE) {
        if (vk != V_NUMBER)
            return error_set(err, BAD, "Expected numeric value type for numeric attribute: %s. "
                             "Found %.*s", id.key, (int)v->len, v->s);
        number_value(a, v, c);
        if (check_op(cmp, OPS_NUMERIC, SET_STRING_IN, err))
            return -1;
        if (v->num != NUM_INT)
            return error_set(err, BAD, "Invalid value for numeric attribute '%s': '%s'",
                             id.key, c->num_text);
        return 0;
    }
    if (vk == V_STRING) {
        c->kind = SF_VAL_STRING;
        if (string_value(a, v, &c->str, err))
            return -1;
    } else if (vk == V_LIST) {
        if (id.attr != EA_EXPERIMENT_ID)
            return error_set(err, BAD, "Only ['experiment_id'] attributes support comparison "
                             "with a list of quoted string values.");
        c->kind = SF_VAL_LIST;
        if (list_value(a, v, &c->list, &c->list_len, err))
            return -1;
    } else {
        return error_set(err, BAD, "Expected a quoted string value for attributes. Got value "
                         "%.*s", (int)v->len, v->s);
    }
    if (id.attr == EA_EXPERIMENT_ID) {
        if (cmp->op != SF_EQ && cmp->op != SF_NE && cmp->op != SF_IN && cmp->op != SF_NOT_IN)
            return error_set(err, BAD, "Invalid comparator for experiment_id: %s", cmp->op_text);
        if ((c->kind == SF_VAL_LIST) != (cmp->op == SF_IN || cmp->op == SF_NOT_IN))
            return error_set(err, BAD, "Invalid comparator for experiment_id: %s", cmp->op_text);
        if (c->kind == SF_VAL_STRING)
            return experiment_id_value(a, &c->str, err);
        for (size_t i = 0; i < c->list_len; i++)
            if (experiment_id_value(a, &c->list[i], err))
                return -1;
        return 0;
    }
    if (check_op(cmp, OPS_STRING_IN, SET_STRING_IN, err))
        return -1;
    if (cmp->op != SF_EQ && cmp->op != SF_NE && cmp->op != SF_LIKE && cmp->op != SF_ILIKE)
        return error_set(err, BAD, "Invalid comparator for string attribute: %s", cmp->op_text);
    return 0;
}

typedef int (*clause_fn)(struct arena *, const struct comparison *, struct sf_clause *,
                         struct error *);

static int parse_filter(struct arena *a, const char *filter, clause_fn make,
                        struct sf_filter *out, struct error *err)
{
    out->clauses = NULL;
    out->n = 0;
    if (!filter || !*filter)
        return 0;
    struct lexer lx = {filter, filter + strlen(filter)};
    size_t cap = 0;
    struct tok t;
    /* MLflow refuses the tokens that form no comparison before it reads any
     * comparison's key and value: all comparisons are read first */
    struct comparison *cmps = NULL;
    for (;;) {
        lex_next(&lx, &t);
        if (t.kind == T_END)
            break;
        if (tok_is_kw(&t, "AND"))
            continue;   /* MLflow ignores stray ANDs */
        if (t.kind == T_OTHER && t.len == 1 && *t.s == ';') {
            struct tok rest;
            lex_next(&lx, &rest);
            if (rest.kind != T_END)
                return error_set(err, BAD, "Search filter contained multiple expression '%s'. "
                                 "Provide AND-ed expression list.", filter);
        }
        if (t.kind != T_IDENT || tok_is_kw(&t, "OR") || tok_is_kw(&t, "NOT") ||
            tok_is_kw(&t, "IN") || tok_is_kw(&t, "IS") || tok_is_kw(&t, "LIKE") ||
            tok_is_kw(&t, "ILIKE") || tok_is_kw(&t, "NULL"))
            return error_set(err, BAD, "Invalid clause(s) in filter string: '%.*s'",
                             (int)t.len, t.s);
        if (out->n == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            cmps = arena_grow(a, cmps, cap * sizeof *cmps, ncap * sizeof *cmps);
            cap = ncap;
        }
        if (read_comparison(&lx, &t, &cmps[out->n], err))
            return -1;
        out->n++;
    }
    out->clauses = arena_alloc(a, (out->n ? out->n : 1) * sizeof *out->clauses);
    memset(out->clauses, 0, (out->n ? out->n : 1) * sizeof *out->clauses);
    for (size_t i = 0; i < out->n; i++)
        if (make(a, &cmps[i], &out->clauses[i], err))
            return -1;
    return 0;
}

int sf_parse_run_filter(struct arena *a, const char *filter, struct sf_filter *out,
                        struct error *err)
{
    return parse_filter(a, filter, run_clause, out, err);
}

/* MLflow's SearchExperimentsUtils lists invalid clauses unquoted
 * ("name, ="), SearchUtils for runs quoted ("'name', '='") */
static void unquote_clauses(struct error *err)
{
    static const char head[] = "Invalid clause(s) in filter string: ";
    if (strncmp(err->message, head, sizeof head - 1))
        return;
    char *o = err->message + sizeof head - 1;
    const char *p = o;
    char out[sizeof err->message];
    size_t n = 0;
    while (*p == '\'') {
        const char *close = strstr(p + 1, "', '");
        if (!close)
            close = p[1] ? strrchr(p + 1, '\'') : NULL;
        if (!close || close == p)
            return;   /* not the shape we wrote: leave it */
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%.*s", n ? ", " : "", (int)(close - p - 1), p + 1);
        if (n >= sizeof out)
            return;
        p = close + 1;
        if (!strncmp(p, ", '", 3))
            p += 2;
        else
            break;
    }
    if (*p)
        return;
    snprintf(o, sizeof err->message - (size_t)(o - err->message), "%s", out);
}

int sf_parse_experiment_filter(struct arena *a, const char *filter, struct sf_filter *out,
                               struct error *err)
{
    int rc = parse_filter(a, filter, experiment_clause, out, err);
    if (rc)
        unquote_clauses(err);
    return rc;
}

/* ---- order_by --------------------------------------------------------- */

/* "<ident> [ASC|DESC]". With a direction, MLflow runs the clause through
 * shlex with backticks turned into double quotes, so quotes vanish wherever
 * they are: we rebuild the identifier from the parts' contents. Without one,
 * the identifier is taken as written. */
static int order_clause(struct arena *a, const char *text, char **ident, bool *ascending,
                        struct error *err)
{
    size_t len = strlen(text);
    struct lexer lx = {text, text + len};
    struct tok t, dir, rest;
    lex_next(&lx, &t);
    /* sqlparse leaves edge whitespace as extra tokens, which MLflow refuses */
    if (t.kind != T_IDENT || len == 0 || is_space((unsigned char)text[0]) ||
        is_space((unsigned char)text[len - 1]))
        return error_set(err, BAD, "Invalid order_by clause '%s'. Could not be parsed.", text);
    lex_next(&lx, &dir);
    lex_next(&lx, &rest);
    if (rest.kind != T_END)
        return error_set(err, BAD, "Invalid order_by clause '%s'. Could not be parsed.", text);
    *ascending = true;
    if (dir.kind != T_END) {
        if (tok_is_kw(&dir, "DESC"))
            *ascending = false;
        else if (!tok_is_kw(&dir, "ASC"))
            return error_set(err, BAD, "Invalid ordering key in order_by clause '%s'.", text);
    }
    if (dir.kind == T_END) {
        /* only "<ident> <direction>" goes through shlex */
        *ident = arena_strndup(a, t.s, t.len);
        return 0;
    }
    struct strbuf sb;
    sb_init(&sb, a, t.len + 1);
    const char *p = t.s, *end = t.s + t.len;
    while (p < end) {
        const char *q = scan_ident_part(p, end);
        if (!q)
            q = p + 1;
        if (*p == '`' || *p == '"')
            sb_putn(&sb, p + 1, (size_t)(q - p) - 2);
        else
            sb_putn(&sb, p, (size_t)(q - p));
        if (q < end && *q == '.')
            sb_putc(&sb, *q++);
        p = q;
    }
    *ident = sb.buf;
    return 0;
}

static void quoted_list(struct strbuf *sb, const char *const *items, size_t n)
{
    sb_putc(sb, '[');
    for (size_t i = 0; i < n; i++)
        sb_printf(sb, "%s'%s'", i ? ", " : "", items[i]);
    sb_putc(sb, ']');
}

int sf_parse_run_order_by(struct arena *a, const char *const *order_by, size_t n,
                          struct sf_order_list *out, struct error *err)
{
    out->items = n ? arena_alloc(a, n * sizeof *out->items) : NULL;
    out->n = 0;
    for (size_t i = 0; i < n; i++) {
        char *text;
        bool asc;
        struct ident id;
        if (!order_by[i])
            return error_set(err, BAD, "Invalid order_by clause ''. Could not be parsed.");
        if (order_clause(a, order_by[i], &text, &asc, err))
            return -1;
        if (run_ident(a, text, strlen(text), run_order_attrs, RUN_ORDER_KEYS, &id, err))
            return -1;
        if (id.entity == SF_DATASET)
            return error_set(err, BAD, "Invalid identifier type '%s'", entity_name(id.entity));
        for (size_t j = 0; j < out->n; j++) {
            if (out->items[j].entity == id.entity && strcmp(out->items[j].key, id.key) == 0) {
                struct strbuf sb;
                sb_init(&sb, a, 128);
                quoted_list(&sb, order_by, n);
                return error_set(err, BAD, "`order_by` contains duplicate fields: %s", sb.buf);
            }
        }
        out->items[out->n++] = (struct sf_order){id.entity, id.key, asc};
    }
    return 0;
}

int sf_parse_experiment_order_by(struct arena *a, const char *const *order_by, size_t n,
                                 struct sf_order_list *out, struct error *err)
{
    out->items = n ? arena_alloc(a, n * sizeof *out->items) : NULL;
    out->n = 0;
    for (size_t i = 0; i < n; i++) {
        char *text;
        bool asc;
        struct ident id;
        if (!order_by[i])
            return error_set(err, BAD, "Invalid order_by clause ''. Could not be parsed.");
        if (order_clause(a, order_by[i], &text, &asc, err))
            return -1;
        if (exp_ident(a, text, strlen(text), &id, err))
            return -1;
        if (id.entity != SF_ATTR)
            return error_set(err, BAD, "Invalid order_by entity: %s", entity_name(id.entity));
        out->items[out->n++] = (struct sf_order){id.entity, id.key, asc};
    }
    return 0;
}

/* ---- issue 14: trace search (SearchTraceUtils) ------------------------- */

static const struct alias trace_entities[] = {
    {"tag", SF_TAG}, {"tags", SF_TAG},
    {"request_metadata", SF_TRACE_METADATA}, {"metadata", SF_TRACE_METADATA},
    {"attribute", SF_ATTR}, {"attributes", SF_ATTR}, {"trace", SF_ATTR},
    {"span", SF_SPAN}, {"feedback", SF_FEEDBACK}, {"expectation", SF_EXPECTATION},
    {NULL, 0},
};
static const char *const trace_search_keys[] = {
    "request_id", "timestamp", "timestamp_ms", "execution_time", "execution_time_ms", "end_time",
    "end_time_ms", "status", "client_request_id", "name", "run_id", "prompt", "text", NULL,
};
static const char *const trace_order_keys[] = {
    "experiment_id", "timestamp", "timestamp_ms", "execution_time", "execution_time_ms", "end_time",
    "end_time_ms", "status", "request_id", "name", "run_id", NULL,
};
#define TRACE_SEARCH_KEYS "{'client_request_id', 'end_time', 'end_time_ms', 'execution_time', " \
    "'execution_time_ms', 'name', 'prompt', 'request_id', 'run_id', 'status', 'text', 'timestamp', 'timestamp_ms'}"
#define TRACE_ORDER_KEYS "{'end_time', 'end_time_ms', 'execution_time', 'execution_time_ms', 'experiment_id', " \
    "'name', 'request_id', 'run_id', 'status', 'timestamp', 'timestamp_ms'}"

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (!strcmp(*list, s))
            return true;
    return false;
}

/* _get_identifier + _replace_key_to_tag_or_metadata: name -> tag
 * mlflow.traceName, prompt -> tag mlflow.linkedPrompts, run_id -> metadata
 * mlflow.sourceRun, text -> span content, timestamp -> timestamp_ms, …
 * (MLflow maps these keys whatever the prefix, except for spans). */
static int trace_ident(struct arena *a, const char *s, size_t n, const char *const *attrs, const char *attr_keys,
                       struct ident *id, bool *mapped, struct error *err)
{
    const char *dot = memchr(s, '.', n);
    id->entity = SF_ATTR;
    id->attr = -1;
    *mapped = false;
    if (dot) {
        const char *e = s;
        size_t en = (size_t)(dot - s);
        if (quoted_with(e, en, '`')) {
            e++;
            en -= 2;
        }
        int ent = lookup(trace_entities, e, en);
        if (ent < 0)
            return error_set(err, BAD, "Invalid entity type '%.*s'. Valid values are ['tag', "
                             "'request_metadata', 'attribute', 'span', 'feedback', 'expectation']",
                             (int)en, e);
        id->entity = (enum sf_entity)ent;
        n -= (size_t)(dot + 1 - s);
        s = dot + 1;
    }
    char *key = strip_key(a, s, n);
    if (id->entity == SF_ATTR && !in_list(attrs, key))
        return error_set(err, BAD, "Invalid attribute key '%s' specified. Valid keys are '%s'", key, attr_keys);
    if (id->entity == SF_SPAN) {
        if (!strncmp(key, "attributes.", 11)) {
            if (!key[11])
                return error_set(err, BAD, "Span attribute name cannot be empty after 'attributes.'");
        } else if (strcmp(key, "name") && strcmp(key, "type") && strcmp(key, "status") && strcmp(key, "content")) {
            return error_set(err, BAD, "Invalid span attribute '%s'. Supported attributes: name, status, type, "
                             "attributes.<attribute_name>.", key);
        }
        id->key = key;
        return 0;
    }
    if ((id->entity == SF_FEEDBACK || id->entity == SF_EXPECTATION) && !*key)
        return error_set(err, BAD, "Assessment field name cannot be empty");
    char *lower = arena_strdup(a, key);
    for (char *c = lower; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    static const struct { const char *from; enum sf_entity entity; bool keep_entity; const char *to; } map[] = {
        {"name", SF_TAG, false, "mlflow.traceName"}, {"prompt", SF_TAG, false, "mlflow.linkedPrompts"},
        {"run_id", SF_TRACE_METADATA, false, "mlflow.sourceRun"}, {"text", SF_SPAN, false, "content"},
        {"timestamp", SF_ATTR, true, "timestamp_ms"}, {"execution_time", SF_ATTR, true, "execution_time_ms"},
        {"end_time", SF_ATTR, true, "end_time_ms"},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcmp(lower, map[i].from)) {
            if (!map[i].keep_entity)
                id->entity = map[i].entity;
            key = (char *)map[i].to;
            *mapped = true;
            break;
        }
    id->key = key;
    return 0;
}

/* MLflow 3.17's trace comparators: the run ones plus RLIKE on strings */
#define OPS_TRACE_STRING (OPS_STRING_IN | (1u << SF_RLIKE))
#define OPS_TRACE_KV     (OPS_NULLABLE | (1u << SF_RLIKE))
#define OPS_ASSESSMENT   (OPS_NULLABLE | OPS_NUMERIC | (1u << SF_RLIKE))
#define SET_TRACE_STRING "{'!=', '=', 'ILIKE', 'IN', 'LIKE', 'NOT IN', 'RLIKE'}"
#define SET_TRACE_KV     "{'!=', '=', 'ILIKE', 'IS NOT NULL', 'IS NULL', 'LIKE', 'RLIKE'}"
#define SET_ASSESSMENT   "{'!=', '<', '<=', '=', '>', '>=', 'ILIKE', 'IS NOT NULL', 'IS NULL', 'LIKE', 'RLIKE'}"

static bool trace_numeric_attr(const char *key)
{
    return !strcmp(key, "timestamp_ms") || !strcmp(key, "execution_time_ms") || !strcmp(key, "end_time_ms");
}

static int trace_string_or_list(struct arena *a, const struct comparison *cmp, struct sf_clause *c, bool list_ok,
                                struct error *err)
{
    enum val_kind vk = classify(&cmp->value);
    if (vk == V_LIST) {
        if (!list_ok)
            return error_set(err, BAD, "Only ['client_request_id', 'name', 'request_id', 'run_id', 'status'] "
                             "attributes support comparison with a list of quoted string values.");
        return list_or_error(a, cmp, c, err);
    }
    if (vk != V_STRING)
        return error_set(err, BAD, "Expected a quoted string value for %s (e.g. 'my-value'). Got value %.*s",
                         entity_name(c->entity == SF_TAG ? SF_TAG : SF_ATTR), (int)cmp->value.len, cmp->value.s);
    c->kind = SF_VAL_STRING;
    if (string_value(a, &cmp->value, &c->str, err))
        return -1;
    if (cmp->op == SF_IN || cmp->op == SF_NOT_IN)
        return error_set(err, BAD, "Invalid clause(s) in filter string: IN needs a list");
    return 0;
}

static int trace_clause(struct arena *a, const struct comparison *cmp, struct sf_clause *c, struct error *err)
{
    struct ident id;
    bool mapped;
    if (trace_ident(a, cmp->ident.s, cmp->ident.len, trace_search_keys, TRACE_SEARCH_KEYS, &id, &mapped, err))
        return -1;
    c->entity = id.entity;
    c->key = id.key;
    c->op = cmp->op < 0 ? SF_EQ : (enum sf_op)cmp->op;
    bool null_op = cmp->op == SF_IS_NULL || cmp->op == SF_IS_NOT_NULL;
    switch (id.entity) {
    case SF_TAG:
    case SF_TRACE_METADATA:
        /* a mapped attribute (name, run_id, prompt) keeps the attribute's IN */
        if (check_op(cmp, mapped ? (OPS_TRACE_KV | OPS_TRACE_STRING) : OPS_TRACE_KV,
                     mapped ? SET_TRACE_STRING : SET_TRACE_KV, err))
            return -1;
        if (null_op) {
            c->kind = SF_VAL_NONE;
            return 0;
        }
        return trace_string_or_list(a, cmp, c, mapped, err);
    case SF_SPAN:
        if (!strcmp(id.key, "content")) {
            if (cmp->op != SF_LIKE && cmp->op != SF_ILIKE)
                return error_set(err, BAD, "span.content comparator '%s' not one of '{'ILIKE', 'LIKE'}'",
                                 cmp->op_text);
        } else if (cmp->op < 0 || !(OPS_TRACE_STRING & (1u << cmp->op))) {
            return error_set(err, BAD, "span.%s comparator '%s' not one of '%s'", id.key, cmp->op_text,
                             SET_TRACE_STRING);
        }
        return trace_string_or_list(a, cmp, c, true, err);
    case SF_FEEDBACK:
    case SF_EXPECTATION:
        if (check_op(cmp, OPS_ASSESSMENT, SET_ASSESSMENT, err))
            return -1;
        if (null_op) {
            c->kind = SF_VAL_NONE;
            return 0;
        }
        if (classify(&cmp->value) == V_NUMBER) {
            number_value(a, &cmp->value, c);
            return 0;
        }
        return trace_string_or_list(a, cmp, c, false, err);
    case SF_ATTR:
        if (trace_numeric_attr(id.key)) {
            if (classify(&cmp->value) != V_NUMBER)
                return error_set(err, BAD, "Expected numeric value type for numeric attribute: %s. Found %.*s",
                                 id.key, (int)cmp->value.len, cmp->value.s);
            number_value(a, &cmp->value, c);
            return check_op(cmp, OPS_NUMERIC, SET_NUMERIC, err);
        }
        if (check_op(cmp, OPS_TRACE_STRING, SET_TRACE_STRING, err))
            return -1;
        return trace_string_or_list(a, cmp, c, true, err);
    default:
        return error_set(err, BAD, "Invalid search expression type '%s'", entity_name(id.entity));
    }
}

int sf_parse_trace_filter(struct arena *a, const char *filter, struct sf_filter *out, struct error *err)
{
    return parse_filter(a, filter, trace_clause, out, err);
}

int sf_parse_trace_order_by(struct arena *a, const char *const *order_by, size_t n, struct sf_order_list *out,
                            struct error *err)
{
    out->items = n ? arena_alloc(a, n * sizeof *out->items) : NULL;
    out->n = 0;
    for (size_t i = 0; i < n; i++) {
        char *text;
        bool asc, mapped;
        struct ident id;
        if (!order_by[i])
            return error_set(err, BAD, "Invalid order_by clause ''. Could not be parsed.");
        if (order_clause(a, order_by[i], &text, &asc, err))
            return -1;
        if (trace_ident(a, text, strlen(text), trace_order_keys, TRACE_ORDER_KEYS, &id, &mapped, err))
            return -1;
        if (id.entity != SF_ATTR && id.entity != SF_TAG && id.entity != SF_TRACE_METADATA)
            return error_set(err, BAD, "Invalid identifier type '%s'",
                             id.entity == SF_SPAN ? "span" : id.entity == SF_FEEDBACK ? "feedback" : "expectation");
        for (size_t j = 0; j < out->n; j++)
            if (out->items[j].entity == id.entity && !strcmp(out->items[j].key, id.key)) {
                struct strbuf sb;
                sb_init(&sb, a, 128);
                quoted_list(&sb, order_by, n);
                return error_set(err, BAD, "`order_by` contains duplicate fields: %s", sb.buf);
            }
        out->items[out->n++] = (struct sf_order){id.entity, id.key, asc};
    }
    return 0;
}

/* ---- issue 12: QueryTraceMetrics filters (SearchTraceMetricsUtils) ----
 * "<view>.<entity>[.<key>] = 'value'": trace.status, trace.tag.<k>,
 * trace.metadata.<k>, span.name|status|type, assessment.name|type; '=' and
 * a quoted string only. trace.* become the trace search's clauses (status,
 * tag, metadata), span.* SF_SPAN, assessment.* SF_ASSESSMENT. */

static const struct { const char *view, *entity; bool key; enum sf_entity as; } metric_keys[] = {
    {"trace", "status", false, SF_ATTR}, {"trace", "tag", true, SF_TAG},
    {"trace", "metadata", true, SF_TRACE_METADATA},
    {"span", "name", false, SF_SPAN}, {"span", "status", false, SF_SPAN}, {"span", "type", false, SF_SPAN},
    {"assessment", "name", false, SF_ASSESSMENT}, {"assessment", "type", false, SF_ASSESSMENT},
};
#define N_METRIC_KEYS (sizeof metric_keys / sizeof *metric_keys)

static int metric_clause(struct arena *a, const struct comparison *cmp, struct sf_clause *c, struct error *err)
{
    const char *s = cmp->ident.s, *end = s + cmp->ident.len;
    const char *d1 = memchr(s, '.', (size_t)(end - s));
    const char *d2 = d1 ? memchr(d1 + 1, '.', (size_t)(end - d1 - 1)) : NULL;
    if (!d1)
        return error_set(err, BAD, "Invalid identifier '%.*s'. Columns should be specified as 'trace.<key>', "
                         "'span.<key>', 'assessment.<key>'.", (int)cmp->ident.len, s);
    const char *view = s;
    size_t vn = (size_t)(d1 - s);
    if (quoted_with(view, vn, '`')) {
        view++;
        vn -= 2;
    }
    const char *ent = d1 + 1;
    size_t en = (size_t)((d2 ? d2 : end) - ent);
    int v = -1, e = -1;
    for (size_t i = 0; i < N_METRIC_KEYS; i++)
        if (strlen(metric_keys[i].view) == vn && !strncmp(metric_keys[i].view, view, vn)) {
            v = v < 0 ? (int)i : v;
            if (strlen(metric_keys[i].entity) == en && !strncmp(metric_keys[i].entity, ent, en))
                e = (int)i;
        }
    if (v < 0)
        return error_set(err, BAD, "Invalid view type '%.*s'. Valid values are dict_keys(['trace', 'span', "
                         "'assessment'])", (int)vn, view);
    if (e < 0) {
        struct strbuf sb;
        sb_init(&sb, a, 64);
        for (size_t i = (size_t)v; i < N_METRIC_KEYS && !strcmp(metric_keys[i].view, metric_keys[v].view); i++)
            sb_printf(&sb, "%s'%s'", i > (size_t)v ? ", " : "", metric_keys[i].entity);
        return error_set(err, BAD, "Invalid entity '%.*s' specified for view type '%s'. Valid entities are [%s]",
                         (int)en, ent, metric_keys[v].view, sb.buf);
    }
    if (metric_keys[e].key && !d2)
        return error_set(err, BAD, "Filtering by %s requires a key, e.g. '%s.%s.<key> = <value>'",
                         metric_keys[e].entity, metric_keys[e].view, metric_keys[e].entity);
    if (!metric_keys[e].key && d2)
        return error_set(err, BAD, "Filtering by %s does not require a key, use '%s.%s' instead",
                         metric_keys[e].entity, metric_keys[e].view, metric_keys[e].entity);
    if (cmp->op != SF_EQ)
        return error_set(err, BAD, "Invalid comparator: '%s', only '=' operator is supported", cmp->op_text);
    if (classify(&cmp->value) != V_STRING)
        return error_set(err, BAD, "Expected a quoted string value for %s value (e.g. 'my-value'). Got value %.*s",
                         metric_keys[e].entity, (int)cmp->value.len, cmp->value.s);
    c->entity = metric_keys[e].as;
    c->key = d2 ? strip_key(a, d2 + 1, (size_t)(end - d2 - 1)) : metric_keys[e].entity;
    c->op = SF_EQ;
    c->kind = SF_VAL_STRING;
    return string_value(a, &cmp->value, &c->str, err);
}

int sf_parse_trace_metric_filter(struct arena *a, const char *filter, struct sf_filter *out, struct error *err)
{
    if (parse_filter(a, filter, metric_clause, out, err))
        return -1;
    const char *and = out->n > 1 ? strcasestr(filter, " and ") : NULL;
    if (and)   /* MLflow takes only comparisons: the AND is the invalid token */
        return error_set(err, BAD, "Invalid clause(s) in filter string: %.3s", and + 1);
    if (out->n != 1)
        return error_set(err, BAD, "Invalid filter: '%s'. Expected one filter clause.", filter);
    return 0;
}

/* ---- issue 21: evaluation-dataset search (SearchEvaluationDatasetsUtils) ----
 * Identifiers split once on '.': a bare attribute, or tags.<key> with the
 * key taken as written; the comparator checks are the store's
 * (_get_search_datasets_filter_clauses), made here so that every error is a
 * 400 before any SQL runs. */

#define EVAL_DS_SEARCH_KEYS "{'created_by', 'created_time', 'last_update_time', 'last_updated_by', 'name'}"
#define EVAL_DS_ORDER_KEYS "{'created_time', 'last_update_time', 'name'}"

static const char *const eval_ds_search_keys[] = {
    "name", "created_time", "last_update_time", "created_by", "last_updated_by", NULL,
};
static const char *const eval_ds_order_keys[] = { "name", "created_time", "last_update_time", NULL };

static int eval_ds_ident(struct arena *a, const char *s, size_t n, const char *const *keys, const char *key_set,
                         struct ident *id, struct error *err)
{
    const char *dot = memchr(s, '.', n);
    id->attr = -1;
    if (!dot) {
        char *key = arena_strndup(a, s, n);
        for (size_t i = 0; keys[i]; i++)
            if (!strcmp(keys[i], key)) {
                id->entity = SF_ATTR;
                id->key = keys[i];
                id->attr = (int)i;
                return 0;
            }
        return error_set(err, BAD, "Invalid attribute key '%s' specified. Valid keys are: %s", key, key_set);
    }
    size_t en = (size_t)(dot - s);
    if (en != 4 || memcmp(s, "tags", 4))
        return error_set(err, BAD, "Invalid identifier token '%.*s' specified", (int)en, s);
    id->entity = SF_TAG;
    id->key = arena_strndup(a, dot + 1, n - en - 1);
    return 0;
}

static bool eval_ds_numeric(const char *key)
{
    return !strcmp(key, "created_time") || !strcmp(key, "last_update_time");
}

static int eval_ds_clause(struct arena *a, const struct comparison *cmp, struct sf_clause *c, struct error *err)
{
    struct ident id;
    if (eval_ds_ident(a, cmp->ident.s, cmp->ident.len, eval_ds_search_keys, EVAL_DS_SEARCH_KEYS, &id, err))
        return -1;
    c->entity = id.entity;
    c->key = id.key;
    c->op = cmp->op < 0 ? SF_EQ : (enum sf_op)cmp->op;
    const struct tok *v = &cmp->value;
    if (cmp->op == SF_IS_NULL || cmp->op == SF_IS_NOT_NULL) {
        if (id.entity != SF_TAG)
            return error_set(err, BAD, "IS NULL / IS NOT NULL is only supported for tags and params, not for "
                             "'attribute' '%s'", id.key);
        return error_set(err, BAD, "Invalid comparator for tag: %s", cmp->op_text);
    }
    enum val_kind vk = classify(v);
    /* the comparator is compared as written: a lowercase one is nothing MLflow knows */
    bool known = cmp->op >= 0 && !cmp->op_lower;
    if (id.entity == SF_TAG) {
        if (vk != V_STRING)
            return error_set(err, BAD, "Expected a quoted string value for tag (e.g. 'my-value'). Got value %.*s",
                             (int)v->len, v->s);
        c->kind = SF_VAL_STRING;
        if (string_value(a, v, &c->str, err))
            return -1;
        if (!known || !(OPS_STRING & (1u << cmp->op)))
            return error_set(err, BAD, "Invalid comparator for tag: %s", cmp->op_text);
        return 0;
    }
    if (eval_ds_numeric(id.key)) {
        if (vk != V_NUMBER)
            return error_set(err, BAD, "Expected numeric value type for numeric attribute: %s. Found %.*s",
                             id.key, (int)v->len, v->s);
        number_value(a, v, c);
        if (!known || !(OPS_NUMERIC & (1u << cmp->op)))
            return error_set(err, BAD, "Invalid comparator for numeric attribute: %s", cmp->op_text);
        if (v->num != NUM_INT)
            return error_set(err, BAD, "Invalid value for numeric attribute '%s': '%s'", id.key, c->num_text);
        return 0;
    }
    if (vk == V_LIST) {
        if (strcmp(id.key, "name"))
            return error_set(err, BAD, "Only ['name'] attributes support comparison with a list of quoted "
                             "string values.");
        c->kind = SF_VAL_LIST;
        if (list_value(a, v, &c->list, &c->list_len, err))
            return -1;
        if (cmp->op != SF_IN)
            return error_set(err, BAD, "List values for 'name' are only supported with the IN comparator.");
        return 0;
    }
    if (vk != V_STRING)
        return error_set(err, BAD, "Expected a quoted string value for attributes. Got value %.*s",
                         (int)v->len, v->s);
    c->kind = SF_VAL_STRING;
    if (string_value(a, v, &c->str, err))
        return -1;
    /* <, >, … on a string attribute compare as SQL does; IN with a string is no list */
    if (!known || cmp->op == SF_IN || cmp->op == SF_NOT_IN)
        return error_set(err, BAD, "Invalid comparator for string attribute: %s", cmp->op_text);
    return 0;
}

int sf_parse_eval_dataset_filter(struct arena *a, const char *filter, struct sf_filter *out, struct error *err)
{
    int rc = parse_filter(a, filter, eval_ds_clause, out, err);
    if (rc)
        unquote_clauses(err);
    return rc;
}

int sf_parse_eval_dataset_order_by(struct arena *a, const char *const *order_by, size_t n,
                                   struct sf_order_list *out, struct error *err)
{
    out->items = n ? arena_alloc(a, n * sizeof *out->items) : NULL;
    out->n = 0;
    for (size_t i = 0; i < n; i++) {
        char *text;
        bool asc;
        struct ident id;
        if (!order_by[i])
            return error_set(err, BAD, "Invalid order_by clause ''. Could not be parsed.");
        if (order_clause(a, order_by[i], &text, &asc, err))
            return -1;
        if (eval_ds_ident(a, text, strlen(text), eval_ds_order_keys, EVAL_DS_ORDER_KEYS, &id, err))
            return -1;
        if (id.entity != SF_ATTR)
            return error_set(err, BAD, "Invalid order_by entity: tag");
        out->items[out->n++] = (struct sf_order){SF_ATTR, id.key, asc};
    }
    return 0;
}

/* ---- issue 21: SearchIssues (SearchIssuesUtils: status / source_run_id, = and !=) ---- */

static int issue_clause(struct arena *a, const struct comparison *cmp, struct sf_clause *c, struct error *err)
{
    char *key = strip_key(a, cmp->ident.s, cmp->ident.len);
    size_t kl = strlen(key);
    while (kl && strchr(" \t\r\n", key[kl - 1]))
        key[--kl] = '\0';
    while (*key && strchr(" \t\r\n", *key))
        key++;
    if (strcmp(key, "status") && strcmp(key, "source_run_id"))
        return error_set(err, BAD, "Invalid filter field '%s'. Supported fields: {'status', 'source_run_id'}", key);
    if (cmp->op != SF_EQ && cmp->op != SF_NE) {
        char up[sizeof cmp->op_text];
        size_t i;
        for (i = 0; cmp->op_text[i] && i + 1 < sizeof up; i++)
            up[i] = (char)toupper((unsigned char)cmp->op_text[i]);
        up[i] = '\0';
        return error_set(err, BAD, "Invalid comparator '%s'. Supported comparators: {'=', '!='}", up);
    }
    const struct tok *v = &cmp->value;
    const char *s = v->s;
    size_t n = v->len;
    if (quoted_with(s, n, '\'') || quoted_with(s, n, '"')) {
        s++;
        n -= 2;
    }
    while (n && strchr(" \t\r\n", s[n - 1]))
        n--;
    while (n && strchr(" \t\r\n", *s)) {
        s++;
        n--;
    }
    c->entity = SF_ATTR;
    c->key = key;
    c->op = (enum sf_op)cmp->op;
    c->kind = SF_VAL_STRING;
    c->str = arena_strndup(a, s, n);
    return 0;
}

int sf_parse_issue_filter(struct arena *a, const char *filter, struct sf_filter *out, struct error *err)
{
    return parse_filter(a, filter, issue_clause, out, err);
}

/* ---- issue 12: the MCP server registry (SearchMCPServerUtils, SearchMCPServerVersionUtils,
 * SearchMCPAccessEndpointUtils, then the checks of the store mixin's _apply_*_filter) ---- */

struct mcp_keys {
    const char *const *attrs;      /* VALID_SEARCH_ATTRIBUTE_KEYS */
    const char *attr_set;          /* as MLflow prints it */
    const char *const *numeric;    /* NUMERIC_ATTRIBUTES */
    const char *const *lists;      /* LIST_SUPPORTED_KEYS */
    const char *list_set;
    bool tags;                     /* the server search also filters on tags */
};

static const char *const mcp_server_attrs[] = { "name", "display_name", "status", "has_access_endpoints",
                                                "created_at", "last_updated_at", NULL };
static const char *const mcp_version_attrs[] = { "name", "version", "status", "created_at", "last_updated_at", NULL };
static const char *const mcp_endpoint_attrs[] = { "status", "server_name", "transport_type", "created_at",
                                                  "last_updated_at", NULL };
static const char *const mcp_numeric[] = { "created_at", "last_updated_at", NULL };
static const char *const mcp_server_lists[] = { "name", "status", NULL };
static const char *const mcp_status_list[] = { "status", NULL };
static const char *const mcp_endpoint_lists[] = { "server_name", NULL };

static const struct mcp_keys mcp_kinds[] = {
    [SF_MCP_SERVER] = { mcp_server_attrs, "{'created_at', 'display_name', 'has_access_endpoints', "
                        "'last_updated_at', 'name', 'status'}", mcp_numeric, mcp_server_lists,
                        "['name', 'status']", true },
    [SF_MCP_VERSION] = { mcp_version_attrs, "{'created_at', 'last_updated_at', 'name', 'status', 'version'}",
                         mcp_numeric, mcp_status_list, "['status']", false },
    [SF_MCP_ENDPOINT] = { mcp_endpoint_attrs, "{'created_at', 'last_updated_at', 'server_name', 'status', "
                          "'transport_type'}", mcp_numeric, mcp_endpoint_lists, "['server_name']", false },
};

static const char *const mcp_entity_names[] = { "attribute", "metric", "parameter", "tag", "dataset" };

static int mcp_clause(struct arena *a, const struct comparison *cmp, struct sf_clause *c, struct error *err,
                      enum sf_mcp_kind kind)
{
    const struct mcp_keys *k = &mcp_kinds[kind];
    struct ident id;
    /* SearchUtils._get_identifier with the kind's attribute keys */
    const char *s = cmp->ident.s;
    size_t n = cmp->ident.len;
    if (split_entity(&s, &n, &id, err))
        return -1;
    id.key = strip_key(a, s, n);
    if (id.entity == SF_ATTR && !in_list(k->attrs, id.key))
        return error_set(err, BAD, "Invalid attribute key '%s' specified. Valid keys are '%s'", id.key, k->attr_set);
    if (id.entity == SF_DATASET && lookup(dataset_keys, id.key, strlen(id.key)) < 0)
        return error_set(err, BAD, "Invalid dataset key '%s' specified. Valid keys are "
                         "'{'context', 'digest', 'name'}'", id.key);
    c->entity = id.entity;
    c->key = id.key;
    c->op = cmp->op < 0 ? SF_EQ : (enum sf_op)cmp->op;
    const char *type = mcp_entity_names[id.entity <= SF_DATASET ? id.entity : 0];
    if (cmp->op == SF_IS_NULL || cmp->op == SF_IS_NOT_NULL) {
        if (id.entity != SF_TAG && id.entity != SF_PARAM)
            return error_set(err, BAD, "IS NULL / IS NOT NULL is only supported for tags and params, not for "
                             "'%s' '%s'", type, id.key);
        c->kind = SF_VAL_NONE;
    } else {
        /* SearchUtils._get_value */
        const struct tok *v = &cmp->value;
        enum val_kind vk = classify(v);
        if (id.entity == SF_METRIC) {
            if (vk != V_NUMBER)
                return error_set(err, BAD, "Expected numeric value type for metric. Found %.*s", (int)v->len, v->s);
            number_value(a, v, c);
        } else if (id.entity == SF_ATTR && in_list(k->numeric, id.key)) {
            if (vk != V_NUMBER)
                return error_set(err, BAD, "Expected numeric value type for numeric attribute: %s. Found %.*s",
                                 id.key, (int)v->len, v->s);
            number_value(a, v, c);
        } else if (vk == V_STRING) {
            c->kind = SF_VAL_STRING;
            if (string_value(a, v, &c->str, err))
                return -1;
        } else if (vk == V_LIST && id.entity == SF_ATTR) {
            if (!in_list(k->lists, id.key))
                return error_set(err, BAD, "Only %s attributes support comparison with a list of quoted string "
                                 "values.", k->list_set);
            c->kind = SF_VAL_LIST;
            if (list_value(a, v, &c->list, &c->list_len, err))
                return -1;
        } else if (id.entity == SF_ATTR) {
            return error_set(err, BAD, "Expected a quoted string value for attributes. Got value %.*s",
                             (int)v->len, v->s);
        } else if (id.entity == SF_DATASET) {
            return error_set(err, BAD, "Expected a quoted string value for dataset attributes. Got value %.*s",
                             (int)v->len, v->s);
        } else {
            return error_set(err, BAD, "Expected a quoted string value for %s (e.g. 'my-value'). Got value %.*s",
                             type, (int)v->len, v->s);
        }
    }
    /* the store mixin's checks: the filter type, then the comparator as written */
    if (id.entity != SF_ATTR && !(id.entity == SF_TAG && k->tags))
        return error_set(err, BAD, "Invalid filter type '%s'.", type);
    static const unsigned valid = OPS_NUMERIC | OPS_STRING_IN;
    if (cmp->op < 0 || cmp->op_lower || !(valid & (1u << cmp->op)))
        return error_set(err, BAD, "Invalid comparator '%s' for %s '%s'.", cmp->op_lower ? cmp->op_raw : cmp->op_text,
                         id.entity == SF_TAG ? "tag" : "attribute", id.key);
    /* what PostgreSQL could not compare (MLflow's query fails there) */
    bool list_op = c->op == SF_IN || c->op == SF_NOT_IN;
    if (list_op != (c->kind == SF_VAL_LIST) ||
        (c->kind == SF_VAL_NUMBER && (c->op == SF_LIKE || c->op == SF_ILIKE)))
        return error_set(err, BAD, "Invalid comparator '%s' for %s '%s'.", cmp->op_text,
                         id.entity == SF_TAG ? "tag" : "attribute", id.key);
    if (kind == SF_MCP_SERVER && !strcmp(id.key, "has_access_endpoints") && id.entity == SF_ATTR &&
        (c->op != SF_EQ || c->kind != SF_VAL_STRING ||
         (strcasecmp(c->str, "true") && strcasecmp(c->str, "false"))))
        return error_set(err, BAD, "has_access_endpoints only supports '= true' or '= false'");
    return 0;
}

static int mcp_server_clause(struct arena *a, const struct comparison *cmp, struct sf_clause *c, struct error *err)
{
    return mcp_clause(a, cmp, c, err, SF_MCP_SERVER);
}

static int mcp_version_clause(struct arena *a, const struct comparison *cmp, struct sf_clause *c, struct error *err)
{
    return mcp_clause(a, cmp, c, err, SF_MCP_VERSION);
}

static int mcp_endpoint_clause(struct arena *a, const struct comparison *cmp, struct sf_clause *c, struct error *err)
{
    return mcp_clause(a, cmp, c, err, SF_MCP_ENDPOINT);
}

int sf_parse_mcp_filter(struct arena *a, const char *filter, enum sf_mcp_kind kind, struct sf_filter *out,
                        struct error *err)
{
    static const clause_fn fns[] = { mcp_server_clause, mcp_version_clause, mcp_endpoint_clause };
    return parse_filter(a, filter, fns[kind], out, err);
}

int sf_parse_mcp_order_by(struct arena *a, const char *const *order_by, size_t n, enum sf_mcp_kind kind,
                          struct sf_order_list *out, struct error *err)
{
    static const char *const server_keys[] = { "name", "created_at", "last_updated_at", NULL };
    static const char *const version_keys[] = { "version", "created_at", "last_updated_at", NULL };
    static const char *const endpoint_keys[] = { "id", "server_name", "created_at", "last_updated_at", NULL };
    static const char *const *keys[] = { server_keys, version_keys, endpoint_keys };
    static const char *const key_sets[] = { "['created_at', 'last_updated_at', 'name']",
                                            "['created_at', 'last_updated_at', 'version']",
                                            "['created_at', 'id', 'last_updated_at', 'server_name']" };
    out->items = n ? arena_alloc(a, n * sizeof *out->items) : NULL;
    out->n = 0;
    for (size_t i = 0; i < n; i++) {
        char *text;
        bool asc;
        if (!order_by[i] || !*order_by[i])
            return error_set(err, BAD, "Invalid order_by clause '%s'. Could not be parsed.",
                             order_by[i] ? order_by[i] : "");
        /* sqlparse reads a bare version or server_name as a keyword, which MLflow cannot parse
         * (quoted or backticked they work) */
        size_t w = strcspn(order_by[i], " \t\r\n");
        if ((w == 7 && !strncasecmp(order_by[i], "version", 7)) ||
            (w == 11 && !strncasecmp(order_by[i], "server_name", 11)))
            return error_set(err, BAD, "Invalid order_by clause '%s'. Could not be parsed.", order_by[i]);
        if (order_clause(a, order_by[i], &text, &asc, err))
            return -1;
        size_t tl = strlen(text);
        while (tl && is_space((unsigned char)text[tl - 1]))
            text[--tl] = '\0';
        while (is_space((unsigned char)*text))
            text++;
        const char *const *k = keys[kind];
        const char *key = NULL;
        for (; *k; k++)
            if (!strcmp(*k, text))
                key = *k;
        if (!key)
            return error_set(err, BAD, "Invalid order_by key '%s'. Valid keys: %s", text, key_sets[kind]);
        for (size_t j = 0; j < out->n; j++)
            if (!strcmp(out->items[j].key, key))
                return error_set(err, BAD, "Duplicate order_by field: '%s'", key);
        out->items[out->n++] = (struct sf_order){ SF_ATTR, key, asc };
    }
    return 0;
}
