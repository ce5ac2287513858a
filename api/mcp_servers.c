/* MLflow 3.17's MCP server registry (issue 12: the UI's #/mcp-registry page):
 * the 23 routes of mlflow/server/mcp_server_api.py under
 * /api/3.0/mlflow/mcp-servers (and /ajax-api/…). MLflow serves them from
 * FastAPI: bodies are checked as its pydantic models check them (a failure is
 * 400 INVALID_PARAMETER_VALUE "Invalid request: <field>: <what>"), then as
 * mlflow/entities/mcp_server.py, utils/semver_utils.py, utils/validation.py and
 * the store mixin do. store/mcp_servers.c keeps the rows. */
#include "common.h"
#include "handlers.h"
#include "pyfmt.h"
#include "search_filter.h"
#include "../store/mcp_servers.h"
#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define BAD ERR_INVALID_PARAMETER_VALUE
#define MAX_ICONS 100                   /* _MAX_MCP_ICONS_PER_LIST */
#define MAX_TOOLS 1000                  /* _MAX_MCP_TOOLS_PER_LIST */
#define SEMVER_MAX_LEN 128              /* _MAX_SEMVER_LENGTH */
#define SEMVER_CORE_MAX 2147483647LL    /* _MAX_SEMVER_CORE_VALUE */
#define SEARCH_DEFAULT 100              /* the routes' Query(100) */
#define SEARCH_MAX 50000                /* SEARCH_MAX_RESULTS_THRESHOLD */
#define SEARCH_SERVERS_MAX 1000         /* SEARCH_MCP_SERVER_MAX_RESULTS_THRESHOLD */
/* Cairn's bounds where MLflow's columns would fail in the database (README "Limits") */
#define NAME_MAX_LEN 256
#define TAG_KEY_MAX 250
#define TAG_VALUE_MAX 5000
#define ALIAS_MAX 256
#define URL_MAX 2048
#define SOURCE_MAX 512

static const char NAME_SHAPE[] = "Invalid MCP server name. Expected '<reverse-dns namespace>/<server slug>' "
                                 "such as 'com.example/server-name'.";

/* ---- small helpers ---- */

/* pydantic's RequestValidationError, as _request_validation_error_response words it */
static int invalid_request(struct error *err, const char *loc, const char *what)
{
    if (loc && *loc)
        return error_set(err, BAD, "Invalid request: %s: %s", loc, what);
    return error_set(err, BAD, "Invalid request: %s", what);
}

static const char *join_loc(struct arena *a, const char *loc, const char *field)
{
    return loc && *loc ? arena_printf(a, "%s.%s", loc, field) : field;
}

static const char *pyd_type_error(const cJSON *v, char want)
{
    (void)v;
    switch (want) {
    case 's': return "Input should be a valid string";
    case 'b': return "Input should be a valid boolean";
    case 'd': return "Input should be a valid dictionary";
    case 'l': return "Input should be a valid list";
    case 'o': return "Input should be a valid dictionary or object to extract fields from";
    }
    return "Input is invalid";
}

/* field `name` of obj: absent (NULL), or of the kind wanted ('s' string, 'b' bool,
 * 'd' object, 'l' list); null is allowed when nullable */
static int field_of(struct arena *a, const cJSON *obj, const char *name, char want, bool required, bool nullable,
                    const char *loc, const cJSON **out, struct error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    *out = NULL;
    if (!v) {
        if (required)
            return invalid_request(err, join_loc(a, loc, name), "Field required");
        return 0;
    }
    if (cJSON_IsNull(v)) {
        if (!nullable)
            return invalid_request(err, join_loc(a, loc, name), pyd_type_error(v, want));
        *out = v;
        return 0;
    }
    bool ok = want == 's' ? cJSON_IsString(v) : want == 'b' ? cJSON_IsBool(v)
            : want == 'd' ? cJSON_IsObject(v) : want == 'l' ? cJSON_IsArray(v) : true;
    if (!ok)
        return invalid_request(err, join_loc(a, loc, name), pyd_type_error(v, want));
    *out = v;
    return 0;
}

