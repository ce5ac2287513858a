/* Strict HTTP/1.1 request framing: see framing.h. */
#include "framing.h"
#include <string.h>
#include <strings.h>

enum {
    S_IDLE,          /* before a request line (empty lines are skipped) */
    S_REQUEST_LINE,
    S_HEADER,        /* a header line, or the empty line ending the head */
    S_BODY,          /* Content-Length bytes */
    S_CHUNK_SIZE,
    S_CHUNK_SIZE_LF,
    S_CHUNK_DATA,
    S_CHUNK_CR,
    S_CHUNK_LF,
    S_TRAILER,       /* trailer lines, until an empty one */
    S_FAILED,
};

void framing_init(struct framing *f)
{
    memset(f, 0, sizeof *f);
    f->state = S_IDLE;
}

bool framing_in_trailers(const struct framing *f, unsigned req)
{
    return f->state == S_TRAILER && f->req == req;
}

static void next_request(struct framing *f)
{
    f->state = S_IDLE;
    f->req++;
    f->head_fault = NULL;
    f->has_cl = f->te_chunked = f->te_other = false;
    f->n_te = 0;
}

static void fail(struct framing *f, const char *why)
{
    f->error = why;
    f->error_req = f->req;
    f->state = S_FAILED;
}

/* A fault in a head is refused when the head ends, so that civetweb reads
 * the whole head and the 400 can be sent; one in a trailer at once. */
static void fault(struct framing *f, const char *why)
{
    if (f->state == S_TRAILER)
        fail(f, why);
    else if (!f->head_fault)
        f->head_fault = why;
}

