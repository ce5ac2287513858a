/* Registered scorers (see scorers.h). */
#include "db.h"
#include "scorers.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define SV_COLS "s.experiment_id, s.scorer_id, s.scorer_name, v.serialized_scorer, v.scorer_version, v.creation_time"

static void uuid4(char out[37], bool dashes)
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)rand();
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (dashes && (i == 4 || i == 6 || i == 8 || i == 10))
            *o++ = '-';
        o += sprintf(o, "%02x", b[i]);
    }
}

static void read_sv(struct arena *a, const PGresult *r, int row, struct scorer_version *s)
{
    s->experiment_id = db_int64(r, row, 0);
    s->scorer_id = arena_strdup(a, PQgetvalue(r, row, 1));
    s->scorer_name = arena_strdup(a, PQgetvalue(r, row, 2));
    s->serialized_scorer = arena_strdup(a, PQgetvalue(r, row, 3));
    s->scorer_version = db_int64(r, row, 4);
    s->creation_time = db_int64(r, row, 5);
}

/* SqlAlchemyStore.get_experiment + _check_experiment_is_active */
static int active_experiment(struct db_conn *c, int64_t id, struct error *err)
{
    DB_STMT(st, "SELECT lifecycle_stage FROM experiments WHERE experiment_id = $1");
    struct arena *a = db_arena(c);
    const char *vals[1] = { i64s(a, id) };
    PGresult *r = db_exec(c, &st, 1, vals, err);
    if (!r)
        return -1;
    if (!PQntuples(r)) {
        PQclear(r);
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "No Experiment with id=%" PRId64 " exists", id);
    }
    char stage[32];
    snprintf(stage, sizeof stage, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (strcmp(stage, "active"))
        return error_set(err, ERR_INVALID_PARAMETER_VALUE, "The experiment %" PRId64 " must be in the 'active' "
                         "state. Current state is %s.", id, stage);
    return 0;
}

static int not_found(struct error *err, const char *name, int64_t exp, int64_t version)
{
    if (version >= 0)
        return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Scorer with name '%s' and version %" PRId64
                         " not found for experiment %" PRId64 ".", name, version, exp);
    return error_set(err, ERR_RESOURCE_DOES_NOT_EXIST, "Scorer with name '%s' not found for experiment %" PRId64 ".",
                     name, exp);
}

struct sc_ctx {
    struct arena *a;
    int64_t exp, version;
    const char *name, *serialized, *filter;
    const int64_t *exps;
    size_t n_exps;
    bool check_active;
    double rate;
    struct scorer_version *out;
    struct scorer_version *list;
    size_t n;
    struct online_scoring_config *cfg;
};

static int register_tx(struct db_conn *c, void *p, struct error *err)
{
    struct sc_ctx *x = p;
    if (active_experiment(c, x->exp, err))
        return -1;
    char id[37];
    uuid4(id, true);
    DB_STMT(ins, "INSERT INTO scorers (scorer_id, experiment_id, scorer_name) VALUES ($1, $2, $3)"
                 " ON CONFLICT (experiment_id, scorer_name) DO UPDATE SET scorer_name = EXCLUDED.scorer_name"
                 " RETURNING scorer_id");
    const char *v1[3] = { id, i64s(x->a, x->exp), x->name };
    PGresult *r = db_exec(c, &ins, 3, v1, err);
    if (!r)
        return -1;
    const char *sid = arena_strdup(x->a, PQgetvalue(r, 0, 0));
    PQclear(r);
    /* the scorer row is locked by the upsert above: versions stay gap-free */
    DB_STMT(ver, "INSERT INTO scorer_versions (scorer_id, scorer_version, serialized_scorer, creation_time)"
                 " SELECT $1, coalesce(max(scorer_version), 0) + 1, $2, $3 FROM scorer_versions WHERE scorer_id = $1"
                 " RETURNING scorer_version, creation_time");
    const char *v2[3] = { sid, x->serialized, i64s(x->a, now_ms()) };
    r = db_exec(c, &ver, 3, v2, err);
    if (!r)
        return -1;
    *x->out = (struct scorer_version){ x->exp, sid, x->name, x->serialized, db_int64(r, 0, 0), db_int64(r, 0, 1) };
    PQclear(r);
    return 0;
}

int store_register_scorer(struct arena *a, int64_t experiment_id, const char *name, const char *serialized,
                          struct scorer_version *out, struct error *err)
{
    struct sc_ctx x = { .a = a, .exp = experiment_id, .name = name, .serialized = serialized, .out = out };
    return db_tx(register_tx, &x, err);
}

static int fill_list(struct sc_ctx *x, PGresult *r)
{
    int rows = PQntuples(r);
    x->list = arena_alloc(x->a, (size_t)(rows ? rows : 1) * sizeof *x->list);
    for (int i = 0; i < rows; i++)
        read_sv(x->a, r, i, &x->list[i]);
    x->n = (size_t)rows;
    PQclear(r);
    return 0;
}