static const char *string_or_null(const cJSON *v)
{
    return v && cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A JSON value written back as given (numbers as their literal text). */
static void write_value(struct jw *w, const cJSON *v)
{
    if (cJSON_IsObject(v)) {
        jw_obj(w);
        for (const cJSON *c = v->child; c; c = c->next) {
            jw_key(w, c->string);
            write_value(w, c);
        }
        jw_obj_end(w);
    } else if (cJSON_IsArray(v)) {
        jw_arr(w);
        for (const cJSON *c = v->child; c; c = c->next)
            write_value(w, c);
        jw_arr_end(w);
    } else if (cJSON_IsString(v)) {
        jw_str(w, v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        if (v->valuestring)
            jw_raw(w, v->valuestring, strlen(v->valuestring));
        else
            jw_double(w, v->valuedouble);
    } else if (cJSON_IsBool(v)) {
        jw_bool(w, cJSON_IsTrue(v));
    } else {
        jw_null(w);
    }
}

static const cJSON *parse_stored(struct arena *a, const char *text)
{
    struct error e;
    return text ? json_parse(a, text, strlen(text), &e) : NULL;
}

/* ---- names and versions ---- */

static bool alnum(char c) { return isalnum((unsigned char)c) && !(c & 0x80); }

/* ^[a-zA-Z0-9][a-zA-Z0-9<extra>]*[a-zA-Z0-9]$ */
static bool name_part_ok(const char *s, size_t n, const char *extra)
{
    if (n < 2 || !alnum(s[0]) || !alnum(s[n - 1]))
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (!alnum(s[i]) && !strchr(extra, s[i]))
            return false;
    return true;
}

/* validate_mcp_server_name */
static int name_or_error(const char *name, struct error *err)
{
    if (!name || !*name)
        return error_set(err, BAD, "MCP server name must not be empty");
    const char *slash = strchr(name, '/');
    if (!slash || strchr(slash + 1, '/'))
        return error_set(err, BAD, "%s", NAME_SHAPE);
    const char *slug = slash + 1;
    static const char *const reserved[] = { "aliases", "endpoints", "tags", "versions" };
    for (size_t i = 0; i < 4; i++)
        if (!strcmp(slug, reserved[i]))
            return error_set(err, BAD, "%s", NAME_SHAPE);
    if (!name_part_ok(name, (size_t)(slash - name), ".-") || !name_part_ok(slug, strlen(slug), "._-"))
        return error_set(err, BAD, "%s", NAME_SHAPE);
    if (strlen(name) > NAME_MAX_LEN)
        return error_set(err, BAD, "MCP server name must be at most %d characters", NAME_MAX_LEN);
    return 0;
}

/* a SemVer numeric identifier: 0 | [1-9][0-9]* */
static const char *numeric_id(const char *p)
{
    if (*p == '0')
        return p + 1;
    if (*p < '1' || *p > '9')
        return NULL;
    while (*p >= '0' && *p <= '9')
        p++;
    return p;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return n > 0;
}

static bool ident_char(char c) { return alnum(c) || c == '-'; }

/* parse_semver + encode_prerelease_sort_key */
static int semver_or_error(struct arena *a, const char *version, const char *param, struct mcp_semver *out,
                           struct error *err)
{
    if (strlen(version) > SEMVER_MAX_LEN)
        return error_set(err, BAD, "Invalid semantic version for %s: '%s' (maximum length is %d characters)",
                         param, version, SEMVER_MAX_LEN);
    const char *p = version, *core[3];
    size_t core_len[3];
    for (int i = 0; i < 3; i++) {
        const char *e = numeric_id(p);
        if (!e)
            goto bad;
        core[i] = p;
        core_len[i] = (size_t)(e - p);
        p = e;
        if (i < 2 && *p++ != '.')
            goto bad;
    }
    struct strbuf key;
    sb_init(&key, a, 64);
    if (*p == '-') {
        p++;
        for (;;) {
            const char *s = p;
            while (ident_char(*p))
                p++;
            size_t n = (size_t)(p - s);
            if (!n || (all_digits(s, n) && n > 1 && *s == '0'))
                goto bad;
            if (all_digits(s, n)) {
                sb_printf(&key, "0%03zu%.*s", n, (int)n, s);
            } else {
                sb_putc(&key, '1');
                for (size_t i = 0; i < n; i++)
                    sb_printf(&key, "%03d", (unsigned char)s[i]);
                sb_puts(&key, "000");
            }
            if (*p != '.')
                break;
            p++;
        }
    } else {
        sb_putc(&key, '2');
    }
    if (*p == '+') {
        p++;
        for (;;) {
            const char *s = p;
            while (ident_char(*p))
                p++;
            if (p == s)
                goto bad;
            if (*p != '.')
                break;
            p++;
        }
    }
    if (*p)
        goto bad;
    static const char *const labels[3] = { "major", "minor", "patch" };
    int64_t *vals[3] = { &out->major, &out->minor, &out->patch };
    for (int i = 0; i < 3; i++) {
        if (core_len[i] > 10)
            goto too_big;
        int64_t v = 0;
        for (size_t j = 0; j < core_len[i]; j++)
            v = v * 10 + (core[i][j] - '0');
        if (v > SEMVER_CORE_MAX) {
        too_big:
            return error_set(err, BAD, "Invalid semantic version for %s: '%s' (%s must be <= %lld)", param,
                             version, labels[i], SEMVER_CORE_MAX);
        }
        *vals[i] = v;
    }
    out->prerelease_key = key.buf;
    return 0;
bad:
    return error_set(err, BAD, "Invalid semantic version for %s: '%s'", param, version);
}

/* ---- icons (utils/validation.py) ---- */

static bool v4_public(uint32_t ip)
{
    static const struct { uint32_t net; int bits; } private4[] = {
        { 0x00000000, 8 }, { 0x0A000000, 8 }, { 0x64400000, 10 }, { 0x7F000000, 8 }, { 0xA9FE0000, 16 },
        { 0xAC100000, 12 }, { 0xC0000000, 24 }, { 0xC0000200, 24 }, { 0xC0A80000, 16 }, { 0xC6120000, 15 },
        { 0xC6336400, 24 }, { 0xCB007100, 24 }, { 0xF0000000, 4 }, { 0xFFFFFFFF, 32 },
    };
    for (size_t i = 0; i < sizeof private4 / sizeof *private4; i++) {
        uint32_t mask = private4[i].bits ? ~0u << (32 - private4[i].bits) : 0;
        if ((ip & mask) == private4[i].net)
            return false;
    }
    return true;
}

/* ipaddress' is_global, IPv4 embedded in IPv6 read as IPv4 */
static bool ip_public(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return v4_public(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
    const unsigned char *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (!memcmp(b, mapped, 12))
        return v4_public((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15]);
    if ((b[0] & 0xE0) != 0x20)      /* 2000::/3 is the global unicast space */
        return false;
    return !(b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8);   /* documentation */
}

/* _validate_public_https_url("Icon URL", ("https",), allow_private_ips=False) */
static int icon_url_or_error(struct arena *a, const char *url, struct error *err)
{
    const char *f = "Icon URL";
    const char *t = url;
    while (isspace((unsigned char)*t))
        t++;
    if (!*t)
        return error_set(err, BAD, "%s cannot be empty or just whitespace: %s", f, py_repr_dup(a, url));
    const char *colon = strchr(url, ':');
    size_t sl = colon ? (size_t)(colon - url) : 0;
    char scheme[16] = "";
    bool scheme_ok = colon && sl < sizeof scheme && isalpha((unsigned char)url[0]);
    for (size_t i = 0; scheme_ok && i < sl; i++)
        scheme_ok = isalnum((unsigned char)url[i]) || strchr("+-.", url[i]);
    if (scheme_ok)
        for (size_t i = 0; i < sl; i++)
            scheme[i] = (char)tolower((unsigned char)url[i]);
    if (strcmp(scheme, "https"))
        return error_set(err, BAD, "Invalid %s scheme: %s. Allowed schemes are: 'https'.", f, py_repr_dup(a, scheme));
    const char *auth = colon + 1;
    if (strncmp(auth, "//", 2))
        return error_set(err, BAD, "%s must include a hostname: %s", f, py_repr_dup(a, url));
    auth += 2;
    size_t alen = strcspn(auth, "/?#");
    char *host = arena_strndup(a, auth, alen);
    char *at = strrchr(host, '@');
    if (at)
        return error_set(err, BAD, "%s must not include embedded credentials: %s", f, py_repr_dup(a, url));
    if (*host == '[') {
        char *close = strchr(host, ']');
        if (!close)
            return error_set(err, BAD, "Invalid %s %s: ValueError('Invalid IPv6 URL')", f, py_repr_dup(a, url));
        *close = '\0';
        host++;
    } else {
        char *port = strchr(host, ':');
        if (port)
            *port = '\0';
    }
    for (char *c = host; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (!*host)
        return error_set(err, BAD, "%s must include a hostname: %s", f, py_repr_dup(a, url));
    bool literal_like = strchr(host, ':') != NULL;
    if (!literal_like) {
        literal_like = true;
        for (const char *c = host; *c && literal_like; c++)
            literal_like = isdigit((unsigned char)*c) || *c == '.';
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
    if (literal_like) {
        unsigned char buf[16];
        if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1)
            return error_set(err, BAD, "%s host %s is not a canonical IP address literal.", f, py_repr_dup(a, host));
        hints.ai_flags = AI_NUMERICHOST;
    }
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc)
        return error_set(err, BAD, "Cannot resolve %s hostname %s: %s", f, py_repr_dup(a, host), gai_strerror(rc));
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (!ip_public(ai->ai_addr)) {
            char ip[INET6_ADDRSTRLEN] = "";
            const void *addr = ai->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                                                        : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
            inet_ntop(ai->ai_family, addr, ip, sizeof ip);
            freeaddrinfo(res);
            return error_set(err, BAD, "%s must not resolve to a non-public IP address. %s resolves to %s.", f,
                             py_repr_dup(a, host), ip);
        }
    }
    freeaddrinfo(res);
    return 0;
}

/* One icon object of a request (MCPIconRequestPayload), written normalised:
 * extra keys, then src, sizes, mimeType (stripped, lower case), theme; a
 * response-only "source" is dropped ("server") or refused ("version"). */
static int icon_or_error(struct arena *a, const cJSON *icon, const char *loc, const char *list_name, int idx,
                         struct jw *w, struct error *err)
{
    if (!cJSON_IsObject(icon))
        return invalid_request(err, loc, "Input should be a valid dictionary or object to extract fields from");
    const cJSON *src, *sizes, *mime, *theme;
    if (field_of(a, icon, "src", 's', true, false, loc, &src, err) ||
        field_of(a, icon, "sizes", 'l', false, true, loc, &sizes, err) ||
        field_of(a, icon, "mimeType", 's', false, true, loc, &mime, err) ||
        field_of(a, icon, "theme", 's', false, true, loc, &theme, err))
        return -1;
    for (const cJSON *s = sizes && cJSON_IsArray(sizes) ? sizes->child : NULL; s; s = s->next)
        if (!cJSON_IsString(s))
            return invalid_request(err, join_loc(a, loc, "sizes"), "Input should be a valid string");
    if (icon_url_or_error(a, src->valuestring, err))
        return -1;
    const char *mt = string_or_null(mime);
    char *norm = NULL;
    if (mt) {
        const char *b = mt;
        while (isspace((unsigned char)*b))
            b++;
        size_t n = strlen(b);
        while (n && isspace((unsigned char)b[n - 1]))
            n--;
        norm = arena_strndup(a, b, n);
        for (char *c = norm; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (strncmp(norm, "image/", 6) || !norm[6])
            return error_set(err, BAD, "Invalid icon mimeType %s. Allowed values must use the 'image/*' media "
                             "type.", py_repr_dup(a, mt));
    }
    const cJSON *source = cJSON_GetObjectItemCaseSensitive(icon, "source");
    if (cJSON_IsString(source) && !strcmp(source->valuestring, "version"))
        return error_set(err, BAD, "Invalid %s[%d].source: 'version' is response-only and cannot be written. "
                         "Writing it would persist a version-resolved icon as a server override. Omit source, "
                         "or send source='server' when echoing a server icon.", list_name, idx);
    jw_obj(w);
    for (const cJSON *c = icon->child; c; c = c->next) {
        if (!strcmp(c->string, "src") || !strcmp(c->string, "sizes") || !strcmp(c->string, "mimeType") ||
            !strcmp(c->string, "theme") || !strcmp(c->string, "source"))
            continue;
        jw_key(w, c->string);
        write_value(w, c);
    }
    jw_kstr(w, "src", src->valuestring);
    if (sizes && cJSON_IsArray(sizes)) {
        jw_key(w, "sizes");
        write_value(w, sizes);
    }
    jw_kstr(w, "mimeType", norm);
    if (theme && cJSON_IsString(theme))
        jw_kstr(w, "theme", theme->valuestring);
    jw_obj_end(w);
    return 0;
}

/* a list of icons (absent or null: *out NULL), normalised into JSON text */
static int icons_or_error(struct arena *a, const cJSON *obj, const char *field, const char *loc,
                          const char *list_name, const char **out, struct error *err)
{
    const cJSON *icons;
    *out = NULL;
    const char *at = join_loc(a, loc, field);
    if (field_of(a, obj, field, 'l', false, true, loc, &icons, err))
        return -1;
    if (!icons || cJSON_IsNull(icons))
        return 0;
    int n = cJSON_GetArraySize(icons);
    if (n > MAX_ICONS)
        return invalid_request(err, at, arena_printf(a, "List should have at most %d items after validation, "
                                                        "not %d", MAX_ICONS, n));
    struct strbuf sb;
    sb_init(&sb, a, 256);
    struct jw w;
    jw_init(&w, &sb);
    jw_arr(&w);
    int i = 0;
    for (const cJSON *c = icons->child; c; c = c->next, i++)
        if (icon_or_error(a, c, arena_printf(a, "%s.%d", at, i), list_name, i, &w, err))
            return -1;
    jw_arr_end(&w);
    *out = sb.buf;
    return 0;
}

/* ---- server.json (ServerJSONPayload) ---- */

struct field_rule {
    const char *name;
    char kind;          /* s d l b: string dict list bool; a: anything */
    bool required;
};

/* an object whose declared fields are checked; extras pass */
static int check_fields(struct arena *a, const cJSON *obj, const char *loc, const struct field_rule *rules,
                        size_t n, struct error *err)
{
    if (!cJSON_IsObject(obj))
        return invalid_request(err, loc, "Input should be a valid dictionary or object to extract fields from");
    for (size_t i = 0; i < n; i++) {
        const cJSON *v;
        /* Optional[...] takes null; a required field only when it is Any */
        if (field_of(a, obj, rules[i].name, rules[i].kind, rules[i].required,
                     !rules[i].required || rules[i].kind == 'a', loc, &v, err))
            return -1;
    }
    return 0;
}

static int list_items(struct arena *a, const cJSON *list, const char *loc, const struct field_rule *rules,
                      size_t n, struct error *err)
{
    int i = 0;
    for (const cJSON *c = list && cJSON_IsArray(list) ? list->child : NULL; c; c = c->next, i++)
        if (check_fields(a, c, arena_printf(a, "%s.%d", loc, i), rules, n, err))
            return -1;
    return 0;
}

/* server.json checked and written as MLflow stores it (declared fields, then extras) */
static int server_json_or_error(struct arena *a, const cJSON *sj, const char **out, struct error *err)
{
    static const struct field_rule top[] = {
        { "name", 's', true }, { "version", 's', true }, { "title", 's', false }, { "description", 's', false },
        { "packages", 'l', false }, { "remotes", 'l', false }, { "repository", 'd', false },
        { "websiteUrl", 's', false }, { "_meta", 'd', false },
    };
    static const struct field_rule package[] = {
        { "registryType", 's', true }, { "identifier", 's', true }, { "transport", 'a', true },
        { "registryBaseUrl", 's', false }, { "version", 's', false }, { "environmentVariables", 'l', false },
    };
    static const struct field_rule env[] = {
        { "name", 's', true }, { "description", 's', false }, { "isRequired", 'b', false }, { "isSecret", 'b', false },
    };
    static const struct field_rule remote[] = { { "type", 's', false }, { "url", 's', false } };
    static const struct field_rule repo[] = {
        { "url", 's', true }, { "source", 's', true }, { "id", 's', false }, { "subfolder", 's', false },
    };
    if (check_fields(a, sj, "server_json", top, sizeof top / sizeof *top, err))
        return -1;
    const cJSON *packages = cJSON_GetObjectItemCaseSensitive(sj, "packages");
    int i = 0;
    for (const cJSON *p = cJSON_IsArray(packages) ? packages->child : NULL; p; p = p->next, i++) {
        const char *loc = arena_printf(a, "server_json.packages.%d", i);
        if (check_fields(a, p, loc, package, sizeof package / sizeof *package, err) ||
            list_items(a, cJSON_GetObjectItemCaseSensitive(p, "environmentVariables"),
                       join_loc(a, loc, "environmentVariables"), env, sizeof env / sizeof *env, err))
            return -1;
    }
    if (list_items(a, cJSON_GetObjectItemCaseSensitive(sj, "remotes"), "server_json.remotes", remote, 2, err))
        return -1;
    const cJSON *repository = cJSON_GetObjectItemCaseSensitive(sj, "repository");
    if (cJSON_IsObject(repository) &&
        check_fields(a, repository, "server_json.repository", repo, sizeof repo / sizeof *repo, err))
        return -1;
    const char *icons = NULL;
    bool has_icons = cJSON_GetObjectItemCaseSensitive(sj, "icons") != NULL;
    if (icons_or_error(a, sj, "icons", "server_json", "server_json.icons", &icons, err))
        return -1;
    struct strbuf sb;
    sb_init(&sb, a, 1024);
    struct jw w;
    jw_init(&w, &sb);
    jw_obj(&w);
    static const char *const order[] = { "name", "version", "title", "description", "icons", "packages", "remotes",
                                         "repository", "websiteUrl", "_meta" };
    for (size_t k = 0; k < sizeof order / sizeof *order; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(sj, order[k]);
        if (!v)
            continue;
        jw_key(&w, order[k]);
        if (!strcmp(order[k], "icons") && has_icons && icons)
            jw_raw(&w, icons, strlen(icons));
        else
            write_value(&w, v);
    }
    for (const cJSON *c = sj->child; c; c = c->next) {
        bool declared = false;
        for (size_t k = 0; k < sizeof order / sizeof *order; k++)
            declared |= !strcmp(order[k], c->string);
        if (declared)
            continue;
        jw_key(&w, c->string);
        write_value(&w, c);
    }
    jw_obj_end(&w);
    *out = sb.buf;
    return 0;
}

/* ---- tools and connect options ---- */

/* MCPToolRequestPayload list → MCPTool.to_dict list (None fields dropped, extras ignored) */
static int tools_or_error(struct arena *a, const cJSON *tools, const char **out, struct error *err)
{
    static const struct field_rule rules[] = {
        { "name", 's', true }, { "title", 's', false }, { "description", 's', false }, { "inputSchema", 'd', false },
        { "outputSchema", 'd', false }, { "annotations", 'd', false }, { "icons", 'l', false },
        { "execution", 'd', false },
    };
    *out = NULL;
    if (!tools || cJSON_IsNull(tools))
        return 0;
    if (!cJSON_IsArray(tools))
        return invalid_request(err, "tools", "Input should be a valid list");
    int n = cJSON_GetArraySize(tools);
    if (n > MAX_TOOLS)
        return invalid_request(err, "tools", arena_printf(a, "List should have at most %d items after validation, "
                                                             "not %d", MAX_TOOLS, n));
    struct strbuf sb;
    sb_init(&sb, a, 1024);
    struct jw w;
    jw_init(&w, &sb);
    jw_arr(&w);
    int i = 0;
    for (const cJSON *t = tools->child; t; t = t->next, i++) {
        const char *loc = arena_printf(a, "tools.%d", i);
        if (check_fields(a, t, loc, rules, sizeof rules / sizeof *rules, err))
            return -1;
        const char *icons = NULL;
        if (icons_or_error(a, t, "icons", loc, arena_printf(a, "tools[%d].icons", i), &icons, err))
            return -1;
        jw_obj(&w);
        for (size_t k = 0; k < sizeof rules / sizeof *rules; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, rules[k].name);
            if (!v || cJSON_IsNull(v))
                continue;
            jw_key(&w, rules[k].name);
            if (!strcmp(rules[k].name, "icons"))
                jw_raw(&w, icons, strlen(icons));
            else
                write_value(&w, v);
        }
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    *out = sb.buf;
    return 0;
}

/* dict[str, ConnectOptionSettings] → {"key": {"hidden": bool}} */
static int connect_options_or_error(struct arena *a, const cJSON *co, const char **out, struct error *err)
{
    *out = NULL;
    if (!co || cJSON_IsNull(co))
        return 0;
    if (!cJSON_IsObject(co))
        return invalid_request(err, "connect_options", "Input should be a valid dictionary");
    struct strbuf sb;
    sb_init(&sb, a, 128);
    struct jw w;
    jw_init(&w, &sb);
    jw_obj(&w);
    for (const cJSON *c = co->child; c; c = c->next) {
        const char *loc = arena_printf(a, "connect_options.%s", c->string);
        if (!cJSON_IsObject(c))
            return invalid_request(err, loc, "Input should be a dictionary or an instance of ConnectOptionSettings");
        const cJSON *hidden;
        if (field_of(a, c, "hidden", 'b', false, false, loc, &hidden, err))
            return -1;
        jw_kobj(&w, c->string);
        jw_kbool(&w, "hidden", hidden && cJSON_IsTrue(hidden));
        jw_obj_end(&w);
    }
    jw_obj_end(&w);
    *out = sb.buf;
    return 0;
}

/* ---- writers (the response models) ---- */

/* a stored icon (response-only "source" replaced by the given one, if any) */
static void write_icon(struct jw *w, const cJSON *icon, const char *source)
{
    jw_obj(w);
    for (const cJSON *c = icon->child; c; c = c->next) {
        if (!strcmp(c->string, "source"))
            continue;
        jw_key(w, c->string);
        write_value(w, c);
    }
    if (source)
        jw_kstr(w, "source", source);
    jw_obj_end(w);
}

static void write_icon_list(struct jw *w, const cJSON *icons, const char *source)
{
    for (const cJSON *i = icons ? icons->child : NULL; i; i = i->next)
        if (cJSON_IsObject(i))
            write_icon(w, i, source);
}

/* the arena the writers parse stored JSON in (the request's) */
static __thread struct arena *write_arena;

/* MCPToolResponsePayload: every field, null when unset */
static void write_tools(struct jw *w, const char *tools_json)
{
    static const char *const fields[] = { "name", "title", "description", "inputSchema", "outputSchema",
                                          "annotations", "icons", "execution" };
    const cJSON *tools = parse_stored(write_arena, tools_json);
    jw_arr(w);
    for (const cJSON *t = tools ? tools->child : NULL; t; t = t->next) {
        jw_obj(w);
        for (size_t k = 0; k < sizeof fields / sizeof *fields; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, fields[k]);
            jw_key(w, fields[k]);
            if (!v || cJSON_IsNull(v)) {
                jw_null(w);
            } else if (!strcmp(fields[k], "icons")) {
                jw_arr(w);
                write_icon_list(w, v, NULL);
                jw_arr_end(w);
            } else {
                write_value(w, v);
            }
        }
        jw_obj_end(w);
    }
    jw_arr_end(w);
}

static void write_stored(struct jw *w, const char *json, const char *if_null)
{
    const cJSON *v = parse_stored(write_arena, json);
    if (v)
        write_value(w, v);
    else
        jw_raw(w, if_null, strlen(if_null));
}

static void kstr_or_null(struct jw *w, const char *key, const char *s)
{
    jw_key(w, key);
    if (s)
        jw_str(w, s);
    else
        jw_null(w);
}

static void write_version(struct jw *w, const struct mcp_version *v)
{
    jw_obj(w);
    jw_kstr(w, "name", v->name);
    jw_kstr(w, "version", v->version);
    jw_key(w, "server_json");
    write_stored(w, v->server_json, "{}");
    jw_kstr(w, "workspace", "default");
    jw_kstr(w, "status", v->status);
    jw_key(w, "tools");
    write_tools(w, v->tools);
    jw_karr(w, "aliases");
    for (size_t i = 0; i < v->n_aliases; i++)
        jw_str(w, v->aliases[i]);
    jw_arr_end(w);
    jw_kobj(w, "tags");
    for (size_t i = 0; i < v->n_tags; i++)
        kstr_or_null(w, v->tags[i].key, v->tags[i].value);
    jw_obj_end(w);
    jw_key(w, "connect_options");
    write_stored(w, v->connect_options, "{}");
    kstr_or_null(w, "source", v->source);
    kstr_or_null(w, "created_by", v->created_by);
    kstr_or_null(w, "last_updated_by", v->last_updated_by);
    jw_kint64(w, "creation_timestamp", v->created_at);
    jw_kint64(w, "last_updated_timestamp", v->last_updated_at);
    jw_obj_end(w);
}

static void write_version_item(struct jw *w, const void *p) { write_version(w, p); }

/* MCPAccessEndpointResponse (with_tools) or the summary a server carries */
static void write_endpoint(struct jw *w, const struct mcp_endpoint *e, bool with_tools)
{
    jw_obj(w);
    jw_kstr(w, "id", e->id);
    jw_kstr(w, "server_name", e->server_name);
    jw_kstr(w, "url", e->url);
    jw_kstr(w, "transport_type", e->transport_type);
    jw_kstr(w, "workspace", "default");
    if (with_tools) {
        jw_key(w, "tools");
        if (e->resolved && e->resolved->tools)
            write_tools(w, e->resolved->tools);
        else
            jw_null(w);
    }
    kstr_or_null(w, "server_version", e->server_version);
    kstr_or_null(w, "server_alias", e->server_alias);
    jw_key(w, "resolved_version");
    if (e->resolved)
        write_version(w, e->resolved);
    else
        jw_null(w);
    kstr_or_null(w, "created_by", e->created_by);
    kstr_or_null(w, "last_updated_by", e->last_updated_by);
    jw_kint64(w, "creation_timestamp", e->created_at);
    jw_kint64(w, "last_updated_timestamp", e->last_updated_at);
    jw_obj_end(w);
}

static void write_endpoint_item(struct jw *w, const void *p) { write_endpoint(w, p, true); }

/* _resolve_mcp_server_icons: server icons, then the latest version's whose theme no server icon has */
static void write_server_icons(struct jw *w, const struct mcp_server *s, const cJSON *latest_json)
{
    const cJSON *server_icons = parse_stored(write_arena, s->icons);
    const cJSON *version_icons = latest_json ? cJSON_GetObjectItemCaseSensitive(latest_json, "icons") : NULL;
    jw_key(w, "icons");
    if (server_icons && cJSON_IsArray(server_icons) && !server_icons->child) {
        jw_arr(w);
        jw_arr_end(w);
        return;
    }
    size_t n = 0;
    for (const cJSON *i = server_icons ? server_icons->child : NULL; i; i = i->next)
        n += cJSON_IsObject(i);
    const cJSON **keep = arena_alloc(write_arena, (size_t)(cJSON_GetArraySize(version_icons) + 1) * sizeof *keep);
    size_t nk = 0;
    for (const cJSON *v = cJSON_IsArray(version_icons) ? version_icons->child : NULL; v; v = v->next) {
        if (!cJSON_IsObject(v))
            continue;
        const cJSON *vt = cJSON_GetObjectItemCaseSensitive(v, "theme");
        bool clash = false;
        for (const cJSON *i = server_icons ? server_icons->child : NULL; i && !clash; i = i->next) {
            if (!cJSON_IsObject(i))
                continue;
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(i, "theme");
            /* a missing theme is None, which equals another None */
            clash = (!st || cJSON_IsNull(st)) ? (!vt || cJSON_IsNull(vt))
                  : (cJSON_IsString(st) && cJSON_IsString(vt) && !strcmp(st->valuestring, vt->valuestring));
        }
        if (!clash)
            keep[nk++] = v;
    }
    if (!n && !nk) {
        jw_null(w);
        return;
    }
    jw_arr(w);
    if (server_icons)
        write_icon_list(w, server_icons, "server");
    for (size_t i = 0; i < nk; i++)
        write_icon(w, keep[i], "version");
    jw_arr_end(w);
}

static void write_server(struct jw *w, const struct mcp_server *s)
{
    const cJSON *latest_json = parse_stored(write_arena, s->latest_server_json);
    jw_obj(w);
    jw_kstr(w, "name", s->name);
    kstr_or_null(w, "display_name", s->display_name);
    const char *description = s->description;
    if (!description && latest_json) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(latest_json, "description");
        description = cJSON_IsString(d) ? d->valuestring : NULL;
    }
    kstr_or_null(w, "description", description);
    write_server_icons(w, s, latest_json);
    jw_kstr(w, "workspace", "default");
    kstr_or_null(w, "status", s->latest_status);
    jw_karr(w, "access_endpoints");
    for (size_t i = 0; i < s->n_endpoints; i++)
        write_endpoint(w, &s->endpoints[i], false);
    jw_arr_end(w);
    kstr_or_null(w, "latest_version", s->latest_version);
    jw_karr(w, "aliases");
    for (size_t i = 0; i < s->n_aliases; i++) {
        jw_obj(w);
        jw_kstr(w, "alias", s->aliases[i].key);
        jw_kstr(w, "version", s->aliases[i].value);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_kobj(w, "tags");
    for (size_t i = 0; i < s->n_tags; i++)
        kstr_or_null(w, s->tags[i].key, s->tags[i].value);
    jw_obj_end(w);
    kstr_or_null(w, "created_by", s->created_by);
    kstr_or_null(w, "last_updated_by", s->last_updated_by);
    jw_kint64(w, "creation_timestamp", s->created_at);
    jw_kint64(w, "last_updated_timestamp", s->last_updated_at);
    jw_obj_end(w);
}

static void write_server_item(struct jw *w, const void *p) { write_server(w, p); }

static int reply_with(struct request *req, struct response *resp, void (*fn)(struct jw *, const void *),
                      const void *p)
{
    write_arena = req->arena;
    json_set_thread_arena(req->arena);
    struct jw w;
    jw_init(&w, &resp->body);
    fn(&w, p);
    json_set_thread_arena(NULL);
    return 0;
}

/* {"<field>": [...], "next_page_token": null|"…"}: the page is the first max_results of n */
static int reply_search(struct request *req, struct response *resp, const char *field, const void *items, size_t n,
                        size_t size, void (*fn)(struct jw *, const void *), int64_t max_results, int64_t offset)
{
    write_arena = req->arena;
    json_set_thread_arena(req->arena);
    struct jw w;
    jw_init(&w, &resp->body);
    jw_obj(&w);
    jw_karr(&w, field);
    size_t shown = n > (size_t)max_results ? (size_t)max_results : n;
    for (size_t i = 0; i < shown; i++)
        fn(&w, (const char *)items + i * size);
    jw_arr_end(&w);
    kstr_or_null(&w, "next_page_token", n > shown ? page_token_encode(req->arena, offset + max_results) : NULL);
    jw_obj_end(&w);
    json_set_thread_arena(NULL);
    return 0;
}

/* ---- request pieces ---- */

static const char *user_of(const struct request *req)
{
    return req->user ? req->user->username : NULL;
}

/* the last value of a query parameter (Starlette's QueryParams.get) */
static const char *query_last(const struct request *req, const char *key)
{
    const char *v = NULL;
    for (size_t i = 0; i < req->n_query; i++)
        if (!strcmp(req->query[i].key, key))
            v = req->query[i].value;
    return v;
}

/* the common query of the three searches */
static int search_query(struct request *req, enum sf_mcp_kind kind, int64_t server_max, struct mcp_search *s,
                        int64_t *max_results, struct error *err)
{
    memset(s, 0, sizeof *s);
    int64_t mr = SEARCH_DEFAULT;
    const char *text = query_last(req, "max_results");
    if (text) {
        const char *t = text;
        while (isspace((unsigned char)*t))
            t++;
        if (parse_int64(t, &mr))
            return invalid_request(err, "query.max_results",
                                   "Input should be a valid integer, unable to parse string as an integer");
    }
    if (mr < 1)
        return error_set(err, BAD, "Invalid value %" PRId64 " for parameter 'max_results' supplied. It must be "
                         "a positive integer", mr);
    if (mr > SEARCH_MAX)
        return error_set(err, BAD, "Invalid value %" PRId64 " for parameter 'max_results' supplied. It must be at "
                         "most %d", mr, SEARCH_MAX);
    if (server_max && mr > server_max)
        return error_set(err, BAD, "Invalid value for max_results. It must be at most %" PRId64 ", but got %" PRId64,
                         server_max, mr);
    if (page_token_decode(req->arena, query_last(req, "page_token"), &s->offset, err))
        return -1;
    const char *filter = query_last(req, "filter_string");
    if (sf_parse_mcp_filter(req->arena, filter, kind, &s->filter, err))
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < req->n_query; i++)
        n += !strcmp(req->query[i].key, "order_by");
    const char **order = arena_alloc(req->arena, (n ? n : 1) * sizeof *order);
    n = 0;
    for (size_t i = 0; i < req->n_query; i++)
        if (!strcmp(req->query[i].key, "order_by"))
            order[n++] = req->query[i].value;
    if (sf_parse_mcp_order_by(req->arena, order, n, kind, &s->order, err))
        return -1;
    *max_results = mr;
    s->limit = mr + 1;
    return 0;
}

static int body_string(struct arena *a, const cJSON *in, const char *field, bool required, bool nullable,
                       const char **out, struct error *err)
{
    const cJSON *v;
    if (field_of(a, in, field, 's', required, nullable, NULL, &v, err))
        return -1;
    *out = string_or_null(v);
    return 0;
}

static bool has_field(const cJSON *in, const char *field)
{
    return cJSON_GetObjectItemCaseSensitive(in, field) != NULL;
}

static int bounded(const char *what, const char *s, size_t max, struct error *err)
{
    if (s && strlen(s) > max)
        return error_set(err, BAD, "%s must be at most %zu characters", what, max);
    return 0;
}

/* ================================================================ servers */

HANDLER(api_mcp_create_server)
{
    const char *name, *description, *icons;
    if (body_string(req->arena, req->input, "name", true, false, &name, err) ||
        body_string(req->arena, req->input, "description", false, true, &description, err) ||
        icons_or_error(req->arena, req->input, "icons", NULL, "icons", &icons, err) ||
        name_or_error(name, err))
        return -1;
    struct mcp_server s;
    if (store_mcp_create_server(req->arena, name, description, icons, user_of(req), &s, err))
        return -1;
    return reply_with(req, resp, write_server_item, &s);
}

HANDLER(api_mcp_search_servers)
{
    struct mcp_search s;
    int64_t max_results;
    if (search_query(req, SF_MCP_SERVER, SEARCH_SERVERS_MAX, &s, &max_results, err))
        return -1;
    struct mcp_server *out;
    size_t n;
    if (store_mcp_search_servers(req->arena, &s, &out, &n, err))
        return -1;
    return reply_search(req, resp, "mcp_servers", out, n, sizeof *out, write_server_item, max_results, s.offset);
}

HANDLER(api_mcp_get_server)
{
    struct mcp_server s;
    if (store_mcp_get_server(req->arena, req->path_params[0], &s, err))
        return -1;
    return reply_with(req, resp, write_server_item, &s);
}

HANDLER(api_mcp_update_server)
{
    struct mcp_server_update u = { .last_updated_by = user_of(req) };
    if (has_field(req->input, "latest_version"))
        return invalid_request(err, NULL, "Value error, latest_version is read-only; it is resolved automatically "
                                          "from semantic-version ordering");
    if (body_string(req->arena, req->input, "display_name", false, true, &u.display_name, err) ||
        body_string(req->arena, req->input, "description", false, true, &u.description, err) ||
        icons_or_error(req->arena, req->input, "icons", NULL, "icons", &u.icons, err) ||
        bounded("display_name", u.display_name, NAME_MAX_LEN, err))
        return -1;
    u.set_display_name = has_field(req->input, "display_name");
    u.set_description = has_field(req->input, "description");
    u.set_icons = has_field(req->input, "icons");
    struct mcp_server s;
    if (store_mcp_update_server(req->arena, req->path_params[0], &u, &s, err))
        return -1;
    return reply_with(req, resp, write_server_item, &s);
}

HANDLER(api_mcp_delete_server)
{
    if (store_mcp_delete_server(req->arena, req->path_params[0], err))
        return -1;
    return reply_empty(resp);
}

/* ================================================================ versions */

/* _parse_status */
static int status_or_error(const char *s, struct error *err)
{
    static const char *const ok[] = { "draft", "active", "deprecated", "deleted" };
    for (size_t i = 0; i < 4; i++)
        if (!strcmp(s, ok[i]))
            return 0;
    return error_set(err, BAD, "Invalid status: '%s'", s);
}

/* the registry response envelope {"server": {...}} unwrapped, as the request model does */
static int unwrap_envelope(struct arena *a, const cJSON *in, const cJSON **sj, struct error *err)
{
    *sj = cJSON_GetObjectItemCaseSensitive(in, "server_json");
    if (!cJSON_IsObject(*sj) || (has_field(*sj, "name") && has_field(*sj, "version")) || !has_field(*sj, "server"))
        return 0;
    const cJSON *server = cJSON_GetObjectItemCaseSensitive(*sj, "server");
    if (!cJSON_IsObject(server))
        return invalid_request(err, NULL, "Value error, server_json.server: Input should be a valid dictionary");
    if (has_field(server, "name") && has_field(server, "version"))
        *sj = server;
    (void)a;
    return 0;
}

HANDLER(api_mcp_create_version)
{
    struct arena *a = req->arena;
    const char *name = req->path_params[0];
    const cJSON *sj;
    if (unwrap_envelope(a, req->input, &sj, err))
        return -1;
    if (!sj)
        return invalid_request(err, "server_json", "Field required");
    struct mcp_version in = { .name = name, .created_by = user_of(req) };
    const char *status = "draft";
    const char *server_json;
    if (server_json_or_error(a, sj, &server_json, err) ||
        body_string(a, req->input, "status", false, false, &status, err) ||
        body_string(a, req->input, "source", false, true, &in.source, err) ||
        tools_or_error(a, cJSON_GetObjectItemCaseSensitive(req->input, "tools"), &in.tools, err) ||
        connect_options_or_error(a, cJSON_GetObjectItemCaseSensitive(req->input, "connect_options"),
                                 &in.connect_options, err))
        return -1;
    if (!status)
        status = "draft";
    const char *sj_name = cJSON_GetObjectItemCaseSensitive(sj, "name")->valuestring;
    const char *version = cJSON_GetObjectItemCaseSensitive(sj, "version")->valuestring;
    if (name_or_error(sj_name, err) || name_or_error(name, err))
        return -1;
    if (strcmp(sj_name, name))
        return error_set(err, BAD, "server_json.name '%s' does not match path parameter '%s'", sj_name, name);
    if (status_or_error(status, err))
        return -1;
    if (!*version)
        return error_set(err, BAD, "server_json must contain 'name' and 'version' keys");
    struct mcp_semver sv;
    if (semver_or_error(a, version, "server_json.version", &sv, err))
        return -1;
    if (strcmp(status, "draft") && strcmp(status, "active"))
        return error_set(err, BAD, "Initial MCP server registration status must be 'draft' or 'active'.");
    if (bounded("source", in.source, SOURCE_MAX, err))
        return -1;
    in.version = version;
    in.server_json = server_json;
    in.status = status;
    struct mcp_version out;
    if (store_mcp_create_version(a, &in, &sv, &out, err))
        return -1;
    return reply_with(req, resp, write_version_item, &out);
}

HANDLER(api_mcp_search_versions)
{
    struct mcp_search s;
    int64_t max_results;
    if (search_query(req, SF_MCP_VERSION, 0, &s, &max_results, err))
        return -1;
    s.server_name = req->path_params[0];
    struct mcp_semver *semver = arena_alloc(req->arena, (s.filter.n ? s.filter.n : 1) * sizeof *semver);
    for (size_t i = 0; i < s.filter.n; i++) {
        const struct sf_clause *cl = &s.filter.clauses[i];
        if (strcmp(cl->key, "version"))
            continue;
        if (cl->op != SF_EQ && cl->op != SF_NE && cl->op != SF_LT && cl->op != SF_LE && cl->op != SF_GT &&
            cl->op != SF_GE)
            return error_set(err, BAD, "version only supports semantic comparators '=', '!=', '<', '<=', '>', "
                             "and '>='");
        if (cl->op != SF_EQ && cl->op != SF_NE &&
            semver_or_error(req->arena, cl->str, "filter_string version", &semver[i], err))
            return -1;
    }
    s.semver_values = semver;
    struct mcp_version *out;
    size_t n;
    if (store_mcp_search_versions(req->arena, &s, &out, &n, err))
        return -1;
    return reply_search(req, resp, "mcp_server_versions", out, n, sizeof *out, write_version_item, max_results,
                        s.offset);
}

HANDLER(api_mcp_get_version)
{
    struct mcp_version v;
    if (store_mcp_get_version(req->arena, req->path_params[0], req->path_params[1], &v, err))
        return -1;
    return reply_with(req, resp, write_version_item, &v);
}

HANDLER(api_mcp_update_version)
{
    struct arena *a = req->arena;
    struct mcp_version_update u = { .last_updated_by = user_of(req) };
    const cJSON *status;
    if (field_of(a, req->input, "status", 's', false, true, NULL, &status, err) ||
        tools_or_error(a, cJSON_GetObjectItemCaseSensitive(req->input, "tools"), &u.tools, err) ||
        connect_options_or_error(a, cJSON_GetObjectItemCaseSensitive(req->input, "connect_options"),
                                 &u.connect_options, err))
        return -1;
    if (status && cJSON_IsNull(status))
        return error_set(err, BAD, "status cannot be null; omit the field to leave it unchanged");
    u.status = string_or_null(status);
    if (u.status && status_or_error(u.status, err))
        return -1;
    u.set_tools = has_field(req->input, "tools");
    u.set_connect_options = has_field(req->input, "connect_options");
    struct mcp_version v;
    if (store_mcp_update_version(a, req->path_params[0], req->path_params[1], &u, &v, err))
        return -1;
    return reply_with(req, resp, write_version_item, &v);
}

HANDLER(api_mcp_delete_version)
{
    if (store_mcp_delete_version(req->arena, req->path_params[0], req->path_params[1], err))
        return -1;
    return reply_empty(resp);
}

HANDLER(api_mcp_get_version_by_alias)
{
    struct mcp_version v;
    if (store_mcp_get_version_by_alias(req->arena, req->path_params[0], req->path_params[1], &v, err))
        return -1;
    return reply_with(req, resp, write_version_item, &v);
}

/* ================================================================ endpoints */

/* _parse_transport_type */
static int transport_or_error(const char *t, struct error *err)
{
    if (!strcmp(t, "streamable-http") || !strcmp(t, "sse"))
        return 0;
    return error_set(err, BAD, "Invalid transport_type: '%s'", t);
}

/* _validate_mcp_access_endpoint_url */
static int endpoint_url_or_error(struct arena *a, const char *url, struct error *err)
{
    const char *t = url;
    while (isspace((unsigned char)*t))
        t++;
    if (!*t)
        return error_set(err, BAD, "MCP access endpoint url cannot be empty or just whitespace: %s", py_repr_dup(a, url));
    return bounded("url", url, URL_MAX, err);
}

HANDLER(api_mcp_create_endpoint)
{
    struct arena *a = req->arena;
    struct mcp_endpoint in = { .server_name = req->path_params[0], .created_by = user_of(req),
                               .transport_type = "streamable-http" };
    if (body_string(a, req->input, "server_version", false, true, &in.server_version, err) ||
        body_string(a, req->input, "server_alias", false, true, &in.server_alias, err) ||
        body_string(a, req->input, "url", true, false, &in.url, err) ||
        body_string(a, req->input, "transport_type", false, false, &in.transport_type, err))
        return -1;
    if (!in.transport_type)
        in.transport_type = "streamable-http";
    if (transport_or_error(in.transport_type, err))
        return -1;
    if (!in.server_version == !in.server_alias)
        return error_set(err, BAD, "Exactly one of server_version or server_alias must be provided");
    if (endpoint_url_or_error(a, in.url, err))
        return -1;
    struct mcp_endpoint out;
    if (store_mcp_create_endpoint(a, &in, &out, err))
        return -1;
    return reply_with(req, resp, write_endpoint_item, &out);
}

static int search_endpoints(struct request *req, struct response *resp, const char *server_name,
                            struct error *err)
{
    struct mcp_search s;
    int64_t max_results;
    if (search_query(req, SF_MCP_ENDPOINT, 0, &s, &max_results, err))
        return -1;
    s.server_name = server_name;
    s.server_version = query_last(req, "server_version");
    s.server_alias = query_last(req, "server_alias");
    struct mcp_endpoint *out;
    size_t n;
    if (store_mcp_search_endpoints(req->arena, &s, &out, &n, err))
        return -1;
    return reply_search(req, resp, "mcp_access_endpoints", out, n, sizeof *out, write_endpoint_item, max_results,
                        s.offset);
}

HANDLER(api_mcp_search_all_endpoints)
{
    return search_endpoints(req, resp, NULL, err);
}

HANDLER(api_mcp_search_endpoints)
{
    return search_endpoints(req, resp, req->path_params[0], err);
}

HANDLER(api_mcp_get_endpoint)
{
    struct mcp_endpoint e;
    if (store_mcp_get_endpoint(req->arena, req->path_params[0], req->path_params[1], &e, err))
        return -1;
    return reply_with(req, resp, write_endpoint_item, &e);
}

HANDLER(api_mcp_update_endpoint)
{
    struct arena *a = req->arena;
    struct mcp_endpoint_update u = { .last_updated_by = user_of(req) };
    const char *transport = NULL;
    if (body_string(a, req->input, "server_version", false, true, &u.server_version, err) ||
        body_string(a, req->input, "server_alias", false, true, &u.server_alias, err) ||
        body_string(a, req->input, "url", false, true, &u.url, err) ||
        body_string(a, req->input, "transport_type", false, true, &transport, err))
        return -1;
    if (transport && transport_or_error(transport, err))
        return -1;
    u.transport_type = transport;
    u.set_version = has_field(req->input, "server_version");
    u.set_alias = has_field(req->input, "server_alias");
    u.set_url = has_field(req->input, "url");
    if (u.server_version && u.server_alias)
        return error_set(err, BAD, "Cannot set both server_version and server_alias in a single update");
    if (u.set_url && !u.url)
        return error_set(err, BAD, "MCP access endpoint url cannot be None");
    if (u.set_url && endpoint_url_or_error(a, u.url, err))
        return -1;
    struct mcp_endpoint e;
    if (store_mcp_update_endpoint(a, req->path_params[0], req->path_params[1], &u, &e, err))
        return -1;
    return reply_with(req, resp, write_endpoint_item, &e);
}

HANDLER(api_mcp_delete_endpoint)
{
    if (store_mcp_delete_endpoint(req->arena, req->path_params[0], req->path_params[1], err))
        return -1;
    return reply_empty(resp);
}

/* ================================================================ tags and aliases */

/* SetTagRequest / SetAliasRequest: two required strings */
static int two_strings(struct request *req, const char *f1, const char *f2, const char **v1, const char **v2,
                       struct error *err)
{
    return body_string(req->arena, req->input, f1, true, false, v1, err) ||
           body_string(req->arena, req->input, f2, true, false, v2, err) ? -1 : 0;
}

static int tag_or_error(const char *key, const char *value, struct error *err)
{
    return bounded("Tag key", key, TAG_KEY_MAX, err) || bounded("Tag value", value, TAG_VALUE_MAX, err) ? -1 : 0;
}

HANDLER(api_mcp_set_server_tag)
{
    const char *key, *value;
    if (two_strings(req, "key", "value", &key, &value, err) || tag_or_error(key, value, err) ||
        store_mcp_set_server_tag(req->arena, req->path_params[0], key, value, err))
        return -1;
    return reply_empty(resp);
}

HANDLER(api_mcp_delete_server_tag)
{
    if (store_mcp_delete_server_tag(req->arena, req->path_params[0], req->path_params[1], err))
        return -1;
    return reply_empty(resp);
}

HANDLER(api_mcp_set_version_tag)
{
    const char *key, *value;
    if (two_strings(req, "key", "value", &key, &value, err) || tag_or_error(key, value, err) ||
        store_mcp_set_version_tag(req->arena, req->path_params[0], req->path_params[1], key, value, err))
        return -1;
    return reply_empty(resp);
}

HANDLER(api_mcp_delete_version_tag)
{
    if (store_mcp_delete_version_tag(req->arena, req->path_params[0], req->path_params[1], req->path_params[2],
                                     err))
        return -1;
    return reply_empty(resp);
}

HANDLER(api_mcp_set_alias)
{
    const char *alias, *version;
    if (two_strings(req, "alias", "version", &alias, &version, err) ||
        bounded("Alias", alias, ALIAS_MAX, err) ||
        store_mcp_set_alias(req->arena, req->path_params[0], alias, version, err))
        return -1;
    return reply_empty(resp);
}

HANDLER(api_mcp_delete_alias)
{
    if (store_mcp_delete_alias(req->arena, req->path_params[0], req->path_params[1], err))
        return -1;
    return reply_empty(resp);
}
