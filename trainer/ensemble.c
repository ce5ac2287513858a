/* The ensemble model: members' predictions averaged with weights. */
#include "ensemble.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.h"

struct ensemble {
    int nout, m;
    struct ens_member mem[ENS_MAX_MEMBERS];
};

void *ensemble_make(int nout, int m, const struct ens_member *members)
{
    struct ensemble *e = xcalloc(1, sizeof *e);
    e->nout = nout;
    e->m = m > ENS_MAX_MEMBERS ? ENS_MAX_MEMBERS : m;
    double sum = 0;
    for (int i = 0; i < e->m; i++) sum += members[i].weight;
    for (int i = 0; i < e->m; i++) {
        e->mem[i] = members[i];
        e->mem[i].weight = sum > 0 ? members[i].weight / sum : 1.0 / e->m;
    }
    return e;
}

int ensemble_members(const void *ens, const struct ens_member **members)
{
    const struct ensemble *e = ens;
    *members = e->mem;
    return e->m;
}

static void *ens_fit(const struct train_data *d, const struct hparams *hp, char *err)
{
    errf(err, "the ensemble is built by cairn-sweep --ensemble from a sweep's trials");
    return NULL;
}

static void ens_predict(const void *model, const double *X, int n, double *out)
{
    const struct ensemble *e = model;
    size_t len = (size_t)n * e->nout;
    double *tmp = xmalloc((len ? len : 1) * sizeof *tmp);
    memset(out, 0, len * sizeof *out);
    for (int i = 0; i < e->m; i++) {
        e->mem[i].a->predict(e->mem[i].model, X, n, tmp);
        for (size_t j = 0; j < len; j++) out[j] += e->mem[i].weight * tmp[j];
    }
    free(tmp);
}

/* Each member as its own native text, percent-escaped into one string entry
 * (the members' keys would collide in one flat file). */
static void ens_save(const void *model, struct sbuf *b)
{
    const struct ensemble *e = model;
    kv_int(b, "ensemble_nout", e->nout);
    kv_int(b, "ensemble_size", e->m);
    double w[ENS_MAX_MEMBERS];
    char *names[ENS_MAX_MEMBERS];
    for (int i = 0; i < e->m; i++) { w[i] = e->mem[i].weight; names[i] = (char *)e->mem[i].a->name; }
    kv_dbls(b, "ensemble_weights", w, e->m);
    kv_strs(b, "ensemble_algorithms", names, e->m);
    for (int i = 0; i < e->m; i++) {
        char key[64];
        snprintf(key, sizeof key, "member_%d_hparams", i);
        kv_dbls(b, key, e->mem[i].hp.v, e->mem[i].a->nparams);
        struct sbuf mb;
        sb_init(&mb);
        e->mem[i].a->save(e->mem[i].model, &mb);
        snprintf(key, sizeof key, "member_%d", i);
        kv_str(b, key, mb.data ? mb.data : "");
        sb_free(&mb);
    }
}

static void ens_free(void *model)
{
    struct ensemble *e = model;
    if (!e) return;
    for (int i = 0; i < e->m; i++) if (e->mem[i].model) e->mem[i].a->free(e->mem[i].model);
    free(e);
}

static void *ens_load(const struct kv *kv, char *err)
{
    long nout, m;
    if (kv_get_int(kv, "ensemble_nout", &nout, err) || kv_get_int(kv, "ensemble_size", &m, err)) return NULL;
    if (nout < 1 || nout > 100000 || m < 1 || m > ENS_MAX_MEMBERS) { errf(err, "ensemble: bad size"); return NULL; }
    double *w = NULL;
    char **names = NULL;
    if (kv_get_dbls(kv, "ensemble_weights", (int)m, &w, NULL, err)) return NULL;
    if (kv_get_strs(kv, "ensemble_algorithms", (int)m, &names, NULL, err)) { free(w); return NULL; }
    struct ensemble *e = xcalloc(1, sizeof *e);
    e->nout = (int)nout;
    int ok = 1;
    for (int i = 0; i < m && ok; i++) {
        struct ens_member *mem = &e->mem[i];
        mem->a = algo_find(names[i]);
        mem->weight = w[i];
        if (!mem->a) { errf(err, "ensemble: unknown algorithm \"%s\"", names[i]); ok = 0; break; }
        char key[64];
        const char *text;
        double *hp = NULL;
        snprintf(key, sizeof key, "member_%d_hparams", i);
        if (kv_get_dbls(kv, key, mem->a->nparams, &hp, NULL, err)) { ok = 0; break; }
        memcpy(mem->hp.v, hp, (size_t)mem->a->nparams * sizeof *hp);
        free(hp);
        snprintf(key, sizeof key, "member_%d", i);
        struct kv mkv;
        if (kv_get_str(kv, key, &text, err) || kv_parse(text, &mkv, err)) { ok = 0; break; }
        mem->model = mem->a->load(&mkv, err);
        kv_free(&mkv);
        if (!mem->model) { ok = 0; break; }
        e->m = i + 1;
    }
    free(w);
    free_strs(names, (int)m);
    if (!ok) { ens_free(e); return NULL; }
    return e;
}

/* Every member's graph from the same features, reshaped to [N, nout],
 * scaled by its weight, then summed. */
static void ens_onnx(const void *model, struct onnx_graph *g, const char *in, const char *out)
{
    const struct ensemble *e = model;
    char **terms = xmalloc((size_t)(e->m + 1) * sizeof *terms);
    char shape[64];
    int64_t two = 2, sh[2] = {-1, e->nout}, one = 1;
    snprintf(shape, sizeof shape, "%s", onnx_tmp(g, "ens_shape"));
    onnx_init_int64s(g, shape, &two, 1, sh);
    for (int i = 0; i < e->m; i++) {
        char raw[64], flat[64], wn[64];
        snprintf(raw, sizeof raw, "%s", onnx_tmp(g, "ens_member"));
        e->mem[i].a->to_onnx(e->mem[i].model, g, in, raw);
        snprintf(flat, sizeof flat, "%s", onnx_tmp(g, "ens_member2d"));
        onnx_op(g, "Reshape", (const char *[]){raw, shape, NULL}, flat);
        snprintf(wn, sizeof wn, "%s", onnx_tmp(g, "ens_weight"));
        onnx_init_floats(g, wn, &one, 1, &e->mem[i].weight);
        terms[i] = xstrdup(onnx_tmp(g, "ens_term"));
        onnx_op(g, "Mul", (const char *[]){flat, wn, NULL}, terms[i]);
    }
    terms[e->m] = NULL;
    if (e->m == 1) onnx_op(g, "Identity", (const char *[]){terms[0], NULL}, out);
    else onnx_op(g, "Sum", (const char *const *)terms, out);
    free_strs(terms, e->m);
}

const struct algo algo_ensemble = {
    "ensemble", "cairn.ensemble.WeightedEnsemble", 0, NULL, 0,
    ens_fit, ens_predict, ens_save, ens_load, ens_onnx, ens_free, NULL,
};
