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

    /* ---- issue 3: artifact proxy (mlflow server --serve-artifacts) ---- */
#define A (ROUTE_ARTIFACTS | ROUTE_STREAM)
#define AJ (ROUTE_ARTIFACTS | ROUTE_JSON)
#define MA "/api/2.0/mlflow-artifacts"
    { "GET",    MA "/artifacts",                         api_artifact_list,         A },
    { "GET",    MA "/artifacts/{path*}",                 api_artifact_download,     A },
    { "PUT",    MA "/artifacts/{path*}",                 api_artifact_upload,       A },
    { "DELETE", MA "/artifacts/{path*}",                 api_artifact_delete,       A },
    { "POST",   MA "/mpu/create/{path*}",                api_artifact_mpu_create,   AJ },
    { "POST",   MA "/mpu/complete/{path*}",              api_artifact_mpu_complete, AJ },
    { "POST",   MA "/mpu/abort/{path*}",                 api_artifact_mpu_abort,    AJ },
    { "GET",    MA "/presigned/{path*}",                 api_artifact_presigned,    A },
    { "GET",    M "/artifacts/list",                     api_list_artifacts,        T },
    /* the UI's downloads (MLflow serves them outside /api, under --static-prefix) */
    { "GET",    "/get-artifact",                         api_get_artifact,          ROUTE_TRACKING | ROUTE_STREAM },
    { "GET",    "/model-versions/get-artifact",          api_get_model_version_artifact,
      ROUTE_TRACKING | ROUTE_STREAM },

    /* ---- issue 3: MLflow 3 logged models ---- */
    { "POST",   M "/logged-models",                      api_create_logged_model,         T },
    { "POST",   M "/logged-models/search",               api_search_logged_models,        T },
    { "GET",    M "/logged-models/{model_id}",           api_get_logged_model,            T },
    { "PATCH",  M "/logged-models/{model_id}",           api_finalize_logged_model,       T },
    { "DELETE", M "/logged-models/{model_id}",           api_delete_logged_model,         T },
    { "PATCH",  M "/logged-models/{model_id}/tags",      api_set_logged_model_tags,       T },
    { "DELETE", M "/logged-models/{model_id}/tags/{tag_key}", api_delete_logged_model_tag, T },
    { "POST",   M "/logged-models/{model_id}/params",    api_log_logged_model_params,     T },
    { "GET",    M "/logged-models/{model_id}/artifacts/directories", api_list_logged_model_artifacts, T },
    { "GET",    M "/logged-models/{model_id}/artifacts/files", api_get_logged_model_artifact,
      ROUTE_TRACKING | ROUTE_STREAM },
    { "POST",   M "/runs/log-model",                     api_log_model,                   T },

    /* ---- model registry (api/registry.c) ---- */
    { "POST",   M "/registered-models/create",              api_create_registered_model,        T },
    { "GET",    M "/registered-models/get",                 api_get_registered_model,           T },
    { "POST",   M "/registered-models/rename",              api_rename_registered_model,        T },
    { "PATCH",  M "/registered-models/update",              api_update_registered_model,        T },
    { "DELETE", M "/registered-models/delete",              api_delete_registered_model,        T },
    { "GET",    M "/registered-models/search",              api_search_registered_models,       T },
    { "POST",   M "/registered-models/get-latest-versions", api_get_latest_versions,            T },
    { "GET",    M "/registered-models/get-latest-versions", api_get_latest_versions,            T },
    { "POST",   M "/registered-models/set-tag",             api_set_registered_model_tag,       T },
    { "DELETE", M "/registered-models/delete-tag",          api_delete_registered_model_tag,    T },
    { "POST",   M "/registered-models/alias",               api_set_registered_model_alias,     T },
    { "DELETE", M "/registered-models/alias",               api_delete_registered_model_alias,  T },
    { "GET",    M "/registered-models/alias",               api_get_model_version_by_alias,     T },
    { "POST",   M "/model-versions/create",                 api_create_model_version,           T },
    { "GET",    M "/model-versions/get",                    api_get_model_version,              T },
    { "PATCH",  M "/model-versions/update",                 api_update_model_version,           T },
    { "POST",   M "/model-versions/transition-stage",       api_transition_model_version_stage, T },
    { "DELETE", M "/model-versions/delete",                 api_delete_model_version,           T },
    { "GET",    M "/model-versions/get-download-uri",       api_get_model_version_download_uri, T },
    { "GET",    M "/model-versions/search",                 api_search_model_versions,          T },
    { "POST",   M "/model-versions/set-tag",                api_set_model_version_tag,          T },
    { "DELETE", M "/model-versions/delete-tag",             api_delete_model_version_tag,       T },

    /* ---- issue 14: MLflow 3 tracing (api/traces.c; POST /v1/traces is api/otlp.c, above) ---- */
