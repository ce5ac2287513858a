/* The front end (issue 15): slow clients never hold a civetweb worker.
 *
 * civetweb 1.15 hands every accepted connection to a worker thread, which
 * then waits for the request head: ~100 connections that never finish their
 * head hold all the workers. civetweb has no hook before that read, so
 * Cairn accepts connections itself: one thread polls them until the whole
 * request head has arrived (it only peeks: the bytes stay in the socket for
 * civetweb to read), with a deadline and a cap per client address, and then
 * passes the connection on.
 *
 * How it is passed on: civetweb binds and listens on the public port as
 * usual (our listen() below notes the fd); then the front end takes a
 * duplicate of that listening socket and puts an eventfd in place of
 * civetweb's fd. civetweb's master thread polls the eventfd and calls
 * accept() on it; our accept() (this executable's definition is the one
 * libcivetweb resolves) returns the next ready connection. Every other
 * accept() goes to the C library's accept4().
 *
 * Request framing: every connection passed on gets a framing parser
 * (framing.c), fed by our recv() with the bytes civetweb reads, request
 * after request. At the first ambiguity nothing more is delivered
 * (ECONNRESET), and the worker asks frontend_framing_error() before it
 * answers, so the request gets 400 and the connection closes. Our close()
 * frees the parser. Every other recv() and close() is the C library's. */
#include "frontend.h"
#include "framing.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PEEK_MAX (64 * 1024)      /* civetweb's max_request_size: it answers a longer head itself */
#define ADDR_SLOTS 4096           /* per-address counters, by hash (a collision shares a cap) */

struct pending {
    int fd;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    unsigned slot;
    long long deadline_ms;
    unsigned long long born;      /* accept order: the oldest is dropped first */
    size_t seen;                  /* bytes of the head looked at */
    char tail[3];                 /* its last bytes, for a "\r\n\r\n" split across reads */
    bool peek_off;                /* SO_PEEK_OFF works: each peek returns only new bytes */
};

struct ready {
    int fd;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    struct ready *next;
};

static struct frontend_options fo;
static atomic_int capture_listen = 0, captured_fd = -1;
static int handoff_fd = -1;       /* civetweb's fd number, now an eventfd */
static int listen_fd = -1, ep = -1, wake_fd = -1;
static pthread_t thread;
static atomic_bool stopping;
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ready *q_head, *q_tail;
static atomic_int per_addr[ADDR_SLOTS];
static struct pending **pend;     /* owned by the front-end thread */
static size_t n_pend, cap_pend;
static unsigned long long accepted;

struct conn_framing {
    int fd;
    unsigned served;      /* requests civetweb has dispatched on it */
    struct framing f;
};
static _Atomic(struct conn_framing *) *framing_of;   /* by fd */
static int framing_cap;
static __thread struct conn_framing *cur;            /* the worker's connection */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the two interposed calls ---- */

int listen(int fd, int backlog)
{
    if (atomic_load(&capture_listen))
        atomic_store(&captured_fd, fd);
    return (int)syscall(SYS_listen, fd, backlog);
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    if (handoff_fd < 0 || fd != handoff_fd)
        return accept4(fd, addr, len, 0);
    uint64_t one;
    if (read(handoff_fd, &one, sizeof one) != (ssize_t)sizeof one) {
        errno = EAGAIN;
        return -1;
    }
    pthread_mutex_lock(&q_lock);
    struct ready *r = q_head;
    if (r) {
        q_head = r->next;
        if (!q_head)
            q_tail = NULL;
    }
    pthread_mutex_unlock(&q_lock);
    if (!r) {
        errno = EAGAIN;
        return -1;
    }
    int cfd = r->fd;
    if (addr && len) {
        socklen_t n = *len < r->addr_len ? *len : r->addr_len;
        memcpy(addr, &r->addr, n);
        *len = r->addr_len;
    }
    free(r);
    return cfd;
}

