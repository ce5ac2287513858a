/* Values spelled as MLflow's Python server spells them inside its error
 * messages: json.dumps(v, sort_keys=True, separators=(",", ":")) with
 * ensure_ascii, and Python's type names. */
#ifndef CAIRN_PYFMT_H
#define CAIRN_PYFMT_H
#include <stdbool.h>
#include <cjson/cJSON.h>
#include "../store/arena.h"

/* json.dumps of a parsed request value (numbers from their literal text) */
void py_dumps(struct strbuf *sb, const cJSON *v);
/* issue 21: json.dumps(v, sort_keys=sort_keys) with the default separators
 * (", ", ": ") when spaced, the compact ones otherwise */
void py_dumps_opts(struct strbuf *sb, const cJSON *v, bool sort_keys, bool spaced);
/* issue 12: json.dumps(v) of a google.protobuf.Value as MLflow's server reads it
 * (every number a float: 4 -> 4.0; keys in their order, default separators) */
void py_dumps_proto_value(struct strbuf *sb, const cJSON *v);
/* json.dumps of a string */
void py_dumps_str(struct strbuf *sb, const char *s);
/* repr(float) */
void py_float_repr(struct strbuf *sb, double d);
/* repr() of the Python value json.loads would give (dicts in their order) */
void py_repr(struct strbuf *sb, const cJSON *v);
/* repr() of a Python str, in the arena */
const char *py_repr_dup(struct arena *a, const char *s);
/* type(v).__name__ of the value json.loads would give */
const char *py_type_name(const cJSON *v);
#endif
