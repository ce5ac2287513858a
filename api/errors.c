/* MLflow's error codes and the HTTP status of each, as
 * mlflow/exceptions.py ERROR_CODE_TO_HTTP_STATUS has them. */
#include "api.h"
#include "json.h"

/* sqlstate and error_class as mlflow/error_classification.py derives them
 * for the server's exceptions (the client-side mapping); NULL: omitted. */
static const struct {
    const char *name;
    int status;
    const char *sqlstate;
    const char *error_class;
} error_table[ERR_COUNT] = {
    [ERR_NONE] = { "OK", 200, NULL, NULL },
    [ERR_INVALID_PARAMETER_VALUE] = { "INVALID_PARAMETER_VALUE", 400, "KAM00", "INVALID_PARAMETER_VALUE" },
    [ERR_BAD_REQUEST] = { "BAD_REQUEST", 400, "KAM00", "INVALID_PARAMETER_VALUE" },
    [ERR_RESOURCE_ALREADY_EXISTS] = { "RESOURCE_ALREADY_EXISTS", 400, "KAM00", "RESOURCE_ALREADY_EXISTS" }, /* 400, not 409 */
    [ERR_RESOURCE_DOES_NOT_EXIST] = { "RESOURCE_DOES_NOT_EXIST", 404, "KAM00", "RESOURCE_NOT_FOUND" },
    [ERR_ENDPOINT_NOT_FOUND] = { "ENDPOINT_NOT_FOUND", 404, "KAM00", "RESOURCE_NOT_FOUND" },
    [ERR_INVALID_STATE] = { "INVALID_STATE", 500, "XXM00", "CLIENT_INTERNAL_ERROR" },   /* MLflow's choice */
    [ERR_INTERNAL_ERROR] = { "INTERNAL_ERROR", 500, "XXM00", "CLIENT_INTERNAL_ERROR" },
    [ERR_TEMPORARILY_UNAVAILABLE] = { "TEMPORARILY_UNAVAILABLE", 503, "XXM00", "CLIENT_INTERNAL_ERROR" },
    [ERR_NOT_IMPLEMENTED] = { "NOT_IMPLEMENTED", 501, NULL, NULL },
    [ERR_PERMISSION_DENIED] = { "PERMISSION_DENIED", 403, "KAM00", "PERMISSION_DENIED" },
    [ERR_UNAUTHENTICATED] = { "UNAUTHENTICATED", 401, NULL, NULL },
    [ERR_RESOURCE_EXHAUSTED] = { "RESOURCE_EXHAUSTED", 429, NULL, NULL },
    [ERR_REQUEST_LIMIT_EXCEEDED] = { "REQUEST_LIMIT_EXCEEDED", 429, NULL, NULL },
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
    if (err->code < ERR_COUNT) {
        jw_kstr(&w, "sqlstate", error_table[err->code].sqlstate);
        jw_kstr(&w, "error_class", error_table[err->code].error_class);
    }
    jw_obj_end(&w);
}
