/* Model-registry domain: registered models, model versions, their tags and
 * aliases (MLflow's model_registry.proto), as plain C structs. Prompts are
 * registered models tagged mlflow.prompt.is_prompt = "true". Strings live
 * in the request arena. */
#ifndef CAIRN_REGISTRY_H
#define CAIRN_REGISTRY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "arena.h"
#include "error.h"
#include "search.h"
#include "tracking.h"

#define STAGE_DELETED_INTERNAL "Deleted_Internal"
#define PROMPT_TAG_KEY "mlflow.prompt.is_prompt"

struct model_version {
    const char *name;
    int64_t version;
    int64_t creation_time, last_updated_time;
    const char *description;        /* NULL: absent */
    const char *user_id;            /* NULL: absent */
    const char *current_stage;
    const char *source;
    const char *storage_location;   /* NULL: same as source */
    const char *run_id, *run_link;  /* NULL: absent */
    const char *status;
    const char *status_message;     /* NULL: absent */
    const char *model_id;           /* NULL: none */
    struct kv *tags;
    size_t n_tags;
    const char **aliases;           /* only filled where MLflow fills them */
    size_t n_aliases;
    int64_t rm_id;                  /* store-internal key of the registered model */
};

struct model_alias {
    const char *alias;
    int64_t version;
};

struct registered_model {
    const char *name;
    int64_t creation_time, last_updated_time;
    const char *description;        /* NULL: absent */
    struct model_version *latest;   /* newest version per stage, by version */
    size_t n_latest;
    struct kv *tags;
    size_t n_tags;
    struct model_alias *aliases;
    size_t n_aliases;
};

/* Search, as the api/ parser leaves it: clauses are SF_ATTR (name, run_id,
 * source_path, version_number) or SF_TAG, already checked against MLflow's
 * per-entity rules; version_number values are decimal integers in str. */
struct registry_search {
    struct sf_filter filter;
    struct sf_order_list order;     /* keys: name, last_updated_timestamp, creation_timestamp, version_number */
    int64_t offset;
    int64_t limit;                  /* rows to fetch: max_results + 1 */
};

/* registered models */
int store_create_registered_model(struct arena *a, const char *name, const char *description,
                                  const struct kv *tags, size_t n_tags, struct registered_model *out,
                                  struct error *err);
int store_get_registered_model(struct arena *a, const char *name, struct registered_model *out,
                               struct error *err);
int store_rename_registered_model(struct arena *a, const char *name, const char *new_name,
                                  struct registered_model *out, struct error *err);
int store_update_registered_model(struct arena *a, const char *name, const char *description,
                                  struct registered_model *out, struct error *err);
int store_delete_registered_model(struct arena *a, const char *name, struct error *err);
int store_search_registered_models(struct arena *a, const struct registry_search *s,
                                   struct registered_model **out, size_t *n, struct error *err);
/* stages: canonical names; n_stages 0 means all four */
int store_get_latest_versions(struct arena *a, const char *name, const char *const *stages, size_t n_stages,
                              struct model_version **out, size_t *n, struct error *err);
int store_set_registered_model_tag(struct arena *a, const char *name, const char *key, const char *value,
                                   struct error *err);
int store_delete_registered_model_tag(struct arena *a, const char *name, const char *key, struct error *err);

/* aliases */
int store_set_model_alias(struct arena *a, const char *name, const char *alias, int64_t version,
                          struct error *err);
int store_delete_model_alias(struct arena *a, const char *name, const char *alias, struct error *err);
/* "latest" (any case) answers the highest live version */
int store_get_model_version_by_alias(struct arena *a, const char *name, const char *alias,
                                     struct model_version *out, struct error *err);

/* model versions */
struct model_version_create {
    const char *name;
    const char *source;            /* stored and returned as given */
    const char *storage_location;  /* what get-download-uri answers (NULL: source) */
    const char *run_id, *run_link, *description, *model_id;
    const struct kv *tags;
    size_t n_tags;
};
int store_create_model_version(struct arena *a, const struct model_version_create *c,
                               struct model_version *out, struct error *err);
int store_get_model_version(struct arena *a, const char *name, int64_t version, struct model_version *out,
                            struct error *err);
/* description NULL clears it, as MLflow's update without a description does */
int store_update_model_version(struct arena *a, const char *name, int64_t version, const char *description,
                               struct model_version *out, struct error *err);
int store_transition_model_version_stage(struct arena *a, const char *name, int64_t version, const char *stage,
                                         bool archive_existing, struct model_version *out, struct error *err);
int store_delete_model_version(struct arena *a, const char *name, int64_t version, struct error *err);
int store_search_model_versions(struct arena *a, const struct registry_search *s,
                                struct model_version **out, size_t *n, struct error *err);
int store_set_model_version_tag(struct arena *a, const char *name, int64_t version, const char *key,
                                const char *value, struct error *err);
int store_delete_model_version_tag(struct arena *a, const char *name, int64_t version, const char *key,
                                   struct error *err);
/* true when the registered model exists and is tagged as a prompt */
int store_registered_model_is_prompt(struct arena *a, const char *name, bool *is_prompt, struct error *err);

#endif
