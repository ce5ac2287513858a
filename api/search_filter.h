/* MLflow's search filter and order_by strings → the AST in store/search.h.
 * The grammar is the one MLflow's sqlparse-based SearchUtils accepts
 * (reference/mlflow-protocol.md §3); errors are ERR_INVALID_PARAMETER_VALUE
 * with MLflow's messages. All memory comes from the arena. */
#ifndef CAIRN_SEARCH_FILTER_H
#define CAIRN_SEARCH_FILTER_H
#include "../store/search.h"

/* SearchRuns filter_string; NULL or "" gives an empty filter. */
int sf_parse_run_filter(struct arena *a, const char *filter, struct sf_filter *out,
                        struct error *err);
/* SearchExperiments filter (name, experiment_id, creation_time,
 * last_update_time, tags.*). experiment_id values are normalised to decimal. */
int sf_parse_experiment_filter(struct arena *a, const char *filter, struct sf_filter *out,
                               struct error *err);
/* SearchRuns order_by: "<ident> [ASC|DESC]" each; duplicates rejected. */
int sf_parse_run_order_by(struct arena *a, const char *const *order_by, size_t n,
                          struct sf_order_list *out, struct error *err);
/* SearchExperiments order_by: attributes only. */
int sf_parse_experiment_order_by(struct arena *a, const char *const *order_by, size_t n,
                                 struct sf_order_list *out, struct error *err);
/* issue 14: SearchTraces filter (MLflow's trace grammar: trace./attributes.,
 * tag., metadata., span., feedback., expectation.; name, run_id, prompt and
 * text mapped as MLflow maps them) and order_by. */
int sf_parse_trace_filter(struct arena *a, const char *filter, struct sf_filter *out, struct error *err);
int sf_parse_trace_order_by(struct arena *a, const char *const *order_by, size_t n, struct sf_order_list *out,
                            struct error *err);
/* issue 12: one QueryTraceMetrics filter (SearchTraceMetricsUtils): trace.status
 * (SF_ATTR status), trace.tag.<k>, trace.metadata.<k>, span.name|status|type,
 * assessment.name|type (SF_ASSESSMENT); '=' with a quoted string only. */
int sf_parse_trace_metric_filter(struct arena *a, const char *filter, struct sf_filter *out, struct error *err);
/* issue 21: SearchEvaluationDatasets filter (name, created_time, last_update_time,
 * created_by, last_updated_by, tags.<key>) and order_by (name, created_time,
 * last_update_time). */
int sf_parse_eval_dataset_filter(struct arena *a, const char *filter, struct sf_filter *out, struct error *err);
int sf_parse_eval_dataset_order_by(struct arena *a, const char *const *order_by, size_t n,
                                   struct sf_order_list *out, struct error *err);
/* issue 21: SearchIssues filter: status and source_run_id with = and != (SearchIssuesUtils) */
int sf_parse_issue_filter(struct arena *a, const char *filter, struct sf_filter *out, struct error *err);
/* issue 12: the MCP server registry's searches: attribute keys, tags (servers
 * only), comparators and list keys as SearchMCP*Utils and the store mixin
 * check them. A `version` clause's SemVer checks are api/mcp_servers.c's. */
enum sf_mcp_kind { SF_MCP_SERVER, SF_MCP_VERSION, SF_MCP_ENDPOINT };
int sf_parse_mcp_filter(struct arena *a, const char *filter, enum sf_mcp_kind kind, struct sf_filter *out,
                        struct error *err);
int sf_parse_mcp_order_by(struct arena *a, const char *const *order_by, size_t n, enum sf_mcp_kind kind,
                          struct sf_order_list *out, struct error *err);
#endif
