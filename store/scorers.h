/* MLflow 3 registered scorers (issue 21; sql/010_genai_scorers.sql): versioned
 * serialized scorers per (experiment, name) and their online-scoring configs,
 * with SqlAlchemyStore's semantics and messages. Serialized scorers are text:
 * Cairn stores them and never runs them. */
#ifndef CAIRN_STORE_SCORERS_H
#define CAIRN_STORE_SCORERS_H
#include <stddef.h>
#include <stdint.h>
#include "arena.h"
#include "error.h"

struct scorer_version {
    int64_t experiment_id;
    const char *scorer_id, *scorer_name, *serialized_scorer;
    int64_t scorer_version, creation_time;
};

struct online_scoring_config {
    const char *online_scoring_config_id, *scorer_id, *filter_string;   /* filter NULL: none */
    double sample_rate;
    int64_t experiment_id;
};

/* a new version (1, or the latest + 1); the experiment must exist and be active */
int store_register_scorer(struct arena *a, int64_t experiment_id, const char *name, const char *serialized,
                          struct scorer_version *out, struct error *err);
/* the latest version of every scorer of the experiments, by (experiment, name);
 * n_exp 0: every active experiment; check_active: 404/400 on the one experiment */
int store_list_scorers(struct arena *a, const int64_t *exp_ids, size_t n_exp, bool check_active,
                       struct scorer_version **out, size_t *n, struct error *err);
int store_list_scorer_versions(struct arena *a, int64_t experiment_id, const char *name,
                               struct scorer_version **out, size_t *n, struct error *err);
/* version < 0: the latest */
int store_get_scorer(struct arena *a, int64_t experiment_id, const char *name, int64_t version,
                     struct scorer_version *out, struct error *err);
/* version < 0: every version and the scorer */
int store_delete_scorer(int64_t experiment_id, const char *name, int64_t version, struct error *err);

int store_get_online_scoring_configs(struct arena *a, const char *const *scorer_ids, size_t n,
                                     struct online_scoring_config **out, size_t *n_out, struct error *err);
/* replaces the scorer's config; sample_rate > 0 needs a gateway model, which
 * Cairn has none of: api/ refuses those before calling */
int store_upsert_online_scoring_config(struct arena *a, int64_t experiment_id, const char *name,
                                       double sample_rate, const char *filter_string,
                                       struct online_scoring_config *out, struct error *err);
/* issue 16: the experiment of a scorer id (0 found, 1 absent) */
int store_scorer_experiment(const char *scorer_id, int64_t *experiment_id, struct error *err);
#endif
