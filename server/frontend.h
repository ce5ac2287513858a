/* The front end (issue 15): connections wait for their whole request head
 * in one polling thread, not in a civetweb worker. See frontend.c. */
#ifndef CAIRN_FRONTEND_H
#define CAIRN_FRONTEND_H
#include <stdbool.h>

struct frontend_options {
    int head_timeout_ms;    /* from accept to the end of the head; then 408 and closed */
    int max_per_client;     /* open connections per client address; 0: no cap */
};

/* Around mg_start: note the listening socket civetweb creates. */
void frontend_capture_listen(bool on);
/* Takes over the noted socket; -1 with a message on failure. */
int  frontend_start(const struct frontend_options *o);
void frontend_stop(void);
/* Request framing (framing.c), for the worker serving a connection: */
/* civetweb dispatches the connection's next request */
void frontend_request_begin(void);
/* the 400 reason when this request's framing is ambiguous, else NULL */
const char *frontend_framing_error(void);
/* the body has been read to its end: waits up to timeout_ms for the rest of
 * a chunked trailer section, then as frontend_framing_error() */
const char *frontend_body_done(int timeout_ms);
/* civetweb closed a connection the front end passed on. */
void frontend_connection_closed(const char *remote_addr);
#endif
