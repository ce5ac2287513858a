/* /api/2.0/mlflow/metrics/… */
#include "common.h"
#include "handlers.h"
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
        if (rc)
            return -1;   /* nothing sent yet: an ordinary error reply */
        return reply_empty(resp);
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
        return -1;
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
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "Missing value for required parameter '%s'. "
                         "See the API docs for more information about request parameters.", field);
    if (*n > MAX_RUNS_BULK)
        return error_set(err, ERR_INVALID_PARAMETER_VALUE,
                         "GetMetricHistoryBulkInterval request must specify at most %d run_ids. Received %zu run_ids.",
                         MAX_RUNS_BULK, *n);
    return 0;
}

/* The UI's bulk history: the first max_results points of each run. */
int api_get_metric_history_bulk(struct request *req, struct response *resp, struct error *err)
{
    const char **ids, *key;
    size_t n_ids;
    int64_t max_results;
    if (get_run_ids(req, "run_id", &ids, &n_ids, err) ||
        json_get_string(req->input, "metric_key", true, &key, err) ||
        get_max_results(req->input, MAX_RESULTS_BULK, MAX_RESULTS_BULK, &max_results, err))
        return -1;
    struct jw w;
    reply_begin(resp, &w);
    jw_karr(&w, "metrics");
    for (size_t i = 0; i < n_ids; i++) {
        struct metric *m;
        size_t n;
        if (store_metric_history(req->arena, ids[i], key, 0, max_results, &m, &n, err))
            return -1;
        for (size_t j = 0; j < n; j++) {
            m[j].run_id = ids[i];
            write_metric(&w, &m[j]);
        }
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
