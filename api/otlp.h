/* The OTLP decoder behind POST /v1/traces, exposed for the C tests and the fuzzer. */
#ifndef CAIRN_OTLP_H
#define CAIRN_OTLP_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "../store/arena.h"
#include "../store/traces.h"

/* Protobuf body -> request (arena memory); NULL when malformed or nested too deep. */
Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *otlp_unpack(struct arena *a, const uint8_t *body,
                                                                                    size_t len);
/* OTLP JSON body (hex ids, camelCase or snake_case names) -> the same structs; NULL when malformed. */
Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *otlp_from_json(struct arena *a, const char *body,
                                                                                      size_t len);
/* One span -> its stored row (OTLP JSON content); -1 when MLflow could not convert it. */
int otlp_span_to_row(struct arena *a, const Opentelemetry__Proto__Trace__V1__Span *s, struct span_in *out);
/* Every span of a request: 0, -1 (a span cannot be converted), 1 (too many spans). */
int otlp_collect(struct arena *a, const Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *er,
                 struct span_in **spans, size_t *n);
/* gzip / deflate: 0, -1 malformed, 1 over the size limit. */
int otlp_inflate(struct arena *a, const char *in, size_t n, bool gzip, char **out, size_t *out_len);
/* Exactly n bytes from standard base64: 0, or -1 when it is not that. */
int otlp_unbase64(const char *in, uint8_t *out, size_t n);
/* A stored span (OTLP JSON) as MLflow's span dict: attributes as JSON-dumped strings. */
int otlp_span_to_mlflow_dict(struct arena *a, const char *content, struct strbuf *out, struct error *err);
#endif
