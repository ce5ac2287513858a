/* cairn-train evaluation artifacts: confusion matrix, ROC / precision-recall
 * (scikit-learn's numbers for its documentation examples), residuals, and
 * permutation importance through a fitted pipeline. */
#include <math.h>

#include "tests/test.h"
#include "trainer/csv.h"
#include "trainer/report.h"

static const struct sbuf *file_of(const struct report *r, const char *name)
{
    for (int i = 0; i < r->n; i++) if (strcmp(r->name[i], name) == 0) return &r->body[i];
    return NULL;
}

static int is_svg(const struct sbuf *b)
{
    return b && b->len > 20 && strncmp(b->data, "<svg ", 5) == 0 && strstr(b->data, "</svg>\n") == b->data + b->len - 7;
}

static void test_binary_curves(void)
{
    /* roc_auc_score / average_precision_score docs: y [0 0 1 1], s [.1 .4 .35 .8] → 0.75, 0.8333 */
    double P[] = {0.9, 0.1, 0.6, 0.4, 0.65, 0.35, 0.2, 0.8}, y[] = {0, 0, 1, 1};
    char *classes[] = {"neg", "pos"};
    struct report r = {0};
    report_classification(&r, P, y, 4, 2, classes);
    CHECK_INT(r.n, 6);
    const struct sbuf *cm = file_of(&r, "confusion_matrix.json"), *roc = file_of(&r, "roc_curve.json");
    const struct sbuf *pr = file_of(&r, "precision_recall_curve.json");
    CHECK(cm && strstr(cm->data, "\"labels\": [\"neg\", \"pos\"]") && strstr(cm->data, "\"matrix\": [[2, 0], [1, 1]]"));
    CHECK(roc && strstr(roc->data, "\"class\": \"pos\", \"auc\": 0.75,"));
    CHECK(pr && strstr(pr->data, "\"average_precision\": 0.8333333333333333"));
    CHECK(is_svg(file_of(&r, "confusion_matrix.svg")));
    CHECK(is_svg(file_of(&r, "roc_curve.svg")));
    CHECK(is_svg(file_of(&r, "precision_recall_curve.svg")));
    report_free(&r);
}

static void test_multiclass_and_escaping(void)
{
    double P[] = {0.8, 0.1, 0.1, 0.1, 0.8, 0.1, 0.1, 0.2, 0.7, 0.5, 0.4, 0.1}, y[] = {0, 1, 2, 1};
    char *classes[] = {"a<b", "x&y", "\"q\""};
    struct report r = {0};
    report_classification(&r, P, y, 4, 3, classes);
    const struct sbuf *svg = file_of(&r, "confusion_matrix.svg"), *roc = file_of(&r, "roc_curve.json");
    CHECK(svg && strstr(svg->data, "a&lt;b") && strstr(svg->data, "x&amp;y") && !strstr(svg->data, ">a<b<"));
    CHECK(roc && strstr(roc->data, "\"one_vs_rest\": true") && strstr(roc->data, "\"class\": \"\\\"q\\\"\""));
    report_free(&r);
}

static void test_residuals(void)
{
    double pred[] = {1, 2, 3, 4}, y[] = {1.5, 2, 2, 4.5};
    struct report r = {0};
    report_regression(&r, pred, y, 4);
    const struct sbuf *j = file_of(&r, "residuals.json");
    CHECK(j && strstr(j->data, "\"n\": 4, \"shown\": 4, \"mean_residual\": 0,") &&
          strstr(j->data, "\"residual\": [0.5, 0, -1, 0.5]"));
    CHECK(is_svg(file_of(&r, "residuals.svg")));
    report_free(&r);
}

static void test_permutation_importance(void)
{
    /* y depends on x1 only: x2 and the constant column score 0 */
    struct sbuf text;
    sb_init(&text);
    sb_puts(&text, "x1,x2,const,y\n");
    struct rng rng;
    rng_seed(&rng, 3);
    for (int i = 0; i < 200; i++) sb_printf(&text, "%d,%.4f,1,%s\n", i % 10, rng_uniform(&rng), i % 10 < 5 ? "lo" : "hi");
    struct csv c;
    char err[ERR_LEN];
    CHECK(csv_parse(text.data, text.len, "mem", &c, err) == 0);
    struct pipeline pl;
    memset(&pl, 0, sizeof pl);
    pl.algo = algo_find("rf");
    hparams_defaults(pl.algo, &pl.hp);
    hparams_set(pl.algo, &pl.hp, "n_estimators=10", err);
    int rows[200];
    for (int i = 0; i < 200; i++) rows[i] = i;
    CHECK(feat_target_fit(&pl.f, &c, "y", TASK_AUTO, rows, 200, err) == 0);
    CHECK(feat_fit(&pl.f, &c, rows, 200, 0, err) == 0);
    double *X = xmalloc(200 * (size_t)pl.f.nfeat * sizeof *X), y[200];
    feat_transform(&pl.f, &c, rows, 200, X, err);
    feat_target(&pl.f, &c, rows, 200, y, err);
    struct train_data d = {200, pl.f.nfeat, pl.f.nclasses, X, y, 0, NULL, NULL, 1, NULL, NULL};
    pl.model = pl.algo->fit(&d, &pl.hp, err);
    struct report r = {0}, r2 = {0};
    CHECK(report_permutation_importance(&r, &pl, &c, rows, 200, 4, 9, err) == 0);
    CHECK(report_permutation_importance(&r2, &pl, &c, rows, 200, 4, 9, err) == 0);
    const struct sbuf *j = file_of(&r, "permutation_importance.json");
    CHECK(j && strstr(j->data, "\"scoring\": \"accuracy\", \"baseline_score\": 1,"));
    CHECK(j && strstr(j->data, "\"features\": [{\"feature\": \"x1\""));   /* sorted, the informative one first */
    CHECK(j && strstr(j->data, "{\"feature\": \"const\", \"importance_mean\": 0, \"importance_std\": 0"));
    CHECK(j && r2.n == r.n && strcmp(j->data, r2.body[0].data) == 0);   /* same seed, same numbers */
    CHECK(is_svg(file_of(&r, "permutation_importance.svg")));
    report_free(&r);
    report_free(&r2);
    free(X);
    pipeline_free(&pl);
    csv_free(&c);
    sb_free(&text);
}

int main(void)
{
    test_binary_curves();
    test_multiclass_and_escaping();
    test_residuals();
    test_permutation_importance();
    TEST_MAIN_END();
}
