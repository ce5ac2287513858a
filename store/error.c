#include "error.h"
#include "arena.h"
#include <string.h>
#include <stdio.h>

int error_set(struct error *err, enum err_code code, const char *fmt, ...)
{
    if (!err)
        return -1;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* Python's repr() of a str, as MLflow's messages print values: single
 * quotes unless the text has one and no double quote; backslash, the quote,
 * \t \n \r and other unprintable characters escaped */
void py_repr_str(struct strbuf *sb, const char *s)
{
    char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
    sb_putc(sb, q);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\' || *p == (unsigned char)q) {
            sb_putc(sb, '\\');
            sb_putc(sb, (char)*p);
        } else if (*p == '\n') {
            sb_puts(sb, "\\n");
        } else if (*p == '\r') {
            sb_puts(sb, "\\r");
        } else if (*p == '\t') {
            sb_puts(sb, "\\t");
        } else if (*p < 0x20 || *p == 0x7f) {
            sb_printf(sb, "\\x%02x", *p);
        } else if (*p == 0xC2 && p[1] >= 0x80 && p[1] <= 0xA0) {
            sb_printf(sb, "\\x%02x", p[1]);   /* U+0080..U+00A0 are unprintable to Python */
            p++;
        } else {
            sb_putc(sb, (char)*p);
        }
    }
    sb_putc(sb, q);
}
