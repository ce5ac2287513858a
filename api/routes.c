/* The route table: one row per (method, path). Find any endpoint from its
 * URL with one grep here. Every route also answers under /ajax-api/. */
#include "handlers.h"

#define J ROUTE_JSON
#define T (ROUTE_JSON | ROUTE_TRACKING)
#define M "/api/2.0/mlflow"

const struct route api_routes[] = {
    { "GET",  "/health",                                 api_health,       ROUTE_TEXT },
    { "GET",  "/version",                                api_version,      ROUTE_TEXT },
    { "GET",  "/api/3.0/mlflow/server-info",             api_server_info,  J },
    { "POST", "/v1/traces",                              api_otlp_traces,  ROUTE_STREAM },

    { "POST", M "/experiments/create",                   api_create_experiment,      T },
    { "GET",  M "/experiments/get",                      api_get_experiment,         T },
    { "GET",  M "/experiments/get-by-name",              api_get_experiment_by_name, T },
    { "POST", M "/experiments/search",                   api_search_experiments,     T },
    { "GET",  M "/experiments/search",                   api_search_experiments,     T },
    { "POST", M "/experiments/update",                   api_update_experiment,      T },
    { "POST", M "/experiments/delete",                   api_delete_experiment,      T },
    { "POST", M "/experiments/restore",                  api_restore_experiment,     T },
    { "POST", M "/experiments/set-experiment-tag",       api_set_experiment_tag,     T },
    { "POST", M "/experiments/delete-experiment-tag",    api_delete_experiment_tag,  T },

    { "POST", M "/runs/create",                          api_create_run,   T },
    { "GET",  M "/runs/get",                             api_get_run,      T },
    { "POST", M "/runs/update",                          api_update_run,   T },
    { "POST", M "/runs/delete",                          api_delete_run,   T },
    { "POST", M "/runs/restore",                         api_restore_run,  T },
    { "POST", M "/runs/set-tag",                         api_set_tag,      T },
    { "POST", M "/runs/delete-tag",                      api_delete_tag,   T },
    { "POST", M "/runs/log-parameter",                   api_log_param,    T },
    { "POST", M "/runs/log-metric",                      api_log_metric,   T },
    { "POST", M "/runs/log-batch",                       api_log_batch,    T },
    { "POST", M "/runs/log-inputs",                      api_log_inputs,   T },
    { "POST", M "/runs/outputs",                         api_log_outputs,  T },
    { "POST", M "/runs/search",                          api_search_runs,  T },

    { "GET",  M "/metrics/get-history",                  api_get_metric_history,               T },
    { "GET",  M "/metrics/get-history-bulk",             api_get_metric_history_bulk,          T },
    { "GET",  M "/metrics/get-history-bulk-interval",    api_get_metric_history_bulk_interval, T },
};

const size_t api_routes_count = sizeof api_routes / sizeof api_routes[0];
