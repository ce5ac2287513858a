/* Search spaces: the default one per algorithm, and sweep.yaml in the shape of
 * an Azure ML sweep job's search_space (choice, uniform, loguniform, quniform,
 * qloguniform, normal, qnormal, randint; loguniform bounds are exponents, as
 * Azure defines them). Values reach the algorithm through hparams_set. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "sweep.h"

static const char *const KIND_NAMES[] = {"choice", "uniform", "loguniform", "quniform", "qloguniform", "normal",
                                         "qnormal", "randint"};

static int param_index(const struct algo *a, const char *name)
{
    for (int i = 0; i < a->nparams; i++)
        if (!strcmp(a->params[i].name, name) || (a->params[i].alias && !strcmp(a->params[i].alias, name))) return i;
    return -1;
}

int dim_is_int(const struct algo_space *as, const struct dim *d)
{
    return d->kind != D_CHOICE && as->a->params[d->pidx].type == P_INT;
}

/* Acklam's inverse normal CDF (relative error < 1.2e-9) */
static double probit(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01, -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    if (p < 0.02425) {
        double q = sqrt(-2 * log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p > 1 - 0.02425) return -probit(1 - p);
    double q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

static double dim_number(const struct dim *d, double u)
{
    u = fmin(fmax(u, 0), 1);
    switch (d->kind) {
    case D_UNIFORM: return d->lo + u * (d->hi - d->lo);
    case D_QUNIFORM: return round((d->lo + u * (d->hi - d->lo)) / d->q) * d->q;
    case D_LOGUNIFORM: return exp(d->lo + u * (d->hi - d->lo));
    case D_QLOGUNIFORM: return round(exp(d->lo + u * (d->hi - d->lo)) / d->q) * d->q;
    case D_NORMAL: return d->lo + d->hi * probit(fmin(fmax(u, 1e-6), 1 - 1e-6));
    case D_QNORMAL: return round((d->lo + d->hi * probit(fmin(fmax(u, 1e-6), 1 - 1e-6))) / d->q) * d->q;
    case D_RANDINT: return fmin(floor(u * d->hi), d->hi - 1);
    }
    return 0;
}

void dim_value(const struct dim *d, int is_int, double u, char *buf, size_t len)
{
    if (d->kind == D_CHOICE) {
        int i = (int)(fmin(fmax(u, 0), 1) * d->nchoices);
        snprintf(buf, len, "%s", d->choices[i < d->nchoices ? i : d->nchoices - 1]);
        return;
    }
    double v = dim_number(d, u);
    if (is_int || d->kind == D_RANDINT) snprintf(buf, len, "%ld", (long)llround(v));
    else snprintf(buf, len, "%.10g", v);
}

double dim_unit_of(const struct dim *d, int is_int, const char *text)
{
    (void)is_int;
    if (d->kind == D_CHOICE) {
        for (int i = 0; i < d->nchoices; i++)
            if (!strcmp(d->choices[i], text)) return (i + 0.5) / d->nchoices;
        /* numbers written differently ("1" vs "1.0") */
        double v, w;
        if (parse_double(text, &v)) return -1;
        for (int i = 0; i < d->nchoices; i++)
            if (!parse_double(d->choices[i], &w) && w == v) return (i + 0.5) / d->nchoices;
        return -1;
    }
    double v, u;
    if (!strcmp(text, "True")) v = 1;
    else if (!strcmp(text, "False")) v = 0;
    else if (parse_double(text, &v)) return -1;
    switch (d->kind) {
    case D_UNIFORM: case D_QUNIFORM: u = d->hi > d->lo ? (v - d->lo) / (d->hi - d->lo) : 0; break;
    case D_LOGUNIFORM: case D_QLOGUNIFORM: u = v > 0 && d->hi > d->lo ? (log(v) - d->lo) / (d->hi - d->lo) : 0; break;
    case D_NORMAL: case D_QNORMAL: u = 0.5 * erfc(-(v - d->lo) / (d->hi * sqrt(2))); break;
    default: u = (v + 0.5) / d->hi;
    }
    return fmin(fmax(u, 0), 1);
}

int config_hparams(const struct space *s, const struct config *c, struct hparams *hp, char *err)
{
    const struct algo_space *as = &s->algos[c->algo];
    hparams_defaults(as->a, hp);
    for (int i = 0; i < as->nfixed; i++)
        if (hparams_set(as->a, hp, as->fixed[i], err)) return -1;
    for (int i = 0; i < as->ndims; i++) {
        char kv[256], v[160];
        dim_value(&as->dims[i], dim_is_int(as, &as->dims[i]), c->u[i], v, sizeof v);
        snprintf(kv, sizeof kv, "%s=%s", as->dims[i].name, v);
        if (hparams_set(as->a, hp, kv, err)) return -1;
    }
    return 0;
}

int algo_iter_param(const struct algo *a)
{
    static const char *const NAMES[] = {"n_estimators", "max_iter", NULL};
    for (int k = 0; NAMES[k]; k++) {
        int i = param_index(a, NAMES[k]);
        if (i >= 0) return i;
    }
    return -1;
}

int trial_hparams(const struct space *s, const struct trial *t, struct hparams *hp, char *err)
{
    if (config_hparams(s, &t->cfg, hp, err)) return -1;
    int i = algo_iter_param(s->algos[t->cfg.algo].a);
    if (i >= 0 && t->fidelity > 0 && t->fidelity < 1) hp->v[i] = fmax(1, round(hp->v[i] * t->fidelity));
    return 0;
}

int trial_better(const struct trial *a, const struct trial *b)
{
    if (a->sample_n != b->sample_n) return a->sample_n > b->sample_n;
    if (a->fidelity != b->fidelity) return a->fidelity > b->fidelity;
    if (a->score != b->score) return a->score > b->score;
    return a->num < b->num;
}

/* ---------------------------------------------------------------- defaults */
static struct dim *add_dim(struct algo_space *as, const char *name, int kind, double lo, double hi)
{
    int pidx = param_index(as->a, name);
    if (pidx < 0 || as->ndims == SW_MAX_DIMS) return NULL;
    struct dim *d = &as->dims[as->ndims++];
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", as->a->params[pidx].name);
    d->kind = kind;
    d->pidx = pidx;
    d->lo = kind == D_LOGUNIFORM ? log(lo) : lo;
    d->hi = kind == D_LOGUNIFORM ? log(hi) : hi;
    d->q = 1;
    d->init = 0.5;
    return d;
}

static void num(struct algo_space *as, const char *name, int kind, double lo, double hi, double init)
{
    struct dim *d = add_dim(as, name, kind, lo, hi);
    if (!d) return;
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", init);
    d->init = dim_unit_of(d, 0, buf);
}

static void choice(struct algo_space *as, const char *name, const char *values)
{
    struct dim *d = add_dim(as, name, D_CHOICE, 0, 0);
    if (!d) return;
    char *copy = xstrdup(values), *save = NULL;
    for (char *t = strtok_r(copy, "|", &save); t; t = strtok_r(NULL, "|", &save)) {
        d->choices = xrealloc(d->choices, (size_t)(d->nchoices + 1) * sizeof *d->choices);
        d->choices[d->nchoices++] = xstrdup(t);
    }
    free(copy);
    d->init = 0.5 / d->nchoices;   /* the first value is the cheap/default one */
}

static void default_dims(struct algo_space *as, int task)
{
    const char *n = as->a->name;
    if (!strcmp(n, "logreg")) {
        num(as, "C", D_LOGUNIFORM, 1e-3, 1e3, 1);
        choice(as, "class_weight", "none|balanced");
        as->fixed[as->nfixed++] = xstrdup("max_iter=200");
    } else if (!strcmp(n, "ridge")) {
        num(as, "alpha", D_LOGUNIFORM, 1e-4, 1e4, 1);
    } else if (!strcmp(n, "gbdt")) {
        num(as, "n_estimators", D_LOGUNIFORM, 4, 1000, 4);
        num(as, "num_leaves", D_LOGUNIFORM, 4, 256, 4);
        num(as, "learning_rate", D_LOGUNIFORM, 0.01, 1, 0.1);
        num(as, "min_data_in_leaf", D_LOGUNIFORM, 2, 128, 20);
        num(as, "feature_fraction", D_UNIFORM, 0.4, 1, 1);
        num(as, "lambda_l2", D_LOGUNIFORM, 1e-3, 100, 1e-3);
    } else if (!strcmp(n, "rf") || !strcmp(n, "extra_trees")) {
        num(as, "n_estimators", D_LOGUNIFORM, 4, 512, 4);
        choice(as, "max_features", task == TASK_REGRESSION ? "1.0|sqrt|0.5|log2" : "sqrt|log2|0.5|1.0");
        num(as, "min_samples_leaf", D_LOGUNIFORM, 1, 32, 1);
    } else if (!strcmp(n, "mlp")) {
        choice(as, "hidden_layer_sizes", "32|64|128|64,32");
        num(as, "alpha", D_LOGUNIFORM, 1e-6, 0.1, 1e-4);
        num(as, "learning_rate_init", D_LOGUNIFORM, 1e-4, 0.05, 1e-3);
        num(as, "max_iter", D_LOGUNIFORM, 20, 300, 20);
    } else if (!strcmp(n, "knn")) {
        num(as, "n_neighbors", D_LOGUNIFORM, 1, 50, 5);
        choice(as, "weights", "uniform|distance");
    } else if (!strcmp(n, "gaussian_nb")) {
        num(as, "var_smoothing", D_LOGUNIFORM, 1e-12, 1e-2, 1e-9);
    }
}

static const char *const CLS_ALGOS[] = {"dummy", "logreg", "gaussian_nb", "knn", "gbdt", "rf", "extra_trees", "mlp", NULL};
static const char *const REG_ALGOS[] = {"dummy", "linear", "ridge", "knn", "gbdt", "rf", "extra_trees", "mlp", NULL};

static int fits_task(const char *name, int task)
{
    const char *const *l = task == TASK_REGRESSION ? REG_ALGOS : CLS_ALGOS;
    for (int i = 0; l[i]; i++) if (!strcmp(l[i], name)) return 1;
    return 0;
}

static int add_algo(struct space *s, const char *name, int task, char *err)
{
    const struct algo *a = algo_find(name);
    if (!a) return errf(err, "unknown algorithm \"%s\" (known: %s)", name, algo_names());
    if (!fits_task(name, task))
        return errf(err, "algorithm \"%s\" does not fit a %s task", name, task == TASK_REGRESSION ? "regression" : "classification");
    for (int i = 0; i < s->nalgos; i++) if (s->algos[i].a == a) return 0;
    if (s->nalgos == SW_MAX_ALGOS) return errf(err, "too many algorithms");
    struct algo_space *as = &s->algos[s->nalgos++];
    memset(as, 0, sizeof *as);
    as->a = a;
    default_dims(as, task);
    return 0;
}

int space_default(struct space *s, const char *algos, int task, char *err)
{
    memset(s, 0, sizeof *s);
    if (!algos || !*algos) {
        const char *const *l = task == TASK_REGRESSION ? REG_ALGOS : CLS_ALGOS;
        for (int i = 0; l[i]; i++) add_algo(s, l[i], task, err);
        return 0;
    }
    char *copy = xstrdup(algos), *save = NULL;
    int rc = 0;
    for (char *t = strtok_r(copy, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) rc = add_algo(s, t, task, err);
    free(copy);
    if (!rc && !s->nalgos) rc = errf(err, "--algos names no algorithm");
    return rc;
}

static void dim_free(struct dim *d)
{
    for (int i = 0; i < d->nchoices; i++) free(d->choices[i]);
    free(d->choices);
    d->choices = NULL;
    d->nchoices = 0;
}

void space_free(struct space *s)
{
    for (int i = 0; i < s->nalgos; i++) {
        for (int j = 0; j < s->algos[i].ndims; j++) dim_free(&s->algos[i].dims[j]);
        for (int j = 0; j < s->algos[i].nfixed; j++) free(s->algos[i].fixed[j]);
    }
    s->nalgos = 0;
}

/* ---------------------------------------------------------------- sweep.yaml */
struct ydoc { yaml_document_t doc; const char *path; char *err; };

static int yerr(struct ydoc *y, yaml_node_t *n, const char *fmt, const char *a, const char *b)
{
    char msg[1200];
    snprintf(msg, sizeof msg, fmt, a ? a : "", b ? b : "");
    return errf(y->err, "%s:%lu: %s", y->path, n ? (unsigned long)n->start_mark.line + 1 : 0UL, msg);
}

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *map_get(struct ydoc *y, yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const char *k = scalar(yaml_document_get_node(&y->doc, p->key));
        if (k && !strcmp(k, key)) return yaml_document_get_node(&y->doc, p->value);
    }
    return NULL;
}

static int get_num(struct ydoc *y, yaml_node_t *map, const char *key, double *out)
{
    yaml_node_t *n = map_get(y, map, key);
    if (!n) return yerr(y, map, "%s needs %s", map_get(y, map, "type") ? scalar(map_get(y, map, "type")) : "this", key);
    if (!scalar(n) || parse_double(scalar(n), out) || !isfinite(*out)) return yerr(y, n, "%s must be a number", key, NULL);
    return 0;
}

static void choice_add(struct dim *d, const char *v)
{
    d->choices = xrealloc(d->choices, (size_t)(d->nchoices + 1) * sizeof *d->choices);
    d->choices[d->nchoices++] = xstrdup(v);
}

/* "loguniform(-6, -1)" / "choice(1, 2, 3)": 1 when the text is not an expression (a fixed value) */
static int parse_expr(struct ydoc *y, yaml_node_t *n, const char *text, struct dim *d)
{
    const char *open = strchr(text, '('), *close = strrchr(text, ')');
    if (!open || !close || close < open || close[1]) return 1;
    char kind[32];
    snprintf(kind, sizeof kind, "%.*s", (int)(open - text < 31 ? open - text : 31), text);
    int k = -1;
    for (int i = 0; i < (int)(sizeof KIND_NAMES / sizeof *KIND_NAMES); i++) if (!strcmp(kind, KIND_NAMES[i])) k = i;
    if (k < 0) return 1;
    d->kind = k;
    char *args = xmalloc((size_t)(close - open));
    memcpy(args, open + 1, (size_t)(close - open - 1));
    args[close - open - 1] = 0;
    double v[3] = {0};
    int nv = 0, rc = 0;
    char *save = NULL;
    for (char *t = strtok_r(args, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*t)) t++;
        char *e = t + strlen(t);
        while (e > t && isspace((unsigned char)e[-1])) *--e = 0;
        if (k == D_CHOICE) {
            if (*t == '"' || *t == '\'') { t++; if (e > t && (e[-1] == '"' || e[-1] == '\'')) e[-1] = 0; }
            choice_add(d, t);
        } else if (nv == 3 || parse_double(t, &v[nv++])) {
            rc = yerr(y, n, "%s: arguments must be numbers", kind, NULL);
            break;
        }
    }
    free(args);
    if (rc) return rc;
    int need = k == D_RANDINT ? 1 : k == D_CHOICE ? 0 : (k == D_QUNIFORM || k == D_QLOGUNIFORM || k == D_QNORMAL) ? 3 : 2;
    if (k == D_CHOICE && !d->nchoices) return yerr(y, n, "choice() needs at least one value", NULL, NULL);
    if (k != D_CHOICE && nv != need) return yerr(y, n, "%s takes %s numbers", kind, need == 1 ? "1" : need == 2 ? "2" : "3");
    if (k == D_RANDINT) d->hi = v[0];
    else { d->lo = v[0]; d->hi = v[1]; d->q = need == 3 ? v[2] : 1; }
    return 0;
}

/* One parameter's entry: a distribution (mapping or expression), a list (choice), or a fixed scalar.
 * Returns 0 with *fixed set for a scalar; 0 with d filled for a distribution. */
static int parse_spec(struct ydoc *y, yaml_node_t *n, struct dim *d, const char **fixed)
{
    memset(d, 0, sizeof *d);
    d->q = 1;
    d->init = 0.5;
    *fixed = NULL;
    if (n->type == YAML_SCALAR_NODE) {
        int rc = parse_expr(y, n, scalar(n), d);
        if (rc == 1) { *fixed = scalar(n); return 0; }
        if (rc) return rc;
    } else if (n->type == YAML_SEQUENCE_NODE) {
        d->kind = D_CHOICE;
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
            const char *v = scalar(yaml_document_get_node(&y->doc, *it));
            if (!v) return yerr(y, n, "choice values must be scalars", NULL, NULL);
            choice_add(d, v);
        }
    } else {
        const char *type = scalar(map_get(y, n, "type"));
        if (!type) return yerr(y, n, "a search space entry needs type: (choice, uniform, loguniform, quniform, qloguniform, normal, qnormal, randint)", NULL, NULL);
        int k = -1;
        for (int i = 0; i < (int)(sizeof KIND_NAMES / sizeof *KIND_NAMES); i++) if (!strcmp(type, KIND_NAMES[i])) k = i;
        if (k < 0)
            return yerr(y, map_get(y, n, "type"), "unknown type \"%s\" (choice, uniform, loguniform, quniform, qloguniform, normal, qnormal, randint)", type, NULL);
        d->kind = k;
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            const char *key = scalar(yaml_document_get_node(&y->doc, p->key));
            static const char *const known = "|type|values|min_value|max_value|q|mu|sigma|upper|";
            char probe[80];
            snprintf(probe, sizeof probe, "|%s|", key ? key : "");
            if (!key || !strstr(known, probe))
                return yerr(y, yaml_document_get_node(&y->doc, p->key), "unknown key \"%s\" in a %s entry", key, type);
        }
        if (k == D_CHOICE) {
            yaml_node_t *vals = map_get(y, n, "values");
            if (!vals || vals->type != YAML_SEQUENCE_NODE) return yerr(y, n, "choice needs values: [...]", NULL, NULL);
            for (yaml_node_item_t *it = vals->data.sequence.items.start; it < vals->data.sequence.items.top; it++) {
                const char *v = scalar(yaml_document_get_node(&y->doc, *it));
                if (!v) return yerr(y, vals, "choice values must be scalars", NULL, NULL);
                choice_add(d, v);
            }
        } else if (k == D_RANDINT) {
            if (get_num(y, n, "upper", &d->hi)) return -1;
        } else if (k == D_NORMAL || k == D_QNORMAL) {
            if (get_num(y, n, "mu", &d->lo) || get_num(y, n, "sigma", &d->hi)) return -1;
        } else if (get_num(y, n, "min_value", &d->lo) || get_num(y, n, "max_value", &d->hi)) return -1;
        if ((k == D_QUNIFORM || k == D_QLOGUNIFORM || k == D_QNORMAL) && get_num(y, n, "q", &d->q)) return -1;
    }
    if (d->kind == D_CHOICE && !d->nchoices) return yerr(y, n, "choice needs at least one value", NULL, NULL);
    if ((d->kind == D_UNIFORM || d->kind == D_QUNIFORM || d->kind == D_LOGUNIFORM || d->kind == D_QLOGUNIFORM) && !(d->hi >= d->lo))
        return yerr(y, n, "max_value must not be below min_value", NULL, NULL);
    if ((d->kind == D_NORMAL || d->kind == D_QNORMAL) && !(d->hi > 0)) return yerr(y, n, "sigma must be positive", NULL, NULL);
    if (d->kind == D_RANDINT && !(d->hi >= 1)) return yerr(y, n, "randint needs upper >= 1", NULL, NULL);
    if (d->q <= 0) return yerr(y, n, "q must be positive", NULL, NULL);
    return 0;
}

