/* libcurl loaded on first use (curl_lazy.h). */
#include "curl_lazy.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

struct curl_lazy curl_lazy;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *load_error;

/* POSIX's idiom for a function pointer from dlsym */
#define LOAD(field, name) \
    if (!(*(void **)&curl_lazy.field = dlsym(lib, name))) \
        goto fail

static void load(void)
{
    /* the soname libcurl4-openssl-dev links against; never unloaded */
    void *lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        goto fail;
    LOAD(global_init, "curl_global_init");
    LOAD(easy_init, "curl_easy_init");
    LOAD(easy_setopt, "curl_easy_setopt");
    LOAD(easy_perform, "curl_easy_perform");
    LOAD(easy_cleanup, "curl_easy_cleanup");
    LOAD(easy_strerror, "curl_easy_strerror");
    LOAD(share_init, "curl_share_init");
    LOAD(share_setopt, "curl_share_setopt");
    LOAD(slist_append, "curl_slist_append");
    LOAD(slist_free_all, "curl_slist_free_all");
    return;
fail:
    load_error = dlerror();
}

int curl_lazy_load(char *msg, size_t msg_len)
{
    pthread_once(&once, load);
    if (!load_error)
        return 0;
    snprintf(msg, msg_len, "the S3 artifact store needs libcurl (libcurl.so.4): %s", load_error);
    return -1;
}
