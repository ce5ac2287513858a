/* The route table: one row per (method, path). Find any endpoint from its
 * URL with one grep here. Every route also answers under /ajax-api/. */
#include "handlers.h"

#define J ROUTE_JSON
#define T (ROUTE_JSON | ROUTE_TRACKING)
#define M "/api/2.0/mlflow"

const struct route api_routes[] = {
    { "GET",  "/health",                                 api_health,       ROUTE_TEXT, AUTH_PUBLIC },
    { "GET",  "/version",                                api_version,      ROUTE_TEXT, AUTH_ANY_USER },
    { "GET",  "/api/3.0/mlflow/server-info",             api_server_info,  J, AUTH_PUBLIC },
    { "POST", "/v1/traces",                              api_otlp_traces,  ROUTE_STREAM, AUTH_OTLP_TRACES },

    { "POST", M "/experiments/create",                   api_create_experiment,      T, AUTH_EXP_CREATE },
    { "GET",  M "/experiments/get",                      api_get_experiment,         T, AUTH_EXP_READ },
    { "GET",  M "/experiments/get-by-name",              api_get_experiment_by_name, T, AUTH_EXP_READ_BY_NAME },
    { "POST", M "/experiments/search",                   api_search_experiments,     T, AUTH_EXP_SEARCH },
    { "GET",  M "/experiments/search",                   api_search_experiments,     T, AUTH_EXP_SEARCH },
    { "POST", M "/experiments/update",                   api_update_experiment,      T, AUTH_EXP_UPDATE },
    { "POST", M "/experiments/delete",                   api_delete_experiment,      T, AUTH_EXP_DELETE },
    { "POST", M "/experiments/restore",                  api_restore_experiment,     T, AUTH_EXP_DELETE },
    { "POST", M "/experiments/set-experiment-tag",       api_set_experiment_tag,     T, AUTH_EXP_UPDATE },
    { "POST", M "/experiments/delete-experiment-tag",    api_delete_experiment_tag,  T, AUTH_EXP_UPDATE },

    { "POST", M "/runs/create",                          api_create_run,   T, AUTH_RUN_CREATE },
    { "GET",  M "/runs/get",                             api_get_run,      T, AUTH_RUN_READ },
    { "POST", M "/runs/update",                          api_update_run,   T, AUTH_RUN_UPDATE },
    { "POST", M "/runs/delete",                          api_delete_run,   T, AUTH_RUN_DELETE },
    { "POST", M "/runs/restore",                         api_restore_run,  T, AUTH_RUN_DELETE },
    { "POST", M "/runs/set-tag",                         api_set_tag,      T, AUTH_RUN_UPDATE },
    { "POST", M "/runs/delete-tag",                      api_delete_tag,   T, AUTH_RUN_UPDATE },
    { "POST", M "/runs/log-parameter",                   api_log_param,    T, AUTH_RUN_UPDATE },
    { "POST", M "/runs/log-metric",                      api_log_metric,   T, AUTH_RUN_LOG },
    { "POST", M "/runs/log-batch",                       api_log_batch,    T, AUTH_RUN_LOG },
    { "POST", M "/runs/log-inputs",                      api_log_inputs,   T, AUTH_RUN_LOG },
    { "POST", M "/runs/outputs",                         api_log_outputs,  T, AUTH_RUN_LOG },
    { "POST", M "/runs/search",                          api_search_runs,  T, AUTH_RUN_SEARCH },

    { "GET",  M "/metrics/get-history",                  api_get_metric_history,               T, AUTH_RUN_READ },
    { "GET",  M "/metrics/get-history-bulk",             api_get_metric_history_bulk,          T, AUTH_METRIC_BULK },
    { "GET",  M "/metrics/get-history-bulk-interval",    api_get_metric_history_bulk_interval, T, AUTH_METRIC_BULK },

    /* ---- issue 3: artifact proxy (mlflow server --serve-artifacts) ---- */
#define A (ROUTE_ARTIFACTS | ROUTE_STREAM)
#define AJ (ROUTE_ARTIFACTS | ROUTE_JSON)
#define MA "/api/2.0/mlflow-artifacts"
    { "GET",    MA "/artifacts",                         api_artifact_list,         A, AUTH_ARTIFACT_READ },
    { "GET",    MA "/artifacts/{path*}",                 api_artifact_download,     A, AUTH_ARTIFACT_READ },
    { "PUT",    MA "/artifacts/{path*}",                 api_artifact_upload,       A, AUTH_ARTIFACT_UPDATE },
    { "DELETE", MA "/artifacts/{path*}",                 api_artifact_delete,       A, AUTH_ARTIFACT_DELETE },
    { "POST",   MA "/mpu/create/{path*}",                api_artifact_mpu_create,   AJ, AUTH_ARTIFACT_UPDATE },
    { "POST",   MA "/mpu/complete/{path*}",              api_artifact_mpu_complete, AJ, AUTH_ARTIFACT_UPDATE },
    { "POST",   MA "/mpu/abort/{path*}",                 api_artifact_mpu_abort,    AJ, AUTH_ARTIFACT_UPDATE },
    { "GET",    MA "/presigned/{path*}",                 api_artifact_presigned,    A, AUTH_ARTIFACT_READ },
    { "GET",    M "/artifacts/list",                     api_list_artifacts,        T, AUTH_RUN_READ },
    /* the UI's downloads (MLflow serves them outside /api, under --static-prefix) */
    { "GET",    "/get-artifact",                         api_get_artifact,          ROUTE_TRACKING | ROUTE_STREAM, AUTH_RUN_ARTIFACT_READ },
    { "GET",    "/model-versions/get-artifact",          api_get_model_version_artifact,
      ROUTE_TRACKING | ROUTE_STREAM, AUTH_MV_ARTIFACT_READ },

    /* ---- issue 3: MLflow 3 logged models ---- */
    { "POST",   M "/logged-models",                      api_create_logged_model,         T, AUTH_LM_CREATE },
    { "POST",   M "/logged-models/search",               api_search_logged_models,        T, AUTH_LM_SEARCH },
    { "GET",    M "/logged-models/{model_id}",           api_get_logged_model,            T, AUTH_LM_READ },
    { "PATCH",  M "/logged-models/{model_id}",           api_finalize_logged_model,       T, AUTH_LM_UPDATE },
    { "DELETE", M "/logged-models/{model_id}",           api_delete_logged_model,         T, AUTH_LM_DELETE },
    { "PATCH",  M "/logged-models/{model_id}/tags",      api_set_logged_model_tags,       T, AUTH_LM_UPDATE },
    { "DELETE", M "/logged-models/{model_id}/tags/{tag_key}", api_delete_logged_model_tag, T, AUTH_LM_DELETE },
    { "POST",   M "/logged-models/{model_id}/params",    api_log_logged_model_params,     T, AUTH_LM_UPDATE },
    { "GET",    M "/logged-models/{model_id}/artifacts/directories", api_list_logged_model_artifacts, T, AUTH_LM_READ },
    { "GET",    M "/logged-models/{model_id}/artifacts/files", api_get_logged_model_artifact,
      ROUTE_TRACKING | ROUTE_STREAM, AUTH_LM_READ },
    { "POST",   M "/runs/log-model",                     api_log_model,                   T, AUTH_RUN_UPDATE },

    /* ---- issue 20: workspaces, as MLflow without --enable-workspaces (api/workspaces.c) ---- */
#define WS "/api/3.0/mlflow/workspaces"
    { "GET",    WS,                                      api_workspaces_disabled,   ROUTE_TEXT, AUTH_ANY_USER },
    { "POST",   WS,                                      api_workspaces_disabled,   ROUTE_TEXT, AUTH_ADMIN },   /* issue 16: sender_is_admin */
    { "GET",    WS "/{workspace_name}",                  api_workspaces_disabled,   ROUTE_TEXT, AUTH_ADMIN },   /* 403 on MLflow */
    { "PATCH",  WS "/{workspace_name}",                  api_workspaces_disabled,   ROUTE_TEXT, AUTH_ADMIN },
    { "DELETE", WS "/{workspace_name}",                  api_workspaces_disabled,   ROUTE_TEXT, AUTH_ADMIN },

    /* ---- model registry (api/registry.c) ---- */
    { "POST",   M "/registered-models/create",              api_create_registered_model,        T, AUTH_RM_CREATE },
    { "GET",    M "/registered-models/get",                 api_get_registered_model,           T, AUTH_RM_READ },
    { "POST",   M "/registered-models/rename",              api_rename_registered_model,        T, AUTH_RM_UPDATE },
    { "PATCH",  M "/registered-models/update",              api_update_registered_model,        T, AUTH_RM_UPDATE },
    { "DELETE", M "/registered-models/delete",              api_delete_registered_model,        T, AUTH_RM_DELETE },
    { "GET",    M "/registered-models/search",              api_search_registered_models,       T, AUTH_RM_SEARCH },
    { "POST",   M "/registered-models/get-latest-versions", api_get_latest_versions,            T, AUTH_MV_READ },
    { "GET",    M "/registered-models/get-latest-versions", api_get_latest_versions,            T, AUTH_MV_READ },
    { "POST",   M "/registered-models/set-tag",             api_set_registered_model_tag,       T, AUTH_RM_UPDATE },
    { "DELETE", M "/registered-models/delete-tag",          api_delete_registered_model_tag,    T, AUTH_RM_UPDATE },
    { "POST",   M "/registered-models/alias",               api_set_registered_model_alias,     T, AUTH_ALIAS_SET },
    { "DELETE", M "/registered-models/alias",               api_delete_registered_model_alias,  T, AUTH_ALIAS_DELETE },
    { "GET",    M "/registered-models/alias",               api_get_model_version_by_alias,     T, AUTH_MV_READ },
    { "POST",   M "/model-versions/create",                 api_create_model_version,           T, AUTH_MV_CREATE },
    { "GET",    M "/model-versions/get",                    api_get_model_version,              T, AUTH_MV_READ },
    { "PATCH",  M "/model-versions/update",                 api_update_model_version,           T, AUTH_MV_UPDATE },
    { "POST",   M "/model-versions/transition-stage",       api_transition_model_version_stage, T, AUTH_MV_UPDATE },
    { "DELETE", M "/model-versions/delete",                 api_delete_model_version,           T, AUTH_MV_DELETE },
    { "GET",    M "/model-versions/get-download-uri",       api_get_model_version_download_uri, T, AUTH_MV_READ },
    { "GET",    M "/model-versions/search",                 api_search_model_versions,          T, AUTH_MV_SEARCH },
    { "POST",   M "/model-versions/set-tag",                api_set_model_version_tag,          T, AUTH_MV_UPDATE },
    { "DELETE", M "/model-versions/delete-tag",             api_delete_model_version_tag,       T, AUTH_MV_DELETE },

    /* ---- issue 14: MLflow 3 tracing (api/traces.c; POST /v1/traces is api/otlp.c, above) ---- */
#define M3 "/api/3.0/mlflow"
    { "POST",   M3 "/traces",                                api_start_trace_v3,          T, AUTH_TRACE_START },
    { "GET",    M3 "/traces/get",                            api_get_trace,               T, AUTH_TRACE_READ },
    { "GET",    M3 "/traces/batchGet",                       api_batch_get_traces,        T, AUTH_TRACE_BATCH_READ },
    { "POST",   M3 "/traces/batchGetInfos",                  api_batch_get_trace_infos,   T, AUTH_TRACE_BATCH_READ },
    { "POST",   M3 "/traces/search",                         api_search_traces_v3,        T, AUTH_TRACE_SEARCH },
    { "POST",   M3 "/traces/delete-traces",                  api_delete_traces,           T, AUTH_TRACE_DELETE },
    { "POST",   M3 "/traces/metrics",                        api_query_trace_metrics,     T, AUTH_TRACE_SEARCH_IDS },
    { "POST",   M3 "/traces/calculate-filter-correlation",   api_calculate_trace_filter_correlation, T, AUTH_TRACE_SEARCH_IDS },
    { "POST",   M "/traces/delete-traces",                   api_delete_traces,           T, AUTH_TRACE_DELETE },
    { "POST",   M "/traces/link-to-run",                     api_link_traces_to_run,      T, AUTH_TRACE_LINK_RUN },
    /* the deprecated v2 routes */
    { "POST",   M "/traces",                                 api_start_trace_v2,          T, AUTH_TRACE_START_V2 },
    { "GET",    M "/traces",                                 api_search_traces_v2,        T, AUTH_TRACE_SEARCH_IDS },
    { "PATCH",  M "/traces/{request_id}",                    api_end_trace_v2,            T, AUTH_TRACE_UPDATE },
    { "GET",    M "/traces/{request_id}/info",               api_get_trace_info_v2,       T, AUTH_TRACE_READ },
    /* the UI's trace data download (MLflow serves it under /ajax-api/{2.0,3.0}/mlflow only) */
    { "GET",    M "/get-trace-artifact",                     api_get_trace_artifact,      ROUTE_TRACKING | ROUTE_STREAM, AUTH_TRACE_READ },
    { "GET",    M3 "/get-trace-artifact",                    api_get_trace_artifact,      ROUTE_TRACKING | ROUTE_STREAM, AUTH_TRACE_READ },
    { "POST",   M "/traces/link-prompts",                    api_link_prompts_to_trace,   T, AUTH_TRACE_UPDATE },
    { "GET",    M3 "/traces/{trace_id}",                     api_get_trace_info_v3,       T, AUTH_TRACE_READ },
    { "PATCH",  M3 "/traces/{trace_id}/tags",                api_set_trace_tag,           T, AUTH_TRACE_UPDATE },
    { "PATCH",  M "/traces/{request_id}/tags",               api_set_trace_tag,           T, AUTH_TRACE_UPDATE },
    { "DELETE", M3 "/traces/{trace_id}/tags",                api_delete_trace_tag,        T, AUTH_TRACE_UPDATE },
    { "DELETE", M "/traces/{request_id}/tags",               api_delete_trace_tag,        T, AUTH_TRACE_UPDATE },
    { "POST",   M3 "/traces/{trace_id}/assessments",         api_create_assessment,       T, AUTH_ASSESSMENT_CREATE },
    { "GET",    M3 "/traces/{trace_id}/assessments/{assessment_id}", api_get_assessment,   T, AUTH_ASSESSMENT_READ },
    { "PATCH",  M3 "/traces/{trace_id}/assessments/{assessment_id}", api_update_assessment, T, AUTH_ASSESSMENT_UPDATE },
    { "DELETE", M3 "/traces/{trace_id}/assessments/{assessment_id}", api_delete_assessment, T, AUTH_ASSESSMENT_DELETE },
    /* ---- issue 21: GenAI evaluation datasets (api/eval_datasets.c) ---- */
#define DS "/api/3.0/mlflow/datasets"
    { "POST",   DS "/create",                               api_create_eval_dataset,     T, AUTH_DATASET_CREATE },
    { "GET",    DS "/search",                               api_search_eval_datasets,    T, AUTH_DATASET_SEARCH },
    { "POST",   DS "/search",                               api_search_eval_datasets,    T, AUTH_DATASET_SEARCH },
    { "GET",    DS "/{dataset_id}",                         api_get_eval_dataset,        T, AUTH_DATASET_READ },
    { "DELETE", DS "/{dataset_id}",                         api_delete_eval_dataset,     T, AUTH_DATASET_DELETE },
    { "PATCH",  DS "/{dataset_id}/tags",                    api_set_eval_dataset_tags,   T, AUTH_DATASET_UPDATE },
    { "DELETE", DS "/{dataset_id}/tags/{key}",              api_delete_eval_dataset_tag, T, AUTH_DATASET_UPDATE },
    { "POST",   DS "/{dataset_id}/records",                 api_upsert_eval_records,     T, AUTH_DATASET_UPDATE },
    { "GET",    DS "/{dataset_id}/records",                 api_get_eval_records,        T, AUTH_DATASET_READ },
    { "DELETE", DS "/{dataset_id}/records",                 api_delete_eval_records,     T, AUTH_DATASET_UPDATE },
    { "GET",    DS "/{dataset_id}/experiment-ids",          api_get_eval_dataset_experiment_ids, T, AUTH_DATASET_READ },
    { "POST",   DS "/{dataset_id}/add-experiments",         api_add_eval_dataset_experiments,    T, AUTH_DATASET_ADD_EXPERIMENTS },
    { "POST",   DS "/{dataset_id}/remove-experiments",      api_remove_eval_dataset_experiments, T, AUTH_DATASET_UPDATE },
    { "POST",   M3 "/genai/evaluate/invoke",                api_genai_evaluate_invoke,   T, AUTH_GENAI_EVALUATE_INVOKE },
    /* ---- issue 21: registered scorers (api/scorers.c) ---- */
#define SC "/api/3.0/mlflow/scorers"
    { "POST",   SC "/register",                             api_register_scorer,         T, AUTH_SCORER_REGISTER },
    { "GET",    SC "/list",                                 api_list_scorers,            T, AUTH_SCORER_LIST },
    { "GET",    SC "/versions",                             api_list_scorer_versions,    T, AUTH_SCORER_READ },
    { "GET",    SC "/get",                                  api_get_scorer,              T, AUTH_SCORER_READ },
    { "DELETE", SC "/delete",                               api_delete_scorer,           T, AUTH_SCORER_DELETE },
    { "GET",    SC "/online-configs",                       api_get_online_scoring_configs,   T, AUTH_SCORER_CONFIGS_READ },
    { "PUT",    SC "/online-config",                        api_upsert_online_scoring_config, T, AUTH_SCORER_CONFIG_UPDATE },
    { "POST",   M3 "/scorer/invoke",                        api_invoke_scorer,           T, AUTH_SCORER_INVOKE },
    /* ---- issue 21: labelling — issues, label schemas, review queues (api/labeling.c) ---- */
#define IS "/api/3.0/mlflow/issues"
#define LS "/api/3.0/mlflow/label-schemas"
#define RQ "/api/3.0/mlflow/review-queues"
    { "POST",   IS,                                         api_create_issue,            T, AUTH_ISSUE_CREATE },
    { "POST",   IS "/search",                               api_search_issues,           T, AUTH_ISSUE_SEARCH },
    { "GET",    IS "/{issue_id}",                           api_get_issue,               T, AUTH_ISSUE_READ },
    { "PATCH",  IS "/{issue_id}",                           api_update_issue,            T, AUTH_ISSUE_UPDATE },
    { "POST",   M3 "/issues/invoke",                        api_invoke_issue_detection,  T, AUTH_ISSUE_INVOKE },
    { "POST",   LS "/create",                               api_create_label_schema,     T, AUTH_LABEL_SCHEMA_CREATE },
    { "GET",    LS "/get",                                  api_get_label_schema,        T, AUTH_LABEL_SCHEMA_READ },
    { "GET",    LS "/get-by-name",                          api_get_label_schema_by_name, T, AUTH_LABELING_EXP_READ },
    { "GET",    LS "/list",                                 api_list_label_schemas,      T, AUTH_LABELING_EXP_READ },
    { "PATCH",  LS "/update",                               api_update_label_schema,     T, AUTH_LABEL_SCHEMA_MANAGE },
    { "DELETE", LS "/delete",                               api_delete_label_schema,     T, AUTH_LABEL_SCHEMA_MANAGE },
    { "POST",   RQ "/create",                               api_create_review_queue,     T, AUTH_RQ_CREATE },
    { "POST",   RQ "/get-or-create-user",                   api_get_or_create_user_queue, T, AUTH_RQ_CREATE },
    { "GET",    RQ "/get",                                  api_get_review_queue,        T, AUTH_RQ_VIEW },
    { "GET",    RQ "/get-by-name",                          api_get_review_queue_by_name, T, AUTH_RQ_VIEW_BY_NAME },
    { "GET",    RQ "/list",                                 api_list_review_queues,      T, AUTH_RQ_LIST },
    { "POST",   RQ "/update",                               api_update_review_queue,     T, AUTH_RQ_UPDATE },
    { "POST",   RQ "/delete",                               api_delete_review_queue,     T, AUTH_RQ_DELETE },
    { "POST",   RQ "/items/add",                            api_add_review_items,        T, AUTH_RQ_ADD_ITEMS },
    { "POST",   RQ "/items/remove",                         api_remove_review_items,     T, AUTH_RQ_DELETE },
    { "GET",    RQ "/items/list",                           api_list_review_items,       T, AUTH_RQ_VIEW },
    { "POST",   RQ "/items/set-status",                     api_set_review_item_status,  T, AUTH_RQ_REVIEW },
    /* ---- issue 12: what MLflow's web UI calls besides the REST API (api/graphql.c, api/ui.c) ---- */
    { "POST",   "/graphql",                                 api_graphql,                 T, AUTH_ANY_USER },
    { "GET",    "/graphql",                                 api_graphql,                 T, AUTH_ANY_USER },
    { "POST",   M "/experiments/search-datasets",           api_search_datasets,         T, AUTH_EXP_IDS_READ },
    { "GET",    M3 "/ui-telemetry",                         api_ui_telemetry_get,        J, AUTH_ANY_USER },
    { "POST",   M3 "/ui-telemetry",                         api_ui_telemetry_post,       J, AUTH_ANY_USER },
    { "GET",    M "/gateway-proxy",                         api_gateway_proxy,           T, AUTH_ANY_USER },   /* validate_gateway_proxy */
    { "POST",   M "/gateway-proxy",                         api_gateway_proxy,           T, AUTH_ANY_USER },
    { "GET",    M3 "/gateway/endpoints/list",               api_empty_list,              T, AUTH_ANY_USER },
    { "GET",    M3 "/gateway/secrets/list",                 api_empty_list,              T, AUTH_ANY_USER },
    { "GET",    M3 "/gateway/model-definitions/list",       api_empty_list,              T, AUTH_ANY_USER },
    { "GET",    M3 "/gateway/guardrails/list",              api_empty_list,              T, AUTH_ADMIN },
    { "GET",    M3 "/gateway/budgets/list",                 api_empty_list,              T, AUTH_ANY_USER },
    { "GET",    M3 "/assistant/config",                     api_assistant_config,        J, AUTH_ANY_USER },
    { "GET",    M3 "/assistant/providers",                  api_assistant_providers,     J, AUTH_ANY_USER },
    { "POST",   M "/artifacts/presigned-upload-url",        api_presigned_upload_url,    T, AUTH_PRESIGNED_UPLOAD },
    { "POST",   M "/artifacts/presigned-download-url",      api_presigned_download_url,  T, AUTH_RUN_READ },
    { "POST",   M "/upload-artifact",                       api_upload_artifact,         ROUTE_TRACKING | ROUTE_STREAM,
      AUTH_RUN_UPDATE },   /* run_id falls back to run_uuid */

    /* ---- issue 16: the basic-auth app (api/auth_api.c), only with --app-name basic-auth ---- */
#define U (ROUTE_JSON | ROUTE_AUTH_APP)
    { "GET",    "/signup",                           api_auth_signup,                  ROUTE_TEXT | ROUTE_AUTH_APP, AUTH_USER_CREATE },
    { "POST",   M "/users/create-ui",                api_auth_create_user_ui,          ROUTE_STREAM | ROUTE_AUTH_APP, AUTH_USER_CREATE },
    { "POST",   M "/users/create",                   api_auth_create_user,             U, AUTH_USER_CREATE },
    { "GET",    M "/users/get",                      api_auth_get_user,                U, AUTH_USER_SELF },
    { "GET",    M "/users/list",                     api_auth_list_users,              U, AUTH_USER_LIST },
    { "GET",    M "/users/current",                  api_auth_get_current_user,        U, AUTH_ANY_USER },
    { "GET",    M3 "/users/current/permissions",     api_auth_list_current_user_permissions, U, AUTH_ANY_USER },
    { "GET",    M3 "/users/permissions/list",        api_auth_list_user_permissions,   U, AUTH_USER_ROLES_VIEW },
    { "PATCH",  M "/users/update-password",          api_auth_update_user_password,    U, AUTH_USER_SELF },
    { "PATCH",  M "/users/update-admin",             api_auth_update_user_admin,       U, AUTH_ADMIN },
    { "DELETE", M "/users/delete",                   api_auth_delete_user,             U, AUTH_ADMIN },
    { "POST",   M3 "/users/permissions/grant",       api_auth_grant_user_permission,   U, AUTH_RESOURCE_MANAGE },
    { "POST",   M3 "/users/permissions/revoke",      api_auth_revoke_user_permission,  U, AUTH_RESOURCE_MANAGE },
    { "GET",    M3 "/users/permissions/get",         api_auth_get_user_permission,     U, AUTH_USER_PERMISSION_GET },
    { "GET",    M3 "/users/roles/list",              api_auth_list_user_roles,         U, AUTH_USER_ROLES_VIEW },
    { "POST",   M3 "/roles/create",                  api_auth_create_role,             U, AUTH_ROLES_MANAGE },
    { "GET",    M3 "/roles/get",                     api_auth_get_role,                U, AUTH_ROLES_VIEW },
    { "GET",    M3 "/roles/list",                    api_auth_list_roles,              U, AUTH_ROLES_LIST },
    { "PATCH",  M3 "/roles/update",                  api_auth_update_role,             U, AUTH_ROLES_MANAGE },
    { "DELETE", M3 "/roles/delete",                  api_auth_delete_role,             U, AUTH_ROLES_MANAGE },
    { "POST",   M3 "/roles/permissions/add",         api_auth_add_role_permission,     U, AUTH_ROLES_MANAGE },
    { "DELETE", M3 "/roles/permissions/remove",      api_auth_remove_role_permission,  U, AUTH_ROLES_MANAGE },
    { "GET",    M3 "/roles/permissions/list",        api_auth_list_role_permissions,   U, AUTH_ROLES_VIEW },
    { "PATCH",  M3 "/roles/permissions/update",      api_auth_update_role_permission,  U, AUTH_ROLES_MANAGE },
    { "POST",   M3 "/roles/assign",                  api_auth_assign_role,             U, AUTH_ROLES_MANAGE },
    { "DELETE", M3 "/roles/unassign",                api_auth_unassign_role,           U, AUTH_ROLES_MANAGE },
    { "GET",    M3 "/roles/users/list",              api_auth_list_role_users,         U, AUTH_ROLES_MANAGE },
};

const size_t api_routes_count = sizeof api_routes / sizeof api_routes[0];
