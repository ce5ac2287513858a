/* libcurl, loaded when the S3 artifact store is first configured (issue
 * 19). Only store/s3.c uses it, and linking it loads GnuTLS, p11-kit,
 * libssh2, librtmp and more into every server whose initialisers alone
 * added 2.5 MB to the idle RSS. s3.c calls libcurl through the names below,
 * which resolve to the loaded library's functions. */
#ifndef CAIRN_CURL_LAZY_H
#define CAIRN_CURL_LAZY_H
#include <stddef.h>
#define CURL_DISABLE_TYPECHECK   /* curl_easy_setopt is a pointer here, not the checking macro */
#include <curl/curl.h>

struct curl_lazy {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *h);
    void (*easy_cleanup)(CURL *h);
    const char *(*easy_strerror)(CURLcode rc);
    CURLSH *(*share_init)(void);
    CURLSHcode (*share_setopt)(CURLSH *sh, CURLSHoption opt, ...);
    struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
    void (*slist_free_all)(struct curl_slist *l);
};
extern struct curl_lazy curl_lazy;

/* Loads libcurl once (thread-safe); 0, or -1 with a message in msg. */
int curl_lazy_load(char *msg, size_t msg_len);

/* curl.h's own three-argument macros give way to the pointers */
#undef curl_easy_setopt
#undef curl_share_setopt
#define curl_global_init curl_lazy.global_init
#define curl_easy_init curl_lazy.easy_init
#define curl_easy_setopt curl_lazy.easy_setopt
#define curl_easy_perform curl_lazy.easy_perform
#define curl_easy_cleanup curl_lazy.easy_cleanup
#define curl_easy_strerror curl_lazy.easy_strerror
#define curl_share_init curl_lazy.share_init
#define curl_share_setopt curl_lazy.share_setopt
#define curl_slist_append curl_lazy.slist_append
#define curl_slist_free_all curl_lazy.slist_free_all
#endif
