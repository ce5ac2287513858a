/* cairn-train: every algorithm on small data (quality against scikit-learn's
 * numbers for the same objective), determinism, and the native model file
 * round trip. */
#include <math.h>
#include <unistd.h>

#include "tests/test.h"
#include "trainer/csv.h"
#include "trainer/featurize.h"
#include "trainer/kv.h"
#include "trainer/metrics.h"
#include "trainer/model.h"
#include "trainer/pipeline.h"

struct fitted {
    struct csv c;
    struct pipeline pl;
    double *X, *y;
    int n;
};

/* Fit on every row; returns 0 on success. */
static int fit_all(const char *file, const char *target, const char *algo, const char *const *params,
                   struct fitted *out)
{
    char err[ERR_LEN];
    memset(out, 0, sizeof *out);
    if (csv_read(file, &out->c, err)) { fprintf(stderr, "%s\n", err); return -1; }
    int n = out->c.nrows, *rows = xmalloc((size_t)n * sizeof *rows);
    for (int i = 0; i < n; i++) rows[i] = i;
    struct pipeline *pl = &out->pl;
    pl->algo = algo_find(algo);
    hparams_defaults(pl->algo, &pl->hp);
    for (int i = 0; params && params[i]; i++)
        if (hparams_set(pl->algo, &pl->hp, params[i], err)) { fprintf(stderr, "%s\n", err); free(rows); return -1; }
    if (feat_target_fit(&pl->f, &out->c, target, TASK_AUTO, rows, n, err) ||
        feat_fit(&pl->f, &out->c, rows, n, pl->algo->needs_scaling, err)) { fprintf(stderr, "%s\n", err); free(rows); return -1; }
    int p = pl->f.nfeat, K = pl->f.task == TASK_CLASSIFICATION ? pl->f.nclasses : 0;
    out->X = xmalloc((size_t)n * p * sizeof *out->X);
    out->y = xmalloc((size_t)n * sizeof *out->y);
    out->n = n;
    feat_transform(&pl->f, &out->c, rows, n, out->X, err);
    feat_target(&pl->f, &out->c, rows, n, out->y, err);
    struct train_data d = {n, p, K, out->X, out->y, 0, NULL, NULL, 7, NULL, NULL};
    pl->model = pl->algo->fit(&d, &pl->hp, err);
    free(rows);
    if (!pl->model) { fprintf(stderr, "%s\n", err); return -1; }
    return 0;
}

static void fitted_free(struct fitted *f)
{
    pipeline_free(&f->pl);
    csv_free(&f->c);
    free(f->X); free(f->y);
}

static struct metric_set evaluate(struct fitted *f)
{
    int K = f->pl.f.task == TASK_CLASSIFICATION ? f->pl.f.nclasses : 0;
    double *P = xmalloc((size_t)f->n * (K ? K : 1) * sizeof *P);
    f->pl.algo->predict(f->pl.model, f->X, f->n, P);
    struct metric_set m;
    if (K) metrics_classification(P, f->y, f->n, K, &m); else metrics_regression(P, f->y, f->n, &m);
    free(P);
    return m;
}

static void test_linear(void)
{
    struct fitted f;
    /* scikit-learn LinearRegression on diabetes: R² 0.51775, intercept 152.13348 */
    CHECK(fit_all("tests/data/diabetes.csv", "target", "linear", NULL, &f) == 0);
    struct metric_set m = evaluate(&f);
    CHECK(fabs(metric_get(&m, "r2_score") - 0.5177484222) < 1e-6);
    fitted_free(&f);
    /* Ridge(alpha=1): R² 0.451231 */
    CHECK(fit_all("tests/data/diabetes.csv", "target", "ridge", NULL, &f) == 0);
    m = evaluate(&f);
    CHECK(fabs(metric_get(&m, "r2_score") - 0.4512306277) < 1e-6);
    fitted_free(&f);
    /* SVD path gives the same answer */
    CHECK(fit_all("tests/data/diabetes.csv", "target", "ridge", (const char *[]){"solver=svd", NULL}, &f) == 0);
    m = evaluate(&f);
    CHECK(fabs(metric_get(&m, "r2_score") - 0.4512306277) < 1e-6);
    fitted_free(&f);
    /* classification data is refused */
    CHECK(fit_all("tests/data/iris.csv", "target", "linear", NULL, &f) != 0);
    fitted_free(&f);
}

