/* server/framing.c: strict request framing, fed whole and one byte at a time. */
#include "test.h"
#include "../server/framing.h"

struct outcome {
    size_t delivered;
    const char *error;
    unsigned error_req, req;
};

static struct outcome run(const char *s, size_t n, size_t step)
{
    struct framing f;
    framing_init(&f);
    struct outcome o = { 0 };
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        size_t d = framing_feed(&f, s + i, k);
        o.delivered += d;
        if (d < k)
            break;
    }
    o.error = f.error;
    o.error_req = f.error_req;
    o.req = f.req;
    return o;
}

/* the same verdict whole, byte by byte and in 7-byte pieces */
static struct outcome check(const char *s, size_t n)
{
    struct outcome a = run(s, n, n ? n : 1), b = run(s, n, 1), c = run(s, n, 7);
    CHECK_INT(a.delivered, b.delivered);
    CHECK_INT(a.delivered, c.delivered);
    CHECK((a.error == NULL) == (b.error == NULL) && (a.error == NULL) == (c.error == NULL));
    CHECK_INT(a.req, b.req);
    return a;
}

#define OK(s, nreq) do { \
    struct outcome _o = check(s, sizeof s - 1); \
    if (_o.error) fprintf(stderr, "  %s\n", _o.error); \
    CHECK(_o.error == NULL); CHECK_INT(_o.delivered, sizeof s - 1); CHECK_INT(_o.req, nreq); \
} while (0)

/* refused: fewer bytes delivered than sent, with the reason */
#define BAD(s, req_no, want_delivered, word) do { \
    struct outcome _o = check(s, sizeof s - 1); \
    CHECK(_o.error != NULL); CHECK_INT(_o.error_req, req_no); \
    CHECK_INT(_o.delivered, want_delivered); \
    CHECK(_o.error && strstr(_o.error, word)); \
} while (0)

#define H "POST /x HTTP/1.1\r\nHost: a\r\n"
#define NEXT "GET /health HTTP/1.1\r\nHost: a\r\n\r\n"

