/* Dataset summaries (see datasets.h). */
#include "datasets.h"
#include "db.h"
#include <stdio.h>

struct search_ctx {
    struct arena *a;
    const int64_t *ids;
    size_t n_ids;
    struct dataset_summary *out;
    size_t n;
};

static int search_tx(struct db_conn *c, void *p, struct error *err)
{
    struct search_ctx *x = p;
    /* a left join, as MLflow's: an input without the context tag still counts, with no context */
    DB_STMT(st, "SELECT DISTINCT d.experiment_id, d.name, d.digest, t.value"
                " FROM datasets d JOIN run_inputs i ON i.dataset_uuid = d.dataset_uuid"
                " LEFT JOIN input_tags t ON t.input_uuid = i.input_uuid AND t.key = 'mlflow.data.context'"
                " WHERE d.experiment_id = ANY($1::bigint[])"
                " ORDER BY 1, 2, 3, 4 LIMIT 1000");
    struct strbuf ids;
    sb_init(&ids, x->a, 24 * x->n_ids + 2);
    sb_putc(&ids, '{');
    for (size_t i = 0; i < x->n_ids; i++)
        sb_printf(&ids, "%s%lld", i ? "," : "", (long long)x->ids[i]);
    sb_putc(&ids, '}');
    const char *vals[1] = { ids.buf };
    PGresult *r = db_exec(c, &st, 1, vals, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    x->out = arena_alloc(x->a, (size_t)(rows ? rows : 1) * sizeof *x->out);
    for (int i = 0; i < rows; i++) {
        struct dataset_summary *d = &x->out[i];
        d->experiment_id = db_int64(r, i, 0);
        d->name = arena_strdup(x->a, PQgetvalue(r, i, 1));
        d->digest = arena_strdup(x->a, PQgetvalue(r, i, 2));
        d->context = db_isnull(r, i, 3) ? NULL : arena_strdup(x->a, PQgetvalue(r, i, 3));
    }
    x->n = (size_t)rows;
    PQclear(r);
    return 0;
}

int store_search_datasets(struct arena *a, const int64_t *experiment_ids, size_t n_ids,
                          struct dataset_summary **out, size_t *n, struct error *err)
{
    struct search_ctx x = { a, experiment_ids, n_ids, NULL, 0 };
    if (db_run(search_tx, &x, err))
        return -1;
    *out = x.out;
    *n = x.n;
    return 0;
}
