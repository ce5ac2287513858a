#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ensemble.h"
#include "onnx.h"

int pipeline_predict_csv(const struct pipeline *pl, const struct csv *c, double **out, char *err)
{
    int n = c->nrows, p = pl->f.nfeat;
    double *X = xmalloc((size_t)n * p * sizeof *X);
    if (feat_transform(&pl->f, c, NULL, n, X, err)) { free(X); return -1; }
    *out = xmalloc((size_t)n * pipeline_nout(pl) * sizeof **out);
    pl->algo->predict(pl->model, X, n, *out);
    free(X);
    return 0;
}

void pipeline_save(const struct pipeline *pl, struct sbuf *b)
{
    sb_printf(b, "# cairn-train native model\n");
    kv_int(b, "format_version", CAIRN_MODEL_FORMAT);
    kv_str(b, "algorithm", pl->algo->name);
    kv_dbls(b, "hparams", pl->hp.v, pl->algo->nparams);
    feat_save(&pl->f, b);
    pl->algo->save(pl->model, b);
}

int pipeline_load(const char *path, struct pipeline *pl, char *err)
{
    memset(pl, 0, sizeof *pl);
    char *text;
    size_t len;
    if (read_file(path, &text, &len, err)) return -1;
    /* drop the comment line */
    char *body = text[0] == '#' ? strchr(text, '\n') : text;
    struct kv kv;
    int r = -1;
    if (!body || kv_parse(body, &kv, err)) { if (!body) errf(err, "%s: not a cairn model", path); free(text); return -1; }
    free(text);   /* kv holds copies: a big model's text is not kept while the model is built */
    text = NULL;
    long ver;
    const char *algo;
    double *hp = NULL;
    if (kv_get_int(&kv, "format_version", &ver, err)) goto out;
    if (ver != CAIRN_MODEL_FORMAT) { errf(err, "%s: model format %ld is not supported (expected %d)", path, ver, CAIRN_MODEL_FORMAT); goto out; }
    if (kv_get_str(&kv, "algorithm", &algo, err)) goto out;
    pl->algo = strcmp(algo, "ensemble") ? algo_find(algo) : &algo_ensemble;
    if (!pl->algo) { errf(err, "%s: unknown algorithm \"%s\"", path, algo); goto out; }
    if (kv_get_dbls(&kv, "hparams", pl->algo->nparams, &hp, NULL, err)) goto out;
    memcpy(pl->hp.v, hp, (size_t)pl->algo->nparams * sizeof *hp);
    if (feat_load(&pl->f, &kv, err)) goto out;
    pl->model = pl->algo->load(&kv, err);
    if (!pl->model) goto out;
    r = 0;
out:
    free(hp);
    kv_free(&kv);
    free(text);
    if (r) pipeline_free(pl);
    return r;
}

void pipeline_free(struct pipeline *pl)
{
    if (pl->model && pl->algo) pl->algo->free(pl->model);
    feat_free(&pl->f);
    memset(pl, 0, sizeof *pl);
}

/* Featurization as ONNX: one 1-D input per raw column (mlflow.onnx feeds a
 * DataFrame column by column when a model has several inputs), numeric
 * columns imputed with Where(IsNaN) and scaled with Sub/Mul, categorical
 * columns through LabelEncoder + OneHotEncoder. */
