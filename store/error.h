/* Errors carry an MLflow error code and a short message stating the fact.
 * api/errors.c maps each code to its HTTP status in one table. */
#ifndef CAIRN_ERROR_H
#define CAIRN_ERROR_H
#include <stdarg.h>

enum err_code {
    ERR_NONE = 0,
    ERR_INVALID_PARAMETER_VALUE,
    ERR_BAD_REQUEST,
    ERR_RESOURCE_ALREADY_EXISTS,
    ERR_RESOURCE_DOES_NOT_EXIST,
    ERR_ENDPOINT_NOT_FOUND,
    ERR_INVALID_STATE,
    ERR_INTERNAL_ERROR,
    ERR_TEMPORARILY_UNAVAILABLE,
    ERR_NOT_IMPLEMENTED,
    ERR_PERMISSION_DENIED,
    ERR_UNAUTHENTICATED,
    ERR_RESOURCE_EXHAUSTED,
    ERR_REQUEST_LIMIT_EXCEEDED,
    ERR_COUNT
};

struct error {
    enum err_code code;
    char message[1024];
};

/* Fill *err and return -1, so callers write `return error_set(err, …);` */
int error_set(struct error *err, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Python's repr() of a str (MLflow's messages print values that way):
 * single quotes unless the text has one and no double quote */
struct strbuf;
void py_repr_str(struct strbuf *sb, const char *s);
#endif