static void test_logreg(void)
{
    struct fitted f;
    /* scikit-learn LogisticRegression(C=1) on standardised iris: log-loss 0.129542, accuracy 0.9733 */
    CHECK(fit_all("tests/data/iris.csv", "target", "logreg", (const char *[]){"tol=1e-8", "max_iter=1000", NULL}, &f) == 0);
    struct metric_set m = evaluate(&f);
    CHECK(fabs(metric_get(&m, "log_loss") - 0.1295422689) < 1e-5);
    CHECK(fabs(metric_get(&m, "accuracy_score") - 0.9733333) < 1e-6);
    fitted_free(&f);
    /* binary: breast_cancer log-loss 0.0533919, accuracy 0.98770 */
    CHECK(fit_all("tests/data/breast_cancer.csv", "target", "logreg", (const char *[]){"tol=1e-8", "max_iter=1000", NULL}, &f) == 0);
    m = evaluate(&f);
    CHECK(fabs(metric_get(&m, "log_loss") - 0.0533918565) < 1e-5);
    CHECK(fabs(metric_get(&m, "accuracy_score") - 0.9876977) < 1e-6);
    fitted_free(&f);
}

static void test_gbdt_and_dummy(void)
{
    struct fitted f;
    CHECK(fit_all("tests/data/iris.csv", "target", "gbdt", (const char *[]){"n_estimators=30", NULL}, &f) == 0);
    struct metric_set m = evaluate(&f);
    CHECK(metric_get(&m, "accuracy_score") >= 0.99);
    fitted_free(&f);
    CHECK(fit_all("tests/data/breast_cancer.csv", "target", "gbdt", (const char *[]){"n_estimators=30", "num_leaves=8", NULL}, &f) == 0);
    m = evaluate(&f);
    CHECK(metric_get(&m, "accuracy_score") >= 0.98);
    CHECK(metric_get(&m, "roc_auc") >= 0.99);
    fitted_free(&f);
    CHECK(fit_all("tests/data/diabetes.csv", "target", "gbdt", (const char *[]){"n_estimators=50", "feature_fraction=0.8",
                                                                              "bagging_fraction=0.7", "bagging_freq=1", NULL}, &f) == 0);
    m = evaluate(&f);
    CHECK(metric_get(&m, "r2_score") >= 0.6);
    fitted_free(&f);
    CHECK(fit_all("tests/data/mixed.csv", "label", "gbdt", (const char *[]){"n_estimators=20", NULL}, &f) == 0);
    m = evaluate(&f);
    CHECK(metric_get(&m, "accuracy_score") >= 0.85);
    fitted_free(&f);
    CHECK(fit_all("tests/data/iris.csv", "target", "dummy", NULL, &f) == 0);
    m = evaluate(&f);
    CHECK(fabs(metric_get(&m, "accuracy_score") - 1.0 / 3) < 1e-12);
    CHECK(fabs(metric_get(&m, "log_loss") - log(3.0)) < 1e-12);
    fitted_free(&f);
    CHECK(fit_all("tests/data/diabetes.csv", "target", "dummy", (const char *[]){"strategy=mean", NULL}, &f) == 0);
    m = evaluate(&f);
    CHECK(fabs(metric_get(&m, "r2_score")) < 1e-12);
    fitted_free(&f);
}

