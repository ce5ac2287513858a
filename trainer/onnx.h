/* A hand-written ONNX (protobuf wire format) encoder: just the messages a
 * model graph needs. Field numbers from onnx/onnx.proto (IR version 8). */
#ifndef CAIRN_TRAINER_ONNX_H
#define CAIRN_TRAINER_ONNX_H
#include <stdint.h>
#include "util.h"

enum onnx_type { ONNX_FLOAT = 1, ONNX_INT64 = 7, ONNX_STRING = 8, ONNX_DOUBLE = 11 };

struct onnx_node { struct sbuf buf; };
struct onnx_graph {
    struct sbuf nodes, inits, inputs, outputs;
    int tmp_counter;
    char tmp[64];
};

void onnx_init(struct onnx_graph *g);
void onnx_free(struct onnx_graph *g);
/* A fresh tensor name "prefix_N" (valid until the next call). */
const char *onnx_tmp(struct onnx_graph *g, const char *prefix);
/* Node: inputs/outputs are NULL-terminated; domain "" or "ai.onnx.ml". */
void onnx_node_begin(struct onnx_node *n, const char *op, const char *domain,
                     const char *const *inputs, const char *const *outputs);
void onnx_attr_int(struct onnx_node *n, const char *name, int64_t v);
void onnx_attr_float(struct onnx_node *n, const char *name, double v);
void onnx_attr_string(struct onnx_node *n, const char *name, const char *v);
void onnx_attr_ints(struct onnx_node *n, const char *name, const int64_t *v, int count);
void onnx_attr_floats(struct onnx_node *n, const char *name, const double *v, int count);
void onnx_attr_strings(struct onnx_node *n, const char *name, char *const *v, int count);
void onnx_node_end(struct onnx_graph *g, struct onnx_node *n);
/* Shorthand for attribute-less nodes. */
void onnx_op(struct onnx_graph *g, const char *op, const char *const *inputs, const char *out);

void onnx_init_floats(struct onnx_graph *g, const char *name, const int64_t *dims, int ndims, const double *v);
void onnx_init_int64s(struct onnx_graph *g, const char *name, const int64_t *dims, int ndims, const int64_t *v);
void onnx_init_strings(struct onnx_graph *g, const char *name, const int64_t *dims, int ndims, char *const *v);
/* dims: -1 means the symbolic batch dimension "N". */
void onnx_input(struct onnx_graph *g, const char *name, enum onnx_type t, const int64_t *dims, int ndims);
void onnx_output(struct onnx_graph *g, const char *name, enum onnx_type t, const int64_t *dims, int ndims);
void onnx_model(struct onnx_graph *g, const char *graph_name, const char *producer_version, struct sbuf *out);
#endif
