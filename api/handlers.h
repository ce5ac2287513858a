/* Every endpoint handler, one per MLflow RPC; the table in api/routes.c maps URLs to them. */
#ifndef CAIRN_HANDLERS_H
#define CAIRN_HANDLERS_H
#include "api.h"

#define HANDLER(name) int name(struct request *req, struct response *resp, struct error *err)

/* meta.c */
HANDLER(api_health);
HANDLER(api_version);
HANDLER(api_server_info);
HANDLER(api_otlp_traces);
/* workspaces.c (issue 20) */
HANDLER(api_workspaces_disabled);
/* experiments.c */
HANDLER(api_create_experiment);
HANDLER(api_get_experiment);
HANDLER(api_get_experiment_by_name);
HANDLER(api_search_experiments);
HANDLER(api_update_experiment);
HANDLER(api_delete_experiment);
HANDLER(api_restore_experiment);
HANDLER(api_set_experiment_tag);
HANDLER(api_delete_experiment_tag);
/* runs.c */
HANDLER(api_create_run);
HANDLER(api_get_run);
HANDLER(api_update_run);
HANDLER(api_delete_run);
HANDLER(api_restore_run);
HANDLER(api_set_tag);
HANDLER(api_delete_tag);
HANDLER(api_log_param);
HANDLER(api_log_metric);
HANDLER(api_log_batch);
HANDLER(api_log_inputs);
HANDLER(api_log_outputs);
HANDLER(api_search_runs);
/* metrics.c */
HANDLER(api_get_metric_history);
HANDLER(api_get_metric_history_bulk);
HANDLER(api_get_metric_history_bulk_interval);
/* artifacts.c (issue 3: artifact proxy) */
HANDLER(api_artifact_upload);
HANDLER(api_artifact_download);
HANDLER(api_artifact_delete);
HANDLER(api_artifact_list);
HANDLER(api_artifact_mpu_create);
HANDLER(api_artifact_mpu_complete);
HANDLER(api_artifact_mpu_abort);
HANDLER(api_artifact_presigned);
HANDLER(api_list_artifacts);
HANDLER(api_get_artifact);
HANDLER(api_get_model_version_artifact);
/* logged_models.c (issue 3: MLflow 3 logged models) */
HANDLER(api_create_logged_model);
HANDLER(api_get_logged_model);
HANDLER(api_finalize_logged_model);
HANDLER(api_delete_logged_model);
HANDLER(api_search_logged_models);
/* issue 16: whether a SearchLoggedModels filter compares attribute column (true when it does not parse) */
bool lm_filter_selects_attribute(struct arena *a, const char *filter, const char *column);
HANDLER(api_set_logged_model_tags);
HANDLER(api_delete_logged_model_tag);
HANDLER(api_log_logged_model_params);
HANDLER(api_list_logged_model_artifacts);
HANDLER(api_get_logged_model_artifact);
HANDLER(api_log_model);
/* registry.c: the model registry (registered models, versions, aliases, prompts) */
HANDLER(api_create_registered_model);
HANDLER(api_get_registered_model);
HANDLER(api_rename_registered_model);
HANDLER(api_update_registered_model);
HANDLER(api_delete_registered_model);
HANDLER(api_search_registered_models);
HANDLER(api_get_latest_versions);
HANDLER(api_set_registered_model_tag);
HANDLER(api_delete_registered_model_tag);
HANDLER(api_set_registered_model_alias);
HANDLER(api_delete_registered_model_alias);
HANDLER(api_get_model_version_by_alias);
HANDLER(api_create_model_version);
HANDLER(api_get_model_version);
HANDLER(api_update_model_version);
HANDLER(api_transition_model_version_stage);
HANDLER(api_delete_model_version);
HANDLER(api_get_model_version_download_uri);
HANDLER(api_search_model_versions);
HANDLER(api_set_model_version_tag);
HANDLER(api_delete_model_version_tag);
/* traces.c, otlp.c (issue 14: MLflow 3 tracing) */
HANDLER(api_start_trace_v3);
HANDLER(api_get_trace_info_v3);
HANDLER(api_get_trace);
HANDLER(api_batch_get_traces);
HANDLER(api_batch_get_trace_infos);
HANDLER(api_search_traces_v3);
HANDLER(api_delete_traces);
HANDLER(api_set_trace_tag);
HANDLER(api_delete_trace_tag);
HANDLER(api_link_traces_to_run);
HANDLER(api_link_prompts_to_trace);
HANDLER(api_create_assessment);
HANDLER(api_get_assessment);
HANDLER(api_update_assessment);
HANDLER(api_delete_assessment);
HANDLER(api_query_trace_metrics);
HANDLER(api_calculate_trace_filter_correlation);
HANDLER(api_start_trace_v2);
HANDLER(api_end_trace_v2);
HANDLER(api_get_trace_info_v2);
HANDLER(api_search_traces_v2);
HANDLER(api_get_trace_artifact);
/* ---- issue 12: the web UI's routes ---- */
/* graphql.c */
HANDLER(api_graphql);
/* ui.c */
HANDLER(api_search_datasets);
HANDLER(api_ui_telemetry_get);
HANDLER(api_ui_telemetry_post);
HANDLER(api_gateway_proxy);
HANDLER(api_empty_list);
HANDLER(api_assistant_config);
HANDLER(api_assistant_providers);
HANDLER(api_presigned_upload_url);
HANDLER(api_presigned_download_url);
/* auth_api.c (issue 16: the basic-auth app) */
HANDLER(api_auth_signup);
HANDLER(api_auth_create_user_ui);
HANDLER(api_auth_create_user);
HANDLER(api_auth_get_user);
HANDLER(api_auth_list_users);
HANDLER(api_auth_get_current_user);
HANDLER(api_auth_list_current_user_permissions);
HANDLER(api_auth_list_user_permissions);
HANDLER(api_auth_update_user_password);
HANDLER(api_auth_update_user_admin);
HANDLER(api_auth_delete_user);
HANDLER(api_auth_grant_user_permission);
HANDLER(api_auth_revoke_user_permission);
HANDLER(api_auth_get_user_permission);
HANDLER(api_auth_list_user_roles);
HANDLER(api_auth_create_role);
HANDLER(api_auth_get_role);
HANDLER(api_auth_list_roles);
HANDLER(api_auth_update_role);
HANDLER(api_auth_delete_role);
HANDLER(api_auth_add_role_permission);
HANDLER(api_auth_remove_role_permission);
HANDLER(api_auth_list_role_permissions);
HANDLER(api_auth_update_role_permission);
HANDLER(api_auth_assign_role);
HANDLER(api_auth_unassign_role);
HANDLER(api_auth_list_role_users);
HANDLER(api_upload_artifact);
/* ---- issue 21: GenAI evaluation ---- */
/* eval_datasets.c */
HANDLER(api_create_eval_dataset);
HANDLER(api_get_eval_dataset);
HANDLER(api_delete_eval_dataset);
HANDLER(api_search_eval_datasets);
HANDLER(api_set_eval_dataset_tags);
HANDLER(api_delete_eval_dataset_tag);
HANDLER(api_upsert_eval_records);
HANDLER(api_get_eval_records);
HANDLER(api_delete_eval_records);
HANDLER(api_get_eval_dataset_experiment_ids);
HANDLER(api_add_eval_dataset_experiments);
HANDLER(api_remove_eval_dataset_experiments);
HANDLER(api_genai_evaluate_invoke);
/* scorers.c */
HANDLER(api_register_scorer);
HANDLER(api_list_scorers);
HANDLER(api_list_scorer_versions);
HANDLER(api_get_scorer);
HANDLER(api_delete_scorer);
HANDLER(api_get_online_scoring_configs);
HANDLER(api_upsert_online_scoring_config);
HANDLER(api_invoke_scorer);
/* issue 21: labelling (api/labeling.c) */
HANDLER(api_create_issue);
HANDLER(api_get_issue);
HANDLER(api_update_issue);
HANDLER(api_search_issues);
HANDLER(api_invoke_issue_detection);
HANDLER(api_create_label_schema);
HANDLER(api_get_label_schema);
HANDLER(api_get_label_schema_by_name);
HANDLER(api_list_label_schemas);
HANDLER(api_update_label_schema);
HANDLER(api_delete_label_schema);
HANDLER(api_create_review_queue);
HANDLER(api_get_or_create_user_queue);
HANDLER(api_get_review_queue);
HANDLER(api_get_review_queue_by_name);
HANDLER(api_list_review_queues);
HANDLER(api_update_review_queue);
HANDLER(api_delete_review_queue);
HANDLER(api_add_review_items);
HANDLER(api_remove_review_items);
HANDLER(api_list_review_items);
HANDLER(api_set_review_item_status);
/* issue 12: the MCP server registry (api/mcp_servers.c) */
HANDLER(api_mcp_create_server);
HANDLER(api_mcp_search_servers);
HANDLER(api_mcp_get_server);
HANDLER(api_mcp_update_server);
HANDLER(api_mcp_delete_server);
HANDLER(api_mcp_create_version);
HANDLER(api_mcp_search_versions);
HANDLER(api_mcp_get_version);
HANDLER(api_mcp_update_version);
HANDLER(api_mcp_delete_version);
HANDLER(api_mcp_get_version_by_alias);
HANDLER(api_mcp_create_endpoint);
HANDLER(api_mcp_search_all_endpoints);
HANDLER(api_mcp_search_endpoints);
HANDLER(api_mcp_get_endpoint);
HANDLER(api_mcp_update_endpoint);
HANDLER(api_mcp_delete_endpoint);
HANDLER(api_mcp_set_server_tag);
HANDLER(api_mcp_delete_server_tag);
HANDLER(api_mcp_set_version_tag);
HANDLER(api_mcp_delete_version_tag);
HANDLER(api_mcp_set_alias);
HANDLER(api_mcp_delete_alias);
#endif
