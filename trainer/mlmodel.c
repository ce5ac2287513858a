#include "mlmodel.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

const char *const MODEL_FILES[] = {
    "MLmodel", "model.onnx", "model.cairn", "conda.yaml", "python_env.yaml", "requirements.txt",
    "input_example.json", "serving_input_example.json", NULL,
};

/* Versions the pyfunc flavor's environment pins (the test venv's). */
#define ONNX_VERSION "1.23.2"
#define ONNXRUNTIME_VERSION "1.32.0"
#define MLFLOW_VERSION "3.17.2"
#define PYTHON_VERSION "3.11.2"

void signature_inputs_json(const struct featurizer *f, struct sbuf *b)
{
    sb_puts(b, "[");
    for (int r = 0; r < f->nraw; r++) {
        sb_puts(b, r ? ", {\"type\": " : "{\"type\": ");
        sb_puts(b, f->raw_kinds[r] == COL_NUMERIC ? "\"double\"" : f->raw_kinds[r] == COL_INTEGER ? "\"long\"" : "\"string\"");
        sb_puts(b, ", \"name\": ");
        sb_json_str(b, f->raw_names[r]);
        sb_puts(b, ", \"required\": true}");
    }
    sb_puts(b, "]");
}

static void signature_outputs_json(const struct featurizer *f, struct sbuf *b)
{
    if (f->task == TASK_REGRESSION) {
        sb_puts(b, "[{\"type\": \"float\", \"name\": \"prediction\", \"required\": true}]");
        return;
    }
    sb_printf(b, "[{\"type\": \"%s\", \"name\": \"prediction\", \"required\": true}", f->classes_int ? "long" : "string");
    for (int c = 0; c < f->nclasses; c++) {
        struct sbuf name;
        sb_init(&name);
        sb_printf(&name, "prob_%s", f->classes[c]);
        sb_puts(b, ", {\"type\": \"float\", \"name\": ");
        sb_json_str(b, name.data);
        sb_puts(b, ", \"required\": true}");
        sb_free(&name);
    }
    sb_puts(b, "]");
}

/* YAML single-quoted scalar */
static void yaml_sq(struct sbuf *b, const char *s)
{
    sb_puts(b, "'");
    for (; *s; s++) {
        if (*s == '\'') sb_puts(b, "''");
        else sb_add(b, s, 1);
    }
    sb_puts(b, "'");
}

static void example_json(const struct pipeline *pl, const struct csv *c, const int *rows, int n, struct sbuf *b)
{
    const struct featurizer *f = &pl->f;
    sb_puts(b, "{\"columns\": [");
    for (int r = 0; r < f->nraw; r++) { if (r) sb_puts(b, ", "); sb_json_str(b, f->raw_names[r]); }
    sb_puts(b, "], \"data\": [");
    for (int i = 0; i < n; i++) {
        sb_puts(b, i ? ", [" : "[");
        for (int r = 0; r < f->nraw; r++) {
            if (r) sb_puts(b, ", ");
            int col = csv_column(c, f->raw_names[r]);
            const char *s = csv_cell(c, rows[i], col);
            double v;
            if (f->raw_kinds[r] != COL_CATEGORICAL) {
                if (csv_is_missing(s) || parse_double(s, &v)) sb_puts(b, "null");
                else sb_double(b, v);
            } else sb_json_str(b, s);
        }
        sb_puts(b, "]");
    }
    sb_puts(b, "]}");
}

static int put(const char *dir, const char *name, const struct sbuf *b, char *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return write_file(path, b->data ? b->data : "", b->len, err);
}

