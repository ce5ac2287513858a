/* See pyfmt.h. MLflow quotes request values with
 * mlflow.utils.validation.invalid_value (json.dumps, sorted keys, compact
 * separators, ASCII only); clients show those messages and tests assert
 * them, so they are spelled the same here. */
#include "pyfmt.h"
#include "../store/error.h"
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned utf8_next(const unsigned char **p)
{
    const unsigned char *s = *p;
    unsigned c = s[0];
    int n = c < 0x80 ? 0 : c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : -1;
    if (n < 0) {
        (*p)++;
        return 0xFFFD;
    }
    unsigned cp = n ? c & (0x3F >> n) : c;
    for (int i = 1; i <= n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *p = s + i;
            return 0xFFFD;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *p = s + n + 1;
    return cp;
}

void py_dumps_str(struct strbuf *sb, const char *s)
{
    sb_putc(sb, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; ) {
        unsigned c = utf8_next(&p);
        switch (c) {
        case '"':  sb_puts(sb, "\\\""); break;
        case '\\': sb_puts(sb, "\\\\"); break;
        case '\n': sb_puts(sb, "\\n"); break;
        case '\r': sb_puts(sb, "\\r"); break;
        case '\t': sb_puts(sb, "\\t"); break;
        case '\b': sb_puts(sb, "\\b"); break;
        case '\f': sb_puts(sb, "\\f"); break;
        default:
            if (c < 0x20 || c > 0x7E) {   /* outside ' '..'~', as ensure_ascii */
                if (c >= 0x10000) {
                    c -= 0x10000;
                    sb_printf(sb, "\\u%04x\\u%04x", 0xD800 + (c >> 10), 0xDC00 + (c & 0x3FF));
                } else {
                    sb_printf(sb, "\\u%04x", c);
                }
            } else {
                sb_putc(sb, (char)c);
            }
        }
    }
    sb_putc(sb, '"');
}

void py_float_repr(struct strbuf *sb, double d)
{
    if (isnan(d)) {
        sb_puts(sb, "NaN");
        return;
    }
    if (isinf(d)) {
        sb_puts(sb, d > 0 ? "Infinity" : "-Infinity");
        return;
    }
    /* the shortest digits that read back as d */
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    /* buf: [-]D[.DDD]e[+-]XX */
    char digits[24];
    size_t nd = 0;
    const char *p = buf;
    bool neg = *p == '-';
    if (neg)
        p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    int exp10 = atoi(p + 1);
    int decpt = exp10 + 1;   /* digits[0] sits before the decimal point at position decpt */
    if (neg)
        sb_putc(sb, '-');
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            sb_puts(sb, "0.");
            for (int i = 0; i < -decpt; i++)
                sb_putc(sb, '0');
            sb_putn(sb, digits, nd);
        } else if ((size_t)decpt >= nd) {
            sb_putn(sb, digits, nd);
            for (size_t i = nd; i < (size_t)decpt; i++)
                sb_putc(sb, '0');
            sb_puts(sb, ".0");
        } else {
            sb_putn(sb, digits, (size_t)decpt);
            sb_putc(sb, '.');
            sb_putn(sb, digits + decpt, nd - (size_t)decpt);
        }
    } else {
        sb_putc(sb, digits[0]);
        if (nd > 1) {
            sb_putc(sb, '.');
            sb_putn(sb, digits + 1, nd - 1);
        }
        sb_printf(sb, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    }
}