static int list_tx(struct db_conn *c, void *p, struct error *err)
{
    struct sc_ctx *x = p;
    if (x->check_active && active_experiment(c, x->exps[0], err))
        return -1;
    DB_STMT(st, "SELECT DISTINCT ON (s.experiment_id, s.scorer_name) " SV_COLS
                " FROM scorers s JOIN scorer_versions v USING (scorer_id)"
                " JOIN experiments e ON e.experiment_id = s.experiment_id AND e.lifecycle_stage = 'active'"
                " WHERE $1::bigint[] IS NULL OR s.experiment_id = ANY($1::bigint[])"
                " ORDER BY s.experiment_id, s.scorer_name, v.scorer_version DESC");
    const char *ids = NULL;
    if (x->n_exps) {
        struct strbuf sb;
        sb_init(&sb, x->a, 24 * x->n_exps + 2);
        sb_putc(&sb, '{');
        for (size_t i = 0; i < x->n_exps; i++)
            sb_printf(&sb, "%s%" PRId64, i ? "," : "", x->exps[i]);
        sb_putc(&sb, '}');
        ids = sb.buf;
    }
    const char *vals[1] = { ids };
    PGresult *r = db_exec(c, &st, 1, vals, err);
    return r ? fill_list(x, r) : -1;
}

int store_list_scorers(struct arena *a, const int64_t *exp_ids, size_t n_exp, bool check_active,
                       struct scorer_version **out, size_t *n, struct error *err)
{
    struct sc_ctx x = { .a = a, .exps = exp_ids, .n_exps = n_exp, .check_active = check_active };
    if (db_run(list_tx, &x, err))
        return -1;
    *out = x.list;
    *n = x.n;
    return 0;
}

static int versions_tx(struct db_conn *c, void *p, struct error *err)
{
    struct sc_ctx *x = p;
    if (active_experiment(c, x->exp, err))
        return -1;
    DB_STMT(st, "SELECT " SV_COLS " FROM scorers s JOIN scorer_versions v USING (scorer_id)"
                " WHERE s.experiment_id = $1 AND s.scorer_name = $2"
                " AND ($3::bigint < 0 OR v.scorer_version = $3::bigint)"
                " ORDER BY v.scorer_version");
    const char *vals[3] = { i64s(x->a, x->exp), x->name, i64s(x->a, x->version) };
    PGresult *r = db_exec(c, &st, 3, vals, err);
    return r ? fill_list(x, r) : -1;
}

int store_list_scorer_versions(struct arena *a, int64_t experiment_id, const char *name,
                               struct scorer_version **out, size_t *n, struct error *err)
{
    struct sc_ctx x = { .a = a, .exp = experiment_id, .name = name, .version = -1 };
    if (db_run(versions_tx, &x, err))
        return -1;
    if (!x.n)
        return not_found(err, name, experiment_id, -1);
    *out = x.list;
    *n = x.n;
    return 0;
}

int store_get_scorer(struct arena *a, int64_t experiment_id, const char *name, int64_t version,
                     struct scorer_version *out, struct error *err)
{
    struct sc_ctx x = { .a = a, .exp = experiment_id, .name = name, .version = version };
    if (db_run(versions_tx, &x, err))
        return -1;
    if (!x.n)
        return not_found(err, name, experiment_id, version);
    *out = x.list[x.n - 1];
    return 0;
}

static int delete_tx(struct db_conn *c, void *p, struct error *err)
{
    struct sc_ctx *x = p;
    x->n = 0;
    if (active_experiment(c, x->exp, err))
        return -1;
    struct arena *a = db_arena(c);
    DB_STMT(del_v, "DELETE FROM scorer_versions v USING scorers s WHERE v.scorer_id = s.scorer_id"
                   " AND s.experiment_id = $1 AND s.scorer_name = $2 AND v.scorer_version = $3");
    DB_STMT(del_s, "DELETE FROM scorers WHERE experiment_id = $1 AND scorer_name = $2"
                   " AND EXISTS (SELECT 1 FROM scorer_versions v WHERE v.scorer_id = scorers.scorer_id)");
    const char *vals[3] = { i64s(a, x->exp), x->name, i64s(a, x->version) };
    PGresult *r = x->version >= 0 ? db_exec(c, &del_v, 3, vals, err) : db_exec(c, &del_s, 2, vals, err);
    if (!r)
        return -1;
    x->n = (size_t)atoll(PQcmdTuples(r));
    PQclear(r);
    return 0;
}

int store_delete_scorer(int64_t experiment_id, const char *name, int64_t version, struct error *err)
{
    struct sc_ctx x = { .exp = experiment_id, .name = name, .version = version };
    if (db_tx(delete_tx, &x, err))
        return -1;
    return x.n ? 0 : not_found(err, name, experiment_id, version);
}

