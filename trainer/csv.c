#include "csv.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* One pass over the text: fields are unquoted into a copy of the input
 * (never longer than the input), NUL-separated. */
int csv_parse(const char *text, size_t len, const char *name, struct csv *out, char *err)
{
    memset(out, 0, sizeof *out);
    if (len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
        (unsigned char)text[2] == 0xBF) { text += 3; len -= 3; }
    char *block = xmalloc(len + 1);
    size_t bpos = 0, cap = 1024, nfields = 0;
    char **fields = xmalloc(cap * sizeof *fields);
    int ncols = -1, line = 1, row_fields = 0, row_start_line = 1;
    size_t i = 0;
    int result = -1;
    if (memchr(text, 0, len)) { errf(err, "%s: not a text file (NUL byte)", name); goto out; }
    while (i < len) {
        /* skip blank lines between rows */
        if (row_fields == 0 && (text[i] == '\n' || text[i] == '\r')) {
            if (text[i] == '\n') line++;
            i++;
            continue;
        }
        if (row_fields == 0) row_start_line = line;
        char *field = block + bpos;
        if (text[i] == '"') {
            i++;
            for (;;) {
                if (i >= len) { errf(err, "%s:%d: unterminated quoted field", name, row_start_line); goto out; }
                if (text[i] == '"') {
                    if (i + 1 < len && text[i + 1] == '"') { block[bpos++] = '"'; i += 2; continue; }
                    i++;
                    break;
                }
                if (text[i] == '\n') line++;
                block[bpos++] = text[i++];
            }
            if (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
                errf(err, "%s:%d: text after a closing quote", name, line);
                goto out;
            }
        } else {
            while (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r') block[bpos++] = text[i++];
            /* trim surrounding blanks of unquoted fields */
            while (bpos > (size_t)(field - block) && (block[bpos - 1] == ' ' || block[bpos - 1] == '\t')) bpos--;
            while (bpos > (size_t)(field - block) && (*field == ' ' || *field == '\t')) { memmove(field, field + 1, bpos - (size_t)(field - block) - 1); bpos--; }
        }
        block[bpos++] = 0;
        if (nfields + 2 >= cap) { cap *= 2; fields = xrealloc(fields, cap * sizeof *fields); }
        fields[nfields++] = field;
        row_fields++;
        int end_of_row = i >= len || text[i] == '\n' || text[i] == '\r';
        if (!end_of_row) {
            i++;
            if (i < len) continue;
            fields[nfields++] = block + bpos;  /* a trailing comma at EOF ends with an empty field */
            block[bpos++] = 0;
            row_fields++;
        }
        if (ncols < 0) ncols = row_fields;
        else if (row_fields != ncols) {
            errf(err, "%s:%d: row has %d fields, the header has %d", name, row_start_line, row_fields, ncols);
            goto out;
        }
        row_fields = 0;
        if (i < len && text[i] == '\r') i++;
        if (i < len && text[i] == '\n') { i++; line++; }
    }
    if (ncols < 0) { errf(err, "%s: empty file (no header line)", name); goto out; }
    for (int c = 0; c < ncols; c++) {
        if (!fields[c][0]) { errf(err, "%s:1: header column %d has no name", name, c + 1); goto out; }
        for (int d = 0; d < c; d++)
            if (strcmp(fields[c], fields[d]) == 0) { errf(err, "%s:1: duplicate column name \"%s\"", name, fields[c]); goto out; }
    }
    out->ncols = ncols;
    out->nrows = (int)(nfields / (size_t)ncols) - 1;
    out->header = fields;
    out->cells = fields + ncols;
    out->block = block;
    if (out->nrows == 0) { errf(err, "%s: no data rows after the header", name); goto out; }
    result = 0;
out:
    if (result) { free(block); free(fields); memset(out, 0, sizeof *out); }
    return result;
}

int csv_read(const char *path, struct csv *out, char *err)
{
    char *text;
    size_t len;
    if (read_file(path, &text, &len, err)) return -1;
    int r = csv_parse(text, len, path, out, err);
    free(text);
    return r;
}

void csv_free(struct csv *c)
{
    free(c->block);
    free(c->header);
    memset(c, 0, sizeof *c);
}

int csv_column(const struct csv *c, const char *name)
{
    for (int i = 0; i < c->ncols; i++)
        if (strcmp(c->header[i], name) == 0) return i;
    return -1;
}

int csv_is_missing(const char *s)
{
    /* every token starts with one of these: digits, negative numbers and most text leave at once */
    if (*s == '-') return s[1] == 'n' && strcmp(s, "-nan") == 0;
    if (*s && *s != 'N' && *s != 'n' && *s != '?') return 0;
    static const char *const tokens[] = {"", "NA", "N/A", "NaN", "nan", "NAN", "null", "NULL", "None", "?", "-nan"};
    for (size_t i = 0; i < sizeof tokens / sizeof *tokens; i++)
        if (strcmp(s, tokens[i]) == 0) return 1;
    return 0;
}
