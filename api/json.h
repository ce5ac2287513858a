/* JSON in (cJSON, with exact int64 through the raw number text) and out
 * (our own writer: exact int64, NaN/Infinity as MLflow spells them). */
#ifndef CAIRN_JSON_H
#define CAIRN_JSON_H
#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "../store/arena.h"
#include "../store/error.h"

#define JSON_MAX_DEPTH 64

/* Route cJSON's allocations to the calling thread's request arena. */
void json_init(void);
void json_set_thread_arena(struct arena *a);

/* Parse a body. Rejects nesting deeper than JSON_MAX_DEPTH before parsing.
 * Each number node keeps its literal text in valuestring. */
cJSON *json_parse(struct arena *a, const char *text, size_t len, struct error *err);
/* The most values (strings, numbers, literals, objects, arrays; keys count)
 * one body may hold; 400 above, found before the tree is built. */
void json_set_max_values(size_t n);

/* Readers: return 0 when the field is absent (out untouched, *present false if
 * given) or valid, -1 with an MLflow-style INVALID_PARAMETER_VALUE otherwise.
 * `required` turns absence (and "" for strings) into MLflow's
 * "Missing value for required parameter" error. */
int json_get_string(const cJSON *obj, const char *field, bool required, const char **out, struct error *err);
int json_get_int64(const cJSON *obj, const char *field, bool required, int64_t *out, bool *present, struct error *err);
int json_get_double(const cJSON *obj, const char *field, bool required, double *out, bool *present, struct error *err);
int json_get_bool(const cJSON *obj, const char *field, bool *out, bool *present, struct error *err);
/* An array of strings; a lone string counts as one element (GET query forms). */
int json_get_string_array(struct arena *a, const cJSON *obj, const char *field,
                          const char ***out, size_t *n, struct error *err);
/* An array of objects (absent: n = 0). */
int json_get_object_array(const cJSON *obj, const char *field, const cJSON **first, size_t *n,
                          struct error *err);
/* MLflow's schema-check message for a value of the wrong type (issue 20) */
int json_invalid_type(const cJSON *v, const char *field, struct error *err);
/* MLflow's "Missing value for required parameter '<field>'" error. */
int json_missing(const char *field, struct error *err);
/* Parse int64 / double from text exactly; 0 on success. */
int parse_int64(const char *s, int64_t *out);
int parse_double(const char *s, double *out);

/* The writer. */
struct jw {
    struct strbuf *sb;
    uint64_t has_item;    /* bit d: the container at depth d already has an item */
    int depth;
    bool after_key;       /* the next value belongs to the key just written */
};
void jw_init(struct jw *w, struct strbuf *sb);
void jw_obj(struct jw *w);
void jw_obj_end(struct jw *w);
void jw_arr(struct jw *w);
void jw_arr_end(struct jw *w);
void jw_key(struct jw *w, const char *key);
void jw_str(struct jw *w, const char *s);
void jw_strn(struct jw *w, const char *s, size_t n);
void jw_int64(struct jw *w, int64_t v);
void jw_double(struct jw *w, double v);
/* a finite double already printed exactly (e.g. by PostgreSQL); ".0" added to integral text */
void jw_number_text(struct jw *w, const char *text);
void jw_bool(struct jw *w, bool v);
/* issue 14: a value that is already valid JSON text (stored span content) */
void jw_raw(struct jw *w, const char *json, size_t n);
void jw_null(struct jw *w);
/* key + value; the string form is skipped when s is NULL */
void jw_kstr(struct jw *w, const char *key, const char *s);
void jw_kint64(struct jw *w, const char *key, int64_t v);
void jw_kdouble(struct jw *w, const char *key, double v);
void jw_kbool(struct jw *w, const char *key, bool v);
void jw_kobj(struct jw *w, const char *key);
void jw_karr(struct jw *w, const char *key);
/* JSON string escaping into a strbuf */
void json_escape(struct strbuf *sb, const char *s, size_t n);
#endif
