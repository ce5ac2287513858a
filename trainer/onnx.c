#include "onnx.h"

#include <stdio.h>
#include <string.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };
enum { AT_FLOAT = 1, AT_INT = 2, AT_STRING = 3, AT_FLOATS = 6, AT_INTS = 7, AT_STRINGS = 8 };

static void put_varint(struct sbuf *b, uint64_t v)
{
    unsigned char tmp[10];
    int n = 0;
    do { tmp[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0)); v >>= 7; } while (v);
    sb_add(b, tmp, (size_t)n);
}

static void put_key(struct sbuf *b, int field, int wt) { put_varint(b, ((uint64_t)field << 3) | (uint64_t)wt); }
static void put_int(struct sbuf *b, int field, int64_t v) { put_key(b, field, WT_VARINT); put_varint(b, (uint64_t)v); }

static void put_bytes(struct sbuf *b, int field, const void *p, size_t n)
{
    put_key(b, field, WT_LEN);
    put_varint(b, n);
    sb_add(b, p, n);
}

static void put_str(struct sbuf *b, int field, const char *s) { put_bytes(b, field, s, strlen(s)); }

static void put_float32(struct sbuf *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    unsigned char le[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16), (unsigned char)(u >> 24)};
    sb_add(b, le, 4);
}

void onnx_init(struct onnx_graph *g) { memset(g, 0, sizeof *g); }

void onnx_free(struct onnx_graph *g)
{
    sb_free(&g->nodes); sb_free(&g->inits); sb_free(&g->inputs); sb_free(&g->outputs);
}

const char *onnx_tmp(struct onnx_graph *g, const char *prefix)
{
    snprintf(g->tmp, sizeof g->tmp, "%s_%d", prefix, g->tmp_counter++);
    return g->tmp;
}

void onnx_node_begin(struct onnx_node *n, const char *op, const char *domain,
                     const char *const *inputs, const char *const *outputs)
{
    sb_init(&n->buf);
    for (; *inputs; inputs++) put_str(&n->buf, 1, *inputs);
    for (; *outputs; outputs++) put_str(&n->buf, 2, *outputs);
    put_str(&n->buf, 4, op);
    if (domain && *domain) put_str(&n->buf, 7, domain);
}

static void put_attr(struct onnx_node *n, struct sbuf *a)
{
    put_bytes(&n->buf, 5, a->data, a->len);
    sb_free(a);
}

void onnx_attr_int(struct onnx_node *n, const char *name, int64_t v)
{
    struct sbuf a; sb_init(&a);
    put_str(&a, 1, name); put_int(&a, 3, v); put_int(&a, 20, AT_INT);
    put_attr(n, &a);
}

void onnx_attr_float(struct onnx_node *n, const char *name, double v)
{
    struct sbuf a; sb_init(&a);
    put_str(&a, 1, name); put_key(&a, 2, WT_I32); put_float32(&a, (float)v); put_int(&a, 20, AT_FLOAT);
    put_attr(n, &a);
}

void onnx_attr_string(struct onnx_node *n, const char *name, const char *v)
{
    struct sbuf a; sb_init(&a);
    put_str(&a, 1, name); put_str(&a, 4, v); put_int(&a, 20, AT_STRING);
    put_attr(n, &a);
}

void onnx_attr_ints(struct onnx_node *n, const char *name, const int64_t *v, int count)
{
    struct sbuf a, packed; sb_init(&a); sb_init(&packed);
    put_str(&a, 1, name);
    for (int i = 0; i < count; i++) put_varint(&packed, (uint64_t)v[i]);
    if (count) put_bytes(&a, 8, packed.data, packed.len);
    put_int(&a, 20, AT_INTS);
    sb_free(&packed);
    put_attr(n, &a);
}

void onnx_attr_floats(struct onnx_node *n, const char *name, const double *v, int count)
{
    struct sbuf a, packed; sb_init(&a); sb_init(&packed);
    put_str(&a, 1, name);
    for (int i = 0; i < count; i++) put_float32(&packed, (float)v[i]);
    if (count) put_bytes(&a, 7, packed.data, packed.len);
    put_int(&a, 20, AT_FLOATS);
    sb_free(&packed);
    put_attr(n, &a);
}

void onnx_attr_strings(struct onnx_node *n, const char *name, char *const *v, int count)
{
    struct sbuf a; sb_init(&a);
    put_str(&a, 1, name);
    for (int i = 0; i < count; i++) put_str(&a, 9, v[i]);
    put_int(&a, 20, AT_STRINGS);
    put_attr(n, &a);
}

void onnx_node_end(struct onnx_graph *g, struct onnx_node *n)
{
    put_bytes(&g->nodes, 1, n->buf.data, n->buf.len);
    sb_free(&n->buf);
}

void onnx_op(struct onnx_graph *g, const char *op, const char *const *inputs, const char *out)
{
    struct onnx_node n;
    const char *outs[] = {out, NULL};
    onnx_node_begin(&n, op, "", inputs, outs);
    onnx_node_end(g, &n);
}