static void trim(const char **v, size_t *n)
{
    while (*n && (**v == ' ' || **v == '\t')) {
        (*v)++;
        (*n)--;
    }
    while (*n && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t'))
        (*n)--;
}

/* The name of the stored line (before its colon); NULL when malformed:
 * no colon in the stored part, an empty name, or whitespace in it. */
static const char *line_name(struct framing *f, size_t *name_len)
{
    const char *colon = memchr(f->line, ':', f->line_len);
    if (!colon || colon == f->line)
        return NULL;
    *name_len = (size_t)(colon - f->line);
    for (size_t i = 0; i < *name_len; i++)
        if (f->line[i] == ' ' || f->line[i] == '\t')
            return NULL;
    return f->line;
}

static bool name_is(const char *name, size_t n, const char *want)
{
    return n == strlen(want) && !strncasecmp(name, want, n);
}

static void header_line(struct framing *f)
{
    size_t nlen;
    const char *name = line_name(f, &nlen);
    if (!name) {
        fault(f, "Bad Request: malformed header line (whitespace before the colon, or no colon)");
        return;
    }
    bool is_cl = name_is(name, nlen, "Content-Length"), is_te = name_is(name, nlen, "Transfer-Encoding");
    if (!is_cl && !is_te)
        return;
    if (f->line_long) {
        fault(f, is_cl ? "Bad Request: invalid Content-Length" : "Bad Request: unsupported Transfer-Encoding");
        return;
    }
    const char *v = f->line + nlen + 1;
    size_t vn = f->line_len - nlen - 1;
    trim(&v, &vn);
    if (is_te) {
        f->n_te++;
        if (vn == 7 && !strncasecmp(v, "chunked", 7))
            f->te_chunked = true;
        else
            f->te_other = true;
        return;
    }
    if (!vn || vn > 18 || strspn(v, "0123456789") < vn) {
        fault(f, "Bad Request: invalid Content-Length");
        return;
    }
    long long n = 0;
    for (size_t i = 0; i < vn; i++)
        n = n * 10 + (v[i] - '0');
    if (f->has_cl && n != f->cl) {
        fault(f, "Bad Request: conflicting Content-Length headers");
        return;
    }
    f->has_cl = true;
    f->cl = n;
}

/* The empty line: the head is whole; decide how its body is framed. */
static void head_end(struct framing *f)
{
    if (f->head_fault)
        fail(f, f->head_fault);
    else if (f->n_te > 1)
        fail(f, "Bad Request: more than one Transfer-Encoding header");
    else if (f->n_te && f->has_cl)
        fail(f, "Bad Request: both Content-Length and Transfer-Encoding");
    else if (f->te_other)
        fail(f, "Bad Request: unsupported Transfer-Encoding (only chunked is accepted)");
    else if (f->te_chunked) {
        f->state = S_CHUNK_SIZE;
        f->digits = 0;
        f->remaining = 0;
    } else if (f->has_cl && f->cl > 0) {
        f->state = S_BODY;
        f->remaining = f->cl;
    } else {
        next_request(f);
    }
}

static void trailer_line(struct framing *f)
{
    size_t nlen;
    if (!line_name(f, &nlen))
        fail(f, "Bad Request: malformed chunked trailer field");
}

/* One byte of a head or trailer line. 1: delivered; 0: refused (f->error set
 * before it); 2: delivered, and the error it completes is set. */
static int line_byte(struct framing *f, char c)
{
    if (f->pending_cr && c != '\n') {
        f->pending_cr = false;
        fault(f, "Bad Request: bare CR in the request head");
        if (f->error)
            return 0;
    }
    if (c == '\r') {
        f->pending_cr = true;
        return 1;
    }
    if (c != '\n') {
        if (f->line_len == 0 && (c == ' ' || c == '\t') && f->state != S_REQUEST_LINE) {
            fault(f, f->state == S_TRAILER ? "Bad Request: malformed chunked trailer field"
                                           : "Bad Request: obsolete line folding in the request head");
            if (f->error)
                return 0;
        }
        if (f->line_len < sizeof f->line)
            f->line[f->line_len++] = c;
        else
            f->line_long = true;
        return 1;
    }
    /* end of a line */
    bool empty = f->line_len == 0 && !f->line_long;
    f->pending_cr = false;
    switch (f->state) {
    case S_REQUEST_LINE:
        f->state = S_HEADER;
        break;
    case S_HEADER:
        if (empty)
            head_end(f);
        else
            header_line(f);
        break;
    case S_TRAILER:
        if (empty)
            next_request(f);
        else
            trailer_line(f);
        break;
    }
    f->line_len = 0;
    f->line_long = false;
    return f->error ? 2 : 1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t framing_feed(struct framing *f, const char *buf, size_t n)
{
    size_t i = 0;
    while (i < n) {
        char c = buf[i];
        switch (f->state) {
        case S_FAILED:
            return i;
        case S_IDLE:
            if (c == '\r' || c == '\n') {   /* empty lines before a request line */
                i++;
                continue;
            }
            f->state = S_REQUEST_LINE;
            f->line_len = 0;
            f->line_long = f->pending_cr = false;
            continue;
        case S_REQUEST_LINE:
        case S_HEADER:
        case S_TRAILER: {
            if (f->state == S_TRAILER && ++f->trailer_bytes > FRAMING_TRAILER_MAX) {
                fail(f, "Bad Request: chunked trailers too large");
                return i;
            }
            int r = line_byte(f, c);
            if (r == 0)
                return i;
            i++;
            if (r == 2)
                return i;   /* a head fault: the head is delivered whole, nothing after it */
            continue;
        }
        case S_BODY:
        case S_CHUNK_DATA: {
            size_t take = (long long)(n - i) < f->remaining ? n - i : (size_t)f->remaining;
            i += take;
            f->remaining -= (long long)take;
            if (f->remaining == 0) {
                if (f->state == S_BODY)
                    next_request(f);
                else
                    f->state = S_CHUNK_CR;
            }
            continue;
        }
        case S_CHUNK_SIZE: {
            int v = hexval(c);
            if (v >= 0 && f->digits < 15) {
                f->remaining = f->remaining * 16 + v;
                f->digits++;
            } else if (c == '\r' && f->digits > 0) {
                f->state = S_CHUNK_SIZE_LF;
            } else {
                fail(f, v >= 0 ? "Bad Request: chunk size too large"
                               : "Bad Request: malformed chunk size line (chunk extensions are not accepted)");
                return i;
            }
            i++;
            continue;
        }
        case S_CHUNK_SIZE_LF:
            if (c != '\n') {
                fail(f, "Bad Request: malformed chunk size line");
                return i;
            }
            i++;
            if (f->remaining == 0) {   /* the last chunk: a trailer section follows */
                f->state = S_TRAILER;
                f->trailer_bytes = 0;
                f->line_len = 0;
                f->line_long = f->pending_cr = false;
            } else {
                f->state = S_CHUNK_DATA;
            }
            continue;
        case S_CHUNK_CR:
        case S_CHUNK_LF:
            if (c != (f->state == S_CHUNK_CR ? '\r' : '\n')) {
                fail(f, "Bad Request: chunk data longer than its chunk size");
                return i;
            }
            i++;
            if (f->state == S_CHUNK_CR) {
                f->state = S_CHUNK_LF;
            } else {
                f->state = S_CHUNK_SIZE;
                f->digits = 0;
                f->remaining = 0;
            }
            continue;
        }
    }
    return i;
}
