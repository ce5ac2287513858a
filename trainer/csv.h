/* CSV with a header line (RFC 4180 quoting, comma separated, CRLF or LF).
 * Every row must have as many fields as the header. */
#ifndef CAIRN_TRAINER_CSV_H
#define CAIRN_TRAINER_CSV_H
#include <stddef.h>

struct csv {
    int ncols, nrows;
    char **header;      /* ncols */
    char **cells;       /* nrows * ncols, row-major; pointers into one block */
    char *block;
};

int csv_parse(const char *text, size_t len, const char *name, struct csv *out, char *err);
int csv_read(const char *path, struct csv *out, char *err);
void csv_free(struct csv *c);
int csv_column(const struct csv *c, const char *name);  /* -1 if absent */
static inline const char *csv_cell(const struct csv *c, int row, int col)
{
    return c->cells[(size_t)row * c->ncols + col];
}
int csv_is_missing(const char *s);
#endif
