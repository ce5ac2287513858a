/* MLflow's scoring protocol over a Cairn pipeline: what `mlflow models
 * serve` accepts on POST /invocations (dataframe_split, dataframe_records,
 * instances, inputs, text/csv; a "params" field), the signature enforced as
 * MLflow's pyfunc enforces it, and the reply it gives for this model:
 * {"predictions": [{"prediction": …, "prob_<class>": …}, …]}.
 * No HTTP here: bytes and a content type in, a status and a body out. */
#ifndef CAIRN_TRAINER_SCORING_H
#define CAIRN_TRAINER_SCORING_H
#include <stddef.h>
#include "pipeline.h"
#include "util.h"

/* A loaded model ready to score: the pipeline plus what every request needs
 * precomputed (column lookups, the reply's JSON fragments). Read-only after
 * scorer_init, so any number of threads may score with it at once. */
struct scorer {
    struct pipeline pl;
    int nout;               /* values per row from the algorithm */
    int *feat_raw;          /* featurizer column k → raw input index */
    int *raw_hash;          /* open-addressing table of raw input names, 2 × nraw slots (-1 empty) */
    int hash_size;
    char **row_head;        /* classification: class c → "{\"prediction\": <label>" */
    char **prob_key;        /* class c → ", \"prob_<c>\": " */
    char *schema_text;      /* "['a': double (required), …]" for error messages */
};

struct limits {
    size_t max_body;        /* bytes */
    int max_rows;
};

/* The result of one request. body is JSON except for 415s, which MLflow answers in text/plain. */
struct score_reply {
    int status;
    const char *content_type;
    struct sbuf body;
    int rows;               /* rows scored (0 on error) */
};

/* Takes ownership of *pl (also on failure, when it is freed). */
int scorer_init(struct scorer *s, struct pipeline *pl, char *err);
void scorer_free(struct scorer *s);

/* body: len bytes (need not be NUL-terminated); content_type may be NULL. */
void score_request(const struct scorer *s, const struct limits *lim, const char *content_type, const char *body,
                   size_t len, struct score_reply *r);
void score_reply_free(struct score_reply *r);

/* MLflow's error body: {"error_code": "…", "message": "…"} */
void score_error_json(struct sbuf *b, const char *error_code, const char *message);

/* Up to 9 significant digits (float32 precision, as the signature's "float" outputs), Python's
 * repr spelling (0.5, 1e-05, 181.05453, NaN); integers print without a fraction part. */
void sb_float9(struct sbuf *b, double v);
#endif