#define M3 "/api/3.0/mlflow"
    { "POST",   M3 "/traces",                                api_start_trace_v3,          T },
    { "GET",    M3 "/traces/get",                            api_get_trace,               T },
    { "GET",    M3 "/traces/batchGet",                       api_batch_get_traces,        T },
    { "POST",   M3 "/traces/batchGetInfos",                  api_batch_get_trace_infos,   T },
    { "POST",   M3 "/traces/search",                         api_search_traces_v3,        T },
    { "POST",   M3 "/traces/delete-traces",                  api_delete_traces,           T },
    { "POST",   M3 "/traces/metrics",                        api_query_trace_metrics,     T },
    { "POST",   M3 "/traces/calculate-filter-correlation",   api_calculate_trace_filter_correlation, T },
    { "POST",   M "/traces/delete-traces",                   api_delete_traces,           T },
    { "POST",   M "/traces/link-to-run",                     api_link_traces_to_run,      T },
    /* the deprecated v2 routes */
    { "POST",   M "/traces",                                 api_start_trace_v2,          T },
    { "GET",    M "/traces",                                 api_search_traces_v2,        T },
    { "PATCH",  M "/traces/{request_id}",                    api_end_trace_v2,            T },
    { "GET",    M "/traces/{request_id}/info",               api_get_trace_info_v2,       T },
    /* the UI's trace data download (MLflow serves it under /ajax-api/{2.0,3.0}/mlflow only) */
    { "GET",    M "/get-trace-artifact",                     api_get_trace_artifact,      ROUTE_TRACKING | ROUTE_STREAM },
    { "GET",    M3 "/get-trace-artifact",                    api_get_trace_artifact,      ROUTE_TRACKING | ROUTE_STREAM },
    { "POST",   M "/traces/link-prompts",                    api_link_prompts_to_trace,   T },
    { "GET",    M3 "/traces/{trace_id}",                     api_get_trace_info_v3,       T },
    { "PATCH",  M3 "/traces/{trace_id}/tags",                api_set_trace_tag,           T },
    { "PATCH",  M "/traces/{request_id}/tags",               api_set_trace_tag,           T },
    { "DELETE", M3 "/traces/{trace_id}/tags",                api_delete_trace_tag,        T },
    { "DELETE", M "/traces/{request_id}/tags",               api_delete_trace_tag,        T },
    { "POST",   M3 "/traces/{trace_id}/assessments",         api_create_assessment,       T },
    { "GET",    M3 "/traces/{trace_id}/assessments/{assessment_id}", api_get_assessment,   T },
    { "PATCH",  M3 "/traces/{trace_id}/assessments/{assessment_id}", api_update_assessment, T },
    { "DELETE", M3 "/traces/{trace_id}/assessments/{assessment_id}", api_delete_assessment, T },
    /* ---- issue 12: what MLflow's web UI calls besides the REST API (api/graphql.c, api/ui.c) ---- */
    { "POST",   "/graphql",                                 api_graphql,                 T },
    { "GET",    "/graphql",                                 api_graphql,                 T },
    { "POST",   M "/experiments/search-datasets",           api_search_datasets,         T },
    { "GET",    M3 "/ui-telemetry",                         api_ui_telemetry_get,        J },
    { "POST",   M3 "/ui-telemetry",                         api_ui_telemetry_post,       J },
    { "GET",    M "/gateway-proxy",                         api_gateway_proxy,           T },
    { "POST",   M "/gateway-proxy",                         api_gateway_proxy,           T },
    { "GET",    M3 "/gateway/endpoints/list",               api_empty_list,              T },
    { "GET",    M3 "/gateway/secrets/list",                 api_empty_list,              T },
    { "GET",    M3 "/gateway/model-definitions/list",       api_empty_list,              T },
    { "GET",    M3 "/gateway/guardrails/list",              api_empty_list,              T },
    { "GET",    M3 "/gateway/budgets/list",                 api_empty_list,              T },
    { "GET",    M3 "/assistant/config",                     api_assistant_config,        J },
    { "GET",    M3 "/assistant/providers",                  api_assistant_providers,     J },
    { "GET",    M3 "/datasets/search",                      api_empty_list,              T },
    { "POST",   M3 "/datasets/search",                      api_empty_list,              T },
    { "POST",   M "/artifacts/presigned-upload-url",        api_presigned_upload_url,    T },
    { "POST",   M "/artifacts/presigned-download-url",      api_presigned_download_url,  T },
};

const size_t api_routes_count = sizeof api_routes / sizeof api_routes[0];
