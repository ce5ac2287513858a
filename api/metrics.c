/* /api/2.0/mlflow/metrics/… */
#include "common.h"
#include "handlers.h"
#include <stdlib.h>
#include <string.h>

#define MAX_RUNS_BULK 100
#define MAX_RESULTS_PER_RUN 2500
#define MAX_RESULTS_BULK 25000

/* Pages the Python client asks for (25,000 points) are built in memory; a
 * bigger or unbounded read streams in chunks, so a 1M-point history never
 * sits whole in the server. */
#define HISTORY_STREAM_ABOVE 25000
#define FLUSH_AT (256 * 1024)

struct history_out {
    struct request *req;
    struct strbuf sb;
    struct jw w;
    int64_t max_results;    /* -1: all */
    int64_t emitted;
    bool started, more, failed;
};

static int flush(struct history_out *h)
{
    if (h->req->out.write(h->req->out.ctx, h->sb.buf, h->sb.len)) {
        h->failed = true;   /* the client went away */
        return -1;
    }
    h->sb.len = 0;
    h->sb.buf[0] = '\0';
    return 0;
}

static int history_sink(void *ctx, const struct metric *m, size_t n)
{
    struct history_out *h = ctx;
    if (!h->started) {
        if (h->req->out.begin(h->req->out.ctx, 200, "application/json", -1, NULL) < 0) {
            h->failed = true;
            return -1;
        }
        h->started = true;
        jw_obj(&h->w);
        jw_karr(&h->w, "metrics");
    }
    for (size_t i = 0; i < n; i++) {
        if (h->max_results >= 0 && h->emitted == h->max_results) {
            h->more = true;   /* the extra row fetched to know a next page exists */
            return 0;
        }
        write_metric(&h->w, &m[i]);
        h->emitted++;
        if (h->sb.len >= FLUSH_AT && flush(h))
            return -1;
    }
    return 0;
}

static int history_streamed(struct request *req, struct response *resp, const char *run_id, const char *key,
                            int64_t offset, int64_t max_results, struct error *err)
{
    struct history_out h = { .req = req, .max_results = max_results };
    sb_init(&h.sb, req->arena, FLUSH_AT + 4096);
    jw_init(&h.w, &h.sb);
    int rc = store_metric_history_each(run_id, key, offset, max_results >= 0 ? max_results + 1 : -1,
                                       history_sink, &h, err);
    if (!h.started) {
        if (rc && err->code != ERR_RESOURCE_DOES_NOT_EXIST)
            return -1;   /* nothing sent yet: an ordinary error reply */
        return reply_empty(resp);   /* MLflow: a run that does not exist has no history, 200 {} */
    }
    req->streamed = true;
    if (rc || h.failed) {
        req->out.abort(req->out.ctx);   /* cut short: the client sees a broken reply, never a partial one */
        return 0;
    }
    jw_arr_end(&h.w);
    if (h.more)
        jw_kstr(&h.w, "next_page_token", page_token_encode(req->arena, offset + max_results));
    jw_obj_end(&h.w);
    if (flush(&h) || req->out.end(req->out.ctx))
        req->out.abort(req->out.ctx);
    return 0;
}

int api_get_metric_history(struct request *req, struct response *resp, struct error *err)
{
    const char *run_id, *key, *token = NULL;
    int64_t max_results = -1, offset;
    bool has_max;
    if (get_run_id(req->input, &run_id, err) ||
        json_get_string(req->input, "metric_key", true, &key, err) ||
        json_get_string(req->input, "page_token", false, &token, err) ||
        json_get_int64(req->input, "max_results", false, &max_results, &has_max, err) ||
        page_token_decode(req->arena, token, &offset, err))
        return -1;
    if (has_max && max_results <= 0)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "Invalid value %lld for parameter 'max_results' supplied. It must be a positive integer.",
                         (long long)max_results);
    if (!has_max || max_results > HISTORY_STREAM_ABOVE)
        return history_streamed(req, resp, run_id, key, offset, has_max ? max_results : -1, err);
    struct metric *m;
    size_t n;
    if (store_metric_history(req->arena, run_id, key, offset, max_results + 1, &m, &n, err))
        return err->code == ERR_RESOURCE_DOES_NOT_EXIST ? reply_empty(resp) : -1;   /* as above */
    size_t shown = n > (size_t)max_results ? (size_t)max_results : n;
    struct jw w;
    reply_begin(resp, &w);
    if (shown) {
        jw_karr(&w, "metrics");
        for (size_t i = 0; i < shown; i++)
            write_metric(&w, &m[i]);
        jw_arr_end(&w);
    }
    if (shown < n)
        jw_kstr(&w, "next_page_token", page_token_encode(req->arena, offset + max_results));
    reply_end(&w);
    return 0;
}

