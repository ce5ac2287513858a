/* cairn-train: the hand-written ONNX protobuf encoder. The bytes are walked
 * with an independent protobuf reader; onnx.checker and onnxruntime check
 * whole models in compat/test_trainer.py. */
#include <stdint.h>

#include "tests/test.h"
#include "trainer/onnx.h"

struct reader { const unsigned char *p, *end; int bad; };

static uint64_t rd_varint(struct reader *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) { r->bad = 1; return 0; }
        unsigned char b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    r->bad = 1;
    return 0;
}

/* Count the occurrences of `field` at the top level of a message; returns
 * -1 if the message is malformed. For a length-delimited hit, *sub is set. */
static int count_field(const unsigned char *p, size_t n, int field, struct reader *sub)
{
    struct reader r = {p, p + n, 0};
    int count = 0;
    while (r.p < r.end && !r.bad) {
        uint64_t key = rd_varint(&r);
        int f = (int)(key >> 3), wt = (int)(key & 7);
        const unsigned char *start = r.p;
        size_t len = 0;
        switch (wt) {
        case 0: rd_varint(&r); break;
        case 1: r.p += 8; break;
        case 5: r.p += 4; break;
        case 2: len = rd_varint(&r); start = r.p; r.p += len; break;
        default: return -1;
        }
        if (r.p > r.end) return -1;
        if (f == field) {
            count++;
            if (sub && wt == 2) { sub->p = start; sub->end = start + len; sub->bad = 0; }
        }
    }
    return r.bad ? -1 : count;
}

static void test_small_model(void)
{
    struct onnx_graph g;
    onnx_init(&g);
    int64_t in_dims[2] = {-1, 3}, wd[2] = {3, 1}, one = 1;
    double w[3] = {1, 2, 3}, b = 0.5;
    onnx_input(&g, "x", ONNX_FLOAT, in_dims, 2);
    onnx_init_floats(&g, "w", wd, 2, w);
    onnx_init_floats(&g, "b", &one, 1, &b);
    onnx_op(&g, "MatMul", (const char *[]){"x", "w", NULL}, "xw");
    struct onnx_node n;
    onnx_node_begin(&n, "Add", "", (const char *[]){"xw", "b", NULL}, (const char *[]){"y", NULL});
    onnx_attr_int(&n, "some_int", 300);
    onnx_attr_int(&n, "negative", -1);
    onnx_attr_floats(&n, "fl", w, 3);
    onnx_attr_strings(&n, "st", (char *[]){"a", "bc"}, 2);
    onnx_node_end(&g, &n);
    onnx_output(&g, "y", ONNX_FLOAT, in_dims, 1);
    struct sbuf out;
    sb_init(&out);
    onnx_model(&g, "g", "1.0", &out);
    onnx_free(&g);
    const unsigned char *p = (const unsigned char *)out.data;
    /* ModelProto.ir_version (field 1, varint) = 8 comes first */
    CHECK(out.len > 20 && p[0] == 0x08 && p[1] == 8);
    struct reader graph, node, attr, tensor;
    CHECK_INT(count_field(p, out.len, 8, NULL), 2);     /* opset_import: "" and ai.onnx.ml */
    CHECK_INT(count_field(p, out.len, 7, &graph), 1);
    size_t glen = (size_t)(graph.end - graph.p);
    CHECK_INT(count_field(graph.p, glen, 1, &node), 2);  /* two nodes */
    CHECK_INT(count_field(graph.p, glen, 5, &tensor), 2); /* two initializers */
    CHECK_INT(count_field(graph.p, glen, 11, NULL), 1);
    CHECK_INT(count_field(graph.p, glen, 12, NULL), 1);
    /* the last node (Add) has 4 attributes; the last is STRINGS with 2 strings */
    size_t nlen = (size_t)(node.end - node.p);
    CHECK_INT(count_field(node.p, nlen, 5, &attr), 4);
    CHECK_INT(count_field(node.p, nlen, 1, NULL), 2);    /* inputs */
    size_t alen = (size_t)(attr.end - attr.p);
    CHECK_INT(count_field(attr.p, alen, 9, NULL), 2);
    /* the last initializer: "b" with raw_data = 4 bytes of 0.5f */
    size_t tlen = (size_t)(tensor.end - tensor.p);
    struct reader raw;
    CHECK_INT(count_field(tensor.p, tlen, 9, &raw), 1);
    float f;
    CHECK(raw.end - raw.p == 4);
    memcpy(&f, raw.p, 4);
    CHECK(f == 0.5f);
    /* a varint above 127 is two bytes: 300 = AC 02 */
    int found = 0;
    for (size_t i = 0; i + 2 < out.len; i++)
        if (p[i] == 0x18 && p[i + 1] == 0xAC && p[i + 2] == 0x02) found = 1;
    CHECK(found);
    /* −1 as int64: ten bytes ending in 0x01 */
    found = 0;
    for (size_t i = 0; i + 10 < out.len; i++)
        if (p[i] == 0x18 && p[i + 1] == 0xFF && p[i + 9] == 0xFF && p[i + 10] == 0x01) found = 1;
    CHECK(found);
    sb_free(&out);
}

static void test_tmp_names(void)
{
    struct onnx_graph g;
    onnx_init(&g);
    char a[64];
    snprintf(a, sizeof a, "%s", onnx_tmp(&g, "t"));
    CHECK_STR(a, "t_0");
    CHECK_STR(onnx_tmp(&g, "t"), "t_1");
    onnx_free(&g);
}

int main(void)
{
    test_small_model();
    test_tmp_names();
    TEST_MAIN_END();
}
