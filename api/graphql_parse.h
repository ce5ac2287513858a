/* A GraphQL executable-document parser (the October 2021 spec's query
 * language: operations, variables, aliases, arguments, fragments, inline
 * fragments, directives), building an arena AST. Bounded: the source
 * length, the nesting of selection sets and values, and the node count are
 * capped, so hostile input costs at most linear work and fixed stack. */
#ifndef CAIRN_GRAPHQL_PARSE_H
#define CAIRN_GRAPHQL_PARSE_H
#include <stdbool.h>
#include <stddef.h>
#include "../store/arena.h"

#define GQL_MAX_SOURCE (64 * 1024)   /* bytes of query text */
#define GQL_MAX_NESTING 32           /* selection sets and values inside each other */
#define GQL_MAX_NODES 20000          /* fields, arguments, values */

enum gql_value_kind { GV_VARIABLE, GV_INT, GV_FLOAT, GV_STRING, GV_BOOL, GV_NULL, GV_ENUM, GV_LIST, GV_OBJECT };

struct gql_value {
    enum gql_value_kind kind;
    const char *text;              /* variable name, number text, decoded string, enum name */
    bool boolean;
    struct gql_value **items;      /* list items, object field values */
    const char **keys;             /* object field names */
    size_t n;
};

struct gql_arg {
    const char *name;
    struct gql_value *value;
};

struct gql_directive {
    const char *name;
    struct gql_arg *args;
    size_t n_args;
};

struct gql_selection_set;

enum gql_selection_kind { GS_FIELD, GS_SPREAD, GS_INLINE };

struct gql_selection {
    enum gql_selection_kind kind;
    const char *alias;             /* NULL when none */
    const char *name;              /* field name, or the spread fragment's name */
    const char *type_condition;    /* inline fragments: "on T" (NULL when absent) */
    struct gql_arg *args;
    size_t n_args;
    struct gql_directive *directives;
    size_t n_directives;
    struct gql_selection_set *set; /* NULL for a leaf field or a spread */
    size_t line, column;
};

struct gql_selection_set {
    struct gql_selection *items;
    size_t n;
};

struct gql_var_def {
    const char *name;
    const char *type;              /* as written, e.g. "MlflowGetRunInput!" or "[String!]" */
    bool non_null;
    struct gql_value *default_value;
};

struct gql_operation {
    const char *kind;              /* "query", "mutation" or "subscription" */
    const char *name;              /* NULL when anonymous */
    struct gql_var_def *vars;
    size_t n_vars;
    struct gql_selection_set *set;
};

struct gql_fragment {
    const char *name;
    const char *type_condition;
    struct gql_selection_set *set;
};

struct gql_document {
    struct gql_operation *ops;
    size_t n_ops;
    struct gql_fragment *frags;
    size_t n_frags;
};

/* Parses src[0..len). Returns 0 and *out, or -1 with a message in msg like
 * graphql-core's: "Syntax Error: Expected Name, found <EOF>." */
int gql_parse(struct arena *a, const char *src, size_t len, struct gql_document **out,
              char *msg, size_t msg_len);
#endif