static void emit_features(const struct featurizer *f, struct onnx_graph *g, const char *features)
{
    int64_t in_dims1[1] = {-1}, in_dims2[2] = {-1, 1}, shape2[2] = {-1, 1}, shape1[1] = {-1}, two = 2, one = 1;
    int single = f->nraw == 1;  /* mlflow feeds df.values ([N, 1]) to a single-input model */
    for (int r = 0; r < f->nraw; r++)
        onnx_input(g, f->raw_names[r], f->raw_kinds[r] == COL_NUMERIC ? ONNX_FLOAT
                                       : f->raw_kinds[r] == COL_INTEGER ? ONNX_INT64 : ONNX_STRING,
                   single ? in_dims2 : in_dims1, single ? 2 : 1);
    onnx_init_int64s(g, "shape_col", &two, 1, shape2);
    for (int k = 0; k < f->ncols; k++)
        if (f->cols[k].kind == COL_CATEGORICAL) { onnx_init_int64s(g, "shape_flat", &one, 1, shape1); break; }
    char **parts = xmalloc((size_t)(f->ncols + 1) * sizeof *parts);
    int nparts = 0, nnum = 0;
    for (int k = 0; k < f->ncols; k++) nnum += f->cols[k].kind == COL_NUMERIC;
    if (nnum) {
        char **cols = xmalloc((size_t)nnum * sizeof *cols);
        double *fill = xmalloc((size_t)nnum * sizeof *fill), *ctr = xmalloc((size_t)nnum * sizeof *ctr), *scl = xmalloc((size_t)nnum * sizeof *scl);
        int j = 0;
        for (int k = 0; k < f->ncols; k++) {
            const struct fcol *fc = &f->cols[k];
            if (fc->kind != COL_NUMERIC) continue;
            char name[64], col[64];
            snprintf(name, sizeof name, "num_%d", k);
            int integer = 0;
            for (int r = 0; r < f->nraw; r++)
                if (strcmp(f->raw_names[r], fc->name) == 0) integer = f->raw_kinds[r] == COL_INTEGER;
            snprintf(col, sizeof col, "col_%d", k);
            onnx_op(g, "Reshape", (const char *[]){fc->name, "shape_col", NULL}, integer ? col : name);
            if (integer) {
                struct onnx_node cn;
                onnx_node_begin(&cn, "Cast", "", (const char *[]){col, NULL}, (const char *[]){name, NULL});
                onnx_attr_int(&cn, "to", ONNX_FLOAT);
                onnx_node_end(g, &cn);
            }
            cols[j] = xstrdup(name);
            fill[j] = fc->fill; ctr[j] = fc->center; scl[j] = fc->scale;
            j++;
        }
        free_strs(cols, nnum);
        struct onnx_node n;
        char **cl = xmalloc((size_t)(nnum + 1) * sizeof *cl);
        for (int t = 0, k = 0; k < f->ncols; k++)
            if (f->cols[k].kind == COL_NUMERIC) { char name[64]; snprintf(name, sizeof name, "num_%d", k); cl[t++] = xstrdup(name); }
        cl[nnum] = NULL;
        onnx_node_begin(&n, "Concat", "", (const char *const *)cl, (const char *[]){"num_raw", NULL});
        onnx_attr_int(&n, "axis", 1);
        onnx_node_end(g, &n);
        free_strs(cl, nnum);
        int64_t d1[1] = {nnum};
        onnx_init_floats(g, "impute_value", d1, 1, fill);
        onnx_op(g, "IsNaN", (const char *[]){"num_raw", NULL}, "num_isnan");
        onnx_op(g, "Where", (const char *[]){"num_isnan", "impute_value", "num_raw", NULL}, f->scaled ? "num_imputed" : "num_features");
        if (f->scaled) {
            onnx_init_floats(g, "scale_offset", d1, 1, ctr);
            onnx_init_floats(g, "scale_factor", d1, 1, scl);
            onnx_op(g, "Sub", (const char *[]){"num_imputed", "scale_offset", NULL}, "num_centered");
            onnx_op(g, "Mul", (const char *[]){"num_centered", "scale_factor", NULL}, "num_features");
        }
        parts[nparts++] = xstrdup("num_features");
        free(fill); free(ctr); free(scl);
    }
    for (int k = 0; k < f->ncols; k++) {
        const struct fcol *fc = &f->cols[k];
        if (fc->kind != COL_CATEGORICAL) continue;
        static const char *const missing[] = {"", "NA", "N/A", "NaN", "nan", "NAN", "null", "NULL", "None", "?", "-nan"};
        int nm = (int)(sizeof missing / sizeof *missing), nk = fc->nlevels + nm;
        char **keys = xmalloc((size_t)nk * sizeof *keys);
        int64_t *vals = xmalloc((size_t)nk * sizeof *vals), *cats = xmalloc((size_t)fc->nlevels * sizeof *cats);
        for (int l = 0; l < fc->nlevels; l++) { keys[l] = fc->levels[l]; vals[l] = l; cats[l] = l; }
        for (int t = 0; t < nm; t++) { keys[fc->nlevels + t] = (char *)missing[t]; vals[fc->nlevels + t] = fc->fill_level; }
        char flat[64], codes[64], oh[64];
        snprintf(flat, sizeof flat, "cat_%d_flat", k);
        snprintf(codes, sizeof codes, "cat_%d_codes", k);
        snprintf(oh, sizeof oh, "cat_%d_onehot", k);
        onnx_op(g, "Reshape", (const char *[]){fc->name, "shape_flat", NULL}, flat);
        struct onnx_node n;
        onnx_node_begin(&n, "LabelEncoder", "ai.onnx.ml", (const char *[]){flat, NULL}, (const char *[]){codes, NULL});
        onnx_attr_strings(&n, "keys_strings", keys, nk);
        onnx_attr_ints(&n, "values_int64s", vals, nk);
        onnx_attr_int(&n, "default_int64", -1);
        onnx_node_end(g, &n);
        onnx_node_begin(&n, "OneHotEncoder", "ai.onnx.ml", (const char *[]){codes, NULL}, (const char *[]){oh, NULL});
        onnx_attr_ints(&n, "cats_int64s", cats, fc->nlevels);
        onnx_attr_int(&n, "zeros", 1);
        onnx_node_end(g, &n);
        parts[nparts++] = xstrdup(oh);
        free(keys); free(vals); free(cats);
    }
    parts[nparts] = NULL;
    struct onnx_node n;
    onnx_node_begin(&n, nparts == 1 ? "Identity" : "Concat", "", (const char *const *)parts, (const char *[]){features, NULL});
    if (nparts > 1) onnx_attr_int(&n, "axis", 1);
    onnx_node_end(g, &n);
    free_strs(parts, nparts);
}

