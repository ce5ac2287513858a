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
    /* How a large request's two halves are scored: fn(a) and fn(b), on two CPUs when the caller
     * has a second one free, else one after the other. NULL: always one after the other. */
    void (*run_halves)(void (*fn)(void *), void *a, void *b);
};

/* The result of one request. body is JSON except for 415s, which MLflow answers in text/plain. */
struct score_reply {
    int status;
    const char *content_type;
    struct sbuf body;
    int rows;               /* rows scored (0 on error) */
    double *P;              /* score_compute's 200: rows × nout predictions, the body not yet written */
};

/* Takes ownership of *pl (also on failure, when it is freed). */
int scorer_init(struct scorer *s, struct pipeline *pl, char *err);
void scorer_free(struct scorer *s);

/* body: len bytes (need not be NUL-terminated); content_type may be NULL. */
void score_request(const struct scorer *s, const struct limits *lim, const char *content_type, const char *body,
                   size_t len, struct score_reply *r);
void score_reply_free(struct score_reply *r);

/* The same request, but a 200 keeps its predictions (r->P) instead of writing the body, so a
 * server can send a large reply in pieces: score_body_length gives the exact Content-Length,
 * score_body_chunk the next piece into *chunk (from *next_row, which starts at 0) and returns
 * 0 when none is left. For a reply with a body (an error) they give that body. */
void score_compute(const struct scorer *s, const struct limits *lim, const char *content_type, const char *body,
                   size_t len, struct score_reply *r);
size_t score_body_length(const struct scorer *s, const struct score_reply *r);
int score_body_chunk(const struct scorer *s, const struct score_reply *r, int *next_row, struct sbuf *chunk);

/* 0: every JSON body takes the general (cJSON) path; tests compare the two paths with it */
extern int score_fast_split;

/* MLflow's error body: {"error_code": "…", "message": "…"} */
void score_error_json(struct sbuf *b, const char *error_code, const char *message);

/* Up to 9 significant digits (float32 precision, as the signature's "float" outputs), Python's
 * repr spelling (0.5, 1e-05, 181.05453, NaN); integers print without a fraction part. */
void sb_float9(struct sbuf *b, double v);
#endif
