/* MLflow 3 traces: trace info, tags, metadata, spans, links and
 * assessments in PostgreSQL (sql/005_traces.sql). No HTTP or JSON parsing
 * here: api/traces.c and api/otlp.c hand in domain structs. */
#ifndef CAIRN_STORE_TRACES_H
#define CAIRN_STORE_TRACES_H
#include "search.h"
#include "tracking.h"

/* tags and metadata the store itself writes, as MLflow names them */
#define TRACE_TAG_ARTIFACT_LOCATION "mlflow.artifactLocation"
#define TRACE_TAG_SPANS_LOCATION "mlflow.trace.spansLocation"
#define TRACE_TAG_NAME "mlflow.traceName"
#define TRACE_TAG_LINKED_PROMPTS "mlflow.linkedPrompts"   /* set by the client */
#define TRACE_META_FINALIZED "mlflow.trace.infoFinalized"
#define TRACE_META_SOURCE_RUN "mlflow.sourceRun"
#define TRACE_META_SIZE_STATS "mlflow.trace.sizeStats"

struct assessment {
    const char *assessment_id, *trace_id, *name;
    const char *kind;            /* "feedback" | "expectation" */
    const char *value_json;      /* the feedback / expectation object, JSON text */
    const char *source_type, *source_id, *span_id, *run_id, *rationale;   /* NULL: unset */
    const char *metadata_json;   /* a JSON object of strings, or NULL */
    const char *overrides;       /* NULL: none */
    bool valid;
    int64_t create_time, last_update_time;   /* ms */
};

struct trace_info {
    const char *trace_id;
    int64_t experiment_id;
    int64_t request_time;                  /* ms */
    bool has_duration;
    int64_t execution_duration;            /* ms */
    const char *state;                     /* OK | ERROR | IN_PROGRESS | STATE_UNSPECIFIED */
    const char *client_request_id, *request_preview, *response_preview;   /* NULL: unset */
    struct kv *tags;       size_t n_tags;
    struct kv *metadata;   size_t n_metadata;
    struct assessment *assessments; size_t n_assessments;
};

/* One span as stored: content is its OTLP JSON, sent back as is. */
struct span_row {
    const char *trace_id, *span_id, *parent_span_id;   /* parent NULL for a root span */
    const char *name, *span_type, *status;             /* span_type may be NULL */
    int64_t start_ns;
    bool has_end;
    int64_t end_ns;
    const char *content;
    size_t content_len;    /* strlen(content) when read back; 0: not known */
};

/* A span arriving over OTLP, with what the trace row learns from it. */
struct span_in {
    struct span_row row;
    const char *inputs_json, *outputs_json;   /* mlflow.spanInputs / Outputs as JSON text, or NULL */
    struct kv *trace_tags; size_t n_trace_tags;   /* root span's mlflow.traceTag.* attributes */
};

struct trace {
    struct trace_info info;
    struct span_row *spans; size_t n_spans;   /* root first, then by start time */
};

/* start_trace (v3): create or complete the trace row (spans may have come first). */
int store_start_trace(struct arena *a, const struct trace_info *in, struct trace_info *out, struct error *err);
/* the deprecated v2 start/end routes: the same upsert, without marking the trace final */
int store_put_trace_v2(struct arena *a, const struct trace_info *in, struct trace_info *out, struct error *err);
int store_get_trace_info(struct arena *a, const char *trace_id, struct trace_info *out, struct error *err);
/* Traces by id, in the order asked, unknown ids skipped. experiment_ids NULL:
 * any experiment. with_spans: load the spans (complete traces only unless
 * allow_partial; incomplete ones are left out). */
int store_get_traces(struct arena *a, const char *const *ids, size_t n_ids, const int64_t *experiment_ids,
                     size_t n_experiments, bool with_spans, bool allow_partial, struct trace **out, size_t *n,
                     struct error *err);

/* ---- search ---- */
struct trace_search {
    const int64_t *experiment_ids; size_t n_experiments;
    struct sf_filter filter;          /* parsed by sf_parse_trace_filter */
    struct sf_order_list order;       /* parsed by sf_parse_trace_order_by */
    int64_t offset, limit;
};
int store_search_traces(struct arena *a, const struct trace_search *s, struct trace_info **out, size_t *n,
                        struct error *err);

