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
#endif