static void test_forests(void)
{
    struct fitted f;
    /* fully grown bootstrap trees fit their training rows almost exactly */
    CHECK(fit_all("tests/data/breast_cancer.csv", "target", "rf", (const char *[]){"n_estimators=30", NULL}, &f) == 0);
    struct metric_set m = evaluate(&f);
    CHECK(metric_get(&m, "accuracy_score") >= 0.995);
    CHECK(metric_get(&m, "roc_auc") >= 0.999);
    fitted_free(&f);
    CHECK(fit_all("tests/data/iris.csv", "target", "extra_trees", (const char *[]){"n_estimators=20", NULL}, &f) == 0);
    m = evaluate(&f);
    CHECK(fabs(metric_get(&m, "accuracy_score") - 1.0) < 1e-12);   /* no bootstrap, grown until pure */
    fitted_free(&f);
    /* regression; max_depth and min_samples_leaf limit the fit */
    CHECK(fit_all("tests/data/diabetes.csv", "target", "rf", (const char *[]){"n_estimators=30", NULL}, &f) == 0);
    m = evaluate(&f);
    CHECK(metric_get(&m, "r2_score") >= 0.85);
    fitted_free(&f);
    CHECK(fit_all("tests/data/diabetes.csv", "target", "rf",
                  (const char *[]){"n_estimators=30", "max_depth=3", "min_samples_leaf=10", NULL}, &f) == 0);
    m = evaluate(&f);
    CHECK(metric_get(&m, "r2_score") >= 0.45 && metric_get(&m, "r2_score") <= 0.7);
    fitted_free(&f);
    /* categorical + missing data */
    CHECK(fit_all("tests/data/mixed.csv", "label", "extra_trees", (const char *[]){"max_features=0.5", NULL}, &f) == 0);
    m = evaluate(&f);
    CHECK(metric_get(&m, "accuracy_score") >= 0.95);
    fitted_free(&f);
}

static void test_mlp(void)
{
    struct fitted f;
    /* scikit-learn MLPClassifier((100,)) on standardised iris: training accuracy 0.98 */
    CHECK(fit_all("tests/data/iris.csv", "target", "mlp", (const char *[]){"max_iter=300", NULL}, &f) == 0);
    struct metric_set m = evaluate(&f);
    CHECK(metric_get(&m, "accuracy_score") >= 0.97);
    fitted_free(&f);
    /* binary (one logistic unit), two hidden layers, tanh */
    CHECK(fit_all("tests/data/breast_cancer.csv", "target", "mlp",
                  (const char *[]){"hidden_layer_sizes=32,16", "activation=tanh", NULL}, &f) == 0);
    m = evaluate(&f);
    CHECK(metric_get(&m, "accuracy_score") >= 0.98);
    fitted_free(&f);
    /* regression: the target is standardised inside, predictions come back in raw units */
    CHECK(fit_all("tests/data/diabetes.csv", "target", "mlp", (const char *[]){"max_iter=500", NULL}, &f) == 0);
    m = evaluate(&f);
    CHECK(metric_get(&m, "r2_score") >= 0.5);
    fitted_free(&f);
    /* early_stopping holds out 10 % and stops when its accuracy stalls, after
     * ~30 epochs here: scikit-learn lands at 0.90–0.94 training accuracy too */
    CHECK(fit_all("tests/data/wine.csv", "target", "mlp", (const char *[]){"early_stopping=true", NULL}, &f) == 0);
    m = evaluate(&f);
    CHECK(metric_get(&m, "accuracy_score") >= 0.85);
    fitted_free(&f);
}

static void test_knn_and_nb(void)
{
    struct fitted f;
    /* scikit-learn KNeighborsClassifier(5) on standardised data, training accuracy */
    static const struct { const char *file; double acc; } knn[] = {
        {"tests/data/iris.csv", 0.9533333333}, {"tests/data/wine.csv", 0.9775280899},
        {"tests/data/breast_cancer.csv", 0.9806678383},
    };
    for (int i = 0; i < 3; i++) {
        CHECK(fit_all(knn[i].file, "target", "knn", NULL, &f) == 0);
        struct metric_set m = evaluate(&f);
        CHECK(fabs(metric_get(&m, "accuracy_score") - knn[i].acc) < 1e-9);
        fitted_free(&f);
    }
    /* KNeighborsRegressor(5): R² 0.6049576057 */
    CHECK(fit_all("tests/data/diabetes.csv", "target", "knn", NULL, &f) == 0);
    struct metric_set m = evaluate(&f);
    CHECK(fabs(metric_get(&m, "r2_score") - 0.6049576057) < 1e-8);
    fitted_free(&f);
    /* weights=distance: every training row is its own neighbour at distance 0 */
    CHECK(fit_all("tests/data/wine.csv", "target", "knn", (const char *[]){"weights=distance", "n_neighbors=7", NULL}, &f) == 0);
    m = evaluate(&f);
    CHECK(fabs(metric_get(&m, "accuracy_score") - 1.0) < 1e-12);
    fitted_free(&f);
    /* GaussianNB: training log-loss and accuracy equal scikit-learn's */
    static const struct { const char *file; double ll, acc; } nb[] = {
        {"tests/data/iris.csv", 0.1112488207, 0.96}, {"tests/data/wine.csv", 0.0510372768, 0.9887640449},
        {"tests/data/breast_cancer.csv", 0.5204081108, 0.9420035149},
    };
    for (int i = 0; i < 3; i++) {
        CHECK(fit_all(nb[i].file, "target", "gaussian_nb", NULL, &f) == 0);
        m = evaluate(&f);
        CHECK(fabs(metric_get(&m, "log_loss") - nb[i].ll) < 1e-6);
        CHECK(fabs(metric_get(&m, "accuracy_score") - nb[i].acc) < 1e-9);
        fitted_free(&f);
    }
    CHECK(fit_all("tests/data/diabetes.csv", "target", "gaussian_nb", NULL, &f) != 0);   /* classification only */
    fitted_free(&f);
}

