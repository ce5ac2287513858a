/* Shared by the registry handlers (api/registry.c) and the registry search
 * grammar (api/registry_filter.c). */
#ifndef CAIRN_API_REGISTRY_H
#define CAIRN_API_REGISTRY_H
#include "../store/registry.h"

enum registry_entity { REG_MODELS, REG_VERSIONS };

/* SearchRegisteredModels / SearchModelVersions filter strings (MLflow's
 * SearchModelUtils / SearchModelVersionUtils plus the SQL store's checks),
 * into the AST of store/search.h. NULL or "" is the empty filter. */
int registry_parse_filter(struct arena *a, enum registry_entity which, const char *filter,
                          struct sf_filter *out, struct error *err);
/* order_by strings: "<key> [ASC|DESC]". Registered models: name, timestamp,
 * last_updated_timestamp (stored as last_updated_timestamp). Versions: name,
 * version_number, creation_timestamp, last_updated_timestamp. */
int registry_parse_order_by(struct arena *a, enum registry_entity which, const char *const *order_by, size_t n,
                            struct sf_order_list *out, struct error *err);
#endif