void pipeline_onnx(const struct pipeline *pl, const char *version, struct sbuf *out)
{
    const struct featurizer *f = &pl->f;
    struct onnx_graph g;
    onnx_init(&g);
    emit_features(f, &g, "features");
    pl->algo->to_onnx(pl->model, &g, "features", "model_out");
    int64_t flat[1] = {-1}, one = 1, shape1[1] = {-1};
    if (f->task == TASK_REGRESSION) {
        onnx_init_int64s(&g, "shape_out", &one, 1, shape1);
        onnx_op(&g, "Reshape", (const char *[]){"model_out", "shape_out", NULL}, "prediction");
        onnx_output(&g, "prediction", ONNX_FLOAT, flat, 1);
    } else {
        int K = f->nclasses;
        struct onnx_node n;
        onnx_node_begin(&n, "ArgMax", "", (const char *[]){"model_out", NULL}, (const char *[]){"class_index", NULL});
        onnx_attr_int(&n, "axis", 1);
        onnx_attr_int(&n, "keepdims", 0);
        onnx_node_end(&g, &n);
        int64_t kd[1] = {K};
        if (f->classes_int) {
            int64_t *lab = xmalloc((size_t)K * sizeof *lab);
            for (int c = 0; c < K; c++) lab[c] = strtoll(f->classes[c], NULL, 10);
            onnx_init_int64s(&g, "class_labels", kd, 1, lab);
            free(lab);
        } else
            onnx_init_strings(&g, "class_labels", kd, 1, f->classes);
        onnx_node_begin(&n, "Gather", "", (const char *[]){"class_labels", "class_index", NULL}, (const char *[]){"prediction", NULL});
        onnx_attr_int(&n, "axis", 0);
        onnx_node_end(&g, &n);
        onnx_output(&g, "prediction", f->classes_int ? ONNX_INT64 : ONNX_STRING, flat, 1);
        for (int c = 0; c < K; c++) {
            char idx[32], name[256];
            snprintf(idx, sizeof idx, "class_%d", c);
            snprintf(name, sizeof name, "prob_%s", f->classes[c]);
            int64_t v = c;
            onnx_init_int64s(&g, idx, NULL, 0, &v);
            onnx_node_begin(&n, "Gather", "", (const char *[]){"model_out", idx, NULL}, (const char *[]){name, NULL});
            onnx_attr_int(&n, "axis", 1);
            onnx_node_end(&g, &n);
            onnx_output(&g, name, ONNX_FLOAT, flat, 1);
        }
    }
    onnx_model(&g, "cairn_pipeline", version, out);
    onnx_free(&g);
}