int main(void)
{
    /* sound framing: request boundaries found */
    OK(NEXT, 1);
    OK(NEXT NEXT NEXT, 3);
    OK("\r\n" NEXT, 1);                                     /* an empty line before a request */
    OK(H "Content-Length: 5\r\n\r\nhello" NEXT, 2);
    OK(H "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello" NEXT, 2);
    OK(H "content-length:  005 \r\n\r\nhello" NEXT, 2);
    OK(H "Content-Length: 0\r\n\r\n" NEXT, 2);
    OK(H "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" NEXT, 2);
    OK(H "Transfer-Encoding: Chunked\r\n\r\nA\r\n0123456789\r\n2\r\nab\r\n0\r\n\r\n" NEXT, 2);
    OK(H "Transfer-Encoding: chunked\r\n\r\n0\r\nX-Sum: 1\r\nX-Other: b\r\n\r\n" NEXT, 2);  /* small trailers */
    OK("GET / HTTP/1.1\nHost: a\n\n" NEXT, 2);               /* bare LF line ends */
    OK(H "X-Long: " "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
       "\r\nContent-Length: 1\r\n\r\nx" NEXT, 2);
    /* the body's bytes are never read as a head */
    OK(H "Content-Length: 32\r\n\r\nGET /smuggled HTTP/1.1\r\nX: y\r\n\r\n", 1);

    /* head faults: the head is delivered whole (civetweb must read it to
     * answer 400), nothing after it */
#define BADH(head, rest, word) BAD(head rest, 0, sizeof head - 1, word)
    BADH(H "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", "hello" NEXT, "conflicting");
    BADH(H "Content-Length: 6\r\nContent-Length: 5\r\nX: y\r\n\r\n", "hello" NEXT, "conflicting");
    BADH(H "Content-Length: +5\r\n\r\n", "hello" NEXT, "Content-Length");
    BADH(H "Content-Length: -0\r\n\r\n", NEXT, "Content-Length");
    BADH(H "Content-Length: 0x12\r\n\r\n", "0123456789abcdefgh" NEXT, "Content-Length");
    BADH(H "Content-Length: 5, 5\r\n\r\n", "hello", "Content-Length");
    BADH(H "Content-Length: 1234567890123456789\r\n\r\n", "", "Content-Length");
    BADH(H "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n" NEXT, "both");
    BADH(H "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n" NEXT, "both");
    BADH(H "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", "0\r\n\r\n", "more than one");
    BADH(H "Transfer-Encoding: gzip, chunked\r\n\r\n", "0\r\n\r\n", "unsupported");
    BADH(H "Transfer-Encoding: identity\r\n\r\n", NEXT, "unsupported");
    BADH(H "Content-Length : 5\r\n\r\n", "hello", "whitespace");
    BADH(H "NoColon\r\n\r\n", NEXT, "malformed header");
    BADH(H "X-A: 1\r\n folded\r\n\r\n", NEXT, "folding");
    BADH(H "X-A: 1\rContent-Length: 5\r\n\r\n", "hello", "bare CR");
    /* the fault belongs to the second request: the first is delivered whole */
    BAD(NEXT H "Content-Length: 1\r\nContent-Length: 2\r\n\r\nx", 1,
        sizeof NEXT H "Content-Length: 1\r\nContent-Length: 2\r\n\r\n" - 1, "conflicting");

    /* chunked body faults: delivered up to the offending byte */
    size_t c = sizeof H - 1 + sizeof "Transfer-Encoding: chunked\r\n\r\n" - 1;
#define C H "Transfer-Encoding: chunked\r\n\r\n"
    BAD(C "5;ext=1\r\nhello\r\n0\r\n\r\n", 0, c + 1, "chunk size");
    BAD(C "5 \r\nhello\r\n0\r\n\r\n", 0, c + 1, "chunk size");
    BAD(C "0x5\r\nhello\r\n0\r\n\r\n", 0, c + 1, "chunk size");
    BAD(C "\r\n", 0, c, "chunk size");
    BAD(C "5\nhello\r\n0\r\n\r\n", 0, c + 1, "chunk size");
    BAD(C "1000000000000000\r\n", 0, c + 15, "too large");
    BAD(C "3\r\nhello\r\n0\r\n\r\n" NEXT, 0, c + 6, "longer than");
    BAD(C "0\r\n folded: x\r\n\r\n", 0, c + 3, "trailer");
    BAD(C "0\r\nno colon here\r\n\r\n" NEXT, 0, c + 3 + sizeof "no colon here\r\n" - 1, "trailer");
    BAD(C "0\r\nX-A: 1\rX-B: 2\r\n\r\n", 0, c + 3 + sizeof "X-A: 1\r" - 1, "bare CR");

    /* trailers: up to FRAMING_TRAILER_MAX bytes, then refused at the first byte over */
    {
        static char big[512 * 1024];
        size_t n = (size_t)snprintf(big, sizeof big, "%s", C "5\r\nhello\r\n0\r\n");
        size_t start = n;
        for (int i = 0; i < 200; i++)
            n += (size_t)snprintf(big + n, sizeof big - n, "X-T%d: %01000d\r\n", i, 0);
        n += (size_t)snprintf(big + n, sizeof big - n, "\r\n%s", NEXT);
        struct outcome o = run(big, n, n);
        CHECK(o.error && strstr(o.error, "too large"));
        CHECK_INT(o.delivered, start + FRAMING_TRAILER_MAX);
        o = run(big, n, 1);
        CHECK_INT(o.delivered, start + FRAMING_TRAILER_MAX);
        /* in the trailer section after the body, until it ends */
        struct framing f;
        framing_init(&f);
        CHECK_INT(framing_feed(&f, big, start + 5), start + 5);
        CHECK(framing_in_trailers(&f, 0));
        CHECK(!framing_in_trailers(&f, 1));
        framing_init(&f);
        const char ok[] = C "0\r\nX: 1\r\n\r\n";
        CHECK_INT(framing_feed(&f, ok, sizeof ok - 1), sizeof ok - 1);
        CHECK(!framing_in_trailers(&f, 0));
        CHECK_INT(f.req, 1);
    }
    /* after a fault nothing more is delivered */
    {
        struct framing f;
        framing_init(&f);
        const char bad[] = H "Content-Length: +1\r\n\r\n";
        CHECK_INT(framing_feed(&f, bad, sizeof bad - 1), sizeof bad - 1);
        CHECK(f.error != NULL);
        CHECK_INT(framing_feed(&f, NEXT, sizeof NEXT - 1), 0);
    }
    TEST_MAIN_END();
}