/* Same data and seed ⇒ the same model file bytes; the file loads back and
 * predicts exactly the same. */
static void test_determinism_and_roundtrip(void)
{
    static const char *const algos[] = {"dummy", "logreg", "gbdt", "ridge", "rf", "extra_trees", "mlp", "knn",
                                        "gaussian_nb", "rf", "mlp", "knn"};
    for (int a = 0; a < 12; a++) {
        int regression = a == 3 || a >= 9;
        const char *file = regression ? "tests/data/diabetes.csv" : "tests/data/mixed.csv";
        const char *target = regression ? "target" : "label";
        const char *params[] = {a == 2 ? "feature_fraction=0.7" : a == 4 || a == 5 || a == 9 ? "n_estimators=10"
                                : a == 6 || a == 10 ? "max_iter=20" : NULL, NULL};
        struct fitted f1, f2;
        CHECK(fit_all(file, target, algos[a], params, &f1) == 0);
        CHECK(fit_all(file, target, algos[a], params, &f2) == 0);
        struct sbuf b1, b2;
        sb_init(&b1); sb_init(&b2);
        pipeline_save(&f1.pl, &b1);
        pipeline_save(&f2.pl, &b2);
        CHECK(b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0);
        struct sbuf o1, o2;
        sb_init(&o1); sb_init(&o2);
        pipeline_onnx(&f1.pl, "test", &o1);
        pipeline_onnx(&f2.pl, "test", &o2);
        CHECK(o1.len == o2.len && memcmp(o1.data, o2.data, o1.len) == 0);
        char path[] = "/tmp/cairn-test-model-XXXXXX", err[ERR_LEN];
        int fd = mkstemp(path);
        CHECK(fd >= 0);
        if (fd >= 0) close(fd);
        CHECK(write_file(path, b1.data, b1.len, err) == 0);
        struct pipeline loaded;
        CHECK(pipeline_load(path, &loaded, err) == 0);
        unlink(path);
        double *P1, *P2;
        CHECK(pipeline_predict_csv(&f1.pl, &f1.c, &P1, err) == 0);
        CHECK(pipeline_predict_csv(&loaded, &f1.c, &P2, err) == 0);
        int nout = pipeline_nout(&f1.pl);
        CHECK(memcmp(P1, P2, (size_t)f1.c.nrows * nout * sizeof *P1) == 0);
        free(P1); free(P2);
        pipeline_free(&loaded);
        sb_free(&b1); sb_free(&b2); sb_free(&o1); sb_free(&o2);
        fitted_free(&f1);
        fitted_free(&f2);
    }
}

/* The SIMD paths (AVX2, AVX-512, chosen at run time) give the bits of the generic SSE2 ones: the
 * same model file from both, for every algorithm, on classification (binary and multiclass) and
 * regression, with the parameters that pick other code paths. */