static struct conn_framing *framing_for(int fd)
{
    if (!framing_of || fd < 0 || fd >= framing_cap)
        return NULL;
    return atomic_load_explicit(&framing_of[fd], memory_order_acquire);
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    struct conn_framing *c = framing_for(fd);
    if (!c || (flags & MSG_PEEK))
        return recvfrom(fd, buf, len, flags, NULL, NULL);
    cur = c;
    if (c->f.error) {
        errno = ECONNRESET;
        return -1;
    }
    ssize_t n = recvfrom(fd, buf, len, flags, NULL, NULL);
    if (n <= 0)
        return n;
    size_t ok = framing_feed(&c->f, buf, (size_t)n);
    if (ok == 0) {
        errno = ECONNRESET;
        return -1;
    }
    return (ssize_t)ok;
}

int close(int fd)
{
    if (framing_of && fd >= 0 && fd < framing_cap) {
        /* forgotten before the number can be reused */
        struct conn_framing *c = atomic_exchange(&framing_of[fd], NULL);
        if (c) {
            if (cur == c)
                cur = NULL;
            free(c);
        }
    }
    return (int)syscall(SYS_close, fd);
}

void frontend_request_begin(void)
{
    if (cur)
        cur->served++;
}

const char *frontend_framing_error(void)
{
    struct conn_framing *c = cur;
    if (!c || !c->f.error || !c->served)
        return NULL;
    return c->f.error_req <= c->served - 1 ? c->f.error : NULL;
}

const char *frontend_body_done(int timeout_ms)
{
    struct conn_framing *c = cur;
    if (!c || !c->served)
        return NULL;
    /* civetweb stops after the first two bytes of a trailer section (and
     * then closes the connection): the rest is read here, through the
     * parser, so a bad or oversized one is seen before the reply */
    long long deadline = now_ms() + timeout_ms;
    char scratch[4096];
    while (!c->f.error && framing_in_trailers(&c->f, c->served - 1)) {
        long long left = deadline - now_ms();
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        int r = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        ssize_t n = r > 0 ? recvfrom(c->fd, scratch, sizeof scratch, 0, NULL, NULL) : -1;
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            c->f.error = r == 0 ? "Bad Request: chunked trailers not received in time"
                                : "Bad Request: connection closed inside the chunked trailers";
            c->f.error_req = c->served - 1;
            break;
        }
        framing_feed(&c->f, scratch, (size_t)n);
    }
    return frontend_framing_error();
}

void frontend_capture_listen(bool on)
{
    atomic_store(&capture_listen, on ? 1 : 0);
}

/* ---- per-address counts ---- */

static unsigned slot_of(const struct sockaddr *sa)
{
    const unsigned char *p;
    size_t n;
    if (sa->sa_family == AF_INET6) {
        p = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        n = 16;
    } else {
        p = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
        n = 4;
    }
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h % ADDR_SLOTS;
}

void frontend_connection_closed(const char *remote_addr)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, remote_addr, &s4->sin_addr) == 1)
        ss.ss_family = AF_INET;
    else if (inet_pton(AF_INET6, remote_addr, &s6->sin6_addr) == 1)
        ss.ss_family = AF_INET6;
    else
        return;
    unsigned slot = slot_of((struct sockaddr *)&ss);
    if (atomic_load(&per_addr[slot]) > 0)
        atomic_fetch_sub(&per_addr[slot], 1);
}

/* ---- the front-end thread ---- */

static void drop(size_t i, const char *reply)
{
    struct pending *p = pend[i];
    if (reply)
        (void)!send(p->fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT);
    close(p->fd);
    atomic_fetch_sub(&per_addr[p->slot], 1);
    free(p);
    pend[i] = pend[--n_pend];
}

static const char TIMEOUT_REPLY[] =
    "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 34\r\n"
    "X-Content-Type-Options: nosniff\r\nX-Frame-Options: SAMEORIGIN\r\nConnection: close\r\n\r\n"
    "Request head not received in time\n";
static const char BUSY_REPLY[] =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 45\r\n"
    "X-Content-Type-Options: nosniff\r\nX-Frame-Options: SAMEORIGIN\r\nConnection: close\r\n\r\n"
    "Too many connections from this client address";

