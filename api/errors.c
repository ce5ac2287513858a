/* MLflow's error codes and the HTTP status of each, as
 * mlflow/exceptions.py ERROR_CODE_TO_HTTP_STATUS has them. */
#include "api.h"
#include "json.h"

static const struct {
    const char *name;
    int status;
} error_table[ERR_COUNT] = {
    [ERR_NONE] = { "OK", 200 },
    [ERR_INVALID_PARAMETER_VALUE] = { "INVALID_PARAMETER_VALUE", 400 },
    [ERR_BAD_REQUEST] = { "BAD_REQUEST", 400 },
    [ERR_RESOURCE_ALREADY_EXISTS] = { "RESOURCE_ALREADY_EXISTS", 400 },   /* 400, not 409 */
    [ERR_RESOURCE_DOES_NOT_EXIST] = { "RESOURCE_DOES_NOT_EXIST", 404 },
    [ERR_ENDPOINT_NOT_FOUND] = { "ENDPOINT_NOT_FOUND", 404 },
    [ERR_INVALID_STATE] = { "INVALID_STATE", 500 },                      /* MLflow's choice */
    [ERR_INTERNAL_ERROR] = { "INTERNAL_ERROR", 500 },
    [ERR_TEMPORARILY_UNAVAILABLE] = { "TEMPORARILY_UNAVAILABLE", 503 },
    [ERR_NOT_IMPLEMENTED] = { "NOT_IMPLEMENTED", 501 },
    [ERR_PERMISSION_DENIED] = { "PERMISSION_DENIED", 403 },
    [ERR_UNAUTHENTICATED] = { "UNAUTHENTICATED", 401 },
    [ERR_RESOURCE_EXHAUSTED] = { "RESOURCE_EXHAUSTED", 429 },
    [ERR_REQUEST_LIMIT_EXCEEDED] = { "REQUEST_LIMIT_EXCEEDED", 429 },
};

const char *error_code_name(enum err_code code)
{
    return code < ERR_COUNT && error_table[code].name ? error_table[code].name : "INTERNAL_ERROR";
}

int error_http_status(enum err_code code)
{
    return code < ERR_COUNT && error_table[code].status ? error_table[code].status : 500;
}

void error_to_json(const struct error *err, struct strbuf *out)
{
    struct jw w;
    jw_init(&w, out);
    jw_obj(&w);
    jw_kstr(&w, "error_code", error_code_name(err->code));
    jw_kstr(&w, "message", err->message);
    jw_obj_end(&w);
}