/* Put a parsed entry into an algorithm's space: replace its dim, or fix the parameter. */
static int apply_entry(struct ydoc *y, yaml_node_t *at, struct algo_space *as, const char *name, struct dim *d,
                       const char *fixed)
{
    char kv[400];
    int pidx = param_index(as->a, name);
    if (pidx < 0) return -2;
    const char *canon = as->a->params[pidx].name;
    struct hparams hp;
    hparams_defaults(as->a, &hp);
    for (int i = 0; i < as->ndims; i++)
        if (!strcmp(as->dims[i].name, canon)) {   /* drop the default dimension */
            dim_free(&as->dims[i]);
            memmove(&as->dims[i], &as->dims[i + 1], (size_t)(as->ndims - i - 1) * sizeof *as->dims);
            as->ndims--;
            break;
        }
    for (int i = 0; i < as->nfixed; i++)
        if (!strncmp(as->fixed[i], canon, strlen(canon)) && as->fixed[i][strlen(canon)] == '=') {
            free(as->fixed[i]);
            as->fixed[i] = as->fixed[--as->nfixed];
            break;
        }
    if (fixed) {
        snprintf(kv, sizeof kv, "%s=%s", canon, fixed);
        char e[ERR_LEN];
        if (hparams_set(as->a, &hp, kv, e)) return yerr(y, at, "%s: %s", as->a->name, e);
        if (as->nfixed == SW_MAX_FIXED) return yerr(y, at, "too many fixed parameters", NULL, NULL);
        as->fixed[as->nfixed++] = xstrdup(kv);
        return 0;
    }
    if (as->ndims == SW_MAX_DIMS) return yerr(y, at, "too many dimensions for %s", as->a->name, NULL);
    struct dim *nd = &as->dims[as->ndims++];
    *nd = *d;
    snprintf(nd->name, sizeof nd->name, "%s", canon);
    nd->pidx = pidx;
    if (d->nchoices) {   /* the algorithm space owns its own copy */
        nd->choices = xmalloc((size_t)d->nchoices * sizeof *nd->choices);
        for (int i = 0; i < d->nchoices; i++) nd->choices[i] = xstrdup(d->choices[i]);
    }
    /* every value this dimension can produce must be acceptable */
    int is_int = dim_is_int(as, nd), probes = nd->kind == D_CHOICE ? nd->nchoices : 2;
    for (int i = 0; i < probes; i++) {
        char v[160], e[ERR_LEN];
        double u = nd->kind == D_CHOICE ? (i + 0.5) / nd->nchoices : i ? 1 - 1e-6 : 1e-6;
        dim_value(nd, is_int, u, v, sizeof v);
        snprintf(kv, sizeof kv, "%s=%s", canon, v);
        if (hparams_set(as->a, &hp, kv, e)) return yerr(y, at, "%s: %s", as->a->name, e);
    }
    return 0;
}