static bool is_float_literal(const char *t)
{
    return t && strpbrk(t, ".eE") != NULL;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* json.dumps with sort_keys and the separators as arguments (issue 21); floats:
 * every number as a Python float (issue 12) */
static void dumps(struct strbuf *sb, const cJSON *v, bool sort_keys, bool spaced, bool floats)
{
    if (!v || cJSON_IsNull(v)) {
        sb_puts(sb, "null");
    } else if (cJSON_IsBool(v)) {
        sb_puts(sb, cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsString(v)) {
        py_dumps_str(sb, v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        const char *t = v->valuestring;
        if (floats || is_float_literal(t)) {
            py_float_repr(sb, t ? strtod(t, NULL) : v->valuedouble);
        } else if (t) {
            if (!strcmp(t, "-0"))
                t = "0";
            sb_puts(sb, t);
        } else {
            py_float_repr(sb, v->valuedouble);
        }
    } else if (cJSON_IsArray(v)) {
        sb_putc(sb, '[');
        for (const cJSON *e = v->child; e; e = e->next) {
            dumps(sb, e, sort_keys, spaced, floats);
            if (e->next)
                sb_puts(sb, spaced ? ", " : ",");
        }
        sb_putc(sb, ']');
    } else if (cJSON_IsObject(v)) {
        size_t n = 0;
        for (const cJSON *e = v->child; e; e = e->next)
            n++;
        const cJSON **items = arena_alloc(sb->arena, (n ? n : 1) * sizeof *items);
        n = 0;
        for (const cJSON *e = v->child; e; e = e->next)
            items[n++] = e;
        if (sort_keys)
            qsort(items, n, sizeof *items, cmp_keys);
        sb_putc(sb, '{');
        for (size_t i = 0; i < n; i++) {
            if (i)
                sb_puts(sb, spaced ? ", " : ",");
            py_dumps_str(sb, items[i]->string);
            sb_puts(sb, spaced ? ": " : ":");
            dumps(sb, items[i], sort_keys, spaced, floats);
        }
        sb_putc(sb, '}');
    } else {
        sb_puts(sb, "null");
    }
}

void py_dumps_opts(struct strbuf *sb, const cJSON *v, bool sort_keys, bool spaced)
{
    dumps(sb, v, sort_keys, spaced, false);
}

void py_dumps_proto_value(struct strbuf *sb, const cJSON *v)
{
    dumps(sb, v, false, true, true);
}

void py_dumps(struct strbuf *sb, const cJSON *v)
{
    py_dumps_opts(sb, v, true, false);
}

const char *py_type_name(const cJSON *v)
{
    if (!v || cJSON_IsNull(v)) return "NoneType";
    if (cJSON_IsString(v)) return "str";
    if (cJSON_IsBool(v)) return "bool";
    if (cJSON_IsNumber(v)) return is_float_literal(v->valuestring) ? "float" : "int";
    if (cJSON_IsArray(v)) return "list";
    if (cJSON_IsObject(v)) return "dict";
    return "NoneType";
}

void py_repr(struct strbuf *sb, const cJSON *v)
{
    if (!v || cJSON_IsNull(v)) {
        sb_puts(sb, "None");
    } else if (cJSON_IsBool(v)) {
        sb_puts(sb, cJSON_IsTrue(v) ? "True" : "False");
    } else if (cJSON_IsString(v)) {
        py_repr_str(sb, v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        if (is_float_literal(v->valuestring) || !v->valuestring)
            py_float_repr(sb, v->valuestring ? strtod(v->valuestring, NULL) : v->valuedouble);
        else
            sb_puts(sb, strcmp(v->valuestring, "-0") ? v->valuestring : "0");
    } else if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        bool obj = cJSON_IsObject(v);
        sb_putc(sb, obj ? '{' : '[');
        for (const cJSON *e = v->child; e; e = e->next) {
            if (obj) {
                py_repr_str(sb, e->string);
                sb_puts(sb, ": ");
            }
            py_repr(sb, e);
            if (e->next)
                sb_puts(sb, ", ");
        }
        sb_putc(sb, obj ? '}' : ']');
    } else {
        sb_puts(sb, "None");
    }
}

const char *py_repr_dup(struct arena *a, const char *s)
{
    struct strbuf sb;
    sb_init(&sb, a, strlen(s) + 3);
    py_repr_str(&sb, s);
    return sb.buf;
}
