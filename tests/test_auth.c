/* The basic-auth app's pure parts (issue 16): every route in the table
 * names a permission rule (fail closed), the Authorization header parser
 * against hostile input, password hashing, and grant validation. */
#include "test.h"
#include "../api/auth.h"
#include "../server/auth.h"
#include "../store/auth_store.h"
#include <string.h>

static void test_route_table(void)
{
    CHECK_INT(auth_check_route_table(), 0);
    size_t auth_app = 0;
    for (size_t i = 0; i < api_routes_count; i++) {
        const struct route *r = &api_routes[i];
        if (r->auth <= AUTH_RULE_MISSING || r->auth >= AUTH_RULE_COUNT)
            fprintf(stderr, "route without a rule: %s %s\n", r->method, r->pattern);
        CHECK(r->auth > AUTH_RULE_MISSING && r->auth < AUTH_RULE_COUNT);
        /* only these stay public, as MLflow leaves them */
        if (r->auth == AUTH_PUBLIC)
            CHECK(!strcmp(r->pattern, "/health") || !strcmp(r->pattern, "/api/3.0/mlflow/server-info"));
        auth_app += (r->flags & ROUTE_AUTH_APP) != 0;
    }
    CHECK_INT(auth_app, 27);   /* the auth app's 27 routes */
}

static int parse(const char *h, const char **u, const char **p)
{
    static struct arena a;
    arena_reset(&a);
    return auth_parse_basic(h, &a, u, p);
}

static void test_basic_header(void)
{
    const char *u, *p;
    CHECK_INT(parse("Basic YWxpY2U6czNjcmV0", &u, &p), 0);   /* alice:s3cret */
    CHECK_STR(u, "alice");
    CHECK_STR(p, "s3cret");
    CHECK_INT(parse("basic YWxpY2U6czNjcmV0", &u, &p), 0);   /* the scheme is case-insensitive */
    CHECK_INT(parse("Basic YTpiOmM=", &u, &p), 0);            /* a:b:c: the first colon splits */
    CHECK_STR(u, "a");
    CHECK_STR(p, "b:c");
    CHECK_INT(parse("Basic Ojo=", &u, &p), 0);                /* "::" */
    CHECK_STR(u, "");
    static const char *const bad[] = {
        NULL, "", "Basic", "Basic ", "Bearer YWxpY2U6czNjcmV0", "BasicYWxpY2U6czNjcmV0",
        "Basic YWxpY2U", "Basic YWxpY2U=", "Basic !!!!", "Basic YWxp Y2U6", "Basic YWxpY2U6czNjcmV0 x",
        "Basic YWJj",          /* "abc": no colon */
        "Basic /w==",          /* 0xff: not UTF-8 */
        "Basic wDph",          /* 0xc0 ':' 'a': an overlong lead byte */
        "Basic YQBiOmM=",      /* a NUL inside */
        "Basic ====",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = parse(bad[i], &u, &p);
        if (rc == 0)
            fprintf(stderr, "accepted: %s\n", bad[i] ? bad[i] : "(null)");
        CHECK(rc != 0);
    }
    /* a long header is refused without reading past it */
    char *big = malloc(20000);
    memcpy(big, "Basic ", 6);
    memset(big + 6, 'A', 19000);
    big[19006] = '\0';
    CHECK(parse(big, &u, &p) != 0);
    free(big);
}

static void test_passwords(void)
{
    char h1[160], h2[160];
    CHECK_INT(auth_password_hash("correct horse battery", h1, sizeof h1), 0);
    CHECK_INT(auth_password_hash("correct horse battery", h2, sizeof h2), 0);
    CHECK(strcmp(h1, h2) != 0);                 /* salted */
    CHECK(!strncmp(h1, "pbkdf2:sha256:", 14));
    CHECK(auth_password_verify("correct horse battery", h1));
    CHECK(!auth_password_verify("correct horse batterY", h1));
    CHECK(!auth_password_verify("", h1));
    CHECK(!auth_password_verify("correct horse battery", "garbage"));
    CHECK(!auth_password_verify("x", "pbkdf2:sha256:0$$"));
}

static void test_grant_validation(void)
{
    struct error err;
    CHECK_INT(auth_validate_grant("experiment", "12", "READ", &err), 0);
    CHECK_INT(auth_validate_grant("experiment", "*", "DENY", &err), 0);
    CHECK_INT(auth_validate_grant("workspace", "*", "MANAGE", &err), 0);
    CHECK(auth_validate_grant("workspace", "*", "READ", &err) != 0);
    CHECK(auth_validate_grant("run", "abc", "READ", &err) != 0);           /* sub-tiers: wildcard only */
    CHECK(auth_validate_grant("experiment", "1", "NO_PERMISSIONS", &err) != 0);
    CHECK(auth_validate_grant("experiment", "1", "ALL", &err) != 0);
    CHECK(auth_validate_grant("nonsense", "1", "READ", &err) != 0);
    CHECK_INT(err.code, ERR_INVALID_PARAMETER_VALUE);
    CHECK_INT(perm_from_name("MANAGE"), PERM_MANAGE);
    CHECK_INT(perm_from_name("manage"), -1);
}

int main(void)
{
    test_route_table();
    test_basic_header();
    test_passwords();
    test_grant_validation();
    TEST_MAIN_END();
}
