/* Strict HTTP/1.1 request framing (issue 15, RFC 9112 sections 6-7).
 *
 * A stream parser over the bytes a connection receives, request after
 * request: it finds where each request's head and body end exactly as
 * civetweb does, and stops at anything a proxy in front could frame
 * differently: two different Content-Lengths, a Content-Length that is not
 * plain digits, Transfer-Encoding beside Content-Length, a transfer coding
 * other than one "chunked", whitespace before a header's colon, obs-fold, a
 * bare CR, a malformed chunk-size line (extensions included), chunk data
 * longer than its size, and a trailer section that is malformed or over
 * FRAMING_TRAILER_MAX. No memory is allocated; the state is a fixed struct. */
#ifndef CAIRN_FRAMING_H
#define CAIRN_FRAMING_H
#include <stdbool.h>
#include <stddef.h>

#define FRAMING_TRAILER_MAX 8192   /* bytes of trailer fields after the last chunk */

struct framing {
    int state;
    unsigned req;            /* index of the request being parsed, from 0 */
    long long remaining;     /* body or chunk bytes still to come */
    long long cl;            /* this request's Content-Length, when has_cl */
    bool has_cl, te_chunked, te_other, pending_cr, line_long;
    int n_te, digits;
    size_t line_len, trailer_bytes;
    char line[256];          /* the start of the current header or trailer line */
    const char *head_fault;  /* a fault in the head being read: refused at its end */
    const char *error;       /* set once: a 400 reason; nothing after it is delivered */
    unsigned error_req;      /* the request it belongs to */
};

void framing_init(struct framing *f);
/* Feeds n bytes as received. Returns how many of them may be delivered: n,
 * or fewer once f->error is set (then 0 for every later call). */
size_t framing_feed(struct framing *f, const char *buf, size_t n);
/* true while request req's trailer section has begun and not yet ended */
bool framing_in_trailers(const struct framing *f, unsigned req);
#endif