static void test_simd_matches_generic(void)
{
    static const struct { const char *algo, *file, *target, *params[4]; } cases[] = {
        {"gbdt", "tests/data/digits.csv", "target", {"n_estimators=15", NULL}},
        {"gbdt", "tests/data/digits.csv", "target", {"n_estimators=10", "lambda_l1=0.5", "feature_fraction=0.6", NULL}},
        {"gbdt", "tests/data/breast_cancer.csv", "target", {"n_estimators=20", "min_data_in_leaf=5", NULL}},
        {"gbdt", "tests/data/diabetes.csv", "target", {"n_estimators=20", "lambda_l2=1", NULL}},
        {"gbdt", "tests/data/mixed.csv", "label", {"n_estimators=10", "bagging_fraction=0.7", "bagging_freq=1", NULL}},
        {"logreg", "tests/data/digits.csv", "target", {NULL}},
        {"logreg", "tests/data/breast_cancer.csv", "target", {NULL}},
        {"rf", "tests/data/wine.csv", "target", {"n_estimators=10", NULL}},
        {"rf", "tests/data/diabetes.csv", "target", {"n_estimators=10", NULL}},
        {"extra_trees", "tests/data/wine.csv", "target", {"n_estimators=10", NULL}},
        {"mlp", "tests/data/iris.csv", "target", {"max_iter=30", NULL}},
        {"mlp", "tests/data/diabetes.csv", "target", {"max_iter=30", NULL}},
        {"knn", "tests/data/wine.csv", "target", {NULL}},
        {"gaussian_nb", "tests/data/wine.csv", "target", {NULL}},
        {"ridge", "tests/data/diabetes.csv", "target", {NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct fitted f1, f2;
        cpu_generic_only = 0;
        CHECK(fit_all(cases[i].file, cases[i].target, cases[i].algo, cases[i].params, &f1) == 0);
        cpu_generic_only = 1;
        CHECK(fit_all(cases[i].file, cases[i].target, cases[i].algo, cases[i].params, &f2) == 0);
        cpu_generic_only = 0;
        struct sbuf b1, b2;
        sb_init(&b1); sb_init(&b2);
        pipeline_save(&f1.pl, &b1);
        pipeline_save(&f2.pl, &b2);
        int same = b1.len == b2.len && memcmp(b1.data, b2.data, b1.len) == 0;
        if (!same) fprintf(stderr, "simd != generic: %s on %s\n", cases[i].algo, cases[i].file);
        CHECK(same);
        sb_free(&b1); sb_free(&b2);
        fitted_free(&f1);
        fitted_free(&f2);
    }
}

/* gbdt's two prediction paths (leaf bitmasks for trees of ≤ 64 leaves, the node walk for bigger
 * ones) against a plain walk of the saved model file written here: every training row, rows whose
 * values sit exactly on a split threshold and just above it, and rows with NaN features. */
static void test_gbdt_predict_paths(void)
{
    static const struct { const char *file, *target, *params[4]; } cases[] = {
        {"tests/data/digits.csv", "target", {"n_estimators=8", NULL}},                                  /* softmax, 31 leaves */
        {"tests/data/breast_cancer.csv", "target", {"n_estimators=10", "num_leaves=64", "min_data_in_leaf=2", NULL}},
        {"tests/data/diabetes.csv", "target", {"n_estimators=10", "num_leaves=100", "min_data_in_leaf=2", NULL}},
        {"tests/data/diabetes.csv", "target", {"n_estimators=10", "num_leaves=2", NULL}},              /* stumps */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        struct fitted f;
        CHECK(fit_all(cases[c].file, cases[c].target, "gbdt", cases[c].params, &f) == 0);
        struct sbuf b;
        sb_init(&b);
        f.pl.algo->save(f.pl.model, &b);
        struct kv kv;
        char err[ERR_LEN];
        CHECK(kv_parse(b.data, &kv, err) == 0);
        int *dims, *start, *feat, *left, *right;
        double *thr, *val, *base;
        CHECK(kv_get_ints(&kv, "gbdt.dims", 6, &dims, NULL, err) == 0);
        int p = dims[0], k = dims[2], T = dims[3], nn = dims[4], link = dims[5], maxleaves = 0;
        CHECK(kv_get_dbls(&kv, "gbdt.base", k, &base, NULL, err) == 0);
        CHECK(kv_get_ints(&kv, "gbdt.tree_start", T + 1, &start, NULL, err) == 0);
        CHECK(kv_get_ints(&kv, "gbdt.feature", nn, &feat, NULL, err) == 0);
        CHECK(kv_get_dbls(&kv, "gbdt.threshold", nn, &thr, NULL, err) == 0);
        CHECK(kv_get_ints(&kv, "gbdt.left", nn, &left, NULL, err) == 0);
        CHECK(kv_get_ints(&kv, "gbdt.right", nn, &right, NULL, err) == 0);
        CHECK(kv_get_dbls(&kv, "gbdt.value", nn, &val, NULL, err) == 0);
        for (int t = 0; t < T; t++) {
            int l = 0;
            for (int i = start[t]; i < start[t + 1]; i++) l += feat[i] < 0;
            if (l > maxleaves) maxleaves = l;
        }
        /* the cases cover both paths and the 64-leaf edge */
        if (c == 1) CHECK(maxleaves == 64);
        if (c == 2) CHECK(maxleaves > 64);
        /* rows: the data, then per split (up to 400) a copy of row 0 on the threshold and just above,
         * then rows with one, several and every feature NaN */
        int nsplit = 0;
        for (int i = 0; i < nn && nsplit < 400; i++) nsplit += feat[i] >= 0;
        int n = f.n + 2 * nsplit + 3;
        double *X = xmalloc((size_t)n * p * sizeof *X);
        memcpy(X, f.X, (size_t)f.n * p * sizeof *X);
        int r = f.n;
        for (int i = 0; i < nn && r < f.n + 2 * nsplit; i++) {
            if (feat[i] < 0) continue;
            for (int e = 0; e < 2; e++, r++) {
                memcpy(X + (size_t)r * p, f.X, (size_t)p * sizeof *X);
                X[(size_t)r * p + feat[i]] = e ? nextafterf((float)thr[i], INFINITY) : thr[i];
            }
        }
        for (int e = 0; e < 3; e++, r++) {
            memcpy(X + (size_t)r * p, f.X + (size_t)(e + 1) * p, (size_t)p * sizeof *X);
            for (int j = 0; j < p; j++)
                if (e == 2 || j % (e + 2) == 0) X[(size_t)r * p + j] = NAN;
        }
        int nout = link == LINK_SOFTMAX ? k : link == LINK_SIGMOID2 ? 2 : 1, bad = 0;
        double *P = xmalloc((size_t)n * nout * sizeof *P), *F = xmalloc((size_t)k * sizeof *F);
        f.pl.algo->predict(f.pl.model, X, n, P);
        for (int i = 0; i < n; i++) {
            const double *x = X + (size_t)i * p;
            memcpy(F, base, (size_t)k * sizeof *F);
            for (int t = 0; t < T; t++) {
                int node = 0, s = start[t];
                while (feat[s + node] >= 0)
                    node = (float)x[feat[s + node]] <= (float)thr[s + node] ? left[s + node] : right[s + node];
                F[t % k] += val[s + node];
            }
            double want[64];
            if (link == LINK_IDENTITY) want[0] = F[0];
            else if (link == LINK_SIGMOID2) { want[0] = 1 / (1 + exp(F[0])); want[1] = 1 / (1 + exp(-F[0])); }
            else {
                double mx = F[0], sum = 0;
                for (int j = 1; j < k; j++) if (F[j] > mx) mx = F[j];
                for (int j = 0; j < k; j++) sum += want[j] = exp(F[j] - mx);
                for (int j = 0; j < k; j++) want[j] /= sum;
            }
            for (int j = 0; j < nout; j++)
                if (!(fabs(P[(size_t)i * nout + j] - want[j]) <= 1e-12 * (1 + fabs(want[j])))) bad++;
        }
        if (bad) fprintf(stderr, "gbdt predict paths, case %zu: %d values differ from the walk\n", c, bad);
        CHECK(bad == 0);
        free(P); free(F); free(X);
        free(dims); free(base); free(start); free(feat); free(thr); free(left); free(right); free(val);
        kv_free(&kv);
        sb_free(&b);
        fitted_free(&f);
    }
}

static void test_params(void)
{
    const struct algo *g = algo_find("gbdt");
    struct hparams hp;
    char err[ERR_LEN], buf[64];
    hparams_defaults(g, &hp);
    CHECK(hparams_set(g, &hp, "num_iterations=7", err) == 0);   /* LightGBM alias */
    hparams_format(g, &hp, 0, buf, sizeof buf);
    CHECK_STR(buf, "7");
    CHECK(hparams_set(g, &hp, "learning_rate=0.05", err) == 0);
    hparams_format(g, &hp, 1, buf, sizeof buf);
    CHECK_STR(buf, "0.05");
    CHECK(hparams_set(g, &hp, "learning_rate=abc", err) != 0);
    CHECK(hparams_set(g, &hp, "num_leaves=1", err) != 0);
    CHECK(strstr(err, "out of range") != NULL);
    CHECK(hparams_set(g, &hp, "n_estimators=2.5", err) != 0);
    CHECK(hparams_set(g, &hp, "bogus=1", err) != 0);
    CHECK(strstr(err, "unknown parameter") != NULL);
    CHECK(hparams_set(g, &hp, "noequals", err) != 0);
    const struct algo *l = algo_find("logreg");
    hparams_defaults(l, &hp);
    CHECK(hparams_set(l, &hp, "penalty=l1", err) != 0);
    CHECK(hparams_set(l, &hp, "penalty=none", err) == 0);
    CHECK(hparams_set(l, &hp, "fit_intercept=false", err) == 0);
    hparams_format(l, &hp, 3, buf, sizeof buf);
    CHECK_STR(buf, "False");
    CHECK(algo_find("nope") == NULL);
    /* max_features: a choice or a number; hidden_layer_sizes: a tuple */
    const struct algo *rf = algo_find("rf");
    hparams_defaults(rf, &hp);
    hparams_format(rf, &hp, 1, buf, sizeof buf);
    CHECK_STR(buf, "auto");
    CHECK(hparams_set(rf, &hp, "max_features=log2", err) == 0);
    hparams_format(rf, &hp, 1, buf, sizeof buf);
    CHECK_STR(buf, "log2");
    CHECK(hparams_set(rf, &hp, "max_features=0.5", err) == 0);
    hparams_format(rf, &hp, 1, buf, sizeof buf);
    CHECK_STR(buf, "0.5");
    CHECK(hparams_set(rf, &hp, "max_features=-2", err) != 0);
    CHECK(hparams_set(rf, &hp, "max_features=cube", err) != 0);
    const struct algo *mlp = algo_find("mlp");
    hparams_defaults(mlp, &hp);
    hparams_format(mlp, &hp, 0, buf, sizeof buf);
    CHECK_STR(buf, "100");
    CHECK(hparams_set(mlp, &hp, "hidden_layer_sizes=64,32,8", err) == 0);
    hparams_format(mlp, &hp, 0, buf, sizeof buf);
    CHECK_STR(buf, "64,32,8");
    int sz[3];
    CHECK_INT(hparams_sizes(hp.v[0], sz), 3);
    CHECK(sz[0] == 64 && sz[1] == 32 && sz[2] == 8);
    CHECK(hparams_set(mlp, &hp, "hidden_layer_sizes=1,2,3,4", err) != 0);
    CHECK(hparams_set(mlp, &hp, "hidden_layer_sizes=0", err) != 0);
    CHECK(hparams_set(mlp, &hp, "hidden_layer_sizes=10,", err) != 0);
}

static void test_metrics(void)
{
    double s[] = {0.1, 0.4, 0.35, 0.8};
    int pos[] = {0, 0, 1, 1};
    CHECK(fabs(roc_auc_binary(s, pos, 4) - 0.75) < 1e-12);   /* scikit-learn's example */
    double P[] = {0.9, 0.1, 0.2, 0.8, 0.6, 0.4}, y[] = {0, 1, 1};
    struct metric_set m;
    metrics_classification(P, y, 3, 2, &m);
    CHECK(fabs(metric_get(&m, "accuracy_score") - 2.0 / 3) < 1e-12);
    CHECK(fabs(metric_get(&m, "log_loss") - (-(log(0.9) + log(0.8) + log(0.4)) / 3)) < 1e-12);
    double pred[] = {1, 2, 3}, t[] = {1, 2, 4};
    metrics_regression(pred, t, 3, &m);
    CHECK(fabs(metric_get(&m, "mean_squared_error") - 1.0 / 3) < 1e-12);
    CHECK(fabs(metric_get(&m, "r2_score") - (1 - 1.0 / (42.0 / 9))) < 1e-12);
}

int main(void)
{
    test_params();
    test_metrics();
    test_linear();
    test_logreg();
    test_gbdt_and_dummy();
    test_gbdt_predict_paths();
    test_simd_matches_generic();
    test_forests();
    test_mlp();
    test_knn_and_nb();
    test_determinism_and_roundtrip();
    TEST_MAIN_END();
}