static void hand_off(size_t i)
{
    struct pending *p = pend[i];
    int off = -1;
    if (p->peek_off)
        setsockopt(p->fd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof off);
    epoll_ctl(ep, EPOLL_CTL_DEL, p->fd, NULL);
    struct ready *r = malloc(sizeof *r);
    struct conn_framing *c = p->fd < framing_cap ? malloc(sizeof *c) : NULL;
    if (!r || !c) {
        free(r);
        free(c);
        drop(i, NULL);
        return;
    }
    c->fd = p->fd;
    c->served = 0;
    framing_init(&c->f);
    atomic_store_explicit(&framing_of[p->fd], c, memory_order_release);
    r->fd = p->fd;
    r->addr = p->addr;
    r->addr_len = p->addr_len;
    r->next = NULL;
    pthread_mutex_lock(&q_lock);
    if (q_tail)
        q_tail->next = r;
    else
        q_head = r;
    q_tail = r;
    pthread_mutex_unlock(&q_lock);
    uint64_t one = 1;
    (void)!write(handoff_fd, &one, sizeof one);
    free(p);   /* the count stays: civetweb's close callback takes it back */
    pend[i] = pend[--n_pend];
}

static bool head_ends(struct pending *p, const char *buf, size_t n)
{
    char joined[3 + 4];
    size_t t = p->seen < 3 ? p->seen : 3, k = n < 4 ? n : 4;
    memcpy(joined, p->tail + 3 - t, t);
    memcpy(joined + t, buf, k);
    for (size_t i = 0; i + 1 < t + k; i++)
        if (joined[i] == '\n' && (joined[i + 1] == '\n' ||
                                  (i + 2 < t + k && joined[i + 1] == '\r' && joined[i + 2] == '\n')))
            return true;
    for (size_t i = 0; i + 1 < n; i++)
        if (buf[i] == '\n' && (buf[i + 1] == '\n' || (i + 2 < n && buf[i + 1] == '\r' && buf[i + 2] == '\n')))
            return true;
    return false;
}

static void remember_tail(struct pending *p, const char *buf, size_t n)
{
    char all[6];
    size_t t = p->seen < 3 ? p->seen : 3, k = n < 3 ? n : 3;
    memcpy(all, p->tail + 3 - t, t);
    memcpy(all + t, buf + n - k, k);
    size_t total = t + k;
    memset(p->tail, 0, 3);
    memcpy(p->tail + 3 - (total < 3 ? total : 3), all + total - (total < 3 ? total : 3), total < 3 ? total : 3);
    p->seen += n;
}

/* New bytes on a waiting connection: hand it off once the head is whole. */
static void on_readable(size_t i)
{
    static char buf[PEEK_MAX];
    struct pending *p = pend[i];
    for (;;) {
        ssize_t n;
        if (p->peek_off) {
            n = recv(p->fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
        } else {
            /* no peek offset: look at everything again, from the start */
            n = recv(p->fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
            if (n > 0 && (size_t)n <= p->seen)
                return;   /* nothing new */
            if (n > 0) {
                memmove(buf, buf + p->seen, (size_t)n - p->seen);
                n -= (ssize_t)p->seen;
            }
        }
        if (n == 0) {          /* closed before the head was whole */
            drop(i, NULL);
            return;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                drop(i, NULL);
            return;
        }
        bool done = head_ends(p, buf, (size_t)n);
        remember_tail(p, buf, (size_t)n);
        if (done || p->seen >= PEEK_MAX) {   /* too long: civetweb answers 413 */
            hand_off(i);
            return;
        }
        if (!p->peek_off)
            return;
    }
}

static size_t find_fd(int fd)
{
    for (size_t i = 0; i < n_pend; i++)
        if (pend[i]->fd == fd)
            return i;
    return (size_t)-1;
}

static void on_accept(void)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept4(listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* out of descriptors: shed the oldest waiting head */
                size_t oldest = 0;
                for (size_t i = 1; i < n_pend; i++)
                    if (pend[i]->born < pend[oldest]->born)
                        oldest = i;
                if (n_pend)
                    drop(oldest, TIMEOUT_REPLY);
            }
            return;
        }
        unsigned slot = slot_of((struct sockaddr *)&ss);
        if (fo.max_per_client > 0 && atomic_load(&per_addr[slot]) >= fo.max_per_client) {
            /* over the cap: the address's oldest unfinished head makes room */
            size_t oldest = (size_t)-1;
            for (size_t i = 0; i < n_pend; i++)
                if (pend[i]->slot == slot && (oldest == (size_t)-1 || pend[i]->born < pend[oldest]->born))
                    oldest = i;
            if (oldest == (size_t)-1) {
                (void)!send(fd, BUSY_REPLY, sizeof BUSY_REPLY - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                close(fd);
                continue;
            }
            drop(oldest, BUSY_REPLY);
        }
        if (n_pend == cap_pend) {
            size_t nc = cap_pend ? cap_pend * 2 : 256;
            struct pending **np = realloc(pend, nc * sizeof *np);
            if (!np) {
                close(fd);
                continue;
            }
            pend = np;
            cap_pend = nc;
        }
        struct pending *p = calloc(1, sizeof *p);
        if (!p) {
            close(fd);
            continue;
        }
        p->fd = fd;
        p->addr = ss;
        p->addr_len = len;
        p->slot = slot;
        p->born = ++accepted;
        p->deadline_ms = now_ms() + (long long)fo.head_timeout_ms;
        int zero = 0;
        p->peek_off = setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof zero) == 0;
        atomic_fetch_add(&per_addr[slot], 1);
        pend[n_pend++] = p;
        struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.fd = fd };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
            drop(n_pend - 1, NULL);
            continue;
        }
        on_readable(n_pend - 1);   /* the head may be there already */
    }
}

