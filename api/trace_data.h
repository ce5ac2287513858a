/* Issue 14: a trace's traces.json artifact upload also read into PostgreSQL (api/trace_data.c). */
#ifndef CAIRN_TRACE_DATA_H
#define CAIRN_TRACE_DATA_H
#include <stdbool.h>
#include "api.h"

struct trace_data_upload {
    const char *trace_id, *rel;
    long long (*read)(void *ctx, char *buf, size_t len);   /* the request's own body reader */
    void *ctx;
    struct strbuf body;   /* what passed through, up to the limit */
    bool over;
};

/* When rel is ".../traces/tr-<32 hex>/artifacts/traces.json": true, and the
 * request's body reader now also keeps the bytes it hands out. */
bool trace_data_begin(struct request *req, const char *rel, struct trace_data_upload *t);
/* Puts the request's reader back; when stored, reads the spans into the
 * database (best effort: a failure is logged, the artifact stays). */
void trace_data_end(struct request *req, struct trace_data_upload *t, bool stored);
#endif
