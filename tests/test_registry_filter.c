/* The registry's search grammar (api/registry_filter.c). Expected results
 * were checked against mlflow 3.17's SearchModelUtils /
 * SearchModelVersionUtils and its SQL store. */
#include "tests/test.h"
#include "api/registry.h"
#include <stdio.h>
#include <stdlib.h>

static struct arena A;

static const char *const op_names[] = {"=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN"};

/* "a:key op 'v' ; t:key op [x|y]" or "ERR <message>" */
static const char *parse(enum registry_entity which, const char *filter)
{
    struct sf_filter f;
    struct error err = { 0 };
    if (registry_parse_filter(&A, which, filter, &f, &err))
        return arena_printf(&A, "ERR %s", err.message);
    struct strbuf sb;
    sb_init(&sb, &A, 64);
    for (size_t i = 0; i < f.n; i++) {
        const struct sf_clause *c = &f.clauses[i];
        sb_printf(&sb, "%s%s:%s %s ", i ? " ; " : "", c->entity == SF_TAG ? "t" : "a", c->key, op_names[c->op]);
        if (c->kind == SF_VAL_LIST) {
            sb_putc(&sb, '[');
            for (size_t j = 0; j < c->list_len; j++)
                sb_printf(&sb, "%s%s", j ? "|" : "", c->list[j]);
            sb_putc(&sb, ']');
        } else {
            sb_printf(&sb, "'%s'", c->str);
        }
    }
    return sb.buf;
}

static bool is_err(const char *s)
{
    return !strncmp(s, "ERR ", 4);
}

static void test_filters(void)
{
    CHECK_STR(parse(REG_MODELS, ""), "");
    CHECK_STR(parse(REG_MODELS, "   "), "");
    CHECK_STR(parse(REG_MODELS, "name = 'a'"), "a:name = 'a'");
    CHECK_STR(parse(REG_MODELS, "name='a' and tags.k LIKE 'x%'"), "a:name = 'a' ; t:k LIKE 'x%'");
    CHECK_STR(parse(REG_MODELS, "attribute.name ILIKE \"A%\""), "a:name ILIKE 'A%'");
    CHECK_STR(parse(REG_MODELS, "tags.`mlflow.prompt.is_prompt` = 'true'"), "t:mlflow.prompt.is_prompt = 'true'");
    CHECK_STR(parse(REG_MODELS, "tag.\"my key\" != 'v'"), "t:my key != 'v'");
    CHECK_STR(parse(REG_MODELS, "name IN ('a', 'b')"), "a:name IN [a|b]");
    CHECK_STR(parse(REG_MODELS, "name NOT IN ('a')"), "a:name NOT IN [a]");
    CHECK_STR(parse(REG_MODELS, "name <> 'a'"), "a:name != 'a'");
    /* values are not unescaped: MLflow strips the quotes only */
    CHECK_STR(parse(REG_MODELS, "name = 'it''s'"), "a:name = 'it''s'");
    CHECK(is_err(parse(REG_MODELS, "creation_timestamp > 1")));
    CHECK(is_err(parse(REG_MODELS, "name = unquoted")));
    CHECK(is_err(parse(REG_MODELS, "name = 1")));
    CHECK(is_err(parse(REG_MODELS, "name < 'a'")));
    CHECK(is_err(parse(REG_MODELS, "tags.k IN ('a')")));
    CHECK(is_err(parse(REG_MODELS, "tags.k > 'a'")));
    CHECK(is_err(parse(REG_MODELS, "metrics.x = 'a'")));
    /* no comparison: the tokens sqlparse leaves over, unquoted (issue 20) */
    CHECK_STR(parse(REG_MODELS, "name = 'a' OR name = 'b'"), "ERR Invalid clause(s) in filter string: OR");
    CHECK_STR(parse(REG_MODELS, "x"), "ERR Invalid clause(s) in filter string: x");
    CHECK_STR(parse(REG_MODELS, "x AND name = 'a'"), "ERR Invalid clause(s) in filter string: x");
    CHECK_STR(parse(REG_VERSIONS, "name foo"), "ERR Invalid clause(s) in filter string: name foo");
    /* a trailing AND is dropped, as MLflow's sqlparse drops it */
    CHECK_STR(parse(REG_MODELS, "name = 'a' AND"), "a:name = 'a'");
    CHECK(is_err(parse(REG_MODELS, "name = 'a")));
    CHECK(is_err(parse(REG_MODELS, "name = 'a'; drop table x")));

    CHECK_STR(parse(REG_VERSIONS, "name = 'm' AND version_number >= 2"), "a:name = 'm' ; a:version_number >= '2'");
    CHECK_STR(parse(REG_VERSIONS, "version_number = '3'"), "a:version_number = '3'");
    CHECK_STR(parse(REG_VERSIONS, "run_id IN ('r1','r2')"), "a:run_id IN [r1|r2]");
    CHECK_STR(parse(REG_VERSIONS, "source_path LIKE 's3://%'"), "a:source_path LIKE 's3://%'");
    CHECK(is_err(parse(REG_VERSIONS, "version_number = 1.5")));
    CHECK(is_err(parse(REG_VERSIONS, "version_number = 'x'")));
    CHECK(is_err(parse(REG_VERSIONS, "version_number LIKE '1'")));
    CHECK(is_err(parse(REG_VERSIONS, "source_path IN ('a')")));
    CHECK(is_err(parse(REG_VERSIONS, "run_id = 5")));
    CHECK(is_err(parse(REG_VERSIONS, "foo = 'a'")));
}

static const char *order(enum registry_entity which, const char *const *items, size_t n)
{
    struct sf_order_list o;
    struct error err = { 0 };
    if (registry_parse_order_by(&A, which, items, n, &o, &err))
        return "ERR";
    struct strbuf sb;
    sb_init(&sb, &A, 64);
    for (size_t i = 0; i < o.n; i++)
        sb_printf(&sb, "%s%s %s", i ? ", " : "", o.items[i].key, o.items[i].ascending ? "ASC" : "DESC");
    return sb.buf;
}

static void test_order_by(void)
{
    const char *a[] = { "name DESC" }, *b[] = { "timestamp" }, *c[] = { "creation_timestamp" },
               *d[] = { "name", "name ASC" }, *e[] = { "version_number desc", "`name`" }, *f[] = { "name sideways" },
               *g[] = { "attribute.creation_timestamp ASC" };
    CHECK_STR(order(REG_MODELS, a, 1), "name DESC");
    CHECK_STR(order(REG_MODELS, b, 1), "last_updated_timestamp ASC");
    CHECK_STR(order(REG_MODELS, c, 1), "ERR");
    CHECK_STR(order(REG_MODELS, d, 2), "ERR");
    CHECK_STR(order(REG_VERSIONS, e, 2), "version_number DESC, name ASC");
    CHECK_STR(order(REG_VERSIONS, f, 1), "ERR");
    CHECK_STR(order(REG_VERSIONS, g, 1), "creation_timestamp ASC");
    CHECK_STR(order(REG_VERSIONS, b, 1), "ERR");
}

int main(void)
{
    arena_init(&A);
    test_filters();
    test_order_by();
    arena_free(&A);
    TEST_MAIN_END();
}
