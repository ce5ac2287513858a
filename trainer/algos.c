/* The algorithm table and hyperparameter parsing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static const struct algo *const ALGOS[] = {
    &algo_dummy, &algo_linear, &algo_ridge, &algo_logreg, &algo_gbdt, &algo_rf, &algo_extra_trees,
    &algo_mlp, &algo_knn, &algo_gaussian_nb,
};
#define NALGOS (sizeof ALGOS / sizeof *ALGOS)

const struct algo *algo_find(const char *name)
{
    for (size_t i = 0; i < NALGOS; i++)
        if (strcmp(ALGOS[i]->name, name) == 0) return ALGOS[i];
    return NULL;
}

const char *algo_names(void)
{
    static char buf[256];
    if (!buf[0])
        for (size_t i = 0; i < NALGOS; i++) {
            if (i) strcat(buf, ", ");
            strcat(buf, ALGOS[i]->name);
        }
    return buf;
}

int hparams_defaults(const struct algo *a, struct hparams *hp)
{
    memset(hp, 0, sizeof *hp);
    for (int i = 0; i < a->nparams; i++) hp->v[i] = a->params[i].def;
    return 0;
}

static int choice_index(const char *choices, const char *v)
{
    size_t len = strlen(v);
    int idx = 0;
    for (const char *p = choices; ; idx++) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncmp(p, v, n) == 0) return idx;
        if (!bar) return -1;
        p = bar + 1;
    }
}

static void choice_name(const char *choices, int idx, char *buf, size_t len)
{
    const char *p = choices;
    for (int i = 0; i < idx && p; i++) { p = strchr(p, '|'); if (p) p++; }
    if (!p) { snprintf(buf, len, "?"); return; }
    const char *bar = strchr(p, '|');
    snprintf(buf, len, "%.*s", bar ? (int)(bar - p) : (int)strlen(p), p);
}

int hparams_set(const struct algo *a, struct hparams *hp, const char *kv, char *err)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) return errf(err, "--param expects key=value, got \"%s\"", kv);
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    const char *val = eq + 1;
    for (int i = 0; i < a->nparams; i++) {
        const struct param_spec *s = &a->params[i];
        if (strcmp(s->name, key) != 0 && !(s->alias && strcmp(s->alias, key) == 0)) continue;
        double v;
        long l;
        switch (s->type) {
        case P_INT:
            if (parse_long(val, &l)) return errf(err, "parameter %s: \"%s\" is not an integer", key, val);
            v = (double)l;
            break;
        case P_DOUBLE:
            if (parse_double(val, &v) || !isfinite(v)) return errf(err, "parameter %s: \"%s\" is not a number", key, val);
            break;
        case P_BOOL:
            if (!strcmp(val, "true") || !strcmp(val, "True") || !strcmp(val, "1")) v = 1;
            else if (!strcmp(val, "false") || !strcmp(val, "False") || !strcmp(val, "0")) v = 0;
            else return errf(err, "parameter %s: \"%s\" is not true or false", key, val);
            break;
        case P_NUMCHOICE: {
            int idx = choice_index(s->choices, val);
            if (idx >= 0) { v = -1 - idx; break; }
            if (parse_double(val, &v) || !isfinite(v))
                return errf(err, "parameter %s: \"%s\" is not a number or one of %s", key, val, s->choices);
            if (v < s->min || v > s->max)
                return errf(err, "parameter %s=%s is out of range [%g, %g]", key, val, s->min, s->max);
            break;
        }
        case P_SIZES: {
            double packed = 0, mul = 1;
            int count = 0;
            const char *q = val;
            for (;;) {
                char *end;
                long l2 = strtol(q, &end, 10);
                if (end == q || l2 < 1 || l2 > 65535 || count == 3 || (*end && *end != ','))
                    return errf(err, "parameter %s: \"%s\" is not 1 to 3 sizes in [1, 65535] like 100,50", key, val);
                packed += (double)l2 * mul; mul *= 65536; count++;
                if (!*end) break;
                q = end + 1;
            }
            v = packed;
            break;
        }
        default: {
            int idx = choice_index(s->choices, val);
            if (idx < 0) return errf(err, "parameter %s: \"%s\" is not one of %s", key, val, s->choices);
            v = idx;
        }
        }
        if ((s->type == P_INT || s->type == P_DOUBLE || (s->type == P_NUMCHOICE && v >= 0)) && (v < s->min || v > s->max))
            return errf(err, "parameter %s=%s is out of range [%g, %g]", key, val, s->min, s->max);
        hp->v[i] = v;
        return 0;
    }
    struct sbuf names;
    sb_init(&names);
    for (int i = 0; i < a->nparams; i++) sb_printf(&names, "%s%s", i ? ", " : "", a->params[i].name);
    errf(err, "unknown parameter \"%s\" for --algo %s (known: %s)", key, a->name, names.data ? names.data : "none");
    sb_free(&names);
    return -1;
}

void hparams_format(const struct algo *a, const struct hparams *hp, int i, char *buf, size_t len)
{
    const struct param_spec *s = &a->params[i];
    double v = hp->v[i];
    switch (s->type) {
    case P_INT: snprintf(buf, len, "%ld", (long)v); break;
    case P_BOOL: snprintf(buf, len, "%s", v != 0 ? "True" : "False"); break;
    case P_CHOICE: choice_name(s->choices, (int)v, buf, len); break;
    case P_SIZES: {
        int sz[3], k = hparams_sizes(v, sz), o = 0;
        for (int i2 = 0; i2 < k && o < (int)len; i2++) o += snprintf(buf + o, len - (size_t)o, "%s%d", i2 ? "," : "", sz[i2]);
        break;
    }
    case P_NUMCHOICE:
        if (v < 0) { choice_name(s->choices, (int)(-1 - v), buf, len); break; }
        /* fall through */
    default: {
        struct sbuf b;
        sb_init(&b);
        sb_double(&b, v);
        snprintf(buf, len, "%s", b.data);
        sb_free(&b);
    }
    }
}

int hparams_sizes(double v, int out[3])
{
    int k = 0;
    uint64_t u = (uint64_t)v;
    while (u && k < 3) { out[k++] = (int)(u % 65536); u /= 65536; }
    return k;
}
