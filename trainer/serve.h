/* `cairn-train serve`: a registered model behind MLflow's scoring protocol (what
 * `mlflow models serve` answers): POST /invocations, GET /ping, /health, /version, and
 * Prometheus metrics on GET /metrics. With --reload-alias the registry is polled and
 * the model an alias points at is swapped in without dropping a request. */
#ifndef CAIRN_TRAINER_SERVE_H
#define CAIRN_TRAINER_SERVE_H
int cmd_serve(int argc, char **argv);
#endif