static void *run(void *arg)
{
    (void)arg;
    struct epoll_event evs[128];
    long long next_sweep = now_ms() + 100;
    while (!atomic_load(&stopping)) {
        int n = epoll_wait(ep, evs, 128, 100);
        for (int k = 0; k < n; k++) {
            int fd = evs[k].data.fd;
            if (fd == listen_fd) {
                on_accept();
            } else if (fd == wake_fd) {
                uint64_t v;
                (void)!read(wake_fd, &v, sizeof v);
            } else {
                size_t i = find_fd(fd);
                if (i != (size_t)-1)
                    on_readable(i);
            }
        }
        long long now = now_ms();
        if (now >= next_sweep) {
            next_sweep = now + 100;
            for (size_t i = n_pend; i-- > 0;)
                if (pend[i]->deadline_ms <= now)
                    drop(i, TIMEOUT_REPLY);
        }
    }
    return NULL;
}

int frontend_start(const struct frontend_options *o)
{
    fo = *o;
    struct rlimit rl;
    framing_cap = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (1u << 20)
                      ? (int)rl.rlim_cur : (1 << 20);
    framing_of = calloc((size_t)framing_cap, sizeof *framing_of);
    if (!framing_of) {
        fprintf(stderr, "cairn: front end: out of memory\n");
        return -1;
    }
    int civet_fd = atomic_load(&captured_fd);
    if (civet_fd < 0) {
        fprintf(stderr, "cairn: front end: no listening socket seen\n");
        return -1;
    }
    listen_fd = fcntl(civet_fd, F_DUPFD_CLOEXEC, 0);
    if (listen_fd >= 0)
        fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
    int efd = eventfd(0, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC);
    ep = epoll_create1(EPOLL_CLOEXEC);
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (listen_fd < 0 || efd < 0 || ep < 0 || wake_fd < 0 || dup2(efd, civet_fd) < 0) {
        fprintf(stderr, "cairn: front end: %s\n", strerror(errno));
        return -1;
    }
    close(efd);
    handoff_fd = civet_fd;
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = listen_fd };
    struct epoll_event wv = { .events = EPOLLIN, .data.fd = wake_fd };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev) || epoll_ctl(ep, EPOLL_CTL_ADD, wake_fd, &wv) ||
        pthread_create(&thread, NULL, run, NULL)) {
        fprintf(stderr, "cairn: front end: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

void frontend_stop(void)
{
    if (ep < 0)
        return;
    atomic_store(&stopping, true);
    uint64_t one = 1;
    (void)!write(wake_fd, &one, sizeof one);
    pthread_join(thread, NULL);
    while (n_pend)
        drop(n_pend - 1, NULL);
    free(pend);
    pend = NULL;
    cap_pend = 0;
    close(listen_fd);
    close(ep);
    close(wake_fd);
    ep = -1;
    pthread_mutex_lock(&q_lock);
    while (q_head) {
        struct ready *r = q_head;
        q_head = r->next;
        close(r->fd);
        free(r);
    }
    q_tail = NULL;
    pthread_mutex_unlock(&q_lock);
}