/* delete-traces: by ids (max_* ignored) or older than max_timestamp_millis, at most max_traces. */
int store_delete_traces(struct arena *a, int64_t experiment_id, const char *const *ids, size_t n_ids,
                        bool has_max_timestamp, int64_t max_timestamp, bool has_max_traces, int64_t max_traces,
                        int64_t *deleted, struct error *err);
int store_set_trace_tag(struct arena *a, const char *trace_id, const char *key, const char *value,
                        struct error *err);
int store_delete_trace_tag(struct arena *a, const char *trace_id, const char *key, struct error *err);
int store_link_traces_to_run(struct arena *a, const char *const *ids, size_t n, const char *run_id,
                             struct error *err);
/* prompts: "name/version" targets (MLflow's entity associations; no tag) */
int store_link_prompts_to_trace(struct arena *a, const char *trace_id, const char *const *names,
                                const char *const *versions, size_t n, struct error *err);

/* OTLP ingest: all spans in one transaction (all or nothing). */
int store_log_spans(struct arena *a, int64_t experiment_id, const struct span_in *spans, size_t n,
                    struct error *err);

/* ---- analytics: QueryTraceMetrics and CalculateTraceFilterCorrelation ---- */
enum trace_metric_view { TMV_TRACES, TMV_SPANS, TMV_ASSESSMENTS };
enum trace_metric_agg { TMA_COUNT, TMA_SUM, TMA_AVG, TMA_MIN, TMA_MAX, TMA_PERCENTILE };
#define TRACE_METRIC_MAX_AGGS 8
#define TRACE_METRIC_MAX_DIMS 4
struct trace_metric_query {
    enum trace_metric_view view;
    const char *metric_name;        /* validated by api/ against MLflow's table */
    const int64_t *experiment_ids; size_t n_experiments;
    enum trace_metric_agg aggs[TRACE_METRIC_MAX_AGGS];
    double percentiles[TRACE_METRIC_MAX_AGGS];
    size_t n_aggs;
    const char *dims[TRACE_METRIC_MAX_DIMS]; size_t n_dims;
    struct sf_filter filter;        /* trace./span. clauses (span. ones apply to the span rows in the SPANS view) */
    int64_t interval_s;             /* 0: no time buckets */
    bool has_start, has_end;
    int64_t start_ms, end_ms;
    int64_t offset, limit;
};
struct trace_metric_point {
    /* time_bucket first when bucketed; an assessment_value is 'v' + the value's JSON
     * (a protobuf Value) or 's' + an expectation's serialized JSON text */
    const char *dim_values[TRACE_METRIC_MAX_DIMS + 1];
    bool has_value[TRACE_METRIC_MAX_AGGS];
    double values[TRACE_METRIC_MAX_AGGS];
};
int store_query_trace_metrics(struct arena *a, const struct trace_metric_query *q, struct trace_metric_point **out,
                              size_t *n, struct error *err);

struct trace_correlation_counts { int64_t filter1, filter2, joint, total; };
int store_trace_correlation_counts(struct arena *a, const int64_t *experiment_ids, size_t n_experiments,
                                   const struct sf_filter *f1, const struct sf_filter *f2,
                                   const struct sf_filter *base, struct trace_correlation_counts *out,
                                   struct error *err);

/* ---- assessments ---- */
int store_create_assessment(struct arena *a, const struct assessment *in, struct assessment *out,
                            struct error *err);
int store_get_assessment(struct arena *a, const char *trace_id, const char *assessment_id, struct assessment *out,
                         struct error *err);
/* update: the fields set in `set` replace the stored ones (NULL / false: keep) */
struct assessment_update {
    const char *name, *kind, *value_json, *rationale, *metadata_json;
    bool set_valid, valid;
};
int store_update_assessment(struct arena *a, const char *trace_id, const char *assessment_id,
                            const struct assessment_update *u, struct assessment *out, struct error *err);
int store_delete_assessment(struct arena *a, const char *trace_id, const char *assessment_id, struct error *err);
#endif