static int apply_map(struct ydoc *y, yaml_node_t *map, struct space *s, int only, int must_match)
{
    if (map->type != YAML_MAPPING_NODE) return yerr(y, map, "expected a mapping of parameter: distribution", NULL, NULL);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&y->doc, p->key), *vn = yaml_document_get_node(&y->doc, p->value);
        const char *name = scalar(kn);
        if (!name) return yerr(y, kn, "parameter names must be scalars", NULL, NULL);
        struct dim d;
        const char *fixed;
        int rc = parse_spec(y, vn, &d, &fixed), matched = 0;
        for (int i = 0; !rc && i < s->nalgos; i++) {
            if (only >= 0 && i != only) continue;
            int r = apply_entry(y, vn, &s->algos[i], name, &d, fixed);
            if (r == -2) continue;
            if (r) rc = r; else matched = 1;
        }
        dim_free(&d);
        if (rc) return rc;
        if (!matched && must_match)
            return yerr(y, kn, only >= 0 ? "unknown parameter \"%s\" for %s" : "no selected algorithm has a parameter \"%s\"%s",
                        name, only >= 0 ? s->algos[only].a->name : "");
    }
    return 0;
}

int space_load_yaml(struct space *s, const char *path, const char *algos, int task, char *err)
{
    memset(s, 0, sizeof *s);
    FILE *fp = fopen(path, "rb");
    if (!fp) return errf(err, "cannot open %s", path);
    yaml_parser_t parser;
    struct ydoc y = {.path = path, .err = err};
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, fp);
    int rc = 0;
    if (!yaml_parser_load(&parser, &y.doc)) {
        rc = errf(err, "%s:%lu: %s", path, (unsigned long)parser.problem_mark.line + 1,
                  parser.problem ? parser.problem : "YAML syntax error");
        yaml_parser_delete(&parser);
        fclose(fp);
        return rc;
    }
    yaml_parser_delete(&parser);
    fclose(fp);
    yaml_node_t *root = yaml_document_get_root_node(&y.doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = yerr(&y, root, "expected a mapping with algorithms: and/or search_space:", NULL, NULL);
        goto out;
    }
    yaml_node_t *al = map_get(&y, root, "algorithms"), *ss = map_get(&y, root, "search_space");
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&y.doc, p->key);
        const char *k = scalar(kn);
        if (!k || (strcmp(k, "algorithms") && strcmp(k, "search_space"))) {
            rc = yerr(&y, kn, "unknown key \"%s\" (algorithms, search_space)", k, NULL);
            goto out;
        }
    }
    /* the algorithms: a list, a mapping name → entries, or (absent) --algos / every one for the task */
    if (al && al->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = al->data.sequence.items.start; !rc && it < al->data.sequence.items.top; it++) {
            yaml_node_t *n = yaml_document_get_node(&y.doc, *it);
            char e[ERR_LEN];
            if (!scalar(n)) rc = yerr(&y, n, "algorithm names must be scalars", NULL, NULL);
            else if (add_algo(s, scalar(n), task, e)) rc = yerr(&y, n, "%s", e, NULL);
        }
    } else if (al && al->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = al->data.mapping.pairs.start; !rc && p < al->data.mapping.pairs.top; p++) {
            yaml_node_t *kn = yaml_document_get_node(&y.doc, p->key), *vn = yaml_document_get_node(&y.doc, p->value);
            char e[ERR_LEN];
            if (!scalar(kn)) { rc = yerr(&y, kn, "algorithm names must be scalars", NULL, NULL); break; }
            if (add_algo(s, scalar(kn), task, e)) { rc = yerr(&y, kn, "%s", e, NULL); break; }
            if (vn->type == YAML_SCALAR_NODE && !*scalar(vn)) continue;   /* "gbdt:" alone: its default space */
            rc = apply_map(&y, vn, s, s->nalgos - 1, 1);
        }
    } else if (al) {
        rc = yerr(&y, al, "algorithms: must be a list of names or a mapping name: {parameter: distribution}", NULL, NULL);
    } else if (space_default(s, algos, task, err)) rc = -1;
    if (!rc && !s->nalgos) rc = yerr(&y, al ? al : root, "no algorithm selected", NULL, NULL);
    if (!rc && ss) rc = apply_map(&y, ss, s, -1, 1);
    if (!rc && algos && *algos && al) {   /* --algos narrows what the file lists */
        int kept = 0;
        for (int i = 0; i < s->nalgos; i++) {
            char list[512];
            snprintf(list, sizeof list, ",%s,", algos);
            char probe[80];
            snprintf(probe, sizeof probe, ",%s,", s->algos[i].a->name);
            if (strstr(list, probe)) { if (kept != i) s->algos[kept] = s->algos[i]; kept++; continue; }
            for (int j = 0; j < s->algos[i].ndims; j++) dim_free(&s->algos[i].dims[j]);
            for (int j = 0; j < s->algos[i].nfixed; j++) free(s->algos[i].fixed[j]);
        }
        s->nalgos = kept;
        if (!s->nalgos) rc = errf(err, "--algos and %s have no algorithm in common", path);
    }
out:
    yaml_document_delete(&y.doc);
    if (rc) space_free(s);
    return rc ? -1 : 0;
}