int write_model_dir(const char *dir, const struct pipeline *pl, const struct csv *c, const int *example_rows,
                    int nexample, const struct model_meta *meta, char *err)
{
    if (mkdir_p(dir, err)) return -1;
    struct sbuf onnx, native, ex, sb, mlm;
    sb_init(&onnx); sb_init(&native); sb_init(&ex); sb_init(&sb); sb_init(&mlm);
    int rc = -1;
    pipeline_onnx(pl, CAIRN_VERSION, &onnx);
    pipeline_save(pl, &native);
    if (put(dir, "model.onnx", &onnx, err) || put(dir, "model.cairn", &native, err)) goto out;
    example_json(pl, c, example_rows, nexample, &ex);
    if (put(dir, "input_example.json", &ex, err)) goto out;
    sb_printf(&sb, "{\"dataframe_split\": %s}", ex.data);
    if (put(dir, "serving_input_example.json", &sb, err)) goto out;
    sb_free(&sb);
    sb_printf(&sb, "mlflow==%s\nonnx==%s\nonnxruntime==%s\n", MLFLOW_VERSION, ONNX_VERSION, ONNXRUNTIME_VERSION);
    if (put(dir, "requirements.txt", &sb, err)) goto out;
    sb_free(&sb);
    sb_printf(&sb, "python: %s\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n", PYTHON_VERSION);
    if (put(dir, "python_env.yaml", &sb, err)) goto out;
    sb_free(&sb);
    sb_printf(&sb, "channels:\n- conda-forge\ndependencies:\n- python=%s\n- pip\n- pip:\n  - mlflow==%s\n"
                   "  - onnx==%s\n  - onnxruntime==%s\nname: mlflow-env\n",
              PYTHON_VERSION, MLFLOW_VERSION, ONNX_VERSION, ONNXRUNTIME_VERSION);
    if (put(dir, "conda.yaml", &sb, err)) goto out;
    sb_free(&sb);

    const struct featurizer *f = &pl->f;
    sb_puts(&mlm, "artifact_path: ");
    yaml_sq(&mlm, meta->artifact_path ? meta->artifact_path : "model");
    sb_printf(&mlm, "\nflavors:\n  cairn:\n    algorithm: %s\n    data: model.cairn\n    format_version: %d\n"
                    "    task: %s\n",
              pl->algo->name, CAIRN_MODEL_FORMAT, f->task == TASK_REGRESSION ? "regression" : "classification");
    sb_printf(&mlm, "  onnx:\n    code: null\n    data: model.onnx\n    onnx_version: %s\n"
                    "    providers:\n    - CPUExecutionProvider\n", ONNX_VERSION);
    sb_printf(&mlm, "  python_function:\n    data: model.onnx\n    env:\n      conda: conda.yaml\n"
                    "      virtualenv: python_env.yaml\n    loader_module: mlflow.onnx\n    python_version: %s\n",
              PYTHON_VERSION);
    sb_puts(&mlm, "is_signature_from_type_hint: false\n");
    if (meta->primary_metric && !isnan(meta->primary_value)) {
        sb_printf(&mlm, "metadata:\n  cairn_version: %s\n  primary_metric: %s\n  primary_metric_value: ",
                  CAIRN_VERSION, meta->primary_metric);
        sb_double(&mlm, meta->primary_value);
        sb_puts(&mlm, "\n");
    }
    sb_printf(&mlm, "mlflow_version: %s\n", MLFLOW_VERSION);
    if (meta->model_id) sb_printf(&mlm, "model_id: %s\n", meta->model_id);
    size_t size = onnx.len + native.len;
    sb_printf(&mlm, "model_size_bytes: %zu\n", size);
    if (meta->model_id) sb_printf(&mlm, "model_uuid: %s\n", meta->model_id);
    if (meta->run_id) sb_printf(&mlm, "run_id: %s\n", meta->run_id);
    sb_puts(&mlm, "saved_input_example_info:\n  artifact_path: input_example.json\n  pandas_orient: split\n"
                  "  serving_input_path: serving_input_example.json\n  type: dataframe\n");
    struct sbuf sig;
    sb_init(&sig);
    signature_inputs_json(f, &sig);
    sb_puts(&mlm, "signature:\n  inputs: ");
    yaml_sq(&mlm, sig.data);
    sb_free(&sig);
    signature_outputs_json(f, &sig);
    sb_puts(&mlm, "\n  outputs: ");
    yaml_sq(&mlm, sig.data);
    sb_free(&sig);
    sb_puts(&mlm, "\n  params: null\n");
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[64];
    strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
    sb_printf(&mlm, "utc_time_created: '%s.000000'\n", ts);
    if (put(dir, "MLmodel", &mlm, err)) goto out;
    rc = 0;
out:
    sb_free(&onnx); sb_free(&native); sb_free(&ex); sb_free(&sb); sb_free(&mlm);
    return rc;
}