static int get_run_ids(struct request *req, const char *field, const char ***ids, size_t *n, struct error *err)
{
    if (json_get_string_array(req->arena, req->input, field, ids, n, err))
        return -1;
    if (*n == 0)
        return json_missing(field, err);
    if (*n > MAX_RUNS_BULK)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "GetMetricHistoryBulkInterval request must specify at most %d run_ids. Received %zu run_ids.",
                         MAX_RUNS_BULK, *n);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The UI's bulk history, as MLflow's SQL store answers it: one list ordered
 * by run id, then timestamp, step and value, cut at max_results in all;
 * runs that do not exist contribute nothing; each point carries only key,
 * value, timestamp, step and run_id. */
int api_get_metric_history_bulk(struct request *req, struct response *resp, struct error *err)
{
    const char **ids, *key = NULL;
    size_t n_ids;
    int64_t max_results;
    if (json_get_string_array(req->arena, req->input, "run_id", &ids, &n_ids, err))
        return -1;
    if (n_ids == 0)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "GetMetricHistoryBulk request must specify at least one run_id.");
    if (n_ids > MAX_RUNS_BULK)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "GetMetricHistoryBulk request cannot specify more "
                         "than %d run_ids. Received %zu run_ids.", MAX_RUNS_BULK, n_ids);
    if (json_get_string(req->input, "metric_key", false, &key, err))
        return -1;
    if (!key)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "GetMetricHistoryBulk request must specify a metric_key.");
    bool has_max;
    if (json_get_int64(req->input, "max_results", false, &max_results, &has_max, err))
        return -1;
    if (!has_max || max_results > MAX_RESULTS_BULK)
        max_results = MAX_RESULTS_BULK;   /* MLflow caps rather than refuses */
    if (max_results < 0)   /* MLflow: LIMIT -1 reaches the database, a 500 */
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Invalid value %lld for parameter 'max_results' "
                         "supplied. It must be a positive integer.", (long long)max_results);
    const char **sorted = arena_alloc(req->arena, n_ids * sizeof *sorted);
    memcpy(sorted, ids, n_ids * sizeof *sorted);
    qsort(sorted, n_ids, sizeof *sorted, cmp_str);
    struct jw w;
    reply_begin(resp, &w);
    jw_karr(&w, "metrics");
    int64_t left = max_results;
    for (size_t i = 0; i < n_ids && left > 0; i++) {
        if (i && !strcmp(sorted[i], sorted[i - 1]))
            continue;   /* run_uuid IN (…): a repeated id counts once */
        struct metric *m;
        size_t n;
        if (store_metric_history(req->arena, sorted[i], key, 0, left, &m, &n, err)) {
            if (err->code == ERR_RESOURCE_DOES_NOT_EXIST)
                continue;
            return -1;
        }
        for (size_t j = 0; j < n; j++) {
            jw_obj(&w);
            jw_kstr(&w, "key", m[j].key);
            jw_key(&w, "value");
            write_metric_value(&w, &m[j]);
            jw_kint64(&w, "timestamp", m[j].timestamp);
            jw_kint64(&w, "step", m[j].step);
            jw_kstr(&w, "run_id", sorted[i]);
            jw_obj_end(&w);
        }
        left -= (int64_t)n;
    }
    jw_arr_end(&w);
    reply_end(&w);
    return 0;
}

int api_get_metric_history_bulk_interval(struct request *req, struct response *resp, struct error *err)
{
    const char **ids, *key;
    size_t n_ids;
    int64_t max_results = MAX_RESULTS_PER_RUN, start = 0, end = 0;
    bool has_start, has_end, has_max;
    if (get_run_ids(req, "run_ids", &ids, &n_ids, err) ||
        json_get_string(req->input, "metric_key", true, &key, err) ||
        json_get_int64(req->input, "start_step", false, &start, &has_start, err) ||
        json_get_int64(req->input, "end_step", false, &end, &has_end, err) ||
        json_get_int64(req->input, "max_results", false, &max_results, &has_max, err))
        return -1;
    if (!has_max)
        max_results = MAX_RESULTS_PER_RUN;
    if (max_results < 1 || max_results > MAX_RESULTS_PER_RUN)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "max_results must be between 1 and %d. See the API docs for more information about "
                         "request parameters.", MAX_RESULTS_PER_RUN);
    if (has_start != has_end)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "If either start step or end step are specified, both must be specified.");
    if (has_start && start > end)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "end_step must be greater than start_step. Found start_step=%lld and end_step=%lld.",
                         (long long)start, (long long)end);
    struct jw w;
    reply_begin(resp, &w);
    bool any = false;
    for (size_t i = 0; i < n_ids; i++) {
        struct metric *m;
        size_t n;
        if (store_metric_history_sampled(req->arena, ids[i], key, has_start, start, has_end, end, max_results,
                                         &m, &n, err))
            return -1;
        for (size_t j = 0; j < n; j++) {
            if (!any) {
                jw_karr(&w, "metrics");
                any = true;
            }
            m[j].run_id = ids[i];
            write_metric(&w, &m[j]);
        }
    }
    if (any)
        jw_arr_end(&w);
    reply_end(&w);
    return 0;
}