static void read_cfg(struct arena *a, const PGresult *r, int row, struct online_scoring_config *o)
{
    o->online_scoring_config_id = arena_strdup(a, PQgetvalue(r, row, 0));
    o->scorer_id = arena_strdup(a, PQgetvalue(r, row, 1));
    o->sample_rate = db_double(r, row, 2);
    o->experiment_id = db_int64(r, row, 3);
    o->filter_string = db_isnull(r, row, 4) ? NULL : arena_strdup(a, PQgetvalue(r, row, 4));
}

struct cfg_ctx {
    struct arena *a;
    const char *const *ids;
    size_t n;
    struct online_scoring_config *out;
    size_t n_out;
};

static int configs_tx(struct db_conn *c, void *p, struct error *err)
{
    struct cfg_ctx *x = p;
    DB_STMT(st, "SELECT online_scoring_config_id, scorer_id, sample_rate, experiment_id, filter_string"
                " FROM online_scoring_configs WHERE scorer_id = ANY($1::text[]) ORDER BY scorer_id");
    const char *vals[1] = { pg_text_array(x->a, x->ids, x->n) };
    PGresult *r = db_exec(c, &st, 1, vals, err);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    x->out = arena_alloc(x->a, (size_t)(rows ? rows : 1) * sizeof *x->out);
    for (int i = 0; i < rows; i++)
        read_cfg(x->a, r, i, &x->out[i]);
    x->n_out = (size_t)rows;
    PQclear(r);
    return 0;
}

int store_get_online_scoring_configs(struct arena *a, const char *const *scorer_ids, size_t n,
                                     struct online_scoring_config **out, size_t *n_out, struct error *err)
{
    struct cfg_ctx x = { a, scorer_ids, n, NULL, 0 };
    if (n && db_run(configs_tx, &x, err))
        return -1;
    *out = x.out;
    *n_out = x.n_out;
    return 0;
}

static int upsert_cfg_tx(struct db_conn *c, void *p, struct error *err)
{
    struct sc_ctx *x = p;
    if (active_experiment(c, x->exp, err))
        return -1;
    DB_STMT(find, "SELECT scorer_id FROM scorers WHERE experiment_id = $1 AND scorer_name = $2 FOR UPDATE");
    const char *v1[2] = { i64s(x->a, x->exp), x->name };
    PGresult *r = db_exec(c, &find, 2, v1, err);
    if (!r)
        return -1;
    if (!PQntuples(r)) {
        PQclear(r);
        return not_found(err, x->name, x->exp, -1);
    }
    const char *sid = arena_strdup(x->a, PQgetvalue(r, 0, 0));
    PQclear(r);
    DB_STMT(del, "DELETE FROM online_scoring_configs WHERE scorer_id = $1");
    const char *v2[1] = { sid };
    r = db_exec(c, &del, 1, v2, err);
    if (!r)
        return -1;
    PQclear(r);
    char id[37];
    uuid4(id, false);
    DB_STMT(ins, "INSERT INTO online_scoring_configs (online_scoring_config_id, scorer_id, sample_rate,"
                 " experiment_id, filter_string) VALUES ($1, $2, $3, $4, $5)");
    char rate[40];
    snprintf(rate, sizeof rate, "%.17g", x->rate);
    const char *v3[5] = { id, sid, rate, i64s(x->a, x->exp), x->filter };
    r = db_exec(c, &ins, 5, v3, err);
    if (!r)
        return -1;
    PQclear(r);
    *x->cfg = (struct online_scoring_config){ arena_strdup(x->a, id), sid, x->filter, x->rate, x->exp };
    return 0;
}

int store_upsert_online_scoring_config(struct arena *a, int64_t experiment_id, const char *name,
                                       double sample_rate, const char *filter_string,
                                       struct online_scoring_config *out, struct error *err)
{
    struct sc_ctx x = { .a = a, .exp = experiment_id, .name = name, .rate = sample_rate, .filter = filter_string,
                        .cfg = out };
    return db_tx(upsert_cfg_tx, &x, err);
}

struct exp_ctx {
    const char *id;
    int64_t exp;
    int found;
};

static int scorer_exp_tx(struct db_conn *c, void *p, struct error *err)
{
    struct exp_ctx *x = p;
    DB_STMT(st, "SELECT experiment_id FROM scorers WHERE scorer_id = $1");
    const char *vals[1] = { x->id };
    PGresult *r = db_exec(c, &st, 1, vals, err);
    if (!r)
        return -1;
    x->found = PQntuples(r) > 0;
    if (x->found)
        x->exp = db_int64(r, 0, 0);
    PQclear(r);
    return 0;
}

int store_scorer_experiment(const char *scorer_id, int64_t *experiment_id, struct error *err)
{
    struct exp_ctx x = { scorer_id, 0, 0 };
    if (db_run(scorer_exp_tx, &x, err))
        return -1;
    *experiment_id = x.exp;
    return x.found ? 0 : 1;
}