static void tensor_head(struct sbuf *t, const char *name, const int64_t *dims, int ndims, int type)
{
    for (int i = 0; i < ndims; i++) put_int(t, 1, dims[i]);
    put_int(t, 2, type);
    put_str(t, 8, name);
}

static int64_t count_of(const int64_t *dims, int ndims)
{
    int64_t c = 1;
    for (int i = 0; i < ndims; i++) c *= dims[i];
    return c;
}

void onnx_init_floats(struct onnx_graph *g, const char *name, const int64_t *dims, int ndims, const double *v)
{
    struct sbuf t, raw; sb_init(&t); sb_init(&raw);
    tensor_head(&t, name, dims, ndims, ONNX_FLOAT);
    int64_t c = count_of(dims, ndims);
    for (int64_t i = 0; i < c; i++) put_float32(&raw, (float)v[i]);
    put_bytes(&t, 9, raw.data ? raw.data : "", raw.len);
    put_bytes(&g->inits, 5, t.data, t.len);
    sb_free(&t); sb_free(&raw);
}

void onnx_init_int64s(struct onnx_graph *g, const char *name, const int64_t *dims, int ndims, const int64_t *v)
{
    struct sbuf t, raw; sb_init(&t); sb_init(&raw);
    tensor_head(&t, name, dims, ndims, ONNX_INT64);
    int64_t c = count_of(dims, ndims);
    for (int64_t i = 0; i < c; i++) {
        uint64_t u = (uint64_t)v[i];
        unsigned char le[8];
        for (int k = 0; k < 8; k++) le[k] = (unsigned char)(u >> (8 * k));
        sb_add(&raw, le, 8);
    }
    put_bytes(&t, 9, raw.data ? raw.data : "", raw.len);
    put_bytes(&g->inits, 5, t.data, t.len);
    sb_free(&t); sb_free(&raw);
}

void onnx_init_strings(struct onnx_graph *g, const char *name, const int64_t *dims, int ndims, char *const *v)
{
    struct sbuf t; sb_init(&t);
    tensor_head(&t, name, dims, ndims, ONNX_STRING);
    int64_t c = count_of(dims, ndims);
    for (int64_t i = 0; i < c; i++) put_str(&t, 6, v[i]);
    put_bytes(&g->inits, 5, t.data, t.len);
    sb_free(&t);
}

static void value_info(struct sbuf *dst, int field, const char *name, enum onnx_type t, const int64_t *dims, int ndims)
{
    struct sbuf shape, tensor, type, vi;
    sb_init(&shape); sb_init(&tensor); sb_init(&type); sb_init(&vi);
    for (int i = 0; i < ndims; i++) {
        struct sbuf dim; sb_init(&dim);
        if (dims[i] < 0) put_str(&dim, 2, "N");
        else put_int(&dim, 1, dims[i]);
        put_bytes(&shape, 1, dim.data, dim.len);
        sb_free(&dim);
    }
    put_int(&tensor, 1, t);
    put_bytes(&tensor, 2, shape.data ? shape.data : "", shape.len);
    put_bytes(&type, 1, tensor.data, tensor.len);
    put_str(&vi, 1, name);
    put_bytes(&vi, 2, type.data, type.len);
    put_bytes(dst, field, vi.data, vi.len);
    sb_free(&shape); sb_free(&tensor); sb_free(&type); sb_free(&vi);
}

void onnx_input(struct onnx_graph *g, const char *name, enum onnx_type t, const int64_t *dims, int ndims)
{
    value_info(&g->inputs, 11, name, t, dims, ndims);
}

void onnx_output(struct onnx_graph *g, const char *name, enum onnx_type t, const int64_t *dims, int ndims)
{
    value_info(&g->outputs, 12, name, t, dims, ndims);
}

void onnx_model(struct onnx_graph *g, const char *graph_name, const char *producer_version, struct sbuf *out)
{
    struct sbuf graph; sb_init(&graph);
    sb_add(&graph, g->nodes.data ? g->nodes.data : "", g->nodes.len);   /* node = 1 */
    put_str(&graph, 2, graph_name);
    /* initializer = 5, input = 11, output = 12: already encoded with those keys */
    sb_add(&graph, g->inits.data ? g->inits.data : "", g->inits.len);
    sb_add(&graph, g->inputs.data ? g->inputs.data : "", g->inputs.len);
    sb_add(&graph, g->outputs.data ? g->outputs.data : "", g->outputs.len);
    put_int(out, 1, 8);  /* ir_version */
    put_str(out, 2, "cairn-train");
    put_str(out, 3, producer_version);
    put_bytes(out, 7, graph.data, graph.len);
    struct sbuf op; sb_init(&op);
    put_str(&op, 1, ""); put_int(&op, 2, 13);
    put_bytes(out, 8, op.data, op.len);
    sb_free(&op); sb_init(&op);
    put_str(&op, 1, "ai.onnx.ml"); put_int(&op, 2, 3);
    put_bytes(out, 8, op.data, op.len);
    sb_free(&op);
    sb_free(&graph);
}
